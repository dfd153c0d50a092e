//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions.
//! Runs on the connection's shard; may ask the controller (shard 0) to auto-create topics.
//!
//! Topic selection as Kafka: v0 empty list = all topics; v1+ null = all, empty = none. Unknown
//! topics are auto-created when the broker allows it and the request does (v4+), else
//! UNKNOWN_TOPIC_OR_PARTITION; ids (v10+, name null) that do not resolve get UNKNOWN_TOPIC_ID.
use super::common::{LEADER_EPOCH, resolve_topic_by_id, resolve_topic_by_name};
use super::{HandlerError, RequestContext};
use crate::cluster::{TopicMetadata, controller, topic_name};
use crate::protocol::messages::metadata::{
    AUTHORIZED_OPERATIONS_OMITTED, MetadataRequest, MetadataResponse, MetadataResponseBroker,
    MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::sync::Arc;

pub const API_KEY: ApiKey = ApiKey::Metadata;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 12;

/// Kafka's ACL operation bits for a topic we let everyone use (no authorizer): READ 3, WRITE 4,
/// CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// # Errors
/// None of its own: every problem is a per-topic error code.
pub async fn handle(
    ctx: &mut RequestContext,
    request: MetadataRequest,
) -> Result<MetadataResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let config = Arc::clone(ctx.shard.config());
    let all_topics = selects_all_topics(request.topics.as_deref(), ctx.api_version);
    let operations = if request.include_topic_authorized_operations {
        TOPIC_OPERATIONS_ALL
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let mut topics = Vec::new();
    if all_topics {
        for topic in controller::metadata(&ctx.shard).topics.values() {
            topics.push(describe(topic, ctx.node_id(), operations));
        }
    } else {
        for requested in request.topics.iter().flatten() {
            let resolved = match &requested.name {
                Some(name) => {
                    resolve_topic_by_name(&ctx.shard, name, request.allow_auto_topic_creation).await
                }
                None => resolve_topic_by_id(&ctx.shard, requested.topic_id),
            };
            topics.push(match resolved {
                Ok(topic) => describe(&topic, ctx.node_id(), operations),
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
            });
        }
    }
    let metadata = controller::metadata(&ctx.shard);
    Ok(MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: config.node_id,
            host: StrBytes::from(config.advertise.host.as_str()),
            port: i32::from(config.advertise.port),
            rack: None,
        }],
        cluster_id: Some(StrBytes::from(metadata.cluster_id.as_str())),
        controller_id: config.node_id,
        topics,
        error_code: ErrorCode::None,
        ..MetadataResponse::default()
    })
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

fn describe(topic: &TopicMetadata, node_id: i32, operations: i32) -> MetadataResponseTopic {
    let partitions = (0..topic.partition_count)
        .map(|partition_index| MetadataResponsePartition {
            error_code: ErrorCode::None,
            partition_index,
            leader_id: node_id,
            leader_epoch: LEADER_EPOCH,
            replica_nodes: vec![node_id],
            isr_nodes: vec![node_id],
            offline_replicas: Vec::new(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::metadata::MetadataRequestTopic;

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
