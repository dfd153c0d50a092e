//! SASL settings of a config (`[sasl]` in TOML, `--sasl-mechanisms`,
//! `--sasl-plain-on-plaintext`, `--connections-max-reauth-ms`). Listener protocols
//! (`SecurityProtocol`) live with the listeners in `listeners.rs`. Mechanism names are
//! validated here against Kafka's names; `security::sasl` turns them into mechanisms.
//!
//! Runs in `main` before any shard exists.
use super::ConfigError;
use crate::limits::CONNECTIONS_MAX_REAUTH_MS_MAX;
use serde::Deserialize;
use std::time::Duration;

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
