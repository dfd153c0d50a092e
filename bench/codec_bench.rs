//! codec-bench: microbenchmark of the sans-IO Kafka codec (`ringbroker::protocol`).
//!
//! Measures, single-threaded on whatever core the OS picks (no shard, no runtime):
//! - request header decode (Produce v9 header, client id "rdkafka");
//! - Produce v9 body decode carrying one 1 MiB RecordBatch v2, and asserts that the decoded
//!   `records` is a slice of the frame buffer (pointer comparison: no record byte copied);
//! - Fetch v15 body decode (a consumer fetching 1 topic × 16 partitions);
//! - Metadata v12 body decode (3 topics by name).
//!
//! Every request is built with our own encoder and split off a receive buffer with
//! `frame::split_frame`, as the connection loop does. Each benchmark runs `RUNS` timed runs of at
//! least `RUN_TIME_MIN` each after one warm-up run; the report is the median run's ns/op and
//! ops/s. Run in release: `cargo run --release --bin codec-bench`. Results go to
//! bench/RESULTS.md ("codec" section).
use anyhow::{Context, Result, bail, ensure};
use bytes::{BufMut, Bytes, BytesMut};
use ringbroker::protocol::frame::{finish_frame, split_frame, start_frame};
use ringbroker::protocol::header::RequestHeader;
use ringbroker::protocol::messages::fetch::{FetchPartition, FetchRequest, FetchTopic};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataRequestTopic};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use ringbroker::protocol::record_batch::{self, HEADER_SIZE};
use ringbroker::protocol::{ApiKey, Message, Reader, Uuid, versions};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Timed runs per benchmark; the median is reported.
const RUNS: usize = 7;
/// Minimum wall time of one run, so timer resolution is noise.
const RUN_TIME_MIN: Duration = Duration::from_millis(200);
/// Size of the Produce request's record batch.
const BATCH_SIZE: usize = 1 << 20;
/// Upper bound on iterations per run, so a run always ends even if the clock misbehaves.
const ITERATIONS_MAX: u64 = 1 << 32;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 15;
const METADATA_VERSION: i16 = 12;

fn main() -> Result<()> {
    let produce = request_frame(ApiKey::Produce, PRODUCE_VERSION, &produce_request()?)?;
    check_records_borrowed(&produce)?;
    let fetch = request_frame(ApiKey::Fetch, FETCH_VERSION, &fetch_request())?;
    let metadata = request_frame(ApiKey::Metadata, METADATA_VERSION, &metadata_request())?;

    println!("codec-bench: {RUNS} runs of >= {RUN_TIME_MIN:?} each, median reported");
    println!("| operation | input bytes | ns/op | ops/s |");
    println!("|---|---:|---:|---:|");
    let header_size = produce.len() - body_of(&produce)?.1.len();
    report("request header decode (Produce v9)", header_size, || {
        header_decode(&produce)
    })?;
    let body = body_of(&produce)?;
    report("Produce v9 body, 1 MiB batch", body.1.len(), || {
        body_decode::<ProduceRequest>(&body)
    })?;
    let body = body_of(&fetch)?;
    report(
        "Fetch v15 body, 1 topic x 16 partitions",
        body.1.len(),
        || body_decode::<FetchRequest>(&body),
    )?;
    let body = body_of(&metadata)?;
    report("Metadata v12 body, 3 topics", body.1.len(), || {
        body_decode::<MetadataRequest>(&body)
    })?;
    Ok(())
}

/// A RecordBatch v2 of exactly `BATCH_SIZE` bytes: a valid header (length, magic, CRC-32C,
/// one record) in front of opaque bytes. The codec never looks past the header.
fn record_batch() -> Result<Bytes> {
    let mut batch = BytesMut::with_capacity(BATCH_SIZE);
    batch.put_i64(0); // base_offset
    batch.put_i32(i32::try_from(BATCH_SIZE - record_batch::LOG_OVERHEAD)?); // batch_length
    batch.put_i32(-1); // partition_leader_epoch
    batch.put_i8(record_batch::MAGIC_V2);
    batch.put_u32(0); // crc, patched below
    batch.put_i16(0); // attributes: no compression, create time
    batch.put_i32(0); // last_offset_delta
    batch.put_i64(1_700_000_000_000); // base_timestamp
    batch.put_i64(1_700_000_000_000); // max_timestamp
    batch.put_i64(-1); // producer_id
    batch.put_i16(-1); // producer_epoch
    batch.put_i32(-1); // base_sequence
    batch.put_i32(1); // records count
    ensure!(
        batch.len() == HEADER_SIZE,
        "header is {} bytes",
        batch.len()
    );
    batch.put_bytes(0x5a, BATCH_SIZE - HEADER_SIZE);
    let crc = record_batch::compute_crc(&batch);
    batch[record_batch::CRC_OFFSET..record_batch::CRC_OFFSET + 4]
        .copy_from_slice(&crc.to_be_bytes());
    let header = record_batch::validate(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(header.records_count() == 1, "records count");
    Ok(batch.freeze())
}

fn produce_request() -> Result<ProduceRequest> {
    Ok(ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(record_batch()?),
            }],
            ..Default::default()
        }],
    })
}

fn fetch_request() -> FetchRequest {
    let partitions = (0..16)
        .map(|partition| FetchPartition {
            partition,
            current_leader_epoch: 3,
            fetch_offset: 1_000_000 + i64::from(partition),
            last_fetched_epoch: 3,
            log_start_offset: -1,
            partition_max_bytes: 1 << 20,
            ..Default::default()
        })
        .collect();
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 50 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic_id: Uuid([7; 16]),
            partitions,
            ..Default::default()
        }],
        rack_id: "".into(),
        ..Default::default()
    }
}

fn metadata_request() -> MetadataRequest {
    let topics = ["orders", "payments", "audit-log"]
        .into_iter()
        .map(|name| MetadataRequestTopic {
            topic_id: Uuid::ZERO,
            name: Some(name.into()),
        })
        .collect();
    MetadataRequest {
        topics: Some(topics),
        allow_auto_topic_creation: false,
        include_topic_authorized_operations: false,
        ..Default::default()
    }
}

/// `[size][header][body]` split off a receive buffer, as net/ hands frames to the decoder.
fn request_frame<M: Message>(key: ApiKey, version: i16, message: &M) -> Result<Bytes> {
    let mut buffer = BytesMut::new();
    let position = start_frame(&mut buffer);
    let header = RequestHeader {
        api_key: key.as_i16(),
        api_version: version,
        correlation_id: 42,
        client_id: Some("rdkafka".into()),
    };
    header.encode(&mut buffer, versions::is_flexible(key, version));
    message.encode_body(&mut buffer, version);
    finish_frame(&mut buffer, position, 0);
    let frame = split_frame(&mut buffer, usize::MAX)?.context("whole frame")?;
    Ok(frame.freeze())
}

/// Decodes the Produce frame once and checks that the records are a slice of the frame.
fn check_records_borrowed(frame: &Bytes) -> Result<()> {
    let mut reader = Reader::new(frame.clone());
    RequestHeader::decode(&mut reader)?;
    let request = ProduceRequest::decode_body(reader.rest(), PRODUCE_VERSION)?;
    let records = request
        .topic_data
        .first()
        .and_then(|topic| topic.partition_data.first())
        .and_then(|partition| partition.records.as_ref())
        .context("decoded request has no records")?;
    ensure!(
        records.len() == BATCH_SIZE,
        "records are {} bytes",
        records.len()
    );
    let frame_range = frame.as_ptr_range();
    let records_range = records.as_ptr_range();
    if records_range.start < frame_range.start || records_range.end > frame_range.end {
        bail!("records were copied: {records_range:?} is outside the frame {frame_range:?}");
    }
    println!(
        "zero-copy: decoded records ({} B) point into the frame buffer at offset {}",
        records.len(),
        records_range.start as usize - frame_range.start as usize
    );
    Ok(())
}

fn header_decode(frame: &Bytes) -> Result<()> {
    let mut reader = Reader::new(black_box(frame.clone()));
    black_box(RequestHeader::decode(&mut reader)?);
    Ok(())
}

/// The body of a request frame (everything after its header), decoded once up front so the
/// body benchmarks time the body alone.
fn body_of(frame: &Bytes) -> Result<(i16, Bytes)> {
    let mut reader = Reader::new(frame.clone());
    let header = RequestHeader::decode(&mut reader)?;
    Ok((header.api_version, reader.rest()))
}

fn body_decode<M: Message>((version, body): &(i16, Bytes)) -> Result<()> {
    black_box(M::decode_body(black_box(body.clone()), *version)?);
    Ok(())
}

/// Runs `operation` for `RUNS` timed runs and prints the median as a table row.
fn report(name: &str, input_size: usize, mut operation: impl FnMut() -> Result<()>) -> Result<()> {
    run(&mut operation)?; // warm-up: caches, branch predictors, page faults
    let mut per_op_ns: Vec<f64> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        per_op_ns.push(run(&mut operation)?);
    }
    per_op_ns.sort_by(f64::total_cmp);
    let median = per_op_ns[RUNS / 2];
    println!(
        "| {name} | {input_size} | {median:.1} | {:.0} |",
        1e9 / median
    );
    Ok(())
}

/// One timed run: iterations in doubling batches until `RUN_TIME_MIN` has passed; ns per op.
fn run(operation: &mut impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    let mut iterations: u64 = 0;
    let mut batch: u64 = 1;
    while start.elapsed() < RUN_TIME_MIN && iterations < ITERATIONS_MAX {
        for _ in 0..batch {
            operation()?;
        }
        iterations += batch;
        batch = (batch * 2).min(1 << 16);
    }
    #[allow(clippy::cast_precision_loss)] // iteration counts stay far below 2^52
    let per_op = start.elapsed().as_nanos() as f64 / iterations as f64;
    Ok(per_op)
}
