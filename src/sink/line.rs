//! InfluxDB line protocol primitives: escaping and number formatting that append to a
//! `Vec<u8>` without allocating, and [`LineBuilder`], which cannot emit an invalid line.
//!
//! ```text
//! measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] timestamp
//! ```
//!
//! # Escaping rules (what every function here writes)
//!
//! | element                      | escaped with a backslash      |
//! |------------------------------|-------------------------------|
//! | measurement                  | `,` and space                 |
//! | tag key, tag value, field key| `,`, `=` and space            |
//! | string field value (quoted)  | `"` and `\`                   |
//!
//! * **Control characters** (U+0000..U+001F: newline, carriage return, tab ...) in a
//!   measurement, tag key, tag value or field key are written as an escaped space (`\ `).
//!   No parser can read a newline inside a name (it ends the line), and Telegraf treats a tab
//!   as whitespace; replacing them with a space keeps the line valid and keeps the words apart.
//! * **Backslashes** in names are written as they are, except where InfluxDB 1.x would
//!   take one as an escape: 1.x decides that a separator is escaped by looking only at the
//!   byte before it, so a backslash just before an escaped character (or a replaced control
//!   character), or at the end of the name (just before the separator that follows), cannot
//!   be written at all. Such a backslash is written as `/` (`C:\` → `C:/`, `a\,b` → `a/\,b`).
//!   Every other backslash is literal in 1.x, 2.x and Telegraf alike, with one exception:
//!   2.x and Telegraf read two consecutive backslashes as one. vCenter never produces such
//!   names: it stores `\` in inventory names as `%5c`.
//! * **String field values** may contain anything; newlines are kept (a quoted string may
//!   span lines in InfluxDB 1.x, 2.x and Telegraf).
//! * **Empty** tag keys, tag values and field keys are omitted (InfluxDB refuses them).
//! * **Floats** are written in the shortest form that reads back to the same `f64` (ryu),
//!   e.g. `0.25`, `1.0`, `1e300`; NaN and ±infinity cannot be written in line protocol, so
//!   [`LineBuilder`] skips such fields. **Integers** carry the `i` suffix.
//! * **Timestamps** are written as given; the writers send `precision=s`, so they are epoch
//!   seconds.
//!
//! Names starting with `#` (a comment line) and the key `time` (refused by InfluxDB) are not
//! special-cased: the collector's measurements and keys are fixed names.

/// Characters that take a backslash, per element (plus control characters, always).
const MEASUREMENT: u8 = 1;
const KEY: u8 = 2;

/// Byte classes: bit `MEASUREMENT`/`KEY` set = escaped with a backslash in that element;
/// `CTRL` = replaced by an escaped space; `BSL` = the backslash.
const CTRL: u8 = 4;
const BSL: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = CTRL;
        i += 1;
    }
    t[b',' as usize] = MEASUREMENT | KEY;
    t[b' ' as usize] = MEASUREMENT | KEY;
    t[b'=' as usize] = KEY;
    t[b'\\' as usize] = BSL;
    t
};

/// Escapes a measurement name: comma and space (see the module's rules).
#[inline]
pub fn escape_measurement(s: &str, out: &mut Vec<u8>) {
    escape(s.as_bytes(), out, MEASUREMENT)
}

/// Escapes a tag key or field key: comma, equals sign and space (see the module's rules).
#[inline]
pub fn escape_key(s: &str, out: &mut Vec<u8>) {
    escape(s.as_bytes(), out, KEY)
}

/// Escapes a tag value: comma, equals sign and space (see the module's rules).
#[inline]
pub fn escape_tag_value(s: &str, out: &mut Vec<u8>) {
    escape(s.as_bytes(), out, KEY)
}

/// Writes a string field value with its quotes: `"` and `\` are escaped.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'"' || c == b'\\' {
            out.extend_from_slice(&b[start..i]);
            out.push(b'\\');
            out.push(c);
            start = i + 1;
        }
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

#[inline]
fn escape(b: &[u8], out: &mut Vec<u8>, element: u8) {
    let special = element | CTRL | BSL;
    // Fast path: most names need no escaping at all.
    let Some(first) = b.iter().position(|&c| CLASS[c as usize] & special != 0) else {
        out.extend_from_slice(b);
        return;
    };
    out.reserve(b.len() + 8);
    out.extend_from_slice(&b[..first]);
    let mut start = first;
    let mut i = first;
    while i < b.len() {
        let c = b[i];
        let class = CLASS[c as usize];
        if class & special == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if class & element != 0 {
            out.push(b'\\');
            out.push(c);
        } else if class & CTRL != 0 {
            out.extend_from_slice(b"\\ ");
        } else {
            // A backslash: literal unless 1.x would read it as escaping what follows.
            let dangerous = match b.get(i + 1) {
                None => true,
                Some(&n) => CLASS[n as usize] & (element | CTRL) != 0,
            };
            out.push(if dangerous { b'/' } else { b'\\' });
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// Writes an integer field value: digits and the `i` suffix.
#[inline]
pub fn write_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.push(b'i');
}

/// Writes a float field value. The caller must not pass NaN or infinity (see
/// [`LineBuilder::field_f64`], which skips them); debug builds assert it.
#[inline]
pub fn write_f64(v: f64, out: &mut Vec<u8>) {
    debug_assert!(v.is_finite(), "line protocol has no NaN or infinity");
    // A whole number below 1e15 is what ryu writes as `<digits>.0`: itoa writes the digits
    // in a third of the time, and most vSAN values (IOPS, bytes, counts) are whole. -0.0
    // (`-0.0` to ryu) is left to ryu.
    if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        out.extend_from_slice(b".0");
        return;
    }
    out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
}

/// Writes a timestamp (epoch seconds: the writers send `precision=s`).
#[inline]
pub fn write_timestamp(ts: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
}

/// Builds one line in a buffer: measurement, then tags, then fields, then
/// [`Fields::finish`]. The line becomes part of the buffer only if it has at least one
/// field; otherwise (and if the builder is dropped before `finish`) the buffer is left as it
/// was. Tags cannot follow fields: [`LineBuilder::tag`] exists only before the first field.
///
/// ```
/// use vcollect::sink::line::LineBuilder;
/// let mut buf = Vec::new();
/// let written = LineBuilder::new(&mut buf, "vsphere_vm_cpu")
///     .tag("vmname", "web 01")
///     .tag("clustername", "")            // empty: omitted
///     .field_f64("usage_average", 12.5)
///     .field_f64("ready_summation", f64::NAN) // not representable: skipped
///     .field_i64("run_summation", 42)
///     .finish(1_700_000_000);
/// assert!(written);
/// assert_eq!(buf, b"vsphere_vm_cpu,vmname=web\\ 01 usage_average=12.5,run_summation=42i 1700000000\n");
/// ```
pub struct LineBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    fields: u32,
    /// The measurement is not empty.
    valid: bool,
    finished: bool,
}

/// The fields part of a line being built (after [`LineBuilder`]'s first field).
pub struct Fields<'a>(LineBuilder<'a>);

impl<'a> LineBuilder<'a> {
    /// Starts a line in `buf` (appending). An empty measurement makes the line impossible:
    /// `finish` then returns `false` and writes nothing.
    #[inline]
    pub fn new(buf: &'a mut Vec<u8>, measurement: &str) -> LineBuilder<'a> {
        let start = buf.len();
        escape_measurement(measurement, buf);
        LineBuilder {
            valid: !measurement.is_empty(),
            finished: false,
            buf,
            start,
            fields: 0,
        }
    }

    /// Adds a tag; an empty key or value omits it. Tags should come in key order (InfluxDB
    /// sorts them otherwise).
    #[inline]
    pub fn tag(self, key: &str, value: &str) -> Self {
        if !key.is_empty() && !value.is_empty() {
            self.buf.push(b',');
            escape_key(key, self.buf);
            self.buf.push(b'=');
            escape_tag_value(value, self.buf);
        }
        self
    }

    #[inline]
    fn key(&mut self, key: &str) {
        self.buf.push(if self.fields == 0 { b' ' } else { b',' });
        escape_key(key, self.buf);
        self.buf.push(b'=');
        self.fields += 1;
    }

    /// Adds an integer field (`42i`); an empty key skips it.
    #[inline]
    pub fn field_i64(mut self, key: &str, v: i64) -> Fields<'a> {
        if !key.is_empty() {
            self.key(key);
            write_i64(v, self.buf);
        }
        Fields(self)
    }

    /// Adds a float field; NaN, ±infinity or an empty key skip it.
    #[inline]
    pub fn field_f64(mut self, key: &str, v: f64) -> Fields<'a> {
        if !key.is_empty() && v.is_finite() {
            self.key(key);
            write_f64(v, self.buf);
        }
        Fields(self)
    }

    /// Adds a string field (quoted, escaped); an empty key skips it.
    #[inline]
    pub fn field_str(mut self, key: &str, v: &str) -> Fields<'a> {
        if !key.is_empty() {
            self.key(key);
            write_str(v, self.buf);
        }
        Fields(self)
    }

    /// Adds a boolean field (`true`/`false`); an empty key skips it.
    #[inline]
    pub fn field_bool(mut self, key: &str, v: bool) -> Fields<'a> {
        if !key.is_empty() {
            self.key(key);
            self.buf
                .extend_from_slice(if v { b"true" } else { b"false" });
        }
        Fields(self)
    }
}

impl<'a> Fields<'a> {
    /// See [`LineBuilder::field_i64`].
    #[inline]
    pub fn field_i64(self, key: &str, v: i64) -> Self {
        self.0.field_i64(key, v)
    }

    /// See [`LineBuilder::field_f64`].
    #[inline]
    pub fn field_f64(self, key: &str, v: f64) -> Self {
        self.0.field_f64(key, v)
    }

    /// See [`LineBuilder::field_str`].
    #[inline]
    pub fn field_str(self, key: &str, v: &str) -> Self {
        self.0.field_str(key, v)
    }

    /// See [`LineBuilder::field_bool`].
    #[inline]
    pub fn field_bool(self, key: &str, v: bool) -> Self {
        self.0.field_bool(key, v)
    }

    /// Number of fields written so far.
    pub fn len(&self) -> u32 {
        self.0.fields
    }

    pub fn is_empty(&self) -> bool {
        self.0.fields == 0
    }

    /// Ends the line with its timestamp (epoch seconds) and `\n`. Returns `false`, leaving
    /// the buffer as it was before [`LineBuilder::new`], when the line has no field (all
    /// were skipped) or no measurement.
    #[inline]
    pub fn finish(mut self, ts_seconds: i64) -> bool {
        let b = &mut self.0;
        if !b.valid || b.fields == 0 {
            return false; // Drop truncates.
        }
        b.buf.push(b' ');
        write_timestamp(ts_seconds, b.buf);
        b.buf.push(b'\n');
        b.finished = true;
        true
    }
}

impl Drop for LineBuilder<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.start);
        }
    }
}

#[cfg(test)]
mod tests;
