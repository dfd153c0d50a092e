//! One consumer connection: ListOffsets to the earliest (or latest) offsets, then Fetch in a
//! loop over its partitions, walking every record (CRC checked, decompressed) as a Kafka
//! consumer does.
//!
//! Owns no group: partitions are assigned by ringbench itself (as kafka-consumer-perf-test's
//! rebalance time would be 0 with manual assignment). All consumers of a run share one record
//! counter and stop together when it reaches the target, so uneven partitions cannot leave a
//! consumer waiting for records that another already read. Runs on its own thread.
//!
//! End-to-end latency (the `e2e` mode): each record value starts with its generation time
//! (see `producer.rs`); the consumer subtracts it from the time the record was decoded.
use super::producer::{epoch_us, read_stamp};
use crate::report::Latency;
use anyhow::{Context, bail};
use ringbroker::client::connection::Connection;
use ringbroker::client::security::ClientSecurity;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter};
use ringbroker::protocol::records::Records;
use ringbroker::protocol::{ErrorCode, Uuid};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

/// Fetch v13 addresses topics by id instead of name.
const FETCH_TOPIC_ID_VERSION: i16 = 13;
/// ListOffsets timestamp meaning "earliest" (Kafka's `ListOffsetsRequest.EARLIEST_TIMESTAMP`).
const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp meaning "latest" (the log end offset).
const LATEST_TIMESTAMP: i64 = -1;
/// Broker-side long-poll bound of each Fetch (Kafka's `fetch.max.wait.ms` default).
const FETCH_MAX_WAIT_MS: i32 = 500;
/// A consumer that gets no record for this long stops (kafka-consumer-perf-test's `--timeout`
/// default), so reading a topic that holds fewer records than asked ends promptly.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one consumer connection does.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub address: String,
    pub client_id: String,
    pub topic: String,
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
    pub fetch_version: i16,
    pub list_offsets_version: i16,
    pub fetch_max_bytes: usize,
    pub partition_max_bytes: usize,
    /// Records all consumers of the run read together; `e2e` lowers it to the count produced
    /// once the producers finish.
    pub target: Arc<AtomicU64>,
    /// Start at the latest offsets instead of the earliest (`e2e` reads only new records).
    pub from_latest: bool,
    pub stop_at: Instant,
    /// Read the generation stamp of each record into the latency histogram.
    pub end_to_end: bool,
    pub security: ClientSecurity,
}

/// What one consumer connection measured.
#[derive(Debug, Clone, Default)]
pub struct ConsumerResult {
    pub records: u64,
    /// Key and value bytes.
    pub bytes: u64,
    pub wire_bytes: u64,
    pub fetches: u64,
    pub first_fetch: Option<Instant>,
    pub last_record: Option<Instant>,
    /// End-to-end latency (only with `end_to_end`).
    pub latency: Latency,
}

/// Reads from the earliest offsets until the shared counter reaches `records_max` or
/// `stop_at` passes.
///
/// # Errors
/// Connection or protocol failures, a partition error, or a corrupt batch.
pub fn run(
    config: &ConsumerConfig,
    consumed: &Arc<AtomicU64>,
    ready: Option<SyncSender<()>>,
) -> anyhow::Result<ConsumerResult> {
    assert!(
        !config.partitions.is_empty(),
        "a consumer serves partitions"
    );
    let mut connection =
        Connection::connect_with(&config.address, &config.client_id, &config.security)?;
    let mut offsets = start_offsets(&mut connection, config)?;
    if let Some(ready) = ready {
        // The receiver may have given up waiting; the run then ends by stop_at.
        let _ = ready.send(());
    }
    let mut result = ConsumerResult::default();
    let mut progress = Instant::now();
    // Bounded by stop_at and the idle timeout: each Fetch returns within max_wait_ms (or the
    // socket timeout).
    while consumed.load(Ordering::Relaxed) < config.target.load(Ordering::Relaxed)
        && Instant::now() < config.stop_at
        && progress.elapsed() < IDLE_TIMEOUT
    {
        let request = fetch_request(config, &offsets);
        result.first_fetch.get_or_insert_with(Instant::now);
        let response: FetchResponse = connection.call(config.fetch_version, &request)?;
        result.fetches += 1;
        if response.error_code != ErrorCode::None {
            bail!("Fetch failed: {}", response.error_code.name());
        }
        for topic in &response.responses {
            for partition in &topic.partitions {
                if partition.error_code != ErrorCode::None {
                    bail!(
                        "Fetch of partition {}: {}",
                        partition.partition_index,
                        partition.error_code.name()
                    );
                }
                let offset = offsets
                    .get_mut(&partition.partition_index)
                    .context("the broker answered for a partition not asked for")?;
                let records = partition.records.clone().unwrap_or_default();
                let count = consume_batches(records, offset, config.end_to_end, &mut result)?;
                if count > 0 {
                    consumed.fetch_add(count, Ordering::Relaxed);
                    progress = Instant::now();
                    result.last_record = Some(progress);
                }
            }
        }
    }
    result.wire_bytes = connection.bytes_read;
    Ok(result)
}

fn start_offsets(
    connection: &mut Connection,
    config: &ConsumerConfig,
) -> anyhow::Result<HashMap<i32, i64>> {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: config.topic.as_str().into(),
            partitions: config
                .partitions
                .iter()
                .map(|&partition_index| ListOffsetsPartition {
                    partition_index,
                    timestamp: if config.from_latest {
                        LATEST_TIMESTAMP
                    } else {
                        EARLIEST_TIMESTAMP
                    },
                    ..Default::default()
                })
                .collect(),
        }],
        timeout_ms: 30_000,
    };
    let response: ListOffsetsResponse = connection.call(config.list_offsets_version, &request)?;
    let mut offsets = HashMap::new();
    for topic in &response.topics {
        for partition in &topic.partitions {
            if partition.error_code != ErrorCode::None {
                bail!(
                    "ListOffsets of partition {}: {}",
                    partition.partition_index,
                    partition.error_code.name()
                );
            }
            offsets.insert(partition.partition_index, partition.offset.max(0));
        }
    }
    if offsets.len() != config.partitions.len() {
        bail!(
            "ListOffsets answered {} of {} partitions",
            offsets.len(),
            config.partitions.len()
        );
    }
    Ok(offsets)
}

fn fetch_request(config: &ConsumerConfig, offsets: &HashMap<i32, i64>) -> FetchRequest {
    let by_id = config.fetch_version >= FETCH_TOPIC_ID_VERSION;
    let partition_max_bytes = i32::try_from(config.partition_max_bytes).unwrap_or(i32::MAX);
    FetchRequest {
        max_wait_ms: FETCH_MAX_WAIT_MS,
        min_bytes: 1,
        max_bytes: i32::try_from(config.fetch_max_bytes).unwrap_or(i32::MAX),
        topics: vec![FetchTopic {
            topic: if by_id {
                "".into()
            } else {
                config.topic.as_str().into()
            },
            topic_id: config.topic_id,
            partitions: config
                .partitions
                .iter()
                .map(|partition| FetchPartition {
                    partition: *partition,
                    fetch_offset: offsets.get(partition).copied().unwrap_or(0),
                    partition_max_bytes,
                    ..Default::default()
                })
                .collect(),
        }],
        ..Default::default()
    }
}

/// Walks the whole batches in `records` (a trailing partial batch is normal in a Fetch answer),
/// counts the records at or past `offset`, and moves `offset` past the last batch. Returns the
/// records counted.
///
/// # Errors
/// A batch that fails its CRC or does not parse.
pub fn consume_batches(
    records: bytes::Bytes,
    offset: &mut i64,
    end_to_end: bool,
    result: &mut ConsumerResult,
) -> anyhow::Result<u64> {
    let mut count = 0u64;
    for batch in BatchSplitter::new(records) {
        let header = BatchHeader::parse(&batch)?;
        let next = header.last_offset().saturating_add(1);
        if header.is_control() || next <= *offset {
            *offset = (*offset).max(next);
            continue;
        }
        let now_us = epoch_us(Instant::now());
        for record in Records::new(batch.clone())? {
            let record = record?;
            // A compressed batch may start before the offset asked for.
            if record.offset < *offset {
                continue;
            }
            count += 1;
            let key_size = record.key.as_ref().map_or(0, bytes::Bytes::len);
            let value = record.value.unwrap_or_default();
            result.bytes += (key_size + value.len()) as u64;
            if end_to_end && let Some(stamp) = read_stamp(&value) {
                result
                    .latency
                    .record(Duration::from_micros(now_us.saturating_sub(stamp)));
            }
        }
        *offset = (*offset).max(next);
    }
    result.records += count;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ringbroker::protocol::record_batch::{Compression, set_base_offset};
    use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};

    /// `count` records of `value` in one batch based at `base_offset`.
    fn batch(base_offset: i64, count: usize, value: &[u8], codec: Compression) -> BytesMut {
        let mut output = BytesMut::new();
        let mut scratch = BytesMut::new();
        let options = BatchOptions {
            compression: codec,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
        for _ in 0..count {
            let record = NewRecord {
                timestamp: 1,
                key: None,
                value: Some(value),
                headers: &[],
            };
            builder.append(&record).unwrap();
        }
        builder.finish().unwrap();
        set_base_offset(&mut output, base_offset);
        output
    }

    #[test]
    fn counts_records_from_the_offset_and_skips_a_partial_tail() {
        let mut fetched = batch(0, 4, b"0123456789", Compression::Lz4);
        fetched.extend_from_slice(&batch(4, 3, b"abcdefghij", Compression::None));
        let whole = fetched.len();
        fetched.extend_from_slice(&batch(7, 2, b"tail", Compression::None)[..20]);
        assert!(fetched.len() > whole);
        let mut result = ConsumerResult::default();
        // Offset 2: the first (compressed) batch starts before it, so two of its records count.
        let mut offset = 2;
        let count = consume_batches(fetched.freeze(), &mut offset, false, &mut result).unwrap();
        assert_eq!(count, 5);
        assert_eq!(offset, 7);
        assert_eq!(result.records, 5);
        assert_eq!(result.bytes, 50);
        assert_eq!(result.latency.percentiles().count, 0);
    }

    #[test]
    fn end_to_end_reads_the_stamp() {
        let sent = Instant::now();
        let mut value = vec![b'x'; 16];
        value[..8].copy_from_slice(&epoch_us(sent).to_be_bytes());
        let mut result = ConsumerResult::default();
        let mut offset = 0;
        let fetched = batch(0, 1, &value, Compression::None).freeze();
        consume_batches(fetched, &mut offset, true, &mut result).unwrap();
        assert_eq!(result.latency.percentiles().count, 1);
    }

    #[test]
    fn corrupt_batch_is_an_error() {
        let mut fetched = batch(0, 2, b"value", Compression::None);
        let last = fetched.len() - 1;
        fetched[last] ^= 0xff;
        let mut result = ConsumerResult::default();
        let mut offset = 0;
        assert!(consume_batches(fetched.freeze(), &mut offset, false, &mut result).is_err());
    }
}
