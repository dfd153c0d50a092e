//! The controller: the single writer of cluster metadata, on shard 0.
//!
//! A change runs as one synchronous step on shard 0 (derive the next snapshot with the pure
//! `ClusterMetadata::with_*` functions, persist it, install it as shard 0's copy), so changes
//! never interleave. The caller then publishes the snapshot to every shard from its own task
//! (never from inside a mesh job), and each shard installs it if it is newer and reconciles its
//! partition logs (open new partitions, apply configs, close and delete removed ones). The
//! caller answers only after every shard reconciled, so an acknowledged CreateTopics can be
//! produced to at once and an acknowledged DeleteTopics has removed its files.
//!
//! The controller reaches shards through the shard runtime's mesh and needs only what
//! [`MetadataHost`] gives it: each shard's `MetadataView` and the hook that brings the shard's
//! services in line with a snapshot. The services themselves are composed above (`broker/`).
//!
//! Runs on any shard (callers) and on shard 0 (the change itself).
use super::metadata::{ClusterMetadata, MetadataError, MetadataStore, TopicMetadata};
use super::view::MetadataHost;
use crate::shard::Shard;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// The controller's shard.
pub const CONTROLLER_SHARD: usize = 0;

/// The current snapshot on this shard.
#[must_use]
pub fn metadata(shard: &Shard<impl MetadataHost>) -> Arc<ClusterMetadata> {
    shard.state.metadata_view().current()
}

/// Runs `change` on shard 0 against the latest snapshot, persists and installs the result
/// there, then publishes it to every shard.
async fn apply<T, F>(shard: &Rc<Shard<impl MetadataHost>>, change: F) -> Result<T, MetadataError>
where
    F: FnOnce(&ClusterMetadata) -> Result<(ClusterMetadata, T), MetadataError> + Send + 'static,
    T: Send + 'static,
{
    let applied = shard
        .invoke_on(CONTROLLER_SHARD, move |controller| async move {
            let current = metadata(&controller);
            let (next, value) = change(&current)?;
            assert_eq!(next.version, current.version + 1, "one version per change");
            let store = controller.state.metadata_view().store();
            assert!(
                store.is_some(),
                "metadata store lives on shard {CONTROLLER_SHARD}"
            );
            if let Some(store) = store {
                store.save(&next).map_err(|error| MetadataError::Persist {
                    reason: error.to_string(),
                })?;
            }
            let next = Arc::new(next);
            controller.state.metadata_view().replace(Arc::clone(&next));
            Ok::<_, MetadataError>((next, value))
        })
        .await
        .map_err(|error| MetadataError::Persist {
            reason: error.to_string(),
        })?;
    let (next, value) = applied?;
    publish(shard, next).await;
    Ok(value)
}

/// Installs `next` on every shard and waits until each reconciled its services.
pub async fn publish(shard: &Rc<Shard<impl MetadataHost>>, next: Arc<ClusterMetadata>) {
    let result = shard
        .invoke_on_all(move |target| {
            let next = Arc::clone(&next);
            async move { install(&target, next).await }
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "metadata publication incomplete (shutting down?)");
    }
}

/// Installs `next` on this shard when it is newer than the current snapshot, then brings the
/// shard's services (partition logs, group offsets) in line with whatever snapshot is current.
pub async fn install(shard: &Shard<impl MetadataHost>, next: Arc<ClusterMetadata>) {
    let current = shard.state.metadata_view().install_if_newer(next);
    shard.state.metadata_installed(current).await;
}

/// Creates a topic (CreateTopics, auto-creation).
///
/// # Errors
/// Any [`MetadataError`].
pub async fn create_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    partition_count: i32,
    configs: BTreeMap<String, String>,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    let name = name.to_owned();
    apply(shard, move |current| {
        current.with_topic_created(&name, partition_count, configs)
    })
    .await
}

/// The topic, creating it with `partition_count` partitions when it does not exist yet (auto
/// creation). Losing a creation race to another connection is success.
///
/// # Errors
/// Any [`MetadataError`] but `TopicAlreadyExists`.
pub async fn get_or_create_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    partition_count: i32,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    if let Some(topic) = metadata(shard).topic(name) {
        return Ok(Arc::clone(topic));
    }
    match create_topic(shard, name, partition_count, BTreeMap::new()).await {
        Err(MetadataError::TopicAlreadyExists { .. }) => {
            // Another connection created it; its publication may still be on its way here.
            let latest = shard
                .invoke_on(CONTROLLER_SHARD, |controller| async move {
                    metadata(&controller)
                })
                .await
                .map_err(|error| MetadataError::Persist {
                    reason: error.to_string(),
                })?;
            install(shard, Arc::clone(&latest)).await;
            latest
                .topic(name)
                .cloned()
                .ok_or_else(|| MetadataError::UnknownTopic {
                    name: name.to_owned(),
                })
        }
        other => other,
    }
}

/// Deletes a topic and its data. Every shard's services drop what they kept for it when the
/// snapshot is installed there (`MetadataHost::metadata_installed`: the group coordinators
/// forget its committed offsets, Kafka's cleanup on partition deletion), before this returns.
///
/// # Errors
/// `UnknownTopic`, `Persist`.
pub async fn delete_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    let owned = name.to_owned();
    apply(shard, move |current| current.with_topic_deleted(&owned)).await
}

/// Grows a topic to `count` partitions.
///
/// # Errors
/// `UnknownTopic`, `PartitionsCannotShrink`, `InvalidPartitionCount`, `Persist`.
pub async fn create_partitions(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    count: i32,
) -> Result<(), MetadataError> {
    let name = name.to_owned();
    apply(shard, move |current| {
        Ok((current.with_partitions(&name, count)?, ()))
    })
    .await
}

/// Replaces a topic's config overrides.
///
/// # Errors
/// `UnknownTopic`, `InvalidConfig`, `Persist`.
pub async fn set_topic_configs(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    configs: BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    let name = name.to_owned();
    apply(shard, move |current| {
        Ok((current.with_topic_configs(&name, configs)?, ()))
    })
    .await
}

/// Replaces the broker-level config overrides.
///
/// # Errors
/// `InvalidConfig`, `Persist`.
pub async fn set_broker_configs(
    shard: &Rc<Shard<impl MetadataHost>>,
    configs: BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    apply(shard, move |current| {
        Ok((current.with_broker_configs(configs)?, ()))
    })
    .await
}

/// Loads (or creates) the node metadata before the shards start.
///
/// # Errors
/// The file cannot be read or is invalid.
pub fn load(
    store: &MetadataStore,
) -> Result<Arc<ClusterMetadata>, super::metadata::MetadataFileError> {
    store.load_or_create().map(Arc::new)
}
