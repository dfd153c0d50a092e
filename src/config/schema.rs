//! The shape of the configuration: what a TOML file (or the flags) may set, every key optional
//! ([`ConfigFile`] and its sections, with the overlay that lets flags win), and the validated
//! types the broker reads ([`Config`], [`Limits`], [`GroupConfig`], [`Tuning`]) with their
//! defaults. It checks nothing (`validation.rs`). Runs in `main` before any shard exists.
use super::ConfigError;
use super::QuorumVoter as Voter;
use super::listeners::{ListenerConfig, TlsConfig};
use crate::limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shape of a config file; every key optional (absent = default or flag).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// One `[NAME://]HOST:PORT` listener (the older key); `listeners` lists several.
    pub listen: Option<String>,
    /// Kafka's `listeners`: `[NAME://]HOST:PORT` each (`config/listeners.rs`).
    pub listeners: Option<Vec<String>>,
    /// Kafka's `advertised.listeners`: `[NAME://]HOST:PORT` each; no NAME = the first one.
    pub advertised_listeners: Option<Vec<String>>,
    /// Kafka's `listener.security.protocol.map`: `NAME:PROTOCOL,...`.
    pub listener_security_protocol_map: Option<String>,
    /// Prometheus `/metrics` listener (`HOST:PORT`); absent = no metrics listener.
    pub metrics_listen: Option<String>,
    pub advertise: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub node_id: Option<i32>,
    pub auto_create_partitions: Option<i32>,
    pub log_level: Option<String>,
    /// `"splice"` (default) or `"copy"`; see [`FetchMode`].
    pub fetch_mode: Option<String>,
    /// Kafka's `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: Option<u64>,
    /// Kafka's `controller.quorum.voters`: `id@host:port,...`; absent = one voter of itself.
    pub quorum_voters: Option<String>,
    /// Metadata log entries applied between two snapshots of the metadata.
    pub quorum_snapshot_entries: Option<u64>,
    /// Kafka's `broker.rack`: placement spreads a partition's replicas over racks.
    pub rack: Option<String>,
    /// Kafka's `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: Option<u64>,
    /// Kafka's `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: Option<u64>,
    /// Kafka's `replica.lag.time.max.ms`: a follower not caught up this long leaves the ISR.
    pub replica_lag_time_max_ms: Option<u64>,
    /// Kafka's `follower.replication.throttled.rate` applied to every replica: the bytes per
    /// second this broker's followers fetch, split evenly over its shards; 0 = off.
    pub replication_throttle_bytes_per_sec: Option<u64>,
    #[serde(default)]
    pub leader_balance: LeaderBalanceFile,
    #[serde(default)]
    pub authorizer: AuthorizerFile,
    #[serde(default)]
    pub shards: ShardsFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub groups: GroupsFile,
    #[serde(default)]
    pub socket: SocketFile,
    #[serde(default)]
    pub io_uring: IoUringFile,
    #[serde(default)]
    pub sasl: super::SaslFile,
    #[serde(default)]
    pub tls: TlsFile,
    #[serde(default)]
    pub inter_broker: super::InterBrokerFile,
    /// `[controller]`: mutual TLS on the controller channel (`config/controller.rs`).
    #[serde(default)]
    pub controller: super::ControllerFile,
}

/// `[tls]` of a config file: the certificate every TLS listener serves (PEM files).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Server certificate chain, leaf first (`--tls-cert`).
    pub cert: Option<PathBuf>,
    /// Its private key (`--tls-key`).
    pub key: Option<PathBuf>,
    /// CA bundle that signs client certificates (`--tls-client-ca`).
    pub client_ca: Option<PathBuf>,
    /// Kafka's `ssl.client.auth`: `required`, `requested` or `none` (`--ssl-client-auth`).
    pub client_auth: Option<String>,
    /// Kafka's `ssl.allow.dn.changes` (`--ssl-allow-dn-changes`): a reload may change the
    /// certificate's subject; also the controller channel's.
    pub allow_dn_changes: Option<bool>,
    /// Kafka's `ssl.allow.san.changes` (`--ssl-allow-san-changes`): a reload may drop a
    /// subject alternative name; also the controller channel's.
    pub allow_san_changes: Option<bool>,
}

impl TlsFile {
    fn overlay(self, other: TlsFile) -> TlsFile {
        TlsFile {
            cert: other.cert.or(self.cert),
            key: other.key.or(self.key),
            client_ca: other.client_ca.or(self.client_ca),
            client_auth: other.client_auth.or(self.client_auth),
            allow_dn_changes: other.allow_dn_changes.or(self.allow_dn_changes),
            allow_san_changes: other.allow_san_changes.or(self.allow_san_changes),
        }
    }
}

/// `[groups]` of a config file: the consumer group coordinator (Kafka's names in comments).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsFile {
    /// `offsets.topic.num.partitions`
    pub offsets_topic_partitions: Option<i32>,
    /// `offsets.topic.replication.factor`
    pub offsets_topic_replication_factor: Option<i16>,
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: Option<u64>,
    /// `group.min.session.timeout.ms`
    pub session_timeout_ms_min: Option<i32>,
    /// `group.max.session.timeout.ms`
    pub session_timeout_ms_max: Option<i32>,
    /// `offsets.retention.minutes`
    pub offsets_retention_minutes: Option<u64>,
    /// `group.max.size`
    pub members_max: Option<usize>,
}

/// `[leader_balance]` of a config file: automatic preferred-leader rebalancing by the active
/// controller (Kafka's names in comments).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderBalanceFile {
    /// `auto.leader.rebalance.enable`
    pub enable: Option<bool>,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub check_interval_ms: Option<u64>,
    /// `leader.imbalance.per.broker.percentage`
    pub per_broker_percentage: Option<u32>,
}

impl LeaderBalanceFile {
    fn overlay(self, other: LeaderBalanceFile) -> LeaderBalanceFile {
        LeaderBalanceFile {
            enable: other.enable.or(self.enable),
            check_interval_ms: other.check_interval_ms.or(self.check_interval_ms),
            per_broker_percentage: other.per_broker_percentage.or(self.per_broker_percentage),
        }
    }
}

/// `[shards]` of a config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardsFile {
    pub count: Option<usize>,
    pub cpus: Option<Vec<usize>>,
    /// Cpus kept for interrupts (NIC and NVMe queues); no shard may use them.
    pub irq_cpus: Option<Vec<usize>>,
    /// NUMA nodes the profile was written for; `tune check` compares it with the machine.
    pub numa_nodes: Option<usize>,
    /// Memory budget of one shard, bytes.
    pub memory_size: Option<u64>,
}

/// `[socket]` of a config file: buffer sizes of client connections.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketFile {
    pub send_buffer_size: Option<usize>,
    pub receive_buffer_size: Option<usize>,
}

/// `[io_uring]` of a config file: how each shard's ring is built.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoUringFile {
    pub entries: Option<u32>,
    pub sqpoll: Option<bool>,
    pub sqpoll_idle_ms: Option<u32>,
}

/// `[limits]` of a config file: overrides within the hard caps of `limits.rs`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub frame_size_max: Option<usize>,
    pub connections_max: Option<usize>,
    pub connections_per_ip_max: Option<usize>,
    pub requests_inflight_per_connection_max: Option<usize>,
    pub connections_max_idle_ms: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
}

impl ConfigFile {
    /// Reads and parses a TOML config file (unknown keys are errors, so typos are caught).
    ///
    /// # Errors
    /// `Read` or `Parse`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Lays `other` over `self`: every key `other` sets wins.
    #[must_use]
    pub fn overlay(self, other: ConfigFile) -> ConfigFile {
        // Listeners given by the flags replace the file's, whichever key the file used.
        let flags_listen = other.listen.is_some() || other.listeners.is_some();
        let (listen, listeners) = if flags_listen {
            (other.listen, other.listeners)
        } else {
            (self.listen, self.listeners)
        };
        ConfigFile {
            listen,
            listeners,
            advertised_listeners: other.advertised_listeners.or(self.advertised_listeners),
            listener_security_protocol_map: other
                .listener_security_protocol_map
                .or(self.listener_security_protocol_map),
            tls: self.tls.overlay(other.tls),
            inter_broker: self.inter_broker.overlay(other.inter_broker),
            controller: self.controller.overlay(other.controller),
            metrics_listen: other.metrics_listen.or(self.metrics_listen),
            advertise: other.advertise.or(self.advertise),
            data_dir: other.data_dir.or(self.data_dir),
            node_id: other.node_id.or(self.node_id),
            auto_create_partitions: other.auto_create_partitions.or(self.auto_create_partitions),
            log_level: other.log_level.or(self.log_level),
            fetch_mode: other.fetch_mode.or(self.fetch_mode),
            producer_id_expiration_ms: other
                .producer_id_expiration_ms
                .or(self.producer_id_expiration_ms),
            quorum_voters: other.quorum_voters.or(self.quorum_voters),
            rack: other.rack.or(self.rack),
            broker_heartbeat_interval_ms: other
                .broker_heartbeat_interval_ms
                .or(self.broker_heartbeat_interval_ms),
            broker_session_timeout_ms: other
                .broker_session_timeout_ms
                .or(self.broker_session_timeout_ms),
            leader_balance: self.leader_balance.overlay(other.leader_balance),
            authorizer: AuthorizerFile {
                enabled: other.authorizer.enabled.or(self.authorizer.enabled),
                super_users: other.authorizer.super_users.or(self.authorizer.super_users),
                allow_everyone_if_no_acl_found: other
                    .authorizer
                    .allow_everyone_if_no_acl_found
                    .or(self.authorizer.allow_everyone_if_no_acl_found),
            },
            replica_lag_time_max_ms: other
                .replica_lag_time_max_ms
                .or(self.replica_lag_time_max_ms),
            replication_throttle_bytes_per_sec: other
                .replication_throttle_bytes_per_sec
                .or(self.replication_throttle_bytes_per_sec),
            quorum_snapshot_entries: other
                .quorum_snapshot_entries
                .or(self.quorum_snapshot_entries),
            shards: self.shards.overlay(other.shards),
            socket: self.socket.overlay(other.socket),
            io_uring: self.io_uring.overlay(other.io_uring),
            limits: self.limits.overlay(other.limits),
            groups: self.groups.overlay(other.groups),
            sasl: self.sasl.overlay(other.sasl),
        }
    }
}

impl ShardsFile {
    /// Lays `other` over `self`: every key `other` sets wins.
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            count: other.count.or(self.count),
            cpus: other.cpus.or(self.cpus),
            irq_cpus: other.irq_cpus.or(self.irq_cpus),
            numa_nodes: other.numa_nodes.or(self.numa_nodes),
            memory_size: other.memory_size.or(self.memory_size),
        }
    }
}

impl SocketFile {
    /// Lays `other` over `self`: every key `other` sets wins.
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            send_buffer_size: other.send_buffer_size.or(self.send_buffer_size),
            receive_buffer_size: other.receive_buffer_size.or(self.receive_buffer_size),
        }
    }
}

impl IoUringFile {
    /// Lays `other` over `self`: every key `other` sets wins.
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            entries: other.entries.or(self.entries),
            sqpoll: other.sqpoll.or(self.sqpoll),
            sqpoll_idle_ms: other.sqpoll_idle_ms.or(self.sqpoll_idle_ms),
        }
    }
}

impl LimitsFile {
    /// Lays `other` over `self`: every key `other` sets wins.
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            frame_size_max: other.frame_size_max.or(self.frame_size_max),
            connections_max: other.connections_max.or(self.connections_max),
            connections_per_ip_max: other.connections_per_ip_max.or(self.connections_per_ip_max),
            requests_inflight_per_connection_max: other
                .requests_inflight_per_connection_max
                .or(self.requests_inflight_per_connection_max),
            connections_max_idle_ms: other
                .connections_max_idle_ms
                .or(self.connections_max_idle_ms),
            shutdown_grace_ms: other.shutdown_grace_ms.or(self.shutdown_grace_ms),
        }
    }
}

/// Validated runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Every listener every shard binds (SO_REUSEPORT), the primary one first.
    pub listeners: Vec<ListenerConfig>,
    /// The certificate of the TLS listeners; `Some` whenever one exists.
    pub tls: Option<TlsConfig>,
    /// `[inter_broker]`: how this broker dials the others; `None` = plaintext.
    pub inter_broker: Option<super::InterBrokerConfig>,
    /// `[controller]`: the controller channel's mutual TLS; `None` = plaintext (the default).
    pub controller_tls: Option<super::ControllerTls>,
    /// The primary listener's address (`listeners[0]`).
    pub listen: SocketAddr,
    /// SASL mechanisms, PLAIN's policy and the re-authentication time.
    pub sasl: super::SaslConfig,
    /// Where shard 0 serves Prometheus `/metrics`; `None` = off (the default).
    pub metrics_listen: Option<SocketAddr>,
    /// `host:port` of the primary listener given to clients (defaults to `listen`).
    pub advertise: Advertised,
    pub data_dir: PathBuf,
    pub node_id: i32,
    /// Partitions of an auto-created topic; 0 disables auto-creation.
    pub auto_create_partitions: i32,
    /// A `tracing_subscriber::EnvFilter` directive.
    pub log_level: String,
    /// `cpus[i]` is the cpu shard `i` is pinned to; its length is the shard count.
    pub shard_cpus: Vec<usize>,
    pub limits: Limits,
    pub groups: GroupConfig,
    /// Placement and kernel-interface knobs of a tuning profile.
    pub tuning: Tuning,
    pub fetch_mode: FetchMode,
    /// How long an idempotent producer may stay idle before partitions forget its state
    /// (Kafka's `producer.id.expiration.ms`, default one day).
    pub producer_id_expiration: Duration,
    /// The metadata quorum's voters (each entry is that voter's controller listener); a node
    /// outside the list observes the quorum. Without `quorum_voters`: this node alone at
    /// `QUORUM_SINGLE_VOTER_ADDRESS`.
    pub quorum_voters: Vec<Voter>,
    /// Metadata log entries applied between two snapshots.
    pub quorum_snapshot_entries: u64,
    /// This broker's rack, registered with the controller for rack-aware placement.
    pub rack: Option<String>,
    /// How often the broker heartbeats to the active controller.
    pub broker_heartbeat_interval: Duration,
    /// How long the active controller waits for a heartbeat before fencing a broker.
    pub broker_session_timeout: Duration,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max: Duration,
    /// Follower fetch byte rate of the whole broker (0 = off), applied per shard as
    /// `rate / shards` by the follower fetchers.
    pub replication_throttle_bytes_per_sec: u64,
    /// Automatic preferred-leader rebalancing by the active controller.
    pub leader_balance: LeaderBalance,
    /// ACL checks in the handlers (`security::acl`); off by default.
    pub authorizer: Authorizer,
}

/// `[authorizer]` of a config file (Kafka: `authorizer.class.name`, `super.users`,
/// `allow.everyone.if.no.acl.found`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerFile {
    pub enabled: Option<bool>,
    /// `User:admin;User:ops`, as Kafka's `super.users`.
    pub super_users: Option<String>,
    pub allow_everyone_if_no_acl_found: Option<bool>,
}

/// The authorizer's settings. Disabled (the default), every request is allowed as before;
/// enabled, a request needs an ACL allowing it (or a super user, or
/// `allow_everyone_if_no_acl_found` on a resource no ACL names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    pub enabled: bool,
    /// Principals (`User:admin`) every check allows.
    pub super_users: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

/// Automatic preferred-leader rebalancing (Kafka's `auto.leader.rebalance.enable`,
/// `leader.imbalance.check.interval.seconds`, `leader.imbalance.per.broker.percentage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderBalance {
    pub enabled: bool,
    pub check_interval: Duration,
    /// A broker whose share of preferred partitions led by others is above this percentage
    /// gets them back.
    pub imbalance_percentage_max: u32,
}

/// Kafka's defaults.
impl Default for LeaderBalance {
    fn default() -> Self {
        Self {
            enabled: true,
            check_interval: Duration::from_millis(
                limits::LEADER_IMBALANCE_CHECK_INTERVAL_MS_DEFAULT,
            ),
            imbalance_percentage_max: limits::LEADER_IMBALANCE_PER_BROKER_PERCENTAGE_DEFAULT,
        }
    }
}

/// How Fetch sends record bytes (ARCHITECTURE §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchMode {
    /// splice(file → pipe → socket) on io_uring: the bytes never enter user space.
    #[default]
    Splice,
    /// Read into memory, then send: for TLS later, and the baseline splice is measured against.
    Copy,
}

impl FetchMode {
    /// The config-file spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Splice => "splice",
            Self::Copy => "copy",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [Self::Splice, Self::Copy]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }
}

/// Consumer group coordinator settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    pub offsets_topic_partitions: i32,
    /// `__consumer_offsets`' replication factor (at most the live brokers at its creation).
    pub offsets_topic_replication_factor: i16,
    pub initial_rebalance_delay_ms: u64,
    pub session_timeout_ms_min: i32,
    pub session_timeout_ms_max: i32,
    pub offsets_retention_minutes: u64,
    pub members_max: usize,
}

/// Kafka's defaults.
impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            offsets_topic_partitions: 50,
            offsets_topic_replication_factor: limits::OFFSETS_TOPIC_REPLICATION_FACTOR_DEFAULT,
            initial_rebalance_delay_ms: 3_000,
            session_timeout_ms_min: 6_000,
            session_timeout_ms_max: 1_800_000,
            offsets_retention_minutes: 7 * 24 * 60,
            members_max: limits::GROUP_MEMBERS_MAX,
        }
    }
}

impl GroupsFile {
    fn overlay(self, other: GroupsFile) -> GroupsFile {
        GroupsFile {
            offsets_topic_partitions: other
                .offsets_topic_partitions
                .or(self.offsets_topic_partitions),
            offsets_topic_replication_factor: other
                .offsets_topic_replication_factor
                .or(self.offsets_topic_replication_factor),
            initial_rebalance_delay_ms: other
                .initial_rebalance_delay_ms
                .or(self.initial_rebalance_delay_ms),
            session_timeout_ms_min: other.session_timeout_ms_min.or(self.session_timeout_ms_min),
            session_timeout_ms_max: other.session_timeout_ms_max.or(self.session_timeout_ms_max),
            offsets_retention_minutes: other
                .offsets_retention_minutes
                .or(self.offsets_retention_minutes),
            members_max: other.members_max.or(self.members_max),
        }
    }
}

/// The tuning-profile knobs (tuning/README.md). `None` = the kernel's or runtime's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// Cpus left to interrupts; disjoint from `Config::shard_cpus`.
    pub irq_cpus: Vec<usize>,
    /// NUMA nodes the profile expects.
    pub numa_nodes: Option<usize>,
    pub memory_per_shard_size: Option<u64>,
    pub socket_send_buffer_size: Option<usize>,
    pub socket_receive_buffer_size: Option<usize>,
    /// Submission queue entries of each shard's ring.
    pub io_uring_entries: Option<u32>,
    /// A kernel thread polls the submission queue (no `io_uring_enter` per batch, one more
    /// busy cpu per shard while traffic flows).
    pub io_uring_sqpoll: bool,
    pub io_uring_sqpoll_idle_ms: Option<u32>,
}

/// The advertised listener, as clients will be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    pub host: String,
    pub port: u16,
}

/// Runtime limits, each within its hard cap in `limits.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub frame_size_max: usize,
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
    pub requests_inflight_per_connection_max: usize,
    pub connection_idle: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame_size_max: limits::FRAME_SIZE_MAX,
            connections_max: limits::CONNECTIONS_MAX_DEFAULT,
            connections_per_ip_max: limits::CONNECTIONS_PER_IP_MAX,
            requests_inflight_per_connection_max: limits::REQUESTS_INFLIGHT_PER_CONNECTION_DEFAULT,
            connection_idle: Duration::from_millis(limits::CONNECTION_IDLE_MS_DEFAULT),
            shutdown_grace: Duration::from_millis(limits::SHUTDOWN_GRACE_MS_DEFAULT),
        }
    }
}

/// Default listener (ARCHITECTURE §6).
pub const LISTEN_DEFAULT: &str = "127.0.0.1:9092";
/// Default data directory.
pub const DATA_DIR_DEFAULT: &str = "./data";
/// Default partitions of an auto-created topic (Kafka's `num.partitions`).
pub const AUTO_CREATE_PARTITIONS_DEFAULT: i32 = 1;
/// Default log directive.
pub const LOG_LEVEL_DEFAULT: &str = "info";

impl Config {
    /// Shard count (≥ 1).
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shard_cpus.len()
    }
}
