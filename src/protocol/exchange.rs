//! A client's side of one request/response exchange, sans-IO: the request frame for a
//! message and the decoding of its response (correlation id checked). Used by every client
//! this crate has: the blocking one of the CLI and ringbench (`client/`) and the broker's
//! follower fetchers (`replication/fetcher.rs`), so both speak through the same codec.
//!
//! Pure; runs wherever the caller does.
use super::frame::{FRAME_PREFIX_SIZE, finish_frame, start_frame};
use super::header::{RequestHeader, decode_response_header, response_header_is_flexible};
use super::{ApiKey, DecodeError, Message, Reader, StrBytes, versions};
use bytes::{Bytes, BytesMut};

/// Why a response did not decode.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{api_key:?} response has correlation id {received}, expected {expected}")]
    Correlation {
        api_key: ApiKey,
        received: i32,
        expected: i32,
    },
    #[error("decoding {api_key:?} v{version} response")]
    Decode {
        api_key: ApiKey,
        version: i16,
        source: DecodeError,
    },
}

/// Writes one request frame for `message` into `buffer` (cleared first).
///
/// # Panics
/// When `version` is outside `M`'s declared range (the caller negotiated against the same
/// table, so this is a programmer error).
pub fn encode_request<M: Message>(
    buffer: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    message: &M,
) {
    buffer.clear();
    let position = start_frame(buffer);
    let header = RequestHeader {
        api_key: M::API_KEY.as_i16(),
        api_version: version,
        correlation_id,
        client_id: Some(StrBytes::from(client_id)),
    };
    header.encode(buffer, versions::is_flexible(M::API_KEY, version));
    message.encode_body(buffer, version);
    finish_frame(buffer, position, 0);
    assert!(
        buffer.len() > FRAME_PREFIX_SIZE,
        "a request frame has a header"
    );
}

/// Decodes a response payload (the frame without its size prefix) of `M` at `version`,
/// checking its correlation id.
///
/// # Errors
/// A correlation mismatch or any decode error.
pub fn decode_response<M: Message>(
    payload: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<M, ExchangeError> {
    let decode_error = |source| ExchangeError::Decode {
        api_key: M::API_KEY,
        version,
        source,
    };
    let mut reader = Reader::new(payload);
    let flexible = response_header_is_flexible(M::API_KEY, version);
    let received = decode_response_header(&mut reader, flexible).map_err(decode_error)?;
    if received != correlation_id {
        return Err(ExchangeError::Correlation {
            api_key: M::API_KEY,
            received,
            expected: correlation_id,
        });
    }
    let body = reader.rest();
    M::decode_body(body, version).map_err(decode_error)
}
