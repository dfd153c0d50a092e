//! The client side of a secured listener for the blocking client (ringbench): TLS on a std
//! socket, and SASL (PLAIN, SCRAM-SHA-256/512) as a Kafka client logs in.
//!
//! TLS: one rustls session shared by the connection's two halves (a writer thread and a reader
//! thread, as the producer pipelines), behind a mutex held only while rustls encrypts or
//! decrypts, never across a blocking socket call, so a writer blocked on a full socket never
//! stops the reader from draining responses. Ciphertext leaves in the order rustls produced it:
//! a second mutex covers encrypting and writing together. Only one half reads.
//!
//! SASL: SaslHandshake v1 naming the mechanism, then SaslAuthenticate v2 carrying the tokens
//! (KIP-152), over the connection once TLS is up; SCRAM's server signature is checked
//! (`security/scram.rs` computes both sides). The broker's own inter-broker dialer does the
//! same on its async links (`security/dial.rs`).
use super::connection::{ClientError, Connection};
use crate::config::InterBrokerTls;
use crate::limits;
use crate::protocol::ErrorCode;
use crate::protocol::StrBytes;
use crate::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::security::sasl::SaslMechanism;
use crate::security::scram::{ScramClient, ScramError};
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// SaslHandshake v1: SaslAuthenticate frames follow (KIP-152).
const HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate v2 (flexible).
const AUTHENTICATE_VERSION: i16 = 2;

/// How a client secures its connections: TLS when `tls` is set (`SSL`, `SASL_SSL`), a SASL
/// login when `sasl` is set (`SASL_PLAINTEXT`, `SASL_SSL`); neither is `PLAINTEXT`.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub sasl: Option<SaslLogin>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl ClientSecurity {
    /// TLS trusting the PEM CA at `ca` only (the broker's certificate must name the host
    /// dialled, as Kafka's default `ssl.endpoint.identification.algorithm=https`).
    ///
    /// # Errors
    /// An unreadable or malformed CA file.
    pub fn trusting(ca: &Path) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let settings = InterBrokerTls {
            ca: ca.to_owned(),
            identity: None,
        };
        crate::security::tls::client_config(&settings).map_err(|error| ClientError::TlsSetup {
            reason: error.to_string(),
        })
    }
}

/// A SASL login.
#[derive(Clone)]
pub struct SaslLogin {
    pub mechanism: SaslMechanism,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
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

/// Logs `connection` in: SaslHandshake, then the mechanism's SaslAuthenticate rounds.
///
/// # Errors
/// A refused mechanism or login, a SCRAM protocol error or a server signature that does not
/// match, I/O.
pub fn authenticate(connection: &mut Connection, login: &SaslLogin) -> Result<(), ClientError> {
    let handshake = SaslHandshakeRequest {
        mechanism: StrBytes::from(login.mechanism.name()),
    };
    let answer: SaslHandshakeResponse = connection.call(HANDSHAKE_VERSION, &handshake)?;
    if answer.error_code != ErrorCode::None {
        return Err(ClientError::SaslRefused {
            api: "SaslHandshake",
            code: answer.error_code,
        });
    }
    let password = login.password.as_bytes();
    match login.mechanism {
        SaslMechanism::Plain => {
            let token = [b"\0", login.user.as_bytes(), b"\0", password].concat();
            token_exchange(connection, token).map(drop)
        }
        SaslMechanism::Scram(scram) => {
            let (client, first) = ScramClient::start(scram, &login.user, password)?;
            let server_first = token_exchange(connection, first.into_bytes())?;
            let (last, expected) = client.finish(&server_first)?;
            let server_final = token_exchange(connection, last.into_bytes())?;
            if server_final != expected.as_bytes() {
                return Err(ScramError::InvalidProof.into());
            }
            Ok(())
        }
    }
}

/// One SaslAuthenticate round: sends `token`, returns the server's.
fn token_exchange(connection: &mut Connection, token: Vec<u8>) -> Result<Bytes, ClientError> {
    let request = SaslAuthenticateRequest {
        auth_bytes: Bytes::from(token),
    };
    let answer: SaslAuthenticateResponse = connection.call(AUTHENTICATE_VERSION, &request)?;
    if answer.error_code != ErrorCode::None {
        return Err(ClientError::SaslRefused {
            api: "SaslAuthenticate",
            code: answer.error_code,
        });
    }
    Ok(answer.auth_bytes)
}
