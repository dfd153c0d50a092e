//! The coordinator's operations, one per group API, as the handlers call them on the group's
//! coordinator shard (through `invoke_on` with a [`Route`]). Operations that may replay a
//! partition or start the timer take `self: &Rc<Self>` (the timer task holds the
//! coordinator). Inputs and outputs are plain owned values (`Send`, so they cross the mesh);
//! wire types stay in the handlers.
//!
//! Runs on the coordinator shard of the group named in each call.
use super::coordinator::{
    Coordinator, Entry, PARK_SLACK_MS, Route, append, now_ms, offset_tombstone,
};
use super::log::{LogRecord, OffsetValue};
use super::offsets::GroupOffsets;
use super::state::{
    Group, GroupState, JoinInput, JoinOutcome, LeaveInput, Reply, Started, SyncInput, SyncOutcome,
};
use crate::limits;
use crate::protocol::Reader;
use crate::protocol::error_code::ErrorCode;
use crate::storage::PartitionKey;
use bytes::Bytes;
use std::collections::{HashMap, hash_map};
use std::rc::Rc;
use std::time::Duration;

/// One partition of an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// An OffsetCommit for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInput {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub partitions: Vec<CommitPartition>,
}

/// Committed offsets of one topic, as OffsetFetch returns them (`None`: nothing committed).
pub type TopicOffsets = (String, Vec<(i32, Option<OffsetValue>)>);

/// One group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// One group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol, only while Stable (Kafka's `summary`).
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

/// Waits for a parked request's answer, at most `timeout_ms` plus the slack.
async fn wait_parked<T>(
    receiver: flume::Receiver<T>,
    timeout_ms: i32,
    on_timeout: T,
    on_replaced: T,
) -> T {
    let timeout_ms = u64::try_from(timeout_ms)
        .unwrap_or(0)
        .saturating_add(PARK_SLACK_MS);
    match compio::time::timeout(Duration::from_millis(timeout_ms), receiver.recv_async()).await {
        Ok(Ok(answer)) => answer,
        // The sender was dropped: a newer request of the same member took its place.
        Ok(Err(_)) => on_replaced,
        Err(_) => on_timeout,
    }
}

impl Coordinator {
    /// JoinGroup on the coordinator shard; returns once the member's rebalance completed.
    pub async fn join(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        input: JoinInput,
    ) -> JoinOutcome {
        let requested_member_id = input.member_id.clone();
        if let Err(error) = self.ensure_loaded(route.key).await {
            return JoinOutcome::error(&requested_member_id, error);
        }
        let rules = self.rules();
        let now = now_ms();
        let timeout_ms = input.rebalance_timeout_ms;
        let (started, replies, receiver) = {
            let mut inner = self.inner.borrow_mut();
            let count = inner.groups.len();
            let entry = match inner.groups.entry(group_id.clone()) {
                hash_map::Entry::Occupied(entry) => entry.into_mut(),
                hash_map::Entry::Vacant(_) if !requested_member_id.is_empty() => {
                    return JoinOutcome::error(&requested_member_id, ErrorCode::UnknownMemberId);
                }
                hash_map::Entry::Vacant(_) if count >= limits::GROUPS_PER_SHARD_MAX => {
                    return JoinOutcome::error("", ErrorCode::CoordinatorNotAvailable);
                }
                hash_map::Entry::Vacant(vacant) => vacant.insert(new_entry(&group_id, route, now)),
            };
            let mut replies = Vec::new();
            let started = entry.group.join(&rules, now, input, &mut replies);
            let receiver = match &started {
                Started::Waiting { member_id } => {
                    let (sender, receiver) = flume::bounded(1);
                    // A previous parked join of this member is dropped and answers "replaced".
                    inner
                        .join_waiters
                        .insert((group_id.clone(), member_id.clone()), sender);
                    Some(receiver)
                }
                Started::Done(_) => None,
            };
            (started, replies, receiver)
        };
        self.deliver(&group_id, replies);
        if let Err(error) = self.persist_if_dirty(&group_id).await {
            tracing::warn!(group_id, ?error, "group record not persisted after join");
        }
        match (started, receiver) {
            (Started::Waiting { member_id }, Some(receiver)) => {
                let timeout = JoinOutcome::error(&member_id, ErrorCode::RebalanceInProgress);
                let replaced = JoinOutcome::error(&member_id, ErrorCode::UnknownMemberId);
                wait_parked(receiver, timeout_ms, timeout, replaced).await
            }
            (Started::Done(outcome), _) => outcome,
            (Started::Waiting { member_id }, None) => {
                JoinOutcome::error(&member_id, ErrorCode::UnknownServerError)
            }
        }
    }

    /// SyncGroup on the coordinator shard; a follower returns once the leader synced.
    pub async fn sync(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        input: SyncInput,
    ) -> SyncOutcome {
        if let Err(error) = self.ensure_loaded(route.key).await {
            return SyncOutcome::error(error);
        }
        let now = now_ms();
        let (started, mut replies, receiver, timeout_ms) = {
            let mut inner = self.inner.borrow_mut();
            let Some(entry) = inner.groups.get_mut(&group_id) else {
                return SyncOutcome::error(ErrorCode::UnknownMemberId);
            };
            let timeout_ms = entry
                .group
                .members()
                .find(|member| member.member_id == input.member_id)
                .map_or(0, |member| member.rebalance_timeout_ms);
            let mut replies = Vec::new();
            let started = entry.group.sync(now, input, &mut replies);
            let receiver = match &started {
                Started::Waiting { member_id } => {
                    let (sender, receiver) = flume::bounded(1);
                    inner
                        .sync_waiters
                        .insert((group_id.clone(), member_id.clone()), sender);
                    Some(receiver)
                }
                Started::Done(_) => None,
            };
            (started, replies, receiver, timeout_ms)
        };
        // The leader's assignment is persisted before anyone learns it.
        if let Err(error) = self.persist_if_dirty(&group_id).await {
            let mut more = Vec::new();
            if let Some(entry) = self.inner.borrow_mut().groups.get_mut(&group_id) {
                entry
                    .group
                    .assignment_store_failed(&self.rules(), now_ms(), &mut more);
            }
            for reply in &mut replies {
                if let Reply::Sync { outcome, .. } = reply {
                    *outcome = SyncOutcome::error(error);
                }
            }
            replies.append(&mut more);
            self.deliver(&group_id, replies);
            return SyncOutcome::error(error);
        }
        self.deliver(&group_id, replies);
        match (started, receiver) {
            (Started::Waiting { .. }, Some(receiver)) => {
                let timeout = SyncOutcome::error(ErrorCode::RebalanceInProgress);
                let replaced = SyncOutcome::error(ErrorCode::UnknownMemberId);
                wait_parked(receiver, timeout_ms, timeout, replaced).await
            }
            (Started::Done(outcome), _) => outcome,
            (Started::Waiting { .. }, None) => SyncOutcome::error(ErrorCode::UnknownServerError),
        }
    }

    /// Heartbeat on the coordinator shard.
    pub async fn heartbeat(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        member_id: String,
        group_instance_id: Option<String>,
        generation_id: i32,
    ) -> ErrorCode {
        if let Err(error) = self.ensure_loaded(route.key).await {
            return error;
        }
        let mut inner = self.inner.borrow_mut();
        match inner.groups.get_mut(&group_id) {
            None => ErrorCode::UnknownMemberId,
            Some(entry) => entry.group.heartbeat(
                now_ms(),
                &member_id,
                group_instance_id.as_deref(),
                generation_id,
            ),
        }
    }

    /// LeaveGroup on the coordinator shard: one error per leaving member, or a group-level
    /// error.
    ///
    /// # Errors
    /// The group-level error code (load in progress, storage).
    pub async fn leave(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        leaving: Vec<LeaveInput>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.ensure_loaded(route.key).await?;
        let (errors, replies) = {
            let mut inner = self.inner.borrow_mut();
            let Some(entry) = inner.groups.get_mut(&group_id) else {
                return Ok(vec![ErrorCode::UnknownMemberId; leaving.len()]);
            };
            let mut replies = Vec::new();
            let errors = entry
                .group
                .leave(&self.rules(), now_ms(), &leaving, &mut replies);
            (errors, replies)
        };
        self.deliver(&group_id, replies);
        if let Err(error) = self.persist_if_dirty(&group_id).await {
            tracing::warn!(group_id, ?error, "group record not persisted after leave");
        }
        Ok(errors)
    }
}

fn new_entry(group_id: &str, route: Route, now: i64) -> Entry {
    Entry {
        group: Group::new(group_id, now),
        offsets: GroupOffsets::default(),
        key: route.key,
    }
}

impl Coordinator {
    /// OffsetCommit on the coordinator shard: one error per partition, in input order.
    pub async fn commit(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        input: CommitInput,
    ) -> Vec<ErrorCode> {
        let count = input.partitions.len();
        if let Err(error) = self.ensure_loaded(route.key).await {
            return vec![error; count];
        }
        let now = now_ms();
        let mut errors = vec![ErrorCode::None; count];
        let (records, written);
        {
            let mut inner = self.inner.borrow_mut();
            let groups_count = inner.groups.len();
            let entry = match inner.groups.entry(group_id.clone()) {
                hash_map::Entry::Occupied(entry) => entry.into_mut(),
                // Kafka: a commit with a generation to an unknown group is from a stale member.
                hash_map::Entry::Vacant(_) if input.generation_id >= 0 => {
                    return vec![ErrorCode::IllegalGeneration; count];
                }
                hash_map::Entry::Vacant(_) if groups_count >= limits::GROUPS_PER_SHARD_MAX => {
                    return vec![ErrorCode::CoordinatorNotAvailable; count];
                }
                hash_map::Entry::Vacant(vacant) => vacant.insert(new_entry(&group_id, route, now)),
            };
            let check = entry.group.check_commit(
                now,
                &input.member_id,
                input.group_instance_id.as_deref(),
                input.generation_id,
            );
            if check != ErrorCode::None {
                return vec![check; count];
            }
            (records, written) =
                stage_commit(entry, &group_id, &input.partitions, now, &mut errors);
        }
        if let Err(error) = append(self.appender(), route.key, &records).await {
            for (index, _) in &written {
                if let Some(slot) = errors.get_mut(*index) {
                    *slot = error;
                }
            }
            return errors;
        }
        let mut inner = self.inner.borrow_mut();
        if let Some(entry) = inner.groups.get_mut(&group_id) {
            for (index, value) in written {
                if let Some(partition) = input.partitions.get(index) {
                    entry
                        .offsets
                        .insert(&partition.topic, partition.partition, value);
                }
            }
        }
        errors
    }

    /// OffsetFetch on the coordinator shard: the requested partitions (`None`: every
    /// committed one).
    ///
    /// # Errors
    /// The group-level error code.
    pub async fn fetch_offsets(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<TopicOffsets>, ErrorCode> {
        self.ensure_loaded(route.key).await?;
        let inner = self.inner.borrow();
        let empty = GroupOffsets::default();
        let offsets = inner
            .groups
            .get(&group_id)
            .map_or(&empty, |entry| &entry.offsets);
        let Some(topics) = topics else {
            let mut all: Vec<TopicOffsets> = Vec::new();
            for ((topic, partition), value) in offsets.iter() {
                match all.last_mut() {
                    Some((name, partitions)) if name == topic => {
                        partitions.push((*partition, Some(value.clone())));
                    }
                    _ => all.push((topic.clone(), vec![(*partition, Some(value.clone()))])),
                }
            }
            return Ok(all);
        };
        Ok(topics
            .into_iter()
            .map(|(topic, partitions)| {
                let values = partitions
                    .into_iter()
                    .map(|partition| (partition, offsets.get(&topic, partition).cloned()))
                    .collect();
                (topic, values)
            })
            .collect())
    }
}

/// The records of a commit's acceptable partitions and the values they write (by input
/// index); refused partitions get their error in `errors`.
fn stage_commit(
    entry: &Entry,
    group_id: &str,
    partitions: &[CommitPartition],
    now: i64,
    errors: &mut [ErrorCode],
) -> (Vec<LogRecord>, Vec<(usize, OffsetValue)>) {
    let mut records = Vec::new();
    let mut written = Vec::new();
    for (index, partition) in partitions.iter().enumerate() {
        let error = commit_error(&entry.offsets, partition);
        if error != ErrorCode::None {
            if let Some(slot) = errors.get_mut(index) {
                *slot = error;
            }
            continue;
        }
        let value = OffsetValue {
            offset: partition.offset,
            leader_epoch: partition.leader_epoch,
            metadata: partition.metadata.clone(),
            commit_timestamp_ms: now,
        };
        records.push(LogRecord::Offset {
            group_id: group_id.to_owned(),
            topic: partition.topic.clone(),
            partition: partition.partition,
            value: Some(value.clone()),
        });
        written.push((index, value));
    }
    assert_eq!(records.len(), written.len());
    (records, written)
}

fn commit_error(offsets: &GroupOffsets, partition: &CommitPartition) -> ErrorCode {
    if partition.metadata.len() > limits::OFFSET_METADATA_SIZE_MAX {
        return ErrorCode::OffsetMetadataTooLarge;
    }
    if offsets.len() >= limits::GROUP_OFFSETS_MAX
        && !offsets.contains(&partition.topic, partition.partition)
    {
        return ErrorCode::CoordinatorNotAvailable;
    }
    ErrorCode::None
}

impl Coordinator {
    /// The groups this shard coordinates (ListGroups), Dead ones excluded.
    ///
    /// # Errors
    /// COORDINATOR_LOAD_IN_PROGRESS while a partition is being replayed.
    pub fn list(&self) -> Result<Vec<GroupListing>, ErrorCode> {
        let inner = self.inner.borrow();
        if inner.is_loading() {
            return Err(ErrorCode::CoordinatorLoadInProgress);
        }
        Ok(inner
            .groups
            .iter()
            .filter(|(_, entry)| entry.group.state() != GroupState::Dead)
            .map(|(group_id, entry)| GroupListing {
                group_id: group_id.clone(),
                protocol_type: entry.group.protocol_type().unwrap_or_default().to_owned(),
                state: entry.group.state(),
            })
            .collect())
    }

    /// DescribeGroups for one group; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// The group-level error code.
    pub async fn describe(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
    ) -> Result<Option<GroupDescription>, ErrorCode> {
        self.ensure_loaded(route.key).await?;
        let inner = self.inner.borrow();
        let Some(entry) = inner.groups.get(&group_id) else {
            return Ok(None);
        };
        let group = &entry.group;
        let stable = group.state() == GroupState::Stable;
        let protocol = group.protocol_name().unwrap_or_default();
        let members = group
            .members()
            .map(|member| MemberDescription {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                client_id: member.client_id.clone(),
                client_host: member.client_host.clone(),
                metadata: if stable {
                    member.metadata(protocol).cloned().unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    member.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Ok(Some(GroupDescription {
            state: group.state(),
            protocol_type: group.protocol_type().unwrap_or_default().to_owned(),
            protocol_data: if stable {
                protocol.to_owned()
            } else {
                String::new()
            },
            members,
        }))
    }

    /// DeleteGroups for one group: an Empty group and its offsets are removed (tombstones).
    pub async fn delete(self: &Rc<Self>, route: Route, group_id: String) -> ErrorCode {
        if let Err(error) = self.ensure_loaded(route.key).await {
            return error;
        }
        let records = {
            let mut inner = self.inner.borrow_mut();
            let Some(entry) = inner.groups.get_mut(&group_id) else {
                return ErrorCode::GroupIdNotFound;
            };
            let error = entry.group.delete(now_ms());
            if error != ErrorCode::None {
                return error;
            }
            let mut records: Vec<LogRecord> = entry
                .offsets
                .iter()
                .map(|((topic, partition), _)| offset_tombstone(&group_id, topic, *partition))
                .collect();
            records.push(LogRecord::Group {
                group_id: group_id.clone(),
                value: None,
            });
            inner.groups.remove(&group_id);
            records
        };
        match append(self.appender(), route.key, &records).await {
            Ok(()) => ErrorCode::None,
            Err(error) => error,
        }
    }

    /// OffsetDelete: removes committed offsets of topics the group is not subscribed to.
    ///
    /// # Errors
    /// GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (a non-consumer group with members), load and
    /// storage errors.
    pub async fn delete_offsets(
        self: &Rc<Self>,
        route: Route,
        group_id: String,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.ensure_loaded(route.key).await?;
        let (errors, records) = {
            let mut inner = self.inner.borrow_mut();
            let Some(entry) = inner.groups.get_mut(&group_id) else {
                return Err(ErrorCode::GroupIdNotFound);
            };
            let subscribed = subscribed_topics(&entry.group)?;
            let mut errors = Vec::with_capacity(partitions.len());
            let mut records = Vec::new();
            for (topic, partition) in &partitions {
                if subscribed.iter().any(|name| name == topic) {
                    errors.push(ErrorCode::GroupSubscribedToTopic);
                    continue;
                }
                if entry.offsets.remove(topic, *partition).is_some() {
                    records.push(offset_tombstone(&group_id, topic, *partition));
                }
                errors.push(ErrorCode::None);
            }
            (errors, records)
        };
        append(self.appender(), route.key, &records).await?;
        Ok(errors)
    }

    /// A topic was deleted: every group on this shard forgets its committed offsets for it,
    /// with tombstones in `__consumer_offsets` so a restart does not bring them back (Kafka's
    /// cleanup on partition deletion). A topic re-created under the same name then starts
    /// with no committed offsets, as in Kafka. Returns how many offsets were removed.
    ///
    /// # Errors
    /// The first storage error writing tombstones (the offsets are gone from memory already;
    /// start-up drops offsets of topics that no longer exist, see `group::load_owned`).
    pub async fn remove_topic_offsets(&self, topic: &str) -> Result<usize, ErrorCode> {
        let mut tombstones: HashMap<PartitionKey, Vec<LogRecord>> = HashMap::new();
        let mut removed = 0;
        {
            let mut inner = self.inner.borrow_mut();
            // Bounded by the groups this shard coordinates (GROUPS limits) × their offsets.
            for (group_id, entry) in &mut inner.groups {
                for partition in entry.offsets.remove_topic(topic) {
                    removed += 1;
                    tombstones
                        .entry(entry.key)
                        .or_default()
                        .push(offset_tombstone(group_id, topic, partition));
                }
            }
        }
        for (key, records) in tombstones {
            append(self.appender(), key, &records).await?;
        }
        Ok(removed)
    }
}

/// Topics the members of a consumer group subscribe to (Kafka's OffsetDelete rule).
fn subscribed_topics(group: &Group) -> Result<Vec<String>, ErrorCode> {
    match group.state() {
        GroupState::Dead => return Err(ErrorCode::GroupIdNotFound),
        GroupState::Empty => return Ok(Vec::new()),
        _ => {}
    }
    if group.protocol_type() != Some("consumer") {
        return Err(ErrorCode::NonEmptyGroup);
    }
    let protocol = group.protocol_name().unwrap_or_default();
    let mut topics = Vec::new();
    for member in group.members() {
        let metadata = member.metadata(protocol).cloned().unwrap_or_default();
        // Unreadable metadata: assume the member may use any topic (refuse to delete).
        let Some(member_topics) = consumer_subscription(metadata) else {
            return Err(ErrorCode::GroupSubscribedToTopic);
        };
        topics.extend(member_topics);
    }
    Ok(topics)
}

/// The topics of a consumer protocol Subscription:
/// `[version:i16][topics: i32 count, i16 strings]…` (later fields ignored).
fn consumer_subscription(metadata: Bytes) -> Option<Vec<String>> {
    let mut reader = Reader::new(metadata);
    let _version = reader.i16().ok()?;
    let count = reader.array_count(false).ok()?.unwrap_or(0);
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        topics.push(reader.string(false).ok()?.to_string());
    }
    Some(topics)
}
