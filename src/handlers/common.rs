//! Helpers shared by handlers: mapping subsystem errors to Kafka error codes, finding the shard
//! that owns a partition, running per-partition work on the owning shards (one mesh message per
//! shard), resolving topics by name or id, and the cluster as clients see it: which brokers
//! they are told about ([`client_brokers`], [`controller_id`]) and whether this broker serves a
//! partition's data requests ([`serve_partition`]: leadership and leader-epoch fencing, from the
//! metadata's partition records). Runs on the connection's shard; the cluster-view functions
//! are pure (a metadata snapshot in, an answer out) so they are tested without a runtime.
use crate::broker::Shard;
use crate::cluster::ClusterMetadata;
use crate::cluster::controller;
use crate::cluster::metadata::{BrokerRegistration, CLIENT_LISTENER, NO_LEADER};
use crate::cluster::{MetadataError, TopicMetadata};
use crate::config::Config;
use crate::protocol::{ErrorCode, Uuid};
use crate::shard::{MeshError, shard_for};
use crate::storage::PartitionKey;
use crate::storage::{StorageError, StorageErrorKind};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

/// The Kafka error code for a storage failure.
#[must_use]
pub fn storage_error_code(error: &StorageError) -> ErrorCode {
    match error.kind() {
        StorageErrorKind::CorruptMessage => ErrorCode::CorruptMessage,
        StorageErrorKind::InvalidRecord => ErrorCode::InvalidRecord,
        StorageErrorKind::MessageTooLarge => ErrorCode::MessageTooLarge,
        StorageErrorKind::InvalidTimestamp => ErrorCode::InvalidTimestamp,
        StorageErrorKind::OffsetOutOfRange => ErrorCode::OffsetOutOfRange,
        StorageErrorKind::UnknownPartition => ErrorCode::UnknownTopicOrPartition,
        StorageErrorKind::Storage => ErrorCode::KafkaStorageError,
        StorageErrorKind::OutOfOrderSequence => ErrorCode::OutOfOrderSequenceNumber,
        StorageErrorKind::InvalidProducerEpoch => ErrorCode::InvalidProducerEpoch,
        StorageErrorKind::Replication => ErrorCode::UnknownServerError,
    }
}

/// The Kafka error code for a refused metadata change.
#[must_use]
pub fn metadata_error_code(error: &MetadataError) -> ErrorCode {
    error.error_code()
}

/// The next answer of `per_owning_shard` (which answers every partition it was given, in
/// order), its storage error as the partition's error code.
pub fn next_owner_answer<T>(
    answers: &mut impl Iterator<Item = Result<T, StorageError>>,
) -> Result<T, ErrorCode> {
    match answers.next() {
        Some(result) => result.map_err(|error| storage_error_code(&error)),
        // `per_owning_shard` answers every partition it was given; never reached.
        None => Err(ErrorCode::UnknownServerError),
    }
}

/// The shard that owns `key`.
#[must_use]
pub fn owner(shard: &Shard, key: PartitionKey) -> usize {
    shard_for(key.topic_id, key.partition, shard.count())
}

/// Runs `each(owner, key, argument)` for every item on the shard that owns `key`: one mesh
/// message per owning shard, the shards concurrently, each shard's items in input order (so a
/// partition named twice is handled in request order). Returns one output per item, in input
/// order.
///
/// # Errors
/// When an owning shard stopped (shutdown).
///
/// # Panics
/// When a call panicked on its shard (the panic is propagated: a bug).
pub async fn per_owning_shard<T, R, F, Fut>(
    shard: &Rc<Shard>,
    items: Vec<(PartitionKey, T)>,
    each: F,
) -> Result<Vec<R>, MeshError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Rc<Shard>, PartitionKey, T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let count = items.len();
    let mut per_shard: BTreeMap<usize, Vec<(usize, PartitionKey, T)>> = BTreeMap::new();
    for (index, (key, argument)) in items.into_iter().enumerate() {
        let target = owner(shard, key);
        per_shard
            .entry(target)
            .or_default()
            .push((index, key, argument));
    }
    assert!(per_shard.len() <= shard.count(), "more targets than shards");
    // Spawned first, awaited after: the shards work at the same time.
    let calls: Vec<_> = per_shard
        .into_iter()
        .map(|(target, batch)| {
            let shard = Rc::clone(shard);
            let each = each.clone();
            compio::runtime::spawn(async move {
                shard
                    .invoke_on(target, move |owner| async move {
                        let mut outputs = Vec::with_capacity(batch.len());
                        for (index, key, argument) in batch {
                            outputs.push((index, each(Rc::clone(&owner), key, argument).await));
                        }
                        outputs
                    })
                    .await
            })
        })
        .collect();
    let mut outputs: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for call in calls {
        // A join error means the spawned call panicked: a bug, so propagate the panic.
        let reply = call
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
        for (index, output) in reply? {
            if let Some(slot) = outputs.get_mut(index) {
                *slot = Some(output);
            }
        }
    }
    let outputs: Vec<R> = outputs.into_iter().flatten().collect();
    assert_eq!(outputs.len(), count, "every item answered exactly once");
    Ok(outputs)
}

/// A topic looked up by name, created when auto-creation is on and `allow_create` (Metadata v4+
/// lets the client forbid it). Errors are the Kafka codes to answer with.
pub async fn resolve_topic_by_name(
    shard: &Rc<Shard>,
    name: &str,
    allow_create: bool,
) -> Result<Arc<TopicMetadata>, ErrorCode> {
    if let Some(topic) = controller::metadata(shard).topic(name) {
        return Ok(Arc::clone(topic));
    }
    if crate::cluster::topic_name::validate(name).is_err() {
        return Err(ErrorCode::InvalidTopicException);
    }
    let partitions = shard.config().auto_create_partitions;
    if !allow_create || partitions <= 0 {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    controller::get_or_create_topic(shard, name, partitions)
        .await
        .map_err(|error| metadata_error_code(&error))
}

/// A topic looked up by id (newer Fetch/Produce/Metadata versions).
///
/// # Errors
/// `UNKNOWN_TOPIC_ID`.
pub fn resolve_topic_by_id(shard: &Shard, topic_id: Uuid) -> Result<Arc<TopicMetadata>, ErrorCode> {
    controller::metadata(shard)
        .topic_by_id(topic_id)
        .cloned()
        .ok_or(ErrorCode::UnknownTopicId)
}

/// Whether `partition` exists in `topic`.
#[must_use]
pub fn has_partition(topic: &TopicMetadata, partition: i32) -> bool {
    (0..topic.partition_count).contains(&partition)
}

/// `current_leader_epoch` that asks for no fencing check (Kafka's `NO_PARTITION_LEADER_EPOCH`).
pub const NO_CURRENT_LEADER_EPOCH: i32 = -1;

/// A partition's leader and leader epoch as this broker's metadata says (KIP-951's
/// `CurrentLeader`); `leader_id` may be [`NO_LEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leader {
    pub leader_id: i32,
    pub leader_epoch: i32,
}

/// Why this broker does not serve a data request for a partition: the error code, and the
/// partition's leader when the partition exists (for KIP-951's `CurrentLeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotServed {
    pub error_code: ErrorCode,
    pub leader: Option<Leader>,
}

impl NotServed {
    /// A refusal without a known leader (unknown topic, bad request).
    #[must_use]
    pub const fn code(error_code: ErrorCode) -> Self {
        Self {
            error_code,
            leader: None,
        }
    }

    /// The leader to name in KIP-951's `CurrentLeader`: only for the errors after which a
    /// client looks for the new leader (Kafka fills it for NOT_LEADER_OR_FOLLOWER, and in
    /// Fetch also for FENCED_LEADER_EPOCH), and only when one is known.
    #[must_use]
    pub fn current_leader(&self) -> Option<Leader> {
        let names_leader = matches!(
            self.error_code,
            ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
        );
        self.leader
            .filter(|leader| names_leader && leader.leader_id != NO_LEADER)
    }
}

/// Whether this broker (`node_id`) serves a data request (Produce, Fetch, ListOffsets,
/// OffsetForLeaderEpoch, DeleteRecords) for `partition` of the topic `topic_id`, as Kafka's
/// `ReplicaManager.getPartitionOrError` and then `Partition.getLocalLog` decide:
/// - a partition the metadata does not have: UNKNOWN_TOPIC_OR_PARTITION;
/// - a partition this broker holds no replica of: NOT_LEADER_OR_FOLLOWER (the client's
///   metadata is stale; it refreshes and goes to the leader);
/// - a replica here: first the client's `current_leader_epoch` against the partition's
///   ([`leader_epoch_fencing`]), then leadership: NOT_LEADER_OR_FOLLOWER unless this broker
///   leads (a partition without leader included).
///
/// `Ok` is the leader epoch the request is served in. A partition without a record reads as
/// the single-node default (this broker leads at epoch 0), so a lone broker serves as before.
///
/// # Errors
/// The refusal, with the leader as this broker knows it.
pub fn serve_partition(
    metadata: &ClusterMetadata,
    topic_id: Uuid,
    partition: i32,
    node_id: i32,
    current_leader_epoch: i32,
) -> Result<i32, NotServed> {
    let Some(state) = metadata.partition_or_single_node(topic_id, partition, node_id) else {
        return Err(NotServed::code(ErrorCode::UnknownTopicOrPartition));
    };
    let leader = Leader {
        leader_id: state.leader,
        leader_epoch: state.leader_epoch,
    };
    let refused = |error_code| {
        Err(NotServed {
            error_code,
            leader: Some(leader),
        })
    };
    if !state.replicas.contains(&node_id) {
        return refused(ErrorCode::NotLeaderOrFollower);
    }
    if let Some(error_code) = leader_epoch_fencing(current_leader_epoch, state.leader_epoch) {
        return refused(error_code);
    }
    if state.leader != node_id {
        return refused(ErrorCode::NotLeaderOrFollower);
    }
    assert!(
        state.leader_epoch >= 0,
        "leader epoch {}",
        state.leader_epoch
    );
    Ok(state.leader_epoch)
}

/// Whether this broker serves `partition` of `topic_id` for a client (see
/// [`serve_partition`]); the partition's key when it does, else the error code to answer. A
/// topic this broker does not know is UNKNOWN_TOPIC_OR_PARTITION.
///
/// # Errors
/// The refusal's error code.
pub fn served_key(
    metadata: &ClusterMetadata,
    topic: Option<&TopicMetadata>,
    partition: i32,
    node_id: i32,
    current_leader_epoch: i32,
) -> Result<PartitionKey, ErrorCode> {
    let topic = topic.ok_or(ErrorCode::UnknownTopicOrPartition)?;
    serve_partition(
        metadata,
        topic.topic_id,
        partition,
        node_id,
        current_leader_epoch,
    )
    .map(|_| PartitionKey {
        topic_id: topic.topic_id,
        partition,
    })
    .map_err(|refused| refused.error_code)
}

/// Kafka's `Partition.checkCurrentLeaderEpoch`: a client's `current` leader epoch (read from
/// Metadata) against the partition's `leader_epoch`: -1 asks for no check; an older one is
/// FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one UNKNOWN_LEADER_EPOCH
/// (this broker's is; the client retries).
#[must_use]
pub fn leader_epoch_fencing(current: i32, leader_epoch: i32) -> Option<ErrorCode> {
    if current == NO_CURRENT_LEADER_EPOCH {
        return None;
    }
    match current.cmp(&leader_epoch) {
        Ordering::Less => Some(ErrorCode::FencedLeaderEpoch),
        Ordering::Equal => None,
        Ordering::Greater => Some(ErrorCode::UnknownLeaderEpoch),
    }
}

/// A broker as clients are told about it: its `CLIENT` listener, rack and fencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBroker {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    pub fenced: bool,
}

impl ClientBroker {
    /// This broker from its config: what clients are told while no registration exists (a
    /// single node, or a broker whose registration has not been applied yet).
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            node_id: config.node_id,
            host: config.advertise.host.clone(),
            port: config.advertise.port,
            rack: config.rack.clone(),
            fenced: false,
        }
    }

    /// The registration's `CLIENT` listener; `None` when it has none.
    #[must_use]
    pub fn from_registration(registration: &BrokerRegistration) -> Option<Self> {
        let listener = registration
            .listeners
            .iter()
            .find(|listener| listener.name == CLIENT_LISTENER)?;
        Some(Self {
            node_id: registration.node_id,
            host: listener.host.clone(),
            port: listener.port,
            rack: registration.rack.clone(),
            fenced: registration.fenced,
        })
    }
}

/// The brokers clients are told about, by node id: every registered broker with a `CLIENT`
/// listener, the fenced ones only when `include_fenced` (a fenced broker leads nothing; Kafka
/// lists only unfenced brokers in Metadata). While the metadata holds no registration at all,
/// `this` broker alone, from its config.
#[must_use]
pub fn client_brokers(
    metadata: &ClusterMetadata,
    this: &ClientBroker,
    include_fenced: bool,
) -> Vec<ClientBroker> {
    if metadata.brokers().next().is_none() {
        return vec![this.clone()];
    }
    let brokers: Vec<ClientBroker> = metadata
        .brokers()
        .filter(|broker| include_fenced || !broker.fenced)
        .filter_map(ClientBroker::from_registration)
        .collect();
    assert!(brokers.len() <= crate::limits::BROKERS_MAX);
    brokers
}

/// `broker` (its `CLIENT` endpoint) as clients of listener `listener` reach it: Kafka answers
/// a request with the endpoints of the listener it arrived on (an SSL client must be sent to
/// SSL ports). The broker's registered endpoint of that name, or this broker's configured one
/// while it is not registered; a broker without that listener keeps its `CLIENT` endpoint
/// (Kafka would leave it out; mixed clusters during a rolling change stay reachable).
/// `None` or `CLIENT`: unchanged.
#[must_use]
pub fn endpoint_on(
    metadata: &ClusterMetadata,
    config: &Config,
    broker: ClientBroker,
    listener: Option<&str>,
) -> ClientBroker {
    let Some(name) = listener.filter(|name| *name != CLIENT_LISTENER) else {
        return broker;
    };
    let registered = metadata.broker(broker.node_id).and_then(|registration| {
        let endpoint = registration.listeners.iter().find(|l| l.name == name)?;
        Some((endpoint.host.clone(), endpoint.port))
    });
    let configured = || {
        let index = config.listeners.iter().enumerate().position(|(index, l)| {
            crate::cluster::metadata::client_listener_name(index, &l.name) == name
        })?;
        let advertise = &config.listeners.get(index)?.advertise;
        Some((advertise.host.clone(), advertise.port))
    };
    let endpoint = match registered {
        Some(endpoint) => Some(endpoint),
        None if broker.node_id == config.node_id => configured(),
        None => None,
    };
    match endpoint {
        Some((host, port)) => ClientBroker {
            host,
            port,
            ..broker
        },
        None => broker,
    }
}

/// The client endpoint of `node_id`, fenced or not: its registration's `CLIENT` listener, or
/// `this` broker's config when it is `this` broker and not registered. `None` for a node the
/// metadata does not know.
#[must_use]
pub fn client_broker(
    metadata: &ClusterMetadata,
    node_id: i32,
    this: &ClientBroker,
) -> Option<ClientBroker> {
    match metadata.broker(node_id) {
        Some(registration) => ClientBroker::from_registration(registration),
        None if node_id == this.node_id => Some(this.clone()),
        None => None,
    }
}

/// The controller id clients are told (Metadata, DescribeCluster): the metadata quorum's
/// leader when it is one of the `listed` brokers, else `this_node`. KRaft answers a random
/// alive broker, because its controllers are not reachable by clients; our voters are brokers
/// too (combined mode), so the active controller is named when clients can reach it, and any
/// other broker forwards admin requests to it (KIP-590), so naming ourselves is correct too.
#[must_use]
pub fn controller_id(quorum_leader: Option<i32>, listed: &[ClientBroker], this_node: i32) -> i32 {
    quorum_leader
        .filter(|leader| listed.iter().any(|broker| broker.node_id == *leader))
        .unwrap_or(this_node)
}

/// The leaders named by `refusals`' `CurrentLeader` that clients can reach, once each, by
/// node id: KIP-951's `NodeEndpoints` of Produce and Fetch responses.
pub fn leader_endpoints(
    metadata: &ClusterMetadata,
    this: &ClientBroker,
    refusals: impl IntoIterator<Item = NotServed>,
) -> Vec<ClientBroker> {
    let leaders: BTreeSet<i32> = refusals
        .into_iter()
        .filter_map(|refusal| refusal.current_leader())
        .map(|leader| leader.leader_id)
        .collect();
    leaders
        .into_iter()
        .filter_map(|node_id| client_broker(metadata, node_id, this))
        .collect()
}

#[cfg(test)]
mod quorum_error_tests {
    use super::*;
    use crate::cluster::metadata::MetadataFileError;
    use crate::cluster::quorum::QuorumError;

    fn code_of(source: QuorumError) -> ErrorCode {
        let error = MetadataError::Persist {
            source: Box::new(MetadataFileError::Quorum { source }),
        };
        metadata_error_code(&error)
    }

    #[test]
    fn an_uncommitted_change_is_not_a_storage_error() {
        assert_eq!(
            code_of(QuorumError::NotLeader { leader: Some(2) }),
            ErrorCode::NotController
        );
        assert_eq!(
            code_of(QuorumError::LeaderChanged { leader: None }),
            ErrorCode::RequestTimedOut
        );
        assert_eq!(
            code_of(QuorumError::Timeout { timeout_ms: 5 }),
            ErrorCode::RequestTimedOut
        );
        assert_eq!(code_of(QuorumError::ShutDown), ErrorCode::RequestTimedOut);
    }
}

/// Cluster states built from records, for the handlers' tests.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
pub mod testing {
    use crate::cluster::ClusterMetadata;
    use crate::cluster::MetadataRecord;
    use crate::cluster::metadata::{BrokerRegistration, Listener, PartitionState};
    use crate::protocol::Uuid;
    use std::collections::BTreeMap;

    pub const TOPIC_ID: Uuid = Uuid([9; 16]);
    pub const TOPIC: &str = "t";

    /// Broker `node_id`'s registration: CLIENT at `b<node_id>:<9000 + node_id>`, rack
    /// `r<node_id>`, a CONTROLLER listener too.
    pub fn registration(node_id: i32) -> BrokerRegistration {
        BrokerRegistration {
            node_id,
            incarnation: Uuid([u8::try_from(node_id).unwrap(); 16]),
            broker_epoch: 0,
            listeners: vec![
                Listener {
                    name: "CONTROLLER".into(),
                    host: format!("c{node_id}"),
                    port: 1,
                },
                Listener {
                    name: "CLIENT".into(),
                    host: format!("b{node_id}"),
                    port: u16::try_from(9000 + node_id).unwrap(),
                },
            ],
            shard_count: 1,
            rack: Some(format!("r{node_id}")),
            fenced: true,
        }
    }

    /// A cluster with `registered` brokers (those in `unfenced` unfenced) and topic [`TOPIC`]
    /// whose partitions have the `states` as records, in order (`partition_count` ≥ their
    /// number; the rest read as the single-node default).
    pub fn cluster(
        registered: &[i32],
        unfenced: &[i32],
        partition_count: i32,
        states: &[PartitionState],
    ) -> ClusterMetadata {
        let mut records = Vec::new();
        for (offset, node_id) in registered.iter().enumerate() {
            let broker_epoch = i64::try_from(offset).unwrap();
            records.push(MetadataRecord::RegisterBroker(BrokerRegistration {
                broker_epoch,
                ..registration(*node_id)
            }));
            if unfenced.contains(node_id) {
                records.push(MetadataRecord::UnfenceBroker {
                    node_id: *node_id,
                    broker_epoch,
                });
            }
        }
        records.push(MetadataRecord::TopicCreated {
            topic_id: TOPIC_ID,
            name: TOPIC.into(),
            partition_count,
            configs: BTreeMap::new(),
        });
        for (partition, state) in states.iter().enumerate() {
            records.push(MetadataRecord::Partition {
                topic_id: TOPIC_ID,
                partition: i32::try_from(partition).unwrap(),
                state: state.clone(),
            });
        }
        ClusterMetadata::empty("c".into())
            .apply_all(&records)
            .unwrap()
    }

    /// A partition state: `replicas`, ISR `isr`, `leader` at `leader_epoch`.
    pub fn state(replicas: &[i32], isr: &[i32], leader: i32, leader_epoch: i32) -> PartitionState {
        PartitionState {
            isr: isr.to_vec(),
            leader,
            leader_epoch,
            ..PartitionState::placed(replicas.to_vec())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod cluster_view_tests {
    use super::testing::{TOPIC_ID, cluster, state};
    use super::*;

    fn this(node_id: i32) -> ClientBroker {
        ClientBroker {
            node_id,
            host: "self".into(),
            port: 1,
            rack: None,
            fenced: false,
        }
    }

    #[test]
    fn without_registrations_this_broker_alone_serves_every_partition() {
        let metadata = cluster(&[], &[], 2, &[]);
        assert_eq!(client_brokers(&metadata, &this(7), false), vec![this(7)]);
        assert_eq!(serve_partition(&metadata, TOPIC_ID, 0, 7, -1), Ok(0));
        assert_eq!(serve_partition(&metadata, TOPIC_ID, 1, 7, 0), Ok(0));
        let unknown = serve_partition(&metadata, TOPIC_ID, 2, 7, -1).unwrap_err();
        assert_eq!(unknown, NotServed::code(ErrorCode::UnknownTopicOrPartition));
        let other_topic = serve_partition(&metadata, Uuid([1; 16]), 0, 7, -1).unwrap_err();
        assert_eq!(other_topic.error_code, ErrorCode::UnknownTopicOrPartition);
        assert_eq!(controller_id(None, &[this(7)], 7), 7);
    }

    #[test]
    fn registered_brokers_are_listed_by_their_client_listener() {
        let metadata = cluster(&[1, 2, 3], &[1, 3], 1, &[]);
        let listed = client_brokers(&metadata, &this(1), false);
        let ids: Vec<i32> = listed.iter().map(|broker| broker.node_id).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(listed[1].host, "b3");
        assert_eq!(listed[1].port, 9003);
        assert_eq!(listed[1].rack.as_deref(), Some("r3"));
        let all = client_brokers(&metadata, &this(1), true);
        assert_eq!(all.len(), 3);
        assert!(all[1].fenced && !all[0].fenced);
        // The quorum leader is named when clients can reach it, else this node.
        assert_eq!(controller_id(Some(3), &listed, 1), 3);
        assert_eq!(controller_id(Some(2), &listed, 1), 1);
        assert_eq!(controller_id(None, &listed, 1), 1);
        // An endpoint by id: fenced included; this broker from its config when unregistered.
        assert_eq!(client_broker(&metadata, 2, &this(1)).unwrap().host, "b2");
        assert_eq!(client_broker(&metadata, 5, &this(5)), Some(this(5)));
        assert_eq!(client_broker(&metadata, 5, &this(1)), None);
    }

    #[test]
    fn only_the_leader_serves_and_the_epoch_is_checked_first() {
        let metadata = cluster(
            &[1, 2, 3],
            &[1, 2, 3],
            3,
            &[
                state(&[1, 2], &[1, 2], 1, 4),
                state(&[2, 3], &[3], 3, 2),
                state(&[1, 3], &[1], NO_LEADER, 5),
            ],
        );
        assert_eq!(serve_partition(&metadata, TOPIC_ID, 0, 1, -1), Ok(4));
        assert_eq!(serve_partition(&metadata, TOPIC_ID, 0, 1, 4), Ok(4));
        let leader = |leader_id, leader_epoch| {
            Some(Leader {
                leader_id,
                leader_epoch,
            })
        };
        let refused = |node, partition, epoch| {
            serve_partition(&metadata, TOPIC_ID, partition, node, epoch).unwrap_err()
        };
        assert_eq!(refused(1, 0, 3).error_code, ErrorCode::FencedLeaderEpoch);
        assert_eq!(refused(1, 0, 5).error_code, ErrorCode::UnknownLeaderEpoch);
        // A follower: the epoch is checked before leadership, as Kafka's getLocalLog.
        let follower = refused(2, 0, -1);
        assert_eq!(follower.error_code, ErrorCode::NotLeaderOrFollower);
        assert_eq!(follower.current_leader(), leader(1, 4));
        assert_eq!(refused(2, 0, 1).error_code, ErrorCode::FencedLeaderEpoch);
        assert_eq!(refused(2, 0, 1).current_leader(), leader(1, 4));
        // Not a replica: NOT_LEADER_OR_FOLLOWER whatever the epoch, naming the leader.
        let stranger = refused(1, 1, 7);
        assert_eq!(stranger.error_code, ErrorCode::NotLeaderOrFollower);
        assert_eq!(stranger.current_leader(), leader(3, 2));
        // No leader: nobody serves, and no leader is named.
        let leaderless = refused(1, 2, -1);
        assert_eq!(leaderless.error_code, ErrorCode::NotLeaderOrFollower);
        assert_eq!(leaderless.current_leader(), None);
        // The endpoints of named leaders, once each; unknown errors name none.
        let endpoints = leader_endpoints(
            &metadata,
            &this(1),
            [follower, stranger, stranger, leaderless, refused(1, 0, 5)],
        );
        let ids: Vec<i32> = endpoints.iter().map(|broker| broker.node_id).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn epoch_fencing_follows_kafka() {
        assert_eq!(leader_epoch_fencing(-1, 3), None);
        assert_eq!(leader_epoch_fencing(3, 3), None);
        assert_eq!(
            leader_epoch_fencing(2, 3),
            Some(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(
            leader_epoch_fencing(4, 3),
            Some(ErrorCode::UnknownLeaderEpoch)
        );
        assert_eq!(
            leader_epoch_fencing(-5, 0),
            Some(ErrorCode::FencedLeaderEpoch)
        );
    }
}
