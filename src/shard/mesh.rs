//! The cross-shard mesh: one bounded inbox per shard (capacity `MESH_QUEUE_CAPACITY`), which
//! every shard and `main` may send to, and a message pump per shard that drains it.
//!
//! A message is a `Send` closure; the pump runs it on the target shard with that shard's
//! `Rc<Shard<S>>`, so the closure may touch `!Send` state, and a oneshot carries its result back
//! (Seastar's `invoke_on`). Callers batch: one message per destination shard per request, not
//! per record (ARCHITECTURE §1).
//!
//! Bounds: a full inbox makes senders wait (backpressure, never growth); the pump runs at most
//! `MESH_JOBS_INFLIGHT_MAX` jobs at once and stops draining beyond that. A job whose target
//! stopped is dropped with its reply sender, so the caller gets `ShardStopped`, not a hang.
//!
//! Runs on every shard (senders) and on the target shard (pump, jobs); `main` only posts
//! control messages.
use super::{LocalFuture, Shard};
use crate::limits;
use std::future::Future;
use std::rc::Rc;

/// A message on the mesh: runs once on the target shard.
pub type Job<S> = Box<dyn FnOnce(Rc<Shard<S>>) -> LocalFuture<()> + Send>;

/// Why a cross-shard call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    #[error("no shard {target} (there are {count})")]
    NoSuchShard { target: usize, count: usize },
    #[error("shard {target} stopped before answering")]
    ShardStopped { target: usize },
}

/// Senders to every shard's inbox. Cheap to clone; `Send`, so `main` holds one too.
pub struct Mesh<S> {
    inboxes: Vec<flume::Sender<Job<S>>>,
}

impl<S> Clone for Mesh<S> {
    fn clone(&self) -> Self {
        Self {
            inboxes: self.inboxes.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Mesh<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mesh")
            .field("shards", &self.inboxes.len())
            .finish()
    }
}

/// The receiving end of one shard's inbox, handed to that shard's pump.
pub struct Inbox<S>(flume::Receiver<Job<S>>);

impl<S> Mesh<S> {
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.inboxes.len()
    }
}

impl<S: 'static> Mesh<S> {
    /// Creates the inboxes of `shard_count` shards.
    ///
    /// # Panics
    /// When `shard_count` is 0 or above `SHARDS_MAX` (config validation prevents both).
    #[must_use]
    pub fn new(shard_count: usize) -> (Self, Vec<Inbox<S>>) {
        assert!(shard_count > 0);
        assert!(shard_count <= limits::SHARDS_MAX);
        let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..shard_count)
            .map(|_| {
                let (sender, receiver) = flume::bounded(limits::MESH_QUEUE_CAPACITY);
                (sender, Inbox(receiver))
            })
            .unzip();
        (Self { inboxes }, receivers)
    }

    fn inbox(&self, target: usize) -> Result<&flume::Sender<Job<S>>, MeshError> {
        self.inboxes.get(target).ok_or(MeshError::NoSuchShard {
            target,
            count: self.inboxes.len(),
        })
    }

    /// Runs `job` on shard `target` and returns its result; waits while the inbox is full.
    /// Only through [`Shard::invoke_on`], which bounds outstanding calls (see limits.rs on
    /// `MESH_CALLS_INFLIGHT_MAX`) and short-cuts calls to the calling shard.
    ///
    /// # Errors
    /// `NoSuchShard`, or `ShardStopped` when the target stopped before answering.
    pub(super) async fn invoke_on<F, Fut, R>(&self, target: usize, job: F) -> Result<R, MeshError>
    where
        F: FnOnce(Rc<Shard<S>>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let inbox = self.inbox(target)?;
        let (reply, answer) = flume::bounded(1);
        let envelope: Job<S> = Box::new(move |shard| {
            Box::pin(async move {
                let result = job(shard).await;
                // The caller may have given up (its connection closed); nothing to do then.
                let _ = reply.send(result);
            })
        });
        inbox
            .send_async(envelope)
            .await
            .map_err(|_| MeshError::ShardStopped { target })?;
        answer
            .recv_async()
            .await
            .map_err(|_| MeshError::ShardStopped { target })
    }

    /// Posts `job` to shard `target` from a thread outside any runtime (`main`), blocking while
    /// the inbox is full. Used for control messages (drain, stop); no result comes back.
    ///
    /// # Errors
    /// `NoSuchShard`, or `ShardStopped` when the shard's pump is gone.
    pub fn post_blocking<F>(&self, target: usize, job: F) -> Result<(), MeshError>
    where
        F: FnOnce(Rc<Shard<S>>) + Send + 'static,
    {
        let envelope: Job<S> = Box::new(move |shard| {
            job(shard);
            Box::pin(async {})
        });
        self.inbox(target)?
            .send(envelope)
            .map_err(|_| MeshError::ShardStopped { target })
    }
}

/// The message pump of one shard: drains its inbox forever (until the shard's runtime is
/// dropped at exit), running each job as its own task so a slow job does not stall the others,
/// with at most `MESH_JOBS_INFLIGHT_MAX` running.
pub async fn pump<S: 'static>(shard: Rc<Shard<S>>, inbox: Inbox<S>) {
    // A permit is a slot in this bounded channel: sending takes one (waiting when all are
    // taken), receiving one back frees it.
    let (permits, releases) = flume::bounded::<()>(limits::MESH_JOBS_INFLIGHT_MAX);
    // Runs forever by design: every shard and main hold senders, so `recv` fails only once the
    // whole process is tearing down.
    while let Ok(job) = inbox.0.recv_async().await {
        if permits.send_async(()).await.is_err() {
            break; // unreachable while `releases` lives in this frame
        }
        let releases = releases.clone();
        let task = job(Rc::clone(&shard));
        compio::runtime::spawn(async move {
            task.await;
            let _ = releases.try_recv();
        })
        .detach();
    }
    tracing::debug!(shard = shard.index(), "mesh pump stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigFile};
    use crate::shard::{Events, Placement};
    use std::sync::Arc;

    /// The mesh needs no services: tests run shards with none.
    type TestShard = Shard<()>;

    fn config(count: usize) -> Arc<Config> {
        let file: ConfigFile = toml::from_str(&format!(
            "listen = \"127.0.0.1:1\"\n[shards]\ncount = {count}\n"
        ))
        .unwrap();
        Arc::new(Config::validate(file, &[0]).unwrap())
    }

    /// Runs `body` on shard 0 while shards 1.. run only their pumps, each on its own thread
    /// and runtime, as in production (without pinning or a listener).
    fn with_shards<T: Send + 'static>(
        count: usize,
        body: impl FnOnce(Rc<TestShard>) -> LocalFuture<T> + Send + 'static,
    ) -> T {
        let config = config(count);
        let (mesh, inboxes) = Mesh::new(count);
        let mut result = None;
        let mut threads = Vec::new();
        let mut body = Some(body);
        for (index, inbox) in inboxes.into_iter().enumerate() {
            let config = Arc::clone(&config);
            let mesh = mesh.clone();
            let body = if index == 0 { body.take() } else { None };
            threads.push(std::thread::spawn(move || {
                let runtime = compio::runtime::RuntimeBuilder::new()
                    .sync_queue_size(limits::RUNTIME_SYNC_QUEUE_SIZE)
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let placement = Placement {
                        index,
                        count,
                        cpu: 0,
                    };
                    let events = Events::default();
                    let shard = Rc::new(Shard::new(placement, config, mesh, (), events));
                    let _pump = compio::runtime::spawn(pump(Rc::clone(&shard), inbox));
                    if let Some(body) = body {
                        Some(body(Rc::clone(&shard)).await)
                    } else {
                        shard.events.stopping.wait().await;
                        None
                    }
                })
            }));
        }
        for thread in threads.drain(..1) {
            result = thread.join().unwrap();
        }
        for target in 1..count {
            mesh.post_blocking(target, |shard| shard.events.stopping.fire())
                .unwrap();
        }
        for thread in threads {
            assert!(thread.join().unwrap().is_none());
        }
        result.unwrap()
    }

    #[test]
    fn invoke_on_runs_on_the_target_shard() {
        let answers = with_shards(3, |shard| {
            Box::pin(async move {
                let mut answers = Vec::new();
                for target in 0..3 {
                    let thread = std::thread::current().id();
                    let answer = shard
                        .invoke_on(target, move |there| async move {
                            (there.index(), std::thread::current().id() == thread)
                        })
                        .await
                        .unwrap();
                    answers.push(answer);
                }
                answers
            })
        });
        assert_eq!(answers, vec![(0, true), (1, false), (2, false)]);
    }

    #[test]
    fn more_calls_than_queue_capacity_all_complete() {
        let total = with_shards(2, |shard| {
            Box::pin(async move {
                let calls = limits::MESH_QUEUE_CAPACITY * 3;
                let mut handles = Vec::with_capacity(calls);
                for value in 0..calls {
                    let shard = Rc::clone(&shard);
                    handles.push(compio::runtime::spawn(async move {
                        shard
                            .invoke_on(1, move |_| async move { value })
                            .await
                            .unwrap()
                    }));
                }
                let mut total = 0usize;
                for handle in handles {
                    total += handle.await.unwrap();
                }
                (total, calls)
            })
        });
        assert_eq!(total.0, total.1 * (total.1 - 1) / 2);
    }

    /// Sums `calls` cross-shard calls from `shard` to `target`, all issued at once.
    async fn fan_out(shard: Rc<TestShard>, target: usize, calls: usize) -> usize {
        let handles: Vec<_> = (0..calls)
            .map(|value| {
                let shard = Rc::clone(&shard);
                compio::runtime::spawn(async move {
                    shard.invoke_on(target, move |_| async move { value }).await
                })
            })
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap().unwrap();
        }
        total
    }

    #[test]
    fn calls_in_both_directions_beyond_the_cap_do_not_deadlock() {
        // Regression: with compio's default 64-slot cross-thread wake queue, two shards waking
        // each other's tasks spun forever. Both directions, more calls than the cap.
        let calls = limits::MESH_CALLS_INFLIGHT_MAX + 1000;
        let (forward, backward) = with_shards(2, move |shard| {
            Box::pin(async move {
                // Spawned so that both directions run at the same time.
                let forward = compio::runtime::spawn(fan_out(Rc::clone(&shard), 1, calls));
                let backward = shard
                    .invoke_on(1, move |there| fan_out(there, 0, calls))
                    .await
                    .unwrap();
                (forward.await.unwrap(), backward)
            })
        });
        assert_eq!(forward, calls * (calls - 1) / 2);
        assert_eq!(backward, calls * (calls - 1) / 2);
    }

    #[test]
    fn invoke_on_all_reaches_every_shard_in_order() {
        let indexes = with_shards(4, |shard| {
            Box::pin(async move {
                shard
                    .invoke_on_all(|there| async move { there.index() * 10 })
                    .await
                    .unwrap()
            })
        });
        assert_eq!(indexes, vec![0, 10, 20, 30]);
    }

    #[test]
    fn unknown_shard_and_stopped_shard_are_errors() {
        let (mesh, mut inboxes) = Mesh::<()>::new(2);
        let runtime = compio::runtime::RuntimeBuilder::new().build().unwrap();
        runtime.block_on(async {
            assert_eq!(
                mesh.invoke_on(5, |_| async {}).await,
                Err(MeshError::NoSuchShard {
                    target: 5,
                    count: 2
                })
            );
            drop(inboxes.pop());
            assert_eq!(
                mesh.invoke_on(1, |_| async {}).await,
                Err(MeshError::ShardStopped { target: 1 })
            );
        });
    }
}
