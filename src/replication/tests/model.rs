//! Seeded model test: one leader and 2–4 followers holding real (in-memory) logs, driven
//! through random appends, follower fetches, downtime and lag timeouts, controller decisions
//! on ISR proposals, brokers dropped from the ISR, and leader elections with epoch bumps.
//! After every step it checks `invariants.rs` (HW never goes back, HW ≤ min LEO over the ISR,
//! HW advances only with |ISR| ≥ min ISR, the leader is in its ISR, acknowledgements), that at
//! most one proposal is in flight, and, against the real logs, that every acknowledged record
//! was on every ISR member when acknowledged and is still in the leader's log, at its offset.
use std::time::Duration;

use super::super::*;
use crate::cluster::metadata::PartitionState;

/// splitmix64: a seeded generator, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

enum Role {
    /// Before the first `install_roles`.
    Starting,
    Leader(Box<LeaderReplica>, LeaderHistory),
    Follower(FollowerReplica),
}

struct Node {
    /// The leader epoch of each record: enough to tell two records at one offset apart.
    log: Vec<i32>,
    epochs: LeaderEpochCache,
    role: Role,
    down: bool,
}

struct Model {
    rng: Rng,
    now: Duration,
    nodes: Vec<Node>,
    committed: PartitionState,
    config: ReplicaConfig,
    /// The proposal sent to the controller and not decided yet.
    pending: Option<IsrProposal>,
    /// Acknowledged records: (offset, leader epoch of the record).
    acked: Vec<(usize, i32)>,
    leader_id: ReplicaId,
    seed: u64,
    step: usize,
}

fn leo(node: &Node) -> i64 {
    i64::try_from(node.log.len()).unwrap()
}

fn index(id: ReplicaId) -> usize {
    usize::try_from(id).unwrap()
}

impl Model {
    fn new(seed: u64) -> Model {
        let mut rng = Rng(seed);
        let count = 3 + rng.below(3) as i32; // a leader and 2–4 followers
        let min_insync_replicas = 1 + rng.below(3) as usize;
        let replicas: Vec<ReplicaId> = (0..count).collect();
        let committed = PartitionState {
            replicas: replicas.clone(),
            isr: replicas.clone(),
            elr: Vec::new(),
            adding: Vec::new(),
            removing: Vec::new(),
            leader: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        let config = ReplicaConfig {
            replica_id: 0,
            min_insync_replicas,
            replica_lag_time_max: Duration::from_secs(10),
            ack_waiters_max: 8,
        };
        let nodes = replicas
            .iter()
            .map(|_| Node {
                log: Vec::new(),
                epochs: LeaderEpochCache::new(),
                role: Role::Starting,
                down: false,
            })
            .collect();
        let mut model = Model {
            rng,
            now: Duration::ZERO,
            nodes,
            committed,
            config,
            pending: None,
            acked: Vec::new(),
            leader_id: 0,
            seed,
            step: 0,
        };
        model.install_roles();
        model
    }

    fn context(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    fn leader(&mut self) -> &mut LeaderReplica {
        let id = self.leader_id;
        match &mut self.nodes[index(id)].role {
            Role::Leader(leader, _) => leader,
            _ => panic!("node {id} is not the leader"),
        }
    }

    /// Gives every node the role the committed state names: a fresh leader at the new epoch
    /// (its epoch cache starts the epoch at its LEO), followers following it.
    fn install_roles(&mut self) {
        let leader_id = self.committed.leader;
        let leader_epoch = self.committed.leader_epoch;
        self.leader_id = leader_id;
        for id in self.committed.replicas.clone() {
            let now = self.now;
            let node = &mut self.nodes[index(id)];
            let end = leo(node);
            let high_watermark = match &node.role {
                Role::Starting => 0,
                Role::Leader(leader, _) => leader.high_watermark(),
                Role::Follower(follower) => follower.high_watermark().min(end),
            };
            node.role = if id == leader_id {
                node.epochs.assign(leader_epoch, end);
                let config = ReplicaConfig {
                    replica_id: id,
                    ..self.config
                };
                let leader = LeaderReplica::new(config, &self.committed, end, high_watermark, now);
                let history = LeaderHistory::new(&leader);
                Role::Leader(Box::new(leader), history)
            } else {
                let follower =
                    FollowerReplica::new(id, (leader_id, leader_epoch), end, high_watermark);
                Role::Follower(follower)
            };
        }
        self.pending = None;
    }
}

impl Model {
    fn run(&mut self, steps: usize) {
        for step in 0..steps {
            self.step = step;
            match self.rng.below(100) {
                0..25 => self.append(),
                25..70 => self.fetch(),
                70..80 => self.tick(),
                80..90 => self.decide_proposal(),
                90..95 => self.toggle_down(),
                95..98 => self.drop_down_follower(),
                _ => self.elect(),
            }
            self.check();
        }
    }

    fn handle(&mut self, effects: LeaderEffects) {
        let context = self.context();
        let leader = self.leader();
        if let Err(violation) = invariants::check_acknowledged(leader, &effects.acks) {
            panic!("{context}: {violation}");
        }
        let isr = leader.maximal_isr();
        for answer in effects
            .acks
            .iter()
            .filter(|answer| answer.outcome == AckOutcome::Ok)
        {
            let offset = usize::try_from(answer.last_offset).unwrap();
            let epoch = self.nodes[index(self.leader_id)].log[offset];
            for &id in &isr {
                let record = self.nodes[index(id)].log.get(offset);
                assert_eq!(record, Some(&epoch), "{context}: ack {offset} not on {id}");
            }
            self.acked.push((offset, epoch));
        }
        if let Some(proposal) = effects.proposal {
            assert!(
                self.pending.is_none(),
                "{context}: second proposal in flight"
            );
            self.pending = Some(proposal);
        }
    }

    fn append(&mut self) {
        let count = 1 + self.rng.below(3) as usize;
        let timeout = Duration::from_secs(1 + self.rng.below(20));
        let deadline = self.now + timeout;
        let epoch = self.committed.leader_epoch;
        if self.leader().check_append_acks_all().is_err() {
            return;
        }
        let node = &mut self.nodes[index(self.leader_id)];
        node.log.extend(std::iter::repeat_n(epoch, count));
        let end = leo(node);
        let effects = self.leader().append(end);
        self.handle(effects);
        let registered = self.leader().register_ack(end - 1, deadline);
        assert!(registered.is_ok(), "{}: {registered:?}", self.context());
    }

    fn fetch(&mut self) {
        let followers: Vec<ReplicaId> = self
            .committed
            .replicas
            .iter()
            .copied()
            .filter(|&id| id != self.leader_id)
            .collect();
        let id = followers[self.rng.below(followers.len() as u64) as usize];
        if self.nodes[index(id)].down {
            return;
        }
        let node = &self.nodes[index(id)];
        let Role::Follower(follower) = &node.role else {
            unreachable!()
        };
        let position = follower.fetch_position(&node.epochs);
        let request = FollowerFetch {
            replica_id: id,
            broker_epoch: 1,
            current_leader_epoch: position.current_leader_epoch,
            fetch_offset: position.fetch_offset,
            last_fetched_epoch: position.last_fetched_epoch,
        };
        let (now, context) = (self.now, self.context());
        let leader_node = &mut self.nodes[index(self.leader_id)];
        let Role::Leader(leader, _) = &mut leader_node.role else {
            unreachable!()
        };
        let (answer, effects) = match leader.follower_fetch(&request, &leader_node.epochs, now) {
            Ok(result) => result,
            Err(error) => panic!("{context}: honest fetch refused: {error}"),
        };
        self.handle(effects);
        let batch = 1 + self.rng.below(4) as usize;
        self.follower_receive(id, &answer, batch);
    }

    fn follower_receive(&mut self, id: ReplicaId, answer: &FetchAnswer, batch: usize) {
        let leader_log = self.nodes[index(self.leader_id)].log.clone();
        let context = self.context();
        let node = &mut self.nodes[index(id)];
        let Role::Follower(follower) = &mut node.role else {
            unreachable!()
        };
        match follower.on_answer(answer, &node.epochs) {
            Ok(FollowerAction::Truncate { offset }) => {
                node.log.truncate(usize::try_from(offset).unwrap());
                node.epochs.truncate_from_end(offset);
                follower.truncated(offset);
            }
            Ok(FollowerAction::Append) => {
                let start = node.log.len();
                assert_eq!(
                    node.log[..],
                    leader_log[..start],
                    "{context}: {id} not a prefix"
                );
                let end = leader_log.len().min(start + batch);
                for (offset, &epoch) in leader_log.iter().enumerate().take(end).skip(start) {
                    node.epochs.assign(epoch, i64::try_from(offset).unwrap());
                    node.log.push(epoch);
                }
                follower.appended(i64::try_from(node.log.len()).unwrap());
            }
            Err(error) => panic!("{context}: answer refused: {error}"),
        }
    }
}

impl Model {
    fn tick(&mut self) {
        self.now += Duration::from_millis(self.rng.below(4_000));
        let now = self.now;
        let effects = self.leader().tick(now);
        self.handle(effects);
    }

    /// The controller commits the pending proposal when its epochs still match (KIP-497),
    /// or refuses it; sometimes it has not answered yet.
    fn decide_proposal(&mut self) {
        let Some(proposal) = self.pending.clone() else {
            return;
        };
        if self.rng.chance(20) {
            return;
        }
        let current = (self.committed.leader_epoch, self.committed.partition_epoch);
        if current != (proposal.leader_epoch, proposal.partition_epoch) || self.rng.chance(10) {
            self.pending = None;
            self.leader().proposal_failed();
            return;
        }
        self.commit_isr(proposal.new_isr);
    }

    fn commit_isr(&mut self, isr: Vec<ReplicaId>) {
        self.pending = None;
        self.committed.isr = isr;
        self.committed.partition_epoch += 1;
        let (state, now) = (self.committed.clone(), self.now);
        let effects = self.leader().apply_committed(&state, now);
        self.handle(effects);
    }

    fn toggle_down(&mut self) {
        let id = self.rng.below(self.nodes.len() as u64) as ReplicaId;
        if id != self.leader_id {
            self.nodes[index(id)].down ^= true;
        }
    }

    /// The controller fences a broker that stopped heartbeating and drops it from the ISR,
    /// even below min ISR (KIP-966 keeps it as an eligible leader replica).
    fn drop_down_follower(&mut self) {
        let down = self
            .committed
            .isr
            .iter()
            .copied()
            .find(|&id| self.nodes[index(id)].down);
        if let Some(id) = down {
            let isr = self
                .committed
                .isr
                .iter()
                .copied()
                .filter(|&member| member != id)
                .collect();
            self.commit_isr(isr);
        }
    }

    /// A new leader epoch, led by an ISR member that is up (maybe the same broker).
    fn elect(&mut self) {
        let candidates: Vec<ReplicaId> = (self.committed.isr.iter().copied())
            .filter(|&id| !self.nodes[index(id)].down)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let next = candidates[self.rng.below(candidates.len() as u64) as usize];
        self.committed.leader = next;
        self.committed.leader_epoch += 1;
        self.committed.partition_epoch += 1;
        let (state, now) = (self.committed.clone(), self.now);
        let effects = self.leader().apply_committed(&state, now);
        if next == self.leader_id {
            // The proposal in flight was made in the old epochs: the controller refuses it,
            // and the leader dropped it on the new partition epoch.
            self.pending = None;
            self.handle(effects);
            self.start_epoch_in_place();
            return;
        }
        assert!(
            self.leader().is_fenced(),
            "{}: old leader not fenced",
            self.context()
        );
        self.handle(effects);
        self.install_roles();
    }

    /// The leader was named again in a new epoch (as a reassignment that drops a replica
    /// does): it keeps leading, its epoch cache starts the epoch at its log end, and the
    /// followers follow the new epoch from where they are (Kafka's makeLeader/makeFollower
    /// for a leader that stays).
    fn start_epoch_in_place(&mut self) {
        let context = self.context();
        let (leader_id, epoch) = (self.leader_id, self.committed.leader_epoch);
        let leader = self.leader();
        assert!(
            !leader.is_fenced(),
            "{context}: a leader named again is fenced"
        );
        assert_eq!(leader.leader_epoch(), epoch, "{context}");
        let start = leader.leader_epoch_start_offset();
        self.nodes[index(leader_id)].epochs.assign(epoch, start);
        for node in &mut self.nodes {
            if let Role::Follower(follower) = &mut node.role {
                follower.follow(leader_id, epoch);
            }
        }
    }

    fn check(&mut self) {
        let context = self.context();
        let leader_index = index(self.leader_id);
        let leader_log = self.nodes[leader_index].log.clone();
        let Role::Leader(leader, history) = &mut self.nodes[leader_index].role else {
            unreachable!()
        };
        leader.check_invariants();
        if let Err(violation) = history.observe(leader) {
            panic!("{context}: {violation}");
        }
        assert_eq!(
            leader.proposal(),
            self.pending.as_ref(),
            "{context}: proposal state"
        );
        assert_eq!(leader.isr(), &self.committed.isr[..], "{context}: ISR");
        for &(offset, epoch) in &self.acked {
            assert_eq!(
                leader_log.get(offset),
                Some(&epoch),
                "{context}: acked {offset} lost"
            );
        }
        for node in &self.nodes {
            node.epochs.check_invariants();
        }
    }
}

#[test]
fn random_runs_keep_the_replication_invariants() {
    let mut acknowledged = 0;
    let mut elections = 0;
    let mut isr_changes = 0;
    for seed in 0..300 {
        let mut model = Model::new(seed);
        model.run(500);
        acknowledged += model.acked.len();
        elections += usize::try_from(model.committed.leader_epoch).unwrap();
        let epochs = model.committed.partition_epoch - model.committed.leader_epoch;
        isr_changes += usize::try_from(epochs).unwrap();
    }
    // The runs did something: records were acknowledged and leaders changed.
    assert!(acknowledged > 3_000, "only {acknowledged} acknowledged");
    assert!(elections > 1_000, "only {elections} elections");
    assert!(
        isr_changes > 1_000,
        "only {isr_changes} committed ISR changes"
    );
    println!("{acknowledged} acknowledged, {elections} elections, {isr_changes} ISR changes");
}
