//! The world: every broker, the quorum, the network and the clients, driven by one event
//! queue in virtual time. Each step pops the earliest event (ties in insertion order, so a
//! seed replays exactly), runs it, and checks the invariants.
//!
//! A run has two phases. Faults: for `fault_time`, random crashes and restarts, network
//! partitions that heal, clock jumps, failed flushes, message loss and duplication, and
//! partition reassignments (some cancelled, some with the controller crashing under them),
//! while producers and consumers work. Heal: every link heals, loss and duplication stop, crashed
//! brokers restart and producers finish what they were sending; within `convergence_bound`
//! the cluster must converge: the controller can commit, every broker is registered and
//! unfenced, every partition has a leader and a full ISR and no reassignment in flight, and
//! every replica holds the leader's log; then every reassignment must have ended as asked.
//! Runs on the simulator's thread.
use std::collections::BTreeMap;
use std::time::Duration;

use super::broker::{BrokerSettings, Outbox, Role, SimBroker};
use super::check::{self, Checker, Holding, Requested, Violation};
use super::network::{Body, Envelope, Network};
use super::quorum::SimQuorum;
use super::rng::Rng;
use super::trace::Trace;
use super::workload::{Consumer, Producer, Send};
use super::{CLIENT, CONTROLLER, NodeId, SimSettings, TOPIC_ID, TOPIC_NAME};
use crate::cluster::metadata::NO_LEADER;
use crate::cluster::policy::reassign;

/// How often each broker runs its periodic work.
const BROKER_TICK: Duration = Duration::from_millis(50);
/// How often the controller expires sessions and the quorum checks its leader.
const CONTROLLER_TICK: Duration = Duration::from_millis(100);
/// How often the clients act.
const CLIENT_TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
enum Event {
    Deliver(Envelope),
    BrokerTick(NodeId),
    ControllerTick,
    ClientTick,
    Fault,
    Restart(NodeId),
    HealLinks,
    ConsumerRestart,
    Reassign,
    CancelReassignment(i32),
    CrashController,
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub events: u64,
    pub simulated: Duration,
    pub acknowledged: u64,
    pub records_read: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub clock_jumps: u64,
    pub controller_changes: u64,
    /// Reassignments the controller accepted (starts and replacements), cancellations it
    /// accepted, and controller crashes aimed at a reassignment in flight.
    pub reassignments: u64,
    pub cancellations: u64,
    pub controller_crashes: u64,
    pub converged_after: Option<Duration>,
}

/// Everything of one run.
pub struct World {
    pub(super) settings: SimSettings,
    rng: Rng,
    now: Duration,
    queue: BTreeMap<(Duration, u64), Event>,
    sequence: u64,
    network: Network,
    quorum: SimQuorum,
    brokers: Vec<SimBroker>,
    pub(super) checker: Checker,
    pub(super) trace: Trace,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    request_id: u64,
    healing_since: Option<Duration>,
    topic_created: bool,
    /// Per partition: the last reassignment request the controller accepted.
    requested: BTreeMap<i32, Requested>,
    pub(super) stats: Stats,
}

fn broker_index(node: NodeId) -> usize {
    usize::try_from(node - 1).unwrap_or(usize::MAX)
}

impl World {
    #[must_use]
    pub fn new(seed: u64, settings: SimSettings) -> Self {
        let mut rng = Rng::new(seed);
        let broker_settings = BrokerSettings {
            partition_count: settings.data_partitions + 1,
            min_insync_replicas: settings.min_insync_replicas,
            flush_failure_percent: settings.flush_failure_percent,
            slow_flush_percent: settings.slow_flush_percent,
        };
        let brokers = (1..=settings.broker_count)
            .map(|id| SimBroker::new(id, broker_settings))
            .collect();
        let mut network = Network::default();
        network.loss_percent = settings.loss_percent;
        network.duplicate_percent = settings.duplicate_percent;
        network.delay_ms_max = settings.delay_ms_max;
        let offsets = settings.data_partitions;
        let mut producers = Vec::new();
        let mut consumers = Vec::new();
        for partition in 0..settings.data_partitions {
            for k in 0..settings.producers_per_partition {
                let id = i64::from(100 * (partition + 1) + k);
                producers.push(Producer::new(id, partition, settings.records_per_producer));
            }
            let commits = Producer::new(i64::from(900 + partition), offsets, u32::MAX);
            consumers.push(Consumer::new(partition, commits));
        }
        let _ = rng.next_u64();
        let mut world = World {
            settings,
            rng,
            now: Duration::ZERO,
            queue: BTreeMap::new(),
            sequence: 0,
            network,
            quorum: SimQuorum::new(1, Duration::ZERO),
            brokers,
            checker: Checker::default(),
            trace: Trace::default(),
            producers,
            consumers,
            request_id: 0,
            healing_since: None,
            topic_created: false,
            requested: BTreeMap::new(),
            stats: Stats::default(),
        };
        world.schedule_start();
        world
    }

    fn schedule_start(&mut self) {
        for id in 1..=self.settings.broker_count {
            let jitter = Duration::from_millis(self.rng.below(50));
            self.schedule(jitter, Event::BrokerTick(id));
        }
        self.schedule(CONTROLLER_TICK, Event::ControllerTick);
        self.schedule(CLIENT_TICK, Event::ClientTick);
        self.schedule(Duration::from_millis(1500), Event::Fault);
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.sequence += 1;
        self.queue.insert((self.now + after, self.sequence), event);
    }

    fn send(&mut self, from: NodeId, to: NodeId, body: Body) {
        let to = if to == CONTROLLER {
            self.quorum.controller()
        } else {
            to
        };
        let times = self.network.deliveries(&mut self.rng, (from, to), self.now);
        for at in times {
            let envelope = Envelope {
                from,
                to,
                body: body.clone(),
            };
            self.schedule(at.saturating_sub(self.now), Event::Deliver(envelope));
        }
    }

    fn send_all(&mut self, from: NodeId, out: Outbox) {
        for (to, body) in out {
            self.send(from, to, body);
        }
    }

    /// Runs until convergence after the faults, or a violation.
    ///
    /// # Errors
    /// The first violation.
    pub fn run(&mut self) -> Result<(), Violation> {
        // Bounded: every event is in virtual time, and the heal phase ends the run at
        // `fault_time + convergence_bound` at the latest; the event cap is a backstop.
        let events_max = 5_000_000;
        while let Some(((at, _), event)) = self.queue.pop_first() {
            assert!(at >= self.now, "time went back");
            self.now = at;
            self.stats.events += 1;
            self.stats.simulated = self.now;
            if self.step(event)? {
                return Ok(());
            }
            if self.stats.events >= events_max {
                let detail = format!("{events_max} events without converging");
                return Err(Violation::NoConvergence {
                    after: self.now,
                    detail,
                });
            }
        }
        Err(Violation::NoConvergence {
            after: self.now,
            detail: "event queue ran dry".into(),
        })
    }

    fn step(&mut self, event: Event) -> Result<bool, Violation> {
        match event {
            Event::Deliver(envelope) => self.deliver(envelope)?,
            Event::BrokerTick(id) => self.broker_tick(id)?,
            Event::ControllerTick => return self.controller_tick(),
            Event::ClientTick => self.client_tick()?,
            Event::Fault => self.fault()?,
            Event::Restart(id) => self.restart(id),
            Event::HealLinks => {
                self.network.heal();
                self.trace.record(self.now, format_args!("links heal"));
            }
            Event::ConsumerRestart => self.consumer_restart()?,
            Event::Reassign => self.reassign()?,
            Event::CancelReassignment(partition) => self.cancel_reassignment(partition)?,
            Event::CrashController => self.crash_controller(),
        }
        Ok(false)
    }
}

/// Brokers and the controller.
impl World {
    fn broker(&mut self, id: NodeId) -> &mut SimBroker {
        &mut self.brokers[broker_index(id)]
    }

    fn up(&self, id: NodeId) -> bool {
        self.brokers
            .get(broker_index(id))
            .is_some_and(|broker| broker.up)
    }

    /// Whether `id` is up and reaches a majority of the voters (itself included).
    fn can_commit(&self, id: NodeId) -> bool {
        if !self.up(id) {
            return false;
        }
        let reached = (1..=self.settings.broker_count)
            .filter(|&other| self.up(other) && self.network.connected(id, other))
            .count();
        reached * 2 > usize::try_from(self.settings.broker_count).unwrap_or(0)
    }

    fn deliver(&mut self, envelope: Envelope) -> Result<(), Violation> {
        let Envelope { from, to, body } = envelope;
        if to == CLIENT {
            return self.client_receive(body);
        }
        if !self.up(to) || !self.network.connected(from, to) {
            return Ok(());
        }
        trace_delivery(&mut self.trace, self.now, from, to, &body);
        match body {
            Body::Register { .. }
            | Body::Heartbeat(_)
            | Body::MetadataFetch { .. }
            | Body::AlterPartition { .. } => self.controller_receive(from, to, body),
            body => {
                let mut out = Outbox::new();
                let now = self.now;
                let broker = &mut self.brokers[broker_index(to)];
                let result = broker.receive(from, body, now, &mut self.checker, &mut out);
                self.send_all(to, out);
                result?;
                self.check_broker(to)
            }
        }
    }

    fn controller_receive(
        &mut self,
        from: NodeId,
        to: NodeId,
        body: Body,
    ) -> Result<(), Violation> {
        if to != self.quorum.controller() || !self.can_commit(to) {
            return Ok(());
        }
        let local = self.brokers[broker_index(to)].local(self.now);
        let before = self.quorum.state().version;
        let controller =
            |error: super::quorum::CommitError| Violation::Controller(error.to_string());
        let reply = match body {
            Body::Register { incarnation } => self
                .quorum
                .register(from, incarnation, local)
                .map_err(controller)?
                .map(|broker_epoch| Body::Registered {
                    incarnation,
                    broker_epoch,
                }),
            Body::Heartbeat(heartbeat) => {
                let broker_epoch = heartbeat.broker_epoch;
                let reply = self
                    .quorum
                    .heartbeat(heartbeat, local)
                    .map_err(controller)?;
                Some(
                    reply.map_or(Body::HeartbeatRefused { broker_epoch }, |reply| {
                        Body::HeartbeatReply {
                            broker_epoch,
                            reply,
                        }
                    }),
                )
            }
            Body::MetadataFetch { from: start } => {
                let records = self.quorum.read(start);
                Some(Body::MetadataRecords {
                    from: start,
                    records,
                })
            }
            Body::AlterPartition {
                request_id,
                request,
            } => {
                let partition = request.partition;
                let refused = self.quorum.alter_partition(request).map_err(controller)?;
                Some(Body::AlterPartitionReply {
                    request_id,
                    partition,
                    refused,
                })
            }
            _ => None,
        };
        self.trace_commits(before);
        if let Some(reply) = reply {
            self.send(to, from, reply);
        }
        Ok(())
    }

    fn trace_commits(&mut self, before: u64) {
        let committed = self.quorum.read(before);
        let version = self.quorum.state().version;
        for (offset, record) in (before..version).zip(committed) {
            self.trace
                .record(self.now, format_args!("commit #{offset} {record:?}"));
        }
    }

    fn broker_tick(&mut self, id: NodeId) -> Result<(), Violation> {
        self.schedule(BROKER_TICK, Event::BrokerTick(id));
        if !self.up(id) {
            return Ok(());
        }
        let mut out = Outbox::new();
        let (now, controller) = (self.now, self.quorum.controller());
        let broker = &mut self.brokers[broker_index(id)];
        let flushed = broker.tick(now, controller, &mut self.rng, &mut out);
        self.send_all(id, out);
        if !flushed? {
            self.crash(id, "fsync failed");
            return Ok(());
        }
        self.check_broker(id)
    }

    fn check_broker(&mut self, id: NodeId) -> Result<(), Violation> {
        let broker = &mut self.brokers[broker_index(id)];
        broker.check(&mut self.checker)?;
        self.check_isr_logs(id)
    }

    /// HW ≤ the real log end of every ISR member, for a current (unfenced, newest epoch)
    /// leader on `id`.
    fn check_isr_logs(&self, id: NodeId) -> Result<(), Violation> {
        let broker = &self.brokers[broker_index(id)];
        for (partition, replica) in (0..).zip(&broker.partitions) {
            let Role::Leader(leading) = &replica.role else {
                continue;
            };
            let current = self
                .quorum
                .state()
                .partition(TOPIC_ID, partition)
                .is_some_and(|state| state.leader_epoch == leading.replica.leader_epoch());
            if leading.replica.is_fenced() || !current {
                continue;
            }
            let high_watermark = leading.replica.high_watermark();
            for &member in leading.replica.isr() {
                let Some(other) = self.brokers.get(broker_index(member)).filter(|b| b.up) else {
                    continue;
                };
                let index = usize::try_from(partition).unwrap_or(usize::MAX);
                let Some(log_end_offset) = other.partitions.get(index).map(|r| r.log.end_offset())
                else {
                    continue;
                };
                if log_end_offset < high_watermark {
                    return Err(Violation::HighWatermarkPastLog {
                        node: id,
                        partition,
                        high_watermark,
                        member,
                        log_end_offset,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The controller's periodic work and the phases.
impl World {
    fn controller_tick(&mut self) -> Result<bool, Violation> {
        self.schedule(CONTROLLER_TICK, Event::ControllerTick);
        let controller = self.quorum.controller();
        let available = self.can_commit(controller);
        let candidates: Vec<NodeId> = (1..=self.settings.broker_count)
            .filter(|&id| self.can_commit(id))
            .collect();
        let pick = if candidates.is_empty() {
            0
        } else {
            self.rng.index(candidates.len())
        };
        let local = candidates.get(pick).map_or(self.now, |&id| {
            self.brokers[broker_index(id)].local(self.now)
        });
        if let Some(next) = self
            .quorum
            .update_leadership(available, &candidates, pick, local)
        {
            self.stats.controller_changes += 1;
            self.trace
                .record(self.now, format_args!("controller {controller} -> {next}"));
        }
        let controller = self.quorum.controller();
        if self.can_commit(controller) {
            let local = self.brokers[broker_index(controller)].local(self.now);
            let before = self.quorum.state().version;
            let failed =
                |error: super::quorum::CommitError| Violation::Controller(error.to_string());
            self.quorum.expire(local).map_err(failed)?;
            self.maybe_create_topic().map_err(failed)?;
            self.quorum.complete_reassignments().map_err(failed)?;
            self.trace_commits(before);
        }
        self.phase()
    }

    fn maybe_create_topic(&mut self) -> Result<(), super::quorum::CommitError> {
        let count = usize::try_from(self.settings.broker_count).unwrap_or(0);
        if self.topic_created || self.quorum.state().unfenced_brokers().count() < count {
            return Ok(());
        }
        self.topic_created = true;
        let partitions = self.settings.data_partitions + 1;
        let (rf, min_isr) = (
            self.settings.replication_factor,
            self.settings.min_insync_replicas,
        );
        self.quorum
            .create_topic((TOPIC_NAME, TOPIC_ID), partitions, rf, min_isr)
    }

    /// Ends the fault phase at `fault_time`; in the heal phase, ends the run on convergence,
    /// or fails it past the bound.
    fn phase(&mut self) -> Result<bool, Violation> {
        let Some(since) = self.healing_since else {
            if self.now >= self.settings.fault_time {
                self.heal();
            }
            return Ok(false);
        };
        match self.converged() {
            Ok(()) => {
                self.stats.converged_after = Some(self.now.saturating_sub(since));
                self.final_check()?;
                Ok(true)
            }
            Err(detail) if self.now.saturating_sub(since) > self.settings.convergence_bound => {
                Err(Violation::NoConvergence {
                    after: self.now.saturating_sub(since),
                    detail,
                })
            }
            Err(_) => Ok(false),
        }
    }

    fn heal(&mut self) {
        self.healing_since = Some(self.now);
        self.network.heal();
        self.network.loss_percent = 0;
        self.network.duplicate_percent = 0;
        self.settings.flush_failure_percent = 0;
        for broker in &mut self.brokers {
            broker.disable_flush_failures();
        }
        self.trace
            .record(self.now, format_args!("heal: faults stop"));
        for id in 1..=self.settings.broker_count {
            if !self.up(id) {
                self.restart(id);
            }
        }
    }

    /// Why the cluster has not converged yet, if it has not.
    fn converged(&self) -> Result<(), String> {
        let controller = self.quorum.controller();
        if !self.can_commit(controller) {
            return Err(format!("controller {controller} cannot commit"));
        }
        let state = self.quorum.state();
        for broker in &self.brokers {
            let unfenced = state.broker(broker.id).is_some_and(|b| !b.fenced);
            if !broker.up || !broker.registered() || !unfenced {
                return Err(format!("broker {} not registered and unfenced", broker.id));
            }
            if broker.metadata.version != state.version {
                return Err(format!("broker {} metadata behind", broker.id));
            }
        }
        if !self.topic_created {
            return Err("topic not created".into());
        }
        if let Some(producer) = self.producers.iter().find(|p| !p.idle()) {
            return Err(format!("producer {} still sending", producer.producer_id));
        }
        for partition in 0..=self.settings.data_partitions {
            self.partition_converged(partition)?;
        }
        Ok(())
    }

    fn partition_converged(&self, partition: i32) -> Result<(), String> {
        let state = self
            .quorum
            .state()
            .partition(TOPIC_ID, partition)
            .ok_or("no partition")?;
        if state.leader == NO_LEADER {
            return Err(format!("partition {partition} has no leader"));
        }
        if reassign::in_progress(state) {
            return Err(format!(
                "partition {partition} reassignment in flight: adding {:?}, removing {:?}",
                state.adding, state.removing
            ));
        }
        let mut isr = state.isr.clone();
        let mut replicas = state.replicas.clone();
        isr.sort_unstable();
        replicas.sort_unstable();
        if isr != replicas {
            return Err(format!(
                "partition {partition} ISR {:?} of {:?}",
                state.isr, state.replicas
            ));
        }
        let index = usize::try_from(partition).unwrap_or(usize::MAX);
        let leader = &self.brokers[broker_index(state.leader)].partitions[index];
        let Role::Leader(leading) = &leader.role else {
            return Err(format!(
                "partition {partition}: {} not leading yet",
                state.leader
            ));
        };
        let end = leader.log.end_offset();
        if leading.replica.high_watermark() != end {
            return Err(format!(
                "partition {partition}: HW {} below {end}",
                leading.replica.high_watermark()
            ));
        }
        for &id in &state.replicas {
            let log = &self.brokers[broker_index(id)].partitions[index].log;
            if log.entries() != leader.log.entries() {
                return Err(format!(
                    "partition {partition}: {id}'s log differs from the leader's"
                ));
            }
        }
        Ok(())
    }

    /// After convergence: every acknowledged record is in its partition leader's log; each
    /// reassignment ended as asked, and brokers a partition moved away from hold nothing of it.
    fn final_check(&self) -> Result<(), Violation> {
        self.final_check_reassignments()?;
        let log_of = |partition: i32| {
            let index = usize::try_from(partition).unwrap_or(usize::MAX);
            self.quorum
                .state()
                .partition(TOPIC_ID, partition)
                .and_then(|state| self.brokers.get(broker_index(state.leader)))
                .and_then(|broker| broker.partitions.get(index))
                .map(|replica| replica.log.entries().to_vec())
                .unwrap_or_default()
        };
        self.checker.acked_readable(&log_of)
    }
}

/// Faults.
impl World {
    fn fault(&mut self) -> Result<(), Violation> {
        if self.healing_since.is_some() {
            return Ok(());
        }
        let next = Duration::from_millis(self.rng.between(100, 700));
        self.schedule(next, Event::Fault);
        let ids: Vec<NodeId> = (1..=self.settings.broker_count).collect();
        match self.rng.below(100) {
            0..25 => {
                let down = ids.iter().filter(|&&id| !self.up(id)).count();
                let id = ids[self.rng.index(ids.len())];
                if self.up(id) && down < self.settings.crash_max {
                    self.crash(id, "crash");
                }
            }
            25..45 if !self.network.is_partitioned() => self.partition_network(&ids),
            45..55 => {
                let id = ids[self.rng.index(ids.len())];
                let jump = Duration::from_millis(self.rng.between(100, 3000));
                self.broker(id).clock_offset += jump;
                self.stats.clock_jumps += 1;
                self.trace
                    .record(self.now, format_args!("clock of {id} jumps {jump:?}"));
            }
            55..62 => self.schedule(Duration::ZERO, Event::ConsumerRestart),
            62..72 => self.schedule(Duration::ZERO, Event::Reassign),
            _ => {}
        }
        Ok(())
    }

    /// Cuts a random minority (1 ≤ size ≤ n/2) off the other brokers until `HealLinks`.
    fn partition_network(&mut self, ids: &[NodeId]) {
        let mut side: Vec<NodeId> = ids.to_vec();
        let size = 1 + self.rng.index(ids.len() / 2);
        while side.len() > size {
            let at = self.rng.index(side.len());
            side.remove(at);
        }
        self.network.partition(&side, ids);
        self.stats.partitions += 1;
        self.trace
            .record(self.now, format_args!("partition {side:?} | rest"));
        let heal = Duration::from_millis(self.rng.between(300, 5000));
        self.schedule(heal, Event::HealLinks);
    }

    fn crash(&mut self, id: NodeId, why: &str) {
        let broker = &mut self.brokers[broker_index(id)];
        let lost = broker.crash(&mut self.rng);
        self.stats.crashes += 1;
        self.trace.record(
            self.now,
            format_args!("{why}: broker {id} down, {lost} unsynced records lost"),
        );
        let after = Duration::from_millis(self.rng.between(200, 4000));
        self.schedule(after, Event::Restart(id));
    }

    fn restart(&mut self, id: NodeId) {
        if self.up(id) {
            return;
        }
        self.broker(id).restart();
        self.trace
            .record(self.now, format_args!("broker {id} restarts"));
    }

    fn consumer_restart(&mut self) -> Result<(), Violation> {
        if self.consumers.is_empty() {
            return Ok(());
        }
        let index = self.rng.index(self.consumers.len());
        let offsets = self.settings.data_partitions;
        let consumer = &mut self.consumers[index];
        // A consumer closes as Kafka's does, after its last commit completed: a commit still
        // in flight from before the restart could land after a newer one (no group
        // coordinator fences it here), which is not what this checks.
        if !consumer.commits.idle() {
            return Ok(());
        }
        let producer_id = consumer.commits.producer_id;
        let resumed = self.checker.latest_value(offsets, producer_id).unwrap_or(0);
        self.trace.record(
            self.now,
            format_args!("consumer of {} resumes at {resumed}", consumer.partition),
        );
        consumer.restart(resumed)
    }
}

/// Reassignments (KIP-455), asked by an admin client of the active controller.
impl World {
    /// Starts (or replaces) a random partition's reassignment to a random target of 2 to
    /// `broker_count` brokers: the current replication factor more often than not, else a
    /// changed one (2 at least: a single replica is the broker's unreplicated path, which the
    /// simulator does not model). Some are cancelled later, some have their controller
    /// crash under them.
    ///
    /// The admin request goes straight to the controller's decision rather than over the
    /// simulated network: what is tested is what the controller commits and what the
    /// brokers do with it; an admin request that is lost is one that was never made. It is
    /// made only while the controller can commit (else the admin client would time out).
    fn reassign(&mut self) -> Result<(), Violation> {
        let controller = self.quorum.controller();
        if !self.topic_created || !self.can_commit(controller) {
            return Ok(());
        }
        let partition = i32::try_from(self.rng.index(self.partition_count())).unwrap_or(0);
        let Some(state) = self.quorum.state().partition(TOPIC_ID, partition).cloned() else {
            return Ok(());
        };
        let target = self.random_target(reassign::target_replicas(&state).len());
        // A target equal to the replicas before a reassignment in flight cancels it.
        let requested =
            if reassign::in_progress(&state) && target == reassign::original_replicas(&state) {
                Requested::Cancel(target.clone())
            } else {
                Requested::Target(target.clone())
            };
        let refused = self
            .quorum
            .reassign(TOPIC_ID, partition, Some(target.clone()))
            .map_err(|error| Violation::Controller(error.to_string()))?;
        self.trace.record(
            self.now,
            format_args!("admin: reassign p{partition} to {target:?}: {refused:?}"),
        );
        if refused.is_some() {
            return Ok(());
        }
        self.stats.reassignments += 1;
        self.requested.insert(partition, requested);
        // Most moves finish within a second (the logs are short): a cancel comes soon.
        if self.rng.chance(50) {
            let after = Duration::from_millis(self.rng.between(0, 500));
            self.schedule(after, Event::CancelReassignment(partition));
        }
        if self.rng.chance(20) {
            let after = Duration::from_millis(self.rng.between(0, 1000));
            self.schedule(after, Event::CrashController);
        }
        Ok(())
    }

    fn partition_count(&self) -> usize {
        usize::try_from(self.settings.data_partitions + 1).unwrap_or(1)
    }

    /// `size` distinct brokers (60 %), else 2 to `broker_count` of them, in a random order.
    fn random_target(&mut self, size: usize) -> Vec<NodeId> {
        let mut brokers: Vec<NodeId> = (1..=self.settings.broker_count).collect();
        let size = if self.rng.chance(60) && size >= 2 {
            size.min(brokers.len())
        } else {
            2 + self.rng.index(brokers.len() - 1)
        };
        let mut target = Vec::with_capacity(size);
        while target.len() < size {
            target.push(brokers.remove(self.rng.index(brokers.len())));
        }
        assert!(target.len() >= 2 && target.len() <= self.brokers.len());
        target
    }

    /// Cancels `partition`'s reassignment if one is still in flight.
    fn cancel_reassignment(&mut self, partition: i32) -> Result<(), Violation> {
        let controller = self.quorum.controller();
        if self.healing_since.is_some() || !self.can_commit(controller) {
            return Ok(());
        }
        let Some(state) = self.quorum.state().partition(TOPIC_ID, partition).cloned() else {
            return Ok(());
        };
        if !reassign::in_progress(&state) {
            return Ok(());
        }
        let original = reassign::original_replicas(&state);
        let refused = self
            .quorum
            .reassign(TOPIC_ID, partition, None)
            .map_err(|error| Violation::Controller(error.to_string()))?;
        self.trace.record(
            self.now,
            format_args!("admin: cancel p{partition} back to {original:?}: {refused:?}"),
        );
        if refused.is_none() {
            self.stats.cancellations += 1;
            self.requested
                .insert(partition, Requested::Cancel(original));
        }
        Ok(())
    }

    /// Crashes the active controller (a reassignment is in flight): the next one resumes it
    /// from the metadata log.
    fn crash_controller(&mut self) {
        let controller = self.quorum.controller();
        let down = (1..=self.settings.broker_count)
            .filter(|&id| !self.up(id))
            .count();
        if self.healing_since.is_some() || !self.up(controller) || down >= self.settings.crash_max {
            return;
        }
        self.stats.controller_crashes += 1;
        self.crash(controller, "controller crash during a reassignment");
    }

    fn final_check_reassignments(&self) -> Result<(), Violation> {
        let state = self.quorum.state();
        for (&partition, requested) in &self.requested {
            let current = state
                .partition(TOPIC_ID, partition)
                .ok_or_else(|| Violation::Controller(format!("partition {partition} vanished")))?;
            check::reassignment_outcome(partition, requested, current)?;
        }
        for (index, partition) in (0..self.partition_count()).zip(0..) {
            let Some(current) = state.partition(TOPIC_ID, partition) else {
                continue;
            };
            for broker in &self.brokers {
                let replica = &broker.partitions[index];
                let (leads, leaders_isr) = match &replica.role {
                    Role::Leader(leading) if !leading.replica.is_fenced() => {
                        (true, leading.replica.isr())
                    }
                    _ => (false, &[][..]),
                };
                let holding = Holding {
                    node: broker.id,
                    leads,
                    follows: matches!(replica.role, Role::Follower(_)),
                    leaders_isr,
                    records: replica.log.entries().len(),
                };
                check::removed_replica(partition, current, &holding)?;
            }
        }
        Ok(())
    }
}

/// Clients.
impl World {
    /// The leader of `partition` as a random running broker's metadata names it.
    fn leader_hint(&mut self, partition: i32) -> Option<NodeId> {
        let up: Vec<usize> = (0..self.brokers.len())
            .filter(|&i| self.brokers[i].up)
            .collect();
        if up.is_empty() {
            return None;
        }
        let broker = &self.brokers[up[self.rng.index(up.len())]];
        let state = broker.metadata.partition(TOPIC_ID, partition)?;
        (state.leader != NO_LEADER).then_some(state.leader)
    }

    fn client_tick(&mut self) -> Result<(), Violation> {
        self.schedule(CLIENT_TICK, Event::ClientTick);
        if !self.topic_created {
            return Ok(());
        }
        let producing = self.healing_since.is_none();
        let mut sends = Vec::new();
        let now = self.now;
        for producer in &mut self.producers {
            sends.extend(producer.tick(now, &mut self.request_id, producing));
        }
        for consumer in &mut self.consumers {
            sends.extend(consumer.tick(now, &mut self.request_id));
            sends.extend(consumer.commits.tick(now, &mut self.request_id, false));
        }
        for send in sends {
            let (partition, body) = match send {
                Send::Produce {
                    request_id,
                    partition,
                    entry,
                } => (
                    partition,
                    Body::Produce {
                        request_id,
                        partition,
                        entry,
                    },
                ),
                Send::Read {
                    request_id,
                    partition,
                    offset,
                } => (
                    partition,
                    Body::Read {
                        request_id,
                        partition,
                        offset,
                    },
                ),
            };
            if let Some(target) = self.leader_hint(partition) {
                self.send(CLIENT, target, body);
            }
        }
        Ok(())
    }

    fn client_receive(&mut self, body: Body) -> Result<(), Violation> {
        let now = self.now;
        match body {
            Body::ProduceReply { request_id, result } => {
                for producer in &mut self.producers {
                    if producer
                        .answer(request_id, result, now, &mut self.checker)?
                        .is_some()
                    {
                        self.stats.acknowledged += 1;
                    }
                }
                for consumer in &mut self.consumers {
                    let committed =
                        consumer
                            .commits
                            .answer(request_id, result, now, &mut self.checker)?;
                    if let Some(position) = committed {
                        consumer.commit_acknowledged(position);
                    }
                }
                if let Ok(offset) = result {
                    self.trace.record(
                        now,
                        format_args!("client: produce {request_id} acked at {offset}"),
                    );
                }
                Ok(())
            }
            Body::ReadReply {
                request_id,
                partition: _,
                offset,
                result,
            } => {
                for consumer in &mut self.consumers {
                    let before = consumer.records_read;
                    consumer.answer(request_id, offset, result.clone(), &self.checker)?;
                    self.stats.records_read += consumer.records_read - before;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// One trace line per delivery worth reading (routine heartbeats and empty fetches are left
/// out, so the ring buffer covers more time).
fn trace_delivery(trace: &mut Trace, now: Duration, from: NodeId, to: NodeId, body: &Body) {
    match body {
        Body::Heartbeat(_)
        | Body::HeartbeatReply { .. }
        | Body::MetadataFetch { .. }
        | Body::Fetch { .. } => {}
        Body::MetadataRecords { records, .. } if records.is_empty() => {}
        Body::FetchReply {
            result: Ok(answer),
            entries,
            ..
        } if entries.is_empty() && answer.diverging_epoch.is_none() => {}
        Body::MetadataRecords {
            from: start,
            records,
        } => {
            trace.record(
                now,
                format_args!("{from}->{to} metadata #{start}+{}", records.len()),
            );
        }
        Body::FetchReply {
            partition,
            result,
            entries,
            ..
        } => {
            let range = entries
                .first()
                .map(|e| (e.epoch, e.producer_id, e.sequence));
            trace.record(
                now,
                format_args!(
                    "{from}->{to} p{partition} fetch reply {result:?} {} entries first {range:?}",
                    entries.len()
                ),
            );
        }
        Body::Produce {
            request_id,
            partition,
            entry,
        } => {
            trace.record(
                now,
                format_args!(
                    "client->{to} produce {request_id} p{partition} ({}, {})",
                    entry.producer_id, entry.sequence
                ),
            );
        }
        other => trace.record(now, format_args!("{from}->{to} {other:?}")),
    }
}
