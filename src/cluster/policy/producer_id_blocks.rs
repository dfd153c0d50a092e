//! Producer-id blocks for InitProducerId, unique across brokers: each block starts at the
//! first id no earlier block covered (`ClusterMetadata::producer_id_next`), and `apply` refuses
//! a block that starts below it, so two brokers never hold the same id.
//!
//! A broker asks for a block when its current one runs out (Kafka's AllocateProducerIds,
//! KIP-730); only a registered broker of the current epoch gets one, so a zombie incarnation
//! cannot consume ids. Upgrade: a data dir of a single-node broker has handed out ids below its
//! `producer-ids` file's `reserved_end`; the first block of such a cluster is taken with
//! [`allocate_from`] at that floor.
//!
//! Runs on the active controller's shard 0.
use crate::cluster::metadata::{
    ClusterError, ClusterMetadata, MetadataError, MetadataRecord, ProducerIdBlock,
};
use crate::limits::PRODUCER_ID_BLOCK_SIZE_MAX;

/// The record handing `size` ids to the broker at `broker_epoch`.
///
/// # Errors
/// `Cluster(UnknownBroker | StaleBrokerEpoch)`, `Cluster(InvalidProducerIdBlock)` for a size
/// outside `1..=PRODUCER_ID_BLOCK_SIZE_MAX`, `Cluster(ProducerIdsExhausted)`.
pub fn allocate(
    metadata: &ClusterMetadata,
    node_id: i32,
    broker_epoch: i64,
    size: i32,
) -> Result<MetadataRecord, MetadataError> {
    allocate_from(metadata, node_id, broker_epoch, size, 0)
}

/// As [`allocate`], starting at `floor` or above (the upgrade case in the module docs).
///
/// # Errors
/// As [`allocate`].
pub fn allocate_from(
    metadata: &ClusterMetadata,
    node_id: i32,
    broker_epoch: i64,
    size: i32,
    floor: i64,
) -> Result<MetadataRecord, MetadataError> {
    metadata.check_broker_epoch(node_id, broker_epoch)?;
    block_record(metadata, node_id, size, floor)
}

/// The block an `AllocateProducerIds` change asks for (`cluster::decisions`): a registered
/// broker gets one at its current epoch; while no broker is registered at all (a single node
/// before its registration lands) only `controller_node` does.
///
/// # Errors
/// As [`allocate`]; `Cluster(UnknownBroker)` for an unregistered node.
pub fn allocate_for(
    metadata: &ClusterMetadata,
    node_id: i32,
    size: i32,
    floor: i64,
    controller_node: i32,
) -> Result<MetadataRecord, MetadataError> {
    match metadata.broker(node_id) {
        Some(broker) => allocate_from(metadata, node_id, broker.broker_epoch, size, floor),
        None if node_id == controller_node && metadata.brokers().next().is_none() => {
            block_record(metadata, node_id, size, floor)
        }
        None => Err(ClusterError::UnknownBroker { node_id }.into()),
    }
}

fn block_record(
    metadata: &ClusterMetadata,
    node_id: i32,
    size: i32,
    floor: i64,
) -> Result<MetadataRecord, MetadataError> {
    let first = metadata.producer_id_next().max(floor);
    if !(1..=PRODUCER_ID_BLOCK_SIZE_MAX).contains(&size) {
        let next = metadata.producer_id_next();
        return Err(ClusterError::InvalidProducerIdBlock { first, size, next }.into());
    }
    if first.checked_add(i64::from(size)).is_none() {
        return Err(ClusterError::ProducerIdsExhausted.into());
    }
    let block = ProducerIdBlock {
        node_id,
        first,
        size,
    };
    assert!(
        block.first >= metadata.producer_id_next(),
        "blocks never overlap"
    );
    Ok(MetadataRecord::ProducerIdBlock(block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::metadata::BrokerRegistration;
    use crate::protocol::Uuid;

    fn register(metadata: &ClusterMetadata, node_id: i32) -> ClusterMetadata {
        let broker_epoch = i64::try_from(metadata.version).unwrap();
        let record = MetadataRecord::RegisterBroker(BrokerRegistration {
            node_id,
            incarnation: Uuid([1; 16]),
            broker_epoch,
            listeners: Vec::new(),
            shard_count: 1,
            rack: None,
            fenced: true,
        });
        metadata.apply(&record).unwrap()
    }

    #[test]
    fn blocks_of_different_brokers_never_overlap() {
        let metadata = register(&register(&ClusterMetadata::empty("c".into()), 1), 2);
        let mut state = metadata;
        let mut seen = Vec::new();
        for round in 0..6 {
            let node_id = 1 + round % 2;
            let epoch = state.broker(node_id).unwrap().broker_epoch;
            let record = allocate(&state, node_id, epoch, 100 + round).unwrap();
            state = state.apply(&record).unwrap();
            let block = state.producer_id_block(node_id).unwrap();
            for earlier in &seen {
                let ProducerIdBlock { first, .. } = earlier;
                assert!(block.first >= earlier.end() || block.end() <= *first);
            }
            seen.push(block);
        }
        assert_eq!(
            state.producer_id_next(),
            seen.iter().map(ProducerIdBlock::end).max().unwrap()
        );
        assert!(matches!(
            allocate(&state, 1, 99, 10),
            Err(MetadataError::Cluster(
                ClusterError::StaleBrokerEpoch { .. }
            ))
        ));
        assert!(matches!(
            allocate(&state, 3, 0, 10),
            Err(MetadataError::Cluster(ClusterError::UnknownBroker {
                node_id: 3
            }))
        ));
        let upgraded = allocate_from(&state, 1, 0, 10, 1_000_000).unwrap();
        let upgraded = state.apply(&upgraded).unwrap();
        assert_eq!(upgraded.producer_id_next(), 1_000_010);
    }

    #[test]
    fn an_unregistered_single_node_gets_blocks_only_for_itself() {
        let empty = ClusterMetadata::empty("c".into());
        let record = allocate_for(&empty, 3, 10, 500, 3).unwrap();
        let state = empty.apply(&record).unwrap();
        assert_eq!(state.producer_id_block(3).unwrap().first, 500);
        let record = allocate_for(&state, 3, 10, 500, 3).unwrap();
        assert_eq!(state.apply(&record).unwrap().producer_id_next(), 520);
        assert!(matches!(
            allocate_for(&empty, 4, 10, 0, 3),
            Err(MetadataError::Cluster(ClusterError::UnknownBroker {
                node_id: 4
            }))
        ));
        let registered = register(&empty, 1);
        assert!(allocate_for(&registered, 3, 10, 0, 3).is_err());
        assert!(allocate_for(&registered, 1, 10, 0, 3).is_ok());
    }
}
