//! The simulated metadata quorum and the active controller on it.
//!
//! Why not openraft: our quorum (`cluster::quorum`, `MetadataQuorum`) runs openraft on the
//! compio runtime, with real timers and async tasks; driving it from one thread with a virtual
//! clock would need a simulated async runtime that openraft's timers and spawned tasks obey,
//! which is a project of its own. What the replication and controller code relies on is the
//! trait's guarantee, not Raft's mechanics: one totally ordered log of committed entries, an
//! entry never lost once committed, a leader that can change, and no commit while the leader
//! cannot reach a majority. [`SimQuorum`] gives exactly that: one committed log; the
//! controller (the quorum leader) commits only while it is up and reaches a majority of the
//! voters (every broker is a voter, as in KRaft's combined mode); when it cannot for
//! `CONTROLLER_ELECTION_TIMEOUT`, a voter that reaches a majority takes over, and starts every
//! broker session afresh (`BrokerSessions::activate`), as a new KRaft controller does. Raft
//! itself is tested by the quorum's own process tests (`tests/quorum_raft.rs`).
//!
//! The controller's decisions are the real ones: `BrokerSessions` (registration, heartbeats,
//! fencing after the session timeout with elections), `decisions::decide_with` for
//! AlterPartition, topic creation, AlterPartitionReassignments and the reassignment timer's
//! completions, and `ClusterMetadata::apply` for every record.
//! Runs on the simulator's thread.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster::decisions::{self, MetadataChange, PartitionReassignment};
use crate::cluster::metadata::{ClusterMetadata, Listener, MetadataError, MetadataRecord};
use crate::cluster::policy::election::ElectionPolicy;
use crate::cluster::policy::isr::AlterPartitionRequest;
use crate::cluster::policy::lifecycle::{
    BrokerSessions, Heartbeat, HeartbeatReply, RegistrationRequest,
};
use crate::cluster::policy::reassign;
use crate::protocol::{ErrorCode, Uuid};

use super::NodeId;

/// How long the quorum may be without a usable leader before a voter takes over (Raft's
/// election timeout, order of KRaft's default 1 s).
pub const CONTROLLER_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// `broker.session.timeout.ms` in the simulation: 9 s is Kafka's default; 2 s keeps runs
/// short while staying 8 heartbeat intervals long.
pub const SESSION_TIMEOUT: Duration = Duration::from_millis(2000);
/// Metadata records one fetch answer carries.
pub const METADATA_FETCH_RECORDS_MAX: usize = 64;
/// The cluster id every simulated broker registers with.
pub const CLUSTER_ID: &str = "ringsim";

/// One committed log, its applied state, and the active controller.
#[derive(Debug)]
pub struct SimQuorum {
    log: Vec<MetadataRecord>,
    state: ClusterMetadata,
    controller: NodeId,
    sessions: BrokerSessions,
    /// Since when the controller could not commit.
    unavailable_since: Option<Duration>,
    /// The leader epoch and partition epoch last committed per partition key.
    partition_epochs: BTreeMap<(Uuid, i32), (i32, i32)>,
    pub controller_changes: u64,
}

/// Why a commit failed: a record the decisions made did not apply (a bug in the cores), or
/// an epoch went back.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("decided record refused: {0}")]
    Refused(#[from] MetadataError),
    #[error("partition {partition} epochs went back from {from:?} to {to:?}")]
    EpochWentBack {
        partition: i32,
        from: (i32, i32),
        to: (i32, i32),
    },
}

fn policy() -> ElectionPolicy {
    ElectionPolicy::default()
}

impl SimQuorum {
    #[must_use]
    pub fn new(controller: NodeId, now: Duration) -> Self {
        let mut sessions = BrokerSessions::new(SESSION_TIMEOUT, policy());
        let state = ClusterMetadata::empty(CLUSTER_ID.into());
        sessions.activate(&state, now);
        SimQuorum {
            log: Vec::new(),
            state,
            controller,
            sessions,
            unavailable_since: None,
            partition_epochs: BTreeMap::new(),
            controller_changes: 0,
        }
    }

    #[must_use]
    pub fn controller(&self) -> NodeId {
        self.controller
    }
    #[must_use]
    pub fn state(&self) -> &ClusterMetadata {
        &self.state
    }

    /// Committed records from `from`, at most `METADATA_FETCH_RECORDS_MAX`.
    #[must_use]
    pub fn read(&self, from: u64) -> Vec<MetadataRecord> {
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.log.len());
        let end = (start + METADATA_FETCH_RECORDS_MAX).min(self.log.len());
        self.log
            .get(start..end)
            .map(<[MetadataRecord]>::to_vec)
            .unwrap_or_default()
    }

    /// Commits `records`: applied to the state, appended to the log.
    ///
    /// # Errors
    /// A record that does not apply, or partition epochs going back.
    pub fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), CommitError> {
        let next = self.state.apply_all(&records)?;
        for (topic_id, partition, state) in next.all_partitions() {
            let to = (state.leader_epoch, state.partition_epoch);
            let from = self.partition_epochs.insert((topic_id, partition), to);
            if let Some(from) = from.filter(|from| from.0 > to.0 || from.1 > to.1) {
                return Err(CommitError::EpochWentBack {
                    partition,
                    from,
                    to,
                });
            }
        }
        self.state = next;
        self.log.extend(records);
        assert_eq!(
            u64::try_from(self.log.len()).ok(),
            Some(self.state.version),
            "log and state out of step"
        );
        Ok(())
    }

    /// Updates availability: `can_commit` says whether the controller is up and reaches a
    /// majority now; `candidates` are the voters that could take over. Returns the new
    /// controller when it changed.
    pub fn update_leadership(
        &mut self,
        can_commit: bool,
        candidates: &[NodeId],
        pick: usize,
        now: Duration,
    ) -> Option<NodeId> {
        if can_commit {
            self.unavailable_since = None;
            return None;
        }
        let since = *self.unavailable_since.get_or_insert(now);
        if now.saturating_sub(since) < CONTROLLER_ELECTION_TIMEOUT || candidates.is_empty() {
            return None;
        }
        let next = candidates[pick % candidates.len()];
        self.controller = next;
        self.controller_changes += 1;
        self.unavailable_since = None;
        self.sessions = BrokerSessions::new(SESSION_TIMEOUT, policy());
        self.sessions.activate(&self.state, now);
        Some(next)
    }

    /// A broker's registration; its broker epoch, or `None` when refused.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn register(
        &mut self,
        node_id: NodeId,
        incarnation: u64,
        now: Duration,
    ) -> Result<Option<i64>, CommitError> {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&incarnation.to_be_bytes());
        id[8..12].copy_from_slice(&node_id.to_be_bytes());
        let request = RegistrationRequest {
            cluster_id: CLUSTER_ID.into(),
            node_id,
            incarnation: Uuid(id),
            listeners: vec![Listener {
                name: "CLIENT".into(),
                host: "sim".into(),
                port: 9092,
            }],
            shard_count: 1,
            rack: None,
            previous_broker_epoch: None,
        };
        let Ok(decided) = self.sessions.register(&self.state, request, now) else {
            return Ok(None);
        };
        self.commit(decided.records)?;
        Ok(Some(decided.outcome))
    }

    /// A broker's heartbeat; the reply, or `None` for a stale epoch.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn heartbeat(
        &mut self,
        heartbeat: Heartbeat,
        now: Duration,
    ) -> Result<Option<HeartbeatReply>, CommitError> {
        let Ok(decided) = self.sessions.heartbeat(&self.state, heartbeat, now) else {
            return Ok(None);
        };
        self.commit(decided.records)?;
        Ok(Some(decided.outcome))
    }

    /// A leader's AlterPartition: `None` when accepted, else the refusal's code.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn alter_partition(
        &mut self,
        request: AlterPartitionRequest,
    ) -> Result<Option<ErrorCode>, CommitError> {
        self.decide_and_commit(&MetadataChange::AlterPartition(request))
    }

    /// An admin's AlterPartitionReassignments (KIP-455) for one partition: `target` starts
    /// or replaces its reassignment, `None` cancels it. The real decision
    /// (`decisions::decide_with`, `policy::reassign`), committed whole or refused: `None` when
    /// committed, else the refusal's code, as the admin client would get it.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn reassign(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        target: Option<Vec<i32>>,
    ) -> Result<Option<ErrorCode>, CommitError> {
        let reassignments = vec![PartitionReassignment {
            topic_id,
            partition,
            target,
        }];
        let change = MetadataChange::AlterPartitionReassignments { reassignments };
        self.decide_and_commit(&change)
    }

    /// The controller's reassignment timer (`ActiveController::complete_reassignments`):
    /// completes every in-flight reassignment whose target replicas are in sync — how a new
    /// controller resumes the ones it inherits.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn complete_reassignments(&mut self) -> Result<(), CommitError> {
        let in_flight = self
            .state
            .all_partitions()
            .any(|(_, _, state)| reassign::in_progress(state));
        if !in_flight {
            return Ok(());
        }
        let refused = self.decide_and_commit(&MetadataChange::CompleteReassignments)?;
        assert_eq!(refused, None, "completing reassignments is never refused");
        Ok(())
    }

    fn decide_and_commit(
        &mut self,
        change: &MetadataChange,
    ) -> Result<Option<ErrorCode>, CommitError> {
        let sessions = &self.sessions;
        let shutting_down = |node: i32| sessions.shutting_down(node);
        match decisions::decide_with(&self.state, change, self.controller, &shutting_down) {
            Ok(records) => self.commit(records).map(|()| None),
            Err(error) => Ok(Some(error.error_code())),
        }
    }

    /// Fences brokers whose session expired.
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn expire(&mut self, now: Duration) -> Result<(), CommitError> {
        let records = self.sessions.expire(&self.state, now)?;
        self.commit(records)
    }

    /// Creates the simulated topic (once every broker is registered and unfenced).
    ///
    /// # Errors
    /// A decided record that does not apply.
    pub fn create_topic(
        &mut self,
        topic: (&str, Uuid),
        partition_count: i32,
        replication_factor: i16,
        min_insync_replicas: usize,
    ) -> Result<(), CommitError> {
        let configs = BTreeMap::from([(
            "min.insync.replicas".to_string(),
            min_insync_replicas.to_string(),
        )]);
        let change = MetadataChange::CreateTopic {
            name: topic.0.into(),
            topic_id: topic.1,
            partition_count,
            replication_factor,
            assignments: Vec::new(),
            configs,
            random_start: 0,
        };
        let records = decisions::decide(&self.state, &change, self.controller)?;
        self.commit(records)
    }
}
