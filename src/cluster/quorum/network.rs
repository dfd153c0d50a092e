//! Raft RPCs between voters over TCP, on each voter's controller listener: openraft's
//! `RaftNetworkFactory` / `RaftNetworkV2` (client side) and the accept loop that feeds the
//! local `Raft` (server side).
//!
//! Framing (ours; both directions, one request then one response per connection at a time):
//!
//! ```text
//! request   [size:u32 BE][kind:u8][body: postcard]      size = 1 + body bytes
//! response  [size:u32 BE][status:u8][body: postcard]    status 0 = ok, 1 = error (body: text)
//! kind      1 AppendEntries  2 Vote  3 PreVote  4 FullSnapshot (vote, meta, data)
//!           5 Join (an observer asks the leader to add it as a learner: node id, address)
//!           6 App (opaque bytes for the broker's controller service: registration,
//!             heartbeats, forwarded changes; `cluster::rpc` defines them)
//! ```
//! postcard: serde-compatible, compact (varints), and a documented stable wire format; the
//! messages are openraft's own serde types, so no schema of ours to drift from theirs.
//! Every frame is bounded by [`QUORUM_RPC_SIZE_MAX`] before its buffer is allocated, every
//! connect/RPC has a timeout (openraft's per-RPC TTL), an idle inbound connection is closed
//! after [`QUORUM_CONNECTION_IDLE_TIMEOUT_MS`], and at most [`QUORUM_CONNECTIONS_MAX`] inbound
//! connections are served. A failed RPC drops its connection; the next one reconnects.
//!
//! The bytes travel over the quorum's [`Transport`] (`transport.rs`): plain TCP, or mutual
//! TLS injected by the broker (`--controller-tls-*`), whose handshake on an accepted socket
//! runs before the first frame is read, so an unauthenticated peer cannot join, vote or
//! register (its connection is closed unread).
//!
//! Runs on the quorum's runtime (shard 0's later); `!Send`.
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use compio::net::{TcpListener, TcpStream};
use openraft::errors::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::state_machine::{MetadataApplier, StateMachine};
use super::transport::{NodeStream, Transport};
use super::types::{Snapshot, SnapshotMeta, TypeConfig, Vote, kafka_id};
use crate::limits::{
    QUORUM_ACCEPT_RETRY_MS, QUORUM_CONNECT_TIMEOUT_MS, QUORUM_CONNECTION_IDLE_TIMEOUT_MS,
    QUORUM_CONNECTIONS_MAX, QUORUM_HANDSHAKE_TIMEOUT_MS, QUORUM_RPC_SIZE_MAX,
};
use std::future::Future;
use std::pin::Pin;

const KIND_APPEND_ENTRIES: u8 = 1;
const KIND_VOTE: u8 = 2;
const KIND_PRE_VOTE: u8 = 3;
const KIND_FULL_SNAPSHOT: u8 = 4;
const KIND_JOIN: u8 = 5;
const KIND_APP: u8 = 6;
const STATUS_OK: u8 = 0;
const STATUS_ERROR: u8 = 1;

type Raft<A> = openraft::Raft<TypeConfig, StateMachine<A>>;

/// Writes one frame: `[size][tag][body]`.
async fn write_frame(stream: &mut NodeStream, tag: u8, body: &[u8]) -> io::Result<()> {
    let size = body.len() + 1;
    if size > QUORUM_RPC_SIZE_MAX {
        return Err(io::Error::other(format!(
            "frame of {size} bytes over {QUORUM_RPC_SIZE_MAX}"
        )));
    }
    let size = u32::try_from(size).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(&size.to_be_bytes());
    frame.push(tag);
    frame.extend_from_slice(body);
    stream.write_all(frame).await
}

/// Reads one frame; the size is checked against the limit before the body's buffer exists.
async fn read_frame(stream: &mut NodeStream) -> io::Result<(u8, Vec<u8>)> {
    let prefix = stream.read_exact(5).await?;
    let &[s0, s1, s2, s3, tag] = prefix.as_slice() else {
        unreachable!("read_exact(5) returns 5 bytes");
    };
    let size = usize::try_from(u32::from_be_bytes([s0, s1, s2, s3])).map_err(io::Error::other)?;
    if size == 0 || size > QUORUM_RPC_SIZE_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame size {size} outside 1..={QUORUM_RPC_SIZE_MAX}"),
        ));
    }
    let body_size = size - 1;
    if body_size == 0 {
        return Ok((tag, Vec::new()));
    }
    let body = stream.read_exact(body_size).await?;
    Ok((tag, body))
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io::Error::other)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Creates one [`PeerClient`] per (target, purpose); openraft owns them.
pub struct NetworkFactory {
    pub rpc_timeout: Duration,
    /// Every member's current address, refreshed from the committed membership by the
    /// quorum (an observer that restarts on another kernel-chosen port is re-addressed with
    /// `SetNodes`, but openraft keeps the clients it built with the old address).
    pub addresses: AddressBook,
    /// How connections to the members are opened (plain TCP or mutual TLS).
    pub transport: Transport,
}

/// Node id → controller listener address, shared by the clients of one quorum.
pub type AddressBook = Rc<RefCell<std::collections::BTreeMap<u64, String>>>;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        self.addresses
            .borrow_mut()
            .entry(target)
            .or_insert_with(|| node.addr.clone());
        PeerClient {
            address: node.addr.clone(),
            stream: None,
            rpc_timeout: self.rpc_timeout,
            book: Some((target, Rc::clone(&self.addresses))),
            transport: std::sync::Arc::clone(&self.transport),
        }
    }
}

/// One outbound connection to a peer voter, opened on first use and after any failure.
pub struct PeerClient {
    address: String,
    stream: Option<NodeStream>,
    rpc_timeout: Duration,
    /// Where to look the target's current address up before each connect.
    book: Option<(u64, AddressBook)>,
    transport: Transport,
}

impl PeerClient {
    /// Sends one request and waits for its response, all within `timeout`.
    async fn call(&mut self, kind: u8, body: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
        let result = compio::time::timeout(timeout, self.call_unbounded(kind, body)).await;
        let result = result.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ))
        });
        if result.is_err() {
            // A half-done exchange leaves the stream out of step: start over next time.
            self.stream = None;
        }
        result
    }

    async fn call_unbounded(&mut self, kind: u8, body: &[u8]) -> io::Result<Vec<u8>> {
        if self.stream.is_none() {
            if let Some((target, book)) = &self.book
                && let Some(address) = book.borrow().get(target)
            {
                self.address.clone_from(address);
            }
            // The TCP connect and the transport's handshake (each bounded by the transport,
            // the connect by the timeout here too; the whole call by `call`'s timeout).
            let connect = self.transport.connect(self.address.clone());
            let timeout =
                Duration::from_millis(QUORUM_CONNECT_TIMEOUT_MS + QUORUM_HANDSHAKE_TIMEOUT_MS);
            let stream = compio::time::timeout(timeout, connect)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            unreachable!("connected above");
        };
        write_frame(stream, kind, body).await?;
        let (status, body) = read_frame(stream).await?;
        match status {
            STATUS_OK => Ok(body),
            STATUS_ERROR => Err(io::Error::other(
                String::from_utf8_lossy(&body).into_owned(),
            )),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("status {other}"),
            )),
        }
    }

    async fn rpc<Q: Serialize, P: DeserializeOwned>(
        &mut self,
        kind: u8,
        request: &Q,
        option: &RPCOption,
    ) -> Result<P, RPCError<TypeConfig>> {
        let unreachable = |e: io::Error| RPCError::Unreachable(Unreachable::new(&e));
        let body = encode(request).map_err(unreachable)?;
        let timeout = option.hard_ttl().min(self.rpc_timeout);
        let answer = self.call(kind, &body, timeout).await.map_err(unreachable)?;
        decode(&answer).map_err(unreachable)
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.rpc(KIND_APPEND_ENTRIES, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.rpc(KIND_VOTE, &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.rpc(KIND_PRE_VOTE, &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // One frame: snapshots are bounded by QUORUM_SNAPSHOT_SIZE_MAX, within the frame limit.
        // The RPC timeout bounds it, so the cancel signal is not needed to end it.
        let request = (vote, snapshot.meta, snapshot.snapshot);
        self.rpc(KIND_FULL_SNAPSHOT, &request, &option)
            .await
            .map_err(|error| match error {
                RPCError::Unreachable(e) => StreamingError::Unreachable(e),
                other => StreamingError::Unreachable(Unreachable::from_string(other)),
            })
    }
}

/// Accepts peer connections on the controller listener and serves each with the local Raft.
/// The caller keeps the returned task; dropping it (and the connection tasks it tracks) stops
/// serving.
pub struct Server {
    _accept: compio::runtime::JoinHandle<()>,
    connections: Rc<RefCell<Vec<compio::runtime::JoinHandle<()>>>>,
}

impl Server {
    /// Starts the accept loop on `listener` for `raft`, each connection accepted through
    /// `transport`; App requests go to whatever handler `app` holds when they arrive.
    pub fn start<A: MetadataApplier>(
        listener: TcpListener,
        raft: Raft<A>,
        app: AppSlot,
        transport: Transport,
    ) -> Self {
        let connections = Rc::new(RefCell::new(Vec::new()));
        let tracked = Rc::clone(&connections);
        let serving = Serving {
            raft,
            app,
            transport,
        };
        let accept = compio::runtime::spawn(accept_loop(listener, serving, tracked));
        Self {
            _accept: accept,
            connections,
        }
    }

    /// Stops accepting and drops every connection.
    pub fn stop(self) {
        self.connections.borrow_mut().clear();
    }
}

/// What each accepted connection is served with.
struct Serving<A: MetadataApplier> {
    raft: Raft<A>,
    app: AppSlot,
    transport: Transport,
}

async fn accept_loop<A: MetadataApplier>(
    listener: TcpListener,
    serving: Serving<A>,
    connections: Rc<RefCell<Vec<compio::runtime::JoinHandle<()>>>>,
) {
    let open = Rc::new(Cell::new(0usize));
    // Runs until the server is dropped (its task is cancelled then).
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(%error, "quorum accept failed");
                compio::time::sleep(Duration::from_millis(QUORUM_ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        connections.borrow_mut().retain(|task| !task.is_finished());
        if open.get() >= QUORUM_CONNECTIONS_MAX {
            tracing::warn!(%peer, "quorum connection refused: {QUORUM_CONNECTIONS_MAX} open");
            continue;
        }
        open.set(open.get() + 1);
        let counter = Rc::clone(&open);
        let raft = serving.raft.clone();
        let app = Rc::clone(&serving.app);
        // The handshake runs in the connection's task (a stalled peer does not hold up the
        // accept loop), bounded by the transport, and counts against QUORUM_CONNECTIONS_MAX.
        let opening = serving.transport.accept(stream, peer);
        let task = compio::runtime::spawn(async move {
            match opening.await {
                Ok(stream) => {
                    if let Err(error) = serve_connection(stream, raft, app).await {
                        tracing::debug!(%peer, %error, "quorum connection closed");
                    }
                }
                Err(error) => {
                    tracing::warn!(%peer, %error, "controller connection refused at handshake");
                }
            }
            counter.set(counter.get() - 1);
        });
        connections.borrow_mut().push(task);
    }
}

async fn serve_connection<A: MetadataApplier>(
    mut stream: NodeStream,
    raft: Raft<A>,
    app: AppSlot,
) -> io::Result<()> {
    let idle = Duration::from_millis(QUORUM_CONNECTION_IDLE_TIMEOUT_MS);
    // Runs until the peer closes, goes idle, or sends a bad frame.
    loop {
        let frame = compio::time::timeout(idle, read_frame(&mut stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle"))?;
        let (kind, body) = match frame {
            Ok(frame) => frame,
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error),
        };
        let answer = if kind == KIND_APP {
            serve_app(&app, body).await
        } else {
            dispatch(&raft, &app, kind, &body).await
        };
        let (status, answer) = match answer {
            Ok(answer) => (STATUS_OK, answer),
            Err(error) => (STATUS_ERROR, error.to_string().into_bytes()),
        };
        write_frame(&mut stream, status, &answer).await?;
    }
}

/// Decodes one request, hands it to Raft, and encodes the answer.
async fn dispatch<A: MetadataApplier>(
    raft: &Raft<A>,
    app: &AppSlot,
    kind: u8,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
    match kind {
        KIND_APPEND_ENTRIES => {
            let request = decode(body)?;
            encode(&raft.append_entries(request).await.map_err(|e| failed(&e))?)
        }
        KIND_VOTE => {
            let request = decode(body)?;
            encode(&raft.vote(request).await.map_err(|e| failed(&e))?)
        }
        KIND_PRE_VOTE => {
            let request = decode(body)?;
            encode(&raft.pre_vote(request).await.map_err(|e| failed(&e))?)
        }
        KIND_FULL_SNAPSHOT => {
            let (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>) = decode(body)?;
            let snapshot = Snapshot {
                meta,
                snapshot: data,
            };
            let answer = raft.install_full_snapshot(vote, snapshot).await;
            encode(&answer.map_err(|e| failed(&e))?)
        }
        KIND_JOIN => {
            let (node_id, address, incarnation): (i32, String, [u8; 16]) = decode(body)?;
            let handler = app.borrow().clone();
            let admitted = handler.map_or(Ok(()), |h| h.admit_learner(node_id, incarnation));
            match admitted {
                Ok(()) => encode(&serve_join(raft, node_id, address).await?),
                Err(reason) => encode(&JoinAnswer::Refused { reason }),
            }
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("RPC kind {other}"),
        )),
    }
}

/// The broker's handler of App requests (`cluster::rpc`): request bytes in, answer bytes out.
pub trait AppHandler {
    fn handle(&self, request: Vec<u8>) -> Pin<Box<dyn Future<Output = io::Result<Vec<u8>>>>>;

    /// On the leader, before an observer becomes a learner: may `node_id` (this process
    /// start: `incarnation`) join? `Err` says why not (another live broker has the id).
    ///
    /// # Errors
    /// The refusal's reason.
    fn admit_learner(&self, node_id: i32, incarnation: [u8; 16]) -> Result<(), String>;
}

/// Where the App handler is installed once the broker's services exist (the listener starts
/// before them); requests before that get a retriable error.
pub type AppSlot = Rc<RefCell<Option<Rc<dyn AppHandler>>>>;

async fn serve_app(app: &AppSlot, body: Vec<u8>) -> io::Result<Vec<u8>> {
    let handler = app.borrow().clone();
    match handler {
        Some(handler) => handler.handle(body).await,
        None => Err(io::Error::other("controller service not started yet")),
    }
}

/// The answer to a Join.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinAnswer {
    /// The node is a learner with this address in the membership the leader committed.
    Joined,
    /// This voter is not the leader; try the one named (when known).
    NotLeader { leader: Option<i32> },
    /// The leader's broker refused the node (another live broker has its id).
    Refused { reason: String },
}

/// On the leader: makes `node_id` a learner at `address` (adds it, or replaces the address of
/// a learner that restarted on another kernel-chosen port). A voter id is refused: voters are
/// fixed by `--quorum-voters`.
async fn serve_join<A: MetadataApplier>(
    raft: &Raft<A>,
    node_id: i32,
    address: String,
) -> io::Result<JoinAnswer> {
    use openraft::ChangeMembers;
    use openraft::async_runtime::WatchReceiver;
    use openraft::errors::{ClientWriteError, RaftError};
    let id = u64::try_from(node_id).map_err(io::Error::other)?;
    let metrics = raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership().clone();
    if membership.voter_ids().any(|voter| voter == id) {
        return Err(io::Error::other(format!(
            "node {node_id} is a voter; observers need ids outside --quorum-voters"
        )));
    }
    let known = membership.get_node(&id).map(|node| node.addr.clone());
    if known.as_deref() == Some(address.as_str()) {
        // Already a learner there (a retried Join): only the leader's word counts.
        return Ok(if metrics.current_leader == Some(metrics.id) {
            JoinAnswer::Joined
        } else {
            JoinAnswer::NotLeader {
                leader: metrics.current_leader.map(kafka_id),
            }
        });
    }
    let node = BasicNode::new(&address);
    let changed = if known.is_some() {
        let nodes = std::collections::BTreeMap::from([(id, node)]);
        raft.change_membership(ChangeMembers::SetNodes(nodes), true)
            .await
    } else {
        raft.add_learner(id, node, false).await
    };
    match changed {
        Ok(_) => Ok(JoinAnswer::Joined),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            Ok(JoinAnswer::NotLeader {
                leader: forward.leader_id.map(kafka_id),
            })
        }
        Err(error) => Err(io::Error::other(error.to_string())),
    }
}

/// Whether nothing listens at `address` any more: a TCP connect is refused (the kernel
/// answers a connect to a closed port with a reset at once; a killed process's listener is
/// closed with it). A connect that succeeds, times out after `timeout` (a frozen process's
/// kernel still accepts; a cut-off host drops the SYN) or fails otherwise is `false`: the
/// node may be alive. The connection is closed at once; the listener sees an empty one.
pub async fn connect_refused(address: &str, timeout: Duration) -> bool {
    match compio::time::timeout(timeout, TcpStream::connect(address)).await {
        Ok(Err(error)) => error.kind() == io::ErrorKind::ConnectionRefused,
        Ok(Ok(_)) | Err(_) => false,
    }
}

/// A blocking TCP connection to `address` for admin tools on the main thread (`ringbroker
/// cluster status`): connect, and every later read and write, bounded by `timeout`.
///
/// # Errors
/// Unresolvable, unreachable or timed out.
pub fn connect_blocking(address: &str, timeout: Duration) -> io::Result<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let target = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{address}: no address")))?;
    let stream = std::net::TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// One App request over a plaintext blocking socket ([`connect_blocking`], then
/// [`app_exchange_blocking`]).
///
/// # Errors
/// Unreachable, timed out, a bad frame, or the peer's error text.
pub fn app_call_blocking(address: &str, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    app_exchange_blocking(&mut connect_blocking(address, timeout)?, request)
}

/// One App request over an open blocking stream (a socket from [`connect_blocking`], or a TLS
/// session over one when the controller channel runs mutual TLS): the same framing as
/// [`ControllerConnection::app`], the answer bounded by [`QUORUM_RPC_SIZE_MAX`]; the stream's
/// own timeouts bound the exchange.
///
/// # Errors
/// A failed read or write, a bad frame, or the peer's error text.
pub fn app_exchange_blocking(
    stream: &mut (impl std::io::Read + std::io::Write),
    request: &[u8],
) -> io::Result<Vec<u8>> {
    let size = u32::try_from(request.len() + 1).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(request.len() + 5);
    frame.extend_from_slice(&size.to_be_bytes());
    frame.push(KIND_APP);
    frame.extend_from_slice(request);
    stream.write_all(&frame)?;
    stream.flush()?;
    let mut prefix = [0u8; 5];
    stream.read_exact(&mut prefix)?;
    let [s0, s1, s2, s3, status] = prefix;
    let size = usize::try_from(u32::from_be_bytes([s0, s1, s2, s3])).map_err(io::Error::other)?;
    if size == 0 || size > QUORUM_RPC_SIZE_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad answer size",
        ));
    }
    let mut body = vec![0u8; size - 1];
    stream.read_exact(&mut body)?;
    match status {
        STATUS_OK => Ok(body),
        _ => Err(io::Error::other(
            String::from_utf8_lossy(&body).into_owned(),
        )),
    }
}

/// A connection to a peer's controller listener for Join and App requests (the broker's own
/// RPCs; Raft's go through openraft's clients). Opened on first use and after any failure.
pub struct ControllerConnection {
    peer: PeerClient,
}

impl ControllerConnection {
    /// A connection to `address`, opened through `transport` on first use.
    #[must_use]
    pub fn new(address: &str, timeout: Duration, transport: Transport) -> Self {
        Self {
            peer: PeerClient {
                book: None,
                address: address.to_owned(),
                stream: None,
                rpc_timeout: timeout,
                transport,
            },
        }
    }

    #[must_use]
    pub fn address(&self) -> &str {
        &self.peer.address
    }

    /// Sends App bytes, returns the answer's bytes; connect and exchange within the timeout.
    ///
    /// # Errors
    /// Unreachable, timed out, or the peer's error text.
    pub async fn app(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        let timeout = self.peer.rpc_timeout;
        self.peer.call(KIND_APP, request, timeout).await
    }

    /// Asks the peer to add this node (`node_id` at `address`) as a learner.
    ///
    /// # Errors
    /// Unreachable, timed out, refused.
    pub async fn join(
        &mut self,
        node_id: i32,
        address: &str,
        incarnation: [u8; 16],
    ) -> io::Result<JoinAnswer> {
        let request = encode(&(node_id, address.to_owned(), incarnation))?;
        let timeout = self.peer.rpc_timeout;
        let answer = self.peer.call(KIND_JOIN, &request, timeout).await?;
        decode(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected loopback pair.
    async fn pair() -> (NodeStream, NodeStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = futures_join(TcpStream::connect(address), listener.accept()).await;
        (
            NodeStream::Plain(client.unwrap()),
            NodeStream::Plain(accepted.unwrap().0),
        )
    }

    async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        openraft_rt_compio::futures::join!(a, b)
    }

    #[compio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused_before_allocation() {
        let (mut client, mut server) = pair().await;
        write_frame(&mut client, KIND_VOTE, b"body").await.unwrap();
        let (kind, body) = read_frame(&mut server).await.unwrap();
        assert_eq!((kind, body.as_slice()), (KIND_VOTE, &b"body"[..]));
        write_frame(&mut client, STATUS_OK, b"").await.unwrap();
        assert_eq!(
            read_frame(&mut server).await.unwrap(),
            (STATUS_OK, Vec::new())
        );
        // A size over the limit (or zero) fails at the prefix.
        for size in [u32::MAX, 0] {
            let mut prefix = size.to_be_bytes().to_vec();
            prefix.push(KIND_VOTE);
            client.write_all(prefix).await.unwrap();
            let error = read_frame(&mut server).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "size {size}");
        }
    }

    #[test]
    fn garbage_bodies_do_not_decode() {
        let garbage = [0xffu8; 7];
        assert!(decode::<VoteRequest<TypeConfig>>(&garbage).is_err());
        assert!(decode::<(Vote, SnapshotMeta, Vec<u8>)>(&[]).is_err());
    }
}
