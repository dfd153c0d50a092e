//! The Kafka wire codec: sans-IO, bounded, shared by the broker, the admin CLI and ringbench.
//!
//! Bytes in, typed messages out, and back: no async, no sockets, no files, and nothing imported
//! from the rest of the crate. Every count read from the wire is checked against the bytes left
//! before anything is allocated, and strings and record bytes are `Bytes` slices of the frame.
//! It is ours rather than the `kafka-protocol` crate because that crate reserves
//! `Vec::with_capacity(n)` from the wire's count (CVE-2022-34917 was the same bug in Kafka).
//!
//! Layers, outermost first:
//! ```text
//! frame.rs         [size:i32][payload]                       size-prefixed frames
//! header.rs        request header v1/v2, response header v0/v1
//! messages/<api>   one file per API: request and response, every supported version
//! record_batch.rs  RecordBatch v2 view, CRC-32C, records, codecs, encoder
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

pub mod error_code;
pub mod frame;
pub mod header;
pub mod macros;
pub mod messages;
pub mod primitives;
pub mod record_batch;

pub mod testing;
pub mod versions;

pub use error_code::ErrorCode;
pub use primitives::{DecodeError, DecodeErrorKind, Field, Reader, StrBytes, Uuid, Version};

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
    DescribeConfigs = 32,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
    DeleteGroups = 42,
    IncrementalAlterConfigs = 44,
    OffsetDelete = 47,
    DescribeCluster = 60,
}

impl ApiKey {
    /// Every key, in numeric order.
    pub const ALL: [ApiKey; 27] = [
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
        Self::DescribeConfigs,
        Self::SaslAuthenticate,
        Self::CreatePartitions,
        Self::DeleteGroups,
        Self::IncrementalAlterConfigs,
        Self::OffsetDelete,
        Self::DescribeCluster,
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

    /// Decodes a whole body: every byte must be consumed.
    ///
    /// # Errors
    /// `UnsupportedVersion` outside the declared range, or any decode error.
    fn decode_body(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        let Some(descriptor) = Self::version(version) else {
            return Err(DecodeError::new(
                DecodeErrorKind::UnsupportedVersion { version },
                0,
            ));
        };
        let mut reader = Reader::new(body);
        let message = Self::decode(&mut reader, descriptor)?;
        reader.finish()?;
        Ok(message)
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
