//! `Writer`: encoding Kafka primitives into a `BytesMut`, and the length and varint-size
//! helpers encoders share. Sans-IO; runs wherever a message is encoded.
use super::*;
use bytes::{BufMut, BytesMut};

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
