//! The shard runtime: one pinned compio runtime per cpu, the per-shard context every task on
//! that shard shares (`Rc<Shard<S>>`), the bounded cross-shard mesh, partition → shard
//! placement, and small future helpers. It knows no subsystem above it.
//!
//! Files:
//! ```text
//! mod.rs        Shard<S> (context), Event and Signal (lifecycle), ShardError
//! runner.rs     threads: pin → runtime → Compose::start → servers; drain/stop driven from main
//! mesh.rs       bounded inboxes, invoke_on, the per-shard message pump
//! placement.rs  shard_for(topic_id, partition, shard_count)
//! future.rs     LocalFuture, race/Either
//! ```
//!
//! Composition (Seastar's `sharded<T>`, composed one level up): the per-shard services — the
//! metadata view, the partition logs, the group coordinator, the producer id allocator, later
//! the replica manager and the quorum node — are owned by their subsystems and assembled by a
//! composition layer above them (`broker/`) into one services struct `S`. `Shard<S>` is generic
//! over it, so `shard/` names none of them, and a mesh job gets the target's `Rc<Shard<S>>` with
//! its concrete services. Chosen over a type-erased registry (`TypeId` → `Box<dyn Any>`): a
//! missing service or a wrong type is a compile error instead of a panic at the first request,
//! field access costs nothing, and the one generic parameter is fixed once, by the composition
//! (`broker::Shard = shard::Shard<broker::Services>`), so code above names a concrete type. A
//! layer below the composition that needs a service on another shard (the controller publishing
//! metadata) states what it needs as a trait (`cluster::MetadataHost`) that the services
//! struct implements. Each service holds the handles it needs (a `LogPump`, its config, the
//! draining [`Signal`]) instead of the shard context.
//!
//! Runs on every shard thread (each owns one `Shard`); `runner.rs` also runs on `main`.
//!
//! Invariants: a `Shard` and its services are `!Send` and touched only on their own thread;
//! other shards reach them only through [`Shard::invoke_on`]. No `RefCell` borrow is held across
//! an `.await`.
//!
//! Lifecycle of one shard (runs on that shard's thread):
//! ```text
//! pin cpu → build runtime → Compose::start (services) → Compose::started → pump → Prepared
//!   → main fires `listening` once all shards are prepared → Server::start (bind) → Ready
//!   → serve … main fires `draining` → server futures end (bounded grace) → Drained
//!   → main fires `stopping` → Compose::stop (flush) → Stopped → thread exits
//! ```
pub mod future;
pub mod mesh;
pub mod placement;
pub mod runner;
pub mod steering;

pub use future::{Either, LocalFuture, race};
pub use mesh::{Mesh, MeshError};
pub use placement::shard_for;
pub use runner::{Compose, Server, Shards, StartContext};

use crate::config::Config;
use crate::limits;
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
    #[error("shard {shard} exited unexpectedly")]
    Exited { shard: usize },
    /// A service composed above the runtime could not start on this shard. Boxed because the
    /// runtime cannot name the subsystems' error types (they live above it); each keeps its
    /// own typed error as the source.
    #[error("shard {shard}: {service} did not start: {source}")]
    Service {
        shard: usize,
        service: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// The three lifecycle events `main` fires on every shard, in order.
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// Every shard is prepared: start the servers (listen).
    listening: Event,
    /// SIGTERM/SIGINT: stop accepting, finish in-flight requests.
    draining: Event,
    /// Every shard drained: run the shutdown hook and exit.
    stopping: Event,
}

/// One shard's context, shared by every task on that shard as `Rc<Shard<S>>`; `S` is the
/// services struct of the composition above (see the module docs).
pub struct Shard<S> {
    placement: Placement,
    config: Arc<Config>,
    mesh: Mesh<S>,
    /// The services composed on this shard (their types live above the runtime).
    pub state: S,
    events: Events,
    /// One message per outstanding cross-shard call from this shard: a local semaphore that
    /// keeps remote wake-ups of this shard's tasks under `MESH_CALLS_INFLIGHT_MAX`.
    calls: flume::Sender<()>,
    calls_done: flume::Receiver<()>,
}

impl<S> std::fmt::Debug for Shard<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Shard")
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl<S> Shard<S> {
    fn new(
        placement: Placement,
        config: Arc<Config>,
        mesh: Mesh<S>,
        state: S,
        events: Events,
    ) -> Self {
        assert_eq!(mesh.shard_count(), placement.count);
        assert!(placement.index < placement.count);
        let (calls, calls_done) = flume::bounded(limits::MESH_CALLS_INFLIGHT_MAX);
        Self {
            calls,
            calls_done,
            placement,
            config,
            mesh,
            state,
            events,
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
    pub fn mesh(&self) -> &Mesh<S> {
        &self.mesh
    }

    /// Whether shutdown began (stop accepting, stop reading new requests).
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.events.draining.is_fired()
    }

    /// Completes once shutdown began; cheap to call per connection.
    pub fn draining(&self) -> impl Future<Output = ()> + 'static {
        self.events.draining.wait()
    }
}

impl<S: 'static> Shard<S> {
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
        F: FnOnce(Rc<Shard<S>>) -> Fut + Send + 'static,
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

    /// Runs `job` on every shard, this one included, all at once, and returns the results in
    /// shard order (Seastar's `invoke_on_all`): how one writer publishes a metadata change to
    /// every shard's copy.
    ///
    /// # Errors
    /// The first shard that stopped before answering.
    pub async fn invoke_on_all<F, Fut, R>(self: &Rc<Self>, job: F) -> Result<Vec<R>, MeshError>
    where
        F: Fn(Rc<Shard<S>>) -> Fut + Clone + Send + 'static,
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
        self.signal().wait()
    }

    /// A handle that observes this event without being able to fire it: what a service keeps
    /// (the group coordinator's timer stops on the shard's draining signal).
    #[must_use]
    pub fn signal(&self) -> Signal {
        Signal {
            waiter: self.waiter.clone(),
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

/// The observing side of an [`Event`]; cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct Signal {
    waiter: flume::Receiver<()>,
}

impl Signal {
    /// Whether the event fired.
    #[must_use]
    pub fn is_fired(&self) -> bool {
        self.waiter.is_disconnected()
    }

    /// Completes once the event fired (immediately if it already did).
    pub fn wait(&self) -> impl Future<Output = ()> + use<> {
        let waiter = self.waiter.clone();
        async move {
            // Nothing is ever sent: the only outcome is `Disconnected`, which is the signal.
            let _ = waiter.recv_async().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sees_its_event_fire() {
        let event = Event::new();
        let signal = event.signal();
        assert!(!signal.is_fired());
        event.fire();
        assert!(signal.is_fired());
        assert!(event.is_fired());
        let runtime = compio::runtime::RuntimeBuilder::new().build().unwrap();
        runtime.block_on(signal.wait());
    }
}
