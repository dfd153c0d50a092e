//! Large request frames on one raw connection: each is received into a buffer of its own
//! (pooled after the first rounds), whatever way its bytes arrive — back to back with the next
//! frame in one write, dribbled in small writes with pauses, or cut at odd places so the end of
//! one frame travels with the start of the next. Every response must come in order and every
//! batch must read back byte-exact (a reused buffer must never leak an older frame's bytes).
//!
//! Also: a peer announcing huge frames and sending a few bytes must not make the broker reserve
//! memory for the announced sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::Bytes;
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::primitives::StrBytes;
use ringbroker::protocol::record_batch::BatchSplitter;
use ringbroker::storage::testing::build_batch_sized;
use std::io::Write;
use std::time::Duration;

const TOPIC: &str = "large-frames";
const PARTITIONS: usize = 3;
const KIB: usize = 1024;

fn start() -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        config_toml: Some(format!("auto_create_partitions = {PARTITIONS}\n")),
        ..common::BrokerOptions::default()
    })
}

/// One Produce request: per partition, the batches (each its own payload size) to append.
struct Request {
    correlation_id: i32,
    batches: [Vec<Bytes>; PARTITIONS],
}

/// Request shapes, in bytes of payload per batch per partition: frames from just over one read
/// chunk to ~3 MiB, a small one between large ones, and several batches in one records blob.
fn shapes() -> Vec<[Vec<usize>; PARTITIONS]> {
    const MIB_BATCH: usize = 1024 * KIB - 200;
    vec![
        [vec![200 * KIB], vec![], vec![]],
        [vec![MIB_BATCH], vec![MIB_BATCH], vec![MIB_BATCH]],
        [vec![], vec![70 * KIB], vec![]],
        [vec![], vec![], vec![KIB]],
        [vec![900 * KIB, 900 * KIB], vec![], vec![]],
        [vec![300 * KIB], vec![600 * KIB], vec![MIB_BATCH]],
        [vec![64 * KIB - 200], vec![], vec![]],
    ]
}

fn build_requests(round: u64, next_correlation_id: &mut i32) -> Vec<Request> {
    shapes()
        .into_iter()
        .enumerate()
        .map(|(index, shape)| {
            let batches = shape.map(|sizes| {
                sizes
                    .into_iter()
                    .enumerate()
                    .map(|(batch, size)| {
                        let seed = round * 1000 + index as u64 * 10 + batch as u64 + 1;
                        build_batch_sized(3, common::now_ms(), size, seed).freeze()
                    })
                    .collect()
            });
            *next_correlation_id += 1;
            Request {
                correlation_id: *next_correlation_id,
                batches,
            }
        })
        .collect()
}

fn encode(request: &Request) -> Vec<u8> {
    let partition_data = request
        .batches
        .iter()
        .enumerate()
        .filter(|(_, batches)| !batches.is_empty())
        .map(|(partition, batches)| PartitionProduceData {
            index: i32::try_from(partition).unwrap(),
            records: Some(batches.concat().into()),
        })
        .collect();
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from_static(TOPIC),
            partition_data,
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    common::encode_request(9, request.correlation_id, &produce)
}

/// Writes `bytes` in pieces of `piece_size`, pausing `pause` after every `pieces_per_pause`.
fn write_in_pieces(
    client: &mut common::RawClient,
    bytes: &[u8],
    piece_size: usize,
    pieces_per_pause: usize,
    pause: Duration,
) {
    for (index, piece) in bytes.chunks(piece_size).enumerate() {
        client.stream.write_all(piece).unwrap();
        if (index + 1) % pieces_per_pause == 0 {
            std::thread::sleep(pause);
        }
    }
}

fn expect_responses(client: &mut common::RawClient, requests: &[Request]) {
    for request in requests {
        let (correlation_id, response) = client.receive::<ProduceResponse>(9);
        assert_eq!(correlation_id, request.correlation_id, "responses in order");
        let expected = request.batches.iter().filter(|b| !b.is_empty()).count();
        let results: Vec<_> = response
            .responses
            .iter()
            .flat_map(|topic| topic.partition_responses.iter())
            .collect();
        assert_eq!(results.len(), expected);
        for result in results {
            assert_eq!(result.error_code, ErrorCode::None, "{result:?}");
        }
    }
}

fn fetch_all(client: &mut common::RawClient) -> Vec<Bytes> {
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 60 << 20,
        topics: vec![FetchTopic {
            topic: StrBytes::from_static(TOPIC),
            partitions: (0..PARTITIONS)
                .map(|partition| FetchPartition {
                    partition: i32::try_from(partition).unwrap(),
                    fetch_offset: 0,
                    partition_max_bytes: 20 << 20,
                    ..FetchPartition::default()
                })
                .collect(),
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    client.send(12, 99_999, &request);
    let (correlation_id, response) = client.receive::<FetchResponse>(12);
    assert_eq!(correlation_id, 99_999);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions.len(), PARTITIONS);
    partitions
        .iter()
        .map(|data| {
            assert_eq!(data.error_code, ErrorCode::None, "{data:?}");
            data.records.clone().unwrap_or_default()
        })
        .collect()
}

/// Every batch read back equals the one sent, except the base offset and leader epoch the log
/// assigned (bytes 0..8 and 12..16; the CRC covers neither).
fn assert_batches(records: &Bytes, sent: &[Bytes], partition: usize) {
    let mut splitter = BatchSplitter::new(records.clone());
    let received: Vec<Bytes> = splitter.by_ref().collect();
    assert!(
        splitter.remainder().is_empty(),
        "p{partition}: partial batch"
    );
    assert_eq!(received.len(), sent.len(), "p{partition}: batch count");
    for (index, (got, want)) in received.iter().zip(sent).enumerate() {
        assert_eq!(got.len(), want.len(), "p{partition} batch {index}: size");
        assert!(
            got[8..12] == want[8..12] && got[16..] == want[16..],
            "p{partition} batch {index} differs"
        );
    }
}

#[test]
fn pipelined_large_frames_arrive_whole_in_order_and_byte_exact() {
    let broker = start();
    let mut client = broker.client();
    let mut correlation_id = 0;
    let mut sent: [Vec<Bytes>; PARTITIONS] = Default::default();
    // The topic exists before the pipelined rounds: a request waiting for auto-creation may be
    // overtaken by the ones behind it, which is not what this test is about.
    let create = Request {
        correlation_id: 0,
        batches: std::array::from_fn(|partition| {
            vec![build_batch_sized(1, common::now_ms(), 10, partition as u64).freeze()]
        }),
    };
    client.stream.write_all(&encode(&create)).unwrap();
    expect_responses(&mut client, std::slice::from_ref(&create));
    for (partition, batches) in create.batches.into_iter().enumerate() {
        sent[partition].extend(batches);
    }
    // Bounded: 3 ways of writing × 2 rounds each, so later rounds reuse pooled buffers.
    for round in 0..6u64 {
        let requests = build_requests(round, &mut correlation_id);
        let wire: Vec<Vec<u8>> = requests.iter().map(encode).collect();
        match round % 3 {
            // Back to back: every frame in one write.
            0 => client.stream.write_all(&wire.concat()).unwrap(),
            // Each frame dribbled in 8 KiB writes with pauses.
            1 => {
                for frame in &wire {
                    write_in_pieces(&mut client, frame, 8 * KIB, 32, Duration::from_millis(2));
                }
            }
            // Cut at odd places across frame boundaries: one write ends a frame and starts the
            // next.
            _ => write_in_pieces(
                &mut client,
                &wire.concat(),
                100_003,
                3,
                Duration::from_millis(5),
            ),
        }
        expect_responses(&mut client, &requests);
        for request in requests {
            for (partition, batches) in request.batches.into_iter().enumerate() {
                sent[partition].extend(batches);
            }
        }
    }
    let records = fetch_all(&mut client);
    for (partition, records) in records.iter().enumerate() {
        assert_batches(records, &sent[partition], partition);
    }
}

/// Virtual memory size of process `pid`, in KiB.
fn vm_size_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmSize:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn announced_sizes_do_not_reserve_memory() {
    const CONNECTIONS: usize = 16;
    const ANNOUNCED: usize = 90 << 20;
    let broker = start();
    // Warm up: a first connection and request, so lazily created state is already there.
    let mut probe = broker.client();
    let warm = build_requests(0, &mut 0);
    probe.stream.write_all(&encode(&warm[0])).unwrap();
    expect_responses(&mut probe, &warm[..1]);
    // Virtual size, not RSS: an allocation nobody writes to costs no resident pages, but it
    // does cost address space, which is what reserving for an announced size would show.
    let before = vm_size_kib(broker.pid());
    let mut hostile: Vec<common::RawClient> = (0..CONNECTIONS).map(|_| broker.client()).collect();
    for client in &mut hostile {
        let mut bytes = i32::try_from(ANNOUNCED).unwrap().to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 0]);
        client.send_raw(&bytes).unwrap();
    }
    // The broker has read what was sent once it still answers on another connection.
    std::thread::sleep(Duration::from_millis(300));
    let mut check = broker.client();
    let more = build_requests(1, &mut 100);
    check.stream.write_all(&encode(&more[3])).unwrap();
    expect_responses(&mut check, &more[3..4]);
    let after = vm_size_kib(broker.pid());
    let grown_mib = after.saturating_sub(before) / 1024;
    // Reserving the announced sizes would take 16 × 90 MiB = 1440 MiB; one growth step per
    // connection is ~16 MiB. Generous slack for allocator arenas and thread stacks.
    assert!(
        grown_mib < 400,
        "virtual size grew {grown_mib} MiB ({before} → {after} KiB)"
    );
    drop(hostile);
}
