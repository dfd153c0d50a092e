//! Broker lifecycle on the controller: registration, heartbeats, fencing after the session
//! timeout, unfencing, controlled shutdown (CLUSTER.md, "Broker lifecycle"; KRaft's
//! `ClusterControlManager` and `BrokerHeartbeatManager` are the reference for behaviour).
//!
//! [`BrokerSessions`] is the controller's soft state: when each broker last heartbeated and
//! whether it asked to shut down. It is not in the metadata log (heartbeats would flood it); a
//! newly active controller starts every registered broker's session afresh
//! ([`BrokerSessions::activate`]), as KRaft does, so a failover never fences a broker that
//! kept heartbeating. Everything that matters to other brokers (registrations, fencing,
//! leadership) is a record.
//!
//! Registration rules, and why:
//! - The broker epoch is the log offset of the `RegisterBroker` record: unique, and growing
//!   with every registration, so a record about an older incarnation is recognisably stale.
//! - A broker whose shard count differs from another registered broker's is refused
//!   (`ShardCountMismatch`): a partition lives on the same shard index on every broker.
//!   The node's own earlier registration does not count, so a one-broker cluster may change
//!   its shard count across a restart.
//! - A second incarnation of a node id is refused (`DuplicateBrokerRegistration`) while the
//!   registered one has a valid session: unfenced and heard from within the session timeout.
//!   This is KRaft's rule (`hasValidSession` is false for fenced brokers): two live processes
//!   with one node id would both fetch and lead as that id. A fenced incarnation leads nothing,
//!   and one silent past the timeout is about to be fenced, so the restart need not wait.
//! - The same incarnation registering again (its reply was lost) is accepted with a new epoch.
//! - A registration that replaces an unfenced one fences the old epoch first, with elections
//!   for what it led (CLUSTER.md: "the controller fences the old epoch at once").
//! - A new incarnation whose `previous_broker_epoch` is not the registered epoch ended its
//!   last run uncleanly (KIP-966): it leaves every ISR and ELR it is in, with elections for
//!   what it led ([`election::remove_unclean_replica`]). One that ended cleanly keeps its ELR
//!   places: its logs were synced and closed.
//! - A new registration starts fenced; the broker is unfenced by the first heartbeat that
//!   reports it has applied the log up to its registration and does not ask to stay fenced.
//!
//! Fencing (session timeout, a heartbeat asking for it, a replaced registration, a silent
//! broker whose controller listener refused the active controller's probe: `due_probes`,
//! `fence_unreachable`) writes
//! `FenceBroker` and then, for every partition the broker is in the ISR of or leads, the
//! change of [`election::remove_replica`]. Unfencing elects leaders for leaderless partitions
//! that have the broker as a replica. Controlled shutdown first moves leadership to other live
//! ISR members, then removes the broker from every ISR (a partition whose only in-sync replica
//! it is goes offline, as in KRaft); once it leads nothing it is fenced and told to shut down,
//! so clients stop seeing it at once rather than after the session timeout.
//!
//! Runs on the active controller's shard 0.
use super::RecordBatch;
use super::election::{self, ElectionPolicy};
use crate::cluster::metadata::{
    BrokerRegistration, ClusterError, ClusterMetadata, Listener, MetadataError, MetadataRecord,
    PartitionDelta, PartitionState,
};
use crate::limits::{BROKER_SESSION_TIMEOUT_MS_MAX, BROKER_SESSION_TIMEOUT_MS_MIN};
use crate::protocol::Uuid;
use std::collections::BTreeMap;
use std::time::Duration;

/// What a broker sends to register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationRequest {
    /// The cluster id in the broker's data dir; must be this cluster's.
    pub cluster_id: String,
    pub node_id: i32,
    pub incarnation: Uuid,
    pub listeners: Vec<Listener>,
    pub shard_count: i32,
    pub rack: Option<String>,
    /// The broker epoch the node's previous run ended with, when it ended cleanly (its
    /// clean-shutdown marker, [`crate::cluster::clean_shutdown`]); `None` after a crash or
    /// on a first start (Kafka's `PreviousBrokerEpoch`, -1).
    pub previous_broker_epoch: Option<i64>,
}

/// What a broker sends every heartbeat interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    pub node_id: i32,
    pub broker_epoch: i64,
    /// The metadata log offset the broker has applied up to (exclusive: the next it needs).
    pub applied_offset: u64,
    /// The broker asks to stay (or become) fenced, e.g. while it recovers its logs.
    pub wants_fence: bool,
    /// The broker is shutting down (SIGTERM) and wants leadership moved away.
    pub wants_shutdown: bool,
}

/// The controller's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeartbeatReply {
    /// The broker has applied the log up to its registration.
    pub is_caught_up: bool,
    /// The broker is fenced after this heartbeat's records.
    pub is_fenced: bool,
    /// Controlled shutdown is complete: the broker leads nothing and may exit.
    pub should_shut_down: bool,
}

/// The records a decision made and, for the caller, its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided<T> {
    pub records: Vec<MetadataRecord>,
    pub outcome: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    last_contact: Duration,
    shutting_down: bool,
    /// The broker heartbeated (or registered) to this controller since its session started;
    /// false for sessions a newly active controller started on its own
    /// ([`BrokerSessions::activate`]).
    heard: bool,
    /// When the controller last probed the broker's listener ([`BrokerSessions::due_probes`]).
    probed: Option<Duration>,
}

/// Heartbeat sessions of the registered brokers. See the module docs.
#[derive(Debug, Clone)]
pub struct BrokerSessions {
    session_timeout: Duration,
    /// Election settings where a topic sets none.
    defaults: ElectionPolicy,
    sessions: BTreeMap<i32, Session>,
}

impl BrokerSessions {
    /// # Panics
    /// When `session_timeout` is outside the bounds in `limits.rs` (config validation keeps
    /// it inside).
    #[must_use]
    pub fn new(session_timeout: Duration, defaults: ElectionPolicy) -> Self {
        let bounds = Duration::from_millis(BROKER_SESSION_TIMEOUT_MS_MIN)
            ..=Duration::from_millis(BROKER_SESSION_TIMEOUT_MS_MAX);
        assert!(
            bounds.contains(&session_timeout),
            "session timeout {session_timeout:?} outside {bounds:?}"
        );
        assert!(defaults.min_insync_replicas >= 1, "min ISR below 1");
        Self {
            session_timeout,
            defaults,
            sessions: BTreeMap::new(),
        }
    }

    /// This controller became active at `now`: every registered broker's session starts now.
    pub fn activate(&mut self, metadata: &ClusterMetadata, now: Duration) {
        self.sessions.clear();
        for broker in metadata.brokers() {
            self.start_unheard(broker.node_id, now);
        }
        assert_eq!(self.sessions.len(), metadata.brokers().count());
    }

    /// Forgets the node's session: the caller knows its registered incarnation is gone (the
    /// active controller's own node id registering again: this process holds that id).
    pub fn end_session(&mut self, node_id: i32) {
        self.sessions.remove(&node_id);
    }

    /// The node is registered, unfenced, and was heard from within the session timeout.
    #[must_use]
    pub fn has_valid_session(
        &self,
        metadata: &ClusterMetadata,
        node_id: i32,
        now: Duration,
    ) -> bool {
        let unfenced = metadata
            .broker(node_id)
            .is_some_and(|broker| !broker.fenced);
        unfenced
            && self
                .sessions
                .get(&node_id)
                .is_some_and(|session| !self.expired(session, now))
    }

    /// Decides a registration: the records, and the broker epoch it gets.
    ///
    /// # Errors
    /// `Cluster(InconsistentClusterId | InvalidRegistration | ShardCountMismatch |
    /// DuplicateBrokerRegistration | TooManyBrokers)`; nothing changes then.
    pub fn register(
        &mut self,
        metadata: &ClusterMetadata,
        request: RegistrationRequest,
        now: Duration,
    ) -> Result<Decided<i64>, MetadataError> {
        let node_id = request.node_id;
        if request.cluster_id != metadata.cluster_id {
            return Err(ClusterError::InconsistentClusterId {
                node_id,
                expected: metadata.cluster_id.clone(),
                requested: request.cluster_id,
            }
            .into());
        }
        check_shard_count(metadata, &request)?;
        if let Some(existing) = metadata.broker(node_id) {
            let other_incarnation = existing.incarnation != request.incarnation;
            if other_incarnation && self.has_valid_session(metadata, node_id, now) {
                return Err(ClusterError::DuplicateBrokerRegistration { node_id }.into());
            }
        }
        let mut batch = RecordBatch::new(metadata);
        if let Some(existing) = metadata.broker(node_id).filter(|broker| !broker.fenced) {
            let broker_epoch = existing.broker_epoch;
            self.fence(&mut batch, node_id, broker_epoch)?;
        }
        let unclean = metadata.broker(node_id).is_some_and(|existing| {
            existing.incarnation != request.incarnation
                && request.previous_broker_epoch != Some(existing.broker_epoch)
        });
        if unclean {
            self.change_partitions(&mut batch, |sessions, state, partition, policy| {
                let is_live = |node| sessions.is_live(state, node);
                election::remove_unclean_replica(partition, node_id, &is_live, policy)
            })?;
        }
        let broker_epoch = i64::try_from(batch.next_offset()).unwrap_or(i64::MAX);
        batch.push(MetadataRecord::RegisterBroker(BrokerRegistration {
            node_id,
            incarnation: request.incarnation,
            broker_epoch,
            listeners: request.listeners,
            shard_count: request.shard_count,
            rack: request.rack,
            fenced: true,
        }))?;
        self.sessions.insert(
            node_id,
            Session {
                last_contact: now,
                shutting_down: false,
                heard: true,
                probed: None,
            },
        );
        assert!(batch.state().broker(node_id).is_some_and(|b| b.fenced));
        Ok(Decided {
            records: batch.into_records(),
            outcome: broker_epoch,
        })
    }

    /// Decides a heartbeat (see the module docs for what it may change).
    ///
    /// # Errors
    /// `Cluster(UnknownBroker | StaleBrokerEpoch)` for a heartbeat of another incarnation;
    /// nothing changes then.
    pub fn heartbeat(
        &mut self,
        metadata: &ClusterMetadata,
        heartbeat: Heartbeat,
        now: Duration,
    ) -> Result<Decided<HeartbeatReply>, MetadataError> {
        let node_id = heartbeat.node_id;
        metadata.check_broker_epoch(node_id, heartbeat.broker_epoch)?;
        self.touch(node_id, now);
        let registration_offset = u64::try_from(heartbeat.broker_epoch).unwrap_or(u64::MAX);
        // `applied_offset` is exclusive: past the registration record means it was applied.
        let is_caught_up = heartbeat.applied_offset > registration_offset;
        let mut batch = RecordBatch::new(metadata);
        let fenced = metadata.broker(node_id).is_some_and(|broker| broker.fenced);
        let mut should_shut_down = false;
        if heartbeat.wants_shutdown {
            should_shut_down = self.shut_down(&mut batch, node_id, heartbeat.broker_epoch)?;
        } else if fenced && is_caught_up && !heartbeat.wants_fence && !self.shutting_down(node_id) {
            self.unfence(&mut batch, node_id, heartbeat.broker_epoch)?;
        } else if !fenced && heartbeat.wants_fence {
            self.fence(&mut batch, node_id, heartbeat.broker_epoch)?;
        }
        let is_fenced = batch
            .state()
            .broker(node_id)
            .is_none_or(|broker| broker.fenced);
        Ok(Decided {
            records: batch.into_records(),
            outcome: HeartbeatReply {
                is_caught_up,
                is_fenced,
                should_shut_down,
            },
        })
    }

    /// Fences every unfenced broker not heard from within the session timeout at `now`, with
    /// elections for what it led. A registered broker without a session (registered through
    /// another controller) gets one starting now.
    ///
    /// # Errors
    /// A record did not apply (a bug in these decisions); nothing is proposed then.
    pub fn expire(
        &mut self,
        metadata: &ClusterMetadata,
        now: Duration,
    ) -> Result<Vec<MetadataRecord>, MetadataError> {
        self.sessions
            .retain(|node_id, _| metadata.broker(*node_id).is_some());
        let mut expired = Vec::new();
        for broker in metadata.unfenced_brokers() {
            match self.sessions.get(&broker.node_id) {
                None => self.start_unheard(broker.node_id, now),
                Some(session) if self.expired(session, now) => {
                    expired.push((broker.node_id, broker.broker_epoch));
                }
                Some(_) => {}
            }
        }
        let mut batch = RecordBatch::new(metadata);
        for (node_id, broker_epoch) in expired {
            self.fence(&mut batch, node_id, broker_epoch)?;
        }
        Ok(batch.into_records())
    }

    /// The unfenced brokers (other than `except`, the controller's own node) whose process
    /// may be gone and that were not probed within `after`: silent for longer than `after` at
    /// `now`, or not heard from since this controller started their session. They count as
    /// probed at `now`. The caller probes each one's controller listener and fences those
    /// whose connect is refused ([`Self::fence_unreachable`]). With their broker epochs, at
    /// most one per registered broker.
    pub fn due_probes(
        &mut self,
        metadata: &ClusterMetadata,
        now: Duration,
        after: Duration,
        except: i32,
    ) -> Vec<(i32, i64)> {
        let mut due = Vec::new();
        for broker in metadata.unfenced_brokers() {
            let Some(session) = self.sessions.get_mut(&broker.node_id) else {
                continue;
            };
            let probed_lately = session
                .probed
                .is_some_and(|at| now.saturating_sub(at) <= after);
            if broker.node_id != except && is_silent(session, now, after) && !probed_lately {
                session.probed = Some(now);
                due.push((broker.node_id, broker.broker_epoch));
            }
        }
        due
    }

    /// Fences a broker whose controller listener refused a connection: its process is gone
    /// (a killed process's ports refuse at once, while a frozen or cut-off broker's kernel
    /// still accepts or drops the connect, so those keep the full session timeout, as in
    /// Kafka). Nothing happens unless `node_id` is still unfenced at `broker_epoch` and still
    /// silent as [`Self::due_probes`] says (a heartbeat since the probe proves it alive: a new
    /// incarnation on the same address).
    ///
    /// # Errors
    /// A record did not apply (a bug in these decisions); nothing is proposed then.
    pub fn fence_unreachable(
        &mut self,
        metadata: &ClusterMetadata,
        probed: (i32, i64),
        now: Duration,
        after: Duration,
    ) -> Result<Vec<MetadataRecord>, MetadataError> {
        let (node_id, broker_epoch) = probed;
        let same_incarnation = metadata
            .broker(node_id)
            .is_some_and(|broker| !broker.fenced && broker.broker_epoch == broker_epoch);
        let still_silent = self
            .sessions
            .get(&node_id)
            .is_some_and(|session| is_silent(session, now, after));
        let mut batch = RecordBatch::new(metadata);
        if same_incarnation && still_silent {
            self.fence(&mut batch, node_id, broker_epoch)?;
        }
        Ok(batch.into_records())
    }

    /// Decides removing a broker from the cluster (decommissioning): fenced first, with
    /// elections, when it is not fenced yet, then `UnregisterBroker`. Its partitions keep
    /// naming it until a reassignment moves them.
    ///
    /// # Errors
    /// `Cluster(UnknownBroker)`.
    pub fn unregister(
        &mut self,
        metadata: &ClusterMetadata,
        node_id: i32,
    ) -> Result<Vec<MetadataRecord>, MetadataError> {
        let broker = metadata
            .broker(node_id)
            .ok_or(ClusterError::UnknownBroker { node_id })?;
        let (broker_epoch, fenced) = (broker.broker_epoch, broker.fenced);
        let mut batch = RecordBatch::new(metadata);
        if !fenced {
            self.fence(&mut batch, node_id, broker_epoch)?;
        }
        batch.push(MetadataRecord::UnregisterBroker {
            node_id,
            broker_epoch,
        })?;
        self.sessions.remove(&node_id);
        assert!(batch.state().broker(node_id).is_none());
        Ok(batch.into_records())
    }

    /// The node can lead and stay in ISRs: registered, unfenced, not shutting down.
    fn is_live(&self, metadata: &ClusterMetadata, node_id: i32) -> bool {
        let unfenced = metadata
            .broker(node_id)
            .is_some_and(|broker| !broker.fenced);
        let shutting_down = self
            .sessions
            .get(&node_id)
            .is_some_and(|session| session.shutting_down);
        unfenced && !shutting_down
    }

    /// The node asked for a controlled shutdown in this session (until it registers again).
    #[must_use]
    pub fn shutting_down(&self, node_id: i32) -> bool {
        self.sessions
            .get(&node_id)
            .is_some_and(|session| session.shutting_down)
    }

    fn expired(&self, session: &Session, now: Duration) -> bool {
        now.saturating_sub(session.last_contact) > self.session_timeout
    }

    /// A heartbeat from the node at `now`.
    fn touch(&mut self, node_id: i32, now: Duration) {
        let session = self.sessions.entry(node_id).or_insert(Session {
            last_contact: now,
            shutting_down: false,
            heard: true,
            probed: None,
        });
        // A caller's clock is monotonic; never move a contact back if it is not.
        session.last_contact = session.last_contact.max(now);
        session.heard = true;
    }

    /// A session this controller starts without having heard from the node.
    fn start_unheard(&mut self, node_id: i32, now: Duration) {
        self.sessions.insert(
            node_id,
            Session {
                last_contact: now,
                shutting_down: false,
                heard: false,
                probed: None,
            },
        );
    }

    /// `FenceBroker`, then the broker leaves every ISR and loses every leadership.
    fn fence(
        &self,
        batch: &mut RecordBatch,
        node_id: i32,
        broker_epoch: i64,
    ) -> Result<(), MetadataError> {
        batch.push(MetadataRecord::FenceBroker {
            node_id,
            broker_epoch,
        })?;
        self.change_partitions(batch, |sessions, state, partition, policy| {
            if !partition.isr.contains(&node_id) && partition.leader != node_id {
                return None;
            }
            let is_live = |node| sessions.is_live(state, node);
            election::remove_replica(partition, node_id, &is_live, policy)
        })
    }

    /// `UnfenceBroker`, then elections for leaderless partitions it is a replica of.
    fn unfence(
        &self,
        batch: &mut RecordBatch,
        node_id: i32,
        broker_epoch: i64,
    ) -> Result<(), MetadataError> {
        batch.push(MetadataRecord::UnfenceBroker {
            node_id,
            broker_epoch,
        })?;
        self.change_partitions(batch, |sessions, state, partition, policy| {
            if !partition.replicas.contains(&node_id) {
                return None;
            }
            let is_live = |node| sessions.is_live(state, node);
            election::elect_if_leaderless(partition, &is_live, policy)
        })
    }

    /// Controlled shutdown: leadership moves away, the broker leaves every ISR; when it leads
    /// nothing it is fenced. Returns whether it may exit.
    fn shut_down(
        &mut self,
        batch: &mut RecordBatch,
        node_id: i32,
        broker_epoch: i64,
    ) -> Result<bool, MetadataError> {
        if let Some(session) = self.sessions.get_mut(&node_id) {
            session.shutting_down = true;
        }
        if batch
            .state()
            .broker(node_id)
            .is_none_or(|broker| broker.fenced)
        {
            return Ok(true);
        }
        self.change_partitions(batch, |sessions, state, partition, _| {
            let is_live = |node| sessions.is_live(state, node);
            election::move_leadership(partition, node_id, &is_live)
        })?;
        self.change_partitions(batch, |sessions, state, partition, policy| {
            if !partition.isr.contains(&node_id) && partition.leader != node_id {
                return None;
            }
            let is_live = |node| sessions.is_live(state, node);
            election::remove_replica(partition, node_id, &is_live, policy)
        })?;
        let leads_nothing = batch
            .state()
            .all_partitions()
            .all(|(_, _, partition)| partition.leader != node_id);
        if leads_nothing {
            self.fence(batch, node_id, broker_epoch)?;
        }
        Ok(leads_nothing)
    }

    /// Pushes a `PartitionChange` for every recorded partition `decide` returns a delta for.
    /// `decide` sees the state before this pass (every delta is about one partition, so no
    /// delta depends on another of the same pass). The deltas are collected before any is
    /// pushed: holding no second reference to the state lets `apply` change each topic's
    /// partitions in place instead of copying them once per change.
    fn change_partitions(
        &self,
        batch: &mut RecordBatch,
        decide: impl Fn(
            &Self,
            &ClusterMetadata,
            &PartitionState,
            ElectionPolicy,
        ) -> Option<PartitionDelta>,
    ) -> Result<(), MetadataError> {
        let state = batch.state();
        let mut changes = Vec::new();
        for (topic_id, partition, current) in state.all_partitions() {
            let Some(topic) = state.topic_by_id(topic_id) else {
                continue;
            };
            let policy = ElectionPolicy::for_topic(state, topic, self.defaults);
            if let Some(delta) = decide(self, state, current, policy) {
                changes.push(MetadataRecord::PartitionChange {
                    topic_id,
                    partition,
                    delta,
                });
            }
        }
        for change in changes {
            batch.push(change)?;
        }
        Ok(())
    }
}

/// Silent for longer than `after`, or never heard from in this controller's term.
fn is_silent(session: &Session, now: Duration, after: Duration) -> bool {
    !session.heard || now.saturating_sub(session.last_contact) > after
}

/// Every other registered broker runs `request.shard_count` shards.
fn check_shard_count(
    metadata: &ClusterMetadata,
    request: &RegistrationRequest,
) -> Result<(), ClusterError> {
    let probe = BrokerRegistration {
        node_id: request.node_id,
        incarnation: request.incarnation,
        broker_epoch: 0,
        listeners: request.listeners.clone(),
        shard_count: request.shard_count,
        rack: request.rack.clone(),
        fenced: true,
    };
    probe.check()?;
    let other = metadata.brokers().find(|broker| {
        broker.node_id != request.node_id && broker.shard_count != request.shard_count
    });
    match other {
        Some(other) => Err(ClusterError::ShardCountMismatch {
            node_id: request.node_id,
            shard_count: request.shard_count,
            cluster_shard_count: other.shard_count,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
