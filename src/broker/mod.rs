//! The composition layer: which per-shard services a broker shard has, how they are built at
//! start-up, how they react to a new metadata snapshot, and how they stop. It owns no logic of
//! its own; each service belongs to its subsystem and holds the handles it needs.
//!
//! ```text
//! Services      metadata view (cluster), partition logs (storage), group coordinator (group),
//!               producer id allocator (cluster, shard 0); next: replica manager, quorum node
//! Broker        implements shard::Compose: start (recovery, replay) → started (timers) → stop
//! Shard         = shard::Shard<Services>: the context handlers and net/ are given
//! ```
//!
//! Like Seastar's `main` composing `sharded<T>` services, only one level up: the runtime below
//! (`shard/`) is generic over [`Services`] and names none of them; the subsystems below
//! (`cluster/`, `group/`, `storage/`) never see the shard context, except the controller, which
//! states what it needs from a shard as `cluster::MetadataHost`, implemented here. Above this
//! layer: `handlers/` (which reach the services through `ctx.shard.state`), `net/` and the
//! metrics listener, started as `shard::Server`s by `main.rs`.
//!
//! Start-up order on each shard (before any shard listens): the log pump and recovery of the
//! partitions the shard owns → the metadata view → the group coordinator and the replay of
//! its `__consumer_offsets` partitions → the producer id allocator (shard 0). Stop: the logs
//! close (flush, clean-shutdown marker).
//!
//! Runs on every shard thread (services, hooks); [`Broker::prepare`] runs on `main`.
use crate::cluster::partition_logs::{LogPlacement, wanted_logs};
use crate::cluster::producer_ids::ProducerIdAllocator;
use crate::cluster::{ClusterMetadata, MetadataHost, MetadataStore, MetadataView, controller};
use crate::config::Config;
use crate::group::{self, Coordinator};
use crate::shard::{Compose, ShardError, StartContext};
use crate::storage::LogPump;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// A broker shard's context: what handlers, net/ and the metrics listener are given.
pub type Shard = crate::shard::Shard<Services>;

/// The services of one shard. `!Send`; lives in the shard's `Rc<Shard>` (`shard.state`).
pub struct Services {
    /// This shard's metadata snapshot (and, on the controller shard, the metadata file).
    pub metadata: MetadataView,
    /// The task that owns this shard's partition logs.
    pub logs: LogPump,
    /// The group coordinator for the `__consumer_offsets` partitions this shard owns.
    pub groups: Rc<Coordinator>,
    /// Producer id allocator (InitProducerId); only shard 0 has one.
    pub producer_ids: RefCell<Option<ProducerIdAllocator>>,
    /// What this shard's logs depend on besides the snapshot.
    log_placement: LogPlacement,
    /// The snapshot whose removals the services have acted on (offsets of deleted topics).
    reconciled: RefCell<Arc<ClusterMetadata>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Services")
            .field("shard", &self.log_placement.shard_index)
            .field("metadata_version", &self.metadata.current().version)
            .finish_non_exhaustive()
    }
}

/// Why the broker cannot start (before any shard thread exists).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot create data dir {path}: {source}", path = .path.display())]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cluster metadata: {0}")]
    Metadata(#[from] crate::cluster::metadata::MetadataFileError),
}

/// The broker's composition, shared by every shard thread.
#[derive(Debug)]
pub struct Broker {
    /// The node's metadata as loaded at start-up; each shard keeps its own copy from here on.
    metadata: Arc<ClusterMetadata>,
}

impl Broker {
    /// Creates the data directory and loads (or creates) the node metadata file, once, before
    /// any shard starts, so every shard begins from the same snapshot.
    ///
    /// # Errors
    /// The data dir cannot be created, or the metadata file is unreadable or invalid.
    pub fn prepare(config: &Config) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BrokerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let metadata = controller::load(&MetadataStore::new(&config.data_dir))?;
        Ok(Self { metadata })
    }
}

impl Compose for Broker {
    type Services = Services;

    async fn start(&self, context: StartContext) -> Result<Services, ShardError> {
        let StartContext {
            placement,
            config,
            draining,
        } = context;
        assert_eq!(placement.count, config.shard_count());
        let metadata = Arc::clone(&self.metadata);
        let logs = LogPump::spawn(placement.index);
        let log_placement = LogPlacement {
            shard_index: placement.index,
            shard_count: placement.count,
            data_dir: config.data_dir.clone(),
            producer_id_expiration: config.producer_id_expiration,
        };
        // Recovery of every partition this shard owns happens here, before it listens.
        logs.reconcile(wanted_logs(&metadata, &log_placement)).await;
        let store = (placement.index == controller::CONTROLLER_SHARD)
            .then(|| MetadataStore::new(&config.data_dir));
        // Groups are replayed from the offsets log before the shard listens.
        let groups = Coordinator::new(logs.clone(), config.groups, draining);
        group::load_owned(&groups, &metadata, placement).await;
        // Idempotent producers: the node's one producer id allocator lives on shard 0.
        let producer_ids = if placement.index == 0 {
            let allocator = ProducerIdAllocator::open(&config.data_dir).await;
            Some(allocator.map_err(|source| ShardError::Service {
                shard: placement.index,
                service: "producer id allocator",
                source: Box::new(source),
            })?)
        } else {
            None
        };
        Ok(Services {
            metadata: MetadataView::new(Arc::clone(&metadata), store),
            logs,
            groups,
            producer_ids: RefCell::new(producer_ids),
            log_placement,
            reconciled: RefCell::new(metadata),
        })
    }

    fn started(&self, shard: &Rc<Shard>) {
        // Groups replayed by the start-up hook need their timer now, not at the first request.
        shard.state.groups.start_timer_if_loaded();
    }

    async fn stop(&self, shard: &Rc<Shard>) {
        shard.state.logs.shutdown().await;
        tracing::debug!(shard = shard.index(), "shutdown hook ran: logs closed");
    }
}

impl MetadataHost for Services {
    fn metadata_view(&self) -> &MetadataView {
        &self.metadata
    }

    fn metadata_installed(&self, current: Arc<ClusterMetadata>) -> impl Future<Output = ()> {
        // Taken before the first await, so concurrent installs act on each removal once.
        let removed = self.take_removed_topics(&current);
        let wanted = wanted_logs(&current, &self.log_placement);
        async move {
            self.logs.reconcile(wanted).await;
            for topic in removed {
                // A failure is logged, not returned: the topic is deleted, and start-up drops
                // offsets of topics that no longer exist anyway.
                if let Err(code) = self.groups.remove_topic_offsets(&topic).await {
                    tracing::warn!(topic, ?code, "offsets of a deleted topic not removed");
                }
            }
        }
    }
}

impl Services {
    /// The topics removed since the last acted-on snapshot (see [`removed_topics`]); `current`
    /// becomes the acted-on snapshot when it is newer.
    fn take_removed_topics(&self, current: &Arc<ClusterMetadata>) -> BTreeSet<String> {
        let mut reconciled = self.reconciled.borrow_mut();
        if current.version <= reconciled.version {
            return BTreeSet::new();
        }
        let removed = removed_topics(&reconciled, current);
        *reconciled = Arc::clone(current);
        removed
    }
}

/// The names of topics in `previous` that `current` no longer has, by topic id, so a topic
/// deleted and re-created under its name counts as removed.
fn removed_topics(previous: &ClusterMetadata, current: &ClusterMetadata) -> BTreeSet<String> {
    previous
        .topics
        .values()
        .filter(|topic| current.topic_by_id(topic.topic_id).is_none())
        .map(|topic| topic.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::MetadataRecord;
    use crate::protocol::Uuid;
    use std::collections::BTreeMap;

    fn created(metadata: &ClusterMetadata, name: &str, id: u8) -> ClusterMetadata {
        let record = MetadataRecord::TopicCreated {
            topic_id: Uuid([id; 16]),
            name: name.to_owned(),
            partition_count: 1,
            configs: BTreeMap::new(),
        };
        metadata.apply(&record).unwrap()
    }

    #[test]
    fn removed_topics_are_found_by_id() {
        let start = created(
            &created(&ClusterMetadata::new_cluster(), "kept", 1),
            "gone",
            2,
        );
        let removal = MetadataRecord::TopicRemoved {
            topic_id: Uuid([2; 16]),
        };
        let deleted = start.apply(&removal).unwrap();
        let gone = BTreeSet::from(["gone".to_owned()]);
        assert_eq!(removed_topics(&start, &deleted), gone);
        assert!(removed_topics(&deleted, &start).is_empty());
        // Deleted and re-created between two snapshots a shard installs: still removed.
        let recreated = created(&deleted, "gone", 3);
        assert_eq!(removed_topics(&start, &recreated), gone);
        assert!(removed_topics(&start, &start).is_empty());
    }
}
