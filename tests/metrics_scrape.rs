//! The metrics listener end to end: a broker started with `--metrics-listen` answers
//! `GET /metrics` in the Prometheus text format, and after librdkafka produces and consumes
//! records the request counters by API, the produce/fetch byte and record counters, the
//! connection counters and the partition's log end offset have all moved, and the consumer's
//! committed offset and lag show. Other paths get 404.
mod common;

use common::metrics::{get, scrape, sum};
use common::{Broker, BrokerOptions, free_address};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const TOPIC: &str = "metrics-scrape";
const RECORD_COUNT: usize = 200;
const GROUP: &str = "metrics-scrape-manual";
/// The consumer commits this offset, so the group's lag is `RECORD_COUNT - COMMITTED`.
const COMMITTED: i64 = 150;

fn produce(bootstrap: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in 0..RECORD_COUNT {
        let value = format!("value-{index}");
        let record = BaseRecord::<(), _>::to(TOPIC).payload(&value).partition(0);
        producer.send(record).map_err(|(error, _)| error).unwrap();
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn consume(bootstrap: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received = 0;
    while received < RECORD_COUNT {
        assert!(Instant::now() < deadline, "only {received} consumed");
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            message.expect("consume error");
            received += 1;
        }
    }
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(TOPIC, 0, Offset::Offset(COMMITTED))
        .unwrap();
    consumer
        .commit(&commit, CommitMode::Sync)
        .expect("commit offsets");
}

#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn scrape_shows_counters_move_after_produce_and_consume() {
    let metrics = free_address();
    let broker = Broker::start_with(BrokerOptions {
        extra_args: vec!["--metrics-listen".to_owned(), metrics.to_string()],
        ..BrokerOptions::default()
    });
    let bootstrap = broker.address.to_string();

    let before = scrape(metrics);
    assert!(
        before.contains("# TYPE ringbroker_requests counter"),
        "{before}"
    );
    assert!(before.contains("# TYPE ringbroker_request_latency_seconds histogram"));
    // Both shards report, even before traffic (the start-up probe may have connected).
    for shard in ["0", "1"] {
        let label = format!("shard=\"{shard}\"");
        assert!(before.contains(&format!("ringbroker_produce_bytes_total{{{label}}}")));
    }
    assert_eq!(sum(&before, "ringbroker_produce_records_total", &[]), 0.0);

    produce(&bootstrap);
    consume(&bootstrap);
    let after = scrape(metrics);

    let requests = |text: &str, api: &str| {
        sum(
            text,
            "ringbroker_requests_total",
            &[&format!("api=\"{api}\"")],
        )
    };
    for api in ["Produce", "Fetch", "Metadata", "ApiVersions"] {
        assert!(
            requests(&after, api) > requests(&before, api),
            "{api} requests did not move:\n{after}"
        );
    }
    let latency_count = sum(
        &after,
        "ringbroker_request_latency_seconds_count",
        &["api=\"Produce\""],
    );
    assert_eq!(latency_count, requests(&after, "Produce"));
    let produced = sum(&after, "ringbroker_produce_records_total", &[]);
    assert!(
        produced >= RECORD_COUNT as f64,
        "produced records {produced}"
    );
    let produce_bytes = sum(&after, "ringbroker_produce_bytes_total", &[]);
    // Each record is at least its value; batch headers come on top.
    assert!(produce_bytes > (RECORD_COUNT * "value-0".len()) as f64);
    let fetch_bytes = sum(&after, "ringbroker_fetch_bytes_total", &[]);
    assert!(
        fetch_bytes >= produce_bytes,
        "fetched {fetch_bytes} < {produce_bytes}"
    );
    let accepted = |text: &str| sum(text, "ringbroker_connections_accepted_total", &[]);
    assert!(
        accepted(&after) >= accepted(&before) + 2.0,
        "producer and consumer connected"
    );
    let partition = [&format!("topic=\"{TOPIC}\"")[..], "partition=\"0\""];
    let end = sum(&after, "ringbroker_partition_log_end_offset", &partition);
    assert_eq!(end, produced, "log end offset counts every record written");
    assert!(sum(&after, "ringbroker_partition_size_bytes", &partition) > 0.0);
    let group = [
        &format!("group=\"{GROUP}\"")[..],
        partition[0],
        partition[1],
    ];
    let committed = sum(&after, "ringbroker_group_committed_offset", &group);
    assert_eq!(committed, COMMITTED as f64, "{after}");
    let lag = sum(&after, "ringbroker_group_lag", &group);
    assert_eq!(lag, end - COMMITTED as f64);

    let (status, _) = get(metrics, "/other");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}
