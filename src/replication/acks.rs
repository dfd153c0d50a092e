//! acks=all produce requests of one partition parked until the high watermark passes them:
//! answered OK when HW > the batch's last offset, REQUEST_TIMED_OUT at their deadline (or
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND when the committed ISR fell below `min.insync.replicas`
//! while they waited, as Kafka answers), NOT_LEADER_OR_FOLLOWER when the leader is fenced.
//!
//! Bounded by `ReplicaConfig::ack_waiters_max` (≤ `ACK_WAITERS_PER_PARTITION_MAX`). Owned by
//! the leader half of the replica state machine (`leader.rs`); no I/O, time is passed in.
//! Runs on the partition's shard.
use std::collections::VecDeque;
use std::time::Duration;

use crate::protocol::ErrorCode;

/// Names one parked request, so the caller can route its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AckTicket(pub u64);

/// How a parked acks=all request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// HW passed the batch: every ISR member holds it.
    Ok,
    /// The ISR fell below `min.insync.replicas` while the request waited, and it timed out.
    NotEnoughReplicasAfterAppend,
    /// The Produce timeout passed first.
    RequestTimedOut,
    /// This broker stopped leading the partition.
    NotLeaderOrFollower,
}

impl AckOutcome {
    /// The partition's error code in the Produce response.
    #[must_use]
    pub fn error_code(self) -> ErrorCode {
        match self {
            AckOutcome::Ok => ErrorCode::None,
            AckOutcome::NotEnoughReplicasAfterAppend => ErrorCode::NotEnoughReplicasAfterAppend,
            AckOutcome::RequestTimedOut => ErrorCode::RequestTimedOut,
            AckOutcome::NotLeaderOrFollower => ErrorCode::NotLeaderOrFollower,
        }
    }
}

/// One answered waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckAnswer {
    pub ticket: AckTicket,
    /// The batch's last offset.
    pub last_offset: i64,
    pub outcome: AckOutcome,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    ticket: AckTicket,
    last_offset: i64,
    deadline: Duration,
    /// The committed ISR was below min ISR at some moment while it waited.
    isr_below_min: bool,
}

/// The parked requests, in offset order (which [`AckWaiters::check_invariants`] asserts).
#[derive(Debug, Default)]
pub(crate) struct AckWaiters {
    waiters: VecDeque<Waiter>,
    next_ticket: u64,
}

impl AckWaiters {
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Parks a waiter, kept in offset order: two produce requests may register in another
    /// order than they appended (each awaits its own append), so this inserts, not asserts.
    pub(crate) fn push(&mut self, last_offset: i64, deadline: Duration) -> AckTicket {
        let ticket = AckTicket(self.next_ticket);
        self.next_ticket += 1;
        let waiter = Waiter {
            ticket,
            last_offset,
            deadline,
            isr_below_min: false,
        };
        let index = self
            .waiters
            .partition_point(|parked| parked.last_offset <= last_offset);
        self.waiters.insert(index, waiter);
        ticket
    }

    /// Answers OK every waiter whose batch is below `high_watermark`.
    pub(crate) fn release(&mut self, high_watermark: i64, answers: &mut Vec<AckAnswer>) {
        while let Some(waiter) = self.waiters.front().copied() {
            if waiter.last_offset >= high_watermark {
                break;
            }
            self.waiters.pop_front();
            answers.push(answer(waiter, AckOutcome::Ok));
        }
    }

    /// Marks every waiter as having seen the ISR below min ISR.
    pub(crate) fn mark_isr_below_min(&mut self) {
        for waiter in &mut self.waiters {
            waiter.isr_below_min = true;
        }
    }

    /// Answers every waiter whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Duration, answers: &mut Vec<AckAnswer>) {
        self.waiters.retain(|waiter| {
            if waiter.deadline > now {
                return true;
            }
            let outcome = if waiter.isr_below_min {
                AckOutcome::NotEnoughReplicasAfterAppend
            } else {
                AckOutcome::RequestTimedOut
            };
            answers.push(answer(*waiter, outcome));
            false
        });
    }

    /// Answers every waiter with `outcome` (fencing).
    pub(crate) fn drain(&mut self, outcome: AckOutcome, answers: &mut Vec<AckAnswer>) {
        answers.extend(self.waiters.drain(..).map(|waiter| answer(waiter, outcome)));
    }

    /// O(n): waiters in offset order, every one at or above `high_watermark` (a waiter below
    /// it would have been released).
    pub(crate) fn check_invariants(&self, high_watermark: i64) {
        debug_assert!(
            self.waiters
                .iter()
                .zip(self.waiters.iter().skip(1))
                .all(|(a, b)| a.last_offset <= b.last_offset),
            "waiters out of offset order"
        );
        if let Some(first) = self.waiters.front() {
            assert!(
                first.last_offset >= high_watermark,
                "waiter for {} still parked at HW {high_watermark}",
                first.last_offset
            );
        }
    }
}

fn answer(waiter: Waiter, outcome: AckOutcome) -> AckAnswer {
    AckAnswer {
        ticket: waiter.ticket,
        last_offset: waiter.last_offset,
        outcome,
    }
}
