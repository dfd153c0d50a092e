//! Shards: one pinned compio runtime per cpu, the per-shard context every task on that shard
//! shares (`Rc<Shard>`), the bounded cross-shard mesh, and partition → shard placement.
//!
//! Files:
//! ```text
//! mod.rs        Shard (context), ShardState (extension point + start-up/shutdown hooks), Event
//! mesh.rs       bounded inboxes, invoke_on, the per-shard message pump
//! placement.rs  shard_for(topic_id, partition, shard_count)
//! runner.rs     threads: pin → runtime → hooks → service; drain/stop driven from main
//! ```
//!
//! Runs on every shard thread (each owns one `Shard`); `runner.rs` also runs on `main`.
//!
//! Invariants: a `Shard` and everything in its `ShardState` is `!Send` and touched only on its
//! own thread; other shards reach it only through [`Shard::invoke_on`]. No `RefCell` borrow is
//! held across an `.await`.
//!
//! Lifecycle of one shard (runs on that shard's thread):
//! ```text
//! pin cpu → build runtime → ShardState::start (hook) → pump → Prepared
//!   → main fires `listening` once all shards are prepared → Service::start (bind) → Ready
//!   → serve … main fires `draining` → service future ends (bounded grace) → Drained
//!   → main fires `stopping` → ShardState::shutdown (hook) → Stopped → thread exits
//! ```
pub mod future;
pub mod mesh;
pub mod placement;
pub mod runner;

pub use future::{Either, LocalFuture, race};
pub use mesh::{Mesh, MeshError};
pub use placement::shard_for;
pub use runner::{Service, Shards};

use crate::cluster::producer_ids::ProducerIdAllocator;
use crate::cluster::{ClusterMetadata, MetadataStore, controller};
use crate::config::Config;
use crate::limits;
use crate::storage::LogPump;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// Why a shard could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard {shard}: cannot pin to cpu {cpu}: {reason}")]
    Pin {
        shard: usize,
        cpu: usize,
        reason: String,
    },
    #[error("shard {shard}: cannot build the io_uring runtime: {source}")]
    Runtime {
        shard: usize,
        source: std::io::Error,
    },
    #[error("shard {shard}: cannot listen on {address}: {source}")]
    Bind {
        shard: usize,
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot spawn the thread of shard {shard}: {source}")]
    Thread {
        shard: usize,
        source: std::io::Error,
    },
    #[error("shard {shard} did not report {phase} within {waited_ms} ms")]
    Timeout {
        shard: usize,
        phase: &'static str,
        waited_ms: u64,
    },
    #[error("cluster metadata: {reason}")]
    Metadata { reason: String },
    #[error("shard {shard} exited unexpectedly")]
    Exited { shard: usize },
    /// The producer id allocator's file in the data dir is unreadable (shard 0).
    #[error("producer ids: {source}")]
    ProducerIds {
        source: crate::cluster::producer_ids::ProducerIdError,
    },
}

/// Where a shard runs; fixed for its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// This shard's index, `0..count`.
    pub index: usize,
    /// Number of shards in the process.
    pub count: usize,
    /// The cpu its thread is pinned to.
    pub cpu: usize,
}

/// Per-shard state that other subsystems extend: storage (the partitions this shard owns),
/// the shard's read-only copy of cluster metadata, consumer groups. `!Send`, lives in the
/// shard's `Rc<Shard>`; use `RefCell`/`Cell` fields and never hold a borrow across `.await`.
///
/// Extension points: add a field here, initialise it in [`ShardState::start`], flush or close
/// it in [`ShardState::shutdown`].
pub struct ShardState {
    placement: Placement,
    /// This shard's copy of the cluster metadata; replaced (never mutated) by
    /// `cluster::controller::install`.
    pub metadata: RefCell<Arc<ClusterMetadata>>,
    /// The node metadata file; only the controller shard (0) has it.
    pub metadata_store: Option<MetadataStore>,
    /// The task that owns this shard's partition logs.
    pub logs: LogPump,
    // ---- consumer groups (src/group/) ----
    /// The group coordinator for the `__consumer_offsets` partitions this shard owns.
    pub groups: crate::group::Coordinator,
    /// Producer id allocator (InitProducerId); only shard 0 has one.
    pub producer_ids: RefCell<Option<ProducerIdAllocator>>,
}

impl std::fmt::Debug for ShardState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ShardState")
            .field("placement", &self.placement)
            .field("metadata_version", &self.metadata.borrow().version)
            .finish_non_exhaustive()
    }
}

impl ShardState {
    /// Start-up hook: runs on the shard, after pinning and before its listener binds, so a
    /// client never sees a half-initialised shard. Storage recovery and metadata loading go here.
    ///
    /// # Errors
    /// None yet; subsystems that can fail to start add their `ShardError` variants.
    ///
    /// # Panics
    /// When `placement` does not match `config` (a programmer error in the runner).
    pub async fn start(
        placement: Placement,
        config: &Config,
        metadata: Arc<ClusterMetadata>,
    ) -> Result<Self, ShardError> {
        assert!(placement.index < placement.count);
        assert_eq!(placement.count, config.shard_count());
        let logs = LogPump::spawn(placement.index);
        // Recovery of every partition this shard owns happens here, before it listens.
        let log_placement = crate::cluster::partition_logs::LogPlacement {
            shard_index: placement.index,
            shard_count: placement.count,
            data_dir: config.data_dir.clone(),
            producer_id_expiration: config.producer_id_expiration,
        };
        logs.reconcile(crate::cluster::partition_logs::wanted_logs(
            &metadata,
            &log_placement,
        ))
        .await;
        let metadata_store = (placement.index == controller::CONTROLLER_SHARD)
            .then(|| MetadataStore::new(&config.data_dir));
        // Groups are replayed from the offsets log before the shard listens.
        let groups = crate::group::Coordinator::default();
        crate::group::load_owned(&groups, &logs, &metadata, placement).await;
        // Idempotent producers: the node's one producer id allocator lives on shard 0.
        let producer_ids = if placement.index == 0 {
            let allocator = ProducerIdAllocator::open(&config.data_dir).await;
            Some(allocator.map_err(|source| ShardError::ProducerIds { source })?)
        } else {
            None
        };
        Ok(Self {
            placement,
            metadata: RefCell::new(metadata),
            metadata_store,
            logs,
            groups,
            producer_ids: RefCell::new(producer_ids),
        })
    }

    /// Shutdown hook: runs on the shard after its connections drained (or the grace period
    /// ran out) and after every shard stopped accepting, so no new work arrives. Flush storage
    /// here.
    pub async fn shutdown(&self) {
        self.logs.shutdown().await;
        tracing::debug!(
            shard = self.placement.index,
            "shutdown hook ran: logs closed"
        );
    }
}

/// One shard's context, shared by every task on that shard as `Rc<Shard>`.
pub struct Shard {
    placement: Placement,
    config: Arc<Config>,
    mesh: Mesh,
    /// Subsystem state (extension point).
    pub state: ShardState,
    /// Fired by `main` once every shard is prepared: start the service (listen).
    listening: Event,
    /// Fired by `main` on SIGTERM/SIGINT: stop accepting, finish in-flight requests.
    draining: Event,
    /// Fired by `main` once every shard drained: run the shutdown hook and exit.
    stopping: Event,
    /// One message per outstanding cross-shard call from this shard: a local semaphore that
    /// keeps remote wake-ups of this shard's tasks under `MESH_CALLS_INFLIGHT_MAX`.
    calls: flume::Sender<()>,
    calls_done: flume::Receiver<()>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Shard")
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl Shard {
    fn new(placement: Placement, config: Arc<Config>, mesh: Mesh, state: ShardState) -> Self {
        assert_eq!(mesh.shard_count(), placement.count);
        let (calls, calls_done) = flume::bounded(limits::MESH_CALLS_INFLIGHT_MAX);
        Self {
            calls,
            calls_done,
            placement,
            config,
            mesh,
            state,
            listening: Event::new(),
            draining: Event::new(),
            stopping: Event::new(),
        }
    }

    #[must_use]
    pub fn index(&self) -> usize {
        self.placement.index
    }

    #[must_use]
    pub fn count(&self) -> usize {
        self.placement.count
    }

    #[must_use]
    pub fn placement(&self) -> Placement {
        self.placement
    }

    #[must_use]
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    #[must_use]
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Whether shutdown began (stop accepting, stop reading new requests).
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.is_fired()
    }

    /// Completes once shutdown began; cheap to call per connection.
    pub fn draining(&self) -> impl Future<Output = ()> + 'static {
        self.draining.wait()
    }

    /// Runs `job` on shard `target` with that shard's context and returns its result (Seastar's
    /// `invoke_on`). On the calling shard itself it runs inline, without a queue.
    ///
    /// # Errors
    /// `NoSuchShard`, or `ShardStopped` when the target stopped before answering.
    ///
    /// # Panics
    /// When the per-shard call semaphore is out of balance (a broken invariant).
    pub async fn invoke_on<F, Fut, R>(
        self: &Rc<Self>,
        target: usize,
        job: F,
    ) -> Result<R, MeshError>
    where
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        if target == self.index() {
            return Ok(job(Rc::clone(self)).await);
        }
        // Waits here, on this shard, when too many calls are outstanding (see limits.rs).
        let admitted = self.calls.send_async(()).await;
        assert!(
            admitted.is_ok(),
            "this shard holds both ends of its call semaphore"
        );
        let result = self.mesh.invoke_on(target, job).await;
        let released = self.calls_done.try_recv();
        assert!(released.is_ok(), "call semaphore out of balance");
        result
    }
}

impl Shard {
    /// Runs `job` on every shard, this one included, all at once, and returns the results in
    /// shard order (Seastar's `invoke_on_all`): how one writer publishes a metadata change to
    /// every shard's copy.
    ///
    /// # Errors
    /// The first shard that stopped before answering.
    pub async fn invoke_on_all<F, Fut, R>(self: &Rc<Self>, job: F) -> Result<Vec<R>, MeshError>
    where
        F: Fn(Rc<Shard>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let calls: Vec<_> = (0..self.count())
            .map(|target| {
                let shard = Rc::clone(self);
                let job = job.clone();
                compio::runtime::spawn(async move { shard.invoke_on(target, job).await })
            })
            .collect();
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            // A join error means the spawned call panicked: a bug, so propagate the panic.
            let result = call
                .await
                .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
            results.push(result?);
        }
        assert_eq!(results.len(), self.count());
        Ok(results)
    }
}

/// A one-shot, `!Send`-friendly broadcast: every waiter completes once `fire` runs. Built on
/// channel disconnection (the only sender is dropped), so it needs no lock and no waker list.
#[derive(Debug)]
pub struct Event {
    trigger: RefCell<Option<flume::Sender<()>>>,
    waiter: flume::Receiver<()>,
}

impl Event {
    #[must_use]
    pub fn new() -> Self {
        let (trigger, waiter) = flume::bounded(1);
        Self {
            trigger: RefCell::new(Some(trigger)),
            waiter,
        }
    }

    /// Wakes every waiter, now and later. Idempotent.
    ///
    /// # Panics
    /// Only if the event is borrowed re-entrantly (it never is: no borrow outlives a call).
    pub fn fire(&self) {
        // The borrow ends with this statement; dropping the sender disconnects the waiters.
        let trigger = self.trigger.borrow_mut().take();
        drop(trigger);
        assert!(self.is_fired());
    }

    #[must_use]
    pub fn is_fired(&self) -> bool {
        self.trigger.borrow().is_none()
    }

    /// Completes once [`Event::fire`] ran (immediately if it already did).
    pub fn wait(&self) -> impl Future<Output = ()> + 'static {
        let waiter = self.waiter.clone();
        async move {
            // Nothing is ever sent: the only outcome is `Disconnected`, which is the signal.
            let _ = waiter.recv_async().await;
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}
