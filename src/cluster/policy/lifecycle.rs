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
//! - A new registration starts fenced; the broker is unfenced by the first heartbeat that
//!   reports it has applied the log up to its registration and does not ask to stay fenced.
//!
//! Fencing (session timeout, a heartbeat asking for it, a replaced registration) writes
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    /// The cluster id in the broker's data dir; must be this cluster's.
    pub cluster_id: String,
    pub node_id: i32,
    pub incarnation: Uuid,
    pub listeners: Vec<Listener>,
    pub shard_count: i32,
    pub rack: Option<String>,
}

/// What a broker sends every heartbeat interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            self.touch(broker.node_id, now);
        }
        assert_eq!(self.sessions.len(), metadata.brokers().count());
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
        } else if fenced && is_caught_up && !heartbeat.wants_fence {
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
                None => self.touch(broker.node_id, now),
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

    fn expired(&self, session: &Session, now: Duration) -> bool {
        now.saturating_sub(session.last_contact) > self.session_timeout
    }

    fn touch(&mut self, node_id: i32, now: Duration) {
        let session = self.sessions.entry(node_id).or_insert(Session {
            last_contact: now,
            shutting_down: false,
        });
        // A caller's clock is monotonic; never move a contact back if it is not.
        session.last_contact = session.last_contact.max(now);
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
mod tests {
    use super::*;
    use crate::cluster::metadata::NO_LEADER;
    use crate::cluster::policy::placement::{self, PlacedTopic};

    const TIMEOUT: Duration = Duration::from_secs(3);

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn request(node_id: i32, incarnation: u8, shard_count: i32) -> RegistrationRequest {
        RegistrationRequest {
            cluster_id: "c".into(),
            node_id,
            incarnation: Uuid([incarnation; 16]),
            listeners: vec![Listener {
                name: "CLIENT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
            }],
            shard_count,
            rack: None,
        }
    }

    fn heartbeat(metadata: &ClusterMetadata, node_id: i32) -> Heartbeat {
        Heartbeat {
            node_id,
            broker_epoch: metadata.broker(node_id).unwrap().broker_epoch,
            applied_offset: metadata.version,
            wants_fence: false,
            wants_shutdown: false,
        }
    }

    struct Cluster {
        metadata: ClusterMetadata,
        sessions: BrokerSessions,
    }

    impl Cluster {
        fn new() -> Self {
            Self {
                metadata: ClusterMetadata::empty("c".into()),
                sessions: BrokerSessions::new(TIMEOUT, ElectionPolicy::default()),
            }
        }

        fn apply(&mut self, records: &[MetadataRecord]) {
            self.metadata = self.metadata.apply_all(records).unwrap();
        }

        fn register(&mut self, node_id: i32, incarnation: u8, now: Duration) -> i64 {
            let decided = self
                .sessions
                .register(&self.metadata, request(node_id, incarnation, 2), now)
                .unwrap();
            self.apply(&decided.records);
            decided.outcome
        }

        fn beat(&mut self, hb: Heartbeat, now: Duration) -> HeartbeatReply {
            let decided = self.sessions.heartbeat(&self.metadata, hb, now).unwrap();
            self.apply(&decided.records);
            decided.outcome
        }

        /// Registers and unfences brokers `1..=count` at time 0.
        fn with_brokers(count: i32) -> Self {
            let mut cluster = Self::new();
            for node_id in 1..=count {
                cluster.register(node_id, 1, ms(0));
            }
            for node_id in 1..=count {
                let hb = heartbeat(&cluster.metadata, node_id);
                assert!(!cluster.beat(hb, ms(0)).is_fenced);
            }
            cluster
        }

        fn create_topic(&mut self, partition_count: i32, replication_factor: i16) -> Uuid {
            let topic = PlacedTopic {
                name: "t".into(),
                topic_id: Uuid([9; 16]),
                partition_count,
                replication_factor,
                configs: BTreeMap::new(),
            };
            let records = placement::create_topic(&self.metadata, &topic, 1, 0).unwrap();
            self.apply(&records);
            topic.topic_id
        }

        fn leaders(&self, topic_id: Uuid) -> Vec<i32> {
            let partitions = self.metadata.recorded_partitions(topic_id);
            partitions
                .iter()
                .map(|partition| partition.leader)
                .collect()
        }
    }

    #[test]
    fn a_broker_registers_fenced_at_its_record_offset_and_is_unfenced_when_caught_up() {
        let mut cluster = Cluster::new();
        cluster.apply(&[MetadataRecord::BrokerConfigsSet {
            configs: BTreeMap::new(),
        }]);
        let epoch = cluster.register(1, 1, ms(0));
        assert_eq!(epoch, 1, "the record's offset");
        assert!(cluster.metadata.broker(1).unwrap().fenced);
        let behind = Heartbeat {
            applied_offset: 1,
            ..heartbeat(&cluster.metadata, 1)
        };
        let reply = cluster.beat(behind, ms(100));
        assert!(!reply.is_caught_up && reply.is_fenced);
        let wants_fence = Heartbeat {
            wants_fence: true,
            ..heartbeat(&cluster.metadata, 1)
        };
        assert!(cluster.beat(wants_fence, ms(200)).is_fenced);
        let reply = cluster.beat(heartbeat(&cluster.metadata, 1), ms(300));
        assert!(reply.is_caught_up && !reply.is_fenced);
        assert!(!cluster.metadata.broker(1).unwrap().fenced);
        let stale = Heartbeat {
            broker_epoch: 0,
            ..heartbeat(&cluster.metadata, 1)
        };
        assert!(matches!(
            cluster
                .sessions
                .heartbeat(&cluster.metadata, stale, ms(400)),
            Err(MetadataError::Cluster(
                ClusterError::StaleBrokerEpoch { .. }
            ))
        ));
    }

    #[test]
    fn a_second_live_incarnation_is_refused_until_the_first_is_fenced_or_silent() {
        let mut cluster = Cluster::with_brokers(1);
        let duplicate = cluster
            .sessions
            .register(&cluster.metadata, request(1, 2, 2), ms(1000));
        assert!(matches!(
            duplicate,
            Err(MetadataError::Cluster(
                ClusterError::DuplicateBrokerRegistration { node_id: 1 }
            ))
        ));
        // The same incarnation retrying is a re-registration with a new epoch.
        let old_epoch = cluster.metadata.broker(1).unwrap().broker_epoch;
        let epoch = cluster.register(1, 1, ms(1000));
        assert!(epoch > old_epoch);
        let hb = heartbeat(&cluster.metadata, 1);
        cluster.beat(hb, ms(1000));
        // Silent past the session timeout: a restart registers at once, fencing the old epoch.
        let epoch_before = cluster.metadata.broker(1).unwrap().broker_epoch;
        let decided = cluster
            .sessions
            .register(
                &cluster.metadata,
                request(1, 2, 2),
                ms(1000) + TIMEOUT + ms(1),
            )
            .unwrap();
        assert_eq!(
            decided.records.first(),
            Some(&MetadataRecord::FenceBroker {
                node_id: 1,
                broker_epoch: epoch_before
            })
        );
        cluster.apply(&decided.records);
        assert_eq!(
            cluster.metadata.broker(1).unwrap().incarnation,
            Uuid([2; 16])
        );
    }

    #[test]
    fn another_shard_count_is_refused_with_a_message_saying_so() {
        let mut cluster = Cluster::with_brokers(1);
        let error = cluster
            .sessions
            .register(&cluster.metadata, request(2, 1, 4), ms(0))
            .unwrap_err();
        assert!(matches!(
            error,
            MetadataError::Cluster(ClusterError::ShardCountMismatch {
                shard_count: 4,
                cluster_shard_count: 2,
                ..
            })
        ));
        assert!(error.to_string().contains("same shard count"), "{error}");
        let foreign = RegistrationRequest {
            cluster_id: "other".into(),
            ..request(2, 1, 2)
        };
        let error = cluster
            .sessions
            .register(&cluster.metadata, foreign, ms(0))
            .unwrap_err();
        assert!(matches!(
            error,
            MetadataError::Cluster(ClusterError::InconsistentClusterId { node_id: 2, .. })
        ));
        // The only broker may come back with another count: no other broker disagrees.
        let decided = cluster
            .sessions
            .register(&cluster.metadata, request(1, 1, 4), ms(0));
        assert!(decided.is_ok());
        cluster.apply(&decided.unwrap().records);
    }

    #[test]
    fn a_silent_broker_is_fenced_after_the_session_timeout_and_loses_its_leaderships() {
        let mut cluster = Cluster::with_brokers(3);
        let topic_id = cluster.create_topic(6, 3);
        let led_by_1 = cluster
            .leaders(topic_id)
            .iter()
            .filter(|l| **l == 1)
            .count();
        assert_eq!(led_by_1, 2);
        for now in [ms(1000), ms(2000), ms(3000)] {
            for node_id in [2, 3] {
                let hb = heartbeat(&cluster.metadata, node_id);
                cluster.beat(hb, now);
            }
            let records = cluster.sessions.expire(&cluster.metadata, now).unwrap();
            assert!(
                records.is_empty(),
                "nobody silent for more than 3 s at {now:?}"
            );
        }
        let records = cluster
            .sessions
            .expire(&cluster.metadata, ms(3001))
            .unwrap();
        cluster.apply(&records);
        assert!(cluster.metadata.broker(1).unwrap().fenced);
        assert!(!cluster.leaders(topic_id).contains(&1));
        for partition in cluster.metadata.recorded_partitions(topic_id) {
            assert!(!partition.isr.contains(&1), "{partition:?}");
            assert!(partition.leader != NO_LEADER);
        }
        // It comes back: unfenced, still out of the ISRs (it must catch up first).
        let hb = heartbeat(&cluster.metadata, 1);
        assert!(!cluster.beat(hb, ms(4000)).is_fenced);
        assert!(!cluster.leaders(topic_id).contains(&1));
    }

    #[test]
    fn an_unregistered_broker_is_fenced_first_and_forgotten() {
        let mut cluster = Cluster::with_brokers(2);
        let topic_id = cluster.create_topic(2, 2);
        let records = cluster.sessions.unregister(&cluster.metadata, 1).unwrap();
        assert!(matches!(
            records.first(),
            Some(MetadataRecord::FenceBroker { node_id: 1, .. })
        ));
        cluster.apply(&records);
        assert!(cluster.metadata.broker(1).is_none());
        assert_eq!(cluster.leaders(topic_id), vec![2, 2]);
        assert!(matches!(
            cluster.sessions.unregister(&cluster.metadata, 1),
            Err(MetadataError::Cluster(ClusterError::UnknownBroker {
                node_id: 1
            }))
        ));
    }

    #[test]
    fn fencing_the_leader_of_hundreds_of_partitions_is_one_batch() {
        let mut cluster = Cluster::with_brokers(3);
        let topic_id = cluster.create_topic(600, 3);
        let hb = heartbeat(&cluster.metadata, 2);
        cluster.beat(hb, ms(3000));
        let hb = heartbeat(&cluster.metadata, 3);
        cluster.beat(hb, ms(3000));
        let records = cluster
            .sessions
            .expire(&cluster.metadata, ms(3001))
            .unwrap();
        // The fence, then one change per partition broker 1 was in the ISR of (all of them).
        assert_eq!(records.len(), 1 + 600);
        cluster.apply(&records);
        let leaders = cluster.leaders(topic_id);
        assert!(leaders.iter().all(|leader| *leader == 2 || *leader == 3));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_then_fences() {
        let mut cluster = Cluster::with_brokers(2);
        let topic_id = cluster.create_topic(4, 2);
        let leaving = Heartbeat {
            wants_shutdown: true,
            ..heartbeat(&cluster.metadata, 1)
        };
        let reply = cluster.beat(leaving, ms(10));
        assert!(reply.should_shut_down && reply.is_fenced);
        assert_eq!(cluster.leaders(topic_id), vec![2; 4]);
        let single = {
            let mut cluster = Cluster::with_brokers(1);
            let topic_id = cluster.create_topic(1, 1);
            let leaving = Heartbeat {
                wants_shutdown: true,
                ..heartbeat(&cluster.metadata, 1)
            };
            assert!(cluster.beat(leaving, ms(10)).should_shut_down);
            let partition = cluster.metadata.partition(topic_id, 0).unwrap().clone();
            // Back after a restart: the ELR member leads again.
            cluster.register(1, 2, ms(20));
            let hb = heartbeat(&cluster.metadata, 1);
            cluster.beat(hb, ms(30));
            (
                partition,
                cluster.metadata.partition(topic_id, 0).unwrap().clone(),
            )
        };
        assert_eq!(
            (single.0.leader, single.0.elr.clone()),
            (NO_LEADER, vec![1])
        );
        assert_eq!((single.1.leader, single.1.isr.clone()), (1, vec![1]));
        assert!(single.1.leader_epoch > single.0.leader_epoch);
    }
}
