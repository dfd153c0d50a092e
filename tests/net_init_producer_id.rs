//! InitProducerId over raw TCP against the real binary: fresh ids at every version, unique
//! across connections on different shards and across a graceful restart and a kill -9, epoch
//! bumps at v3+, and the error codes for a transactional id and a half-set id/epoch.
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
