//! Telegraf's value conventions: Go durations, `${VAR}` and `@{store:key}` references, and
//! which values may be shown in a comment (never a secret).

use std::time::Duration;

use toml::Value;

/// Parses a Go duration (`"1m30s"`, `"1.5h"`, `"300ms"`, `"0"`), as Telegraf's
/// `config.Duration` does for strings with units.
pub(super) fn go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// A Telegraf duration value: a Go duration string, or a number (or numeric string) of
/// seconds, as Telegraf accepts them.
pub(super) fn duration(v: &Value) -> Result<Duration, String> {
    let bad = || format!("{v} is not a duration (e.g. \"60s\")");
    match v {
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| bad()),
            Err(_) => go_duration(s).ok_or_else(bad),
        },
        Value::Integer(i) => u64::try_from(*i)
            .map(Duration::from_secs)
            .map_err(|_| bad()),
        Value::Float(f) => Duration::try_from_secs_f64(*f).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A duration as vcollect writes it (`"1m 30s"`).
pub(super) fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A list of strings (a single string is not a list: Telegraf refuses it too).
pub(super) fn strings(v: &Value) -> Result<Vec<String>, String> {
    let bad = || "must be a list of strings".to_string();
    let Value::Array(items) = v else {
        return Err(bad());
    };
    items
        .iter()
        .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

pub(super) fn string(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| "must be a string".to_string())
}

pub(super) fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| "must be true or false".to_string())
}

pub(super) fn integer(v: &Value) -> Result<i64, String> {
    v.as_integer()
        .ok_or_else(|| "must be an integer".to_string())
}

/// Where a Telegraf secret (password, token) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SecretRef {
    /// Unset or empty.
    Empty,
    /// `${VAR}` or `$VAR`; `fallback` when a `${VAR:-default}` default was given (not kept).
    Env { var: String, fallback: bool },
    /// `@{store:key}`: a Telegraf secret store.
    Store { store: String, key: String },
    /// Written in the file (possibly with environment references inside it).
    Literal,
}

/// Classifies a secret's text without ever keeping it.
pub(super) fn secret_ref(text: &str) -> SecretRef {
    let t = text.trim();
    if t.is_empty() {
        return SecretRef::Empty;
    }
    if let Some(inner) = t.strip_prefix("@{").and_then(|r| r.strip_suffix('}')) {
        if let Some((store, key)) = inner.split_once(':') {
            if is_name(store) && !key.is_empty() && !key.contains('}') {
                return SecretRef::Store {
                    store: store.to_string(),
                    key: key.to_string(),
                };
            }
        }
    }
    if let Some(inner) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        let (var, fallback) = match inner.find([':', '-', '?']) {
            Some(i) => (
                &inner[..i],
                inner[i..].starts_with(":-") || inner[i..].starts_with('-'),
            ),
            None => (inner, false),
        };
        if is_env_name(var) {
            return SecretRef::Env {
                var: var.to_string(),
                fallback,
            };
        }
    }
    if let Some(var) = t.strip_prefix('$') {
        if is_env_name(var) {
            return SecretRef::Env {
                var: var.to_string(),
                fallback: false,
            };
        }
    }
    SecretRef::Literal
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The environment variables `text` refers to (`${VAR…}`, `$VAR`; `$$` is a literal `$`):
/// Telegraf replaces them in the whole file before reading it, vcollect does not.
pub(super) fn env_refs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            rest = a;
            continue;
        }
        let body = after.strip_prefix('{').unwrap_or(after);
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        if is_env_name(&body[..end]) {
            found.push(body[..end].to_string());
        }
        rest = after;
    }
    found
}

/// Whether a key names something secret: its value is never shown.
pub(super) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pwd",
        "token",
        "secret",
        "auth",
        "credential",
        "header",
        "cookie",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k == "key"
        || k.ends_with("_key")
}

/// `key = value` for a comment, or just `key` when the value could hold a secret or is
/// a table (a comment names the key; it never repeats a password).
pub(super) fn shown(key: &str, v: &Value) -> String {
    if !is_secret_key(key) && safe(v) {
        format!("{key} = {}", one_line(v))
    } else {
        key.to_string()
    }
}

/// A value short and plain enough to repeat: no table, no URL with user info.
fn safe(v: &Value) -> bool {
    match v {
        Value::String(s) => s.len() <= 80 && !(s.contains("://") && s.contains('@')),
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => true,
        Value::Array(a) => a.len() <= 4 && a.iter().all(|i| !i.is_array() && safe(i)),
        Value::Table(_) => false,
    }
}

/// A value in TOML on one line.
pub(super) fn one_line(v: &Value) -> String {
    v.to_string().replace('\n', " ")
}

/// A string safe to put in a file name: the vCenter's host with anything but letters, digits,
/// `.`, `-` and `_` replaced.
pub(super) fn file_stem(s: &str) -> String {
    let stem: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_matches('.') {
        "" => "vcenter".to_string(),
        s => s.to_string(),
    }
}

/// Decodes `%XX` escapes (user names in URLs: `user%40corp.local`).
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `v` brought inside vcollect's accepted range (src/config/ranges.rs), with a comment saying
/// so when it was outside: the printed file must pass `vcollect validate`.
pub(super) fn in_range<T: PartialOrd + Copy>(
    key: &str,
    v: T,
    range: &std::ops::RangeInclusive<T>,
    show: impl Fn(T) -> String,
) -> (T, Option<String>) {
    let (lo, hi) = (*range.start(), *range.end());
    let c = if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        return (v, None);
    };
    let note = format!(
        "{key}: Telegraf's {} is outside vcollect's range ({} to {}): {} instead.",
        show(v),
        show(lo),
        show(hi),
        show(c)
    );
    (c, Some(note))
}
