//! IncrementalAlterConfigs (key 44): set, delete, append to or subtract from individual configs
//! of topics and brokers, leaving the others alone (unlike the legacy AlterConfigs).
//!
//! Sans-IO declarations only; decoded on the connection's shard. The two versions have the same
//! fields; v1 is flexible. `config_operation`: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
//!
//! ```text
//! request:  [resources:[resource_type:i8 resource_name
//!           [configs:[name config_operation:i8 value?]]]] validate_only:bool
//! response: throttle_time_ms:i32 [responses:[error_code:i16 error_message? resource_type:i8
//!           resource_name]]                                 (v1: compact, tagged fields)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct AlterableConfig {
        name: StrBytes => 0..,
        config_operation: i8 => 0..,
        value: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct AlterConfigsResource {
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        configs: Vec<AlterableConfig> => 0..,
    }
}

kafka_struct! {
    pub struct IncrementalAlterConfigsRequest {
        resources: Vec<AlterConfigsResource> => 0..,
        validate_only: bool => 0..,
    }
}
kafka_message!(
    IncrementalAlterConfigsRequest,
    ApiKey::IncrementalAlterConfigs
);

kafka_struct! {
    pub struct AlterConfigsResourceResponse {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
    }
}

kafka_struct! {
    pub struct IncrementalAlterConfigsResponse {
        throttle_time_ms: i32 => 0..,
        responses: Vec<AlterConfigsResourceResponse> => 0..,
    }
}
kafka_message!(
    IncrementalAlterConfigsResponse,
    ApiKey::IncrementalAlterConfigs
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field exists in both versions; `version` only varies the values.
    fn request(version: i16) -> IncrementalAlterConfigsRequest {
        IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "orders".into(),
                configs: vec![
                    AlterableConfig {
                        name: "retention.ms".into(),
                        config_operation: 0,
                        value: Some(format!("{}", 1000 + i32::from(version)).into()),
                    },
                    AlterableConfig {
                        name: "segment.ms".into(),
                        config_operation: 1,
                        value: None,
                    },
                ],
            }],
            validate_only: true,
        }
    }

    fn response(version: i16) -> IncrementalAlterConfigsResponse {
        IncrementalAlterConfigsResponse {
            throttle_time_ms: 7 + i32::from(version),
            responses: vec![AlterConfigsResourceResponse {
                error_code: ErrorCode::InvalidConfig,
                error_message: Some("bad value".into()),
                resource_type: 2,
                resource_name: "orders".into(),
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = IncrementalAlterConfigsRequest::VERSION_MIN
            ..=IncrementalAlterConfigsRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    fn small_request() -> IncrementalAlterConfigsRequest {
        IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "t".into(),
                configs: vec![AlterableConfig {
                    name: "k".into(),
                    config_operation: 2,
                    value: Some("v".into()),
                }],
            }],
            validate_only: false,
        }
    }

    #[test]
    fn request_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,        // resources: 1
            2, 0, 1, b't',     // resource_type, resource_name
            0, 0, 0, 1,        // configs: 1
            0, 1, b'k',        // name
            2,                 // APPEND
            0, 1, b'v',        // value
            0,                 // validate_only
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            2,                 // resources: compact 1
            2, 2, b't',        // resource_type, resource_name
            2,                 // configs: compact 1
            2, b'k', 2, 2, b'v', 0, // name, APPEND, value, config tags
            0,                 // resource tags
            0,                 // validate_only
            0,                 // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = IncrementalAlterConfigsResponse {
            throttle_time_ms: 0,
            responses: vec![AlterConfigsResourceResponse {
                error_code: ErrorCode::InvalidConfig,
                error_message: None,
                resource_type: 4,
                resource_name: "1".into(),
            }],
        };
        response.encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0, 0, 0, 0, 2, 0, 40, 0, 4, 2, b'1', 0, 0]);
    }
}
