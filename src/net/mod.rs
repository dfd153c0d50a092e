//! The Kafka listeners: every shard binds every configured listener (`--listen`, each with its
//! security protocol) with SO_REUSEPORT (the kernel spreads connections), admits each accepted
//! connection against the global and per-IP caps, runs the TLS handshake on SSL and SASL_SSL
//! listeners, and serves the connection on that shard for its whole life (it never moves).
//!
//! ```text
//! admission.rs   connections_max (one atomic for all shards), connections_per_ip_max
//! connection.rs  frames → header → handlers::dispatch → responses in request order
//! buffers.rs     per-shard receive buffer pool
//! splice.rs      zero-copy Fetch: leased file ranges spliced into the socket
//! tls.rs         the rustls handshake and the TLS stream's read and write halves
//! ```
//! Fetch path per listener (logged at start by shard 0): plaintext listeners splice file ranges
//! into the socket (in `fetch_mode = "splice"`); TLS listeners copy them through the TLS writer
//! (`connection.rs` decides, in one place). The listener a connection arrived on is recorded
//! in its `Session` (`CLIENT` for the first, else its name) so Metadata can answer with the
//! brokers' endpoints on that same listener.
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
pub mod tls;

pub use admission::{Admission, Refused};

use crate::broker::{Services, Shard};
use crate::cluster::metadata::client_listener_name;
use crate::config::{FetchMode, ListenerConfig, Tuning};
use crate::limits;
use crate::security::Session;
use crate::security::tls::TlsContext;
use crate::shard::{Either, LocalFuture, Server, ShardError, race};
use compio::net::TcpStream;
use connection::Transport;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;

/// The Kafka protocol service every shard runs.
#[derive(Debug)]
pub struct KafkaService {
    admission: Arc<Admission>,
    /// The TLS configuration of the SSL and SASL_SSL listeners (`None` when there are none).
    tls: Option<Arc<TlsContext>>,
}

impl KafkaService {
    #[must_use]
    pub fn new(admission: Arc<Admission>) -> Self {
        Self {
            admission,
            tls: None,
        }
    }

    /// The service with TLS listeners served with `tls`.
    #[must_use]
    pub fn with_tls(admission: Arc<Admission>, tls: Option<Arc<TlsContext>>) -> Self {
        Self { admission, tls }
    }
}

/// One listener as a shard serves it.
struct Listening {
    /// The name it is registered under (`CLIENT` for the first listener).
    registered_name: Rc<str>,
    config: ListenerConfig,
    /// `Some` exactly on TLS listeners.
    tls: Option<Arc<TlsContext>>,
}

impl Server<Services> for KafkaService {
    fn start(&self, shard: &Rc<Shard>) -> Result<LocalFuture<()>, ShardError> {
        let mut served = Vec::with_capacity(shard.config().listeners.len());
        for (index, listener) in shard.config().listeners.iter().enumerate() {
            let address = listener.address;
            let socket = bind(
                address,
                (shard.index(), shard.count()),
                &shard.config().tuning,
            )
            .map_err(|source| ShardError::Bind {
                shard: shard.index(),
                address,
                source,
            })?;
            let tls = if listener.protocol.uses_tls() {
                // Validation requires [tls] whenever a listener runs TLS; main loads it.
                let tls = self.tls.as_ref().ok_or_else(|| ShardError::Bind {
                    shard: shard.index(),
                    address,
                    source: std::io::Error::other("TLS listener without a TLS configuration"),
                })?;
                Some(Arc::clone(tls))
            } else {
                None
            };
            let listening = Listening {
                registered_name: client_listener_name(index, &listener.name).into(),
                config: listener.clone(),
                tls,
            };
            if shard.index() == 0 {
                log_fetch_path(&listening, shard.config().fetch_mode);
            }
            served.push((socket, listening));
        }
        let shard = Rc::clone(shard);
        let admission = Arc::clone(&self.admission);
        Ok(Box::pin(serve_all(shard, served, admission)))
    }
}

fn log_fetch_path(listening: &Listening, fetch_mode: FetchMode) {
    let path = match (listening.tls.is_some(), fetch_mode) {
        (true, _) => "copy (TLS: splice cannot write into an encrypted stream; no kTLS)",
        (false, FetchMode::Splice) => "splice",
        (false, _) => "copy (fetch_mode)",
    };
    tracing::info!(
        listener = %listening.config.name,
        protocol = %listening.config.protocol,
        address = %listening.config.address,
        fetch_path = path,
        "listener"
    );
}

/// Serves every listener of this shard; completes when all of them drained.
async fn serve_all(
    shard: Rc<Shard>,
    served: Vec<(compio::net::TcpListener, Listening)>,
    admission: Arc<Admission>,
) {
    let tasks: Vec<_> = served
        .into_iter()
        .map(|(socket, listening)| {
            let task = serve(Rc::clone(&shard), socket, listening, Arc::clone(&admission));
            compio::runtime::spawn(task)
        })
        .collect();
    // Bounded by the listener count (≤ LISTENERS_MAX).
    for task in tasks {
        if let Err(error) = task.await {
            tracing::error!(shard = shard.index(), ?error, "listener task failed");
        }
    }
}

/// A listening socket with SO_REUSEPORT, handed to this shard's runtime. Blocking mode is
/// kept: io_uring does not need O_NONBLOCK, and splice on sockets wants blocking (ARCH §4).
/// The profile's socket buffer sizes are set here, before `listen`, because accepted sockets
/// inherit them and TCP picks its window scale from the receive buffer at the handshake.
///
/// With several shards, the group gets the steering program (`shard::steering`): the runner
/// starts the shards' listeners in shard order, so the group's index k is shard k, and a
/// follower connecting from a steering port lands on the shard that owns its partitions.
/// A kernel that refuses the program leaves the kernel's hash (a warning; replication then
/// crosses the mesh).
fn bind(
    address: SocketAddr,
    (shard, shard_count): (usize, usize),
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
    if shard_count > 1
        && let Err(error) = crate::shard::steering::attach_steering(&socket, shard_count)
    {
        tracing::warn!(shard, %address, %error, "connection steering unavailable");
    }
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
async fn serve(
    shard: Rc<Shard>,
    listener: compio::net::TcpListener,
    listening: Listening,
    admission: Arc<Admission>,
) {
    let listening = Rc::new(listening);
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
        let listening = Rc::clone(&listening);
        // Detached with a permit: `permit` bounds how many exist, `open` lets shutdown wait.
        compio::runtime::spawn(async move {
            serve_connection(shard_for_task, stream, peer, &listening).await;
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

/// One accepted connection on `listening`: plain, or after a TLS handshake (whose client
/// certificate, when one was verified, names the connection's principal).
async fn serve_connection(
    shard: Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
    listening: &Listening,
) {
    let protocol = listening.config.protocol;
    let session = Session::on_listener(protocol, Rc::clone(&listening.registered_name));
    let Some(tls) = &listening.tls else {
        connection::serve(shard, Transport::plain(&stream), peer, session).await;
        return;
    };
    let accepted = match tls::accept(tls.current(), stream).await {
        Ok(accepted) => accepted,
        Err(error) => {
            // A client without the right certificate, or not speaking TLS: its problem.
            let listener = &listening.config.name;
            tracing::info!(%peer, %listener, %error, "TLS handshake failed");
            return;
        }
    };
    // On SASL_SSL the principal is SASL's; the certificate only names it on SSL (as Kafka).
    if let Some(principal) = accepted.principal.filter(|_| !protocol.uses_sasl()) {
        tracing::debug!(%peer, %principal, "TLS client certificate");
        session.authenticate(principal);
    }
    let transport = Transport {
        reader: accepted.reader,
        writer: accepted.writer,
        splice_socket: None,
    };
    connection::serve(shard, transport, peer, session).await;
}
