//! The metadata quorum on its own (issue 15, first piece): three voters in this process on
//! 127.0.0.1, each on its own thread with its own compio runtime and temp data dir, talking over
//! real TCP. Elections, commits in one order on all voters, catch-up of a restarted follower
//! (through a snapshot: the log below it is purged), leader failover, and a minority that cannot
//! commit.
//!
//! Timing: short heartbeat/election timeouts come from the config; every wait polls a condition
//! until a deadline (`wait_until`), never sleeps as synchronisation.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringbroker::cluster::quorum::{
    CommittedEntry, MetadataApplier, MetadataQuorum, QuorumConfig, QuorumError, QuorumStatus,
    RaftQuorum, SnapshotRejected, Voter,
};

/// Deadline of every wait: elections take ~0.5 s here; a loaded 2-core CI box is slower.
const WAIT: Duration = Duration::from_secs(30);

type Applied = Arc<Mutex<Vec<(i64, Vec<Vec<u8>>)>>>;

/// Remembers what was applied; the snapshot is that list.
struct ListApplier {
    applied: Applied,
}

impl MetadataApplier for ListApplier {
    fn apply(&mut self, offset: i64, records: &[Vec<u8>]) {
        self.applied
            .lock()
            .unwrap()
            .push((offset, records.to_vec()));
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_stdvec(&*self.applied.lock().unwrap()).unwrap()
    }

    fn restore(&mut self, _offset: i64, snapshot: &[u8]) -> Result<(), SnapshotRejected> {
        let list = postcard::from_bytes(snapshot).map_err(|e| SnapshotRejected {
            reason: e.to_string(),
        })?;
        *self.applied.lock().unwrap() = list;
        Ok(())
    }
}

/// What the test asks a voter's thread to do.
enum Command {
    Propose(Vec<Vec<u8>>, flume::Sender<Result<i64, QuorumError>>),
    Status(flume::Sender<QuorumStatus>),
    Read(i64, flume::Sender<Result<Vec<CommittedEntry>, QuorumError>>),
    Stop,
}

/// One running voter.
struct Node {
    id: i32,
    commands: flume::Sender<Command>,
    thread: Option<JoinHandle<()>>,
    applied: Applied,
}

impl Node {
    fn start(id: i32, voters: &[Voter], directory: PathBuf) -> Self {
        let (commands, inbox) = flume::bounded(16);
        let applied: Applied = Arc::default();
        let applier = ListApplier {
            applied: Arc::clone(&applied),
        };
        let mut config = QuorumConfig::new(id, voters.to_vec(), directory);
        config.heartbeat_interval = Duration::from_millis(50);
        config.election_timeout_min = Duration::from_millis(300);
        config.election_timeout_max = Duration::from_millis(600);
        config.propose_timeout = Duration::from_secs(2);
        config.snapshot_entries = 16;
        let thread = std::thread::spawn(move || {
            let runtime = compio::runtime::Runtime::new().unwrap();
            runtime.block_on(run_node(config, applier, inbox));
        });
        Self {
            id,
            commands,
            thread: Some(thread),
            applied,
        }
    }

    fn propose(&self, records: &[&str]) -> Result<i64, QuorumError> {
        let records = records.iter().map(|r| r.as_bytes().to_vec()).collect();
        let (reply, answer) = flume::bounded(1);
        self.commands
            .send(Command::Propose(records, reply))
            .unwrap();
        answer.recv_timeout(WAIT).unwrap()
    }

    fn status(&self) -> QuorumStatus {
        let (reply, answer) = flume::bounded(1);
        self.commands.send(Command::Status(reply)).unwrap();
        answer.recv_timeout(WAIT).unwrap()
    }

    fn read_committed(&self, from: i64) -> Result<Vec<CommittedEntry>, QuorumError> {
        let (reply, answer) = flume::bounded(1);
        self.commands.send(Command::Read(from, reply)).unwrap();
        answer.recv_timeout(WAIT).unwrap()
    }

    fn applied(&self) -> Vec<(i64, Vec<Vec<u8>>)> {
        self.applied.lock().unwrap().clone()
    }

    fn stop(mut self) {
        self.commands.send(Command::Stop).unwrap();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

async fn run_node(config: QuorumConfig, applier: ListApplier, inbox: flume::Receiver<Command>) {
    let quorum = RaftQuorum::start(config, applier).await.unwrap();
    // Runs until the test says Stop (or drops the node).
    while let Ok(command) = inbox.recv_async().await {
        match command {
            Command::Propose(records, reply) => {
                let _ = reply.send(quorum.propose(records).await);
            }
            Command::Status(reply) => {
                let _ = reply.send(quorum.status());
            }
            Command::Read(from, reply) => {
                let _ = reply.send(quorum.read_committed(from, 1000).await);
            }
            Command::Stop => break,
        }
    }
    quorum.shutdown().await.unwrap();
}

/// Three voters on free loopback ports.
struct Cluster {
    voters: Vec<Voter>,
    directories: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn new() -> Self {
        let voters = (1..=3)
            .map(|id| {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let address = probe.local_addr().unwrap().to_string();
                Voter {
                    node_id: id,
                    address,
                }
            })
            .collect();
        let directories = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        Self {
            voters,
            directories,
        }
    }

    fn start(&self, id: i32) -> Node {
        let index = usize::try_from(id - 1).unwrap();
        Node::start(
            id,
            &self.voters,
            self.directories[index].path().to_path_buf(),
        )
    }
}

/// Polls `condition` until it holds or `WAIT` passes.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    // Bounded by the deadline.
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every node in `nodes` names the same leader, one of them; returns its index.
fn wait_for_leader(nodes: &[&Node]) -> usize {
    let mut found = None;
    wait_until("one leader all agree on", || {
        let statuses: Vec<QuorumStatus> = nodes.iter().map(|n| n.status()).collect();
        let leader = statuses.first().and_then(|s| s.leader);
        let agreed = statuses.iter().all(|s| s.leader == leader);
        found = leader.and_then(|id| nodes.iter().position(|n| n.id == id));
        agreed && found.is_some()
    });
    found.unwrap()
}

/// Proposes through `leader`, retrying retriable errors (a leader may still be settling).
fn propose_committed(leader: &Node, records: &[&str]) -> i64 {
    let mut offset = None;
    wait_until("a proposal to commit", || match leader.propose(records) {
        Ok(committed) => {
            offset = Some(committed);
            true
        }
        Err(error) if error.is_retriable() => false,
        Err(error) => panic!("proposal failed: {error}"),
    });
    offset.unwrap()
}

/// Whether `node`'s log starts past the first proposals (purged below a snapshot).
fn is_purged(node: &Node) -> bool {
    match node.read_committed(0) {
        Err(QuorumError::SnapshotRequired {
            log_start_offset, ..
        }) => log_start_offset > 10,
        Ok(_) => false,
        Err(error) => panic!("node {}: {error}", node.id),
    }
}

fn records_of(applied: &[(i64, Vec<Vec<u8>>)]) -> Vec<Vec<Vec<u8>>> {
    applied.iter().map(|(_, records)| records.clone()).collect()
}

#[test]
fn voters_commit_in_one_order_and_a_restarted_follower_catches_up() {
    let cluster = Cluster::new();
    let nodes: Vec<Node> = (1..=3).map(|id| cluster.start(id)).collect();
    let leader = wait_for_leader(&nodes.iter().collect::<Vec<_>>());
    let follower = (leader + 1) % 3;
    // A follower refuses and names the leader.
    match nodes[follower].propose(&["x"]) {
        Err(QuorumError::NotLeader { leader: hint }) => {
            assert_eq!(hint, Some(nodes[leader].id));
        }
        other => panic!("a follower accepted a proposal: {other:?}"),
    }
    let mut offsets = Vec::new();
    for index in 0..5 {
        let record = format!("first-{index}");
        offsets.push(propose_committed(&nodes[leader], &[&record, "second"]));
    }
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    wait_until("all three to apply the five proposals", || {
        nodes.iter().all(|n| n.applied().len() == 5)
    });
    let expected = nodes[leader].applied();
    for node in &nodes {
        assert_eq!(
            node.applied(),
            expected,
            "node {} applied another order",
            node.id
        );
        // Observers read the same committed proposals back from each voter's log.
        let read = node.read_committed(0).unwrap();
        let read: Vec<_> = read.into_iter().map(|e| (e.offset, e.records)).collect();
        assert_eq!(read, expected, "node {} log", node.id);
    }
    // Stop a follower, commit past two snapshots (16 entries each) so the leader purges the log
    // it missed, restart it: it installs the snapshot and applies the tail.
    let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let stopped_id = nodes[follower].as_ref().unwrap().id;
    nodes[follower].take().unwrap().stop();
    for index in 0..40 {
        let record = format!("while-down-{index}");
        propose_committed(nodes[leader].as_ref().unwrap(), &[&record]);
    }
    // Snapshots are built in the background: wait until the leader has purged what it missed.
    wait_until("the leader to purge its log below a snapshot", || {
        is_purged(nodes[leader].as_ref().unwrap())
    });
    nodes[follower] = Some(cluster.start(stopped_id));
    let leader_node = nodes[leader].as_ref().unwrap();
    let restarted = nodes[follower].as_ref().unwrap();
    wait_until("the restarted follower to catch up", || {
        restarted.applied().len() == 45
    });
    assert_eq!(
        records_of(&restarted.applied()),
        records_of(&leader_node.applied())
    );
    // It got there through the snapshot: its log starts after the entries it missed.
    wait_until(
        "the restarted follower's log to start at a snapshot",
        || is_purged(restarted),
    );
    for node in nodes.into_iter().flatten() {
        node.stop();
    }
}

#[test]
fn a_new_leader_follows_a_stopped_one_and_a_minority_cannot_commit() {
    let cluster = Cluster::new();
    let mut nodes: Vec<Option<Node>> = (1..=3).map(|id| Some(cluster.start(id))).collect();
    let running = |nodes: &[Option<Node>]| -> Vec<usize> {
        (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect()
    };
    let all: Vec<&Node> = nodes.iter().flatten().collect();
    let first_leader = wait_for_leader(&all);
    propose_committed(all[first_leader], &["before-failover"]);
    let first_term = all[first_leader].status().term;
    let first_history = all[first_leader].applied();
    nodes[first_leader].take().unwrap().stop();
    // The two left elect a new leader in a later term, and it commits.
    let left = running(&nodes);
    let pair: Vec<&Node> = left.iter().map(|i| nodes[*i].as_ref().unwrap()).collect();
    let second = wait_for_leader(&pair);
    assert!(
        pair[second].status().term > first_term,
        "a new term for a new leader"
    );
    let offset = propose_committed(pair[second], &["after-failover"]);
    let second_index = left[second];
    wait_until("both survivors to apply the failover proposal", || {
        pair.iter()
            .all(|n| n.applied().iter().any(|(o, _)| *o == offset))
    });
    // One history: what the old leader applied is a prefix of what both survivors applied.
    for node in &pair {
        let applied = node.applied();
        assert_eq!(applied.get(..first_history.len()), Some(&first_history[..]));
    }
    // Stop the new leader too: the one voter left cannot commit, and says so retriably.
    nodes[second_index].take().unwrap().stop();
    let last = running(&nodes)[0];
    let survivor = nodes[last].as_ref().unwrap();
    let before = survivor.applied();
    let error = survivor.propose(&["no-quorum"]).unwrap_err();
    assert!(error.is_retriable(), "{error}");
    // No split: nothing was applied without a quorum.
    assert_eq!(survivor.applied(), before);
    assert!(
        before
            .iter()
            .all(|(_, records)| records != &vec![b"no-quorum".to_vec()])
    );
    nodes[last].take().unwrap().stop();
}

#[test]
fn a_single_voter_commits_alone_and_recovers_snapshot_and_tail_after_restart() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = probe.local_addr().unwrap().to_string();
    drop(probe);
    let voters = vec![Voter {
        node_id: 1,
        address,
    }];
    let directory = tempfile::tempdir().unwrap();
    let node = Node::start(1, &voters, directory.path().to_path_buf());
    wait_for_leader(&[&node]);
    for index in 0..20 {
        propose_committed(&node, &[&format!("solo-{index}")]);
    }
    let before = node.applied();
    assert_eq!(before.len(), 20);
    node.stop();
    // 16 entries per snapshot: the restart loads one snapshot and re-applies the tail after it.
    let node = Node::start(1, &voters, directory.path().to_path_buf());
    wait_until("the restarted voter to recover all 20 proposals", || {
        node.applied() == before
    });
    // The metadata offset never goes back.
    let offset = propose_committed(&node, &["after-restart"]);
    assert!(
        offset > before.last().unwrap().0,
        "offset {offset} went back"
    );
    node.stop();
}
