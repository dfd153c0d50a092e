//! DescribeCluster (key 60): cluster id, controller and brokers (the admin client's view).
//!
//! Sans-IO declarations only; decoded on the connection's shard. Every version is flexible.
//! v1 adds `endpoint_type` (KIP-919: 1 = brokers, 2 = controllers); v2 (Kafka 4.0, KIP-1073)
//! adds `include_fenced_brokers` to the request and `is_fenced` to each broker.
//!
//! ```text
//! request:  include_cluster_authorized_operations:bool endpoint_type:i8 (v1+)
//!           include_fenced_brokers:bool (v2+) tags
//! response: throttle_time_ms:i32 error_code:i16 error_message? endpoint_type:i8 (v1+)
//!           cluster_id controller_id:i32 [brokers:[broker_id:i32 host port:i32 rack?
//!           is_fenced:bool (v2+) tags]] cluster_authorized_operations:i32 tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DescribeClusterRequest {
        include_cluster_authorized_operations: bool => 0..,
        endpoint_type: i8 => 1.. ; default 1,
        include_fenced_brokers: bool => 2.. ; default false,
    }
}
kafka_message!(DescribeClusterRequest, ApiKey::DescribeCluster);

kafka_struct! {
    pub struct DescribeClusterBroker {
        broker_id: i32 => 0..,
        host: StrBytes => 0..,
        port: i32 => 0..,
        rack: Option<StrBytes> => 0.. ; default None,
        is_fenced: bool => 2.. ; default false,
    }
}

kafka_struct! {
    /// `cluster_authorized_operations` is a bit field; `i32::MIN` means "not requested".
    pub struct DescribeClusterResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0.. ; default None,
        endpoint_type: i8 => 1.. ; default 1,
        cluster_id: StrBytes => 0..,
        controller_id: i32 => 0.. ; default -1,
        brokers: Vec<DescribeClusterBroker> => 0..,
        cluster_authorized_operations: i32 => 0.. ; default i32::MIN,
    }
}
kafka_message!(DescribeClusterResponse, ApiKey::DescribeCluster);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> DescribeClusterRequest {
        DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            endpoint_type: if version >= 1 { 2 } else { 1 },
            include_fenced_brokers: version >= 2,
        }
    }

    fn response(version: i16) -> DescribeClusterResponse {
        DescribeClusterResponse {
            throttle_time_ms: 9,
            error_code: ErrorCode::ClusterAuthorizationFailed,
            error_message: Some("denied".into()),
            endpoint_type: if version >= 1 { 2 } else { 1 },
            cluster_id: "cluster-a".into(),
            controller_id: 3,
            brokers: vec![
                DescribeClusterBroker {
                    broker_id: 1,
                    host: "10.0.0.1".into(),
                    port: 9092,
                    rack: Some("rack-1".into()),
                    is_fenced: version >= 2,
                },
                DescribeClusterBroker {
                    broker_id: 2,
                    host: "10.0.0.2".into(),
                    port: 9093,
                    rack: None,
                    is_fenced: false,
                },
            ],
            cluster_authorized_operations: 0x0ff0,
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = DescribeClusterRequest::VERSION_MIN..=DescribeClusterRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let decoded = DescribeClusterRequest::decode_body(vec![1, 0].into(), 0).unwrap();
        assert!(decoded.include_cluster_authorized_operations);
        assert_eq!(decoded.endpoint_type, 1);
        assert!(!decoded.include_fenced_brokers);
        let defaults = DescribeClusterResponse::default();
        assert_eq!(defaults.controller_id, -1);
        assert_eq!(defaults.cluster_authorized_operations, i32::MIN);
    }

    #[test]
    fn request_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        request(2).encode_body(&mut buffer, 2);
        assert_eq!(&buffer[..], &[1, 2, 1, 0]);
    }

    #[test]
    fn response_v2_byte_layout() {
        let response = DescribeClusterResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            error_message: None,
            endpoint_type: 1,
            cluster_id: "c".into(),
            controller_id: 1,
            brokers: vec![DescribeClusterBroker {
                broker_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
                is_fenced: true,
            }],
            cluster_authorized_operations: i32::MIN,
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 0,             // throttle_time_ms
            0, 0,                   // error_code
            0,                      // error_message null
            1,                      // endpoint_type brokers
            2, b'c',                // cluster_id
            0, 0, 0, 1,             // controller_id
            2,                      // brokers: compact 1
            0, 0, 0, 1, 2, b'h',    // broker_id, host
            0, 0, 0x23, 0x84,       // port 9092
            0, 1, 0,                // rack null, is_fenced, broker tags
            0x80, 0, 0, 0,          // cluster_authorized_operations i32::MIN
            0,                      // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
