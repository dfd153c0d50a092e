//! How this broker connects to other brokers' inter-broker listener (follower fetch): Kafka's
//! `inter.broker.listener.name` and the client side of that listener's security, which Kafka
//! spreads over `listener.name.NAME.ssl.truststore.*`, `ssl.keystore.*`,
//! `sasl.mechanism.inter.broker.protocol` and `listener.name.NAME.SASL.sasl.jaas.config`.
//!
//! ```text
//! --inter-broker-listener NAME           a listener of this broker (Kafka's security.inter.
//!                                        broker.protocol = the listener named by its protocol)
//! --inter-broker-tls-ca FILE             PEM CA that signs the brokers' certificates (TLS)
//! --inter-broker-tls-cert FILE --inter-broker-tls-key FILE   presented for mTLS (optional)
//! --inter-broker-sasl-mechanism M        SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
//! --inter-broker-sasl-user NAME --inter-broker-sasl-password-file FILE   (SASL listeners)
//! ```
//! TOML: `[inter_broker]` with `listener`, `tls_ca`, `tls_cert`, `tls_key`, `sasl_mechanism`,
//! `sasl_user`, `sasl_password_file`. Flat keys instead of a JAAS string: one login module
//! (ours) and a password kept in a file, not on the command line or in the config.
//!
//! The listener named becomes the primary one (registered as `CLIENT`), so every broker dials
//! the others there; all brokers of a cluster name the same listener, as in Kafka. Without it
//! inter-broker traffic is plaintext (Kafka's default `security.inter.broker.protocol`), and a
//! broker of a cluster needs a PLAINTEXT listener. Runs in `main` before any shard exists; the
//! password file is read here (first line, bounded).
use super::ConfigError;
use super::listeners::{ListenerConfig, SecurityProtocol};
use super::security::SASL_MECHANISM_NAMES;
use crate::limits;
use serde::Deserialize;
use std::fmt;
use std::io::Read as _;
use std::path::PathBuf;

/// `[inter_broker]` of a config file (and its flags), unvalidated.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterBrokerFile {
    pub listener: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub sasl_mechanism: Option<String>,
    pub sasl_user: Option<String>,
    pub sasl_password_file: Option<PathBuf>,
}

impl InterBrokerFile {
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            listener: other.listener.or(self.listener),
            tls_ca: other.tls_ca.or(self.tls_ca),
            tls_cert: other.tls_cert.or(self.tls_cert),
            tls_key: other.tls_key.or(self.tls_key),
            sasl_mechanism: other.sasl_mechanism.or(self.sasl_mechanism),
            sasl_user: other.sasl_user.or(self.sasl_user),
            sasl_password_file: other.sasl_password_file.or(self.sasl_password_file),
        }
    }

    fn is_empty(&self) -> bool {
        self.tls_ca.is_none()
            && self.tls_cert.is_none()
            && self.tls_key.is_none()
            && self.sasl_mechanism.is_none()
            && self.sasl_user.is_none()
            && self.sasl_password_file.is_none()
    }
}

/// A password that `Debug` never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    /// The first line of `text` (what a password file holds).
    fn from(text: String) -> Self {
        Self(text.lines().next().unwrap_or_default().to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The TLS client side: the CA the other brokers' certificates must chain to (and whose
/// names must match the address dialled), and this broker's own certificate for mTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterBrokerTls {
    pub ca: PathBuf,
    /// Certificate chain and key presented to the other broker.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The SASL login this broker presents to the other brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterBrokerSasl {
    /// One of [`SASL_MECHANISM_NAMES`].
    pub mechanism: String,
    pub user: String,
    pub password: Password,
}

/// The validated inter-broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterBrokerConfig {
    /// The listener's name (it is `listeners[0]`).
    pub listener: String,
    pub protocol: SecurityProtocol,
    pub tls: Option<InterBrokerTls>,
    pub sasl: Option<InterBrokerSasl>,
}

fn bad(reason: impl Into<String>) -> ConfigError {
    ConfigError::BadListener {
        value: "inter_broker".to_owned(),
        reason: reason.into(),
    }
}

/// Checks `[inter_broker]` against the listeners and moves the named one to the front.
///
/// # Errors
/// Keys without a listener, an unknown listener, TLS keys for a listener without TLS (or no CA
/// for one with it), SASL keys for a listener without SASL (or missing user or password for
/// one with it), an unknown mechanism, an unreadable or empty password file.
pub fn validate_inter_broker(
    file: &InterBrokerFile,
    listeners: &mut Vec<ListenerConfig>,
) -> Result<Option<InterBrokerConfig>, ConfigError> {
    let Some(name) = file.listener.as_deref() else {
        if !file.is_empty() {
            return Err(bad("inter_broker keys need inter_broker.listener"));
        }
        return Ok(None);
    };
    let name = name.to_ascii_uppercase();
    let index = listeners
        .iter()
        .position(|listener| listener.name == name)
        .ok_or_else(|| bad(format!("no listener named {name}")))?;
    let primary = listeners.remove(index);
    let protocol = primary.protocol;
    listeners.insert(0, primary);
    Ok(Some(InterBrokerConfig {
        listener: name,
        protocol,
        tls: validate_tls(file, protocol)?,
        sasl: validate_sasl(file, protocol)?,
    }))
}

fn validate_tls(
    file: &InterBrokerFile,
    protocol: SecurityProtocol,
) -> Result<Option<InterBrokerTls>, ConfigError> {
    let identity = match (&file.tls_cert, &file.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => return Err(bad("inter_broker tls_cert and tls_key go together")),
    };
    match (&file.tls_ca, protocol.uses_tls()) {
        (Some(ca), true) => Ok(Some(InterBrokerTls {
            ca: ca.clone(),
            identity,
        })),
        (None, true) => Err(bad("a TLS inter-broker listener needs inter_broker.tls_ca")),
        (None, false) if identity.is_none() => Ok(None),
        _ => Err(bad("inter_broker TLS keys for a listener without TLS")),
    }
}

fn validate_sasl(
    file: &InterBrokerFile,
    protocol: SecurityProtocol,
) -> Result<Option<InterBrokerSasl>, ConfigError> {
    let given = file.sasl_user.is_some()
        || file.sasl_password_file.is_some()
        || file.sasl_mechanism.is_some();
    if !protocol.uses_sasl() {
        if given {
            return Err(bad("inter_broker SASL keys for a listener without SASL"));
        }
        return Ok(None);
    }
    let mechanism = file
        .sasl_mechanism
        .clone()
        .unwrap_or_else(|| "SCRAM-SHA-512".to_owned());
    if !SASL_MECHANISM_NAMES.contains(&mechanism.as_str()) {
        return Err(bad(format!(
            "unknown inter_broker.sasl_mechanism {mechanism}"
        )));
    }
    let (Some(user), Some(path)) = (&file.sasl_user, &file.sasl_password_file) else {
        return Err(bad(
            "a SASL inter-broker listener needs sasl_user and sasl_password_file",
        ));
    };
    Ok(Some(InterBrokerSasl {
        mechanism,
        user: user.clone(),
        password: read_password(path)?,
    }))
}

/// The first line of `path`, read up to `PASSWORD_FILE_SIZE_MAX` bytes.
fn read_password(path: &PathBuf) -> Result<Password, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.clone(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read_error)?
        .take(limits::PASSWORD_FILE_SIZE_MAX)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(bad("inter_broker.sasl_password_file has no password"));
    }
    Ok(Password(line.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::config::schema::Advertised;

    fn listener(name: &str, protocol: SecurityProtocol, port: u16) -> ListenerConfig {
        ListenerConfig {
            name: name.to_owned(),
            protocol,
            address: ([127, 0, 0, 1], port).into(),
            advertise: Advertised {
                host: "127.0.0.1".to_owned(),
                port,
            },
        }
    }

    #[test]
    fn the_named_listener_goes_first_with_its_client_side_settings() {
        let dir = tempfile::TempDir::new().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret\nignored\n").unwrap();
        let mut listeners = vec![
            listener("PLAINTEXT", SecurityProtocol::Plaintext, 9092),
            listener("SASL_SSL", SecurityProtocol::SaslSsl, 9093),
        ];
        let file = InterBrokerFile {
            listener: Some("sasl_ssl".to_owned()),
            tls_ca: Some("ca.pem".into()),
            sasl_user: Some("broker".to_owned()),
            sasl_password_file: Some(password),
            ..InterBrokerFile::default()
        };
        let config = validate_inter_broker(&file, &mut listeners)
            .unwrap()
            .unwrap();
        assert_eq!(listeners.first().unwrap().name, "SASL_SSL");
        let sasl = config.sasl.unwrap();
        assert_eq!(
            (sasl.mechanism.as_str(), sasl.password.expose()),
            ("SCRAM-SHA-512", "s3cret")
        );
        assert!(!format!("{sasl:?}").contains("s3cret"));
        assert_eq!(config.tls.unwrap().ca, PathBuf::from("ca.pem"));
        // Missing pieces, keys of the wrong protocol, unknown names are refused.
        let refused = [
            InterBrokerFile {
                sasl_user: None,
                ..file.clone()
            },
            InterBrokerFile {
                tls_ca: None,
                ..file.clone()
            },
            InterBrokerFile {
                listener: Some("PLAINTEXT".to_owned()),
                ..file.clone()
            },
            InterBrokerFile {
                listener: Some("OTHER".to_owned()),
                ..file.clone()
            },
            InterBrokerFile {
                listener: None,
                ..file.clone()
            },
            InterBrokerFile {
                sasl_mechanism: Some("GSSAPI".to_owned()),
                ..file
            },
        ];
        for file in refused {
            assert!(
                validate_inter_broker(&file, &mut listeners).is_err(),
                "{file:?}"
            );
        }
    }
}
