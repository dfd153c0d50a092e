//! kill -9 during produce with acks=1: after a restart, every record the broker acknowledged is
//! readable at the offset it was acknowledged with (recovery truncates only unacknowledged torn
//! tails). Data reaches the page cache before the acknowledgement, and the page cache survives
//! the death of the process.
mod common;

use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITION_COUNT: i32 = 3;
const ACKED_BEFORE_KILL: usize = 20_000;
const SEND_MAX: usize = 200_000;

/// Acknowledged (partition, offset) → key.
type Acked = Arc<Mutex<BTreeMap<(i32, i64), Vec<u8>>>>;

struct Recorder {
    acked: Acked,
}

impl rdkafka::ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Ok(message) = result {
            let key = message.key().unwrap_or_default().to_vec();
            self.acked
                .lock()
                .unwrap()
                .insert((message.partition(), message.offset()), key);
        }
    }
}

#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn acknowledged_records_survive_kill_9() {
    let mut broker = common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--auto-create-partitions".into(),
            PARTITION_COUNT.to_string(),
        ],
        ..common::BrokerOptions::default()
    });
    let bootstrap = broker.address.to_string();
    let acked: Acked = Arc::default();
    let producer: ThreadedProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "1")
        .set("linger.ms", "1")
        .set("message.timeout.ms", "5000")
        .set("retries", "0")
        .create_with_context(Recorder {
            acked: Arc::clone(&acked),
        })
        .expect("producer");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0usize;
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(
            Instant::now() < deadline && sent < SEND_MAX,
            "too few acknowledgements"
        );
        let key = format!("key-{sent}");
        let partition = i32::try_from(sent % 3).unwrap();
        let record = BaseRecord::to("durable")
            .key(&key)
            .payload("value")
            .partition(partition);
        if producer.send(record).is_ok() {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Die while records are still in flight.
    broker.kill9();
    drop(producer);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    broker.start_again();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITION_COUNT {
        assignment
            .add_partition_offset("durable", partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut found = BTreeMap::new();
    let last_acked: BTreeMap<i32, i64> =
        acked
            .keys()
            .fold(BTreeMap::new(), |mut last, (partition, offset)| {
                let entry = last.entry(*partition).or_insert(*offset);
                *entry = (*entry).max(*offset);
                last
            });
    let mut reached: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last_acked
        .iter()
        .any(|(partition, last)| reached.get(partition).is_none_or(|r| r < last))
    {
        assert!(
            Instant::now() < deadline,
            "acknowledged records missing after restart"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        found.insert(
            (message.partition(), message.offset()),
            message.key().unwrap_or_default().to_vec(),
        );
        reached.insert(message.partition(), message.offset());
    }
    for (position, key) in &acked {
        assert_eq!(
            found.get(position),
            Some(key),
            "acknowledged record at {position:?}"
        );
    }
}
