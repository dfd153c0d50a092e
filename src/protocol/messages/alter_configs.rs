//! AlterConfigs (key 33): the legacy, replace-all form of changing configs. Each resource lists
//! the complete set of overrides it should have afterwards; a config it does not name goes back
//! to its default (IncrementalAlterConfigs changes single configs instead).
//!
//! Sans-IO declarations only; decoded on the connection's shard. v1 is v0 (the response's v1
//! only changed when quotas throttle); v2 is flexible. Kafka 4 still serves 0-2.
//!
//! ```text
//! request:  [resources:[resource_type:i8 resource_name [configs:[name value?]]]]
//!           validate_only:bool
//! response: throttle_time_ms:i32 [responses:[error_code:i16 error_message? resource_type:i8
//!           resource_name]]                                 (v2: compact, tagged fields)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct AlterableConfig {
        name: StrBytes => 0..,
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
    pub struct AlterConfigsRequest {
        resources: Vec<AlterConfigsResource> => 0..,
        validate_only: bool => 0..,
    }
}
kafka_message!(AlterConfigsRequest, ApiKey::AlterConfigs);

kafka_struct! {
    pub struct AlterConfigsResourceResponse {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
    }
}

kafka_struct! {
    pub struct AlterConfigsResponse {
        throttle_time_ms: i32 => 0..,
        responses: Vec<AlterConfigsResourceResponse> => 0..,
    }
}
kafka_message!(AlterConfigsResponse, ApiKey::AlterConfigs);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field exists in every version; `version` only varies the values.
    fn request(version: i16) -> AlterConfigsRequest {
        AlterConfigsRequest {
            resources: vec![
                AlterConfigsResource {
                    resource_type: 2,
                    resource_name: "orders".into(),
                    configs: vec![
                        AlterableConfig {
                            name: "retention.ms".into(),
                            value: Some(format!("{}", 1000 + i32::from(version)).into()),
                        },
                        AlterableConfig {
                            name: "segment.ms".into(),
                            value: None,
                        },
                    ],
                },
                AlterConfigsResource {
                    resource_type: 4,
                    resource_name: String::new().into(),
                    configs: Vec::new(),
                },
            ],
            validate_only: version % 2 == 0,
        }
    }

    fn response(version: i16) -> AlterConfigsResponse {
        AlterConfigsResponse {
            throttle_time_ms: 7 + i32::from(version),
            responses: vec![
                AlterConfigsResourceResponse {
                    error_code: ErrorCode::InvalidConfig,
                    error_message: Some("bad value".into()),
                    resource_type: 2,
                    resource_name: "orders".into(),
                },
                AlterConfigsResourceResponse {
                    error_code: ErrorCode::None,
                    error_message: None,
                    resource_type: 4,
                    resource_name: "1".into(),
                },
            ],
        }
    }

    #[test]
    fn versions_are_kafka_4s() {
        assert_eq!(AlterConfigsRequest::VERSION_MIN, 0);
        assert_eq!(AlterConfigsRequest::VERSION_MAX, 2);
        assert_eq!(AlterConfigsRequest::FLEXIBLE_MIN, 2);
    }

    #[test]
    fn round_trip_every_version() {
        for version in AlterConfigsRequest::VERSION_MIN..=AlterConfigsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    fn small_request() -> AlterConfigsRequest {
        AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "t".into(),
                configs: vec![AlterableConfig {
                    name: "k".into(),
                    value: Some("v".into()),
                }],
            }],
            validate_only: true,
        }
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,        // resources: 1
            2, 0, 1, b't',     // resource_type, resource_name
            0, 0, 0, 1,        // configs: 1
            0, 1, b'k',        // name
            0, 1, b'v',        // value
            1,                 // validate_only
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            2,                 // resources: compact 1
            2, 2, b't',        // resource_type, resource_name
            2,                 // configs: compact 1
            2, b'k', 2, b'v', 0, // name, value, config tags
            0,                 // resource tags
            1,                 // validate_only
            0,                 // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = AlterConfigsResponse {
            throttle_time_ms: 0,
            responses: vec![AlterConfigsResourceResponse {
                error_code: ErrorCode::InvalidConfig,
                error_message: None,
                resource_type: 4,
                resource_name: "1".into(),
            }],
        };
        response.encode_body(&mut buffer, 2);
        assert_eq!(&buffer[..], &[0, 0, 0, 0, 2, 0, 40, 0, 4, 2, b'1', 0, 0]);
    }
}
