//! Broker registrations (node id, incarnation, broker epoch, listeners, shard count, rack,
//! fenced) and producer-id blocks, applied from their records.
//!
//! A `RegisterBroker` record replaces the node's registration and starts it fenced, as KRaft's
//! `RegisterBrokerRecord` does: a broker serves only after the controller unfences it. The
//! broker epoch of a node only grows (the controller uses the record's log offset, CLUSTER.md
//! "Broker lifecycle"); `FenceBroker`, `UnfenceBroker` and `UnregisterBroker` name the epoch
//! they were decided against and are refused for any other (a late record about an old
//! incarnation must not touch the new one).
//!
//! Producer-id blocks: each `ProducerIdBlock` starts at or above the end of every earlier
//! block, so ids handed out from different blocks never collide, whichever broker holds them.
//!
//! Not owned here: whether a registration is allowed (duplicate live node ids, shard count;
//! `cluster::policy::registration`), sessions and fencing decisions (`cluster::policy`).
//! Pure code; runs wherever records are applied (shard 0 today).
use super::{ClusterError, ClusterMetadata};
use crate::limits::{
    BROKER_STRING_LENGTH_MAX, BROKERS_MAX, LISTENERS_PER_BROKER_MAX, PRODUCER_ID_BLOCK_SIZE_MAX,
    SHARDS_MAX,
};
use crate::protocol::Uuid;
use std::sync::Arc;

/// The name of the listener clients use (Metadata, FindCoordinator, DescribeCluster list it).
pub const CLIENT_LISTENER: &str = "CLIENT";
/// The name of the broker's controller listener: a voter's `--quorum-voters` entry, an
/// observer's kernel-chosen port; the metadata quorum's RPCs reach the broker there.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// The name configured client listener `index` (of `--listen`) is registered under: `CLIENT`
/// for the first, the listener every broker has (what other brokers' connections fall back
/// to), its own name (`SSL`, `EXTERNAL`, …) for the others. Connections record it in their
/// session so Metadata can answer with every broker's endpoint on the same listener.
#[must_use]
pub fn client_listener_name(index: usize, name: &str) -> String {
    if index == 0 {
        CLIENT_LISTENER.to_owned()
    } else {
        name.to_owned()
    }
}

/// The client listeners a broker registers: one per configured listener, as advertised.
#[must_use]
pub fn client_listeners(listeners: &[crate::config::ListenerConfig]) -> Vec<Listener> {
    let registered: Vec<Listener> = listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| Listener {
            name: client_listener_name(index, &listener.name),
            host: listener.advertise.host.clone(),
            port: listener.advertise.port,
        })
        .collect();
    assert_eq!(registered.len(), listeners.len());
    registered
}

/// One advertised endpoint of a broker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listener {
    /// The listener's name (`CLIENT`, `REPLICATION_0`, …).
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A broker as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerRegistration {
    pub node_id: i32,
    /// Random per process start: tells a restart from a retry of the same registration.
    pub incarnation: Uuid,
    /// The log offset of the registration record; grows with every registration of the node.
    pub broker_epoch: i64,
    pub listeners: Vec<Listener>,
    /// Shards of the broker; the same on every broker (a partition lives on the same shard
    /// index everywhere), enforced when registering.
    pub shard_count: i32,
    pub rack: Option<String>,
    /// A fenced broker leads nothing and is not listed to clients.
    pub fenced: bool,
}

/// The producer ids `[first, first + size)` handed to `node_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdBlock {
    pub node_id: i32,
    pub first: i64,
    pub size: i32,
}

impl ProducerIdBlock {
    /// The first id after the block.
    #[must_use]
    pub fn end(&self) -> i64 {
        self.first.saturating_add(i64::from(self.size))
    }
}

impl BrokerRegistration {
    /// Checks the bounds a registration record must keep.
    ///
    /// # Errors
    /// `InvalidRegistration` naming the field.
    pub fn check(&self) -> Result<(), ClusterError> {
        let invalid = |field: &'static str| ClusterError::InvalidRegistration {
            node_id: self.node_id,
            field,
        };
        if self.node_id < 0 {
            return Err(invalid("node_id"));
        }
        if self.broker_epoch < 0 {
            return Err(invalid("broker_epoch"));
        }
        let shards_max = i32::try_from(SHARDS_MAX).unwrap_or(i32::MAX);
        if !(1..=shards_max).contains(&self.shard_count) {
            return Err(invalid("shard_count"));
        }
        if self.listeners.len() > LISTENERS_PER_BROKER_MAX {
            return Err(invalid("listeners"));
        }
        let too_long = |value: &str| value.len() > BROKER_STRING_LENGTH_MAX;
        if self
            .listeners
            .iter()
            .any(|listener| too_long(&listener.name) || too_long(&listener.host))
        {
            return Err(invalid("listeners"));
        }
        if self.rack.as_deref().is_some_and(too_long) {
            return Err(invalid("rack"));
        }
        Ok(())
    }
}

impl ClusterMetadata {
    #[must_use]
    pub fn broker(&self, node_id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&node_id).map(Arc::as_ref)
    }

    /// Every registered broker, by node id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().map(Arc::as_ref)
    }

    /// Registered brokers that are not fenced, by node id.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers().filter(|broker| !broker.fenced)
    }

    /// The first producer id no block has handed out.
    #[must_use]
    pub fn producer_id_next(&self) -> i64 {
        self.producer_id_next
    }

    /// The latest block each broker was given.
    #[must_use]
    pub fn producer_id_block(&self, node_id: i32) -> Option<ProducerIdBlock> {
        self.producer_id_blocks.get(&node_id).copied()
    }

    /// Applies `RegisterBroker`: the node's registration is replaced, fenced.
    pub(super) fn register_broker(
        &mut self,
        registration: BrokerRegistration,
    ) -> Result<(), ClusterError> {
        registration.check()?;
        let node_id = registration.node_id;
        match self.brokers.get(&node_id) {
            Some(current) if current.broker_epoch >= registration.broker_epoch => {
                return Err(ClusterError::BrokerEpochNotRaised {
                    node_id,
                    current: current.broker_epoch,
                    requested: registration.broker_epoch,
                });
            }
            Some(_) => {}
            None if self.brokers.len() >= BROKERS_MAX => {
                return Err(ClusterError::TooManyBrokers {
                    count_max: BROKERS_MAX,
                });
            }
            None => {}
        }
        let registration = BrokerRegistration {
            fenced: true,
            ..registration
        };
        self.brokers.insert(node_id, Arc::new(registration));
        Ok(())
    }

    /// Applies `FenceBroker` (`fenced`) or `UnfenceBroker` (`!fenced`). Setting the flag it
    /// already has is a no-op, as in KRaft.
    pub(super) fn set_fenced(
        &mut self,
        node_id: i32,
        broker_epoch: i64,
        fenced: bool,
    ) -> Result<(), ClusterError> {
        self.check_broker_epoch(node_id, broker_epoch)?;
        if let Some(broker) = self.brokers.get_mut(&node_id) {
            Arc::make_mut(broker).fenced = fenced;
        }
        Ok(())
    }

    /// Applies `UnregisterBroker`: the node is forgotten (its partitions keep naming it).
    pub(super) fn unregister_broker(
        &mut self,
        node_id: i32,
        broker_epoch: i64,
    ) -> Result<(), ClusterError> {
        self.check_broker_epoch(node_id, broker_epoch)?;
        self.brokers.remove(&node_id);
        Ok(())
    }

    /// Applies `ProducerIdBlock`.
    pub(super) fn add_producer_id_block(
        &mut self,
        block: ProducerIdBlock,
    ) -> Result<(), ClusterError> {
        let end = block.first.checked_add(i64::from(block.size));
        let refused = ClusterError::InvalidProducerIdBlock {
            first: block.first,
            size: block.size,
            next: self.producer_id_next,
        };
        if block.node_id < 0
            || !(1..=PRODUCER_ID_BLOCK_SIZE_MAX).contains(&block.size)
            || block.first < self.producer_id_next
            || end.is_none()
        {
            return Err(refused);
        }
        self.producer_id_next = block.end();
        self.producer_id_blocks.insert(block.node_id, block);
        Ok(())
    }

    /// The node is registered under exactly `broker_epoch`.
    ///
    /// # Errors
    /// `UnknownBroker`, `StaleBrokerEpoch`.
    pub fn check_broker_epoch(&self, node_id: i32, broker_epoch: i64) -> Result<(), ClusterError> {
        let broker = self
            .brokers
            .get(&node_id)
            .ok_or(ClusterError::UnknownBroker { node_id })?;
        if broker.broker_epoch != broker_epoch {
            return Err(ClusterError::StaleBrokerEpoch {
                node_id,
                current: broker.broker_epoch,
                requested: broker_epoch,
            });
        }
        Ok(())
    }

    /// Registrations are keyed by their node id, valid and bounded; blocks end at or below the
    /// next producer id. O(brokers): called from `check_invariants`.
    pub(super) fn check_broker_invariants(&self) {
        assert!(
            self.brokers.len() <= BROKERS_MAX,
            "{} brokers",
            self.brokers.len()
        );
        for (node_id, broker) in &self.brokers {
            assert_eq!(*node_id, broker.node_id, "broker keyed under another id");
            assert!(broker.check().is_ok(), "invalid registration {broker:?}");
        }
        for block in self.producer_id_blocks.values() {
            assert!(
                block.end() <= self.producer_id_next,
                "block {block:?} ends past {}",
                self.producer_id_next
            );
        }
    }
}
