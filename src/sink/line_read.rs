//! Reads back the line protocol vcollect itself writes (src/sink/line.rs), for the outputs
//! that convert it at send time (remote-write, OTLP).
//!
//! A general parser (influxdb-line-protocol's nom grammar) unescapes and allocates every
//! name of every line; this one only finds the boundaries. A line's series (measurement and
//! tags) comes back as its raw, still escaped bytes, which the caller uses as the series'
//! identity: the names are unescaped ([`split_series`], [`unescape`]) once per series, not
//! once per line. Values are parsed (integers, floats, booleans; strings are found, not
//! copied).
//!
//! It reads what [`super::line::LineBuilder`] writes and agrees with the general parser
//! there (tests below and in `line_read/tests.rs`): backslash escapes in names (a backslash
//! and the character after it are one unit; `\,` `\ ` `\\`, and `\=` outside the
//! measurement, stand for the character, any other pair is kept as written), quoted string
//! values that may span lines, blank and `#` comment lines. Anything else is an error naming
//! the line and what is wrong, never a panic.

use std::borrow::Cow;

/// A field's value. Strings are the raw text between the quotes (still escaped): the
/// outputs that read this protocol do not send them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
    Str(&'a [u8]),
}

/// One line: the raw series (`measurement[,tag=value...]`, escaped as written), its fields
/// (raw key, value) in the reader's reused buffer, the timestamp as written.
#[derive(Debug)]
pub struct Line<'a> {
    /// 1-based, counting logical lines (a string spanning lines counts once).
    pub number: usize,
    pub series: &'a [u8],
    pub timestamp: Option<i64>,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ReadError {
    pub line: usize,
    pub what: String,
}

/// Reads lines one after the other; see the module's documentation.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader {
            input,
            pos: 0,
            line: 0,
        }
    }

    /// The next line, its fields in `fields` (cleared first); `None` at the end.
    pub fn next_line(
        &mut self,
        fields: &mut Vec<(&'a [u8], Value<'a>)>,
    ) -> Option<Result<Line<'a>, ReadError>> {
        fields.clear();
        self.skip_blank_and_comments();
        if self.pos >= self.input.len() {
            return None;
        }
        self.line += 1;
        let r = self.read_line(fields);
        if r.is_err() {
            // Stop: after a malformed line the reader cannot know where the next one begins.
            self.pos = self.input.len();
        }
        Some(r)
    }

    fn skip_blank_and_comments(&mut self) {
        let b = self.input;
        while self.pos < b.len() {
            match b[self.pos] {
                b'\n' | b'\r' | b' ' | b'\t' => self.pos += 1,
                b'#' => {
                    self.pos =
                        memchr::memchr(b'\n', &b[self.pos..]).map_or(b.len(), |i| self.pos + i + 1);
                }
                _ => return,
            }
        }
    }

    fn err<T>(&self, what: impl Into<String>) -> Result<T, ReadError> {
        Err(ReadError {
            line: self.line,
            what: what.into(),
        })
    }

    fn read_line(
        &mut self,
        fields: &mut Vec<(&'a [u8], Value<'a>)>,
    ) -> Result<Line<'a>, ReadError> {
        let b = self.input;
        let start = self.pos;
        let Some(end) = scan_series(b, start) else {
            return self.err("a name ends with a backslash or the line with its series");
        };
        if b[end] != b' ' {
            return self.err("no fields");
        }
        let series = &b[start..end];
        self.pos = end + 1;
        loop {
            let key_start = self.pos;
            let Some(eq) = scan_field_key(b, key_start) else {
                return self.err("a field key runs to the end of the input");
            };
            if b[eq] != b'=' || eq == key_start {
                return self.err(format!(
                    "field {} has no key=value",
                    String::from_utf8_lossy(&b[key_start..eq])
                ));
            }
            let key = &b[key_start..eq];
            self.pos = eq + 1;
            let value = self.value()?;
            fields.push((key, value));
            match b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b' ') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\n') | None => {
                    self.pos = (self.pos + 1).min(b.len());
                    return Ok(Line {
                        number: self.line,
                        series,
                        timestamp: None,
                    });
                }
                Some(_) => return self.err("a field value is followed by neither , nor space"),
            }
        }
        let ts_start = self.pos;
        let ts_end = memchr::memchr(b'\n', &b[ts_start..]).map_or(b.len(), |i| ts_start + i);
        let text = trim_ascii_end(&b[ts_start..ts_end]);
        self.pos = (ts_end + 1).min(b.len());
        if text.is_empty() {
            return Ok(Line {
                number: self.line,
                series,
                timestamp: None,
            });
        }
        match signed(text) {
            Some(ts) => Ok(Line {
                number: self.line,
                series,
                timestamp: Some(ts),
            }),
            None => self.err(format!(
                "timestamp {:?} is not an integer",
                String::from_utf8_lossy(text)
            )),
        }
    }

    /// A field value at `self.pos`, leaving `self.pos` after it.
    fn value(&mut self) -> Result<Value<'a>, ReadError> {
        let b = self.input;
        let start = self.pos;
        if b.get(start) == Some(&b'"') {
            let mut i = start + 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        self.pos = i + 1;
                        return Ok(Value::Str(&b[start + 1..i]));
                    }
                    _ => i += 1,
                }
            }
            return self.err("a string value has no closing quote");
        }
        let end = memchr::memchr3(b',', b' ', b'\n', &b[start..]).map_or(b.len(), |i| start + i);
        self.pos = end;
        let text = &b[start..end];
        match number(text) {
            Some(v) => Ok(v),
            None => self.err(format!(
                "field value {:?} is not a number, boolean or quoted string",
                String::from_utf8_lossy(text)
            )),
        }
    }
}

/// The end of the series starting at `start`: the first space or newline not escaped. The
/// same as [`scan_name`], a few hundred bytes at a time with memchr.
#[inline]
fn scan_series(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        let at = i + memchr::memchr3(b'\\', b' ', b'\n', b.get(i..)?)?;
        if b[at] != b'\\' {
            return Some(at);
        }
        i = at + 2;
    }
}

/// The end of a name starting at `start`: the first byte `stop` accepts that is not escaped
/// (a backslash and the byte after it are one unit). `None` when the input ends first.
#[inline]
fn scan_name(b: &[u8], start: usize, stop: impl Fn(u8) -> bool) -> Option<usize> {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
        } else if stop(c) {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// [`scan_name`] for a field key (it ends at `=`, a space, a comma or a newline), eight
/// bytes at a time.
///
/// Why: a line's field keys are most of the bytes this reader scans name by name (a
/// series is found with memchr, whole), and a byte at a time they were a third of its
/// time; keys are too short (10-20 bytes) for memchr to pay off.
#[inline]
fn scan_field_key(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while let Some(chunk) = b.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let hits = [b'=', b' ', b',', b'\n', b'\\']
            .iter()
            .fold(0, |acc, &c| acc | zero_bytes(word ^ (u64::from(c) * ONES)));
        if hits == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is a true hit (false flags only follow a true one).
        let at = i + (hits.trailing_zeros() / 8) as usize;
        if b[at] != b'\\' {
            return Some(at);
        }
        i = at + 2;
    }
    scan_name(b, i, |c| matches!(c, b'=' | b' ' | b',' | b'\n'))
}

/// `0x01` in every byte.
const ONES: u64 = u64::from_le_bytes([1; 8]);

/// The high bit of each byte of `x` that is zero (and possibly of bytes above a zero byte,
/// never below one).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

fn trim_ascii_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
        .map_or(0, |i| i + 1);
    &b[..n]
}

/// A number or boolean as line protocol writes it: `12i`, `12u`, `1.5`, `-2e-3`, `3`, `t`...
fn number(t: &[u8]) -> Option<Value<'static>> {
    fn as_str(t: &[u8]) -> Option<&str> {
        std::str::from_utf8(t).ok()
    }
    match t.last()? {
        b'i' => signed(&t[..t.len() - 1]).map(Value::I64),
        b'u' => unsigned(&t[..t.len() - 1]).map(Value::U64),
        b'0'..=b'9' if float_syntax(t) => as_str(t)?.parse().ok().map(Value::F64),
        _ => match t {
            b"t" | b"T" | b"true" | b"True" | b"TRUE" => Some(Value::Bool(true)),
            b"f" | b"F" | b"false" | b"False" | b"FALSE" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

/// `[0-9]+` as a `u64`; `None` when it is not, or overflows.
#[inline]
fn unsigned(d: &[u8]) -> Option<u64> {
    if d.is_empty() {
        return None;
    }
    if d.len() < 20 {
        // Below 10^19, which fits: no digit can overflow.
        return d.iter().try_fold(0u64, |n, &c| {
            let digit = c.wrapping_sub(b'0');
            (digit < 10).then(|| n * 10 + u64::from(digit))
        });
    }
    d.iter().try_fold(0u64, |n, &c| {
        let digit = c.checked_sub(b'0').filter(|&x| x < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `-?[0-9]+` as an `i64`; `None` when it is not, or overflows.
#[inline]
fn signed(t: &[u8]) -> Option<i64> {
    match t.strip_prefix(b"-") {
        Some(d) => 0i64.checked_sub_unsigned(unsigned(d)?),
        None => i64::try_from(unsigned(t)?).ok(),
    }
}

/// Line protocol's float syntax: `-?digits(.digits)?([eE][+-]?digits)?` (no `inf`, `NaN`,
/// `.5` or `1.`, which Rust's parser would take).
fn float_syntax(t: &[u8]) -> bool {
    let mut i = usize::from(t.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < t.len() && t[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return false;
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == t.len()
}

/// Which characters a backslash escapes in an element (the others keep the backslash).
#[derive(Clone, Copy)]
pub enum Element {
    /// Comma, space, backslash.
    Measurement,
    /// Comma, space, equals sign, backslash: tag keys and values, field keys.
    Key,
}

/// A name as written, unescaped (borrowed when it has no backslash). An error for bytes
/// that are not UTF-8.
pub fn unescape(raw: &[u8], element: Element) -> Result<Cow<'_, str>, std::str::Utf8Error> {
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw).map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        let next = raw.get(i + 1).copied();
        let escapes = |n: u8| match element {
            Element::Measurement => matches!(n, b',' | b' ' | b'\\'),
            Element::Key => matches!(n, b',' | b' ' | b'=' | b'\\'),
        };
        match next {
            Some(n) if c == b'\\' && escapes(n) => {
                out.push(n);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|e| e.utf8_error())
}

/// A tag's key and value as written (escaped).
pub type RawTag<'a> = (&'a [u8], &'a [u8]);

/// A raw series split into its measurement and `(key, value)` tags, all still escaped. An
/// error message for an empty measurement, tag key or value, or a tag without `=`.
pub fn split_series(series: &[u8]) -> Result<(&[u8], Vec<RawTag<'_>>), String> {
    let end = scan_name(series, 0, |c| c == b',').unwrap_or(series.len());
    let measurement = &series[..end];
    if measurement.is_empty() {
        return Err("empty measurement".into());
    }
    let mut tags = Vec::new();
    let mut i = end;
    while i < series.len() {
        let k = i + 1;
        let eq = scan_name(series, k, |c| c == b'=' || c == b',')
            .filter(|&e| series[e] == b'=')
            .ok_or_else(|| format!("tag {:?} has no =", String::from_utf8_lossy(&series[k..])))?;
        let v_end = scan_name(series, eq + 1, |c| c == b',').unwrap_or(series.len());
        let (key, value) = (&series[k..eq], &series[eq + 1..v_end]);
        if key.is_empty() || value.is_empty() {
            return Err(format!(
                "empty tag key or value in {:?}",
                String::from_utf8_lossy(series)
            ));
        }
        tags.push((key, value));
        i = v_end;
    }
    Ok((measurement, tags))
}

#[cfg(test)]
mod tests;
