//! One simulated broker: the real replica state machines (`LeaderReplica`,
//! `FollowerReplica`) of each partition it holds, its copy of the metadata (the real
//! `ClusterMetadata::apply` over records fetched from the controller), its registration and
//! heartbeats, and the produce, follower-fetch and read handlers around them.
//!
//! Roles follow the applied metadata (`reconcile`), as the broker's replica manager does: the
//! named leader builds a `LeaderReplica` at the new epoch (its epoch cache starts the epoch
//! at its log end), others follow; a leader learns it was replaced through
//! `apply_committed` (fenced), and a leader named again in a newer epoch (a reassignment
//! dropped a replica) starts that epoch in place. A replica added by a reassignment starts
//! with an empty log and follows; one moved away stops and its log is deleted, when
//! `partition_logs::wanted_logs` (the broker's own choice of logs) no longer lists it. A
//! broker takes roles only once it has applied its own registration: until then its view may
//! still name an older incarnation of itself.
//!
//! Idempotence is modelled here, not taken from `storage/` (which works on encoded batches):
//! one record per produce, deduplicated against the log by (producer id, sequence), and a
//! sequence must follow the producer's last one in the log. Runs on the simulator's thread.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::metadata::{ClusterMetadata, NO_LEADER, PartitionState};
use crate::cluster::partition_logs::{self, LogPlacement};
use crate::cluster::policy::isr::AlterPartitionRequest;
use crate::cluster::policy::lifecycle::Heartbeat;
use crate::protocol::ErrorCode;
use crate::replication::invariants::{self, LeaderHistory};
use crate::replication::{
    AckRegistration, AckTicket, FetchError, FollowerAction, FollowerFetch, FollowerReplica,
    LeaderEffects, LeaderReplica, ReplicaConfig,
};
use crate::storage::PartitionKey;

use super::check::{Checker, Violation};
use super::disk::{Entry, SimLog};
use super::network::Body;
use super::rng::Rng;
use super::{NodeId, TOPIC_ID};

/// How often a broker heartbeats (Kafka: 2 s against a 9 s session; here 250 ms against 2 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);
/// How often a broker asks the controller for new metadata records.
pub const METADATA_FETCH_INTERVAL: Duration = Duration::from_millis(100);
/// A registration, follower fetch or AlterPartition without an answer is retried after this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);
/// acks=all waits at most this long (the Produce request's timeout).
pub const PRODUCE_TIMEOUT: Duration = Duration::from_millis(1500);
/// `replica.lag.time.max.ms` (Kafka: 30 s; scaled down with the session timeout).
pub const REPLICA_LAG_TIME_MAX: Duration = Duration::from_millis(1000);
/// Records one follower fetch or consumer read returns at most.
pub const FETCH_RECORDS_MAX: i64 = 8;
/// acks=all requests parked per partition at most.
pub const ACK_WAITERS_MAX: usize = 64;

/// Who waits for a produce answer.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    node: NodeId,
    request_id: u64,
}

/// A leader's state around its `LeaderReplica`.
#[derive(Debug)]
pub struct Leading {
    pub replica: LeaderReplica,
    history: LeaderHistory,
    /// Appended, not synced yet: registered as acks=all waiters after the flush.
    unsynced: Vec<(i64, Waiting)>,
    parked: BTreeMap<AckTicket, Waiting>,
    /// The newest AlterPartition copy sent: its request id and when.
    proposal_sent: Option<(u64, Duration)>,
}

/// A follower's state around its `FollowerReplica`.
#[derive(Debug)]
pub struct Following {
    pub replica: FollowerReplica,
    /// The fetch in flight: its request id and when it was sent.
    in_flight: Option<(u64, Duration)>,
}

/// What a replica does now.
#[derive(Debug)]
pub enum Role {
    Idle,
    Leader(Box<Leading>),
    Follower(Following),
}

/// One partition on one broker.
#[derive(Debug)]
pub struct Replica {
    pub log: SimLog,
    pub role: Role,
    /// The HW up to which this replica's log was checked against the committed values.
    checked_high_watermark: i64,
}

impl Replica {
    /// The replica's high watermark, when it has a role.
    #[must_use]
    pub fn high_watermark(&self) -> Option<i64> {
        match &self.role {
            Role::Idle => None,
            Role::Leader(leading) => Some(leading.replica.high_watermark()),
            Role::Follower(following) => Some(following.replica.high_watermark()),
        }
    }
}

/// Messages a broker sends while handling one event.
pub type Outbox = Vec<(NodeId, Body)>;

/// The broker-wide settings of a run.
#[derive(Debug, Clone, Copy)]
pub struct BrokerSettings {
    pub partition_count: i32,
    pub min_insync_replicas: usize,
    /// Percent of flushes that fail (the broker then crashes).
    pub flush_failure_percent: u64,
    /// Percent of ticks whose flush does not finish yet (a slow disk: acks wait longer and
    /// more is unsynced when a crash comes).
    pub slow_flush_percent: u64,
}

/// One broker.
#[derive(Debug)]
pub struct SimBroker {
    pub id: NodeId,
    pub up: bool,
    pub incarnation: u64,
    /// Added to the virtual clock: forward clock jumps.
    pub clock_offset: Duration,
    pub broker_epoch: Option<i64>,
    pub metadata: ClusterMetadata,
    pub partitions: Vec<Replica>,
    settings: BrokerSettings,
    next_request_id: u64,
    last_register: Option<Duration>,
    last_heartbeat: Option<Duration>,
    last_metadata_fetch: Option<Duration>,
}

fn due(last: Option<Duration>, interval: Duration, now: Duration) -> bool {
    last.is_none_or(|last| now.saturating_sub(last) >= interval)
}

fn index(partition: i32) -> usize {
    usize::try_from(partition).unwrap_or(usize::MAX)
}

fn violation(node: NodeId, partition: i32) -> impl Fn(invariants::InvariantViolation) -> Violation {
    move |violation| Violation::Replication {
        node,
        partition,
        violation,
    }
}

impl SimBroker {
    #[must_use]
    pub fn new(id: NodeId, settings: BrokerSettings) -> Self {
        let count = usize::try_from(settings.partition_count).unwrap_or(0);
        let partitions = (0..count)
            .map(|_| Replica {
                log: SimLog::default(),
                role: Role::Idle,
                checked_high_watermark: 0,
            })
            .collect();
        SimBroker {
            id,
            up: true,
            incarnation: 0,
            clock_offset: Duration::ZERO,
            broker_epoch: None,
            metadata: ClusterMetadata::empty(super::quorum::CLUSTER_ID.into()),
            partitions,
            settings,
            next_request_id: 0,
            last_register: None,
            last_heartbeat: None,
            last_metadata_fetch: None,
        }
    }

    /// The heal phase: flushes stop failing.
    pub fn disable_flush_failures(&mut self) {
        self.settings.flush_failure_percent = 0;
    }

    /// This broker's clock.
    #[must_use]
    pub fn local(&self, now: Duration) -> Duration {
        now + self.clock_offset
    }

    fn request_id(&mut self) -> u64 {
        self.next_request_id += 1;
        self.next_request_id
    }

    /// Whether the broker applied its own registration (and may take roles).
    #[must_use]
    pub fn registered(&self) -> bool {
        self.broker_epoch
            .and_then(|epoch| u64::try_from(epoch).ok())
            .is_some_and(|epoch| self.metadata.version > epoch)
    }

    /// A crash: memory is gone, each log loses its unsynced tail (but a written-back part).
    pub fn crash(&mut self, rng: &mut Rng) -> usize {
        self.up = false;
        self.broker_epoch = None;
        self.metadata = ClusterMetadata::empty(super::quorum::CLUSTER_ID.into());
        (
            self.last_register,
            self.last_heartbeat,
            self.last_metadata_fetch,
        ) = (None, None, None);
        let mut lost = 0;
        for replica in &mut self.partitions {
            lost += replica.log.crash(rng);
            replica.role = Role::Idle;
            replica.checked_high_watermark = 0;
        }
        lost
    }

    /// A restart after a crash: a new incarnation that registers again.
    pub fn restart(&mut self) {
        assert!(!self.up, "restart of a running broker");
        self.up = true;
        self.incarnation += 1;
    }

    /// Periodic work: registration, heartbeat, metadata fetch, flush, leader ticks,
    /// follower fetches. Returns `false` when a flush failed (the caller crashes the broker).
    ///
    /// # Errors
    /// A violation found on the way.
    pub fn tick(
        &mut self,
        now: Duration,
        controller: NodeId,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Result<bool, Violation> {
        let local = self.local(now);
        self.tick_controller_traffic(local, controller, out);
        if rng.chance(self.settings.flush_failure_percent) {
            return Ok(false);
        }
        let slow = rng.chance(self.settings.slow_flush_percent);
        for partition in 0..self.settings.partition_count {
            if !slow {
                self.flush(partition, local, out)?;
            }
            self.tick_partition(partition, local, controller, out)?;
        }
        Ok(true)
    }

    fn tick_controller_traffic(&mut self, local: Duration, controller: NodeId, out: &mut Outbox) {
        let Some(broker_epoch) = self.broker_epoch else {
            if due(self.last_register, REQUEST_TIMEOUT, local) {
                self.last_register = Some(local);
                out.push((
                    controller,
                    Body::Register {
                        incarnation: self.incarnation,
                    },
                ));
            }
            return;
        };
        if due(self.last_heartbeat, HEARTBEAT_INTERVAL, local) {
            self.last_heartbeat = Some(local);
            let heartbeat = Heartbeat {
                node_id: self.id,
                broker_epoch,
                applied_offset: self.metadata.version,
                wants_fence: false,
                wants_shutdown: false,
            };
            out.push((controller, Body::Heartbeat(heartbeat)));
        }
        if due(self.last_metadata_fetch, METADATA_FETCH_INTERVAL, local) {
            self.last_metadata_fetch = Some(local);
            out.push((
                controller,
                Body::MetadataFetch {
                    from: self.metadata.version,
                },
            ));
        }
    }

    /// Syncs the log; a leader counts the synced end as its LEO and registers the waiters
    /// of what was synced.
    fn flush(
        &mut self,
        partition: i32,
        local: Duration,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let id = self.id;
        let replica = &mut self.partitions[index(partition)];
        replica.log.sync();
        let synced = replica.log.synced_end_offset();
        let Role::Leader(leading) = &mut replica.role else {
            return Ok(());
        };
        if synced > leading.replica.log_end_offset() && !leading.replica.is_fenced() {
            let effects = leading.replica.append(synced);
            self.leader_effects(partition, effects, local, out)?;
        }
        let replica = &mut self.partitions[index(partition)];
        let Role::Leader(leading) = &mut replica.role else {
            return Ok(());
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = leading
            .unsynced
            .drain(..)
            .partition(|(offset, _)| *offset < synced);
        leading.unsynced = waiting;
        for (offset, waiting) in ready {
            let result = match leading
                .replica
                .register_ack(offset, local + PRODUCE_TIMEOUT)
            {
                Ok(AckRegistration::Done) => Some(Ok(offset)),
                Ok(AckRegistration::Parked(ticket)) => {
                    leading.parked.insert(ticket, waiting);
                    None
                }
                Err(error) => Some(Err(error.error_code(true))),
            };
            if let Some(result) = result {
                let body = Body::ProduceReply {
                    request_id: waiting.request_id,
                    result,
                };
                out.push((waiting.node, body));
            }
        }
        let high_watermark = leading.replica.high_watermark();
        replica.log.checkpoint_high_watermark(high_watermark);
        let _ = id;
        Ok(())
    }

    fn tick_partition(
        &mut self,
        partition: i32,
        local: Duration,
        controller: NodeId,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let replica = &mut self.partitions[index(partition)];
        match &mut replica.role {
            Role::Idle => Ok(()),
            Role::Leader(leading) => {
                // An unanswered proposal is sent again, not forgotten: the first copy may
                // have committed (see `alter_partition_reply`).
                let stale = leading
                    .proposal_sent
                    .is_some_and(|(_, sent)| local.saturating_sub(sent) >= REQUEST_TIMEOUT);
                let mut effects = leading.replica.tick(local);
                if stale && effects.proposal.is_none() {
                    effects.proposal = leading.replica.proposal().cloned();
                }
                let _ = controller;
                self.leader_effects(partition, effects, local, out)
            }
            Role::Follower(following) => {
                let waiting = following
                    .in_flight
                    .is_some_and(|(_, sent)| local.saturating_sub(sent) < REQUEST_TIMEOUT);
                if !waiting {
                    self.send_fetch(partition, local, out);
                }
                Ok(())
            }
        }
    }

    fn send_fetch(&mut self, partition: i32, local: Duration, out: &mut Outbox) {
        let (id, broker_epoch) = (self.id, self.broker_epoch.unwrap_or(-1));
        let request_id = self.request_id();
        let replica = &mut self.partitions[index(partition)];
        let Role::Follower(following) = &mut replica.role else {
            return;
        };
        let leader = following.replica.leader_id();
        if leader == NO_LEADER {
            return;
        }
        let position = following.replica.fetch_position(replica.log.epochs());
        let fetch = FollowerFetch {
            replica_id: id,
            broker_epoch,
            current_leader_epoch: position.current_leader_epoch,
            fetch_offset: position.fetch_offset,
            last_fetched_epoch: position.last_fetched_epoch,
        };
        following.in_flight = Some((request_id, local));
        out.push((
            leader,
            Body::Fetch {
                request_id,
                partition,
                fetch,
            },
        ));
    }

    /// Does what a leader's effects ask: answers acks=all waiters (after checking them),
    /// sends a proposal, checkpoints the HW.
    fn leader_effects(
        &mut self,
        partition: i32,
        effects: LeaderEffects,
        local: Duration,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let (id, broker_epoch) = (self.id, self.broker_epoch.unwrap_or(-1));
        let request_id = self.request_id();
        let replica = &mut self.partitions[index(partition)];
        let Role::Leader(leading) = &mut replica.role else {
            return Ok(());
        };
        invariants::check_acknowledged(&leading.replica, &effects.acks)
            .map_err(violation(id, partition))?;
        for answer in &effects.acks {
            let Some(waiting) = leading.parked.remove(&answer.ticket) else {
                continue;
            };
            let code = answer.outcome.error_code();
            let result = if code == ErrorCode::None {
                Ok(answer.last_offset)
            } else {
                Err(code)
            };
            out.push((
                waiting.node,
                Body::ProduceReply {
                    request_id: waiting.request_id,
                    result,
                },
            ));
        }
        if let Some(proposal) = effects.proposal {
            leading.proposal_sent = Some((request_id, local));
            let request = AlterPartitionRequest {
                topic_id: TOPIC_ID,
                partition,
                leader_id: id,
                leader_broker_epoch: broker_epoch,
                leader_epoch: proposal.leader_epoch,
                partition_epoch: proposal.partition_epoch,
                new_isr: proposal.new_isr,
            };
            out.push((
                super::CONTROLLER,
                Body::AlterPartition {
                    request_id,
                    request,
                },
            ));
        }
        if let Some(high_watermark) = effects.high_watermark {
            replica.log.checkpoint_high_watermark(high_watermark);
        }
        Ok(())
    }
}

/// Receiving.
impl SimBroker {
    /// Handles one delivered message.
    ///
    /// # Errors
    /// A violation found on the way.
    pub fn receive(
        &mut self,
        from: NodeId,
        body: Body,
        now: Duration,
        checker: &mut Checker,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let local = self.local(now);
        match body {
            Body::Registered { .. } | Body::HeartbeatRefused { .. } => {
                self.registration_answer(&body);
                Ok(())
            }
            Body::MetadataRecords {
                from: start,
                records,
            } => self.apply_metadata(start, &records, local, checker, out),
            Body::AlterPartitionReply {
                request_id,
                partition,
                refused,
            } => {
                self.alter_partition_reply(request_id, partition, refused);
                Ok(())
            }
            Body::Fetch {
                request_id,
                partition,
                fetch,
            } => self.follower_fetch(from, request_id, partition, &fetch, local, out),
            Body::FetchReply {
                request_id,
                partition,
                result,
                entries,
            } => {
                self.fetch_reply(request_id, partition, result, &entries, local, out);
                Ok(())
            }
            Body::Produce {
                request_id,
                partition,
                entry,
            } => {
                let waiting = Waiting {
                    node: from,
                    request_id,
                };
                self.produce(waiting, partition, entry, out);
                Ok(())
            }
            Body::Read {
                request_id,
                partition,
                offset,
            } => {
                let result = self.read(partition, offset);
                let body = Body::ReadReply {
                    request_id,
                    partition,
                    offset,
                    result,
                };
                out.push((from, body));
                Ok(())
            }
            Body::HeartbeatReply { .. }
            | Body::Register { .. }
            | Body::Heartbeat(_)
            | Body::MetadataFetch { .. }
            | Body::AlterPartition { .. }
            | Body::ProduceReply { .. }
            | Body::ReadReply { .. } => Ok(()),
        }
    }

    /// A registration sent twice (a retry after a lost answer) is accepted twice, with two
    /// epochs: the newer is the registered one. A heartbeat refused for its epoch means the
    /// broker must register again.
    fn registration_answer(&mut self, body: &Body) {
        match *body {
            Body::Registered {
                incarnation,
                broker_epoch,
            } if incarnation == self.incarnation => {
                self.broker_epoch = self.broker_epoch.max(Some(broker_epoch));
            }
            Body::HeartbeatRefused { broker_epoch } if self.broker_epoch == Some(broker_epoch) => {
                self.broker_epoch = None;
            }
            _ => {}
        }
    }

    fn apply_metadata(
        &mut self,
        start: u64,
        records: &[crate::cluster::metadata::MetadataRecord],
        local: Duration,
        checker: &mut Checker,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        if start != self.metadata.version || records.is_empty() {
            return Ok(());
        }
        for record in records {
            self.metadata
                .apply_in_place(record)
                .map_err(|error| Violation::Controller(format!("broker {}: {error}", self.id)))?;
        }
        if !self.registered() {
            return Ok(());
        }
        let wanted = partition_logs::wanted_logs(&self.metadata, &self.placement());
        for partition in 0..self.settings.partition_count {
            let Some(state) = self.metadata.partition(TOPIC_ID, partition).cloned() else {
                continue;
            };
            let key = PartitionKey {
                topic_id: TOPIC_ID,
                partition,
            };
            if !wanted.contains_key(&key) {
                self.stop_replica(partition, local, out)?;
            } else if state.replicas.contains(&self.id) {
                self.reconcile(partition, &state, local, checker, out)?;
            }
        }
        Ok(())
    }

    /// Where the broker's logs would be: one shard, so `partition_logs::wanted_logs` (the
    /// broker's own choice of the logs it keeps) lists every partition hosted here.
    fn placement(&self) -> LogPlacement {
        LogPlacement {
            node_id: self.id,
            shard_index: 0,
            shard_count: 1,
            data_dir: PathBuf::from("ringsim"),
            producer_id_expiration: Duration::from_secs(3600),
        }
    }

    /// A replica moved away (a completed or cancelled reassignment): a leader stops leading
    /// (its waiters answered NOT_LEADER_OR_FOLLOWER), a follower stops fetching, and its data
    /// is deleted, as the broker closes a log `wanted_logs` no longer lists and removes its
    /// directory. A later reassignment back here starts from an empty log.
    fn stop_replica(
        &mut self,
        partition: i32,
        local: Duration,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let replica = &mut self.partitions[index(partition)];
        if let Role::Leader(leading) = &mut replica.role {
            let effects = leading.replica.resign();
            self.leader_effects(partition, effects, local, out)?;
            self.end_leading(partition, out);
        }
        let replica = &mut self.partitions[index(partition)];
        replica.role = Role::Idle;
        replica.log = SimLog::default();
        replica.checked_high_watermark = 0;
        Ok(())
    }

    /// Brings one replica's role in line with the committed `state`.
    fn reconcile(
        &mut self,
        partition: i32,
        state: &PartitionState,
        local: Duration,
        checker: &mut Checker,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let id = self.id;
        let replica = &mut self.partitions[index(partition)];
        if let Role::Leader(leading) = &mut replica.role {
            // A leader named again, in the same epoch or a newer one (a reassignment dropped
            // a replica and bumped the epoch), keeps leading, as the broker's replica manager
            // keeps it (`reconcile_partition`, Kafka's makeLeader).
            let stays = state.leader == id
                && !leading.replica.is_fenced()
                && leading.replica.leader_epoch() <= state.leader_epoch;
            if stays {
                if state.leader_epoch > leading.replica.leader_epoch() {
                    checker.leader(partition, state.leader_epoch, (id, self.incarnation))?;
                }
                return self.reconcile_leading(partition, state, local, out);
            }
            // Another leader fences this one; a fenced one named again is rebuilt.
            let effects = if state.leader == id {
                leading.replica.resign()
            } else {
                leading.replica.apply_committed(state, local)
            };
            self.leader_effects(partition, effects, local, out)?;
            self.end_leading(partition, out);
        }
        if state.leader == id {
            return self.become_leader(partition, state, local, checker);
        }
        let replica = &mut self.partitions[index(partition)];
        match &mut replica.role {
            Role::Follower(following) => {
                if state.leader != NO_LEADER
                    && state.leader_epoch > following.replica.leader_epoch()
                {
                    following.replica.follow(state.leader, state.leader_epoch);
                    following.in_flight = None;
                }
            }
            Role::Idle | Role::Leader(_) if state.leader != NO_LEADER => {
                let end = replica.log.end_offset();
                let high_watermark = match &replica.role {
                    Role::Leader(leading) => leading.replica.high_watermark(),
                    _ => replica.log.high_watermark_checkpoint(),
                };
                let leader = (state.leader, state.leader_epoch);
                let follower = FollowerReplica::new(id, leader, end, high_watermark.min(end));
                replica.role = Role::Follower(Following {
                    replica: follower,
                    in_flight: None,
                });
            }
            Role::Idle | Role::Leader(_) => {}
        }
        Ok(())
    }

    /// Applies `state` to the leader this broker is. A new leader epoch starts at the log end
    /// (`LeaderReplica::apply_committed`) and is recorded in the log's epoch cache there, as
    /// the replica manager's `reconcile_leading` does. The simulated leader counts only
    /// synced records in its LEO: a flush first makes the whole log count, so the epoch
    /// starts where the log ends and later appends carry the new epoch.
    fn reconcile_leading(
        &mut self,
        partition: i32,
        state: &PartitionState,
        local: Duration,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let new_epoch = match &self.partitions[index(partition)].role {
            Role::Leader(leading) => state.leader_epoch > leading.replica.leader_epoch(),
            _ => false,
        };
        if new_epoch {
            self.flush(partition, local, out)?;
        }
        let replica = &mut self.partitions[index(partition)];
        let Role::Leader(leading) = &mut replica.role else {
            return Ok(());
        };
        let effects = leading.replica.apply_committed(state, local);
        if new_epoch {
            let start = leading.replica.leader_epoch_start_offset();
            assert_eq!(
                start,
                replica.log.end_offset(),
                "epoch {} starts off the log end",
                state.leader_epoch
            );
            assert_eq!(leading.replica.leader_epoch(), state.leader_epoch);
            replica.log.start_epoch(state.leader_epoch);
        }
        self.leader_effects(partition, effects, local, out)
    }

    /// A replaced leader answers what it still holds NOT_LEADER_OR_FOLLOWER.
    fn end_leading(&mut self, partition: i32, out: &mut Outbox) {
        let replica = &mut self.partitions[index(partition)];
        let Role::Leader(leading) = &mut replica.role else {
            return;
        };
        let code = ErrorCode::NotLeaderOrFollower;
        for (_, waiting) in leading.unsynced.drain(..) {
            out.push((
                waiting.node,
                Body::ProduceReply {
                    request_id: waiting.request_id,
                    result: Err(code),
                },
            ));
        }
    }

    fn become_leader(
        &mut self,
        partition: i32,
        state: &PartitionState,
        local: Duration,
        checker: &mut Checker,
    ) -> Result<(), Violation> {
        let (id, incarnation) = (self.id, self.incarnation);
        checker.leader(partition, state.leader_epoch, (id, incarnation))?;
        let replica = &mut self.partitions[index(partition)];
        let high_watermark = match &replica.role {
            Role::Follower(following) => following.replica.high_watermark(),
            Role::Leader(leading) => leading.replica.high_watermark(),
            Role::Idle => replica.log.high_watermark_checkpoint(),
        };
        replica.log.start_epoch(state.leader_epoch);
        let end = replica.log.end_offset();
        let config = ReplicaConfig {
            replica_id: id,
            min_insync_replicas: self.settings.min_insync_replicas,
            replica_lag_time_max: REPLICA_LAG_TIME_MAX,
            ack_waiters_max: ACK_WAITERS_MAX,
        };
        let leader = LeaderReplica::new(config, state, end, high_watermark.min(end), local);
        let history = LeaderHistory::new(&leader);
        replica.role = Role::Leader(Box::new(Leading {
            replica: leader,
            history,
            unsynced: Vec::new(),
            parked: BTreeMap::new(),
            proposal_sent: None,
        }));
        Ok(())
    }

    /// Kafka's handling of an AlterPartition answer (`Partition.handleAlterPartitionError`):
    /// a refusal that means "the partition moved on" (INVALID_UPDATE_VERSION,
    /// FENCED_LEADER_EPOCH, NOT_CONTROLLER) keeps the proposal in flight until the metadata
    /// that moved it arrives (`apply_committed` clears it): the partition epoch may have moved
    /// because of this very proposal (an earlier copy of the request committed it), and
    /// forgetting it would let the HW pass a member the committed ISR now holds. Any other
    /// refusal (INELIGIBLE_REPLICA, …) clears it, to be proposed again later.
    ///
    /// Only the answer to the newest copy sent counts: an older copy's refusal arriving
    /// after a resend must not clear a proposal a newer copy may have committed.
    fn alter_partition_reply(
        &mut self,
        request_id: u64,
        partition: i32,
        refused: Option<ErrorCode>,
    ) {
        let Some(replica) = self.partitions.get_mut(index(partition)) else {
            return;
        };
        let Role::Leader(leading) = &mut replica.role else {
            return;
        };
        let Some(code) = refused else {
            return;
        };
        let wait_for_metadata = matches!(
            code,
            ErrorCode::InvalidUpdateVersion
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::NotController
        );
        let newest = leading
            .proposal_sent
            .is_some_and(|(id, _)| id == request_id);
        if !wait_for_metadata && newest {
            leading.replica.proposal_failed();
            leading.proposal_sent = None;
        }
    }
}

/// The data path.
impl SimBroker {
    fn follower_fetch(
        &mut self,
        from: NodeId,
        request_id: u64,
        partition: i32,
        fetch: &FollowerFetch,
        local: Duration,
        out: &mut Outbox,
    ) -> Result<(), Violation> {
        let refuse = |error| Body::FetchReply {
            request_id,
            partition,
            result: Err(error),
            entries: Vec::new(),
        };
        let Some(replica) = self.partitions.get_mut(index(partition)) else {
            return Ok(());
        };
        let Role::Leader(leading) = &mut replica.role else {
            out.push((from, refuse(FetchError::NotLeader)));
            return Ok(());
        };
        match leading
            .replica
            .follower_fetch(fetch, replica.log.epochs(), local)
        {
            Err(error) => {
                out.push((from, refuse(error)));
                Ok(())
            }
            Ok((answer, effects)) => {
                let entries = if answer.diverging_epoch.is_none() {
                    let end = leading.replica.log_end_offset();
                    let to = end.min(fetch.fetch_offset + FETCH_RECORDS_MAX);
                    replica.log.slice(fetch.fetch_offset, to)
                } else {
                    Vec::new()
                };
                let result = Ok(answer);
                out.push((
                    from,
                    Body::FetchReply {
                        request_id,
                        partition,
                        result,
                        entries,
                    },
                ));
                self.leader_effects(partition, effects, local, out)
            }
        }
    }

    fn fetch_reply(
        &mut self,
        request_id: u64,
        partition: i32,
        result: Result<crate::replication::FetchAnswer, FetchError>,
        entries: &[Entry],
        local: Duration,
        out: &mut Outbox,
    ) {
        let Some(replica) = self.partitions.get_mut(index(partition)) else {
            return;
        };
        let Role::Follower(following) = &mut replica.role else {
            return;
        };
        if following.in_flight.map(|(id, _)| id) != Some(request_id) {
            return; // a duplicate, or the answer to a fetch given up on
        }
        following.in_flight = None;
        let Ok(answer) = result else {
            return;
        };
        let Ok(action) = following.replica.on_answer(&answer, replica.log.epochs()) else {
            return;
        };
        match action {
            FollowerAction::Truncate { offset } => {
                replica.log.truncate(offset);
                following.replica.truncated(offset);
                replica.checked_high_watermark = replica.checked_high_watermark.min(offset);
            }
            FollowerAction::Append => {
                replica.log.append_durable(entries);
                following.replica.appended(replica.log.end_offset());
                let high_watermark = following.replica.high_watermark();
                replica.log.checkpoint_high_watermark(high_watermark);
                if entries.is_empty() {
                    return;
                }
            }
        }
        self.send_fetch(partition, local, out);
    }

    fn produce(&mut self, waiting: Waiting, partition: i32, entry: Entry, out: &mut Outbox) {
        let refuse = |code| Body::ProduceReply {
            request_id: waiting.request_id,
            result: Err(code),
        };
        let Some(replica) = self.partitions.get_mut(index(partition)) else {
            return;
        };
        let Role::Leader(leading) = &mut replica.role else {
            out.push((waiting.node, refuse(ErrorCode::NotLeaderOrFollower)));
            return;
        };
        if let Err(error) = leading.replica.check_append_acks_all() {
            out.push((waiting.node, refuse(error.error_code(false))));
            return;
        }
        let entries = replica.log.entries();
        let identity = (entry.producer_id, entry.sequence);
        let existing = entries
            .iter()
            .rposition(|held| (held.producer_id, held.sequence) == identity);
        let offset = if let Some(index) = existing {
            i64::try_from(index).unwrap_or(i64::MAX)
        } else {
            let last = entries
                .iter()
                .rev()
                .find(|held| held.producer_id == entry.producer_id)
                .map(|held| held.sequence);
            if last.map_or(entry.sequence != 0, |last| entry.sequence != last + 1) {
                out.push((waiting.node, refuse(ErrorCode::OutOfOrderSequenceNumber)));
                return;
            }
            let epoch = leading.replica.leader_epoch();
            replica.log.append_unsynced(Entry { epoch, ..entry })
        };
        leading.unsynced.push((offset, waiting));
    }

    fn read(&self, partition: i32, offset: i64) -> Result<Vec<Entry>, ErrorCode> {
        let replica = self
            .partitions
            .get(index(partition))
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let Role::Leader(leading) = &replica.role else {
            return Err(ErrorCode::NotLeaderOrFollower);
        };
        if leading.replica.is_fenced() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        let high_watermark = leading.replica.high_watermark();
        if offset > high_watermark || offset < 0 {
            return Err(ErrorCode::OffsetOutOfRange);
        }
        Ok(replica
            .log
            .slice(offset, high_watermark.min(offset + FETCH_RECORDS_MAX)))
    }

    /// The checks after every event: each leader's history (HW never back, never past an ISR
    /// member's known LEO, never moving when fenced or below min ISR), and each replica's
    /// newly committed prefix against the committed values.
    ///
    /// # Errors
    /// The first violation.
    pub fn check(&mut self, checker: &mut Checker) -> Result<(), Violation> {
        let id = self.id;
        for (partition, replica) in (0..).zip(self.partitions.iter_mut()) {
            replica.log.check_invariants();
            if let Role::Leader(leading) = &mut replica.role {
                leading
                    .history
                    .observe(&leading.replica)
                    .map_err(violation(id, partition))?;
            }
            let Some(high_watermark) = replica.high_watermark() else {
                continue;
            };
            let from = replica.checked_high_watermark.min(high_watermark);
            checker.committed(id, partition, replica.log.entries(), (from, high_watermark))?;
            replica.checked_high_watermark = high_watermark;
        }
        Ok(())
    }
}
