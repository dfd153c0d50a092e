//! Every check of the configuration, run once: from a [`ConfigFile`] (already overlaid with the
//! flags) to a [`Config`] the rest of the broker trusts, each number within its bound in
//! `limits.rs`, each address resolved, the first invalid value refused with its key's name.
//! Runs in `main` before any shard exists (blocking DNS lookups are fine here).
use super::ConfigError;
use super::listeners::{self, CertificateChanges, ListenerConfig, ListenerKeys, TlsConfig};
use super::schema::{
    AUTO_CREATE_PARTITIONS_DEFAULT, Advertised, Authorizer, AuthorizerFile, Config, ConfigFile,
    DATA_DIR_DEFAULT, FetchMode, GroupConfig, GroupsFile, IoUringFile, LOG_LEVEL_DEFAULT,
    LeaderBalance, Limits, LimitsFile, ShardsFile, SocketFile, Tuning,
};
use super::{QuorumVoter as Voter, parse_quorum_voters};
use crate::limits;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

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
        let listeners = validate_listeners(&file)?;
        let primary = listeners
            .listeners
            .first()
            .cloned()
            .ok_or(ConfigError::BadListener {
                value: String::new(),
                reason: "no listener".to_owned(),
            })?;
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
        let (broker_heartbeat_interval, broker_session_timeout) = validate_broker_session(&file)?;
        let leader_balance = validate_leader_balance(&file)?;
        let log_level = validate_log_level(file.log_level)?;
        let config = Self {
            authorizer: validate_authorizer(&file.authorizer)?,
            leader_balance,
            rack: validate_rack(file.rack.clone())?,
            broker_heartbeat_interval,
            broker_session_timeout,
            replica_lag_time_max: validate_replica_lag_time_max(file.replica_lag_time_max_ms)?,
            replication_throttle_bytes_per_sec: validate_replication_throttle(
                file.replication_throttle_bytes_per_sec,
            )?,
            listen: primary.address,
            advertise: primary.advertise.clone(),
            sasl: super::security::validate_sasl(&file.sasl)?,
            metrics_listen: listeners.metrics_listen,
            tls: listeners.tls,
            inter_broker: listeners.inter_broker,
            controller_tls: super::controller::validate_controller(
                &file.controller,
                certificate_changes(&file.tls),
            )?,
            listeners: listeners.listeners,
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
            fetch_mode: validate_fetch_mode(file.fetch_mode.as_deref())?,
            producer_id_expiration: validate_producer_id_expiration(
                file.producer_id_expiration_ms,
            )?,
            quorum_voters: validate_quorum_voters(file.quorum_voters.as_deref(), node_id)?,
            quorum_snapshot_entries: validate_snapshot_entries(file.quorum_snapshot_entries)?,
        };
        let clustered = config.quorum_voters.len() > 1
            || config.quorum_voters.iter().all(|v| v.node_id != node_id);
        listeners::check_inter_broker(&config.listeners, clustered, config.inter_broker.is_some())?;
        let tuning = validate_tuning(&file.shards, &file.socket, &file.io_uring, &config)?;
        let config = Self { tuning, ..config };
        assert!(!config.shard_cpus.is_empty());
        assert!(config.shard_cpus.len() <= limits::SHARDS_MAX);
        Ok(config)
    }
}

/// `[authorizer]`: `super_users` is Kafka's `User:a;User:b`, each `Type:name`.
fn validate_authorizer(file: &AuthorizerFile) -> Result<Authorizer, ConfigError> {
    let text = file.super_users.as_deref().unwrap_or("");
    let bad = || ConfigError::BadValue {
        flag: "super_users",
        value: text.chars().take(limits::ACL_STRING_LENGTH_MAX).collect(),
        expected: "list of Type:name principals separated by ';'",
    };
    let super_users: Vec<String> = text
        .split(';')
        .map(str::trim)
        .filter(|principal| !principal.is_empty())
        .map(str::to_owned)
        .collect();
    for principal in &super_users {
        let valid = principal
            .split_once(':')
            .is_some_and(|(kind, name)| !kind.is_empty() && !name.is_empty());
        if !valid || principal.len() > limits::ACL_STRING_LENGTH_MAX {
            return Err(bad());
        }
    }
    if super_users.len() > limits::SUPER_USERS_MAX {
        return Err(bad());
    }
    Ok(Authorizer {
        enabled: file.enabled.unwrap_or(false),
        super_users,
        allow_everyone_if_no_acl_found: file.allow_everyone_if_no_acl_found.unwrap_or(false),
    })
}

/// `replica_lag_time_max_ms`: 1 ms up to `REPLICA_LAG_TIME_MAX_MS_MAX`.
fn validate_replica_lag_time_max(ms: Option<u64>) -> Result<Duration, ConfigError> {
    let ms = ms.unwrap_or(limits::REPLICA_LAG_TIME_MAX_MS_DEFAULT);
    check_range(
        "replica_lag_time_max_ms",
        ms,
        1,
        limits::REPLICA_LAG_TIME_MAX_MS_MAX,
    )?;
    Ok(Duration::from_millis(ms))
}

/// `producer_id_expiration_ms`: 1 ms up to `PRODUCER_ID_EXPIRATION_MS_MAX`.
fn validate_producer_id_expiration(ms: Option<u64>) -> Result<Duration, ConfigError> {
    let ms = ms.unwrap_or(limits::PRODUCER_ID_EXPIRATION_MS_DEFAULT);
    check_range(
        "producer_id_expiration_ms",
        ms,
        1,
        limits::PRODUCER_ID_EXPIRATION_MS_MAX,
    )?;
    Ok(Duration::from_millis(ms))
}

/// `replication_throttle_bytes_per_sec`: 0 (off, the default) up to
/// `REPLICATION_THROTTLE_BYTES_PER_SEC_MAX`.
fn validate_replication_throttle(rate: Option<u64>) -> Result<u64, ConfigError> {
    let rate = rate.unwrap_or(0);
    check_range(
        "replication_throttle_bytes_per_sec",
        rate,
        0,
        limits::REPLICATION_THROTTLE_BYTES_PER_SEC_MAX,
    )?;
    Ok(rate)
}

/// `quorum_voters` parsed (Kafka's `controller.quorum.voters` syntax); absent = this node alone
/// on loopback. This node need not be listed: then it observes.
fn validate_quorum_voters(text: Option<&str>, node_id: i32) -> Result<Vec<Voter>, ConfigError> {
    let Some(text) = text else {
        return Ok(vec![Voter {
            node_id,
            address: limits::QUORUM_SINGLE_VOTER_ADDRESS.to_owned(),
        }]);
    };
    let bad = |reason: String| ConfigError::BadQuorumVoters {
        value: text
            .chars()
            .take(limits::QUORUM_VOTERS_TEXT_SIZE_MAX)
            .collect(),
        reason,
    };
    if text.len() > limits::QUORUM_VOTERS_TEXT_SIZE_MAX {
        let max = limits::QUORUM_VOTERS_TEXT_SIZE_MAX;
        return Err(bad(format!("longer than {max} bytes")));
    }
    // A node outside the list observes the quorum (KRaft's broker-only role).
    parse_quorum_voters(text).map_err(|error| bad(error.to_string()))
}

/// `rack` (Kafka's `broker.rack`): absent, or 1..=BROKER_STRING_LENGTH_MAX printable bytes.
fn validate_rack(rack: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(rack) = rack else { return Ok(None) };
    let max = limits::BROKER_STRING_LENGTH_MAX;
    if rack.is_empty() || rack.len() > max || rack.chars().any(char::is_control) {
        return Err(ConfigError::BadRack {
            reason: format!("must be 1..={max} bytes without control characters"),
            value: rack.chars().take(max).collect(),
        });
    }
    Ok(Some(rack))
}

/// Automatic leader rebalancing: the interval within `limits.rs`' bounds, a percentage 0..=100.
fn validate_leader_balance(file: &ConfigFile) -> Result<LeaderBalance, ConfigError> {
    let defaults = LeaderBalance::default();
    let interval_ms = file
        .leader_balance
        .check_interval_ms
        .unwrap_or(limits::LEADER_IMBALANCE_CHECK_INTERVAL_MS_DEFAULT);
    check_range(
        "leader_balance.check_interval_ms",
        interval_ms,
        limits::LEADER_IMBALANCE_CHECK_INTERVAL_MS_MIN,
        limits::LEADER_IMBALANCE_CHECK_INTERVAL_MS_MAX,
    )?;
    let percentage = file
        .leader_balance
        .per_broker_percentage
        .unwrap_or(defaults.imbalance_percentage_max);
    check_range("leader_balance.per_broker_percentage", percentage, 0, 100)?;
    Ok(LeaderBalance {
        enabled: file.leader_balance.enable.unwrap_or(defaults.enabled),
        check_interval: Duration::from_millis(interval_ms),
        imbalance_percentage_max: percentage,
    })
}

/// Broker heartbeat interval and session timeout (Kafka's `broker.heartbeat.interval.ms`,
/// `broker.session.timeout.ms`); the session must span at least two heartbeats.
fn validate_broker_session(file: &ConfigFile) -> Result<(Duration, Duration), ConfigError> {
    let interval = file
        .broker_heartbeat_interval_ms
        .unwrap_or(limits::BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT);
    check_range(
        "broker_heartbeat_interval_ms",
        interval,
        limits::BROKER_HEARTBEAT_INTERVAL_MS_MIN,
        limits::BROKER_SESSION_TIMEOUT_MS_MAX / 2,
    )?;
    let session = file
        .broker_session_timeout_ms
        .unwrap_or(limits::BROKER_SESSION_TIMEOUT_MS_DEFAULT);
    check_range(
        "broker_session_timeout_ms",
        session,
        (2 * interval).max(limits::BROKER_SESSION_TIMEOUT_MS_MIN),
        limits::BROKER_SESSION_TIMEOUT_MS_MAX,
    )?;
    Ok((
        Duration::from_millis(interval),
        Duration::from_millis(session),
    ))
}

fn validate_snapshot_entries(entries: Option<u64>) -> Result<u64, ConfigError> {
    let entries = entries.unwrap_or(limits::QUORUM_SNAPSHOT_ENTRIES_DEFAULT);
    check_range(
        "quorum_snapshot_entries",
        entries,
        limits::QUORUM_SNAPSHOT_ENTRIES_MIN,
        limits::QUORUM_SNAPSHOT_ENTRIES_MAX,
    )?;
    Ok(entries)
}

/// The addresses of a config: the listeners every shard binds (the primary one first), the
/// metrics listener, and the TLS settings of the TLS listeners.
struct Listeners {
    listeners: Vec<ListenerConfig>,
    tls: Option<TlsConfig>,
    inter_broker: Option<super::InterBrokerConfig>,
    metrics_listen: Option<SocketAddr>,
}

fn validate_listeners(file: &ConfigFile) -> Result<Listeners, ConfigError> {
    let keys = ListenerKeys {
        listen: file.listen.as_deref(),
        listeners: file.listeners.as_deref(),
        advertise: file.advertise.as_deref(),
        advertised_listeners: file.advertised_listeners.as_deref(),
        protocol_map: file.listener_security_protocol_map.as_deref(),
        tls_cert: file.tls.cert.as_ref(),
        tls_key: file.tls.key.as_ref(),
        tls_client_ca: file.tls.client_ca.as_ref(),
        ssl_client_auth: file.tls.client_auth.as_deref(),
        certificate_changes: certificate_changes(&file.tls),
    };
    let mut listeners = listeners::validate_listeners(&keys, resolve)?;
    let tls = listeners::validate_tls(&keys, &listeners)?;
    let inter_broker =
        super::inter_broker::validate_inter_broker(&file.inter_broker, &mut listeners)?;
    let metrics_listen = match &file.metrics_listen {
        Some(text) => Some(resolve("metrics_listen", text)?),
        None => None,
    };
    Ok(Listeners {
        listeners,
        tls,
        inter_broker,
        metrics_listen,
    })
}

/// `tls.allow_dn_changes` and `tls.allow_san_changes` (both false unless set), for the
/// client listeners and the controller channel alike.
fn certificate_changes(file: &super::TlsFile) -> CertificateChanges {
    CertificateChanges {
        dn_allowed: file.allow_dn_changes.unwrap_or(false),
        san_allowed: file.allow_san_changes.unwrap_or(false),
    }
}

/// A `tracing_subscriber::EnvFilter` directive, checked to parse.
fn validate_log_level(log_level: Option<String>) -> Result<String, ConfigError> {
    let log_level = log_level.unwrap_or_else(|| LOG_LEVEL_DEFAULT.to_owned());
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&log_level) {
        return Err(ConfigError::BadLogLevel {
            value: log_level,
            reason: error.to_string(),
        });
    }
    Ok(log_level)
}

fn validate_fetch_mode(text: Option<&str>) -> Result<FetchMode, ConfigError> {
    match text {
        None => Ok(FetchMode::default()),
        Some(text) => FetchMode::parse(text).ok_or_else(|| ConfigError::BadFetchMode {
            value: text.to_owned(),
        }),
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

pub(super) fn split_host_port(field: &'static str, text: &str) -> Result<Advertised, ConfigError> {
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

/// Bounds for `[groups]`: delays and timeouts up to an hour (Kafka's session maximum default
/// is 30 minutes), retention up to a year.
fn validate_groups(file: &GroupsFile) -> Result<GroupConfig, ConfigError> {
    let defaults = GroupConfig::default();
    let config = GroupConfig {
        offsets_topic_partitions: file
            .offsets_topic_partitions
            .unwrap_or(defaults.offsets_topic_partitions),
        offsets_topic_replication_factor: file
            .offsets_topic_replication_factor
            .unwrap_or(defaults.offsets_topic_replication_factor),
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
        "groups.offsets_topic_replication_factor",
        config.offsets_topic_replication_factor,
        1,
        i16::try_from(limits::REPLICAS_PER_PARTITION_MAX).unwrap_or(i16::MAX),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, parse_args};

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
    fn replication_throttle_is_off_by_default_and_bounded() {
        let config = Config::validate(ConfigFile::default(), &[0]).unwrap();
        assert_eq!(config.replication_throttle_bytes_per_sec, 0);
        let flags = serve_flags("--replication-throttle-bytes-per-sec 5242880");
        let config = Config::validate(flags, &[0]).unwrap();
        assert_eq!(config.replication_throttle_bytes_per_sec, 5_242_880);
        let too_fast = limits::REPLICATION_THROTTLE_BYTES_PER_SEC_MAX + 1;
        let flags = serve_flags(&format!("--replication-throttle-bytes-per-sec {too_fast}"));
        assert!(Config::validate(flags, &[0]).is_err());
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
    fn quorum_voters_default_to_this_node_alone() {
        let config = Config::validate(serve_flags("--node-id 4"), &[0]).unwrap();
        let alone = Voter {
            node_id: 4,
            address: limits::QUORUM_SINGLE_VOTER_ADDRESS.to_owned(),
        };
        assert_eq!(config.quorum_voters, vec![alone]);
        assert_eq!(
            config.quorum_snapshot_entries,
            limits::QUORUM_SNAPSHOT_ENTRIES_DEFAULT
        );
    }

    #[test]
    fn quorum_voters_from_file_and_flag() {
        let file: ConfigFile = toml::from_str(
            "node_id = 2\nquorum_voters = \"1@10.0.0.1:9192,2@10.0.0.2:9192,3@10.0.0.3:9192\"\n\
             quorum_snapshot_entries = 100\n",
        )
        .unwrap();
        let config = Config::validate(file.clone(), &[0]).unwrap();
        assert_eq!(config.quorum_voters.len(), 3);
        assert_eq!(config.quorum_voters[1].address, "10.0.0.2:9192");
        assert_eq!(config.quorum_snapshot_entries, 100);
        let flags = serve_flags("--quorum-voters 2@127.0.0.1:9300 --quorum-snapshot-entries 16");
        let config = Config::validate(file.overlay(flags), &[0]).unwrap();
        assert_eq!(config.quorum_voters.len(), 1);
        assert_eq!(config.quorum_voters[0].address, "127.0.0.1:9300");
        assert_eq!(config.quorum_snapshot_entries, 16);
    }

    /// `[tls]`'s KIP-978 keys reach the listeners' and the controller channel's settings; a
    /// flag overrides the file either way.
    #[test]
    fn certificate_changes_from_file_and_flags() {
        let file: ConfigFile = toml::from_str(
            "listeners = [\"SSL://127.0.0.1:9093\"]\n[tls]\ncert = \"c.pem\"\n\
             key = \"k.pem\"\nallow_dn_changes = true\n[controller]\ntls_ca = \"ca.pem\"\n\
             tls_cert = \"n.pem\"\ntls_key = \"n.key\"\n",
        )
        .unwrap();
        let config = Config::validate(file.clone(), &[0]).unwrap();
        let dn_only = CertificateChanges {
            dn_allowed: true,
            san_allowed: false,
        };
        assert_eq!(config.tls.map(|tls| tls.changes), Some(dn_only));
        let controller = config.controller_tls.map(|tls| tls.changes);
        assert_eq!(controller, Some(dn_only));
        let flags = serve_flags("--ssl-allow-dn-changes false --ssl-allow-san-changes true");
        let config = Config::validate(file.overlay(flags), &[0]).unwrap();
        let san_only = CertificateChanges {
            dn_allowed: false,
            san_allowed: true,
        };
        assert_eq!(config.tls.map(|tls| tls.changes), Some(san_only));
    }

    #[test]
    fn leader_balance_and_offsets_factor_from_file_and_flags() {
        let defaults = Config::validate(ConfigFile::default(), &[0]).unwrap();
        assert_eq!(defaults.leader_balance, LeaderBalance::default());
        assert!(defaults.leader_balance.enabled);
        assert_eq!(defaults.groups.offsets_topic_replication_factor, 3);
        let file: ConfigFile = toml::from_str(
            "[leader_balance]\nenable = false\ncheck_interval_ms = 1000\n\
             per_broker_percentage = 0\n[groups]\noffsets_topic_replication_factor = 2\n",
        )
        .unwrap();
        let config = Config::validate(file.clone(), &[0]).unwrap();
        let balance = config.leader_balance;
        assert!(!balance.enabled);
        assert_eq!(balance.check_interval, Duration::from_secs(1));
        assert_eq!(balance.imbalance_percentage_max, 0);
        assert_eq!(config.groups.offsets_topic_replication_factor, 2);
        let flags = serve_flags(
            "--auto-leader-rebalance-enable true --leader-imbalance-check-interval-ms 200 \
             --leader-imbalance-per-broker-percentage 25 --offsets-topic-replication-factor 1",
        );
        let config = Config::validate(file.overlay(flags), &[0]).unwrap();
        assert!(config.leader_balance.enabled);
        assert_eq!(
            config.leader_balance.check_interval,
            Duration::from_millis(200)
        );
        assert_eq!(config.leader_balance.imbalance_percentage_max, 25);
        assert_eq!(config.groups.offsets_topic_replication_factor, 1);
        for (flags, expected) in [
            (
                "--leader-imbalance-check-interval-ms 10",
                "check_interval_ms",
            ),
            ("--leader-imbalance-per-broker-percentage 101", "percentage"),
            ("--offsets-topic-replication-factor 0", "replication_factor"),
        ] {
            let error = Config::validate(serve_flags(flags), &[0]).unwrap_err();
            assert!(error.to_string().contains(expected), "{flags}: {error}");
        }
        let args = ["--auto-leader-rebalance-enable", "yes"].map(str::to_owned);
        assert!(crate::config::parse_args(args).is_err());
    }

    #[test]
    fn quorum_voters_are_checked() {
        for (flags, expected) in [
            ("--quorum-voters 1@h", "quorum_voters"),
            ("--quorum-voters 0@h:1,0@h:2", "twice"),
            ("--quorum-voters 0@h:1,x@h:2", "entry 1"),
            ("--quorum-snapshot-entries 15", "quorum_snapshot_entries"),
            (
                "--broker-heartbeat-interval-ms 10",
                "broker_heartbeat_interval_ms",
            ),
            (
                "--broker-heartbeat-interval-ms 500 --broker-session-timeout-ms 900",
                "broker_session_timeout_ms",
            ),
        ] {
            let error = Config::validate(serve_flags(flags), &[0]).unwrap_err();
            assert!(error.to_string().contains(expected), "{flags}: {error}");
        }
        let many: Vec<String> = (0..=limits::QUORUM_VOTERS_MAX)
            .map(|id| format!("{id}@h:{}", id + 1))
            .collect();
        let flags = serve_flags(&format!("--quorum-voters {}", many.join(",")));
        assert!(Config::validate(flags, &[0]).is_err());
        // A node outside the list observes; rack and session settings reach the config.
        let flags = serve_flags(
            "--quorum-voters 1@h:1,2@h:2 --rack r1 --broker-heartbeat-interval-ms 100 \
             --broker-session-timeout-ms 1000",
        );
        let config = Config::validate(flags, &[0]).unwrap();
        assert_eq!(config.quorum_voters.len(), 2);
        assert_eq!(config.rack.as_deref(), Some("r1"));
        assert_eq!(config.broker_heartbeat_interval, Duration::from_millis(100));
        assert_eq!(config.broker_session_timeout, Duration::from_millis(1000));
        for bad in [
            "",
            "a\tb",
            &"r".repeat(limits::BROKER_STRING_LENGTH_MAX + 1),
        ] {
            assert!(validate_rack(Some(bad.to_owned())).is_err(), "{bad:?}");
        }
        let long = format!("0@{}:1", "h".repeat(limits::QUORUM_VOTERS_TEXT_SIZE_MAX));
        let flags = serve_flags(&format!("--quorum-voters {long}"));
        let error = Config::validate(flags, &[0]).unwrap_err();
        assert!(error.to_string().contains("longer than"), "{error}");
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
    fn the_listener_protocol_and_sasl_flags_reach_the_config() {
        let flags = serve_flags(
            "--listen SASL_PLAINTEXT://127.0.0.1:9092 --sasl-mechanisms SCRAM-SHA-512,PLAIN \
             --sasl-plain-on-plaintext true --connections-max-reauth-ms 60000",
        );
        let config = Config::validate(flags, &[0]).unwrap();
        assert_eq!(
            config.listeners[0].protocol,
            super::super::SecurityProtocol::SaslPlaintext
        );
        assert_eq!(config.listen.port(), 9092);
        assert_eq!(config.sasl.mechanisms, ["SCRAM-SHA-512", "PLAIN"]);
        assert!(config.sasl.plain_on_plaintext);
        assert_eq!(
            config.sasl.connections_max_reauth,
            Some(Duration::from_secs(60))
        );
        let plain = Config::validate(serve_flags("--listen 127.0.0.1:1"), &[0]).unwrap();
        assert_eq!(
            plain.listeners[0].protocol,
            super::super::SecurityProtocol::Plaintext
        );
        // A SASL_SSL listener needs the TLS certificate and key.
        for refused in [
            "--listen SASL_SSL://127.0.0.1:1",
            "--sasl-mechanisms GSSAPI",
        ] {
            assert!(
                Config::validate(serve_flags(refused), &[0]).is_err(),
                "{refused}"
            );
        }
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
