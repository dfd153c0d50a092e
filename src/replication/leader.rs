//! The leader half of one partition's replica state machine: follower log end offsets, the
//! high watermark, ISR proposals and acks=all waiters.
//!
//! Rules (Kafka's, with KIP-497, KIP-903 and KIP-966):
//! - A follower's fetch offset is its log end offset (LEO): asking for offset n acknowledges
//!   everything below n. A fetch whose LastFetchedEpoch does not match the leader's
//!   leader-epoch cache gets a DivergingEpoch and changes nothing here.
//! - HW = min LEO over the maximal ISR (the committed ISR plus the pending proposal's members,
//!   the leader included), advanced only while the committed ISR has ≥ min.insync.replicas
//!   members; it never goes back. A follower whose LEO is unknown (no fetch since this leader
//!   took over) holds the HW where it is.
//! - A follower is caught up when its LEO reached the leader's LEO at some moment within
//!   `replica.lag.time.max.ms` (Kafka's lastCaughtUpTime); an ISR member that is not gets
//!   proposed out. A non-member whose LEO ≥ HW and ≥ this epoch's start offset gets proposed
//!   in, and only on its own fetch, as Kafka's maybeExpandIsr: the LEO it joins on is the one
//!   that fetch reported, never one remembered from before (a replica removed and re-added in
//!   one metadata batch here has deleted and restarted its log meanwhile).
//!   The leader never proposes an ISR without itself; at most one proposal is in flight, and
//!   the committed partition state (an input) clears it.
//! - A leader that learns a newer leader epoch, or another leader, is fenced: it answers every
//!   waiter NOT_LEADER_OR_FOLLOWER, never moves the HW again and acknowledges nothing more.
//!
//! Sans-IO: no I/O, no async, no clock reads; `now` is a `Duration` since any fixed origin.
//! Driven by the partition's shard (produce path, fetch handler, a periodic tick) in the broker
//! and by the simulator. [`LeaderReplica::check_invariants`] asserts what holds whatever the
//! peers send; `invariants.rs` checks the properties that depend on honest peers.
use std::time::Duration;

use super::acks::{AckAnswer, AckOutcome, AckTicket, AckWaiters};
use super::epochs::{LeaderEpochCache, UNDEFINED_EPOCH};
use super::replica::{
    FetchAnswer, FetchError, FollowerFetch, IsrProposal, ReplicaConfig, ReplicaId,
};
use crate::cluster::metadata::PartitionState;
use crate::protocol::ErrorCode;

/// What a call asks the caller to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaderEffects {
    /// acks=all requests to answer now.
    pub acks: Vec<AckAnswer>,
    /// An ISR change to send to the controller (AlterPartition).
    pub proposal: Option<IsrProposal>,
    /// The new high watermark, when it moved (storage and consumers learn it).
    pub high_watermark: Option<i64>,
}

/// Why a produce with acks=all is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProduceError {
    #[error("not the leader any more")]
    NotLeader,
    /// Checked before the append: NOT_ENOUGH_REPLICAS.
    #[error("ISR has {isr_count} members, below min.insync.replicas {min_insync_replicas}")]
    NotEnoughReplicas {
        isr_count: usize,
        min_insync_replicas: usize,
    },
    /// Every waiter slot is taken. Before the append it answers NOT_ENOUGH_REPLICAS (nothing
    /// was written); after it (a slot was taken meanwhile), NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    #[error("{count} acks=all requests already wait on this partition")]
    TooManyWaiters { count: usize },
}

impl ProduceError {
    /// The partition's error code, for a refusal before (`appended = false`) or after the
    /// append.
    #[must_use]
    pub fn error_code(self, appended: bool) -> ErrorCode {
        match (self, appended) {
            (ProduceError::NotLeader, _) => ErrorCode::NotLeaderOrFollower,
            (_, false) => ErrorCode::NotEnoughReplicas,
            (_, true) => ErrorCode::NotEnoughReplicasAfterAppend,
        }
    }
}

/// A registered acks=all request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckRegistration {
    /// The HW already passed the batch: answer OK now.
    Done,
    /// Parked; its answer comes in a later `LeaderEffects::acks`.
    Parked(AckTicket),
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy)]
struct FollowerProgress {
    replica_id: ReplicaId,
    broker_epoch: Option<i64>,
    /// `None` until its first fetch since this leader took over.
    log_end_offset: Option<i64>,
    last_caught_up: Duration,
    last_fetch_leader_log_end_offset: i64,
    last_fetch_time: Duration,
}

/// The leader side of one partition.
#[derive(Debug)]
pub struct LeaderReplica {
    config: ReplicaConfig,
    leader_epoch: i32,
    partition_epoch: i32,
    replicas: Vec<ReplicaId>,
    /// The committed ISR.
    isr: Vec<ReplicaId>,
    proposal: Option<IsrProposal>,
    /// The leader's LEO when it took over: where this epoch starts.
    leader_epoch_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    followers: Vec<FollowerProgress>,
    waiters: AckWaiters,
    fenced: bool,
}

impl LeaderReplica {
    /// A leader taking over `state` (committed, naming this broker as leader) with its log at
    /// `log_end_offset` and `high_watermark`.
    ///
    /// # Panics
    /// When `state` does not name this broker as leader in its ISR, or the offsets are out of
    /// order: the caller builds a leader only from such a state and its own log.
    #[must_use]
    pub fn new(
        config: ReplicaConfig,
        state: &PartitionState,
        log_end_offset: i64,
        high_watermark: i64,
        now: Duration,
    ) -> Self {
        config.check();
        assert_eq!(
            state.leader, config.replica_id,
            "not the leader of {state:?}"
        );
        assert!(
            state.isr.contains(&config.replica_id),
            "leader outside its ISR: {state:?}"
        );
        assert!(0 <= high_watermark, "negative HW {high_watermark}");
        assert!(
            high_watermark <= log_end_offset,
            "HW {high_watermark} > LEO {log_end_offset}"
        );
        let followers = state
            .replicas
            .iter()
            .filter(|&&replica_id| replica_id != config.replica_id)
            .map(|&replica_id| {
                let in_sync = state.isr.contains(&replica_id);
                new_progress(replica_id, in_sync, now, log_end_offset)
            })
            .collect();
        let leader = LeaderReplica {
            config,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            replicas: state.replicas.clone(),
            isr: state.isr.clone(),
            proposal: None,
            leader_epoch_start_offset: log_end_offset,
            log_end_offset,
            high_watermark,
            followers,
            waiters: AckWaiters::default(),
            fenced: false,
        };
        leader.check_invariants();
        leader
    }

    #[must_use]
    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }
    #[must_use]
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    #[must_use]
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }
    #[must_use]
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    #[must_use]
    pub fn leader_epoch_start_offset(&self) -> i64 {
        self.leader_epoch_start_offset
    }
    /// The committed ISR.
    #[must_use]
    pub fn isr(&self) -> &[ReplicaId] {
        &self.isr
    }
    #[must_use]
    pub fn replicas(&self) -> &[ReplicaId] {
        &self.replicas
    }
    /// The ISR change in flight, if any.
    #[must_use]
    pub fn proposal(&self) -> Option<&IsrProposal> {
        self.proposal.as_ref()
    }
    #[must_use]
    pub fn is_fenced(&self) -> bool {
        self.fenced
    }
    #[must_use]
    pub fn ack_waiter_count(&self) -> usize {
        self.waiters.len()
    }

    /// The committed ISR plus the members of the proposal in flight: the set the HW waits for.
    #[must_use]
    pub fn maximal_isr(&self) -> Vec<ReplicaId> {
        let mut members = self.isr.clone();
        for &replica_id in self.proposal.iter().flat_map(|proposal| &proposal.new_isr) {
            if !members.contains(&replica_id) {
                members.push(replica_id);
            }
        }
        members
    }

    /// A replica's LEO as this leader knows it (its own for the leader; `None` for a follower
    /// that has not fetched since this leader took over, or a non-replica).
    #[must_use]
    pub fn replica_log_end_offset(&self, replica_id: ReplicaId) -> Option<i64> {
        if replica_id == self.config.replica_id {
            return Some(self.log_end_offset);
        }
        self.progress(replica_id)
            .and_then(|progress| progress.log_end_offset)
    }

    /// Whether an acks=all produce may append now (checked before the append).
    ///
    /// # Errors
    /// `NotLeader` when fenced, `NotEnoughReplicas` when the committed ISR is below
    /// min.insync.replicas, `TooManyWaiters` when no waiter slot is free.
    pub fn check_append_acks_all(&self) -> Result<(), ProduceError> {
        if self.fenced {
            return Err(ProduceError::NotLeader);
        }
        if self.isr.len() < self.config.min_insync_replicas {
            return Err(ProduceError::NotEnoughReplicas {
                isr_count: self.isr.len(),
                min_insync_replicas: self.config.min_insync_replicas,
            });
        }
        if self.waiters.len() >= self.config.ack_waiters_max {
            return Err(ProduceError::TooManyWaiters {
                count: self.waiters.len(),
            });
        }
        Ok(())
    }

    /// The leader's own log grew to `log_end_offset` (a produce append).
    ///
    /// # Panics
    /// When the log end offset goes back: the leader's log only grows.
    pub fn append(&mut self, log_end_offset: i64) -> LeaderEffects {
        assert!(
            log_end_offset >= self.log_end_offset,
            "leader LEO back from {} to {log_end_offset}",
            self.log_end_offset
        );
        self.log_end_offset = log_end_offset;
        let mut effects = LeaderEffects::default();
        self.maybe_advance_high_watermark(&mut effects);
        self.check_invariants();
        effects
    }

    /// Parks an acks=all request for the batch ending at `last_offset` (already appended)
    /// until the HW passes it or `deadline`.
    ///
    /// # Errors
    /// `NotLeader` when fenced; `TooManyWaiters` when every slot is taken.
    ///
    /// # Panics
    /// When `last_offset` is not below the leader's LEO (register after the append).
    pub fn register_ack(
        &mut self,
        last_offset: i64,
        deadline: Duration,
    ) -> Result<AckRegistration, ProduceError> {
        assert!(
            last_offset < self.log_end_offset,
            "ack for {last_offset} at LEO {}",
            self.log_end_offset
        );
        if self.fenced {
            return Err(ProduceError::NotLeader);
        }
        if last_offset < self.high_watermark {
            return Ok(AckRegistration::Done);
        }
        if self.waiters.len() >= self.config.ack_waiters_max {
            return Err(ProduceError::TooManyWaiters {
                count: self.waiters.len(),
            });
        }
        let ticket = self.waiters.push(last_offset, deadline);
        if self.isr.len() < self.config.min_insync_replicas {
            self.waiters.mark_isr_below_min();
        }
        self.check_invariants();
        Ok(AckRegistration::Parked(ticket))
    }

    /// Time passed: answers waiters past their deadline and proposes ISR shrinks for
    /// followers that stopped catching up. Called periodically (Kafka checks every half lag
    /// time) and whenever a waiter's deadline may have passed.
    pub fn tick(&mut self, now: Duration) -> LeaderEffects {
        let mut effects = LeaderEffects::default();
        self.waiters.expire(now, &mut effects.acks);
        self.maybe_propose(now, None, &mut effects);
        self.check_invariants();
        effects
    }

    /// A follower's fetch of this partition (its records are read by the caller when the
    /// answer has no DivergingEpoch). `epochs` is the leader's leader-epoch cache.
    ///
    /// # Errors
    /// A [`FetchError`] for the partition's error code; nothing changes then.
    pub fn follower_fetch(
        &mut self,
        fetch: &FollowerFetch,
        epochs: &LeaderEpochCache,
        now: Duration,
    ) -> Result<(FetchAnswer, LeaderEffects), FetchError> {
        self.validate_fetch(fetch)?;
        let mut effects = LeaderEffects::default();
        if let Some(diverging) = self.diverging_epoch(fetch, epochs) {
            let answer = FetchAnswer {
                leader_epoch: self.leader_epoch,
                high_watermark: self.high_watermark,
                diverging_epoch: Some(diverging),
                caught_up: false,
            };
            return Ok((answer, effects));
        }
        // After the epoch check, as Kafka does: a follower ahead of a new leader gets a
        // DivergingEpoch (and truncates), not an error it cannot recover from.
        if fetch.fetch_offset < 0 || fetch.fetch_offset > self.log_end_offset {
            return Err(FetchError::OffsetOutOfRange {
                fetch_offset: fetch.fetch_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let leader_log_end_offset = self.log_end_offset;
        let progress = self
            .progress_mut(fetch.replica_id)
            .ok_or(FetchError::UnknownReplica {
                replica_id: fetch.replica_id,
            })?;
        progress.broker_epoch = Some(fetch.broker_epoch);
        progress.log_end_offset = Some(fetch.fetch_offset);
        if fetch.fetch_offset >= leader_log_end_offset {
            progress.last_caught_up = now;
        } else if fetch.fetch_offset >= progress.last_fetch_leader_log_end_offset {
            progress.last_caught_up = progress.last_caught_up.max(progress.last_fetch_time);
        }
        progress.last_fetch_leader_log_end_offset = leader_log_end_offset;
        progress.last_fetch_time = now;
        self.maybe_advance_high_watermark(&mut effects);
        self.maybe_propose(now, Some(fetch.replica_id), &mut effects);
        self.check_invariants();
        let answer = FetchAnswer {
            leader_epoch: self.leader_epoch,
            high_watermark: self.high_watermark,
            diverging_epoch: None,
            caught_up: fetch.fetch_offset >= leader_log_end_offset,
        };
        Ok((answer, effects))
    }

    /// The committed partition state moved (a record of the metadata log was applied).
    /// Another leader fences this one; a newer leader epoch naming this broker again (a
    /// reassignment dropped a replica) starts that epoch here, as Kafka's makeLeader does for a
    /// leader that stays: the epoch starts at the log end (the caller records it in the epoch
    /// cache), followers keep the offsets they reported, the in-sync ones count as caught up
    /// now, and parked acks=all requests keep waiting. A newer partition epoch replaces the ISR
    /// and clears the proposal in flight; an older state is ignored.
    pub fn apply_committed(&mut self, state: &PartitionState, now: Duration) -> LeaderEffects {
        let mut effects = LeaderEffects::default();
        if self.fenced {
            return effects;
        }
        if state.leader != self.config.replica_id {
            self.fence(&mut effects);
            return effects;
        }
        if state.leader_epoch > self.leader_epoch {
            self.start_epoch(state, now);
        }
        if state.leader_epoch < self.leader_epoch || state.partition_epoch <= self.partition_epoch {
            return effects;
        }
        assert!(
            state.isr.contains(&self.config.replica_id),
            "leader left the ISR: {state:?}"
        );
        self.partition_epoch = state.partition_epoch;
        self.isr = state.isr.clone();
        self.proposal = None;
        self.replace_replicas(&state.replicas, now);
        if self.isr.len() < self.config.min_insync_replicas {
            self.waiters.mark_isr_below_min();
        }
        self.maybe_advance_high_watermark(&mut effects);
        self.maybe_propose(now, None, &mut effects);
        self.check_invariants();
        effects
    }

    /// The controller refused the proposal in flight, or it was lost: a later call may
    /// propose again.
    pub fn proposal_failed(&mut self) {
        self.proposal = None;
    }

    /// Stops leading (a newer leader epoch was learned some other way, or the partition
    /// moved away): answers every waiter NOT_LEADER_OR_FOLLOWER.
    pub fn resign(&mut self) -> LeaderEffects {
        let mut effects = LeaderEffects::default();
        if !self.fenced {
            self.fence(&mut effects);
        }
        effects
    }

    fn fence(&mut self, effects: &mut LeaderEffects) {
        self.fenced = true;
        self.proposal = None;
        #[allow(unused_mut)]
        let mut outcome = AckOutcome::NotLeaderOrFollower;
        #[cfg(feature = "sim-bugs")]
        if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::FencedLeaderAcks) {
            outcome = AckOutcome::Ok;
        }
        self.waiters.drain(outcome, &mut effects.acks);
        assert_eq!(self.waiters.len(), 0, "waiters left after fencing");
    }

    fn validate_fetch(&self, fetch: &FollowerFetch) -> Result<(), FetchError> {
        if self.fenced {
            return Err(FetchError::NotLeader);
        }
        let (requested, current) = (fetch.current_leader_epoch, self.leader_epoch);
        if requested < current {
            return Err(FetchError::FencedLeaderEpoch { requested, current });
        }
        if requested > current {
            return Err(FetchError::UnknownLeaderEpoch { requested, current });
        }
        let replica_id = fetch.replica_id;
        let progress = self
            .progress(replica_id)
            .ok_or(FetchError::UnknownReplica { replica_id })?;
        if let Some(seen) = progress
            .broker_epoch
            .filter(|&seen| seen > fetch.broker_epoch)
        {
            return Err(FetchError::StaleBrokerEpoch {
                replica_id,
                requested: fetch.broker_epoch,
                seen,
            });
        }
        Ok(())
    }

    /// Kafka's fetch-offset validation: the follower's last fetched epoch must end, in the
    /// leader's log, at or after its fetch offset.
    fn diverging_epoch(
        &self,
        fetch: &FollowerFetch,
        epochs: &LeaderEpochCache,
    ) -> Option<super::epochs::EpochEndOffset> {
        if fetch.last_fetched_epoch == UNDEFINED_EPOCH {
            return None;
        }
        let end = epochs.end_offset_for(fetch.last_fetched_epoch, self.log_end_offset);
        (end.epoch < fetch.last_fetched_epoch || end.end_offset < fetch.fetch_offset).then_some(end)
    }

    fn maybe_advance_high_watermark(&mut self, effects: &mut LeaderEffects) {
        #[allow(unused_mut)]
        let mut below_min = self.isr.len() < self.config.min_insync_replicas;
        #[cfg(feature = "sim-bugs")]
        if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::AcksBelowMinIsr) {
            below_min = false;
        }
        if self.fenced || below_min {
            return;
        }
        let mut low = Some(self.log_end_offset);
        for replica_id in self.maximal_isr() {
            let offset = self.replica_log_end_offset(replica_id);
            low = low.zip(offset).map(|(a, b)| a.min(b));
        }
        #[cfg(feature = "sim-bugs")]
        if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::HwFromHighest) {
            let isr = self.maximal_isr();
            let known = isr.iter().filter_map(|&id| self.replica_log_end_offset(id));
            low = known.max().map(|high| high.min(self.log_end_offset));
        }
        let Some(low) = low.filter(|&low| low > self.high_watermark) else {
            return;
        };
        assert!(
            low <= self.log_end_offset,
            "HW {low} past LEO {}",
            self.log_end_offset
        );
        self.high_watermark = low;
        effects.high_watermark = Some(low);
        self.waiters.release(low, &mut effects.acks);
    }

    /// Proposes dropping the ISR members that stopped catching up and, when `fetched_by` is
    /// the follower whose fetch was just recorded, adding it if it may join.
    fn maybe_propose(
        &mut self,
        now: Duration,
        fetched_by: Option<ReplicaId>,
        effects: &mut LeaderEffects,
    ) {
        if self.fenced || self.proposal.is_some() {
            return;
        }
        let leader_id = self.config.replica_id;
        let mut new_isr = vec![leader_id];
        for progress in &self.followers {
            let member = self.isr.contains(&progress.replica_id);
            let keep = member && self.is_caught_up(progress, now);
            let join =
                !member && fetched_by == Some(progress.replica_id) && self.may_join(progress);
            if keep || join {
                new_isr.push(progress.replica_id);
            }
        }
        let unchanged =
            new_isr.len() == self.isr.len() && new_isr.iter().all(|id| self.isr.contains(id));
        if unchanged {
            return;
        }
        assert!(new_isr.contains(&leader_id), "proposal without the leader");
        let proposal = IsrProposal {
            new_isr,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
        };
        self.proposal = Some(proposal.clone());
        effects.proposal = Some(proposal);
    }

    fn is_caught_up(&self, progress: &FollowerProgress, now: Duration) -> bool {
        progress.log_end_offset == Some(self.log_end_offset)
            || now.saturating_sub(progress.last_caught_up) <= self.config.replica_lag_time_max
    }

    fn may_join(&self, progress: &FollowerProgress) -> bool {
        progress.broker_epoch.is_some()
            && progress.log_end_offset.is_some_and(|offset| {
                offset >= self.high_watermark && offset >= self.leader_epoch_start_offset
            })
    }

    /// Kafka's makeLeader when the leader stays in a new leader epoch (`resetReplicaState`
    /// with `isNewLeader = false`).
    fn start_epoch(&mut self, state: &PartitionState, now: Duration) {
        assert_eq!(state.leader, self.config.replica_id);
        assert!(state.leader_epoch > self.leader_epoch, "not a new epoch");
        self.leader_epoch = state.leader_epoch;
        self.leader_epoch_start_offset = self.log_end_offset;
        for progress in &mut self.followers {
            progress.last_caught_up = if state.isr.contains(&progress.replica_id) {
                now
            } else {
                Duration::ZERO
            };
            progress.last_fetch_leader_log_end_offset = self.log_end_offset;
            progress.last_fetch_time = now;
        }
        assert!(self.leader_epoch_start_offset >= self.high_watermark);
    }

    fn replace_replicas(&mut self, replicas: &[ReplicaId], now: Duration) {
        let leader_id = self.config.replica_id;
        self.followers
            .retain(|progress| replicas.contains(&progress.replica_id));
        for &replica_id in replicas {
            let known = self
                .followers
                .iter()
                .any(|progress| progress.replica_id == replica_id);
            if replica_id != leader_id && !known {
                let in_sync = self.isr.contains(&replica_id);
                let progress = new_progress(replica_id, in_sync, now, self.log_end_offset);
                self.followers.push(progress);
            }
        }
        self.replicas = replicas.to_vec();
    }

    fn progress(&self, replica_id: ReplicaId) -> Option<&FollowerProgress> {
        self.followers
            .iter()
            .find(|progress| progress.replica_id == replica_id)
    }

    fn progress_mut(&mut self, replica_id: ReplicaId) -> Option<&mut FollowerProgress> {
        self.followers
            .iter_mut()
            .find(|progress| progress.replica_id == replica_id)
    }

    /// What holds whatever the followers send.
    ///
    /// # Panics
    /// On a broken invariant (a bug here).
    pub fn check_invariants(&self) {
        let leader_id = self.config.replica_id;
        assert!(
            self.isr.contains(&leader_id),
            "leader {leader_id} outside ISR {:?}",
            self.isr
        );
        if let Some(proposal) = &self.proposal {
            assert!(
                proposal.new_isr.contains(&leader_id),
                "proposal without leader"
            );
            assert_eq!(
                proposal.partition_epoch, self.partition_epoch,
                "stale proposal"
            );
            assert!(!self.fenced, "fenced leader with a proposal");
        }
        assert!(0 <= self.high_watermark, "negative HW");
        assert!(
            self.high_watermark <= self.log_end_offset,
            "HW {} > LEO {}",
            self.high_watermark,
            self.log_end_offset
        );
        assert!(
            self.waiters.len() <= self.config.ack_waiters_max,
            "too many waiters"
        );
        assert!(
            !self.fenced || self.waiters.len() == 0,
            "fenced leader with waiters"
        );
        self.waiters.check_invariants(self.high_watermark);
    }
}

fn new_progress(
    replica_id: ReplicaId,
    in_sync: bool,
    now: Duration,
    leader_log_end_offset: i64,
) -> FollowerProgress {
    FollowerProgress {
        replica_id,
        broker_epoch: None,
        log_end_offset: None,
        // Kafka's resetReplicaState: an ISR member starts caught up now, others never were.
        last_caught_up: if in_sync { now } else { Duration::ZERO },
        last_fetch_leader_log_end_offset: leader_log_end_offset,
        last_fetch_time: now,
    }
}
