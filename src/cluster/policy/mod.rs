//! The cluster controller's sans-IO decisions about brokers and partitions: the current
//! metadata, a request (registration, heartbeat, clock tick, topic creation) and the time in;
//! the records that carry it out (or why it is refused) out. No runtime, no clock, no
//! randomness of its own: `now` and the random start of a placement are inputs, so every rule
//! is tested directly and a simulator can drive it (CLUSTER.md, "Testing").
//!
//! - `election`: who leads a partition and who stays in its ISR when a replica goes away.
//! - `isr`: ISR changes a leader proposes (AlterPartition), ElectLeaders, leader rebalancing.
//! - `lifecycle`: registration, heartbeats, session expiry (fencing), controlled shutdown.
//! - `placement`: replica assignment for CreateTopics and CreatePartitions.
//! - `producer_id_blocks`: producer-id blocks for InitProducerId, unique across brokers.
//! - `reassign`: partition reassignment steps (KIP-455): start, cancel, complete.
//!
//! Every decision builds its records in a [`RecordBatch`], which applies each record to a
//! scratch copy of the state as it is made: later records see earlier ones (an election after
//! a fence sees the broker fenced), and a record that does not apply is an error before
//! anything is proposed. A batch is proposed to the metadata log whole.
//!
//! Not owned here: topic names, configs and partition-count rules (`cluster::decisions`, which
//! these call), running a decision and proposing its records (the controller, shard 0 of the
//! quorum leader: `cluster::active`), the broker's side of the lifecycle (the broker's shard 0).
//! Will move under `cluster/controller/` when that is a directory.
//!
//! Runs on the active controller's shard 0 (and in tests and the simulator).
pub mod election;
pub mod isr;
pub mod lifecycle;
pub mod placement;
pub mod producer_id_blocks;
pub mod reassign;
#[cfg(test)]
mod tests;

use super::metadata::{ClusterMetadata, MetadataError, MetadataRecord};

/// Records decided so far, and the state they lead to.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    state: ClusterMetadata,
    records: Vec<MetadataRecord>,
}

impl RecordBatch {
    /// An empty batch on top of `state`.
    #[must_use]
    pub fn new(state: &ClusterMetadata) -> Self {
        Self {
            state: state.clone(),
            records: Vec::new(),
        }
    }

    /// The state after the records so far.
    #[must_use]
    pub fn state(&self) -> &ClusterMetadata {
        &self.state
    }

    /// The metadata log offset the next record gets (the state's version).
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.state.version
    }

    #[must_use]
    pub fn records(&self) -> &[MetadataRecord] {
        &self.records
    }

    /// Applies `record` to the scratch state and keeps it.
    ///
    /// # Errors
    /// The record does not fit the state; the batch is then unchanged.
    pub fn push(&mut self, record: MetadataRecord) -> Result<(), MetadataError> {
        let version = self.state.version;
        self.state.apply_in_place(&record)?;
        assert_eq!(self.state.version, version + 1, "one version per record");
        self.records.push(record);
        Ok(())
    }

    /// The records, in order.
    #[must_use]
    pub fn into_records(self) -> Vec<MetadataRecord> {
        self.records
    }
}
