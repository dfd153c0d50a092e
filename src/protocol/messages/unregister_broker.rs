//! UnregisterBroker (key 64): removes a broker's registration from the cluster metadata, for a
//! broker that has left for good (KIP-631; `kafka-cluster.sh unregister`,
//! `Admin.unregisterBroker`).
//!
//! Owns the wire declarations only; the removal is `handlers/unregister_broker` through the
//! active controller. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `UnregisterBrokerRequest.json` / `UnregisterBrokerResponse.json`):
//! ```text
//! v0       flexible
//! ```
//!
//! ```text
//! request:  broker_id:i32 tags
//! response: throttle_time_ms:i32 error_code:i16 error_message? tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct UnregisterBrokerRequest {
        broker_id: i32 => 0..,
    }
}
kafka_message!(UnregisterBrokerRequest, ApiKey::UnregisterBroker);

kafka_struct! {
    pub struct UnregisterBrokerResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
    }
}
kafka_message!(UnregisterBrokerResponse, ApiKey::UnregisterBroker);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    #[test]
    fn round_trip_and_byte_layout() {
        let request = UnregisterBrokerRequest { broker_id: 4 };
        let response = UnregisterBrokerResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::BrokerIdNotRegistered,
            error_message: Some("x".into()),
        };
        for version in UnregisterBrokerRequest::VERSION_MIN..=UnregisterBrokerRequest::VERSION_MAX {
            assert_round_trip(&request, version);
            assert_truncations_fail(&request, version);
            assert_round_trip(&response, version);
            assert_truncations_fail(&response, version);
        }
        let mut buffer = BytesMut::new();
        request.encode_body(&mut buffer, 0);
        assert_eq!(&buffer[..], &[0, 0, 0, 4, 0]);
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 0,         // throttle_time_ms
            0, 102,             // error_code BROKER_ID_NOT_REGISTERED
            2, b'x',            // error_message
            0,                  // tags
        ];
        assert_eq!(&buffer[..], expected);
    }
}
