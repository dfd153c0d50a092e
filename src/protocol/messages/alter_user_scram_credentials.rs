//! AlterUserScramCredentials (key 51, KIP-554): delete and upsert users' SCRAM credentials.
//! An upsertion carries the salted password (`Hi(password, salt, iterations)`), never the
//! password; the broker derives the stored and server keys from it.
//!
//! Sans-IO declarations only; decoded on the connection's shard. v0 is the only version and
//! is flexible.
//!
//! ```text
//! request:  [deletions:[name mechanism:i8 tags]]
//!           [upsertions:[name mechanism:i8 iterations:i32 salt:bytes salted_password:bytes
//!                        tags]] tags
//! response: throttle_time_ms:i32 [results:[user error_code:i16 error_message? tags]] tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    pub struct ScramCredentialDeletion {
        name: StrBytes => 0..,
        mechanism: i8 => 0..,
    }
}

kafka_struct! {
    pub struct ScramCredentialUpsertion {
        name: StrBytes => 0..,
        mechanism: i8 => 0..,
        iterations: i32 => 0..,
        salt: Bytes => 0..,
        salted_password: Bytes => 0..,
    }
}

kafka_struct! {
    pub struct AlterUserScramCredentialsRequest {
        deletions: Vec<ScramCredentialDeletion> => 0..,
        upsertions: Vec<ScramCredentialUpsertion> => 0..,
    }
}
kafka_message!(
    AlterUserScramCredentialsRequest,
    ApiKey::AlterUserScramCredentials
);

kafka_struct! {
    pub struct AlterUserScramCredentialsResult {
        user: StrBytes => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0.. ; default None,
    }
}

kafka_struct! {
    pub struct AlterUserScramCredentialsResponse {
        throttle_time_ms: i32 => 0..,
        results: Vec<AlterUserScramCredentialsResult> => 0..,
    }
}
kafka_message!(
    AlterUserScramCredentialsResponse,
    ApiKey::AlterUserScramCredentials
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request() -> AlterUserScramCredentialsRequest {
        AlterUserScramCredentialsRequest {
            deletions: vec![ScramCredentialDeletion {
                name: "bob".into(),
                mechanism: 1,
            }],
            upsertions: vec![ScramCredentialUpsertion {
                name: "alice".into(),
                mechanism: 2,
                iterations: 8192,
                salt: Bytes::from_static(b"salt"),
                salted_password: Bytes::from_static(&[7; 64]),
            }],
        }
    }

    fn response() -> AlterUserScramCredentialsResponse {
        AlterUserScramCredentialsResponse {
            throttle_time_ms: 0,
            results: vec![AlterUserScramCredentialsResult {
                user: "bob".into(),
                error_code: ErrorCode::ResourceNotFound,
                error_message: Some("no credential".into()),
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        assert_round_trip(&request(), 0);
        assert_truncations_fail(&request(), 0);
        assert_round_trip(&response(), 0);
        assert_truncations_fail(&response(), 0);
    }

    #[test]
    fn deletion_byte_layout() {
        let mut buffer = BytesMut::new();
        let request = AlterUserScramCredentialsRequest {
            deletions: vec![ScramCredentialDeletion {
                name: "b".into(),
                mechanism: 2,
            }],
            upsertions: Vec::new(),
        };
        request.encode_body(&mut buffer, 0);
        // deletions: 1, name "b", mechanism 2, tags; upsertions: 0; tags.
        assert_eq!(&buffer[..], &[2, 2, b'b', 2, 0, 1, 0]);
    }
}
