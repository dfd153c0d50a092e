//! The cross-shard mesh: one bounded inbox per shard (capacity `MESH_QUEUE_CAPACITY`), which
//! every shard and `main` may send to, and a message pump per shard that drains it.
//!
//! A message is a `Send` closure; the pump runs it on the target shard with that shard's
//! `Rc<Shard>`, so the closure may touch `!Send` state, and a oneshot carries its result back
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
pub type Job = Box<dyn FnOnce(Rc<Shard>) -> LocalFuture<()> + Send>;

/// Why a cross-shard call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    #[error("no shard {target} (there are {count})")]
    NoSuchShard { target: usize, count: usize },
    #[error("shard {target} stopped before answering")]
    ShardStopped { target: usize },
}

/// Senders to every shard's inbox. Cheap to clone; `Send`, so `main` holds one too.
#[derive(Clone)]
pub struct Mesh {
    inboxes: Vec<flume::Sender<Job>>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mesh")
            .field("shards", &self.inboxes.len())
            .finish()
    }
}

/// The receiving end of one shard's inbox, handed to that shard's pump.
pub struct Inbox(flume::Receiver<Job>);

impl Mesh {
    /// Creates the inboxes of `shard_count` shards.
    ///
    /// # Panics
    /// When `shard_count` is 0 or above `SHARDS_MAX` (config validation prevents both).
    #[must_use]
    pub fn new(shard_count: usize) -> (Self, Vec<Inbox>) {
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

    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.inboxes.len()
    }

    fn inbox(&self, target: usize) -> Result<&flume::Sender<Job>, MeshError> {
        self.inboxes.get(target).ok_or(MeshError::NoSuchShard {
            target,
            count: self.inboxes.len(),
        })
    }

    /// Runs `job` on shard `target` and returns its result; waits while the inbox is full.
    /// Prefer [`Shard::invoke_on`], which short-cuts calls to the calling shard.
    ///
    /// # Errors
    /// `NoSuchShard`, or `ShardStopped` when the target stopped before answering.
    pub async fn invoke_on<F, Fut, R>(&self, target: usize, job: F) -> Result<R, MeshError>
    where
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let inbox = self.inbox(target)?;
        let (reply, answer) = flume::bounded(1);
        let envelope: Job = Box::new(move |shard| {
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
        F: FnOnce(Rc<Shard>) + Send + 'static,
    {
        let envelope: Job = Box::new(move |shard| {
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
pub async fn pump(shard: Rc<Shard>, inbox: Inbox) {
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
