//! SaslHandshake (key 17): the client names a SASL mechanism; the broker lists the ones it has.
//!
//! Sans-IO declarations only; decoded on the connection's shard before authentication. No
//! version is flexible, and Kafka cannot bump this API (KAFKA-9577: clients up to 2.4 negotiate
//! it wrongly). v0 is followed by raw SASL tokens on the wire; v1 by SaslAuthenticate requests.
//!
//! ```text
//! request:  mechanism:string
//! response: error_code:i16 [mechanisms:string]
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct SaslHandshakeRequest {
        mechanism: StrBytes => 0..,
    }
}
kafka_message!(SaslHandshakeRequest, ApiKey::SaslHandshake);

kafka_struct! {
    pub struct SaslHandshakeResponse {
        error_code: ErrorCode => 0..,
        mechanisms: Vec<StrBytes> => 0..,
    }
}
kafka_message!(SaslHandshakeResponse, ApiKey::SaslHandshake);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> SaslHandshakeRequest {
        let mechanism = if version == 0 {
            "PLAIN"
        } else {
            "SCRAM-SHA-256"
        };
        SaslHandshakeRequest {
            mechanism: mechanism.into(),
        }
    }

    fn response(version: i16) -> SaslHandshakeResponse {
        SaslHandshakeResponse {
            error_code: ErrorCode::UnsupportedSaslMechanism,
            mechanisms: vec![
                "PLAIN".into(),
                format!("SCRAM-SHA-{}", 256 * (version + 1)).into(),
            ],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = SaslHandshakeRequest::VERSION_MIN..=SaslHandshakeRequest::VERSION_MAX;
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
        let request = SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        };
        request.encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0, 5, b'P', b'L', b'A', b'I', b'N']);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = SaslHandshakeResponse {
            error_code: ErrorCode::UnsupportedSaslMechanism,
            mechanisms: vec!["A".into(), "BC".into()],
        };
        response.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 33,              // UNSUPPORTED_SASL_MECHANISM
            0, 0, 0, 2,         // mechanisms: 2
            0, 1, b'A', 0, 2, b'B', b'C',
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
