//! The Kafka listener: every shard binds the same address with SO_REUSEPORT (the kernel spreads
//! connections), admits each accepted connection against the global and per-IP caps, and serves
//! it on that shard for its whole life (a connection never moves).
//!
//! ```text
//! admission.rs   connections_max (one atomic for all shards), connections_per_ip_max
//! connection.rs  frames → header → handlers::dispatch → responses in request order
//! buffers.rs     per-shard receive buffer pool
//! splice.rs      zero-copy Fetch: leased file ranges spliced into the socket
//! ```
//! [`KafkaService`] is a `shard::Server` of `broker::Services`; `main.rs` composes it with the
//! metrics listener. net/ is the top of the library's layers: nothing imports it but `main`.
//!
//! Shutdown: when the shard starts draining, the accept loop ends, each connection stops reading
//! new requests and answers the ones in flight, and [`KafkaService`]'s future completes once all
//! of this shard's connections closed or the grace period ran out.
//!
//! Runs on every shard.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

pub mod admission;
pub mod buffers;
pub mod connection;
pub mod splice;

pub use admission::{Admission, Refused};

use crate::broker::{Services, Shard};
use crate::config::Tuning;
use crate::limits;
use crate::shard::{Either, LocalFuture, Server, ShardError, race};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;

/// The Kafka protocol service every shard runs.
#[derive(Debug)]
pub struct KafkaService {
    admission: Arc<Admission>,
}

impl KafkaService {
    #[must_use]
    pub fn new(admission: Arc<Admission>) -> Self {
        Self { admission }
    }
}

impl Server<Services> for KafkaService {
    fn start(&self, shard: &Rc<Shard>) -> Result<LocalFuture<()>, ShardError> {
        let address = shard.config().listen;
        let listener = bind(address, shard.index(), &shard.config().tuning).map_err(|source| {
            ShardError::Bind {
                shard: shard.index(),
                address,
                source,
            }
        })?;
        Ok(Box::pin(serve(
            Rc::clone(shard),
            listener,
            Arc::clone(&self.admission),
        )))
    }
}

/// A listening socket with SO_REUSEPORT, handed to this shard's runtime. Blocking mode is
/// kept: io_uring does not need O_NONBLOCK, and splice on sockets wants blocking (ARCH §4).
/// The profile's socket buffer sizes are set here, before `listen`, because accepted sockets
/// inherit them and TCP picks its window scale from the receive buffer at the handshake.
fn bind(
    address: SocketAddr,
    shard: usize,
    tuning: &Tuning,
) -> std::io::Result<compio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if let Some(size) = tuning.socket_send_buffer_size {
        socket.set_send_buffer_size(size)?;
        log_applied(shard, "SO_SNDBUF", size, socket.send_buffer_size()?);
    }
    if let Some(size) = tuning.socket_receive_buffer_size {
        socket.set_recv_buffer_size(size)?;
        log_applied(shard, "SO_RCVBUF", size, socket.recv_buffer_size()?);
    }
    socket.bind(&address.into())?;
    socket.listen(limits::LISTEN_BACKLOG)?;
    compio::net::TcpListener::from_std(socket.into())
}

/// Logs what the kernel made of a socket buffer size. Linux doubles the request (the extra half
/// is its bookkeeping) but first caps it at `net.core.[rw]mem_max`, silently: anything below
/// twice the request is that cap, which `ringbroker tune apply` raises.
fn log_applied(shard: usize, option: &'static str, requested_size: usize, applied_size: usize) {
    // Uncapped, the kernel reports exactly twice the request.
    if applied_size < requested_size.saturating_mul(2) {
        tracing::warn!(
            shard,
            option,
            requested_size,
            applied_size,
            "socket buffer capped by net.core.[rw]mem_max (see `ringbroker tune check`)"
        );
    } else {
        tracing::info!(
            shard,
            option,
            requested_size,
            applied_size,
            "applied socket buffer"
        );
    }
}

/// Accepts until draining, then waits (bounded by the grace period) for this shard's
/// connections to finish.
async fn serve(shard: Rc<Shard>, listener: compio::net::TcpListener, admission: Arc<Admission>) {
    // Every connection task holds a clone of `open`; when the last clone is dropped,
    // `all_closed` completes. A wait group without a counter to get wrong.
    let (open, all_closed) = flume::bounded::<()>(1);
    let mut draining = pin!(shard.draining());
    // Runs forever by design: a broker accepts until it is told to drain.
    loop {
        let accepted = match race(listener.accept(), draining.as_mut()).await {
            Either::Left(accepted) => accepted,
            Either::Right(()) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE, ENOBUFS, ECONNABORTED: transient; back off briefly so a full fd
                // table does not spin this loop.
                tracing::warn!(shard = shard.index(), %error, "accept failed");
                compio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Admission comes before any per-connection allocation or task.
        let permit = match admission.try_admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refused) => {
                crate::metrics::connection_refused();
                tracing::debug!(%peer, %refused, "connection refused");
                drop(stream);
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
        }
        crate::metrics::connection_accepted();
        let shard_for_task = Rc::clone(&shard);
        let open = open.clone();
        // Detached with a permit: `permit` bounds how many exist, `open` lets shutdown wait.
        compio::runtime::spawn(async move {
            connection::serve(shard_for_task, stream, peer).await;
            crate::metrics::connection_closed();
            drop(permit);
            drop(open);
        })
        .detach();
    }
    drop(listener);
    drop(open);
    let grace = shard.config().limits.shutdown_grace;
    let closed = race(all_closed.recv_async(), compio::time::sleep(grace)).await;
    if let Either::Right(()) = closed {
        tracing::warn!(
            shard = shard.index(),
            grace_ms = grace.as_millis(),
            "connections still open after the grace period"
        );
    }
}
