//! A connection between two nodes of the cluster, either end: a plain compio socket, or any
//! futures-io stream — a rustls session over compio's `AsyncStream` adapter, built by
//! `security` (the layer above, which owns rustls). The controller channel
//! (`quorum/transport.rs`) and the follower fetcher (`replication::link::Link`) both run over
//! it, so the two speak to their peers through one type.
//!
//! ```text
//! Plain    compio TcpStream                          (owned-buffer reads and writes)
//! Secured  Box<dyn Duplex>: futures_rustls::{client,server}::TlsStream ─ AsyncStream ─ TcpStream
//! ```
//! Runs on whichever shard opened or accepted it; `!Send`.
use compio::BufResult;
use compio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use compio::net::TcpStream;
use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _};
use std::fmt;
use std::io;

/// A futures-io byte stream in both directions (a TLS session over a socket).
pub trait Duplex: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin {}

impl<T: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin> Duplex for T {}

/// One open connection to another node.
pub enum NodeStream {
    Plain(TcpStream),
    Secured(Box<dyn Duplex>),
}

impl fmt::Debug for NodeStream {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Plain(_) => "NodeStream::Plain",
            Self::Secured(_) => "NodeStream::Secured",
        })
    }
}

impl NodeStream {
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
