//! Test helpers shared by every message's unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use super::{DecodeErrorKind, Message};
use bytes::BytesMut;
use std::fmt::Debug;

/// Encodes at `version`, decodes back and compares; returns the encoded bytes.
///
/// # Panics
/// When decoding fails or the result differs.
pub fn assert_round_trip<M: Message + PartialEq + Debug>(message: &M, version: i16) -> BytesMut {
    let mut buffer = BytesMut::new();
    message.encode_body(&mut buffer, version);
    let decoded = M::decode_body(buffer.clone().freeze(), version)
        .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", M::API_KEY));
    assert_eq!(&decoded, message, "{:?} v{version} round trip", M::API_KEY);
    buffer
}

/// Every strict prefix of the encoding fails to decode (never panics).
///
/// # Panics
/// When a prefix decodes successfully.
pub fn assert_truncations_fail<M: Message + Debug>(message: &M, version: i16) {
    let mut buffer = BytesMut::new();
    message.encode_body(&mut buffer, version);
    let bytes = buffer.freeze();
    for cut in 0..bytes.len() {
        let result = M::decode_body(bytes.slice(..cut), version);
        assert!(
            result.is_err(),
            "{:?} v{version}: prefix of {cut} bytes decoded",
            M::API_KEY
        );
        let error = result.unwrap_err();
        assert!(
            !matches!(error.kind, DecodeErrorKind::UnsupportedVersion { .. }),
            "{:?} v{version}: {error}",
            M::API_KEY
        );
    }
}
