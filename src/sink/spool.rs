//! A bounded on-disk FIFO of batches, for while the endpoint is unreachable.
//!
//! Layout: one file per batch in the spool directory, `<sequence:020>.lp.gz` (gzip of the
//! batch's line protocol, newline terminated), `<sequence:020>.ms.lp.gz` for a batch whose
//! timestamps are in milliseconds (vCenter's events, [`Precision::Millis`]; a release that
//! knows no such batch leaves those files alone). A batch is written to `<name>.tmp`, fsync'd,
//! renamed into place, and the directory is fsync'd: a crash leaves either the whole batch
//! or a `.tmp` file, which the next [`Spool::open`] deletes. Sequence numbers only grow, so
//! the lowest is the oldest; a restarted process replays what a previous one left.
//!
//! The spool is bounded by the total size of its files (`max_bytes`, compressed). A batch
//! that does not fit is refused ([`Push::Full`]): the caller counts it as dropped. For the
//! collector that is not a loss yet: it does not advance the watermarks of the entities in a
//! dropped batch, so the next cycle asks vCenter for that window again (vCenter keeps
//! realtime samples for an hour). Only an outage longer than that, with a full spool, loses
//! samples.
//!
//! A file that cannot be read or decompressed is renamed to `*.bad` (logged as an error)
//! and skipped, so one damaged file never blocks the queue behind it.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Precision;

const SUFFIX: &str = ".lp.gz";

/// Before [`SUFFIX`]: the batch's timestamps are in milliseconds.
const MILLIS: &str = ".ms";

/// One spooled batch.
#[derive(Debug)]
struct Entry {
    seq: u64,
    bytes: u64,
    precision: Precision,
}

/// The result of [`Spool::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Stored,
    /// Storing it would exceed `max_bytes`.
    Full,
}

/// The oldest batch, read back from disk.
#[derive(Debug)]
pub struct Spooled {
    pub seq: u64,
    /// The gzip'd file content, as stored.
    pub gz: Vec<u8>,
    /// The line protocol.
    pub body: Vec<u8>,
    pub lines: usize,
    pub precision: Precision,
}

/// The spool directory's queue. Blocking I/O: call it from a blocking context.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
}

impl Spool {
    /// Opens (creating) the spool directory and indexes the batches a previous process left.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut entries = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                // A batch whose write was interrupted: it was never acknowledged as spooled.
                tracing::warn!(file = %e.path().display(), "removing an incomplete spool file");
                let _ = fs::remove_file(e.path());
                continue;
            }
            let Some((seq, precision)) = parse_name(name) else {
                continue; // *.bad, *.rejected and foreign files stay as they are.
            };
            entries.push(Entry {
                seq,
                bytes: e.metadata()?.len(),
                precision,
            });
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let next_seq = entries.last().map_or(0, |e| e.seq + 1);
        if !entries.is_empty() {
            tracing::info!(
                spool = %dir.display(),
                batches = entries.len(),
                bytes,
                "spool holds batches from before: replaying them first"
            );
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            entries: entries.into(),
            bytes,
            next_seq,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Batches waiting.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk (compressed).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn path(&self, seq: u64, precision: Precision) -> PathBuf {
        self.dir.join(file_name(seq, precision))
    }

    /// Appends a gzip'd batch (timestamps in `precision`) at the end of the queue, durably,
    /// unless it does not fit.
    pub fn push(&mut self, gz: &[u8], precision: Precision) -> io::Result<Push> {
        let size = gz.len() as u64;
        if self.bytes.saturating_add(size) > self.max_bytes {
            return Ok(Push::Full);
        }
        let seq = self.next_seq;
        let path = self.path(seq, precision);
        let tmp = path.with_extension("gz.tmp");
        let res = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(gz)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.next_seq += 1;
        self.entries.push_back(Entry {
            seq,
            bytes: size,
            precision,
        });
        self.bytes += size;
        Ok(Push::Stored)
    }

    /// The oldest readable batch. Files that cannot be read or decompressed are moved aside
    /// (`*.bad`) and skipped; files that vanished are forgotten.
    pub fn front(&mut self) -> Option<Spooled> {
        loop {
            let (seq, precision) = self.entries.front().map(|e| (e.seq, e.precision))?;
            let path = self.path(seq, precision);
            let res = fs::read(&path).and_then(|gz| {
                let body = super::influx::gunzip(&gz)?;
                if !body.is_empty() && body.last() != Some(&b'\n') {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the batch does not end with a newline",
                    ));
                }
                Ok((gz, body))
            });
            match res {
                Ok((gz, body)) => {
                    let lines = bytecount(&body);
                    return Some(Spooled {
                        seq,
                        gz,
                        body,
                        lines,
                        precision,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    tracing::error!(file = %path.display(), "a spooled batch vanished from the spool directory");
                    self.forget_front();
                }
                Err(e) => {
                    self.set_aside(seq, "bad", &e.to_string());
                }
            }
        }
    }

    /// Removes the oldest batch (after it was written).
    pub fn pop(&mut self, seq: u64) -> io::Result<()> {
        let Some(precision) = self.front_precision(seq) else {
            return Ok(());
        };
        let path = self.path(seq, precision);
        self.forget_front();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves the oldest batch aside as `<name>.<suffix>` (kept for inspection, no longer
    /// counted) and logs why.
    pub fn set_aside(&mut self, seq: u64, suffix: &str, why: &str) {
        let Some(precision) = self.front_precision(seq) else {
            return;
        };
        let path = self.path(seq, precision);
        let aside = self
            .dir
            .join(format!("{}.{suffix}", file_name(seq, precision)));
        tracing::error!(
            file = %path.display(),
            moved_to = %aside.display(),
            error = why,
            "spooled batch set aside"
        );
        if let Err(e) = fs::rename(&path, &aside) {
            tracing::error!(file = %path.display(), error = %e, "cannot rename the spooled batch; removing it");
            let _ = fs::remove_file(&path);
        }
        self.forget_front();
    }

    /// The precision of the oldest batch, if it is `seq`.
    fn front_precision(&self, seq: u64) -> Option<Precision> {
        self.entries
            .front()
            .filter(|e| e.seq == seq)
            .map(|e| e.precision)
    }

    fn forget_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= e.bytes;
        }
    }
}

/// A batch's file name.
fn file_name(seq: u64, precision: Precision) -> String {
    match precision {
        Precision::Seconds => format!("{seq:020}{SUFFIX}"),
        Precision::Millis => format!("{seq:020}{MILLIS}{SUFFIX}"),
    }
}

/// The sequence number and precision a batch's file name says; `None` for other files.
fn parse_name(name: &str) -> Option<(u64, Precision)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (seq, precision) = match stem.strip_suffix(MILLIS) {
        Some(seq) => (seq, Precision::Millis),
        None => (stem, Precision::Seconds),
    };
    Some((seq.parse().ok()?, precision))
}

fn bytecount(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::influx::gzip;

    #[test]
    fn fifo_bound_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("spool/vc");
        let a = gzip(b"a f=1i 1\n");
        let b = gzip(b"b f=2i 2\n");
        let mut s = Spool::open(&d, (a.len() + b.len()) as u64).unwrap();
        assert_eq!(s.push(&a, Precision::Seconds).unwrap(), Push::Stored);
        assert_eq!(s.push(&b, Precision::Seconds).unwrap(), Push::Stored);
        assert_eq!(s.push(&a, Precision::Seconds).unwrap(), Push::Full);
        assert_eq!((s.len(), s.bytes()), (2, (a.len() + b.len()) as u64));
        drop(s);

        let mut s = Spool::open(&d, 1 << 20).unwrap();
        assert_eq!(s.len(), 2);
        let f = s.front().unwrap();
        assert_eq!((f.body.as_slice(), f.lines), (&b"a f=1i 1\n"[..], 1));
        s.pop(f.seq).unwrap();
        s.push(&a, Precision::Seconds).unwrap();
        let f = s.front().unwrap();
        assert_eq!(f.body, b"b f=2i 2\n");
        s.pop(f.seq).unwrap();
        assert_eq!(s.front().unwrap().body, b"a f=1i 1\n");
        drop(s);
        assert_eq!(Spool::open(&d, 1 << 20).unwrap().len(), 1);
    }

    #[test]
    fn a_batch_keeps_its_precision_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.push(&gzip(b"e k=1i 1700000000123\n"), Precision::Millis)
            .unwrap();
        s.push(&gzip(b"m f=1i 1700000000\n"), Precision::Seconds)
            .unwrap();
        drop(s);
        assert!(dir.path().join("00000000000000000000.ms.lp.gz").exists());
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let f = s.front().unwrap();
        assert_eq!(f.precision, Precision::Millis);
        s.pop(f.seq).unwrap();
        assert_eq!(s.front().unwrap().precision, Precision::Seconds);
        assert_eq!(
            parse_name("00000000000000000007.ms.lp.gz"),
            Some((7, Precision::Millis))
        );
        assert_eq!(parse_name("00000000000000000007.lp.gz.bad"), None);
    }

    #[test]
    fn corrupt_files_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.push(b"not gzip at all", Precision::Seconds).unwrap();
        let good = gzip(b"m f=1i 1\n");
        s.push(&good[..good.len() - 4], Precision::Seconds).unwrap(); // truncated
        s.push(&good, Precision::Seconds).unwrap();
        fs::write(dir.path().join("00000000000000000099.lp.gz.tmp"), b"x").unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.len(), 3);
        let f = s.front().unwrap();
        assert_eq!(f.body, b"m f=1i 1\n");
        assert_eq!((s.len(), s.bytes()), (1, good.len() as u64));
        let bad: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".bad"))
            .collect();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(!dir.path().join("00000000000000000099.lp.gz.tmp").exists());
    }
}
