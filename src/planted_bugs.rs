//! Deliberately wrong variants of the replication, election and reassignment rules (issues 17
//! and 18), so a test can prove the simulator (`sim/`) catches each one. Compiled only with
//! the `sim-bugs` feature (which `failpoints` turns on); even then every bug is off until the
//! simulator switches one on for its own thread, so a broker built with the feature behaves
//! normally.
//!
//! The switch is a thread-local, not a global: the simulator is single-threaded, and tests
//! running in parallel threads each see only the bug their own run selected.
//! Each core reads its switch in a few `#[cfg(feature = "sim-bugs")]` lines next to the
//! rule it breaks. Lowest layer: names nothing in the crate. Runs on the caller's thread.
use std::cell::Cell;

/// One planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedBug {
    /// `leader.rs`: the high watermark is the highest LEO in the ISR, not the lowest.
    HwFromHighest,
    /// `follower.rs`: a DivergingEpoch answer truncates nothing.
    NoTruncation,
    /// `election.rs`: the first live replica leads, in the ISR or not (and joins it).
    LeaderOutsideIsr,
    /// `leader.rs`: the HW (and so acks=all) advances with the ISR below min.insync.replicas.
    AcksBelowMinIsr,
    /// `leader.rs`: a fenced leader answers its parked acks=all requests OK.
    FencedLeaderAcks,
    /// `reassign.rs`: a cancelled reassignment goes to its target replicas instead of back
    /// to the original ones (the two helpers swapped).
    CancelToTarget,
    /// `partition_logs.rs`: a broker keeps the log of a partition reassigned away from it
    /// (the replica-list filter forgotten).
    KeepsRemovedLogs,
}

impl PlantedBug {
    /// Every bug: issue 17's, then the reassignment ones (issue 18).
    pub const ALL: [PlantedBug; 7] = [
        PlantedBug::HwFromHighest,
        PlantedBug::NoTruncation,
        PlantedBug::LeaderOutsideIsr,
        PlantedBug::AcksBelowMinIsr,
        PlantedBug::FencedLeaderAcks,
        PlantedBug::CancelToTarget,
        PlantedBug::KeepsRemovedLogs,
    ];

    /// The name `ringsim --bug` takes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::HwFromHighest => "hw-from-highest",
            PlantedBug::NoTruncation => "no-truncation",
            PlantedBug::LeaderOutsideIsr => "leader-outside-isr",
            PlantedBug::AcksBelowMinIsr => "acks-below-min-isr",
            PlantedBug::FencedLeaderAcks => "fenced-leader-acks",
            PlantedBug::CancelToTarget => "cancel-to-target",
            PlantedBug::KeepsRemovedLogs => "keeps-removed-logs",
        }
    }

    /// The bug named `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

thread_local! {
    static ACTIVE: Cell<Option<PlantedBug>> = const { Cell::new(None) };
}

/// Switches `bug` on for this thread (`None`: every bug off).
pub fn set(bug: Option<PlantedBug>) {
    ACTIVE.with(|active| active.set(bug));
}

/// Whether `bug` is on for this thread.
#[must_use]
pub fn active(bug: PlantedBug) -> bool {
    ACTIVE.with(|active| active.get() == Some(bug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_per_thread() {
        assert!(!active(PlantedBug::NoTruncation));
        set(Some(PlantedBug::NoTruncation));
        assert!(active(PlantedBug::NoTruncation));
        assert!(!active(PlantedBug::HwFromHighest));
        let other = std::thread::spawn(|| active(PlantedBug::NoTruncation));
        assert!(!other.join().unwrap());
        set(None);
        for bug in PlantedBug::ALL {
            assert_eq!(PlantedBug::from_name(bug.name()), Some(bug));
        }
    }
}
