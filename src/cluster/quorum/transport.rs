//! The byte stream the controller channel (Raft RPCs and the brokers' App frames, see
//! `network.rs`) runs over, and the [`ControllerTransport`] that opens one: plain TCP by
//! default ([`Plaintext`]), or whatever the broker injects — mutual TLS, built by
//! `security::controller` (the layer above, which owns rustls and the PEM files), the way
//! `replication/link.rs` takes its dialer from `security::dial`.
//!
//! ```text
//! Plain    compio TcpStream
//! Secured  any futures-io stream (security's: futures_rustls over compio's AsyncStream)
//! ```
//! A transport's `accept` runs before the first frame is read: a secured one refuses a peer
//! that does not authenticate there, so nothing it sends is ever decoded. The probe of a
//! silent broker (`connect_refused`) is a bare TCP connect and needs no transport.
//!
//! Runs on the quorum's runtime; the streams are `!Send`.
use compio::BufResult;
use compio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use compio::net::TcpStream;
use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// A futures-io byte stream in both directions (a TLS session over a socket).
pub trait Duplex: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin {}

impl<T: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin> Duplex for T {}

/// One open connection of the controller channel, either end.
pub enum ControllerStream {
    Plain(TcpStream),
    Secured(Box<dyn Duplex>),
}

impl fmt::Debug for ControllerStream {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Plain(_) => "ControllerStream::Plain",
            Self::Secured(_) => "ControllerStream::Secured",
        })
    }
}

impl ControllerStream {
    /// Writes all of `bytes` (and flushes a secured stream's buffered records).
    ///
    /// # Errors
    /// The socket's or the TLS session's.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        match self {
            Self::Plain(stream) => {
                let BufResult(result, _) = stream.write_all(bytes).await;
                result
            }
            Self::Secured(stream) => {
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
        }
    }

    /// Reads exactly `size` bytes; the caller bounds `size` before calling.
    ///
    /// # Errors
    /// The socket's; `UnexpectedEof` when the peer closes first.
    pub async fn read_exact(&mut self, size: usize) -> io::Result<Vec<u8>> {
        let body = match self {
            Self::Plain(stream) => {
                let BufResult(result, body) = stream.read_exact(Vec::with_capacity(size)).await;
                result.map(|()| body)?
            }
            Self::Secured(stream) => {
                let mut body = vec![0_u8; size];
                stream.read_exact(&mut body).await?;
                body
            }
        };
        assert_eq!(body.len(), size, "read_exact fills the buffer");
        Ok(body)
    }
}

/// A connection being opened or accepted.
pub type Opening = Pin<Box<dyn Future<Output = io::Result<ControllerStream>>>>;

/// How the controller channel's connections are opened and accepted. Each call bounds its
/// own handshake; the caller bounds the TCP connect and the whole RPC.
pub trait ControllerTransport: fmt::Debug + Send + Sync {
    /// Opens a connection to `address` (`HOST:PORT`): TCP, then whatever the channel needs.
    fn connect(&self, address: String) -> Opening;

    /// Takes an accepted socket from `peer`; `Err` closes it before any frame is read.
    fn accept(&self, stream: TcpStream, peer: SocketAddr) -> Opening;

    /// What the listener runs, for the start-up log line (`plaintext`, `mTLS`).
    fn name(&self) -> &'static str;
}

/// The transport one quorum (and its broker's controller clients) share. `Send + Sync` (it
/// holds configuration only), so a quorum's config can be built on another thread; the
/// futures it returns are `!Send` and run on the quorum's runtime.
pub type Transport = Arc<dyn ControllerTransport>;

/// Plain TCP (with `TCP_NODELAY`): the default, as Kafka's `PLAINTEXT` controller listener.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plaintext;

impl Plaintext {
    /// The plain transport as a [`Transport`].
    #[must_use]
    pub fn transport() -> Transport {
        Arc::new(Self)
    }
}

/// A TCP connection to `address` with `TCP_NODELAY` (the first step of every transport).
///
/// # Errors
/// The connect's.
pub async fn connect_tcp(address: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl ControllerTransport for Plaintext {
    fn connect(&self, address: String) -> Opening {
        Box::pin(async move { connect_tcp(&address).await.map(ControllerStream::Plain) })
    }

    fn accept(&self, stream: TcpStream, _peer: SocketAddr) -> Opening {
        // A peer that vanished before this is found at the first read.
        let _ = stream.set_nodelay(true);
        Box::pin(async move { Ok(ControllerStream::Plain(stream)) })
    }

    fn name(&self) -> &'static str {
        "plaintext"
    }
}
