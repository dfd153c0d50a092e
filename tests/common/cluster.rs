//! A replicated cluster of real broker processes on loopback for the fault tests (issue 16):
//! every broker is a voter of the metadata quorum, timeouts are scaled down by flags
//! (heartbeats every 100 ms, sessions of 1.5 s, replica lag of 2 s), and every fault is done to
//! a process from outside: kill -9, SIGSTOP/SIGCONT, SIGTERM, restart on the same data dir.
//!
//! ```text
//! Cluster::start(3)            spawn all voters at once (each waits for a quorum), wait ready
//! create_topic(name, n, rf, …) CreateTopics through any live broker until it succeeds
//! partitions(topic)            leader / replicas / ISR per partition, from Metadata
//! high_watermark(…)            ListOffsets(latest) at the leader: its HW
//! kill9 / freeze / thaw / stop / start_again   one broker
//! add_observer()               one more broker, not a voter (scale-out)
//! stop_all()                   thaw and SIGTERM every running broker (then read its files)
//! ```
//! Every wait is a bounded poll ([`super::eventually`]); nothing is timed by a sleep.
//! Broker ids are 1..=N and index `brokers[id - 1]`. Runs in test processes only.
use super::checker::{self, Acked, PartitionView, Verdict};
use super::{Broker, BrokerOptions, RawClient, eventually, nft};
use rdkafka::Message as _;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::StrBytes;
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Long enough for an election, a session timeout and a catch-up on a loaded 2-core machine.
pub const CONVERGE: Duration = Duration::from_secs(45);
/// Broker heartbeats to the active controller.
pub const HEARTBEAT_MS: u64 = 100;
/// A broker silent this long is fenced (and leaves every ISR).
pub const SESSION_MS: u64 = 1500;
/// The session of [`Timeouts::LongSession`]: far longer than any probe-based fencing takes.
pub const LONG_SESSION_MS: u64 = 30_000;
/// A follower not caught up for this long leaves the ISR (`--replica-lag-time-max-ms`).
pub const REPLICA_LAG_MS: u64 = 2000;

/// One partition as a broker's Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// -1 while the partition has no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionState {
    /// Whether every assigned replica is in the ISR.
    pub fn isr_is_full(&self) -> bool {
        let isr: BTreeSet<i32> = self.isr.iter().copied().collect();
        self.leader >= 0 && self.replicas.iter().all(|replica| isr.contains(replica))
    }
}

/// Brokers 1..=N, all voters.
pub struct Cluster {
    pub brokers: Vec<Broker>,
    /// Each broker's controller (Raft) listener, by index.
    pub controller_addresses: Vec<SocketAddr>,
    /// Brokers stopped with SIGSTOP and not yet continued.
    frozen: BTreeSet<i32>,
    /// Brokers killed or stopped and not yet started again.
    down: BTreeSet<i32>,
    /// Brokers cut off by an nftables rule ([`Self::cut_off`]).
    cut: BTreeSet<i32>,
}

/// Whether the broker binary knows `--replica-lag-time-max-ms` (the flag arrives with the
/// replication wiring; before it, the default lag applies).
fn knows_replica_lag_flag() -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
            .arg("--help")
            .output()
            .is_ok_and(|output| {
                String::from_utf8_lossy(&output.stdout).contains("--replica-lag-time-max-ms")
            })
    })
}

/// How a cluster's timeouts are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// [`HEARTBEAT_MS`], [`SESSION_MS`], [`REPLICA_LAG_MS`]: faults are noticed within seconds.
    Scaled,
    /// The broker's defaults (what a benchmark of failover time measures).
    Defaults,
    /// As [`Self::Scaled`] but sessions of [`LONG_SESSION_MS`]: a broker fenced within seconds
    /// was fenced by something else than its session expiring.
    LongSession,
}

/// A member's flags: the timeouts, no auto-created topics.
pub fn member_options(node_id: i32, voters: &str, timeouts: Timeouts) -> BrokerOptions {
    let mut args: Vec<String> = [
        "--node-id",
        &node_id.to_string(),
        "--quorum-voters",
        voters,
        "--auto-create-partitions",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if timeouts == Timeouts::Defaults {
        return BrokerOptions {
            extra_args: args,
            ..BrokerOptions::default()
        };
    }
    let session_ms = if timeouts == Timeouts::LongSession {
        LONG_SESSION_MS
    } else {
        SESSION_MS
    };
    args.extend([
        "--broker-heartbeat-interval-ms".to_owned(),
        HEARTBEAT_MS.to_string(),
        "--broker-session-timeout-ms".to_owned(),
        session_ms.to_string(),
    ]);
    if knows_replica_lag_flag() {
        args.extend([
            "--replica-lag-time-max-ms".to_owned(),
            REPLICA_LAG_MS.to_string(),
        ]);
    }
    BrokerOptions {
        extra_args: args,
        ..BrokerOptions::default()
    }
}

impl Cluster {
    /// Starts `size` voters with [`Timeouts::Scaled`].
    pub fn start(size: i32) -> Self {
        Self::start_with(size, Timeouts::Scaled)
    }

    /// Starts `size` voters and waits (bounded) until each answers and all list each other.
    ///
    /// # Panics
    /// When a broker exits or the cluster does not become whole within [`CONVERGE`].
    pub fn start_with(size: i32, timeouts: Timeouts) -> Self {
        Self::start_members(size, |id, voters| member_options(id, voters, timeouts))
    }

    /// Starts `size` voters with [`Timeouts::Scaled`], `shards` shards each, and the flags
    /// `extra` after the harness's own (a flag given twice takes its last value).
    pub fn start_tuned(size: i32, shards: usize, extra: &[&str]) -> Self {
        Self::start_tuned_each(size, shards, |_| {
            extra.iter().map(|flag| (*flag).to_owned()).collect()
        })
    }

    /// As [`Cluster::start_tuned`], with the flags `extra(id)` gives broker `id`.
    pub fn start_tuned_each(size: i32, shards: usize, extra: impl Fn(i32) -> Vec<String>) -> Self {
        Self::start_members(size, |id, voters| {
            let mut options = member_options(id, voters, Timeouts::Scaled);
            options.shards = shards;
            options.extra_args.extend(extra(id));
            options
        })
    }

    /// Starts `size` voters, each with the options `member(id, voters)` gives, and waits
    /// (bounded) until each answers and all list each other.
    fn start_members(size: i32, member: impl Fn(i32, &str) -> BrokerOptions) -> Self {
        assert!(size >= 1, "a cluster of {size}");
        let controller_addresses: Vec<SocketAddr> =
            (1..=size).map(|_| super::free_address()).collect();
        let voters: Vec<String> = controller_addresses
            .iter()
            .zip(1..)
            .map(|(address, id)| format!("{id}@{address}"))
            .collect();
        let voters = voters.join(",");
        // All at once: each voter waits for a quorum before it serves.
        let mut brokers: Vec<Broker> = (1..=size)
            .map(|id| Broker::spawn(member(id, &voters)))
            .collect();
        for broker in &mut brokers {
            broker.wait_ready();
        }
        let cluster = Self {
            brokers,
            controller_addresses,
            frozen: BTreeSet::new(),
            down: BTreeSet::new(),
            cut: BTreeSet::new(),
        };
        let all: BTreeSet<i32> = cluster.ids().collect();
        let whole = eventually(CONVERGE, || {
            cluster.ids().all(|id| {
                metadata(cluster.broker(id).address, None).is_ok_and(|response| {
                    response
                        .brokers
                        .iter()
                        .map(|b| b.node_id)
                        .collect::<BTreeSet<_>>()
                        == all
                })
            })
        });
        assert!(
            whole,
            "the cluster never listed every broker:\n{}",
            cluster.log_tails()
        );
        cluster
    }

    /// Broker ids, 1..=N.
    pub fn ids(&self) -> impl Iterator<Item = i32> + use<> {
        1..=i32::try_from(self.brokers.len()).unwrap_or(i32::MAX)
    }

    pub fn broker(&self, id: i32) -> &Broker {
        &self.brokers[index(id)]
    }

    /// Every client listener, comma-separated (a client's `bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        let addresses: Vec<String> = self.brokers.iter().map(|b| b.address.to_string()).collect();
        addresses.join(",")
    }

    /// Brokers that run and are not frozen: the ones that can answer.
    pub fn live(&self) -> Vec<i32> {
        self.ids()
            .filter(|id| {
                !self.frozen.contains(id) && !self.down.contains(id) && !self.cut.contains(id)
            })
            .collect()
    }

    /// Cuts broker `id` off the network ([`nft::Cut`]) until [`Self::heal`].
    ///
    /// # Errors
    /// nftables cannot be used here (the caller skips, saying why).
    pub fn cut_off(&mut self, id: i32) -> Result<nft::Cut, String> {
        let cut = nft::Cut::isolate(self.broker(id).pid())?;
        self.cut.insert(id);
        Ok(cut)
    }

    /// Ends a cut made by [`Self::cut_off`].
    pub fn heal(&mut self, id: i32, cut: nft::Cut) {
        assert!(self.cut.remove(&id), "broker {id} was not cut off");
        drop(cut);
    }

    /// SIGKILL; the broker stays down until [`Self::start_again`].
    pub fn kill9(&mut self, id: i32) {
        if self.frozen.remove(&id) {
            self.brokers[index(id)].signal(libc::SIGCONT);
        }
        self.brokers[index(id)].kill9();
        self.down.insert(id);
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing (a long GC pause, a VM stall).
    pub fn freeze(&mut self, id: i32) {
        assert!(!self.down.contains(&id), "broker {id} is down");
        self.brokers[index(id)].signal(libc::SIGSTOP);
        self.frozen.insert(id);
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&mut self, id: i32) {
        assert!(self.frozen.remove(&id), "broker {id} was not frozen");
        self.brokers[index(id)].signal(libc::SIGCONT);
    }

    /// Starts a killed or stopped broker again on its address and data dir; waits until it
    /// answers.
    pub fn start_again(&mut self, id: i32) {
        assert!(self.down.remove(&id), "broker {id} is not down");
        let broker = &mut self.brokers[index(id)];
        broker.spawn_again();
        broker.wait_ready();
    }

    /// Starts broker `N + 1` as an observer of the metadata quorum (not a voter: the same
    /// `--quorum-voters` list, which does not name it) and waits until it answers and every
    /// live broker lists it. Returns its id.
    ///
    /// # Panics
    /// When it is not listed everywhere within [`CONVERGE`].
    pub fn add_observer(&mut self) -> i32 {
        let voters: Vec<String> = self
            .controller_addresses
            .iter()
            .zip(1..)
            .map(|(address, id)| format!("{id}@{address}"))
            .collect();
        let id = i32::try_from(self.brokers.len()).unwrap_or(i32::MAX) + 1;
        let mut broker = Broker::spawn(member_options(id, &voters.join(","), Timeouts::Scaled));
        broker.wait_ready();
        self.brokers.push(broker);
        let listed = eventually(CONVERGE, || {
            self.live().iter().all(|live| {
                metadata(self.broker(*live).address, None)
                    .is_ok_and(|response| response.brokers.iter().any(|b| b.node_id == id))
            })
        });
        assert!(listed, "observer {id} never listed:\n{}", self.log_tails());
        id
    }

    /// SIGTERM (a controlled shutdown); the broker stays down until [`Self::start_again`].
    pub fn stop(&mut self, id: i32) {
        assert!(!self.down.contains(&id), "broker {id} is down already");
        let _ = self.brokers[index(id)].terminate();
        self.down.insert(id);
    }

    /// Thaws frozen brokers and stops every running one with SIGTERM (bounded), so that their
    /// files can be read.
    pub fn stop_all(&mut self) {
        for id in std::mem::take(&mut self.frozen) {
            self.brokers[index(id)].signal(libc::SIGCONT);
        }
        for id in self.ids() {
            if !self.down.contains(&id) {
                let _ = self.brokers[index(id)].terminate();
                self.down.insert(id);
            }
        }
    }

    /// A partition's directory in broker `id`'s data dir (`<data>/<topic>-<partition>`).
    pub fn partition_dir(&self, id: i32, topic: &str, partition: i32) -> PathBuf {
        self.broker(id)
            .data_dir()
            .join(format!("{topic}-{partition}"))
    }

    /// The last 40 lines above DEBUG of every broker's log, openraft's left out, for failure
    /// messages (brokers log at debug level; Raft's lines would hide everything else).
    pub fn log_tails(&self) -> String {
        let mut text = String::new();
        for id in self.ids() {
            let log = self.broker(id).log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|line| {
                    !line.contains(" DEBUG ")
                        && !line.contains(" TRACE ")
                        && !line.contains("openraft")
                })
                .collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            text.push_str(&format!("--- broker {id} ---\n{tail}\n"));
        }
        text
    }
}

/// A failed test keeps its brokers' logs: they are copied to
/// `/tmp/ringbroker-cluster-logs/<test pid>-<n>/broker-<id>.log` (the data dirs go with the
/// temporary directories) and the path is printed.
impl Drop for Cluster {
    fn drop(&mut self) {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        if !std::thread::panicking() {
            return;
        }
        let directory = PathBuf::from("/tmp/ringbroker-cluster-logs").join(format!(
            "{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        if std::fs::create_dir_all(&directory).is_err() {
            return;
        }
        for id in self.ids() {
            let target = directory.join(format!("broker-{id}.log"));
            let _ = std::fs::copy(self.broker(id).log_path(), target);
        }
        eprintln!("broker logs kept in {}", directory.display());
    }
}

fn index(id: i32) -> usize {
    usize::try_from(id - 1).expect("broker ids start at 1")
}

/// Metadata v12 for `topics` (every topic when `None`), no auto-creation.
///
/// # Errors
/// The connection or exchange failed (a broker that is down or frozen).
pub fn metadata(address: SocketAddr, topics: Option<&[&str]>) -> std::io::Result<MetadataResponse> {
    let mut client = RawClient::try_connect(address)?;
    let request = MetadataRequest {
        topics: topics.map(|names| {
            names
                .iter()
                .map(|name| MetadataRequestTopic {
                    name: Some(StrBytes::from(*name)),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    client.try_call(12, &request)
}

impl Cluster {
    /// CreateTopics with `configs` through the live brokers in turn until one succeeds (or the
    /// topic exists), then waits until every live broker shows a leader for every partition.
    ///
    /// # Panics
    /// When no broker creates it within [`CONVERGE`].
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) {
        let request = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: StrBytes::from(name),
                num_partitions: partitions,
                replication_factor,
                configs: configs
                    .iter()
                    .map(|(key, value)| CreatableTopicConfig {
                        name: StrBytes::from(*key),
                        value: Some(StrBytes::from(*value)),
                    })
                    .collect(),
                ..CreatableTopic::default()
            }],
            timeout_ms: 10_000,
            validate_only: false,
        };
        let mut last = None;
        let created = eventually(CONVERGE, || {
            self.live().iter().any(|id| {
                let answer = RawClient::try_connect(self.broker(*id).address)
                    .and_then(|mut client| client.try_call::<_, CreateTopicsResponse>(5, &request));
                let code = answer.as_ref().ok().map(|r| r.topics[0].error_code);
                last = Some(format!("{answer:?}"));
                matches!(code, Some(ErrorCode::None | ErrorCode::TopicAlreadyExists))
            })
        });
        assert!(created, "topic {name} not created; last answer {last:?}");
        let led = eventually(CONVERGE, || {
            self.live().iter().all(|id| {
                self.partitions_seen_by(*id, name).is_some_and(|states| {
                    states.len() == usize::try_from(partitions).unwrap_or(0)
                        && states.iter().all(|state| state.leader >= 0)
                })
            })
        });
        assert!(led, "topic {name} has no leaders:\n{}", self.log_tails());
    }

    /// The partitions of `topic` as broker `id` shows them, sorted; `None` when it does not
    /// answer or does not know the topic.
    pub fn partitions_seen_by(&self, id: i32, topic: &str) -> Option<Vec<PartitionState>> {
        let response = metadata(self.broker(id).address, Some(&[topic])).ok()?;
        let listed = response.topics.first()?;
        if listed.error_code != ErrorCode::None {
            return None;
        }
        let mut states: Vec<PartitionState> = listed
            .partitions
            .iter()
            .map(|p| PartitionState {
                partition: p.partition_index,
                leader: p.leader_id,
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.clone(),
                isr: p.isr_nodes.clone(),
            })
            .collect();
        states.sort_by_key(|state| state.partition);
        Some(states)
    }

    /// The partitions of `topic` as the first live broker that answers shows them.
    pub fn partitions(&self, topic: &str) -> Option<Vec<PartitionState>> {
        self.live()
            .iter()
            .find_map(|id| self.partitions_seen_by(*id, topic))
    }

    /// Every live broker's view of `topic`'s partitions (leader, epoch, ISR), one line each, for
    /// failure messages: brokers that disagree show here.
    pub fn views(&self, topic: &str) -> String {
        let mut text = String::new();
        for id in self.live() {
            let view: Vec<String> = self
                .partitions_seen_by(id, topic)
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    let latest = self.list_latest(id, topic, s.partition);
                    format!(
                        "p{} leader {} epoch {} isr {:?} (its ListOffsets latest: {latest:?})",
                        s.partition, s.leader, s.leader_epoch, s.isr
                    )
                })
                .collect();
            text.push_str(&format!("broker {id} sees: {}\n", view.join("; ")));
        }
        text
    }

    /// Waits until every live broker shows every partition led by a live broker with its full
    /// ISR, and they agree; returns that view.
    pub fn wait_isr_full(&self, topic: &str, timeout: Duration) -> Option<Vec<PartitionState>> {
        let mut agreed = None;
        let healed = eventually(timeout, || {
            let live = self.live();
            let views: Vec<Option<Vec<PartitionState>>> = live
                .iter()
                .map(|id| self.partitions_seen_by(*id, topic))
                .collect();
            let Some(Some(first)) = views.first() else {
                return false;
            };
            let whole = first
                .iter()
                .all(|state| state.isr_is_full() && live.contains(&state.leader));
            agreed = Some(first.clone());
            whole && views.iter().all(|view| view.as_ref() == Some(first))
        });
        healed.then_some(agreed).flatten()
    }

    /// The leader's high watermark of one partition: ListOffsets(latest, read_uncommitted)
    /// sent to `leader`. `None` when it does not answer or answers with an error.
    pub fn high_watermark(&self, leader: i32, topic: &str, partition: i32) -> Option<i64> {
        self.list_latest(leader, topic, partition)
            .ok()
            .and_then(|(code, offset)| (code == ErrorCode::None).then_some(offset))
    }

    /// ListOffsets(latest) sent to broker `id` for one partition: its error code and offset (a
    /// broker that still answers as the leader shows here), or why there is no answer.
    ///
    /// # Errors
    /// The exchange failed or the answer has no partition.
    pub fn list_latest(
        &self,
        id: i32,
        topic: &str,
        partition: i32,
    ) -> Result<(ErrorCode, i64), String> {
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![ListOffsetsTopic {
                name: StrBytes::from(topic),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp: -1,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let mut client =
            RawClient::try_connect(self.broker(id).address).map_err(|e| e.to_string())?;
        let response: ListOffsetsResponse =
            client.try_call(5, &request).map_err(|e| e.to_string())?;
        let answer = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| "no partition in the answer".to_owned())?;
        Ok((answer.error_code, answer.offset))
    }
}

/// An idempotent acks=all rdkafka producer writing unique values (`<topic>-<n>`) to `topic`
/// from its own thread until stopped; every delivery report that succeeded is recorded with
/// its partition and offset.
pub struct Workload {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    failed: Arc<AtomicU64>,
    last_error: Arc<Mutex<Option<String>>>,
    client_log: Arc<Mutex<VecDeque<String>>>,
}

/// librdkafka log lines kept for a failure's message (`debug=eos,topic,msg,broker`: its
/// idempotent producer's state, the leaders it learns, each batch's fate, its connections),
/// the newest last. `msg` logs every batch (a few hundred lines a second while records flow),
/// so the ring is long enough to hold what came just before a stall of the whole wait.
const CLIENT_LOG_LINES: usize = 2_000;

/// The producer's delivery reports and its last log lines.
struct Recorder {
    acked: Arc<Mutex<Vec<Acked>>>,
    failed: Arc<AtomicU64>,
    last_error: Arc<Mutex<Option<String>>>,
    client_log: Arc<Mutex<VecDeque<String>>>,
}

impl rdkafka::ClientContext for Recorder {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.log(
            rdkafka::config::RDKafkaLogLevel::Error,
            "ERROR_CB",
            &format!("{error}: {reason}"),
        );
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        // `topic` logs a new sticky partition every 10 ms whether or not anything is sent; kept,
        // those lines would push a stall's beginning out of the ring.
        if fac == "PARTITIONER" {
            return;
        }
        let mut lines = self
            .client_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if lines.len() == CLIENT_LOG_LINES {
            lines.pop_front();
        }
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        lines.push_back(format!(
            "{}.{:03} {level:?} {fac} {log_message}",
            elapsed.as_secs(),
            elapsed.subsec_millis()
        ));
    }
}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        match result {
            Ok(message) => self
                .acked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Acked {
                    partition: message.partition(),
                    offset: message.offset(),
                    value: message.payload().unwrap_or_default().to_vec(),
                }),
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
            }
        }
    }
}

impl Workload {
    /// Starts producing to `topic` through `bootstrap`, about one record a millisecond.
    pub fn start(bootstrap: &str, topic: &str) -> Self {
        let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
        let failed = Arc::new(AtomicU64::new(0));
        let last_error: Arc<Mutex<Option<String>>> = Arc::default();
        let client_log: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let producer: ThreadedProducer<Recorder> = rdkafka::ClientConfig::new()
            // The rdkafka crate sets librdkafka's log level from the `log` crate's, which the
            // tests leave at Error: without this, `debug` lines never reach `Recorder::log`.
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Debug)
            .set("bootstrap.servers", bootstrap)
            // What a stall's message (`describe`) needs: the idempotent producer's state, the
            // leaders it learns, each batch's fate, its connections and its error callbacks.
            .set("debug", "eos,topic,msg,broker")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Long enough to outlast every failover; shorter requests so a frozen leader's
            // connection is given up soon.
            .set("message.timeout.ms", "60000")
            .set("request.timeout.ms", "5000")
            // Requests other than Produce (InitProducerId, which librdkafka sends to any broker
            // it holds a connection to, to bump the epoch after a timed-out produce) wait this
            // long: librdkafka's 60 s default outlasts the tests' waits when the broker it picks
            // is the frozen one.
            .set("socket.timeout.ms", "10000")
            .set("retry.backoff.ms", "50")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create_with_context(Recorder {
                acked: Arc::clone(&acked),
                failed: Arc::clone(&failed),
                last_error: Arc::clone(&last_error),
                client_log: Arc::clone(&client_log),
            })
            .expect("producer");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, topic) = (Arc::clone(&stop), topic.to_owned());
            std::thread::spawn(move || produce_until(&producer, &topic, &stop))
        };
        Self {
            stop,
            thread: Some(thread),
            acked,
            failed,
            last_error,
            client_log,
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Acknowledged and failed deliveries so far, the last delivery error and the client's
    /// last log lines, for messages.
    pub fn describe(&self) -> String {
        let log = self
            .client_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .fold(String::new(), |text, line| text + "\n  " + line);
        format!(
            "{} acknowledged, {} failed, last error {:?}; producer log (UNIX s):{log}",
            self.acked_count(),
            self.failed.load(Ordering::Relaxed),
            self.last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        )
    }

    /// Waits until `more` records beyond those acknowledged now are acknowledged: the
    /// partitions take writes.
    pub fn wait_progress(&self, more: usize, timeout: Duration) -> bool {
        let target = self.acked_count() + more;
        eventually(timeout, || self.acked_count() >= target)
    }

    /// Stops producing, waits (bounded) for the records in flight, and returns the
    /// acknowledged records and how many deliveries failed.
    pub fn stop(mut self) -> (Vec<Acked>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("producer thread");
        }
        let acked = std::mem::take(&mut *self.acked.lock().unwrap_or_else(PoisonError::into_inner));
        let failed = self.failed.load(Ordering::Relaxed);
        if failed > 0 {
            eprintln!("workload stopped: {}", self.describe());
        }
        (acked, failed)
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The producer thread: sends until `stop`, then flushes what is in flight (bounded).
fn produce_until(producer: &ThreadedProducer<Recorder>, topic: &str, stop: &AtomicBool) {
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("{topic}-{sequence:09}");
        match producer.send::<(), _>(BaseRecord::to(topic).payload(&value)) {
            Ok(()) => sequence += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = producer.flush(Duration::from_secs(60));
}

/// What a finished run shows: the checker's verdict and the partitions as they ended.
pub struct Outcome {
    pub verdict: Verdict,
    pub partitions: Vec<PartitionState>,
}

impl Cluster {
    /// Ends a run: waits until every partition of `topic` has its full ISR (asserting it
    /// heals), reads each leader's high watermark once it covers every acknowledged offset (or
    /// stops moving), stops every broker, reads every replica's log from disk and runs the
    /// checker over `acked`.
    ///
    /// # Panics
    /// When the ISR does not heal within [`CONVERGE`] or a log directory cannot be read.
    pub fn settle_and_check(&mut self, topic: &str, acked: &[Acked]) -> Outcome {
        let partitions = self.wait_isr_full(topic, CONVERGE).unwrap_or_else(|| {
            panic!(
                "the ISR of {topic} never healed:\n{}{}",
                self.views(topic),
                self.log_tails()
            )
        });
        let mut high_watermarks = Vec::new();
        for state in &partitions {
            let needed = acked
                .iter()
                .filter(|a| a.partition == state.partition)
                .map(|a| a.offset + 1)
                .max()
                .unwrap_or(0);
            let mut last = None;
            // A correct leader's HW covers every acknowledged offset at once; a lower one is
            // read again for a while and then given to the checker as it is.
            let _ = eventually(Duration::from_secs(10), || {
                let now = self.high_watermark(state.leader, topic, state.partition);
                let settled = now.is_some_and(|hw| hw >= needed) && now == last;
                last = now.or(last);
                settled
            });
            let high_watermark = last.unwrap_or_else(|| {
                panic!("leader {} gave no HW:\n{}", state.leader, self.log_tails())
            });
            high_watermarks.push(high_watermark);
        }
        self.stop_all();
        let views = partitions
            .iter()
            .zip(high_watermarks)
            .map(|(state, high_watermark)| self.partition_view(topic, state, high_watermark))
            .collect::<Vec<_>>();
        Outcome {
            verdict: checker::check(acked, &views),
            partitions,
        }
    }

    fn partition_view(
        &self,
        topic: &str,
        state: &PartitionState,
        high_watermark: i64,
    ) -> PartitionView {
        let replicas = state
            .replicas
            .iter()
            .map(|id| {
                let directory = self.partition_dir(*id, topic, state.partition);
                checker::read_replica_log(*id, &directory)
                    .unwrap_or_else(|e| panic!("{}: {e}", directory.display()))
            })
            .collect();
        PartitionView {
            partition: state.partition,
            leader: state.leader,
            high_watermark,
            replicas,
        }
    }
}
