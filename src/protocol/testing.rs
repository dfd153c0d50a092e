//! Codec test support: round-trip and truncation assertions, a seeded random value generator
//! for every declared message, and the one table of (request, response) types per API.
//!
//! Runs on no shard: only tests, fuzzers and bench/ call it.
//!
//! Why it is compiled unconditionally (not `#[cfg(test)]`, not a cargo feature): `kafka_struct!`
//! implements [`Generate`] for every struct, and the integration tests in tests/ see the library
//! as built without `cfg(test)`. A `testing` feature would need `[[test]] required-features`, and
//! cargo then silently skips those tests under the CI command `cargo test --release`; a crate
//! cannot turn its own feature on for its tests without a self dev-dependency. The cost of
//! building it always is one small non-generic function per struct, which the linker drops from
//! binaries that never call it; nothing here is reachable from peer input.
//!
//! Generated values are valid for the version they are generated for: fields absent from the
//! version (and tagged fields in non-flexible versions) keep their defaults, so
//! `decode(encode(x)) == x` must hold for every generated `x`. Strings are short ASCII, arrays
//! hold 0–3 elements, optional values are sometimes `None`, floats are finite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use super::messages::{
    alter_client_quotas, alter_configs, alter_partition_reassignments,
    alter_user_scram_credentials, api_versions, create_acls, create_partitions, create_topics,
    delete_acls, delete_groups, delete_records, delete_topics, describe_acls,
    describe_client_quotas, describe_cluster, describe_configs, describe_groups, describe_log_dirs,
    describe_quorum, describe_user_scram_credentials, elect_leaders, fetch, find_coordinator,
    heartbeat, incremental_alter_configs, init_producer_id, join_group, leave_group, list_groups,
    list_offsets, list_partition_reassignments, metadata, offset_commit, offset_delete,
    offset_fetch, offset_for_leader_epoch, produce, sasl_authenticate, sasl_handshake, sync_group,
    unregister_broker,
};
use super::primitives::{StrBytes, Tolerated, Uuid, Version};
use super::{ApiKey, DecodeError, DecodeErrorKind, ErrorCode, Message};
use bytes::{Bytes, BytesMut};
use std::fmt::Debug;

/// Elements in a generated array: 0 to this many.
pub const GENERATED_ARRAY_COUNT_MAX: u64 = 3;
/// Bytes in a generated string or byte field: 0 to this many.
pub const GENERATED_STRING_SIZE_MAX: u64 = 12;

/// Bytes from lowercase or uppercase hex (captured client frames in tests); `None` when the
/// text has an odd length or a non-hex character.
#[must_use]
pub fn hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// Encodes at `version`, decodes back and compares; returns the encoded bytes.
///
/// # Panics
/// When decoding fails or the result differs.
pub fn assert_round_trip<M: Message + PartialEq + Debug>(message: &M, version: i16) -> BytesMut {
    let mut buffer = BytesMut::new();
    message.encode_body(&mut buffer, version);
    let decoded = M::decode_body(buffer.clone().freeze(), version)
        .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", M::API_KEY));
    assert_eq!(&decoded, message, "{:?} v{version} round trip", M::API_KEY);
    buffer
}

/// For every version of the API: `request` and `response` round-trip, and every strict prefix
/// of each fails to decode.
///
/// # Panics
/// As [`assert_round_trip`] and [`assert_truncations_fail`].
pub fn assert_exchange_every_version<Q, R>(request: &Q, response: &R)
where
    Q: Message + PartialEq + Debug,
    R: Message + PartialEq + Debug,
{
    assert_eq!(Q::API_KEY, R::API_KEY, "request and response of one API");
    for version in Q::VERSION_MIN..=Q::VERSION_MAX {
        assert_round_trip(request, version);
        assert_truncations_fail(request, version);
        assert_round_trip(response, version);
        assert_truncations_fail(response, version);
    }
}

/// Every strict prefix of the encoding fails to decode (never panics).
///
/// # Panics
/// When a prefix decodes successfully.
pub fn assert_truncations_fail<M: Message + Debug>(message: &M, version: i16) {
    let mut buffer = BytesMut::new();
    message.encode_body(&mut buffer, version);
    let bytes = buffer.freeze();
    for cut in 0..bytes.len() {
        let result = M::decode_body(bytes.slice(..cut), version);
        assert!(
            result.is_err(),
            "{:?} v{version}: prefix of {cut} bytes decoded",
            M::API_KEY
        );
        let error = result.unwrap_err();
        assert!(
            !matches!(error.kind, DecodeErrorKind::UnsupportedVersion { .. }),
            "{:?} v{version}: {error}",
            M::API_KEY
        );
    }
}

/// SplitMix64: tiny, seedable and good enough to pick field values. Not for anything secret.
#[derive(Debug, Clone)]
pub struct TestRng {
    state: u64,
}

impl TestRng {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max` (modulo bias is irrelevant for test data).
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(bound) => self.next_u64() % bound,
            None => self.next_u64(),
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        assert!(n > 0, "one_in(0)");
        self.next_u64().is_multiple_of(n)
    }

    /// Integers biased towards the edges (0, -1, MIN, MAX), where encoders tend to break.
    fn edgy(&mut self) -> u64 {
        match self.up_to(7) {
            0 => 0,
            1 => u64::MAX,
            2 => 1 << 63,
            3 => (1 << 63) - 1,
            _ => self.next_u64(),
        }
    }

    /// `count` random bytes.
    pub fn bytes(&mut self, count: usize) -> Vec<u8> {
        (0..count)
            .map(|_| self.next_u64().to_le_bytes()[0])
            .collect()
    }
}

/// A random value valid at `version`. Implemented for every wire type and, by
/// [`crate::kafka_struct!`], for every declared struct.
pub trait Generate: Sized {
    fn generate(rng: &mut TestRng, version: Version) -> Self;
}

macro_rules! generate_integer {
    ($($ty:ty),*) => {$(
        impl Generate for $ty {
            fn generate(rng: &mut TestRng, _: Version) -> Self {
                // Keeping the low bytes is the point: any bit pattern is a valid value.
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let value = rng.edgy() as $ty;
                value
            }
        }
    )*};
}

generate_integer!(i8, i16, u16, i32, u32, i64);

impl Generate for f64 {
    fn generate(rng: &mut TestRng, version: Version) -> Self {
        // Finite only: NaN != NaN would fail the comparison, not the codec.
        f64::from(i32::generate(rng, version)) / 8.0
    }
}

impl Generate for bool {
    fn generate(rng: &mut TestRng, _: Version) -> Self {
        rng.one_in(2)
    }
}

impl Generate for Uuid {
    fn generate(rng: &mut TestRng, _: Version) -> Self {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        Uuid(id)
    }
}

impl Generate for ErrorCode {
    fn generate(rng: &mut TestRng, version: Version) -> Self {
        // Through `from_code`, as the decoder does, so `Unknown(0)` is never produced.
        ErrorCode::from_code(i16::generate(rng, version) % 140)
    }
}

impl Generate for StrBytes {
    fn generate(rng: &mut TestRng, _: Version) -> Self {
        let size = rng.up_to(GENERATED_STRING_SIZE_MAX);
        let text: String = (0..size)
            .map(|_| char::from(b' ' + rng.next_u64().to_le_bytes()[0] % 95))
            .collect();
        StrBytes::from(text)
    }
}

impl Generate for Bytes {
    fn generate(rng: &mut TestRng, _: Version) -> Self {
        let size = rng.up_to(GENERATED_STRING_SIZE_MAX);
        Bytes::from(rng.bytes(usize::try_from(size).unwrap_or(0)))
    }
}

impl<T: Generate> Generate for Vec<T> {
    fn generate(rng: &mut TestRng, version: Version) -> Self {
        let count = rng.up_to(GENERATED_ARRAY_COUNT_MAX);
        (0..count).map(|_| T::generate(rng, version)).collect()
    }
}

/// `Option<StrBytes>`, `Option<Bytes>` and `Option<Vec<T>>`: null one time in four.
impl<T: Generate> Generate for Option<T> {
    fn generate(rng: &mut TestRng, version: Version) -> Self {
        (!rng.one_in(4)).then(|| T::generate(rng, version))
    }
}

/// What a round trip found wrong; the test prints it with its seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundTripError {
    #[error("{api:?} v{version}: our own encoding failed to decode: {error}\n{value}")]
    Decode {
        api: ApiKey,
        version: i16,
        error: DecodeError,
        value: String,
    },
    #[error("{api:?} v{version}: decoded value differs\nsent     {sent}\nreceived {received}")]
    Differs {
        api: ApiKey,
        version: i16,
        sent: String,
        received: String,
    },
    #[error("{api:?} v{version}: re-encoding the decoded value changed the bytes\n{value}")]
    Reencode {
        api: ApiKey,
        version: i16,
        value: String,
    },
}

/// The codec of one message type, as plain function pointers so one table covers every API.
#[derive(Clone, Copy)]
pub struct MessageCodec {
    /// `RequestType` / `ResponseType`.
    pub name: &'static str,
    /// Decodes a whole body and drops the value.
    pub decode: fn(Bytes, i16) -> Result<(), DecodeError>,
    /// Decodes a body as the broker does (`Message::decode_request_body`) and encodes the value
    /// again: for captured client frames, equal bytes mean every field was read where the client
    /// wrote it.
    pub reencode: fn(Bytes, i16) -> Result<(BytesMut, Tolerated), DecodeError>,
    /// Encodes a freshly generated value.
    pub generate_encoded: fn(&mut TestRng, i16) -> BytesMut,
    /// Encodes `Default::default()`, to tell generated values from empty ones.
    pub default_encoded: fn(i16) -> BytesMut,
    /// Generates a value, encodes, decodes, compares and re-encodes.
    pub round_trip: fn(&mut TestRng, i16) -> Result<(), RoundTripError>,
}

impl Debug for MessageCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// One API's request and response codecs and the version range both declare.
#[derive(Debug, Clone, Copy)]
pub struct ApiCodecs {
    pub key: ApiKey,
    pub version_min: i16,
    pub version_max: i16,
    pub request: MessageCodec,
    pub response: MessageCodec,
}

fn decode_discard<M: Message>(body: Bytes, version: i16) -> Result<(), DecodeError> {
    M::decode_body(body, version).map(drop)
}

fn reencode<M: Message>(body: Bytes, version: i16) -> Result<(BytesMut, Tolerated), DecodeError> {
    let (message, tolerated) = M::decode_request_body(body, version)?;
    let mut buffer = BytesMut::new();
    message.encode_body(&mut buffer, version);
    Ok((buffer, tolerated))
}

fn generate_encoded<M: Message + Generate>(rng: &mut TestRng, version: i16) -> BytesMut {
    let mut buffer = BytesMut::new();
    if let Some(descriptor) = M::version(version) {
        M::generate(rng, descriptor).encode(&mut buffer, descriptor);
    }
    buffer
}

fn default_encoded<M: Message + Default>(version: i16) -> BytesMut {
    let mut buffer = BytesMut::new();
    if let Some(descriptor) = M::version(version) {
        M::default().encode(&mut buffer, descriptor);
    }
    buffer
}

fn round_trip<M>(rng: &mut TestRng, version: i16) -> Result<(), RoundTripError>
where
    M: Message + Generate + PartialEq + Debug,
{
    let api = M::API_KEY;
    let Some(descriptor) = M::version(version) else {
        let error = DecodeError::new(DecodeErrorKind::UnsupportedVersion { version }, 0);
        let value = String::new();
        return Err(RoundTripError::Decode {
            api,
            version,
            error,
            value,
        });
    };
    let sent = M::generate(rng, descriptor);
    let mut encoded = BytesMut::new();
    sent.encode_body(&mut encoded, version);
    let encoded = encoded.freeze();
    let received = match M::decode_body(encoded.clone(), version) {
        Ok(received) => received,
        Err(error) => {
            let value = format!("{sent:?}\nbytes {:02x?}", &encoded[..]);
            return Err(RoundTripError::Decode {
                api,
                version,
                error,
                value,
            });
        }
    };
    if received != sent {
        return Err(RoundTripError::Differs {
            api,
            version,
            sent: format!("{sent:?}"),
            received: format!("{received:?}"),
        });
    }
    let mut again = BytesMut::new();
    received.encode_body(&mut again, version);
    if again != encoded {
        let value = format!(
            "{sent:?}\nfirst  {:02x?}\nsecond {:02x?}",
            &encoded[..],
            &again[..]
        );
        return Err(RoundTripError::Reencode {
            api,
            version,
            value,
        });
    }
    Ok(())
}

/// The codec functions of message type `M`.
#[must_use]
pub const fn message_codec<M>(name: &'static str) -> MessageCodec
where
    M: Message + Generate + Default + PartialEq + Debug,
{
    MessageCodec {
        name,
        decode: decode_discard::<M>,
        reencode: reencode::<M>,
        generate_encoded: generate_encoded::<M>,
        default_encoded: default_encoded::<M>,
        round_trip: round_trip::<M>,
    }
}

macro_rules! api_codecs {
    ($($request:ty => $response:ty,)*) => {
        /// Every API the codec declares, request and response, in `ApiKey` order. A test checks
        /// it against [`ApiKey::ALL`].
        pub const API_CODECS: &[ApiCodecs] = &[$(
            {
                assert!(<$request as Message>::VERSION_MIN == <$response as Message>::VERSION_MIN);
                assert!(<$request as Message>::VERSION_MAX == <$response as Message>::VERSION_MAX);
                ApiCodecs {
                    key: <$request as Message>::API_KEY,
                    version_min: <$request as Message>::VERSION_MIN,
                    version_max: <$request as Message>::VERSION_MAX,
                    request: message_codec::<$request>(stringify!($request)),
                    response: message_codec::<$response>(stringify!($response)),
                }
            },
        )*];
    };
}

api_codecs! {
    produce::ProduceRequest => produce::ProduceResponse,
    fetch::FetchRequest => fetch::FetchResponse,
    list_offsets::ListOffsetsRequest => list_offsets::ListOffsetsResponse,
    metadata::MetadataRequest => metadata::MetadataResponse,
    offset_commit::OffsetCommitRequest => offset_commit::OffsetCommitResponse,
    offset_fetch::OffsetFetchRequest => offset_fetch::OffsetFetchResponse,
    find_coordinator::FindCoordinatorRequest => find_coordinator::FindCoordinatorResponse,
    join_group::JoinGroupRequest => join_group::JoinGroupResponse,
    heartbeat::HeartbeatRequest => heartbeat::HeartbeatResponse,
    leave_group::LeaveGroupRequest => leave_group::LeaveGroupResponse,
    sync_group::SyncGroupRequest => sync_group::SyncGroupResponse,
    describe_groups::DescribeGroupsRequest => describe_groups::DescribeGroupsResponse,
    list_groups::ListGroupsRequest => list_groups::ListGroupsResponse,
    sasl_handshake::SaslHandshakeRequest => sasl_handshake::SaslHandshakeResponse,
    api_versions::ApiVersionsRequest => api_versions::ApiVersionsResponse,
    create_topics::CreateTopicsRequest => create_topics::CreateTopicsResponse,
    delete_topics::DeleteTopicsRequest => delete_topics::DeleteTopicsResponse,
    delete_records::DeleteRecordsRequest => delete_records::DeleteRecordsResponse,
    init_producer_id::InitProducerIdRequest => init_producer_id::InitProducerIdResponse,
    offset_for_leader_epoch::OffsetForLeaderEpochRequest
        => offset_for_leader_epoch::OffsetForLeaderEpochResponse,
    describe_acls::DescribeAclsRequest => describe_acls::DescribeAclsResponse,
    create_acls::CreateAclsRequest => create_acls::CreateAclsResponse,
    delete_acls::DeleteAclsRequest => delete_acls::DeleteAclsResponse,
    describe_configs::DescribeConfigsRequest => describe_configs::DescribeConfigsResponse,
    alter_configs::AlterConfigsRequest => alter_configs::AlterConfigsResponse,
    describe_log_dirs::DescribeLogDirsRequest => describe_log_dirs::DescribeLogDirsResponse,
    sasl_authenticate::SaslAuthenticateRequest => sasl_authenticate::SaslAuthenticateResponse,
    create_partitions::CreatePartitionsRequest => create_partitions::CreatePartitionsResponse,
    delete_groups::DeleteGroupsRequest => delete_groups::DeleteGroupsResponse,
    elect_leaders::ElectLeadersRequest => elect_leaders::ElectLeadersResponse,
    incremental_alter_configs::IncrementalAlterConfigsRequest
        => incremental_alter_configs::IncrementalAlterConfigsResponse,
    offset_delete::OffsetDeleteRequest => offset_delete::OffsetDeleteResponse,
    describe_client_quotas::DescribeClientQuotasRequest
        => describe_client_quotas::DescribeClientQuotasResponse,
    alter_client_quotas::AlterClientQuotasRequest
        => alter_client_quotas::AlterClientQuotasResponse,
    describe_user_scram_credentials::DescribeUserScramCredentialsRequest
        => describe_user_scram_credentials::DescribeUserScramCredentialsResponse,
    alter_user_scram_credentials::AlterUserScramCredentialsRequest
        => alter_user_scram_credentials::AlterUserScramCredentialsResponse,
    describe_quorum::DescribeQuorumRequest => describe_quorum::DescribeQuorumResponse,
    describe_cluster::DescribeClusterRequest => describe_cluster::DescribeClusterResponse,
    alter_partition_reassignments::AlterPartitionReassignmentsRequest
        => alter_partition_reassignments::AlterPartitionReassignmentsResponse,
    list_partition_reassignments::ListPartitionReassignmentsRequest
        => list_partition_reassignments::ListPartitionReassignmentsResponse,
    unregister_broker::UnregisterBrokerRequest => unregister_broker::UnregisterBrokerResponse,
}

/// The table entry of `key`, `None` for an API not declared yet.
#[must_use]
pub fn api_codecs(key: ApiKey) -> Option<&'static ApiCodecs> {
    API_CODECS.iter().find(|codecs| codecs.key == key)
}
