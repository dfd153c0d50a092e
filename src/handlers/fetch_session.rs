//! Fetch sessions (KIP-227), the broker's half: a client that fetches the same partitions
//! over and over names them once, in a full fetch that creates a session, and afterwards sends
//! incremental fetches naming only what changed (a new fetch offset, a partition added) and
//! what it no longer wants (`forgotten_topics_data`); the broker answers an incremental fetch
//! with only the partitions that have something to say: records, a changed high watermark,
//! last stable offset or log start offset, an error, a DivergingEpoch or a leader hint.
//!
//! A request's `(session_id, session_epoch)` picks its context ([`SessionCache::begin`]):
//!
//! ```text
//! (0, -1)   full fetch, no session (v < 7 always is); answered in full with session id 0
//! (0,  0)   full fetch creating a session; answered in full with its id (0 when no slot)
//! (id, 0)   full fetch closing session `id` and creating a new one
//! (id, -1)  full fetch closing session `id`, no new one
//! (id, e)   incremental fetch of session `id` whose next epoch is `e` (e = last + 1, wrapping
//!           from i32::MAX to 1); FETCH_SESSION_ID_NOT_FOUND when `id` is unknown here,
//!           INVALID_FETCH_SESSION_EPOCH when `e` is not the next epoch, and
//!           FETCH_SESSION_TOPIC_ID_ERROR when the request addresses topics by id (v13+) and
//!           the session by name, or the other way round; one that leaves the session
//!           empty (all forgotten) ends it and is answered sessionless
//! ```
//!
//! An incremental fetch is served as the full fetch of every partition in its session (the
//! session holds each partition's last named fetch offset, max bytes and epochs), so a
//! follower's position at the leader, the long poll and the byte limits work exactly as for a
//! full fetch; only the answer is filtered ([`SessionCache::answer`]). Partitions that returned
//! records move to the end of the session's order, so under a tight `max_bytes` every
//! partition gets its turn (Kafka does the same).
//!
//! Thread-per-core: the sessions live on the shard of the connection that created them, in
//! that shard's [`SessionCache`], never shared across shards. A session id carries its shard
//! index in its low `FETCH_SESSION_SHARD_BITS` bits, so a fetch naming a session that lives on
//! another shard (the client reconnected and landed elsewhere) is answered
//! FETCH_SESSION_ID_NOT_FOUND without asking that shard, and the client starts over with a
//! full fetch, as it would after an eviction. Each shard holds at most its share of
//! `FETCH_SESSION_CACHE_SLOTS`; a new session takes the slot of a stale one (unused for
//! `FETCH_SESSION_EVICTION_MS`) or else of the least recently used consumer session.
//! Followers' sessions (ReplicaState.ReplicaId ≥ 0) are privileged as in Kafka: a consumer
//! never evicts one. A session also ends when the connection that created it closes
//! ([`ConnectionSessions`]). Each shard's cache is a thread-local of its shard thread
//! ([`shard_cache`]), reached through the connection's context.
//!
//! Pure state (no I/O, no runtime): `fetch.rs` calls it on the connection's shard.
use crate::limits::{
    FETCH_SESSION_CACHE_SLOTS, FETCH_SESSION_EVICTION_MS, FETCH_SESSION_PARTITIONS_MAX,
    FETCH_SESSION_SHARD_BITS,
};
use crate::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic, PartitionData,
};
use crate::protocol::{ErrorCode, StrBytes, Uuid};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The epoch of a full fetch that creates a session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch without (or closing) a session.
pub const FINAL_EPOCH: i32 = -1;
/// First version with session fields.
const SESSION_VERSION_MIN: i16 = 7;
/// First version addressing topics by id.
const TOPIC_ID_VERSION_MIN: i16 = 13;
/// Sequence numbers in a session id above the shard bits (ids stay positive i32).
const SEQUENCE_MASK: u32 = (1 << (31 - FETCH_SESSION_SHARD_BITS)) - 1;

/// The epoch after `epoch` (KIP-227: wraps from i32::MAX to 1, never to 0 or -1).
#[must_use]
pub fn next_epoch(epoch: i32) -> i32 {
    assert!(epoch >= 0, "no epoch follows {epoch}");
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

/// The shard a session id names (its low bits).
#[must_use]
pub fn shard_of(session_id: i32) -> usize {
    (session_id.unsigned_abs() & ((1 << FETCH_SESSION_SHARD_BITS) - 1)) as usize
}

thread_local! {
    /// The session caches of the shards this thread runs, by shard index: thread-per-core,
    /// so one entry in the broker. Kept here, in the handlers layer that owns sessions,
    /// rather than in the shard's services (which sit below handlers).
    static CACHES: RefCell<HashMap<usize, Rc<RefCell<SessionCache>>>> =
        RefCell::new(HashMap::new());
}

/// The cache of shard `shard_index` of `shard_count`, made on its first connection.
#[must_use]
pub fn shard_cache(shard_index: usize, shard_count: usize) -> Rc<RefCell<SessionCache>> {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.entry(shard_index).or_insert_with(|| {
            Rc::new(RefCell::new(SessionCache::new(
                shard_index,
                shard_count,
                seed(),
            )))
        });
        assert_eq!(cache.borrow().shard_index, shard_index);
        Rc::clone(cache)
    })
}

/// Where a shard's session ids start: from the clock, so a restarted broker does not hand out
/// the ids its clients knew before (they would be refused by epoch anyway).
#[must_use]
pub fn seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            let seconds = u32::try_from(elapsed.as_secs() & u64::from(u32::MAX)).unwrap_or(0);
            elapsed.subsec_nanos() ^ seconds
        });
    nanos.rotate_left(7)
}

/// How a request is served.
#[derive(Debug, Clone, PartialEq)]
pub enum Begun {
    /// In full, answered with session id 0.
    Sessionless,
    /// In full; a session is created from the request and its answer ([`SessionCache::create`]).
    Full,
    /// Incremental: `request` is the whole session as a full request; the answer is filtered by
    /// [`SessionCache::answer`] with this id and `epoch` (the one the request carried).
    Incremental {
        id: i32,
        epoch: i32,
        request: FetchRequest,
    },
}

/// What one partition's answer says, as far as the session cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub has_records: bool,
    pub error_code: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// A DivergingEpoch, a preferred read replica or a leader hint: always sent.
    pub must_send: bool,
}

impl Answer {
    /// `leased`: the partition's records are spliced from files (its `records` is empty).
    #[must_use]
    pub fn of(data: &PartitionData, leased: bool) -> Self {
        let records = data
            .records
            .as_ref()
            .is_some_and(|records| !records.is_empty());
        Self {
            has_records: leased || records,
            error_code: data.error_code,
            high_watermark: data.high_watermark,
            last_stable_offset: data.last_stable_offset,
            log_start_offset: data.log_start_offset,
            must_send: data.diverging_epoch.epoch >= 0
                || data.diverging_epoch.end_offset >= 0
                || data.preferred_read_replica >= 0
                || data.current_leader.leader_id >= 0,
        }
    }
}

/// The offsets a session last sent for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

/// One partition of a session: how the client last asked for it and what it was last told.
#[derive(Debug, Clone, PartialEq)]
struct CachedPartition {
    topic_id: Uuid,
    topic: StrBytes,
    fetch: FetchPartition,
    /// `None` until sent, and after an error (so the partition is sent again once it clears).
    sent: Option<Sent>,
}

impl CachedPartition {
    fn is(&self, by_id: bool, topic_id: Uuid, topic: &StrBytes, partition: i32) -> bool {
        let same_topic = if by_id {
            self.topic_id == topic_id
        } else {
            self.topic == *topic
        };
        same_topic && self.fetch.partition == partition
    }

    /// Records `answer` as sent; whether the partition belongs in an incremental answer.
    fn answered(&mut self, answer: &Answer) -> bool {
        let now = Sent {
            high_watermark: answer.high_watermark,
            last_stable_offset: answer.last_stable_offset,
            log_start_offset: answer.log_start_offset,
        };
        let changed = self.sent != Some(now);
        if answer.error_code == ErrorCode::None {
            self.sent = Some(now);
        } else {
            self.sent = None;
        }
        answer.has_records || changed || answer.error_code != ErrorCode::None || answer.must_send
    }
}

/// One session.
#[derive(Debug)]
struct FetchSession {
    /// The epoch the next incremental fetch must carry.
    epoch: i32,
    uses_topic_ids: bool,
    /// A follower's session: consumers never evict it.
    privileged: bool,
    partitions: Vec<CachedPartition>,
    last_used: Instant,
}

impl FetchSession {
    fn forget(&mut self, forgotten: &[ForgottenTopic]) {
        let by_id = self.uses_topic_ids;
        for topic in forgotten {
            for &partition in &topic.partitions {
                self.partitions
                    .retain(|cached| !cached.is(by_id, topic.topic_id, &topic.topic, partition));
            }
        }
    }

    /// Adds or updates the request's partitions (new ones go last).
    fn update(&mut self, topics: &[FetchTopic]) {
        let by_id = self.uses_topic_ids;
        for topic in topics {
            for fetch in &topic.partitions {
                let found = self
                    .partitions
                    .iter_mut()
                    .find(|cached| cached.is(by_id, topic.topic_id, &topic.topic, fetch.partition));
                match found {
                    Some(cached) => cached.fetch = fetch.clone(),
                    None => self.partitions.push(CachedPartition {
                        topic_id: topic.topic_id,
                        topic: topic.topic.clone(),
                        fetch: fetch.clone(),
                        sent: None,
                    }),
                }
            }
        }
    }

    /// The whole session as a full request with `template`'s request-level fields; topics are
    /// runs of consecutive partitions of one topic, in session order.
    fn request(&self, template: &FetchRequest) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for cached in &self.partitions {
            match topics.last_mut() {
                Some(topic) if topic.topic_id == cached.topic_id && topic.topic == cached.topic => {
                    topic.partitions.push(cached.fetch.clone());
                }
                _ => topics.push(FetchTopic {
                    topic: cached.topic.clone(),
                    topic_id: cached.topic_id,
                    partitions: vec![cached.fetch.clone()],
                }),
            }
        }
        FetchRequest {
            replica_id: template.replica_id,
            max_wait_ms: template.max_wait_ms,
            min_bytes: template.min_bytes,
            max_bytes: template.max_bytes,
            isolation_level: template.isolation_level,
            session_id: template.session_id,
            session_epoch: template.session_epoch,
            topics,
            forgotten_topics_data: Vec::new(),
            rack_id: template.rack_id.clone(),
            cluster_id: template.cluster_id.clone(),
            replica_state: template.replica_state.clone(),
        }
    }

    /// Partitions that returned records go last, keeping the order otherwise.
    fn rotate(&mut self, had_records: &[bool]) {
        assert_eq!(had_records.len(), self.partitions.len());
        let (mut quiet, mut busy) = (Vec::new(), Vec::new());
        for (cached, &records) in self.partitions.drain(..).zip(had_records) {
            if records {
                busy.push(cached)
            } else {
                quiet.push(cached)
            }
        }
        quiet.append(&mut busy);
        self.partitions = quiet;
    }
}

/// One shard's sessions.
#[derive(Debug)]
pub struct SessionCache {
    shard_index: usize,
    slots: usize,
    sessions: HashMap<i32, FetchSession>,
    next_sequence: u32,
}

impl SessionCache {
    /// The cache of shard `shard_index` of `shard_count`; `seed` picks where session ids start
    /// (ids of a restarted broker should not meet its clients' old ones).
    #[must_use]
    pub fn new(shard_index: usize, shard_count: usize, seed: u32) -> Self {
        assert!(
            shard_index < shard_count,
            "shard {shard_index} of {shard_count}"
        );
        assert!(shard_index < 1 << FETCH_SESSION_SHARD_BITS);
        Self {
            shard_index,
            slots: (FETCH_SESSION_CACHE_SLOTS / shard_count).max(1),
            sessions: HashMap::new(),
            next_sequence: seed & SEQUENCE_MASK,
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Whether session `id` lives here.
    #[must_use]
    pub fn contains(&self, id: i32) -> bool {
        self.sessions.contains_key(&id)
    }

    /// Ends session `id` (a full fetch closing it, or its connection closed).
    pub fn remove(&mut self, id: i32) {
        self.sessions.remove(&id);
    }

    /// How `request` (of `version`) is served; an incremental fetch updates its session.
    ///
    /// # Errors
    /// The top-level error of a refused incremental fetch (see the module docs).
    pub fn begin(
        &mut self,
        now: Instant,
        version: i16,
        request: &FetchRequest,
    ) -> Result<Begun, ErrorCode> {
        if version < SESSION_VERSION_MIN {
            return Ok(Begun::Sessionless);
        }
        match (request.session_id, request.session_epoch) {
            (0, INITIAL_EPOCH) => Ok(Begun::Full),
            (0, _) => Ok(Begun::Sessionless),
            (id, INITIAL_EPOCH) => {
                self.remove(id);
                Ok(Begun::Full)
            }
            (id, FINAL_EPOCH) => {
                self.remove(id);
                Ok(Begun::Sessionless)
            }
            (id, epoch) => self.begin_incremental(now, version, id, epoch, request),
        }
    }

    fn begin_incremental(
        &mut self,
        now: Instant,
        version: i16,
        id: i32,
        epoch: i32,
        request: &FetchRequest,
    ) -> Result<Begun, ErrorCode> {
        if shard_of(id) != self.shard_index {
            return Err(ErrorCode::FetchSessionIdNotFound);
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return Err(ErrorCode::FetchSessionIdNotFound);
        };
        if session.epoch != epoch {
            return Err(ErrorCode::InvalidFetchSessionEpoch);
        }
        if session.uses_topic_ids != (version >= TOPIC_ID_VERSION_MIN) {
            return Err(ErrorCode::FetchSessionTopicIdError);
        }
        session.last_used = now;
        // Kafka's order: the named partitions first, then the forgotten ones (a partition
        // both named and forgotten leaves the session).
        session.update(&request.topics);
        session.forget(&request.forgotten_topics_data);
        if session.partitions.len() > FETCH_SESSION_PARTITIONS_MAX {
            self.sessions.remove(&id);
            return Err(ErrorCode::FetchSessionIdNotFound);
        }
        if session.partitions.is_empty() {
            // Everything forgotten: the session ends and the fetch is answered sessionless
            // (session id 0), as Kafka does.
            self.sessions.remove(&id);
            return Ok(Begun::Sessionless);
        }
        session.epoch = next_epoch(epoch);
        let request = session.request(request);
        Ok(Begun::Incremental { id, epoch, request })
    }

    /// After a full fetch's answer (`answers` in the request's partition order): a new
    /// session holding the request's partitions, or 0 when there is no slot or the request
    /// names more than `FETCH_SESSION_PARTITIONS_MAX` partitions.
    pub fn create(
        &mut self,
        now: Instant,
        version: i16,
        privileged: bool,
        request: &FetchRequest,
        answers: &[Answer],
    ) -> i32 {
        let count: usize = request
            .topics
            .iter()
            .map(|topic| topic.partitions.len())
            .sum();
        assert_eq!(count, answers.len(), "one answer per requested partition");
        if count > FETCH_SESSION_PARTITIONS_MAX || !self.make_room(now) {
            return 0;
        }
        let mut session = FetchSession {
            epoch: next_epoch(INITIAL_EPOCH),
            uses_topic_ids: version >= TOPIC_ID_VERSION_MIN,
            privileged,
            partitions: Vec::with_capacity(count),
            last_used: now,
        };
        session.update(&request.topics);
        let mut answers = answers.iter();
        // Every requested partition is answered; a partition named twice keeps its first
        // place and is answered (and recorded) twice.
        for topic in &request.topics {
            for fetch in &topic.partitions {
                let (by_id, partition) = (session.uses_topic_ids, fetch.partition);
                let cached = session
                    .partitions
                    .iter_mut()
                    .find(|cached| cached.is(by_id, topic.topic_id, &topic.topic, partition));
                if let (Some(cached), Some(answer)) = (cached, answers.next()) {
                    cached.answered(answer);
                }
            }
        }
        let id = self.allocate_id();
        self.sessions.insert(id, session);
        assert!(
            self.sessions.len() <= self.slots,
            "{} sessions",
            self.sessions.len()
        );
        id
    }

    /// After an incremental fetch's answer (`answers` in the order of [`Begun::Incremental`]'s
    /// request): which partitions to send.
    ///
    /// # Errors
    /// FETCH_SESSION_ID_NOT_FOUND when the session ended or moved on while the fetch was
    /// read (evicted, closed, or a second fetch of the same epoch raced it): the client starts
    /// over with a full fetch.
    pub fn answer(
        &mut self,
        id: i32,
        epoch: i32,
        answers: &[Answer],
    ) -> Result<Vec<bool>, ErrorCode> {
        let Some(session) = self.sessions.get_mut(&id) else {
            return Err(ErrorCode::FetchSessionIdNotFound);
        };
        if session.epoch != next_epoch(epoch) || session.partitions.len() != answers.len() {
            return Err(ErrorCode::FetchSessionIdNotFound);
        }
        let send: Vec<bool> = session
            .partitions
            .iter_mut()
            .zip(answers)
            .map(|(cached, answer)| cached.answered(answer))
            .collect();
        let records: Vec<bool> = answers.iter().map(|answer| answer.has_records).collect();
        session.rotate(&records);
        assert_eq!(send.len(), answers.len());
        Ok(send)
    }

    /// Frees a slot for a new session if needed: a stale session's, else the least recently
    /// used consumer session's. Whether there is a slot.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.sessions.len() < self.slots {
            return true;
        }
        let stale_after = Duration::from_millis(FETCH_SESSION_EVICTION_MS);
        let oldest = |consumers_only: bool| {
            self.sessions
                .iter()
                .filter(|(_, session)| {
                    now.saturating_duration_since(session.last_used) >= stale_after
                        || (consumers_only && !session.privileged)
                })
                .min_by_key(|(_, session)| session.last_used)
                .map(|(id, _)| *id)
        };
        // A consumer takes a stale slot or a consumer's, never a follower's. A follower takes
        // the same: Kafka privileges followers over consumers, and a follower's session is
        // evicted only when stale (two followers never take turns evicting each other).
        let victim = oldest(false).or_else(|| oldest(true));
        match victim {
            Some(id) => {
                self.sessions.remove(&id);
                true
            }
            None => false,
        }
    }

    /// A session id not in use, naming this shard in its low bits.
    fn allocate_id(&mut self) -> i32 {
        // Loop bound: at most `slots` ids are in use, so `slots + 2` sequence numbers (one may
        // be the reserved 0) include a free one.
        for _ in 0..self.slots + 2 {
            let sequence = self.next_sequence;
            self.next_sequence = (sequence + 1) & SEQUENCE_MASK;
            if sequence == 0 {
                continue;
            }
            let shard = u32::try_from(self.shard_index).unwrap_or(0);
            let raw = (sequence << FETCH_SESSION_SHARD_BITS) | shard;
            let id = i32::try_from(raw).unwrap_or(0);
            if id > 0 && !self.sessions.contains_key(&id) {
                assert_eq!(shard_of(id), self.shard_index);
                return id;
            }
        }
        unreachable!(
            "{} sessions in {} slots left no free id",
            self.sessions.len(),
            self.slots
        )
    }
}

/// A connection's handle on its shard's sessions, and the sessions it created: when the
/// connection (every clone of its context) is gone, they end, freeing their slots at once
/// instead of at eviction.
#[derive(Debug)]
pub struct ConnectionSessions {
    cache: Rc<RefCell<SessionCache>>,
    ids: RefCell<Vec<i32>>,
}

impl ConnectionSessions {
    /// For a connection of shard `shard_index` of `shard_count`.
    #[must_use]
    pub fn new(shard_index: usize, shard_count: usize) -> Self {
        Self {
            cache: shard_cache(shard_index, shard_count),
            ids: RefCell::default(),
        }
    }

    /// The shard's sessions. Never borrowed across an await.
    #[must_use]
    pub fn cache(&self) -> &Rc<RefCell<SessionCache>> {
        &self.cache
    }

    /// Records that this connection created session `id` (forgetting ended ones).
    pub fn created(&self, cache: &SessionCache, id: i32) {
        let mut ids = self.ids.borrow_mut();
        ids.retain(|known| cache.contains(*known));
        ids.push(id);
    }
}

impl Drop for ConnectionSessions {
    fn drop(&mut self) {
        let cache = &self.cache;
        // No borrow of the cache is held across an await anywhere, so this cannot fail on
        // a single-threaded shard; if it ever did, eviction still frees the slots.
        if let Ok(mut cache) = cache.try_borrow_mut() {
            for id in self.ids.borrow().iter() {
                cache.remove(*id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const TOPIC: Uuid = Uuid([7; 16]);
    const OTHER: Uuid = Uuid([8; 16]);
    const VERSION: i16 = 16;

    fn partition(index: i32, offset: i64) -> FetchPartition {
        FetchPartition {
            partition: index,
            fetch_offset: offset,
            partition_max_bytes: 1024,
            ..FetchPartition::default()
        }
    }

    fn topic(id: Uuid, partitions: Vec<FetchPartition>) -> FetchTopic {
        FetchTopic {
            topic_id: id,
            partitions,
            ..FetchTopic::default()
        }
    }

    fn request(id: i32, epoch: i32, topics: Vec<FetchTopic>) -> FetchRequest {
        FetchRequest {
            session_id: id,
            session_epoch: epoch,
            topics,
            ..FetchRequest::default()
        }
    }

    fn quiet(high_watermark: i64) -> Answer {
        Answer {
            has_records: false,
            error_code: ErrorCode::None,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: 0,
            must_send: false,
        }
    }

    fn with_records(high_watermark: i64) -> Answer {
        Answer {
            has_records: true,
            ..quiet(high_watermark)
        }
    }

    /// A cache on shard 1 of 2 with a session over TOPIC 0 and 1 (both answered at HW 10).
    fn session(now: Instant) -> (SessionCache, i32) {
        let mut cache = SessionCache::new(1, 2, 5);
        let full = request(
            0,
            0,
            vec![topic(TOPIC, vec![partition(0, 0), partition(1, 0)])],
        );
        assert_eq!(cache.begin(now, VERSION, &full), Ok(Begun::Full));
        let id = cache.create(now, VERSION, false, &full, &[quiet(10), quiet(10)]);
        assert_ne!(id, 0);
        (cache, id)
    }

    fn incremental(
        cache: &mut SessionCache,
        now: Instant,
        request: &FetchRequest,
    ) -> (i32, FetchRequest) {
        match cache.begin(now, VERSION, request) {
            Ok(Begun::Incremental { epoch, request, .. }) => (epoch, request),
            other => panic!("not incremental: {other:?}"),
        }
    }

    fn offsets(request: &FetchRequest) -> Vec<(Uuid, i32, i64)> {
        request
            .topics
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .map(|p| (topic.topic_id, p.partition, p.fetch_offset))
            })
            .collect()
    }

    #[test]
    fn contexts_follow_id_and_epoch() {
        let now = Instant::now();
        let mut cache = SessionCache::new(0, 1, 0);
        let sessionless = request(0, -1, Vec::new());
        assert_eq!(
            cache.begin(now, VERSION, &sessionless),
            Ok(Begun::Sessionless)
        );
        assert_eq!(
            cache.begin(now, 6, &request(0, 0, Vec::new())),
            Ok(Begun::Sessionless)
        );
        assert_eq!(
            cache.begin(now, VERSION, &request(0, 0, Vec::new())),
            Ok(Begun::Full)
        );
        assert_eq!(
            cache.begin(now, VERSION, &request(12_345, 1, Vec::new())),
            Err(ErrorCode::FetchSessionIdNotFound)
        );
    }

    #[test]
    fn ids_name_their_shard_and_are_positive() {
        let now = Instant::now();
        for seed in [0, 1, SEQUENCE_MASK, u32::MAX] {
            let mut cache = SessionCache::new(3, 4, seed);
            let full = request(0, 0, Vec::new());
            let id = cache.create(now, VERSION, false, &full, &[]);
            assert!(id > 0, "seed {seed}: id {id}");
            assert_eq!(shard_of(id), 3);
        }
        assert_eq!(shard_of(0x0102_0305), 5);
    }

    #[test]
    fn epochs_advance_and_wrap_to_one() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(41), 42);
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    #[test]
    fn incremental_fetch_serves_the_whole_session_and_sends_only_news() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        // Partition 1 moved to offset 5; partition 0 is not named.
        let next = request(id, 1, vec![topic(TOPIC, vec![partition(1, 5)])]);
        let (epoch, whole) = incremental(&mut cache, now, &next);
        assert_eq!(epoch, 1);
        assert_eq!(offsets(&whole), vec![(TOPIC, 0, 0), (TOPIC, 1, 5)]);
        // Partition 0: same HW, nothing new; partition 1: records.
        let send = cache.answer(id, 1, &[quiet(10), with_records(12)]).unwrap();
        assert_eq!(send, vec![false, true]);
        // Next epoch: partition 0's HW moved, partition 1 quiet at its new HW.
        let (epoch, whole) = incremental(&mut cache, now, &request(id, 2, Vec::new()));
        assert_eq!(epoch, 2);
        // Partition 1 returned records, so it went last.
        assert_eq!(offsets(&whole), vec![(TOPIC, 0, 0), (TOPIC, 1, 5)]);
        let send = cache.answer(id, 2, &[quiet(11), quiet(12)]).unwrap();
        assert_eq!(send, vec![true, false]);
    }

    #[test]
    fn partitions_with_records_rotate_to_the_end() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        let (_, _) = incremental(&mut cache, now, &request(id, 1, Vec::new()));
        cache.answer(id, 1, &[with_records(11), quiet(10)]).unwrap();
        let (_, whole) = incremental(&mut cache, now, &request(id, 2, Vec::new()));
        assert_eq!(offsets(&whole), vec![(TOPIC, 1, 0), (TOPIC, 0, 0)]);
    }

    #[test]
    fn forgotten_and_added_partitions_change_the_session() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        let mut next = request(id, 1, vec![topic(OTHER, vec![partition(4, 9)])]);
        next.forgotten_topics_data = vec![ForgottenTopic {
            topic_id: TOPIC,
            partitions: vec![0],
            ..ForgottenTopic::default()
        }];
        let (_, whole) = incremental(&mut cache, now, &next);
        assert_eq!(offsets(&whole), vec![(TOPIC, 1, 0), (OTHER, 4, 9)]);
        // The new partition is always sent the first time.
        let send = cache.answer(id, 1, &[quiet(10), quiet(0)]).unwrap();
        assert_eq!(send, vec![false, true]);
    }

    #[test]
    fn forgetting_everything_ends_the_session() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        let mut all = request(id, 1, Vec::new());
        all.forgotten_topics_data = vec![ForgottenTopic {
            topic_id: TOPIC,
            partitions: vec![0, 1],
            ..ForgottenTopic::default()
        }];
        assert_eq!(cache.begin(now, VERSION, &all), Ok(Begun::Sessionless));
        assert!(!cache.contains(id));
    }

    #[test]
    fn errors_are_sent_and_resent_once_cleared() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        incremental(&mut cache, now, &request(id, 1, Vec::new()));
        let refused = Answer {
            error_code: ErrorCode::NotLeaderOrFollower,
            high_watermark: -1,
            ..quiet(-1)
        };
        assert_eq!(
            cache.answer(id, 1, &[refused, quiet(10)]).unwrap(),
            vec![true, false]
        );
        incremental(&mut cache, now, &request(id, 2, Vec::new()));
        // Cleared, back at the HW it had before the error: sent again.
        assert_eq!(
            cache.answer(id, 2, &[quiet(10), quiet(10)]).unwrap(),
            vec![true, false]
        );
    }

    #[test]
    fn bad_epoch_and_topic_addressing_are_refused() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        let stale = request(id, 5, Vec::new());
        assert_eq!(
            cache.begin(now, VERSION, &stale),
            Err(ErrorCode::InvalidFetchSessionEpoch)
        );
        let by_name = request(id, 1, Vec::new());
        assert_eq!(
            cache.begin(now, 12, &by_name),
            Err(ErrorCode::FetchSessionTopicIdError)
        );
        // Refusals leave the session as it was.
        incremental(&mut cache, now, &request(id, 1, Vec::new()));
    }

    #[test]
    fn a_session_on_another_shard_is_not_found() {
        let now = Instant::now();
        let (cache, id) = session(now);
        let mut other = SessionCache::new(0, 2, 5);
        assert!(cache.contains(id));
        let next = request(id, 1, Vec::new());
        assert_eq!(
            other.begin(now, VERSION, &next),
            Err(ErrorCode::FetchSessionIdNotFound)
        );
    }

    #[test]
    fn full_fetches_close_sessions() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        assert_eq!(
            cache.begin(now, VERSION, &request(id, -1, Vec::new())),
            Ok(Begun::Sessionless)
        );
        assert!(!cache.contains(id));
        let (mut cache, id) = session(now);
        assert_eq!(
            cache.begin(now, VERSION, &request(id, 0, Vec::new())),
            Ok(Begun::Full)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn an_answer_for_a_session_that_moved_on_is_refused() {
        let now = Instant::now();
        let (mut cache, id) = session(now);
        incremental(&mut cache, now, &request(id, 1, Vec::new()));
        incremental(&mut cache, now, &request(id, 2, Vec::new()));
        let late = cache.answer(id, 1, &[quiet(10), quiet(10)]);
        assert_eq!(late, Err(ErrorCode::FetchSessionIdNotFound));
        cache.remove(id);
        let gone = cache.answer(id, 2, &[quiet(10), quiet(10)]);
        assert_eq!(gone, Err(ErrorCode::FetchSessionIdNotFound));
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_consumer_never_a_follower() {
        let start = Instant::now();
        // One shard of 1000: FETCH_SESSION_CACHE_SLOTS slots.
        let mut cache = SessionCache::new(0, FETCH_SESSION_CACHE_SLOTS, 1);
        assert_eq!(cache.slots, 1);
        let full = request(0, 0, vec![topic(TOPIC, vec![partition(0, 0)])]);
        let answers = [quiet(0)];
        let follower = cache.create(start, VERSION, true, &full, &answers);
        assert_ne!(follower, 0);
        // A consumer gets no slot: the only session is a follower's, not stale.
        let later = start + Duration::from_secs(1);
        assert_eq!(cache.create(later, VERSION, false, &full, &answers), 0);
        assert!(cache.contains(follower));
        // Stale, the follower's slot goes to anyone.
        let stale = start + Duration::from_millis(FETCH_SESSION_EVICTION_MS);
        let consumer = cache.create(stale, VERSION, false, &full, &answers);
        assert_ne!(consumer, 0);
        assert!(!cache.contains(follower));

        let mut cache = SessionCache::new(0, 500, 1);
        assert_eq!(cache.slots, 2);
        let first = cache.create(start, VERSION, false, &full, &answers);
        let second = cache.create(later, VERSION, false, &full, &answers);
        // `first` is used again, so `second` is the least recently used.
        incremental(
            &mut cache,
            later + Duration::from_secs(1),
            &request(first, 1, Vec::new()),
        );
        let third = cache.create(
            later + Duration::from_secs(2),
            VERSION,
            true,
            &full,
            &answers,
        );
        assert_ne!(third, 0);
        assert!(cache.contains(first));
        assert!(!cache.contains(second));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn sessions_hold_a_bounded_number_of_partitions() {
        let now = Instant::now();
        let mut cache = SessionCache::new(0, 1, 1);
        let many: Vec<FetchPartition> = (0..=i32::try_from(FETCH_SESSION_PARTITIONS_MAX).unwrap())
            .map(|index| partition(index, 0))
            .collect();
        let answers = vec![quiet(0); many.len()];
        let full = request(0, 0, vec![topic(TOPIC, many.clone())]);
        assert_eq!(cache.create(now, VERSION, false, &full, &answers), 0);
        let (mut cache, id) = session(now);
        let grow = request(id, 1, vec![topic(OTHER, many)]);
        assert_eq!(
            cache.begin(now, VERSION, &grow),
            Err(ErrorCode::FetchSessionIdNotFound)
        );
        assert!(!cache.contains(id));
    }

    #[test]
    fn a_closed_connection_ends_its_sessions() {
        let now = Instant::now();
        // A shard index no other test of this thread uses.
        let connection = ConnectionSessions::new(200, 256);
        let shared = Rc::clone(connection.cache());
        assert!(Rc::ptr_eq(
            &shared,
            ConnectionSessions::new(200, 256).cache()
        ));
        let id = shared
            .borrow_mut()
            .create(now, VERSION, false, &request(0, 0, Vec::new()), &[]);
        connection.created(&shared.borrow(), id);
        assert!(shared.borrow().contains(id));
        drop(connection);
        assert!(shared.borrow().is_empty());
    }
}
