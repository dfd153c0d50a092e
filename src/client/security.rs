//! The security a client connection runs before its first request, as Kafka clients configure
//! it (`security.protocol` and the `ssl.*` / `sasl.*` properties): TLS trusting one CA, with a
//! client certificate for mTLS, then a SASL login (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
//!
//! The crypto is the broker's own: the rustls client configuration is `security::tls`'s (what
//! brokers dial each other with), the login's tokens are `security::sasl::login`'s (on the
//! broker's SCRAM code); here they run over a blocking socket. Which PEM files a client
//! reads, and which combinations make sense, is [`tls_config`]'s: the admin CLI (its
//! `--command-config` file, `cli/command_config.rs`) and ringbench (`--ssl-ca`, `--ssl-cert`,
//! `--ssl-key`) both build their TLS configuration through it.
//!
//! Not part of the broker: runs on the thread that owns the connection.
use super::connection::{ClientError, Connection};
use crate::config::Password;
use crate::limits;
use crate::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::{ErrorCode, StrBytes};
use crate::security::SecurityProtocol;
use crate::security::dial::{AUTHENTICATE_VERSION, HANDSHAKE_VERSION};
use crate::security::sasl::SaslMechanism;
use crate::security::sasl::login::{LOGIN_ROUNDS_MAX, Login};
use crate::security::tls::TlsError;
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// How to secure a connection: the protocol, and what it needs (a TLS configuration for SSL
/// and SASL_SSL, a login for SASL_PLAINTEXT and SASL_SSL). `Default` is PLAINTEXT.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    protocol: SecurityProtocol,
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<SaslLogin>,
}

/// Who a SASL login says it is.
#[derive(Debug, Clone)]
pub struct SaslLogin {
    pub mechanism: SaslMechanism,
    pub user: String,
    pub password: Password,
}

impl ClientSecurity {
    /// Security for `protocol`.
    ///
    /// # Panics
    /// When the protocol's needs and the parts given differ (TLS configuration exactly for
    /// SSL and SASL_SSL, login exactly for the SASL protocols): callers validate first.
    #[must_use]
    pub fn new(
        protocol: SecurityProtocol,
        tls: Option<Arc<rustls::ClientConfig>>,
        sasl: Option<SaslLogin>,
    ) -> Self {
        assert_eq!(protocol.uses_tls(), tls.is_some(), "TLS for {protocol:?}");
        assert_eq!(
            protocol.uses_sasl(),
            sasl.is_some(),
            "SASL for {protocol:?}"
        );
        Self {
            protocol,
            tls,
            sasl,
        }
    }

    #[must_use]
    pub const fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The TLS configuration, for SSL and SASL_SSL.
    #[must_use]
    pub fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    /// The login, for SASL_PLAINTEXT and SASL_SSL.
    #[must_use]
    pub fn sasl(&self) -> Option<&SaslLogin> {
        self.sasl.as_ref()
    }
}

/// The PEM files of a TLS client, under librdkafka's names: `ssl.ca.location`, the CA the
/// broker's certificate must chain to (no system trust store is read), and for mutual TLS
/// (a broker with `ssl.client.auth=required`) `ssl.certificate.location` with
/// `ssl.key.location`, the chain and key the client presents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Why [`tls_config`] cannot build a configuration; messages name librdkafka's keys.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error("{key} with security.protocol={protocol} (TLS needs SSL or SASL_SSL)")]
    NotTls {
        key: &'static str,
        protocol: &'static str,
    },
    #[error("security.protocol={protocol} needs ssl.ca.location (no system trust store is read)")]
    NoCa { protocol: &'static str },
    #[error("ssl.certificate.location and ssl.key.location go together")]
    Unpaired,
    #[error(transparent)]
    Files(#[from] TlsError),
}

/// The TLS configuration `protocol` needs from `files`: `None` for PLAINTEXT and
/// SASL_PLAINTEXT (which take no file), else a configuration trusting `files.ca` and,
/// when both are given, presenting `files.certificate` and `files.key`.
///
/// # Errors
/// Files given for a protocol without TLS, no CA for one with it, a certificate without a
/// key or the reverse, and unreadable or malformed files (named in the error).
pub fn tls_config(
    protocol: SecurityProtocol,
    files: &TlsFiles,
) -> Result<Option<Arc<rustls::ClientConfig>>, ClientTlsError> {
    let given = [
        ("ssl.ca.location", files.ca.is_some()),
        ("ssl.certificate.location", files.certificate.is_some()),
        ("ssl.key.location", files.key.is_some()),
    ];
    if !protocol.uses_tls() {
        return match given.iter().find(|(_, present)| *present) {
            Some((key, _)) => Err(ClientTlsError::NotTls {
                key,
                protocol: protocol.name(),
            }),
            None => Ok(None),
        };
    }
    let ca = files.ca.as_deref().ok_or(ClientTlsError::NoCa {
        protocol: protocol.name(),
    })?;
    let identity = match (&files.certificate, &files.key) {
        (Some(certificate), Some(key)) => Some((certificate.as_path(), key.as_path())),
        (None, None) => None,
        _ => return Err(ClientTlsError::Unpaired),
    };
    let config = crate::security::tls::client_config_from(ca, identity)?;
    Ok(Some(config))
}

/// A connection's socket, plain or TLS; either half of a split connection.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(TlsStream),
}

impl Stream {
    /// Another handle on the same connection (the writer and reader halves).
    ///
    /// # Errors
    /// The socket's `dup` failing.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Self::Plain(socket) => Self::Plain(socket.try_clone()?),
            Self::Tls(tls) => Self::Tls(TlsStream {
                socket: tls.socket.try_clone()?,
                shared: Arc::clone(&tls.shared),
                received: Vec::new(),
            }),
        })
    }

    /// Shuts the socket down (wakes a half blocked on it).
    ///
    /// # Errors
    /// The socket's.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Self::Plain(socket) => socket.shutdown(how),
            Self::Tls(tls) => tls.socket.shutdown(how),
        }
    }

    /// Runs the TLS handshake on a socket connected to `address` (`HOST:PORT`; the
    /// certificate must name HOST).
    ///
    /// # Errors
    /// An invalid server name, a failed handshake or certificate check.
    pub fn tls(
        mut socket: TcpStream,
        config: &Arc<rustls::ClientConfig>,
        address: &str,
    ) -> io::Result<Self> {
        let name = crate::security::tls::server_name(address)?;
        let mut session = rustls::ClientConnection::new(Arc::clone(config), name)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        // Plaintext is encrypted and written at once, so the send buffer never holds more
        // than one request; the writer must not see a short write.
        session.set_buffer_limit(None);
        // Drives the whole handshake (bounded by the socket timeouts).
        session.complete_io(&mut socket)?;
        if session.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the broker closed during the TLS handshake",
            ));
        }
        Ok(Self::Tls(TlsStream {
            socket,
            shared: Arc::new(TlsShared {
                session: Mutex::new(session),
                writing: Mutex::new(()),
            }),
            received: Vec::new(),
        }))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(socket) => socket.flush(),
            Self::Tls(tls) => tls.socket.flush(),
        }
    }
}

/// The rustls session both halves share.
struct TlsShared {
    session: Mutex<rustls::ClientConnection>,
    /// Held while encrypting and writing, so records reach the socket in sequence order.
    writing: Mutex<()>,
}

/// One half of a TLS connection.
pub struct TlsStream {
    socket: TcpStream,
    shared: Arc<TlsShared>,
    /// Ciphertext read from the socket that rustls has not taken yet (the reading half's).
    received: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> io::Result<MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| io::Error::other("a thread panicked inside the TLS session"))
}

impl TlsStream {
    /// Plaintext from the session, reading and decrypting socket data until some arrives.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Bounded: each round returns, hands rustls at least one byte, or reads the socket
        // (each read bounded by its timeout); a record needs at most a few.
        for _ in 0..limits::CLIENT_TLS_READ_ROUNDS_MAX {
            let mut session = lock(&self.shared.session)?;
            match session.reader().read(buf) {
                Ok(read) => return Ok(read),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
            if self.received.is_empty() {
                drop(session);
                self.received.resize(limits::TLS_SOCKET_BUFFER_SIZE, 0);
                let read = self.socket.read(&mut self.received);
                let read = read.inspect_err(|_| self.received.clear())?;
                self.received.truncate(read);
                if read == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                continue;
            }
            let taken = session.read_tls(&mut self.received.as_slice())?;
            self.received.drain(..taken);
            session
                .process_new_packets()
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            let reply = session.wants_write();
            drop(session);
            if reply {
                // An alert or a key update the session owes the broker.
                self.send(&[])?;
            }
        }
        Err(io::Error::other("TLS read made no progress"))
    }

    /// Encrypts `plaintext` and writes the records.
    fn send(&self, plaintext: &[u8]) -> io::Result<()> {
        let _order = lock(&self.shared.writing)?;
        let mut ciphertext = Vec::with_capacity(plaintext.len() + plaintext.len() / 64 + 64);
        {
            let mut session = lock(&self.shared.session)?;
            session.writer().write_all(plaintext)?;
            // Bounded: each call moves at least one pending record into the vector.
            while session.wants_write() {
                session.write_tls(&mut ciphertext)?;
            }
        }
        (&self.socket).write_all(&ciphertext)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)?;
        Ok(buf.len())
    }
}

/// Runs the TLS handshake with `address` over `socket`: the broker's certificate must chain
/// to the configured CA and name the host dialled (Kafka's default
/// `ssl.endpoint.identification.algorithm=https`). Bounded by the socket's timeouts.
///
/// # Errors
/// `Tls`: a name that is not a host, a refused certificate, a peer that does not speak TLS.
pub fn tls_handshake(
    config: &Arc<rustls::ClientConfig>,
    address: &str,
    socket: TcpStream,
) -> Result<Stream, ClientError> {
    Stream::tls(socket, config, address).map_err(|source| ClientError::Tls {
        address: address.to_owned(),
        source,
    })
}

/// SaslHandshake v1 naming the mechanism, then SaslAuthenticate v2 rounds carrying the
/// login's tokens (what `security::dial` does for brokers, here blocking).
///
/// # Errors
/// `SaslMechanism` when the broker does not offer it, `Authentication` when it refuses the
/// login, `SaslServer` when its SCRAM answers do not check out, and the calls' errors.
pub fn sasl_authenticate(
    connection: &mut Connection,
    login: &SaslLogin,
) -> Result<(), ClientError> {
    let handshake = SaslHandshakeRequest {
        mechanism: StrBytes::from(login.mechanism.name()),
    };
    let answer: SaslHandshakeResponse = connection.call(HANDSHAKE_VERSION, &handshake)?;
    if answer.error_code != ErrorCode::None {
        let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_ref()).collect();
        return Err(ClientError::SaslMechanism {
            mechanism: login.mechanism.name(),
            error_code: answer.error_code,
            offered: offered.join(","),
        });
    }
    let password = login.password.expose().as_bytes();
    let server_error = |source| ClientError::SaslServer {
        mechanism: login.mechanism.name(),
        source,
    };
    let (mut exchange, mut token) =
        Login::start(login.mechanism, &login.user, password).map_err(server_error)?;
    for _ in 0..LOGIN_ROUNDS_MAX {
        let request = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
        };
        let answer: SaslAuthenticateResponse = connection.call(AUTHENTICATE_VERSION, &request)?;
        if answer.error_code != ErrorCode::None {
            return Err(ClientError::Authentication {
                user: login.user.clone(),
                mechanism: login.mechanism.name(),
                error_code: answer.error_code,
                message: answer.error_message.map(|text| text.to_string()),
            });
        }
        match exchange.next(&answer.auth_bytes).map_err(server_error)? {
            Some(next) => token = next,
            None => return Ok(()),
        }
    }
    Err(server_error(
        crate::security::scram::ScramError::Malformed {
            reason: "the login did not end",
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// A self-signed certificate (usable as its own CA) and its key, as PEM files in `dir`.
    fn pem_files(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let certificate = params.self_signed(&key).unwrap();
        let (cert_path, key_path) = (dir.join("me.pem"), dir.join("me.key"));
        std::fs::write(&cert_path, certificate.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn files_must_suit_the_protocol_and_the_identity_comes_in_pairs() {
        let dir = tempfile::TempDir::new().unwrap();
        let (certificate, key) = pem_files(dir.path());
        let none = TlsFiles::default();
        assert!(
            tls_config(SecurityProtocol::Plaintext, &none)
                .unwrap()
                .is_none()
        );
        let ca_only = TlsFiles {
            ca: Some(certificate.clone()),
            ..TlsFiles::default()
        };
        let refused = tls_config(SecurityProtocol::SaslPlaintext, &ca_only).unwrap_err();
        assert!(matches!(
            refused,
            ClientTlsError::NotTls {
                key: "ssl.ca.location",
                ..
            }
        ));
        let refused = tls_config(SecurityProtocol::Ssl, &none).unwrap_err();
        assert!(matches!(refused, ClientTlsError::NoCa { protocol: "SSL" }));
        let unpaired = TlsFiles {
            certificate: Some(certificate.clone()),
            ..ca_only.clone()
        };
        let refused = tls_config(SecurityProtocol::Ssl, &unpaired).unwrap_err();
        assert!(matches!(refused, ClientTlsError::Unpaired), "{refused}");

        let server_only = tls_config(SecurityProtocol::Ssl, &ca_only)
            .unwrap()
            .unwrap();
        assert!(!server_only.client_auth_cert_resolver.has_certs());
        let mutual = TlsFiles {
            key: Some(key),
            ..unpaired
        };
        let mutual = tls_config(SecurityProtocol::SaslSsl, &mutual)
            .unwrap()
            .unwrap();
        assert!(mutual.client_auth_cert_resolver.has_certs());
        let missing = TlsFiles {
            ca: Some(certificate.clone()),
            certificate: Some(certificate),
            key: Some(dir.path().join("absent.key")),
        };
        let refused = tls_config(SecurityProtocol::Ssl, &missing).unwrap_err();
        assert!(refused.to_string().contains("absent.key"), "{refused}");
    }
}
