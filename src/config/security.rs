//! Security settings of a config: the listener's protocol (`--listen PROTOCOL://HOST:PORT`,
//! PLAINTEXT when no protocol is named) and the SASL knobs (`[sasl]` in TOML,
//! `--sasl-mechanisms`, `--sasl-plain-on-plaintext`, `--connections-max-reauth-ms`).
//!
//! [`SecurityProtocol`] is defined here, the lowest layer that names it, and re-exported as
//! `security::SecurityProtocol` for every layer above. Mechanism names are validated here
//! against Kafka's names; `security::sasl` turns them into mechanisms.
//!
//! Runs in `main` before any shard exists.
use super::ConfigError;
use crate::limits::CONNECTIONS_MAX_REAUTH_MS_MAX;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A listener's security protocol, as Kafka names it (`listener.security.protocol.map`).
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

/// Splits an optional `PROTOCOL://` prefix off a listener (`SASL_PLAINTEXT://host:9092`).
///
/// # Errors
/// `BadAddress` for a prefix that names no protocol.
pub fn split_listener_protocol<'a>(
    field: &'static str,
    text: &'a str,
) -> Result<(SecurityProtocol, &'a str), ConfigError> {
    let Some((name, address)) = text.split_once("://") else {
        return Ok((SecurityProtocol::Plaintext, text));
    };
    let protocol = SecurityProtocol::parse(name).ok_or_else(|| ConfigError::BadAddress {
        field,
        value: text.to_owned(),
        reason: "the protocol is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".to_owned(),
    })?;
    Ok((protocol, address))
}

/// The SASL mechanism names this broker implements (Kafka's spelling).
pub const SASL_MECHANISM_NAMES: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// `[sasl]` of a config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslFile {
    /// Kafka's `sasl.enabled.mechanisms` (default: all three).
    pub mechanisms: Option<Vec<String>>,
    /// Allow PLAIN on SASL_PLAINTEXT listeners, where the password crosses the network in
    /// clear (default false: PLAIN only under TLS).
    pub plain_on_plaintext: Option<bool>,
    /// Kafka's `connections.max.reauth.ms`: 0 (default) = sessions never expire.
    pub connections_max_reauth_ms: Option<u64>,
}

impl SaslFile {
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            mechanisms: other.mechanisms.or(self.mechanisms),
            plain_on_plaintext: other.plain_on_plaintext.or(self.plain_on_plaintext),
            connections_max_reauth_ms: other
                .connections_max_reauth_ms
                .or(self.connections_max_reauth_ms),
        }
    }
}

/// Validated SASL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// Enabled mechanism names, each one of [`SASL_MECHANISM_NAMES`], no duplicates.
    pub mechanisms: Vec<String>,
    pub plain_on_plaintext: bool,
    /// Session lifetime after a successful authentication; `None` = no expiry.
    pub connections_max_reauth: Option<Duration>,
}

impl Default for SaslConfig {
    fn default() -> Self {
        Self {
            mechanisms: SASL_MECHANISM_NAMES.map(str::to_owned).to_vec(),
            plain_on_plaintext: false,
            connections_max_reauth: None,
        }
    }
}

/// Checks `[sasl]`.
///
/// # Errors
/// An unknown or repeated mechanism, an empty list, or a reauth time above the limit.
pub fn validate_sasl(file: &SaslFile) -> Result<SaslConfig, ConfigError> {
    let defaults = SaslConfig::default();
    let mechanisms = file.mechanisms.clone().unwrap_or(defaults.mechanisms);
    let bad = |value: String| ConfigError::BadValue {
        flag: "sasl.mechanisms",
        value,
        expected: "non-empty list of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
    };
    if mechanisms.is_empty() {
        return Err(bad(String::new()));
    }
    for (index, name) in mechanisms.iter().enumerate() {
        let repeated = mechanisms.iter().take(index).any(|other| other == name);
        if repeated || !SASL_MECHANISM_NAMES.contains(&name.as_str()) {
            return Err(bad(name.clone()));
        }
    }
    let reauth_ms = file.connections_max_reauth_ms.unwrap_or(0);
    if reauth_ms > CONNECTIONS_MAX_REAUTH_MS_MAX {
        return Err(ConfigError::OutOfRange {
            field: "connections_max_reauth_ms",
            value: i128::from(reauth_ms),
            min: 0,
            max: i128::from(CONNECTIONS_MAX_REAUTH_MS_MAX),
        });
    }
    Ok(SaslConfig {
        mechanisms,
        plain_on_plaintext: file.plain_on_plaintext.unwrap_or(false),
        connections_max_reauth: (reauth_ms > 0).then(|| Duration::from_millis(reauth_ms)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn protocols_round_trip_their_kafka_names() {
        for name in ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] {
            let protocol = SecurityProtocol::parse(name).map(SecurityProtocol::name);
            assert_eq!(protocol, Some(name));
        }
        assert_eq!(
            SecurityProtocol::parse("sasl_ssl"),
            Some(SecurityProtocol::SaslSsl)
        );
        assert_eq!(SecurityProtocol::parse("TLS"), None);
    }

    #[test]
    fn listeners_take_an_optional_protocol_prefix() {
        let split = |text| split_listener_protocol("listen", text);
        assert_eq!(
            split("127.0.0.1:9092").unwrap(),
            (SecurityProtocol::Plaintext, "127.0.0.1:9092")
        );
        assert_eq!(
            split("SASL_PLAINTEXT://h:1").unwrap(),
            (SecurityProtocol::SaslPlaintext, "h:1")
        );
        assert!(split("KERBEROS://h:1").is_err());
    }

    #[test]
    fn sasl_settings_are_checked() {
        let default = validate_sasl(&SaslFile::default()).unwrap();
        assert_eq!(default, SaslConfig::default());
        let file = |names: &[&str]| SaslFile {
            mechanisms: Some(names.iter().map(|name| (*name).to_owned()).collect()),
            connections_max_reauth_ms: Some(500),
            ..SaslFile::default()
        };
        let chosen = validate_sasl(&file(&["SCRAM-SHA-512"])).unwrap();
        assert_eq!(chosen.mechanisms, ["SCRAM-SHA-512"]);
        assert_eq!(
            chosen.connections_max_reauth,
            Some(Duration::from_millis(500))
        );
        for bad in [&[][..], &["GSSAPI"], &["PLAIN", "PLAIN"], &["plain"]] {
            assert!(validate_sasl(&file(bad)).is_err(), "{bad:?}");
        }
    }
}
