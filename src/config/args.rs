//! The command line: `ringbroker [serve] [FLAGS]`, `--help`, `--version`. Flags land in a
//! [`ConfigFile`] so that they overlay the config file key by key; nothing is validated here
//! (`validation.rs`). Runs in `main` before any shard exists.
use super::ConfigError;
use super::schema::ConfigFile;
use std::path::PathBuf;

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
    --listen [NAME://]HOST:PORT   a listener every shard binds; repeat for several; NAME is
                                  a protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or
                                  a mapped name [default: PLAINTEXT://127.0.0.1:9092]
    --advertise [NAME://]HOST:PORT
                                  address given to clients of listener NAME (no NAME: the
                                  first listener); repeatable [default: the listener]
    --listener-security-protocol-map NAME:PROTOCOL,...
                                  protocols of listener names that are not protocol names
    --tls-cert FILE               PEM certificate chain of the TLS listeners
    --tls-key FILE                PEM private key of that certificate
    --tls-client-ca FILE          PEM CA bundle client certificates are checked against
    --ssl-client-auth required|requested|none
                                  client certificates (mTLS) [default: none]
    --ssl-allow-dn-changes BOOL   a SIGHUP reload may change the certificate's subject (TLS
                                  listeners and controller channel) [default: false]
    --ssl-allow-san-changes BOOL  a SIGHUP reload may drop a subject alternative name
                                  [default: false]
    --sasl-mechanisms LIST        SASL mechanisms served, comma-separated
                                  [default: PLAIN,SCRAM-SHA-256,SCRAM-SHA-512]
    --sasl-plain-on-plaintext BOOL
                                  allow PLAIN without TLS (password in clear) [default: false]
    --connections-max-reauth-ms N SASL session lifetime; a connection that has not
                                  re-authenticated by then is closed; 0 = never [default: 0]
    --inter-broker-listener NAME  the listener other brokers' followers dial (Kafka's
                                  inter.broker.listener.name) [default: a PLAINTEXT one]
    --inter-broker-tls-ca FILE    PEM CA the brokers' certificates chain to (TLS listener)
    --inter-broker-tls-cert FILE / --inter-broker-tls-key FILE
                                  certificate and key presented to other brokers (mTLS)
    --inter-broker-sasl-mechanism M
                                  login to other brokers (SASL) [default: SCRAM-SHA-512]
    --inter-broker-sasl-user NAME / --inter-broker-sasl-password-file FILE
                                  that login's user and password (first line of FILE)
    --controller-tls-ca FILE / --controller-tls-cert FILE / --controller-tls-key FILE
                                  mutual TLS on the controller channel (Raft, registration,
                                  heartbeats): every node presents its certificate (used as
                                  server and client) and must chain to the CA; all three or
                                  none [default: plaintext]. Flags of their own, not the
                                  inter-broker ones: this channel always needs a node
                                  identity, and may have a CA of its own; the same files
                                  may be given to both
    --metrics-listen HOST:PORT    serve Prometheus GET /metrics there [default: off]
    --data-dir DIR                partition logs and metadata [default: ./data]
    --node-id N                   this broker's id [default: 0]
    --quorum-voters ID@HOST:PORT,...
                                  metadata quorum voters (each entry is that voter's
                                  controller listener); a node not listed observes
                                  [default: itself alone]
    --rack RACK                   this broker's rack, for rack-aware placement
    --broker-heartbeat-interval-ms N
                                  heartbeats to the active controller [default: 500]
    --broker-session-timeout-ms N a broker silent this long is fenced [default: 3000]
    --replica-lag-time-max-ms N   a follower not caught up this long leaves the ISR
                                  [default: 10000]
    --replication-throttle-bytes-per-sec N
                                  follower fetch rate cap per broker (records fetched by
                                  this broker's followers, split evenly over its shards);
                                  0 = off [default: 0]
    --auto-leader-rebalance-enable BOOL
                                  move leadership back to preferred replicas [default: true]
    --leader-imbalance-check-interval-ms N
                                  how often the controller checks [default: 300000]
    --leader-imbalance-per-broker-percentage N
                                  a broker's imbalance that triggers it [default: 10]
    --offsets-topic-replication-factor N
                                  __consumer_offsets replicas, at most the live brokers
                                  [default: 3]
    --quorum-snapshot-entries N   metadata log entries between snapshots [default: 10000]
    --auto-create-partitions N    partitions of auto-created topics, 0 = off [default: 1]
    --shards N                    shard threads, one per cpu [default: online cpus]
    --group-initial-rebalance-delay-ms N
                                  first rebalance of a new group waits this long [default: 3000]
    --authorizer                  check ACLs on every request (deny-by-default) [default: off]
    --super-users User:A;User:B   principals every check allows (Kafka's super.users)
    --allow-everyone-if-no-acl-found
                                  allow a resource no ACL names (Kafka's default: deny)
    --log-level LEVEL             tracing filter, e.g. info or ringbroker=debug [default: info]
    -h, --help                    print this help
    -V, --version                 print the version

ADMIN COMMANDS (see `ringbroker topic --help`):
    ringbroker topic create|list|describe|delete|add-partitions|config ...
    ringbroker tune check|apply ...
    ringbroker user add NAME --mechanism SCRAM-SHA-512 --password PW --data-dir DIR
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
        if let Some((flag, slot)) = number_flag(&mut flags, &name) {
            *slot = Some(number(flag, value(flag)?)?);
            continue;
        }
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => config_path = Some(PathBuf::from(value("--config")?)),
            "--metrics-listen" => flags.metrics_listen = Some(value("--metrics-listen")?),
            "--data-dir" => flags.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--log-level" => flags.log_level = Some(value("--log-level")?),
            "--node-id" => flags.node_id = Some(number("--node-id", value("--node-id")?)?),
            "--quorum-voters" => flags.quorum_voters = Some(value("--quorum-voters")?),
            "--rack" => flags.rack = Some(value("--rack")?),
            other if replication_flag(&mut flags, other, &mut value)? => {}
            "--authorizer" => flags.authorizer.enabled = Some(true),
            "--allow-everyone-if-no-acl-found" => {
                flags.authorizer.allow_everyone_if_no_acl_found = Some(true);
            }
            "--super-users" => flags.authorizer.super_users = Some(value("--super-users")?),
            other if listener_flag(&mut flags, other, &mut value)? => {}
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

/// The flags taking a `u64`: the flag's name and the key it sets.
fn number_flag<'a>(
    flags: &'a mut ConfigFile,
    name: &str,
) -> Option<(&'static str, &'a mut Option<u64>)> {
    let found = match name {
        "--broker-heartbeat-interval-ms" => (
            "--broker-heartbeat-interval-ms",
            &mut flags.broker_heartbeat_interval_ms,
        ),
        "--broker-session-timeout-ms" => (
            "--broker-session-timeout-ms",
            &mut flags.broker_session_timeout_ms,
        ),
        "--replica-lag-time-max-ms" => (
            "--replica-lag-time-max-ms",
            &mut flags.replica_lag_time_max_ms,
        ),
        "--replication-throttle-bytes-per-sec" => (
            "--replication-throttle-bytes-per-sec",
            &mut flags.replication_throttle_bytes_per_sec,
        ),
        "--quorum-snapshot-entries" => (
            "--quorum-snapshot-entries",
            &mut flags.quorum_snapshot_entries,
        ),
        "--connections-max-reauth-ms" => (
            "--connections-max-reauth-ms",
            &mut flags.sasl.connections_max_reauth_ms,
        ),
        "--leader-imbalance-check-interval-ms" => (
            "--leader-imbalance-check-interval-ms",
            &mut flags.leader_balance.check_interval_ms,
        ),
        _ => return None,
    };
    Some(found)
}

fn number<T: std::str::FromStr>(flag: &'static str, value: String) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::BadValue {
        flag,
        value,
        expected: "number",
    })
}

/// Sets the listener or TLS flag `name` when it is one (`--listen` and `--advertise` may be
/// repeated, one listener each); false when it is not.
fn listener_flag(
    flags: &mut ConfigFile,
    name: &str,
    value: &mut dyn FnMut(&'static str) -> Result<String, ConfigError>,
) -> Result<bool, ConfigError> {
    match name {
        "--listen" => flags
            .listeners
            .get_or_insert_with(Vec::new)
            .push(value("--listen")?),
        "--advertise" => flags
            .advertised_listeners
            .get_or_insert_with(Vec::new)
            .push(value("--advertise")?),
        "--listener-security-protocol-map" => {
            let flag = "--listener-security-protocol-map";
            flags.listener_security_protocol_map = Some(value(flag)?);
        }
        "--tls-cert" => flags.tls.cert = Some(PathBuf::from(value("--tls-cert")?)),
        "--tls-key" => flags.tls.key = Some(PathBuf::from(value("--tls-key")?)),
        "--tls-client-ca" => flags.tls.client_ca = Some(PathBuf::from(value("--tls-client-ca")?)),
        "--ssl-client-auth" => flags.tls.client_auth = Some(value("--ssl-client-auth")?),
        "--ssl-allow-dn-changes" => {
            let flag = "--ssl-allow-dn-changes";
            flags.tls.allow_dn_changes = Some(boolean(flag, value(flag)?)?);
        }
        "--ssl-allow-san-changes" => {
            let flag = "--ssl-allow-san-changes";
            flags.tls.allow_san_changes = Some(boolean(flag, value(flag)?)?);
        }
        other => return inter_broker_flag(flags, other, value),
    }
    Ok(true)
}

/// Sets the `--inter-broker-*` or `--controller-tls-*` flag `name` when it is one; false when
/// it is not.
fn inter_broker_flag(
    flags: &mut ConfigFile,
    name: &str,
    value: &mut dyn FnMut(&'static str) -> Result<String, ConfigError>,
) -> Result<bool, ConfigError> {
    let keys = &mut flags.inter_broker;
    match name {
        "--inter-broker-listener" => keys.listener = Some(value("--inter-broker-listener")?),
        "--inter-broker-tls-ca" => keys.tls_ca = Some(value("--inter-broker-tls-ca")?.into()),
        "--inter-broker-tls-cert" => {
            keys.tls_cert = Some(value("--inter-broker-tls-cert")?.into());
        }
        "--inter-broker-tls-key" => keys.tls_key = Some(value("--inter-broker-tls-key")?.into()),
        "--inter-broker-sasl-mechanism" => {
            keys.sasl_mechanism = Some(value("--inter-broker-sasl-mechanism")?);
        }
        "--inter-broker-sasl-user" => keys.sasl_user = Some(value("--inter-broker-sasl-user")?),
        "--controller-tls-ca" => {
            flags.controller.tls_ca = Some(value("--controller-tls-ca")?.into());
        }
        "--controller-tls-cert" => {
            flags.controller.tls_cert = Some(value("--controller-tls-cert")?.into());
        }
        "--controller-tls-key" => {
            flags.controller.tls_key = Some(value("--controller-tls-key")?.into());
        }
        "--inter-broker-sasl-password-file" => {
            let flag = "--inter-broker-sasl-password-file";
            keys.sasl_password_file = Some(value(flag)?.into());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Sets the flag `name` that is not a `u64` (leader balance, offsets topic factor, SASL)
/// when it is one; false when it is not.
fn replication_flag(
    flags: &mut ConfigFile,
    name: &str,
    value: &mut dyn FnMut(&'static str) -> Result<String, ConfigError>,
) -> Result<bool, ConfigError> {
    let balance = &mut flags.leader_balance;
    match name {
        "--auto-leader-rebalance-enable" => {
            let flag = "--auto-leader-rebalance-enable";
            balance.enable = Some(boolean(flag, value(flag)?)?);
        }
        "--leader-imbalance-per-broker-percentage" => {
            let flag = "--leader-imbalance-per-broker-percentage";
            balance.per_broker_percentage = Some(number(flag, value(flag)?)?);
        }
        "--sasl-mechanisms" => {
            let list = value("--sasl-mechanisms")?;
            let names = list.split(',').map(|name| name.trim().to_owned());
            flags.sasl.mechanisms = Some(names.filter(|name| !name.is_empty()).collect());
        }
        "--sasl-plain-on-plaintext" => {
            let flag = "--sasl-plain-on-plaintext";
            flags.sasl.plain_on_plaintext = Some(boolean(flag, value(flag)?)?);
        }
        "--offsets-topic-replication-factor" => {
            let flag = "--offsets-topic-replication-factor";
            flags.groups.offsets_topic_replication_factor = Some(number(flag, value(flag)?)?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn boolean(flag: &'static str, value: String) -> Result<bool, ConfigError> {
    match value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::BadValue {
            flag,
            value,
            expected: "true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
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
            "--replica-lag-time-max-ms",
            "--replication-throttle-bytes-per-sec",
            "--tls-cert",
            "--ssl-client-auth",
            "--controller-tls-ca",
            "--controller-tls-cert",
            "--controller-tls-key",
        ] {
            assert!(USAGE.contains(flag), "{flag} missing from --help");
        }
    }

    #[test]
    fn listen_and_advertise_repeat() {
        let parsed = parse_args(args(
            "--listen 127.0.0.1:9092 --listen SSL://127.0.0.1:9093 --advertise SSL://b:9093 \
             --tls-cert c.pem --tls-key k.pem --ssl-client-auth required",
        ));
        let Ok(Command::Serve { flags, .. }) = parsed else {
            panic!("not serve: {parsed:?}");
        };
        let listeners = flags.listeners.unwrap();
        assert_eq!(listeners, ["127.0.0.1:9092", "SSL://127.0.0.1:9093"]);
        assert_eq!(flags.advertised_listeners.unwrap(), ["SSL://b:9093"]);
        assert_eq!(flags.tls.cert, Some(PathBuf::from("c.pem")));
        assert_eq!(flags.tls.client_auth.as_deref(), Some("required"));
    }

    #[test]
    fn number_flags_set_their_keys() {
        let parsed = parse_args(args(
            "--replication-throttle-bytes-per-sec 5000 --replica-lag-time-max-ms=250 \
             --broker-session-timeout-ms 900 --quorum-snapshot-entries 7",
        ));
        let Ok(Command::Serve { flags, .. }) = parsed else {
            panic!("not serve: {parsed:?}");
        };
        assert_eq!(flags.replication_throttle_bytes_per_sec, Some(5000));
        assert_eq!(flags.replica_lag_time_max_ms, Some(250));
        assert_eq!(flags.broker_session_timeout_ms, Some(900));
        assert_eq!(flags.quorum_snapshot_entries, Some(7));
        let bad = parse_args(args("--replication-throttle-bytes-per-sec fast"));
        assert!(matches!(bad, Err(ConfigError::BadValue { .. })), "{bad:?}");
    }
}

#[cfg(test)]
mod authorizer_tests {
    use super::*;

    fn serve_flags(text: &str) -> ConfigFile {
        let args = text
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        match parse_args(args) {
            Ok(Command::Serve { flags, .. }) => flags,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn authorizer_flags_set_their_keys_and_default_off() {
        let flags = serve_flags(
            "--authorizer --super-users User:admin;User:ops --allow-everyone-if-no-acl-found",
        );
        let config = crate::config::Config::validate(flags, &[0]);
        let authorizer = config.map(|config| config.authorizer);
        assert!(matches!(
            authorizer,
            Ok(ref a) if a.enabled
                && a.allow_everyone_if_no_acl_found
                && a.super_users == ["User:admin", "User:ops"]
        ));
        let open = crate::config::Config::validate(serve_flags(""), &[0]);
        assert!(matches!(open, Ok(ref c) if c.authorizer == crate::config::Authorizer::default()));
        let bad = crate::config::Config::validate(serve_flags("--super-users admin"), &[0]);
        assert!(bad.is_err(), "a principal without Type: is refused");
        for flag in [
            "--authorizer",
            "--super-users",
            "--allow-everyone-if-no-acl-found",
        ] {
            assert!(USAGE.contains(flag), "{flag} missing from --help");
        }
    }
}

#[cfg(test)]
mod controller_tests {
    use super::*;

    fn validate(text: &str) -> Result<crate::config::Config, ConfigError> {
        let args = text.split_whitespace().map(str::to_owned);
        match parse_args(args) {
            Ok(Command::Serve { flags, .. }) => crate::config::Config::validate(flags, &[0]),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn controller_tls_flags_need_all_three_files_and_default_to_plaintext() {
        let plain = validate("");
        assert!(matches!(plain, Ok(ref config) if config.controller_tls.is_none()));
        let secured = validate(
            "--controller-tls-ca ca.pem --controller-tls-cert n.pem --controller-tls-key n.key",
        );
        let tls = secured.map(|config| config.controller_tls);
        assert!(
            matches!(tls, Ok(Some(ref tls)) if tls.ca.as_os_str() == "ca.pem"
                && tls.cert.as_os_str() == "n.pem"
                && tls.key.as_os_str() == "n.key"),
            "{tls:?}"
        );
        let partial = validate("--controller-tls-ca ca.pem --controller-tls-cert n.pem");
        let text = partial.map(drop).map_err(|error| error.to_string());
        assert!(
            matches!(text, Err(ref text) if text.contains("--controller-tls-key")),
            "{text:?}"
        );
    }

    /// Kafka's `ssl.allow.dn.changes` / `ssl.allow.san.changes`: false unless given, and one
    /// setting for the client listeners and the controller channel.
    #[test]
    fn certificate_change_flags_reach_both_tls_settings() {
        use crate::config::CertificateChanges;
        let files = "--listen SSL://127.0.0.1:9093 --tls-cert c.pem --tls-key k.pem \
                     --controller-tls-ca ca.pem --controller-tls-cert n.pem \
                     --controller-tls-key n.key";
        let changes = |text: &str| {
            let config = validate(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            let listeners = config.tls.map(|tls| tls.changes);
            let controller = config
                .controller_tls
                .map(|tls| tls.server_settings().changes);
            assert_eq!(listeners, controller, "{text}");
            listeners
        };
        assert_eq!(changes(files), Some(CertificateChanges::default()));
        let both = format!("{files} --ssl-allow-dn-changes true --ssl-allow-san-changes=true");
        let allowed = CertificateChanges {
            dn_allowed: true,
            san_allowed: true,
        };
        assert_eq!(changes(&both), Some(allowed));
        let san_only = format!("{files} --ssl-allow-san-changes true");
        let expected = CertificateChanges {
            dn_allowed: false,
            san_allowed: true,
        };
        assert_eq!(changes(&san_only), Some(expected));
        let bad = parse_args(args_of("--ssl-allow-dn-changes yes"));
        assert!(matches!(bad, Err(ConfigError::BadValue { .. })), "{bad:?}");
        for flag in ["--ssl-allow-dn-changes", "--ssl-allow-san-changes"] {
            assert!(USAGE.contains(flag), "{flag} missing from --help");
        }
    }

    fn args_of(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }
}
