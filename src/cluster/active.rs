//! The active controller's side of broker lifecycle and forwarding: on the node that leads
//! the metadata quorum, it decides registrations, heartbeats (unfencing, controlled shutdown)
//! and forwarded changes with the pure policy (`policy::lifecycle::BrokerSessions`,
//! `decisions`), commits the records through the metadata log under the store's
//! one-change-at-a-time gate, fences brokers whose session expired (a timer) or whose
//! controller listener refuses connections (a probe of silent brokers on the same timer:
//! a killed process is fenced within about a heartbeat interval), and moves
//! leadership back to preferred replicas when a broker's leadership is imbalanced (the same
//! timer, every `leader.imbalance.check.interval`; `policy::isr`).
//!
//! Sessions are soft state (CLUSTER.md, "Broker lifecycle"): when this node becomes the
//! leader of a new term it starts every registered broker's session afresh
//! (`BrokerSessions::activate`), so a controller failover does not fence brokers that kept
//! heartbeating to the old one; it probes them all at once instead, so a broker that died
//! with the old controller is fenced without waiting a whole new session.
//!
//! Why a probe, and why this one: a killed process's ports refuse connections at once, so a
//! refused connect to the controller listener the quorum membership records is proof the
//! incarnation is gone; a frozen (SIGSTOP) or cut-off broker's connect succeeds or times out,
//! so it is never fenced early (Kafka's session rule stands for it). Probing silent brokers
//! from the controller's timer covers the other triggers considered (the heartbeat
//! connection closing, a follower's fetch refused) with one mechanism and no new messages.
//!
//! A forwarded change is committed here and published to this node's shards by its metadata
//! follower (`controller::follow_log`), like any entry; the forwarding broker answers its
//! client once it has applied the version this answer names.
//!
//! Runs on shard 0 of every node (idle unless the node leads the quorum); `!Send`.
use super::decisions::{self, MetadataChange};
use super::metadata::{
    ClusterMetadata, MetadataError, MetadataFileError, MetadataRecord, MetadataStore,
};
use super::policy::election::ElectionPolicy;
use super::policy::isr::{self, ElectionType, Liveness};
use super::policy::lifecycle::BrokerSessions;
use super::policy::placement;
use super::quorum::{self, AppHandler, MetadataQuorum, QuorumError};
use super::rpc::{ControllerRequest, ControllerResponse};
use crate::config::LeaderBalance;
use crate::limits::{
    BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT, BROKER_PROBE_TIMEOUT_MS,
    LEADER_BALANCE_ELECTIONS_PER_CHECK_MAX,
};
use crate::protocol::{ErrorCode, Uuid};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a decided change goes into the metadata log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    /// One entry: the change is atomic (and must fit the proposal limits).
    One,
    /// As many entries as the proposal limits need, in order.
    AsMany,
}

/// What one committed decision did: the state before, the state after, and its outcome.
pub struct Committed<T> {
    pub previous: Arc<ClusterMetadata>,
    pub next: Arc<ClusterMetadata>,
    pub outcome: T,
}

/// The controller service of one node. See the module docs.
pub struct ActiveController {
    node_id: i32,
    store: MetadataStore,
    sessions: RefCell<BrokerSessions>,
    /// The term whose sessions are active (`None`: not leading since the last check).
    active_term: Cell<Option<i64>>,
    started: Instant,
    /// Automatic preferred-leader rebalancing (off until `with_leader_balance`).
    leader_balance: LeaderBalance,
    /// When the next imbalance check is due (since `started`).
    next_balance_check: Cell<Duration>,
    /// A broker silent this long is probed (`fence_unreachable`): one heartbeat interval.
    probe_after: Duration,
    /// Whether the metadata at a version had a reassignment in flight
    /// (`complete_reassignments`): the scan of every partition runs once per version, not on
    /// every tick (four a second over 100,000 partitions cost an idle broker a fifth of its
    /// CPU).
    reassigning_at: Cell<Option<(u64, bool)>>,
}

impl ActiveController {
    /// # Panics
    /// When `session_timeout` is outside the bounds of `limits.rs` (config validation keeps it
    /// inside), or the store has no quorum.
    #[must_use]
    pub fn new(node_id: i32, store: MetadataStore, session_timeout: Duration) -> Self {
        assert!(
            store.quorum().is_some(),
            "the controller needs the metadata log"
        );
        Self {
            node_id,
            store,
            sessions: RefCell::new(BrokerSessions::new(
                session_timeout,
                ElectionPolicy::default(),
            )),
            active_term: Cell::new(None),
            started: Instant::now(),
            leader_balance: LeaderBalance {
                enabled: false,
                ..LeaderBalance::default()
            },
            next_balance_check: Cell::new(Duration::ZERO),
            probe_after: Duration::from_millis(BROKER_HEARTBEAT_INTERVAL_MS_DEFAULT),
            reassigning_at: Cell::new(None),
        }
    }

    /// The brokers' heartbeat interval: one missed heartbeat makes a broker worth probing.
    #[must_use]
    pub fn with_heartbeat_interval(self, interval: Duration) -> Self {
        Self {
            probe_after: interval,
            ..self
        }
    }

    /// Turns on automatic preferred-leader rebalancing as `settings` say; the first check is
    /// one interval after start (Kafka's schedule).
    #[must_use]
    pub fn with_leader_balance(self, settings: LeaderBalance) -> Self {
        self.next_balance_check.set(settings.check_interval);
        Self {
            leader_balance: settings,
            ..self
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether this node leads the quorum; activates the sessions on a new term.
    fn is_active(&self) -> Result<(), Option<i32>> {
        let Some(quorum) = self.store.quorum() else {
            return Err(None);
        };
        let status = quorum.status();
        if status.leader != Some(self.node_id) {
            self.active_term.set(None);
            return Err(status.leader);
        }
        if self.active_term.get() != Some(status.term)
            && let Some(state) = self.store.applied()
        {
            self.sessions.borrow_mut().activate(&state, self.now());
            self.active_term.set(Some(status.term));
            tracing::info!(
                term = status.term,
                "active controller: broker sessions started"
            );
        }
        Ok(())
    }

    /// Decides against the latest applied state and commits the records, one change at a
    /// time (the store's gate): as one entry (an atomic change, within the proposal limits),
    /// or — for a broker's lifecycle (registration, heartbeats, fencing, unregistration),
    /// which writes a record per partition the broker hosts and need not be atomic — in as
    /// many entries as the limits need (`MetadataStore::commit_in_entries`). No records:
    /// nothing is proposed.
    ///
    /// # Errors
    /// The decision's refusal, or the commit's `Persist` error.
    pub async fn commit<T>(
        &self,
        entries: Entries,
        decide: impl FnOnce(
            &ClusterMetadata,
            &mut BrokerSessions,
        ) -> Result<(Vec<MetadataRecord>, T), MetadataError>,
    ) -> Result<Committed<T>, MetadataError> {
        let _turn = self.store.turn().await;
        // Read after the gate's `.await`: the log's latest state, which no one else changes
        // now (an entry whose commit timed out earlier may have landed since).
        let previous = self.store.applied().ok_or_else(|| {
            MetadataError::from(MetadataFileError::Quorum {
                source: QuorumError::ShutDown,
            })
        })?;
        let (records, outcome) = decide(&previous, &mut self.sessions.borrow_mut())?;
        if records.is_empty() {
            let next = Arc::clone(&previous);
            return Ok(Committed {
                previous,
                next,
                outcome,
            });
        }
        // Checked before proposing: a record that would not apply is never written.
        let expected = previous.apply_all(&records)?;
        match entries {
            Entries::One => self.store.commit(&records).await?,
            Entries::AsMany => self.store.commit_in_entries(&records).await?,
        };
        let next = self
            .store
            .applied()
            .unwrap_or_else(|| Arc::new(expected.clone()));
        if next.version != expected.version {
            // An earlier entry whose commit timed out landed in between: the log wins.
            tracing::warn!(version = next.version, "metadata log applied another state");
        }
        Ok(Committed {
            previous,
            next,
            outcome,
        })
    }

    /// Handles one request from a broker (or this node's own client).
    pub async fn handle(&self, request: ControllerRequest) -> ControllerResponse {
        // Any node tells its cluster id and brokers; the rest is the active controller's.
        let any_node = matches!(
            request,
            ControllerRequest::ClusterId | ControllerRequest::Brokers
        );
        if !any_node && let Err(leader) = self.is_active() {
            return ControllerResponse::NotController { leader };
        }
        let now = self.now();
        let result = match request {
            ControllerRequest::Register(registration) => self
                .commit(Entries::AsMany, |state, sessions| {
                    // A data dir of a single-node broker: its partitions get records naming
                    // the first broker that registers (that broker, upgrading in place).
                    let adopted =
                        placement::adopt_single_node_partitions(state, registration.node_id)?;
                    let adopted_state = state.apply_all(&adopted)?;
                    if registration.node_id == self.node_id {
                        // This process leads the quorum under this id, so the registered
                        // incarnation of it is a dead one (a restart): no need to wait for
                        // its session to expire.
                        sessions.end_session(registration.node_id);
                    }
                    let decided = sessions.register(&adopted_state, registration, now)?;
                    let mut records = adopted;
                    records.extend(decided.records);
                    Ok((records, decided.outcome))
                })
                .await
                .map(|c| ControllerResponse::Registered {
                    broker_epoch: c.outcome,
                }),
            ControllerRequest::Heartbeat(heartbeat) => self
                .commit(Entries::AsMany, |state, sessions| {
                    let decided = sessions.heartbeat(state, heartbeat, now)?;
                    Ok((decided.records, decided.outcome))
                })
                .await
                .map(|c| ControllerResponse::Heartbeat(c.outcome)),
            ControllerRequest::QuorumStatus => Ok(ControllerResponse::QuorumStatus(
                self.store
                    .quorum()
                    .map_or_else(|| unreachable_status(self.node_id), |q| q.status()),
            )),
            ControllerRequest::Brokers => Ok(ControllerResponse::Brokers {
                brokers: self
                    .store
                    .applied()
                    .map_or_else(Vec::new, |state| state.brokers().cloned().collect()),
            }),
            ControllerRequest::ClusterId => Ok(ControllerResponse::ClusterId {
                cluster_id: self.store.applied().map(|state| state.cluster_id.clone()),
            }),
            ControllerRequest::Change(change) => {
                self.change(change)
                    .await
                    .map(|c| ControllerResponse::Changed {
                        version: c.next.version,
                    })
            }
        };
        result.unwrap_or_else(|error| answer_error(&error))
    }

    /// Decides and commits a client's change.
    ///
    /// # Errors
    /// As `decisions::decide`, and the commit's.
    pub async fn change(&self, change: MetadataChange) -> Result<Committed<()>, MetadataError> {
        if let MetadataChange::UnregisterBroker { node_id } = change {
            // With this controller's sessions: the broker's is ended too.
            return self
                .commit(Entries::AsMany, |state, sessions| {
                    Ok((sessions.unregister(state, node_id)?, ()))
                })
                .await;
        }
        self.commit(Entries::One, |state, sessions| {
            let shutting_down = |node| sessions.shutting_down(node);
            let records = decisions::decide_with(state, &change, self.node_id, &shutting_down)?;
            Ok((records, ()))
        })
        .await
    }

    /// Whether an observer may join the quorum as a learner: refused while another
    /// incarnation of its node id is registered with a live session (two processes with one
    /// id would take turns being the learner at that id, and neither would keep up).
    ///
    /// # Errors
    /// The reason, as the refused broker prints it.
    pub fn admit_learner(&self, node_id: i32, incarnation: Uuid) -> Result<(), String> {
        if self.is_active().is_err() {
            return Ok(()); // Only the leader adds learners; it decides.
        }
        let Some(state) = self.store.applied() else {
            return Ok(());
        };
        let other = state
            .broker(node_id)
            .is_some_and(|broker| broker.incarnation != incarnation);
        if other
            && self
                .sessions
                .borrow()
                .has_valid_session(&state, node_id, self.now())
        {
            return Err(format!(
                "another broker is registered with node id {node_id} and is alive"
            ));
        }
        Ok(())
    }

    /// One tick of the liveness probe (only while this node is the active controller): every
    /// unfenced broker silent for more than a heartbeat interval, or not heard from since this
    /// node's term began, is probed at its controller listener (at most once per heartbeat
    /// interval), all at once and each bounded by `BROKER_PROBE_TIMEOUT_MS`; those whose
    /// connect is refused are fenced now (their process is gone), with elections for what they
    /// led, instead of after the session timeout. A frozen or cut-off broker still accepts or
    /// drops the connect and keeps its full session (`BrokerSessions::fence_unreachable`).
    pub async fn fence_unreachable(&self) {
        if self.is_active().is_err() {
            return;
        }
        let (Some(state), Some(quorum)) = (self.store.applied(), self.store.quorum()) else {
            return;
        };
        let after = self.probe_after;
        let now = self.now();
        let silent = (self.sessions.borrow_mut()).due_probes(&state, now, after, self.node_id);
        let timeout = Duration::from_millis(BROKER_PROBE_TIMEOUT_MS);
        let probes = silent.into_iter().filter_map(|probed| {
            let address = quorum.member_address(probed.0)?;
            Some(async move {
                quorum::connect_refused(&address, timeout)
                    .await
                    .then_some(probed)
            })
        });
        let gone = futures_util::future::join_all(probes).await;
        for probed in gone.into_iter().flatten() {
            let result = self
                .commit(Entries::AsMany, |state, sessions| {
                    let records = sessions.fence_unreachable(state, probed, self.now(), after)?;
                    Ok((records, ()))
                })
                .await;
            match result {
                Ok(committed) if committed.next.version != committed.previous.version => {
                    let node_id = probed.0;
                    tracing::warn!(
                        node_id,
                        "fenced a broker whose controller listener is closed"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "fencing an unreachable broker failed"),
            }
        }
    }

    /// One tick of the session timer: fences every broker whose session expired (only while
    /// this node is the active controller).
    pub async fn expire_sessions(&self) {
        if self.is_active().is_err() {
            return;
        }
        let now = self.now();
        let result = self
            .commit(Entries::AsMany, |state, sessions| {
                Ok((sessions.expire(state, now)?, ()))
            })
            .await;
        match result {
            Ok(committed) if committed.next.version != committed.previous.version => {
                tracing::info!(version = committed.next.version, "fenced expired brokers");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "fencing expired brokers failed"),
        }
    }
}

impl ActiveController {
    /// One tick of the balancer: when a check is due (and this node is the active controller),
    /// moves leadership back to live, in-sync preferred replicas of every broker whose
    /// imbalance is above the threshold (`policy::isr::imbalanced_partitions`), at most
    /// `LEADER_BALANCE_ELECTIONS_PER_CHECK_MAX` per check.
    pub async fn balance_leaders(&self) {
        let settings = self.leader_balance;
        let now = self.now();
        if !settings.enabled || now < self.next_balance_check.get() || self.is_active().is_err() {
            return;
        }
        self.next_balance_check.set(now + settings.check_interval);
        let node_id = self.node_id;
        let result = self
            .commit(Entries::One, |state, sessions| {
                let shutting_down = |node| sessions.shutting_down(node);
                let liveness = Liveness {
                    metadata: state,
                    shutting_down: &shutting_down,
                };
                let mut partitions =
                    isr::imbalanced_partitions(&liveness, settings.imbalance_percentage_max);
                partitions.truncate(LEADER_BALANCE_ELECTIONS_PER_CHECK_MAX);
                let change = MetadataChange::ElectLeaders {
                    election_type: ElectionType::Preferred,
                    partitions: Some(partitions),
                };
                let records = decisions::decide_with(state, &change, node_id, &shutting_down)?;
                let count = records.len();
                Ok((records, count))
            })
            .await;
        match result {
            Ok(committed) if committed.outcome > 0 => {
                let elections = committed.outcome;
                tracing::info!(elections, "moved leadership back to preferred replicas");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "leader rebalancing failed"),
        }
    }
}

impl ActiveController {
    /// One tick of the reassignment timer (while this node is the active controller):
    /// completes every in-flight reassignment whose target replicas are in sync. Completions
    /// normally ride on the ISR change that allows them (`decisions`); this catches the rest
    /// — a reassignment a previous controller left in flight, or one whose new leader was not
    /// live at that moment.
    pub async fn complete_reassignments(&self) {
        if self.is_active().is_err() {
            return;
        }
        let Some(state) = self.store.applied() else {
            return;
        };
        // Versions only grow (one per applied record), so a version names one state.
        let in_flight = match self.reassigning_at.get() {
            Some((version, in_flight)) if version == state.version => in_flight,
            _ => {
                let in_flight = state
                    .all_partitions()
                    .any(|(_, _, partition)| super::policy::reassign::in_progress(partition));
                self.reassigning_at.set(Some((state.version, in_flight)));
                in_flight
            }
        };
        if !in_flight {
            return;
        }
        match self.change(MetadataChange::CompleteReassignments).await {
            Ok(committed) if committed.next.version != committed.previous.version => {
                tracing::info!(version = committed.next.version, "completed reassignments");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "completing reassignments failed"),
        }
    }
}

/// The status of a node without a quorum (never in a running broker: `new` asserts one).
fn unreachable_status(node_id: i32) -> super::quorum::QuorumStatus {
    super::quorum::QuorumStatus {
        node_id,
        leader: None,
        term: 0,
        committed_offset: None,
        applied_offset: None,
        voters: Vec::new(),
        observers: Vec::new(),
    }
}

/// A refusal or failure as the requester sees it: a retriable quorum failure is
/// `Unavailable` (or `NotController`), anything else `Refused` with Kafka's code.
fn answer_error(error: &MetadataError) -> ControllerResponse {
    let code = error.error_code();
    match code {
        ErrorCode::NotController => ControllerResponse::NotController { leader: None },
        ErrorCode::RequestTimedOut => ControllerResponse::Unavailable {
            message: error.to_string(),
        },
        code => ControllerResponse::refused(code, error.to_string()),
    }
}

/// The App handler: decodes a request and hands it to the controller service.
pub struct ControllerEndpoint(pub Rc<ActiveController>);

impl AppHandler for ControllerEndpoint {
    fn handle(&self, request: Vec<u8>) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<u8>>>>> {
        let controller = Rc::clone(&self.0);
        Box::pin(async move {
            let request: ControllerRequest = postcard::from_bytes(&request)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            Ok(controller.handle(request).await.to_bytes())
        })
    }

    fn admit_learner(&self, node_id: i32, incarnation: [u8; 16]) -> Result<(), String> {
        self.0.admit_learner(node_id, Uuid(incarnation))
    }
}
