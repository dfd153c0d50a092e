//! `ringsim`: runs the deterministic cluster simulator (`ringbroker::sim`) over seeds.
//!
//! ```text
//! ringsim --seed S                  replay one seed; on a violation print it and the trace
//! ringsim --seeds N [--start S]     run N seeds from S (default 0); last line:
//!                                   "seeds N, violations V"; exit 1 when V > 0
//! ringsim ... --bug NAME            plant a bug (builds with --features sim-bugs)
//! ringsim ... --trace-events N      keep the last N events for the trace (default 200)
//! ```
//! A thin CLI: argument parsing and printing only; everything else is in `src/sim/`.
use std::process::ExitCode;
use std::time::Instant;

use ringbroker::sim::{self, Outcome};

#[derive(Debug, Default)]
struct Args {
    seed: Option<u64>,
    seeds: Option<u64>,
    start: u64,
    bug: Option<String>,
    trace_events: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        trace_events: sim::trace::TRACE_EVENTS_MAX,
        ..Args::default()
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |name: &str| words.next().ok_or(format!("{name} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|e| format!("{text}: {e}"));
        match word.as_str() {
            "--seed" => args.seed = Some(number(value("--seed")?)?),
            "--seeds" => args.seeds = Some(number(value("--seeds")?)?),
            "--start" => args.start = number(value("--start")?)?,
            "--bug" => args.bug = Some(value("--bug")?),
            "--trace-events" => {
                let count = number(value("--trace-events")?)?;
                args.trace_events = usize::try_from(count).unwrap_or(usize::MAX);
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.seed.is_none() && args.seeds.is_none() {
        return Err("give --seed S or --seeds N".into());
    }
    Ok(args)
}

#[cfg(feature = "sim-bugs")]
fn runner(bug: Option<&str>, trace_events: usize) -> Result<Box<dyn Fn(u64) -> Outcome>, String> {
    use ringbroker::planted_bugs::PlantedBug;
    let bug = match bug {
        None => None,
        Some(name) => Some(PlantedBug::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = PlantedBug::ALL.iter().map(|bug| bug.name()).collect();
            format!("unknown bug {name}; one of {names:?}")
        })?),
    };
    Ok(Box::new(move |seed| {
        sim::run_seed_with_bug(seed, bug, trace_events)
    }))
}

#[cfg(not(feature = "sim-bugs"))]
fn runner(bug: Option<&str>, trace_events: usize) -> Result<Box<dyn Fn(u64) -> Outcome>, String> {
    if bug.is_some() {
        return Err("--bug needs a build with --features sim-bugs".into());
    }
    Ok(Box::new(move |seed| {
        sim::run_seed_traced(seed, trace_events)
    }))
}

fn print_violation(outcome: &Outcome) {
    let Some(violation) = &outcome.violation else {
        return;
    };
    println!("seed {}: VIOLATION {violation}", outcome.seed);
    println!("settings: {:?}", outcome.settings);
    println!("last {} events:", outcome.trace.len());
    for line in &outcome.trace {
        println!("  {line}");
    }
    println!(
        "replay: cargo run --release --bin ringsim -- --seed {}",
        outcome.seed
    );
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\nusage: ringsim (--seed S | --seeds N [--start S]) [--bug NAME]");
            return ExitCode::from(2);
        }
    };
    let run = match runner(args.bug.as_deref(), args.trace_events) {
        Ok(run) => run,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // A core's failed assert is reported as a violation with its trace; the default hook
    // would print every caught panic as well.
    std::panic::set_hook(Box::new(|_| {}));
    let (start, count) = match (args.seed, args.seeds) {
        (Some(seed), _) => (seed, 1),
        (None, Some(count)) => (args.start, count),
        (None, None) => return ExitCode::from(2),
    };
    let began = Instant::now();
    let (mut violations, mut simulated, mut acknowledged) = (0u64, 0f64, 0usize);
    let (mut reassignments, mut cancellations, mut controller_crashes) = (0u64, 0u64, 0u64);
    for seed in start..start.saturating_add(count) {
        let outcome = run(seed);
        simulated += outcome.stats.simulated.as_secs_f64();
        acknowledged += outcome.acknowledged;
        reassignments += outcome.stats.reassignments;
        cancellations += outcome.stats.cancellations;
        controller_crashes += outcome.stats.controller_crashes;
        if outcome.violation.is_some() {
            violations += 1;
            print_violation(&outcome);
        } else if args.seed.is_some() {
            println!("seed {seed}: ok, {:?}", outcome.stats);
        }
    }
    let real = began.elapsed().as_secs_f64();
    let rate = simulated / real.max(1e-9);
    println!("simulated {simulated:.0} s in {real:.1} s real ({rate:.0} simulated s per real s)");
    println!("acknowledged records: {acknowledged}");
    println!(
        "reassignments: {reassignments} accepted, {cancellations} cancelled, \
         {controller_crashes} with the controller crashed under them"
    );
    println!("seeds {count}, violations {violations}");
    if violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
