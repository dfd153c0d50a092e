//! The brokers' requests to the active controller (KRaft's BrokerRegistration,
//! BrokerHeartbeat and KIP-590 forwarding, in our own encoding) and the client that delivers
//! them: to this node's own [`ActiveController`] when it leads the metadata quorum, else over
//! the quorum's controller listener (`quorum::ControllerConnection`, App frames) to the
//! leader's `--quorum-voters` address.
//!
//! ```text
//! request   ControllerRequest  (postcard)   Register | Heartbeat | Change
//! response  ControllerResponse (postcard)   Registered | Heartbeat | Changed |
//!                                           NotController | Refused | Unavailable
//! ```
//! Forwarding carries the decided-upon `MetadataChange`, not the client's Kafka request: the
//! handler on the receiving broker keeps the request, its version and its answer, and the
//! controller gets plain data it decides on like a local change. The answer names the metadata
//! version the change reached, so the forwarding broker waits until it has applied that far
//! before it answers its client (it reads its own write).
//!
//! Runs on shard 0 of every broker; `!Send`.
use super::active::ActiveController;
use super::decisions::MetadataChange;
use super::metadata::{BrokerRegistration, MetadataImage};
use super::policy::lifecycle::{Heartbeat, HeartbeatReply, RegistrationRequest};
use super::quorum::{ControllerConnection, MetadataQuorum, QuorumStatus, RaftQuorum};
use crate::limits::CONTROLLER_RPC_TIMEOUT_MS;
use crate::protocol::ErrorCode;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// A broker's request to the active controller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ControllerRequest {
    Register(RegistrationRequest),
    Heartbeat(Heartbeat),
    /// A client's metadata change, forwarded from the broker that received it.
    Change(MetadataChange),
    /// Which cluster the answering node's metadata belongs to (any node answers, leader or
    /// not): a starting broker checks its data dir against it before it joins the quorum.
    ClusterId,
    /// The quorum as the leader sees it (voters' progress is known there only): DescribeQuorum
    /// sent to any broker is answered with it, as Kafka's brokers forward it.
    QuorumStatus,
    /// Every registration as the answering node applied it (broker epoch, fenced, shards,
    /// listeners, rack): `ringbroker cluster status` shows what no Kafka API carries.
    Brokers,
}

/// The active controller's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ControllerResponse {
    Registered {
        broker_epoch: i64,
    },
    Heartbeat(HeartbeatReply),
    /// The change is committed; the metadata reached `version` with it.
    Changed {
        version: u64,
    },
    /// This node does not lead the metadata quorum; `leader` when known.
    NotController {
        leader: Option<i32>,
    },
    /// Refused for good (the client's or broker's request is wrong): Kafka's code and why.
    Refused {
        code: i16,
        message: String,
    },
    /// Not committed (quorum timeout, leader change, shutting down): retriable.
    Unavailable {
        message: String,
    },
    /// The answering node's cluster id (`None` before its metadata log has its first entry).
    ClusterId {
        cluster_id: Option<String>,
    },
    QuorumStatus(QuorumStatus),
    Brokers {
        brokers: Vec<BrokerRegistration>,
    },
}

impl ControllerResponse {
    /// Encodes for the wire (postcard cannot fail on these types but for allocation).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// A refusal carrying `error`'s Kafka code and message.
    #[must_use]
    pub fn refused(code: ErrorCode, message: String) -> Self {
        Self::Refused {
            code: code.code(),
            message,
        }
    }
}

/// Why a request did not reach an active controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerRpcError {
    #[error("no metadata quorum leader is known")]
    NoLeader,
    #[error("the active controller {address} did not answer: {source}")]
    Unreachable {
        address: String,
        source: std::io::Error,
    },
    #[error("the active controller's answer does not decode: {0}")]
    Decode(postcard::Error),
}

/// Delivers [`ControllerRequest`]s to the active controller. Lives on shard 0.
pub struct ControllerClient {
    node_id: i32,
    quorum: Rc<RaftQuorum<MetadataImage>>,
    local: Rc<ActiveController>,
    /// One connection per voter, kept between requests (heartbeats every 500 ms).
    connections: RefCell<BTreeMap<i32, ControllerConnection>>,
}

impl ControllerClient {
    #[must_use]
    pub fn new(
        node_id: i32,
        quorum: Rc<RaftQuorum<MetadataImage>>,
        local: Rc<ActiveController>,
    ) -> Self {
        Self {
            node_id,
            quorum,
            local,
            connections: RefCell::new(BTreeMap::new()),
        }
    }

    /// The metadata quorum (its status names the leader).
    #[must_use]
    pub fn quorum(&self) -> &Rc<RaftQuorum<MetadataImage>> {
        &self.quorum
    }

    /// The quorum's status as its leader reports it: this node's own when it leads (or no
    /// leader is known, or the leader does not answer: then it is all there is).
    pub async fn leader_status(&self) -> QuorumStatus {
        let own = self.quorum.status();
        if own.leader.is_none() || own.leader == Some(self.node_id) {
            return own;
        }
        match self.send(&ControllerRequest::QuorumStatus).await {
            Ok(ControllerResponse::QuorumStatus(status)) => status,
            _ => own,
        }
    }

    /// Sends `request` to the leader the quorum names now: handled here when that is this
    /// node. A `NotController` answer is returned as is (the caller retries).
    ///
    /// # Errors
    /// No leader known; the leader unreachable or its answer unreadable.
    pub async fn send(
        &self,
        request: &ControllerRequest,
    ) -> Result<ControllerResponse, ControllerRpcError> {
        self.send_within(request, Duration::from_millis(CONTROLLER_RPC_TIMEOUT_MS))
            .await
    }

    /// As [`Self::send`], giving a remote leader at most `bound` (capped by
    /// `CONTROLLER_RPC_TIMEOUT_MS`) to answer; past it the connection is dropped, so the next
    /// request opens one to whichever leader the quorum names then. A broker's heartbeat uses
    /// it: one stuck on a frozen or cut-off former controller must not outlast the session the
    /// new controller gave every broker when it took over (Kafka's controller channel likewise
    /// drops its connection when the active controller changes).
    ///
    /// # Errors
    /// As [`Self::send`]; no answer within `bound` is `Unreachable` (timed out).
    pub async fn send_within(
        &self,
        request: &ControllerRequest,
        bound: Duration,
    ) -> Result<ControllerResponse, ControllerRpcError> {
        let leader = self
            .quorum
            .status()
            .leader
            .ok_or(ControllerRpcError::NoLeader)?;
        if leader == self.node_id {
            return Ok(self.local.handle(request.clone()).await);
        }
        let address = self
            .quorum
            .voter_address(leader)
            .ok_or(ControllerRpcError::NoLeader)?;
        let bytes = postcard::to_stdvec(request).map_err(ControllerRpcError::Decode)?;
        let taken = self.connections.borrow_mut().remove(&leader);
        let timeout = Duration::from_millis(CONTROLLER_RPC_TIMEOUT_MS);
        let mut connection = taken.filter(|c| c.address() == address).unwrap_or_else(|| {
            let transport = std::sync::Arc::clone(self.quorum.transport());
            ControllerConnection::new(&address, timeout, transport)
        });
        let bound = bound.min(timeout);
        let answer = match compio::time::timeout(bound, connection.app(&bytes)).await {
            Ok(answer) => {
                self.connections.borrow_mut().insert(leader, connection);
                answer
            }
            // Dropped with the request half-way: the stream cannot be reused.
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} ms", bound.as_millis()),
            )),
        };
        let answer =
            answer.map_err(|source| ControllerRpcError::Unreachable { address, source })?;
        postcard::from_bytes(&answer).map_err(ControllerRpcError::Decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::metadata::Listener;
    use crate::protocol::Uuid;
    use std::collections::BTreeMap as Map;

    #[test]
    fn requests_and_answers_round_trip_and_garbage_does_not_decode() {
        let requests = [
            ControllerRequest::Register(RegistrationRequest {
                cluster_id: "c".into(),
                node_id: 4,
                incarnation: Uuid([7; 16]),
                listeners: vec![Listener {
                    name: "CLIENT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                }],
                shard_count: 2,
                rack: Some("r1".into()),
                previous_broker_epoch: None,
            }),
            ControllerRequest::Heartbeat(Heartbeat {
                node_id: 4,
                broker_epoch: 17,
                applied_offset: 18,
                wants_fence: false,
                wants_shutdown: true,
            }),
            ControllerRequest::Change(MetadataChange::SetBrokerConfigs {
                configs: Map::from([("log.retention.ms".to_owned(), "1".to_owned())]),
            }),
            ControllerRequest::Change(MetadataChange::AlterPartition(
                crate::cluster::AlterPartitionRequest {
                    topic_id: Uuid([3; 16]),
                    partition: 2,
                    leader_id: 4,
                    leader_broker_epoch: 17,
                    leader_epoch: 5,
                    partition_epoch: 9,
                    new_isr: vec![4, 1],
                },
            )),
            ControllerRequest::Change(MetadataChange::ElectLeaders {
                election_type: crate::cluster::ElectionType::Unclean,
                partitions: Some(vec![(Uuid([3; 16]), 0)]),
            }),
        ];
        for request in requests {
            let bytes = postcard::to_stdvec(&request).unwrap();
            assert_eq!(
                postcard::from_bytes::<ControllerRequest>(&bytes).unwrap(),
                request
            );
        }
        let answers = [
            ControllerResponse::Registered { broker_epoch: 9 },
            ControllerResponse::NotController { leader: Some(2) },
            ControllerResponse::refused(ErrorCode::InconsistentClusterId, "other".into()),
            ControllerResponse::Changed { version: 40 },
        ];
        for answer in answers {
            let decoded: ControllerResponse = postcard::from_bytes(&answer.to_bytes()).unwrap();
            assert_eq!(decoded, answer);
        }
        assert!(postcard::from_bytes::<ControllerRequest>(&[0xff; 9]).is_err());
        assert!(postcard::from_bytes::<ControllerRequest>(&[]).is_err());
    }
}
