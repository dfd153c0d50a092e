//! Size-prefixed frames: `[size:i32][payload: size bytes]`, the unit of every Kafka request and
//! response. Sans-IO: the connection loop feeds bytes, this says whether a whole frame is there.
//!
//! The size is checked against the caller's `frame_size_max` before the payload is awaited, so a
//! peer cannot make us buffer more than the limit.
use bytes::{Buf, BytesMut};

/// Bytes of the size prefix.
pub const FRAME_PREFIX_SIZE: usize = 4;

/// Why a frame cannot be read; either closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    Negative { size: i32 },
    #[error("frame size {size} exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

/// The payload size announced at the front of `buffer`, once the 4-byte prefix is there.
///
/// # Errors
/// `Negative` or `TooLarge` (over `frame_size_max`).
pub fn peek_size(buffer: &[u8], frame_size_max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buffer.get(..FRAME_PREFIX_SIZE) else {
        return Ok(None);
    };
    let mut raw = [0u8; FRAME_PREFIX_SIZE];
    raw.copy_from_slice(prefix);
    let size = i32::from_be_bytes(raw);
    let Ok(size_usize) = usize::try_from(size) else {
        return Err(FrameError::Negative { size });
    };
    if size_usize > frame_size_max {
        return Err(FrameError::TooLarge {
            size: size_usize,
            limit: frame_size_max,
        });
    }
    Ok(Some(size_usize))
}

/// Splits one whole frame's payload off the front of `buffer`, or `None` if it is not all there.
///
/// # Errors
/// As [`peek_size`].
pub fn split_frame(
    buffer: &mut BytesMut,
    frame_size_max: usize,
) -> Result<Option<BytesMut>, FrameError> {
    let Some(size) = peek_size(buffer, frame_size_max)? else {
        return Ok(None);
    };
    if buffer.len() < FRAME_PREFIX_SIZE + size {
        return Ok(None);
    }
    buffer.advance(FRAME_PREFIX_SIZE);
    Ok(Some(buffer.split_to(size)))
}

/// Reserves a size prefix at the end of `buffer`; returns its position for [`finish_frame`].
pub fn start_frame(buffer: &mut BytesMut) -> usize {
    let position = buffer.len();
    buffer.extend_from_slice(&[0; FRAME_PREFIX_SIZE]);
    position
}

/// Writes the size of everything after the prefix at `position`, plus `extra` bytes that will be
/// sent after `buffer` (record bytes spliced from a file).
///
/// # Panics
/// When `position` was not returned by [`start_frame`] on this buffer, or the frame exceeds i32.
pub fn finish_frame(buffer: &mut BytesMut, position: usize, extra: usize) {
    let body = buffer.len() - position - FRAME_PREFIX_SIZE + extra;
    let size = super::primitives::length_i32(body);
    let prefix = buffer.get_mut(position..position + FRAME_PREFIX_SIZE);
    assert!(prefix.is_some(), "frame prefix at {position} out of range");
    if let Some(prefix) = prefix {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_waits_for_whole_frame() {
        let mut buffer = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert_eq!(split_frame(&mut buffer, 100), Ok(None));
        buffer.extend_from_slice(&[3, 9]);
        let frame = split_frame(&mut buffer, 100).unwrap().unwrap();
        assert_eq!(&frame[..], &[1, 2, 3]);
        assert_eq!(&buffer[..], &[9]);
    }

    #[test]
    fn rejects_negative_and_oversized() {
        let mut negative = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            split_frame(&mut negative, 100),
            Err(FrameError::Negative { size: -1 })
        );
        let mut huge = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            split_frame(&mut huge, 100),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn start_finish_round_trip() {
        let mut buffer = BytesMut::new();
        let position = start_frame(&mut buffer);
        buffer.extend_from_slice(b"abc");
        finish_frame(&mut buffer, position, 2);
        assert_eq!(&buffer[..4], &[0, 0, 0, 5]);
    }
}
