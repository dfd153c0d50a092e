//! DescribeQuorum (key 55): the metadata quorum as the active controller sees it — leader,
//! epoch (the Raft term), high watermark (committed offset + 1), and each voter's and
//! observer's log end offset (matched offset + 1, -1 when unknown); v2 adds the voters' and
//! observers' `CONTROLLER` listeners, and their `CLIENT` listeners too (a KRaft controller lists
//! only its controller endpoints; ours serve clients as well, and a client told
//! NOT_LEADER_OR_FOLLOWER finds the leader's client address there). `kafka-metadata-quorum.sh
//! describe --status` and `ringbroker cluster status` read it.
//!
//! Runs on the connection's shard; the quorum's status is read on shard 0 (the Raft node's
//! shard) through the mesh. Owns only the translation; the numbers are `cluster::quorum`'s.
//!
//! Any broker answers with the leader's view: it asks the leader for its status over the
//! controller RPC (Kafka's brokers forward DescribeQuorum to the active controller). When the
//! leader cannot be reached, the node answers from its own view, and as Kafka's
//! `KafkaRaftClient.handleDescribeQuorumRequest` a node that does not lead answers the
//! partition NOT_LEADER_OR_FOLLOWER (with the leader and epoch it knows). Where we differ on
//! purpose: Kafka refuses a request naming anything but `__cluster_metadata-0` as a whole
//! with INVALID_REQUEST; we answer each other partition UNKNOWN_TOPIC_OR_PARTITION and still
//! answer the metadata partition (an empty request is INVALID_REQUEST, as in Kafka). Replica
//! directory ids are zero (we have no KIP-858 directories) and fetch timestamps -1 (openraft
//! reports no wall clock times), except the leader's caught-up time, which is now, as Kafka
//! reports it.
use super::{HandlerError, RequestContext};
use crate::cluster::MetadataHost as _;
use crate::cluster::acls::AclOperation;
use crate::cluster::controller::{self, CONTROLLER_SHARD};
use crate::cluster::metadata::{CLIENT_LISTENER, CONTROLLER_LISTENER, ClusterMetadata};
use crate::cluster::quorum::{QuorumStatus, VoterProgress};
use crate::cluster::topic_name::RESERVED_METADATA_TOPIC;
use crate::config::QuorumVoter;
use crate::group::coordinator::now_ms;
use crate::protocol::messages::describe_quorum::{
    DescribeQuorumListener, DescribeQuorumNode, DescribeQuorumPartitionData, DescribeQuorumRequest,
    DescribeQuorumResponse, DescribeQuorumTopicData, ReplicaState,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};

pub const API_KEY: ApiKey = ApiKey::DescribeQuorum;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// The metadata log's only partition.
const METADATA_PARTITION_INDEX: i32 = 0;

/// # Errors
/// `Mesh` when shard 0 cannot be reached (shutting down).
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeQuorumRequest,
) -> Result<DescribeQuorumResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return Ok(DescribeQuorumResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed,
            ..DescribeQuorumResponse::default()
        });
    }
    if request.topics.is_empty() {
        return Ok(DescribeQuorumResponse {
            error_code: ErrorCode::InvalidRequest,
            ..DescribeQuorumResponse::default()
        });
    }
    let status = ctx
        .shard
        .invoke_on(CONTROLLER_SHARD, |shard| async move {
            // Forwarded to the leader (only it knows the voters' progress), as Kafka's brokers
            // forward DescribeQuorum to the active controller.
            let link = shard.state.metadata_view().link()?.clone();
            Some(link.client.leader_status().await)
        })
        .await?;
    let Some(status) = status else {
        // No Raft node on shard 0 (never in a running broker): nothing leads.
        return Ok(error_response(&request, ErrorCode::NotLeaderOrFollower));
    };
    let answer = QuorumAnswer::new(&status, now_ms());
    let topics = request
        .topics
        .iter()
        .map(|topic| DescribeQuorumTopicData {
            topic_name: topic.topic_name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| answer.partition(topic.topic_name.as_str(), p.partition_index))
                .collect(),
        })
        .collect();
    let nodes = if ctx.api_version >= 2 {
        let metadata = controller::metadata(&ctx.shard);
        nodes(&status, &metadata, &ctx.shard.config().quorum_voters)
    } else {
        Vec::new()
    };
    Ok(DescribeQuorumResponse {
        error_code: ErrorCode::None,
        error_message: None,
        topics,
        nodes,
    })
}

/// Every partition of `request` answered with `code`.
fn error_response(request: &DescribeQuorumRequest, code: ErrorCode) -> DescribeQuorumResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| DescribeQuorumTopicData {
            topic_name: topic.topic_name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|p| DescribeQuorumPartitionData {
                    partition_index: p.partition_index,
                    error_code: code,
                    ..DescribeQuorumPartitionData::default()
                })
                .collect(),
        })
        .collect();
    DescribeQuorumResponse {
        topics,
        ..DescribeQuorumResponse::default()
    }
}

/// The metadata partition's answer, built once per request from one status.
struct QuorumAnswer<'a> {
    status: &'a QuorumStatus,
    leader_epoch: i32,
    now_ms: i64,
}

impl<'a> QuorumAnswer<'a> {
    fn new(status: &'a QuorumStatus, now_ms: i64) -> Self {
        Self {
            status,
            // Terms start at 0 and grow by one per election; one past i32 is not reachable.
            leader_epoch: i32::try_from(status.term).unwrap_or(i32::MAX),
            now_ms,
        }
    }

    fn leads(&self) -> bool {
        self.status.leader == Some(self.status.node_id)
    }

    /// The answer for `topic`-`partition_index`.
    fn partition(&self, topic: &str, partition_index: i32) -> DescribeQuorumPartitionData {
        let base = DescribeQuorumPartitionData {
            partition_index,
            leader_id: self.status.leader.unwrap_or(-1),
            leader_epoch: self.leader_epoch,
            ..DescribeQuorumPartitionData::default()
        };
        if topic != RESERVED_METADATA_TOPIC || partition_index != METADATA_PARTITION_INDEX {
            return DescribeQuorumPartitionData {
                error_code: ErrorCode::UnknownTopicOrPartition,
                leader_id: -1,
                leader_epoch: -1,
                ..base
            };
        }
        if !self.leads() {
            return DescribeQuorumPartitionData {
                error_code: ErrorCode::NotLeaderOrFollower,
                ..base
            };
        }
        let high_watermark = self
            .status
            .committed_offset
            .map_or(-1, |c| c.saturating_add(1));
        DescribeQuorumPartitionData {
            error_code: ErrorCode::None,
            high_watermark,
            current_voters: self.status.voters.iter().map(|v| self.replica(v)).collect(),
            observers: self
                .status
                .observers
                .iter()
                .map(|o| self.replica(o))
                .collect(),
            ..base
        }
    }

    fn replica(&self, progress: &VoterProgress) -> ReplicaState {
        let is_leader = self.status.leader == Some(progress.node_id);
        ReplicaState {
            replica_id: progress.node_id,
            replica_directory_id: Uuid::ZERO,
            log_end_offset: progress.matched_offset.map_or(-1, |m| m.saturating_add(1)),
            last_fetch_timestamp: -1,
            last_caught_up_timestamp: if is_leader { self.now_ms } else { -1 },
        }
    }
}

/// v2's nodes: each voter's and observer's `CONTROLLER` and `CLIENT` listeners from its
/// registration; else (a voter not registered yet) its `CONTROLLER` listener from the
/// configured voter list, unless that names a kernel-chosen port (`:0`, a one-voter quorum)
/// nobody can reach. A member with no known listener is left out, as Kafka leaves out unknown
/// nodes.
fn nodes(
    status: &QuorumStatus,
    metadata: &ClusterMetadata,
    configured: &[QuorumVoter],
) -> Vec<DescribeQuorumNode> {
    let members = status.voters.iter().chain(&status.observers);
    members
        .filter_map(|member| {
            let listeners = listeners(member.node_id, metadata, configured);
            (!listeners.is_empty()).then_some(DescribeQuorumNode {
                node_id: member.node_id,
                listeners,
            })
        })
        .collect()
}

fn listeners(
    node_id: i32,
    metadata: &ClusterMetadata,
    configured: &[QuorumVoter],
) -> Vec<DescribeQuorumListener> {
    if let Some(broker) = metadata.broker(node_id) {
        let registered: Vec<_> = broker
            .listeners
            .iter()
            .filter(|l| l.name == CONTROLLER_LISTENER || l.name == CLIENT_LISTENER)
            .map(|l| DescribeQuorumListener {
                name: StrBytes::from(l.name.as_str()),
                host: StrBytes::from(l.host.as_str()),
                port: l.port,
            })
            .collect();
        if !registered.is_empty() {
            return registered;
        }
    }
    configured
        .iter()
        .filter(|voter| voter.node_id == node_id)
        .filter_map(|voter| voter.address.rsplit_once(':'))
        .filter_map(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(_, port)| *port != 0)
        .map(|(host, port)| DescribeQuorumListener {
            name: StrBytes::from(CONTROLLER_LISTENER),
            host: StrBytes::from(host.trim_start_matches('[').trim_end_matches(']')),
            port,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    fn quorum(node_id: i32, leader: Option<i32>) -> QuorumStatus {
        QuorumStatus {
            node_id,
            leader,
            term: 3,
            committed_offset: Some(41),
            applied_offset: Some(41),
            voters: vec![
                VoterProgress {
                    node_id: 1,
                    matched_offset: Some(41),
                },
                VoterProgress {
                    node_id: 2,
                    matched_offset: None,
                },
            ],
            observers: vec![VoterProgress {
                node_id: 4,
                matched_offset: Some(39),
            }],
        }
    }

    #[test]
    fn the_leader_answers_offsets_plus_one() {
        let status = quorum(1, Some(1));
        let answer = QuorumAnswer::new(&status, 77).partition(RESERVED_METADATA_TOPIC, 0);
        assert_eq!(answer.error_code, ErrorCode::None);
        assert_eq!((answer.leader_id, answer.leader_epoch), (1, 3));
        assert_eq!(answer.high_watermark, 42);
        let ends: Vec<_> = answer
            .current_voters
            .iter()
            .map(|v| v.log_end_offset)
            .collect();
        assert_eq!(ends, [42, -1]);
        assert_eq!(answer.current_voters[0].last_caught_up_timestamp, 77);
        assert_eq!(answer.current_voters[1].last_caught_up_timestamp, -1);
        assert_eq!(answer.observers[0].replica_id, 4);
        assert_eq!(answer.observers[0].log_end_offset, 40);
    }

    #[test]
    fn a_follower_names_the_leader_with_not_leader() {
        let status = quorum(2, Some(1));
        let answer = QuorumAnswer::new(&status, 0).partition(RESERVED_METADATA_TOPIC, 0);
        assert_eq!(answer.error_code, ErrorCode::NotLeaderOrFollower);
        assert_eq!((answer.leader_id, answer.leader_epoch), (1, 3));
        assert!(answer.current_voters.is_empty());
        let unknown = QuorumAnswer::new(&quorum(2, None), 0).partition("__cluster_metadata", 0);
        assert_eq!(unknown.leader_id, -1);
    }

    #[test]
    fn other_partitions_are_unknown() {
        let status = quorum(1, Some(1));
        let answer = QuorumAnswer::new(&status, 0);
        for (topic, partition) in [(RESERVED_METADATA_TOPIC, 1), ("orders", 0)] {
            let refused = answer.partition(topic, partition);
            assert_eq!(refused.error_code, ErrorCode::UnknownTopicOrPartition);
            assert_eq!(refused.partition_index, partition);
        }
    }

    #[test]
    fn registered_nodes_list_their_controller_and_client_listeners() {
        use crate::cluster::metadata::{BrokerRegistration, Listener, MetadataRecord};
        let listener = |name: &str, port| Listener {
            name: name.into(),
            host: "10.0.0.2".into(),
            port,
        };
        let registration = BrokerRegistration {
            node_id: 2,
            incarnation: Uuid([1; 16]),
            broker_epoch: 5,
            listeners: vec![
                listener(CLIENT_LISTENER, 9092),
                listener(CONTROLLER_LISTENER, 9192),
                listener("REPLICATION_0", 40000),
            ],
            shard_count: 2,
            rack: None,
            fenced: false,
        };
        let metadata = ClusterMetadata::empty("c".into())
            .apply(&MetadataRecord::RegisterBroker(registration))
            .unwrap();
        let configured = [QuorumVoter {
            node_id: 2,
            address: "elsewhere:1".into(),
        }];
        let found = listeners(2, &metadata, &configured);
        let names: Vec<_> = found.iter().map(|l| (l.name.as_str(), l.port)).collect();
        assert_eq!(
            names,
            [(CLIENT_LISTENER, 9092), (CONTROLLER_LISTENER, 9192)]
        );
    }

    #[test]
    fn nodes_come_from_the_voter_list_until_registered() {
        let configured = vec![
            QuorumVoter {
                node_id: 1,
                address: "10.0.0.1:9192".into(),
            },
            QuorumVoter {
                node_id: 2,
                address: "[::1]:9193".into(),
            },
        ];
        let nodes = nodes(
            &quorum(1, Some(1)),
            &ClusterMetadata::empty("c".into()),
            &configured,
        );
        let ids: Vec<_> = nodes.iter().map(|n| n.node_id).collect();
        assert_eq!(ids, [1, 2], "observer 4 has no known listener");
        assert_eq!(nodes[0].listeners[0].name.as_str(), CONTROLLER_LISTENER);
        assert_eq!(nodes[0].listeners[0].host.as_str(), "10.0.0.1");
        assert_eq!(nodes[1].listeners[0].host.as_str(), "::1");
        assert_eq!(nodes[1].listeners[0].port, 9193);
        let single = [QuorumVoter {
            node_id: 1,
            address: "127.0.0.1:0".into(),
        }];
        assert!(listeners(1, &ClusterMetadata::empty("c".into()), &single).is_empty());
    }
}
