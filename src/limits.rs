//! Every bound in the broker, with its arithmetic. Config values are validated against these
//! once, at start-up (`config.rs`); code below uses them as hard caps.
//!
//! Runs on no shard in particular: constants only.

/// Largest request frame accepted (Kafka's `socket.request.max.bytes` default, 100 MiB). A frame
/// is buffered whole before decoding, so this is also the per-connection receive buffer cap; at
/// 1 GB/s a maximal frame holds a connection's pipeline for ~100 ms.
pub const FRAME_SIZE_MAX: usize = 100 * 1024 * 1024;

/// Largest record batch accepted in one Produce partition (Kafka's `message.max.bytes` default is
/// 1 MiB + overhead; we allow topics to raise it up to this, which must fit in a frame).
pub const BATCH_SIZE_MAX: usize = 64 * 1024 * 1024;
const _: () = assert!(FRAME_SIZE_MAX >= BATCH_SIZE_MAX);

// ---- topic configs: the one source of each default and bound. `cluster::configs` builds the
// config table from these, and `storage::LogConfig::default()` is made of them (a test checks
// that resolving no overrides through the table gives exactly `LogConfig::default()`). ----

/// Default `max.message.bytes` (Kafka: 1048588, 1 MiB plus record-batch overhead).
pub const MESSAGE_SIZE_MAX_DEFAULT: usize = 1_048_588;
const _: () = assert!(MESSAGE_SIZE_MAX_DEFAULT <= BATCH_SIZE_MAX);

/// Default `segment.bytes` (Kafka: 1 GiB).
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_SIZE_MAX);

/// Smallest `segment.bytes` a topic may set. Kafka 4 requires 1 MiB; we allow 4 KiB so tests and
/// small deployments can roll segments quickly (each segment costs two file descriptors).
pub const SEGMENT_BYTES_MIN: u64 = 4096;
const _: () = assert!(SEGMENT_BYTES_MIN >= SEGMENT_SIZE_MIN);

/// Default `index.interval.bytes` (Kafka: 4096).
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;

/// Default `retention.ms` (Kafka: 7 days).
pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default `segment.ms` (Kafka: 7 days).
pub const SEGMENT_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default `message.timestamp.after.max.ms` (Kafka 4: one hour).
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 60 * 60 * 1000;

/// Longest config value accepted. Every valid value in the table is far shorter; the bound keeps
/// stored values encodable as classic (i16-length) strings in DescribeConfigs responses.
pub const CONFIG_VALUE_LENGTH_MAX: usize = 1024;
const _: () = assert!(CONFIG_VALUE_LENGTH_MAX <= i16::MAX as usize);

/// Cap on the decompressed size of one batch when records are iterated (tests, ringbench,
/// validation of compressed batches). 256 MiB: four times the largest batch, which covers real
/// compression ratios of text while stopping a decompression bomb.
pub const DECOMPRESSED_BATCH_SIZE_MAX: usize = 256 * 1024 * 1024;
const _: () = assert!(DECOMPRESSED_BATCH_SIZE_MAX >= BATCH_SIZE_MAX);

/// Kafka's topic name length limit (249: the directory name `<topic>-<partition>` must fit 255).
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Partitions per topic we accept on create / add-partitions.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Partitions one shard may own; each costs two open files (log + index) and a few KiB of state.
pub const PARTITIONS_PER_SHARD_MAX: usize = 100_000;

// ---- storage (src/storage) ----

/// Largest segment file: sparse index positions are i32 (Kafka's `.index` format).
pub const SEGMENT_SIZE_MAX: u64 = i32::MAX as u64;

/// Smallest segment Kafka accepts for `segment.bytes` (14 bytes in Kafka; we require room for
/// one batch header so every non-empty segment holds at least one batch).
pub const SEGMENT_SIZE_MIN: u64 = 61;

/// Batches in one append (one Produce partition or one tick's worth for a partition). A Produce
/// frame of `FRAME_SIZE_MAX` holds at most FRAME_SIZE_MAX / 61 ≈ 1.7 M batches; we cap far lower
/// because each batch costs an iovec and the kernel takes at most 1024 iovecs per write call.
pub const APPEND_BATCHES_MAX: usize = 65_536;

/// Bytes in one append: a Produce frame's worth.
pub const APPEND_SIZE_MAX: u64 = FRAME_SIZE_MAX as u64;
const _: () = assert!(APPEND_SIZE_MAX <= SEGMENT_SIZE_MAX);

/// Bytes read per I/O when walking batch headers (reads, offset-for-timestamp) or scanning a
/// segment during recovery. 1 MiB keeps recovery near sequential-read speed while bounding the
/// per-scan buffer.
pub const SEGMENT_SCAN_CHUNK_SIZE: usize = 1024 * 1024;
const _: () = assert!(SEGMENT_SCAN_CHUNK_SIZE >= 61);

/// Bytes read per I/O when only batch headers are needed (a fetch locating its start and end).
pub const HEADER_SCAN_CHUNK_SIZE: usize = 16 * 1024;

/// Segments one partition may hold; a log that would exceed it rolls no further segments until
/// retention deletes some (1 GiB segments × 100 k = 100 TiB per partition).
pub const SEGMENTS_PER_PARTITION_MAX: usize = 100_000;

/// Leader epochs remembered per partition (Kafka keeps all; a real partition sees a few hundred).
pub const LEADER_EPOCHS_MAX: usize = 65_536;

/// Appends whose end position is remembered while the high watermark lags the log end
/// (replication). Older ones are forgotten: reads then stop at an earlier batch boundary.
pub const UNREPLICATED_APPENDS_MAX: usize = 4096;

/// Size of our own small files (control file, leader-epoch checkpoint) we read whole.
pub const METADATA_FILE_SIZE_MAX: u64 = 4 * 1024 * 1024;
// ---- net/ and shard/: connections, pipelining, mesh, placement, shutdown ----

/// Smallest `frame_size_max` a config may set: a Produce of one default-sized message
/// (`MESSAGE_SIZE_MAX_DEFAULT`) plus headers must still fit.
pub const FRAME_SIZE_MAX_FLOOR: usize = 2 * 1024 * 1024;
const _: () = assert!(FRAME_SIZE_MAX_FLOOR > MESSAGE_SIZE_MAX_DEFAULT);
const _: () = assert!(FRAME_SIZE_MAX_FLOOR <= FRAME_SIZE_MAX);

/// Connections open at once, across all shards (Kafka's `max.connections` is unbounded by
/// default; we are not). Each costs one fd, a task and a receive buffer that is small until a
/// large frame arrives, so 10 000 × (64 KiB typical) ≈ 640 MiB worst steady state; `LimitNOFILE`
/// must exceed this plus open segments.
pub const CONNECTIONS_MAX: usize = 10_000;
/// Default of `connections_max`.
pub const CONNECTIONS_MAX_DEFAULT: usize = CONNECTIONS_MAX;

/// Connections one client IP may hold at once (Kafka's `max.connections.per.ip`). Defaults to the
/// global cap; lower it to stop one host from starving the others.
pub const CONNECTIONS_PER_IP_MAX: usize = CONNECTIONS_MAX;
const _: () = assert!(CONNECTIONS_PER_IP_MAX <= CONNECTIONS_MAX);

/// Requests of one connection read but not yet answered. librdkafka's
/// `max.in.flight.requests.per.connection` defaults to 1 000 000 but it sends far fewer; Java
/// clients default to 5. 100 × `frame_size_max` is the theoretical receive-side memory of one
/// connection, which is why admission also counts bytes (a later permit) and why this is a cap.
pub const REQUESTS_INFLIGHT_PER_CONNECTION_MAX: usize = 1_000;
/// Default of `requests_inflight_per_connection_max`.
pub const REQUESTS_INFLIGHT_PER_CONNECTION_DEFAULT: usize = 100;
const _: () =
    assert!(REQUESTS_INFLIGHT_PER_CONNECTION_DEFAULT <= REQUESTS_INFLIGHT_PER_CONNECTION_MAX);

/// Default idle time after which a connection with no request in flight is closed (Kafka's
/// `connections.max.idle.ms`, 10 minutes).
pub const CONNECTION_IDLE_MS_DEFAULT: u64 = 10 * 60 * 1000;
/// Largest idle timeout a config may set (one day): idle sockets hold fds and buffers.
pub const CONNECTION_IDLE_MS_MAX: u64 = 24 * 60 * 60 * 1000;
/// Smallest idle timeout (100 ms): below that, the timer fires between a client's requests.
pub const CONNECTION_IDLE_MS_MIN: u64 = 100;

/// Bytes a connection asks the socket for per read when no larger frame is pending: small
/// requests arrive in one read, and an idle connection holds no more than this.
pub const READ_CHUNK_SIZE: usize = 64 * 1024;

/// Most bytes one read may add to a connection's buffer while a large frame arrives. Memory
/// then grows with the bytes actually received, not with the size a peer announces: a client
/// that promises 100 MiB and sends 10 bytes costs one chunk, not 100 MiB.
pub const READ_GROWTH_MAX: usize = 1024 * 1024;
const _: () = assert!(READ_GROWTH_MAX >= READ_CHUNK_SIZE);

/// Listen backlog of each shard's socket (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 1024;

/// Shards per process; one per cpu, and the mesh is a full graph (shards² queues).
pub const SHARDS_MAX: usize = 256;

/// Depth of each shard's mesh inbox. Tiny queues were measured 25–50x slower
/// (ARCHITECTURE §1); 1024 batched messages per destination absorb a burst from every
/// connection of a shard without blocking the sender.
pub const MESH_QUEUE_CAPACITY: usize = 1024;
const _: () = assert!(MESH_QUEUE_CAPACITY >= 1024);

/// Cross-shard calls one shard may have outstanding (sent and not yet answered). Callers over
/// this wait on their own shard. The cap exists because compio wakes a task from another thread
/// through a fixed-size queue per runtime (its `sync_queue_size`) and a waker that finds that
/// queue full spins until the owner drains it: two shards waking each other's tasks with both
/// queues full would spin forever. Only tasks waiting on a cross-shard call (plus the pump) are
/// woken from other threads, so a queue larger than this cap can never fill.
pub const MESH_CALLS_INFLIGHT_MAX: usize = 4096;

/// `sync_queue_size` of every shard runtime: the outstanding calls, the pump, control messages
/// and slack. 8192 task ids ≈ 64 KiB per shard.
pub const RUNTIME_SYNC_QUEUE_SIZE: usize = 8192;
const _: () = assert!(RUNTIME_SYNC_QUEUE_SIZE >= MESH_CALLS_INFLIGHT_MAX + 64);

/// Mesh jobs one shard runs at once (each may await storage); beyond this the pump stops
/// draining its inbox, which then fills and pushes back on senders.
pub const MESH_JOBS_INFLIGHT_MAX: usize = 4096;

/// Default grace period on SIGTERM/SIGINT for in-flight requests to finish before the shard's
/// shutdown hook runs regardless.
pub const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 5_000;
/// Largest grace period a config may set.
pub const SHUTDOWN_GRACE_MS_MAX: u64 = 5 * 60 * 1000;

/// How long `main` waits for every shard to report that it started (storage recovery runs in
/// the start-up hook, so this is generous).
pub const SHARD_STARTUP_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// How often `main` wakes from waiting on signals to check that no shard thread died.
pub const SIGNAL_POLL_MS: u64 = 200;

// ---- storage/pump/: the per-shard log pump ----

/// Commands queued for one shard's log pump. A full queue makes callers wait (backpressure).
/// 4096 × one produce partition each keeps a tick's work bounded while letting many connections
/// share one vectored write.
pub const LOG_PUMP_QUEUE_CAPACITY: usize = 4096;

/// Commands one tick takes from the queue: the most appends grouped into one `append_tick`.
pub const LOG_PUMP_TICK_COMMANDS_MAX: usize = 1024;
const _: () = assert!(LOG_PUMP_TICK_COMMANDS_MAX <= LOG_PUMP_QUEUE_CAPACITY);

/// Partition logs one shard keeps open (recovered, their segment files open). The others wait
/// closed ("dormant") and are recovered on first use, or in the background while fewer are
/// open; past this the least recently used are closed cleanly. Start-up then costs no per-log
/// I/O (issue 20: 100,000 partitions), and 2 shards × this stays well inside a 20,000 fd limit.
pub const OPEN_LOGS_PER_SHARD_MAX: usize = 4096;
const _: () = assert!(LOG_PUMP_TICK_COMMANDS_MAX <= OPEN_LOGS_PER_SHARD_MAX / 2);

/// Segment files the open logs of one shard hold: logs with many segments count for each one,
/// so the fds stay bounded whatever the segment counts (the least recently used logs close).
pub const OPEN_SEGMENT_FILES_PER_SHARD_MAX: usize = 6144;
const _: () = assert!(OPEN_SEGMENT_FILES_PER_SHARD_MAX >= OPEN_LOGS_PER_SHARD_MAX);

/// Dormant logs the pump recovers at once in the background, between ticks, while its queue
/// is empty: commands wait for at most one such batch.
pub const BACKGROUND_OPENS_PER_BATCH: usize = 16;

/// Dormant logs one housekeeping pass probes for retention (storage/pump/housekeeping.rs): a
/// directory listing, the control file and one 12-byte time-index read each (plus a stat per
/// segment when retention.bytes is set) — about eight syscalls on cached metadata, on a
/// blocking thread the pump does not wait for (a pass of 256 took ~17 ms in a debug build).
/// 100,000 partitions on 2 shards leave ≤ 50,000 dormant logs a shard: at 256 a pass, one a
/// second (`HOUSEKEEPING_INTERVAL_MS`), each is looked at every ~200 s, inside Kafka's
/// 300 s `log.retention.check.interval.ms`.
pub const DORMANT_RETENTION_CHECKS_PER_PASS: usize = 256;

/// Dormant logs one housekeeping pass opens because retention has something to delete (each a
/// recovery, as on first use; eviction closes them again). As many as one background batch, so
/// a pass holds the pump's commands up about as long as one batch of opens does.
pub const DORMANT_RETENTION_OPENS_PER_PASS: usize = BACKGROUND_OPENS_PER_BATCH;
const _: () = assert!(DORMANT_RETENTION_OPENS_PER_PASS <= DORMANT_RETENTION_CHECKS_PER_PASS);
// Opened on top of a full set, they stay within the 1/8 eviction closes down to.
const _: () = assert!(DORMANT_RETENTION_OPENS_PER_PASS <= OPEN_LOGS_PER_SHARD_MAX / 8);

/// Long-poll fetches waiting on one partition at once; more wait out their max_wait_ms without
/// an early wake-up (correct, only slower).
pub const FETCH_WAITERS_PER_PARTITION_MAX: usize = 1024;

/// How often each shard checks segment.ms rolls, retention and flush.ms (Kafka checks retention
/// every 5 minutes; one second keeps tests and small retention settings responsive and costs one
/// pass over the shard's partitions).
pub const HOUSEKEEPING_INTERVAL_MS: u64 = 1000;

/// Longest a Fetch may wait (`max_wait_ms`); clients send 500 ms by default. Bounds how long a
/// request holds its connection slot.
pub const FETCH_MAX_WAIT_MS_MAX: u64 = 30_000;

/// Largest response a single Fetch builds in memory (copy mode), whatever `max_bytes` asks:
/// Kafka's `fetch.max.bytes` default is 50 MiB.
pub const FETCH_RESPONSE_SIZE_MAX: usize = 55 * 1024 * 1024;

// ---- Consumer groups (src/group/) -------------------------------------------------------------

/// Partitions of `__consumer_offsets` a config may ask for (Kafka's default is 50). Each is a
/// partition log like any other, so this stays well under `PARTITIONS_PER_TOPIC_MAX`.
pub const OFFSETS_TOPIC_PARTITIONS_MAX: i32 = 1_000;
const _: () = assert!(OFFSETS_TOPIC_PARTITIONS_MAX <= PARTITIONS_PER_TOPIC_MAX);
/// Members of one group (Kafka's `group.max.size` is unbounded by default; a join past this
/// gets GROUP_MAX_SIZE_REACHED). JoinGroup answers to the leader carry every member's metadata,
/// so this also bounds that response: 1,000 × a few hundred bytes ≪ `FRAME_SIZE_MAX`.
pub const GROUP_MEMBERS_MAX: usize = 1_000;
/// Groups one coordinator shard keeps; a new group past this is refused with
/// COORDINATOR_NOT_AVAILABLE. 100,000 groups × ~1 KiB of state ≈ 100 MiB worst case.
pub const GROUPS_PER_SHARD_MAX: usize = 100_000;
/// Committed partitions per group; a commit that would add more gets COORDINATOR_NOT_AVAILABLE
/// for the new partitions (Kafka has no closer code).
pub const GROUP_OFFSETS_MAX: usize = 100_000;
/// Kafka's `offset.metadata.max.bytes`: longer commit metadata gets OFFSET_METADATA_TOO_LARGE.
pub const OFFSET_METADATA_SIZE_MAX: usize = 4_096;
/// Period of each coordinator shard's one timer task (session expiry, rebalance deadlines,
/// initial delay). 100 ms keeps expiry within 0.1 s of Kafka's and costs one wake-up per tick.
pub const GROUP_TIMER_TICK_MS: u64 = 100;
/// How often committed offsets are checked for expiry (Kafka's
/// `offsets.retention.check.interval.ms` is 10 minutes; a minute is cheap here).
pub const OFFSETS_EXPIRY_CHECK_MS: u64 = 60_000;
/// Bytes read per step while a coordinator replays its `__consumer_offsets` partition.
pub const GROUP_LOAD_READ_SIZE: u32 = 1024 * 1024;
/// Records per batch a coordinator writes (one commit request's partitions are split into
/// batches of at most this many records).
pub const GROUP_RECORDS_PER_BATCH_MAX: usize = 1_000;

// --- ops: tuning-profile knobs (config.rs `[shards]`, `[socket]`, `[io_uring]`) ---

/// NUMA nodes a profile may name; Linux's `CONFIG_NODES_SHIFT` tops out at 10 (1024 nodes),
/// real machines have ≤ 16; 64 leaves room and bounds the topology read in `tune check`.
pub const NUMA_NODES_MAX: usize = 64;
/// A shard's memory budget: at least 16 MiB (connection buffers for a handful of clients
/// plus one 2 MiB frame), at most 1 TiB (a big machine's whole memory on one shard).
pub const SHARD_MEMORY_SIZE_MIN: u64 = 16 * 1024 * 1024;
pub const SHARD_MEMORY_SIZE_MAX: u64 = 1 << 40;
/// SO_SNDBUF / SO_RCVBUF: the kernel's own floor is 4 KiB (it doubles what is asked); above
/// 256 MiB a connection's buffer would exceed any sane `net.core.[rw]mem_max`.
pub const SOCKET_BUFFER_SIZE_MIN: usize = 4 * 1024;
pub const SOCKET_BUFFER_SIZE_MAX: usize = 256 * 1024 * 1024;
/// io_uring submission queue entries: the kernel takes powers of two up to 32768
/// (`IORING_MAX_ENTRIES`); below 64 a shard's batches of I/O would not fit one submit.
pub const IO_URING_ENTRIES_MIN: u32 = 64;
pub const IO_URING_ENTRIES_MAX: u32 = 32_768;
/// SQPOLL thread idle time before it sleeps; beyond 10 s a poller burns a cpu for nothing.
pub const SQPOLL_IDLE_MS_MAX: u32 = 10_000;
// Fetch splice (net/splice.rs) and produce buffers (handlers/produce.rs).

/// Bytes a connection's splice pipe asks the kernel for (F_SETPIPE_SZ). 1 MiB is the default
/// `/proc/sys/fs/pipe-max-size`, so an unprivileged broker gets it, and a 1 MiB batch moves in
/// one file → pipe → socket round (two io_uring ops). Memory: the pipe references page-cache
/// pages rather than copying them, so the cost per connection is page pointers, not 1 MiB.
pub const SPLICE_PIPE_SIZE: usize = 1024 * 1024;
// Idempotent producers (storage/producer_state.rs, cluster/producer_ids.rs).

/// Producers remembered per partition. Each costs ≈ 250 bytes in memory and 179 in a snapshot
/// (5 batches), so a full table is ≈ 2 MiB per partition and a full snapshot ≈ 1.5 MiB. Past
/// it the least recently active producer is forgotten (as if expired). Kafka has no bound and
/// exhausts its heap instead (KIP-936).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 8192;

/// Producer snapshot files kept per partition: the newest, plus one fallback should the newest
/// be damaged.
pub const PRODUCER_SNAPSHOTS_RETAINED: usize = 2;

/// Producer ids per block a broker asks the controller for (a metadata-log commit per this
/// many InitProducerId calls; at most this many ids skipped after a crash).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// How often a partition forgets expired producers (Kafka's
/// `producer.id.expiration.check.interval.ms` default): a table scan per append would cost
/// O(producers); expiry may thus lag by up to this much.
pub const PRODUCER_EXPIRY_CHECK_INTERVAL_MS: i64 = 10 * 60 * 1000;
// Metrics (src/metrics/).

/// Partitions one shard reports per scrape; past it the rest are left out of that scrape, so a
/// scrape's size and time stay bounded however many partitions a shard owns.
pub const METRICS_PARTITIONS_PER_SHARD_MAX: usize = 10_000;

/// Committed group offsets one shard reports per scrape (the same bound's reasoning).
pub const METRICS_GROUP_OFFSETS_PER_SHARD_MAX: usize = 10_000;

/// Bytes of a metrics HTTP request head; a scraper sends a few hundred.
pub const METRICS_REQUEST_SIZE_MAX: usize = 8 * 1024;

/// Time for one metrics request, from accept to the last byte of the answer.
pub const METRICS_REQUEST_TIMEOUT_MS: u64 = 5_000;

// ---- DescribeLogDirs ----

/// Partitions described by one DescribeLogDirs request (null topics asks for all of them): each
/// costs a size lookup on its owning shard and ~30 bytes of response.
pub const DESCRIBE_LOG_DIRS_PARTITIONS_MAX: usize = 100_000;

// splice2: synchronous fetch splices (net/splice.rs).

/// Readiness waits in a row, without a byte moving, before a spliced send gives up on the
/// socket. POLLOUT on a TCP socket means the send queue has room, so the next splice moves at
/// least a page; a second refusal in a row is already odd, and 16 leave room for spurious
/// wake-ups while keeping the loop bounded.
pub const SPLICE_SOCKET_WAITS_MAX: u32 = 16;

// bufpool (src/net/buffers.rs: per-shard pool of large receive buffers)

/// Smallest receive-buffer size class, as a power of two (128 KiB). Frames up to
/// `READ_CHUNK_SIZE` share the connection's chunk buffer; every larger frame gets a buffer of its
/// own, so the smallest class must hold the smallest such frame.
pub const RECEIVE_POOL_CLASS_MIN_LOG2: u32 = 17;
/// Largest size class, as a power of two (16 MiB): sixteen times Kafka's default
/// `max.message.bytes`, so every common Produce frame is pooled; rarer, larger frames are
/// allocated per frame, which costs little next to receiving them.
pub const RECEIVE_POOL_CLASS_MAX_LOG2: u32 = 24;
const _: () = assert!(1 << RECEIVE_POOL_CLASS_MIN_LOG2 > READ_CHUNK_SIZE);
const _: () = assert!(RECEIVE_POOL_CLASS_MIN_LOG2 <= RECEIVE_POOL_CLASS_MAX_LOG2);
const _: () = assert!(1 << RECEIVE_POOL_CLASS_MAX_LOG2 <= FRAME_SIZE_MAX);

/// Idle buffers one size class of one shard's pool may hold: enough for the frames a few
/// pipelining producers keep in flight (Java clients send up to 5 per connection), few enough
/// that a burst of one size cannot pin memory in that class forever.
pub const RECEIVE_POOL_BUFFERS_PER_CLASS_MAX: usize = 16;

/// Bytes of idle buffers one shard's pool may hold (across classes). This is memory kept after
/// a burst of large frames ends; 64 MiB per shard is ~60 in-flight 1 MiB frames, and with one
/// shard per core it stays small next to the page cache the same traffic fills.
pub const RECEIVE_POOL_SIZE_PER_SHARD_MAX: usize = 64 * 1024 * 1024;
const _: () = assert!(RECEIVE_POOL_SIZE_PER_SHARD_MAX >= 1 << RECEIVE_POOL_CLASS_MAX_LOG2);

/// Appends of at most this many bytes per write call are written with a plain `pwritev` on the
/// owning shard; larger ones through io_uring (see storage/append.rs `write_parts`: on ext4 a
/// buffered io_uring write always goes to a worker thread, a hand-off that costs more than
/// copying a few KiB; measured with 100-byte-record produce, 16 KiB batches).
pub const INLINE_WRITE_BYTES_MAX: u64 = 256 * 1024;

/// Bytes appended to the active segment after which its write-back is started
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)` over what was written since the last start; see
/// storage/append.rs `start_writeback`). Without it every byte of a segment stays dirty until
/// the roll's fdatasync writes the whole segment at once, and the disk idles in between.
/// Small enough that the roll's fdatasync finds little left; large enough that the syscall
/// stays rare (one per 8 MiB is ~0.1 per MiB of 1 MiB batches).
pub const WRITEBACK_START_BYTES: u32 = 8 * 1024 * 1024;

// ---- producer state ----

/// Default of `producer_id_expiration_ms` (Kafka's `producer.id.expiration.ms`): one day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;
/// Longest `producer_id_expiration_ms` accepted: a year. State of idle producers is kept this
/// long at most (memory per producer is small, but it must end).
pub const PRODUCER_ID_EXPIRATION_MS_MAX: u64 = 365 * 24 * 60 * 60 * 1000;

// ---- cluster metadata (src/cluster/metadata/) ----

/// Encoded size of one metadata record. The largest record today is a topic creation with
/// every topic config overridden: ~15 configs × (name + `CONFIG_VALUE_LENGTH_MAX` 1 KiB) ≈
/// 16 KiB, so 1 MiB (Kafka's default `max.message.bytes`, which also bounds KRaft's metadata
/// batches) leaves room for the cluster's records (partitions with replica lists) without
/// letting one record hold the controller for long. Decoding refuses anything larger before
/// reading its fields.
pub const METADATA_RECORD_SIZE_MAX: usize = 1024 * 1024;

/// Encoded size of the metadata snapshot file, read whole at start-up and rewritten whole on
/// each change until the Raft log takes over. A topic costs ~100 bytes plus its overrides, so
/// 64 MiB holds ~100 k topics with a few overrides each; rewriting it is ~30 ms at 2 GB/s, paid
/// only by admin changes, never by produce or fetch.
pub const METADATA_SNAPSHOT_SIZE_MAX: usize = 64 * 1024 * 1024;
const _: () = assert!(METADATA_SNAPSHOT_SIZE_MAX >= METADATA_RECORD_SIZE_MAX);
// Sizes are written as u32 on disk.
const _: () = assert!(METADATA_SNAPSHOT_SIZE_MAX <= u32::MAX as usize);

/// Length of a cluster id. Ours are 22 characters (a UUID in URL-safe base64, as Kafka's);
/// the bound only keeps a hand-edited file from holding an unbounded string.
pub const CLUSTER_ID_LENGTH_MAX: usize = 64;

// ---- metadata quorum (src/cluster/quorum/: Raft through openraft) ----

/// Bytes of one metadata proposal's records together. Metadata records are small (a partition
/// record is ~100 bytes), so 1 MiB carries ~10k of them: CreateTopics of a topic with thousands
/// of partitions still fits one atomic entry.
pub const QUORUM_PROPOSAL_SIZE_MAX: usize = 1024 * 1024;
/// Records in one proposal (each costs a length prefix and an apply call).
pub const QUORUM_PROPOSAL_RECORDS_MAX: usize = 16 * 1024;
/// Bytes of one encoded Raft entry on disk and on the wire: a proposal plus the entry's log id,
/// payload tag and length prefixes (a few dozen bytes, 4 KiB of slack).
pub const QUORUM_ENTRY_SIZE_MAX: usize = QUORUM_PROPOSAL_SIZE_MAX + 4096;
/// Entries in one AppendEntries RPC (openraft's `max_payload_entries`): with entries at their
/// largest this is the RPC size bound below; typical metadata entries are far smaller.
pub const QUORUM_ENTRIES_PER_APPEND_MAX: u64 = 64;
/// Bytes of one applied-state snapshot. Kafka's metadata image for 100k partitions is ~20 MiB;
/// 64 MiB leaves room and is still sent in one RPC within the RPC timeout on a 1 Gbit/s link.
pub const QUORUM_SNAPSHOT_SIZE_MAX: usize = 64 * 1024 * 1024;
/// Bytes of one Raft RPC frame, either direction: the larger of a full AppendEntries and a
/// whole snapshot, plus 64 KiB for headers and the vote.
pub const QUORUM_RPC_SIZE_MAX: usize = {
    let append = QUORUM_ENTRY_SIZE_MAX * QUORUM_ENTRIES_PER_APPEND_MAX as usize;
    let larger = if append > QUORUM_SNAPSHOT_SIZE_MAX {
        append
    } else {
        QUORUM_SNAPSHOT_SIZE_MAX
    };
    larger + 64 * 1024
};
const _: () = assert!(QUORUM_RPC_SIZE_MAX <= u32::MAX as usize);
const _: () = assert!(QUORUM_ENTRY_SIZE_MAX > QUORUM_PROPOSAL_SIZE_MAX);
/// Inbound Raft connections one voter serves at once: each peer opens up to three (append,
/// heartbeat, snapshot streams); 64 covers seven voters with room for reconnects racing the
/// close of old connections. A connection carries one RPC at a time, so this also bounds the
/// inbound RPCs in flight (and their buffers: 64 × `QUORUM_RPC_SIZE_MAX` at worst, a bound for
/// the trusted controller network, not for hostile peers).
pub const QUORUM_CONNECTIONS_MAX: usize = 64;
/// A Raft connection with no frame for this long is closed; heartbeats arrive every
/// `QUORUM_HEARTBEAT_INTERVAL_MS_DEFAULT`, so only a dead peer goes this long.
pub const QUORUM_CONNECTION_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Pause after a failed accept on the controller listener (e.g. out of file descriptors), so
/// the accept loop waits for a close instead of spinning.
pub const QUORUM_ACCEPT_RETRY_MS: u64 = 50;
/// Segment size of the metadata partition. Purging below a snapshot deletes whole segments
/// only, so this bounds the disk kept behind a snapshot; 64 MiB is ~60 maximal entries and
/// hundreds of thousands of typical ones.
pub const QUORUM_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
const _: () = assert!(QUORUM_SEGMENT_SIZE > QUORUM_ENTRY_SIZE_MAX as u64);
/// Connecting to a peer: loopback or LAN answers in well under a second.
pub const QUORUM_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// The TLS handshake of a controller-channel connection (`--controller-tls-*`), each side:
/// two round trips and two signatures between machines of one network, so well under a
/// second; an inbound peer that stalls it holds one of `QUORUM_CONNECTIONS_MAX` slots for at
/// most this long (shorter than the client listeners' `TLS_HANDSHAKE_TIMEOUT_MS`, whose
/// clients may be far away).
pub const QUORUM_HANDSHAKE_TIMEOUT_MS: u64 = 2_000;
const _: () = assert!(QUORUM_HANDSHAKE_TIMEOUT_MS < QUORUM_CONNECTION_IDLE_TIMEOUT_MS);
/// Default of the heartbeat interval (openraft's default is 50 ms): a leader that died is noticed
/// after an election timeout, which must be several heartbeats.
pub const QUORUM_HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 100;
/// Default election timeout range: 3 to 6 heartbeats, so one lost heartbeat does not start an
/// election, and a dead leader is replaced within ~1 s (issue 15's goal: CreateTopics again
/// within 3 s of a kill -9).
pub const QUORUM_ELECTION_TIMEOUT_MS_MIN_DEFAULT: u64 = 300;
pub const QUORUM_ELECTION_TIMEOUT_MS_MAX_DEFAULT: u64 = 600;
const _: () =
    assert!(QUORUM_ELECTION_TIMEOUT_MS_MIN_DEFAULT > 2 * QUORUM_HEARTBEAT_INTERVAL_MS_DEFAULT);
const _: () =
    assert!(QUORUM_ELECTION_TIMEOUT_MS_MAX_DEFAULT > QUORUM_ELECTION_TIMEOUT_MS_MIN_DEFAULT);
/// Default time a proposal may wait for its commit; past it the caller gets a retriable error
/// (a leader cut off from its quorum never commits, and must not hang its callers).
pub const QUORUM_PROPOSE_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Default entries applied between two snapshots; the log below a snapshot is purged, so a
/// restart replays at most this many entries after loading the snapshot.
pub const QUORUM_SNAPSHOT_ENTRIES_DEFAULT: u64 = 10_000;
/// Bounds of the configurable snapshot interval: below 16 a busy quorum snapshots all the time,
/// above 10M a restart replays too long a tail.
pub const QUORUM_SNAPSHOT_ENTRIES_MIN: u64 = 16;
pub const QUORUM_SNAPSHOT_ENTRIES_MAX: u64 = 10_000_000;
/// Voters in one quorum (Kafka deployments use 3 or 5).
pub const QUORUM_VOTERS_MAX: usize = 7;
/// Longest `--quorum-voters` / `quorum_voters` text: 7 voters of `id@host:port` with long
/// host names fit.
pub const QUORUM_VOTERS_TEXT_SIZE_MAX: usize = 4096;
/// How long shard 0 waits at start-up for the metadata log to elect a leader and apply its
/// tail before the broker gives up (one voter: one election timeout plus the replay).
pub const QUORUM_START_TIMEOUT_MS: u64 = 30_000;
/// Pause between an observer's attempts to join the quorum (no voter reachable, no leader yet).
pub const QUORUM_JOIN_RETRY_MS: u64 = 100;
/// The one voter's controller listener when `--quorum-voters` is not given: loopback with a
/// kernel-chosen port (a one-voter quorum sends no RPCs; the port is never told anyone).
pub const QUORUM_SINGLE_VOTER_ADDRESS: &str = "127.0.0.1:0";
/// Raft timing of a one-voter quorum: no peer can compete or miss a heartbeat, so the election
/// timeout only delays start-up; kept short (and `> 2 × heartbeat`, as openraft requires).
pub const QUORUM_SINGLE_VOTER_HEARTBEAT_INTERVAL_MS: u64 = 20;
pub const QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MIN: u64 = 50;
pub const QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MAX: u64 = 100;
const _: () = assert!(
    QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MIN > 2 * QUORUM_SINGLE_VOTER_HEARTBEAT_INTERVAL_MS
);
const _: () = assert!(
    QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MAX > QUORUM_SINGLE_VOTER_ELECTION_TIMEOUT_MS_MIN
);
/// Entries one `read_committed` call returns at most.
pub const QUORUM_READ_ENTRIES_MAX: usize = 1024;
/// Bytes read from the metadata log per storage read while collecting entries.
pub const QUORUM_READ_CHUNK_SIZE: u32 = 4 * 1024 * 1024;
const _: () = assert!(QUORUM_READ_CHUNK_SIZE as usize > QUORUM_ENTRY_SIZE_MAX);
/// Longest single Raft RPC (openraft's per-RPC TTL is shorter for heartbeats and appends): a
/// whole snapshot of `QUORUM_SNAPSHOT_SIZE_MAX` at 100 Mbit/s takes ~5 s.
pub const QUORUM_RPC_TIMEOUT_MS_MAX: u64 = 10_000;
// The metadata layer's largest record and image fit one proposal and one snapshot.
const _: () = assert!(QUORUM_PROPOSAL_SIZE_MAX >= METADATA_RECORD_SIZE_MAX);
const _: () = assert!(QUORUM_SNAPSHOT_SIZE_MAX >= METADATA_SNAPSHOT_SIZE_MAX);

// ---- cluster membership and partition state (src/cluster/metadata/, src/cluster/policy/) ----

/// Brokers registered in one cluster at once. CLUSTER.md sizes the design for 100 brokers;
/// 1 000 leaves room while keeping per-broker loops (fencing checks, placement rings) and a
/// registration record per broker in the snapshot (~200 bytes each, 200 KiB) small.
pub const BROKERS_MAX: usize = 1_000;

/// Listeners one broker registers: the client listener plus one inter-broker listener per
/// shard (CLUSTER.md, "Configuration"), so at least `SHARDS_MAX` + a few.
pub const LISTENERS_PER_BROKER_MAX: usize = SHARDS_MAX + 8;

/// Client listeners one broker binds (`--listen`, issue 19): one per security protocol plus a
/// few named ones. Each is registered besides the controller and replication listeners, which
/// the `+ 8` of `LISTENERS_PER_BROKER_MAX` leaves room for.
pub const LISTENERS_MAX: usize = 6;
const _: () = assert!(LISTENERS_MAX < LISTENERS_PER_BROKER_MAX - SHARDS_MAX);

/// Length of a listener name in `--listen NAME://…` (Kafka's are short identifiers).
pub const LISTENER_NAME_LENGTH_MAX: usize = 64;
const _: () = assert!(LISTENER_NAME_LENGTH_MAX <= BROKER_STRING_LENGTH_MAX);

/// Characters of a bad listener entry quoted back in a config error.
pub const LISTENER_TEXT_SIZE_MAX: usize = 300;

/// Length of a listener name, host or rack string in a registration (DNS names are ≤ 253).
pub const BROKER_STRING_LENGTH_MAX: usize = 255;

/// Partitions in one cluster (CLUSTER.md's paper design: 100 k partitions ≈ 10 MB of
/// partition records). Placement refuses to grow the cluster past it.
pub const PARTITIONS_PER_CLUSTER_MAX: usize = 200_000;

/// Replicas of one partition, so also the largest replication factor. Kafka allows up to
/// `i16::MAX`; anything above a handful only multiplies replication traffic, and 16 keeps a
/// partition record (5 replica lists × 16 × 4 bytes ≈ 320 bytes) small.
pub const REPLICAS_PER_PARTITION_MAX: usize = 16;
const _: () = assert!(REPLICAS_PER_PARTITION_MAX <= BROKERS_MAX);

/// Default of `default.replication.factor` (Kafka's default: 1).
pub const REPLICATION_FACTOR_DEFAULT: i16 = 1;

/// Default interval between broker heartbeats (CLUSTER.md: 500 ms, Kafka's
/// `broker.heartbeat.interval.ms` is 2 s).
pub const BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 500;
/// Shortest heartbeat interval accepted: below 50 ms the controller spends its time on them.
pub const BROKER_HEARTBEAT_INTERVAL_MS_MIN: u64 = 50;

/// Default session timeout after which a silent broker is fenced (issue 15: 3 s; Kafka's 9 s
/// absorbs JVM pauses we do not have). Six missed heartbeats at the default interval.
pub const BROKER_SESSION_TIMEOUT_MS_DEFAULT: u64 = 3_000;
/// Shortest session timeout accepted: it must span at least two heartbeat intervals, or one
/// delayed heartbeat fences a healthy broker.
pub const BROKER_SESSION_TIMEOUT_MS_MIN: u64 = 2 * BROKER_HEARTBEAT_INTERVAL_MS_MIN;
/// Longest session timeout accepted: five minutes without a leader is already an outage.
pub const BROKER_SESSION_TIMEOUT_MS_MAX: u64 = 5 * 60 * 1000;
const _: () =
    assert!(BROKER_SESSION_TIMEOUT_MS_DEFAULT >= 2 * BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT);
const _: () = assert!(BROKER_SESSION_TIMEOUT_MS_MIN <= BROKER_SESSION_TIMEOUT_MS_DEFAULT);
const _: () = assert!(BROKER_SESSION_TIMEOUT_MS_DEFAULT <= BROKER_SESSION_TIMEOUT_MS_MAX);

/// How long the active controller waits for a TCP connect to a silent broker's controller
/// listener (the probe that fences a killed broker before its session timeout). A refusal is
/// immediate on a live host; this bounds only the probes of frozen or cut-off brokers, which
/// run concurrently within one timer tick.
pub const BROKER_PROBE_TIMEOUT_MS: u64 = 200;
const _: () = assert!(BROKER_PROBE_TIMEOUT_MS < BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT);

/// Default of `leader.imbalance.check.interval.seconds` (Kafka's: 300 s), in ms so tests can
/// scale it down.
pub const LEADER_IMBALANCE_CHECK_INTERVAL_MS_DEFAULT: u64 = 300_000;
/// Shortest imbalance check interval: each check scans every partition on the controller.
pub const LEADER_IMBALANCE_CHECK_INTERVAL_MS_MIN: u64 = 100;
/// Longest imbalance check interval accepted: one day.
pub const LEADER_IMBALANCE_CHECK_INTERVAL_MS_MAX: u64 = 24 * 60 * 60 * 1000;
const _: () = assert!(
    LEADER_IMBALANCE_CHECK_INTERVAL_MS_MIN <= LEADER_IMBALANCE_CHECK_INTERVAL_MS_DEFAULT
        && LEADER_IMBALANCE_CHECK_INTERVAL_MS_DEFAULT <= LEADER_IMBALANCE_CHECK_INTERVAL_MS_MAX
);
/// Preferred-leader elections one imbalance check commits at most (Kafka's
/// `maxElectionsPerImbalance`: 1000); the rest wait for the next check.
pub const LEADER_BALANCE_ELECTIONS_PER_CHECK_MAX: usize = 1000;
/// Elections one ElectLeaders request commits at most (Kafka's `MAX_RECORDS_PER_USER_OP`):
/// one metadata proposal holds them all; partitions past it keep their leader (a retry elects
/// them).
pub const ELECTIONS_PER_REQUEST_MAX: usize = 10_000;
const _: () = assert!(ELECTIONS_PER_REQUEST_MAX < QUORUM_PROPOSAL_RECORDS_MAX);
const _: () = assert!(LEADER_BALANCE_ELECTIONS_PER_CHECK_MAX <= ELECTIONS_PER_REQUEST_MAX);
/// Partitions being reassigned at once (KIP-455; Kafka sets no bound). Each in-flight
/// reassignment is a set of catching-up followers fetching from the log start: 5,000 is more
/// than a drain of one broker holding ~3k replicas (CLUSTER.md's 100-broker cluster) needs, and
/// a request that starts them all is at most two records each (start, completion) in one
/// proposal. A request past the bound is refused whole (POLICY_VIOLATION); the completion
/// timer completes at most this many per tick.
pub const REASSIGNMENTS_IN_FLIGHT_MAX: usize = 5_000;
const _: () = assert!(2 * REASSIGNMENTS_IN_FLIGHT_MAX < QUORUM_PROPOSAL_RECORDS_MAX);
/// Default of `leader.imbalance.per.broker.percentage` (Kafka's: 10).
pub const LEADER_IMBALANCE_PER_BROKER_PERCENTAGE_DEFAULT: u32 = 10;
/// Default of `offsets.topic.replication.factor` (Kafka's: 3; fewer when fewer brokers live).
pub const OFFSETS_TOPIC_REPLICATION_FACTOR_DEFAULT: i16 = 3;
const _: () =
    assert!(OFFSETS_TOPIC_REPLICATION_FACTOR_DEFAULT as usize <= REPLICAS_PER_PARTITION_MAX);

/// How long a broker waits for the active controller to answer one request (registration,
/// heartbeat, forwarded change): above the quorum's propose timeout, so a change that commits
/// slowly is still answered.
pub const CONTROLLER_RPC_TIMEOUT_MS: u64 = QUORUM_PROPOSE_TIMEOUT_MS_DEFAULT + 2_000;
/// How long a broker keeps retrying registration and its first unfencing at start-up (no
/// leader yet, the controller unreachable) before it gives up and exits.
pub const BROKER_REGISTRATION_TIMEOUT_MS: u64 = 60_000;
/// An observer confirms its learner address with the quorum leader every this many
/// heartbeats (10 s at the default interval).
pub const REJOIN_EVERY_HEARTBEATS: u64 = 20;
/// Size of the data dir's node file (`meta.properties`: cluster id and node id).
pub const NODE_FILE_SIZE_MAX: usize = 4096;
/// Pause between a broker's attempts to reach the active controller.
pub const CONTROLLER_RETRY_MS: u64 = 100;
/// How long a SIGTERM'd broker waits for the controller to move its leadership away before
/// it stops anyway (Kafka's controlled shutdown is bounded the same way); well inside the
/// shard's stop bound, so the logs still close cleanly.
pub const CONTROLLED_SHUTDOWN_TIMEOUT_MS: u64 = 5_000;
/// How long a broker that forwarded a change waits to apply the version the controller
/// named, before answering its client anyway with REQUEST_TIMED_OUT.
pub const FORWARDED_APPLY_TIMEOUT_MS: u64 = 5_000;

/// Producer ids in one block handed to a broker through the metadata log (Kafka's
/// `ProducerIdsRecord` hands out 1 000 at a time). A broker asks again when its block runs out,
/// so ids are unique across brokers: blocks never overlap.
pub const PRODUCER_ID_BLOCK_SIZE_MAX: i32 = 1_000_000;

/// Ids left in a broker's producer-id block when it asks for the next one in the background
/// (a quarter of `PRODUCER_ID_BLOCK_SIZE`): InitProducerId waits for the controller only when
/// a burst uses them up before the request commits.
pub const PRODUCER_ID_BLOCK_PREFETCH_REMAINING: i64 = PRODUCER_ID_BLOCK_SIZE / 4;
const _: () = assert!(PRODUCER_ID_BLOCK_PREFETCH_REMAINING < PRODUCER_ID_BLOCK_SIZE);

/// Id ranges a broker remembers as its own for InitProducerId's epoch bump (`is_issued`): one
/// per block it held (contiguous ones merge), 16 bytes each. Older ones are forgotten: their
/// producers get a fresh id instead of a bumped epoch, which is always correct.
pub const PRODUCER_ID_RANGES_REMEMBERED_MAX: usize = 1024;
const _: () = assert!(PRODUCER_ID_BLOCK_SIZE <= PRODUCER_ID_BLOCK_SIZE_MAX as i64);

// ---- Partition replication (src/replication/) ----

/// Default `replica.lag.time.max.ms`: a follower that has not caught up with the leader's log
/// end offset for this long leaves the ISR. Kafka's default is 30 s; ours is 10 s (issue 16)
/// so a dead follower stops holding acks=all produce back sooner: at 10 s and the 30 s Produce
/// timeout clients use by default, a stalled follower costs at most a third of one timeout.
pub const REPLICA_LAG_TIME_MAX_MS_DEFAULT: u64 = 10_000;
/// Upper bound of `replica.lag.time.max.ms` (Kafka has none): a minute, so a dead follower
/// cannot stall acks=all past two default Produce timeouts.
pub const REPLICA_LAG_TIME_MAX_MS_MAX: u64 = 60_000;
const _: () = assert!(REPLICA_LAG_TIME_MAX_MS_DEFAULT <= REPLICA_LAG_TIME_MAX_MS_MAX);

/// acks=all produce requests parked on one partition until its high watermark passes them.
/// Each waiter is ~40 bytes in the replica state machine (the request itself is held by the
/// connection, bounded by `REQUESTS_INFLIGHT_PER_CONNECTION_MAX`); 4096 waiters ≈ 160 KiB per
/// partition at the worst, and a partition reaching it answers NOT_ENOUGH_REPLICAS rather than
/// queue more.
pub const ACK_WAITERS_PER_PARTITION_MAX: usize = 4096;

/// How often a replicated partition's high watermark is written to its control file when it
/// moved (Kafka's `replica.high.watermark.checkpoint.interval.ms`, 5 s). Each write is a small
/// atomic file replace (two fdatasyncs and a rename): 5 s keeps a broker with thousands of
/// replicated partitions under a thousand of them per second even when all move. A crash loses
/// at most this much high-watermark progress, which the leader re-establishes from its
/// followers' fetches; the value is also written on every other control-file write.
pub const HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS: u64 = 5_000;
const _: () = assert!(HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS >= HOUSEKEEPING_INTERVAL_MS);

/// How often a shard's replica manager ticks its leaders: acks=all waiters past their Produce
/// timeout are answered and followers that stopped catching up are proposed out of the ISR.
/// A waiter's timeout is honoured within this much.
pub const REPLICA_TICK_MS: u64 = 100;
/// Follower fetches: how long the leader may hold one (Kafka's `replica.fetch.wait.max.ms`,
/// 500 ms), the bytes per partition (`replica.fetch.max.bytes`, 1 MiB) and per response
/// (`replica.fetch.response.max.bytes`, 10 MiB).
pub const REPLICA_FETCH_WAIT_MS: i32 = 500;
pub const REPLICA_FETCH_PARTITION_BYTES: i32 = 1024 * 1024;
pub const REPLICA_FETCH_RESPONSE_BYTES: i32 = 10 * 1024 * 1024;
const _: () = assert!(REPLICA_FETCH_RESPONSE_BYTES as usize <= FETCH_RESPONSE_SIZE_MAX);
/// A follower fetcher's wait before retrying after a failed connection or exchange, and for a
/// partition the leader refused (not the leader, epoch mismatch) before fetching it again
/// (Kafka's `replica.fetch.backoff.ms`, 1 s; ours is shorter, as elections here take ~1 s).
pub const REPLICA_FETCH_BACKOFF_MS: u64 = 200;
/// Connect and response timeouts of a follower fetch exchange (the leader holds a fetch at
/// most `REPLICA_FETCH_WAIT_MS`; beyond this the connection is dropped and made again).
pub const REPLICA_FETCH_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const REPLICA_FETCH_EXCHANGE_TIMEOUT_MS: u64 = 10_000;
/// Partitions one follower fetch request names (a shard following more asks for the rest in
/// the next request, round robin).
pub const REPLICA_FETCH_PARTITIONS_MAX: usize = 1000;
/// Steering ports a follower tries when connecting to a leader (`shard::steering`) before it
/// lets the kernel pick a port (the connection then works, through the leader's mesh).
pub const STEERING_PORT_TRIES: u32 = 32;
/// Longest a Produce request's `timeout_ms` holds an acks=all answer (Kafka takes any i32;
/// 30 s is clients' default): five minutes, so a parked request never outlives its client.
pub const PRODUCE_TIMEOUT_MS_MAX: u64 = 300_000;
/// How long a group coordinator's write to a replicated `__consumer_offsets` partition waits
/// for the in-sync replicas (Kafka's `offsets.commit.timeout.ms`, 5 s).
pub const GROUP_COMMIT_TIMEOUT_MS: u64 = 5_000;

// ---- Fetch sessions (KIP-227, handlers/fetch_session.rs) and the replication throttle ----

/// Incremental fetch sessions one broker keeps (Kafka's `max.incremental.fetch.session.cache
/// .slots`, 1000). Sessions live on the connection's shard, so each shard gets an equal share
/// (at least one): with 8 shards, 125 per shard. A client without a slot gets session id 0 and
/// keeps sending full fetches, which is always correct, only larger.
pub const FETCH_SESSION_CACHE_SLOTS: usize = 1000;
/// Partitions one fetch session may hold. Bounds a session's memory (~100 bytes a partition:
/// the worst cache, every slot full, is 1000 × 1000 × 100 B ≈ 100 MB per broker). A full fetch
/// naming more is answered without a session; an incremental fetch that would grow past it
/// ends its session (FETCH_SESSION_ID_NOT_FOUND, and the client starts over with a full fetch).
pub const FETCH_SESSION_PARTITIONS_MAX: usize = 1000;
const _: () = assert!(FETCH_SESSION_PARTITIONS_MAX >= REPLICA_FETCH_PARTITIONS_MAX);
/// A session unused this long may be evicted by any new session (Kafka's
/// `min.incremental.fetch.session.eviction.ms`, 120 s); clients fetch every `max_wait_ms`
/// (≤ `FETCH_MAX_WAIT_MS_MAX`), so an idle session's client is gone or paused.
pub const FETCH_SESSION_EVICTION_MS: u64 = 120_000;
const _: () = assert!(FETCH_SESSION_EVICTION_MS > FETCH_MAX_WAIT_MS_MAX);
/// Low bits of a session id that name the shard holding it (ids are `seq << 8 | shard`), so a
/// fetch reaching another shard is recognised as not found without a cross-shard lookup.
pub const FETCH_SESSION_SHARD_BITS: u32 = 8;
const _: () = assert!(SHARDS_MAX <= 1 << FETCH_SESSION_SHARD_BITS);

/// Largest `--replication-throttle-bytes-per-sec` (1 TiB/s: beyond any link; keeps the token
/// arithmetic far from overflow).
pub const REPLICATION_THROTTLE_BYTES_PER_SEC_MAX: u64 = 1 << 40;
/// The replication throttle's bucket holds at most this much of a second's budget, so an idle
/// fetcher cannot save up more than a short burst (100 ms at the broker's rate, shared by its
/// shards).
pub const REPLICATION_THROTTLE_BURST_MS: u64 = 100;
/// Longest one throttled wait of a follower fetcher before it re-checks its budget (and its
/// manager's life); the wait is repeated while the budget is still overdrawn.
pub const REPLICATION_THROTTLE_WAIT_MS_MAX: u64 = 1_000;
/// How long a leader waits after the controller refused an ISR change before proposing again
/// (Kafka retries AlterPartition with a backoff too): a follower that fetches before it is
/// unfenced would otherwise be proposed at every fetch.
pub const ISR_PROPOSAL_BACKOFF_MS: u64 = 200;

// ---- Security: SASL and SCRAM (src/security/) -------------------------------------------------

/// Largest frame a connection may send before it has authenticated (Kafka's
/// `sasl.server.max.receive.size`, 512 KiB): a SASL token is a few hundred bytes, so a peer
/// that has not proven who it is cannot make the broker buffer more than this per connection
/// (10,000 connections × 512 KiB = 5 GiB worst case, versus 1 TB at `FRAME_SIZE_MAX`).
pub const SASL_SERVER_RECEIVE_SIZE_MAX: usize = 512 * 1024;
const _: () = assert!(SASL_SERVER_RECEIVE_SIZE_MAX <= FRAME_SIZE_MAX_FLOOR);
/// Bytes read of `inter_broker.sasl_password_file` (its first line is the password).
pub const PASSWORD_FILE_SIZE_MAX: u64 = 4096;
/// SCRAM iteration counts Kafka accepts (`ScramMechanism.minIterations`/`maxIterations`).
/// 16,384 HMAC-SHA-512 rounds take ~10 ms of the shard's cpu per PLAIN login, the worst one
/// authentication stalls a shard.
pub const SCRAM_ITERATIONS_MIN: i32 = 4096;
pub const SCRAM_ITERATIONS_MAX: i32 = 16_384;
/// Iterations `ringbroker user add` uses unless told (Kafka's `kafka-configs` default).
pub const SCRAM_ITERATIONS_DEFAULT: i32 = SCRAM_ITERATIONS_MIN;
/// Random salt bytes of a credential we derive (RFC 5802 asks only for "random"; 32 bytes is
/// the digest size of SHA-256, more than Kafka's ~16).
pub const SCRAM_SALT_SIZE: usize = 32;
/// Largest salt a stored credential may have (AlterUserScramCredentials lets clients pick).
pub const SCRAM_SALT_SIZE_MAX: usize = 1024;
const _: () = assert!(SCRAM_SALT_SIZE <= SCRAM_SALT_SIZE_MAX);
/// Random bytes of a server nonce (base64 in the message: 32 characters).
pub const SCRAM_NONCE_SIZE: usize = 24;
/// Longest user name a credential may be stored under (Kafka has no bound; 1 KiB is far past
/// any real name and keeps records and pre-auth tokens small).
pub const SCRAM_USER_NAME_LENGTH_MAX: usize = 1024;
/// SCRAM credentials the metadata may hold (users × mechanisms): 10,000 × ~200 bytes ≈ 2 MB
/// in every shard's snapshot, a small part of `METADATA_SNAPSHOT_SIZE_MAX`.
pub const SCRAM_CREDENTIALS_MAX: usize = 10_000;
/// Longest `connections.max.reauth.ms` (Kafka has no bound; a week is beyond any sane use).
pub const CONNECTIONS_MAX_REAUTH_MS_MAX: u64 = 7 * 24 * 60 * 60 * 1000;
/// Authentication-failure audit lines one shard writes per second; more are counted and
/// summarized in the next line, so a password-guessing peer cannot flood the log.
pub const AUTH_FAILURE_LOGS_PER_SECOND_MAX: u32 = 10;
// ---- ACLs (cluster/acls.rs, security/acl/) ----

/// Length of an ACL's resource name, principal or host. Topic names stop at 249 bytes and
/// group / transactional ids are rarely longer than a few dozen; 1 KiB leaves room for long
/// TLS subject principals while keeping one ACL record ≤ ~3 KiB.
pub const ACL_STRING_LENGTH_MAX: usize = 1024;

/// ACLs the cluster holds. Each is one record in the snapshot (≤ ~3 KiB at the string bound,
/// typically ~100 bytes), so 10 000 × 3 KiB ≈ 30 MiB worst case fits the snapshot bound, and a
/// DeleteAcls that matches all of them writes 10 000 × 18-byte removal records ≈ 180 KiB, one
/// proposal (`QUORUM_PROPOSAL_SIZE_MAX`, `QUORUM_PROPOSAL_RECORDS_MAX`).
pub const ACLS_MAX: usize = 10_000;
const _: () = assert!(ACLS_MAX * (3 * ACL_STRING_LENGTH_MAX + 64) <= METADATA_SNAPSHOT_SIZE_MAX);
const _: () = assert!(ACLS_MAX <= QUORUM_PROPOSAL_RECORDS_MAX);
const _: () = assert!(ACLS_MAX * 18 <= QUORUM_PROPOSAL_SIZE_MAX);

/// ACLs one CreateAcls request may create: each is a record of ≤ ~3 KiB, and all of them are
/// one proposal (≤ `QUORUM_PROPOSAL_SIZE_MAX`).
pub const ACL_CREATIONS_PER_REQUEST_MAX: usize = 256;
const _: () = assert!(
    ACL_CREATIONS_PER_REQUEST_MAX * (3 * ACL_STRING_LENGTH_MAX + 64) <= QUORUM_PROPOSAL_SIZE_MAX
);

/// Filters in one DeleteAcls request (each is matched against every ACL: O(filters × ACLs)).
pub const ACL_DELETE_FILTERS_PER_REQUEST_MAX: usize = 256;

/// Authorization-denial log lines per shard per second (a token bucket, burst of the same
/// size): a client looping on a denied request must not flood the log.
pub const ACL_DENIAL_LOGS_PER_SEC: u32 = 10;

/// Principals in `super_users` (each is compared on every check a super user could pass).
pub const SUPER_USERS_MAX: usize = 64;
// ---- Client quotas (cluster/quotas.rs, security/quota.rs) ----

/// Quota entities (user, client id, or both; named or `<default>`) the metadata may hold.
/// Each is at most four records (one per key) of ≤ ~2 KiB at the name bound, so the worst
/// case (~80 MiB) is bounded by the snapshot bound's order; typical names are short.
pub const CLIENT_QUOTA_ENTITIES_MAX: usize = 10_000;
/// Length of a quota entity's user or client-id name (Kafka's client ids are short; 1 KiB
/// keeps one quota record ≤ ~2 KiB).
pub const CLIENT_QUOTA_NAME_LENGTH_MAX: usize = 1024;
/// Entries one AlterClientQuotas request may carry; all of them are one proposal (each
/// entry writes ≤ 4 records of ≤ ~2 KiB: ≤ 256 × 8 KiB = 2 MiB would be too much, so 100).
pub const CLIENT_QUOTA_ALTERATIONS_PER_REQUEST_MAX: usize = 100;
const _: () = assert!(
    CLIENT_QUOTA_ALTERATIONS_PER_REQUEST_MAX * 4 * (2 * CLIENT_QUOTA_NAME_LENGTH_MAX + 64)
        <= QUORUM_PROPOSAL_SIZE_MAX
);
/// Kafka's `quota.window.num`: samples in a quota's rate window.
pub const QUOTA_WINDOW_SAMPLES: usize = 11;
/// Kafka's `quota.window.size.seconds`, in ms: the length of one sample.
pub const QUOTA_WINDOW_SAMPLE_MS: u64 = 1000;
/// The longest throttle a response asks for and a connection is muted: Kafka caps the throttle
/// at the whole quota window (`quota.window.num` × `quota.window.size.seconds`).
pub const QUOTA_THROTTLE_TIME_MS_MAX: u64 = QUOTA_WINDOW_SAMPLES as u64 * QUOTA_WINDOW_SAMPLE_MS;
const _: () = assert!(QUOTA_THROTTLE_TIME_MS_MAX <= i32::MAX as u64);
/// The longest throttle a `request_percentage` quota gives: one sample (Kafka's
/// `ClientRequestQuotaManager.maxThrottleTimeMs` = `quota.window.size.seconds`), so a client
/// over its share of the shard's time waits at most a second between requests, while a byte
/// rate's throttle may reach the whole window.
pub const QUOTA_REQUEST_THROTTLE_TIME_MS_MAX: u64 = QUOTA_WINDOW_SAMPLE_MS;
const _: () = assert!(QUOTA_REQUEST_THROTTLE_TIME_MS_MAX <= QUOTA_THROTTLE_TIME_MS_MAX);
/// Rate sensors (one per quota entity in use: user, client id, or both) one shard keeps.
/// Full, the one idle longest is dropped (Kafka expires idle sensors after an hour).
pub const QUOTA_SENSORS_PER_SHARD_MAX: usize = 10_000;
/// Clients whose throttle time one shard's metrics list (the first ones throttled; others are
/// summed into one `<other>` series), so a client-id-rotating peer cannot grow the scrape.
pub const QUOTA_THROTTLE_METRIC_CLIENTS_MAX: usize = 1024;
// ---- TLS listeners (src/security/tls.rs, src/net/) ----

/// Time a client has to finish the TLS handshake after connecting; a peer that stalls it
/// holds an admission permit and a task, so it is bounded well below the idle timeout.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Bytes of an admin command's `--command-config` file (client properties): a handful of
/// `key=value` lines, a few hundred bytes; anything near 64 KiB is not a properties file.
pub const COMMAND_CONFIG_FILE_SIZE_MAX: u64 = 64 * 1024;

/// Bytes of a PEM file (certificate chain, key, CA bundle) read at start or on SIGHUP: a few
/// certificates are ~2 KiB each; a CA bundle of every public root is ~250 KiB.
pub const PEM_FILE_SIZE_MAX: u64 = 1 << 20;

/// One piece of a Fetch's file range copied through memory on a TLS connection (splice cannot
/// feed a TLS stream): bounds the copy buffer per connection; 256 KiB is ~16 TLS records.
pub const TLS_COPY_CHUNK_SIZE: usize = 256 * 1024;

/// Buffer of each direction of a TLS connection's socket adapter (ciphertext side).
pub const TLS_SOCKET_BUFFER_SIZE: usize = 64 * 1024;

/// Rounds one read of the blocking client's TLS stream (`client/secure.rs`) may take: each
/// round reads the socket or hands rustls ciphertext; one 16 KiB record arrives in a few
/// socket reads, so this only stops a session that never yields plaintext.
pub const CLIENT_TLS_READ_ROUNDS_MAX: usize = 65_536;
