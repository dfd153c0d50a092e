//! The admin subcommands of the `ringbroker` binary. They talk to a running broker over the
//! Kafka protocol (through [`crate::client`]), or inspect and tune the local machine:
//!
//! ```text
//! ringbroker topic create|list|describe|delete|add-partitions|config   topic.rs
//! ringbroker tune check|apply                                           tune/
//! ringbroker group list|describe                                       group.rs
//! ringbroker cluster status|drain                                      cluster.rs
//! ringbroker partition reassign                                        partition.rs
//! ringbroker user add                                                  user.rs
//! ringbroker acl add|list|remove                                        acl.rs
//! ringbroker quota alter|describe                                      quota.rs
//! ```
//!
//! Each command writes its report to the `out` it is given (stdout in the binary, a buffer in
//! tests) and returns [`Outcome`]; failures are [`CliError`] values that `main` prints. Runs on
//! the main thread of a short-lived process; no shard runs.
pub mod acl;
pub mod args;
pub mod cluster;
pub mod command_config;
pub mod group;
pub mod partition;
pub mod quota;
pub mod table;
pub mod topic;
pub mod tune;
pub mod user;

use crate::client::connection::{ClientError, Connection, Negotiated};
use crate::client::security::ClientSecurity;
use crate::config::ConfigError;
use crate::protocol::ErrorCode;
use crate::security::SecurityProtocol;
use std::io::{self, Write};

/// The first words that select an admin command instead of `serve`.
pub const COMMANDS: [&str; 8] = [
    "topic",
    "tune",
    "group",
    "cluster",
    "partition",
    "user",
    "acl",
    "quota",
];

/// Default `--bootstrap` (the broker's default listener).
pub const BOOTSTRAP_DEFAULT: &str = "127.0.0.1:9092";
/// The bootstrap flag and Kafka's spelling of it, taken by the group and cluster commands.
pub const BOOTSTRAP_FLAGS: &[&str] = &["--bootstrap", "--bootstrap-server"];
/// The client properties file every command that connects takes (`command_config.rs`).
pub const COMMAND_CONFIG_FLAG: &str = "--command-config";
/// Client id the group and cluster commands announce.
pub const ADMIN_CLIENT_ID: &str = "ringbroker-admin";

/// The `--bootstrap` (or `--bootstrap-server`) address, else the default.
#[must_use]
pub fn bootstrap(parsed: &args::Parsed) -> String {
    BOOTSTRAP_FLAGS
        .iter()
        .find_map(|flag| parsed.value(flag))
        .unwrap_or(BOOTSTRAP_DEFAULT)
        .to_owned()
}

/// Where a command reaches the cluster and how: the bootstrap address and the security of
/// `--command-config` (PLAINTEXT without it), used for every broker the command connects to.
#[derive(Debug, Clone)]
pub struct Brokers {
    pub bootstrap: String,
    security: ClientSecurity,
}

impl Brokers {
    /// From the command's flags; reads the command config (and its PEM files) if given.
    ///
    /// # Errors
    /// An unreadable or invalid command config.
    pub fn from_flags(parsed: &args::Parsed) -> Result<Self, CliError> {
        let security = match parsed.value(COMMAND_CONFIG_FLAG) {
            Some(path) => command_config::load(std::path::Path::new(path))?,
            None => ClientSecurity::default(),
        };
        Ok(Self {
            bootstrap: bootstrap(parsed),
            security,
        })
    }

    /// A connection to `address` with the command's security, versions not negotiated.
    ///
    /// # Errors
    /// Connection, TLS or SASL errors.
    pub fn connect_only(&self, address: &str, client_id: &str) -> Result<Connection, CliError> {
        Ok(Connection::connect_with(
            address,
            client_id,
            &self.security,
        )?)
    }

    /// A connection to `address` as the admin client, with negotiated API versions.
    ///
    /// # Errors
    /// Connection, TLS, SASL or protocol errors; on PLAINTEXT, a broker that closes the
    /// connection at the first request is reported as a listener that needs security.
    pub fn connect(&self, address: &str) -> Result<(Connection, Negotiated), CliError> {
        let mut connection = self.connect_only(address, ADMIN_CLIENT_ID)?;
        match connection.api_versions(ADMIN_CLIENT_ID) {
            Ok(versions) => Ok((connection, versions)),
            Err(ClientError::Closed | ClientError::Frame(_))
                if self.security.protocol() == SecurityProtocol::Plaintext =>
            {
                Err(CliError::NotPlaintext {
                    address: address.to_owned(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// [`Self::connect`] to the bootstrap address.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub fn connect_bootstrap(&self) -> Result<(Connection, Negotiated), CliError> {
        self.connect(&self.bootstrap)
    }
}

/// Connects to the command's bootstrap broker with its `--command-config`.
///
/// # Errors
/// As [`Brokers::from_flags`] and [`Brokers::connect`].
pub fn connect(parsed: &args::Parsed) -> Result<(Connection, Negotiated), CliError> {
    Brokers::from_flags(parsed)?.connect_bootstrap()
}

/// `ringbroker topic --help` and friends.
pub const USAGE: &str = "\
ringbroker admin commands

USAGE:
    ringbroker topic list                 [--bootstrap HOST:PORT]
    ringbroker topic describe [TOPIC...]  [--under-replicated] [--bootstrap HOST:PORT]
    ringbroker topic create TOPIC [--partitions N] [--replication-factor N] [--config K=V]...
    ringbroker topic delete TOPIC...
    ringbroker topic add-partitions TOPIC --partitions TOTAL
    ringbroker topic config TOPIC [--set K=V]... [--delete K]...
    ringbroker group list                 [--bootstrap HOST:PORT]
    ringbroker group describe GROUP...    [--bootstrap HOST:PORT]   (offsets and LAG)
    ringbroker cluster status             [--bootstrap HOST:PORT]   (quorum and brokers)
                                          [--controller-tls-ca F --controller-tls-cert F
                                           --controller-tls-key F]  (TLS controller channel)
    ringbroker cluster drain BROKER       [--timeout-ms MS]   (move every replica off BROKER)
    ringbroker partition reassign --generate --brokers 1,2,3 --topics T,U   (prints a plan)
    ringbroker partition reassign --execute PLAN [--throttle B/s] | --verify PLAN | --cancel PLAN
                          (--cancel with no original replica in sync needs the topic's
                          unclean.leader.election.enable and loses what only new replicas held)
    ringbroker user add NAME --mechanism SCRAM-SHA-512 (--password PW | --password-file F)
                          --data-dir DIR [--iterations N]   (before the broker's first start)
    ringbroker acl add --principal User:NAME (--topic T | --group G | --transactional-id T |
                       --cluster) [--prefixed] --operation OP... [--deny] [--host H]
    ringbroker acl list|remove [--principal P] [--topic T | ...] [--prefixed | --match]
                       [--operation OP] [--deny | --allow] [--host H]
    ringbroker quota alter (--user U | --user-defaults) and/or (--client-id C |
                       --client-defaults) [--add k=v[,k=v]] [--delete k[,k]] [--validate-only]
    ringbroker quota describe [--user U | --user-defaults] [--client-id C | --client-defaults]
                       [--strict]
    ringbroker tune check [--config PROFILE] [--strict]
    ringbroker tune apply [--config PROFILE] [--dry-run]

    --bootstrap HOST:PORT   a broker to ask [default: 127.0.0.1:9092]
                            (--bootstrap-server is accepted too, as in kafka-topics.sh)
    --command-config FILE   client properties for a secured listener, as Kafka's tools take
                            them; every command that connects accepts it. One key=value a
                            line, # comments; unknown keys are errors:
        security.protocol=PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL   [default: PLAINTEXT]
        ssl.ca.location=CA.pem              (SSL, SASL_SSL: the CA the broker's cert chains to)
        ssl.certificate.location=CERT.pem   ssl.key.location=KEY.pem   (mTLS, optional)
        sasl.mechanism=PLAIN|SCRAM-SHA-256|SCRAM-SHA-512   sasl.username=U   sasl.password=P
";

/// How an admin command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done (or, for `tune check`, every check passed).
    Success,
    /// The command ran but reported problems (a topic error, a failed check); exit code 1.
    Problems,
}

/// Why an admin command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("unknown command {words:?} (see ringbroker topic --help)")]
    UnknownCommand { words: String },
    #[error("unknown flag {flag} (see --help)")]
    UnknownFlag { flag: String },
    #[error("flag {flag} needs a value")]
    MissingValue { flag: &'static str },
    #[error("flag {flag} takes no value")]
    UnexpectedValue { flag: &'static str },
    #[error("flag {flag}: {value:?} is not a valid {expected}")]
    BadValue {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Usage(&'static str),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{what}: {}{}", .error_code.name(), message_suffix(.message.as_deref()))]
    Kafka {
        what: String,
        error_code: ErrorCode,
        message: Option<String>,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    CommandConfig(#[from] command_config::CommandConfigError),
    #[error(
        "{address} closed the connection at the first request or did not answer in Kafka's \
         plaintext protocol: if that listener is SSL, SASL_PLAINTEXT or SASL_SSL, give \
         --command-config FILE with security.protocol and its settings (see --help)"
    )]
    NotPlaintext { address: String },
    #[error(transparent)]
    Tune(#[from] tune::TuneError),
    #[error("writing the report: {0}")]
    Output(#[from] io::Error),
}

fn message_suffix(message: Option<&str>) -> String {
    match message {
        Some(text) if !text.is_empty() => format!(" ({text})"),
        _ => String::new(),
    }
}

/// Whether `first` (the first argument) selects an admin command.
#[must_use]
pub fn is_admin_command(first: &str) -> bool {
    COMMANDS.contains(&first)
}

/// Runs the admin command in `args` (the arguments after the program name, starting with one
/// of [`COMMANDS`]), writing its report to `out`.
///
/// # Errors
/// Bad arguments, an unreachable broker, protocol errors, or a failed write to `out`.
pub fn run(args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        out.write_all(USAGE.as_bytes())?;
        return Ok(Outcome::Success);
    }
    let (command, rest) = args.split_first().ok_or(CliError::Usage(USAGE))?;
    let (action, rest) = rest.split_first().ok_or(CliError::Usage(USAGE))?;
    match command.as_str() {
        "topic" => topic::run(action, rest, out),
        "tune" => tune::run(action, rest, out),
        "group" => group::run(action, rest, out),
        "cluster" => cluster::run(action, rest, out),
        "partition" => partition::run(action, rest, out),
        "user" => user::run(action, rest, out),
        "acl" => acl::run(action, rest, out),
        "quota" => quota::run(action, rest, out),
        _ => Err(CliError::UnknownCommand {
            words: args.join(" "),
        }),
    }
}
