//! The controller: the single writer of cluster metadata, on shard 0.
//!
//! A change is data (`MetadataChange`) and runs on shard 0 under the metadata store's gate:
//! decide its records with the pure `cluster::decisions` against the state the metadata log
//! applied, check them with the pure `ClusterMetadata::apply_all`, commit them as one entry of
//! the Raft metadata log (`MetadataStore::commit` → `cluster::quorum`), whose applier
//! (`MetadataImage`) applies them; install that state as shard 0's copy; changes never
//! interleave. The caller then publishes the snapshot to every
//! shard from its own task (never from inside a mesh job), and each shard installs it if it is
//! newer and reconciles its partition logs (open new partitions, apply configs, close and
//! delete removed ones). The caller answers only after every shard reconciled, so an
//! acknowledged CreateTopics can be produced to at once and an acknowledged DeleteTopics has
//! removed its files.
//!
//! The controller reaches shards through the shard runtime's mesh and needs only what
//! [`MetadataHost`] gives it: each shard's `MetadataView` and the hook that brings the shard's
//! services in line with a snapshot. The services themselves are composed above (`broker/`).
//!
//! Runs on any shard (callers) and on shard 0 (the change itself).
use super::acls::{AclBinding, AclFilter};
use super::decisions::{MetadataChange, PartitionReassignment};
use super::metadata::{
    ClusterError, ClusterMetadata, MetadataError, MetadataStore, PartitionState, ProducerIdBlock,
    ScramCredential, ScramMechanism, TopicMetadata, random_uuid,
};
use super::policy::isr::{AlterPartitionRequest, ElectionType};
use super::quorum::MetadataQuorum;
use super::quotas::{QuotaEntity, QuotaKey, QuotaValue};
use super::rpc::{ControllerClient, ControllerRequest, ControllerResponse};
use super::view::MetadataHost;
use crate::limits::{CONTROLLER_RETRY_MS, CONTROLLER_RPC_TIMEOUT_MS, FORWARDED_APPLY_TIMEOUT_MS};
use crate::protocol::{ErrorCode, Uuid};
use crate::shard::Shard;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The controller's shard.
pub const CONTROLLER_SHARD: usize = 0;

/// The current snapshot on this shard.
#[must_use]
pub fn metadata(shard: &Shard<impl MetadataHost>) -> Arc<ClusterMetadata> {
    shard.state.metadata_view().current()
}

/// What a change did: the state before and after it (the same `Arc` when it decided no
/// records).
struct Applied {
    previous: Arc<ClusterMetadata>,
    next: Arc<ClusterMetadata>,
}

/// Runs `change` on shard 0: sends it to the active controller — this node's own controller
/// service when it leads the metadata quorum, else the leader's over the controller listener
/// (KIP-590's forwarding) — and waits until this node has applied the version the change
/// reached; then publishes that state to every shard. One change at a time on the active
/// controller (its store's gate): no two changes decide against the same state, and a change
/// that fails to commit leaves every shard's state as it was.
async fn apply(
    shard: &Rc<Shard<impl MetadataHost>>,
    change: MetadataChange,
) -> Result<Applied, MetadataError> {
    let applied = shard
        .invoke_on(CONTROLLER_SHARD, move |controller| async move {
            let view = controller.state.metadata_view();
            let (Some(link), Some(store)) = (view.link(), view.store()) else {
                panic!("the controller link lives on shard {CONTROLLER_SHARD}");
            };
            let previous = store.applied().unwrap_or_else(|| metadata(&controller));
            let version = forward(&link.client, change).await?;
            let next = wait_applied(store, version).await?;
            view.install_if_newer(Arc::clone(&next));
            Ok::<_, MetadataError>(Applied { previous, next })
        })
        .await
        .map_err(|source| MetadataError::ControllerUnavailable { source })??;
    if applied.previous.version != applied.next.version {
        publish(shard, Arc::clone(&applied.next)).await;
    }
    Ok(applied)
}

/// Sends `change` to the active controller until it answers (bounded); returns the metadata
/// version the change reached.
async fn forward(client: &ControllerClient, change: MetadataChange) -> Result<u64, MetadataError> {
    let request = ControllerRequest::Change(change);
    let timeout = Duration::from_millis(CONTROLLER_RPC_TIMEOUT_MS);
    let deadline = Instant::now() + timeout;
    // Bounded by the deadline.
    loop {
        let retry = match client.send(&request).await {
            Ok(ControllerResponse::Changed { version }) => return Ok(version),
            Ok(ControllerResponse::Refused { code, message }) => {
                let code = ErrorCode::from_code(code);
                return Err(MetadataError::Forwarded { code, message });
            }
            Ok(ControllerResponse::Unavailable { message }) => {
                let code = ErrorCode::RequestTimedOut;
                return Err(MetadataError::Forwarded { code, message });
            }
            Ok(ControllerResponse::NotController { leader }) => {
                format!("no active controller (last named {leader:?})")
            }
            Ok(other) => format!("unexpected answer {other:?}"),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            let code = ErrorCode::NotController;
            return Err(MetadataError::Forwarded {
                code,
                message: retry,
            });
        }
        compio::time::sleep(Duration::from_millis(CONTROLLER_RETRY_MS)).await;
    }
}

/// Waits until this node's metadata log has applied `version` (bounded); returns that state.
async fn wait_applied(
    store: &MetadataStore,
    version: u64,
) -> Result<Arc<ClusterMetadata>, MetadataError> {
    let timeout = Duration::from_millis(FORWARDED_APPLY_TIMEOUT_MS);
    let waited = compio::time::timeout(timeout, async {
        let mut watch = store.quorum().map(|quorum| quorum.watch());
        // Bounded by the timeout around it.
        loop {
            if let Some(state) = store.applied().filter(|state| state.version >= version) {
                return Some(state);
            }
            let watch = watch.as_mut()?;
            if !watch.changed().await {
                return None;
            }
        }
    })
    .await;
    waited
        .ok()
        .flatten()
        .ok_or_else(|| MetadataError::Forwarded {
            code: ErrorCode::RequestTimedOut,
            message: format!(
                "the change committed but this broker has not applied version {version} yet"
            ),
        })
}

/// Shard 0 of every broker: follows the metadata log as this node applies it — publishes each
/// newer applied state to every shard (so brokers that did not make a change, and voters that
/// follow, see it) and tells every shard the quorum leader when it changes. Ends when the
/// Raft node stops.
pub async fn follow_log(shard: Rc<Shard<impl MetadataHost>>) {
    let view = shard.state.metadata_view();
    let Some(store) = view.store().cloned() else {
        return;
    };
    let Some(quorum) = store.quorum().cloned() else {
        return;
    };
    let mut watch = quorum.watch();
    let mut leader = None;
    // What this task published last: a change made on this broker installs its state on
    // shard 0 before publishing it itself, so shard 0's view is not proof that every shard
    // has it; publishing a version twice is harmless (shards install only newer ones).
    let mut published = 0;
    // Bounded by the Raft node's life: `changed` is false once it stops.
    loop {
        let status = quorum.status();
        if status.leader != leader {
            leader = status.leader;
            let told = shard
                .invoke_on_all(move |target| async move {
                    target.state.metadata_view().set_quorum_leader(leader);
                })
                .await;
            if told.is_err() {
                return;
            }
        }
        if let Some(applied) = store.applied()
            && applied.version > published
        {
            published = applied.version;
            publish(&shard, applied).await;
        }
        if !watch.changed().await {
            return;
        }
    }
}

/// Installs `next` on every shard and waits until each reconciled its services.
pub async fn publish(shard: &Rc<Shard<impl MetadataHost>>, next: Arc<ClusterMetadata>) {
    let result = shard
        .invoke_on_all(move |target| {
            let next = Arc::clone(&next);
            async move { install(&target, next).await }
        })
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, "metadata publication incomplete (shutting down?)");
    }
}

/// Installs `next` on this shard when it is newer than the current snapshot, then brings the
/// shard's services (partition logs, group offsets) in line with whatever snapshot is current.
pub async fn install(shard: &Shard<impl MetadataHost>, next: Arc<ClusterMetadata>) {
    let current = shard.state.metadata_view().install_if_newer(next);
    shard.state.metadata_installed(current).await;
}

/// A topic as CreateTopics asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRequest {
    pub partition_count: i32,
    /// −1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual replica lists by partition index; empty for automatic placement.
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

impl TopicRequest {
    /// `partition_count` partitions at the default replication factor, no overrides (auto
    /// creation).
    #[must_use]
    pub fn with_defaults(partition_count: i32) -> Self {
        Self {
            partition_count,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        }
    }

    /// The change creating `name` as asked, with a fresh topic id and placement start.
    #[must_use]
    pub fn change(&self, name: &str) -> MetadataChange {
        MetadataChange::CreateTopic {
            name: name.to_owned(),
            topic_id: random_uuid(),
            partition_count: self.partition_count,
            replication_factor: self.replication_factor,
            assignments: self.assignments.clone(),
            configs: self.configs.clone(),
            random_start: random_start(),
        }
    }
}

/// Where placement starts on the broker ring: random, so topics do not all lead on one broker.
#[must_use]
pub fn random_start() -> u64 {
    let Uuid(bytes) = random_uuid();
    let mut start = [0u8; 8];
    start.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(start)
}

/// A created topic and the replication factor its partitions got.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub topic: Arc<TopicMetadata>,
    pub replication_factor: i16,
}

/// Creates a topic (CreateTopics, auto-creation).
///
/// # Errors
/// Any [`MetadataError`].
pub async fn create_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    request: &TopicRequest,
) -> Result<CreatedTopic, MetadataError> {
    let next = apply(shard, request.change(name)).await?.next;
    let topic = topic_in(&next, name)?;
    let replication_factor = replication_factor_of(&next, &topic);
    Ok(CreatedTopic {
        topic,
        replication_factor,
    })
}

/// The replica count of the topic's first partition (1 for a partition without a record: the
/// single-node default).
#[must_use]
pub fn replication_factor_of(state: &ClusterMetadata, topic: &TopicMetadata) -> i16 {
    state.partition(topic.topic_id, 0).map_or(1, |partition| {
        i16::try_from(partition.replicas.len()).unwrap_or(i16::MAX)
    })
}

/// `name` in `state` (a state the controller just decided on, which holds it).
fn topic_in(state: &ClusterMetadata, name: &str) -> Result<Arc<TopicMetadata>, MetadataError> {
    state
        .topic(name)
        .cloned()
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })
}

/// The topic, creating it with `partition_count` partitions when it does not exist yet (auto
/// creation). Losing a creation race to another connection is success.
///
/// # Errors
/// Any [`MetadataError`] but `TopicAlreadyExists`.
pub async fn get_or_create_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    partition_count: i32,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    get_or_create_topic_as(shard, name, &TopicRequest::with_defaults(partition_count)).await
}

/// `__consumer_offsets` (or another internal topic named `name`), created when missing with
/// `partition_count` partitions and `offsets.topic.replication.factor` replicas — at most as
/// many as brokers are live in this broker's view. Kafka refuses the creation while fewer
/// brokers are alive than the factor; we create it with what is there instead, so a cluster
/// that starts one broker at a time still gets its coordinators (the factor of an existing
/// topic never changes here: a reassignment would).
///
/// # Errors
/// As [`get_or_create_topic`].
pub async fn get_or_create_offsets_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    partition_count: i32,
    replication_factor: i16,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    let state = metadata(shard);
    if let Some(topic) = state.topic(name) {
        return Ok(Arc::clone(topic));
    }
    let live = i16::try_from(state.unfenced_brokers().count()).unwrap_or(i16::MAX);
    let request = TopicRequest {
        replication_factor: replication_factor.min(live).max(1),
        ..TopicRequest::with_defaults(partition_count)
    };
    get_or_create_topic_as(shard, name, &request).await
}

/// [`get_or_create_topic`] with `request` for the creation.
async fn get_or_create_topic_as(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    request: &TopicRequest,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    if let Some(topic) = metadata(shard).topic(name) {
        return Ok(Arc::clone(topic));
    }
    match create_topic(shard, name, request)
        .await
        .map(|created| created.topic)
    {
        // By code: the active controller's refusal comes back as its code.
        Err(error) if error.error_code() == ErrorCode::TopicAlreadyExists => {
            // Another connection created it; its publication may still be on its way here.
            let latest = shard
                .invoke_on(CONTROLLER_SHARD, |controller| async move {
                    metadata(&controller)
                })
                .await
                .map_err(|source| MetadataError::ControllerUnavailable { source })?;
            install(shard, Arc::clone(&latest)).await;
            latest
                .topic(name)
                .cloned()
                .ok_or_else(|| MetadataError::UnknownTopic {
                    name: name.to_owned(),
                })
        }
        other => other,
    }
}

/// Deletes a topic and its data. Every shard's services drop what they kept for it when the
/// snapshot is installed there (`MetadataHost::metadata_installed`: the group coordinators
/// forget its committed offsets, Kafka's cleanup on partition deletion), before this returns.
///
/// # Errors
/// `UnknownTopic`, `Persist`.
pub async fn delete_topic(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
) -> Result<Arc<TopicMetadata>, MetadataError> {
    let change = MetadataChange::DeleteTopic { name: name.into() };
    topic_in(&apply(shard, change).await?.previous, name)
}

/// Grows a topic to `count` partitions, placed automatically or as `assignments` (one replica
/// list per new partition).
///
/// # Errors
/// `UnknownTopic`, `PartitionsCannotShrink`, `InvalidPartitionCount`,
/// `Cluster(InvalidReplicationFactor | InvalidReplicaAssignment)`, `Persist`.
pub async fn create_partitions(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    count: i32,
    assignments: Vec<Vec<i32>>,
) -> Result<(), MetadataError> {
    let name = name.to_owned();
    let change = MetadataChange::CreatePartitions {
        name,
        partition_count: count,
        assignments,
        random_start: random_start(),
    };
    apply(shard, change).await.map(drop)
}

/// The next producer-id block for `node_id`, starting at or above `floor`, decided and
/// committed through the metadata log (so blocks of different brokers never overlap).
///
/// # Errors
/// `Cluster(UnknownBroker | ProducerIdsExhausted)`, `Persist`, `ControllerUnavailable`.
pub async fn allocate_producer_ids(
    shard: &Rc<Shard<impl MetadataHost>>,
    node_id: i32,
    floor: i64,
) -> Result<ProducerIdBlock, MetadataError> {
    let change = MetadataChange::AllocateProducerIds { node_id, floor };
    let applied = apply(shard, change).await?;
    let block = applied.next.producer_id_block(node_id);
    // The decision always writes a block: a state without a new one is a controller bug.
    let previous = applied.previous.producer_id_block(node_id);
    match block {
        Some(block) if Some(block) != previous && block.first >= floor => Ok(block),
        _ => Err(ClusterError::ProducerIdsExhausted.into()),
    }
}

/// Sets or deletes SCRAM credentials (AlterUserScramCredentials), all or nothing, through
/// the metadata log.
///
/// # Errors
/// `ScramCredentialNotFound` (a deletion of nothing), `InvalidScramCredential`,
/// `ScramCredentialsFull`, `RecordTooLarge`, `Persist`, `ControllerUnavailable`.
pub async fn alter_scram_credentials(
    shard: &Rc<Shard<impl MetadataHost>>,
    alterations: Vec<(String, ScramMechanism, Option<ScramCredential>)>,
) -> Result<(), MetadataError> {
    let change = MetadataChange::AlterScramCredentials { alterations };
    apply(shard, change).await.map(drop)
}

/// Sets or removes client quota values (AlterClientQuotas), all or nothing, through the
/// metadata log.
///
/// # Errors
/// `Quota(TooManyEntities | InvalidValue)`, `RecordTooLarge`, `Persist`,
/// `ControllerUnavailable`, `Forwarded`.
pub async fn alter_client_quotas(
    shard: &Rc<Shard<impl MetadataHost>>,
    alterations: Vec<(QuotaEntity, QuotaKey, Option<QuotaValue>)>,
) -> Result<(), MetadataError> {
    let change = MetadataChange::AlterClientQuotas { alterations };
    apply(shard, change).await.map(drop)
}

/// Creates `acls` (validated by the caller; ids are drawn here) through the metadata log.
/// Bindings already held stay as they are (a no-op success, as Kafka's).
///
/// # Errors
/// `Acl(TooManyAcls)`, `Persist`, `ControllerUnavailable`, `Forwarded`.
pub async fn create_acls(
    shard: &Rc<Shard<impl MetadataHost>>,
    acls: Vec<AclBinding>,
) -> Result<(), MetadataError> {
    let acls = acls
        .into_iter()
        .map(|binding| (super::metadata::random_uuid(), binding))
        .collect();
    apply(shard, MetadataChange::CreateAcls { acls })
        .await
        .map(drop)
}

/// Removes every ACL matching any of `filters`; returns the state before and after, from
/// which the caller reports what each filter removed.
///
/// # Errors
/// `Persist`, `ControllerUnavailable`, `Forwarded`.
pub async fn delete_acls(
    shard: &Rc<Shard<impl MetadataHost>>,
    filters: Vec<AclFilter>,
) -> Result<(Arc<ClusterMetadata>, Arc<ClusterMetadata>), MetadataError> {
    let applied = apply(shard, MetadataChange::DeleteAcls { filters }).await?;
    Ok((applied.previous, applied.next))
}

/// Replaces a topic's config overrides.
///
/// # Errors
/// `UnknownTopic`, `InvalidConfig`, `Persist`.
pub async fn set_topic_configs(
    shard: &Rc<Shard<impl MetadataHost>>,
    name: &str,
    configs: BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    let name = name.to_owned();
    let change = MetadataChange::SetTopicConfigs { name, configs };
    apply(shard, change).await.map(drop)
}

/// Replaces the broker-level config overrides.
///
/// # Errors
/// `InvalidConfig`, `Persist`.
pub async fn set_broker_configs(
    shard: &Rc<Shard<impl MetadataHost>>,
    configs: BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    let change = MetadataChange::SetBrokerConfigs { configs };
    apply(shard, change).await.map(drop)
}

/// Proposes a partition leader's new ISR (AlterPartition, KIP-497) to the active controller and
/// answers once this node applied the committed state: the partition's state then (its
/// current state when the proposal equals the ISR: nothing is written). Callable on any shard.
///
/// # Errors
/// The controller's refusal as `MetadataError::Forwarded` with Kafka's code (see
/// `policy::isr`): UNKNOWN_TOPIC_OR_PARTITION, STALE_BROKER_EPOCH, NOT_CONTROLLER (epochs ahead
/// of the controller's), FENCED_LEADER_EPOCH, INVALID_REQUEST (not the leader, a bad ISR),
/// INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA; or a commit failure.
pub async fn alter_partition(
    shard: &Rc<Shard<impl MetadataHost>>,
    request: AlterPartitionRequest,
) -> Result<PartitionState, MetadataError> {
    let (topic_id, partition) = (request.topic_id, request.partition);
    let applied = apply(shard, MetadataChange::AlterPartition(request)).await?;
    applied
        .next
        .partition(topic_id, partition)
        .cloned()
        .ok_or_else(|| {
            let error = ClusterError::UnknownPartition {
                topic_id,
                partition,
            };
            MetadataError::Forwarded {
                code: error.error_code(),
                message: error.to_string(),
            }
        })
}

/// Runs ElectLeaders' elections (`partitions`: (topic id, partition); `None`: every partition)
/// and answers each partition's outcome with Kafka's code (`decisions::election_outcome`), in
/// the order asked (`None`: every partition of the state before, in state order).
///
/// # Errors
/// The commit failed (nothing was elected).
pub async fn elect_leaders(
    shard: &Rc<Shard<impl MetadataHost>>,
    election_type: ElectionType,
    partitions: Option<Vec<(Uuid, i32)>>,
) -> Result<Vec<((Uuid, i32), ErrorCode)>, MetadataError> {
    let change = MetadataChange::ElectLeaders {
        election_type,
        partitions: partitions.clone(),
    };
    let applied = apply(shard, change).await?;
    let asked = partitions.unwrap_or_else(|| {
        applied
            .previous
            .all_partitions()
            .map(|(topic_id, partition, _)| (topic_id, partition))
            .collect()
    });
    Ok(asked
        .into_iter()
        .map(|key| {
            let outcome = super::decisions::election_outcome(
                &applied.previous,
                &applied.next,
                election_type,
                key,
            );
            (key, outcome)
        })
        .collect())
}

/// Starts, replaces or cancels partition reassignments (AlterPartitionReassignments, KIP-455)
/// through the active controller; answers once this broker applied the result. The moves
/// themselves complete later, as the new replicas join the ISR.
///
/// # Errors
/// The controller's refusal (the first partition that could not be reassigned, or too many
/// in flight), or a commit failure.
pub async fn alter_partition_reassignments(
    shard: &Rc<Shard<impl MetadataHost>>,
    reassignments: Vec<PartitionReassignment>,
) -> Result<(), MetadataError> {
    let change = MetadataChange::AlterPartitionReassignments { reassignments };
    apply(shard, change).await.map(drop)
}

/// Removes broker `node_id`'s registration (UnregisterBroker), fencing it first when it is
/// not fenced; its partitions keep naming it until a reassignment moves them.
///
/// # Errors
/// `BROKER_ID_NOT_REGISTERED` (as the controller's refusal) for an unknown broker, or a commit
/// failure.
pub async fn unregister_broker(
    shard: &Rc<Shard<impl MetadataHost>>,
    node_id: i32,
) -> Result<(), MetadataError> {
    apply(shard, MetadataChange::UnregisterBroker { node_id })
        .await
        .map(drop)
}
