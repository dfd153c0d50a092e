//! The one table of API version ranges this codec decodes and encodes.
//!
//! Minimums follow Kafka 4.x (KIP-896 removed the oldest versions), lowered where a common client
//! still needs it; maximums reach at least Kafka 4.1's. `flexible_min` is the first version using
//! compact strings/arrays and tagged fields (`NONE` when the API has none). The broker's
//! ApiVersions answer is built from the handlers' registry, which may narrow these ranges but
//! never widen them.
//!
//! Why each minimum (clients checked: librdkafka 2.0.2, kafkajs 2.2, kafka-python, Sarama):
//! Produce starts at 3 because v0–v2 carry magic 0/1 message sets, which we do not store.
use super::ApiKey;

/// No flexible version.
pub const NONE: i16 = i16::MAX;

/// A supported version range of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
    pub flexible_min: i16,
}

const fn r(min: i16, max: i16, flexible_min: i16) -> VersionRange {
    assert!(min <= max);
    VersionRange {
        min,
        max,
        flexible_min,
    }
}

/// The codec's range for `key`.
#[must_use]
pub const fn range(key: ApiKey) -> VersionRange {
    match key {
        ApiKey::Produce => r(3, 13, 9),
        ApiKey::Fetch => r(4, 17, 12),
        ApiKey::ListOffsets => r(1, 10, 6),
        ApiKey::Metadata => r(0, 13, 9),
        ApiKey::OffsetCommit => r(2, 9, 8),
        ApiKey::OffsetFetch => r(1, 9, 6),
        ApiKey::FindCoordinator => r(0, 6, 3),
        ApiKey::JoinGroup => r(0, 9, 6),
        ApiKey::Heartbeat => r(0, 4, 4),
        ApiKey::LeaveGroup => r(0, 5, 4),
        ApiKey::SyncGroup => r(0, 5, 4),
        ApiKey::DescribeGroups => r(0, 6, 5),
        ApiKey::ListGroups => r(0, 5, 3),
        // Kafka 4.0 dropped v0 (KIP-896), but older Sarama releases default to it
        // (Net.SASL.Version = SASLHandshakeV0), so the codec keeps it.
        ApiKey::SaslHandshake => r(0, 1, NONE),
        ApiKey::ApiVersions => r(0, 4, 3),
        ApiKey::CreateTopics => r(2, 7, 5),
        ApiKey::DeleteTopics => r(1, 6, 4),
        ApiKey::DeleteRecords => r(0, 2, 2),
        // v6 (Kafka 4.1, KIP-939 two-phase commit: enable_2pc, keep_prepared_txn) is left out:
        // we do not implement 2PC, and clients negotiate down to v5.
        ApiKey::InitProducerId => r(0, 5, 2),
        ApiKey::OffsetForLeaderEpoch => r(2, 4, 4),
        // Kafka 4 dropped CreateAcls/DeleteAcls v0–1 and DescribeAcls v0 (KIP-896); librdkafka
        // asks for v0–1, so the codec keeps them (v0 lacks only the pattern type: LITERAL).
        ApiKey::DescribeAcls => r(0, 3, 2),
        ApiKey::CreateAcls => r(0, 3, 2),
        ApiKey::DeleteAcls => r(0, 3, 2),
        ApiKey::DescribeConfigs => r(1, 4, 4),
        // Kafka 4 keeps all three (KIP-896 removed no AlterConfigs version).
        ApiKey::AlterConfigs => r(0, 2, 2),
        // v0 is deprecated (KIP-896) and Kafka 4.0 brokers reject it.
        ApiKey::DescribeLogDirs => r(1, 4, 2),
        ApiKey::SaslAuthenticate => r(0, 2, 2),
        ApiKey::CreatePartitions => r(0, 3, 2),
        ApiKey::DeleteGroups => r(0, 2, 2),
        ApiKey::ElectLeaders => r(0, 2, 2),
        ApiKey::IncrementalAlterConfigs => r(0, 1, 1),
        // v1 (Kafka 4.0, KIP-860) adds allow_replication_factor_change.
        ApiKey::AlterPartitionReassignments => r(0, 1, 0),
        ApiKey::ListPartitionReassignments => r(0, 0, 0),
        ApiKey::OffsetDelete => r(0, 0, NONE),
        ApiKey::DescribeClientQuotas => r(0, 1, 1),
        ApiKey::AlterClientQuotas => r(0, 1, 1),
        ApiKey::DescribeUserScramCredentials => r(0, 0, 0),
        ApiKey::AlterUserScramCredentials => r(0, 0, 0),
        // v2 (Kafka 4.0, KIP-853) adds directory ids, error messages and the voters' nodes.
        ApiKey::DescribeQuorum => r(0, 2, 0),
        // v2 (Kafka 4.0, KIP-1073) adds include_fenced_brokers / is_fenced.
        ApiKey::DescribeCluster => r(0, 2, 0),
        ApiKey::UnregisterBroker => r(0, 0, 0),
    }
}

/// Whether `version` of `key` uses request header v2 / response header v1.
#[must_use]
pub const fn is_flexible(key: ApiKey, version: i16) -> bool {
    version >= range(key).flexible_min
}
