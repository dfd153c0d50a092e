//! The connection a follower fetcher talks to a leader over: a plain TCP stream, or a TLS
//! client stream when the inter-broker listener runs TLS (`--inter-broker-listener`), and the
//! [`Dialer`] that opens one (TCP, then TLS and SASL as the listener wants) — installed by the
//! broker, which owns the TLS and SASL code (`security::dial`); without one, plain TCP.
//!
//! ```text
//! Plain    TcpStream
//! Secured  futures_rustls::client::TlsStream ─ AsyncStream (compio → futures-io) ─ TcpStream
//! ```
//! Runs on the fetcher's shard.
use compio::net::TcpStream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

/// An open connection to another broker's inter-broker listener: the cluster's
/// [`NodeStream`] (`Plain`, or `Secured` with a TLS client session), shared with the
/// controller channel.
pub use crate::cluster::stream::NodeStream as Link;

/// Opens a [`Link`] to `HOST:PORT` (TCP, TLS, SASL as configured), bounded by its caller.
pub type Dialer = Rc<dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Link>>>>>;

/// A plain TCP connection with `TCP_NODELAY` (what runs without a dialer).
///
/// # Errors
/// The connect's.
pub async fn connect_plain(address: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
