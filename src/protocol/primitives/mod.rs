//! Kafka wire primitives: bounded reads from a frame and writes into a buffer.
//!
//! Sans-IO; runs on whichever shard decodes the frame. Everything a peer controls is checked
//! against the bytes left before it is used: a length or count larger than what remains is an
//! error, never an allocation. Strings and byte fields are `Bytes` slices of the frame, so they
//! borrow from it instead of copying.
//!
//! ```text
//! int8/16/32/64     big-endian, fixed width
//! unsigned_varint   7 bits a byte, little-endian groups, high bit = more (≤ 5 bytes)
//! varint / varlong  zigzag over unsigned varint / varlong (≤ 5 / ≤ 10 bytes)
//! string            [len:i16][utf8]          compact: [len+1:uvarint][utf8]
//! nullable string   len < 0 = null           compact: 0 = null
//! bytes             [len:i32][bytes]         compact: [len+1:uvarint][bytes]
//! array             [count:i32][items]       compact: [count+1:uvarint][items]; <0 / 0 = null
//! tagged fields     [count:uvarint]([tag:uvarint][size:uvarint][size bytes])*
//! ```
//!
//! ```text
//! mod.rs     decode errors, StrBytes, Uuid, Version, what a lenient decode tolerated
//! reader.rs  Reader: the bounded cursor every decode reads through
//! writer.rs  Writer: encoding into a BytesMut, length and varint helpers
//! field.rs   Field: the per-type read/write the message macros call
//! ```
mod field;
mod reader;
mod writer;

pub use field::Field;
pub use reader::Reader;
pub use writer::*;

use bytes::Bytes;
use std::fmt;

/// Elements reserved when decoding an array, whatever the count says. The count is already
/// bounded by the bytes left; this cap (and the bytes-left bound in `decode_elements`) keeps the
/// first allocation small even for large element types, and `Vec` growth takes over once
/// elements have actually been decoded.
pub const ARRAY_PREALLOCATE_MAX: usize = 64;

/// What went wrong while decoding, without the where (see [`DecodeError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ended before a value of `need` bytes could be read.
    UnexpectedEof { need: usize, have: usize },
    /// A length prefix larger than what is left (or a string over `i16::MAX` bytes).
    InvalidLength { length: i64, have: usize },
    /// An array count larger than the bytes left (each element takes at least one byte).
    ArrayTooLong { count: i64, have: usize },
    /// Null where the field is not nullable.
    UnexpectedNull,
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// A varint with more continuation bytes than its type allows.
    VarintTooLong,
    /// A tagged field whose body was not consumed exactly.
    TagSizeMismatch { tag: u32, size: usize, used: usize },
    /// Bytes left after the message body.
    TrailingBytes { count: usize },
    /// A version outside the range the message declares.
    UnsupportedVersion { version: i16 },
    /// Anything else, described by a static string.
    Invalid { what: &'static str },
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEof { need, have } => {
                write!(f, "unexpected end of input: need {need} bytes, have {have}")
            }
            Self::InvalidLength { length, have } => {
                write!(f, "invalid length {length} with {have} bytes left")
            }
            Self::ArrayTooLong { count, have } => {
                write!(f, "array count {count} exceeds the {have} bytes left")
            }
            Self::UnexpectedNull => write!(f, "null in a non-nullable field"),
            Self::InvalidUtf8 => write!(f, "string is not UTF-8"),
            Self::VarintTooLong => write!(f, "varint too long"),
            Self::TagSizeMismatch { tag, size, used } => {
                write!(f, "tagged field {tag} declared {size} bytes, used {used}")
            }
            Self::TrailingBytes { count } => write!(f, "{count} trailing bytes after the body"),
            Self::UnsupportedVersion { version } => write!(f, "unsupported version {version}"),
            Self::Invalid { what } => write!(f, "invalid: {what}"),
        }
    }
}

/// A decode failure: what (`kind`), where (`offset` into the input, and the innermost `field`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset} (field {field})")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub offset: usize,
    pub field: &'static str,
}

impl DecodeError {
    #[must_use]
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self {
            kind,
            offset,
            field: "",
        }
    }

    /// Names the field the error happened in, unless an inner field already did.
    #[must_use]
    pub fn in_field(mut self, field: &'static str) -> Self {
        if self.field.is_empty() {
            self.field = field;
        }
        self
    }
}

/// A UTF-8 string that borrows from the frame.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrBytes(Bytes);

impl StrBytes {
    /// # Errors
    /// `InvalidUtf8` (offset 0) when `bytes` is not UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, DecodeError> {
        if std::str::from_utf8(&bytes).is_err() {
            return Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, 0));
        }
        Ok(Self(bytes))
    }

    #[must_use]
    pub fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or guarantees UTF-8 (from_utf8, from_static,
        // From<String>).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for StrBytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for StrBytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::ops::Deref for StrBytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StrBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use serde::{Deserialize, Serialize};

/// A 16-byte UUID (topic ids). All zeros is Kafka's "no id".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    pub const ZERO: Self = Self([0; 16]);

    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The version being decoded or encoded, and whether it is a flexible one (compact strings and
/// arrays, tagged fields). Passed down into nested structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub version: i16,
    pub flexible: bool,
}

/// What a decode accepted, as Kafka's own readers do, although the schema does not describe
/// it. The broker logs it at debug level; a strict decode (our own round trips) refuses
/// trailing bytes but counts the rest the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tolerated {
    /// Bytes after the body's last field (Kafka never checks that a body was consumed).
    pub trailing_bytes: usize,
    /// Tagged fields whose tag the decoded version does not declare, skipped by size.
    pub unknown_tags: u32,
    /// Tags not above the previous one in their section (Kafka's readers do not check order).
    pub tags_out_of_order: u32,
}

impl Tolerated {
    /// Whether anything beyond unknown tags (which are ordinary protocol evolution) was seen.
    #[must_use]
    pub fn is_irregular(&self) -> bool {
        self.trailing_bytes > 0 || self.tags_out_of_order > 0
    }

    fn add(&mut self, other: Tolerated) {
        self.trailing_bytes = self.trailing_bytes.saturating_add(other.trailing_bytes);
        self.unknown_tags = self.unknown_tags.saturating_add(other.unknown_tags);
        self.tags_out_of_order = self
            .tags_out_of_order
            .saturating_add(other.tags_out_of_order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn compact_string_over_i16_is_refused() {
        let mut buffer = BytesMut::new();
        let long = "x".repeat(40_000);
        buffer.put_unsigned_varint(40_001);
        buffer.put_slice(long.as_bytes());
        let mut reader = Reader::new(buffer.freeze());
        let error = reader.string(true).unwrap_err();
        assert!(matches!(
            error.kind,
            DecodeErrorKind::InvalidLength { length: 40_000, .. }
        ));
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for value in [0, 1, -1, i32::MAX, i32::MIN, 63, -64, 64] {
            let mut buffer = BytesMut::new();
            buffer.put_varint(value);
            assert_eq!(Reader::new(buffer.freeze()).varint().unwrap(), value);
        }
        for value in [0, -1, i64::MAX, i64::MIN] {
            let mut buffer = BytesMut::new();
            buffer.put_varlong(value);
            assert_eq!(Reader::new(buffer.freeze()).varlong().unwrap(), value);
        }
        let too_long = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(Reader::new(too_long).unsigned_varint().is_err());
    }

    #[test]
    fn any_negative_classic_length_is_null_as_in_kafka() {
        for length in [-1_i16, -2, i16::MIN] {
            let mut buffer = BytesMut::new();
            buffer.put_i16(length);
            let mut reader = Reader::new(buffer.freeze());
            assert_eq!(reader.nullable_string(false).unwrap(), None, "{length}");
        }
        let mut buffer = BytesMut::new();
        buffer.put_i32(-7);
        assert_eq!(
            Reader::new(buffer.freeze()).nullable_bytes(false).unwrap(),
            None
        );
        let mut buffer = BytesMut::new();
        buffer.put_i32(-2);
        let mut reader = Reader::new(buffer.freeze());
        let error = reader.bytes_field(false).unwrap_err();
        assert_eq!(error.kind, DecodeErrorKind::UnexpectedNull);
    }

    /// Tagged fields as Kafka's generated readers take them: in any order, unknown ones
    /// skipped by size; all of it counted for the debug log.
    #[test]
    fn tags_out_of_order_and_unknown_tags_are_tolerated_and_counted() {
        // 3 fields: tag 5 (1 byte), tag 1 (known, 1 byte), tag 1 again (1 byte).
        let bytes = Bytes::from_static(&[3, 5, 1, 0xaa, 1, 1, 7, 1, 1, 9]);
        let mut reader = Reader::new(bytes);
        let mut seen = Vec::new();
        reader
            .tagged_fields(|tag, body| {
                if tag == 1 {
                    seen.push(body.u8()?);
                    return Ok(true);
                }
                Ok(false)
            })
            .unwrap();
        assert!(reader.is_empty());
        assert_eq!(
            seen,
            vec![7, 9],
            "a repeated known tag is read each time; last wins"
        );
        let tolerated = reader.tolerated();
        assert_eq!(tolerated.unknown_tags, 1);
        assert_eq!(tolerated.tags_out_of_order, 2);
        assert_eq!(tolerated.trailing_bytes, 0);
    }

    #[test]
    fn known_tag_must_fill_its_size() {
        let bytes = Bytes::from_static(&[1, 0, 2, 7, 8]);
        let error = Reader::new(bytes)
            .tagged_fields(|_, body| body.u8().map(|_| true))
            .unwrap_err();
        assert!(matches!(
            error.kind,
            DecodeErrorKind::TagSizeMismatch {
                tag: 0,
                size: 2,
                used: 1
            }
        ));
    }

    #[test]
    fn finish_lenient_skips_and_reports_trailing_bytes() {
        let mut reader = Reader::new(Bytes::from_static(&[1, 2, 3, 4]));
        assert_eq!(reader.u8().unwrap(), 1);
        assert!(reader.finish().is_err());
        let tolerated = reader.finish_lenient();
        assert_eq!(tolerated.trailing_bytes, 3);
        assert!(tolerated.is_irregular());
        assert!(reader.is_empty());
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn hostile_array_count_is_refused_before_allocation() {
        let bytes = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let error = Reader::new(bytes).array_count(false).unwrap_err();
        assert!(matches!(error.kind, DecodeErrorKind::ArrayTooLong { .. }));
        let compact = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Reader::new(compact).array_count(true).is_err());
    }
}
