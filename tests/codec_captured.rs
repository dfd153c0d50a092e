//! Request frames captured from real clients (`tests/captured/requests.txt`: librdkafka 2.12
//! via the rdkafka crate, confluent-kafka 2.16 / librdkafka 2.16, kafka-python 3, aiokafka,
//! kafkajs; issue 14's audit), decoded as the broker decodes them. The differential tests
//! compare our codec with `kafka-protocol` on values both encode; these bytes are what clients
//! really send, quirks included.
//!
//! For every frame: the header decodes to the recorded key and version; the body decodes with
//! `decode_request_body`; re-encoding our value gives back exactly the bytes we consumed (so no
//! field was read at the wrong place); `kafka-protocol` consumes the same bytes and re-encodes
//! them identically. Nothing may be tolerated except the one known quirk, librdkafka's
//! all-topics Metadata. Runs on the test thread; no broker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{self as kp_protocol, Decodable, Encodable};
use ringbroker::protocol::header::RequestHeader;
use ringbroker::protocol::testing::{api_codecs, hex};
use ringbroker::protocol::{ApiKey, Reader, Tolerated};

const CAPTURED: &str = include_str!("captured/requests.txt");

/// One captured frame: who sent it, what it claims to be, the bytes after the size prefix.
struct Captured {
    client: &'static str,
    api_key: i16,
    api_version: i16,
    frame: Bytes,
}

fn captured() -> Vec<Captured> {
    let frames: Vec<Captured> = CAPTURED
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 4, "bad line {line}");
            Captured {
                client: fields[0],
                api_key: fields[1].parse().unwrap(),
                api_version: fields[2].parse().unwrap(),
                frame: Bytes::from(hex(fields[3]).expect("hex")),
            }
        })
        .collect();
    assert!(frames.len() >= 80, "only {} captured frames", frames.len());
    frames
}

/// What Kafka tolerates in this frame, as we expect it: only librdkafka's (2.12 and 2.16)
/// all-topics Metadata at v9+ (a 4-byte zero count where a 1-byte compact one belongs) leaves
/// bytes over.
fn expected_tolerated(frame: &Captured, body: &[u8]) -> Tolerated {
    let librdkafka_all_topics = ["ck216", "rd212"].contains(&frame.client)
        && frame.api_key == ApiKey::Metadata.as_i16()
        && frame.api_version >= 9
        && body.starts_with(&[0, 0, 0, 0]);
    if librdkafka_all_topics {
        assert_eq!(frame.api_version, 12, "captured at v12 only");
        return Tolerated {
            trailing_bytes: 3,
            ..Tolerated::default()
        };
    }
    Tolerated::default()
}

/// What `kafka-protocol` made of a body: its re-encoding, or `None` when the version is newer
/// than the crate knows (kafka-protocol 0.15 stops at Kafka 3.9's versions).
type Theirs = Result<Option<BytesMut>, String>;

/// Decodes with `kafka-protocol`'s request type for `key` (from `input`, leaving what it did
/// not read) and encodes the value again.
fn their_reencode(key: ApiKey, input: &mut Bytes, version: i16) -> Theirs {
    fn again<T: Decodable + Encodable + kp_protocol::Message>(
        input: &mut Bytes,
        version: i16,
    ) -> Theirs {
        if !(T::VERSIONS.min..=T::VERSIONS.max).contains(&version) {
            return Ok(None);
        }
        let value = T::decode(input, version).map_err(|error| error.to_string())?;
        let mut buffer = BytesMut::new();
        value
            .encode(&mut buffer, version)
            .map_err(|error| error.to_string())?;
        Ok(Some(buffer))
    }
    match key {
        ApiKey::Produce => again::<kp::ProduceRequest>(input, version),
        ApiKey::Fetch => again::<kp::FetchRequest>(input, version),
        ApiKey::ListOffsets => again::<kp::ListOffsetsRequest>(input, version),
        ApiKey::Metadata => again::<kp::MetadataRequest>(input, version),
        ApiKey::OffsetCommit => again::<kp::OffsetCommitRequest>(input, version),
        ApiKey::OffsetFetch => again::<kp::OffsetFetchRequest>(input, version),
        ApiKey::FindCoordinator => again::<kp::FindCoordinatorRequest>(input, version),
        ApiKey::JoinGroup => again::<kp::JoinGroupRequest>(input, version),
        ApiKey::Heartbeat => again::<kp::HeartbeatRequest>(input, version),
        ApiKey::LeaveGroup => again::<kp::LeaveGroupRequest>(input, version),
        ApiKey::SyncGroup => again::<kp::SyncGroupRequest>(input, version),
        ApiKey::DescribeGroups => again::<kp::DescribeGroupsRequest>(input, version),
        ApiKey::ListGroups => again::<kp::ListGroupsRequest>(input, version),
        ApiKey::SaslHandshake => again::<kp::SaslHandshakeRequest>(input, version),
        ApiKey::ApiVersions => again::<kp::ApiVersionsRequest>(input, version),
        ApiKey::CreateTopics => again::<kp::CreateTopicsRequest>(input, version),
        ApiKey::DeleteTopics => again::<kp::DeleteTopicsRequest>(input, version),
        ApiKey::DeleteRecords => again::<kp::DeleteRecordsRequest>(input, version),
        ApiKey::InitProducerId => again::<kp::InitProducerIdRequest>(input, version),
        ApiKey::OffsetForLeaderEpoch => again::<kp::OffsetForLeaderEpochRequest>(input, version),
        ApiKey::DescribeAcls => again::<kp::DescribeAclsRequest>(input, version),
        ApiKey::CreateAcls => again::<kp::CreateAclsRequest>(input, version),
        ApiKey::DeleteAcls => again::<kp::DeleteAclsRequest>(input, version),
        ApiKey::DescribeConfigs => again::<kp::DescribeConfigsRequest>(input, version),
        ApiKey::AlterConfigs => again::<kp::AlterConfigsRequest>(input, version),
        ApiKey::DescribeLogDirs => again::<kp::DescribeLogDirsRequest>(input, version),
        ApiKey::SaslAuthenticate => again::<kp::SaslAuthenticateRequest>(input, version),
        ApiKey::CreatePartitions => again::<kp::CreatePartitionsRequest>(input, version),
        ApiKey::DeleteGroups => again::<kp::DeleteGroupsRequest>(input, version),
        ApiKey::ElectLeaders => again::<kp::ElectLeadersRequest>(input, version),
        ApiKey::IncrementalAlterConfigs => {
            again::<kp::IncrementalAlterConfigsRequest>(input, version)
        }
        ApiKey::OffsetDelete => again::<kp::OffsetDeleteRequest>(input, version),
        ApiKey::DescribeClientQuotas => again::<kp::DescribeClientQuotasRequest>(input, version),
        ApiKey::AlterClientQuotas => again::<kp::AlterClientQuotasRequest>(input, version),
        ApiKey::DescribeUserScramCredentials => {
            again::<kp::DescribeUserScramCredentialsRequest>(input, version)
        }
        ApiKey::AlterUserScramCredentials => {
            again::<kp::AlterUserScramCredentialsRequest>(input, version)
        }
        ApiKey::DescribeQuorum => again::<kp::DescribeQuorumRequest>(input, version),
        ApiKey::DescribeCluster => again::<kp::DescribeClusterRequest>(input, version),
        ApiKey::AlterPartitionReassignments => {
            again::<kp::AlterPartitionReassignmentsRequest>(input, version)
        }
        ApiKey::ListPartitionReassignments => {
            again::<kp::ListPartitionReassignmentsRequest>(input, version)
        }
        ApiKey::UnregisterBroker => again::<kp::UnregisterBrokerRequest>(input, version),
    }
}

/// `kafka-protocol` decodes the same body and consumes `consumed` bytes of it, and its
/// re-encoding equals those bytes. Returns false when it does not know the version.
fn kafka_protocol_agrees(frame: &Captured, key: ApiKey, body: &Bytes, consumed: usize) -> bool {
    let what = format!(
        "{} key {} v{}",
        frame.client, frame.api_key, frame.api_version
    );
    let mut input = body.clone();
    let again = their_reencode(key, &mut input, frame.api_version)
        .unwrap_or_else(|error| panic!("{what}: kafka-protocol: {error}"));
    let Some(again) = again else {
        return false;
    };
    assert_eq!(body.len() - input.len(), consumed, "{what}: consumed");
    assert_eq!(
        &again[..],
        &body[..consumed],
        "{what}: kafka-protocol re-encode"
    );
    true
}

#[test]
fn captured_client_requests_decode_as_kafka_decodes_them() {
    let frames = captured();
    let mut cross_checked = 0;
    for frame in &frames {
        let what = format!(
            "{} key {} v{}",
            frame.client, frame.api_key, frame.api_version
        );
        let mut reader = Reader::new(frame.frame.clone());
        let header = RequestHeader::decode(&mut reader).unwrap();
        assert_eq!(header.api_key, frame.api_key, "{what}");
        assert_eq!(header.api_version, frame.api_version, "{what}");
        let body = reader.rest();
        let key = ApiKey::from_i16(frame.api_key).unwrap();
        let codecs = api_codecs(key).unwrap();
        let (again, tolerated) = (codecs.request.reencode)(body.clone(), frame.api_version)
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        assert_eq!(tolerated, expected_tolerated(frame, &body), "{what}");
        let consumed = body.len() - tolerated.trailing_bytes;
        assert_eq!(&again[..], &body[..consumed], "{what}: our re-encode");
        if kafka_protocol_agrees(frame, key, &body, consumed) {
            cross_checked += 1;
        }
    }
    // A few versions are newer than kafka-protocol 0.15 (e.g. ListOffsets v10, kafka-python).
    assert!(
        cross_checked + 5 >= frames.len(),
        "only {cross_checked} of {} frames cross-checked",
        frames.len()
    );
}

/// Every client of the audit is represented, and librdkafka's quirk is among the frames (so
/// the expectation above cannot go stale silently).
#[test]
fn captured_set_covers_every_client_and_the_quirk() {
    let frames = captured();
    for client in ["ck216", "rd212", "kp3", "aiok", "kjs"] {
        assert!(
            frames.iter().any(|frame| frame.client == client),
            "{client}"
        );
    }
    let quirks = frames
        .iter()
        .filter(|frame| {
            let mut reader = Reader::new(frame.frame.clone());
            RequestHeader::decode(&mut reader).unwrap();
            expected_tolerated(frame, &reader.rest()) != Tolerated::default()
        })
        .count();
    assert_eq!(quirks, 2, "librdkafka 2.12 and 2.16");
}
