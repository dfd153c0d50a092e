//! InitProducerId over raw TCP against the real binary: fresh ids at every version, unique
//! across connections on different shards and across a graceful restart and a kill -9, epoch
//! bumps at v3+, the error codes for a transactional id and a half-set id/epoch, and
//! `producer_id_expiration_ms` forgetting an idle producer.
mod common;

use std::collections::HashSet;

use common::Broker;
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::init_producer_id::{
    InitProducerIdRequest, InitProducerIdResponse,
};

fn init(broker: &Broker, version: i16, request: &InitProducerIdRequest) -> InitProducerIdResponse {
    let mut client = broker.client();
    client.send(version, 7, request);
    let (correlation_id, response) = client.receive::<InitProducerIdResponse>(version);
    assert_eq!(correlation_id, 7);
    response
}

fn fresh(broker: &Broker, version: i16) -> (i64, i16) {
    let response = init(broker, version, &InitProducerIdRequest::default());
    assert_eq!(response.error_code, ErrorCode::None, "v{version}");
    (response.producer_id, response.producer_epoch)
}

#[test]
fn ids_are_unique_across_connections_and_restarts() {
    let mut broker = Broker::start();
    let mut seen = HashSet::new();
    // Several connections land on both shards; ids all come from shard 0's allocator.
    for round in 0..3 {
        for version in 0..=5i16 {
            let (producer_id, epoch) = fresh(&broker, version);
            assert_eq!(epoch, 0);
            assert!(producer_id >= 0);
            assert!(
                seen.insert(producer_id),
                "id {producer_id} twice (round {round})"
            );
        }
    }
    broker.restart();
    let after_restart = fresh(&broker, 4).0;
    assert!(
        seen.insert(after_restart),
        "reused {after_restart} after a restart"
    );
    broker.kill9();
    broker.start_again();
    let after_crash = fresh(&broker, 4).0;
    assert!(
        seen.insert(after_crash),
        "reused {after_crash} after kill -9"
    );
}

#[test]
fn v3_bumps_the_epoch_of_a_known_producer() {
    let broker = Broker::start();
    let (producer_id, epoch) = fresh(&broker, 3);
    let bump = InitProducerIdRequest {
        producer_id,
        producer_epoch: epoch,
        ..InitProducerIdRequest::default()
    };
    let response = init(&broker, 3, &bump);
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(
        (response.producer_id, response.producer_epoch),
        (producer_id, 1)
    );
    let half = InitProducerIdRequest {
        producer_id,
        producer_epoch: -1,
        ..InitProducerIdRequest::default()
    };
    assert_eq!(
        init(&broker, 5, &half).error_code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn a_transactional_id_is_refused_with_a_fatal_code() {
    let broker = Broker::start();
    let request = InitProducerIdRequest {
        transactional_id: Some("txn-1".into()),
        transaction_timeout_ms: 60_000,
        ..InitProducerIdRequest::default()
    };
    for version in [0i16, 2, 4] {
        let response = init(&broker, version, &request);
        assert_eq!(
            response.error_code,
            ErrorCode::TransactionalIdAuthorizationFailed,
            "v{version}"
        );
        assert_eq!(response.producer_id, -1);
    }
}

/// With `producer_id_expiration_ms = 300`, a retry within the window is a duplicate (answered
/// with the original offset, not written), and the same batch after the producer has been idle
/// past it is a new append: the partition forgot the producer, as Kafka does after
/// `producer.id.expiration.ms`. (With the default of a day the third send would be a
/// duplicate too.)
#[test]
fn an_idle_producer_is_forgotten_after_the_configured_expiration() {
    use ringbroker::protocol::messages::produce::{
        PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
    };
    use ringbroker::storage::testing::{ProducerFields, build_producer_batch};
    let broker = Broker::start_with(common::BrokerOptions {
        config_toml: Some("producer_id_expiration_ms = 300\n".to_owned()),
        ..common::BrokerOptions::default()
    });
    let (producer_id, epoch) = fresh(&broker, 4);
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let batch = build_producer_batch(
        ProducerFields {
            producer_id,
            epoch,
            base_sequence: 0,
        },
        1,
        now,
    )
    .freeze();
    let mut client = broker.client();
    let mut send = |correlation_id: i32| -> i64 {
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 5_000,
            topic_data: vec![TopicProduceData {
                name: "idle".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.clone()),
                }],
                ..TopicProduceData::default()
            }],
            ..ProduceRequest::default()
        };
        client.send(9, correlation_id, &request);
        let (_, response) = client.receive::<ProduceResponse>(9);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            partition.error_code,
            ErrorCode::None,
            "{:?}",
            partition.error_message
        );
        partition.base_offset
    };
    assert_eq!(send(1), 0);
    assert_eq!(send(2), 0, "a retry within the window is a duplicate");
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    assert_eq!(send(3), 1, "after the expiration the same batch is new");
}

/// A data dir of a single-node broker from before producer-id blocks: its `producer-ids` file
/// reserved ids below `reserved_end`. Blocks from the metadata log start above it, and an id
/// below it still counts as this node's (its epoch is bumped).
#[test]
fn ids_continue_above_the_old_files_reserved_end_after_an_upgrade() {
    let mut broker = Broker::start();
    broker.terminate();
    let file = broker.data_dir().join("producer-ids");
    std::fs::write(&file, "ringbroker-producer-ids 1\nreserved_end 50000\n").unwrap();
    broker.start_again();
    let (first, epoch) = fresh(&broker, 4);
    assert_eq!(
        (first, epoch),
        (50_000, 0),
        "the first block starts at the old end"
    );
    let known = InitProducerIdRequest {
        producer_id: 49_999,
        producer_epoch: 3,
        ..InitProducerIdRequest::default()
    };
    let bumped = init(&broker, 4, &known);
    assert_eq!(bumped.error_code, ErrorCode::None);
    assert_eq!((bumped.producer_id, bumped.producer_epoch), (49_999, 4));
    broker.restart();
    let after_restart = fresh(&broker, 4).0;
    assert!(after_restart > first, "{after_restart} after {first}");
}
