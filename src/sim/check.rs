//! The run's global invariants, checked as the simulation goes (the per-leader ones are the
//! replication module's own `invariants.rs`; this file checks what needs every replica's
//! real log and the client's view):
//! - one leader per (partition, leader epoch), across nodes and incarnations;
//! - one value per (partition, offset): what any replica holds below its high watermark is
//!   recorded once ("committed") and every later replica's committed prefix must equal it;
//! - no duplicate from an idempotent producer: a (producer id, sequence) is committed at one
//!   offset only;
//! - every acknowledged record stays readable at its offset: it equals the committed value
//!   there, and the final leaders still hold it;
//! - a consumer reads only committed records;
//! - (in `world.rs`) HW ≤ the real LEO of every ISR member, and convergence after heal;
//! - after convergence, each partition's reassignments ended as the last one the controller
//!   accepted asked: its target replicas (in the target's order), or, cancelled, the replicas
//!   from before it ([`reassignment_outcome`]); and a broker a partition was moved away from
//!   neither leads it, nor follows it, nor is in its leader's ISR, nor keeps its records
//!   ([`removed_replica`]). Records lost or duplicated across a move, or replicas that differ
//!   below the HW, are the checks above: a move is a follower that starts empty and catches up.
//!
//! Violations are typed and carry the numbers that show them. Runs on the simulator's thread.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::cluster::metadata::PartitionState;
use crate::cluster::policy::reassign;
use crate::replication::InvariantViolation;

use super::NodeId;
use super::disk::Entry;

/// A broken property, with where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("node {node} partition {partition}: {violation}")]
    Replication {
        node: NodeId,
        partition: i32,
        violation: InvariantViolation,
    },
    #[error("partition {partition} epoch {leader_epoch} led by {first:?} and {second:?}")]
    TwoLeaders {
        partition: i32,
        leader_epoch: i32,
        first: (NodeId, u64),
        second: (NodeId, u64),
    },
    #[error(
        "partition {partition} offset {offset}: node {node} \
         holds {found:?} below its HW, committed {committed:?}"
    )]
    ValueConflict {
        partition: i32,
        offset: i64,
        node: NodeId,
        committed: Entry,
        found: Entry,
    },
    #[error(
        "partition {partition}: producer {producer_id} sequence \
         {sequence} at offsets {first} and {second}"
    )]
    DuplicateRecord {
        partition: i32,
        producer_id: i64,
        sequence: i32,
        first: i64,
        second: i64,
    },
    #[error(
        "partition {partition} offset {offset}: acknowledged \
         ({producer_id}, {sequence}) but {found:?} is there"
    )]
    AckedLost {
        partition: i32,
        offset: i64,
        producer_id: i64,
        sequence: i32,
        found: Option<Entry>,
    },
    #[error(
        "node {node} partition {partition}: HW {high_watermark} \
         past ISR member {member}'s log end {log_end_offset}"
    )]
    HighWatermarkPastLog {
        node: NodeId,
        partition: i32,
        high_watermark: i64,
        member: NodeId,
        log_end_offset: i64,
    },
    #[error("partition {partition}: consumer read {found:?} at {offset}, committed {committed:?}")]
    UncommittedRead {
        partition: i32,
        offset: i64,
        found: Entry,
        committed: Option<Entry>,
    },
    #[error(
        "consumer resumed partition {partition} at {resumed}, \
         below its acknowledged commit {acknowledged}"
    )]
    CommitWentBack {
        partition: i32,
        resumed: i64,
        acknowledged: i64,
    },
    #[error(
        "partition {partition}: reassignment asked for {requested:?}, ended with replicas \
         {replicas:?} (adding {adding:?}, removing {removing:?})"
    )]
    ReassignmentOutcome {
        partition: i32,
        requested: Requested,
        replicas: Vec<NodeId>,
        adding: Vec<NodeId>,
        removing: Vec<NodeId>,
    },
    #[error(
        "partition {partition}: node {node} is not a replica (replicas {replicas:?}) but {kept:?}"
    )]
    RemovedReplicaKept {
        partition: i32,
        node: NodeId,
        replicas: Vec<NodeId>,
        kept: Kept,
    },
    #[error("no convergence {after:?} after the faults healed: {detail}")]
    NoConvergence { after: Duration, detail: String },
    #[error("controller: {0}")]
    Controller(String),
    #[error("a core assertion failed: {0}")]
    Panic(String),
}

/// The last reassignment request the controller accepted for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Start or replace: the partition must end with exactly these replicas.
    Target(Vec<NodeId>),
    /// Cancel: the partition must end with these replicas, the ones before the reassignment
    /// (Kafka's revert keeps the started order, so the set is what counts).
    Cancel(Vec<NodeId>),
}

/// What a broker kept of a partition moved away from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// It still leads the partition (unfenced).
    Leads,
    /// It still follows (fetches) the partition.
    Follows,
    /// The leader's ISR still counts it.
    InLeadersIsr,
    /// Its log still holds this many records.
    Records(usize),
}

/// After convergence: `state` (the committed one) is what `requested` asked for, and no
/// reassignment is still in flight.
///
/// # Errors
/// `ReassignmentOutcome`.
pub fn reassignment_outcome(
    partition: i32,
    requested: &Requested,
    state: &PartitionState,
) -> Result<(), Violation> {
    let sorted = |list: &[NodeId]| {
        let mut list = list.to_vec();
        list.sort_unstable();
        list
    };
    let reached = !reassign::in_progress(state)
        && match requested {
            Requested::Target(target) => state.replicas == *target,
            Requested::Cancel(original) => sorted(&state.replicas) == sorted(original),
        };
    if reached {
        return Ok(());
    }
    Err(Violation::ReassignmentOutcome {
        partition,
        requested: requested.clone(),
        replicas: state.replicas.clone(),
        adding: state.adding.clone(),
        removing: state.removing.clone(),
    })
}

/// What one broker holds of one partition, for [`removed_replica`].
#[derive(Debug, Clone, Copy)]
pub struct Holding<'a> {
    pub node: NodeId,
    /// Leads it, unfenced.
    pub leads: bool,
    pub follows: bool,
    /// The ISR of its leader role, when it leads.
    pub leaders_isr: &'a [NodeId],
    pub records: usize,
}

/// After convergence: a broker that is not one of `state`'s replicas holds nothing of the
/// partition (a broker stops a replica moved away and deletes its data), and a leader's ISR
/// names replicas only.
///
/// # Errors
/// `RemovedReplicaKept`.
pub fn removed_replica(
    partition: i32,
    state: &PartitionState,
    holding: &Holding<'_>,
) -> Result<(), Violation> {
    let kept = |node: NodeId, kept: Kept| {
        Err(Violation::RemovedReplicaKept {
            partition,
            node,
            replicas: state.replicas.clone(),
            kept,
        })
    };
    if !state.replicas.contains(&holding.node) {
        if holding.leads {
            return kept(holding.node, Kept::Leads);
        }
        if holding.follows {
            return kept(holding.node, Kept::Follows);
        }
        if holding.records > 0 {
            return kept(holding.node, Kept::Records(holding.records));
        }
    }
    match holding
        .leaders_isr
        .iter()
        .find(|member| !state.replicas.contains(member))
    {
        Some(&stranger) => kept(stranger, Kept::InLeadersIsr),
        None => Ok(()),
    }
}

/// What the checker has learned so far.
#[derive(Debug, Default)]
pub struct Checker {
    /// Per partition: the committed prefix.
    committed: BTreeMap<i32, Vec<Entry>>,
    /// (partition, producer id, sequence) → committed offset.
    identities: BTreeMap<(i32, i64, i32), i64>,
    /// (partition, offset) → acknowledged (producer id, sequence).
    acked: BTreeMap<(i32, i64), (i64, i32)>,
    /// (partition, leader epoch) → (node, incarnation).
    leaders: BTreeMap<(i32, i32), (NodeId, u64)>,
}

impl Checker {
    #[must_use]
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }
    #[must_use]
    pub fn committed_count(&self) -> usize {
        self.committed.values().map(Vec::len).sum()
    }

    /// A node became leader of `partition` in `leader_epoch`.
    ///
    /// # Errors
    /// `TwoLeaders`.
    pub fn leader(
        &mut self,
        partition: i32,
        leader_epoch: i32,
        who: (NodeId, u64),
    ) -> Result<(), Violation> {
        match self.leaders.insert((partition, leader_epoch), who) {
            Some(first) if first != who => Err(Violation::TwoLeaders {
                partition,
                leader_epoch,
                first,
                second: who,
            }),
            _ => Ok(()),
        }
    }

    /// A node's log holds `entries`, with offsets `[from, to)` below its HW.
    ///
    /// # Errors
    /// `ValueConflict`, `DuplicateRecord`, `AckedLost`.
    pub fn committed(
        &mut self,
        node: NodeId,
        partition: i32,
        entries: &[Entry],
        range: (i64, i64),
    ) -> Result<(), Violation> {
        for offset in range.0..range.1 {
            let Some(&found) = usize::try_from(offset).ok().and_then(|i| entries.get(i)) else {
                break;
            };
            let prefix = self.committed.entry(partition).or_default();
            let index = usize::try_from(offset).unwrap_or(usize::MAX);
            if let Some(&committed) = prefix.get(index) {
                if committed != found {
                    return Err(Violation::ValueConflict {
                        partition,
                        offset,
                        node,
                        committed,
                        found,
                    });
                }
                continue;
            }
            assert_eq!(prefix.len(), index, "committed prefix has a gap");
            prefix.push(found);
            self.newly_committed(partition, offset, found)?;
        }
        Ok(())
    }

    fn newly_committed(
        &mut self,
        partition: i32,
        offset: i64,
        entry: Entry,
    ) -> Result<(), Violation> {
        let key = (partition, entry.producer_id, entry.sequence);
        if let Some(&first) = self.identities.get(&key) {
            return Err(Violation::DuplicateRecord {
                partition,
                producer_id: entry.producer_id,
                sequence: entry.sequence,
                first,
                second: offset,
            });
        }
        self.identities.insert(key, offset);
        self.check_acked(partition, offset)
    }

    fn check_acked(&self, partition: i32, offset: i64) -> Result<(), Violation> {
        let Some(&(producer_id, sequence)) = self.acked.get(&(partition, offset)) else {
            return Ok(());
        };
        let found = self.committed_at(partition, offset);
        match found {
            None => Ok(()),
            Some(entry) if (entry.producer_id, entry.sequence) == (producer_id, sequence) => Ok(()),
            Some(_) => Err(Violation::AckedLost {
                partition,
                offset,
                producer_id,
                sequence,
                found,
            }),
        }
    }

    fn committed_at(&self, partition: i32, offset: i64) -> Option<Entry> {
        let index = usize::try_from(offset).ok()?;
        self.committed.get(&partition)?.get(index).copied()
    }

    /// The client got an acknowledgement for (producer id, sequence) at `offset`.
    ///
    /// # Errors
    /// `AckedLost` when another value is committed there, or the ack differs from an earlier
    /// one at that offset.
    pub fn acknowledged(
        &mut self,
        partition: i32,
        offset: i64,
        identity: (i64, i32),
    ) -> Result<(), Violation> {
        let earlier = self.acked.insert((partition, offset), identity);
        if let Some(earlier) = earlier.filter(|earlier| *earlier != identity) {
            let found = self.committed_at(partition, offset);
            return Err(Violation::AckedLost {
                partition,
                offset,
                producer_id: earlier.0,
                sequence: earlier.1,
                found,
            });
        }
        self.check_acked(partition, offset)
    }

    /// A consumer read `entries` from `offset`: each must be committed, as is.
    ///
    /// # Errors
    /// `UncommittedRead`.
    pub fn read(&self, partition: i32, offset: i64, entries: &[Entry]) -> Result<(), Violation> {
        for (at, found) in (offset..).zip(entries) {
            let committed = self.committed_at(partition, at);
            if committed != Some(*found) {
                return Err(Violation::UncommittedRead {
                    partition,
                    offset: at,
                    found: *found,
                    committed,
                });
            }
        }
        Ok(())
    }

    /// The newest committed value `producer_id` wrote to `partition` (a consumer's newest
    /// committed position in the offsets partition).
    #[must_use]
    pub fn latest_value(&self, partition: i32, producer_id: i64) -> Option<i64> {
        let prefix = self.committed.get(&partition)?;
        prefix
            .iter()
            .rev()
            .find(|entry| entry.producer_id == producer_id)
            .map(|entry| entry.value)
    }

    /// At the end: every acknowledged record is in `log_of(partition)` at its offset.
    ///
    /// # Errors
    /// `AckedLost`.
    pub fn acked_readable(&self, log_of: &dyn Fn(i32) -> Vec<Entry>) -> Result<(), Violation> {
        let mut logs: BTreeMap<i32, Vec<Entry>> = BTreeMap::new();
        for (&(partition, offset), &(producer_id, sequence)) in &self.acked {
            let log = logs.entry(partition).or_insert_with(|| log_of(partition));
            let found = usize::try_from(offset)
                .ok()
                .and_then(|i| log.get(i))
                .copied();
            if found
                .is_none_or(|entry| (entry.producer_id, entry.sequence) != (producer_id, sequence))
            {
                return Err(Violation::AckedLost {
                    partition,
                    offset,
                    producer_id,
                    sequence,
                    found,
                });
            }
        }
        Ok(())
    }
}
