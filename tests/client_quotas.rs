//! Client quotas end to end against the real broker binary: AlterClientQuotas and
//! DescribeClientQuotas (defaults, removal, validation, a restart, the CLI), the authorizer's
//! cluster permission, and enforcement — a producer over its `producer_byte_rate` answered with
//! `throttle_time_ms` and held near its quota while another client on the same broker is not;
//! request_percentage answered by an API other than Produce and Fetch (Metadata); and, in a
//! three-broker cluster, follower fetches exempt from a `<default>` quota that throttles a
//! consumer of the same data (KIP-124: inter-broker requests are not quota'd).
//!
//! Raw requests through the test helpers, with the client id each test names in the header.
mod common;

use bytes::BytesMut;
use ringbroker::protocol::header::RequestHeader;
use ringbroker::protocol::messages::alter_client_quotas::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, AlterQuotaEntity, AlterQuotaEntry,
    AlterQuotaOp,
};
use ringbroker::protocol::messages::describe_client_quotas::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, MATCH_DEFAULT, MATCH_EXACT,
    MATCH_SPECIFIED, QuotaFilterComponent,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use ringbroker::protocol::{ErrorCode, Message, StrBytes, frame};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ALTER_VERSION: i16 = 1;
const DESCRIBE_VERSION: i16 = 1;
const PRODUCE_VERSION: i16 = 9;

/// `[size][header][body]` with `client_id` in the header.
fn encode_as<M: Message>(client_id: &str, version: i16, correlation_id: i32, body: &M) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    let position = frame::start_frame(&mut buffer);
    let header = RequestHeader {
        api_key: M::API_KEY.as_i16(),
        api_version: version,
        correlation_id,
        client_id: Some(StrBytes::from(client_id)),
    };
    header.encode(&mut buffer, header.is_flexible());
    body.encode_body(&mut buffer, version);
    frame::finish_frame(&mut buffer, position, 0);
    buffer.to_vec()
}

fn entity(components: &[(&str, Option<&str>)]) -> Vec<AlterQuotaEntity> {
    components
        .iter()
        .map(|(entity_type, name)| AlterQuotaEntity {
            entity_type: StrBytes::from(*entity_type),
            entity_name: name.map(StrBytes::from),
        })
        .collect()
}

fn set(key: &str, value: f64) -> AlterQuotaOp {
    AlterQuotaOp {
        key: StrBytes::from(key),
        value,
        remove: false,
    }
}

fn remove(key: &str) -> AlterQuotaOp {
    AlterQuotaOp {
        key: StrBytes::from(key),
        value: 0.0,
        remove: true,
    }
}

fn alter(
    client: &mut common::RawClient,
    entries: Vec<AlterQuotaEntry>,
    validate_only: bool,
) -> Vec<ErrorCode> {
    let request = AlterClientQuotasRequest {
        entries,
        validate_only,
    };
    client.send(ALTER_VERSION, 1, &request);
    let (_, response) = client.receive::<AlterClientQuotasResponse>(ALTER_VERSION);
    response
        .entries
        .iter()
        .map(|entry| entry.error_code)
        .collect()
}

/// Every entity the filter matches, as "user=..,client-id=.." → {key: value}.
type Described = BTreeMap<String, BTreeMap<String, f64>>;

fn describe(
    client: &mut common::RawClient,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> Result<Described, ErrorCode> {
    let request = DescribeClientQuotasRequest {
        components: components
            .iter()
            .map(|(entity_type, match_type, name)| QuotaFilterComponent {
                entity_type: StrBytes::from(*entity_type),
                match_type: *match_type,
                r#match: name.map(StrBytes::from),
            })
            .collect(),
        strict,
    };
    client.send(DESCRIBE_VERSION, 2, &request);
    let (_, response) = client.receive::<DescribeClientQuotasResponse>(DESCRIBE_VERSION);
    if response.error_code != ErrorCode::None {
        assert!(response.entries.is_none());
        return Err(response.error_code);
    }
    let mut described = Described::new();
    for entry in response.entries.unwrap() {
        let name: Vec<String> = entry
            .entity
            .iter()
            .map(|c| {
                let name = c.entity_name.as_deref().unwrap_or("<default>");
                format!("{}={name}", c.entity_type)
            })
            .collect();
        let values = entry
            .values
            .iter()
            .map(|value| (value.key.to_string(), value.value))
            .collect();
        described.insert(name.join(","), values);
    }
    Ok(described)
}

fn keys(described: &Described) -> Vec<&str> {
    described.keys().map(String::as_str).collect()
}

/// Sets four entities' quotas (named, defaults, both) in one request with three invalid
/// entries, each refused on its own.
fn alter_the_sample_quotas(client: &mut common::RawClient) {
    let alice = entity(&[("user", Some("alice"))]);
    let entries = vec![
        AlterQuotaEntry {
            entity: alice,
            ops: vec![
                set("producer_byte_rate", 1024.0),
                set("request_percentage", 25.5),
            ],
        },
        AlterQuotaEntry {
            entity: entity(&[("user", None)]),
            ops: vec![set("consumer_byte_rate", 2048.0)],
        },
        AlterQuotaEntry {
            entity: entity(&[("user", Some("alice")), ("client-id", None)]),
            ops: vec![set("controller_mutation_rate", 5.0)],
        },
        AlterQuotaEntry {
            entity: entity(&[("client-id", None)]),
            ops: vec![set("producer_byte_rate", 4096.0)],
        },
        // Refused one by one, without failing the others.
        AlterQuotaEntry {
            entity: entity(&[("user", Some("bob"))]),
            ops: vec![set("bytes_per_fortnight", 1.0)],
        },
        AlterQuotaEntry {
            entity: entity(&[("user", Some("bob"))]),
            ops: vec![set("producer_byte_rate", -1.0)],
        },
        AlterQuotaEntry {
            entity: entity(&[("ip", Some("127.0.0.1"))]),
            ops: vec![set("producer_byte_rate", 1.0)],
        },
    ];
    let codes = alter(client, entries, false);
    let invalid = ErrorCode::InvalidRequest;
    let ok = ErrorCode::None;
    assert_eq!(codes, [ok, ok, ok, ok, invalid, invalid, invalid]);
    // validate_only checks and stores nothing.
    let probe = vec![AlterQuotaEntry {
        entity: entity(&[("client-id", Some("probe"))]),
        ops: vec![set("consumer_byte_rate", 1.0)],
    }];
    assert_eq!(alter(client, probe, true), [ok]);
}

#[test]
fn alter_and_describe_round_trip_with_defaults_removal_and_a_restart() {
    let mut broker = common::Broker::start();
    let mut client = broker.client();
    alter_the_sample_quotas(&mut client);
    let all = describe(&mut client, &[], false).unwrap();
    assert_eq!(
        keys(&all),
        [
            "client-id=<default>",
            "user=<default>",
            "user=alice",
            "user=alice,client-id=<default>"
        ]
    );
    assert_eq!(all["user=alice"]["producer_byte_rate"], 1024.0);
    assert_eq!(all["user=alice"]["request_percentage"], 25.5);
    let exact = describe(&mut client, &[("user", MATCH_EXACT, Some("alice"))], true).unwrap();
    assert_eq!(keys(&exact), ["user=alice"]);
    let loose = describe(&mut client, &[("user", MATCH_EXACT, Some("alice"))], false).unwrap();
    assert_eq!(
        keys(&loose),
        ["user=alice", "user=alice,client-id=<default>"]
    );
    let defaults = describe(&mut client, &[("user", MATCH_DEFAULT, None)], false).unwrap();
    assert_eq!(keys(&defaults), ["user=<default>"]);
    let clients = describe(&mut client, &[("client-id", MATCH_SPECIFIED, None)], true).unwrap();
    assert_eq!(keys(&clients), ["client-id=<default>"]);
    let bad = describe(&mut client, &[("user", MATCH_EXACT, None)], false);
    assert_eq!(bad, Err(ErrorCode::InvalidRequest));

    // Removing one key keeps the entity's others; removing the last forgets the entity.
    let removal = vec![
        AlterQuotaEntry {
            entity: entity(&[("user", Some("alice"))]),
            ops: vec![remove("producer_byte_rate")],
        },
        AlterQuotaEntry {
            entity: entity(&[("client-id", None)]),
            ops: vec![remove("producer_byte_rate")],
        },
    ];
    assert_eq!(alter(&mut client, removal, false), [ErrorCode::None; 2]);
    let after = describe(&mut client, &[], false).unwrap();
    assert_eq!(
        keys(&after),
        [
            "user=<default>",
            "user=alice",
            "user=alice,client-id=<default>"
        ]
    );
    assert_eq!(
        after["user=alice"].keys().collect::<Vec<_>>(),
        ["request_percentage"]
    );

    // The quotas are in the metadata log: a restarted broker has them.
    drop(client);
    broker.restart();
    let mut client = broker.client();
    assert_eq!(describe(&mut client, &[], false).unwrap(), after);
}

#[test]
fn the_quota_cli_alters_and_describes() {
    let broker = common::Broker::start();
    let bootstrap = broker.address.to_string();
    let b = bootstrap.as_str();
    let altered = common::cli(&[
        "quota",
        "alter",
        "--bootstrap",
        b,
        "--user",
        "U",
        "--client-id",
        "C",
        "--add",
        "producer_byte_rate=1048576,consumer_byte_rate=2097152",
    ]);
    assert!(
        altered.starts_with("altered: quotas of user=U,client-id=C"),
        "{altered}"
    );
    common::cli(&[
        "quota",
        "alter",
        "--bootstrap",
        b,
        "--client-defaults",
        "--add",
        "request_percentage=50",
    ]);
    let described = common::cli(&["quota", "describe", "--bootstrap", b]);
    let lines: Vec<&str> = described.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{described}");
    assert!(
        described.contains("user=U,client-id=C") && described.contains("1048576"),
        "{described}"
    );
    assert!(described.contains("client-id=<default>"), "{described}");
    common::cli(&[
        "quota",
        "alter",
        "--bootstrap",
        b,
        "--client-defaults",
        "--delete",
        "request_percentage",
    ]);
    let described = common::cli(&["quota", "describe", "--bootstrap", b, "--user", "U"]);
    assert_eq!(described.lines().count(), 3, "{described}");
    assert!(!described.contains("<default>"), "{described}");
}

#[test]
fn the_quota_apis_need_the_cluster_config_permissions() {
    let broker = common::Broker::start_with(common::BrokerOptions {
        extra_args: vec!["--authorizer".to_owned()],
        ..common::BrokerOptions::default()
    });
    let mut client = broker.client();
    let entries = vec![AlterQuotaEntry {
        entity: entity(&[("user", Some("alice"))]),
        ops: vec![set("producer_byte_rate", 1.0)],
    }];
    assert_eq!(
        alter(&mut client, entries, false),
        [ErrorCode::ClusterAuthorizationFailed]
    );
    assert_eq!(
        describe(&mut client, &[], false),
        Err(ErrorCode::ClusterAuthorizationFailed)
    );
}

fn batch(size: usize) -> bytes::Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    let value = vec![b'q'; size];
    builder
        .append(&NewRecord {
            timestamp: common::now_ms(),
            key: None,
            value: Some(&value),
            headers: &[],
        })
        .unwrap();
    builder.finish().unwrap();
    output.freeze()
}

/// What a run of sequential Produce requests achieved.
struct Run {
    bytes_per_second: f64,
    throttled_responses: usize,
    throttle_ms_max: i32,
}

/// Produces `record_size`-byte records as `client_id`, one request at a time, until `duration`
/// has passed; every request must succeed.
fn produce_for(address: std::net::SocketAddr, client_id: &str, duration: Duration) -> Run {
    const RECORD_SIZE: usize = 4096;
    let mut client = common::RawClient::connect(address);
    let request = ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from("quota-topic"),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch(RECORD_SIZE)),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let frame = encode_as(client_id, PRODUCE_VERSION, 1, &request);
    let started = Instant::now();
    let (mut sent, mut throttled_responses, mut throttle_ms_max) = (0_usize, 0, 0);
    // Bounded by `duration` (each request's wait is bounded by the throttle cap, 11 s).
    while started.elapsed() < duration {
        client.send_raw(&frame).unwrap();
        let (_, response) = client.receive::<ProduceResponse>(PRODUCE_VERSION);
        let code = response.responses[0].partition_responses[0].error_code;
        assert_eq!(code, ErrorCode::None);
        sent += frame.len();
        if response.throttle_time_ms > 0 {
            throttled_responses += 1;
            throttle_ms_max = throttle_ms_max.max(response.throttle_time_ms);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let bytes_per_second = sent as f64 / started.elapsed().as_secs_f64();
    Run {
        bytes_per_second,
        throttled_responses,
        throttle_ms_max,
    }
}

/// A producer with `producer_byte_rate` = 20 KB/s: its responses carry throttle_time_ms and
/// the connection is muted, so over 8 s it achieves ≤ 3× the quota (Kafka's window lets a new
/// client burst ~10 s worth of quota first: (10 + 8) / 8 ≈ 2.25×). Another client id on the
/// same broker shard is not throttled and, over the same 8 s, moves more per second than the
/// throttled one.
#[test]
fn a_producer_over_its_byte_rate_is_throttled_and_another_client_is_not() {
    const QUOTA: f64 = 20_000.0;
    // One shard: both clients' connections are on the shard whose quota windows count them.
    let broker = common::Broker::start_with(common::BrokerOptions {
        shards: 1,
        ..common::BrokerOptions::default()
    });
    let mut admin = broker.client();
    let entries = vec![AlterQuotaEntry {
        entity: entity(&[("client-id", Some("slow"))]),
        ops: vec![set("producer_byte_rate", QUOTA)],
    }];
    assert_eq!(alter(&mut admin, entries, false), [ErrorCode::None]);

    let slow = produce_for(broker.address, "slow", Duration::from_secs(8));
    assert!(slow.throttled_responses > 0, "never throttled");
    assert!(
        slow.throttle_ms_max <= 11_000,
        "throttle {}",
        slow.throttle_ms_max
    );
    assert!(
        slow.bytes_per_second <= 3.0 * QUOTA,
        "throttled producer achieved {:.0} B/s, quota {QUOTA}",
        slow.bytes_per_second
    );
    let fast = produce_for(broker.address, "fast", Duration::from_secs(8));
    eprintln!(
        "quota {QUOTA} B/s: throttled {:.0} B/s ({} throttled responses, max {} ms), \
         unthrottled {:.0} B/s",
        slow.bytes_per_second,
        slow.throttled_responses,
        slow.throttle_ms_max,
        fast.bytes_per_second
    );
    assert_eq!(fast.throttled_responses, 0);
    // Relative, not a speed: the machine may be loaded, but a client that is never muted
    // moves more per second than one muted for seconds at a time.
    assert!(
        fast.bytes_per_second > slow.bytes_per_second,
        "unthrottled producer achieved only {:.0} B/s, the throttled one {:.0} B/s",
        fast.bytes_per_second,
        slow.bytes_per_second
    );
}

/// A consumer with `consumer_byte_rate` = 10 KB/s fetching 64 KiB responses: past the window's
/// ~100 KB allowance its Fetch responses carry throttle_time_ms (written into the response
/// after the bytes are counted) and the connection is muted for it.
#[test]
fn a_consumer_over_its_byte_rate_gets_throttled_fetches() {
    use ringbroker::protocol::messages::fetch::{
        FetchPartition, FetchRequest, FetchResponse, FetchTopic,
    };
    const FETCH_VERSION: i16 = 12;
    let broker = common::Broker::start_with(common::BrokerOptions {
        shards: 1,
        ..common::BrokerOptions::default()
    });
    // Records to read (well over the 64 KiB each fetch asks for), by an unthrottled client.
    let written = produce_for(broker.address, "writer", Duration::from_millis(1500));
    assert!(written.bytes_per_second > 0.0);
    let mut admin = broker.client();
    let entries = vec![AlterQuotaEntry {
        entity: entity(&[("client-id", Some("reader"))]),
        ops: vec![set("consumer_byte_rate", 10_000.0)],
    }];
    assert_eq!(alter(&mut admin, entries, false), [ErrorCode::None]);
    let mut client = common::RawClient::connect(broker.address);
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 64 * 1024,
        topics: vec![FetchTopic {
            topic: StrBytes::from("quota-topic"),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 64 * 1024,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    let frame = encode_as("reader", FETCH_VERSION, 1, &request);
    let mut throttles = Vec::new();
    // Three fetches of the same 64 KiB: the first fits the window's ~100 KB allowance, the
    // second overshoots it (throttle ≈ 2.8 s), the third waits that out (well under the
    // client's 10 s read timeout).
    for _ in 0..3 {
        client.send_raw(&frame).unwrap();
        let (_, response) = client.receive::<FetchResponse>(FETCH_VERSION);
        assert_eq!(response.error_code, ErrorCode::None);
        let partition = &response.responses[0].partitions[0];
        assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()));
        throttles.push(response.throttle_time_ms);
    }
    assert_eq!(throttles[0], 0, "{throttles:?}");
    assert!(
        throttles.iter().any(|&ms| ms > 0),
        "never throttled: {throttles:?}"
    );
    assert!(throttles.iter().all(|&ms| ms <= 11_000), "{throttles:?}");
}

/// The sum of the metrics listener's `family` samples for `client_id` (every shard).
fn scraped(metrics: std::net::SocketAddr, family: &str, client_id: &str) -> u64 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(metrics).unwrap();
    stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let label = format!("client_id=\"{client_id}\"");
    response
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.contains(family) && line.contains(&label))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(_, value)| value.parse::<u64>().unwrap())
        .sum()
}

/// A one-shard broker started with `extra_args` where `client_id` has request_percentage
/// 0.001 (0.1 ms of handler time per 10 s window): one shard, so that all its connections
/// are counted by the same windows.
fn broker_with_a_tiny_request_share(client_id: &str, extra_args: Vec<String>) -> common::Broker {
    let broker = common::Broker::start_with(common::BrokerOptions {
        shards: 1,
        extra_args,
        ..common::BrokerOptions::default()
    });
    let mut admin = broker.client();
    let entries = vec![AlterQuotaEntry {
        entity: entity(&[("client-id", Some(client_id))]),
        ops: vec![set("request_percentage", 0.001)],
    }];
    assert_eq!(alter(&mut admin, entries, false), [ErrorCode::None]);
    broker
}

/// request_percentage (KIP-124): a client id given a tiny share of the shard's time
/// (0.001 %, i.e. 0.1 ms of handler time per 10 s window) sends Produce requests one at a
/// time; once its recorded handler time is over the share, its responses carry
/// throttle_time_ms > 0, never more than one sample (1 s, Kafka's cap for request quotas,
/// where a byte rate's may reach 11 s), and the throttle metrics count it. Another client id
/// on the same shard, without a quota, is never throttled and never counted.
#[test]
fn a_client_over_its_request_percentage_is_throttled_and_another_is_not() {
    const REQUESTS_MAX: usize = 40;
    const THROTTLED_WANTED: usize = 3;
    let metrics = common::free_address();
    let metrics_args = vec!["--metrics-listen".to_owned(), metrics.to_string()];
    let broker = broker_with_a_tiny_request_share("busy", metrics_args);
    let request = ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from("share-topic"),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch(64)),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let throttles = |client_id: &str, count: usize, stop_after: usize| -> Vec<i32> {
        let mut client = common::RawClient::connect(broker.address);
        let frame = encode_as(client_id, PRODUCE_VERSION, 1, &request);
        let mut seen = Vec::new();
        // Bounded by `count`; each wait is at most the 1 s mute.
        for _ in 0..count {
            client.send_raw(&frame).unwrap();
            let (_, response) = client.receive::<ProduceResponse>(PRODUCE_VERSION);
            let code = response.responses[0].partition_responses[0].error_code;
            assert_eq!(code, ErrorCode::None);
            seen.push(response.throttle_time_ms);
            if seen.iter().filter(|&&ms| ms > 0).count() >= stop_after {
                break;
            }
        }
        seen
    };
    let busy = throttles("busy", REQUESTS_MAX, THROTTLED_WANTED);
    let throttled: Vec<i32> = busy.iter().copied().filter(|&ms| ms > 0).collect();
    assert_eq!(throttled.len(), THROTTLED_WANTED, "{busy:?}");
    let cap = i32::try_from(ringbroker::limits::QUOTA_REQUEST_THROTTLE_TIME_MS_MAX).unwrap();
    assert!(busy.iter().all(|&ms| (0..=cap).contains(&ms)), "{busy:?}");
    let idle = throttles("idle", 10, usize::MAX);
    assert_eq!(idle, [0; 10]);

    // The accounting: every throttled response was counted for `busy` (the connection's mute,
    // counted after the handler ran, is at least what the response said), none for `idle`.
    let counted = scraped(metrics, "client_throttled_responses", "busy");
    let counted_ms = scraped(metrics, "client_throttle_time_ms", "busy");
    let said_ms: u64 = throttled.iter().map(|&ms| u64::try_from(ms).unwrap()).sum();
    assert!(counted >= THROTTLED_WANTED as u64, "counted {counted}");
    assert!(
        counted_ms >= said_ms,
        "counted {counted_ms} ms, said {said_ms} ms"
    );
    let cap_ms = u64::try_from(cap).unwrap();
    assert!(
        counted_ms <= counted * cap_ms,
        "{counted_ms} ms over {counted}"
    );
    assert_eq!(scraped(metrics, "client_throttled_responses", "idle"), 0);
}

/// Every response whose version has throttle_time_ms answers the request quota, not only
/// Produce and Fetch (Kafka's `sendResponseMaybeThrottle`): Metadata v12 requests of a client
/// id with 0.001 % of the shard come back with throttle_time_ms > 0 (at most the 1 s cap)
/// once its handler time is over the share; another client id's stay at 0.
#[test]
fn metadata_answers_the_request_percentage_throttle() {
    use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
    const METADATA_VERSION: i16 = 12;
    const REQUESTS_MAX: usize = 40;
    let broker = broker_with_a_tiny_request_share("meta", Vec::new());
    let request = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    let throttles = |client_id: &str, stop_at_first: bool| -> Vec<i32> {
        let mut client = common::RawClient::connect(broker.address);
        let frame = encode_as(client_id, METADATA_VERSION, 1, &request);
        let mut seen = Vec::new();
        // Bounded by REQUESTS_MAX; each wait is at most the 1 s mute.
        for _ in 0..REQUESTS_MAX {
            client.send_raw(&frame).unwrap();
            let (_, response) = client.receive::<MetadataResponse>(METADATA_VERSION);
            seen.push(response.throttle_time_ms);
            if stop_at_first && response.throttle_time_ms > 0 {
                break;
            }
        }
        seen
    };
    let meta = throttles("meta", true);
    assert!(meta.iter().any(|&ms| ms > 0), "never throttled: {meta:?}");
    let cap = i32::try_from(ringbroker::limits::QUOTA_REQUEST_THROTTLE_TIME_MS_MAX).unwrap();
    assert!(meta.iter().all(|&ms| (0..=cap).contains(&ms)), "{meta:?}");
    let other = throttles("other", false);
    assert!(other.iter().all(|&ms| ms == 0), "{other:?}");
}

/// A `<default>` client-id quota with tiny byte rates and request share applies to every
/// client without its own, the brokers' replica fetchers included by name; their fetches are
/// inter-broker (CLUSTER_ACTION) and exempt, as in Kafka, so replication does not slow down:
/// acks=all Produce requests with min.insync.replicas = 3 (every follower must fetch each
/// batch) succeed within their 5 s timeout and the ISR stays whole. Throttled follower
/// fetches would be muted for up to 11 s (64 KiB at 1000 B/s) and fail both. A plain consumer
/// of the same data under the same default quota is throttled.
#[test]
fn follower_fetches_are_exempt_from_a_default_quota_that_throttles_a_consumer() {
    use common::cluster::{CONVERGE, Cluster};
    const ROUNDS: usize = 5;
    let cluster = Cluster::start(3);
    cluster.create_topic("exempt", 1, 3, &[("min.insync.replicas", "3")]);
    let states = cluster
        .wait_isr_full("exempt", CONVERGE)
        .expect("ISR never whole");
    let leader = cluster.broker(states[0].leader).address;
    set_default_quotas_everywhere(&cluster, leader);

    let mut writer = common::RawClient::connect(leader);
    for round in 0..ROUNDS {
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 5000,
            topic_data: vec![TopicProduceData {
                name: StrBytes::from("exempt"),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch(64 * 1024)),
                }],
                ..TopicProduceData::default()
            }],
            ..ProduceRequest::default()
        };
        writer
            .send_raw(&encode_as("writer", PRODUCE_VERSION, 1, &request))
            .unwrap();
        let (_, response) = writer.receive::<ProduceResponse>(PRODUCE_VERSION);
        let code = response.responses[0].partition_responses[0].error_code;
        assert_eq!(
            code,
            ErrorCode::None,
            "acks=all round {round}:\n{}",
            cluster.views("exempt")
        );
    }
    let states = cluster.partitions("exempt").expect("partition states");
    assert!(states[0].isr_is_full(), "{}", cluster.views("exempt"));
    let high_watermark = cluster.high_watermark(states[0].leader, "exempt", 0);
    assert_eq!(high_watermark, Some(i64::try_from(ROUNDS).unwrap()));

    // A consumer of the same records, under the same default quota, is throttled.
    let throttle_ms = consume_as_reader(leader, "exempt");
    assert!(throttle_ms > 0, "the consumer was not throttled");
}

/// `<default>` client-id quotas with tiny byte rates and request share, and generous ones for
/// the client id "writer", set through `address` and awaited on every broker of `cluster`.
fn set_default_quotas_everywhere(cluster: &common::cluster::Cluster, address: SocketAddr) {
    let mut admin = common::RawClient::connect(address);
    let default_client = entity(&[("client-id", None)]);
    let entries = vec![
        AlterQuotaEntry {
            entity: default_client,
            ops: vec![
                set("consumer_byte_rate", 1000.0),
                set("producer_byte_rate", 1000.0),
                set("request_percentage", 0.001),
            ],
        },
        // The test's writer has its own quotas, so that only replication is under test.
        AlterQuotaEntry {
            entity: entity(&[("client-id", Some("writer"))]),
            ops: vec![
                set("producer_byte_rate", 1e12),
                set("request_percentage", 1e6),
            ],
        },
    ];
    assert_eq!(alter(&mut admin, entries, false), [ErrorCode::None; 2]);
    // Every broker enforces the quotas before the writes (the metadata log carries them).
    let everywhere = common::eventually(common::cluster::CONVERGE, || {
        cluster.ids().all(|id| {
            let mut client = cluster.broker(id).client();
            describe(&mut client, &[("client-id", MATCH_DEFAULT, None)], false)
                .is_ok_and(|described| described.contains_key("client-id=<default>"))
        })
    });
    assert!(everywhere, "the default quota did not reach every broker");
}

/// One Fetch v12 of `topic` partition 0 from offset 0 as client id "reader" at `leader`;
/// returns the response's throttle_time_ms (the records must be there).
fn consume_as_reader(leader: SocketAddr, topic: &str) -> i32 {
    use ringbroker::protocol::messages::fetch::FetchResponse;
    const FETCH_VERSION: i16 = 12;
    let mut consumer = common::RawClient::connect(leader);
    let request = common::fetch_partition_zero(topic, -1);
    consumer
        .send_raw(&encode_as("reader", FETCH_VERSION, 1, &request))
        .unwrap();
    let (_, response) = consumer.receive::<FetchResponse>(FETCH_VERSION);
    assert_eq!(response.error_code, ErrorCode::None);
    let partition = &response.responses[0].partitions[0];
    assert!(
        partition
            .records
            .as_ref()
            .is_some_and(|r| r.len() > 64 * 1024)
    );
    response.throttle_time_ms
}
