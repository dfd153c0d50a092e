//! FindCoordinator (key 10): which broker coordinates a group (key type 0) or a transactional id
//! (key type 1; 2 is a share group, v6+).
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Up to v3 a request
//! names one `key` and the response answers at top level; from v4 (KIP-699) keys are batched in
//! `coordinator_keys` and every answer, error included, is one `Coordinator` entry.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct FindCoordinatorRequest {
        key: StrBytes => 0..=3,
        key_type: i8 => 1..,
        coordinator_keys: Vec<StrBytes> => 4..,
    }
}
kafka_message!(FindCoordinatorRequest, ApiKey::FindCoordinator);

kafka_struct! {
    /// The coordinator of one requested key (v4+).
    pub struct Coordinator {
        key: StrBytes => 4..,
        node_id: i32 => 4..,
        host: StrBytes => 4..,
        port: i32 => 4..,
        error_code: ErrorCode => 4..,
        error_message: Option<StrBytes> => 4..,
    }
}

kafka_struct! {
    pub struct FindCoordinatorResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 0..=3,
        error_message: Option<StrBytes> => 1..=3,
        node_id: i32 => 0..=3,
        host: StrBytes => 0..=3,
        port: i32 => 0..=3,
        coordinators: Vec<Coordinator> => 4..,
    }
}
kafka_message!(FindCoordinatorResponse, ApiKey::FindCoordinator);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> FindCoordinatorRequest {
        let mut request = FindCoordinatorRequest::default();
        if version <= 3 {
            request.key = "g".into();
        }
        if version >= 1 {
            request.key_type = 1;
        }
        if version >= 4 {
            request.coordinator_keys = vec!["a".into(), "b".into()];
        }
        request
    }

    fn response(version: i16) -> FindCoordinatorResponse {
        let mut response = FindCoordinatorResponse::default();
        if version >= 1 {
            response.throttle_time_ms = 3;
        }
        if version <= 3 {
            response.error_code = ErrorCode::CoordinatorNotAvailable;
            response.node_id = 1;
            response.host = "h".into();
            response.port = 9092;
        }
        if (1..=3).contains(&version) {
            response.error_message = Some("e".into());
        }
        if version >= 4 {
            response.coordinators = vec![Coordinator {
                key: "a".into(),
                node_id: 2,
                host: "h".into(),
                port: 9093,
                error_code: ErrorCode::NotCoordinator,
                error_message: Some("e".into()),
            }];
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in FindCoordinatorRequest::VERSION_MIN..=FindCoordinatorRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v1_and_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        request(1).encode_body(&mut buffer, 1);
        // key "g" as an i16-length string, then key_type.
        assert_eq!(&buffer[..], &[0, 1, b'g', 1]);
        let mut buffer = BytesMut::new();
        request(4).encode_body(&mut buffer, 4);
        // key_type, compact array of two compact strings, no tagged fields.
        assert_eq!(&buffer[..], &[1, 3, 2, b'a', 2, b'b', 0]);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        response(1).encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 3,          // throttle_time_ms
            0, 15,               // error_code COORDINATOR_NOT_AVAILABLE
            0, 1, b'e',          // error_message
            0, 0, 0, 1,          // node_id
            0, 1, b'h',          // host
            0, 0, 0x23, 0x84,    // port 9092
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        response(4).encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 3,          // throttle_time_ms
            2,                   // coordinators: compact array of 1
            2, b'a',             //   key
            0, 0, 0, 2,          //   node_id
            2, b'h',             //   host
            0, 0, 0x23, 0x85,    //   port 9093
            0, 16,               //   error_code NOT_COORDINATOR
            2, b'e',             //   error_message
            0,                   //   coordinator's tagged fields
            0,                   // response's tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
