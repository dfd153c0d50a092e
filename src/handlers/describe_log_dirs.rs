//! DescribeLogDirs (key 35): the one log directory (the data dir) and the size on disk of each
//! requested partition. Runs on the connection's shard; sizes are read on each partition's
//! owning shard, one mesh call per shard that owns any requested partition.
//!
//! As a Kafka broker: `topics` null asks for every partition this broker hosts a replica of; a
//! topic or partition that does not exist, or is hosted elsewhere, is left out of the answer
//! rather than reported as an error. There is a single
//! replica and no `AlterReplicaLogDirs`, so `offset_lag` is 0 and `is_future_key` false. The
//! volume's total and usable bytes (v4) come from `statvfs` of the data dir, -1 when it fails.
//! At most `DESCRIBE_LOG_DIRS_PARTITIONS_MAX` partitions are described per request.
use super::common::{has_partition, owner};
use super::{HandlerError, RequestContext};
use crate::broker::Shard;
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::limits::DESCRIBE_LOG_DIRS_PARTITIONS_MAX;
use crate::protocol::messages::describe_log_dirs::{
    DescribeLogDirsPartition, DescribeLogDirsRequest, DescribeLogDirsResponse,
    DescribeLogDirsResult, DescribeLogDirsTopic,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use crate::storage::PartitionKey;
use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;

pub const API_KEY: ApiKey = ApiKey::DescribeLogDirs;
pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 4;

/// # Errors
/// Only when an owning shard stopped (shutdown).
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeLogDirsRequest,
) -> Result<DescribeLogDirsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if !ctx.authorize_cluster(AclOperation::Describe) {
        // Kafka answers an empty result (and, from v3, the top-level error).
        return Ok(DescribeLogDirsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            ..DescribeLogDirsResponse::default()
        });
    }
    let wanted = wanted_partitions(&ctx.shard, request);
    let sizes = partition_sizes(&ctx.shard, &wanted).await?;
    let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
    for ((name, key), size) in wanted.into_iter().zip(sizes) {
        // A partition being deleted or not yet open has no log here: left out, as Kafka does.
        let Some(size) = size else { continue };
        let partition = DescribeLogDirsPartition {
            partition_index: key.partition,
            partition_size: i64::try_from(size).unwrap_or(i64::MAX),
            offset_lag: 0,
            is_future_key: false,
        };
        // `wanted` lists each topic's partitions together, so only the last topic can match.
        match topics.last_mut() {
            Some(topic) if topic.name == name => topic.partitions.push(partition),
            _ => topics.push(DescribeLogDirsTopic {
                name,
                partitions: vec![partition],
            }),
        }
    }
    let data_dir = std::path::absolute(&ctx.shard.config().data_dir)
        .unwrap_or_else(|_| ctx.shard.config().data_dir.clone());
    let (total_bytes, usable_bytes) = volume_bytes(&data_dir).unwrap_or((-1, -1));
    Ok(DescribeLogDirsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        results: vec![DescribeLogDirsResult {
            error_code: ErrorCode::None,
            log_dir: StrBytes::from(data_dir.to_string_lossy().into_owned()),
            topics,
            total_bytes,
            usable_bytes,
        }],
    })
}

/// The existing partitions asked for, grouped by topic, at most
/// `DESCRIBE_LOG_DIRS_PARTITIONS_MAX` of them. Duplicates in the request are kept once.
fn wanted_partitions(
    shard: &Rc<Shard>,
    request: DescribeLogDirsRequest,
) -> Vec<(StrBytes, PartitionKey)> {
    let metadata = controller::metadata(shard);
    let node_id = shard.config().node_id;
    let mut wanted = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |name: &StrBytes, topic_id, partition| {
        if wanted.len() >= DESCRIBE_LOG_DIRS_PARTITIONS_MAX {
            return false;
        }
        // Only replicas this broker hosts have a log dir here (the cap counts only those).
        let hosted = metadata
            .partition_or_single_node(topic_id, partition, node_id)
            .is_some_and(|state| state.replicas.contains(&node_id));
        if !hosted {
            return true;
        }
        let key = PartitionKey {
            topic_id,
            partition,
        };
        if seen.insert(key) {
            wanted.push((name.clone(), key));
        }
        true
    };
    match request.topics {
        None => {
            'all: for topic in metadata.topics.values() {
                let name = StrBytes::from(topic.name.clone());
                for partition in 0..topic.partition_count {
                    if !push(&name, topic.topic_id, partition) {
                        break 'all;
                    }
                }
            }
        }
        Some(requested) => {
            'requested: for topic in requested {
                let Some(found) = metadata.topic(&topic.topic) else {
                    continue;
                };
                for partition in topic.partitions {
                    if has_partition(found, partition)
                        && !push(&topic.topic, found.topic_id, partition)
                    {
                        break 'requested;
                    }
                }
            }
        }
    }
    wanted
}

/// Each partition's bytes on disk, in `wanted`'s order, `None` when its owner has no open log
/// for it. One mesh call per owning shard.
async fn partition_sizes(
    shard: &Rc<Shard>,
    wanted: &[(StrBytes, PartitionKey)],
) -> Result<Vec<Option<u64>>, HandlerError> {
    let mut sizes = vec![None; wanted.len()];
    for target in 0..shard.count() {
        let (positions, keys): (Vec<usize>, Vec<PartitionKey>) = wanted
            .iter()
            .enumerate()
            .filter(|(_, (_, key))| owner(shard, *key) == target)
            .map(|(position, (_, key))| (position, *key))
            .unzip();
        if keys.is_empty() {
            continue;
        }
        let found = shard
            .invoke_on(target, move |owner| async move {
                let mut found = Vec::with_capacity(keys.len());
                for key in keys {
                    found.push(
                        owner
                            .state
                            .logs
                            .offsets(key)
                            .await
                            .ok()
                            .map(|o| o.size_bytes),
                    );
                }
                found
            })
            .await?;
        for (position, size) in positions.into_iter().zip(found) {
            if let Some(slot) = sizes.get_mut(position) {
                *slot = size;
            }
        }
    }
    Ok(sizes)
}

/// (total, usable) bytes of the volume holding `dir`, as `statvfs` reports them; usable is what
/// an unprivileged process may still write (`f_bavail`), as Java's `getUsableSpace`.
fn volume_bytes(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain old data, valid when zeroed; the kernel fills it.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stats` a valid out-pointer, both live for
    // the call. A blocking metadata call on a local path, as `create_dir_all` at start-up.
    let result = unsafe { libc::statvfs(path.as_ptr(), &raw mut stats) };
    if result != 0 {
        return None;
    }
    let fragment = u128::from(stats.f_frsize);
    let clamp = |blocks: u64| i64::try_from(u128::from(blocks) * fragment).unwrap_or(i64::MAX);
    Some((clamp(stats.f_blocks), clamp(stats.f_bavail)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn volume_bytes_of_an_existing_dir_are_positive() {
        let dir = tempfile::tempdir().unwrap();
        let (total, usable) = volume_bytes(dir.path()).unwrap();
        assert!(total > 0);
        assert!((0..=total).contains(&usable));
    }

    #[test]
    fn volume_bytes_of_a_missing_dir_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(volume_bytes(&dir.path().join("missing")), None);
    }
}
