//! ApiVersions (key 18): which APIs and versions a broker supports.
//!
//! The response is always sent with response header v0 (see `header.rs`), and a request at a
//! version the broker does not support is answered at v0 with UNSUPPORTED_VERSION.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct ApiVersionsRequest {
        client_software_name: StrBytes => 3..,
        client_software_version: StrBytes => 3..,
    }
}
kafka_message!(ApiVersionsRequest, ApiKey::ApiVersions);

kafka_struct! {
    pub struct ApiVersion {
        api_key: i16 => 0..,
        min_version: i16 => 0..,
        max_version: i16 => 0..,
    }
}

kafka_struct! {
    pub struct SupportedFeatureKey {
        name: StrBytes => 3..,
        min_version: i16 => 3..,
        max_version: i16 => 3..,
    }
}

kafka_struct! {
    pub struct FinalizedFeatureKey {
        name: StrBytes => 3..,
        max_version_level: i16 => 3..,
        min_version_level: i16 => 3..,
    }
}

kafka_struct! {
    pub struct ApiVersionsResponse {
        error_code: ErrorCode => 0..,
        api_keys: Vec<ApiVersion> => 0..,
        throttle_time_ms: i32 => 1..,
    }
    tagged {
        supported_features: Vec<SupportedFeatureKey> => tag 0, 3..,
        finalized_features_epoch: i64 => tag 1, 3.. ; default -1,
        finalized_features: Vec<FinalizedFeatureKey> => tag 2, 3..,
        zk_migration_ready: bool => tag 3, 3..,
    }
}
kafka_message!(ApiVersionsResponse, ApiKey::ApiVersions);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn response() -> ApiVersionsResponse {
        ApiVersionsResponse {
            error_code: ErrorCode::None,
            api_keys: vec![ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            }],
            throttle_time_ms: 0,
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in ApiVersionsResponse::VERSION_MIN..=ApiVersionsResponse::VERSION_MAX {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request.client_software_name = "ringbroker".into();
                request.client_software_version = "0.1".into();
            }
            assert_round_trip(&request, version);
            assert_truncations_fail(&request, version);
            let mut response = response();
            if version >= 3 {
                response.finalized_features_epoch = 5;
            }
            assert_round_trip(&response, version);
            assert_truncations_fail(&response, version);
        }
    }

    #[test]
    fn response_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 3);
        // error_code, compact array of 1, key 18 min 0 max 4, element tags, throttle, tags.
        assert_eq!(&buffer[..], &[0, 0, 2, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn response_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 0);
        assert_eq!(&buffer[..], &[0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
    }
}
