//! Starting and stopping the shard threads. `main` calls [`Shards::start`], waits for a signal
//! with [`Shards::wait_for_signal`], then [`Shards::shutdown`].
//!
//! Each shard thread: pin to its cpu with `affinity` *before* the compio runtime exists (so the
//! ring and every buffer the runtime allocates land on the local NUMA node), build the runtime,
//! run the start-up hook, report `Prepared`; once every shard is prepared, start the
//! [`Service`] (net binds its listener there) and report `Ready`.
//! Shutdown is two-phase so the shutdown hooks (storage flush) run only once no shard can send
//! new work: `drain` on every shard and wait for all `Drained`, then `stop` on every shard and
//! wait for all `Stopped`. Every wait is bounded.
//!
//! Signals: SIGTERM and SIGINT are blocked in every thread (the mask is set before the first
//! shard thread is spawned, and threads inherit it) and `main` takes them with `sigtimedwait`.
//! A signal can therefore neither interrupt a shard's syscalls nor arrive before a handler is
//! installed, which an async signal handler registered later in a runtime would allow.
//!
//! Runs on `main` (this API) and on each shard thread (`run_shard`).
use super::mesh::{self, Inbox, Mesh};
use super::{LocalFuture, Placement, Shard, ShardError, ShardState};
use crate::cluster::{ClusterMetadata, MetadataStore, controller};
use crate::config::{Config, Tuning};
use crate::limits;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What runs on every shard once its state exists: the Kafka listener (net).
pub trait Service: Send + Sync + 'static {
    /// Runs on the shard after its start-up hook. Binds what it serves (errors abort start-up)
    /// and returns the future that serves until [`Shard::draining`] fires and in-flight work
    /// finished or the grace period ran out.
    ///
    /// # Errors
    /// A `ShardError` (typically `Bind`).
    fn start(&self, shard: &Rc<Shard>) -> Result<LocalFuture<()>, ShardError>;
}

/// The steps of a shard's life that `main` waits for on every shard before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// State built (start-up hook ran) and the pump runs; not yet listening.
    Prepared,
    /// Listening.
    Ready,
    /// No longer accepting; connections closed or the grace period ran out.
    Drained,
    /// Shutdown hook ran.
    Stopped,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Self::Prepared => "prepared",
            Self::Ready => "ready",
            Self::Drained => "drained",
            Self::Stopped => "stopped",
        }
    }
}

/// A shard thread's progress report to `main`.
#[derive(Debug)]
enum Report {
    Reached {
        shard: usize,
        phase: Phase,
    },
    /// The error names the shard.
    Failed {
        error: ShardError,
    },
}

/// How a wait for a signal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// SIGTERM or SIGINT (the number).
    Signal(i32),
    /// A shard thread exited on its own (a bug or a fatal error it logged).
    ShardExited(usize),
}

/// The running shards, as `main` sees them.
pub struct Shards {
    threads: Vec<JoinHandle<()>>,
    mesh: Mesh,
    reports: mpsc::Receiver<Report>,
    grace: Duration,
}

impl Shards {
    /// Blocks SIGTERM/SIGINT, starts one pinned thread per shard and waits until every shard
    /// is serving.
    ///
    /// # Errors
    /// The first shard's start-up error (the other shards are stopped), or a timeout.
    pub fn start(config: &Arc<Config>, service: &Arc<dyn Service>) -> Result<Self, ShardError> {
        block_termination_signals();
        let count = config.shard_count();
        let metadata = load_metadata(config)?;
        let (mesh, inboxes) = Mesh::new(count);
        let (report_sender, reports) = mpsc::channel();
        let mut shards = Self {
            threads: Vec::with_capacity(count),
            mesh: mesh.clone(),
            reports,
            grace: config.limits.shutdown_grace,
        };
        for (index, inbox) in inboxes.into_iter().enumerate() {
            let placement = Placement {
                index,
                count,
                cpu: config.shard_cpus.get(index).copied().unwrap_or(0),
            };
            let context = ThreadContext {
                placement,
                config: Arc::clone(config),
                mesh: mesh.clone(),
                inbox,
                service: Arc::clone(service),
                reports: report_sender.clone(),
                metadata: Arc::clone(&metadata),
            };
            let thread = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || run_shard(context))
                .map_err(|source| ShardError::Thread {
                    shard: index,
                    source,
                })?;
            shards.threads.push(thread);
        }
        let timeout = Duration::from_millis(limits::SHARD_STARTUP_TIMEOUT_MS);
        // On failure the caller exits the process, which ends the shards that did start; a
        // graceful stop here could wait on a shard that never reported.
        // Every shard's state exists before any shard listens, so no client request can reach
        // a shard (through the mesh) that is still recovering.
        shards.await_all(Phase::Prepared, timeout)?;
        shards.post_all(Phase::Prepared, |shard| shard.listening.fire());
        shards.await_all(Phase::Ready, timeout)?;
        Ok(shards)
    }

    /// Waits for `phase` from every shard (each report counted once), within `timeout`.
    fn await_all(&self, phase: Phase, timeout: Duration) -> Result<(), ShardError> {
        let deadline = Instant::now() + timeout;
        let mut done = vec![false; self.threads.len()];
        // Bounded: each iteration consumes a report or ends at the deadline.
        while let Some(waiting) = done.iter().position(|done| !done) {
            let left = deadline.saturating_duration_since(Instant::now());
            let report = self
                .reports
                .recv_timeout(left)
                .map_err(|_| ShardError::Timeout {
                    shard: waiting,
                    phase: phase.name(),
                    waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })?;
            let shard = match report {
                Report::Reached {
                    shard,
                    phase: reached,
                } if reached == phase => shard,
                Report::Failed { error } => return Err(error),
                Report::Reached { .. } => {
                    tracing::warn!(?report, ?phase, "out-of-phase shard report ignored");
                    continue;
                }
            };
            if let Some(slot) = done.get_mut(shard) {
                *slot = true;
            }
        }
        Ok(())
    }

    /// Runs `control` on every shard (through its mesh inbox); `false` if a shard is gone.
    fn post_all(&self, phase: Phase, control: fn(&Shard)) -> bool {
        let mut delivered = true;
        for target in 0..self.threads.len() {
            if let Err(error) = self
                .mesh
                .post_blocking(target, move |shard| control(&shard))
            {
                tracing::warn!(%error, phase = phase.name(), "cannot signal shard");
                delivered = false;
            }
        }
        delivered
    }

    /// The mesh, for control messages from `main`.
    #[must_use]
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Blocks until SIGTERM/SIGINT arrives or a shard thread exits. Loops forever by design
    /// (a broker runs until told to stop), waking every `SIGNAL_POLL_MS` to check the threads.
    #[must_use]
    pub fn wait_for_signal(&self) -> Wake {
        loop {
            if let Some(shard) = self.threads.iter().position(JoinHandle::is_finished) {
                return Wake::ShardExited(shard);
            }
            if let Some(signal) = wait_termination_signal(limits::SIGNAL_POLL_MS) {
                return Wake::Signal(signal);
            }
        }
    }

    /// Stops every shard: drain (stop accepting, finish in-flight requests within the grace
    /// period), then stop (shutdown hooks), then joins the threads.
    ///
    /// Returns `false` when a phase timed out or a shard was already gone; the process should
    /// then exit non-zero.
    pub fn shutdown(self) -> bool {
        let margin = Duration::from_secs(5);
        let mut clean = self.post_all(Phase::Drained, |shard| shard.draining.fire());
        if let Err(error) = self.await_all(Phase::Drained, self.grace + margin) {
            tracing::error!(%error, "shutdown incomplete");
            return false; // do not join threads that may never end
        }
        clean &= self.post_all(Phase::Stopped, |shard| shard.stopping.fire());
        if let Err(error) = self.await_all(Phase::Stopped, self.grace + margin) {
            tracing::error!(%error, "shutdown incomplete");
            return false;
        }
        for thread in self.threads {
            if thread.join().is_err() {
                clean = false;
            }
        }
        clean
    }
}

/// What a shard thread is given.
struct ThreadContext {
    placement: Placement,
    config: Arc<Config>,
    mesh: Mesh,
    inbox: Inbox,
    service: Arc<dyn Service>,
    reports: mpsc::Sender<Report>,
    /// The node's metadata as loaded at start-up; each shard keeps its own copy from here on.
    metadata: Arc<ClusterMetadata>,
}

/// Creates the data directory and loads (or creates, or upgrades) the node metadata file, once,
/// before any shard starts, so every shard begins from the same snapshot.
fn load_metadata(config: &Config) -> Result<Arc<ClusterMetadata>, ShardError> {
    controller::load(&MetadataStore::new(&config.data_dir))
        .map_err(|source| ShardError::Metadata { source })
}

/// Body of a shard thread.
fn run_shard(context: ThreadContext) {
    let shard = context.placement.index;
    let reports = context.reports.clone();
    let fail = |error: ShardError| {
        // `main` may have given up waiting; then there is no one left to tell.
        let _ = reports.send(Report::Failed { error });
    };
    let cpu = context.placement.cpu;
    if let Err(error) = affinity::set_thread_affinity([cpu]) {
        return fail(ShardError::Pin {
            shard,
            cpu,
            reason: error.to_string(),
        });
    }
    let tuning = &context.config.tuning;
    let runtime = match compio::runtime::RuntimeBuilder::new()
        .sync_queue_size(limits::RUNTIME_SYNC_QUEUE_SIZE)
        .with_proactor(proactor_builder(tuning))
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => return fail(ShardError::Runtime { shard, source }),
    };
    // Logged only once the ring exists: io_uring_setup refuses (rather than trims) what it
    // cannot give, so a built ring has exactly these settings.
    tracing::info!(
        shard,
        entries = tuning.io_uring_entries,
        sqpoll = tuning.io_uring_sqpoll,
        sqpoll_idle_ms = tuning.io_uring_sqpoll_idle_ms,
        "applied io_uring settings"
    );
    if let Err(error) = runtime.block_on(shard_main(context)) {
        fail(error);
    }
    tracing::debug!(shard, "shard thread exits");
}

/// The ring settings of the profile's `[io_uring]` section; unset keys keep compio's defaults
/// (1024 entries, no SQPOLL).
fn proactor_builder(tuning: &Tuning) -> compio::driver::ProactorBuilder {
    let mut builder = compio::driver::ProactorBuilder::new();
    if let Some(entries) = tuning.io_uring_entries {
        builder.capacity(entries);
    }
    if tuning.io_uring_sqpoll {
        // compio turns SQPOLL on by setting its idle time; 0 lets the kernel pick (1 s).
        let idle_ms = tuning.io_uring_sqpoll_idle_ms.unwrap_or(0);
        builder.sqpoll_idle(Duration::from_millis(u64::from(idle_ms)));
    } else if tuning.io_uring_sqpoll_idle_ms.is_some() {
        tracing::warn!("io_uring.sqpoll_idle_ms ignored: io_uring.sqpoll is off");
    }
    builder
}

/// Runs on the shard's runtime for the shard's whole life.
async fn shard_main(context: ThreadContext) -> Result<(), ShardError> {
    let ThreadContext {
        placement,
        config,
        mesh,
        inbox,
        service,
        reports,
        metadata,
    } = context;
    let state = ShardState::start(placement, &config, metadata).await?;
    let shard = Rc::new(Shard::new(placement, config, mesh, state));
    // Groups replayed by the start-up hook need their timer now, not at the first request.
    shard.state.groups.start_timer_if_loaded(&shard);
    let pump = compio::runtime::spawn(mesh::pump(Rc::clone(&shard), inbox));
    let report = |phase| {
        // `main` may have given up waiting; then there is no one left to tell.
        let _ = reports.send(Report::Reached {
            shard: placement.index,
            phase,
        });
    };
    report(Phase::Prepared);
    shard.listening.wait().await;
    let serve = service.start(&shard)?;
    report(Phase::Ready);
    tracing::info!(
        shard = placement.index,
        cpu = placement.cpu,
        "shard serving"
    );
    serve.await;
    report(Phase::Drained);
    shard.stopping.wait().await;
    shard.state.shutdown().await;
    // Jobs still queued are dropped with their reply senders: their callers see ShardStopped.
    drop(pump);
    report(Phase::Stopped);
    Ok(())
}

/// The signals that stop the broker.
const TERMINATION_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset adds valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for signal in TERMINATION_SIGNALS {
            libc::sigaddset(&raw mut set, signal);
        }
        set
    }
}

/// Blocks SIGTERM/SIGINT in the calling thread and every thread it spawns afterwards.
fn block_termination_signals() {
    let set = termination_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let result =
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
    assert_eq!(result, 0, "pthread_sigmask failed: {result}");
}

/// Takes a pending SIGTERM/SIGINT, waiting up to `timeout_ms`; `None` when none came.
fn wait_termination_signal(timeout_ms: u64) -> Option<i32> {
    let set = termination_set();
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout_ms / 1000).unwrap_or(0),
        tv_nsec: libc::c_long::try_from((timeout_ms % 1000) * 1_000_000).unwrap_or(0),
    };
    // SAFETY: `set` and `timeout` are initialised; a null siginfo pointer is allowed.
    let signal =
        unsafe { libc::sigtimedwait(&raw const set, std::ptr::null_mut(), &raw const timeout) };
    // -1 is EAGAIN (timeout) or EINTR: either way, no termination signal yet.
    (signal > 0).then_some(signal)
}
