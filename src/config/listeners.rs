//! Listeners with security protocols and the TLS settings they use, as Kafka configures them
//! (`listeners`, `listener.security.protocol.map`, `advertised.listeners`, `ssl.*`): the
//! syntax and its checks, from the flags and file keys to [`ListenerConfig`]s and a
//! [`TlsConfig`]. Runs in `main` before any shard exists.
//!
//! ```text
//! --listen [NAME://]HOST:PORT     repeatable; no NAME = PLAINTEXT (so the default is unchanged)
//! NAME                            a protocol name (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
//!                                 doubles as the listener name, or any name mapped by
//!                                 --listener-security-protocol-map NAME:PROTOCOL,...
//! --advertise [NAME://]HOST:PORT  repeatable; no NAME = the first listener
//! ```
//!
//! The primary listener is the inter-broker one when `[inter_broker] listener` names it
//! (`inter_broker.rs`), else the first PLAINTEXT one (else the first one): validation moves it
//! to the front. It is registered as the `CLIENT` listener, which other brokers' follower
//! fetchers dial (so without an inter-broker listener a broker of a cluster needs a PLAINTEXT
//! listener), and it is what `Config::listen` / `Config::advertise` name.
use super::ConfigError;
use super::schema::Advertised;
use crate::limits;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A listener's security protocol, as Kafka names it (`listener.security.protocol.map`).
/// Defined here, below every layer that reads it; `security::SecurityProtocol` re-exports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SecurityProtocol {
    /// No TLS, no authentication: every connection is `User:ANONYMOUS`.
    #[default]
    Plaintext,
    /// TLS; the principal comes from the client certificate (mTLS) or is ANONYMOUS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name for it, e.g. `SASL_SSL`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Parses Kafka's name, case-insensitively (Kafka upper-cases it).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Plaintext,
            Self::Ssl,
            Self::SaslPlaintext,
            Self::SaslSsl,
        ]
        .into_iter()
        .find(|protocol| protocol.name().eq_ignore_ascii_case(name))
    }

    /// Whether connections on this listener run TLS.
    #[must_use]
    pub const fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections on this listener must authenticate with SASL before other APIs.
    #[must_use]
    pub const fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One listener every shard binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Upper-case listener name (`PLAINTEXT`, `SSL`, `EXTERNAL`, …), unique per broker.
    pub name: String,
    pub protocol: SecurityProtocol,
    pub address: SocketAddr,
    /// What clients that connect to this listener are told.
    pub advertise: Advertised,
}

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for (Kafka's default).
    #[default]
    None,
    /// A client certificate is asked for; without one the connection is `User:ANONYMOUS`.
    Requested,
    /// The handshake fails without a client certificate the client CA signed.
    Required,
}

impl ClientAuth {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "requested" => Some(Self::Requested),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

/// The TLS settings of every TLS listener (PEM files, read at start and on SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Server certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA bundle client certificates are checked against.
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// What a SIGHUP reload may change in the leaf certificate's names.
    pub changes: CertificateChanges,
}

/// Which changes of a served certificate's names a reload accepts: Kafka's KIP-978
/// `ssl.allow.dn.changes` and `ssl.allow.san.changes` (`--ssl-allow-dn-changes`,
/// `--ssl-allow-san-changes`, TOML `tls.allow_dn_changes`, `tls.allow_san_changes`), both
/// false by default, so a reload that would change who the broker claims to be is refused.
/// One setting for the client listeners and the controller channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertificateChanges {
    /// The subject may become another distinguished name.
    pub dn_allowed: bool,
    /// A subject alternative name may be dropped (adding one is always accepted, as in Kafka).
    pub san_allowed: bool,
}

/// The listener and TLS keys of a config file (and their flags), unvalidated.
pub struct ListenerKeys<'a> {
    pub listen: Option<&'a str>,
    pub listeners: Option<&'a [String]>,
    pub advertise: Option<&'a str>,
    pub advertised_listeners: Option<&'a [String]>,
    pub protocol_map: Option<&'a str>,
    pub tls_cert: Option<&'a PathBuf>,
    pub tls_key: Option<&'a PathBuf>,
    pub tls_client_ca: Option<&'a PathBuf>,
    pub ssl_client_auth: Option<&'a str>,
    pub certificate_changes: CertificateChanges,
}

fn bad(value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadListener {
        value: value.chars().take(limits::LISTENER_TEXT_SIZE_MAX).collect(),
        reason: reason.into(),
    }
}

/// `NAME:PROTOCOL,...` (Kafka's `listener.security.protocol.map`), names upper-cased.
fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| bad(entry, "expected NAME:PROTOCOL"))?;
        let protocol = SecurityProtocol::parse(protocol.trim())
            .ok_or_else(|| bad(entry, "unknown security protocol"))?;
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// Splits `[NAME://]REST` into the upper-cased name (if any) and `REST`.
fn split_name(text: &str) -> Result<(Option<String>, &str), ConfigError> {
    match text.split_once("://") {
        None => Ok((None, text)),
        Some((name, rest)) => {
            let valid = !name.is_empty()
                && name.len() <= limits::LISTENER_NAME_LENGTH_MAX
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(bad(text, "bad listener name"));
            }
            Ok((Some(name.to_ascii_uppercase()), rest))
        }
    }
}

/// The protocol of listener `name`: the map's, else the name itself when it is a protocol.
fn protocol_of(
    name: &str,
    map: &BTreeMap<String, SecurityProtocol>,
    text: &str,
) -> Result<SecurityProtocol, ConfigError> {
    map.get(name)
        .copied()
        .or_else(|| SecurityProtocol::parse(name))
        .ok_or_else(|| {
            bad(
                text,
                "listener name is neither a protocol nor mapped to one",
            )
        })
}

/// Every listener, in order, each resolved and its advertised address decided.
///
/// # Errors
/// A malformed entry, a duplicate name or address, a TLS listener without `tls_cert`.
pub fn validate_listeners(
    keys: &ListenerKeys<'_>,
    resolve: impl Fn(&'static str, &str) -> Result<SocketAddr, ConfigError>,
) -> Result<Vec<ListenerConfig>, ConfigError> {
    let map = parse_protocol_map(keys.protocol_map.unwrap_or(""))?;
    let texts: Vec<&str> = match (keys.listen, keys.listeners) {
        (Some(_), Some(_)) => return Err(bad("listen", "set either listen or listeners")),
        (Some(one), None) => vec![one],
        (None, Some(many)) => many.iter().map(String::as_str).collect(),
        (None, None) => vec![super::schema::LISTEN_DEFAULT],
    };
    if texts.is_empty() || texts.len() > limits::LISTENERS_MAX {
        return Err(bad(
            "listeners",
            format!("1..={} listeners", limits::LISTENERS_MAX),
        ));
    }
    let mut listeners: Vec<ListenerConfig> = Vec::with_capacity(texts.len());
    for text in texts {
        let (name, address_text) = split_name(text)?;
        let name = name.unwrap_or_else(|| SecurityProtocol::Plaintext.name().to_owned());
        let protocol = protocol_of(&name, &map, text)?;
        let address = resolve("listen", address_text)?;
        if address.port() == 0 {
            // Each shard would get its own ephemeral port: SO_REUSEPORT needs one fixed port.
            return Err(ConfigError::BadAddress {
                field: "listen",
                value: text.to_owned(),
                reason: "port 0 cannot be shared by the shards".to_owned(),
            });
        }
        if listeners
            .iter()
            .any(|l| l.name == name || l.address == address)
        {
            return Err(bad(text, "two listeners share a name or an address"));
        }
        let advertise = Advertised {
            host: address.ip().to_string(),
            port: address.port(),
        };
        listeners.push(ListenerConfig {
            name,
            protocol,
            address,
            advertise,
        });
    }
    apply_advertised(keys, &mut listeners)?;
    let plaintext = listeners
        .iter()
        .position(|listener| listener.protocol == SecurityProtocol::Plaintext);
    if let Some(index) = plaintext {
        let primary = listeners.remove(index);
        listeners.insert(0, primary);
    }
    assert!(!listeners.is_empty());
    Ok(listeners)
}

/// Lays `advertise` / `advertised_listeners` over the listeners' own addresses; a listener on
/// a wildcard address must be advertised (clients cannot connect to 0.0.0.0; Kafka refuses it
/// too).
fn apply_advertised(
    keys: &ListenerKeys<'_>,
    listeners: &mut [ListenerConfig],
) -> Result<(), ConfigError> {
    let mut entries: Vec<&str> = keys.advertise.into_iter().collect();
    entries.extend(
        keys.advertised_listeners
            .unwrap_or(&[])
            .iter()
            .map(String::as_str),
    );
    let mut set = vec![false; listeners.len()];
    for text in entries {
        let (name, address) = split_name(text)?;
        let index = match name {
            None => 0,
            Some(name) => listeners
                .iter()
                .position(|listener| listener.name == name)
                .ok_or_else(|| bad(text, "advertises a listener that does not exist"))?,
        };
        let (Some(listener), Some(done)) = (listeners.get_mut(index), set.get_mut(index)) else {
            return Err(bad(text, "no such listener"));
        };
        if *done {
            return Err(bad(text, "listener advertised twice"));
        }
        *done = true;
        listener.advertise = super::validation::split_host_port("advertise", address)?;
    }
    for (listener, done) in listeners.iter().zip(set) {
        if !done && listener.address.ip().is_unspecified() {
            return Err(ConfigError::BadAddress {
                field: "advertise",
                value: listener.name.clone(),
                reason: "required when listening on a wildcard address".to_owned(),
            });
        }
    }
    Ok(())
}

/// A broker of a cluster (`clustered`) needs a PLAINTEXT primary listener unless an
/// inter-broker listener is configured (`secured`, `inter_broker.rs`): followers fetch from
/// other brokers' `CLIENT` listener, plaintext unless this broker knows how to secure it.
///
/// # Errors
/// `clustered`, not `secured` and no PLAINTEXT listener.
pub fn check_inter_broker(
    listeners: &[ListenerConfig],
    clustered: bool,
    secured: bool,
) -> Result<(), ConfigError> {
    let primary_plaintext = listeners
        .first()
        .is_some_and(|listener| listener.protocol == SecurityProtocol::Plaintext);
    if clustered && !primary_plaintext && !secured {
        return Err(bad(
            "listeners",
            "a broker of a cluster needs a PLAINTEXT listener or --inter-broker-listener",
        ));
    }
    Ok(())
}

/// The TLS settings, required when a listener runs TLS; `None` when none does.
///
/// # Errors
/// A TLS listener without `tls_cert`/`tls_key`, half a key pair, a bad `ssl_client_auth`,
/// `required` client auth without a client CA.
pub fn validate_tls(
    keys: &ListenerKeys<'_>,
    listeners: &[ListenerConfig],
) -> Result<Option<TlsConfig>, ConfigError> {
    let tls_bad = |reason: &str| ConfigError::BadTls {
        reason: reason.to_owned(),
    };
    let client_auth = match keys.ssl_client_auth {
        None => ClientAuth::None,
        Some(text) => ClientAuth::parse(text)
            .ok_or_else(|| tls_bad("ssl_client_auth: expected required, requested or none"))?,
    };
    let wanted = listeners
        .iter()
        .any(|listener| listener.protocol.uses_tls());
    let (cert, key) = match (keys.tls_cert, keys.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) if wanted => return Err(tls_bad("a TLS listener needs tls_cert and tls_key")),
        (None, None) => return Ok(None),
        _ => return Err(tls_bad("tls_cert and tls_key go together")),
    };
    if client_auth != ClientAuth::None && keys.tls_client_ca.is_none() {
        return Err(tls_bad("ssl_client_auth needs tls_client_ca"));
    }
    Ok(Some(TlsConfig {
        cert,
        key,
        client_ca: keys.tls_client_ca.cloned(),
        client_auth,
        changes: keys.certificate_changes,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn resolve(_: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
        text.parse().map_err(|_| bad(text, "unparsable"))
    }

    fn keys<'a>(listeners: &'a [String], advertised: &'a [String]) -> ListenerKeys<'a> {
        ListenerKeys {
            listen: None,
            listeners: Some(listeners),
            advertise: None,
            advertised_listeners: Some(advertised),
            protocol_map: Some("EXTERNAL:SASL_SSL"),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            ssl_client_auth: None,
            certificate_changes: CertificateChanges::default(),
        }
    }

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| (*text).to_owned()).collect()
    }

    #[test]
    fn names_protocols_and_advertised_addresses() {
        let listeners = strings(&[
            "127.0.0.1:9092",
            "ssl://127.0.0.1:9093",
            "EXTERNAL://0.0.0.0:9094",
        ]);
        let advertised = strings(&["EXTERNAL://broker.example:19094"]);
        let parsed = validate_listeners(&keys(&listeners, &advertised), resolve).unwrap();
        let summary: Vec<_> = parsed
            .iter()
            .map(|l| (l.name.as_str(), l.protocol, l.advertise.port))
            .collect();
        assert_eq!(
            summary,
            [
                ("PLAINTEXT", SecurityProtocol::Plaintext, 9092),
                ("SSL", SecurityProtocol::Ssl, 9093),
                ("EXTERNAL", SecurityProtocol::SaslSsl, 19094),
            ]
        );
        assert!(check_inter_broker(&parsed, true, false).is_ok());
        assert!(check_inter_broker(parsed.get(1..).unwrap(), true, false).is_err());
        assert!(check_inter_broker(parsed.get(1..).unwrap(), false, false).is_ok());
        // The first PLAINTEXT listener is the primary one, wherever it was given.
        let tls_first = strings(&["SSL://127.0.0.1:9093", "127.0.0.1:9092"]);
        let none: Vec<String> = Vec::new();
        let parsed = validate_listeners(&keys(&tls_first, &none), resolve).unwrap();
        let names: Vec<_> = parsed.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["PLAINTEXT", "SSL"]);
        // TLS listeners need a certificate.
        assert!(matches!(
            validate_tls(&keys(&listeners, &advertised), &parsed),
            Err(ConfigError::BadTls { .. })
        ));
    }

    #[test]
    fn refuses_unknown_names_duplicates_and_unadvertised_wildcards() {
        let none: Vec<String> = Vec::new();
        for bad_set in [
            strings(&["OTHER://127.0.0.1:9092"]),
            strings(&["127.0.0.1:9092", "PLAINTEXT://127.0.0.1:9093"]),
            strings(&["127.0.0.1:9092", "SSL://127.0.0.1:9092"]),
            strings(&["EXTERNAL://0.0.0.0:9094"]),
            strings(&["127.0.0.1:0"]),
        ] {
            let result = validate_listeners(&keys(&bad_set, &none), resolve);
            assert!(result.is_err(), "{bad_set:?} accepted");
        }
    }
}
