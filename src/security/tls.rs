//! TLS for the SSL and SASL_SSL listeners: the rustls server configuration built from the PEM
//! files of `[tls]` (certificate chain, key, client CA), the client-certificate policy
//! (Kafka's `ssl.client.auth`), its reload on SIGHUP, and the principal a client certificate
//! names (Kafka's default `ssl.principal.mapping.rules`: the subject's full X.500 name in
//! RFC 2253 form, `User:CN=alice,OU=eng,O=example`).
//!
//! Also the client side a broker dials other brokers with ([`client_config`]), which the
//! admin CLI's client uses too ([`client_config_from`]).
//!
//! A reload is refused, old configuration kept, when the new leaf certificate names another
//! subject or drops a subject alternative name and `[tls]` does not allow it (Kafka's KIP-978
//! checks, `certificate.rs`).
//!
//! Not here: the handshake and the encrypted stream (`net/tls.rs`), which take the current
//! configuration from [`TlsContext::current`] at each accept.
//!
//! Shared by every shard (`Arc<TlsContext>`, `Send + Sync`): shards read the configuration at
//! accept; the SIGHUP thread `main` starts swaps it (blocking file reads happen there, never
//! on a shard). That thread reloads every [`Reload`] it is given: these listeners' context and
//! the controller channel's (`security/controller.rs`), each through a [`Swap`].
//! Protocol versions: TLS 1.3 and 1.2, rustls's safe cipher suites (ring provider).
use super::Principal;
use super::certificate::{CertificateNames, NamesChanged, ServedNames, Unparsable};
use crate::config::{ClientAuth, InterBrokerTls, TlsConfig};
use crate::limits;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] crate::config::FileReadError),
    #[error("{path}: no PEM {what} in it")]
    Missing { path: PathBuf, what: &'static str },
    #[error("{path}: bad PEM: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("client CA {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    #[error("rustls refused the configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{path}: {source}")]
    Unparsable { path: PathBuf, source: Unparsable },
    /// A reload refused by the KIP-978 checks.
    #[error(transparent)]
    NamesChanged(#[from] NamesChanged),
}

/// The configuration new handshakes take, replaced whole on reload: readers clone an `Arc`
/// and keep it for their connection, so a reload never touches an open one (as Kafka's
/// dynamic `ssl.*` reconfiguration leaves established connections alone).
#[derive(Debug)]
pub struct Swap<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Swap<T> {
    #[must_use]
    pub fn new(first: Arc<T>) -> Self {
        Self {
            current: RwLock::new(first),
        }
    }

    /// What a new handshake uses.
    #[must_use]
    pub fn current(&self) -> Arc<T> {
        // A poisoned lock still holds a whole `Arc`: the writer only swaps it.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces what new handshakes use.
    pub fn replace(&self, next: Arc<T>) {
        let previous = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            next,
        );
        // Dropped outside the lock: the last reference may free a whole configuration.
        drop(previous);
    }
}

/// A TLS configuration built from files that SIGHUP re-reads: all of them are read and
/// checked first, then swapped in together; on any error the old configuration stays.
pub trait Reload: Send + Sync {
    /// What the log lines name (`listeners`, `controller channel`).
    fn what(&self) -> &'static str;

    /// Re-reads the files and swaps the new configuration in.
    ///
    /// # Errors
    /// An unreadable or malformed file, a key that does not match: nothing changed.
    fn reload(&self) -> Result<(), TlsError>;
}

/// The TLS configuration every shard's TLS listeners use, swapped whole on reload.
#[derive(Debug)]
pub struct TlsContext {
    settings: TlsConfig,
    current: Swap<rustls::ServerConfig>,
    /// The served certificate's names, checked at each reload.
    names: ServedNames,
}

impl TlsContext {
    /// Reads the PEM files of `settings` and builds the first configuration.
    ///
    /// # Errors
    /// Unreadable or malformed files, a key that does not match, see [`TlsError`].
    pub fn load(settings: TlsConfig) -> Result<Self, TlsError> {
        let (config, names) = served(&settings)?;
        Ok(Self {
            names: ServedNames::new(names, settings.changes),
            settings,
            current: Swap::new(config),
        })
    }

    /// The configuration new connections get (a reload never affects open ones).
    #[must_use]
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current.current()
    }

    /// Kafka's `ssl.client.auth` of these listeners.
    #[must_use]
    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }
}

impl Reload for TlsContext {
    fn what(&self) -> &'static str {
        "listeners"
    }

    /// Re-reads the PEM files; on success new connections get the new certificate, on
    /// failure (a bad file, or a change of names not allowed) the old configuration stays.
    fn reload(&self) -> Result<(), TlsError> {
        let (config, names) = served(&self.settings)?;
        self.names.replace(names, || self.current.replace(config))?;
        Ok(())
    }
}

/// Blocks SIGHUP in the calling thread (and so in every thread it starts afterwards: call it
/// before the shards start) and starts a thread that reloads each of `targets` at each SIGHUP,
/// as Kafka reloads `ssl.keystore.location` and `ssl.truststore.location` on a dynamic config
/// update. A failed reload is logged and keeps that target's old configuration; the others
/// still reload.
///
/// # Errors
/// The thread could not be started.
///
/// # Panics
/// When `targets` is empty (nothing would reload: the caller leaves SIGHUP alone then).
pub fn reload_on_sighup(targets: Vec<Arc<dyn Reload>>) -> std::io::Result<()> {
    assert!(
        !targets.is_empty(),
        "a SIGHUP thread with nothing to reload"
    );
    // SAFETY: sigemptyset initialises the zeroed set; SIGHUP is a valid signal number; a null
    // old-set pointer is allowed.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGHUP);
        let result = libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        assert_eq!(result, 0, "pthread_sigmask failed: {result}");
        set
    };
    std::thread::Builder::new()
        .name("tls-reload".to_owned())
        .spawn(move || {
            // Runs for the life of the process by design: one wait per SIGHUP.
            loop {
                let mut signal: libc::c_int = 0;
                // SAFETY: `set` is initialised and `signal` is a valid out pointer.
                let result = unsafe { libc::sigwait(&raw const set, &raw mut signal) };
                if result != 0 {
                    // Only EINVAL (a bad set), which cannot change: stop reloading.
                    tracing::error!(result, "sigwait failed; SIGHUP reload off");
                    return;
                }
                reload_all(&targets);
            }
        })
        .map(drop)
}

/// One SIGHUP: every target, each on its own (one bad file does not stop the others).
fn reload_all(targets: &[Arc<dyn Reload>]) {
    for target in targets {
        let what = target.what();
        match target.reload() {
            Ok(()) => tracing::info!(what, "SIGHUP: {what} TLS certificate reloaded"),
            Err(error) => {
                tracing::error!(what, %error, "SIGHUP: {what} TLS reload failed; old kept");
            }
        }
    }
}

/// A PEM file, bounded by `PEM_FILE_SIZE_MAX`.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    Ok(crate::config::read_file_bounded(
        path,
        limits::PEM_FILE_SIZE_MAX,
    )?)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Missing {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certificates)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Missing {
            path: path.to_owned(),
            what: "private key",
        },
        other => TlsError::Pem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// The client-certificate verifier `ssl.client.auth` asks for.
fn client_verifier(
    settings: &TlsConfig,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let path = match (&settings.client_ca, settings.client_auth) {
        (_, ClientAuth::None) | (None, _) => {
            return Ok(rustls::server::WebPkiClientVerifier::no_client_auth());
        }
        (Some(path), _) => path,
    };
    let ca_error = |reason: String| TlsError::ClientCa {
        path: path.clone(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(path)? {
        roots
            .add(certificate)
            .map_err(|error| ca_error(error.to_string()))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(provider),
    );
    let builder = match settings.client_auth {
        ClientAuth::Requested => builder.allow_unauthenticated(),
        ClientAuth::Required | ClientAuth::None => builder,
    };
    builder.build().map_err(|error| ca_error(error.to_string()))
}

/// Builds the rustls server configuration from the PEM files.
///
/// # Errors
/// See [`TlsError`].
pub fn server_config(settings: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    served(settings).map(|(config, _)| config)
}

/// [`server_config`] and the names of the leaf certificate it serves (read from the same
/// bytes, so the names checked are the names served).
///
/// # Errors
/// See [`TlsError`]; `Unparsable` when the leaf is not X.509 that `x509-parser` reads.
pub(super) fn served(
    settings: &TlsConfig,
) -> Result<(Arc<rustls::ServerConfig>, CertificateNames), TlsError> {
    // ring, not aws-lc-rs: no C/cmake build in the broker; the cost is no post-quantum key
    // exchange (the reason rustls deprecated this function), which Kafka clients lack too.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&settings.cert)?;
    // `certificates` returns at least one: the leaf comes first.
    let leaf = chain.first().expect("a chain without a certificate");
    let names = CertificateNames::of(leaf).map_err(|source| TlsError::Unparsable {
        path: settings.cert.clone(),
        source,
    })?;
    let key = private_key(&settings.key)?;
    let verifier = client_verifier(settings, &provider)?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    Ok((Arc::new(config), names))
}

/// The rustls client configuration a broker dials the inter-broker listener with: trusting
/// `settings.ca` only (server names checked against the address dialled, as Kafka's default
/// `ssl.endpoint.identification.algorithm=https`), presenting `settings.identity` for mTLS.
///
/// # Errors
/// See [`TlsError`].
pub fn client_config(settings: &InterBrokerTls) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let identity = settings
        .identity
        .as_ref()
        .map(|(cert, key)| (cert.as_path(), key.as_path()));
    client_config_from(&settings.ca, identity)
}

/// A rustls client configuration trusting the PEM CA file `ca` only, presenting the PEM
/// certificate chain and key `identity` when given (mTLS): the inter-broker dialer's and the
/// admin CLI's (`--command-config`'s `ssl.ca.location`, `ssl.certificate.location`,
/// `ssl.key.location`).
///
/// # Errors
/// See [`TlsError`].
pub fn client_config_from(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    #[allow(deprecated)] // ring, as `server_config` explains
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(ca)? {
        roots.add(certificate).map_err(|error| TlsError::ClientCa {
            path: ca.to_owned(),
            reason: error.to_string(),
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            builder.with_client_auth_cert(certificates(cert)?, private_key(key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name a TLS client checks the server's certificate against: the host of `address`
/// (`HOST:PORT`, an IPv6 host in brackets), a DNS name or an IP address.
///
/// # Errors
/// `InvalidInput` when the host is neither.
pub fn server_name(address: &str) -> std::io::Result<rustls::pki_types::ServerName<'static>> {
    let (host, _) = address.rsplit_once(':').unwrap_or((address, ""));
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    rustls::pki_types::ServerName::try_from(host)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))
}

/// The principal a verified client certificate names: `User:` and the subject's X.500 name
/// as Java's `X500Principal.getName()` writes it (RFC 2253: last RDN first, `,` between
/// RDNs, `+` inside one, special characters escaped). `None` when the certificate does not
/// parse (rustls verified it, so this does not happen for a chain it accepted).
#[must_use]
pub fn principal_from_certificate(der: &[u8]) -> Option<Principal> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Principal::user(&rfc2253(certificate.subject())))
}

/// An X.500 name as Java's `X500Principal.getName()` writes it (RFC 2253).
pub(super) fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    let value = attribute.as_str().map_or_else(
                        |_| format!("#{}", hex(attribute.as_slice())),
                        escape_rfc2253,
                    );
                    format!("{}={value}", attribute_keyword(&oid).unwrap_or(&oid))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    let name: Vec<&str> = rdns.iter().rev().map(String::as_str).collect();
    name.join(",")
}

/// RFC 2253's keywords (the ones Java writes by name); other types are written as OIDs.
fn attribute_keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 §2.4: `,+"\<>;` escaped, and a leading `#` or space or a trailing space.
fn escape_rfc2253(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (index, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && (c == '#' || c == ' '))
            || (index == last && c == ' ');
        if special {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc2253_specials() {
        assert_eq!(escape_rfc2253("alice"), "alice");
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253("#x "), "\\#x\\ ");
    }

    #[test]
    fn principal_is_the_subject_last_rdn_first_as_java_writes_it() {
        use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example, Inc");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "eng");
        params.distinguished_name.push(DnType::CommonName, "alice");
        let certificate = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let principal = principal_from_certificate(certificate.der()).unwrap();
        assert_eq!(
            principal.to_string(),
            "User:CN=alice,OU=eng,O=Example\\, Inc,C=US"
        );
        assert_eq!(principal_from_certificate(b"not a certificate"), None);
    }

    /// Writes a self-signed certificate for `common_name` naming `localhost` and its key.
    fn write_identity(dir: &Path, common_name: &str) {
        use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("server.pem"), certificate.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    }

    fn settings(dir: &Path, changes: crate::config::CertificateChanges) -> TlsConfig {
        TlsConfig {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: None,
            client_auth: ClientAuth::None,
            changes,
        }
    }

    #[test]
    fn a_reload_to_another_subject_keeps_the_old_configuration_unless_allowed() {
        use crate::config::CertificateChanges;
        let dir = tempfile::TempDir::new().unwrap();
        write_identity(dir.path(), "broker1");
        let refusing = TlsContext::load(settings(dir.path(), CertificateChanges::default()));
        let refusing = refusing.unwrap();
        let allowing = CertificateChanges {
            dn_allowed: true,
            san_allowed: false,
        };
        let allowing = TlsContext::load(settings(dir.path(), allowing)).unwrap();
        let before = (refusing.current(), allowing.current());
        // Reissued for the same subject: both reload.
        write_identity(dir.path(), "broker1");
        refusing.reload().unwrap();
        allowing.reload().unwrap();
        assert!(!Arc::ptr_eq(&before.0, &refusing.current()));
        let reissued = refusing.current();
        write_identity(dir.path(), "broker2");
        let error = refusing.reload().unwrap_err();
        assert!(matches!(error, TlsError::NamesChanged(_)), "{error}");
        assert!(
            error.to_string().contains("CN=broker1 to CN=broker2"),
            "{error}"
        );
        assert!(
            Arc::ptr_eq(&reissued, &refusing.current()),
            "swapped anyway"
        );
        assert_eq!(refusing.names.subject(), "CN=broker1");
        allowing.reload().unwrap();
        assert_eq!(allowing.names.subject(), "CN=broker2");
    }

    #[test]
    fn keywords_cover_the_common_attributes() {
        assert_eq!(attribute_keyword("2.5.4.3"), Some("CN"));
        assert_eq!(attribute_keyword("1.2.840.113549.1.9.1"), None);
    }
}
