//! `Reader`: a bounded cursor over one frame. Every length or count is checked against the
//! bytes left before it is used; slices share the frame's buffer. Counts what a lenient decode
//! tolerated (`Tolerated`). Sans-IO; runs on whichever shard decodes the frame.
use super::*;

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
