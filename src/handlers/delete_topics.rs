//! DeleteTopics (key 20): deletes topics and their data through the controller (shard 0). Runs
//! on the connection's shard; each deletion is one controller change that every shard has
//! applied (logs closed, directories removed) before we answer.
//!
//! v1–5 name topics; v6 names each by name or by topic id. As Kafka's `ControllerApis`:
//! a name or id given twice gets INVALID_REQUEST (and neither copy is deleted), both or neither
//! of name and id in one entry gets INVALID_REQUEST, so does a name whose topic the request also
//! names by id; an unknown name gets UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID,
//! with Kafka's messages. v6 results echo both the name and the id when known.
use super::create_topics::refusal_of;
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::protocol::messages::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};
use std::collections::HashMap;

pub const API_KEY: ApiKey = ApiKey::DeleteTopics;
pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 6;

/// First version that names topics by `topics` (name or id) instead of `topic_names`.
const TOPIC_IDS_VERSION: i16 = 6;

/// Kafka's message for UNKNOWN_TOPIC_ID.
const UNKNOWN_ID: &str = "This server does not host this topic ID.";

/// One requested deletion, as a name or an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Name(StrBytes),
    Id(Uuid),
    /// Both or neither given (v6+): refused.
    Ambiguous {
        name: Option<StrBytes>,
        id: Uuid,
    },
}

/// # Errors
/// None of its own: every problem is a per-topic error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DeleteTopicsRequest,
) -> Result<DeleteTopicsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let targets: Vec<Target> = if ctx.api_version >= TOPIC_IDS_VERSION {
        request
            .topics
            .into_iter()
            .map(|topic| match (topic.name, topic.topic_id.is_zero()) {
                (Some(name), true) => Target::Name(name),
                (None, false) => Target::Id(topic.topic_id),
                (name, _) => Target::Ambiguous {
                    name,
                    id: topic.topic_id,
                },
            })
            .collect()
    } else {
        request.topic_names.into_iter().map(Target::Name).collect()
    };
    let mut counts: HashMap<&Target, usize> = HashMap::with_capacity(targets.len());
    for target in targets
        .iter()
        .filter(|t| !matches!(t, Target::Ambiguous { .. }))
    {
        *counts.entry(target).or_default() += 1;
    }
    let metadata = controller::metadata(&ctx.shard);
    // A name whose topic is also named by its id in this request (Kafka refuses the name).
    let named_twice = |target: &Target| match target {
        Target::Name(name) => metadata
            .topic(name)
            .is_some_and(|topic| counts.contains_key(&Target::Id(topic.topic_id))),
        Target::Id(_) | Target::Ambiguous { .. } => false,
    };
    let mut responses = Vec::with_capacity(targets.len());
    let mut reported = Vec::new();
    for target in &targets {
        if counts.get(target).copied().unwrap_or(0) > 1 {
            if !reported.contains(&target) {
                reported.push(target);
                let message = match target {
                    Target::Id(_) => "Duplicate topic id.",
                    Target::Name(_) | Target::Ambiguous { .. } => "Duplicate topic name.",
                };
                responses.push(refused(
                    target,
                    ErrorCode::InvalidRequest,
                    message.to_owned(),
                ));
            }
            continue;
        }
        if named_twice(target) {
            let message = "The provided topic name maps to an ID that was already supplied.";
            responses.push(refused(
                target,
                ErrorCode::InvalidRequest,
                message.to_owned(),
            ));
            continue;
        }
        responses.push(delete(ctx, target).await);
    }
    assert!(responses.len() <= targets.len());
    Ok(DeleteTopicsResponse {
        throttle_time_ms: 0,
        responses,
    })
}

async fn delete(ctx: &RequestContext, target: &Target) -> DeletableTopicResult {
    let name = match target {
        Target::Name(name) => name.as_str().to_owned(),
        Target::Id(id) => match controller::metadata(&ctx.shard).topic_by_id(*id) {
            Some(topic) => topic.name.clone(),
            None => return refused(target, ErrorCode::UnknownTopicId, UNKNOWN_ID.into()),
        },
        Target::Ambiguous { name: Some(_), .. } => {
            let message = "You may not specify both topic name and topic id.".to_owned();
            return refused(target, ErrorCode::InvalidRequest, message);
        }
        Target::Ambiguous { name: None, .. } => {
            let message = "Neither topic name nor id were specified.".to_owned();
            return refused(target, ErrorCode::InvalidRequest, message);
        }
    };
    if ctx.authorize_topic(AclOperation::Delete, &name).is_err() {
        let message = "Authorization failed.".to_owned();
        return refused(target, ErrorCode::TopicAuthorizationFailed, message);
    }
    // By id, the name was resolved from this shard's snapshot: a topic deleted and re-created
    // under the same name in between would be the one deleted. Admin deletions are rare and the
    // controller offers deletion by name only; the window is one mesh round trip.
    match controller::delete_topic(&ctx.shard, &name).await {
        Ok(topic) => DeletableTopicResult {
            name: Some(StrBytes::from(topic.name.as_str())),
            topic_id: topic.topic_id,
            error_code: ErrorCode::None,
            error_message: None,
        },
        // By code: a change forwarded to the active controller comes back as its code.
        Err(error) if error.error_code() == ErrorCode::UnknownTopicOrPartition => match target {
            Target::Id(_) => refused(target, ErrorCode::UnknownTopicId, UNKNOWN_ID.into()),
            Target::Name(_) | Target::Ambiguous { .. } => {
                let message = "This server does not host this topic-partition.".to_owned();
                refused(target, ErrorCode::UnknownTopicOrPartition, message)
            }
        },
        Err(error) => {
            let (error_code, message) = refusal_of(&error);
            refused(target, error_code, message)
        }
    }
}

fn refused(target: &Target, error_code: ErrorCode, message: String) -> DeletableTopicResult {
    assert_ne!(error_code, ErrorCode::None, "a refusal carries an error");
    let (name, topic_id) = match target {
        Target::Name(name) => (Some(name.clone()), Uuid::default()),
        Target::Id(id) => (None, *id),
        Target::Ambiguous { name, id } => (name.clone(), *id),
    };
    DeletableTopicResult {
        name,
        topic_id,
        error_code,
        error_message: Some(StrBytes::from(message)),
    }
}
