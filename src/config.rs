//! Runtime knobs: embedded defaults, then a TOML file (`--config FILE`), then command-line flags
//! (flags win). Validated once, here, against `limits.rs`; the rest of the broker reads the
//! resulting [`Config`] and trusts it.
//!
//! Runs in `main` before any shard exists; shards get a shared read-only `Arc<Config>`.
//!
//! ```toml
//! listen = "0.0.0.0:9092"
//! advertise = "broker1.example:9092"
//! data_dir = "/var/lib/ringbroker"
//! node_id = 1
//! auto_create_partitions = 3      # 0 disables auto-creation
//! log_level = "info"              # a tracing EnvFilter directive
//! metrics_listen = "127.0.0.1:9644" # Prometheus /metrics; off unless set
//! producer_id_expiration_ms = 86400000 # idle idempotent producers are forgotten after this
//! [shards]
//! count = 4
//! cpus = [2, 3, 4, 5]             # one per shard; default 0..count (wrapping)
//! [limits]
//! frame_size_max = 104857600
//! connections_max = 10000
//! connections_per_ip_max = 10000
//! requests_inflight_per_connection_max = 100
//! connections_max_idle_ms = 600000
//! shutdown_grace_ms = 5000
//! # Tuning knobs (tuning/README.md explains each; all optional):
//! # [shards] irq_cpus = [0, 1]       cpus left to interrupts, never given a shard
//! # [shards] numa_nodes = 2          node count the profile was written for (tune check)
//! # [shards] memory_size = 1073741824  memory budget per shard, bytes
//! # [socket] send_buffer_size / receive_buffer_size   SO_SNDBUF / SO_RCVBUF, bytes
//! # [io_uring] entries = 4096, sqpoll = true, sqpoll_idle_ms = 100
//! ```
use crate::limits;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration cannot be used; `main` prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("unknown flag {flag} (see --help)")]
    UnknownFlag { flag: String },
    #[error("unknown command {command} (see --help)")]
    UnknownCommand { command: String },
    #[error("flag {flag} needs a value")]
    MissingValue { flag: &'static str },
    #[error("flag {flag}: {value:?} is not a valid {expected}")]
    BadValue {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{field}: {value:?} is not HOST:PORT ({reason})")]
    BadAddress {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{field} = {value} is outside {min}..={max}")]
    OutOfRange {
        field: &'static str,
        value: i128,
        min: i128,
        max: i128,
    },
    #[error("shards.cpus lists {cpus} cpus for {count} shards; give one per shard")]
    CpuCountMismatch { cpus: usize, count: usize },
    #[error("shards.cpus: cpu {cpu} is listed twice")]
    CpuDuplicate { cpu: usize },
    #[error("shards.cpus: cpu {cpu} is not available to this process (available: {available:?})")]
    CpuUnknown { cpu: usize, available: Vec<usize> },
    #[error("shards.irq_cpus: cpu {cpu} also runs a shard; interrupt cpus must be left free")]
    IrqCpuHasShard { cpu: usize },
    #[error("{field} = {value} is not a power of two")]
    NotPowerOfTwo { field: &'static str, value: u64 },
    #[error("log_level {value:?}: {reason}")]
    BadLogLevel { value: String, reason: String },
    #[error("fetch_mode {value:?}: expected \"splice\" or \"copy\"")]
    BadFetchMode { value: String },
}

/// The shape of a config file; every key optional (absent = default or flag).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<String>,
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
}

/// `[groups]` of a config file: the consumer group coordinator (Kafka's names in comments).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsFile {
    /// `offsets.topic.num.partitions`
    pub offsets_topic_partitions: Option<i32>,
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
        ConfigFile {
            listen: other.listen.or(self.listen),
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
            shards: ShardsFile {
                count: other.shards.count.or(self.shards.count),
                cpus: other.shards.cpus.or(self.shards.cpus),
                irq_cpus: other.shards.irq_cpus.or(self.shards.irq_cpus),
                numa_nodes: other.shards.numa_nodes.or(self.shards.numa_nodes),
                memory_size: other.shards.memory_size.or(self.shards.memory_size),
            },
            socket: SocketFile {
                send_buffer_size: other
                    .socket
                    .send_buffer_size
                    .or(self.socket.send_buffer_size),
                receive_buffer_size: other
                    .socket
                    .receive_buffer_size
                    .or(self.socket.receive_buffer_size),
            },
            io_uring: IoUringFile {
                entries: other.io_uring.entries.or(self.io_uring.entries),
                sqpoll: other.io_uring.sqpoll.or(self.io_uring.sqpoll),
                sqpoll_idle_ms: other
                    .io_uring
                    .sqpoll_idle_ms
                    .or(self.io_uring.sqpoll_idle_ms),
            },
            limits: LimitsFile {
                frame_size_max: other.limits.frame_size_max.or(self.limits.frame_size_max),
                connections_max: other.limits.connections_max.or(self.limits.connections_max),
                connections_per_ip_max: other
                    .limits
                    .connections_per_ip_max
                    .or(self.limits.connections_per_ip_max),
                requests_inflight_per_connection_max: other
                    .limits
                    .requests_inflight_per_connection_max
                    .or(self.limits.requests_inflight_per_connection_max),
                connections_max_idle_ms: other
                    .limits
                    .connections_max_idle_ms
                    .or(self.limits.connections_max_idle_ms),
                shutdown_grace_ms: other
                    .limits
                    .shutdown_grace_ms
                    .or(self.limits.shutdown_grace_ms),
            },
            groups: self.groups.overlay(other.groups),
        }
    }
}

/// Validated runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address every shard binds (SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Where shard 0 serves Prometheus `/metrics`; `None` = off (the default).
    pub metrics_listen: Option<SocketAddr>,
    /// `host:port` given to clients in Metadata (defaults to `listen`).
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

    fn parse(text: &str) -> Option<Self> {
        [Self::Splice, Self::Copy]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }
}

/// Consumer group coordinator settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    pub offsets_topic_partitions: i32,
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

/// Bounds for `[groups]`: delays and timeouts up to an hour (Kafka's session maximum default
/// is 30 minutes), retention up to a year.
fn validate_groups(file: &GroupsFile) -> Result<GroupConfig, ConfigError> {
    let defaults = GroupConfig::default();
    let config = GroupConfig {
        offsets_topic_partitions: file
            .offsets_topic_partitions
            .unwrap_or(defaults.offsets_topic_partitions),
        initial_rebalance_delay_ms: file
            .initial_rebalance_delay_ms
            .unwrap_or(defaults.initial_rebalance_delay_ms),
        session_timeout_ms_min: file
            .session_timeout_ms_min
            .unwrap_or(defaults.session_timeout_ms_min),
        session_timeout_ms_max: file
            .session_timeout_ms_max
            .unwrap_or(defaults.session_timeout_ms_max),
        offsets_retention_minutes: file
            .offsets_retention_minutes
            .unwrap_or(defaults.offsets_retention_minutes),
        members_max: file.members_max.unwrap_or(defaults.members_max),
    };
    let hour_ms = 3_600_000;
    check_range(
        "groups.offsets_topic_partitions",
        config.offsets_topic_partitions,
        1,
        limits::OFFSETS_TOPIC_PARTITIONS_MAX,
    )?;
    check_range(
        "groups.initial_rebalance_delay_ms",
        config.initial_rebalance_delay_ms,
        0,
        3_600_000,
    )?;
    check_range(
        "groups.session_timeout_ms_min",
        config.session_timeout_ms_min,
        1,
        hour_ms,
    )?;
    check_range(
        "groups.session_timeout_ms_max",
        config.session_timeout_ms_max,
        config.session_timeout_ms_min,
        hour_ms,
    )?;
    check_range(
        "groups.offsets_retention_minutes",
        config.offsets_retention_minutes,
        1,
        366 * 24 * 60,
    )?;
    check_range(
        "groups.members_max",
        config.members_max,
        1,
        limits::GROUP_MEMBERS_MAX,
    )?;
    Ok(config)
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
    /// Validates `file` (already overlaid with flags) for a process allowed to run on
    /// `available_cpus` (its affinity mask, which containers and `taskset` narrow).
    ///
    /// # Errors
    /// The first invalid value, naming its key.
    ///
    /// # Panics
    /// When `available_cpus` is empty (the affinity mask always holds the calling thread's cpu).
    pub fn validate(file: ConfigFile, available_cpus: &[usize]) -> Result<Self, ConfigError> {
        assert!(!available_cpus.is_empty(), "no cpus available");
        let listen_text = file.listen.unwrap_or_else(|| LISTEN_DEFAULT.to_owned());
        let listen = resolve("listen", &listen_text)?;
        if listen.port() == 0 {
            // Each shard would get its own ephemeral port: SO_REUSEPORT needs one fixed port.
            return Err(ConfigError::BadAddress {
                field: "listen",
                value: listen_text,
                reason: "port 0 cannot be shared by the shards".to_owned(),
            });
        }
        let advertise = match file.advertise {
            Some(text) => split_host_port("advertise", &text)?,
            // Clients cannot connect to 0.0.0.0 or ::; Kafka refuses this too.
            None if listen.ip().is_unspecified() => {
                return Err(ConfigError::BadAddress {
                    field: "advertise",
                    value: String::new(),
                    reason: "required when listening on a wildcard address".to_owned(),
                });
            }
            None => Advertised {
                host: listen.ip().to_string(),
                port: listen.port(),
            },
        };
        let metrics_listen = match file.metrics_listen {
            Some(text) => Some(resolve("metrics_listen", &text)?),
            None => None,
        };
        let node_id = file.node_id.unwrap_or(0);
        check_range("node_id", node_id, 0, i32::MAX)?;
        let auto_create_partitions = file
            .auto_create_partitions
            .unwrap_or(AUTO_CREATE_PARTITIONS_DEFAULT);
        check_range(
            "auto_create_partitions",
            auto_create_partitions,
            0,
            limits::PARTITIONS_PER_TOPIC_MAX,
        )?;
        let log_level = file
            .log_level
            .unwrap_or_else(|| LOG_LEVEL_DEFAULT.to_owned());
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&log_level) {
            return Err(ConfigError::BadLogLevel {
                value: log_level,
                reason: error.to_string(),
            });
        }
        let producer_id_expiration_ms = file
            .producer_id_expiration_ms
            .unwrap_or(limits::PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        check_range(
            "producer_id_expiration_ms",
            producer_id_expiration_ms,
            1,
            limits::PRODUCER_ID_EXPIRATION_MS_MAX,
        )?;
        let config = Self {
            listen,
            metrics_listen,
            advertise,
            data_dir: file
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT)),
            node_id,
            auto_create_partitions,
            log_level,
            shard_cpus: shard_cpus(&file.shards, available_cpus)?,
            limits: validate_limits(&file.limits)?,
            groups: validate_groups(&file.groups)?,
            tuning: Tuning::default(),
            fetch_mode: match file.fetch_mode.as_deref() {
                None => FetchMode::default(),
                Some(text) => FetchMode::parse(text).ok_or_else(|| ConfigError::BadFetchMode {
                    value: text.to_owned(),
                })?,
            },
            producer_id_expiration: Duration::from_millis(producer_id_expiration_ms),
        };
        let tuning = validate_tuning(&file.shards, &file.socket, &file.io_uring, &config)?;
        let config = Self { tuning, ..config };
        assert!(!config.shard_cpus.is_empty());
        assert!(config.shard_cpus.len() <= limits::SHARDS_MAX);
        Ok(config)
    }

    /// Shard count (≥ 1).
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shard_cpus.len()
    }
}

fn validate_tuning(
    shards: &ShardsFile,
    socket: &SocketFile,
    ring: &IoUringFile,
    config: &Config,
) -> Result<Tuning, ConfigError> {
    let shard_cpus = &config.shard_cpus;
    let irq_cpus = shards.irq_cpus.clone().unwrap_or_default();
    check_range("shards.irq_cpus", irq_cpus.len(), 0, limits::SHARDS_MAX)?;
    if let Some(&cpu) = irq_cpus.iter().find(|cpu| shard_cpus.contains(cpu)) {
        return Err(ConfigError::IrqCpuHasShard { cpu });
    }
    if let Some(nodes) = shards.numa_nodes {
        check_range("shards.numa_nodes", nodes, 1, limits::NUMA_NODES_MAX)?;
    }
    if let Some(size) = shards.memory_size {
        let (min, max) = (limits::SHARD_MEMORY_SIZE_MIN, limits::SHARD_MEMORY_SIZE_MAX);
        check_range("shards.memory_size", size, min, max)?;
    }
    for (field, size) in [
        ("socket.send_buffer_size", socket.send_buffer_size),
        ("socket.receive_buffer_size", socket.receive_buffer_size),
    ] {
        if let Some(size) = size {
            let (min, max) = (
                limits::SOCKET_BUFFER_SIZE_MIN,
                limits::SOCKET_BUFFER_SIZE_MAX,
            );
            check_range(field, size, min, max)?;
        }
    }
    if let Some(entries) = ring.entries {
        let max = limits::IO_URING_ENTRIES_MAX;
        check_range(
            "io_uring.entries",
            entries,
            limits::IO_URING_ENTRIES_MIN,
            max,
        )?;
        if !entries.is_power_of_two() {
            return Err(ConfigError::NotPowerOfTwo {
                field: "io_uring.entries",
                value: u64::from(entries),
            });
        }
    }
    if let Some(idle) = ring.sqpoll_idle_ms {
        check_range(
            "io_uring.sqpoll_idle_ms",
            idle,
            1,
            limits::SQPOLL_IDLE_MS_MAX,
        )?;
    }
    Ok(Tuning {
        irq_cpus,
        numa_nodes: shards.numa_nodes,
        memory_per_shard_size: shards.memory_size,
        socket_send_buffer_size: socket.send_buffer_size,
        socket_receive_buffer_size: socket.receive_buffer_size,
        io_uring_entries: ring.entries,
        io_uring_sqpoll: ring.sqpoll.unwrap_or(false),
        io_uring_sqpoll_idle_ms: ring.sqpoll_idle_ms,
    })
}

fn validate_limits(file: &LimitsFile) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    let frame_size_max = file.frame_size_max.unwrap_or(defaults.frame_size_max);
    check_range(
        "limits.frame_size_max",
        frame_size_max,
        limits::FRAME_SIZE_MAX_FLOOR,
        limits::FRAME_SIZE_MAX,
    )?;
    let connections_max = file.connections_max.unwrap_or(defaults.connections_max);
    check_range(
        "limits.connections_max",
        connections_max,
        1,
        limits::CONNECTIONS_MAX,
    )?;
    let connections_per_ip_max = file
        .connections_per_ip_max
        .unwrap_or(defaults.connections_per_ip_max);
    check_range(
        "limits.connections_per_ip_max",
        connections_per_ip_max,
        1,
        limits::CONNECTIONS_PER_IP_MAX,
    )?;
    let inflight = file
        .requests_inflight_per_connection_max
        .unwrap_or(defaults.requests_inflight_per_connection_max);
    check_range(
        "limits.requests_inflight_per_connection_max",
        inflight,
        1,
        limits::REQUESTS_INFLIGHT_PER_CONNECTION_MAX,
    )?;
    let idle_ms = file
        .connections_max_idle_ms
        .unwrap_or(limits::CONNECTION_IDLE_MS_DEFAULT);
    check_range(
        "limits.connections_max_idle_ms",
        idle_ms,
        limits::CONNECTION_IDLE_MS_MIN,
        limits::CONNECTION_IDLE_MS_MAX,
    )?;
    let grace_ms = file
        .shutdown_grace_ms
        .unwrap_or(limits::SHUTDOWN_GRACE_MS_DEFAULT);
    check_range(
        "limits.shutdown_grace_ms",
        grace_ms,
        0,
        limits::SHUTDOWN_GRACE_MS_MAX,
    )?;
    Ok(Limits {
        frame_size_max,
        connections_max,
        connections_per_ip_max,
        requests_inflight_per_connection_max: inflight,
        connection_idle: Duration::from_millis(idle_ms),
        shutdown_grace: Duration::from_millis(grace_ms),
    })
}

/// Placement: explicit cpus, or the available cpus in order, wrapping (a count above the cpu
/// count oversubscribes, which tests use to exercise the mesh on small machines).
fn shard_cpus(file: &ShardsFile, available: &[usize]) -> Result<Vec<usize>, ConfigError> {
    let count = file
        .count
        .or(file.cpus.as_ref().map(Vec::len))
        .unwrap_or(available.len());
    check_range("shards.count", count, 1, limits::SHARDS_MAX)?;
    let Some(cpus) = &file.cpus else {
        return Ok(available.iter().copied().cycle().take(count).collect());
    };
    if cpus.len() != count {
        return Err(ConfigError::CpuCountMismatch {
            cpus: cpus.len(),
            count,
        });
    }
    let mut seen = HashSet::with_capacity(count);
    for &cpu in cpus {
        if !available.contains(&cpu) {
            return Err(ConfigError::CpuUnknown {
                cpu,
                available: available.to_vec(),
            });
        }
        if !seen.insert(cpu) {
            return Err(ConfigError::CpuDuplicate { cpu });
        }
    }
    Ok(cpus.clone())
}

fn check_range<T>(field: &'static str, value: T, min: T, max: T) -> Result<(), ConfigError>
where
    T: Copy + PartialOrd,
    i128: TryFrom<T>,
{
    // Every config number fits i128; the fallback only keeps this total.
    let wide = |number: T| i128::try_from(number).unwrap_or(i128::MAX);
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            field,
            value: wide(value),
            min: wide(min),
            max: wide(max),
        });
    }
    Ok(())
}

/// Resolves `HOST:PORT` once, at start-up (a blocking DNS lookup is fine here: no shard runs).
fn resolve(field: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
    let bad = |reason: String| ConfigError::BadAddress {
        field,
        value: text.to_owned(),
        reason,
    };
    let mut addresses = text
        .to_socket_addrs()
        .map_err(|error| bad(error.to_string()))?;
    addresses
        .next()
        .ok_or_else(|| bad("resolves to no address".to_owned()))
}

fn split_host_port(field: &'static str, text: &str) -> Result<Advertised, ConfigError> {
    let bad = |reason: &str| ConfigError::BadAddress {
        field,
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no ':PORT'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("port is not 0..=65535"))?;
    if port == 0 {
        return Err(bad("port 0 cannot be advertised"));
    }
    Ok(Advertised {
        host: host.to_owned(),
        port,
    })
}

/// What the command line asked for.
// Built once per process; boxing `flags` would buy nothing but an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Command {
    /// `ringbroker [serve] [flags]`.
    Serve {
        config_path: Option<PathBuf>,
        flags: ConfigFile,
    },
    Help,
    Version,
}

/// `--help` text; lists every flag.
pub const USAGE: &str = "\
ringbroker: a Kafka-wire-compatible broker, thread-per-core on io_uring

USAGE:
    ringbroker [serve] [FLAGS]

FLAGS (override the config file):
    --config FILE                 TOML config file (a tuning profile is one)
    --listen HOST:PORT            listener every shard binds [default: 127.0.0.1:9092]
    --advertise HOST:PORT         address given to clients [default: the listener]
    --metrics-listen HOST:PORT    serve Prometheus GET /metrics there [default: off]
    --data-dir DIR                partition logs and metadata [default: ./data]
    --node-id N                   this broker's id [default: 0]
    --auto-create-partitions N    partitions of auto-created topics, 0 = off [default: 1]
    --shards N                    shard threads, one per cpu [default: online cpus]
    --group-initial-rebalance-delay-ms N
                                  first rebalance of a new group waits this long [default: 3000]
    --log-level LEVEL             tracing filter, e.g. info or ringbroker=debug [default: info]
    -h, --help                    print this help
    -V, --version                 print the version

ADMIN COMMANDS (see `ringbroker topic --help`):
    ringbroker topic create|list|describe|delete|add-partitions|config ...
    ringbroker tune check|apply ...
";

/// Parses the arguments after the program name. `--flag VALUE` and `--flag=VALUE` both work.
///
/// # Errors
/// Unknown flags or commands, missing or malformed values.
pub fn parse_args<I>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|first| first == "serve") {
        args.next();
    }
    let mut config_path = None;
    let mut flags = ConfigFile::default();
    // Bounded by the argument count: each iteration consumes at least one argument.
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value)),
            _ => (arg.clone(), None),
        };
        let inline = inline.map(str::to_owned);
        let mut value = |flag: &'static str| -> Result<String, ConfigError> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(ConfigError::MissingValue { flag })
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => config_path = Some(PathBuf::from(value("--config")?)),
            "--listen" => flags.listen = Some(value("--listen")?),
            "--advertise" => flags.advertise = Some(value("--advertise")?),
            "--metrics-listen" => flags.metrics_listen = Some(value("--metrics-listen")?),
            "--data-dir" => flags.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--log-level" => flags.log_level = Some(value("--log-level")?),
            "--node-id" => flags.node_id = Some(number("--node-id", value("--node-id")?)?),
            "--auto-create-partitions" => {
                let flag = "--auto-create-partitions";
                flags.auto_create_partitions = Some(number(flag, value(flag)?)?);
            }
            "--shards" => flags.shards.count = Some(number("--shards", value("--shards")?)?),
            "--group-initial-rebalance-delay-ms" => {
                let flag = "--group-initial-rebalance-delay-ms";
                flags.groups.initial_rebalance_delay_ms = Some(number(flag, value(flag)?)?);
            }
            other if other.starts_with('-') => {
                return Err(ConfigError::UnknownFlag {
                    flag: other.to_owned(),
                });
            }
            other => {
                return Err(ConfigError::UnknownCommand {
                    command: other.to_owned(),
                });
            }
        }
    }
    Ok(Command::Serve { config_path, flags })
}

fn number<T: std::str::FromStr>(flag: &'static str, value: String) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::BadValue {
        flag,
        value,
        expected: "number",
    })
}

/// Loads `--config` (if any), lays the flags over it and validates.
///
/// # Errors
/// As [`ConfigFile::load`] and [`Config::validate`].
pub fn load(
    config_path: Option<&Path>,
    flags: ConfigFile,
    available_cpus: &[usize],
) -> Result<Config, ConfigError> {
    let file = match config_path {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    Config::validate(file.overlay(flags), available_cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn serve_flags(text: &str) -> ConfigFile {
        match parse_args(args(text)).unwrap() {
            Command::Serve { flags, .. } => flags,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_architecture() {
        let config = Config::validate(ConfigFile::default(), &[0, 1, 2, 3]).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(config.advertise.host, "127.0.0.1");
        assert_eq!(config.advertise.port, 9092);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.shard_cpus, vec![0, 1, 2, 3]);
        assert_eq!(config.limits.frame_size_max, 100 * 1024 * 1024);
        assert_eq!(config.limits.requests_inflight_per_connection_max, 100);
        assert_eq!(config.limits.connection_idle, Duration::from_secs(600));
        assert_eq!(config.metrics_listen, None, "metrics are off unless set");
    }

    #[test]
    fn metrics_listen_from_file_and_flag() {
        let file: ConfigFile = toml::from_str("metrics_listen = \"127.0.0.1:9644\"\n").unwrap();
        let config = Config::validate(file.clone(), &[0]).unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9644".parse().unwrap())
        );
        let flags = serve_flags("--metrics-listen 127.0.0.1:9700");
        let config = Config::validate(file.overlay(flags), &[0]).unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9700".parse().unwrap())
        );
        let bad = serve_flags("--metrics-listen nowhere");
        assert!(Config::validate(bad, &[0]).is_err());
    }

    #[test]
    fn flags_override_file() {
        let file: ConfigFile = toml::from_str(
            "listen = \"127.0.0.1:1\"\nnode_id = 3\n[shards]\ncount = 2\n\
             [limits]\nconnections_max = 7\n",
        )
        .unwrap();
        let flags = serve_flags("serve --listen=127.0.0.1:2 --shards 1 --node-id 5");
        let config = Config::validate(file.overlay(flags), &[0, 1]).unwrap();
        assert_eq!(config.listen.port(), 2);
        assert_eq!(config.node_id, 5);
        assert_eq!(config.shard_cpus, vec![0]);
        assert_eq!(config.limits.connections_max, 7);
    }

    #[test]
    fn rejects_bad_values_with_their_names() {
        let flags = serve_flags("--shards 0");
        let error = Config::validate(flags, &[0, 1]).unwrap_err();
        assert!(error.to_string().contains("shards.count"), "{error}");
        let flags = serve_flags("--listen nowhere");
        assert!(matches!(
            Config::validate(flags, &[0, 1]),
            Err(ConfigError::BadAddress {
                field: "listen",
                ..
            })
        ));
        let file: ConfigFile = toml::from_str("[shards]\ncpus = [0, 0]\n").unwrap();
        assert!(matches!(
            Config::validate(file, &[0, 1]),
            Err(ConfigError::CpuDuplicate { cpu: 0 })
        ));
        let file: ConfigFile = toml::from_str("[limits]\nframe_size_max = 1\n").unwrap();
        assert!(matches!(
            Config::validate(file, &[0, 1]),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(toml::from_str::<ConfigFile>("typo = 1\n").is_err());
        assert!(matches!(
            parse_args(args("--frobnicate")),
            Err(ConfigError::UnknownFlag { .. })
        ));
        assert!(matches!(
            parse_args(args("--node-id")),
            Err(ConfigError::MissingValue { flag: "--node-id" })
        ));
        assert!(matches!(
            parse_args(args("--node-id x")),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn help_lists_every_flag() {
        assert!(matches!(parse_args(args("--help")), Ok(Command::Help)));
        for flag in [
            "--listen",
            "--advertise",
            "--data-dir",
            "--node-id",
            "--config",
            "--auto-create-partitions",
            "--log-level",
            "--shards",
        ] {
            assert!(USAGE.contains(flag), "{flag} missing from --help");
        }
    }

    #[test]
    fn wildcard_listen_needs_advertise_and_port_0_is_refused() {
        let flags = serve_flags("--listen 0.0.0.0:9092");
        assert!(matches!(
            Config::validate(flags, &[0]),
            Err(ConfigError::BadAddress {
                field: "advertise",
                ..
            })
        ));
        let flags = serve_flags("--listen 0.0.0.0:9092 --advertise host:9092");
        assert!(Config::validate(flags, &[0]).is_ok());
        let flags = serve_flags("--listen 127.0.0.1:0");
        assert!(matches!(
            Config::validate(flags, &[0]),
            Err(ConfigError::BadAddress {
                field: "listen",
                ..
            })
        ));
    }

    #[test]
    fn advertise_parses_host_and_port() {
        let flags = serve_flags("--advertise broker.example:19092");
        let config = Config::validate(flags, &[0]).unwrap();
        assert_eq!(config.advertise.host, "broker.example");
        assert_eq!(config.advertise.port, 19092);
    }

    #[test]
    fn tuning_keys_are_parsed_and_validated() {
        let file: ConfigFile = toml::from_str(
            "[shards]\ncpus = [1, 2]\nirq_cpus = [0]\nnuma_nodes = 1\n\
             memory_size = 1073741824\n[socket]\nreceive_buffer_size = 4194304\n\
             [io_uring]\nentries = 4096\nsqpoll = true\nsqpoll_idle_ms = 100\n",
        )
        .unwrap();
        let config = Config::validate(file.clone(), &[0, 1, 2]).unwrap();
        assert_eq!(config.tuning.irq_cpus, vec![0]);
        assert_eq!(config.tuning.memory_per_shard_size, Some(1 << 30));
        assert_eq!(config.tuning.socket_receive_buffer_size, Some(4 << 20));
        assert_eq!(config.tuning.socket_send_buffer_size, None);
        assert!(config.tuning.io_uring_sqpoll);
        assert_eq!(config.tuning.io_uring_entries, Some(4096));
        // Flags (here: none of these keys) leave the file's tuning alone.
        let overlaid = file.overlay(serve_flags("--node-id 2"));
        assert_eq!(
            Config::validate(overlaid, &[0, 1, 2]).unwrap().tuning,
            config.tuning
        );

        let clash: ConfigFile = toml::from_str("[shards]\ncpus = [0]\nirq_cpus = [0]\n").unwrap();
        assert!(matches!(
            Config::validate(clash, &[0, 1]),
            Err(ConfigError::IrqCpuHasShard { cpu: 0 })
        ));
        let odd: ConfigFile = toml::from_str("[io_uring]\nentries = 1000\n").unwrap();
        assert!(matches!(
            Config::validate(odd, &[0]),
            Err(ConfigError::NotPowerOfTwo { .. })
        ));
        let tiny: ConfigFile = toml::from_str("[socket]\nsend_buffer_size = 1\n").unwrap();
        assert!(matches!(
            Config::validate(tiny, &[0]),
            Err(ConfigError::OutOfRange {
                field: "socket.send_buffer_size",
                ..
            })
        ));
    }

    #[test]
    fn groups_section_and_flag() {
        let file: ConfigFile = toml::from_str(
            "[groups]\noffsets_topic_partitions = 7\nsession_timeout_ms_min = 1000\n",
        )
        .unwrap();
        let flags = match parse_args(["--group-initial-rebalance-delay-ms=0".to_owned()]).unwrap() {
            Command::Serve { flags, .. } => flags,
            other => panic!("{other:?}"),
        };
        let config = Config::validate(file.overlay(flags), &[0]).unwrap();
        assert_eq!(config.groups.offsets_topic_partitions, 7);
        assert_eq!(config.groups.session_timeout_ms_min, 1000);
        assert_eq!(config.groups.initial_rebalance_delay_ms, 0);
        assert_eq!(
            config.groups.session_timeout_ms_max, 1_800_000,
            "Kafka's default"
        );
        let defaults = Config::validate(ConfigFile::default(), &[0]).unwrap();
        assert_eq!(defaults.groups, GroupConfig::default());
        assert_eq!(defaults.groups.initial_rebalance_delay_ms, 3_000);
        let zero: ConfigFile = toml::from_str("[groups]\noffsets_topic_partitions = 0\n").unwrap();
        assert!(matches!(
            Config::validate(zero, &[0]),
            Err(ConfigError::OutOfRange {
                field: "groups.offsets_topic_partitions",
                ..
            })
        ));
    }
}
