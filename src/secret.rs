//! Secrets (passwords, tokens) that must never reach a log line or a `Debug` dump.

use std::fmt;

/// A secret string. `Debug` and `Display` print `"<redacted>"`; only [`Secret::expose`]
/// gives the value, so every place that uses it is easy to find.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret's value, for the one place that must send it (a login, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The largest secret file read, in bytes. A password or token is tens of bytes; a
/// mistyped path (`/dev/zero`, a log file) must fail at once, not fill the memory.
pub const MAX_SECRET_FILE: u64 = 64 << 10;

/// Reads a secret file (at most [`MAX_SECRET_FILE`] bytes), without its final newline.
/// The error is a sentence that names the file; an empty file is one.
pub fn read_file(path: &std::path::Path) -> Result<Secret, String> {
    let value = read_text(path)?;
    if value.expose().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(value)
}

/// [`read_file`] that lets an empty file through: the admin CLI's `--token-file` sends what
/// it holds and lets the node refuse it (and log the refusal), as it always has.
pub fn read_text(path: &std::path::Path) -> Result<Secret, String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    // Opening a FIFO blocks until a writer comes: refuse it before opening.
    if let Ok(m) = std::fs::metadata(path) {
        if m.file_type().is_fifo() || m.file_type().is_socket() {
            return Err(format!("{} is not a regular file", path.display()));
        }
    }
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut raw = Vec::new();
    f.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if raw.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "{} is larger than {MAX_SECRET_FILE} bytes: not a secret file",
            path.display()
        ));
    }
    let text =
        String::from_utf8(raw).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_file_read_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "hunter2\r\n").unwrap();
        assert_eq!(read_file(&ok).unwrap().expose(), "hunter2");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_FILE as usize + 1]).unwrap();
        assert!(read_file(&big)
            .unwrap_err()
            .contains("larger than 65536 bytes"));
        // An endless file fails at once instead of filling the memory.
        let err = read_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("/dev/zero is larger than"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(read_file(&empty).unwrap_err().contains("is empty"));
    }
}
