//! The connection a follower fetcher talks to a leader over: a plain TCP stream, or a TLS
//! client stream when the inter-broker listener runs TLS (`--inter-broker-listener`), and the
//! [`Dialer`] that opens one (TCP, then TLS and SASL as the listener wants) — installed by the
//! broker, which owns the TLS and SASL code (`security::dial`); without one, plain TCP.
//!
//! ```text
//! Plain  TcpStream
//! Tls    futures_rustls::client::TlsStream ─ AsyncStream (compio → futures-io) ─ TcpStream
//! ```
//! Runs on the fetcher's shard.
use compio::BufResult;
use compio::io::compat::AsyncStream;
use compio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use compio::net::TcpStream;
use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

/// A TLS client stream over a compio socket.
pub type TlsClientStream = futures_rustls::client::TlsStream<Pin<Box<AsyncStream<TcpStream>>>>;

/// An open connection to another broker's inter-broker listener.
pub enum Link {
    Plain(TcpStream),
    Tls(Box<TlsClientStream>),
}

/// Opens a [`Link`] to `HOST:PORT` (TCP, TLS, SASL as configured), bounded by its caller.
pub type Dialer = Rc<dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Link>>>>>;

impl Link {
    /// Writes all of `bytes` (and flushes the TLS layer).
    ///
    /// # Errors
    /// The socket's.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        match self {
            Self::Plain(stream) => {
                let BufResult(result, _) = stream.write_all(bytes).await;
                result
            }
            Self::Tls(stream) => {
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
        }
    }

    /// Reads exactly `size` bytes.
    ///
    /// # Errors
    /// The socket's; `UnexpectedEof` when the peer closes first.
    pub async fn read_exact(&mut self, size: usize) -> io::Result<Vec<u8>> {
        match self {
            Self::Plain(stream) => {
                let BufResult(result, body) = stream.read_exact(Vec::with_capacity(size)).await;
                result.map(|()| body)
            }
            Self::Tls(stream) => {
                let mut body = vec![0_u8; size];
                stream.read_exact(&mut body).await?;
                Ok(body)
            }
        }
    }
}

/// A plain TCP connection with `TCP_NODELAY` (what runs without a dialer).
///
/// # Errors
/// The connect's.
pub async fn connect_plain(address: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
