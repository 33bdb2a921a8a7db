//! Protocol buffers' wire format, the few pieces the remote-write and OTLP encoders write by
//! hand: they assemble messages from pieces encoded once per series (labels, attributes)
//! instead of building owned message structs for every sample. The official definitions
//! (prost types) decode the result in the tests.

/// Wire types.
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;

/// A field's key byte (field numbers below 16).
#[inline]
pub const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

#[inline]
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub const fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least 1.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A length-delimited field's key and length (its content follows).
#[inline]
pub fn len_header(field: u8, len: usize, out: &mut Vec<u8>) {
    out.push(key(field, LEN));
    varint(len as u64, out);
}

/// The size of a length-delimited field with `len` bytes of content.
#[inline]
pub const fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A length-delimited field (a string, bytes or an encoded message).
#[inline]
pub fn bytes_field(field: u8, content: &[u8], out: &mut Vec<u8>) {
    len_header(field, content.len(), out);
    out.extend_from_slice(content);
}

/// A 64-bit fixed-size field (`double`, `fixed64`, `sfixed64`).
#[inline]
pub fn fixed64_field(field: u8, bits: u64, out: &mut Vec<u8>) {
    out.push(key(field, FIXED64));
    out.extend_from_slice(&bits.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_what_is_written() {
        for v in [
            0,
            1,
            127,
            128,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut out = Vec::new();
            varint(v, &mut out);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(prost::encoding::encoded_len_varint(v), out.len());
        }
    }
}
