//! `ringbroker partition reassign` and `ringbroker cluster drain`: moving replicas between
//! brokers (KIP-455), in the style of `kafka-reassign-partitions.sh`.
//!
//! ```text
//! reassign --generate --brokers 1,2,3,4 --topics T,U   Metadata → the current assignment and
//!                                                      a balanced plan (Kafka's JSON)
//! reassign --execute PLAN [--throttle BYTES_PER_SEC]  AlterPartitionReassignments (the plan);
//!                                                      with --throttle, first
//!                                                      IncrementalAlterConfigs on the broker
//!                                                      resource: the moving-data rate
//! reassign --verify PLAN                               ListPartitionReassignments + Metadata:
//!                                                      completed / still in progress; once all
//!                                                      completed, removes the throttle
//! reassign --cancel PLAN                               AlterPartitionReassignments (nulls):
//!                                                      back to the replicas before the move;
//!                                                      refused when none of them is in sync,
//!                                                      unless the topic allows unclean
//!                                                      election (then records only the
//!                                                      adding replicas held are lost)
//! drain BROKER                                         a plan moving every replica off BROKER
//!                                                      onto the live brokers with the fewest
//!                                                      replicas, executed; waits (bounded)
//! ```
//! PLAN is a file in Kafka's format: `{"version":1,"partitions":[{"topic":"t","partition":0,
//! "replicas":[1,2],"log_dirs":["any","any"]}]}` (`log_dirs` is accepted and ignored: one data
//! dir per broker). The plans are pure functions (`balanced_plan`, `drain_plan`), unit-tested;
//! the exchanges are blocking calls with the client's socket timeout. Exit 0 when everything
//! asked for was done (verify: every partition completed), 1 otherwise.
//!
//! The throttle is `follower.replication.throttled.rate` (issue 18): the bytes/s each broker
//! fetches for the replicas it is adding. Kafka's tool sets it (and the leader-side rate) on
//! every broker of the move, and `--verify` removes them once the moves completed ("Throttle
//! was removed."). Broker configs are cluster-wide here (one set of overrides in the metadata,
//! the broker resource named ""), so one IncrementalAlterConfigs sets it for every broker;
//! there is no leader-side rate.
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::topic::{CONFIG_OPERATION_DELETE, CONFIG_OPERATION_SET};
use super::{CliError, Outcome, connect};
use crate::client::connection::{Connection, Negotiated};
use crate::cluster::configs::FOLLOWER_THROTTLED_RATE;
use crate::protocol::messages::alter_partition_reassignments::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ReassignablePartition,
    ReassignableTopic,
};
use crate::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use crate::protocol::messages::list_partition_reassignments::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use crate::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

const VALUES: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--brokers",
    "--topics",
    "--execute",
    "--verify",
    "--cancel",
    "--timeout-ms",
    "--throttle",
];
const USAGE: &str = "usage: ringbroker partition reassign (--generate --brokers IDS --topics NAMES \
                     | --execute PLAN [--throttle BYTES_PER_SEC] | --verify PLAN | --cancel PLAN) \
                     [--bootstrap HOST:PORT]";
/// Kafka's DescribeConfigs / IncrementalAlterConfigs resource type of a broker.
const RESOURCE_TYPE_BROKER: i8 = 4;
/// How long `cluster drain` waits for its moves by default.
const DRAIN_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// Between two looks at the moves in flight.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One partition of a plan (Kafka's reassignment JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedPartition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    #[serde(default)]
    pub log_dirs: Vec<String>,
}

/// A reassignment plan (Kafka's reassignment JSON, version 1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub version: i32,
    pub partitions: Vec<PlannedPartition>,
}

impl Plan {
    fn new(assignment: &Assignment) -> Self {
        let partitions = assignment
            .iter()
            .map(|((topic, partition), replicas)| PlannedPartition {
                topic: topic.clone(),
                partition: *partition,
                replicas: replicas.clone(),
                log_dirs: vec!["any".to_owned(); replicas.len()],
            })
            .collect();
        Self {
            version: 1,
            partitions,
        }
    }
}

/// (topic, partition) → replicas.
pub type Assignment = BTreeMap<(String, i32), Vec<i32>>;

/// Runs `ringbroker partition ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, an unreadable plan, connection or protocol errors.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let parsed = args::parse(
        args,
        Spec {
            values: VALUES,
            switches: &["--generate"],
        },
    )?;
    if action != "reassign" {
        return Err(CliError::UnknownCommand {
            words: format!("partition {action}"),
        });
    }
    let throttle = throttle_rate(&parsed)?;
    let (mut connection, versions) = connect(&parsed)?;
    let link = &mut Link {
        connection: &mut connection,
        versions: &versions,
    };
    if parsed.switch("--generate") {
        return generate(link, &parsed, out);
    }
    let (mode, path) = ["--execute", "--verify", "--cancel"]
        .iter()
        .find_map(|flag| parsed.value(flag).map(|path| (*flag, path)))
        .ok_or(CliError::Usage(USAGE))?;
    let plan = read_plan(path)?;
    let assignment: Assignment = plan
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), p.replicas.clone()))
        .collect();
    match mode {
        "--execute" => {
            if let Some(rate) = throttle {
                set_throttle(link, Some(rate), out)?;
            }
            execute(link, &assignment, false, out)
        }
        "--cancel" => execute(link, &assignment, true, out),
        _ => {
            let outcome = verify(link, &assignment, out)?;
            if outcome == Outcome::Success {
                set_throttle(link, None, out)?;
            }
            Ok(outcome)
        }
    }
}

/// `--throttle`'s rate, checked before anything is sent: only with `--execute`, at least 1.
fn throttle_rate(parsed: &Parsed) -> Result<Option<u64>, CliError> {
    let Some(rate) = parsed.number::<u64>("--throttle")? else {
        return Ok(None);
    };
    if parsed.value("--execute").is_none() {
        return Err(CliError::Usage(USAGE));
    }
    if rate == 0 {
        return Err(CliError::BadValue {
            flag: "--throttle",
            value: "0".to_owned(),
            expected: "a rate of at least 1 byte/s",
        });
    }
    Ok(Some(rate))
}

/// Sets the cluster-wide moving-data throttle to `rate` bytes/s, or removes it (`None`).
fn set_throttle(
    link: &mut Link<'_>,
    rate: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    assert!(rate != Some(0), "throttle_rate refuses 0");
    let change = AlterableConfig {
        name: StrBytes::from(FOLLOWER_THROTTLED_RATE),
        config_operation: if rate.is_some() {
            CONFIG_OPERATION_SET
        } else {
            CONFIG_OPERATION_DELETE
        },
        value: rate.map(|rate| StrBytes::from(rate.to_string())),
    };
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TYPE_BROKER,
            resource_name: StrBytes::from(""),
            configs: vec![change],
        }],
        validate_only: false,
    };
    let version = link.versions.need(ApiKey::IncrementalAlterConfigs)?;
    let response: IncrementalAlterConfigsResponse = link.connection.call(version, &request)?;
    if let Some(refused) = response
        .responses
        .iter()
        .find(|result| result.error_code != ErrorCode::None)
    {
        return Err(CliError::Kafka {
            what: format!("IncrementalAlterConfigs {FOLLOWER_THROTTLED_RATE}"),
            error_code: refused.error_code,
            message: refused.error_message.as_ref().map(ToString::to_string),
        });
    }
    match rate {
        Some(rate) => {
            writeln!(out, "The inter-broker throttle limit was set to {rate} B/s")?;
            writeln!(
                out,
                "Warning: run --verify until the reassignment completes: it removes the throttle."
            )?;
        }
        None => writeln!(out, "Throttle was removed.")?,
    }
    Ok(())
}

/// A connection and its negotiated versions.
struct Link<'a> {
    connection: &'a mut Connection,
    versions: &'a Negotiated,
}

fn read_plan(path: &str) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|_| CliError::BadValue {
        flag: "PLAN",
        value: path.to_owned(),
        expected: "reassignment JSON file (Kafka's format)",
    })
}

fn ids(parsed: &Parsed, flag: &'static str) -> Result<Vec<i32>, CliError> {
    let value = parsed.value(flag).ok_or(CliError::Usage(USAGE))?;
    value
        .split(',')
        .map(|id| {
            id.trim().parse().map_err(|_| CliError::BadValue {
                flag,
                value: value.to_owned(),
                expected: "comma-separated broker ids",
            })
        })
        .collect()
}

fn generate(
    link: &mut Link<'_>,
    parsed: &Parsed,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let brokers = ids(parsed, "--brokers")?;
    let topics: Vec<String> = parsed
        .value("--topics")
        .ok_or(CliError::Usage(USAGE))?
        .split(',')
        .map(str::to_owned)
        .collect();
    let current = assignment(link, Some(&topics))?.0;
    let proposed = balanced_plan(&current, &brokers);
    let json = |assignment| serde_json::to_string(&Plan::new(assignment)).unwrap_or_default();
    writeln!(
        out,
        "Current partition replica assignment\n{}\n",
        json(&current)
    )?;
    writeln!(
        out,
        "Proposed partition reassignment configuration\n{}",
        json(&proposed)
    )?;
    Ok(Outcome::Success)
}

/// The assignment of `topics` (every topic when `None`) and the brokers Metadata lists.
fn assignment(
    link: &mut Link<'_>,
    topics: Option<&[String]>,
) -> Result<(Assignment, Vec<i32>), CliError> {
    let request = MetadataRequest {
        topics: topics.map(|topics| {
            topics
                .iter()
                .map(|name| MetadataRequestTopic {
                    name: Some(StrBytes::from(name.as_str())),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let version = link.versions.need(ApiKey::Metadata)?;
    let response: MetadataResponse = link.connection.call(version, &request)?;
    let mut assignment = Assignment::new();
    for topic in &response.topics {
        let name = topic.name.as_deref().unwrap_or_default().to_owned();
        if topic.error_code != ErrorCode::None {
            return Err(CliError::Kafka {
                what: format!("topic {name}"),
                error_code: topic.error_code,
                message: None,
            });
        }
        for partition in &topic.partitions {
            let key = (name.clone(), partition.partition_index);
            assignment.insert(key, partition.replica_nodes.clone());
        }
    }
    let brokers = response.brokers.iter().map(|b| b.node_id).collect();
    Ok((assignment, brokers))
}

/// Each partition's replicas round-robin over `brokers`, keeping its replication factor: the
/// first replica of partition `i` (counted across the plan) is `brokers[i % n]`, the others
/// follow it on the ring (Kafka's `assignReplicasToBrokers` without racks, from index 0).
/// Partitions whose factor exceeds the broker count keep their replicas.
#[must_use]
pub fn balanced_plan(current: &Assignment, brokers: &[i32]) -> Assignment {
    let count = brokers.len();
    let mut plan = Assignment::new();
    for (index, (key, replicas)) in current.iter().enumerate() {
        if count == 0 || replicas.len() > count {
            plan.insert(key.clone(), replicas.clone());
            continue;
        }
        let target: Vec<i32> = (0..replicas.len())
            .filter_map(|offset| brokers.get((index + offset) % count).copied())
            .collect();
        assert_eq!(target.len(), replicas.len());
        plan.insert(key.clone(), target);
    }
    plan
}

/// A plan moving every replica of `leaving` onto the other `brokers`: each replaced by the
/// broker with the fewest replicas (counting the plan so far) that the partition does not
/// have yet, in place (so a preferred leader is replaced by its successor). Partitions without
/// a replica on `leaving` are not in the plan; one without a free broker keeps its replicas.
#[must_use]
pub fn drain_plan(current: &Assignment, brokers: &[i32], leaving: i32) -> Assignment {
    let mut load: BTreeMap<i32, usize> = brokers
        .iter()
        .filter(|b| **b != leaving)
        .map(|b| (*b, 0))
        .collect();
    for replica in current.values().flatten() {
        if let Some(count) = load.get_mut(replica) {
            *count += 1;
        }
    }
    let mut plan = Assignment::new();
    for (key, replicas) in current.iter().filter(|(_, r)| r.contains(&leaving)) {
        let spare = load
            .iter()
            .filter(|(broker, _)| !replicas.contains(broker))
            .min_by_key(|(broker, count)| (**count, **broker))
            .map(|(broker, _)| *broker);
        let Some(spare) = spare else {
            continue;
        };
        *load.entry(spare).or_default() += 1;
        let target = replicas
            .iter()
            .map(|r| if *r == leaving { spare } else { *r })
            .collect();
        plan.insert(key.clone(), target);
    }
    plan
}

/// Sends the plan (`cancel`: cancels its partitions); prints each partition's outcome.
fn execute(
    link: &mut Link<'_>,
    plan: &Assignment,
    cancel: bool,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for ((topic, partition), replicas) in plan {
        topics
            .entry(topic)
            .or_default()
            .push(ReassignablePartition {
                partition_index: *partition,
                replicas: (!cancel).then(|| replicas.clone()),
            });
    }
    let request = AlterPartitionReassignmentsRequest {
        timeout_ms: 30_000,
        allow_replication_factor_change: true,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ReassignableTopic {
                name: StrBytes::from(name),
                partitions,
            })
            .collect(),
    };
    let version = link.versions.need(ApiKey::AlterPartitionReassignments)?;
    let response: AlterPartitionReassignmentsResponse = link.connection.call(version, &request)?;
    let mut outcome = Outcome::Success;
    let verb = if cancel { "cancel" } else { "reassign" };
    for topic in &response.responses {
        for partition in &topic.partitions {
            let name = format!("{}-{}", topic.name.as_str(), partition.partition_index);
            if partition.error_code == ErrorCode::None {
                writeln!(out, "Successfully started to {verb} partition {name}")?;
            } else {
                outcome = Outcome::Problems;
                let message = partition.error_message.as_deref().unwrap_or_default();
                let code = partition.error_code.name();
                writeln!(out, "Failed to {verb} partition {name}: {code} {message}")?;
            }
        }
    }
    Ok(outcome)
}

/// The partitions still being reassigned.
fn in_flight(link: &mut Link<'_>) -> Result<BTreeSet<(String, i32)>, CliError> {
    let request = ListPartitionReassignmentsRequest {
        timeout_ms: 30_000,
        topics: None,
    };
    let version = link.versions.need(ApiKey::ListPartitionReassignments)?;
    let response: ListPartitionReassignmentsResponse = link.connection.call(version, &request)?;
    if response.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: "ListPartitionReassignments".to_owned(),
            error_code: response.error_code,
            message: response.error_message.map(|m| m.as_str().to_owned()),
        });
    }
    Ok(response
        .topics
        .iter()
        .flat_map(|topic| {
            let name = topic.name.as_str().to_owned();
            topic
                .partitions
                .iter()
                .map(move |p| (name.clone(), p.partition_index))
        })
        .collect())
}

/// Prints each planned partition's status; Success when all completed as planned.
fn verify(
    link: &mut Link<'_>,
    plan: &Assignment,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let moving = in_flight(link)?;
    let topics: Vec<String> = plan
        .keys()
        .map(|(topic, _)| topic.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let current = assignment(link, Some(&topics))?.0;
    writeln!(out, "Status of partition reassignment:")?;
    let mut outcome = Outcome::Success;
    for (key, target) in plan {
        let name = format!("{}-{}", key.0, key.1);
        let status = if moving.contains(key) {
            "is still in progress."
        } else if current.get(key) == Some(target) {
            "is completed."
        } else {
            "is not in progress, but its replicas differ from the plan."
        };
        if !status.starts_with("is completed") {
            outcome = Outcome::Problems;
        }
        writeln!(out, "Reassignment of partition {name} {status}")?;
    }
    Ok(outcome)
}

/// `ringbroker cluster drain BROKER`: moves every replica off `leaving` and waits (bounded by
/// `--timeout-ms`) until nothing is in flight.
///
/// # Errors
/// Connection or protocol errors.
pub fn drain(parsed: &Parsed, leaving: i32, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let timeout_ms = parsed
        .number::<u64>("--timeout-ms")?
        .unwrap_or(DRAIN_TIMEOUT_MS_DEFAULT);
    let (mut connection, versions) = connect(parsed)?;
    let link = &mut Link {
        connection: &mut connection,
        versions: &versions,
    };
    let (current, brokers) = assignment(link, None)?;
    let plan = drain_plan(&current, &brokers, leaving);
    let stuck = current
        .iter()
        .filter(|(key, r)| r.contains(&leaving) && !plan.contains_key(*key))
        .count();
    writeln!(out, "Moving {} partitions off broker {leaving}", plan.len())?;
    if plan.is_empty() {
        return Ok(if stuck == 0 {
            Outcome::Success
        } else {
            Outcome::Problems
        });
    }
    if execute(link, &plan, false, out)? == Outcome::Problems {
        return Ok(Outcome::Problems);
    }
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    // Bounded by the deadline.
    while !in_flight(link)?.is_empty() {
        if Instant::now() >= deadline {
            writeln!(
                out,
                "Still moving after {timeout_ms} ms (see partition reassign --verify)"
            )?;
            return Ok(Outcome::Problems);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    writeln!(out, "Broker {leaving} holds no replica; it can be stopped")?;
    Ok(if stuck == 0 {
        Outcome::Success
    } else {
        Outcome::Problems
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn current(lists: &[&[i32]]) -> Assignment {
        (0..)
            .zip(lists)
            .map(|(p, replicas)| (("t".to_owned(), p), replicas.to_vec()))
            .collect()
    }

    #[test]
    fn a_balanced_plan_spreads_leaders_and_replicas_over_the_brokers() {
        let plan = balanced_plan(
            &current(&[&[1, 2], &[2, 3], &[3, 1], &[1, 2]]),
            &[1, 2, 3, 4],
        );
        let lists: Vec<Vec<i32>> = plan.values().cloned().collect();
        assert_eq!(lists, [vec![1, 2], vec![2, 3], vec![3, 4], vec![4, 1]]);
        let kept = balanced_plan(&current(&[&[1, 2, 3]]), &[1, 2]);
        assert_eq!(kept.values().next().unwrap(), &[1, 2, 3], "too few brokers");
    }

    #[test]
    fn a_drain_plan_replaces_the_leaving_broker_with_the_least_loaded_free_one() {
        let now = current(&[&[1, 2], &[2, 3], &[3, 1], &[1, 4]]);
        let plan = drain_plan(&now, &[1, 2, 3, 4], 1);
        let lists: Vec<(i32, Vec<i32>)> = plan.iter().map(|(k, v)| (k.1, v.clone())).collect();
        // Loads before: 2 → 2, 3 → 2, 4 → 1. Partition 0 takes 4 (the least loaded);
        // partition 2 takes 2 (2 and 4 tie at 2: the lower id); partition 3 takes 3.
        assert_eq!(lists, [(0, vec![4, 2]), (2, vec![3, 2]), (3, vec![3, 4])]);
        assert!(plan.values().all(|r| !r.contains(&1)));
        let full = drain_plan(&current(&[&[1, 2]]), &[1, 2], 1);
        assert!(full.is_empty(), "no free broker");
    }

    #[test]
    fn a_throttle_goes_with_execute_only_and_is_never_zero() {
        let parse = |words: &[&str]| {
            let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            let spec = Spec {
                values: VALUES,
                switches: &["--generate"],
            };
            throttle_rate(&args::parse(&words, spec).unwrap())
        };
        assert_eq!(parse(&["--execute", "p.json"]).unwrap(), None);
        let rate = parse(&["--execute", "p.json", "--throttle", "4194304"]);
        assert_eq!(rate.unwrap(), Some(4_194_304));
        let verify = parse(&["--verify", "p.json", "--throttle", "5"]);
        assert!(matches!(verify, Err(CliError::Usage(_))), "{verify:?}");
        let zero = parse(&["--execute", "p.json", "--throttle", "0"]);
        assert!(matches!(zero, Err(CliError::BadValue { .. })), "{zero:?}");
        let words = parse(&["--execute", "p.json", "--throttle", "fast"]);
        assert!(matches!(words, Err(CliError::BadValue { .. })), "{words:?}");
    }

    #[test]
    fn plans_read_and_write_kafkas_json() {
        let text = r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[4,2]}]}"#;
        let plan: Plan = serde_json::from_str(text).unwrap();
        assert_eq!(plan.partitions[0].replicas, [4, 2]);
        let written = serde_json::to_string(&Plan::new(&current(&[&[4, 2]]))).unwrap();
        let expected = concat!(
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[4,2],"#,
            r#""log_dirs":["any","any"]}]}"#
        );
        assert_eq!(written, expected);
    }
}
