//! Runtime knobs: embedded defaults, then a TOML file (`--config FILE`), then command-line flags
//! (flags win). Validated once, here, against `limits.rs`; the rest of the broker reads the
//! resulting [`Config`] and trusts it.
//!
//! Runs in `main` before any shard exists; shards get a shared read-only `Arc<Config>`.
//!
//! ```toml
//! listen = "0.0.0.0:9092"          # or: listeners = ["0.0.0.0:9092", "SSL://0.0.0.0:9093"]
//! advertise = "broker1.example:9092" # or: advertised_listeners = ["SSL://broker1.example:9093"]
//! # listener_security_protocol_map = "EXTERNAL:SASL_SSL"  # names other than protocol names
//! # [tls] cert = "server.pem", key = "server.key", client_ca = "ca.pem",
//! #       client_auth = "required"   # or "requested", "none" (default)
//! #       allow_dn_changes = false, allow_san_changes = false  # KIP-978 reload checks
//! # [controller] tls_ca = "ca.pem", tls_cert = "node.pem", tls_key = "node.key"
//! #       # mutual TLS on the controller channel (all three, or none: plaintext)
//! [sasl] mechanisms = ["SCRAM-SHA-512"], plain_on_plaintext = false,
//!        connections_max_reauth_ms = 0   # KIP-368 session lifetime; 0 = never
//! data_dir = "/var/lib/ringbroker"
//! node_id = 1
//! auto_create_partitions = 3      # 0 disables auto-creation
//! log_level = "info"              # a tracing EnvFilter directive
//! metrics_listen = "127.0.0.1:9644" # Prometheus /metrics; off unless set
//! producer_id_expiration_ms = 86400000 # idle idempotent producers are forgotten after this
//! quorum_voters = "1@10.0.0.1:9192,2@10.0.0.2:9192,3@10.0.0.3:9192" # default: itself alone
//! quorum_snapshot_entries = 10000  # metadata log entries between snapshots
//! [sasl]
//! mechanisms = ["SCRAM-SHA-512"]  # default: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//! plain_on_plaintext = false      # PLAIN only under TLS unless true
//! connections_max_reauth_ms = 0   # KIP-368 session lifetime; 0 = never expires
//! [authorizer]                    # ACL checks (off unless enabled)
//! enabled = true
//! super_users = "User:admin;User:ops"
//! allow_everyone_if_no_acl_found = false
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
//!
//! Files: `schema.rs` (the file's shape and the validated types), `validation.rs` (every check,
//! from file to [`Config`]), `args.rs` (the command line), `voters.rs` (the voter list syntax),
//! `security.rs` (listener protocol, `[sasl]`), `inter_broker.rs` and `controller.rs` (how
//! nodes reach each other).
mod args;
mod controller;
mod inter_broker;
mod listeners;
mod schema;
mod security;
mod validation;
mod voters;

pub use args::{Command, USAGE, parse_args};
pub use controller::{ControllerFile, ControllerTls, validate_controller};
pub use inter_broker::{
    InterBrokerConfig, InterBrokerFile, InterBrokerSasl, InterBrokerTls, Password,
};
pub use listeners::{CertificateChanges, ClientAuth, ListenerConfig, SecurityProtocol, TlsConfig};
pub use schema::{
    AUTO_CREATE_PARTITIONS_DEFAULT, Advertised, Authorizer, AuthorizerFile, Config, ConfigFile,
    DATA_DIR_DEFAULT, FetchMode, GroupConfig, GroupsFile, IoUringFile, LISTEN_DEFAULT,
    LOG_LEVEL_DEFAULT, LeaderBalance, LeaderBalanceFile, Limits, LimitsFile, ShardsFile,
    SocketFile, TlsFile, Tuning,
};
pub use security::{SASL_MECHANISM_NAMES, SaslConfig, SaslFile};
pub use voters::{QuorumVoter, VoterListError, parse_quorum_voters};

use std::path::{Path, PathBuf};

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
    #[error("quorum_voters {value:?}: {reason}")]
    BadQuorumVoters { value: String, reason: String },
    #[error("listener {value:?}: {reason}")]
    BadListener { value: String, reason: String },
    #[error("tls: {reason}")]
    BadTls { reason: String },
    #[error("rack {value:?}: {reason}")]
    BadRack { value: String, reason: String },
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

/// Why a bounded file (a PEM file, a client command config) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileReadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is over {size_max} bytes")]
    TooLarge { path: PathBuf, size_max: u64 },
}

/// The bytes of the file at `path`, at most `size_max` of them; a larger file is refused
/// (never more than `size_max + 1` bytes are read, whatever the file's size).
///
/// # Errors
/// [`FileReadError`]: the file cannot be opened or read, or it holds more than `size_max`.
pub fn read_file_bounded(path: &Path, size_max: u64) -> Result<Vec<u8>, FileReadError> {
    use std::io::Read as _;
    let read_error = |source| FileReadError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_error)?
        .take(size_max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > size_max {
        return Err(FileReadError::TooLarge {
            path: path.to_owned(),
            size_max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn a_bounded_read_takes_up_to_the_limit_and_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, [7u8; 16]).unwrap();
        assert_eq!(read_file_bounded(&path, 16).unwrap(), vec![7u8; 16]);
        let refused = read_file_bounded(&path, 15).unwrap_err();
        assert!(matches!(
            refused,
            FileReadError::TooLarge { size_max: 15, .. }
        ));
        assert!(
            refused.to_string().ends_with("is over 15 bytes"),
            "{refused}"
        );
        let missing = read_file_bounded(&dir.path().join("absent"), 16).unwrap_err();
        assert!(matches!(missing, FileReadError::Read { .. }));
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }
}
