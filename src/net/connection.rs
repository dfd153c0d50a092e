//! One client connection: read frames, decode request headers, run each request through
//! `handlers::dispatch` in its own task, write the responses in request order.
//!
//! ```text
//! socket ─▶ read_loop ─ frame ─ header ─ spawn(dispatch) ─▶ [pending: JoinHandles, FIFO]
//!                                                               │
//! socket ◀──────────────── write_loop: await each in order, write its frame ◀─┘
//! ```
//!
//! Pipelining: the reader keeps reading while earlier requests run, up to
//! `requests_inflight_per_connection_max` requests read but not yet answered (a permit per
//! request; without one the reader stops reading and TCP pushes back on the client). Handlers
//! run concurrently but are spawned in request order, and the executor polls new tasks in
//! spawn order, so work a handler submits before its first `.await` keeps request order
//! (Produce must hand its per-shard messages to the mesh before awaiting anything else).
//!
//! Closing: EOF or ECONNRESET is a normal close, logged at debug. A bad frame size, an
//! undecodable header or an unknown API key stops reading at once; the responses to earlier
//! requests are still written, then the socket closes. A handler error (including an
//! unsupported version of an API other than ApiVersions) closes the connection at its turn.
//! The idle timeout (`connections.max.idle.ms`) counts from the last read or write and never
//! fires while a request is in flight; a response the peer does not take within that time
//! (it stopped reading) closes the connection too. On drain, reading stops and in-flight
//! requests finish.
//!
//! Quotas: a response that carries a quota throttle mutes the connection for that time
//! (`ConnectionContext::muted_until`, KIP-219); the reader starts no request before it ends,
//! so TCP pushes back on the client. Other connections on the shard are not held up: only
//! this connection's reader task waits.
//!
//! Transport: the loop is generic over the stream's read half (`AsyncRead`) and write half
//! (`AsyncWrite`), monomorphised per transport so the plain path stays what it was: a plain
//! socket is both halves (`&TcpStream`), a TLS connection is `net/tls.rs`'s halves.
//!
//! Spliced responses (Fetch in splice mode) are written part by part: memory parts with a
//! write, file parts through the connection's splice pipe (`net/splice.rs`, created at the
//! first such response; from then on the socket is non-blocking, which compio's io_uring reads
//! and writes do not mind). The leases in the parts are dropped only after the send completes.
//! [`Transport::splice_socket`] is the one place that decides splice or copy: a TLS stream has
//! no socket to splice into (splice would bypass the encryption; kTLS would make it possible),
//! so its file parts are read into a bounded buffer and written through the TLS writer.
//!
//! Memory: frames up to `READ_CHUNK_SIZE` share one small receive buffer. A larger frame is
//! received alone into a buffer of its own (`net/buffers.rs`): a pooled one when the shard has
//! one of its class idle, else one that grows with bytes received (`READ_GROWTH_MAX` per read,
//! never past the frame, never with sizes announced). Reads into it stop at the frame's end, so
//! the frame becomes `Bytes` without a copy, and the buffer returns to the pool when the last
//! slice of the frame (held by storage, perhaps on another shard) drops.
//!
//! Runs on the shard that accepted the connection.
use super::buffers::{self, FrameBuffer};
use super::splice::{SpliceError, SplicePipe};
use super::{Either, race};
use crate::broker::Shard;
use crate::handlers::{
    self, ConnectionContext, HandlerError, HandlerOutcome, ResponsePart, SplicedResponse,
};
use crate::limits;
use crate::protocol::frame::{self, FrameError};
use crate::protocol::header::RequestHeader;
use crate::protocol::{ApiKey, DecodeError, Reader};
use crate::security::Session;
use crate::storage::LeasedRange;
use bytes::{Bytes, BytesMut};
use compio::BufResult;
use compio::buf::{IntoInner, IoBufMut};
use compio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use compio::net::TcpStream;
use compio::runtime::JoinHandle;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request being handled; its response is written when its turn comes.
type Pending = JoinHandle<Result<HandlerOutcome, HandlerError>>;

/// Why the reader stopped.
#[derive(Debug, thiserror::Error)]
enum ReadEnd {
    #[error("peer closed")]
    Closed,
    #[error("idle for {idle_ms} ms")]
    Idle { idle_ms: u128 },
    #[error("broker draining")]
    Draining,
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("bad request header: {0}")]
    Header(#[from] DecodeError),
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("read failed: {0}")]
    Io(io::Error),
    #[error("writer gone")]
    WriterGone,
}

/// Why the writer stopped early.
#[derive(Debug, thiserror::Error)]
enum WriteEnd {
    #[error("peer closed")]
    Closed,
    #[error("write failed: {0}")]
    Io(io::Error),
    #[error(transparent)]
    Splice(SpliceError),
    #[error("{0}")]
    Handler(HandlerError),
    #[error("handler task failed: {0}")]
    Task(String),
    /// One response was not taken by the peer within the idle timeout (it stopped reading).
    #[error("response not taken by the peer within {idle_ms} ms")]
    Stalled { idle_ms: u128 },
}

/// State both halves of one connection share (on the same task, so plain `Cell`s).
struct Activity {
    /// Last completed read or write: the idle clock.
    last: Cell<Instant>,
    /// One message per request read and not yet answered; bounded by the in-flight cap.
    permits: flume::Sender<()>,
    releases: flume::Receiver<()>,
}

impl Activity {
    fn touch(&self) {
        self.last.set(Instant::now());
    }

    fn inflight(&self) -> usize {
        self.permits.len()
    }
}

/// How one connection's bytes travel: its read and write halves, and the socket file ranges
/// may be spliced into (`None`: copy them through the writer).
pub struct Transport<'a, R, W> {
    pub reader: R,
    pub writer: W,
    pub splice_socket: Option<&'a TcpStream>,
}

impl<'a> Transport<'a, &'a TcpStream, &'a TcpStream> {
    /// A plain socket: both halves, and splice.
    #[must_use]
    pub fn plain(stream: &'a TcpStream) -> Self {
        Self {
            reader: stream,
            writer: stream,
            splice_socket: Some(stream),
        }
    }
}

/// Serves one connection until it closes; never fails (every end is logged here).
///
/// # Panics
/// On broken invariants only (a zero in-flight cap, which config validation rejects).
pub async fn serve<R: AsyncRead, W: AsyncWrite>(
    shard: Rc<Shard>,
    transport: Transport<'_, R, W>,
    peer: SocketAddr,
    session: Session,
) {
    let limits = shard.config().limits;
    let inflight_max = limits.requests_inflight_per_connection_max;
    assert!(inflight_max > 0);
    let (permits, releases) = flume::bounded(inflight_max);
    let activity = Activity {
        last: Cell::new(Instant::now()),
        permits,
        releases,
    };
    // Never blocks: a handle is queued only after a permit was taken, and the permits and the
    // queue have the same capacity.
    let (queue, pending) = flume::bounded::<Pending>(inflight_max);
    let connection = ConnectionContext::with_session(shard, peer, session);
    tracing::debug!(%peer, shard = connection.shard.index(), "connection open");
    let Transport {
        mut reader,
        mut writer,
        splice_socket,
    } = transport;
    let mut reader = pin!(read_loop(&connection, &mut reader, queue, &activity));
    let idle = connection.shard.config().limits.connection_idle;
    let sink = Sink {
        writer: &mut writer,
        splice_socket,
    };
    let mut writer = pin!(write_loop(sink, pending, &activity, idle));
    let (read_end, write_end) = match race(reader.as_mut(), writer.as_mut()).await {
        // The reader dropped its queue sender on return: the writer answers what is queued.
        Either::Left(read_end) => (Some(read_end), writer.await),
        Either::Right(write_end) => (None, write_end),
    };
    log_close(peer, read_end.as_ref(), write_end.as_ref().err());
}

fn log_close(peer: SocketAddr, read_end: Option<&ReadEnd>, write_end: Option<&WriteEnd>) {
    // The writer's failure, when there is one, is why the connection closed.
    match write_end {
        Some(WriteEnd::Io(error)) => tracing::warn!(%peer, %error, "connection failed"),
        Some(WriteEnd::Splice(error)) => tracing::warn!(%peer, %error, "connection failed"),
        Some(WriteEnd::Task(reason)) => {
            tracing::error!(%peer, %reason, "handler task failed; connection closed");
        }
        // A peer speaking bad protocol: worth seeing, not an operating error of ours.
        Some(end @ (WriteEnd::Handler(_) | WriteEnd::Stalled { .. })) => {
            tracing::info!(%peer, reason = %end, "closed");
        }
        Some(WriteEnd::Closed) | None => match read_end {
            Some(ReadEnd::Io(error)) => tracing::warn!(%peer, %error, "connection failed"),
            Some(
                end @ (ReadEnd::Frame(_) | ReadEnd::Header(_) | ReadEnd::UnknownApiKey { .. }),
            ) => tracing::info!(%peer, reason = %end, "closed"),
            Some(
                end @ (ReadEnd::Closed
                | ReadEnd::Idle { .. }
                | ReadEnd::Draining
                | ReadEnd::WriterGone),
            ) => tracing::debug!(%peer, reason = %end, "closed"),
            None => tracing::debug!(%peer, "closed"),
        },
    }
}

/// Reads and dispatches requests until the connection should stop reading.
async fn read_loop<R: AsyncRead>(
    connection: &ConnectionContext,
    stream: &mut R,
    queue: flume::Sender<Pending>,
    activity: &Activity,
) -> ReadEnd {
    let limits = connection.shard.config().limits;
    let pool = buffers::shard_pool();
    let mut buffer = BytesMut::with_capacity(limits::READ_CHUNK_SIZE);
    // Bounded per iteration by one read (or one large frame); runs for the connection's life.
    loop {
        // Before SASL authentication a frame over Kafka's `sasl.server.max.receive.size`
        // closes the connection, refused from its size prefix before it is buffered.
        let frame_size_max = if connection.session.is_authenticated() {
            limits.frame_size_max
        } else {
            limits
                .frame_size_max
                .min(limits::SASL_SERVER_RECEIVE_SIZE_MAX)
        };
        // Every whole frame already buffered, in order.
        loop {
            let frame = match frame::split_frame(&mut buffer, frame_size_max) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => return ReadEnd::Frame(error),
            };
            if let Err(end) = start_request(connection, frame.freeze(), &queue, activity).await {
                return end;
            }
        }
        let large_frame_size = match large_frame_size(&buffer, frame_size_max) {
            Ok(size) => size,
            Err(error) => return ReadEnd::Frame(error),
        };
        if let Some(frame_size) = large_frame_size {
            // `buffer` holds only the start of this frame (a whole one would have been split
            // off above): it moves to the frame's own buffer, a copy of under one chunk.
            let frame = FrameBuffer::start(&pool, frame_size, &buffer);
            buffer.clear();
            let frame = match read_frame(stream, frame, &connection.shard, activity).await {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            if let Err(end) = start_request(connection, frame, &queue, activity).await {
                return end;
            }
            continue;
        }
        // A small frame's rest (≤ one chunk) or the next frame's start fits one chunk.
        buffer.reserve(limits::READ_CHUNK_SIZE);
        match read_some(stream, buffer.uninit(), &connection.shard, activity).await {
            ReadOutcome::Data(filled) => buffer = filled.into_inner(),
            ReadOutcome::End(end) => return end,
        }
    }
}

/// The size (prefix included) of the frame starting `buffer` when it is too large for the
/// shared chunk buffer and so gets a buffer of its own; `None` for a small or unknown frame.
///
/// # Errors
/// A frame size that is negative or over `frame_size_max`, refused before anything is
/// buffered for it.
fn large_frame_size(buffer: &[u8], frame_size_max: usize) -> Result<Option<usize>, FrameError> {
    let size = frame::peek_size(buffer, frame_size_max)?;
    Ok(size
        .map(|size| frame::FRAME_PREFIX_SIZE + size)
        .filter(|&frame_size| frame_size > limits::READ_CHUNK_SIZE))
}

/// Receives the rest of one large frame into its own buffer; returns its payload.
async fn read_frame<R: AsyncRead>(
    stream: &mut R,
    mut frame: FrameBuffer,
    shard: &Shard,
    activity: &Activity,
) -> Result<Bytes, ReadEnd> {
    // Bounded: each read adds at least one byte to a frame of at most `frame_size_max`.
    while frame.missing() > 0 {
        match read_some(stream, frame.read_target(), shard, activity).await {
            ReadOutcome::Data(filled) => frame.filled(filled.into_inner()),
            ReadOutcome::End(end) => return Err(end),
        }
    }
    Ok(frame.finish(frame::FRAME_PREFIX_SIZE))
}

/// KIP-219: while a quota throttle mutes the connection (`handlers::throttle`), its next
/// request waits unread. Bounded: each wait ends at a deadline at most
/// `QUOTA_THROTTLE_TIME_MS_MAX` away, and only in-flight requests can push it later.
async fn wait_unmuted(connection: &ConnectionContext, activity: &Activity) -> Result<(), ReadEnd> {
    while let Some(until) = connection.muted_until.get() {
        if until <= Instant::now() {
            connection.muted_until.set(None);
            break;
        }
        let mut draining = pin!(connection.shard.draining());
        let sleep = compio::time::sleep_until(until);
        if let Either::Right(()) = race(sleep, draining.as_mut()).await {
            return Err(ReadEnd::Draining);
        }
    }
    // A muted connection is not idle: the client was told to wait.
    activity.touch();
    Ok(())
}

/// Decodes the header of `frame`, takes an in-flight permit and spawns its handler.
async fn start_request(
    connection: &ConnectionContext,
    frame: Bytes,
    queue: &flume::Sender<Pending>,
    activity: &Activity,
) -> Result<(), ReadEnd> {
    wait_unmuted(connection, activity).await?;
    if connection.session.expects_raw_tokens() {
        // After a SaslHandshake v0 the frame is a bare SASL token (no header).
        if activity.permits.send_async(()).await.is_err() {
            return Err(ReadEnd::WriterGone);
        }
        let task_connection = connection.clone();
        let handle = compio::runtime::spawn(async move {
            handlers::raw_sasl_token(&task_connection, frame).await
        });
        return queue.try_send(handle).map_err(|_| ReadEnd::WriterGone);
    }
    let mut reader = Reader::new(frame);
    let header = RequestHeader::decode(&mut reader)?;
    let known = ApiKey::from_i16(header.api_key).and_then(handlers::find);
    if known.is_none() {
        // Kafka has no response for a key it does not know: stop here; earlier requests are
        // still answered by the writer.
        return Err(ReadEnd::UnknownApiKey {
            api_key: header.api_key,
        });
    }
    let body = reader.rest();
    // Backpressure: wait for the writer to finish a request when the cap is reached.
    if activity.permits.send_async(()).await.is_err() {
        return Err(ReadEnd::WriterGone); // unreachable while `activity` lives
    }
    let task_connection = connection.clone();
    let handle =
        compio::runtime::spawn(
            async move { handlers::dispatch(&task_connection, header, body).await },
        );
    queue.try_send(handle).map_err(|_| ReadEnd::WriterGone)
}

enum ReadOutcome<B> {
    /// The buffer, with the new bytes in its room.
    Data(B),
    End(ReadEnd),
}

/// One read into `buffer`'s room (never empty: a read of 0 bytes means EOF), raced against the
/// idle timer and draining. The read future is kept across idle-timer wake-ups (re-issuing it
/// could lose bytes that arrive while it is being cancelled); it is only dropped when the
/// connection stops reading.
async fn read_some<R: AsyncRead, B: IoBufMut>(
    stream: &mut R,
    buffer: B,
    shard: &Shard,
    activity: &Activity,
) -> ReadOutcome<B> {
    let idle = shard.config().limits.connection_idle;
    let mut read = pin!(stream.read(buffer));
    let mut draining = pin!(shard.draining());
    // Bounded: each idle wake-up either ends the connection or finds activity newer than the
    // last deadline, so the next deadline is later.
    loop {
        let deadline = activity.last.get() + idle;
        let timer = race(compio::time::sleep_until(deadline), draining.as_mut());
        match race(read.as_mut(), timer).await {
            Either::Left(BufResult(Ok(0), _)) => return ReadOutcome::End(ReadEnd::Closed),
            Either::Left(BufResult(Ok(_), filled)) => {
                activity.touch();
                return ReadOutcome::Data(filled);
            }
            Either::Left(BufResult(Err(error), _)) if is_disconnect(&error) => {
                return ReadOutcome::End(ReadEnd::Closed);
            }
            Either::Left(BufResult(Err(error), _)) => return ReadOutcome::End(ReadEnd::Io(error)),
            Either::Right(Either::Right(())) => return ReadOutcome::End(ReadEnd::Draining),
            Either::Right(Either::Left(())) => {
                if activity.inflight() == 0 && activity.last.get().elapsed() >= idle {
                    let idle_ms = idle.as_millis();
                    return ReadOutcome::End(ReadEnd::Idle { idle_ms });
                }
                if activity.inflight() > 0 {
                    // Busy, not idle: a long request restarts the idle clock when it ends.
                    activity.touch();
                }
            }
        }
    }
}

/// Awaits each request in order and writes its response; ends when the reader is done and
/// everything queued is answered, or at the first failure.
async fn write_loop<W: AsyncWrite>(
    mut sink: Sink<'_, W>,
    pending: flume::Receiver<Pending>,
    activity: &Activity,
    idle: Duration,
) -> Result<(), WriteEnd> {
    let mut pipe: Option<SplicePipe> = None;
    // Bounded by the queue: ends when the reader dropped its sender and the queue is empty.
    while let Ok(request) = pending.recv_async().await {
        let outcome = request.await;
        // The permit goes back only after the response is out (below) or was dropped.
        let result = match outcome {
            Err(join_error) => Err(WriteEnd::Task(join_error.to_string())),
            Ok(Err(handler_error)) => Err(WriteEnd::Handler(handler_error)),
            Ok(Ok(HandlerOutcome::NoResponse)) => Ok(()),
            Ok(Ok(HandlerOutcome::Response(frame))) => {
                assert!(frame.len() >= frame::FRAME_PREFIX_SIZE);
                within(idle, sink.write_response(frame)).await
            }
            Ok(Ok(HandlerOutcome::Spliced(response))) => {
                within(idle, sink.write_spliced(&mut pipe, response)).await
            }
        };
        let released = activity.releases.try_recv();
        assert!(released.is_ok(), "response without an in-flight permit");
        if let Err(end) = result {
            log_splice_stats(pipe.as_ref());
            return Err(end);
        }
        activity.touch();
    }
    log_splice_stats(pipe.as_ref());
    Ok(())
}

/// Bounds one response's write by the idle timeout (`connections.max.idle.ms`): a peer that
/// stops reading would otherwise hold the connection, its in-flight permits and the segment
/// leases of a spliced Fetch forever (the read side's idle timer never fires while a request
/// is in flight). The connection closes; the response was partly sent, so it cannot go on.
async fn within(
    idle: Duration,
    write: impl Future<Output = Result<(), WriteEnd>>,
) -> Result<(), WriteEnd> {
    match race(write, compio::time::sleep(idle)).await {
        Either::Left(result) => result,
        Either::Right(()) => Err(WriteEnd::Stalled {
            idle_ms: idle.as_millis(),
        }),
    }
}

/// How the connection's spliced sends went (which path, how often the socket was full).
fn log_splice_stats(pipe: Option<&SplicePipe>) {
    if let Some(pipe) = pipe {
        let stats = pipe.stats();
        tracing::debug!(
            fills_sync = stats.fills_sync,
            fills_ring = stats.fills_ring,
            writable_waits = stats.writable_waits,
            "splice pipe"
        );
    }
}

/// The writer's side of a transport.
struct Sink<'a, W> {
    writer: &'a mut W,
    splice_socket: Option<&'a TcpStream>,
}

impl<W: AsyncWrite> Sink<'_, W> {
    /// Writes one whole response and pushes it out (a no-op on a plain socket; a TLS stream
    /// keeps records in its buffer until flushed).
    async fn write_response(&mut self, bytes: Bytes) -> Result<(), WriteEnd> {
        write_bytes(self.writer, bytes).await?;
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), WriteEnd> {
        self.writer.flush().await.map_err(|error| match error {
            error if is_disconnect(&error) => WriteEnd::Closed,
            error => WriteEnd::Io(error),
        })
    }

    /// Writes the memory parts and sends the file parts of one response, in order: spliced
    /// into the socket when there is one to splice into, else copied through the writer.
    async fn write_spliced(
        &mut self,
        pipe: &mut Option<SplicePipe>,
        response: SplicedResponse,
    ) -> Result<(), WriteEnd> {
        assert!(response.size_bytes() >= frame::FRAME_PREFIX_SIZE as u64);
        let count = response.parts.len();
        // Loop bound: the parts of one response (2 per partition with data, plus one).
        for (index, part) in response.parts.into_iter().enumerate() {
            match (part, self.splice_socket) {
                (ResponsePart::Memory(bytes), _) => write_bytes(self.writer, bytes).await?,
                (ResponsePart::File(range), Some(socket)) => {
                    let pipe = match pipe {
                        Some(pipe) => pipe,
                        None => pipe.insert(SplicePipe::new().map_err(WriteEnd::Io)?),
                    };
                    let more = index + 1 < count;
                    splice_range(pipe, socket, &range, more).await?;
                }
                (ResponsePart::File(range), None) => copy_range(self.writer, &range).await?,
            }
        }
        self.flush().await
    }
}

async fn write_bytes<W: AsyncWrite>(sink: &mut W, bytes: Bytes) -> Result<(), WriteEnd> {
    match sink.write_all(bytes).await {
        BufResult(Ok(()), _) => Ok(()),
        BufResult(Err(error), _) if is_disconnect(&error) => Err(WriteEnd::Closed),
        BufResult(Err(error), _) => Err(WriteEnd::Io(error)),
    }
}

async fn splice_range(
    pipe: &SplicePipe,
    socket: &TcpStream,
    range: &LeasedRange,
    more: bool,
) -> Result<(), WriteEnd> {
    pipe.send(socket, range, more)
        .await
        .map_err(|error| match error.io_error() {
            Some(io) if is_disconnect(io) => WriteEnd::Closed,
            _ => WriteEnd::Splice(error),
        })
}

/// The copy path of a file range: `TLS_COPY_CHUNK_SIZE` at a time, read from the leased file
/// with io_uring and written through `sink`, one buffer reused for the whole range.
async fn copy_range<W: AsyncWrite>(sink: &mut W, range: &LeasedRange) -> Result<(), WriteEnd> {
    let end = range.position + u64::from(range.length);
    let mut position = range.position;
    let mut buffer = Vec::with_capacity(limits::TLS_COPY_CHUNK_SIZE.min(range.length as usize));
    // Loop bound: each pass moves ≥ 1 byte of the range (a short file is an error).
    while position < end {
        let chunk = usize::try_from(end - position)
            .unwrap_or(usize::MAX)
            .min(limits::TLS_COPY_CHUNK_SIZE);
        buffer.clear();
        buffer.reserve(chunk);
        let read = compio::driver::op::ReadAt::new(Arc::clone(&range.file), position, buffer);
        let BufResult(result, filled) = compio::runtime::submit(read).await.into_inner();
        let read = result.map_err(WriteEnd::Io)?;
        if read == 0 {
            let missing = end - position;
            return Err(WriteEnd::Splice(SpliceError::ShortFile {
                position,
                missing,
            }));
        }
        let mut filled = filled;
        // SAFETY: the kernel wrote `read` bytes (≤ the capacity) at the start of the empty
        // buffer, so they are initialised.
        unsafe { compio::buf::SetLen::set_len(&mut filled, read) };
        // The read may run past the range when the buffer's capacity exceeds the chunk.
        let read = read.min(chunk);
        filled.truncate(read);
        let BufResult(result, written) = sink.write_all(filled).await;
        match result {
            Ok(()) => {}
            Err(error) if is_disconnect(&error) => return Err(WriteEnd::Closed),
            Err(error) => return Err(WriteEnd::Io(error)),
        }
        buffer = written;
        position += read as u64;
    }
    assert_eq!(position, end);
    Ok(())
}

/// The peer went away: a close, not an error worth a warning.
fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn only_frames_over_a_chunk_get_their_own_buffer() {
        let prefix = |size: i32| size.to_be_bytes();
        // Not even a size prefix yet: keep reading into the shared buffer.
        assert_eq!(large_frame_size(&[0, 0], 1 << 20), Ok(None));
        let small = limits::READ_CHUNK_SIZE - frame::FRAME_PREFIX_SIZE;
        let small = i32::try_from(small).unwrap();
        assert_eq!(large_frame_size(&prefix(small), 1 << 20), Ok(None));
        let large = large_frame_size(&prefix(small + 1), 1 << 20).unwrap();
        assert_eq!(large, Some(limits::READ_CHUNK_SIZE + 1));
        // Over the limit: refused before any allocation for it.
        assert!(matches!(
            large_frame_size(&prefix(i32::MAX), 1 << 20),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            large_frame_size(&prefix(-1), 1 << 20),
            Err(FrameError::Negative { .. })
        ));
    }

    #[test]
    fn resets_are_closes() {
        for kind in [io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe] {
            assert!(is_disconnect(&io::Error::from(kind)));
        }
        assert!(!is_disconnect(&io::Error::from(io::ErrorKind::OutOfMemory)));
    }
}
