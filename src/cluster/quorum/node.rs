//! `RaftQuorum`: one voter's Raft node — its config, start-up (open storage, bind the controller
//! listener, start openraft, initialize the voter set on a fresh log) and the
//! [`MetadataQuorum`] implementation.
//!
//! Start-up: every voter of a fresh cluster initializes openraft with the same voter set from
//! `--quorum-voters` (openraft allows this when the sets are identical; a node whose log is not
//! empty skips it), so no voter is special and the start order does not matter.
//!
//! Observers (KRaft's brokers that are not controllers): a node whose id is not among the
//! voters binds its controller listener on `observer_address` (the client listener's host, a
//! kernel-chosen port), starts Raft without initializing it, and asks the voters to add it as
//! an openraft learner (`Join`, answered by the leader; a restart on another port replaces the
//! address). The leader then replicates the committed log (and snapshots) to it like to a
//! voter, but it never votes and never counts towards a commit.
//!
//! Runs on the quorum's runtime; `!Send`.
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, RaftError};
use openraft::{BasicNode, EntryPayload, SnapshotPolicy};

use super::log_store::{LogStore, METADATA_PARTITION_DIRECTORY};
use super::network::{
    AddressBook, AppHandler, AppSlot, ControllerConnection, JoinAnswer, NetworkFactory, Server,
};
use super::state_machine::{MetadataApplier, StateMachine};
use super::transport::{Plaintext, Transport};
use super::types::{Proposal, kafka_id, offset_of, raft_id};
use super::{CommittedEntry, MetadataQuorum, QuorumError, QuorumStatus, VoterProgress};
use crate::config::{VoterListError, parse_quorum_voters};
use crate::limits::{
    QUORUM_CONNECT_TIMEOUT_MS, QUORUM_ELECTION_TIMEOUT_MS_MAX_DEFAULT,
    QUORUM_ELECTION_TIMEOUT_MS_MIN_DEFAULT, QUORUM_ENTRIES_PER_APPEND_MAX,
    QUORUM_HEARTBEAT_INTERVAL_MS_DEFAULT, QUORUM_JOIN_RETRY_MS, QUORUM_PROPOSAL_RECORDS_MAX,
    QUORUM_PROPOSAL_SIZE_MAX, QUORUM_PROPOSE_TIMEOUT_MS_DEFAULT, QUORUM_READ_ENTRIES_MAX,
    QUORUM_RPC_TIMEOUT_MS_MAX, QUORUM_SNAPSHOT_ENTRIES_DEFAULT, QUORUM_SNAPSHOT_ENTRIES_MAX,
    QUORUM_SNAPSHOT_ENTRIES_MIN, QUORUM_START_TIMEOUT_MS, QUORUM_VOTERS_MAX,
};
use std::rc::Rc;
use std::time::Instant;

/// One entry of `--quorum-voters`: `id@host:port`, the voter's controller listener (the
/// syntax lives in `config::voters`, below this layer, so config validation reads it too).
pub use crate::config::QuorumVoter as Voter;

/// Parses `1@h:p,2@h:p,...` (Kafka's `controller.quorum.voters` syntax).
///
/// # Errors
/// `VoterSyntax` naming the first bad entry; `Config` for too many voters or a repeated id.
pub fn parse_voters(text: &str) -> Result<Vec<Voter>, QuorumError> {
    parse_quorum_voters(text).map_err(|error| match error {
        VoterListError::Syntax { index } => QuorumError::VoterSyntax { index },
        VoterListError::Duplicate => QuorumError::Config {
            reason: "a voter id appears twice",
        },
        VoterListError::TooMany => QuorumError::Config {
            reason: "more voters than QUORUM_VOTERS_MAX",
        },
    })
}

/// What one voter needs to run.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: i32,
    pub voters: Vec<Voter>,
    /// The broker's data dir; the quorum uses `__cluster_metadata-0/` under it.
    pub data_directory: PathBuf,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// How long a proposal may wait for its commit before `Timeout`.
    pub propose_timeout: Duration,
    /// Entries applied between snapshots (the log below a snapshot is purged).
    pub snapshot_entries: u64,
    /// An observer's controller listener (`host:0` for a kernel-chosen port); voters listen
    /// on their `--quorum-voters` entry.
    pub observer_address: Option<String>,
    /// How long an observer keeps asking the voters to add it before giving up.
    pub join_timeout: Duration,
    /// How long an observer retries a refused join (its previous incarnation may still hold
    /// a live session) before the refusal is final.
    pub join_refusal_patience: Duration,
    /// This process start's identity, checked by the leader's broker before a join.
    pub incarnation: [u8; 16],
    /// How the controller channel's connections are opened and accepted (plain TCP unless
    /// the broker injects mutual TLS).
    pub transport: Transport,
}

impl QuorumConfig {
    /// A config with the defaults of `limits.rs`.
    #[must_use]
    pub fn new(node_id: i32, voters: Vec<Voter>, data_directory: PathBuf) -> Self {
        Self {
            node_id,
            voters,
            data_directory,
            heartbeat_interval: Duration::from_millis(QUORUM_HEARTBEAT_INTERVAL_MS_DEFAULT),
            election_timeout_min: Duration::from_millis(QUORUM_ELECTION_TIMEOUT_MS_MIN_DEFAULT),
            election_timeout_max: Duration::from_millis(QUORUM_ELECTION_TIMEOUT_MS_MAX_DEFAULT),
            propose_timeout: Duration::from_millis(QUORUM_PROPOSE_TIMEOUT_MS_DEFAULT),
            snapshot_entries: QUORUM_SNAPSHOT_ENTRIES_DEFAULT,
            observer_address: None,
            join_timeout: Duration::from_millis(QUORUM_START_TIMEOUT_MS),
            join_refusal_patience: Duration::from_millis(QUORUM_START_TIMEOUT_MS),
            incarnation: [0; 16],
            transport: Plaintext::transport(),
        }
    }

    /// This node's own voter entry, `None` for an observer.
    ///
    /// # Errors
    /// `Config` when the node is not among the voters and has no observer address, or a
    /// bound is broken.
    pub fn validate(&self) -> Result<Option<&Voter>, QuorumError> {
        let config = |reason| Err(QuorumError::Config { reason });
        if self.voters.is_empty() || self.voters.len() > QUORUM_VOTERS_MAX {
            return config("voter count outside 1..=QUORUM_VOTERS_MAX");
        }
        if self.heartbeat_interval.is_zero()
            || self.election_timeout_min <= self.heartbeat_interval * 2
            || self.election_timeout_max <= self.election_timeout_min
        {
            return config("need heartbeat * 2 < election timeout min < election timeout max");
        }
        if !(QUORUM_SNAPSHOT_ENTRIES_MIN..=QUORUM_SNAPSHOT_ENTRIES_MAX)
            .contains(&self.snapshot_entries)
        {
            return config("snapshot entries outside the bounds of limits.rs");
        }
        if self.propose_timeout.is_zero() {
            return config("propose timeout is zero");
        }
        match self.voters.iter().find(|v| v.node_id == self.node_id) {
            Some(own) => Ok(Some(own)),
            None if self.observer_address.is_some() => Ok(None),
            None => config("this node is not among the voters and has no observer address"),
        }
    }

    fn raft_config(&self) -> Result<openraft::Config, QuorumError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = openraft::Config {
            cluster_name: "ringbroker-metadata".to_string(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: QUORUM_RPC_TIMEOUT_MS_MAX,
            max_payload_entries: QUORUM_ENTRIES_PER_APPEND_MAX,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_entries),
            // Purge everything a snapshot covers: a follower further behind installs it.
            max_in_snapshot_log_to_keep: 0,
            ..openraft::Config::default()
        };
        config
            .validate()
            .map_err(|error| QuorumError::Raft(error.to_string()))
    }
}

type Raft<A> = openraft::Raft<super::types::TypeConfig, StateMachine<A>>;

/// Wakes when the quorum's state as this node sees it changes (see [`RaftQuorum::watch`]).
pub struct QuorumWatch {
    receiver: openraft::type_config::alias::WatchReceiverOf<
        super::types::TypeConfig,
        openraft::RaftMetrics<super::types::TypeConfig>,
    >,
}

impl QuorumWatch {
    /// Waits for the next change; `false` once the Raft node has stopped.
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }
}

/// One voter's Raft node. See the module docs.
pub struct RaftQuorum<A: MetadataApplier> {
    node_id: i32,
    voters: Vec<Voter>,
    is_voter: bool,
    incarnation: [u8; 16],
    /// The controller listener's bound address (the kernel's port for `:0`).
    local_address: String,
    /// The controller channel's transport, also for the broker's own controller clients.
    transport: Transport,
    /// Keeps the address book in step with the membership (ends with the Raft node).
    _refresher: compio::runtime::JoinHandle<()>,
    app: AppSlot,
    raft: Raft<A>,
    log: LogStore,
    state_machine: StateMachine<A>,
    server: RefCell<Option<Server>>,
    propose_timeout: Duration,
    /// The voter an observer's next join asks first when no leader is known; moves on after
    /// each attempt, so periodic re-joins do not all start at a voter that is down.
    join_turn: Cell<usize>,
}

/// A voter whose log is empty initializes openraft with the whole voter set (every voter
/// does the same, so the start order does not matter).
async fn initialize_voters<A: MetadataApplier>(
    raft: &Raft<A>,
    voters: &[Voter],
) -> Result<(), QuorumError> {
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|_| QuorumError::ShutDown)?;
    if initialized {
        return Ok(());
    }
    let members: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|v| (raft_id(v.node_id), BasicNode::new(&v.address)))
        .collect();
    assert_eq!(
        members.len(),
        voters.len(),
        "voter ids are unique (validated)"
    );
    if let Err(error) = raft.initialize(members).await {
        // NotAllowed: a peer's log reached us first; the cluster is initialized.
        tracing::info!(%error, "quorum initialization skipped");
    }
    Ok(())
}

impl<A: MetadataApplier> RaftQuorum<A> {
    /// Opens the log and snapshot, binds the controller listener and starts the Raft node.
    ///
    /// # Errors
    /// `Config`; `Bind`; `Storage`/`Corrupt` from the log; `Raft` when openraft refuses.
    pub async fn start(config: QuorumConfig, applier: A) -> Result<Self, QuorumError> {
        let own = config.validate()?.cloned();
        let raft_config = Arc::new(config.raft_config()?);
        let log = LogStore::open(&config.data_directory).await?;
        let directory = config.data_directory.join(METADATA_PARTITION_DIRECTORY);
        let state_machine = StateMachine::open(&directory, applier)
            .await
            .map_err(QuorumError::LogRead)?;
        let address = own.as_ref().map_or_else(
            || config.observer_address.clone().unwrap_or_default(),
            |own| own.address.clone(),
        );
        let listener = bind(&address)?;
        let local_address = listener
            .local_addr()
            .map_err(|source| QuorumError::Bind { address, source })?
            .to_string();
        let addresses: AddressBook = Rc::new(RefCell::new(BTreeMap::new()));
        let network = NetworkFactory {
            rpc_timeout: Duration::from_millis(QUORUM_RPC_TIMEOUT_MS_MAX),
            addresses: Rc::clone(&addresses),
            transport: Arc::clone(&config.transport),
        };
        let raft = openraft::Raft::new(
            raft_id(config.node_id),
            raft_config,
            network,
            log.clone(),
            state_machine.clone(),
        )
        .await
        .map_err(|error| QuorumError::Raft(error.to_string()))?;
        if own.is_some() {
            initialize_voters(&raft, &config.voters).await?;
        }
        let refresher = compio::runtime::spawn(refresh_addresses(raft.clone(), addresses));
        let app: AppSlot = Rc::new(RefCell::new(None));
        tracing::info!(
            address = local_address,
            transport = config.transport.name(),
            "controller listener"
        );
        let server = Server::start(
            listener,
            raft.clone(),
            Rc::clone(&app),
            Arc::clone(&config.transport),
        );
        let quorum = Self {
            node_id: config.node_id,
            voters: config.voters.clone(),
            is_voter: own.is_some(),
            incarnation: config.incarnation,
            local_address,
            transport: Arc::clone(&config.transport),
            _refresher: refresher,
            app,
            raft,
            log,
            state_machine,
            server: RefCell::new(Some(server)),
            propose_timeout: config.propose_timeout,
            join_turn: Cell::new(0),
        };
        if !quorum.is_voter {
            let patience = Instant::now() + config.join_refusal_patience;
            quorum.join(config.join_timeout, Some(patience)).await?;
        }
        Ok(quorum)
    }

    /// An observer asks the voters, the leader first when known (its own Raft view, then
    /// each refusal's hint), to add it as a learner at its controller listener, until one
    /// answers `Joined` or `timeout` passes. Without a leader it goes round the voters from
    /// where the previous join left off.
    async fn join(&self, timeout: Duration, patience: Option<Instant>) -> Result<(), QuorumError> {
        let deadline = Instant::now() + timeout;
        let mut hint = self
            .raft
            .metrics()
            .borrow_watched()
            .current_leader
            .map(kafka_id)
            .filter(|&leader| leader != self.node_id);
        // Bounded by the deadline.
        while Instant::now() < deadline {
            let target = hint.and_then(|leader| self.voter_address(leader));
            let target = target.unwrap_or_else(|| {
                let turn = self.join_turn.get();
                self.join_turn.set(turn.wrapping_add(1));
                self.voters[turn % self.voters.len()].address.clone()
            });
            // Each attempt within what is left: a re-join runs inside the heartbeat loop,
            // and a frozen voter must not hold it past `timeout`.
            let rpc_timeout = Duration::from_millis(QUORUM_CONNECT_TIMEOUT_MS * 2)
                .min(deadline.saturating_duration_since(Instant::now()));
            let transport = Arc::clone(&self.transport);
            let mut connection = ControllerConnection::new(&target, rpc_timeout, transport);
            let answer = connection
                .join(self.node_id, &self.local_address, self.incarnation)
                .await;
            match answer {
                Ok(JoinAnswer::Joined) => {
                    tracing::info!(voter = target, "joined the metadata quorum as an observer");
                    return Ok(());
                }
                Ok(JoinAnswer::NotLeader { leader }) => hint = leader,
                Ok(JoinAnswer::Refused { reason }) => {
                    if patience.is_none_or(|until| Instant::now() >= until) {
                        return Err(QuorumError::JoinRefused { reason });
                    }
                    tracing::info!(reason, "join refused; retrying");
                }
                Err(error) => {
                    tracing::debug!(voter = target, %error, "join attempt failed");
                    hint = None;
                }
            }
            compio::time::sleep(Duration::from_millis(QUORUM_JOIN_RETRY_MS)).await;
        }
        Err(QuorumError::Timeout {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// An observer asks again to be a learner at its address (a no-op when it is one): heals
    /// a membership whose entry for this id another process replaced (a second broker
    /// started with this node id, refused at registration, joined before that).
    ///
    /// # Errors
    /// `Timeout` when no leader answered within `timeout`.
    pub async fn rejoin(&self, timeout: Duration) -> Result<(), QuorumError> {
        if self.is_voter {
            return Ok(());
        }
        self.join(timeout, None).await
    }

    /// Installs the handler of App requests on the controller listener.
    pub fn set_app_handler(&self, handler: Rc<dyn AppHandler>) {
        *self.app.borrow_mut() = Some(handler);
    }

    /// The controller channel's transport (what the broker's controller clients dial with).
    #[must_use]
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The controller listener's address as bound (`host:port`, the kernel's port).
    #[must_use]
    pub fn local_address(&self) -> &str {
        &self.local_address
    }

    /// This node's id.
    #[must_use]
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// Whether this node votes (else it observes).
    #[must_use]
    pub fn is_voter(&self) -> bool {
        self.is_voter
    }

    /// A voter's controller listener from `--quorum-voters` (this node's as bound).
    #[must_use]
    pub fn voter_address(&self, node_id: i32) -> Option<String> {
        if node_id == self.node_id && self.is_voter {
            return Some(self.local_address.clone());
        }
        self.voters
            .iter()
            .find(|voter| voter.node_id == node_id)
            .map(|voter| voter.address.clone())
    }

    /// A member's controller listener as the quorum's membership records it (voters and
    /// observers alike; this node's as bound).
    #[must_use]
    pub fn member_address(&self, node_id: i32) -> Option<String> {
        if node_id == self.node_id {
            return Some(self.local_address.clone());
        }
        let id = u64::try_from(node_id).ok()?;
        let metrics = self.raft.metrics();
        let watched = metrics.borrow_watched();
        let membership = watched.membership_config.membership();
        membership.get_node(&id).map(|node| node.addr.clone())
    }

    /// A watch that wakes on every change of leader, commit or apply.
    #[must_use]
    pub fn watch(&self) -> QuorumWatch {
        QuorumWatch {
            receiver: self.raft.metrics(),
        }
    }

    /// Calls `f` with the applier (the applied state).
    pub fn with_applier<T>(&self, f: impl FnOnce(&A) -> T) -> T {
        self.state_machine.with_applier(f)
    }

    /// Waits until a leader is known and everything in this node's log is applied here: after
    /// a restart, the snapshot plus the whole committed tail. For one voter that is its whole
    /// log (its first term as leader commits everything before its blank entry).
    ///
    /// # Errors
    /// `Timeout` after `timeout`; `ShutDown`.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), QuorumError> {
        let caught_up = |metrics: &openraft::RaftMetrics<super::types::TypeConfig>| {
            let applied = metrics.last_applied.as_ref().map(|id| id.index);
            metrics.current_leader.is_some() && applied >= metrics.last_log_index
        };
        match self
            .raft
            .wait(Some(timeout))
            .metrics(caught_up, "leader known and log applied")
            .await
        {
            Ok(_) => Ok(()),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(QuorumError::Timeout {
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(_) => Err(QuorumError::ShutDown),
        }
    }

    fn not_leader(&self, leader: Option<u64>) -> QuorumError {
        let leader = leader.map(kafka_id).filter(|id| *id != self.node_id);
        QuorumError::NotLeader { leader }
    }
}

/// Copies every member's address from the membership this node knows into `book` whenever
/// it changes; ends when the Raft node stops.
async fn refresh_addresses<A: MetadataApplier>(raft: Raft<A>, book: AddressBook) {
    let mut metrics = raft.metrics();
    // Bounded by the Raft node's life: `changed` fails once it stops.
    loop {
        {
            let watched = metrics.borrow_watched();
            let mut book = book.borrow_mut();
            for (id, node) in watched.membership_config.membership().nodes() {
                if book.get(id) != Some(&node.addr) {
                    book.insert(*id, node.addr.clone());
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// The state this node's own log stands for, read without starting Raft: the newest snapshot
/// restored into `applier`, then every proposal of the log after it applied in order. For a
/// one-voter quorum that is the state it reaches once started; with more voters, an
/// uncommitted tail may still be replaced. Used before the shards start, to open the
/// partitions the metadata names.
///
/// # Errors
/// `Storage`/`Corrupt`/`LogRead` from the log or snapshot.
pub async fn replay_local<A: MetadataApplier>(
    data_directory: &Path,
    applier: A,
) -> Result<A, QuorumError> {
    let log = LogStore::open(data_directory).await?;
    let directory = data_directory.join(METADATA_PARTITION_DIRECTORY);
    let machine = StateMachine::open(&directory, applier)
        .await
        .map_err(QuorumError::LogRead)?;
    let mut next = machine
        .applied_offset()
        .map_or(0, |offset| offset + 1)
        .max(log.log_start_offset().await);
    let batch = i64::try_from(QUORUM_READ_ENTRIES_MAX).unwrap_or(1);
    // Bounded by the log: each round reads at least one entry or stops.
    loop {
        let entries = log
            .entries(next, next.saturating_add(batch))
            .await
            .map_err(QuorumError::LogRead)?;
        let Some(last) = entries.last() else { break };
        next = offset_of(&last.log_id) + 1;
        for entry in entries {
            if let EntryPayload::Normal(proposal) = entry.payload {
                machine.apply_local(offset_of(&entry.log_id), &proposal.records);
            }
        }
    }
    drop(log);
    machine.into_applier().ok_or(QuorumError::ShutDown)
}

/// The controller listener: SO_REUSEADDR so a restarted voter rebinds its port at once.
fn bind(address: &str) -> Result<compio::net::TcpListener, QuorumError> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::ToSocketAddrs;
    let failed = |source| QuorumError::Bind {
        address: address.to_string(),
        source,
    };
    // Blocking resolution: once, at start-up.
    let resolved = address
        .to_socket_addrs()
        .map_err(failed)?
        .next()
        .ok_or_else(|| failed(std::io::Error::other("no address")))?;
    let socket = Socket::new(
        Domain::for_address(resolved),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(failed)?;
    socket.set_reuse_address(true).map_err(failed)?;
    socket.bind(&resolved.into()).map_err(failed)?;
    socket.listen(128).map_err(failed)?;
    compio::net::TcpListener::from_std(socket.into()).map_err(failed)
}

impl<A: MetadataApplier> MetadataQuorum for RaftQuorum<A> {
    async fn propose(&self, records: Vec<Vec<u8>>) -> Result<i64, QuorumError> {
        let size: usize = records.iter().map(Vec::len).sum();
        if size > QUORUM_PROPOSAL_SIZE_MAX || records.len() > QUORUM_PROPOSAL_RECORDS_MAX {
            return Err(QuorumError::ProposalTooLarge {
                size,
                count: records.len(),
                size_max: QUORUM_PROPOSAL_SIZE_MAX,
                count_max: QUORUM_PROPOSAL_RECORDS_MAX,
            });
        }
        let write = self.raft.client_write(Proposal { records });
        let Ok(result) = compio::time::timeout(self.propose_timeout, write).await else {
            let timeout_ms = u64::try_from(self.propose_timeout.as_millis()).unwrap_or(u64::MAX);
            return Err(QuorumError::Timeout { timeout_ms });
        };
        match result {
            Ok(response) => Ok(offset_of(&response.log_id)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(self.not_leader(forward.leader_id))
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward))) => {
                Err(QuorumError::LeaderChanged {
                    leader: forward.leader_id.map(kafka_id),
                })
            }
            Err(RaftError::APIError(other)) => Err(QuorumError::Raft(other.to_string())),
            Err(RaftError::Fatal(_)) => Err(QuorumError::ShutDown),
        }
    }

    async fn read_committed(
        &self,
        from_offset: i64,
        entries_max: usize,
    ) -> Result<Vec<CommittedEntry>, QuorumError> {
        let committed = self.raft.metrics().borrow_watched().local_committed;
        let committed_end = committed.as_ref().map_or(0, |id| offset_of(id) + 1);
        let log_start_offset = self.log.log_start_offset().await;
        if from_offset < log_start_offset {
            return Err(QuorumError::SnapshotRequired {
                offset: from_offset,
                log_start_offset,
            });
        }
        let count = i64::try_from(entries_max.min(QUORUM_READ_ENTRIES_MAX)).unwrap_or(0);
        let end = committed_end.min(from_offset.saturating_add(count));
        let entries = self
            .log
            .entries(from_offset, end)
            .await
            .map_err(QuorumError::LogRead)?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| match entry.payload {
                EntryPayload::Normal(proposal) => Some(CommittedEntry {
                    offset: offset_of(&entry.log_id),
                    records: proposal.records,
                }),
                EntryPayload::Blank | EntryPayload::Membership(_) => None,
            })
            .collect())
    }

    fn status(&self) -> QuorumStatus {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let replication = metrics.replication.unwrap_or_default();
        let voters = metrics
            .membership_config
            .membership()
            .voter_ids()
            .map(|id| VoterProgress {
                node_id: kafka_id(id),
                matched_offset: replication
                    .get(&id)
                    .copied()
                    .flatten()
                    .map(|l| offset_of(&l)),
            })
            .collect();
        // Observers are openraft learners; their progress is known on the leader only.
        let observers = metrics
            .membership_config
            .membership()
            .learner_ids()
            .map(|id| VoterProgress {
                node_id: kafka_id(id),
                matched_offset: replication
                    .get(&id)
                    .copied()
                    .flatten()
                    .map(|l| offset_of(&l)),
            })
            .collect();
        QuorumStatus {
            node_id: self.node_id,
            leader: metrics.current_leader.map(kafka_id),
            term: i64::try_from(metrics.current_term).unwrap_or(i64::MAX),
            committed_offset: metrics.local_committed.as_ref().map(offset_of),
            applied_offset: metrics.last_applied.as_ref().map(offset_of),
            voters,
            observers,
        }
    }

    async fn shutdown(&self) -> Result<(), QuorumError> {
        if let Some(server) = self.server.borrow_mut().take() {
            server.stop();
        }
        self.raft
            .shutdown()
            .await
            .map_err(|error| QuorumError::Raft(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_in_kafka_syntax() {
        let voters = parse_voters("1@127.0.0.1:9192, 2@host-b:9193,3@[::1]:9194").unwrap();
        assert_eq!(voters.len(), 3);
        assert_eq!(
            voters[1],
            Voter {
                node_id: 2,
                address: "host-b:9193".to_string(),
            }
        );
        assert_eq!(voters[2].address, "[::1]:9194");
        for (text, index) in [("1@h", 0), ("1@h:1,x@h:2", 1), ("-1@h:1", 0), ("1@:9", 0)] {
            match parse_voters(text) {
                Err(QuorumError::VoterSyntax { index: at }) => assert_eq!(at, index, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_voters("1@h:1,1@h:2"),
            Err(QuorumError::Config { .. })
        ));
    }

    #[test]
    fn config_bounds_are_checked() {
        let voters = parse_voters("1@127.0.0.1:1,2@127.0.0.1:2").unwrap();
        let config = QuorumConfig::new(1, voters, PathBuf::from("/nonexistent"));
        assert_eq!(config.validate().unwrap().unwrap().node_id, 1);
        assert!(config.raft_config().is_ok());
        let mut not_a_voter = config.clone();
        not_a_voter.node_id = 7;
        assert!(
            not_a_voter.validate().is_err(),
            "an observer needs its address"
        );
        not_a_voter.observer_address = Some("127.0.0.1:0".into());
        assert!(not_a_voter.validate().unwrap().is_none(), "an observer");
        let mut hasty = config.clone();
        hasty.election_timeout_min = hasty.heartbeat_interval;
        assert!(hasty.validate().is_err());
        let mut rare = config;
        rare.snapshot_entries = QUORUM_SNAPSHOT_ENTRIES_MAX + 1;
        assert!(rare.validate().is_err());
    }
}
