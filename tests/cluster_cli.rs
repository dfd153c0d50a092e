//! `ringbroker cluster status` and DescribeQuorum against real brokers: on a single node,
//! node 0 leads the one-voter metadata quorum, is its only voter, with lag 0; the binary exits
//! 0 then, and 1 for an unreachable bootstrap or an unknown action. On three voters and an
//! observer, asked through any broker, it names one leader, the voters and the observer, and
//! after the leader is killed, the new one. Every wait is a bounded poll.
mod common;

use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::describe_quorum::{
    DescribeQuorumPartitionRequest, DescribeQuorumRequest, DescribeQuorumResponse,
    DescribeQuorumTopicRequest,
};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

/// How long a fresh broker's one-voter quorum may take to elect itself.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);

fn ringbroker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(args)
        .output()
        .expect("run ringbroker")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The whitespace-split cells of each line.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn request(partitions: &[i32]) -> DescribeQuorumRequest {
    DescribeQuorumRequest {
        topics: vec![DescribeQuorumTopicRequest {
            topic_name: "__cluster_metadata".into(),
            partitions: partitions
                .iter()
                .map(|&partition_index| DescribeQuorumPartitionRequest { partition_index })
                .collect(),
        }],
    }
}

#[test]
fn status_names_node_zero_leader_and_voter_with_lag_zero() {
    let broker = common::Broker::start();
    let bootstrap = broker.address.to_string();
    let mut last = None;
    let answered = common::eventually(LEADER_TIMEOUT, || {
        let output = ringbroker(&["cluster", "status", "--bootstrap", &bootstrap]);
        let ok = output.status.success();
        last = Some(output);
        ok
    });
    let output = last.unwrap();
    assert!(
        answered,
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
    let report = text(&output);
    let rows = rows(&report);
    assert!(
        rows.contains(&vec!["LeaderId:".into(), "0".into()]),
        "{report}"
    );
    assert!(
        rows.contains(&vec!["CurrentVoters:".into(), "[0]".into()]),
        "{report}"
    );
    assert!(
        rows.contains(&vec!["MaxFollowerLag:".into(), "0".into()]),
        "{report}"
    );
    let leader_row = rows
        .iter()
        .find(|row| {
            row.first().is_some_and(|c| c == "0") && row.get(1).is_some_and(|c| c == "Leader")
        })
        .unwrap_or_else(|| panic!("no leader row in\n{report}"));
    assert_eq!(leader_row.len(), 4, "{report}");
    assert_eq!(leader_row[3], "0", "lag of the leader: {report}");
    let high_watermark = rows
        .iter()
        .find(|row| row.first().is_some_and(|c| c == "HighWatermark:"))
        .and_then(|row| row.get(1))
        .unwrap_or_else(|| panic!("no high watermark in\n{report}"));
    assert_eq!(&leader_row[2], high_watermark, "{report}");
    assert!(high_watermark.parse::<i64>().unwrap() > 0, "{report}");
    let broker_row = vec![
        "0".to_string(),
        bootstrap.clone(),
        "-".into(),
        "false".into(),
    ];
    let row = rows.iter().find(|row| row.starts_with(&broker_row));
    let row = row.unwrap_or_else(|| panic!("no broker row {broker_row:?} in\n{report}"));
    // Broker epoch and shard count, from the controller's registration.
    assert!(row[4].parse::<i64>().is_ok_and(|e| e >= 0), "{report}");
    assert_eq!(row[5], "2", "{report}");
}

#[test]
fn describe_quorum_answers_the_metadata_partition_only() {
    let broker = common::Broker::start();
    let mut client = broker.client();
    let mut correlation_id = 0;
    let mut answer = None;
    let led = common::eventually(LEADER_TIMEOUT, || {
        correlation_id += 1;
        client.send(1, correlation_id, &request(&[0, 7]));
        let (_, response): (_, DescribeQuorumResponse) = client.receive(1);
        let partitions = &response.topics[0].partitions;
        let ok = partitions[0].error_code == ErrorCode::None;
        answer = Some(response);
        ok
    });
    let response = answer.unwrap();
    assert!(led, "{response:?}");
    let partitions = &response.topics[0].partitions;
    assert_eq!(partitions.len(), 2);
    let metadata = &partitions[0];
    assert_eq!(metadata.leader_id, 0);
    assert!(metadata.leader_epoch >= 1, "{metadata:?}");
    let voters: Vec<_> = metadata
        .current_voters
        .iter()
        .map(|v| v.replica_id)
        .collect();
    assert_eq!(voters, [0]);
    assert_eq!(
        metadata.current_voters[0].log_end_offset,
        metadata.high_watermark
    );
    assert!(metadata.current_voters[0].last_caught_up_timestamp > 0);
    assert!(metadata.observers.is_empty());
    assert_eq!(partitions[1].partition_index, 7);
    assert_eq!(partitions[1].error_code, ErrorCode::UnknownTopicOrPartition);

    client.send(0, 99, &DescribeQuorumRequest::default());
    let (_, empty): (_, DescribeQuorumResponse) = client.receive(0);
    assert_eq!(empty.error_code, ErrorCode::InvalidRequest);
}

#[test]
fn exit_codes_for_an_unreachable_broker_and_a_bad_action() {
    let nobody = common::free_address().to_string();
    let unreachable = ringbroker(&["cluster", "status", "--bootstrap", &nobody]);
    assert_eq!(unreachable.status.code(), Some(1), "{}", text(&unreachable));
    assert!(!unreachable.stderr.is_empty());
    let unknown = ringbroker(&["cluster", "explode"]);
    assert_eq!(unknown.status.code(), Some(1));
    let help = ringbroker(&["cluster", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help).contains("ringbroker cluster status"));
}

/// The cells after `label` in the report, e.g. `["[1,2,3]"]` for `CurrentVoters:`.
fn field(report: &str, label: &str) -> Option<String> {
    rows(report)
        .into_iter()
        .find(|row| row.first().is_some_and(|cell| cell == label))
        .and_then(|row| row.get(1).cloned())
}

/// `cluster status` through `bootstrap` until `accept` takes its report (bounded); the report.
fn status_until(bootstrap: &str, mut accept: impl FnMut(&str) -> bool) -> String {
    let mut last = String::new();
    let accepted = common::eventually(LEADER_TIMEOUT, || {
        let output = ringbroker(&["cluster", "status", "--bootstrap", bootstrap]);
        last = format!(
            "{}{}",
            text(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        output.status.success() && accept(&last)
    });
    assert!(accepted, "through {bootstrap}, last report:\n{last}");
    last
}

/// The voters' and the observer's rows (`NODE STATUS LOG-END-OFFSET LAG`) by node id.
fn replica_rows(report: &str) -> Vec<Vec<String>> {
    rows(report)
        .into_iter()
        .filter(|row| row.len() == 4)
        .filter(|row| ["Leader", "Follower", "Observer"].contains(&row[1].as_str()))
        .collect()
}

/// Three voters (nodes 1–3) and an observer (node 4), all accepting clients.
fn start_cluster() -> Vec<common::Broker> {
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", common::free_address()))
        .collect();
    let voters = voters.join(",");
    let options = |node_id: i32| common::BrokerOptions {
        extra_args: [
            "--node-id",
            &node_id.to_string(),
            "--quorum-voters",
            &voters,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        ..common::BrokerOptions::default()
    };
    // Voters all at once: each waits for a quorum before it serves.
    let mut brokers: Vec<common::Broker> = (1..=4)
        .map(|id| common::Broker::spawn(options(id)))
        .collect();
    for broker in &mut brokers {
        broker.wait_ready();
    }
    brokers
}

/// Checks one settled report through any broker; returns the leader it names.
fn check_settled_report(report: &str, brokers: &[common::Broker]) -> String {
    assert_eq!(
        field(report, "CurrentVoters:").as_deref(),
        Some("[1,2,3]"),
        "{report}"
    );
    let rows = replica_rows(report);
    let leader: Vec<_> = rows.iter().filter(|row| row[1] == "Leader").collect();
    assert_eq!(leader.len(), 1, "{report}");
    assert_eq!(
        field(report, "LeaderId:").as_ref(),
        Some(&leader[0][0]),
        "{report}"
    );
    assert!(
        rows.iter().any(|row| row[0] == "4" && row[1] == "Observer"),
        "{report}"
    );
    for (index, broker) in brokers.iter().enumerate() {
        let address = broker.address.to_string();
        let node_id = (index + 1).to_string();
        let listed = rows_with(report, &node_id, &address);
        assert!(
            listed,
            "broker {node_id} at {address} not listed:\n{report}"
        );
    }
    leader[0][0].clone()
}

#[test]
fn status_through_any_broker_of_three_voters_and_an_observer() {
    let mut brokers = start_cluster();
    let settled = |report: &str| {
        let rows = replica_rows(report);
        field(report, "CurrentObservers:").as_deref() == Some("[4]")
            && rows.len() == 4
            && rows.iter().all(|row| row[3] == "0")
    };
    let mut leaders = BTreeSet::new();
    for broker in &brokers {
        let report = status_until(&broker.address.to_string(), settled);
        leaders.insert(check_settled_report(&report, &brokers));
    }
    assert_eq!(
        leaders.len(),
        1,
        "brokers disagree on the leader: {leaders:?}"
    );
    let old: usize = leaders.first().unwrap().parse().unwrap();
    brokers[old - 1].kill9();
    let survivor = brokers[old % 3].address.to_string();
    let report = status_until(&survivor, |report| {
        field(report, "LeaderId:").is_some_and(|id| id != old.to_string() && id != "-1")
    });
    let rows = replica_rows(&report);
    let old_row = rows.iter().find(|row| row[0] == old.to_string());
    assert_eq!(
        old_row.map(|row| row[1].as_str()),
        Some("Follower"),
        "{report}"
    );
}

/// Whether a broker-table row starts with `node_id` and `address`.
fn rows_with(report: &str, node_id: &str, address: &str) -> bool {
    rows(report)
        .iter()
        .any(|row| row.len() == 7 && row[0] == node_id && row[1] == address && row[5] == "2")
}
