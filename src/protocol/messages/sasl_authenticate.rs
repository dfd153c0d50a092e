//! SaslAuthenticate (key 36): one round of a SASL exchange, the mechanism's tokens carried as
//! opaque bytes (after SaslHandshake v1).
//!
//! Sans-IO declarations only; decoded on the connection's shard before authentication.
//! v1 adds `session_lifetime_ms` (KIP-368: the client re-authenticates before it elapses; 0 =
//! no limit); v2 is the first flexible version. Token bytes borrow from the frame.
//!
//! ```text
//! request:  auth_bytes:bytes                              (v2+: compact, tagged fields)
//! response: error_code:i16 error_message? auth_bytes:bytes session_lifetime_ms:i64 (v1+)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    pub struct SaslAuthenticateRequest {
        auth_bytes: Bytes => 0..,
    }
}
kafka_message!(SaslAuthenticateRequest, ApiKey::SaslAuthenticate);

kafka_struct! {
    pub struct SaslAuthenticateResponse {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        auth_bytes: Bytes => 0..,
        session_lifetime_ms: i64 => 1.. ; default 0,
    }
}
kafka_message!(SaslAuthenticateResponse, ApiKey::SaslAuthenticate);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> SaslAuthenticateRequest {
        let mut token = b"\0user\0password".to_vec();
        token.push(u8::try_from(version).unwrap());
        SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
        }
    }

    fn response(version: i16) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse {
            error_code: ErrorCode::SaslAuthenticationFailed,
            error_message: Some("bad password".into()),
            auth_bytes: Bytes::from_static(b"server-final"),
            session_lifetime_ms: if version >= 1 { 3_600_000 } else { 0 },
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = SaslAuthenticateRequest::VERSION_MIN..=SaslAuthenticateRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let request = SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(&[0, 0xff]),
        };
        request.encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0, 0, 0, 2, 0, 0xff]);
    }

    #[test]
    fn request_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        let request = SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(&[0, 0xff]),
        };
        request.encode_body(&mut buffer, 2);
        assert_eq!(&buffer[..], &[3, 0, 0xff, 0]);
    }

    fn small_response() -> SaslAuthenticateResponse {
        SaslAuthenticateResponse {
            error_code: ErrorCode::None,
            error_message: None,
            auth_bytes: Bytes::from_static(b"x"),
            session_lifetime_ms: 256,
        }
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        small_response().encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0,                   // error_code
            0xff, 0xff,             // error_message null
            0, 0, 0, 1, b'x',       // auth_bytes
            0, 0, 0, 0, 0, 0, 1, 0, // session_lifetime_ms
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        small_response().encode_body(&mut buffer, 2);
        let expected = [0, 0, 0, 2, b'x', 0, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn v0_has_no_session_lifetime() {
        let mut buffer = BytesMut::new();
        small_response().encode_body(&mut buffer, 0);
        assert_eq!(&buffer[..], &[0, 0, 0xff, 0xff, 0, 0, 0, 1, b'x']);
        let decoded = SaslAuthenticateResponse::decode_body(buffer.freeze(), 0).unwrap();
        assert_eq!(decoded.session_lifetime_ms, 0);
    }
}
