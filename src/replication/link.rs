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

use crate::shard::steering::steering_port;

/// An open connection to another broker's inter-broker listener: the cluster's
/// [`NodeStream`] (`Plain`, or `Secured` with a TLS client session), shared with the
/// controller channel.
pub use crate::cluster::stream::NodeStream as Link;

/// Opens a [`Link`] to `HOST:PORT` (TCP, TLS, SASL as configured), steered to a shard of the
/// leader when asked, bounded by its caller.
pub type Dialer =
    Rc<dyn Fn(String, Option<Steer>) -> Pin<Box<dyn Future<Output = io::Result<Link>>>>>;

/// The leader's shard a follower's connection should land on (`shard::steering`): the
/// follower shard's own index, since a partition lives on the same shard index on every
/// broker, and the shard count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steer {
    pub shard: usize,
    pub shards: usize,
}

/// A plain TCP connection with `TCP_NODELAY` (what runs without a dialer).
///
/// # Errors
/// The connect's.
pub async fn connect_plain(address: &str, steer: Option<Steer>) -> io::Result<TcpStream> {
    let steered = match steer {
        Some(steer) if steer.shards > 1 => connect_steered(address, steer).await?,
        _ => None,
    };
    let stream = match steered {
        Some(stream) => stream,
        None => TcpStream::connect(address).await?,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A connection from a steering port of `steer.shard` (`shard::steering`); `None` when
/// `STEERING_PORT_TRIES` ports were all taken (the caller then lets the kernel pick one).
async fn connect_steered(address: &str, steer: Steer) -> io::Result<Option<TcpStream>> {
    use compio::net::{TcpSocket, ToSocketAddrsAsync as _};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let Some(target) = address.to_socket_addrs_async().await?.next() else {
        return Ok(None);
    };
    // Another starting point per connection, so two fetchers (or a restarted one whose old
    // port sits in TIME_WAIT) do not try the same ports in the same order.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos())
        ^ std::process::id();
    for attempt in 0..crate::limits::STEERING_PORT_TRIES {
        let port = steering_port(steer.shard, steer.shards, seed, attempt);
        let (socket, unspecified) = if target.is_ipv4() {
            (
                TcpSocket::new_v4().await?,
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            )
        } else {
            (
                TcpSocket::new_v6().await?,
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            )
        };
        if socket
            .bind(SocketAddr::new(unspecified, port))
            .await
            .is_err()
        {
            continue;
        }
        match socket.connect(target).await {
            Ok(stream) => return Ok(Some(stream)),
            // The 4-tuple is taken (the port's earlier connection to the same leader).
            Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {}
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {}
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}
