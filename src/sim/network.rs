//! The simulated network: messages between nodes (brokers, the client) with a random delay,
//! loss, duplication, and partitions that cut links until they heal. A message to a crashed
//! node, or over a cut link at delivery time, is dropped.
//!
//! Order: messages on one link (from, to) arrive in the order sent, as on the TCP connection
//! Kafka's protocol runs over; messages on different links reorder freely. Why: a follower's
//! fetch offset is its log end offset only in order — a week-old fetch replayed after a newer
//! one would "move the follower's LEO back", which no broker bug causes and TCP never does
//! (`replication::invariants` holds for honest, in-order followers). A duplicate arrives right
//! after its original, as a retried request on the same connection would.
//!
//! What travels: broker registration and heartbeats to the controller, metadata fetches from
//! it, AlterPartition, follower fetches, and the client's produce and read requests, each
//! with its answer. Runs on the simulator's thread.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::cluster::metadata::MetadataRecord;
use crate::cluster::policy::isr::AlterPartitionRequest;
use crate::cluster::policy::lifecycle::{Heartbeat, HeartbeatReply};
use crate::protocol::ErrorCode;
use crate::replication::{FetchAnswer, FetchError, FollowerFetch};

use super::NodeId;
use super::disk::Entry;
use super::rng::Rng;

/// A message's content.
#[derive(Debug, Clone)]
pub enum Body {
    Register {
        incarnation: u64,
    },
    Registered {
        incarnation: u64,
        broker_epoch: i64,
    },
    Heartbeat(Heartbeat),
    HeartbeatReply {
        broker_epoch: i64,
        reply: HeartbeatReply,
    },
    /// The heartbeat's broker epoch is not the registered one: register again.
    HeartbeatRefused {
        broker_epoch: i64,
    },
    MetadataFetch {
        from: u64,
    },
    MetadataRecords {
        from: u64,
        records: Vec<MetadataRecord>,
    },
    AlterPartition {
        request_id: u64,
        request: AlterPartitionRequest,
    },
    AlterPartitionReply {
        request_id: u64,
        partition: i32,
        refused: Option<ErrorCode>,
    },
    Fetch {
        request_id: u64,
        partition: i32,
        fetch: FollowerFetch,
    },
    FetchReply {
        request_id: u64,
        partition: i32,
        result: Result<FetchAnswer, FetchError>,
        entries: Vec<Entry>,
    },
    Produce {
        request_id: u64,
        partition: i32,
        entry: Entry,
    },
    ProduceReply {
        request_id: u64,
        result: Result<i64, ErrorCode>,
    },
    Read {
        request_id: u64,
        partition: i32,
        offset: i64,
    },
    ReadReply {
        request_id: u64,
        partition: i32,
        offset: i64,
        result: Result<Vec<Entry>, ErrorCode>,
    },
}

/// One message in flight.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub body: Body,
}

/// Fault settings and the cut links.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// Unordered pairs (low, high) that cannot talk.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// The last delivery time scheduled per link (from, to): later sends arrive after it.
    last_delivery: BTreeMap<(NodeId, NodeId), Duration>,
    pub loss_percent: u64,
    pub duplicate_percent: u64,
    pub delay_ms_max: u64,
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

impl Network {
    /// Whether `a` and `b` can talk now.
    #[must_use]
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        a == b || !self.cut.contains(&pair(a, b))
    }

    /// Cuts every link between `side` and the other brokers in `all`.
    pub fn partition(&mut self, side: &[NodeId], all: &[NodeId]) {
        for &a in side {
            for &b in all.iter().filter(|b| !side.contains(b)) {
                self.cut.insert(pair(a, b));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    #[must_use]
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }

    /// The delivery times of one send from `from` to `to` at `now`: none when lost, two
    /// when duplicated; never before an earlier send's on the same link.
    pub fn deliveries(
        &mut self,
        rng: &mut Rng,
        link: (NodeId, NodeId),
        now: Duration,
    ) -> Vec<Duration> {
        if rng.chance(self.loss_percent) {
            return Vec::new();
        }
        let copies = if rng.chance(self.duplicate_percent) {
            2
        } else {
            1
        };
        let delay = Duration::from_millis(rng.between(1, self.delay_ms_max.max(1)));
        let last = self.last_delivery.entry(link).or_default();
        let at = (now + delay).max(*last);
        *last = at;
        vec![at; copies]
    }
}
