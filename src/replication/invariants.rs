//! The replication properties a run must keep, as functions that return a typed violation
//! instead of panicking, so the model test here and the simulator (issue 17) check the same
//! thing after every step and report the step that broke it.
//!
//! These hold only when the followers are honest (a follower fetching below an offset it
//! acknowledged breaks "HW ≤ min LEO over the ISR" without any bug here), which is why they
//! are not in [`LeaderReplica::check_invariants`]. Pure code; runs on the caller's thread.
use super::acks::{AckAnswer, AckOutcome};
use super::leader::LeaderReplica;
use super::replica::ReplicaId;

/// A broken replication property, with the numbers that show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error("HW went back from {from} to {to}")]
    HighWatermarkWentBack { from: i64, to: i64 },
    #[error("HW {high_watermark} above replica {replica_id}'s LEO {log_end_offset:?}")]
    HighWatermarkPastIsrMember {
        high_watermark: i64,
        replica_id: ReplicaId,
        log_end_offset: Option<i64>,
    },
    #[error("HW advanced {from} -> {to} with ISR of {isr_count} < min {min_insync_replicas}")]
    AdvancedBelowMinIsr {
        from: i64,
        to: i64,
        isr_count: usize,
        min_insync_replicas: usize,
    },
    #[error("HW moved {from} -> {to} on a fenced leader")]
    FencedLeaderAdvanced { from: i64, to: i64 },
    #[error("leader {leader} outside {list} {members:?}")]
    LeaderOutsideIsr {
        leader: ReplicaId,
        list: &'static str,
        members: Vec<ReplicaId>,
    },
    #[error("acknowledged offset {offset} not below HW {high_watermark}")]
    AckedAtOrAboveHighWatermark { offset: i64, high_watermark: i64 },
    #[error("acknowledged offset {offset}, but replica {replica_id} is at {log_end_offset:?}")]
    AckedNotReplicated {
        offset: i64,
        replica_id: ReplicaId,
        log_end_offset: Option<i64>,
    },
    #[error("fenced leader acknowledged offset {offset}")]
    FencedLeaderAcked { offset: i64 },
}

/// State-only checks on one leader: the leader is in its ISR and in its proposal, and the HW
/// is at most the LEO of every maximal-ISR member.
///
/// # Errors
/// The first violation found.
pub fn check_leader(leader: &LeaderReplica) -> Result<(), InvariantViolation> {
    let leader_id = leader.config().replica_id;
    if !leader.isr().contains(&leader_id) {
        let members = leader.isr().to_vec();
        return Err(InvariantViolation::LeaderOutsideIsr {
            leader: leader_id,
            list: "ISR",
            members,
        });
    }
    if let Some(proposal) = leader
        .proposal()
        .filter(|p| !p.new_isr.contains(&leader_id))
    {
        let members = proposal.new_isr.clone();
        let list = "proposal";
        return Err(InvariantViolation::LeaderOutsideIsr {
            leader: leader_id,
            list,
            members,
        });
    }
    let high_watermark = leader.high_watermark();
    for replica_id in leader.maximal_isr() {
        let log_end_offset = leader.replica_log_end_offset(replica_id);
        // An unknown LEO (no fetch yet from this leader) only holds the HW back.
        if log_end_offset.is_some_and(|offset| offset < high_watermark) {
            return Err(InvariantViolation::HighWatermarkPastIsrMember {
                high_watermark,
                replica_id,
                log_end_offset,
            });
        }
    }
    Ok(())
}

/// Acknowledgements just given: each OK is below the HW and on every maximal-ISR member as
/// the leader knows them; a fenced leader gives none.
///
/// # Errors
/// The first violation found.
pub fn check_acknowledged(
    leader: &LeaderReplica,
    answers: &[AckAnswer],
) -> Result<(), InvariantViolation> {
    for answer in answers
        .iter()
        .filter(|answer| answer.outcome == AckOutcome::Ok)
    {
        let offset = answer.last_offset;
        if leader.is_fenced() {
            return Err(InvariantViolation::FencedLeaderAcked { offset });
        }
        let high_watermark = leader.high_watermark();
        if offset >= high_watermark {
            return Err(InvariantViolation::AckedAtOrAboveHighWatermark {
                offset,
                high_watermark,
            });
        }
        for replica_id in leader.maximal_isr() {
            let log_end_offset = leader.replica_log_end_offset(replica_id);
            if log_end_offset.is_none_or(|end| end <= offset) {
                return Err(InvariantViolation::AckedNotReplicated {
                    offset,
                    replica_id,
                    log_end_offset,
                });
            }
        }
    }
    Ok(())
}

/// Follows one leader across steps: its HW never goes back, moves only while the committed
/// ISR has ≥ min.insync.replicas members, and never moves once fenced.
#[derive(Debug, Clone, Copy)]
pub struct LeaderHistory {
    high_watermark: i64,
    fenced: bool,
}

impl LeaderHistory {
    #[must_use]
    pub fn new(leader: &LeaderReplica) -> Self {
        LeaderHistory {
            high_watermark: leader.high_watermark(),
            fenced: leader.is_fenced(),
        }
    }

    /// Checks the step from the last observed state to `leader`'s, and every state check.
    ///
    /// # Errors
    /// The first violation found.
    pub fn observe(&mut self, leader: &LeaderReplica) -> Result<(), InvariantViolation> {
        let (from, to) = (self.high_watermark, leader.high_watermark());
        if to < from {
            return Err(InvariantViolation::HighWatermarkWentBack { from, to });
        }
        if to > from && self.fenced {
            return Err(InvariantViolation::FencedLeaderAdvanced { from, to });
        }
        let (isr_count, min_insync_replicas) =
            (leader.isr().len(), leader.config().min_insync_replicas);
        if to > from && isr_count < min_insync_replicas {
            return Err(InvariantViolation::AdvancedBelowMinIsr {
                from,
                to,
                isr_count,
                min_insync_replicas,
            });
        }
        self.high_watermark = to;
        self.fenced = leader.is_fenced();
        check_leader(leader)
    }
}
