//! The byte stream the controller channel (Raft RPCs and the brokers' App frames, see
//! `network.rs`) runs over, and the [`ControllerTransport`] that opens one: plain TCP by
//! default ([`Plaintext`]), or whatever the broker injects — mutual TLS, built by
//! `security::controller` (the layer above, which owns rustls and the PEM files), the way
//! `replication/link.rs` takes its dialer from `security::dial`.
//!
//! The stream is a [`NodeStream`] (`cluster/stream.rs`), the type the follower fetcher's
//! connections use too.
//! A transport's `accept` runs before the first frame is read: a secured one refuses a peer
//! that does not authenticate there, so nothing it sends is ever decoded. The probe of a
//! silent broker (`connect_refused`) is a bare TCP connect and needs no transport.
//!
//! Runs on the quorum's runtime; the streams are `!Send`.
pub use crate::cluster::stream::NodeStream;
use compio::net::TcpStream;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// A connection being opened or accepted.
pub type Opening = Pin<Box<dyn Future<Output = io::Result<NodeStream>>>>;

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
        Box::pin(async move { connect_tcp(&address).await.map(NodeStream::Plain) })
    }

    fn accept(&self, stream: TcpStream, _peer: SocketAddr) -> Opening {
        // A peer that vanished before this is found at the first read.
        let _ = stream.set_nodelay(true);
        Box::pin(async move { Ok(NodeStream::Plain(stream)) })
    }

    fn name(&self) -> &'static str {
        "plaintext"
    }
}
