//! Security of the controller channel: the metadata quorum's listener, where voters exchange
//! Raft RPCs and every broker registers, heartbeats and forwards changes to the active
//! controller (`cluster/quorum/network.rs`). Kafka secures it as a listener named in
//! `controller.listener.names`, mapped to SSL, with `listener.name.controller.ssl.*` (keystore,
//! truststore, `ssl.client.auth=required`) used by both its server side and the brokers that
//! dial it.
//!
//! ```text
//! --controller-tls-ca FILE      PEM CA every node's controller certificate chains to
//! --controller-tls-cert FILE    this node's certificate chain (presented as server and client)
//! --controller-tls-key FILE     its private key
//! ```
//! TOML: `[controller]` with `tls_ca`, `tls_cert`, `tls_key`. All three, or none (plaintext,
//! the default, as Kafka's `CONTROLLER:PLAINTEXT`).
//!
//! Flags of its own rather than the `--inter-broker-tls-*` ones: the controller channel is
//! always mutual TLS (every peer is a node, so every peer shows a certificate; the
//! inter-broker identity is optional and that listener may add SASL instead), it exists on
//! every node even with no inter-broker listener configured, and operators often give the
//! control plane a CA of its own (Kafka too keeps one `listener.name.controller.ssl.*` set
//! apart from the inter-broker listener's). The same files may be named in both.
//!
//! Every node of a cluster must use the same setting: a plaintext node cannot reach a TLS one.
//! Runs in `main` before any shard exists; only paths are checked here (the PEM files are read
//! by `security::controller` at start, which reports a bad file by name, and again on SIGHUP).
use super::ConfigError;
use super::inter_broker::InterBrokerTls;
use super::listeners::{CertificateChanges, ClientAuth, TlsConfig};
use serde::Deserialize;
use std::path::PathBuf;

/// `[controller]` of a config file (and its flags), unvalidated.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerFile {
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl ControllerFile {
    #[must_use]
    pub fn overlay(self, other: Self) -> Self {
        Self {
            tls_ca: other.tls_ca.or(self.tls_ca),
            tls_cert: other.tls_cert.or(self.tls_cert),
            tls_key: other.tls_key.or(self.tls_key),
        }
    }
}

/// A mutual-TLS controller channel: one identity, presented both ways, and the CA every
/// peer's identity must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// What a SIGHUP reload may change in this node's certificate's names (`[tls]`'s
    /// setting, shared with the client listeners).
    pub changes: CertificateChanges,
}

impl ControllerTls {
    /// The server side: this node's certificate, a client certificate from `ca` required.
    #[must_use]
    pub fn server_settings(&self) -> TlsConfig {
        TlsConfig {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: Some(self.ca.clone()),
            client_auth: ClientAuth::Required,
            changes: self.changes,
        }
    }

    /// The client side: trusting `ca` only, presenting this node's certificate.
    #[must_use]
    pub fn client_settings(&self) -> InterBrokerTls {
        InterBrokerTls {
            ca: self.ca.clone(),
            identity: Some((self.cert.clone(), self.key.clone())),
        }
    }
}

/// Checks `[controller]`: TLS needs all three files. `changes` is what a reload of the
/// node's certificate may change (`[tls]`'s KIP-978 keys).
///
/// # Errors
/// `BadTls` naming the missing keys when some but not all are given.
pub fn validate_controller(
    file: &ControllerFile,
    changes: CertificateChanges,
) -> Result<Option<ControllerTls>, ConfigError> {
    match (&file.tls_ca, &file.tls_cert, &file.tls_key) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => Ok(Some(ControllerTls {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
            changes,
        })),
        (ca, cert, key) => {
            let missing: Vec<&str> = [
                (ca.is_none(), "--controller-tls-ca (controller.tls_ca)"),
                (
                    cert.is_none(),
                    "--controller-tls-cert (controller.tls_cert)",
                ),
                (key.is_none(), "--controller-tls-key (controller.tls_key)"),
            ]
            .iter()
            .filter(|(absent, _)| *absent)
            .map(|(_, name)| *name)
            .collect();
            assert!(!missing.is_empty(), "some key is absent in this arm");
            Err(ConfigError::BadTls {
                reason: format!(
                    "a TLS controller channel needs a CA, a certificate and a key; missing {}",
                    missing.join(", ")
                ),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn file(ca: bool, cert: bool, key: bool) -> ControllerFile {
        ControllerFile {
            tls_ca: ca.then(|| "ca.pem".into()),
            tls_cert: cert.then(|| "node.pem".into()),
            tls_key: key.then(|| "node.key".into()),
        }
    }

    #[test]
    fn all_three_files_or_none() {
        let refused = CertificateChanges::default();
        assert_eq!(
            validate_controller(&file(false, false, false), refused).unwrap(),
            None
        );
        let allowed = CertificateChanges {
            dn_allowed: true,
            san_allowed: false,
        };
        let tls = validate_controller(&file(true, true, true), allowed)
            .unwrap()
            .unwrap();
        let server = tls.server_settings();
        assert_eq!(server.changes, allowed);
        assert_eq!(server.client_auth, ClientAuth::Required);
        assert_eq!(server.client_ca, Some(PathBuf::from("ca.pem")));
        let client = tls.client_settings();
        assert_eq!(
            client.identity,
            Some((PathBuf::from("node.pem"), PathBuf::from("node.key")))
        );
        for (ca, cert, key, named) in [
            (true, false, false, "--controller-tls-cert"),
            (false, true, true, "--controller-tls-ca"),
            (true, true, false, "--controller-tls-key"),
            (true, false, true, "--controller-tls-cert"),
        ] {
            let error = validate_controller(&file(ca, cert, key), refused).unwrap_err();
            let text = error.to_string();
            assert!(matches!(error, ConfigError::BadTls { .. }), "{text}");
            assert!(text.contains(named), "{text} should name {named}");
        }
    }
}
