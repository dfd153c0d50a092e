//! DescribeUserScramCredentials (key 50, KIP-554): which SCRAM mechanisms each user has and
//! their iteration counts — never salts or keys.
//!
//! Sans-IO declarations only; decoded on the connection's shard. v0 is the only version and
//! is flexible. `users` null asks for every user.
//!
//! ```text
//! request:  [users:[name tags]]? tags
//! response: throttle_time_ms:i32 error_code:i16 error_message?
//!           [results:[user error_code:i16 error_message?
//!                     [credential_infos:[mechanism:i8 iterations:i32 tags]] tags]] tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DescribeUserScramCredentialsRequest {
        users: Option<Vec<UserName>> => 0..,
    }
}
kafka_message!(
    DescribeUserScramCredentialsRequest,
    ApiKey::DescribeUserScramCredentials
);

kafka_struct! {
    pub struct UserName {
        name: StrBytes => 0..,
    }
}

kafka_struct! {
    pub struct CredentialInfo {
        /// Kafka's `ScramMechanism` id: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512.
        mechanism: i8 => 0..,
        iterations: i32 => 0..,
    }
}

kafka_struct! {
    pub struct DescribeUserScramCredentialsResult {
        user: StrBytes => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0.. ; default None,
        credential_infos: Vec<CredentialInfo> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeUserScramCredentialsResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0.. ; default None,
        results: Vec<DescribeUserScramCredentialsResult> => 0..,
    }
}
kafka_message!(
    DescribeUserScramCredentialsResponse,
    ApiKey::DescribeUserScramCredentials
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request() -> DescribeUserScramCredentialsRequest {
        DescribeUserScramCredentialsRequest {
            users: Some(vec![UserName {
                name: "alice".into(),
            }]),
        }
    }

    fn response() -> DescribeUserScramCredentialsResponse {
        DescribeUserScramCredentialsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            error_message: None,
            results: vec![DescribeUserScramCredentialsResult {
                user: "alice".into(),
                error_code: ErrorCode::None,
                error_message: None,
                credential_infos: vec![CredentialInfo {
                    mechanism: 2,
                    iterations: 4096,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        assert_round_trip(&request(), 0);
        assert_truncations_fail(&request(), 0);
        let all = DescribeUserScramCredentialsRequest { users: None };
        assert_round_trip(&all, 0);
        assert_round_trip(&response(), 0);
        assert_truncations_fail(&response(), 0);
    }

    #[test]
    fn request_byte_layout() {
        let mut buffer = BytesMut::new();
        request().encode_body(&mut buffer, 0);
        // users: 1 (+1), name "alice" (5+1), user tags, request tags.
        assert_eq!(&buffer[..], &[2, 6, b'a', b'l', b'i', b'c', b'e', 0, 0]);
        let mut buffer = BytesMut::new();
        DescribeUserScramCredentialsRequest { users: None }.encode_body(&mut buffer, 0);
        assert_eq!(&buffer[..], &[0, 0]);
    }
}
