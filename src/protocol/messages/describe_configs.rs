//! DescribeConfigs (key 32): read the configs of topics, brokers and broker loggers.
//!
//! Sans-IO declarations only; decoded on the connection's shard. Our range starts at v1 (Kafka
//! 4 removed v0), so the v0-only `IsDefault` result field is never on the wire and is not
//! declared; v1+ reports `config_source` instead. v3 adds documentation and the config type,
//! v4 is the first flexible version.
//!
//! ```text
//! request:  [resources:[resource_type:i8 resource_name [configuration_keys:string]?]]
//!           include_synonyms:bool include_documentation:bool (v3+)
//! response: throttle_time_ms:i32 [results:[error_code:i16 error_message? resource_type:i8
//!           resource_name [configs:[name value? read_only:bool config_source:i8
//!           is_sensitive:bool [synonyms:[name value? source:i8]]
//!           config_type:i8 (v3+) documentation? (v3+)]]]]   (v4+: compact, tagged fields)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// A resource to describe; null `configuration_keys` asks for every config.
    pub struct DescribeConfigsResource {
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        configuration_keys: Option<Vec<StrBytes>> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeConfigsRequest {
        resources: Vec<DescribeConfigsResource> => 0..,
        include_synonyms: bool => 1..,
        include_documentation: bool => 3..,
    }
}
kafka_message!(DescribeConfigsRequest, ApiKey::DescribeConfigs);

kafka_struct! {
    /// Another source of the same config, in precedence order.
    pub struct DescribeConfigsSynonym {
        name: StrBytes => 1..,
        value: Option<StrBytes> => 1..,
        source: i8 => 1..,
    }
}

kafka_struct! {
    pub struct DescribeConfigsResourceResult {
        name: StrBytes => 0..,
        value: Option<StrBytes> => 0..,
        read_only: bool => 0..,
        config_source: i8 => 1.. ; default -1,
        is_sensitive: bool => 0..,
        synonyms: Vec<DescribeConfigsSynonym> => 1..,
        config_type: i8 => 3.. ; default 0,
        // Kafka's default for a nullable string without an explicit default is "".
        documentation: Option<StrBytes> => 3.. ; default Some(StrBytes::default()),
    }
}

kafka_struct! {
    pub struct DescribeConfigsResult {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        configs: Vec<DescribeConfigsResourceResult> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeConfigsResponse {
        throttle_time_ms: i32 => 0..,
        results: Vec<DescribeConfigsResult> => 0..,
    }
}
kafka_message!(DescribeConfigsResponse, ApiKey::DescribeConfigs);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> DescribeConfigsRequest {
        DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: "orders".into(),
                    configuration_keys: Some(vec!["retention.ms".into()]),
                },
                DescribeConfigsResource {
                    resource_type: 4,
                    resource_name: "1".into(),
                    configuration_keys: None,
                },
            ],
            include_synonyms: version >= 1,
            include_documentation: version >= 3,
        }
    }

    fn config(version: i16) -> DescribeConfigsResourceResult {
        let mut config = DescribeConfigsResourceResult {
            name: "retention.ms".into(),
            value: Some("1000".into()),
            read_only: true,
            config_source: 1,
            is_sensitive: true,
            synonyms: vec![DescribeConfigsSynonym {
                name: "log.retention.ms".into(),
                value: None,
                source: 5,
            }],
            ..Default::default()
        };
        if version >= 3 {
            config.config_type = 5;
            config.documentation = None;
        }
        config
    }

    fn response(version: i16) -> DescribeConfigsResponse {
        DescribeConfigsResponse {
            throttle_time_ms: 4,
            results: vec![DescribeConfigsResult {
                error_code: ErrorCode::InvalidRequest,
                error_message: Some("partial".into()),
                resource_type: 2,
                resource_name: "orders".into(),
                configs: vec![config(version)],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = DescribeConfigsRequest::VERSION_MIN..=DescribeConfigsRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        response(1).encode_body(&mut buffer, 1);
        let decoded = DescribeConfigsResponse::decode_body(buffer.freeze(), 1).unwrap();
        let config = &decoded.results[0].configs[0];
        assert_eq!(config.config_type, 0);
        assert_eq!(config.documentation.as_deref(), Some(""));
        assert_eq!(DescribeConfigsResourceResult::default().config_source, -1);
    }

    fn small_request() -> DescribeConfigsRequest {
        DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: 2,
                resource_name: "t".into(),
                configuration_keys: None,
            }],
            include_synonyms: true,
            include_documentation: true,
        }
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,             // resources: 1
            2,                      // resource_type TOPIC
            0, 1, b't',             // resource_name
            0xff, 0xff, 0xff, 0xff, // configuration_keys null
            1, 1,                   // include_synonyms, include_documentation
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 4);
        // compact resources 1, type, compact name, null keys, element tags, two bools, tags.
        assert_eq!(&buffer[..], &[2, 2, 2, b't', 0, 0, 1, 1, 0]);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = DescribeConfigsResponse {
            throttle_time_ms: 0,
            results: vec![DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: 2,
                resource_name: "t".into(),
                configs: vec![DescribeConfigsResourceResult {
                    name: "k".into(),
                    value: Some("v".into()),
                    read_only: false,
                    config_source: 5,
                    is_sensitive: false,
                    synonyms: Vec::new(),
                    ..Default::default()
                }],
            }],
        };
        response.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 0,             // throttle_time_ms
            0, 0, 0, 1,             // results: 1
            0, 0, 0xff, 0xff,       // error_code, error_message null
            2, 0, 1, b't',          // resource_type, resource_name
            0, 0, 0, 1,             // configs: 1
            0, 1, b'k', 0, 1, b'v', // name, value
            0, 5, 0,                // read_only, config_source, is_sensitive
            0, 0, 0, 0,             // synonyms: 0
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
