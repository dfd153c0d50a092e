//! Shared integration-test harness: runs the real `ringbroker` binary (built by cargo for the
//! test, never by this code) on a free 127.0.0.1 port with a temporary data dir, and a tiny
//! blocking raw-frame client built on our own codec.
//!
//! Every wait is bounded: start-up, shutdown, reads and writes all have timeouts, so a broken
//! broker fails a test instead of hanging it. The broker is killed (SIGKILL) when a `Broker` is
//! dropped. Its log goes to `broker.log` in the data dir's parent, printed when start-up fails.
//!
//! Runs in test processes only.
#![allow(dead_code)] // each tests/*.rs uses a different part of the harness

/// Replication fault tests (issue 16): the checker, a cluster of voters, nftables cuts.
pub mod checker;
pub mod cluster;
/// Scrapes of the metrics listener.
pub mod metrics;
pub mod nft;
/// TLS tests: certificates and librdkafka clients over TLS.
pub mod tls;

use bytes::{Buf, Bytes, BytesMut};
use ringbroker::protocol::header::{self, RequestHeader};
use ringbroker::protocol::primitives::StrBytes;
use ringbroker::protocol::{Message, Reader, frame};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the broker may take to accept connections after spawn.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the broker may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Client socket read/write timeout.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub shards: usize,
    /// Written to `config.toml` and passed as `--config` when set.
    pub config_toml: Option<String>,
    pub extra_args: Vec<String>,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        Self {
            shards: 2,
            config_toml: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running broker process.
pub struct Broker {
    child: Option<Child>,
    pub address: SocketAddr,
    options: BrokerOptions,
    root: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker with default options (2 shards) and waits until it accepts.
    pub fn start() -> Self {
        Self::start_with(BrokerOptions::default())
    }

    pub fn start_with(options: BrokerOptions) -> Self {
        let root = tempfile::TempDir::new().expect("temp dir");
        let address = free_address();
        let mut broker = Self {
            child: None,
            address,
            options,
            root,
        };
        broker.spawn_and_wait();
        broker
    }

    /// A broker not started yet, so a test can prepare its data dir (`ringbroker user add`)
    /// and add flags that name its address; [`Self::start_again`] starts it.
    pub fn unstarted(options: BrokerOptions) -> Self {
        let root = tempfile::TempDir::new().expect("temp dir");
        let address = free_address();
        Self {
            child: None,
            address,
            options,
            root,
        }
    }

    /// Flags added after the harness's own (a later `--listen` wins), for the next start.
    pub fn extra_args_mut(&mut self) -> &mut Vec<String> {
        &mut self.options.extra_args
    }

    /// Spawns a broker without waiting for it to accept (cluster members wait for their
    /// quorum); [`Self::wait_ready`] waits.
    pub fn spawn(options: BrokerOptions) -> Self {
        let root = tempfile::TempDir::new().expect("temp dir");
        let address = free_address();
        let mut broker = Self {
            child: None,
            address,
            options,
            root,
        };
        broker.spawn_only();
        broker
    }

    /// Waits (bounded) until a spawned broker accepts; panics with its log if it exits.
    pub fn wait_ready(&mut self) {
        self.wait_until_accepting();
    }

    /// Starts again without waiting (same address and data dir).
    pub fn spawn_again(&mut self) {
        self.spawn_only();
    }

    /// The data directory (stable across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("broker.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn_and_wait(&mut self) {
        self.spawn_only();
        self.wait_until_accepting();
    }

    fn spawn_only(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringbroker"));
        command.arg("serve");
        // A test may give the harness's address another protocol (`SASL_PLAINTEXT://addr`);
        // otherwise it is the PLAINTEXT listener, first.
        let own = format!("://{}", self.address);
        if !self
            .options
            .extra_args
            .iter()
            .any(|arg| arg.ends_with(&own))
        {
            command.arg("--listen").arg(self.address.to_string());
        }
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--shards")
            .arg(self.options.shards.to_string())
            .arg("--log-level")
            .arg("debug");
        if let Some(toml) = &self.options.config_toml {
            let path = self.root.path().join("config.toml");
            std::fs::write(&path, toml).expect("write config");
            command.arg("--config").arg(path);
        }
        command.args(&self.options.extra_args);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        self.child = Some(command.spawn().expect("spawn ringbroker"));
    }

    fn wait_until_accepting(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok())
                .flatten()
            {
                panic!(
                    "broker exited with {status} during start-up:\n{}",
                    self.log()
                );
            }
            if answers_api_versions(self.address) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "broker did not accept within {START_TIMEOUT:?}:\n{}",
            self.log()
        );
    }

    pub fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("broker not running");
        i32::try_from(child.id()).expect("pid fits i32")
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(STOP_TIMEOUT)
    }

    /// SIGKILL: no shutdown hook runs (crash simulation).
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.wait_exit(STOP_TIMEOUT);
        self.wait_port_released();
    }

    /// After SIGKILL the kernel tears a process's io_uring down asynchronously, and a listening
    /// socket still referenced by a pending accept stays in the SO_REUSEPORT group for a moment:
    /// connections hashed to it are reset. Wait until connecting is refused, i.e. no such
    /// orphan is left, before starting again.
    fn wait_port_released(&self) {
        let released = eventually(START_TIMEOUT, || {
            matches!(
                TcpStream::connect_timeout(&self.address, Duration::from_millis(200)),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused
            )
        });
        assert!(
            released,
            "{} still accepts after the broker died",
            self.address
        );
    }

    /// Stops gracefully and starts again on the same address and data dir.
    pub fn restart(&mut self) -> ExitStatus {
        let status = self.terminate();
        self.spawn_and_wait();
        status
    }

    /// Starts again after `kill9` or `terminate` (same address and data dir).
    pub fn start_again(&mut self) {
        self.spawn_and_wait();
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        let result = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(result, 0, "kill({signal}) failed");
    }

    /// Waits for exit within `timeout`; panics (with the log) on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take().expect("broker not running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("broker did not exit within {timeout:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.address)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a fresh connection to `address` gets an ApiVersions answer (the readiness probe:
/// a bare connect succeeds as soon as one shard listens, before the broker is whole).
fn answers_api_versions(address: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut client = RawClient { stream };
    let request = ringbroker::protocol::messages::api_versions::ApiVersionsRequest::default();
    client.send_raw(&encode_request(0, 0, &request)).is_ok() && client.read_frame().is_ok()
}

/// A currently free loopback port, for a broker's client or controller listener.
///
/// Chosen below the kernel's ephemeral range (read from /proc; 32768 by default), and never
/// the same port twice in one test process. The kernel hands ephemeral ports to outgoing
/// connections and to observers' kernel-chosen controller listeners at any time; a port
/// probed there and released could be taken by one of them before the broker binds it (a
/// Kafka client then reached a Raft listener). Tests run in parallel, so one process never
/// gives a port twice either.
pub fn free_address() -> SocketAddr {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = 10_000u16.min(ephemeral_start / 2);
    let span = u32::from(ephemeral_start.saturating_sub(low)).max(1);
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u32::from(low));
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Bounded: at most `span` candidates, each tried once.
    for step in 0..span {
        let offset = (seed.wrapping_add(step.wrapping_mul(7_919))) % span;
        let port = low + u16::try_from(offset).unwrap_or(0);
        if given.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            given.push(port);
            return listener.local_addr().expect("probe address");
        }
    }
    panic!("no free port in {low}..{ephemeral_start}");
}

/// A blocking client that speaks raw Kafka frames.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    /// Connects, or says why not (a broker that is down or frozen).
    pub fn try_connect(address: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream })
    }

    /// One request and its response, or the I/O error that ended the exchange.
    pub fn try_call<Q: Message, R: Message>(&mut self, version: i16, request: &Q) -> io::Result<R> {
        self.send_raw(&encode_request(version, 1, request))?;
        let payload = self.read_frame()?;
        Ok(decode_response(payload, version).1)
    }

    pub fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream }
    }

    /// Writes bytes as they are (hostile frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `request` at `version` with our codec.
    pub fn send<M: Message>(&mut self, version: i16, correlation_id: i32, request: &M) {
        let bytes = encode_request(version, correlation_id, request);
        self.send_raw(&bytes).expect("send request");
    }

    /// Reads one response frame's payload (after the size prefix).
    pub fn read_frame(&mut self) -> io::Result<Bytes> {
        let mut prefix = [0u8; frame::FRAME_PREFIX_SIZE];
        self.stream.read_exact(&mut prefix)?;
        let size = usize::try_from(i32::from_be_bytes(prefix))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative size"))?;
        assert!(size <= 64 * 1024 * 1024, "response frame of {size} bytes");
        let mut payload = vec![0u8; size];
        self.stream.read_exact(&mut payload)?;
        Ok(Bytes::from(payload))
    }

    /// Reads one response of type `M` at `version`; returns (correlation id, response).
    pub fn receive<M: Message>(&mut self, version: i16) -> (i32, M) {
        let payload = self.read_frame().expect("response frame");
        decode_response(payload, version)
    }

    /// Whether the broker closed this connection: a read sees EOF or a reset within the
    /// timeout. Data instead of a close is a failure of the caller's expectation: panics.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => panic!("expected a close, got data"),
            Err(error) => matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        }
    }
}

/// `[size][request header v1/v2][body]` for `request` at `version`.
pub fn encode_request<M: Message>(version: i16, correlation_id: i32, request: &M) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    let position = frame::start_frame(&mut buffer);
    let request_header = RequestHeader {
        api_key: M::API_KEY.as_i16(),
        api_version: version,
        correlation_id,
        client_id: Some(StrBytes::from("ringbroker-test")),
    };
    request_header.encode(&mut buffer, request_header.is_flexible());
    request.encode_body(&mut buffer, version);
    frame::finish_frame(&mut buffer, position, 0);
    buffer.to_vec()
}

/// A raw request header + arbitrary body, for versions or keys our codec would not encode.
pub fn encode_raw_request(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    let position = frame::start_frame(&mut buffer);
    RequestHeader {
        api_key,
        api_version: version,
        correlation_id,
        client_id: None,
    }
    .encode(&mut buffer, false);
    buffer.extend_from_slice(body);
    frame::finish_frame(&mut buffer, position, 0);
    buffer.to_vec()
}

/// Decodes a response payload (header + body) of `M` at `version`.
pub fn decode_response<M: Message>(mut payload: Bytes, version: i16) -> (i32, M) {
    let flexible = header::response_header_is_flexible(M::API_KEY, version);
    let mut reader = Reader::new(payload.clone());
    let correlation_id = header::decode_response_header(&mut reader, flexible).expect("header");
    payload.advance(reader.offset());
    let response = M::decode_body(payload, version).expect("response body");
    (correlation_id, response)
}

/// Retries `probe` every 50 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Now, in milliseconds since the epoch: the timestamp of batches a test sends to a broker. Old
/// timestamps (1970) would be deleted by time retention (`retention.ms`, 7 days) at the broker's
/// next retention check, which on a loaded machine can come before the test reads them back.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// Runs an rdkafka admin future to completion on a current-thread tokio runtime.
pub fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Fetch (v4..=12, by name) of partition 0 of `topic` from offset 0 without waiting, as a
/// consumer (`replica_id` -1) or as the follower `replica_id`.
pub fn fetch_partition_zero(
    topic: &str,
    replica_id: i32,
) -> ringbroker::protocol::messages::fetch::FetchRequest {
    use ringbroker::protocol::messages::fetch::{FetchPartition, FetchRequest, FetchTopic};
    FetchRequest {
        replica_id,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: StrBytes::from(topic),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    }
}

/// An rdkafka (librdkafka) admin client bootstrapped at `broker`.
pub fn admin(
    broker: &Broker,
) -> rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .create()
        .expect("admin client")
}

/// `ringbroker user add NAME --mechanism SCRAM-SHA-512` into an unstarted broker's data dir.
pub fn add_scram_user(data_dir: &std::path::Path, name: &str, password: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["user", "add", name, "--mechanism", "SCRAM-SHA-512"])
        .args(["--password", password, "--data-dir"])
        .arg(data_dir)
        .status()
        .expect("run user add");
    assert!(status.success(), "user add {name}: {status}");
}

/// Runs an admin command (`ringbroker ARGS…` without the program name) in-process; its report.
/// Panics unless it succeeds.
pub fn cli(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    let outcome = ringbroker::cli::run(&args, &mut out).unwrap();
    assert_eq!(outcome, ringbroker::cli::Outcome::Success);
    String::from_utf8(out).unwrap()
}
