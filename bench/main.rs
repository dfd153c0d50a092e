//! ringbench: the bundled Kafka load generator. Speaks Kafka through ringbroker's own codec
//! (`ringbroker::protocol`), so it works against any Kafka-compatible broker and exercises the
//! codec the broker runs.
//!
//! ```text
//! main.rs       parse → bootstrap → run the mode → print → --json; a watchdog ends the process
//!               at --timeout (+ a grace period) whatever a thread is blocked on
//! cli.rs        flags, defaults (Kafka's), bounds
//! actors/       blocking Kafka connection, bootstrap, assignment, producer, consumer threads
//! workloads/    produce, consume, e2e, sweep, baseline
//! report/       kafka-*-perf-test lines, HDR percentiles (µs), tables, JSON
//! ```
//! Threads: the main thread, one per producer/consumer connection (plus one acknowledgement
//! reader per producer with acks ≠ 0), and the watchdog. No broker-side shard is involved.
mod actors;
mod cli;
mod report;
mod workloads;

use anyhow::Context;
use report::Json;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Extra time past `--timeout` before the watchdog ends the process: lets threads notice the
/// deadline and report what they measured.
const WATCHDOG_GRACE: Duration = Duration::from_secs(75);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{}", cli::USAGE);
        return if args.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let options = match cli::parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("ringbench: {error:#}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    start_watchdog(options.timeout + WATCHDOG_GRACE);
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ringbench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ends the process if the run outlives `limit`: every loop is bounded, but a thread blocked
/// in a syscall on a wedged peer is only bounded by socket timeouts, and this is the backstop.
fn start_watchdog(limit: Duration) {
    let spawned = std::thread::Builder::new()
        .name("ringbench-watchdog".to_owned())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "ringbench: still running {} s after start; exiting",
                limit.as_secs()
            );
            std::process::exit(3);
        });
    if let Err(error) = spawned {
        eprintln!("ringbench: no watchdog ({error}); relying on socket timeouts");
    }
}

fn run(options: &cli::Options) -> anyhow::Result<()> {
    let deadline = Instant::now() + options.timeout;
    let results = match options.mode {
        cli::Mode::Baseline => {
            let rows = workloads::baseline::run(options, deadline)?;
            Json::Array(
                rows.iter()
                    .copied()
                    .map(report::BaselineRow::to_json)
                    .collect(),
            )
        }
        mode => {
            let create = mode != cli::Mode::Consume;
            let topic = actors::cluster::discover(options, create)?;
            run_against_broker(options, &topic, deadline)?
        }
    };
    if let Some(path) = &options.json {
        let document = Json::object([
            ("mode", Json::Text(options.mode.name().to_owned())),
            ("options", options_json(options)),
            ("results", results),
        ]);
        std::fs::write(path, document.render() + "\n")
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

fn run_against_broker(
    options: &cli::Options,
    topic: &actors::cluster::Topic,
    deadline: Instant,
) -> anyhow::Result<Json> {
    let codec = workloads::produce::compression(options.compression)?;
    Ok(match options.mode {
        cli::Mode::Produce => workloads::produce::run(options, topic, codec, deadline)?.to_json(),
        cli::Mode::Consume => workloads::consume::run(options, topic, deadline)?.to_json(),
        cli::Mode::EndToEnd => {
            let result = workloads::e2e::run(options, topic, codec, deadline)?;
            Json::object([
                ("produce", result.produce.to_json()),
                ("consume", result.consume.to_json()),
                ("end_to_end_latency", result.end_to_end.to_json()),
            ])
        }
        cli::Mode::Sweep => {
            let rows = workloads::sweep::run(options, topic, deadline)?;
            Json::Array(
                rows.iter()
                    .map(|row| {
                        Json::object([
                            ("compression", Json::Text(row.compression.to_owned())),
                            ("produce", row.summary.to_json()),
                        ])
                    })
                    .collect(),
            )
        }
        cli::Mode::Baseline => anyhow::bail!("baseline runs without a broker"),
    })
}

fn options_json(options: &cli::Options) -> Json {
    let (records, duration_s) = match options.stop {
        cli::Stop::Records(count) => (Json::Integer(count), Json::Number(0.0)),
        cli::Stop::Duration(time) => (Json::Integer(0), Json::Number(time.as_secs_f64())),
    };
    Json::object([
        ("bootstrap", Json::Text(options.bootstrap.clone())),
        ("topic", Json::Text(options.topic.clone())),
        (
            "partitions",
            Json::Integer(u64::try_from(options.partitions).unwrap_or(0)),
        ),
        ("connections", Json::Integer(options.connections as u64)),
        ("record_size", Json::Integer(options.record_size as u64)),
        ("num_records", records),
        ("duration_s", duration_s),
        ("batch_size", Json::Integer(options.batch_size as u64)),
        (
            "linger_ms",
            Json::Integer(u64::try_from(options.linger.as_millis()).unwrap_or(0)),
        ),
        ("compression", Json::Text(options.compression.to_owned())),
        ("acks", Json::Number(f64::from(options.acks))),
        ("max_in_flight", Json::Integer(options.in_flight_max as u64)),
        ("throughput", Json::Integer(options.throughput)),
        (
            "fetch_max_bytes",
            Json::Integer(options.fetch_max_bytes as u64),
        ),
        (
            "partition_max_bytes",
            Json::Integer(options.partition_max_bytes as u64),
        ),
        ("nproc", Json::Integer(nproc())),
    ])
}

fn nproc() -> u64 {
    std::thread::available_parallelism().map_or(0, |count| count.get() as u64)
}
