//! The composition layer: which per-shard services a broker shard has, how they are built at
//! start-up, how they react to a new metadata snapshot, and how they stop. It owns no logic of
//! its own; each service belongs to its subsystem and holds the handles it needs.
//!
//! ```text
//! Services      metadata view (cluster; on shard 0 with the metadata log's Raft node),
//!               partition logs (storage), group coordinator (group), producer id allocator
//!               (cluster, shard 0), replica manager (replication: leaders, followers,
//!               follower fetchers)
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
//! Start-up: `main` reads the state the node's metadata log stands for ([`Broker::prepare`]).
//! Then on each shard (before any shard listens): shard 0 starts the metadata log's Raft node
//! and waits until it applied its log (committing the first entry of a new or upgraded data
//! dir) → the log pump and recovery of the partitions the shard owns → the metadata view →
//! the group coordinator and the replay of its `__consumer_offsets` partitions → the producer
//! id allocator (shard 0). Stop: the Raft node stops (shard 0), the logs close (flush,
//! clean-shutdown marker).
//!
//! Runs on every shard thread (services, hooks); [`Broker::prepare`] runs on `main`.
use crate::cluster::AlterPartitionRequest;
use crate::cluster::ControllerLink;
use crate::cluster::active::{ActiveController, ControllerEndpoint};
use crate::cluster::clean_shutdown;
use crate::cluster::membership::{Membership, MembershipError, NodeFile, check_cluster_id};
use crate::cluster::metadata::{CONTROLLER_LISTENER, Listener, client_listeners, random_uuid};
use crate::cluster::metadata::{MetadataImage, encode_snapshot};
use crate::cluster::partition_logs::{
    LogPlacement, remove_deleted_topic_directories, remove_stray_directories, wanted_logs,
};
use crate::cluster::policy::lifecycle::RegistrationRequest;
use crate::cluster::producer_ids::ProducerIdAllocator;
use crate::cluster::quorum::{
    MetadataQuorum, Plaintext, QuorumConfig, QuorumError, RaftQuorum, Transport, replay_local,
};
use crate::cluster::rpc::ControllerClient;
use crate::cluster::{ClusterMetadata, MetadataHost, MetadataStore, MetadataView, controller};
use crate::config::Config;
use crate::group::{self, Coordinator};
use crate::limits::{
    BROKER_REGISTRATION_TIMEOUT_MS, CONTROLLED_SHUTDOWN_TIMEOUT_MS, QUORUM_CONNECT_TIMEOUT_MS,
    QUORUM_START_TIMEOUT_MS,
};
use crate::protocol::Uuid;
use crate::replication::{
    IsrChange, Proposer, ReplicaManager, ReplicationSettings, ReplicationThrottle,
};
use crate::security::controller::ControllerChannelTls;
use crate::security::credentials;
use crate::security::dial::InterBrokerDial;
use crate::shard::{Compose, ShardError, StartContext};
use crate::storage::LogPump;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

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
    /// The replicated partitions this shard hosts: leaders, followers and their fetchers.
    pub replicas: Rc<ReplicaManager>,
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
    #[error("metadata log: {0}")]
    Quorum(#[from] QuorumError),
    #[error("cannot build the start-up runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// `ringbroker user add`'s file (security/credentials.rs).
    #[error("SCRAM credentials: {0}")]
    Credentials(#[from] crate::security::credentials::BootstrapError),
    /// `--controller-tls-*` names a file that cannot be used.
    #[error("controller channel TLS: {0}")]
    ControllerTls(#[from] crate::security::tls::TlsError),
}

/// Why shard 0 cannot open the metadata log.
#[derive(Debug, thiserror::Error)]
enum MetadataLogError {
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    #[error(transparent)]
    File(#[from] crate::cluster::metadata::MetadataFileError),
    #[error("the metadata log has no state after its first entry was proposed")]
    NotBootstrapped,
    #[error(transparent)]
    Credentials(#[from] crate::security::credentials::BootstrapError),
    #[error(
        "this data dir's metadata log has voters {stored:?} but --quorum-voters names \
         {configured:?}: changing the voter set is not supported yet; start with the voters \
         the data dir was created with, or an empty data dir"
    )]
    VoterSetChanged {
        stored: BTreeSet<i32>,
        configured: BTreeSet<i32>,
    },
    #[error(transparent)]
    Membership(#[from] MembershipError),
}

/// The broker's composition, shared by every shard thread.
#[derive(Debug)]
pub struct Broker {
    /// The data dir's node file when it has one (cluster id, node id).
    node_file: Option<NodeFile>,
    /// The node's metadata as its own metadata log stands at start-up (or, before the log has
    /// its first entry, the pre-log file's state or a new cluster's); every shard opens its
    /// partitions from it, and shard 0 replaces it with what the running log applies.
    metadata: Arc<ClusterMetadata>,
    /// The broker epoch the previous run's clean-shutdown marker named (taken at `prepare`);
    /// `None` after a crash or on a first start.
    previous_broker_epoch: Option<i64>,
    /// The broker epoch this run registered with (-1 until known), for the marker.
    broker_epoch: AtomicI64,
    /// Whether every shard closed all its logs cleanly at the stop.
    logs_closed_cleanly: AtomicBool,
    /// The controller channel's mutual TLS (`--controller-tls-*`), its files read at
    /// `prepare` so a bad one stops the start before anything listens; `None` = plaintext.
    controller_tls: Option<ControllerChannelTls>,
    /// The replication throttle's one budget, shared by every shard's follower fetchers
    /// (the rates are per broker, as Kafka's; a partition lives on one shard).
    replication_throttle: Arc<ReplicationThrottle>,
    /// Shard 0 hands the metadata it caught up with (the running log's, after registration)
    /// to every other shard, which starts from it rather than from `metadata`: a restarted
    /// broker's persisted metadata may name it leader of partitions it no longer leads, and
    /// no shard may serve (acks=1 produce, coordinator replays) on that stale view. Kafka's
    /// broker too waits for its initial metadata catch-up before it serves requests.
    caught_up: (
        flume::Sender<Arc<ClusterMetadata>>,
        flume::Receiver<Arc<ClusterMetadata>>,
    ),
}

impl Broker {
    /// Creates the data directory and reads the metadata the node's log stands for (snapshot +
    /// tail, without starting Raft; a short-lived runtime on `main`), once, before any shard
    /// starts, so every shard begins from the same state. A log without its first entry yet
    /// takes the state of the pre-log files (upgrade) or of a new cluster; shard 0 commits it
    /// as the log's first entry.
    ///
    /// # Errors
    /// The data dir cannot be created, the log or a pre-log file is unreadable or invalid.
    pub fn prepare(config: &Config) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BrokerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let controller_tls = match &config.controller_tls {
            Some(settings) => Some(ControllerChannelTls::load(settings)?),
            None => None,
        };
        let node_file = NodeFile::check(&config.data_dir, config.node_id)?;
        let runtime = compio::runtime::Runtime::new().map_err(BrokerError::Runtime)?;
        let image = runtime.block_on(replay_local(&config.data_dir, MetadataImage::default()))?;
        drop(runtime);
        let metadata = match image.current() {
            Some(metadata) => metadata,
            // A new log's first entry also carries `ringbroker user add`'s credentials.
            None => Arc::new(credentials::with_bootstrap_credentials(
                &config.data_dir,
                MetadataStore::new(&config.data_dir)
                    .load_existing()?
                    .unwrap_or_else(ClusterMetadata::new_cluster),
            )?),
        };
        // Taken (and removed durably) before any log opens: a crash from here on is unclean.
        let previous_broker_epoch = clean_shutdown::take(&config.data_dir)?;
        Ok(Self {
            node_file,
            metadata,
            previous_broker_epoch,
            broker_epoch: AtomicI64::new(-1),
            logs_closed_cleanly: AtomicBool::new(true),
            controller_tls,
            replication_throttle: Arc::new(ReplicationThrottle::default()),
            caught_up: flume::bounded(config.shard_count()),
        })
    }

    /// The controller channel's mutual TLS, for `main` to reload on SIGHUP; `None` when the
    /// channel is plaintext.
    #[must_use]
    pub fn controller_tls(&self) -> Option<&ControllerChannelTls> {
        self.controller_tls.as_ref()
    }

    /// After every shard stopped: writes the clean-shutdown marker with this run's broker
    /// epoch when the stop was `clean` (a signal, every phase in time) and every log closed
    /// cleanly. Without it the next start counts as an unclean shutdown (KIP-966).
    pub fn record_clean_shutdown(&self, config: &Config, clean: bool) {
        let broker_epoch = self.broker_epoch.load(Ordering::Acquire);
        if !clean || !self.logs_closed_cleanly.load(Ordering::Acquire) || broker_epoch < 0 {
            tracing::info!("no clean-shutdown marker: the next start counts as unclean");
            return;
        }
        match clean_shutdown::write(&config.data_dir, broker_epoch) {
            Ok(()) => tracing::info!(broker_epoch, "clean-shutdown marker written"),
            Err(error) => tracing::warn!(%error, "clean-shutdown marker not written"),
        }
    }

    /// What the replica manager of the shard at `placement` needs; every shard gets the
    /// broker's one replication throttle.
    fn replication_settings(
        &self,
        config: &Config,
        placement: &LogPlacement,
    ) -> ReplicationSettings {
        ReplicationSettings {
            node_id: config.node_id,
            shard_index: placement.shard_index,
            shard_count: placement.shard_count,
            replica_lag_time_max: config.replica_lag_time_max,
            replication_throttle_bytes_per_sec: config.replication_throttle_bytes_per_sec,
            replication_throttle: Arc::clone(&self.replication_throttle),
        }
    }

    /// Starts the metadata log's Raft node on shard 0 (a voter, or an observer that joins),
    /// waits until it applied its log, has the leader commit the first entry when the log has
    /// none (the state `prepare` read: an upgraded data dir or a new cluster), retires the
    /// pre-log files, then registers this broker with the active controller and waits until
    /// it is unfenced. Returns the applied state, the store and the cluster services.
    async fn open_metadata_log(
        &self,
        config: &Config,
    ) -> Result<(Arc<ClusterMetadata>, MetadataStore, ControllerLink), MetadataLogError> {
        let incarnation = random_uuid();
        let transport: Transport = self
            .controller_tls
            .as_ref()
            .map_or_else(Plaintext::transport, ControllerChannelTls::transport);
        let mut quorum_config = quorum_config(config, Arc::clone(&transport));
        quorum_config.incarnation = incarnation.0;
        quorum_config.join_refusal_patience = config.broker_session_timeout * 2;
        if let Some(node_file) = &self.node_file {
            let voters: Vec<(i32, String)> = config
                .quorum_voters
                .iter()
                .map(|voter| (voter.node_id, voter.address.clone()))
                .collect();
            let timeout = Duration::from_millis(QUORUM_CONNECT_TIMEOUT_MS);
            check_cluster_id(node_file, &voters, timeout, &transport).await?;
        }
        let quorum = Rc::new(RaftQuorum::start(quorum_config, MetadataImage::default()).await?);
        check_voter_set(config, &quorum)?;
        let timeout = Duration::from_millis(QUORUM_START_TIMEOUT_MS);
        quorum.wait_caught_up(timeout).await?;
        let store = MetadataStore::with_quorum(&config.data_dir, Rc::clone(&quorum));
        let first_entry_proposed = self.bootstrap(&quorum, &store, timeout).await?;
        // Only now (the first entry is committed) may the pre-log files go.
        store.retire_pre_log_files()?;
        credentials::retire_bootstrap(&config.data_dir, first_entry_proposed)?;
        let link = self
            .join_cluster(config, &quorum, &store, incarnation)
            .await?;
        let metadata = store.applied().ok_or(MetadataLogError::NotBootstrapped)?;
        Ok((metadata, store, link))
    }

    /// The metadata shard `placement` starts from: shard 0 opens the metadata log (and gets
    /// the cluster services) and catches up; it hands what it applied to the other shards
    /// (`caught_up`, once it removed deleted topics' directories), which wait for it here.
    async fn shard_metadata(
        &self,
        config: &Config,
        placement: crate::shard::Placement,
    ) -> Result<
        (
            Arc<ClusterMetadata>,
            Option<(MetadataStore, ControllerLink)>,
        ),
        ShardError,
    > {
        if placement.index != controller::CONTROLLER_SHARD {
            return Ok((self.caught_up_metadata(placement.index).await?, None));
        }
        let (metadata, store, link) =
            self.open_metadata_log(config)
                .await
                .map_err(|source| ShardError::Service {
                    shard: placement.index,
                    service: "metadata log",
                    source: Box::new(source),
                })?;
        Ok((metadata, Some((store, link))))
    }

    /// The metadata shard 0 caught up with (see `caught_up`), for shard `shard`. Shard 0 cannot
    /// wait on this shard (its mesh does not run yet), so the wait ends when shard 0 starts or
    /// fails (then the process exits); the bound is the runner's own start-up limit.
    async fn caught_up_metadata(&self, shard: usize) -> Result<Arc<ClusterMetadata>, ShardError> {
        let wait = Duration::from_millis(crate::limits::SHARD_STARTUP_TIMEOUT_MS);
        match compio::time::timeout(wait, self.caught_up.1.recv_async()).await {
            Ok(Ok(metadata)) => Ok(metadata),
            Ok(Err(error)) => Err(ShardError::Service {
                shard,
                service: "metadata from shard 0",
                source: Box::new(error),
            }),
            Err(elapsed) => Err(ShardError::Service {
                shard,
                service: "metadata from shard 0",
                source: Box::new(elapsed),
            }),
        }
    }

    /// A log without its first entry: the leader proposes the node's state as that entry;
    /// every other node waits until it has applied the leader's. True when this node proposed
    /// it (its SCRAM bootstrap credentials are then in the log).
    async fn bootstrap(
        &self,
        quorum: &RaftQuorum<MetadataImage>,
        store: &MetadataStore,
        timeout: Duration,
    ) -> Result<bool, MetadataLogError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut watch = quorum.watch();
        let mut proposed = false;
        // Bounded by the deadline.
        while store.applied().is_none() {
            if quorum.status().leader == Some(quorum.node_id()) {
                tracing::info!(
                    version = self.metadata.version,
                    topics = self.metadata.topics.len(),
                    "metadata log is empty: committing the node's state as its first entry"
                );
                quorum
                    .propose(vec![encode_snapshot(&self.metadata)?])
                    .await?;
                proposed = true;
                continue;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || compio::time::timeout(left, watch.changed()).await.is_err() {
                return Err(MetadataLogError::NotBootstrapped);
            }
        }
        Ok(proposed)
    }

    /// Starts the controller service (answers only while this node leads the quorum) and
    /// registers this broker, until the controller unfences it; writes the node file.
    async fn join_cluster(
        &self,
        config: &Config,
        quorum: &Rc<RaftQuorum<MetadataImage>>,
        store: &MetadataStore,
        incarnation: Uuid,
    ) -> Result<ControllerLink, MetadataLogError> {
        let active = Rc::new(
            ActiveController::new(config.node_id, store.clone(), config.broker_session_timeout)
                .with_heartbeat_interval(config.broker_heartbeat_interval)
                .with_leader_balance(config.leader_balance),
        );
        quorum.set_app_handler(Rc::new(ControllerEndpoint(Rc::clone(&active))));
        let client = Rc::new(ControllerClient::new(
            config.node_id,
            Rc::clone(quorum),
            Rc::clone(&active),
        ));
        let applied = store.applied().ok_or(MetadataLogError::NotBootstrapped)?;
        let cluster_id = self.node_file.as_ref().map_or_else(
            || applied.cluster_id.clone(),
            |file| file.cluster_id.clone(),
        );
        let request = RegistrationRequest {
            cluster_id,
            node_id: config.node_id,
            incarnation,
            listeners: listeners(config, quorum.local_address()),
            shard_count: i32::try_from(config.shard_count()).unwrap_or(i32::MAX),
            rack: config.rack.clone(),
            previous_broker_epoch: self.previous_broker_epoch,
        };
        let membership = Rc::new(Membership::new(
            client.clone(),
            store.clone(),
            request,
            config.broker_heartbeat_interval,
            config.broker_session_timeout,
        ));
        let timeout = Duration::from_millis(BROKER_REGISTRATION_TIMEOUT_MS);
        membership.join(timeout).await?;
        if self.node_file.is_none() {
            let file = NodeFile {
                cluster_id: applied.cluster_id.clone(),
                node_id: config.node_id,
            };
            file.write(&config.data_dir)?;
        }
        Ok(ControllerLink {
            active,
            client,
            membership,
            stopping: Rc::new(std::cell::Cell::new(false)),
        })
    }
}

/// Refuses to run when the metadata log's voters are not `--quorum-voters`' (a changed list,
/// or a data dir of the default single voter given a list): changing the voter set needs a
/// membership change through the quorum, which is not built yet — running would silently use
/// the stored set.
fn check_voter_set(
    config: &Config,
    quorum: &RaftQuorum<MetadataImage>,
) -> Result<(), MetadataLogError> {
    let stored: BTreeSet<i32> = quorum.status().voters.iter().map(|v| v.node_id).collect();
    let configured: BTreeSet<i32> = config.quorum_voters.iter().map(|v| v.node_id).collect();
    if stored.is_empty() || stored == configured {
        return Ok(());
    }
    Err(MetadataLogError::VoterSetChanged { stored, configured })
}

/// Followers dial leaders through `[inter_broker]`'s TLS and SASL when it is configured
/// (else plain TCP, the replication layer's default).
fn install_dialer(
    replicas: &ReplicaManager,
    config: &Config,
    shard: usize,
) -> Result<(), ShardError> {
    if let Some(inter_broker) = &config.inter_broker {
        let dial = InterBrokerDial::load(inter_broker).map_err(|source| ShardError::Service {
            shard,
            service: "inter-broker TLS",
            source: Box::new(source),
        })?;
        replicas.set_dialer(Rc::new(dial).dialer());
    }
    Ok(())
}

/// What this broker registers: its client listeners (as advertised; the first as `CLIENT`) and
/// its controller listener (as bound).
fn listeners(config: &Config, controller_address: &str) -> Vec<Listener> {
    let (host, port) = controller_address
        .rsplit_once(':')
        .map_or((controller_address, "0"), |(host, port)| (host, port));
    let mut listeners = client_listeners(&config.listeners);
    listeners.push(Listener {
        name: CONTROLLER_LISTENER.to_owned(),
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: port.parse().unwrap_or(0),
    });
    listeners
}

/// The metadata quorum's config from the broker's (its connections opened through
/// `transport`); a one-voter quorum gets short Raft timers.
fn quorum_config(config: &Config, transport: Transport) -> QuorumConfig {
    let mut quorum = QuorumConfig::new(
        config.node_id,
        config.quorum_voters.clone(),
        config.data_dir.clone(),
    );
    quorum.transport = transport;
    quorum.snapshot_entries = config.quorum_snapshot_entries;
    // An observer's controller listener: the advertised host, a kernel-chosen port.
    quorum.observer_address = Some(format!("{}:0", config.advertise.host));
    if quorum.voters.len() == 1 {
        use crate::limits::{
            QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MAX as MAX,
            QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MIN as MIN,
            QUORUM_SINGLE_VOTER_HEARTBEAT_INTERVAL_MS as HEARTBEAT,
        };
        quorum.heartbeat_interval = Duration::from_millis(HEARTBEAT);
        quorum.election_timeout_min = Duration::from_millis(MIN);
        quorum.election_timeout_max = Duration::from_millis(MAX);
    }
    quorum
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
        let (metadata, cluster) = self.shard_metadata(&config, placement).await?;
        let logs = LogPump::spawn(placement.index);
        let log_placement = LogPlacement {
            node_id: config.node_id,
            shard_index: placement.index,
            shard_count: placement.count,
            data_dir: config.data_dir.clone(),
            producer_id_expiration: config.producer_id_expiration,
        };
        // Replicas moved away and topics deleted while this broker was down go first (issue
        // 18); every shard's state is the quorum's (`caught_up`).
        remove_stray_directories(&metadata, &log_placement);
        if placement.index == controller::CONTROLLER_SHARD {
            // Every shard's: the others start from this same state, never from the local log
            // that still named the deleted topics, so none of them would delete these. They
            // wait for the hand-over below, so no shard opens a directory removed here.
            remove_deleted_topic_directories(&metadata, &metadata, &log_placement);
            for _ in 1..placement.count {
                // Bounded by the shard count; every receiver is a shard of this process.
                let _sent = self.caught_up.0.try_send(Arc::clone(&metadata));
            }
        }
        // The shard's partitions start dormant: each is recovered on first use or in the
        // background once the shard listens (storage/pump/lazy.rs), not here.
        logs.reconcile(wanted_logs(&metadata, &log_placement)).await;
        let settings = self.replication_settings(&config, &log_placement);
        let replicas = ReplicaManager::new(settings, logs.clone(), Arc::clone(&metadata));
        install_dialer(&replicas, &config, placement.index)?;
        replicas.reconcile(Arc::clone(&metadata)).await;
        // Groups are replayed from the offsets log before the shard listens.
        let groups = Coordinator::new(logs.clone(), Rc::clone(&replicas), config.groups, draining);
        let shard = (placement.index, placement.count);
        group::load_owned(&groups, &metadata, None, shard, config.node_id).await;
        // Idempotent producers: the node's one producer id allocator lives on shard 0.
        let producer_ids = if placement.index == 0 {
            let allocator =
                ProducerIdAllocator::open(&config.data_dir, config.node_id, &metadata).await;
            Some(allocator.map_err(|source| ShardError::Service {
                shard: placement.index,
                service: "producer id allocator",
                source: Box::new(source),
            })?)
        } else {
            None
        };
        Ok(Services {
            metadata: match cluster {
                Some((store, link)) => MetadataView::with_link(Arc::clone(&metadata), store, link),
                None => MetadataView::new(Arc::clone(&metadata), None),
            },
            logs,
            groups,
            replicas,
            producer_ids: RefCell::new(producer_ids),
            log_placement,
            reconciled: RefCell::new(metadata),
        })
    }

    fn started(&self, shard: &Rc<Shard>) {
        // Groups replayed by the start-up hook need their timer now, not at the first request.
        shard.state.groups.start_timer_if_loaded();
        shard.state.replicas.start(isr_proposer(shard));
        if let Some(link) = shard.state.metadata.link().cloned() {
            start_cluster_tasks(shard, &link);
        }
        let current = shard.state.metadata.current();
        if shard.index() == controller::CONTROLLER_SHARD && *current != *self.metadata {
            // The running log applied more than this node's log held at `prepare` (a voter of
            // several that was behind): the other shards started from the caught-up state
            // (`caught_up`); what the log applied since reaches them through a publication.
            let shard = Rc::clone(shard);
            compio::runtime::spawn(async move { controller::publish(&shard, current).await })
                .detach();
        }
    }

    async fn stop(&self, shard: &Rc<Shard>) {
        if let Some(link) = shard.state.metadata.link() {
            // Controlled shutdown: the controller moves leadership away before we go.
            // The heartbeat task stops first: its next beat must not unfence us again.
            link.stopping.set(true);
            let timeout = Duration::from_millis(CONTROLLED_SHUTDOWN_TIMEOUT_MS);
            link.membership.shut_down(timeout).await;
            if let Some(broker_epoch) = link.membership.broker_epoch() {
                self.broker_epoch.store(broker_epoch, Ordering::Release);
            }
        }
        let quorum = shard
            .state
            .metadata
            .store()
            .and_then(|s| s.quorum().cloned());
        if let Some(quorum) = quorum
            && let Err(error) = quorum.shutdown().await
        {
            tracing::warn!(%error, "metadata log did not stop cleanly");
        }
        shard.state.replicas.stop();
        if !shard.state.logs.shutdown().await {
            self.logs_closed_cleanly.store(false, Ordering::Release);
        }
        tracing::debug!(shard = shard.index(), "shutdown hook ran: logs closed");
    }
}

/// Shard 0's cluster tasks: the metadata follower (publishes applied states and the quorum
/// leader to every shard), heartbeats, and the session timer of the active controller.
fn start_cluster_tasks(shard: &Rc<Shard>, link: &ControllerLink) {
    compio::runtime::spawn(controller::follow_log(Rc::clone(shard))).detach();
    let stopping = Rc::clone(&link.stopping);
    compio::runtime::spawn(Rc::clone(&link.membership).run(Rc::clone(&stopping))).detach();
    let active = Rc::clone(&link.active);
    let tick = shard.config().broker_heartbeat_interval / 2;
    compio::runtime::spawn(async move {
        // Bounded by the broker's life: ends at shutdown.
        while !stopping.get() {
            compio::time::sleep(tick).await;
            active.fence_unreachable().await;
            active.expire_sessions().await;
            active.balance_leaders().await;
            active.complete_reassignments().await;
        }
    })
    .detach();
}

/// How the shard's leaders send ISR changes to the controller (AlterPartition, KIP-497):
/// forwarded to the active controller like every metadata change; the answer is the
/// refusal's code, if any (the leader learns the committed ISR from the metadata log).
fn isr_proposer(shard: &Rc<Shard>) -> Proposer {
    let shard = Rc::downgrade(shard);
    Rc::new(move |change: IsrChange| {
        let shard = shard.clone();
        Box::pin(async move {
            let shard = shard.upgrade()?;
            let node_id = shard.config().node_id;
            let broker_epoch = controller::metadata(&shard)
                .broker(node_id)
                .map_or(-1, |broker| broker.broker_epoch);
            let request = AlterPartitionRequest {
                topic_id: change.key.topic_id,
                partition: change.key.partition,
                leader_id: change.leader_id,
                leader_broker_epoch: broker_epoch,
                leader_epoch: change.proposal.leader_epoch,
                partition_epoch: change.proposal.partition_epoch,
                new_isr: change.proposal.new_isr,
            };
            controller::alter_partition(&shard, request)
                .await
                .err()
                .map(|error| error.error_code())
        })
    })
}

impl MetadataHost for Services {
    fn metadata_view(&self) -> &MetadataView {
        &self.metadata
    }

    fn metadata_installed(&self, current: Arc<ClusterMetadata>) -> impl Future<Output = ()> {
        // Taken before the first await, so concurrent installs act on each removal once.
        let previous = Arc::clone(&self.reconciled.borrow());
        let removed = self.take_removed_topics(&current);
        let wanted = wanted_logs(&current, &self.log_placement);
        async move {
            self.logs.reconcile(wanted).await;
            self.replicas.reconcile(Arc::clone(&current)).await;
            let node_id = self.log_placement.node_id;
            self.groups.follow_leadership(&previous, &current, node_id);
            // Offsets partitions led here from now on are replayed in the background, so the
            // publication that moved them is not held up by the replay.
            let groups = Rc::clone(&self.groups);
            let shard = (
                self.log_placement.shard_index,
                self.log_placement.shard_count,
            );
            compio::runtime::spawn(async move {
                let previous = Some(previous.as_ref());
                group::load_owned(&groups, &current, previous, shard, node_id).await;
                groups.start_timer_if_loaded();
            })
            .detach();
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
