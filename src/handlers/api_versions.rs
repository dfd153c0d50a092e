//! ApiVersions (key 18): tells a client which APIs and versions this broker serves, read from
//! the registry in `handlers/mod.rs`. Runs on the connection's shard; touches no shared state.
//!
//! A request at a version we do not serve is answered by `dispatch` through
//! [`unsupported_version`]: a v0 response (v0 header) with UNSUPPORTED_VERSION and our ranges,
//! which every client can parse and use to pick a version (KIP-511).
use super::{HandlerError, HandlerOutcome, REGISTRY, RequestContext, encode_frame};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::api_versions::{
    ApiVersion, ApiVersionsRequest, ApiVersionsResponse,
};

pub const API_KEY: ApiKey = ApiKey::ApiVersions;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

/// Answers with every registered API, or INVALID_REQUEST when the v3+ client software name or
/// version is malformed (Kafka checks both against the same pattern).
///
/// # Errors
/// None: every outcome is a response.
///
/// # Panics
/// When called for another API (dispatch routes by key).
#[allow(clippy::unused_async)] // the registry's handler shape is async
pub async fn handle(
    ctx: &mut RequestContext,
    request: ApiVersionsRequest,
) -> Result<ApiVersionsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if ctx.api_version >= 3
        && !(is_valid_software_token(request.client_software_name.as_str())
            && is_valid_software_token(request.client_software_version.as_str()))
    {
        return Ok(ApiVersionsResponse {
            error_code: ErrorCode::InvalidRequest,
            ..ApiVersionsResponse::default()
        });
    }
    let response = ApiVersionsResponse {
        error_code: ErrorCode::None,
        api_keys: supported(),
        throttle_time_ms: 0,
        ..ApiVersionsResponse::default()
    };
    assert_eq!(response.api_keys.len(), REGISTRY.len());
    Ok(response)
}

/// The v0 UNSUPPORTED_VERSION answer (with our ranges) to an ApiVersions request at a version
/// outside ours.
#[must_use]
pub fn unsupported_version(correlation_id: i32) -> HandlerOutcome {
    let response = ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion,
        api_keys: supported(),
        ..ApiVersionsResponse::default()
    };
    HandlerOutcome::Response(encode_frame(&response, correlation_id, 0))
}

/// One entry per registered API, in registry order.
fn supported() -> Vec<ApiVersion> {
    REGISTRY
        .iter()
        .map(|handler| ApiVersion {
            api_key: handler.api_key.as_i16(),
            min_version: handler.version_min,
            max_version: handler.version_max,
        })
        .collect()
}

/// Kafka's pattern for client software names and versions:
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_token(token: &str) -> bool {
    let bytes = token.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'.')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use bytes::Buf;

    #[test]
    fn software_token_pattern() {
        for valid in ["a", "librdkafka", "2.0.2", "apache-kafka-java", "x1"] {
            assert!(is_valid_software_token(valid), "{valid}");
        }
        for invalid in ["", "-a", "a-", ".", "a b", "ü", "a_b"] {
            assert!(!is_valid_software_token(invalid), "{invalid}");
        }
    }

    #[test]
    fn unsupported_version_is_a_v0_frame_with_ranges() {
        let HandlerOutcome::Response(mut frame) = unsupported_version(77) else {
            panic!("expected a response");
        };
        let size = frame.get_i32();
        assert_eq!(usize::try_from(size).unwrap(), frame.len());
        assert_eq!(frame.get_i32(), 77, "correlation id, response header v0");
        let response = ApiVersionsResponse::decode_body(frame, 0).unwrap();
        assert_eq!(response.error_code, ErrorCode::UnsupportedVersion);
        assert!(response.api_keys.iter().any(|key| key.api_key == 18
            && key.min_version == VERSION_MIN
            && key.max_version == VERSION_MAX));
    }
}
