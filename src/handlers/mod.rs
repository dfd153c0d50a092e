//! The registry of Kafka APIs this broker serves: [`REGISTRY`] is the only list, and the
//! ApiVersions answer is built from it (Redpanda's `handlers.h` + `api_versions.cc`).
//!
//! Adding an API takes one file and one line:
//! 1. `handlers/<api>.rs` with `API_KEY`, `VERSION_MIN`, `VERSION_MAX` (within
//!    `protocol::versions::range`, possibly narrower) and
//!    `pub async fn handle(ctx: &mut RequestContext, request: XRequest)
//!        -> Result<XResponse, HandlerError>` (return `Option<XResponse>` to send nothing, as
//!    acks=0 Produce must);
//! 2. `pub mod <api>;` below and `handler!(<api>)` in [`REGISTRY`].
//!
//! The macro decodes the body with the request type `handle` takes, calls it, and encodes the
//! response frame (size prefix, response header v0/v1, body) at the request's version.
//!
//! Contract: a failure that concerns one topic or partition is a Kafka error code inside the
//! response; `Err(HandlerError)` means the connection is unusable and net/ closes it.
//!
//! Handlers reach the shard's services through the context they are given: `ctx.shard` is
//! the connection's `broker::Shard`, whose `state` holds the per-shard services (metadata view,
//! logs, group coordinator, producer ids). Other shards are reached through
//! `ctx.shard.invoke_on`, group coordinators through `group_routing::on_coordinator`.
//!
//! Runs on the connection's shard.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod authorize;
pub mod common;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod fetch_session;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod replica_fetch;
pub mod unregister_broker;
// ---- security ----
pub mod alter_user_scram_credentials;
pub mod describe_user_scram_credentials;
// ---- client quotas ----
pub mod alter_client_quotas;
pub mod describe_client_quotas;
pub mod sasl_authenticate;
pub mod sasl_handshake;
// ---- consumer groups ----
pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod sync_group;
// ---- shared by handlers ----
pub mod group_routing;
pub mod throttle;
pub mod turns;

use crate::broker::Shard;
use crate::protocol::header::{self, RequestHeader};
use crate::protocol::messages::sasl_authenticate::SaslAuthenticateRequest;
use crate::protocol::primitives::StrBytes;
use crate::protocol::{ApiKey, DecodeError, ErrorCode, Message, Tolerated, frame, versions};
use crate::security::Session;
use crate::shard::MeshError;
use crate::storage::LeasedRange;
use bytes::{Bytes, BytesMut};
use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;
use turns::Turns;

/// Why a request makes its connection unusable; net/ closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A key we do not serve. Kafka closes the connection: there is no response to send.
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    /// A version outside our range of an API other than ApiVersions: Kafka has no generic
    /// error body a client of an unknown version could parse, so the connection is closed.
    #[error("{api_key:?} v{version} is not supported")]
    UnsupportedVersion { api_key: ApiKey, version: i16 },
    /// A request other than ApiVersions and the SASL APIs on a connection that has not
    /// authenticated, or whose authentication expired (KIP-368). Kafka closes the connection
    /// (`SaslServerAuthenticator`: "Unexpected Kafka request ... during SASL handshake").
    #[error("{api_key:?} before SASL authentication (or after it expired)")]
    Unauthenticated { api_key: ApiKey },
    /// The request body does not decode at its version.
    #[error("malformed request body: {0}")]
    Decode(#[from] DecodeError),
    /// A shard this request needed stopped (only during shutdown).
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// A test failpoint asked to drop the connection (`failpoints` feature only).
    #[cfg(feature = "failpoints")]
    #[error(transparent)]
    Failpoint(#[from] crate::failpoints::Fired),
}

/// What a handler produced for the connection to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerOutcome {
    /// A whole response frame: size prefix, response header, body.
    Response(Bytes),
    /// Nothing is sent (Produce with acks=0); the next response follows in order.
    NoResponse,
    /// A response frame whose record bytes stay in segment files: net/ writes the memory
    /// parts and splices the file parts, in order (Fetch in splice mode).
    Spliced(SplicedResponse),
}

/// One response frame in pieces: the frame's size prefix (in the first part) counts them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplicedResponse {
    pub parts: Vec<ResponsePart>,
}

impl SplicedResponse {
    /// Bytes on the wire, size prefix included.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.parts.iter().map(ResponsePart::size_bytes).sum()
    }
}

/// A piece of a [`SplicedResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponsePart {
    /// Encoded in memory (headers, partition fields, length prefixes).
    Memory(Bytes),
    /// Record bytes sent straight from a segment file; the lease keeps the file open.
    File(LeasedRange),
}

impl ResponsePart {
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::File(range) => u64::from(range.length),
        }
    }
}

/// The connection a request arrived on; cheap to clone into each request's task.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub shard: Rc<Shard>,
    pub peer: SocketAddr,
    /// Keeps this connection's Produce requests in arrival order (handlers/turns.rs).
    pub produce_turns: Rc<Turns>,
    /// The fetch sessions this connection created; they end with it.
    pub fetch_sessions: Rc<fetch_session::ConnectionSessions>,
    /// Who the connection is and whether it has authenticated (`security::Session`).
    pub session: Rc<Session>,
    /// Until when a quota throttle mutes the connection: its next request is not read before
    /// (KIP-219; `throttle.rs`).
    pub muted_until: Rc<Cell<Option<Instant>>>,
}

impl ConnectionContext {
    /// A connection on a PLAINTEXT listener.
    #[must_use]
    pub fn new(shard: Rc<Shard>, peer: SocketAddr) -> Self {
        Self::with_session(shard, peer, Session::default())
    }

    /// A connection whose listener set up `session`.
    #[must_use]
    pub fn with_session(shard: Rc<Shard>, peer: SocketAddr, session: Session) -> Self {
        let fetch_sessions = fetch_session::ConnectionSessions::new(shard.index(), shard.count());
        Self {
            shard,
            peer,
            produce_turns: Rc::default(),
            fetch_sessions: Rc::new(fetch_sessions),
            session: Rc::new(session),
            muted_until: Rc::default(),
        }
    }
}

/// Everything a handler knows about its request besides the body.
#[derive(Debug)]
pub struct RequestContext {
    /// The connection's shard.
    pub shard: Rc<Shard>,
    pub peer: SocketAddr,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    /// The connection's Produce order (handlers/turns.rs).
    pub produce_turns: Rc<Turns>,
    /// The connection's fetch sessions (fetch_session.rs).
    pub fetch_sessions: Rc<fetch_session::ConnectionSessions>,
    /// The connection's principal and authentication state.
    pub session: Rc<Session>,
    /// This request's quota accounting while client quotas are in force (`throttle.rs`):
    /// every response's `throttle_time_ms` is answered from it as the response is encoded.
    pub quota: Option<Rc<throttle::RequestQuota>>,
}

impl RequestContext {
    /// This broker's node id.
    #[must_use]
    pub fn node_id(&self) -> i32 {
        self.shard.config().node_id
    }
}

/// A handler's boxed future, borrowing its context.
pub type HandlerFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HandlerOutcome, HandlerError>> + 'a>>;

/// One registry line: an API, the versions we serve, and its adapter (from [`handler!`]).
#[derive(Clone, Copy)]
pub struct Handler {
    pub api_key: ApiKey,
    pub version_min: i16,
    pub version_max: i16,
    call: for<'a> fn(&'a mut RequestContext, Bytes) -> HandlerFuture<'a>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Handler")
            .field("api_key", &self.api_key)
            .field("version_min", &self.version_min)
            .field("version_max", &self.version_max)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Handler`] from a handler module (see the module docs).
macro_rules! handler {
    ($api:ident) => {{
        fn call(ctx: &mut RequestContext, body: Bytes) -> HandlerFuture<'_> {
            Box::pin(async move {
                let (request, tolerated) = Message::decode_request_body(body, ctx.api_version)?;
                log_tolerated(ctx, tolerated);
                let response = $api::handle(ctx, request).await?;
                Ok(IntoOutcome::into_outcome(response, ctx))
            })
        }
        Handler {
            api_key: $api::API_KEY,
            version_min: $api::VERSION_MIN,
            version_max: $api::VERSION_MAX,
            call,
        }
    }};
}

/// Logs at debug level what a request's decode tolerated as Kafka does (see
/// `Message::decode_request_body`), e.g. librdkafka's all-topics Metadata.
fn log_tolerated(ctx: &RequestContext, tolerated: Tolerated) {
    if tolerated != Tolerated::default() {
        tracing::debug!(
            peer = %ctx.peer,
            api_key = ?ctx.api_key,
            api_version = ctx.api_version,
            trailing_bytes = tolerated.trailing_bytes,
            unknown_tags = tolerated.unknown_tags,
            tags_out_of_order = tolerated.tags_out_of_order,
            "request decoded leniently, as Kafka decodes it"
        );
    }
}

/// Every API this broker serves. The ApiVersions answer lists exactly these.
pub static REGISTRY: &[Handler] = &[
    handler!(produce),
    handler!(fetch),
    handler!(list_offsets),
    handler!(metadata),
    handler!(offset_for_leader_epoch),
    handler!(create_topics),
    handler!(delete_topics),
    handler!(delete_records),
    handler!(describe_configs),
    handler!(alter_configs),
    handler!(create_partitions),
    handler!(incremental_alter_configs),
    handler!(describe_cluster),
    handler!(describe_log_dirs),
    handler!(describe_quorum),
    handler!(elect_leaders),
    handler!(alter_partition_reassignments),
    handler!(list_partition_reassignments),
    handler!(unregister_broker),
    handler!(describe_acls),
    handler!(create_acls),
    handler!(delete_acls),
    handler!(api_versions),
    // ---- security ----
    handler!(sasl_handshake),
    handler!(sasl_authenticate),
    handler!(describe_user_scram_credentials),
    handler!(alter_user_scram_credentials),
    // ---- client quotas ----
    handler!(describe_client_quotas),
    handler!(alter_client_quotas),
    // ---- consumer groups ----
    handler!(delete_groups),
    handler!(describe_groups),
    handler!(find_coordinator),
    handler!(heartbeat),
    handler!(join_group),
    handler!(leave_group),
    handler!(list_groups),
    handler!(offset_commit),
    handler!(offset_delete),
    handler!(offset_fetch),
    handler!(sync_group),
    handler!(init_producer_id),
];

/// The registry line of `api_key`, if we serve it.
#[must_use]
pub fn find(api_key: ApiKey) -> Option<&'static Handler> {
    REGISTRY.iter().find(|handler| handler.api_key == api_key)
}

/// Runs one request: looks its API up, checks the version, decodes, handles, encodes.
///
/// # Errors
/// Unknown API key, unsupported version (except ApiVersions, answered with
/// UNSUPPORTED_VERSION), a malformed body, or a handler's own error.
pub async fn dispatch(
    connection: &ConnectionContext,
    header: RequestHeader,
    body: Bytes,
) -> Result<HandlerOutcome, HandlerError> {
    let unknown = HandlerError::UnknownApiKey {
        api_key: header.api_key,
    };
    let Some(api_key) = ApiKey::from_i16(header.api_key) else {
        return Err(unknown);
    };
    let Some(handler) = find(api_key) else {
        return Err(unknown);
    };
    if !(handler.version_min..=handler.version_max).contains(&header.api_version) {
        if api_key == ApiKey::ApiVersions {
            // KIP-511: answer at v0 with error 35 and our ranges, so the client can retry.
            return Ok(api_versions::unsupported_version(header.correlation_id));
        }
        return Err(HandlerError::UnsupportedVersion {
            api_key,
            version: header.api_version,
        });
    }
    if !connection.session.may_serve(api_key, Instant::now()) {
        return Err(HandlerError::Unauthenticated { api_key });
    }
    let mut ctx = request_context(connection, api_key, header);
    let started = Instant::now();
    let Some(quotas) = throttle::quotas_in_force(&ctx) else {
        let outcome = (handler.call)(&mut ctx, body).await;
        crate::metrics::record_request(api_key, started.elapsed(), outcome.is_err());
        return outcome;
    };
    let quota = Rc::new(throttle::RequestQuota::new(quotas, body.len()));
    ctx.quota = Some(Rc::clone(&quota));
    let mut outcome = {
        let mut call = (handler.call)(&mut ctx, body);
        let future = call.as_mut();
        throttle::PollTimer {
            future,
            quota: &quota,
        }
        .await
    };
    crate::metrics::record_request(api_key, started.elapsed(), outcome.is_err());
    if let Ok(outcome) = &mut outcome {
        let throttle = throttle::after(&ctx, outcome);
        if !throttle.is_zero() {
            let until = Instant::now() + throttle;
            let muted = connection
                .muted_until
                .get()
                .map_or(until, |now| now.max(until));
            connection.muted_until.set(Some(muted));
        }
    }
    outcome
}

fn request_context(
    connection: &ConnectionContext,
    api_key: ApiKey,
    header: RequestHeader,
) -> RequestContext {
    RequestContext {
        shard: Rc::clone(&connection.shard),
        peer: connection.peer,
        api_key,
        api_version: header.api_version,
        correlation_id: header.correlation_id,
        client_id: header.client_id,
        produce_turns: Rc::clone(&connection.produce_turns),
        fetch_sessions: Rc::clone(&connection.fetch_sessions),
        session: Rc::clone(&connection.session),
        quota: None,
    }
}

/// One bare SASL token after a SaslHandshake v0 (no request header, no SaslAuthenticate
/// framing): run as a SaslAuthenticate v0 and answered with the server's token, size-prefixed
/// and nothing else, as Kafka does. A failure closes the connection (the legacy framing has no
/// error field; Kafka closes too). The exchange ends (next frames are Kafka requests again)
/// once the session is authenticated.
///
/// # Errors
/// `Unauthenticated` when the token is refused.
pub async fn raw_sasl_token(
    connection: &ConnectionContext,
    token: Bytes,
) -> Result<HandlerOutcome, HandlerError> {
    let api_key = ApiKey::SaslAuthenticate;
    let header = RequestHeader {
        api_key: api_key.as_i16(),
        api_version: 0,
        correlation_id: 0,
        client_id: None,
    };
    let mut ctx = request_context(connection, api_key, header);
    let request = SaslAuthenticateRequest { auth_bytes: token };
    let response = sasl_authenticate::handle(&mut ctx, request).await?;
    if response.error_code != ErrorCode::None {
        connection.session.set_raw_tokens(false);
        return Err(HandlerError::Unauthenticated { api_key });
    }
    if connection.session.is_authenticated() {
        connection.session.set_raw_tokens(false);
    }
    let token = response.auth_bytes;
    let size = i32::try_from(token.len()).unwrap_or(i32::MAX);
    let mut frame = BytesMut::with_capacity(token.len() + 4);
    frame.extend_from_slice(&size.to_be_bytes());
    frame.extend_from_slice(&token);
    Ok(HandlerOutcome::Response(frame.freeze()))
}

/// Encodes a whole response frame for `ctx`'s request.
///
/// # Panics
/// When `M` is not the API of `ctx` or the version is outside the codec's range (programmer
/// errors: dispatch checked the version against the registry, which lies within the codec).
#[must_use]
pub fn encode_response<M: Message>(ctx: &RequestContext, response: &M) -> Bytes {
    assert_eq!(M::API_KEY, ctx.api_key, "response type of another API");
    encode_frame(response, ctx.correlation_id, ctx.api_version)
}

/// Encodes `[size][response header][body]` for `response` at `version`.
fn encode_frame<M: Message>(response: &M, correlation_id: i32, version: i16) -> Bytes {
    let mut buffer = BytesMut::with_capacity(256);
    let position = frame::start_frame(&mut buffer);
    let flexible = header::response_header_is_flexible(M::API_KEY, version);
    header::encode_response_header(&mut buffer, correlation_id, flexible);
    response.encode_body(&mut buffer, version);
    frame::finish_frame(&mut buffer, position, 0);
    assert!(buffer.len() > frame::FRAME_PREFIX_SIZE);
    buffer.freeze()
}

/// What a handler's `handle` may return: a response, or `Option` of one (`None` sends nothing).
/// Every response passes here, so this is where its `throttle_time_ms` is answered
/// (`throttle::answer`); an implementation must call it before encoding.
pub trait IntoOutcome {
    fn into_outcome(self, ctx: &RequestContext) -> HandlerOutcome;
}

impl<M: Message> IntoOutcome for M {
    fn into_outcome(mut self, ctx: &RequestContext) -> HandlerOutcome {
        throttle::answer(ctx, &mut self);
        HandlerOutcome::Response(encode_response(ctx, &self))
    }
}

impl<M: Message> IntoOutcome for Option<M> {
    fn into_outcome(self, ctx: &RequestContext) -> HandlerOutcome {
        match self {
            Some(response) => response.into_outcome(ctx),
            None => HandlerOutcome::NoResponse,
        }
    }
}

/// Checks the registry against the codec: no duplicates, every range within the codec's.
///
/// # Panics
/// On a registry error (a programmer error, caught by the unit test and at start-up).
pub fn check_registry() {
    for (index, handler) in REGISTRY.iter().enumerate() {
        let codec = versions::range(handler.api_key);
        assert!(
            handler.version_min <= handler.version_max,
            "{:?}: empty range",
            handler.api_key
        );
        assert!(
            codec.min <= handler.version_min && handler.version_max <= codec.max,
            "{:?} v{}..=v{} exceeds the codec's v{}..=v{}",
            handler.api_key,
            handler.version_min,
            handler.version_max,
            codec.min,
            codec.max
        );
        let duplicate = REGISTRY
            .iter()
            .skip(index + 1)
            .any(|other| other.api_key == handler.api_key);
        assert!(!duplicate, "{:?} registered twice", handler.api_key);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        check_registry();
        assert!(find(ApiKey::ApiVersions).is_some());
    }
}
