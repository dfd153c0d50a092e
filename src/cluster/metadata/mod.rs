//! Cluster metadata as a state machine over a log of records: topics (name, id, partition
//! count, config overrides), broker-level config overrides, broker registrations, per-partition
//! replica state and producer-id blocks.
//!
//! ```text
//! request ─▶ cluster::decisions (policy: may it happen?) ─▶ [MetadataRecord]
//!        ─▶ MetadataStore::save (durable)  ─▶ ClusterMetadata::apply (pure) ─▶ publish
//! ```
//! - `records/`: the [`MetadataRecord`] enum and its versioned binary encoding.
//! - `apply.rs`: [`ClusterMetadata::apply`], replay, snapshot and restore, all pure.
//! - `brokers.rs`: broker registrations and producer-id blocks, and their rules.
//! - `partitions.rs`: [`PartitionState`] and its rules (leader ∈ ISR ⊆ replicas, epochs only
//!   grow); partitions without a record read as the single-node default.
//! - `store/`: the controller's handle on the metadata log (commit, one-change gate), the log's
//!   applier `MetadataImage`, the snapshot encoding, and the upgrade of older brokers' files.
//!
//! `version` is a position in the metadata log: the number of records applied, which is the
//! offset the next record gets. A state is a pure function of the records applied to the empty
//! state, so the Raft log (CLUSTER.md, "The metadata log") plugs in by feeding committed records
//! to `apply` in offset order, and its snapshots are [`ClusterMetadata::snapshot_records`].
//!
//! Not owned here: whether a change is allowed (Kafka's validation and error messages live in
//! `cluster::decisions`), config defaults and value rules (`cluster::configs`), and running
//! the change (`cluster::controller`, shard 0).
//!
//! Invariants (checked by [`ClusterMetadata::check_invariants`] after every mutation): topic
//! names are unique and valid; topic ids are unique and non-zero; the id index agrees with the
//! topics; partition counts are in `1..=PARTITIONS_PER_TOPIC_MAX` and only grow; recorded
//! partitions belong to existing topics and keep `partitions.rs`'s rules; registrations are
//! valid and keyed by their node id; producer-id blocks lie below `producer_id_next`.
//!
//! Runs on every shard: shard 0 (the controller) applies records and persists; every shard
//! holds an `Arc` of the latest state, read-only.
mod apply;
mod brokers;
mod partitions;
mod records;
mod scram_credentials;
mod store;

pub use brokers::{
    BrokerRegistration, CLIENT_LISTENER, CONTROLLER_LISTENER, Listener, ProducerIdBlock,
    client_listener_name, client_listeners,
};
pub use partitions::{NO_LEADER, PartitionDelta, PartitionState, PartitionStateError};
pub use records::{MetadataRecord, RecordDecodeError, RecordType};
pub use scram_credentials::{
    CredentialError, ScramCredential, ScramMechanism, validate_credential,
};
pub use store::{
    LegacyFileError, MetadataFileError, MetadataImage, MetadataStore, SnapshotDecodeError,
    decode_snapshot, encode_snapshot,
};

use super::acls::{AclError, AclTable};
use super::configs::ConfigError;
use super::quorum::QuorumError;
use super::quotas::{ClientQuotas, QuotaError};
use super::topic_name::TopicNameError;
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::protocol::{ErrorCode, Uuid};
use crate::shard::MeshError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub partition_count: i32,
    /// Topic-level overrides only; see `configs::effective` for resolved values.
    pub configs: BTreeMap<String, String>,
}

/// The cluster's metadata after `version` records. Replaced, never mutated, once published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Records applied so far: the metadata log offset of the next record.
    pub version: u64,
    pub cluster_id: String,
    /// Read-only outside this module: changes go through records (`apply`), which keep the
    /// id index in step.
    pub topics: BTreeMap<String, Arc<TopicMetadata>>,
    /// Broker-level overrides set with IncrementalAlterConfigs, keyed by broker config name.
    pub broker_configs: BTreeMap<String, String>,
    /// Topic id → name, so records (which name topics by id, as Kafka's do) and id-based
    /// requests resolve in O(log n).
    topic_names_by_id: BTreeMap<Uuid, String>,
    /// Registered brokers by node id.
    brokers: BTreeMap<i32, Arc<BrokerRegistration>>,
    /// Recorded partition states per topic id, in partition order: a prefix of the topic's
    /// partitions (the rest read as the single-node default, `partitions.rs`).
    partitions: BTreeMap<Uuid, Arc<Vec<PartitionState>>>,
    /// Sum of the recorded partitions' counts, kept in step so the cluster-wide bound is O(1).
    recorded_partition_total: usize,
    /// The first producer id not yet in a block.
    producer_id_next: i64,
    /// The latest block each broker was given.
    producer_id_blocks: BTreeMap<i32, ProducerIdBlock>,
    /// SCRAM credentials by user, then mechanism (`scram_credentials.rs`); no empty inner map.
    scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// The ACLs (`AclCreated` / `AclRemoved`); shared until an ACL record changes them.
    acls: Arc<AclTable>,
    /// Client quotas (`ClientQuota` records); shared until a quota record changes them.
    client_quotas: Arc<ClientQuotas>,
}

/// Why a metadata change is refused or failed. Each maps to one Kafka error code in the
/// handlers (`handlers::common::metadata_error_code`).
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("topic {name:?} already exists")]
    TopicAlreadyExists { name: String },
    #[error("topic {name:?} collides with existing topic {existing:?} ('.' and '_' collide)")]
    TopicCollision { name: String, existing: String },
    #[error("unknown topic {name:?}")]
    UnknownTopic { name: String },
    /// A record names a topic id the state does not hold.
    #[error("unknown topic id {topic_id:?}")]
    UnknownTopicId { topic_id: Uuid },
    /// A record would create a topic under the zero id or an id another topic has.
    #[error("topic id {topic_id:?} is zero or already taken")]
    TopicIdTaken { topic_id: Uuid },
    #[error(transparent)]
    InvalidTopicName(#[from] TopicNameError),
    #[error("invalid partition count {count} (must be 1..={PARTITIONS_PER_TOPIC_MAX})")]
    InvalidPartitionCount { count: i32 },
    #[error("topic {name:?} has {current} partitions; it can only grow, not become {requested}")]
    PartitionsCannotShrink {
        name: String,
        current: i32,
        requested: i32,
    },
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// The change's records would not fit one record (`METADATA_RECORD_SIZE_MAX`).
    #[error("metadata record of {size} bytes exceeds the limit of {size_max} bytes")]
    RecordTooLarge { size: usize, size_max: usize },
    /// The change could not be made durable; nothing changed.
    #[error("metadata change not persisted: {source}")]
    Persist { source: Box<MetadataFileError> },
    /// The controller shard stopped before answering: the broker is shutting down. Nothing
    /// changed unless the change was persisted just before (then it is there after a restart).
    #[error("the controller is shutting down: {source}")]
    ControllerUnavailable { source: MeshError },
    /// A broker, partition or producer-id record or decision is refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// An ACL record or CreateAcls/DeleteAcls decision is refused.
    #[error(transparent)]
    Acl(#[from] AclError),
    /// A client quota record or AlterClientQuotas alteration is refused.
    #[error(transparent)]
    Quota(#[from] QuotaError),
    /// The active controller (another broker) refused or failed a forwarded change: its
    /// error code and message, as it would have answered the client itself.
    #[error("{message}")]
    Forwarded { code: ErrorCode, message: String },
    /// A SCRAM credential record or upsertion breaks the credential rules.
    #[error(transparent)]
    InvalidScramCredential(#[from] CredentialError),
    #[error("user {user:?} has no {mechanism} credential")]
    ScramCredentialNotFound {
        user: String,
        mechanism: &'static str,
    },
    #[error("the metadata holds the most SCRAM credentials it may")]
    ScramCredentialsFull,
}

impl MetadataError {
    /// The Kafka error code a client sees for this error.
    #[must_use]
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::TopicAlreadyExists { .. } | Self::TopicCollision { .. } => {
                ErrorCode::TopicAlreadyExists
            }
            Self::UnknownTopic { .. } => ErrorCode::UnknownTopicOrPartition,
            Self::UnknownTopicId { .. } => ErrorCode::UnknownTopicId,
            Self::InvalidTopicName(_) => ErrorCode::InvalidTopicException,
            Self::InvalidPartitionCount { .. } | Self::PartitionsCannotShrink { .. } => {
                ErrorCode::InvalidPartitions
            }
            Self::InvalidConfig(_) => ErrorCode::InvalidConfig,
            // Kafka's controller answers a batch too large for its log with POLICY_VIOLATION.
            Self::RecordTooLarge { .. } => ErrorCode::PolicyViolation,
            // A random 122-bit id clashing: a server fault, not the client's doing.
            Self::TopicIdTaken { .. } => ErrorCode::UnknownServerError,
            // Not committed by the metadata quorum: not a storage fault.
            Self::Persist { source } => match source.as_ref() {
                MetadataFileError::Quorum { source } => quorum_error_code(source),
                // The disk refused the write: what Kafka answers for a failed log dir.
                _ => ErrorCode::KafkaStorageError,
            },
            // Shutting down is not a storage fault. Kafka's controller fails requests queued
            // while it shuts down with a TimeoutException ("The controller is shutting
            // down."), which clients see as the retriable REQUEST_TIMED_OUT and retry against
            // the restarted (or, in a cluster, the next) controller.
            Self::ControllerUnavailable { .. } => ErrorCode::RequestTimedOut,
            Self::Cluster(error) => error.error_code(),
            Self::Acl(error) => error.error_code(),
            Self::Quota(error) => error.error_code(),
            Self::Forwarded { code, .. } => *code,
            Self::InvalidScramCredential(_) => ErrorCode::UnacceptableCredential,
            Self::ScramCredentialNotFound { .. } => ErrorCode::ResourceNotFound,
            Self::ScramCredentialsFull => ErrorCode::PolicyViolation,
        }
    }
}

/// What a client is told when the metadata log did not commit a change. No active controller
/// reachable is NOT_CONTROLLER, as Kafka answers when it cannot find one (clients refresh
/// metadata and retry); a leader change during the proposal, a timeout or a stopped quorum
/// are REQUEST_TIMED_OUT: retriable, the outcome is for the client to look up.
fn quorum_error_code(error: &QuorumError) -> ErrorCode {
    match error {
        QuorumError::NotLeader { .. } => ErrorCode::NotController,
        QuorumError::LeaderChanged { .. } | QuorumError::Timeout { .. } | QuorumError::ShutDown => {
            ErrorCode::RequestTimedOut
        }
        _ => ErrorCode::KafkaStorageError,
    }
}

/// Why a record or decision about brokers, partitions or producer ids is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("broker {node_id} is not registered")]
    UnknownBroker { node_id: i32 },
    /// The broker's data dir belongs to another cluster (KRaft's InconsistentClusterIdException).
    #[error(
        "broker {node_id} belongs to cluster {requested:?}, not {expected:?}: its data dir is \
         another cluster's"
    )]
    InconsistentClusterId {
        node_id: i32,
        expected: String,
        requested: String,
    },
    #[error("broker {node_id} is at epoch {current}, not {requested}")]
    StaleBrokerEpoch {
        node_id: i32,
        current: i64,
        requested: i64,
    },
    #[error("broker {node_id}'s epoch {requested} is not above its current {current}")]
    BrokerEpochNotRaised {
        node_id: i32,
        current: i64,
        requested: i64,
    },
    #[error("registration of broker {node_id} has an invalid {field}")]
    InvalidRegistration { node_id: i32, field: &'static str },
    #[error("the cluster already has {count_max} brokers")]
    TooManyBrokers { count_max: usize },
    /// Another incarnation of the node is registered and its session is live (KRaft's
    /// DuplicateBrokerRegistrationException).
    #[error("another broker is registered with node id {node_id} and is alive")]
    DuplicateBrokerRegistration { node_id: i32 },
    #[error(
        "broker {node_id} has {shard_count} shards but the cluster's brokers have \
         {cluster_shard_count}: a partition lives on the same shard index on every broker, so \
         every broker must run the same shard count"
    )]
    ShardCountMismatch {
        node_id: i32,
        shard_count: i32,
        cluster_shard_count: i32,
    },
    #[error("partition {partition} of topic {topic_id:?} does not exist or has no record")]
    UnknownPartition { topic_id: Uuid, partition: i32 },
    #[error("partition {partition} of topic {topic_id:?} recorded before {expected}")]
    PartitionOutOfOrder {
        topic_id: Uuid,
        partition: i32,
        expected: i32,
    },
    #[error("partition {partition} of topic {topic_id:?}: {source}")]
    InvalidPartition {
        topic_id: Uuid,
        partition: i32,
        source: PartitionStateError,
    },
    #[error("the cluster would have more than {count_max} partitions")]
    TooManyPartitions { count_max: usize },
    /// Kafka's message (it crosses forwarding as text): `placement`'s rules.
    #[error("{}", invalid_replication_factor(*replication_factor, *brokers))]
    InvalidReplicationFactor {
        replication_factor: i32,
        brokers: usize,
    },
    /// A manual replica assignment the brokers cannot hold; `reason` is Kafka's message.
    #[error("{reason}")]
    InvalidReplicaAssignment { reason: String },
    /// A request that contradicts itself (a manual assignment with a replication factor or
    /// partition count); `reason` is Kafka's message.
    #[error("{reason}")]
    InvalidPlacementRequest { reason: String },
    #[error("producer id block [{first}, +{size}) is invalid; the next free id is {next}")]
    InvalidProducerIdBlock { first: i64, size: i32, next: i64 },
    #[error("producer ids are exhausted")]
    ProducerIdsExhausted,
    /// AlterPartition based on epochs newer than this controller's: it is likely stale.
    #[error(
        "the proposal's leader epoch {leader_epoch} or partition epoch {partition_epoch} is \
         ahead of this controller's"
    )]
    PartitionEpochsAhead {
        leader_epoch: i32,
        partition_epoch: i32,
    },
    #[error("leader epoch {requested} is stale: the partition is at {current}")]
    FencedLeaderEpoch { current: i32, requested: i32 },
    #[error("partition epoch {requested} is stale: the partition is at {current}")]
    InvalidUpdateVersion { current: i32, requested: i32 },
    /// An AlterPartition that contradicts the partition (not its leader, a bad ISR).
    #[error("{reason}")]
    InvalidIsrChange { reason: String },
    /// A proposed ISR member that may not be in an ISR (KIP-903's INELIGIBLE_REPLICA).
    #[error("replica {node_id} may not join the ISR: {reason}")]
    IneligibleReplica { node_id: i32, reason: &'static str },
    /// A cancellation of a partition that is not being reassigned (KIP-455).
    #[error("no reassignment is in progress for the partition")]
    NoReassignmentInProgress,
    /// More partitions would be reassigned at once than `REASSIGNMENTS_IN_FLIGHT_MAX`.
    #[error("{in_flight} partitions would be reassigned at once (at most {count_max})")]
    TooManyReassignments { in_flight: usize, count_max: usize },
}

/// Kafka's INVALID_REPLICATION_FACTOR messages (`ReplicationControlManager`), and ours for
/// a factor above `REPLICAS_PER_PARTITION_MAX`.
fn invalid_replication_factor(factor: i32, brokers: usize) -> String {
    let replicas_max = crate::limits::REPLICAS_PER_PARTITION_MAX;
    if factor < 1 {
        "Replication factor must be larger than 0, or -1 to use the default value.".to_owned()
    } else if usize::try_from(factor).is_ok_and(|factor| factor > brokers) {
        format!(
            "Unable to replicate the partition {factor} time(s): The target replication factor \
             of {factor} cannot be reached because only {brokers} broker(s) are registered."
        )
    } else {
        format!("Replication factor {factor} is above the supported maximum of {replicas_max}.")
    }
}

impl ClusterError {
    /// The Kafka error code a client or broker sees for this refusal.
    #[must_use]
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            Self::UnknownBroker { .. } => ErrorCode::BrokerIdNotRegistered,
            Self::InconsistentClusterId { .. } => ErrorCode::InconsistentClusterId,
            Self::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
            Self::DuplicateBrokerRegistration { .. } => ErrorCode::DuplicateBrokerRegistration,
            Self::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
            Self::InvalidReplicaAssignment { .. } => ErrorCode::InvalidReplicaAssignment,
            Self::InvalidPlacementRequest { .. } => ErrorCode::InvalidRequest,
            Self::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            Self::TooManyPartitions { .. } => ErrorCode::InvalidPartitions,
            Self::PartitionEpochsAhead { .. } => ErrorCode::NotController,
            Self::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            Self::InvalidUpdateVersion { .. } => ErrorCode::InvalidUpdateVersion,
            Self::InvalidIsrChange { .. } => ErrorCode::InvalidRequest,
            Self::IneligibleReplica { .. } => ErrorCode::IneligibleReplica,
            Self::NoReassignmentInProgress => ErrorCode::NoReassignmentInProgress,
            Self::TooManyReassignments { .. } => ErrorCode::PolicyViolation,
            Self::ShardCountMismatch { .. } | Self::InvalidRegistration { .. } => {
                ErrorCode::InvalidRequest
            }
            // Records the controller itself wrote and refused: a server fault.
            Self::BrokerEpochNotRaised { .. }
            | Self::TooManyBrokers { .. }
            | Self::PartitionOutOfOrder { .. }
            | Self::InvalidPartition { .. }
            | Self::InvalidProducerIdBlock { .. }
            | Self::ProducerIdsExhausted => ErrorCode::UnknownServerError,
        }
    }
}

impl From<MetadataFileError> for MetadataError {
    fn from(source: MetadataFileError) -> Self {
        Self::Persist {
            source: Box::new(source),
        }
    }
}

impl ClusterMetadata {
    /// The state before any record: no topics, no overrides, version 0.
    #[must_use]
    pub fn empty(cluster_id: String) -> Self {
        Self {
            version: 0,
            cluster_id,
            topics: BTreeMap::new(),
            broker_configs: BTreeMap::new(),
            topic_names_by_id: BTreeMap::new(),
            brokers: BTreeMap::new(),
            partitions: BTreeMap::new(),
            recorded_partition_total: 0,
            producer_id_next: 0,
            producer_id_blocks: BTreeMap::new(),
            scram_credentials: BTreeMap::new(),
            acls: Arc::default(),
            client_quotas: Arc::default(),
        }
    }

    /// An empty cluster with a fresh random id.
    #[must_use]
    pub fn new_cluster() -> Self {
        Self::empty(cluster_id_from(random_uuid()))
    }

    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    /// The topic with `topic_id`; `None` for the zero id.
    #[must_use]
    pub fn topic_by_id(&self, topic_id: Uuid) -> Option<&Arc<TopicMetadata>> {
        let name = self.topic_names_by_id.get(&topic_id)?;
        self.topics.get(name)
    }

    /// # Panics
    /// When an invariant in the module docs is broken (a programmer error).
    pub fn check_invariants(&self) {
        assert_eq!(
            self.topics.len(),
            self.topic_names_by_id.len(),
            "id index out of step with the topics"
        );
        for (name, topic) in &self.topics {
            assert_eq!(name, &topic.name, "topic keyed under another name");
            assert!(!topic.topic_id.is_zero(), "topic {name} has the zero id");
            assert_eq!(
                self.topic_names_by_id.get(&topic.topic_id),
                Some(name),
                "topic {name}'s id is not indexed to it"
            );
            assert!(
                (1..=PARTITIONS_PER_TOPIC_MAX).contains(&topic.partition_count),
                "topic {name} has {} partitions",
                topic.partition_count
            );
        }
        self.check_broker_invariants();
        self.check_partition_invariants();
        self.check_scram_invariants();
        self.acls.check_invariants();
        self.client_quotas.check_invariants();
    }

    /// The ACLs the cluster holds.
    #[must_use]
    pub fn acls(&self) -> &AclTable {
        &self.acls
    }

    /// The client quotas (`cluster::quotas`).
    #[must_use]
    pub fn client_quotas(&self) -> &ClientQuotas {
        &self.client_quotas
    }

    /// Recorded partitions across all topics.
    #[must_use]
    pub fn recorded_partition_count(&self) -> usize {
        self.recorded_partition_total
    }
}

/// A random (v4) UUID from the kernel's CSPRNG.
///
/// # Panics
/// When the kernel gives no random bytes (getrandom(2) fails 16 times in a row).
#[must_use]
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    // getrandom(2) on a 16-byte buffer returns it whole once the pool is initialised; the loop
    // is bounded in case of EINTR.
    for _ in 0..16 {
        if filled == bytes.len() {
            break;
        }
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if let Ok(got) = usize::try_from(got) {
            filled += got;
        }
    }
    assert_eq!(filled, bytes.len(), "getrandom failed");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

/// Kafka's cluster id format: the UUID in URL-safe base64 without padding (22 characters).
#[must_use]
pub fn cluster_id_from(uuid: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for byte in uuid.0 {
        bits = (bits << 8) | u32::from(byte);
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            out.push(char::from(ALPHABET[((bits >> bit_count) & 0x3f) as usize]));
        }
    }
    if bit_count > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - bit_count)) & 0x3f) as usize],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_is_22_url_safe_characters() {
        let id = cluster_id_from(Uuid([0xff; 16]));
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(random_uuid(), random_uuid());
    }

    #[test]
    fn cluster_refusals_map_to_kafka_codes() {
        let cases = [
            (
                ClusterError::InvalidReplicationFactor {
                    replication_factor: 3,
                    brokers: 1,
                },
                ErrorCode::InvalidReplicationFactor,
            ),
            (
                ClusterError::DuplicateBrokerRegistration { node_id: 1 },
                ErrorCode::DuplicateBrokerRegistration,
            ),
            (
                ClusterError::StaleBrokerEpoch {
                    node_id: 1,
                    current: 2,
                    requested: 1,
                },
                ErrorCode::StaleBrokerEpoch,
            ),
            (
                ClusterError::UnknownBroker { node_id: 1 },
                ErrorCode::BrokerIdNotRegistered,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.error_code(), code, "{error}");
        }
    }

    #[test]
    fn cluster_id_fixed_vector() {
        // 0x00 0x10 0x83 … : the base64 alphabet's first characters in order.
        let mut bytes = [0u8; 16];
        bytes[..3].copy_from_slice(&[0x00, 0x10, 0x83]);
        assert!(cluster_id_from(Uuid(bytes)).starts_with("ABCD"));
    }
}
