//! The client side: idempotent acks=all producers and consumers that read below the high
//! watermark and commit their offsets.
//!
//! - A producer sends one record at a time (max.in.flight = 1, so sequences never reorder)
//!   and retries the same (producer id, sequence) after an error or a timeout, to whichever
//!   broker it now believes leads, until it is acknowledged.
//! - A consumer reads its partition from the leader up to the HW, checks every record against
//!   the committed values, and commits its position through its own idempotent producer to
//!   the offsets partition (the model of `__consumer_offsets`: a replicated partition of its
//!   own). When it restarts it resumes from its newest committed position, which must not be
//!   below the newest one acknowledged.
//!
//! Runs on the simulator's thread; the world routes messages to and from it.
use std::time::Duration;

use crate::protocol::ErrorCode;

use super::NodeId;
use super::check::{Checker, Violation};
use super::disk::Entry;

/// A client request without an answer is sent again after this (longer than the produce
/// timeout, so an answer that is merely slow usually arrives first).
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(2000);
/// Wait after an error answer before retrying.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// A request to send: (partition, target resolved by the world from `leader_hint`, body
/// parts).
#[derive(Debug, Clone, Copy)]
pub enum Send {
    Produce {
        request_id: u64,
        partition: i32,
        entry: Entry,
    },
    Read {
        request_id: u64,
        partition: i32,
        offset: i64,
    },
}

/// One idempotent producer bound to one partition.
#[derive(Debug, Clone)]
pub struct Producer {
    pub producer_id: i64,
    pub partition: i32,
    next_sequence: i32,
    /// The record being delivered: (sequence, value).
    current: Option<(i32, i64)>,
    /// The request in flight: (request id, sent at).
    request: Option<(u64, Duration)>,
    not_before: Duration,
    /// Records still to produce.
    pub budget: u32,
    pub acknowledged: u32,
}

impl Producer {
    #[must_use]
    pub fn new(producer_id: i64, partition: i32, budget: u32) -> Self {
        Producer {
            producer_id,
            partition,
            next_sequence: 0,
            current: None,
            request: None,
            not_before: Duration::ZERO,
            budget,
            acknowledged: 0,
        }
    }

    /// Whether nothing is being delivered.
    #[must_use]
    pub fn idle(&self) -> bool {
        self.current.is_none()
    }

    /// Starts delivering `value` (when idle).
    pub fn offer(&mut self, value: i64) -> bool {
        if self.current.is_some() {
            return false;
        }
        self.current = Some((self.next_sequence, value));
        true
    }

    /// What to send now, if anything.
    pub fn tick(&mut self, now: Duration, request_id: &mut u64, producing: bool) -> Option<Send> {
        if self.current.is_none() && producing && self.budget > 0 {
            let value = i64::from(self.next_sequence) * 1000 + self.producer_id;
            self.offer(value);
        }
        let (sequence, value) = self.current?;
        let waiting = self
            .request
            .is_some_and(|(_, sent)| now.saturating_sub(sent) < CLIENT_TIMEOUT);
        if waiting || now < self.not_before {
            return None;
        }
        *request_id += 1;
        self.request = Some((*request_id, now));
        let entry = Entry {
            epoch: -1,
            producer_id: self.producer_id,
            sequence,
            value,
        };
        Some(Send::Produce {
            request_id: *request_id,
            partition: self.partition,
            entry,
        })
    }

    /// An answer; the acknowledged value when it completed the record.
    ///
    /// # Errors
    /// A violation the acknowledgement shows.
    pub fn answer(
        &mut self,
        request_id: u64,
        result: Result<i64, ErrorCode>,
        now: Duration,
        checker: &mut Checker,
    ) -> Result<Option<i64>, Violation> {
        if self.request.map(|(id, _)| id) != Some(request_id) {
            return Ok(None);
        }
        self.request = None;
        let Some((sequence, value)) = self.current else {
            return Ok(None);
        };
        match result {
            Ok(offset) => {
                checker.acknowledged(self.partition, offset, (self.producer_id, sequence))?;
                self.current = None;
                self.next_sequence += 1;
                self.budget = self.budget.saturating_sub(1);
                self.acknowledged += 1;
                Ok(Some(value))
            }
            Err(_) => {
                self.not_before = now + RETRY_BACKOFF;
                Ok(None)
            }
        }
    }
}

/// One consumer of one data partition, committing to the offsets partition.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub partition: i32,
    pub position: i64,
    request: Option<(u64, i64, Duration)>,
    pub commits: Producer,
    committed_position: i64,
    acknowledged_commit: i64,
    pub records_read: u64,
}

impl Consumer {
    #[must_use]
    pub fn new(partition: i32, commits: Producer) -> Self {
        Consumer {
            partition,
            position: 0,
            request: None,
            commits,
            committed_position: 0,
            acknowledged_commit: 0,
            records_read: 0,
        }
    }

    /// The next read, if none is in flight.
    pub fn tick(&mut self, now: Duration, request_id: &mut u64) -> Option<Send> {
        let waiting = self
            .request
            .is_some_and(|(_, _, sent)| now.saturating_sub(sent) < CLIENT_TIMEOUT);
        if waiting {
            return None;
        }
        if self.position >= self.committed_position + 4 && self.commits.offer(self.position) {
            self.committed_position = self.position;
        }
        *request_id += 1;
        self.request = Some((*request_id, self.position, now));
        Some(Send::Read {
            request_id: *request_id,
            partition: self.partition,
            offset: self.position,
        })
    }

    /// A read answer.
    ///
    /// # Errors
    /// `UncommittedRead`.
    pub fn answer(
        &mut self,
        request_id: u64,
        offset: i64,
        result: Result<Vec<Entry>, ErrorCode>,
        checker: &Checker,
    ) -> Result<(), Violation> {
        if self.request.map(|(id, _, _)| id) != Some(request_id) {
            return Ok(());
        }
        self.request = None;
        let Ok(entries) = result else {
            return Ok(());
        };
        if offset != self.position {
            return Ok(());
        }
        checker.read(self.partition, offset, &entries)?;
        self.position += i64::try_from(entries.len()).unwrap_or(0);
        self.records_read += entries.len() as u64;
        Ok(())
    }

    /// A commit was acknowledged.
    pub fn commit_acknowledged(&mut self, position: i64) {
        self.acknowledged_commit = self.acknowledged_commit.max(position);
    }

    /// A restart: resumes at `resumed`, the newest committed position in the offsets
    /// partition (0 when none).
    ///
    /// # Errors
    /// `CommitWentBack` when it is below the newest acknowledged commit.
    pub fn restart(&mut self, resumed: i64) -> Result<(), Violation> {
        if resumed < self.acknowledged_commit {
            return Err(Violation::CommitWentBack {
                partition: self.partition,
                resumed,
                acknowledged: self.acknowledged_commit,
            });
        }
        self.position = resumed;
        self.committed_position = resumed;
        self.request = None;
        Ok(())
    }
}

/// The target of a client request: `None` when no leader is known yet.
pub type LeaderHint = Option<NodeId>;
