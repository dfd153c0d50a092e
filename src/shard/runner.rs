//! Starting and stopping the shard threads. `main` calls [`Shards::start`], waits for a signal
//! with [`Shards::wait_for_signal`], then [`Shards::shutdown`].
//!
//! Each shard thread: pin to its cpu with `affinity` *before* the compio runtime exists (so the
//! ring and every buffer the runtime allocates land on the local NUMA node), build the runtime,
//! build the shard's services ([`Compose::start`], the start-up hook), report `Prepared`; once
//! every shard is prepared, start the [`Server`]s (net binds its listener there) and report
//! `Ready`. What the services and servers are is decided above this module (`broker/`,
//! `main.rs`); the runner only sequences them.
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
use super::{Events, LocalFuture, Placement, Shard, ShardError, Signal};
use crate::config::{Config, Tuning};
use crate::limits;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What serves on every shard once all shards' services exist: the Kafka listener (net/), the
/// metrics listener (metrics/, shard 0 only). Started in the order given to [`Shards::start`].
pub trait Server<S>: Send + Sync + 'static {
    /// Runs on the shard once every shard is prepared. Binds what it serves (errors abort
    /// start-up) and returns the future that serves until [`Shard::draining`] fires and its
    /// in-flight work finished or the grace period ran out.
    ///
    /// # Errors
    /// A `ShardError` (typically `Bind`).
    fn start(&self, shard: &Rc<Shard<S>>) -> Result<LocalFuture<()>, ShardError>;
}

/// What the start-up hook of a shard is given to build its services with.
#[derive(Debug, Clone)]
pub struct StartContext {
    pub placement: Placement,
    pub config: Arc<Config>,
    /// Fires when the shard starts draining; services with their own tasks (timers) keep it.
    pub draining: Signal,
}

/// The composition above the runtime: builds every shard's services and stops them (Seastar's
/// `sharded<T>::start()` / `stop()` for each service, in order). One value is shared by all
/// shard threads (hence `Send + Sync`); the services it builds are `!Send` and stay on their
/// shard.
pub trait Compose: Send + Sync + 'static {
    /// The services struct of one shard (`Shard<Self::Services>::state`).
    type Services: 'static;

    /// Start-up hook: runs on the shard after pinning and before any shard listens, so a
    /// client never reaches a half-initialised shard (storage recovery, metadata, replay).
    ///
    /// # Errors
    /// `ShardError::Service` naming the service that could not start.
    fn start(
        &self,
        context: StartContext,
    ) -> impl Future<Output = Result<Self::Services, ShardError>>;

    /// Runs once the shard's `Rc<Shard>` exists, before the shard reports prepared: services
    /// that start tasks holding the shard (or their own `Rc`) start them here.
    fn started(&self, shard: &Rc<Shard<Self::Services>>);

    /// Shutdown hook: runs after every shard drained (no new work can arrive), before the
    /// thread exits. Flush storage here.
    fn stop(&self, shard: &Rc<Shard<Self::Services>>) -> impl Future<Output = ()>;
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
pub struct Shards<S> {
    threads: Vec<JoinHandle<()>>,
    mesh: Mesh<S>,
    reports: mpsc::Receiver<Report>,
    grace: Duration,
}

/// The listeners every shard starts, in order.
pub type Servers<S> = Vec<Arc<dyn Server<S>>>;

impl<S: 'static> Shards<S> {
    /// Blocks SIGTERM/SIGINT, starts one pinned thread per shard (each builds its services with
    /// `compose`) and waits until every shard is serving `servers`.
    ///
    /// # Errors
    /// The first shard's start-up error (the other shards are stopped), or a timeout.
    pub fn start<C: Compose<Services = S>>(
        config: &Arc<Config>,
        compose: &Arc<C>,
        servers: &Servers<S>,
    ) -> Result<Self, ShardError> {
        block_termination_signals();
        let count = config.shard_count();
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
                compose: Arc::clone(compose),
                servers: servers.clone(),
                reports: report_sender.clone(),
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
        // One shard after the other, each once the previous one listens: a listening
        // address's reuseport group then holds shard k's socket at index k, which connection
        // steering relies on (`steering`).
        for target in 0..count {
            shards.post(target, Phase::Prepared, |shard| {
                shard.events.listening.fire()
            });
            shards.await_shards(Phase::Ready, timeout, target..target + 1)?;
        }
        Ok(shards)
    }

    /// Waits for `phase` from every shard (each report counted once), within `timeout`.
    fn await_all(&self, phase: Phase, timeout: Duration) -> Result<(), ShardError> {
        self.await_shards(phase, timeout, 0..self.threads.len())
    }

    /// Waits for `phase` from the shards of `which` (each report counted once), within
    /// `timeout`.
    fn await_shards(
        &self,
        phase: Phase,
        timeout: Duration,
        which: std::ops::Range<usize>,
    ) -> Result<(), ShardError> {
        let deadline = Instant::now() + timeout;
        let mut done: Vec<bool> = (0..self.threads.len())
            .map(|shard| !which.contains(&shard))
            .collect();
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
    fn post_all(&self, phase: Phase, control: fn(&Shard<S>)) -> bool {
        let mut delivered = true;
        for target in 0..self.threads.len() {
            delivered &= self.post(target, phase, control);
        }
        delivered
    }

    /// Runs `control` on shard `target`; `false` if it is gone.
    fn post(&self, target: usize, phase: Phase, control: fn(&Shard<S>)) -> bool {
        let posted = self
            .mesh
            .post_blocking(target, move |shard| control(&shard));
        if let Err(error) = &posted {
            tracing::warn!(%error, phase = phase.name(), "cannot signal shard");
        }
        posted.is_ok()
    }

    /// The mesh, for control messages from `main`.
    #[must_use]
    pub fn mesh(&self) -> &Mesh<S> {
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
        let mut clean = self.post_all(Phase::Drained, |shard| shard.events.draining.fire());
        if let Err(error) = self.await_all(Phase::Drained, self.grace + margin) {
            tracing::error!(%error, "shutdown incomplete");
            return false; // do not join threads that may never end
        }
        clean &= self.post_all(Phase::Stopped, |shard| shard.events.stopping.fire());
        // The stop hooks may first wait for a controlled shutdown (bounded by its limit).
        let stop_hooks = Duration::from_millis(crate::limits::CONTROLLED_SHUTDOWN_TIMEOUT_MS);
        if let Err(error) = self.await_all(Phase::Stopped, self.grace + margin + stop_hooks) {
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
struct ThreadContext<C: Compose> {
    placement: Placement,
    config: Arc<Config>,
    mesh: Mesh<C::Services>,
    inbox: Inbox<C::Services>,
    compose: Arc<C>,
    servers: Servers<C::Services>,
    reports: mpsc::Sender<Report>,
}

/// Body of a shard thread.
fn run_shard<C: Compose>(context: ThreadContext<C>) {
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
async fn shard_main<C: Compose>(context: ThreadContext<C>) -> Result<(), ShardError> {
    let ThreadContext {
        placement,
        config,
        mesh,
        inbox,
        compose,
        servers,
        reports,
    } = context;
    let events = Events::default();
    let start = StartContext {
        placement,
        config: Arc::clone(&config),
        draining: events.draining.signal(),
    };
    let services = compose.start(start).await?;
    let shard = Rc::new(Shard::new(placement, config, mesh, services, events));
    compose.started(&shard);
    let pump = compio::runtime::spawn(mesh::pump(Rc::clone(&shard), inbox));
    let report = |phase| {
        // `main` may have given up waiting; then there is no one left to tell.
        let _ = reports.send(Report::Reached {
            shard: placement.index,
            phase,
        });
    };
    report(Phase::Prepared);
    shard.events.listening.wait().await;
    let mut serving = Vec::with_capacity(servers.len());
    for server in &servers {
        // Each server runs as its own task, so they serve side by side.
        serving.push(compio::runtime::spawn(server.start(&shard)?));
    }
    report(Phase::Ready);
    tracing::info!(
        shard = placement.index,
        cpu = placement.cpu,
        "shard serving"
    );
    for served in serving {
        // A join error means a server panicked: a bug, so propagate the panic.
        served
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
    }
    report(Phase::Drained);
    shard.events.stopping.wait().await;
    compose.stop(&shard).await;
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
