//! A TLS connection as the connection loop sees it: the rustls handshake on an accepted socket,
//! then the decrypted stream split into a read half and a write half that implement compio's
//! `AsyncRead` / `AsyncWrite`, so `connection.rs` runs the same reader and writer over TLS as
//! over a plain socket.
//!
//! ```text
//! TcpStream ─ AsyncStream (compio → futures-io, ciphertext buffers)
//!           ─ futures_rustls::server::TlsStream (plaintext)
//!           ─ BiLock split ─▶ TlsReader (read_loop) / TlsWriter (write_loop)
//! ```
//! The halves share the stream through a `BiLock` held only while one of them is polled, so a
//! read waiting for bytes never blocks a response being written (what `&TcpStream` gives the
//! plain path). Written bytes sit in the adapter's buffer until `flush`: the writer flushes
//! after each response.
//!
//! Runs on the shard that accepted the connection.
use super::Either;
use super::race;
use crate::limits;
use crate::security::Principal;
use crate::security::tls::principal_from_certificate;
use compio::BufResult;
use compio::buf::{IoBuf, IoBufMut};
use compio::io::compat::AsyncStream;
use compio::net::TcpStream;
use futures_util::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

type Stream = futures_rustls::server::TlsStream<Pin<Box<AsyncStream<TcpStream>>>>;

/// The read half of a TLS connection.
pub struct TlsReader(ReadHalf<Stream>);

/// The write half of a TLS connection.
pub struct TlsWriter(WriteHalf<Stream>);

/// A finished handshake: the halves, and who the client certificate names (mTLS), if any.
pub struct Accepted {
    pub reader: TlsReader,
    pub writer: TlsWriter,
    pub principal: Option<Principal>,
}

/// Runs the server side of the handshake, bounded by `TLS_HANDSHAKE_TIMEOUT_MS`.
///
/// # Errors
/// The handshake failed (no or a wrong client certificate when one is required, a client that
/// does not speak TLS, a version or cipher mismatch) or timed out.
pub async fn accept(config: Arc<rustls::ServerConfig>, stream: TcpStream) -> io::Result<Accepted> {
    let socket = Box::pin(AsyncStream::with_capacity(
        limits::TLS_SOCKET_BUFFER_SIZE,
        stream,
    ));
    let handshake = futures_rustls::TlsAcceptor::from(config).accept(socket);
    let timeout = Duration::from_millis(limits::TLS_HANDSHAKE_TIMEOUT_MS);
    let stream = match race(handshake, compio::time::sleep(timeout)).await {
        Either::Left(result) => result?,
        Either::Right(()) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
    };
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[_]>::first)
        .and_then(|certificate| principal_from_certificate(certificate));
    let (reader, writer) = stream.split();
    Ok(Accepted {
        reader: TlsReader(reader),
        writer: TlsWriter(writer),
        principal,
    })
}

impl compio::io::AsyncRead for TlsReader {
    async fn read<B: IoBufMut>(&mut self, mut buffer: B) -> BufResult<usize, B> {
        let start = buffer.buf_len();
        let room = buffer.ensure_init().get_mut(start..).unwrap_or_default();
        let result = match self.0.read(room).await {
            Ok(count) => {
                // SAFETY: `ensure_init` initialised every byte up to the capacity, and the
                // read returned `count` ≤ the room's length, so `start + count` is within it.
                unsafe { buffer.advance_to(start + count) };
                Ok(count)
            }
            // rustls reports a peer that closed without close_notify as UnexpectedEof: a close.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(error) => Err(error),
        };
        BufResult(result, buffer)
    }
}

impl compio::io::AsyncWrite for TlsWriter {
    async fn write<T: IoBuf>(&mut self, buffer: T) -> BufResult<usize, T> {
        let result = self.0.write(buffer.as_init()).await;
        BufResult(result, buffer)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.close().await
    }
}
