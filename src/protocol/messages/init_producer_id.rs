//! InitProducerId (key 22): a producer id and epoch for idempotent or transactional producers.
//!
//! Owns the wire declarations only; allocating ids is `handlers/init_producer_id`. Sans-IO:
//! decoded on the connection's shard.
//!
//! Versions (Kafka's `InitProducerIdRequest.json` / `InitProducerIdResponse.json`):
//! ```text
//! v0–v1    transactional_id, transaction_timeout_ms
//! v2       flexible
//! v3       producer_id + producer_epoch in the request (resume after INVALID_PRODUCER_EPOCH)
//! v4–v5    same layout (PRODUCER_FENCED, TRANSACTION_ABORTABLE)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct InitProducerIdRequest {
        /// Null for an idempotent, non-transactional producer.
        transactional_id: Option<StrBytes> => 0..,
        transaction_timeout_ms: i32 => 0..,
        /// The producer's current id, or -1 when it has none.
        producer_id: i64 => 3.. ; default -1,
        producer_epoch: i16 => 3.. ; default -1,
    }
}
kafka_message!(InitProducerIdRequest, ApiKey::InitProducerId);

kafka_struct! {
    pub struct InitProducerIdResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        producer_id: i64 => 0.. ; default -1,
        producer_epoch: i16 => 0..,
    }
}
kafka_message!(InitProducerIdResponse, ApiKey::InitProducerId);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// A request with every field of `version` set to a non-default value.
    fn request(version: i16) -> InitProducerIdRequest {
        let mut request = InitProducerIdRequest {
            transactional_id: Some("txn".into()),
            transaction_timeout_ms: 60_000,
            ..Default::default()
        };
        if version >= 3 {
            request.producer_id = 4000;
            request.producer_epoch = 2;
        }
        request
    }

    fn response() -> InitProducerIdResponse {
        InitProducerIdResponse {
            throttle_time_ms: 1,
            error_code: ErrorCode::ProducerFenced,
            producer_id: 4000,
            producer_epoch: 3,
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in InitProducerIdRequest::VERSION_MIN..=InitProducerIdRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn request_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        request(0).encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 3, b't', b'x', b'n',     // transactional_id
            0, 0, 0xea, 0x60,           // transaction_timeout_ms 60000
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        let mut request = request(3);
        request.transactional_id = None;
        request.encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0,                          // transactional_id: compact null
            0, 0, 0xea, 0x60,           // transaction_timeout_ms 60000
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0, // producer_id 4000
            0, 2,                       // producer_epoch
            0,                          // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 1,                 // throttle_time_ms
            0, 90,                      // error_code PRODUCER_FENCED
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0, // producer_id 4000
            0, 3,                       // producer_epoch
            0,                          // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }
}
