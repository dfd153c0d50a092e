//! `Field`: how each wire type is read and written, so the message macros can declare a field
//! by its Rust type. Arrays reserve at most `ARRAY_PREALLOCATE_MAX` elements before any has
//! been decoded. Sans-IO.
use super::*;
use bytes::{BufMut, BytesMut};

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
