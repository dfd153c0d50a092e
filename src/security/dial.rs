//! The client side of the inter-broker listener: how a broker's follower fetchers connect to
//! another broker when `[inter_broker]` secures it (`config/inter_broker.rs`). TCP, then the
//! TLS handshake (the other broker's certificate must chain to the configured CA and name the
//! host dialled; this broker's own certificate for mTLS), then SASL as a Kafka client does it:
//! SaslHandshake v1 naming the mechanism, SaslAuthenticate v2 carrying the tokens (PLAIN: one
//! `\0user\0password` token; SCRAM: client-first, client-final, and the server's signature
//! checked). The other broker then knows this one as `User:NAME` (or its certificate's
//! subject), which needs CLUSTER_ACTION on the cluster (or `super.users`) to fetch as a
//! follower when the authorizer is on.
//!
//! The replication layer only sees the [`Dialer`] closure the broker installs
//! (`replication/link.rs`). Runs on the fetcher's shard; its caller bounds it with the fetch
//! connect timeout.
use super::sasl::SaslMechanism;
use super::sasl::login::{LOGIN_ROUNDS_MAX, Login};
use crate::config::{InterBrokerConfig, InterBrokerSasl};
use crate::limits;
use crate::protocol::exchange::{decode_response, encode_request};
use crate::protocol::frame::peek_size;
use crate::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::{ErrorCode, Message, StrBytes};
use crate::replication::link::{Dialer, Link, Steer, connect_plain};
use bytes::{Bytes, BytesMut};
use compio::io::compat::AsyncStream;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

/// The client id the SASL exchanges carry.
const CLIENT_ID: &str = "ringbroker-inter-broker";
/// SaslHandshake v1: SaslAuthenticate frames follow (KIP-152).
pub const HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate v2 (flexible; the highest both sides serve).
pub const AUTHENTICATE_VERSION: i16 = 2;

/// What a broker dials other brokers with: the TLS client configuration and the SASL login
/// its inter-broker listener needs.
pub struct InterBrokerDial {
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<InterBrokerSasl>,
}

impl InterBrokerDial {
    /// From the validated settings, reading the CA and identity PEM files.
    ///
    /// # Errors
    /// Unreadable or malformed PEM files.
    pub fn load(config: &InterBrokerConfig) -> Result<Self, super::tls::TlsError> {
        let tls = match &config.tls {
            Some(settings) => Some(super::tls::client_config(settings)?),
            None => None,
        };
        Ok(Self {
            tls,
            sasl: config.sasl.clone(),
        })
    }

    /// The closure the replication layer calls for each new connection.
    #[must_use]
    pub fn dialer(self: &Rc<Self>) -> Dialer {
        let this = Rc::clone(self);
        Rc::new(move |address: String, steer: Option<Steer>| {
            let this = Rc::clone(&this);
            Box::pin(async move { this.dial(&address, steer).await })
        })
    }

    /// Connects to `address` (`HOST:PORT`; steered to a shard when `steer` says so), runs TLS
    /// and SASL as configured.
    ///
    /// # Errors
    /// The connect's, a failed TLS handshake, a refused login.
    pub async fn dial(&self, address: &str, steer: Option<Steer>) -> io::Result<Link> {
        let stream = connect_plain(address, steer).await?;
        let mut link = match &self.tls {
            None => Link::Plain(stream),
            Some(config) => {
                let name = server_name(address)?;
                let socket = Box::pin(AsyncStream::with_capacity(
                    limits::TLS_SOCKET_BUFFER_SIZE,
                    stream,
                ));
                let connector = futures_rustls::TlsConnector::from(Arc::clone(config));
                Link::Secured(Box::new(connector.connect(name, socket).await?))
            }
        };
        if let Some(login) = &self.sasl {
            authenticate(&mut link, login).await?;
        }
        Ok(link)
    }
}

pub use super::tls::server_name;

fn refused(what: &str, code: ErrorCode) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{what}: {}", code.name()),
    )
}

/// SaslHandshake then SaslAuthenticate exchanges for `login` (at most `LOGIN_ROUNDS_MAX`).
async fn authenticate(link: &mut Link, login: &InterBrokerSasl) -> io::Result<()> {
    let mechanism = SaslMechanism::parse(&login.mechanism)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown SASL mechanism"))?;
    let handshake = SaslHandshakeRequest {
        mechanism: StrBytes::from(mechanism.name()),
    };
    let answer: SaslHandshakeResponse = call(link, HANDSHAKE_VERSION, 1, &handshake).await?;
    if answer.error_code != ErrorCode::None {
        return Err(refused("SaslHandshake", answer.error_code));
    }
    let invalid = |error| io::Error::new(io::ErrorKind::InvalidData, error);
    let password = login.password.expose().as_bytes();
    let (mut exchange, mut token) =
        Login::start(mechanism, &login.user, password).map_err(invalid)?;
    for round in 1..=LOGIN_ROUNDS_MAX {
        let correlation_id = i32::try_from(round).unwrap_or(i32::MAX) + 1;
        let server_token = token_exchange(link, correlation_id, token).await?;
        match exchange.next(&server_token).map_err(invalid)? {
            Some(next) => token = next,
            None => return Ok(()),
        }
    }
    Err(invalid(super::scram::ScramError::Malformed {
        reason: "the login did not end",
    }))
}

/// One SaslAuthenticate round: sends `token`, returns the server's.
async fn token_exchange(link: &mut Link, correlation_id: i32, token: Vec<u8>) -> io::Result<Bytes> {
    let request = SaslAuthenticateRequest {
        auth_bytes: Bytes::from(token),
    };
    let answer: SaslAuthenticateResponse =
        call(link, AUTHENTICATE_VERSION, correlation_id, &request).await?;
    if answer.error_code != ErrorCode::None {
        return Err(refused("SaslAuthenticate", answer.error_code));
    }
    Ok(answer.auth_bytes)
}

/// Sends `request` and decodes its answer; frames above the SASL bound are refused.
async fn call<Req: Message, Resp: Message>(
    link: &mut Link,
    version: i16,
    correlation_id: i32,
    request: &Req,
) -> io::Result<Resp> {
    let mut frame = BytesMut::new();
    encode_request(&mut frame, version, correlation_id, CLIENT_ID, request);
    link.write_all(frame.to_vec()).await?;
    let prefix = link.read_exact(4).await?;
    let size = peek_size(&prefix, limits::SASL_SERVER_RECEIVE_SIZE_MAX)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?
        .unwrap_or(0);
    let payload = Bytes::from(link.read_exact(size).await?);
    decode_response(payload, version, correlation_id)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}
