//! Heartbeat (key 12): a classic-protocol group member tells its coordinator it is alive, and
//! learns from the error code whether a rebalance has started.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. `group_instance_id`
//! (v3+, static membership) is null for dynamic members.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct HeartbeatRequest {
        group_id: StrBytes => 0..,
        generation_id: i32 => 0..,
        member_id: StrBytes => 0..,
        group_instance_id: Option<StrBytes> => 3..,
    }
}
kafka_message!(HeartbeatRequest, ApiKey::Heartbeat);

kafka_struct! {
    pub struct HeartbeatResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 0..,
    }
}
kafka_message!(HeartbeatResponse, ApiKey::Heartbeat);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> HeartbeatRequest {
        let mut request = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 7,
            member_id: "m".into(),
            ..Default::default()
        };
        if version >= 3 {
            request.group_instance_id = Some("i".into());
        }
        request
    }

    fn response(version: i16) -> HeartbeatResponse {
        HeartbeatResponse {
            throttle_time_ms: if version >= 1 { 9 } else { 0 },
            error_code: ErrorCode::RebalanceInProgress,
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in HeartbeatRequest::VERSION_MIN..=HeartbeatRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        request(3).encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',          // group_id: i16 length + bytes
            0, 0, 0, 7,          // generation_id
            0, 1, b'm',          // member_id
            0, 1, b'i',          // group_instance_id: nullable string, present
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        request(4).encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected = [
            2, b'g',             // group_id: compact string, uvarint length + 1
            0, 0, 0, 7,          // generation_id
            2, b'm',             // member_id
            2, b'i',             // group_instance_id
            0,                   // no tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v0_and_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        response(0).encode_body(&mut buffer, 0);
        assert_eq!(&buffer[..], &[0, 27]);
        let mut buffer = BytesMut::new();
        response(4).encode_body(&mut buffer, 4);
        assert_eq!(&buffer[..], &[0, 0, 0, 9, 0, 27, 0]);
    }

    #[test]
    fn null_group_instance_id_is_minus_one_classic_and_zero_flexible() {
        let mut request = request(3);
        request.group_instance_id = None;
        let bytes = assert_round_trip(&request, 3);
        assert_eq!(&bytes[bytes.len() - 2..], &[0xff, 0xff]);
        let bytes = assert_round_trip(&request, 4);
        assert_eq!(&bytes[bytes.len() - 2..], &[0, 0]);
    }
}
