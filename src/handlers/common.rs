//! Helpers shared by handlers: mapping subsystem errors to Kafka error codes, finding the shard
//! that owns a partition, and resolving topics by name or id. Runs on the connection's shard.
use crate::broker::Shard;
use crate::cluster::controller;
use crate::cluster::{MetadataError, TopicMetadata};
use crate::protocol::{ErrorCode, Uuid};
use crate::shard::shard_for;
use crate::storage::PartitionKey;
use crate::storage::{StorageError, StorageErrorKind};
use std::rc::Rc;
use std::sync::Arc;

/// The Kafka error code for a storage failure.
#[must_use]
pub fn storage_error_code(error: &StorageError) -> ErrorCode {
    match error.kind() {
        StorageErrorKind::CorruptMessage => ErrorCode::CorruptMessage,
        StorageErrorKind::InvalidRecord => ErrorCode::InvalidRecord,
        StorageErrorKind::MessageTooLarge => ErrorCode::MessageTooLarge,
        StorageErrorKind::InvalidTimestamp => ErrorCode::InvalidTimestamp,
        StorageErrorKind::OffsetOutOfRange => ErrorCode::OffsetOutOfRange,
        StorageErrorKind::UnknownPartition => ErrorCode::UnknownTopicOrPartition,
        StorageErrorKind::Storage => ErrorCode::KafkaStorageError,
        StorageErrorKind::OutOfOrderSequence => ErrorCode::OutOfOrderSequenceNumber,
        StorageErrorKind::InvalidProducerEpoch => ErrorCode::InvalidProducerEpoch,
    }
}

/// The Kafka error code for a refused metadata change.
#[must_use]
pub fn metadata_error_code(error: &MetadataError) -> ErrorCode {
    match error {
        MetadataError::TopicAlreadyExists { .. } | MetadataError::TopicCollision { .. } => {
            ErrorCode::TopicAlreadyExists
        }
        MetadataError::UnknownTopic { .. } => ErrorCode::UnknownTopicOrPartition,
        MetadataError::InvalidTopicName(_) => ErrorCode::InvalidTopicException,
        MetadataError::InvalidPartitionCount { .. }
        | MetadataError::PartitionsCannotShrink { .. } => ErrorCode::InvalidPartitions,
        MetadataError::InvalidConfig(_) => ErrorCode::InvalidConfig,
        MetadataError::Persist { .. } => ErrorCode::KafkaStorageError,
    }
}

/// The shard that owns `key`.
#[must_use]
pub fn owner(shard: &Shard, key: PartitionKey) -> usize {
    shard_for(key.topic_id, key.partition, shard.count())
}

/// A topic looked up by name, created when auto-creation is on and `allow_create` (Metadata v4+
/// lets the client forbid it). Errors are the Kafka codes to answer with.
pub async fn resolve_topic_by_name(
    shard: &Rc<Shard>,
    name: &str,
    allow_create: bool,
) -> Result<Arc<TopicMetadata>, ErrorCode> {
    if let Some(topic) = controller::metadata(shard).topic(name) {
        return Ok(Arc::clone(topic));
    }
    if crate::cluster::topic_name::validate(name).is_err() {
        return Err(ErrorCode::InvalidTopicException);
    }
    let partitions = shard.config().auto_create_partitions;
    if !allow_create || partitions <= 0 {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    controller::get_or_create_topic(shard, name, partitions)
        .await
        .map_err(|error| metadata_error_code(&error))
}

/// A topic looked up by id (newer Fetch/Produce/Metadata versions).
///
/// # Errors
/// `UNKNOWN_TOPIC_ID`.
pub fn resolve_topic_by_id(shard: &Shard, topic_id: Uuid) -> Result<Arc<TopicMetadata>, ErrorCode> {
    controller::metadata(shard)
        .topic_by_id(topic_id)
        .cloned()
        .ok_or(ErrorCode::UnknownTopicId)
}

/// Whether `partition` exists in `topic`.
#[must_use]
pub fn has_partition(topic: &TopicMetadata, partition: i32) -> bool {
    (0..topic.partition_count).contains(&partition)
}

/// The leader epoch of every partition on a single node: it never changes, so 0.
pub const LEADER_EPOCH: i32 = 0;
