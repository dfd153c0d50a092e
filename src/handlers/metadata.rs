//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions.
//! Runs on the connection's shard; may ask the controller (shard 0) to auto-create topics.
//!
//! Topic selection as Kafka: v0 empty list = all topics; v1+ null = all, empty = none. Unknown
//! topics are auto-created when the broker allows it and the request does (v4+), else
//! UNKNOWN_TOPIC_OR_PARTITION; ids (v10+, name null) that do not resolve get UNKNOWN_TOPIC_ID.
//!
//! The cluster as the metadata records say (`common::client_brokers`): every unfenced
//! registered broker by its `CLIENT` listener and rack (this broker from its config while no
//! registration exists; every registered one while all are fenced: `listed_brokers`), the
//! controller id of `common::controller_id`, and per partition its
//! record (or the single-node default): leader, leader epoch, replicas, ISR and the replicas
//! on brokers not registered or fenced. A partition without a leader, or whose leader clients
//! cannot reach (not registered), is LEADER_NOT_AVAILABLE with leader -1, as Kafka's
//! `KRaftMetadataCache` answers.
use super::authorize::{CLUSTER_OPERATIONS, TOPIC_OPERATIONS};
use super::common::{
    ClientBroker, client_broker, client_brokers, controller_id, endpoint_on, resolve_topic_by_id,
    resolve_topic_by_name,
};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{AclOperation, CLUSTER_NAME, ResourceType};
use crate::cluster::metadata::NO_LEADER;
use crate::cluster::{ClusterMetadata, TopicMetadata, controller, topic_name};
use crate::protocol::messages::metadata::{
    AUTHORIZED_OPERATIONS_OMITTED, MetadataRequest, MetadataRequestTopic, MetadataResponse,
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};

pub const API_KEY: ApiKey = ApiKey::Metadata;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 12;

/// # Errors
/// None of its own: every problem is a per-topic error code.
pub async fn handle(
    ctx: &mut RequestContext,
    request: MetadataRequest,
) -> Result<MetadataResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let this = ClientBroker::from_config(ctx.shard.config());
    let all_topics = selects_all_topics(request.topics.as_deref(), ctx.api_version);
    let operations = if request.include_topic_authorized_operations {
        0
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let mut topics = Vec::new();
    if all_topics {
        let metadata = controller::metadata(&ctx.shard);
        // Topics the principal may not describe are left out, silently (as Kafka does).
        let describable = metadata.topics.values().filter(|topic| {
            ctx.authorize_silently(AclOperation::Describe, ResourceType::Topic, &topic.name)
        });
        for topic in describable {
            let operations = topic_operations(ctx, &topic.name, operations);
            topics.push(describe(&metadata, topic, &this, operations));
        }
    } else {
        let allow_create = request.allow_auto_topic_creation;
        for requested in request.topics.iter().flatten() {
            topics.push(requested_topic(ctx, requested, allow_create, &this, operations).await);
        }
    }
    let metadata = controller::metadata(&ctx.shard);
    let listener = ctx.session.listener_name();
    let listed: Vec<ClientBroker> = listed_brokers(&metadata, &this)
        .into_iter()
        .map(|broker| endpoint_on(&metadata, ctx.shard.config(), broker, listener))
        .collect();
    let quorum_leader = ctx.shard.state.metadata.quorum_leader();
    Ok(MetadataResponse {
        throttle_time_ms: 0,
        controller_id: controller_id(quorum_leader, &listed, this.node_id),
        brokers: listed.iter().map(response_broker).collect(),
        cluster_id: Some(StrBytes::from(metadata.cluster_id.as_str())),
        topics,
        error_code: ErrorCode::None,
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            ctx.authorized_operations(&CLUSTER_OPERATIONS, ResourceType::Cluster, CLUSTER_NAME)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        },
    })
}

/// One topic the request names (or gives the id of): described, auto-created first when
/// allowed (CREATE on the cluster or the topic), or its error. A topic the principal may not
/// describe is TOPIC_AUTHORIZATION_FAILED, whether it exists or not (Kafka's order).
async fn requested_topic(
    ctx: &RequestContext,
    requested: &MetadataRequestTopic,
    allow_create: bool,
    this: &ClientBroker,
    operations: i32,
) -> MetadataResponseTopic {
    let resolved = match &requested.name {
        Some(name) => match ctx.authorize_topic(AclOperation::Describe, name) {
            Err(denied) => Err(denied),
            Ok(()) => {
                let exists = controller::metadata(&ctx.shard).topic(name).is_some();
                let create = allow_create && (exists || ctx.may_create_topic(name));
                resolve_topic_by_name(&ctx.shard, name, create).await
            }
        },
        None => resolve_topic_by_id(&ctx.shard, requested.topic_id).and_then(|topic| {
            ctx.authorize_topic(AclOperation::Describe, &topic.name)
                .map(|()| topic)
        }),
    };
    match resolved {
        // The snapshot after the resolution (which may have created the topic).
        Ok(topic) => {
            let operations = topic_operations(ctx, &topic.name, operations);
            describe(&controller::metadata(&ctx.shard), &topic, this, operations)
        }
        Err(error_code) => MetadataResponseTopic {
            error_code,
            name: requested.name.clone(),
            topic_id: requested.topic_id,
            is_internal: requested
                .name
                .as_deref()
                .is_some_and(topic_name::is_internal),
            topic_authorized_operations: operations,
            ..MetadataResponseTopic::default()
        },
    }
}

/// `topic_authorized_operations`: omitted when not requested, else the bit of each topic
/// operation the principal may perform on `name` (KIP-430).
fn topic_operations(ctx: &RequestContext, name: &str, requested: i32) -> i32 {
    if requested == AUTHORIZED_OPERATIONS_OMITTED {
        return requested;
    }
    ctx.authorized_operations(&TOPIC_OPERATIONS, ResourceType::Topic, name)
}

/// Whether a request's `topics` asks for every topic, as Kafka's `MetadataRequest.isAllTopics`:
/// null at any version (Kafka's v0 schema cannot carry null, we take it as v1+ does), or an
/// empty array at v0 only; an empty array at v1+ asks for brokers and no topics.
fn selects_all_topics<T>(topics: Option<&[T]>, version: i16) -> bool {
    assert!(version >= 0, "negotiated version {version}");
    match topics {
        None => true,
        Some(topics) => topics.is_empty() && version == 0,
    }
}

fn response_broker(broker: &ClientBroker) -> MetadataResponseBroker {
    MetadataResponseBroker {
        node_id: broker.node_id,
        host: StrBytes::from(broker.host.as_str()),
        port: i32::from(broker.port),
        rack: broker.rack.as_deref().map(StrBytes::from),
    }
}

fn describe(
    metadata: &ClusterMetadata,
    topic: &TopicMetadata,
    this: &ClientBroker,
    operations: i32,
) -> MetadataResponseTopic {
    let partitions = (0..topic.partition_count)
        .filter_map(|index| describe_partition(metadata, topic, index, this))
        .collect();
    MetadataResponseTopic {
        error_code: ErrorCode::None,
        name: Some(StrBytes::from(topic.name.as_str())),
        topic_id: topic.topic_id,
        is_internal: topic_name::is_internal(&topic.name),
        partitions,
        topic_authorized_operations: operations,
    }
}

/// One partition as the metadata says; `None` when `topic` (from a possibly older snapshot)
/// has no such partition in `metadata`.
fn describe_partition(
    metadata: &ClusterMetadata,
    topic: &TopicMetadata,
    partition_index: i32,
    this: &ClientBroker,
) -> Option<MetadataResponsePartition> {
    let state = metadata.partition_or_single_node(topic.topic_id, partition_index, this.node_id)?;
    // Without registrations (a single node) no replica can be told offline.
    let registered = metadata.brokers().next().is_some();
    let offline_replicas = if registered {
        metadata.offline_replicas(&state)
    } else {
        Vec::new()
    };
    let reachable =
        state.leader != NO_LEADER && client_broker(metadata, state.leader, this).is_some();
    let (error_code, leader_id) = if reachable {
        (ErrorCode::None, state.leader)
    } else {
        (ErrorCode::LeaderNotAvailable, NO_LEADER)
    };
    Some(MetadataResponsePartition {
        error_code,
        partition_index,
        leader_id,
        leader_epoch: state.leader_epoch,
        replica_nodes: state.replicas,
        isr_nodes: state.isr,
        offline_replicas,
    })
}

/// The brokers a Metadata response lists: the unfenced ones, as Kafka; but when every
/// registered broker is fenced, all of them (and this broker, should none have a `CLIENT`
/// listener), never none. A new active controller can fence every broker at once, itself
/// included, when their heartbeats were held up by the controller they lost; an empty list
/// then makes librdkafka (2.10 and later) decommission every broker it knows, its bootstrap
/// servers too, and stop producing until its re-bootstrap five minutes later — seen in
/// `replication_schedule` (seed 16). Listed fenced brokers lead nothing (their partitions say
/// LEADER_NOT_AVAILABLE), so a client only keeps somewhere to ask for metadata again.
fn listed_brokers(metadata: &ClusterMetadata, this: &ClientBroker) -> Vec<ClientBroker> {
    let unfenced = client_brokers(metadata, this, false);
    if !unfenced.is_empty() {
        return unfenced;
    }
    let registered = client_brokers(metadata, this, true);
    if registered.is_empty() {
        vec![this.clone()]
    } else {
        registered
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::super::common::testing::{TOPIC, cluster, state};
    use super::*;
    use crate::protocol::messages::metadata::MetadataRequestTopic;

    fn this(node_id: i32) -> ClientBroker {
        ClientBroker {
            node_id,
            host: "self".into(),
            port: 9092,
            rack: None,
            fenced: false,
        }
    }

    #[test]
    fn a_single_node_leads_every_partition_at_epoch_zero() {
        let metadata = cluster(&[], &[], 2, &[]);
        let topic = metadata.topic(TOPIC).unwrap();
        let described = describe(&metadata, topic, &this(4), 0);
        assert_eq!(described.partitions.len(), 2);
        for partition in &described.partitions {
            assert_eq!(partition.error_code, ErrorCode::None);
            assert_eq!(partition.leader_id, 4);
            assert_eq!(partition.leader_epoch, 0);
            assert_eq!(partition.replica_nodes, [4]);
            assert_eq!(partition.isr_nodes, [4]);
            assert!(partition.offline_replicas.is_empty());
        }
    }

    #[test]
    fn partitions_follow_their_records() {
        let metadata = cluster(
            &[1, 2, 3],
            &[1, 3],
            3,
            &[
                state(&[1, 2, 3], &[1, 3], 3, 6),
                state(&[2, 3], &[2], NO_LEADER, 2),
            ],
        );
        let topic = metadata.topic(TOPIC).unwrap();
        let described = describe(&metadata, topic, &this(1), 0);
        let [led, leaderless, default] = &described.partitions[..] else {
            panic!("{:?}", described.partitions);
        };
        assert_eq!(led.error_code, ErrorCode::None);
        assert_eq!((led.leader_id, led.leader_epoch), (3, 6));
        assert_eq!(led.replica_nodes, [1, 2, 3]);
        assert_eq!(led.isr_nodes, [1, 3]);
        assert_eq!(led.offline_replicas, [2], "broker 2 is fenced");
        assert_eq!(leaderless.error_code, ErrorCode::LeaderNotAvailable);
        assert_eq!((leaderless.leader_id, leaderless.leader_epoch), (-1, 2));
        assert_eq!(leaderless.offline_replicas, [2]);
        // No record: the single-node default, this broker leading.
        assert_eq!(default.leader_id, 1);
        assert_eq!(default.replica_nodes, [1]);
        // A leader clients cannot reach (not registered) is not available.
        let unregistered = cluster(&[1], &[1], 1, &[state(&[1, 5], &[1, 5], 5, 1)]);
        let topic = unregistered.topic(TOPIC).unwrap();
        let partition = &describe(&unregistered, topic, &this(1), 0).partitions[0];
        assert_eq!(partition.error_code, ErrorCode::LeaderNotAvailable);
        assert_eq!(partition.leader_id, -1);
        assert_eq!(partition.offline_replicas, [5]);
    }

    #[test]
    fn brokers_are_listed_with_listener_and_rack() {
        let metadata = cluster(&[1, 2], &[2], 1, &[]);
        let listed: Vec<_> = client_brokers(&metadata, &this(1), false)
            .iter()
            .map(response_broker)
            .collect();
        assert_eq!(listed.len(), 1, "the fenced broker 1 is not listed");
        assert_eq!(listed[0].node_id, 2);
        assert_eq!(listed[0].host.as_str(), "b2");
        assert_eq!(listed[0].port, 9002);
        assert_eq!(listed[0].rack.as_deref(), Some("r2"));
    }

    #[test]
    fn with_every_broker_fenced_the_registered_ones_are_listed_not_none() {
        let some_fenced = cluster(&[1, 2, 3], &[3], 1, &[]);
        let ids = |listed: Vec<ClientBroker>| listed.iter().map(|b| b.node_id).collect::<Vec<_>>();
        assert_eq!(ids(listed_brokers(&some_fenced, &this(1))), [3]);
        let all_fenced = cluster(&[1, 2, 3], &[], 1, &[]);
        assert!(client_brokers(&all_fenced, &this(1), false).is_empty());
        let listed = listed_brokers(&all_fenced, &this(1));
        assert_eq!(ids(listed.clone()), [1, 2, 3]);
        assert!(listed.iter().all(|broker| broker.fenced));
        // Nothing registered: this broker alone, as before.
        assert_eq!(
            ids(listed_brokers(&cluster(&[], &[], 1, &[]), &this(4))),
            [4]
        );
    }

    #[test]
    fn null_and_empty_topics_per_version() {
        let one = [MetadataRequestTopic::default()];
        let none: [MetadataRequestTopic; 0] = [];
        for version in VERSION_MIN..=VERSION_MAX {
            assert!(
                selects_all_topics::<MetadataRequestTopic>(None, version),
                "v{version} null"
            );
            assert_eq!(
                selects_all_topics(Some(&none[..]), version),
                version == 0,
                "v{version} empty: all topics at v0 only"
            );
            assert!(
                !selects_all_topics(Some(&one[..]), version),
                "v{version} one topic"
            );
        }
    }
}
