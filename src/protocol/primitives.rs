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
use bytes::{BufMut, Bytes, BytesMut};
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

/// A 16-byte UUID (topic ids). All zeros is Kafka's "no id".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// A cursor over one frame. Reads are bounded by the frame; slices share its buffer.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    position: usize,
    /// Offset of `buf[0]` in the outermost input, so errors in sub-readers point at the frame.
    base: usize,
    /// What was tolerated so far, sub-readers of tagged fields included.
    tolerated: Tolerated,
}

impl Reader {
    #[must_use]
    pub fn new(buf: Bytes) -> Self {
        Self {
            buf,
            position: 0,
            base: 0,
            tolerated: Tolerated::default(),
        }
    }

    /// What this reader tolerated so far (see [`Tolerated`]).
    #[must_use]
    pub fn tolerated(&self) -> Tolerated {
        self.tolerated
    }

    /// Offset of the next byte in the outermost input.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.base + self.position
    }

    #[must_use]
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.position)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current position.
    #[must_use]
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.offset())
    }

    fn eof(&self, need: usize) -> DecodeError {
        self.error(DecodeErrorKind::UnexpectedEof {
            need,
            have: self.remaining(),
        })
    }

    /// The next `count` bytes as a slice of the frame (no copy).
    ///
    /// # Errors
    /// `UnexpectedEof` when fewer than `count` bytes are left.
    pub fn bytes(&mut self, count: usize) -> Result<Bytes, DecodeError> {
        if count > self.remaining() {
            return Err(self.eof(count));
        }
        let end = self.position + count;
        let slice = self.buf.slice(self.position..end);
        self.position = end;
        Ok(slice)
    }

    /// A reader over the next `count` bytes; this reader skips past them.
    ///
    /// # Errors
    /// `UnexpectedEof` when fewer than `count` bytes are left.
    pub fn sub_reader(&mut self, count: usize) -> Result<Reader, DecodeError> {
        let base = self.offset();
        let buf = self.bytes(count)?;
        Ok(Reader {
            buf,
            position: 0,
            base,
            tolerated: Tolerated::default(),
        })
    }

    /// Everything left, as one slice.
    pub fn rest(&mut self) -> Bytes {
        let slice = self.buf.slice(self.position.min(self.buf.len())..);
        self.position = self.buf.len();
        slice
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.buf.get(self.position..).and_then(|rest| rest.get(..N));
        let Some(slice) = slice else {
            return Err(self.eof(N));
        };
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        self.position += N;
        Ok(out)
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// Any non-zero byte is true, as Kafka's own reader treats it; being stricter would refuse
    /// requests Kafka accepts.
    ///
    /// # Errors
    /// `UnexpectedEof`.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// # Errors
    /// `UnexpectedEof`.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        Ok(Uuid(self.array()?))
    }

    /// Unsigned varint of at most 5 bytes (Kafka's 32-bit unsigned varint).
    ///
    /// # Errors
    /// `UnexpectedEof`, `VarintTooLong`.
    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        let value = self.unsigned_varlong_bounded(5)?;
        u32::try_from(value).map_err(|_| self.error(DecodeErrorKind::VarintTooLong))
    }

    /// Unsigned varlong of at most 10 bytes.
    ///
    /// # Errors
    /// `UnexpectedEof`, `VarintTooLong`.
    pub fn unsigned_varlong(&mut self) -> Result<u64, DecodeError> {
        self.unsigned_varlong_bounded(10)
    }

    fn unsigned_varlong_bounded(&mut self, bytes_max: u32) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for index in 0..bytes_max {
            let byte = self.u8()?;
            let shift = index * 7;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error(DecodeErrorKind::VarintTooLong));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(DecodeErrorKind::VarintTooLong))
    }

    /// Zigzag varint (record fields).
    ///
    /// # Errors
    /// `UnexpectedEof`, `VarintTooLong`.
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.unsigned_varint()?;
        #[allow(clippy::cast_possible_wrap)] // zigzag decoding reinterprets the bits on purpose
        let value = ((raw >> 1) as i32) ^ -((raw & 1) as i32);
        Ok(value)
    }

    /// Zigzag varlong (record fields).
    ///
    /// # Errors
    /// `UnexpectedEof`, `VarintTooLong`.
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.unsigned_varlong()?;
        #[allow(clippy::cast_possible_wrap)] // zigzag decoding reinterprets the bits on purpose
        let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        Ok(value)
    }

    /// A length prefix: i16 (strings) or i32 (bytes) classic, or uvarint+1 compact.
    /// `None` is null. The length is checked against the bytes left.
    fn length(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
        let start = self.offset();
        let length: i64 = if flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if length < 0 {
            // Any negative classic length is null, as Kafka's generated readers test
            // `length < 0`; compact ones can only be -1 here (the varint is unsigned).
            return Ok(None);
        }
        let have = self.remaining();
        // Kafka refuses strings over i16::MAX bytes in compact form too, so a string we accept
        // can always be written back at a classic version.
        if !wide && length > i64::from(i16::MAX) {
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidLength { length, have },
                start,
            ));
        }
        match usize::try_from(length) {
            Ok(length) if length <= have => Ok(Some(length)),
            _ => Err(DecodeError::new(
                DecodeErrorKind::InvalidLength { length, have },
                start,
            )),
        }
    }

    /// # Errors
    /// `UnexpectedEof`, `InvalidLength`, `InvalidUtf8`.
    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<StrBytes>, DecodeError> {
        let Some(length) = self.length(flexible, false)? else {
            return Ok(None);
        };
        let start = self.offset();
        let bytes = self.bytes(length)?;
        StrBytes::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8, start))
    }

    /// # Errors
    /// `UnexpectedEof`, `InvalidLength`, `InvalidUtf8`, `UnexpectedNull`.
    pub fn string(&mut self, flexible: bool) -> Result<StrBytes, DecodeError> {
        let start = self.offset();
        self.nullable_string(flexible)?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, start))
    }

    /// # Errors
    /// `UnexpectedEof`, `InvalidLength`.
    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length(flexible, true)? {
            None => Ok(None),
            Some(length) => self.bytes(length).map(Some),
        }
    }

    /// # Errors
    /// `UnexpectedEof`, `InvalidLength`, `UnexpectedNull`.
    pub fn bytes_field(&mut self, flexible: bool) -> Result<Bytes, DecodeError> {
        let start = self.offset();
        self.nullable_bytes(flexible)?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull, start))
    }

    /// An array count, `None` for null, bounded by the bytes left (each element takes at least
    /// one byte on the wire), so a hostile count cannot size an allocation.
    ///
    /// # Errors
    /// `UnexpectedEof`, `ArrayTooLong`.
    pub fn array_count(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        let start = self.offset();
        let count: i64 = if flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        if count < 0 {
            // Kafka writes -1 for null, and its generated readers take any negative count as
            // null (`arrayLength < 0`), so -2 and below are null here too.
            return Ok(None);
        }
        let have = self.remaining();
        match usize::try_from(count) {
            Ok(count) if count <= have => Ok(Some(count)),
            _ => Err(DecodeError::new(
                DecodeErrorKind::ArrayTooLong { count, have },
                start,
            )),
        }
    }

    /// Reads a tagged-field section, handing each (tag, body) to `known`; bodies it does not
    /// claim (returns `Ok(false)`) are skipped and counted as unknown.
    ///
    /// As in Kafka's generated readers, tags out of order (or repeated) are accepted: the last
    /// value of a repeated known tag wins. Unlike Kafka, a known tag's value must fill its
    /// declared size exactly: Kafka reads the value without looking at the size and so would
    /// parse the following bytes as the next tag; no encoder writes such a section.
    ///
    /// # Errors
    /// `UnexpectedEof`, `InvalidLength`, `TagSizeMismatch`, or `known`'s error.
    pub fn tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Reader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        let count = self.unsigned_varint()?;
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            // Each tagged field takes at least two bytes, so `count` is bounded by the input:
            // the loop fails with UnexpectedEof long before a hostile count matters.
            let tag = self.unsigned_varint()?;
            if previous.is_some_and(|previous| tag <= previous) {
                self.tolerated.tags_out_of_order =
                    self.tolerated.tags_out_of_order.saturating_add(1);
            }
            previous = Some(tag);
            let start = self.offset();
            let size = self.unsigned_varint()? as usize;
            if size > self.remaining() {
                let kind = DecodeErrorKind::InvalidLength {
                    length: i64::from(u32::try_from(size).unwrap_or(u32::MAX)),
                    have: self.remaining(),
                };
                return Err(DecodeError::new(kind, start));
            }
            let mut body = self.sub_reader(size)?;
            let claimed = known(tag, &mut body)?;
            if claimed && !body.is_empty() {
                let used = size - body.remaining();
                return Err(body.error(DecodeErrorKind::TagSizeMismatch { tag, size, used }));
            }
            if !claimed {
                self.tolerated.unknown_tags = self.tolerated.unknown_tags.saturating_add(1);
            }
            self.tolerated.add(body.tolerated);
        }
        Ok(())
    }

    /// Fails unless every byte was consumed.
    ///
    /// # Errors
    /// `TrailingBytes`.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(DecodeErrorKind::TrailingBytes { count })),
        }
    }

    /// Ends a decode as Kafka does: bytes left after the body are skipped, not an error. Returns
    /// everything tolerated, the skipped bytes included.
    pub fn finish_lenient(&mut self) -> Tolerated {
        let mut tolerated = self.tolerated;
        tolerated.trailing_bytes = self.remaining();
        self.position = self.buf.len();
        tolerated
    }
}

/// Length of our own value as a wire i32. Values we encode are bounded by `limits.rs` far below
/// 2 GiB, so exceeding it is a programmer error.
///
/// # Panics
/// When `length` exceeds `i32::MAX`.
#[must_use]
pub fn length_i32(length: usize) -> i32 {
    assert!(i32::try_from(length).is_ok(), "length {length} exceeds i32");
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // asserted above
    let value = length as i32;
    value
}

/// Writes wire primitives into a `BytesMut`.
pub trait Writer {
    fn put_unsigned_varint(&mut self, value: u32);
    fn put_unsigned_varlong(&mut self, value: u64);
    fn put_varint(&mut self, value: i32);
    fn put_varlong(&mut self, value: i64);
    fn put_uuid(&mut self, value: Uuid);
    fn put_bool(&mut self, value: bool);
    fn put_nullable_string(&mut self, value: Option<&str>, flexible: bool);
    fn put_string(&mut self, value: &str, flexible: bool);
    fn put_nullable_bytes(&mut self, value: Option<&[u8]>, flexible: bool);
    fn put_array_count(&mut self, count: Option<usize>, flexible: bool);
    fn put_empty_tagged_fields(&mut self);
}

impl Writer for BytesMut {
    fn put_unsigned_varint(&mut self, value: u32) {
        self.put_unsigned_varlong(u64::from(value));
    }

    fn put_unsigned_varlong(&mut self, mut value: u64) {
        while value >= 0x80 {
            #[allow(clippy::cast_possible_truncation)] // masked to 7 bits
            self.put_u8((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        #[allow(clippy::cast_possible_truncation)] // < 0x80
        self.put_u8(value as u8);
    }

    fn put_varint(&mut self, value: i32) {
        #[allow(clippy::cast_sign_loss)] // zigzag encoding reinterprets the bits on purpose
        self.put_unsigned_varint(((value << 1) ^ (value >> 31)) as u32);
    }

    fn put_varlong(&mut self, value: i64) {
        #[allow(clippy::cast_sign_loss)] // zigzag encoding reinterprets the bits on purpose
        self.put_unsigned_varlong(((value << 1) ^ (value >> 63)) as u64);
    }

    fn put_uuid(&mut self, value: Uuid) {
        self.put_slice(&value.0);
    }

    fn put_bool(&mut self, value: bool) {
        self.put_u8(u8::from(value));
    }

    fn put_nullable_string(&mut self, value: Option<&str>, flexible: bool) {
        match (value, flexible) {
            (None, true) => self.put_u8(0),
            (None, false) => self.put_i16(-1),
            (Some(text), true) => {
                self.put_unsigned_varint(length_u32_plus_one(text.len()));
                self.put_slice(text.as_bytes());
            }
            (Some(text), false) => {
                let length = i16::try_from(text.len());
                assert!(length.is_ok(), "string of {} bytes exceeds i16", text.len());
                self.put_i16(length.unwrap_or(i16::MAX));
                self.put_slice(text.as_bytes());
            }
        }
    }

    fn put_string(&mut self, value: &str, flexible: bool) {
        self.put_nullable_string(Some(value), flexible);
    }

    fn put_nullable_bytes(&mut self, value: Option<&[u8]>, flexible: bool) {
        match (value, flexible) {
            (None, true) => self.put_u8(0),
            (None, false) => self.put_i32(-1),
            (Some(bytes), true) => {
                self.put_unsigned_varint(length_u32_plus_one(bytes.len()));
                self.put_slice(bytes);
            }
            (Some(bytes), false) => {
                self.put_i32(length_i32(bytes.len()));
                self.put_slice(bytes);
            }
        }
    }

    fn put_array_count(&mut self, count: Option<usize>, flexible: bool) {
        match (count, flexible) {
            (None, true) => self.put_u8(0),
            (None, false) => self.put_i32(-1),
            (Some(count), true) => self.put_unsigned_varint(length_u32_plus_one(count)),
            (Some(count), false) => self.put_i32(length_i32(count)),
        }
    }

    fn put_empty_tagged_fields(&mut self) {
        self.put_u8(0);
    }
}

/// Length of our own value as a wire u32 (tagged-field sizes).
///
/// # Panics
/// When `length` exceeds `i32::MAX` (see [`length_i32`]).
#[must_use]
pub fn length_u32(length: usize) -> u32 {
    #[allow(clippy::cast_sign_loss)] // length_i32 is never negative
    let value = length_i32(length) as u32;
    value
}

fn length_u32_plus_one(length: usize) -> u32 {
    #[allow(clippy::cast_sign_loss)] // length_i32 is never negative
    let value = length_i32(length) as u32 + 1;
    value
}

/// Size in bytes of `value` as an unsigned varint.
#[must_use]
pub fn unsigned_varint_size(mut value: u64) -> usize {
    let mut size = 1;
    while value >= 0x80 {
        value >>= 7;
        size += 1;
    }
    size
}

/// A value that can be read from and written to the wire at a given version.
///
/// Implemented for primitives, strings, bytes, arrays and for every struct declared with
/// [`crate::kafka_struct!`]. The mapping of Rust types to Kafka schema types:
///
/// ```text
/// i8 i16 i32 i64 u16 u32 f64 bool   int8 … float64 boolean
/// Uuid                              uuid
/// StrBytes / Option<StrBytes>       string / nullable string (compact when flexible)
/// Bytes / Option<Bytes>             bytes / nullable bytes and records (compact when flexible)
/// Vec<T> / Option<Vec<T>>           array / nullable array (compact when flexible)
/// ```
pub trait Field: Sized {
    /// # Errors
    /// Any [`DecodeError`]; the input is never trusted.
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError>;
    fn encode(&self, writer: &mut BytesMut, version: Version);
}

macro_rules! fixed_field {
    ($($ty:ty => $read:ident, $put:ident;)*) => {$(
        impl Field for $ty {
            fn decode(reader: &mut Reader, _: Version) -> Result<Self, DecodeError> {
                reader.$read()
            }
            fn encode(&self, writer: &mut BytesMut, _: Version) {
                writer.$put(*self);
            }
        }
    )*};
}

fixed_field! {
    i8 => i8, put_i8;
    i16 => i16, put_i16;
    u16 => u16, put_u16;
    i32 => i32, put_i32;
    u32 => u32, put_u32;
    i64 => i64, put_i64;
    f64 => f64, put_f64;
    bool => bool, put_bool;
    Uuid => uuid, put_uuid;
}

impl Field for StrBytes {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        reader.string(version.flexible)
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_string(self.as_str(), version.flexible);
    }
}

impl Field for Option<StrBytes> {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_string(version.flexible)
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_nullable_string(self.as_deref(), version.flexible);
    }
}

impl Field for Bytes {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        reader.bytes_field(version.flexible)
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_nullable_bytes(Some(self), version.flexible);
    }
}

impl Field for Option<Bytes> {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_bytes(version.flexible)
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_nullable_bytes(self.as_deref(), version.flexible);
    }
}

fn decode_elements<T: Field>(
    reader: &mut Reader,
    version: Version,
    count: usize,
) -> Result<Vec<T>, DecodeError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    // The first element is decoded before anything is reserved, so a plausible count followed
    // by garbage costs no allocation. The reservation is then bounded by how many elements the
    // bytes left could hold if they were the size of the first one: a valid array of uniform
    // elements gets exactly one allocation, and a hostile count reserves no more than a valid
    // frame of the same size would need. Growth past it is paid for by decoded elements.
    let start = reader.offset();
    let first = T::decode(reader, version)?;
    let first_size = reader.offset().saturating_sub(start).max(1);
    let capacity = count
        .min(ARRAY_PREALLOCATE_MAX)
        .min(1 + reader.remaining() / first_size);
    let mut items = Vec::with_capacity(capacity);
    items.push(first);
    for _ in 1..count {
        items.push(T::decode(reader, version)?);
    }
    Ok(items)
}

impl<T: Field> Field for Vec<T> {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        let start = reader.offset();
        match reader.array_count(version.flexible)? {
            Some(count) => decode_elements(reader, version, count),
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedNull, start)),
        }
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_array_count(Some(self.len()), version.flexible);
        for item in self {
            item.encode(writer, version);
        }
    }
}

impl<T: Field> Field for Option<Vec<T>> {
    fn decode(reader: &mut Reader, version: Version) -> Result<Self, DecodeError> {
        match reader.array_count(version.flexible)? {
            Some(count) => decode_elements(reader, version, count).map(Some),
            None => Ok(None),
        }
    }
    fn encode(&self, writer: &mut BytesMut, version: Version) {
        writer.put_array_count(self.as_ref().map(Vec::len), version.flexible);
        for item in self.iter().flatten() {
            item.encode(writer, version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
