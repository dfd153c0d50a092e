//! AlterClientQuotas (key 49, KIP-546): set or remove quota values of entities.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. v1 is flexible
//! and changes nothing else. A null entity name is `<default>`; `remove` drops the key (its
//! value is ignored). The response has one entry per request entry, each with its own error.
//!
//! ```text
//! request:  [entries:[[entity:[entity_type entity_name?]] [ops:[key value:f64 remove:bool]]]]
//!           validate_only:bool
//! response: throttle_time_ms:i32
//!           [entries:[error_code:i16 error_message? [entity:[entity_type entity_name?]]]]
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct AlterQuotaEntity {
        entity_type: StrBytes => 0..,
        entity_name: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct AlterQuotaOp {
        key: StrBytes => 0..,
        value: f64 => 0..,
        remove: bool => 0..,
    }
}

kafka_struct! {
    pub struct AlterQuotaEntry {
        entity: Vec<AlterQuotaEntity> => 0..,
        ops: Vec<AlterQuotaOp> => 0..,
    }
}

kafka_struct! {
    pub struct AlterClientQuotasRequest {
        entries: Vec<AlterQuotaEntry> => 0..,
        validate_only: bool => 0..,
    }
}
kafka_message!(AlterClientQuotasRequest, ApiKey::AlterClientQuotas);

kafka_struct! {
    pub struct AlterQuotaResult {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        entity: Vec<AlterQuotaEntity> => 0..,
    }
}

kafka_struct! {
    pub struct AlterClientQuotasResponse {
        throttle_time_ms: i32 => 0..,
        entries: Vec<AlterQuotaResult> => 0..,
    }
}
kafka_message!(AlterClientQuotasResponse, ApiKey::AlterClientQuotas);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::testing::assert_exchange_every_version;

    fn entity() -> Vec<AlterQuotaEntity> {
        vec![AlterQuotaEntity {
            entity_type: "user".into(),
            entity_name: None,
        }]
    }

    fn request() -> AlterClientQuotasRequest {
        AlterClientQuotasRequest {
            entries: vec![AlterQuotaEntry {
                entity: entity(),
                ops: vec![AlterQuotaOp {
                    key: "request_percentage".into(),
                    value: 12.5,
                    remove: false,
                }],
            }],
            validate_only: true,
        }
    }

    fn response() -> AlterClientQuotasResponse {
        AlterClientQuotasResponse {
            throttle_time_ms: 0,
            entries: vec![AlterQuotaResult {
                error_code: ErrorCode::InvalidRequest,
                error_message: Some("no".into()),
                entity: entity(),
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        assert_exchange_every_version(&request(), &response());
    }
}
