//! Line protocol primitives (temporary minimal version; replaced by the sink module's own).

/// Escapes a measurement name: comma and space.
pub fn escape_measurement(s: &str, out: &mut Vec<u8>) {
    escape(s, out, b", ")
}

/// Escapes a tag key or field key: comma, equals sign and space.
pub fn escape_key(s: &str, out: &mut Vec<u8>) {
    escape(s, out, b",= ")
}

/// Escapes a tag value: comma, equals sign and space.
pub fn escape_tag_value(s: &str, out: &mut Vec<u8>) {
    escape(s, out, b",= ")
}

fn escape(s: &str, out: &mut Vec<u8>, special: &[u8]) {
    for &b in s.as_bytes() {
        match b {
            b'\n' | b'\r' | b'\t' => out.extend_from_slice(b"\\ "),
            _ if special.contains(&b) => {
                out.push(b'\\');
                out.push(b);
            }
            _ => out.push(b),
        }
    }
}

pub fn write_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.push(b'i');
}

pub fn write_f64(v: f64, out: &mut Vec<u8>) {
    out.extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
}

pub fn write_timestamp(ts: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
}
