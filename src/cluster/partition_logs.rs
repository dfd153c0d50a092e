//! Which partition logs a shard should have for a metadata snapshot, and each one's storage
//! config: the translation from cluster metadata (topics, partition counts, config overrides)
//! to what storage's log pump reconciles against ([`WantedLogs`]). Storage knows nothing of
//! topics or placement; this is the one place that joins them.
//!
//! A broker hosts only the partitions whose replicas include it (by the partition's record, or
//! the single-node default, which names this broker): followers keep a log too, leaders and
//! followers alike; a partition reassigned away is closed here.
//!
//! Pure but for [`remove_stray_directories`] and [`remove_deleted_topic_directories`]
//! (start-up only); runs on every shard, each for itself, when a snapshot is installed.
use super::ClusterMetadata;
use super::configs;
use super::topic_name;
use crate::protocol::Uuid;
use crate::shard::placement::shard_for;
use crate::storage::{LogConfig, LogSpec, PartitionKey, WantedLogs, partition_metadata};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a shard's logs depend on besides the snapshot; fixed for the shard's life.
#[derive(Debug, Clone)]
pub struct LogPlacement {
    /// This broker's node id: only partitions with a replica here are wanted.
    pub node_id: i32,
    pub shard_index: usize,
    pub shard_count: usize,
    pub data_dir: PathBuf,
    /// Broker-wide `producer_id_expiration_ms`, given to every log.
    pub producer_id_expiration: Duration,
}

/// Every partition of `metadata` that has a replica on `placement`'s broker and that its shard
/// owns, with its directory and config.
///
/// # Panics
/// When the shard index is out of range (a programmer error in the composition).
#[must_use]
pub fn wanted_logs(metadata: &ClusterMetadata, placement: &LogPlacement) -> WantedLogs {
    assert!(placement.shard_index < placement.shard_count);
    let mut wanted = WantedLogs::new();
    for topic in metadata.topics.values() {
        // Resolved once per snapshot by the one config table. A stored value the table refuses
        // (written before a bound was tightened) is reported and the partition keeps its
        // current settings; it is never replaced by a default.
        let config = match configs::log_config(&topic.configs, &metadata.broker_configs) {
            Ok(config) => Some(LogConfig {
                producer_id_expiration: placement.producer_id_expiration,
                ..config
            }),
            Err(error) => {
                tracing::error!(topic = topic.name, %error, "topic config refused; kept as is");
                None
            }
        };
        for partition in 0..topic.partition_count {
            if shard_for(topic.topic_id, partition, placement.shard_count) != placement.shard_index
            {
                continue;
            }
            let Some(state) = metadata
                .partition_or_single_node(topic.topic_id, partition, placement.node_id)
                .filter(|state| hosts(state, placement.node_id))
            else {
                continue;
            };
            let key = PartitionKey {
                topic_id: topic.topic_id,
                partition,
            };
            let spec = LogSpec {
                directory: partition_directory(&placement.data_dir, &topic.name, partition),
                config: config.clone(),
                replicated: state.replicas.len() > 1,
            };
            wanted.insert(key, spec);
        }
    }
    wanted
}

/// Whether `node_id` hosts a replica of the partition in `state`.
fn hosts(state: &super::metadata::PartitionState, node_id: i32) -> bool {
    #[cfg(feature = "sim-bugs")]
    if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::KeepsRemovedLogs) {
        return true;
    }
    state.replicas.contains(&node_id)
}

/// Deletes this shard's stray partition directories: `<topic>-<partition>` directories of
/// existing partitions that `metadata` does not place on this broker — replicas reassigned
/// away while the broker was down (a running broker deletes them when it reconciles the
/// snapshot that removed them). Called at start-up, before the shard's logs are recovered;
/// blocking directory calls, once (Kafka deletes stray replicas at start-up too, KAFKA-14616).
///
/// Safe against a state that lags the log: a record this broker has not applied is one it
/// never acted on, so a directory the applied state does not place here holds no replica the
/// cluster counts on (a later re-assignment fetches from the leader). Directories of unknown
/// topics are left to [`remove_deleted_topic_directories`], as is anything that is not
/// `<known topic>-<index>`.
pub fn remove_stray_directories(metadata: &ClusterMetadata, placement: &LogPlacement) {
    for (name, directory) in directories(&placement.data_dir) {
        if is_stray(metadata, placement, &name) {
            tracing::info!(
                ?directory,
                "deleting a stray replica (not placed on this broker)"
            );
            if let Err(error) = std::fs::remove_dir_all(&directory) {
                tracing::warn!(%error, ?directory, "cannot remove a stray replica");
            }
        }
    }
}

/// Whether directory `name` is a partition of `metadata` that this shard owns and that has no
/// replica on this broker.
#[must_use]
pub fn is_stray(metadata: &ClusterMetadata, placement: &LogPlacement, name: &str) -> bool {
    let Some((topic, partition)) = partition_name(name) else {
        return false;
    };
    let Some(topic) = metadata.topic(topic) else {
        return false;
    };
    if shard_for(topic.topic_id, partition, placement.shard_count) != placement.shard_index {
        return false;
    }
    metadata
        .partition_or_single_node(topic.topic_id, partition, placement.node_id)
        .is_some_and(|state| !state.replicas.contains(&placement.node_id))
}

/// Suffix of a partition directory being deleted: `<topic>-<partition>.<unique>-delete`, as
/// Kafka names one; never a partition directory (those end in `-<digits>`).
const DELETING_SUFFIX: &str = "-delete";

/// Deletes the partition directories of topics `current` does not have — topics deleted while
/// this broker was down — and leftovers of deletions a crash cut short. Called at start-up on
/// the broker's first shard only, with `current` the state caught up with the quorum and
/// `before` the state the other shards open their logs from (the broker passes `current`:
/// every shard starts from the caught-up state, so this removes every shard's directories).
/// As Kafka, a directory is first renamed to `<name>.<unique>-delete`, then removed, so a
/// removal cut short is never taken for a partition and goes at the next start.
///
/// Only `<valid user topic name>-<index>` directories are touched. One of a topic `current`
/// has by that name goes only when its `partition.metadata` records another topic id: the
/// topic was deleted and created again under its name while this broker was down
/// ([`is_reused_name`]). A directory of a topic `before` still has, owned by another shard,
/// is that shard's: it opens the log and its reconcile deletes it once the caught-up state is
/// installed.
pub fn remove_deleted_topic_directories(
    current: &ClusterMetadata,
    before: &ClusterMetadata,
    placement: &LogPlacement,
) {
    for (name, directory) in directories(&placement.data_dir) {
        let name = name.as_str();
        if is_deleting(name) {
            tracing::info!(
                ?directory,
                "removing a partition directory left being deleted"
            );
            remove_directory(&directory);
        } else if is_deleted_topic(current, before, placement, name) {
            tracing::info!(?directory, "deleting a partition of a deleted topic");
            delete_directory(name, &directory);
        } else if is_reused_name(current, before, placement, name, recorded_id(&directory)) {
            tracing::info!(
                ?directory,
                "deleting a partition of a deleted topic whose name was used again"
            );
            delete_directory(name, &directory);
        }
    }
}

/// The topic id recorded in a partition directory; `None` without one, or when it cannot be
/// read (the log's open reports that, and refuses it).
fn recorded_id(directory: &Path) -> Option<Uuid> {
    partition_metadata::read_blocking(directory)
        .inspect_err(|error| tracing::warn!(%error, ?directory, "unreadable topic id"))
        .ok()
        .flatten()
}

/// Renames `directory` (named `name`) to `<name>.<unique>-delete`, then removes it.
fn delete_directory(name: &str, directory: &Path) {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let renamed = directory.with_file_name(format!("{name}.{unique:x}{DELETING_SUFFIX}"));
    match std::fs::rename(directory, &renamed) {
        Ok(()) => remove_directory(&renamed),
        Err(error) => tracing::warn!(%error, ?directory, "cannot rename for deletion"),
    }
}

/// Whether directory `name`, whose `partition.metadata` records topic `recorded`, is a
/// partition of a topic deleted while this broker was down and created again under the same
/// name: `current` has a topic of that name with another id (KIP-516; Kafka's start-up treats
/// a log whose topic id the metadata does not know as stray). A directory without a recorded
/// id is not (its log adopts the id when opened: `storage::partition_metadata`), nor is one
/// that another shard opens as the old topic's from `before` (its reconcile deletes it once
/// the caught-up state is installed).
#[must_use]
pub fn is_reused_name(
    current: &ClusterMetadata,
    before: &ClusterMetadata,
    placement: &LogPlacement,
    name: &str,
    recorded: Option<Uuid>,
) -> bool {
    let (Some((topic, partition)), Some(recorded)) = (partition_name(name), recorded) else {
        return false;
    };
    let Some(known) = current.topic(topic) else {
        return false;
    };
    if known.topic_id == recorded {
        return false;
    }
    !before.topic(topic).is_some_and(|old| {
        old.topic_id == recorded
            && shard_for(recorded, partition, placement.shard_count) != placement.shard_index
    })
}

/// The directories in `data_dir` with UTF-8 names: (name, path); none when it is unreadable.
fn directories(data_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .collect()
}

fn remove_directory(directory: &Path) {
    if let Err(error) = std::fs::remove_dir_all(directory) {
        tracing::warn!(%error, ?directory, "cannot remove a partition directory");
    }
}

/// Whether `name` is a partition directory being deleted (`<topic>-<index>.<hex>-delete`).
fn is_deleting(name: &str) -> bool {
    name.strip_suffix(DELETING_SUFFIX)
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(partition, unique)| {
            !unique.is_empty()
                && unique.chars().all(|c| c.is_ascii_hexdigit())
                && partition_name(partition).is_some()
        })
}

/// Whether directory `name` is a partition of a user topic `current` does not have, that no
/// other shard opens (see [`remove_deleted_topic_directories`]).
#[must_use]
pub fn is_deleted_topic(
    current: &ClusterMetadata,
    before: &ClusterMetadata,
    placement: &LogPlacement,
    name: &str,
) -> bool {
    let Some((topic, partition)) = partition_name(name) else {
        return false;
    };
    if topic_name::validate(topic).is_err()
        || topic_name::is_internal(topic)
        || current.topic(topic).is_some()
    {
        return false;
    }
    before.topic(topic).is_none_or(|known| {
        shard_for(known.topic_id, partition, placement.shard_count) == placement.shard_index
    })
}

/// `<topic>-<partition>` split, the index in canonical form (no sign, no leading zero).
fn partition_name(name: &str) -> Option<(&str, i32)> {
    let (topic, index) = name.rsplit_once('-')?;
    let partition = index.parse::<i32>().ok()?;
    (!index.starts_with('+') && index == partition.to_string() && partition >= 0)
        .then_some((topic, partition))
}

/// `<data dir>/<topic>-<partition>`, Kafka's layout.
#[must_use]
pub fn partition_directory(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::MetadataRecord;
    use crate::protocol::Uuid;
    use std::collections::BTreeMap;

    #[test]
    fn every_partition_lands_on_exactly_one_shard() {
        let mut metadata = ClusterMetadata::new_cluster();
        for (id, (name, count)) in [("a", 7), ("b", 1), ("c", 12)].into_iter().enumerate() {
            let record = MetadataRecord::TopicCreated {
                topic_id: Uuid([u8::try_from(id).unwrap() + 1; 16]),
                name: name.to_owned(),
                partition_count: count,
                configs: BTreeMap::new(),
            };
            metadata = metadata.apply(&record).unwrap();
        }
        let shard_count = 3;
        let mut seen = 0;
        for shard_index in 0..shard_count {
            let placement = LogPlacement {
                node_id: 1,
                shard_index,
                shard_count,
                data_dir: PathBuf::from("/data"),
                producer_id_expiration: Duration::from_secs(60),
            };
            let wanted = wanted_logs(&metadata, &placement);
            for (key, spec) in &wanted {
                assert_eq!(
                    shard_for(key.topic_id, key.partition, shard_count),
                    shard_index
                );
                assert!(spec.directory.starts_with("/data"));
                let config = spec.config.as_ref().unwrap();
                assert_eq!(config.producer_id_expiration, Duration::from_secs(60));
            }
            seen += wanted.len();
        }
        assert_eq!(seen, 7 + 1 + 12);
    }

    #[test]
    fn only_partitions_with_a_replica_here_are_wanted() {
        use crate::cluster::metadata::PartitionState;
        let topic_id = Uuid([5; 16]);
        let mut records = vec![MetadataRecord::TopicCreated {
            topic_id,
            name: "t".to_owned(),
            partition_count: 4,
            configs: BTreeMap::new(),
        }];
        // Partitions 0..3 recorded: replicas [1, 2], [2, 3], [3, 1]; partition 3 has no record
        // and reads as the single-node default (the reading broker's own).
        for (partition, replicas) in [vec![1, 2], vec![2, 3], vec![3, 1]].into_iter().enumerate() {
            records.push(MetadataRecord::Partition {
                topic_id,
                partition: i32::try_from(partition).unwrap(),
                state: PartitionState::placed(replicas),
            });
        }
        let metadata = ClusterMetadata::new_cluster().apply_all(&records).unwrap();
        let hosted = |node_id| {
            let placement = LogPlacement {
                node_id,
                shard_index: 0,
                shard_count: 1,
                data_dir: PathBuf::from("/data"),
                producer_id_expiration: Duration::from_secs(60),
            };
            let wanted = wanted_logs(&metadata, &placement);
            let mut partitions: Vec<i32> = wanted.keys().map(|key| key.partition).collect();
            partitions.sort_unstable();
            partitions
        };
        assert_eq!(hosted(1), [0, 2, 3]);
        assert_eq!(hosted(2), [0, 1, 3]);
        assert_eq!(hosted(3), [1, 2, 3]);
        assert_eq!(hosted(4), [3]);
    }

    #[test]
    fn stray_directories_are_existing_partitions_placed_elsewhere() {
        use crate::cluster::metadata::PartitionState;
        let topic_id = Uuid([5; 16]);
        let records = [
            MetadataRecord::TopicCreated {
                topic_id,
                name: "a-b".to_owned(),
                partition_count: 3,
                configs: BTreeMap::new(),
            },
            MetadataRecord::Partition {
                topic_id,
                partition: 0,
                state: PartitionState::placed(vec![2, 3]),
            },
            MetadataRecord::Partition {
                topic_id,
                partition: 1,
                state: PartitionState::placed(vec![1, 2]),
            },
        ];
        let metadata = ClusterMetadata::new_cluster().apply_all(&records).unwrap();
        let placement = LogPlacement {
            node_id: 1,
            shard_index: 0,
            shard_count: 1,
            data_dir: PathBuf::from("/data"),
            producer_id_expiration: Duration::from_secs(60),
        };
        let stray = |name| is_stray(&metadata, &placement, name);
        assert!(stray("a-b-0"), "replicas [2, 3]");
        assert!(!stray("a-b-1"), "hosted here");
        assert!(
            !stray("a-b-2"),
            "no record: the single-node default names this broker"
        );
        for other in [
            "a-b-3",
            "a-b-00",
            "a-b-+0",
            "gone-0",
            "a-b",
            "__cluster_metadata-0",
        ] {
            assert!(!stray(other), "{other}");
        }
    }

    #[test]
    fn directories_of_deleted_topics_go_and_every_other_stays() {
        let created = |name: &str, id: u8| MetadataRecord::TopicCreated {
            topic_id: Uuid([id; 16]),
            name: name.to_owned(),
            partition_count: 4,
            configs: BTreeMap::new(),
        };
        let before = ClusterMetadata::new_cluster()
            .apply_all(&[created("kept", 1), created("gone", 2)])
            .unwrap();
        let current = before
            .apply(&MetadataRecord::TopicRemoved {
                topic_id: Uuid([2; 16]),
            })
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let placement = LogPlacement {
            node_id: 1,
            shard_index: 0,
            shard_count: 2,
            data_dir: data.path().to_path_buf(),
            producer_id_expiration: Duration::from_secs(60),
        };
        let names = [
            "kept-0",
            "gone-0",
            "gone-1",
            "gone-2",
            "gone-3",
            "never-known-5",
            "never-known-5.1f-delete",
            "__consumer_offsets-0",
            "__cluster_metadata-0",
            "gone-00",
            "gone",
            "snapshots",
        ];
        for name in names {
            std::fs::create_dir(data.path().join(name)).unwrap();
            std::fs::write(data.path().join(name).join("00.log"), b"x").unwrap();
        }
        remove_deleted_topic_directories(&current, &before, &placement);
        let mut left: Vec<String> = std::fs::read_dir(data.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        // `gone`'s partitions on the other shard are that shard's (it opens them from
        // `before` and deletes them when the current state is installed).
        let other_shard: Vec<String> = (0..4)
            .filter(|p| shard_for(Uuid([2; 16]), *p, 2) != 0)
            .map(|p| format!("gone-{p}"))
            .collect();
        let mut expected: Vec<String> = [
            "__cluster_metadata-0",
            "__consumer_offsets-0",
            "gone",
            "gone-00",
            "kept-0",
            "snapshots",
        ]
        .iter()
        .map(|name| (*name).to_owned())
        .chain(other_shard)
        .collect();
        expected.sort();
        assert_eq!(left, expected);
        // A topic the current state has is never touched, whatever `before` says.
        assert!(!is_deleted_topic(&current, &current, &placement, "kept-0"));
        assert!(!is_deleting("kept-0-delete"));
        assert!(!is_deleting("kept-0.xyz-delete"));
    }

    #[test]
    fn directories_of_a_topic_created_again_under_its_name_go() {
        let created = |id: u8| MetadataRecord::TopicCreated {
            topic_id: Uuid([id; 16]),
            name: "t".to_owned(),
            partition_count: 4,
            configs: BTreeMap::new(),
        };
        // Deleted (id 1) and created again (id 2) while this broker was down.
        let old = ClusterMetadata::new_cluster()
            .apply_all(&[created(1)])
            .unwrap();
        let current = old
            .apply_all(&[
                MetadataRecord::TopicRemoved {
                    topic_id: Uuid([1; 16]),
                },
                created(2),
            ])
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let placement = LogPlacement {
            node_id: 1,
            shard_index: 0,
            shard_count: 1,
            data_dir: data.path().to_path_buf(),
            producer_id_expiration: Duration::from_secs(60),
        };
        let write_id = |name: &str, id: Option<u8>| {
            let directory = data.path().join(name);
            std::fs::create_dir(&directory).unwrap();
            std::fs::write(directory.join("00.log"), b"x").unwrap();
            if let Some(id) = id {
                let text = partition_metadata::encode(Uuid([id; 16]));
                std::fs::write(directory.join(partition_metadata::FILE_NAME), text).unwrap();
            }
        };
        write_id("t-0", Some(1)); // the old topic's: goes
        write_id("t-1", Some(2)); // the new topic's: stays
        write_id("t-2", None); // no id recorded: adopts the current one when opened
        remove_deleted_topic_directories(&current, &current, &placement);
        let mut left: Vec<String> = std::fs::read_dir(data.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["t-1", "t-2"]);
        // A shard that opens the old topic from a lagging state keeps it: its reconcile
        // deletes it once the caught-up state is installed.
        let two_shards = LogPlacement {
            shard_count: 2,
            ..placement
        };
        let recorded = Some(Uuid([1; 16]));
        for partition in 0..4 {
            let name = format!("t-{partition}");
            let elsewhere = shard_for(Uuid([1; 16]), partition, 2) != 0;
            assert_eq!(
                is_reused_name(&current, &old, &two_shards, &name, recorded),
                !elsewhere,
                "{name}"
            );
            assert!(is_reused_name(
                &current,
                &current,
                &two_shards,
                &name,
                recorded
            ));
            assert!(!is_reused_name(&old, &old, &two_shards, &name, recorded));
        }
    }
}
