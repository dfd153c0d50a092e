//! `--command-config FILE`: the client properties an admin command connects with, as Kafka's
//! tools take them (`kafka-topics.sh --command-config`), with librdkafka's names for the PEM
//! files (Java's keystores are JKS/PKCS12, which we do not read).
//!
//! ```text
//! security.protocol=SASL_SSL          PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
//! ssl.ca.location=ca.pem              PEM CA the broker's certificate chains to (SSL, SASL_SSL)
//! ssl.certificate.location=me.pem     PEM certificate for mTLS, with ssl.key.location
//! ssl.key.location=me.key
//! ssl.endpoint.identification.algorithm=https   the only value (the broker's name is checked)
//! sasl.mechanism=SCRAM-SHA-512        PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 (librdkafka's
//!                                     sasl.mechanisms is the same key)
//! sasl.username=admin
//! sasl.password=admin-secret
//! ```
//!
//! Format: Java properties without escapes or continued lines: one `key=value` (or
//! `key: value`) a line, blanks around both trimmed, `#` and `!` comment lines, the last value
//! of a key wins. A key not in the table is an error naming it (a typo must not silently
//! leave a connection unsecured); Java-only keys (`sasl.jaas.config`, keystores) get a hint
//! with the key to use instead.
//!
//! Runs on the main thread of the admin process, before any connection; reads the PEM files.
use super::CliError;
use crate::client::security::{ClientSecurity, ClientTlsError, SaslLogin, TlsFiles, tls_config};
use crate::config::Password;
use crate::limits;
use crate::security::SecurityProtocol;
use crate::security::sasl::SaslMechanism;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every key a command config may hold.
const KEYS: [&str; 9] = [
    "security.protocol",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
];

/// Java client keys with no meaning here, and what to write instead.
const JAVA_KEYS: [(&str, &str); 6] = [
    ("sasl.jaas.config", "sasl.username and sasl.password"),
    ("ssl.truststore.location", "ssl.ca.location (a PEM file)"),
    ("ssl.truststore.password", "ssl.ca.location (a PEM file)"),
    ("ssl.truststore.type", "ssl.ca.location (a PEM file)"),
    (
        "ssl.keystore.location",
        "ssl.certificate.location and ssl.key.location (PEM)",
    ),
    (
        "ssl.keystore.password",
        "ssl.certificate.location and ssl.key.location (PEM)",
    ),
];

/// Why a command config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CommandConfigError {
    #[error(transparent)]
    File(#[from] crate::config::FileReadError),
    #[error("{path}: not UTF-8: {source}")]
    NotText {
        path: PathBuf,
        source: std::string::FromUtf8Error,
    },
    #[error("{path} line {line}: no '=' or ':' between key and value")]
    Syntax { path: PathBuf, line: usize },
    #[error("{path}: unknown key {key:?}{}", hint_text(.hint))]
    UnknownKey {
        path: PathBuf,
        key: String,
        hint: Option<&'static str>,
    },
    #[error("{path}: {key}={value:?} is not {expected}")]
    BadValue {
        path: PathBuf,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{path}: {reason}")]
    Inconsistent { path: PathBuf, reason: String },
    #[error("{path}: TLS files: {source}")]
    Tls {
        path: PathBuf,
        source: crate::security::tls::TlsError,
    },
}

fn hint_text(hint: &Option<&'static str>) -> String {
    hint.map(|instead| format!(" (a Java client key: use {instead})"))
        .unwrap_or_default()
}

/// Reads `path` and builds the security it describes.
///
/// # Errors
/// See [`CommandConfigError`].
pub fn load(path: &Path) -> Result<ClientSecurity, CliError> {
    let text = read(path)?;
    let properties = parse(path, &text)?;
    Ok(security(path, &properties)?)
}

fn read(path: &Path) -> Result<String, CommandConfigError> {
    let bytes = crate::config::read_file_bounded(path, limits::COMMAND_CONFIG_FILE_SIZE_MAX)?;
    String::from_utf8(bytes).map_err(|source| CommandConfigError::NotText {
        path: path.to_owned(),
        source,
    })
}

/// The key → value pairs of `text`, every key checked against [`KEYS`].
fn parse(path: &Path, text: &str) -> Result<BTreeMap<&'static str, String>, CommandConfigError> {
    let mut properties = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).ok_or(CommandConfigError::Syntax {
            path: path.to_owned(),
            line: index + 1,
        })?;
        let key = line.get(..split).unwrap_or_default().trim();
        let value = line.get(split + 1..).unwrap_or_default().trim();
        let Some(known) = KEYS.iter().find(|known| **known == key) else {
            let hint = JAVA_KEYS
                .iter()
                .find(|(java, _)| *java == key)
                .map(|(_, instead)| *instead);
            return Err(CommandConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.to_owned(),
                hint,
            });
        };
        // librdkafka's plural spelling is the same setting.
        let known = if *known == "sasl.mechanisms" {
            "sasl.mechanism"
        } else {
            known
        };
        properties.insert(known, value.to_owned());
    }
    Ok(properties)
}

/// The security `properties` describe, checked for consistency.
fn security(
    path: &Path,
    properties: &BTreeMap<&'static str, String>,
) -> Result<ClientSecurity, CommandConfigError> {
    let get = |key: &str| properties.get(key).map(String::as_str);
    let inconsistent = |reason: String| CommandConfigError::Inconsistent {
        path: path.to_owned(),
        reason,
    };
    let protocol = match get("security.protocol") {
        None => SecurityProtocol::Plaintext,
        Some(value) => {
            SecurityProtocol::parse(value).ok_or_else(|| CommandConfigError::BadValue {
                path: path.to_owned(),
                key: "security.protocol",
                value: value.to_owned(),
                expected: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            })?
        }
    };
    let tls = tls(path, protocol, properties)?;
    let sasl_keys = ["sasl.mechanism", "sasl.username", "sasl.password"];
    if !protocol.uses_sasl() {
        if let Some(key) = sasl_keys.iter().find(|key| get(key).is_some()) {
            return Err(inconsistent(format!(
                "{key} with security.protocol={} (SASL needs SASL_PLAINTEXT or SASL_SSL)",
                protocol.name()
            )));
        }
        return Ok(ClientSecurity::new(protocol, tls, None));
    }
    let missing = sasl_keys
        .iter()
        .find(|key| get(key).is_none_or(str::is_empty));
    if let Some(key) = missing {
        return Err(inconsistent(format!(
            "security.protocol={} needs {key}",
            protocol.name()
        )));
    }
    let mechanism = get("sasl.mechanism").unwrap_or_default();
    let mechanism =
        SaslMechanism::parse(mechanism).ok_or_else(|| CommandConfigError::BadValue {
            path: path.to_owned(),
            key: "sasl.mechanism",
            value: mechanism.to_owned(),
            expected: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        })?;
    let login = SaslLogin {
        mechanism,
        user: get("sasl.username").unwrap_or_default().to_owned(),
        password: Password::from(get("sasl.password").unwrap_or_default().to_owned()),
    };
    Ok(ClientSecurity::new(protocol, tls, Some(login)))
}

/// The TLS configuration of the `ssl.*` keys, `None` for the protocols without TLS (the
/// files and their combinations are `client::security`'s, shared with ringbench).
fn tls(
    path: &Path,
    protocol: SecurityProtocol,
    properties: &BTreeMap<&'static str, String>,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, CommandConfigError> {
    let get = |key: &str| properties.get(key).map(String::as_str);
    let algorithm = get("ssl.endpoint.identification.algorithm");
    if algorithm.is_some() && !protocol.uses_tls() {
        return Err(CommandConfigError::Inconsistent {
            path: path.to_owned(),
            reason: format!(
                "ssl.endpoint.identification.algorithm with security.protocol={} (TLS needs \
                 SSL or SASL_SSL)",
                protocol.name()
            ),
        });
    }
    if let Some(value) = algorithm.filter(|value| !value.eq_ignore_ascii_case("https")) {
        return Err(CommandConfigError::BadValue {
            path: path.to_owned(),
            key: "ssl.endpoint.identification.algorithm",
            value: value.to_owned(),
            expected: "https (the broker's certificate must name the host dialled)",
        });
    }
    let files = TlsFiles {
        ca: get("ssl.ca.location").map(PathBuf::from),
        certificate: get("ssl.certificate.location").map(PathBuf::from),
        key: get("ssl.key.location").map(PathBuf::from),
    };
    tls_config(protocol, &files).map_err(|error| match error {
        ClientTlsError::Files(source) => CommandConfigError::Tls {
            path: path.to_owned(),
            source,
        },
        other => CommandConfigError::Inconsistent {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<ClientSecurity, CommandConfigError> {
        let path = Path::new("client.properties");
        let properties = parse(path, text)?;
        security(path, &properties)
    }

    #[test]
    fn sasl_plaintext_with_comments_colons_and_the_plural_mechanism_key() {
        let security = load_text(
            "# admin\n! also a comment\n\nsecurity.protocol = sasl_plaintext\n\
             sasl.mechanisms: SCRAM-SHA-256\nsasl.username=admin\nsasl.password=a=b:c\n",
        )
        .unwrap();
        assert_eq!(security.protocol(), SecurityProtocol::SaslPlaintext);
        assert!(security.tls().is_none());
        let login = security.sasl().unwrap();
        assert_eq!(login.mechanism.name(), "SCRAM-SHA-256");
        assert_eq!(login.user, "admin");
        // Only the first separator splits: the password keeps its '=' and ':'.
        assert_eq!(login.password.expose(), "a=b:c");
        assert!(load_text("").unwrap().protocol() == SecurityProtocol::Plaintext);
    }

    #[test]
    fn unknown_and_java_keys_are_named() {
        let error = load_text("security.protocol=SSL\nssl.ca.locaton=ca.pem\n").unwrap_err();
        assert!(
            error.to_string().contains("unknown key \"ssl.ca.locaton\""),
            "{error}"
        );
        let error = load_text("sasl.jaas.config=x required;\n").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("sasl.jaas.config") && text.contains("sasl.username"),
            "{text}"
        );
        assert!(matches!(
            load_text("no separator here\n"),
            Err(CommandConfigError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let refused = [
            ("security.protocol=TLS\n", "security.protocol"),
            ("sasl.username=admin\n", "sasl.username"),
            (
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n",
                "sasl.username",
            ),
            (
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\n\
                 sasl.username=a\nsasl.password=b\n",
                "GSSAPI",
            ),
            ("security.protocol=SSL\n", "ssl.ca.location"),
            ("ssl.ca.location=ca.pem\n", "ssl.ca.location"),
            (
                "security.protocol=SSL\nssl.ca.location=ca.pem\nssl.key.location=k.pem\n",
                "go together",
            ),
            (
                "security.protocol=SSL\nssl.ca.location=ca.pem\n\
                 ssl.endpoint.identification.algorithm=none\n",
                "https",
            ),
        ];
        for (text, named) in refused {
            let error = load_text(text).unwrap_err().to_string();
            assert!(error.contains(named), "{text:?}: {error}");
        }
        // A CA file that does not exist is an error naming it.
        let error = load_text("security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }
}
