//! What today's clients send, against the real broker: librdkafka 2.12.1 (bundled by the
//! `rdkafka` crate) through its AdminClient and a consumer. Captured bytes of clients the suite
//! cannot run (librdkafka 2.16, kafka-python, aiokafka, kafkajs) are replayed in
//! `regression.rs` and the codec's unit tests instead.
//!
//! Each test starts its own broker (2 shards) on loopback.
mod common;

use common::{admin, block};

use common::Broker;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);
const TOPICS: [&str; 3] = ["compat-a", "compat-b", "compat-c"];

fn create_topics(admin: &AdminClient<DefaultClientContext>) {
    let topics: Vec<NewTopic> = TOPICS
        .iter()
        .map(|name| NewTopic::new(name, 3, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let results = block(admin.create_topics(&topics, &options)).expect("create_topics");
    for result in results {
        assert!(result.is_ok(), "{result:?}");
    }
}

/// The created topics with their partition counts, sorted by name. `__consumer_offsets` is left
/// out: a consumer with a group id looks up its coordinator in the background, which creates
/// that internal topic at a moment the test does not control (Kafka lists it too, as internal).
fn listed(metadata: &Metadata) -> Vec<(String, usize)> {
    let mut topics: Vec<(String, usize)> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.name() != "__consumer_offsets")
        .map(|topic| {
            assert!(
                topic.error().is_none(),
                "{}: {:?}",
                topic.name(),
                topic.error()
            );
            (topic.name().to_owned(), topic.partitions().len())
        })
        .collect();
    topics.sort();
    topics
}

fn expected() -> Vec<(String, usize)> {
    TOPICS.iter().map(|name| ((*name).to_owned(), 3)).collect()
}

/// issue 14: librdkafka's all-topics Metadata (v12 with a 4-byte count, see `regression.rs`)
/// failed with a transport error; through the AdminClient's client it lists every topic.
#[test]
fn admin_client_lists_all_topics() {
    let broker = Broker::start();
    let admin = admin(&broker);
    create_topics(&admin);
    let metadata = admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .expect("all-topics metadata");
    assert_eq!(listed(&metadata), expected());
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(
        metadata.brokers()[0].port(),
        i32::from(broker.address.port())
    );
}

/// The same through a consumer (`rd_kafka_metadata` for all topics, as librdkafka's own test
/// programs call it), after the topics were created by another client.
#[test]
fn consumer_lists_all_topics() {
    let broker = Broker::start();
    create_topics(&admin(&broker));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .set("group.id", "compat-metadata")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .expect("all-topics metadata");
    assert_eq!(listed(&metadata), expected());
    // One topic by name still works, and asks for that topic only.
    let one = consumer
        .fetch_metadata(Some("compat-b"), TIMEOUT)
        .expect("one-topic metadata");
    assert_eq!(listed(&one), vec![("compat-b".to_owned(), 3)]);
}
