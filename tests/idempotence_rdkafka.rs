//! librdkafka with `enable.idempotence=true` and `acks=all` against the real binary, with a
//! failpoint between the append and the response: the client cannot know its batches were
//! written and retries them; the partition must hold every record exactly once, in order.
//! Once with the connection dropped, once with the broker process ending (a crash) and
//! restarted before the retry, so the producer state must come back from the log.
//!
//! Needs the `failpoints` feature: `cargo test --features failpoints --test idempotence_rdkafka`.
#![cfg(feature = "failpoints")]
mod common;

use std::time::{Duration, Instant};

use common::Broker;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::failpoints;

const RECORD_COUNT: usize = 2_000;

fn arm(broker: &Broker, name: &str) {
    let directory = failpoints::directory(&broker.data_dir());
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(directory.join(name), b"").unwrap();
}

fn fired(broker: &Broker, name: &str) -> bool {
    !failpoints::directory(&broker.data_dir())
        .join(name)
        .exists()
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Small batches so several requests are in flight when the failpoint hits.
        .set("batch.num.messages", "50")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "50")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer")
}

fn send_all(producer: &ThreadedProducer<DefaultProducerContext>, topic: &str) {
    for index in 0..RECORD_COUNT {
        let value = format!("value-{index}");
        let key = format!("key-{index}");
        let mut record = BaseRecord::to(topic).key(&key).payload(&value).partition(0);
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
}

/// Reads partition 0 from the start: every record once, in order, at consecutive offsets.
fn assert_exactly_once_in_order(bootstrap: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0usize;
    while next < RECORD_COUNT {
        assert!(
            Instant::now() < deadline,
            "only {next} of {RECORD_COUNT} consumed"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("consume error");
        assert_eq!(message.offset(), i64::try_from(next).unwrap());
        let value = format!("value-{next}");
        assert_eq!(
            message.payload(),
            Some(value.as_bytes()),
            "offset {next}: duplicated or reordered"
        );
        next += 1;
    }
    let extra = consumer.poll(Duration::from_millis(500));
    assert!(
        extra.is_none(),
        "a record past the last one: {:?}",
        extra.map(|m| m.map(|m| m.offset()))
    );
}

#[test]
fn a_dropped_response_is_retried_without_duplicates() {
    let broker = Broker::start();
    let bootstrap = broker.address.to_string();
    arm(&broker, failpoints::PRODUCE_DROP_AFTER_APPEND);
    let producer = producer(&bootstrap);
    send_all(&producer, "idempotent-drop");
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert!(
        fired(&broker, failpoints::PRODUCE_DROP_AFTER_APPEND),
        "the failpoint never fired"
    );
    assert_exactly_once_in_order(&bootstrap, "idempotent-drop");
}

#[test]
fn a_crash_between_append_and_response_is_retried_without_duplicates() {
    let mut broker = Broker::start();
    let bootstrap = broker.address.to_string();
    arm(&broker, failpoints::PRODUCE_EXIT_AFTER_APPEND);
    let producer = producer(&bootstrap);
    send_all(&producer, "idempotent-crash");
    let status = broker.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(failpoints::EXIT_STATUS),
        "{}",
        broker.log()
    );
    broker.start_again();
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert_exactly_once_in_order(&bootstrap, "idempotent-crash");
}
