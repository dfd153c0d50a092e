//! The `e2e` workload: consumers from the latest offsets, then producers; each record's
//! end-to-end latency is read at the consumer from the generation stamp in its value.
//!
//! Runs on the main thread. The consumers start first and report ready once they hold their
//! start offsets, so every record produced afterwards is read.
use super::{consume, produce};
use crate::actors::cluster::Topic;
use crate::cli::Options;
use crate::report::{ConsumeSummary, Percentiles, ProduceSummary, hdr_line};
use ringbroker::protocol::record_batch::Compression;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What an end-to-end run measured.
#[derive(Debug, Clone, Copy)]
pub struct EndToEnd {
    pub produce: ProduceSummary,
    pub consume: ConsumeSummary,
    pub end_to_end: Percentiles,
}

/// Runs producers and consumers together.
///
/// # Errors
/// Any producer's or consumer's error.
pub fn run(
    options: &Options,
    topic: &Topic,
    codec: Compression,
    deadline: Instant,
) -> anyhow::Result<EndToEnd> {
    let target = options.records_limit().unwrap_or(u64::MAX);
    let consumers = consume::start(options, topic, target, true, deadline)?;
    let produced = produce::run(options, topic, codec, deadline);
    // Consumers wait for exactly what was acknowledged (all of it, or none on failure).
    let acknowledged = produced.as_ref().map_or(0, |summary| summary.records);
    consumers.target.store(acknowledged, Ordering::Relaxed);
    let consumed = consumers.finish(deadline);
    let produce = produced?;
    let (consume, latency) = consumed?;
    println!("{}", crate::report::CONSUMER_HEADER);
    println!("{}", crate::report::consumer_row(&consume));
    let end_to_end = latency.percentiles();
    println!("{}", hdr_line("end-to-end", &end_to_end));
    Ok(EndToEnd {
        produce,
        consume,
        end_to_end,
    })
}
