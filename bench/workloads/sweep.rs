//! The `sweep` workload: the produce workload once per codec, then one table.
//!
//! Runs on the main thread; each codec's run is a full `produce` run (its own progress and
//! summary lines) on the same topic, one after another, so runs do not compete for cores.
use super::produce;
use crate::actors::cluster::Topic;
use crate::cli::Options;
use crate::report::{SweepRow, sweep_table};
use ringbroker::protocol::record_batch::Compression;
use std::time::Instant;

/// Runs every codec and prints the table.
///
/// # Errors
/// The first failing run's error.
pub fn run(options: &Options, topic: &Topic, deadline: Instant) -> anyhow::Result<Vec<SweepRow>> {
    let mut rows = Vec::with_capacity(Compression::ALL.len());
    for codec in Compression::ALL {
        println!("== compression {}", codec.name());
        let summary = produce::run(options, topic, codec, deadline)?;
        rows.push(SweepRow {
            compression: codec.name(),
            summary,
        });
    }
    print!("{}", sweep_table(&rows));
    Ok(rows)
}
