//! `ringbroker group list|describe` against a live broker: after a group consumed and
//! committed every record, producing N more shows a total LAG of exactly N, with the
//! committed and log end offsets per partition and the owning member.
mod common;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::time::{Duration, Instant};

const TOPIC: &str = "lagging";

fn produce(bootstrap: &str, count: i32) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    for index in 0..count {
        let record = BaseRecord::<(), _>::to(TOPIC)
            .payload("x")
            .partition(index % 3);
        producer.send(record).map_err(|(error, _)| error).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn cli(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    let outcome = ringbroker::cli::run(&args, &mut out).unwrap();
    assert_eq!(outcome, ringbroker::cli::Outcome::Success);
    String::from_utf8(out).unwrap()
}

/// Sums column `index` of the table rows of `describe` output.
fn column_sum(text: &str, index: usize) -> i64 {
    text.lines()
        .filter(|line| line.starts_with("lag-group "))
        .map(|line| {
            line.split_whitespace()
                .nth(index)
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn describe_shows_lag_after_producing_more_than_consumed() {
    let broker = common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--auto-create-partitions".into(),
            "3".into(),
            "--group-initial-rebalance-delay-ms".into(),
            "0".into(),
        ],
        config_toml: Some("[groups]\nsession_timeout_ms_min = 1000\n".into()),
        ..common::BrokerOptions::default()
    });
    let bootstrap = broker.address.to_string();
    produce(&bootstrap, 90);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "lag-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut consumed = 0;
    while consumed < 90 {
        assert!(Instant::now() < deadline, "consumed {consumed}");
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            consumer.commit_message(&message, CommitMode::Sync).unwrap();
            consumed += 1;
        }
    }
    produce(&bootstrap, 25);
    let address = bootstrap.as_str();
    let listed = cli(&["group", "list", "--bootstrap", address]);
    let row: Vec<&str> = listed
        .lines()
        .find(|line| line.starts_with("lag-group "))
        .unwrap_or_else(|| panic!("{listed}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["lag-group", "Stable", "consumer"]);
    let described = cli(&["group", "describe", "lag-group", "--bootstrap", address]);
    // Columns: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    assert_eq!(column_sum(&described, 3), 90, "{described}");
    assert_eq!(column_sum(&described, 4), 115, "{described}");
    assert_eq!(column_sum(&described, 5), 25, "{described}");
    let rows: Vec<&str> = described
        .lines()
        .filter(|line| line.starts_with("lag-group "))
        .collect();
    assert_eq!(rows.len(), 3, "{described}");
    assert!(
        rows.iter().all(|row| !row.contains(" - ")),
        "every partition owned: {described}"
    );
    drop(consumer);
}
