//! Helpers shared by handlers: mapping subsystem errors to Kafka error codes, finding the shard
//! that owns a partition, running per-partition work on the owning shards (one mesh message per
//! shard), and resolving topics by name or id. Runs on the connection's shard.
use crate::broker::Shard;
use crate::cluster::controller;
use crate::cluster::{MetadataError, TopicMetadata};
use crate::protocol::{ErrorCode, Uuid};
use crate::shard::{MeshError, shard_for};
use crate::storage::PartitionKey;
use crate::storage::{StorageError, StorageErrorKind};
use std::collections::BTreeMap;
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
    error.error_code()
}

/// The next answer of `per_owning_shard` (which answers every partition it was given, in
/// order), its storage error as the partition's error code.
pub fn next_owner_answer<T>(
    answers: &mut impl Iterator<Item = Result<T, StorageError>>,
) -> Result<T, ErrorCode> {
    match answers.next() {
        Some(result) => result.map_err(|error| storage_error_code(&error)),
        // `per_owning_shard` answers every partition it was given; never reached.
        None => Err(ErrorCode::UnknownServerError),
    }
}

/// The shard that owns `key`.
#[must_use]
pub fn owner(shard: &Shard, key: PartitionKey) -> usize {
    shard_for(key.topic_id, key.partition, shard.count())
}

/// Runs `each(owner, key, argument)` for every item on the shard that owns `key`: one mesh
/// message per owning shard, the shards concurrently, each shard's items in input order (so a
/// partition named twice is handled in request order). Returns one output per item, in input
/// order.
///
/// # Errors
/// When an owning shard stopped (shutdown).
///
/// # Panics
/// When a call panicked on its shard (the panic is propagated: a bug).
pub async fn per_owning_shard<T, R, F, Fut>(
    shard: &Rc<Shard>,
    items: Vec<(PartitionKey, T)>,
    each: F,
) -> Result<Vec<R>, MeshError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Rc<Shard>, PartitionKey, T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let count = items.len();
    let mut per_shard: BTreeMap<usize, Vec<(usize, PartitionKey, T)>> = BTreeMap::new();
    for (index, (key, argument)) in items.into_iter().enumerate() {
        let target = owner(shard, key);
        per_shard
            .entry(target)
            .or_default()
            .push((index, key, argument));
    }
    assert!(per_shard.len() <= shard.count(), "more targets than shards");
    // Spawned first, awaited after: the shards work at the same time.
    let calls: Vec<_> = per_shard
        .into_iter()
        .map(|(target, batch)| {
            let shard = Rc::clone(shard);
            let each = each.clone();
            compio::runtime::spawn(async move {
                shard
                    .invoke_on(target, move |owner| async move {
                        let mut outputs = Vec::with_capacity(batch.len());
                        for (index, key, argument) in batch {
                            outputs.push((index, each(Rc::clone(&owner), key, argument).await));
                        }
                        outputs
                    })
                    .await
            })
        })
        .collect();
    let mut outputs: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for call in calls {
        // A join error means the spawned call panicked: a bug, so propagate the panic.
        let reply = call
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
        for (index, output) in reply? {
            if let Some(slot) = outputs.get_mut(index) {
                *slot = Some(output);
            }
        }
    }
    let outputs: Vec<R> = outputs.into_iter().flatten().collect();
    assert_eq!(outputs.len(), count, "every item answered exactly once");
    Ok(outputs)
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

#[cfg(test)]
mod quorum_error_tests {
    use super::*;
    use crate::cluster::metadata::MetadataFileError;
    use crate::cluster::quorum::QuorumError;

    fn code_of(source: QuorumError) -> ErrorCode {
        let error = MetadataError::Persist {
            source: Box::new(MetadataFileError::Quorum { source }),
        };
        metadata_error_code(&error)
    }

    #[test]
    fn an_uncommitted_change_is_not_a_storage_error() {
        assert_eq!(
            code_of(QuorumError::NotLeader { leader: Some(2) }),
            ErrorCode::NotController
        );
        assert_eq!(
            code_of(QuorumError::LeaderChanged { leader: None }),
            ErrorCode::RequestTimedOut
        );
        assert_eq!(
            code_of(QuorumError::Timeout { timeout_ms: 5 }),
            ErrorCode::RequestTimedOut
        );
        assert_eq!(code_of(QuorumError::ShutDown), ErrorCode::RequestTimedOut);
    }
}
