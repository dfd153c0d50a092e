//! `ringbroker cluster status` and DescribeQuorum against a real single-node broker: node 0
//! leads the one-voter metadata quorum, is its only voter, with lag 0; the binary exits 0
//! then, and 1 for an unreachable bootstrap or an unknown action.
mod common;

use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::describe_quorum::{
    DescribeQuorumPartitionRequest, DescribeQuorumRequest, DescribeQuorumResponse,
    DescribeQuorumTopicRequest,
};
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
    assert!(
        rows.iter().any(|row| row.starts_with(&broker_row)),
        "no broker row {broker_row:?} in\n{report}"
    );
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
