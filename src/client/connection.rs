//! A blocking Kafka connection built on our codec: frames, headers, negotiated versions.
//!
//! Owns one TCP stream (or its two halves: a writer and a reader thread for pipelining), or
//! a TLS session over it (`security.rs`, which also runs the SASL login). Uses
//! `ringbroker::protocol` for every byte, so ringbench exercises the same codec the broker runs.
//! Blocking std sockets, one thread per half: a load generator wants simple, predictable code
//! more than an event loop, and the threads are few (`--connections` ≤ 256).
//!
//! Invariants: responses arrive in request order on one connection (Kafka's guarantee), so a
//! reader checks each response's correlation id against the oldest request in flight; every
//! frame read is bounded by [`RESPONSE_SIZE_MAX`]; every socket call has a timeout.
//!
//! Errors are [`ClientError`] values; the binaries add context with `anyhow` at their edge.
use super::security::{ClientSecurity, Stream};
use crate::protocol::exchange::{self, ExchangeError};
use crate::protocol::frame::{FRAME_PREFIX_SIZE, FrameError, peek_size};
use crate::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{ApiKey, DecodeError, ErrorCode, Message, StrBytes, versions};
use bytes::{Bytes, BytesMut};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response frame read: a fetch answer is bounded by `--fetch-max-bytes` (≤ 64 MiB)
/// plus headers; anything larger is a broken peer.
pub const RESPONSE_SIZE_MAX: usize = 80 * 1024 * 1024;
/// Bound on one blocking socket call; a broker silent this long is treated as gone.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to a broker failed. The underlying error is the `source` (print the chain, as
/// anyhow's `{:#}` does), not repeated in the message.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("resolving {address}")]
    Resolve { address: String, source: io::Error },
    #[error("{address} resolves to no address")]
    NoAddress { address: String },
    #[error("connecting to {address}")]
    Connect { address: String, source: io::Error },
    /// A socket call failed, timed out, or the broker closed the connection.
    #[error("{doing}")]
    Io {
        doing: &'static str,
        source: io::Error,
    },
    #[error("response frame: {0}")]
    Frame(#[from] FrameError),
    #[error("{api_key:?} response has correlation id {received}, expected {expected}")]
    Correlation {
        api_key: ApiKey,
        received: i32,
        expected: i32,
    },
    #[error("decoding {api_key:?} v{version} response")]
    Decode {
        api_key: ApiKey,
        version: i16,
        source: DecodeError,
    },
    #[error("ApiVersions failed: {}", .0.name())]
    ApiVersions(ErrorCode),
    #[error("the broker shares no version of {0:?}")]
    NoCommonVersion(ApiKey),
    /// The broker closed the connection instead of answering: what a TLS listener does to a
    /// plaintext client, and a SASL listener to a request before authentication.
    #[error(
        "the broker closed the connection before answering (TLS listeners close plaintext \
         clients, SASL listeners close clients that have not authenticated)"
    )]
    Closed,
    #[error("TLS handshake with {address}")]
    Tls { address: String, source: io::Error },
    #[error(
        "the broker refuses SASL mechanism {mechanism}: {} (it offers: {offered})",
        .error_code.name()
    )]
    SaslMechanism {
        mechanism: &'static str,
        error_code: ErrorCode,
        offered: String,
    },
    #[error(
        "authentication failed: {} for user {user:?} with {mechanism}{}",
        .error_code.name(),
        .message.as_deref().map(|text| format!(" ({text})")).unwrap_or_default()
    )]
    Authentication {
        user: String,
        mechanism: &'static str,
        error_code: ErrorCode,
        message: Option<String>,
    },
    /// The broker's SCRAM messages do not check out (it does not hold our credential).
    #[error("SASL {mechanism} with the broker")]
    SaslServer {
        mechanism: &'static str,
        source: crate::security::scram::ScramError,
    },
}

impl ClientError {
    fn io(doing: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { doing, source }
    }
}

/// The version of each API both sides support (the highest common one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub produce: i16,
    pub fetch: i16,
    pub list_offsets: i16,
    pub metadata: i16,
    pub create_topics: Option<i16>,
}

pub use crate::protocol::exchange::encode_request;

/// Reads one whole response frame's payload.
///
/// # Errors
/// I/O errors (including timeouts and a closed socket) and frames over the limit.
pub fn read_frame(stream: &mut impl Read) -> Result<Bytes, ClientError> {
    let mut prefix = [0u8; FRAME_PREFIX_SIZE];
    stream.read_exact(&mut prefix).map_err(|source| {
        let closed = matches!(
            source.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        );
        if closed {
            ClientError::Closed
        } else {
            ClientError::io("reading a frame size")(source)
        }
    })?;
    // Four bytes always make a prefix; `None` cannot happen, so it maps to a zero-size frame
    // only to stay total, and the decode of an empty payload then fails.
    let size = peek_size(&prefix, RESPONSE_SIZE_MAX)?.unwrap_or(0);
    let mut payload = vec![0u8; size];
    stream
        .read_exact(&mut payload)
        .map_err(ClientError::io("reading a frame"))?;
    Ok(Bytes::from(payload))
}

/// Decodes a response payload of `M` at `version`, checking its correlation id.
///
/// # Errors
/// A correlation mismatch or any decode error.
pub fn decode_response<M: Message>(
    payload: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<M, ClientError> {
    exchange::decode_response(payload, version, correlation_id).map_err(|error| match error {
        ExchangeError::Correlation {
            api_key,
            received,
            expected,
        } => ClientError::Correlation {
            api_key,
            received,
            expected,
        },
        ExchangeError::Decode {
            api_key,
            version,
            source,
        } => ClientError::Decode {
            api_key,
            version,
            source,
        },
    })
}

/// A connection for request/response exchanges (metadata, topic creation, consumers).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    client_id: String,
    correlation_id: i32,
    buffer: BytesMut,
    /// Bytes written and read, frames included (for the "bytes on the wire" figures).
    pub bytes_written: u64,
    pub bytes_read: u64,
}

impl Connection {
    /// Connects with `TCP_NODELAY` (Kafka clients set it) and socket timeouts, PLAINTEXT.
    ///
    /// # Errors
    /// Resolution or connection failures.
    pub fn connect(address: &str, client_id: &str) -> Result<Self, ClientError> {
        Self::connect_with(address, client_id, &ClientSecurity::default())
    }

    /// Connects as [`Self::connect`], then runs `security`: the TLS handshake (SSL,
    /// SASL_SSL), then the SASL login (SASL_PLAINTEXT, SASL_SSL), before any other request.
    ///
    /// # Errors
    /// Resolution or connection failures, a failed TLS handshake, a refused login.
    pub fn connect_with(
        address: &str,
        client_id: &str,
        security: &ClientSecurity,
    ) -> Result<Self, ClientError> {
        let socket = connect_socket(address)?;
        let stream = match security.tls() {
            Some(config) => super::security::tls_handshake(config, address, socket)?,
            None => Stream::Plain(socket),
        };
        let mut connection = Self {
            stream,
            client_id: client_id.to_owned(),
            correlation_id: 0,
            buffer: BytesMut::with_capacity(64 * 1024),
            bytes_written: 0,
            bytes_read: 0,
        };
        if let Some(login) = security.sasl() {
            super::security::sasl_authenticate(&mut connection, login)?;
        }
        Ok(connection)
    }

    /// The stream, for splitting into a writer and a reader half (`Stream::try_clone`; a TLS
    /// connection's halves share its session).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The next correlation id (wraps, as Kafka clients' do).
    pub fn next_correlation_id(&mut self) -> i32 {
        self.correlation_id = self.correlation_id.wrapping_add(1) & i32::MAX;
        self.correlation_id
    }

    /// Sends `request` and waits for its response.
    ///
    /// # Errors
    /// I/O, a correlation mismatch, or a decode error.
    pub fn call<Req: Message, Resp: Message>(
        &mut self,
        version: i16,
        request: &Req,
    ) -> Result<Resp, ClientError> {
        assert_eq!(
            Req::API_KEY,
            Resp::API_KEY,
            "request and response of one API"
        );
        let correlation_id = self.next_correlation_id();
        encode_request(
            &mut self.buffer,
            version,
            correlation_id,
            &self.client_id,
            request,
        );
        self.stream
            .write_all(&self.buffer)
            .map_err(ClientError::io("writing a request"))?;
        self.bytes_written += self.buffer.len() as u64;
        let payload = read_frame(&mut self.stream)?;
        self.bytes_read += (payload.len() + FRAME_PREFIX_SIZE) as u64;
        decode_response(payload, version, correlation_id)
    }

    /// ApiVersions v3, falling back to v0 for brokers that answer UNSUPPORTED_VERSION, then
    /// picks the highest version both sides support for each API ringbench uses.
    ///
    /// # Errors
    /// I/O, decode errors, or a broker lacking an API ringbench needs.
    pub fn negotiate(&mut self) -> Result<Versions, ClientError> {
        let negotiated = self.api_versions("ringbench")?;
        Ok(Versions {
            produce: negotiated.need(ApiKey::Produce)?,
            fetch: negotiated.need(ApiKey::Fetch)?,
            list_offsets: negotiated.need(ApiKey::ListOffsets)?,
            metadata: negotiated.need(ApiKey::Metadata)?,
            create_topics: negotiated.get(ApiKey::CreateTopics),
        })
    }

    /// ApiVersions v3 (announcing `software_name`, which Kafka requires to match
    /// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`), falling back to v0 for brokers that answer
    /// UNSUPPORTED_VERSION; returns the highest common version of every API our codec knows.
    ///
    /// # Errors
    /// I/O, decode errors, or an ApiVersions error code.
    pub fn api_versions(&mut self, software_name: &str) -> Result<Negotiated, ClientError> {
        let request = ApiVersionsRequest {
            client_software_name: StrBytes::from(software_name),
            client_software_version: StrBytes::from(env!("CARGO_PKG_VERSION")),
        };
        // A broker without v3 answers in the v0 layout, which does not decode as v3; the
        // frame was read whole either way, so the stream is ready for the v0 retry.
        let response: ApiVersionsResponse = match self.call::<_, ApiVersionsResponse>(3, &request) {
            Ok(response) if response.error_code != ErrorCode::UnsupportedVersion => response,
            _ => self.call(0, &ApiVersionsRequest::default())?,
        };
        if response.error_code != ErrorCode::None {
            return Err(ClientError::ApiVersions(response.error_code));
        }
        let pick = |key: ApiKey| -> Option<i16> {
            let ours = versions::range(key);
            let theirs = response
                .api_keys
                .iter()
                .find(|entry| entry.api_key == key.as_i16())?;
            let max = ours.max.min(theirs.max_version);
            (max >= ours.min.max(theirs.min_version)).then_some(max)
        };
        Ok(Negotiated {
            versions: ApiKey::ALL.map(pick),
        })
    }
}

/// A TCP connection to `address` with `TCP_NODELAY` and the socket timeouts.
fn connect_socket(address: &str) -> Result<TcpStream, ClientError> {
    let target = address
        .to_socket_addrs()
        .map_err(|source| ClientError::Resolve {
            address: address.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| ClientError::NoAddress {
            address: address.to_owned(),
        })?;
    let stream = TcpStream::connect_timeout(&target, SOCKET_TIMEOUT).map_err(|source| {
        ClientError::Connect {
            address: address.to_owned(),
            source,
        }
    })?;
    let setup = ClientError::io("setting socket options");
    stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(SOCKET_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(SOCKET_TIMEOUT)))
        .map_err(setup)?;
    Ok(stream)
}

/// The highest version of each API that both the broker and our codec support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Indexed like [`ApiKey::ALL`]; `None` when there is no common version.
    versions: [Option<i16>; ApiKey::ALL.len()],
}

impl Negotiated {
    /// The agreed version of `key`, `None` when the broker does not offer a common one.
    #[must_use]
    pub fn get(&self, key: ApiKey) -> Option<i16> {
        let index = ApiKey::ALL.iter().position(|known| *known == key)?;
        self.versions.get(index).copied().flatten()
    }

    /// The agreed version of an API the caller cannot do without.
    ///
    /// # Errors
    /// `NoCommonVersion` when the broker does not offer it.
    pub fn need(&self, key: ApiKey) -> Result<i16, ClientError> {
        self.get(key).ok_or(ClientError::NoCommonVersion(key))
    }
}
