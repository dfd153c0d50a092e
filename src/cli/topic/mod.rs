//! `ringbroker topic …`: topic administration over the Kafka protocol, as `kafka-topics.sh`
//! and `kafka-configs.sh --entity-type topics` do it.
//!
//! ```text
//! list            Metadata(all topics)                          → TOPIC PARTITIONS REPLICATION
//! describe        Metadata + ListOffsets(earliest, latest) + DescribeLogDirs per leader
//!                 + DescribeConfigs; `--under-replicated`: only partitions whose ISR is
//!                 smaller than their replica set (kafka-topics --under-replicated-partitions)
//! create          CreateTopics
//! delete          DeleteTopics
//! add-partitions  CreatePartitions (the new total, as kafka-topics --alter --partitions)
//! config          DescribeConfigs, or IncrementalAlterConfigs for --set / --delete
//! ```
//!
//! Formatting is split from the exchanges (the `format_*` functions are pure) so the tables
//! are unit-tested without a broker. Every exchange is one blocking call with the client's
//! socket timeout; per-topic errors are reported and make the exit code 1, as kafka-topics.sh.
//! The SIZE column is the leader's log size on disk in bytes (DescribeLogDirs), "-" when the
//! broker does not offer that API or did not list the partition.
//!
//! Runs on the main thread of the admin process.
//!
//! Files: `commands.rs` (one function per action), `admin.rs` (the exchanges with brokers),
//! `format.rs` (the pure tables and texts).
mod admin;
mod commands;
mod format;

pub use format::{
    OffsetTable, Offsets, config_source_name, format_configs, format_describe, format_list,
    topic_id_text,
};

use super::args::{self, Parsed, Spec};
use super::{CliError, Outcome};
use commands::{add_partitions, config, create, delete, describe, list};
use std::io::Write;

/// Client id the admin commands announce (brokers log it).
pub const CLIENT_ID: &str = "ringbroker-admin";
/// How long the broker may take to create, delete or grow topics (Kafka's admin default).
pub const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Kafka's DescribeConfigs / IncrementalAlterConfigs resource type of a topic.
pub const RESOURCE_TYPE_TOPIC: i8 = 2;
/// ListOffsets timestamps: the log start offset and the end (high watermark) offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;
/// IncrementalAlterConfigs operations (Kafka's `AlterConfigOp.OpType`).
pub const CONFIG_OPERATION_SET: i8 = 0;
pub const CONFIG_OPERATION_DELETE: i8 = 1;
/// DescribeConfigs `config_source` of a config set on the topic itself.
pub const CONFIG_SOURCE_DYNAMIC_TOPIC: i8 = 1;
/// Leaders a describe connects to, besides the bootstrap broker (one per broker at most).
pub const LEADER_CONNECTIONS_MAX: usize = 64;

/// Every command's flags start with these two spellings of the bootstrap address.
pub(super) const BOOTSTRAP: &[&str] = &["--bootstrap", "--bootstrap-server", "--command-config"];
const CREATE_FLAGS: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--partitions",
    "--replication-factor",
    "--config",
];
const ADD_PARTITIONS_FLAGS: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--partitions",
];
const CONFIG_FLAGS: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--set",
    "--delete",
];

/// Switches of `describe`.
const DESCRIBE_SWITCHES: &[&str] = &["--under-replicated"];

/// Runs `ringbroker topic ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, connection or protocol errors. Per-topic errors are printed to `out` and
/// give [`Outcome::Problems`].
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    match action {
        "list" => list(&parse(args, BOOTSTRAP, 0..=0)?, out),
        "describe" => describe(
            &parse_with(args, BOOTSTRAP, DESCRIBE_SWITCHES, 0..=usize::MAX)?,
            out,
        ),
        "create" => create(&parse(args, CREATE_FLAGS, 1..=1)?, out),
        "delete" => delete(&parse(args, BOOTSTRAP, 1..=usize::MAX)?, out),
        "add-partitions" => add_partitions(&parse(args, ADD_PARTITIONS_FLAGS, 1..=1)?, out),
        "config" => config(&parse(args, CONFIG_FLAGS, 1..=1)?, out),
        other => Err(CliError::UnknownCommand {
            words: format!("topic {other}"),
        }),
    }
}

/// Parses `args` against `values` (flags with a value) and checks the topic-name count.
fn parse(
    args: &[String],
    values: &'static [&'static str],
    positional: std::ops::RangeInclusive<usize>,
) -> Result<Parsed, CliError> {
    parse_with(args, values, &[], positional)
}

/// [`parse`] with switches.
fn parse_with(
    args: &[String],
    values: &'static [&'static str],
    switches: &'static [&'static str],
    positional: std::ops::RangeInclusive<usize>,
) -> Result<Parsed, CliError> {
    assert!(
        values.starts_with(BOOTSTRAP),
        "every command takes --bootstrap and --command-config"
    );
    let parsed = args::parse(args, Spec { values, switches })?;
    if !positional.contains(&parsed.positional.len()) {
        return Err(CliError::Usage(
            "wrong number of topic names (see ringbroker topic --help)",
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_before_connecting() {
        let mut out = Vec::new();
        let words =
            |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
        assert!(matches!(
            run("create", &words("a b"), &mut out),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            run("config", &words("t --set novalue"), &mut out),
            Err(CliError::BadValue { flag: "--set", .. })
        ));
        assert!(matches!(
            run("frobnicate", &[], &mut out),
            Err(CliError::UnknownCommand { .. })
        ));
        assert!(out.is_empty());
    }
}
