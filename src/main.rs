//! `ringbroker` (= `ringbroker serve`): parse config → compose (services, servers) → place
//! shards → wait for a signal → shut down. No broker logic lives here; see `lib.rs` for the
//! map.
//!
//! Exit codes: 0 after a clean SIGTERM/SIGINT shutdown; 1 when the config is invalid, a shard
//! fails to start, a shard dies, or shutdown does not complete within its bounds.
//!
//! `ringbroker topic|tune …` are admin commands (`ringbroker::cli`): they run on the main thread
//! and exit with 0, or 1 when they report a problem or fail.
//!
//! Runs on the main thread, which never runs a shard: it owns signals and the shard threads.
use anyhow::Context;
use ringbroker::broker::{Broker, Services};
use ringbroker::cli;
use ringbroker::cli::tune::{Root, topology::Topology};
use ringbroker::config::{self, Command};
use ringbroker::handlers;
use ringbroker::metrics::http::MetricsServer;
use ringbroker::net::{Admission, KafkaService};
use ringbroker::security::tls::{self, Reload, TlsContext};
use ringbroker::shard::Shards;
use ringbroker::shard::runner::{Servers, Wake};
use std::ffi::OsStr;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            // Logging may not be set up yet (config errors come first): print directly.
            eprintln!("ringbroker: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .first()
        .is_some_and(|first| cli::is_admin_command(first))
    {
        let outcome = cli::run(&args, &mut std::io::stdout().lock())?;
        return Ok(match outcome {
            cli::Outcome::Success => ExitCode::SUCCESS,
            cli::Outcome::Problems => ExitCode::FAILURE,
        });
    }
    let (config_path, flags) = match config::parse_args(args)? {
        Command::Help => {
            print!("{}", config::USAGE);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Version => {
            println!("ringbroker {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve { config_path, flags } => (config_path, flags),
    };
    // The cpus this process may use (its affinity mask), not every cpu of the machine.
    let available_cpus = affinity::get_thread_affinity()
        .map_err(|error| anyhow::anyhow!("cannot read the cpu affinity mask: {error}"))?;
    let config = config::load(config_path.as_deref(), flags, &available_cpus)?;
    init_logging(&config.log_level)?;
    handlers::check_registry();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    log_placement(&config);
    let config = Arc::new(config);
    // Composition: the per-shard services (broker/), then the servers every shard runs, in
    // order — the Kafka listener, and the metrics listener (shard 0, when configured).
    let broker = Arc::new(Broker::prepare(&config)?);
    let admission = Arc::new(Admission::new(&config.limits));
    let tls = match &config.tls {
        Some(settings) => Some(Arc::new(TlsContext::load(settings.clone())?)),
        None => None,
    };
    // Before the shards start: their threads inherit SIGHUP blocked.
    reload_on_sighup(&broker, tls.as_ref())?;
    let servers: Servers<Services> = vec![
        Arc::new(KafkaService::with_tls(admission, tls)),
        Arc::new(MetricsServer),
    ];
    let shards = Shards::start(&config, &broker, &servers)?;
    tracing::info!(
        listeners = %config
            .listeners
            .iter()
            .map(|listener| format!("{}://{}", listener.name, listener.address))
            .collect::<Vec<_>>()
            .join(","),
        advertise = %format_args!("{}:{}", config.advertise.host, config.advertise.port),
        node_id = config.node_id,
        shards = config.shard_count(),
        "ringbroker serving"
    );
    let wake = shards.wait_for_signal();
    match wake {
        Wake::Signal(signal) => tracing::info!(signal, "shutting down"),
        Wake::ShardExited(shard) => tracing::error!(shard, "shard exited; shutting down"),
    }
    let clean = shards.shutdown() && matches!(wake, Wake::Signal(_));
    broker.record_clean_shutdown(&config, clean);
    tracing::info!(clean, "stopped");
    // 0 after a clean stop on a signal, 1 otherwise.
    Ok(ExitCode::from(u8::from(!clean)))
}

/// Starts the SIGHUP thread that reloads the client listeners' TLS and the controller
/// channel's, when either is configured (without either, SIGHUP keeps its default action).
fn reload_on_sighup(broker: &Broker, listeners: Option<&Arc<TlsContext>>) -> anyhow::Result<()> {
    let mut targets: Vec<Arc<dyn Reload>> = Vec::new();
    if let Some(listeners) = listeners {
        targets.push(Arc::clone(listeners) as Arc<dyn Reload>);
    }
    if let Some(controller) = broker.controller_tls() {
        targets.push(Arc::new(controller.clone()));
    }
    if !targets.is_empty() {
        tls::reload_on_sighup(targets).context("cannot start the SIGHUP thread")?;
    }
    Ok(())
}

/// Logs go to stderr (stdout stays for command output such as `--version`), in colour only when
/// stderr is a terminal and `NO_COLOR` is unset or empty: a file, pipe or journal gets plain
/// text, without ANSI escapes.
fn init_logging(log_level: &str) -> anyhow::Result<()> {
    let ansi = log_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(log_level)?)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    Ok(())
}

/// Whether to colour log lines: on a terminal, unless `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>).
fn log_colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// One line per shard, "shard → cpu → NUMA node" (the node read from sysfs, so an operator
/// sees where each shard's memory lands), then the profile's other knobs.
fn log_placement(config: &config::Config) {
    let topology = Topology::read(&Root::from_env());
    for (shard, &cpu) in config.shard_cpus.iter().enumerate() {
        let node = topology
            .node_of(cpu)
            .map_or_else(|| "?".to_owned(), |node| node.to_string());
        tracing::info!(
            shard,
            cpu,
            numa_node = %node,
            "placement: shard {shard} → cpu {cpu} → NUMA node {node}"
        );
    }
    let tuning = &config.tuning;
    tracing::info!(
        irq_cpus = ?tuning.irq_cpus,
        numa_nodes = topology.node_count(),
        memory_per_shard_size = ?tuning.memory_per_shard_size,
        socket_send_buffer_size = ?tuning.socket_send_buffer_size,
        socket_receive_buffer_size = ?tuning.socket_receive_buffer_size,
        io_uring_entries = ?tuning.io_uring_entries,
        io_uring_sqpoll = tuning.io_uring_sqpoll,
        "tuning profile"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(log_colour(true, None));
        assert!(
            log_colour(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!log_colour(true, Some(OsStr::new("1"))));
        assert!(!log_colour(false, None), "pipe or file");
        assert!(!log_colour(false, Some(OsStr::new("1"))));
    }
}
