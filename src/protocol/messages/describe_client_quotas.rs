//! DescribeClientQuotas (key 48, KIP-546): the quota values of the entities a filter matches.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. v1 is flexible
//! and changes nothing else. Match types: 0 EXACT (`match` names the entity), 1 DEFAULT (the
//! `<default>` entity, `match` null), 2 SPECIFIED (any entity with that component). `strict`:
//! only entities with exactly the filter's components. A null entity name is `<default>`.
//!
//! ```text
//! request:  [components:[entity_type match_type:i8 match?]] strict:bool
//! response: throttle_time_ms:i32 error_code:i16 error_message?
//!           [entries:[[entity:[entity_type entity_name?]] [values:[key value:f64]]]]?
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

/// `match_type` values.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

kafka_struct! {
    pub struct QuotaFilterComponent {
        entity_type: StrBytes => 0..,
        match_type: i8 => 0..,
        r#match: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeClientQuotasRequest {
        components: Vec<QuotaFilterComponent> => 0..,
        strict: bool => 0..,
    }
}
kafka_message!(DescribeClientQuotasRequest, ApiKey::DescribeClientQuotas);

kafka_struct! {
    pub struct QuotaEntityData {
        entity_type: StrBytes => 0..,
        entity_name: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct QuotaValueData {
        key: StrBytes => 0..,
        value: f64 => 0..,
    }
}

kafka_struct! {
    pub struct QuotaEntryData {
        entity: Vec<QuotaEntityData> => 0..,
        values: Vec<QuotaValueData> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeClientQuotasResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        entries: Option<Vec<QuotaEntryData>> => 0..,
    }
}
kafka_message!(DescribeClientQuotasResponse, ApiKey::DescribeClientQuotas);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::testing::{assert_exchange_every_version, assert_round_trip};

    fn request() -> DescribeClientQuotasRequest {
        DescribeClientQuotasRequest {
            components: vec![QuotaFilterComponent {
                entity_type: "user".into(),
                match_type: MATCH_EXACT,
                r#match: Some("u".into()),
            }],
            strict: true,
        }
    }

    fn response() -> DescribeClientQuotasResponse {
        DescribeClientQuotasResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            error_message: None,
            entries: Some(vec![QuotaEntryData {
                entity: vec![QuotaEntityData {
                    entity_type: "client-id".into(),
                    entity_name: None,
                }],
                values: vec![QuotaValueData {
                    key: "producer_byte_rate".into(),
                    value: 1024.0,
                }],
            }]),
        }
    }

    #[test]
    fn round_trip_every_version() {
        assert_exchange_every_version(&request(), &response());
    }

    #[test]
    fn request_v0_byte_layout() {
        let buffer = assert_round_trip(&request(), 0);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,                         // one component
            0, 4, b'u', b's', b'e', b'r', 0,    // "user", EXACT
            0, 1, b'u',                         // match "u"
            1,                                  // strict
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
