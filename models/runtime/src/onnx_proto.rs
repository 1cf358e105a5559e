//! Just enough of the protobuf wire format to read and write ONNX models
//! (onnx/onnx.proto) without a protobuf code generator: fields are read as
//! borrowed slices and unknown ones are copied through byte for byte.

use std::fmt;

/// Protobuf wire type of varint fields.
pub const VARINT: u8 = 0;
/// Protobuf wire type of 64-bit fixed fields.
const FIXED64: u8 = 1;
/// Protobuf wire type of length-delimited fields (strings, bytes, messages, packed repeats).
pub const LEN: u8 = 2;
/// Protobuf wire type of 32-bit fixed fields.
const FIXED32: u8 = 5;

/// A model file that is not the protobuf it claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `value` as a base-128 varint.
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a field key.
pub fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// Appends a varint field (an `int64` is written as its two's complement, as protobuf does).
pub fn uint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, VARINT);
    varint(out, value);
}

/// Appends a length-delimited field.
pub fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a string field.
pub fn str_field(out: &mut Vec<u8>, field: u32, text: &str) {
    bytes_field(out, field, text.as_bytes());
}

/// The value of one field as it sits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: a string, bytes, a message or a packed repeat.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// One field of a message, with the bytes that encode it (key included) for copying it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field number.
    pub number: u32,
    /// Decoded value.
    pub value: Value<'a>,
    /// The whole encoded field.
    pub raw: &'a [u8],
}

impl<'a> Field<'a> {
    /// The payload of a length-delimited field.
    pub fn bytes(&self) -> Result<&'a [u8], ProtoError> {
        match self.value {
            Value::Bytes(b) => Ok(b),
            _ => Err(ProtoError(format!(
                "field {} is not length-delimited",
                self.number
            ))),
        }
    }

    /// The payload of a string field.
    pub fn str(&self) -> Result<&'a str, ProtoError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| ProtoError(format!("field {} is not UTF-8", self.number)))
    }

    /// The integers of a repeated `int64` field: one varint, or a packed run of them.
    pub fn int64s(&self) -> Result<Vec<i64>, ProtoError> {
        match self.value {
            Value::Varint(v) => Ok(vec![v as i64]),
            Value::Bytes(mut b) => {
                let mut out = Vec::new();
                while !b.is_empty() {
                    let (v, used) = read_varint(b)?;
                    out.push(v as i64);
                    b = &b[used..];
                }
                Ok(out)
            }
            _ => Err(ProtoError(format!(
                "field {} is not an integer",
                self.number
            ))),
        }
    }
}

fn read_varint(buf: &[u8]) -> Result<(u64, usize), ProtoError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        // The tenth byte holds the 64th bit alone.
        if i == 9 && byte > 1 {
            break;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(ProtoError("truncated or overlong varint".into()))
}

fn take(buf: &[u8], n: usize) -> Result<&[u8], ProtoError> {
    buf.get(..n).ok_or_else(|| {
        ProtoError(format!(
            "a field runs {n} bytes past the end of its message"
        ))
    })
}

/// Splits a message into its fields, in file order.
pub fn fields(mut buf: &[u8]) -> Result<Vec<Field<'_>>, ProtoError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let (k, used) = read_varint(buf)?;
        buf = &buf[used..];
        let number = u32::try_from(k >> 3)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| ProtoError(format!("bad field number {}", k >> 3)))?;
        let value = match (k & 7) as u8 {
            VARINT => {
                let (v, used) = read_varint(buf)?;
                buf = &buf[used..];
                Value::Varint(v)
            }
            FIXED64 => {
                let b = take(buf, 8)?;
                buf = &buf[8..];
                Value::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            LEN => {
                let (len, used) = read_varint(buf)?;
                buf = &buf[used..];
                let len = usize::try_from(len)
                    .map_err(|_| ProtoError(format!("field {number} is too long")))?;
                let b = take(buf, len)?;
                buf = &buf[len..];
                Value::Bytes(b)
            }
            FIXED32 => {
                let b = take(buf, 4)?;
                buf = &buf[4..];
                Value::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            wire => {
                return Err(ProtoError(format!(
                    "field {number} has unsupported wire type {wire}"
                )))
            }
        };
        let raw = &start[..start.len() - buf.len()];
        out.push(Field { number, value, raw });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_protobuf_encoding() {
        let mut out = Vec::new();
        varint(&mut out, 1);
        varint(&mut out, 300);
        varint(&mut out, 0);
        assert_eq!(out, [0x01, 0xac, 0x02, 0x00]);
        let mut out = Vec::new();
        bytes_field(&mut out, 12, b"ab");
        // Field 12, wire type 2 -> (12 << 3) | 2 = 98.
        assert_eq!(out, [98, 2, b'a', b'b']);
    }

    #[test]
    fn written_fields_read_back_with_their_raw_bytes() {
        let mut msg = Vec::new();
        uint_field(&mut msg, 1, 300);
        str_field(&mut msg, 8, "name");
        uint_field(&mut msg, 3, (-1i64) as u64);
        key(&mut msg, 4, FIXED32);
        msg.extend_from_slice(&1.5f32.to_le_bytes());
        key(&mut msg, 5, FIXED64);
        msg.extend_from_slice(&7u64.to_le_bytes());
        let mut packed = Vec::new();
        for v in [1u64, 19, 1, 19] {
            varint(&mut packed, v);
        }
        bytes_field(&mut msg, 8, &packed);

        let f = fields(&msg).unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!((f[0].number, f[0].value), (1, Value::Varint(300)));
        assert_eq!(f[1].str().unwrap(), "name");
        assert_eq!(f[2].int64s().unwrap(), [-1]);
        assert_eq!(f[3].value, Value::Fixed32(1.5f32.to_bits()));
        assert_eq!(f[4].value, Value::Fixed64(7));
        assert_eq!(f[5].int64s().unwrap(), [1, 19, 1, 19]);
        let joined: Vec<u8> = f.iter().flat_map(|f| f.raw.iter().copied()).collect();
        assert_eq!(joined, msg);
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let cases: [&[u8]; 7] = [
            &[0x0a, 5, b'a'], // length past the end
            &[0x08],          // varint missing
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ], // overlong
            &[0x0b],          // group start (wire type 3)
            &[0x00, 0x01],    // field number 0
            &[0x0d, 1, 2],    // fixed32 truncated
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // huge length
        ];
        for case in cases {
            assert!(fields(case).is_err(), "{case:?}");
        }
        // A tenth varint byte may only carry the 64th bit.
        let mut max = vec![0x08];
        max.extend([0xff; 9]);
        max.push(0x01);
        assert_eq!(fields(&max).unwrap()[0].value, Value::Varint(u64::MAX));
        *max.last_mut().unwrap() = 0x02;
        assert!(fields(&max).is_err());
        let f = fields(&[0x0d, 0, 0, 0, 0]).unwrap();
        assert!(f[0].bytes().is_err() && f[0].int64s().is_err());
        assert!(fields(&[0x0a, 1, 0xff]).unwrap()[0].str().is_err());
    }
}
