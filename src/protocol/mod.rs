//! The Kafka wire codec: sans-IO, bounded, shared by the broker, the admin CLI and ringbench.
//!
//! Bytes in, typed messages out, and back: no async, no sockets, no files, and nothing imported
//! from the rest of the crate. Every count read from the wire is checked against the bytes left
//! before anything is allocated, and strings and record bytes are `Bytes` slices of the frame.
//! It is ours rather than the `kafka-protocol` crate because that crate reserves
//! `Vec::with_capacity(n)` from the wire's count (CVE-2022-34917 was the same bug in Kafka).
//!
//! Requests are read as Kafka's broker reads them, tolerance included
//! ([`Message::decode_request_body`]): bytes after the body's last field are skipped, any
//! negative classic length is null, tagged fields may come in any order and unknown ones are
//! skipped; what was tolerated is reported ([`Tolerated`]) for the broker's debug log.
//! [`Message::decode_body`] is the strict form (every byte consumed) for our round trips and
//! our own client. Captured client frames in `tests/captured/` keep both honest.
//!
//! Layers, outermost first:
//! ```text
//! frame.rs         [size:i32][payload]                       size-prefixed frames
//! header.rs        request header v1/v2, response header v0/v1
//! messages/<api>   one file per API: request and response, every supported version
//! record_batch.rs  RecordBatch v2 header view, CRC-32C, in-place patches
//! records.rs       records iteration and the batch encoder; compression.rs its codecs
//! primitives.rs    ints, varints, strings, bytes, arrays, tagged fields
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod compression;
pub mod error_code;
pub mod exchange;
pub mod frame;
pub mod header;
pub mod macros;
pub mod messages;
pub mod primitives;
pub mod record_batch;
pub mod records;

pub mod testing;
pub mod versions;

pub use error_code::ErrorCode;
pub use primitives::{
    DecodeError, DecodeErrorKind, Field, Reader, StrBytes, Tolerated, Uuid, Version,
};

use bytes::{Bytes, BytesMut};

/// Kafka API keys this codec knows. The numbers are Kafka's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    DeleteRecords = 21,
    InitProducerId = 22,
    OffsetForLeaderEpoch = 23,
    DescribeAcls = 29,
    CreateAcls = 30,
    DeleteAcls = 31,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    DescribeLogDirs = 35,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
    DeleteGroups = 42,
    ElectLeaders = 43,
    IncrementalAlterConfigs = 44,
    AlterPartitionReassignments = 45,
    ListPartitionReassignments = 46,
    OffsetDelete = 47,
    DescribeClientQuotas = 48,
    AlterClientQuotas = 49,
    DescribeUserScramCredentials = 50,
    AlterUserScramCredentials = 51,
    DescribeQuorum = 55,
    DescribeCluster = 60,
    UnregisterBroker = 64,
}

impl ApiKey {
    /// Every key, in numeric order.
    pub const ALL: [ApiKey; 41] = [
        Self::Produce,
        Self::Fetch,
        Self::ListOffsets,
        Self::Metadata,
        Self::OffsetCommit,
        Self::OffsetFetch,
        Self::FindCoordinator,
        Self::JoinGroup,
        Self::Heartbeat,
        Self::LeaveGroup,
        Self::SyncGroup,
        Self::DescribeGroups,
        Self::ListGroups,
        Self::SaslHandshake,
        Self::ApiVersions,
        Self::CreateTopics,
        Self::DeleteTopics,
        Self::DeleteRecords,
        Self::InitProducerId,
        Self::OffsetForLeaderEpoch,
        Self::DescribeAcls,
        Self::CreateAcls,
        Self::DeleteAcls,
        Self::DescribeConfigs,
        Self::AlterConfigs,
        Self::DescribeLogDirs,
        Self::SaslAuthenticate,
        Self::CreatePartitions,
        Self::DeleteGroups,
        Self::ElectLeaders,
        Self::IncrementalAlterConfigs,
        Self::AlterPartitionReassignments,
        Self::ListPartitionReassignments,
        Self::OffsetDelete,
        Self::DescribeClientQuotas,
        Self::AlterClientQuotas,
        Self::DescribeUserScramCredentials,
        Self::AlterUserScramCredentials,
        Self::DescribeQuorum,
        Self::DescribeCluster,
        Self::UnregisterBroker,
    ];

    /// The key for a wire number, `None` for keys we do not know.
    #[must_use]
    pub fn from_i16(value: i16) -> Option<Self> {
        Self::ALL.iter().copied().find(|key| *key as i16 == value)
    }

    #[must_use]
    pub fn as_i16(self) -> i16 {
        self as i16
    }
}

/// A top-level request or response body of one API, declared with [`kafka_message!`].
pub trait Message: Field {
    const API_KEY: ApiKey;
    /// Lowest version decoded and encoded.
    const VERSION_MIN: i16;
    /// Highest version decoded and encoded.
    const VERSION_MAX: i16;
    /// First flexible version (compact types, tagged fields); `i16::MAX` when none.
    const FLEXIBLE_MIN: i16;

    /// The top-level `throttle_time_ms` of a response whose schema has it at `version`
    /// (`None` for requests, and for responses without the field at that version): where
    /// `handlers::throttle` writes the quota throttle every such response answers.
    fn throttle_time_ms_mut(&mut self, version: i16) -> Option<&mut i32>;

    /// The `Version` descriptor for `version`, or `None` outside `VERSION_MIN..=VERSION_MAX`.
    #[must_use]
    fn version(version: i16) -> Option<Version> {
        (Self::VERSION_MIN..=Self::VERSION_MAX)
            .contains(&version)
            .then_some(Version {
                version,
                flexible: version >= Self::FLEXIBLE_MIN,
            })
    }

    /// Decodes a whole body strictly: every byte must be consumed. For our own round trips,
    /// the differential tests and our client, where a byte left over is a codec bug.
    ///
    /// # Errors
    /// `UnsupportedVersion` outside the declared range, or any decode error.
    fn decode_body(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let message = Self::decode(&mut reader, Self::version_or_error(version)?)?;
        reader.finish()?;
        Ok(message)
    }

    /// Decodes a request body as Apache Kafka's broker does (`AbstractRequest.parseRequest`
    /// reads the fields and never checks that the buffer was consumed): bytes after the last
    /// field are skipped and reported, with the rest of what was tolerated, for a debug log.
    ///
    /// librdkafka ≥ 2.1 needs this: for "all topics" at Metadata v9+ it leaves a 4-byte zero
    /// array count where a 1-byte compact one belongs, which Kafka reads as null topics, two
    /// false booleans and no tags, and then ignores the 3 or 4 bytes after them.
    ///
    /// # Errors
    /// `UnsupportedVersion` outside the declared range, or any decode error: a body whose
    /// fields cannot all be read is refused as Kafka refuses it.
    fn decode_request_body(body: Bytes, version: i16) -> Result<(Self, Tolerated), DecodeError> {
        let mut reader = Reader::new(body);
        let message = Self::decode(&mut reader, Self::version_or_error(version)?)?;
        let tolerated = reader.finish_lenient();
        assert!(reader.is_empty(), "finish_lenient leaves nothing");
        Ok((message, tolerated))
    }

    /// [`Message::version`], or `UnsupportedVersion` at offset 0.
    ///
    /// # Errors
    /// `UnsupportedVersion` outside the declared range.
    fn version_or_error(version: i16) -> Result<Version, DecodeError> {
        Self::version(version)
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnsupportedVersion { version }, 0))
    }

    /// Encodes the body at `version`.
    ///
    /// # Panics
    /// When `version` is outside the declared range (a programmer error: the caller negotiated
    /// the version against the same table).
    fn encode_body(&self, writer: &mut BytesMut, version: i16) {
        let descriptor = Self::version(version);
        assert!(
            descriptor.is_some(),
            "{:?} v{version} is not supported",
            Self::API_KEY
        );
        if let Some(descriptor) = descriptor {
            self.encode(writer, descriptor);
        }
    }
}

/// Why [`fuzz_decode_request`] rejected its input.
#[derive(Debug, thiserror::Error)]
pub enum FuzzDecodeError {
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    #[error("input ends before the frame does")]
    IncompleteFrame,
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Cap on decompressed records in [`fuzz_record_batch`]: small, so that a fuzzer-made bomb costs
/// microseconds, and large enough for every seed in `tests/fuzz/corpus/record_batch`.
pub const FUZZ_DECOMPRESSED_SIZE_MAX: usize = 1 << 20;

/// The `frame` fuzz target and `tests/fuzz_corpus.rs`: one size-prefixed request frame → header
/// → body of the matching request type. Returns the key whose body was decoded, or `None` for a
/// key whose message is not declared yet. Never panics, whatever the bytes.
///
/// # Errors
/// Any frame, header or body error.
pub fn fuzz_decode_request(bytes: &[u8]) -> Result<Option<ApiKey>, FuzzDecodeError> {
    let mut buffer = BytesMut::from(bytes);
    let payload = frame::split_frame(&mut buffer, crate::limits::FRAME_SIZE_MAX)?
        .ok_or(FuzzDecodeError::IncompleteFrame)?;
    let mut reader = Reader::new(payload.freeze());
    let header = header::RequestHeader::decode(&mut reader)?;
    let Some(key) = ApiKey::from_i16(header.api_key) else {
        return Ok(None);
    };
    let body = reader.rest();
    // Every declared API's request decoder, from the one table the property tests also use
    // (a test checks it covers ApiKey::ALL).
    match testing::api_codecs(key) {
        Some(codecs) => {
            (codecs.request.decode)(body, header.api_version)?;
            Ok(Some(key))
        }
        None => Ok(None),
    }
}

/// The `record_batch` fuzz target and `tests/fuzz_corpus.rs`: bytes → validate → iterate every
/// record and header, decompressing at most [`FUZZ_DECOMPRESSED_SIZE_MAX`]. Returns the records
/// count. Never panics, whatever the bytes.
///
/// Before validating, `batch_length` and the CRC are rewritten to match the bytes: a fuzzer
/// cannot forge CRC-32C, so without this almost every input would stop at the CRC check and
/// the records parser and codecs would go unexplored. Length and CRC checks have unit tests.
///
/// # Errors
/// Any [`records::RecordsError`].
pub fn fuzz_record_batch(bytes: &[u8]) -> Result<i32, records::RecordsError> {
    let mut batch = BytesMut::from(bytes);
    let length = batch
        .len()
        .checked_sub(record_batch::LOG_OVERHEAD)
        .and_then(|length| i32::try_from(length).ok());
    if let (Some(length), true) = (length, batch.len() >= record_batch::HEADER_SIZE) {
        let offset = record_batch::BATCH_LENGTH_OFFSET;
        if let Some(field) = batch.get_mut(offset..offset + 4) {
            field.copy_from_slice(&length.to_be_bytes());
        }
        let crc = record_batch::compute_crc(&batch);
        let offset = record_batch::CRC_OFFSET;
        if let Some(field) = batch.get_mut(offset..offset + 4) {
            field.copy_from_slice(&crc.to_be_bytes());
        }
    }
    records::verify_records(batch.freeze(), FUZZ_DECOMPRESSED_SIZE_MAX)
}
