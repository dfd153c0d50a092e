//! AlterConfigs (key 33, the legacy replace-all form) against the real broker: librdkafka's
//! `rd_kafka_AlterConfigs` through the `rdkafka` AdminClient, and raw frames through our codec
//! for every version and each per-resource error Kafka answers. What a change did is read back
//! with DescribeConfigs, and once through a produce the new `max.message.bytes` refuses.
//!
//! Each test starts its own broker (2 shards) on loopback.
mod common;

use common::{admin, block};

use common::{Broker, RawClient};
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use ringbroker::protocol::messages::alter_configs::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResponse, AlterableConfig,
};
use ringbroker::protocol::messages::describe_cluster::{
    DescribeClusterRequest, DescribeClusterResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(TIMEOUT))
}

/// librdkafka's AlterConfigs of one resource. The `rdkafka` crate (0.39) reports every resource
/// as `Ok`: it never reads `rd_kafka_ConfigResource_error`, so per-resource refusals are checked
/// here by their effect (nothing changed) and their codes by the raw-frame tests below.
fn alter(
    admin: &AdminClient<DefaultClientContext>,
    resource: ResourceSpecifier<'_>,
    entries: &[(&str, &str)],
    validate_only: bool,
) {
    let change = entries
        .iter()
        .fold(AlterConfig::new(resource), |change, (name, value)| {
            change.set(name, value)
        });
    let options = options().validate_only(validate_only);
    let results = block(admin.alter_configs([&change], &options)).expect("alter_configs");
    assert_eq!(results.len(), 1);
    assert!(results[0].is_ok(), "{results:?}");
}

/// (value, source) of each named config of a resource, via librdkafka's DescribeConfigs.
fn described(
    admin: &AdminClient<DefaultClientContext>,
    resource: ResourceSpecifier<'_>,
    names: &[&str],
) -> Vec<(String, &'static str)> {
    let results = block(admin.describe_configs([&resource], &options())).unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    names
        .iter()
        .map(|name| {
            let entry = resource
                .entries
                .iter()
                .find(|entry| entry.name == *name)
                .unwrap_or_else(|| panic!("{name} not described"));
            let source = match entry.source {
                ConfigSource::DynamicTopic => "topic",
                ConfigSource::DynamicDefaultBroker => "broker-default",
                ConfigSource::Default => "default",
                _ => "other",
            };
            (entry.value.clone().unwrap_or_default(), source)
        })
        .collect()
}

fn pairs(expected: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    expected
        .iter()
        .map(|(value, source)| ((*value).to_owned(), *source))
        .collect()
}

fn node_id(client: &mut RawClient) -> i32 {
    client.send(1, 3, &DescribeClusterRequest::default());
    let (_, cluster) = client.receive::<DescribeClusterResponse>(1);
    cluster.brokers[0].broker_id
}

const NAMES: [&str; 4] = [
    "segment.bytes",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
];

#[test]
fn librdkafka_sets_and_replaces_topic_configs() {
    let broker = Broker::start();
    let admin = admin(&broker);
    let topic =
        NewTopic::new("legacy", 1, TopicReplication::Fixed(1)).set("segment.bytes", "65536");
    assert!(block(admin.create_topics([&topic], &options())).unwrap()[0].is_ok());
    let legacy = || ResourceSpecifier::Topic("legacy");

    // Set: the named configs become overrides; segment.bytes, not named, goes back to default.
    let set = [
        ("retention.ms", "86400000"),
        ("max.message.bytes", "2000000"),
    ];
    alter(&admin, legacy(), &set, false);
    let after_set = pairs(&[
        ("1073741824", "default"),
        ("86400000", "topic"),
        ("-1", "default"),
        ("2000000", "topic"),
    ]);
    assert_eq!(described(&admin, legacy(), &NAMES), after_set);

    // Replace: only retention.bytes now; the two earlier overrides return to their defaults.
    alter(&admin, legacy(), &[("retention.bytes", "1048576")], false);
    let after_replace = pairs(&[
        ("1073741824", "default"),
        ("604800000", "default"),
        ("1048576", "topic"),
        ("1048588", "default"),
    ]);
    assert_eq!(described(&admin, legacy(), &NAMES), after_replace);

    // validate_only: accepted, nothing changes.
    let valid = [("retention.ms", "5"), ("segment.bytes", "8192")];
    alter(&admin, legacy(), &valid, true);
    assert_eq!(described(&admin, legacy(), &NAMES), after_replace);

    // Refused (codes: see `every_version_answers_per_resource`): an unknown config, bad values,
    // compaction; each leaves every config as it was, validate_only or not.
    let refusals: [&[(&str, &str)]; 4] = [
        &[("no.such.config", "1"), ("retention.ms", "1")],
        &[("retention.ms", "soon")],
        &[("segment.bytes", "12")],
        &[("cleanup.policy", "compact"), ("retention.ms", "1")],
    ];
    for entries in refusals {
        alter(&admin, legacy(), entries, false);
        alter(&admin, legacy(), entries, true);
        assert_eq!(
            described(&admin, legacy(), &NAMES),
            after_replace,
            "{entries:?}"
        );
    }
}

#[test]
fn librdkafka_replaces_broker_defaults() {
    let broker = Broker::start();
    let mut client = broker.client();
    let node = node_id(&mut client);
    let admin = admin(&broker);
    let topic = NewTopic::new("inherits", 1, TopicReplication::Fixed(1));
    assert!(block(admin.create_topics([&topic], &options())).unwrap()[0].is_ok());
    let inherits = || ResourceSpecifier::Topic("inherits");
    let names = ["retention.ms", "segment.bytes"];

    let set = [("log.retention.ms", "1000"), ("log.segment.bytes", "65536")];
    alter(&admin, ResourceSpecifier::Broker(node), &set, false);
    let expected = pairs(&[("1000", "broker-default"), ("65536", "broker-default")]);
    assert_eq!(described(&admin, inherits(), &names), expected);

    // Replace-all on the broker: log.segment.bytes, not named again, returns to its default.
    alter(
        &admin,
        ResourceSpecifier::Broker(node),
        &[("log.retention.ms", "2000")],
        false,
    );
    let expected = pairs(&[("2000", "broker-default"), ("1073741824", "default")]);
    assert_eq!(described(&admin, inherits(), &names), expected);

    // A read-only broker config, or a topic config's own name on the broker: nothing changes.
    let refused = [("listeners", "x"), ("retention.ms", "1")];
    for entry in refused {
        let entries = [entry, ("log.retention.ms", "3000")];
        alter(&admin, ResourceSpecifier::Broker(node), &entries, false);
        assert_eq!(described(&admin, inherits(), &names), expected, "{entry:?}");
    }
    let request = AlterConfigsRequest {
        resources: vec![
            resource(4, &node.to_string(), &[("listeners", Some("x"))]),
            resource(4, "", &[("retention.ms", Some("1"))]),
        ],
        validate_only: false,
    };
    assert_eq!(
        raw_alter(&mut client, 2, &request),
        [ErrorCode::InvalidRequest, ErrorCode::InvalidConfig]
    );
}

/// The typed config reaches the partition: a batch over the new `max.message.bytes` is refused
/// with MESSAGE_TOO_LARGE, and the replace that drops the override lifts the limit again.
#[test]
fn a_replaced_limit_takes_effect_on_produce() {
    let broker = Broker::start();
    let admin = admin(&broker);
    let topic = NewTopic::new("limited", 1, TopicReplication::Fixed(1));
    assert!(block(admin.create_topics([&topic], &options())).unwrap()[0].is_ok());
    let limited = || ResourceSpecifier::Topic("limited");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .set("message.timeout.ms", "20000")
        .set("compression.type", "none")
        .create()
        .expect("producer");
    let payload = vec![b'x'; 4000];
    let send = || {
        let record = FutureRecord::<(), _>::to("limited")
            .payload(&payload)
            .partition(0);
        block(producer.send(record, TIMEOUT))
            .map(drop)
            .map_err(|(error, _)| error)
    };
    assert!(send().is_ok(), "default limit admits 4000 bytes");
    alter(&admin, limited(), &[("max.message.bytes", "1000")], false);
    match send() {
        Err(KafkaError::MessageProduction(code)) => {
            assert_eq!(code, RDKafkaErrorCode::MessageSizeTooLarge);
        }
        other => panic!("expected MESSAGE_TOO_LARGE, got {other:?}"),
    }
    alter(&admin, limited(), &[], false);
    assert!(send().is_ok(), "the override is gone");
}

fn resource(
    resource_type: i8,
    name: &str,
    configs: &[(&str, Option<&str>)],
) -> AlterConfigsResource {
    AlterConfigsResource {
        resource_type,
        resource_name: StrBytes::from(name),
        configs: configs
            .iter()
            .map(|(name, value)| AlterableConfig {
                name: StrBytes::from(*name),
                value: value.map(StrBytes::from),
            })
            .collect(),
    }
}

fn raw_alter(
    client: &mut RawClient,
    version: i16,
    request: &AlterConfigsRequest,
) -> Vec<ErrorCode> {
    client.send(version, 11, request);
    let (correlation_id, response) = client.receive::<AlterConfigsResponse>(version);
    assert_eq!(correlation_id, 11);
    assert_eq!(response.responses.len(), request.resources.len());
    for (answer, asked) in response.responses.iter().zip(&request.resources) {
        assert_eq!(answer.resource_type, asked.resource_type);
        assert_eq!(answer.resource_name, asked.resource_name);
        assert_eq!(
            answer.error_message.is_some(),
            answer.error_code != ErrorCode::None,
            "a message exactly with an error: {answer:?}"
        );
    }
    response
        .responses
        .iter()
        .map(|answer| answer.error_code)
        .collect()
}

/// Every version, one request with a resource per kind of answer: each gets its own code, and
/// only the valid ones change anything.
#[test]
fn every_version_answers_per_resource() {
    let broker = Broker::start();
    let mut client = broker.client();
    let node = node_id(&mut client).to_string();
    let admin = admin(&broker);
    let names = ["raw0", "raw1", "raw2", "bad1", "bad2", "bad3", "bad4"];
    let topics = names.map(|name| NewTopic::new(name, 1, TopicReplication::Fixed(1)));
    let created = block(admin.create_topics(&topics, &options())).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    for version in 0..=2_i16 {
        let topic = format!("raw{version}");
        let retention = format!("{}", 1000 + i32::from(version));
        let request = AlterConfigsRequest {
            resources: vec![
                resource(2, &topic, &[("retention.ms", Some(&retention))]),
                resource(2, "missing", &[("retention.ms", Some("1"))]),
                resource(2, "bad1", &[("retention.msx", Some("1"))]),
                resource(2, "bad2", &[("retention.ms", None)]),
                resource(
                    2,
                    "bad3",
                    &[("retention.ms", Some("1")), ("retention.ms", Some("2"))],
                ),
                resource(2, "bad4", &[("segment.bytes", Some("-1"))]),
                resource(4, "99", &[]),
                resource(4, &node, &[("log.dirs", Some("/tmp"))]),
                resource(8, "x", &[]),
            ],
            validate_only: false,
        };
        let expected = [
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidConfig,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidConfig,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidRequest,
        ];
        assert_eq!(
            raw_alter(&mut client, version, &request),
            expected,
            "v{version}"
        );
        let names = ["retention.ms"];
        let resource = ResourceSpecifier::Topic(&topic);
        assert_eq!(
            described(&admin, resource, &names),
            pairs(&[(retention.as_str(), "topic")]),
            "v{version}"
        );
    }

    for bad in ["bad1", "bad2", "bad3", "bad4"] {
        let names = ["retention.ms", "segment.bytes"];
        let expected = pairs(&[("604800000", "default"), ("1073741824", "default")]);
        assert_eq!(
            described(&admin, ResourceSpecifier::Topic(bad), &names),
            expected,
            "{bad}"
        );
    }

    validate_only_and_repeated_resources(&mut client, &admin);
}

/// validate_only gives the same answers and applies nothing; a resource named twice is refused
/// in both copies. Topic raw0 has retention.ms=1000; bad1 and bad2 exist.
fn validate_only_and_repeated_resources(
    client: &mut RawClient,
    admin: &AdminClient<DefaultClientContext>,
) {
    let request = AlterConfigsRequest {
        resources: vec![
            resource(2, "raw0", &[("retention.ms", Some("9"))]),
            resource(2, "bad1", &[("retention.ms", Some("-2"))]),
            resource(2, "bad2", &[("no.such.config", Some("1"))]),
        ],
        validate_only: true,
    };
    let expected = [
        ErrorCode::None,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidConfig,
    ];
    assert_eq!(raw_alter(client, 1, &request), expected);
    let names = ["retention.ms"];
    assert_eq!(
        described(admin, ResourceSpecifier::Topic("raw0"), &names),
        pairs(&[("1000", "topic")])
    );

    // A resource named twice: both copies refused, neither applied.
    let twice = resource(2, "raw0", &[("retention.ms", Some("7"))]);
    let request = AlterConfigsRequest {
        resources: vec![twice.clone(), twice],
        validate_only: false,
    };
    assert_eq!(
        raw_alter(client, 2, &request),
        [ErrorCode::InvalidRequest, ErrorCode::InvalidRequest]
    );
    let names = ["retention.ms"];
    assert_eq!(
        described(admin, ResourceSpecifier::Topic("raw0"), &names),
        pairs(&[("1000", "topic")])
    );
}
