//! The security a client connection runs before its first request, as Kafka clients configure
//! it (`security.protocol` and the `ssl.*` / `sasl.*` properties): TLS trusting one CA, with a
//! client certificate for mTLS, then a SASL login (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
//!
//! The crypto is the broker's own: the rustls client configuration is `security::tls`'s (what
//! brokers dial each other with), the login's tokens are `security::sasl::login`'s (on the
//! broker's SCRAM code); here they run over a blocking socket. Reading the admin CLI's
//! `--command-config` file into a [`ClientSecurity`] is the CLI's (`cli/command_config.rs`).
//!
//! Not part of the broker: runs on the thread that owns the connection.
use super::connection::{ClientError, Connection};
use crate::config::Password;
use crate::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::{ErrorCode, StrBytes};
use crate::security::SecurityProtocol;
use crate::security::dial::{AUTHENTICATE_VERSION, HANDSHAKE_VERSION};
use crate::security::sasl::SaslMechanism;
use crate::security::sasl::login::{LOGIN_ROUNDS_MAX, Login};
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

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

/// A connection's byte stream: the socket, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    #[must_use]
    pub fn socket(&self) -> &TcpStream {
        match self {
            Self::Plain(socket) => socket,
            Self::Tls(stream) => &stream.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.read(buffer),
            Self::Tls(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.write(buffer),
            Self::Tls(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(socket) => socket.flush(),
            Self::Tls(stream) => stream.flush(),
        }
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
    mut socket: TcpStream,
) -> Result<Stream, ClientError> {
    let tls_error = |source: io::Error| ClientError::Tls {
        address: address.to_owned(),
        source,
    };
    let name = crate::security::dial::server_name(address).map_err(tls_error)?;
    let mut connection = rustls::ClientConnection::new(Arc::clone(config), name)
        .map_err(|error| tls_error(io::Error::new(io::ErrorKind::InvalidInput, error)))?;
    // While handshaking, `complete_io` reads and writes until the handshake is done or fails.
    connection.complete_io(&mut socket).map_err(tls_error)?;
    if connection.is_handshaking() {
        let closed = io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the handshake");
        return Err(tls_error(closed));
    }
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(
        connection, socket,
    ))))
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
