//! Fetch in both `fetch_mode`s: spliced responses are byte-exact against what was produced (raw
//! client, non-flexible and flexible versions, several partitions per response, 1 MiB batches
//! and many small ones), librdkafka consumes them, a slow reader still gets them byte-exact
//! (the send waits for POLLOUT when the socket's queue is full), uncached pages go through the
//! io_uring path, and a leased range survives retention deleting its segment.
mod common;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::net::splice::SplicePipe;
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::primitives::StrBytes;
use ringbroker::protocol::record_batch::BatchSplitter;
use ringbroker::storage::LeasedRange;
use ringbroker::storage::lease_ranges;
use ringbroker::storage::testing::build_batch_sized;
use ringbroker::storage::{Clock, LogConfig, ManualClock, PartitionLog};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "spliced";
const LARGE_PAYLOAD: usize = 1024 * 1024 - 100;
const LARGE_COUNT: usize = 3;
const SMALL_COUNT: usize = 300;

fn start(mode: &str) -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        config_toml: Some(format!(
            "fetch_mode = \"{mode}\"\nauto_create_partitions = 3\n"
        )),
        ..common::BrokerOptions::default()
    })
}

fn produce(client: &mut common::RawClient, partition: i32, records: Bytes) {
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from_static(TOPIC),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    client.send(9, 1, &request);
    let (_, response) = client.receive::<ProduceResponse>(9);
    let result = &response.responses[0].partition_responses[0];
    assert_eq!(
        result.error_code,
        ErrorCode::None,
        "{:?}",
        result.error_message
    );
}

/// What each partition was sent: partition 0 large batches, 1 nothing, 2 small batches.
fn produce_all(client: &mut common::RawClient) -> [Vec<Bytes>; 3] {
    let mut large = Vec::new();
    for seed in 0..LARGE_COUNT as u64 {
        let batch = build_batch_sized(1, common::now_ms(), LARGE_PAYLOAD, seed + 1).freeze();
        produce(client, 0, batch.clone());
        large.push(batch);
    }
    let small: Vec<Bytes> = (0..SMALL_COUNT as u64)
        .map(|seed| {
            build_batch_sized(2, common::now_ms(), 40 + (seed as usize % 70), seed + 100).freeze()
        })
        .collect();
    // All small batches in one request: one records blob of many batches.
    produce(client, 2, small.concat().into());
    [large, Vec::new(), small]
}

/// A Fetch from offset 0 of `partitions` of the topic.
fn fetch_request(partitions: std::ops::Range<i32>, partition_max_bytes: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 64 << 20,
        topics: vec![FetchTopic {
            topic: StrBytes::from_static(TOPIC),
            partitions: partitions
                .map(|partition| FetchPartition {
                    partition,
                    fetch_offset: 0,
                    partition_max_bytes,
                    ..FetchPartition::default()
                })
                .collect(),
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    }
}

fn fetch(client: &mut common::RawClient, version: i16, partition_max_bytes: i32) -> FetchResponse {
    client.send(version, 7, &fetch_request(0..3, partition_max_bytes));
    let (correlation_id, response) = client.receive::<FetchResponse>(version);
    assert_eq!(correlation_id, 7);
    response
}

/// Every batch of `records` equals the one sent, except the base offset and leader epoch the
/// log assigned (bytes 0..8 and 12..16; the CRC covers neither).
fn assert_batches(records: &Bytes, sent: &[Bytes], version: i16, partition: usize) {
    let mut splitter = BatchSplitter::new(records.clone());
    let received: Vec<Bytes> = splitter.by_ref().collect();
    assert!(
        splitter.remainder().is_empty(),
        "v{version} p{partition}: partial batch"
    );
    assert_eq!(
        received.len(),
        sent.len(),
        "v{version} p{partition}: batch count"
    );
    let mut next_offset = 0i64;
    for (index, (got, want)) in received.iter().zip(sent).enumerate() {
        assert_eq!(
            got.len(),
            want.len(),
            "v{version} p{partition} batch {index}"
        );
        assert_eq!(got[8..12], want[8..12]);
        assert!(
            got[16..] == want[16..],
            "v{version} p{partition} batch {index} differs"
        );
        let base_offset = i64::from_be_bytes(got[..8].try_into().unwrap());
        assert_eq!(base_offset, next_offset);
        next_offset += i64::from(i32::from_be_bytes(want[57..61].try_into().unwrap()));
    }
}

fn raw_round_trip(mode: &str) {
    let broker = start(mode);
    let mut client = broker.client();
    let sent = produce_all(&mut client);
    let pipes_before = pipe_count(&broker);
    // v4 and v11: i32 lengths; v12: compact lengths and tagged fields.
    for version in [4, 11, 12] {
        let response = fetch(&mut client, version, 8 << 20);
        assert_eq!(response.responses.len(), 1);
        let partitions = &response.responses[0].partitions;
        assert_eq!(partitions.len(), 3);
        for (index, data) in partitions.iter().enumerate() {
            assert_eq!(data.error_code, ErrorCode::None, "v{version} p{index}");
            assert_eq!(data.partition_index, i32::try_from(index).unwrap());
            let records = data.records.clone().unwrap();
            assert_batches(&records, &sent[index], version, index);
        }
        // KIP-74: a partition limit below one batch still returns the first batch whole.
        let response = fetch(&mut client, version, 1000);
        let partitions = &response.responses[0].partitions;
        let first = partitions[0].records.clone().unwrap();
        assert_batches(&first, &sent[0][..1], version, 0);
        let small = partitions[2].records.clone().unwrap();
        assert!(
            !small.is_empty() && small.len() <= 1000,
            "{} bytes",
            small.len()
        );
    }
    // The connection is still in step after the spliced responses.
    let response = fetch(&mut client, 12, 1 << 20);
    assert_eq!(response.responses[0].partitions.len(), 3);
    // Splice mode sent through one pipe (two fds) for the connection, copy mode through none.
    let expected = pipes_before + 2 * usize::from(mode == "splice");
    assert_eq!(pipe_count(&broker), expected, "{mode}: pipes of the broker");
}

/// Pipes the broker process holds open.
fn pipe_count(broker: &common::Broker) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", broker.pid()))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[test]
fn splice_mode_is_byte_exact() {
    raw_round_trip("splice");
}

#[test]
fn copy_mode_is_byte_exact() {
    raw_round_trip("copy");
}

/// librdkafka: ~1 MiB batches (8 records of 120 KiB lingered together) and many small records.
fn rdkafka_round_trip(mode: &str) {
    let broker = start(mode);
    let bootstrap = broker.address.to_string();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let large: Vec<Vec<u8>> = (0..16u8).map(|seed| vec![seed; 120 * 1024]).collect();
    let small: Vec<String> = (0..5_000).map(|index| format!("small-{index}")).collect();
    let values: Vec<&[u8]> = large
        .iter()
        .map(Vec::as_slice)
        .chain(small.iter().map(String::as_bytes))
        .collect();
    for value in &values {
        let mut record = BaseRecord::<(), [u8]>::to(TOPIC)
            .payload(*value)
            .partition(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err((error, returned)) = producer.send(record) {
            assert!(Instant::now() < deadline, "queue stayed full: {error}");
            record = returned;
            producer.poll(Duration::from_millis(10));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0usize;
    while next < values.len() {
        assert!(
            Instant::now() < deadline,
            "only {next} of {} consumed",
            values.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume error");
        assert_eq!(message.offset(), i64::try_from(next).unwrap());
        assert!(
            message.payload() == Some(values[next]),
            "record {next} differs"
        );
        next += 1;
    }
}

#[test]
fn rdkafka_consumes_spliced_batches() {
    rdkafka_round_trip("splice");
}

#[test]
fn rdkafka_consumes_copied_batches() {
    rdkafka_round_trip("copy");
}

/// A fetch resolved before retention deletes its segment still sends the segment's bytes: the
/// duplicated fd is the lease.
#[compio::test]
async fn a_leased_range_outlives_retention() {
    let directory = tempfile::tempdir().unwrap();
    let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(1_000));
    let config = LogConfig {
        segment_bytes: 3000,
        ..LogConfig::default()
    };
    let path = directory.path().join("t-0");
    let mut log = PartitionLog::open(path.clone(), config, clock)
        .await
        .unwrap();
    let batches: Vec<Bytes> = (0..3u64)
        .map(|seed| build_batch_sized(1, 1_000, 2000, seed).freeze())
        .collect();
    for batch in &batches {
        log.append(vec![batch.as_ref().into()], 0).await.unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    let slice = log.read(0, 1000, true).await.unwrap();
    let leased = lease_ranges(&slice).unwrap();
    drop(slice);
    assert_eq!(leased.len(), 1);
    let first_segment = path.join("00000000000000000000.log");
    assert!(first_segment.exists());
    log.delete_records_before(1).await.unwrap();
    log.enforce_retention().await.unwrap();
    assert!(
        !first_segment.exists(),
        "retention deleted the first segment"
    );
    // Splice the leased range through a pipe into a loopback connection.
    let listener = compio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut received = vec![0u8; 2061];
        stream.read_exact(&mut received).unwrap();
        received
    });
    let (socket, _) = listener.accept().await.unwrap();
    let pipe = SplicePipe::new().unwrap();
    assert!(pipe.capacity() > 0);
    pipe.send(&socket, &leased[0], false).await.unwrap();
    let received = reader.join().unwrap();
    assert_eq!(received.len(), batches[0].len());
    assert!(received[16..] == batches[0][16..], "leased bytes differ");
}

/// A blocking client socket whose receive buffer is tiny, so the sender's queue fills up.
fn small_window_stream(address: SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&address.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads exactly `size` bytes in 16 KiB steps with a pause after each, like a slow consumer.
fn read_slowly(stream: &mut std::net::TcpStream, size: usize) -> Vec<u8> {
    let mut received = vec![0u8; size];
    for piece in received.chunks_mut(16 * 1024) {
        stream.read_exact(piece).unwrap();
        std::thread::sleep(Duration::from_micros(300));
    }
    received
}

/// A consumer that reads slowly through a 4 KiB receive window: two pipelined fetches of three
/// 1 MiB batches each arrive whole and byte-exact, and the connection stays in step.
#[test]
fn slow_reader_gets_spliced_batches_byte_exact() {
    let broker = start("splice");
    let mut client = broker.client();
    let sent = produce_all(&mut client);
    let stream = small_window_stream(broker.address);
    let mut slow = common::RawClient { stream };
    let request = fetch_request(0..1, 8 << 20);
    for correlation_id in [21, 22] {
        slow.send(12, correlation_id, &request);
    }
    for correlation_id in [21, 22] {
        let mut prefix = [0u8; 4];
        slow.stream.read_exact(&mut prefix).unwrap();
        let size = usize::try_from(i32::from_be_bytes(prefix)).unwrap();
        assert!(size > LARGE_COUNT * LARGE_PAYLOAD, "{size} bytes");
        let payload = read_slowly(&mut slow.stream, size);
        let (id, response) = common::decode_response::<FetchResponse>(payload.into(), 12);
        assert_eq!(id, correlation_id);
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, ErrorCode::None);
        assert_batches(data.records.as_ref().unwrap(), &sent[0], 12, 0);
    }
    let response = fetch(&mut slow, 12, 1 << 20);
    assert_eq!(response.responses[0].partitions.len(), 3);
}

/// A file of `size` bytes whose every byte depends on its position, synced to disk.
fn patterned_file(directory: &std::path::Path, size: usize) -> (std::fs::File, Vec<u8>) {
    let bytes: Vec<u8> = (0..size)
        .map(|index| (index * 7 + index / 4099) as u8)
        .collect();
    let path = directory.join("patterned");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();
    (std::fs::File::open(&path).unwrap(), bytes)
}

/// One spliced send of `range` into a loopback connection read slowly through a small window;
/// returns what arrived.
async fn send_to_slow_reader(pipe: &SplicePipe, range: &LeasedRange) -> Vec<u8> {
    let listener = compio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let size = usize::try_from(range.length).unwrap();
    let reader = std::thread::spawn(move || {
        let mut stream = small_window_stream(address);
        read_slowly(&mut stream, size)
    });
    let (socket, _) = listener.accept().await.unwrap();
    // A small send queue too, so it fills long before the range is sent.
    socket2::SockRef::from(&socket)
        .set_send_buffer_size(16 * 1024)
        .unwrap();
    pipe.send(&socket, range, false).await.unwrap();
    reader.join().unwrap()
}

/// The socket's full send queue makes the send wait for POLLOUT (not spin, not fail), cached
/// pages are spliced on the shard thread, and pages evicted from the cache take the io_uring
/// path; the bytes are exact either way.
#[compio::test]
async fn full_send_queue_and_uncached_pages_are_handled() {
    let directory = tempfile::tempdir().unwrap();
    let size = 3 * 1024 * 1024 + 12_345;
    let (file, bytes) = patterned_file(directory.path(), size);
    let file = Arc::new(OwnedFd::from(file));
    // An unaligned range of more than two pipe-fulls.
    let range = LeasedRange {
        file: Arc::clone(&file),
        position: 1001,
        length: u32::try_from(size - 2000).unwrap(),
    };
    let expected = &bytes[1001..size - 999];
    let pipe = SplicePipe::new().unwrap();
    // Warm the cache: the first read-back after writing may still be in flight.
    let received = send_to_slow_reader(&pipe, &range).await;
    assert!(received == expected, "cached send differs");
    let after_cached = pipe.stats();
    assert!(after_cached.writable_waits > 0, "{after_cached:?}");
    assert!(after_cached.fills_sync > 0, "{after_cached:?}");
    // Drop the file's clean pages: the next send must not splice them on the shard thread.
    // SAFETY: fadvise on an fd we own; it only drops clean page-cache pages of this file.
    let advised = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(advised, 0);
    let received = send_to_slow_reader(&pipe, &range).await;
    assert!(received == expected, "uncached send differs");
    let after_uncached = pipe.stats();
    assert!(
        after_uncached.fills_ring > after_cached.fills_ring,
        "{after_uncached:?}"
    );
}

/// A consumer that asks for ~10 MiB and stops reading holds the broker's write no longer than
/// the idle timeout (`connections_max_idle_ms`, 700 ms here): the connection closes mid-response
/// and the broker logs why, in both fetch modes. Without that bound the write would wait for
/// the peer forever, holding the connection and its fetch's segment leases.
#[test]
fn a_consumer_that_stops_reading_is_cut_off_after_the_idle_timeout() {
    const BATCHES: u64 = 10;
    for mode in ["splice", "copy"] {
        let broker = common::Broker::start_with(common::BrokerOptions {
            config_toml: Some(format!(
                "fetch_mode = \"{mode}\"\nauto_create_partitions = 3\n\
                 [limits]\nconnections_max_idle_ms = 700\n"
            )),
            ..common::BrokerOptions::default()
        });
        let mut client = broker.client();
        for seed in 0..BATCHES {
            let batch = build_batch_sized(1, common::now_ms(), LARGE_PAYLOAD, seed + 500).freeze();
            produce(&mut client, 1, batch);
        }
        let mut stalled = common::RawClient {
            stream: small_window_stream(broker.address),
        };
        stalled.send(12, 31, &fetch_request(1..2, 16 << 20));
        // Long past the idle timeout, without reading a byte.
        std::thread::sleep(Duration::from_millis(2_500));
        stalled
            .stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut received = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        let ended_by_peer = loop {
            match stalled.stream.read(&mut buffer) {
                Ok(0) => break true,
                Ok(count) => received += count,
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false, // read timeout: the broker is still holding on
            }
        };
        let full = BATCHES as usize * LARGE_PAYLOAD;
        assert!(
            ended_by_peer,
            "{mode}: connection still open after {received} bytes"
        );
        assert!(
            received < full,
            "{mode}: the whole response ({received} bytes) arrived"
        );
        assert!(
            common::eventually(Duration::from_secs(5), || broker
                .log()
                .contains("response not taken by the peer")),
            "{mode}: {}",
            broker.log()
        );
        // The broker itself is fine: a new connection is served.
        let response = fetch(&mut broker.client(), 12, 1 << 20);
        assert_eq!(response.responses[0].partitions.len(), 3);
    }
}
