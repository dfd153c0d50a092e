//! librdkafka (via the `rdkafka` crate) produces 100,000 records with keys, headers and
//! timestamps into 6 partitions for each codec × acks combination and consumes them back: every
//! record arrives exactly once per partition, in order, with its key, value, headers and
//! timestamp intact.
mod common;

use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const RECORD_COUNT: usize = 100_000;
const PARTITION_COUNT: i32 = 6;

/// Record timestamps start at the test's start time: older ones would fall outside the default
/// 7-day retention and be deleted, as Kafka would.
fn timestamp_base_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_millis()).unwrap()
}

fn produce(bootstrap: &str, topic: &str, codec: &str, acks: &str, base_ms: i64) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("compression.codec", codec)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.num.messages", "2000")
        .set("message.timeout.ms", "60000")
        .set("queue.buffering.max.messages", "200000")
        .create()
        .expect("producer");
    for index in 0..RECORD_COUNT {
        let key = format!("key-{index}");
        let value = format!("value-{index}-{}", "x".repeat(index % 50));
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "index",
                value: Some(index.to_string().as_bytes()),
            })
            .insert(Header {
                key: "dup",
                value: Some(&b"a"[..]),
            })
            .insert(Header {
                key: "dup",
                value: Some(&b"b"[..]),
            });
        let partition = i32::try_from(index % 6).unwrap();
        let timestamp = base_ms + i64::try_from(index).unwrap();
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(&value)
            .partition(partition)
            .timestamp(timestamp)
            .headers(headers);
        // Bounded retry when the local queue is full.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((error, returned)) => {
                    assert!(Instant::now() < deadline, "queue stayed full: {error}");
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
}

fn consume_and_check(bootstrap: &str, topic: &str, base_ms: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITION_COUNT {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let mut next_index = [0usize; 6];
    let mut received = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < RECORD_COUNT {
        assert!(
            Instant::now() < deadline,
            "only {received} of {RECORD_COUNT} consumed"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("consume error");
        let partition = usize::try_from(message.partition()).unwrap();
        let index = next_index[partition] * 6 + partition;
        assert_eq!(
            message.key(),
            Some(format!("key-{index}").as_bytes()),
            "partition {partition}"
        );
        let value = format!("value-{index}-{}", "x".repeat(index % 50));
        assert_eq!(message.payload(), Some(value.as_bytes()));
        assert_eq!(
            message.timestamp().to_millis(),
            Some(base_ms + i64::try_from(index).unwrap())
        );
        assert_eq!(
            message.offset(),
            i64::try_from(next_index[partition]).unwrap()
        );
        let headers = message.headers().expect("headers");
        assert_eq!(headers.count(), 3);
        assert_eq!(headers.get(0).value, Some(index.to_string().as_bytes()));
        assert_eq!(
            (headers.get(1).key, headers.get(1).value),
            ("dup", Some(&b"a"[..]))
        );
        assert_eq!(
            (headers.get(2).key, headers.get(2).value),
            ("dup", Some(&b"b"[..]))
        );
        next_index[partition] += 1;
        received += 1;
    }
    assert!(
        consumer.poll(Duration::from_millis(300)).is_none(),
        "extra records after the end"
    );
}

fn round_trip(codec: &str, acks: &str) {
    // Auto-creation with 6 partitions: librdkafka's first Metadata request creates the topic.
    let broker = common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--auto-create-partitions".into(),
            PARTITION_COUNT.to_string(),
        ],
        ..common::BrokerOptions::default()
    });
    let bootstrap = broker.address.to_string();
    let topic = format!("t-{codec}-{}", acks.replace('-', "m"));
    let base_ms = timestamp_base_ms();
    produce(&bootstrap, &topic, codec, acks, base_ms);
    consume_and_check(&bootstrap, &topic, base_ms);
}

macro_rules! codec_acks_tests {
    ($($name:ident: $codec:literal, $acks:literal;)*) => {$(
        #[test]
        fn $name() {
            round_trip($codec, $acks);
        }
    )*};
}

codec_acks_tests! {
    none_acks_0: "none", "0";
    none_acks_1: "none", "1";
    none_acks_all: "none", "-1";
    gzip_acks_0: "gzip", "0";
    gzip_acks_1: "gzip", "1";
    gzip_acks_all: "gzip", "-1";
    snappy_acks_0: "snappy", "0";
    snappy_acks_1: "snappy", "1";
    snappy_acks_all: "snappy", "-1";
    lz4_acks_0: "lz4", "0";
    lz4_acks_1: "lz4", "1";
    lz4_acks_all: "lz4", "-1";
    zstd_acks_0: "zstd", "0";
    zstd_acks_1: "zstd", "1";
    zstd_acks_all: "zstd", "-1";
}
