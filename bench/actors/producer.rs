//! One producer connection: a Kafka-producer-style accumulator and sender on one thread, and
//! (unless acks = 0) a reader thread that matches responses and records latencies.
//!
//! Accumulator, as Kafka's `RecordAccumulator` with the sticky partitioner (KIP-480): records
//! go to the current partition's open batch until it holds `batch.size` bytes, then the next
//! partition becomes current. A batch is ready when full or when its first record is
//! `linger.ms` old; every ready batch of the connection goes out in one Produce request.
//! Batches are encoded only when they are sent (records wait as enqueue timestamps), so the
//! accumulator holds at most one open batch per partition: memory is bounded by
//! `partitions × batch.size` without a `buffer.memory` knob.
//!
//! Latency is Kafka's perf-test definition: from the moment a record is generated to the
//! moment its Produce response is read (acks = 0: to the moment its request is written).
//! In flight: the writer hands each request's bookkeeping to the reader over a channel of
//! capacity `max_in_flight − 1`; the reader holds one more while it waits for the response,
//! so at most `max_in_flight` requests are outstanding.
//!
//! Every record value starts with its generation time in µs since the UNIX epoch (when the
//! record is at least 8 bytes), which `e2e` reads back to measure end-to-end latency; the rest
//! is one random A–Z payload reused for every record, as kafka-producer-perf-test does, so
//! compression ratios are comparable with Kafka's tool.
use crate::report::{Latency, Window};
use anyhow::{Context, bail};
use bytes::BytesMut;
use ringbroker::client::connection::{
    Connection, SOCKET_TIMEOUT, decode_response, encode_request, read_frame,
};
use ringbroker::client::security::{ClientSecurity, Stream};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::Uuid;
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::record_batch::{Compression, HEADER_SIZE};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Produce v13 addresses topics by id instead of name.
const PRODUCE_TOPIC_ID_VERSION: i16 = 13;
/// Broker-side wait for acks = -1 (Kafka's `request.timeout.ms` default is 30 s).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// Bytes a record adds around its value (varint lengths, attributes, deltas, null key, no
/// headers): used only to decide when a batch is full, as Kafka estimates it too.
const RECORD_OVERHEAD_ESTIMATE: usize = 16;
/// Bytes of the generation timestamp at the front of each value.
pub const STAMP_SIZE: usize = 8;

/// What one producer connection does.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub address: String,
    pub client_id: String,
    pub topic: String,
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
    pub produce_version: i16,
    pub record_size: usize,
    pub batch_size: usize,
    pub linger: Duration,
    pub compression: Compression,
    pub acks: i16,
    pub in_flight_max: usize,
    /// Records/s for this connection; 0 = unlimited.
    pub rate: f64,
    /// Records this connection sends at most.
    pub records_max: u64,
    /// When generation stops, whatever the count.
    pub stop_at: Instant,
    /// Generation stops once this is set (`--stop-file`), whatever the count or time.
    pub stop: Arc<AtomicBool>,
    pub seed: u64,
    pub security: ClientSecurity,
}

/// What one producer connection measured.
#[derive(Debug, Clone, Default)]
pub struct ProducerResult {
    pub records: u64,
    pub bytes: u64,
    pub wire_bytes: u64,
    pub requests: u64,
    pub latency: Latency,
    /// When the last acknowledgement arrived (or, for acks = 0, the last request was written).
    pub finished: Option<Instant>,
}

/// Bookkeeping of one request in flight, from the writer to the reader.
struct InFlight {
    correlation_id: i32,
    /// Generation time of every record in the request, partition by partition.
    enqueued: Vec<Instant>,
    partitions: usize,
}

/// Records waiting for one partition's next batch.
#[derive(Debug, Default)]
struct Pending {
    enqueued: Vec<Instant>,
}

/// Runs one producer connection to completion: until `records_max` records are acknowledged,
/// or `stop_at` passes and everything generated so far is acknowledged.
///
/// # Errors
/// Connection failures, a broker error code for any partition, or a protocol error.
pub fn run(config: &ProducerConfig, window: &Arc<Mutex<Window>>) -> anyhow::Result<ProducerResult> {
    assert!(
        !config.partitions.is_empty(),
        "a producer serves partitions"
    );
    assert!(config.in_flight_max >= 1, "in flight bounded at parse");
    let mut connection =
        Connection::connect_with(&config.address, &config.client_id, &config.security)?;
    let mut writer = connection.stream().try_clone()?;
    let mut result = ProducerResult::default();
    let reader = if config.acks == 0 {
        None
    } else {
        let (sender, receiver) = sync_channel::<InFlight>(config.in_flight_max - 1);
        let stream = connection.stream().try_clone()?;
        let version = config.produce_version;
        let record_size = config.record_size as u64;
        let window = Arc::clone(window);
        let handle = std::thread::Builder::new()
            .name("ringbench-ack".to_owned())
            .spawn(move || read_acks(stream, &receiver, version, record_size, &window))?;
        Some((sender, handle))
    };
    let sender = reader.as_ref().map(|(sender, _)| sender.clone());
    let written = produce_loop(
        config,
        &mut connection,
        &mut writer,
        sender,
        window,
        &mut result,
    );
    if written.is_err() {
        // Wakes a reader blocked on a response that will not come; it may already be closed.
        let _ = connection.stream().shutdown(std::net::Shutdown::Both);
    }
    let acked = match reader {
        Some((sender, handle)) => {
            drop(sender);
            let joined = handle.join();
            match joined {
                Ok(acked) => Some(acked),
                Err(_) => bail!("the acknowledgement reader panicked"),
            }
        }
        None => None,
    };
    // A reader error (a broker error code, a bad frame) is the root cause of a writer that
    // found the channel closed, so it wins.
    if let Some(acked) = acked {
        let (latency, records) = acked?;
        written?;
        result.latency = latency;
        result.records = records;
        result.bytes = records * config.record_size as u64;
    } else {
        written?;
    }
    result.finished = Some(Instant::now());
    Ok(result)
}

/// The writer: generates, batches and sends; returns when generation stops and every pending
/// record has been sent. Takes `in_flight` by value: dropping it on return is what tells the
/// reader no more requests are coming.
fn produce_loop(
    config: &ProducerConfig,
    connection: &mut Connection,
    writer: &mut Stream,
    in_flight: Option<SyncSender<InFlight>>,
    window: &Arc<Mutex<Window>>,
    result: &mut ProducerResult,
) -> anyhow::Result<()> {
    let per_batch = records_per_batch(config.batch_size, config.record_size);
    let mut pending: Vec<Pending> = config
        .partitions
        .iter()
        .map(|_| Pending::default())
        .collect();
    let mut sticky = 0usize;
    let mut generated = 0u64;
    let interval = (config.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / config.rate));
    let started = Instant::now();
    let mut buffers = Buffers::new(config);
    // When the oldest open batch's linger ends; scanning partitions only then keeps the
    // per-record cost O(1).
    let mut linger_due: Option<Instant> = None;
    // Bounded: each iteration generates a record (≤ records_max), sends, sleeps until the
    // next due time, or ends; generation stops at stop_at, and sends drain what is pending.
    loop {
        let now = Instant::now();
        let generating = generated < config.records_max
            && now < config.stop_at
            && !config.stop.load(Ordering::Relaxed);
        let due = interval.map_or(now, |interval| started + interval.mul_f64(generated as f64));
        let mut filled = false;
        if generating && now >= due {
            let slot = pending
                .get_mut(sticky)
                .context("sticky partition in range")?;
            filled = enqueue(slot, now, config.linger, per_batch, &mut linger_due);
            generated += 1;
            if filled {
                sticky = (sticky + 1) % pending.len();
            }
        }
        let lingered = linger_due.is_some_and(|due| now >= due);
        if filled || lingered || !generating {
            let ready = ready_partitions(&pending, per_batch, config.linger, now, !generating);
            if !ready.is_empty() {
                let (correlation_id, enqueued) = send_request(
                    config,
                    connection,
                    writer,
                    &mut pending,
                    &ready,
                    &mut buffers,
                )?;
                result.requests += 1;
                result.wire_bytes += buffers.request.len() as u64;
                linger_due = pending
                    .iter()
                    .filter_map(|slot| slot.enqueued.first())
                    .map(|first| *first + config.linger)
                    .min();
                let item = InFlight {
                    correlation_id,
                    enqueued,
                    partitions: ready.len(),
                };
                hand_off(config, in_flight.as_ref(), item, window, result)?;
                continue;
            }
        }
        if !generating {
            // Draining found nothing ready, so nothing is pending.
            assert!(pending.iter().all(|slot| slot.enqueued.is_empty()));
            return Ok(());
        }
        let wake = [Some(due), linger_due, Some(config.stop_at)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        if wake > now {
            std::thread::sleep((wake - now).min(SOCKET_TIMEOUT));
        }
    }
}

/// Adds one record generated at `now` to a partition's open batch; true when that fills it.
/// The first record of a batch starts its linger, which may become the earliest due.
fn enqueue(
    slot: &mut Pending,
    now: Instant,
    linger: Duration,
    per_batch: usize,
    linger_due: &mut Option<Instant>,
) -> bool {
    if slot.enqueued.is_empty() {
        let ends = now + linger;
        *linger_due = Some(linger_due.map_or(ends, |due| due.min(ends)));
    }
    slot.enqueued.push(now);
    slot.enqueued.len() >= per_batch
}

/// A request just sent: to the acknowledgement reader when there is one (acks ≠ 0), else its
/// records count as done at once.
fn hand_off(
    config: &ProducerConfig,
    in_flight: Option<&SyncSender<InFlight>>,
    item: InFlight,
    window: &Arc<Mutex<Window>>,
    result: &mut ProducerResult,
) -> anyhow::Result<()> {
    let sent = Instant::now();
    match in_flight {
        Some(channel) => {
            if channel.send(item).is_err() {
                bail!("the acknowledgement reader stopped");
            }
        }
        None => {
            let record_size = config.record_size as u64;
            record_unacked(&item.enqueued, sent, record_size, window, result);
        }
    }
    Ok(())
}

/// Buffers the writer reuses across requests.
struct Buffers {
    payload: Vec<u8>,
    request: BytesMut,
    scratch: BytesMut,
}

impl Buffers {
    fn new(config: &ProducerConfig) -> Self {
        Self {
            payload: random_payload(config.record_size, config.seed),
            request: BytesMut::with_capacity(config.batch_size * 2),
            scratch: BytesMut::new(),
        }
    }
}

/// Records of `record_size` that fill a `batch_size` batch, at least 1 (a record larger than
/// the batch goes alone, as in Kafka).
pub fn records_per_batch(batch_size: usize, record_size: usize) -> usize {
    let room = batch_size.saturating_sub(HEADER_SIZE);
    (room / (record_size + RECORD_OVERHEAD_ESTIMATE)).max(1)
}

/// Indexes of partitions whose batch is full, lingered long enough, or must drain.
fn ready_partitions(
    pending: &[Pending],
    per_batch: usize,
    linger: Duration,
    now: Instant,
    draining: bool,
) -> Vec<usize> {
    pending
        .iter()
        .enumerate()
        .filter(|(_, slot)| match slot.enqueued.first() {
            None => false,
            Some(first) => draining || slot.enqueued.len() >= per_batch || now >= *first + linger,
        })
        .map(|(index, _)| index)
        .collect()
}

/// Encodes the ready partitions' batches into one Produce request and writes it. Returns the
/// request's correlation id and the generation times of the records sent.
fn send_request(
    config: &ProducerConfig,
    connection: &mut Connection,
    writer: &mut Stream,
    pending: &mut [Pending],
    ready: &[usize],
    buffers: &mut Buffers,
) -> anyhow::Result<(i32, Vec<Instant>)> {
    let mut partition_data = Vec::with_capacity(ready.len());
    let mut enqueued = Vec::new();
    let options = BatchOptions {
        compression: config.compression,
        ..BatchOptions::default()
    };
    for &index in ready {
        let partition = *config
            .partitions
            .get(index)
            .context("ready index in range")?;
        let slot = pending.get_mut(index).context("ready index in range")?;
        let mut output = BytesMut::with_capacity(config.batch_size + HEADER_SIZE);
        let mut builder = BatchBuilder::new(&mut output, &mut buffers.scratch, options);
        for time in &slot.enqueued {
            stamp(&mut buffers.payload, *time);
            let record = NewRecord {
                timestamp: epoch_ms(*time),
                key: None,
                value: Some(&buffers.payload),
                headers: &[],
            };
            builder.append(&record)?;
        }
        builder.finish()?;
        enqueued.append(&mut slot.enqueued);
        partition_data.push(PartitionProduceData {
            index: partition,
            records: Some(output.freeze()),
        });
    }
    let by_id = config.produce_version >= PRODUCE_TOPIC_ID_VERSION;
    let message = ProduceRequest {
        transactional_id: None,
        acks: config.acks,
        timeout_ms: PRODUCE_TIMEOUT_MS,
        topic_data: vec![TopicProduceData {
            name: if by_id {
                "".into()
            } else {
                config.topic.as_str().into()
            },
            topic_id: config.topic_id,
            partition_data,
        }],
    };
    let correlation_id = connection.next_correlation_id();
    let client_id = connection.client_id().to_owned();
    let request = &mut buffers.request;
    encode_request(
        request,
        config.produce_version,
        correlation_id,
        &client_id,
        &message,
    );
    writer
        .write_all(request)
        .context("writing a Produce request")?;
    Ok((correlation_id, enqueued))
}

/// acks = 0: a record counts as sent once its request is written.
fn record_unacked(
    enqueued: &[Instant],
    sent: Instant,
    record_size: u64,
    window: &Arc<Mutex<Window>>,
    result: &mut ProducerResult,
) {
    let mut local = Window::default();
    for time in enqueued {
        let latency = sent.saturating_duration_since(*time);
        result.latency.record(latency);
        local.record(1, record_size, latency);
    }
    result.records += enqueued.len() as u64;
    result.bytes += enqueued.len() as u64 * record_size;
    if let Ok(mut shared) = window.lock() {
        shared.merge(&local);
    }
}

/// The reader: one response per request in flight, in order. Ends when the writer drops its
/// sender and every request is answered.
fn read_acks(
    mut stream: Stream,
    in_flight: &Receiver<InFlight>,
    version: i16,
    record_size: u64,
    window: &Arc<Mutex<Window>>,
) -> anyhow::Result<(Latency, u64)> {
    let mut latency = Latency::new();
    let mut records = 0u64;
    // Bounded by the writer: it sends finitely many requests, then drops the sender.
    while let Ok(item) = in_flight.recv() {
        let payload = read_frame(&mut stream)?;
        let received = Instant::now();
        let response: ProduceResponse = decode_response(payload, version, item.correlation_id)?;
        check_produce_errors(&response, item.partitions)?;
        let mut local = Window::default();
        for time in &item.enqueued {
            let elapsed = received.saturating_duration_since(*time);
            latency.record(elapsed);
            local.record(1, record_size, elapsed);
        }
        records += item.enqueued.len() as u64;
        if let Ok(mut shared) = window.lock() {
            shared.merge(&local);
        }
    }
    Ok((latency, records))
}

/// Fails on the first partition error: a benchmark that silently drops records measures
/// nothing. (Retries are a client feature ringbench does not model.)
fn check_produce_errors(response: &ProduceResponse, partitions: usize) -> anyhow::Result<()> {
    let answered: usize = response
        .responses
        .iter()
        .map(|topic| topic.partition_responses.len())
        .sum();
    if answered != partitions {
        bail!("Produce response covers {answered} partitions, the request {partitions}");
    }
    for topic in &response.responses {
        for partition in &topic.partition_responses {
            if partition.error_code != ErrorCode::None {
                bail!(
                    "Produce to partition {} failed: {} {}",
                    partition.index,
                    partition.error_code.name(),
                    partition.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// One random A–Z payload (a xorshift64 stream from `seed`), as kafka-producer-perf-test
/// builds its payload.
pub fn random_payload(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + u8::try_from(state % 26).unwrap_or(0)
        })
        .collect()
}

/// Writes `time` (µs since the UNIX epoch) at the front of `payload`, if it is long enough.
fn stamp(payload: &mut [u8], time: Instant) {
    if let Some(front) = payload.get_mut(..STAMP_SIZE) {
        front.copy_from_slice(&epoch_us(time).to_be_bytes());
    }
}

/// Reads the stamp at the front of a record value (`None` for shorter values).
pub fn read_stamp(value: &[u8]) -> Option<u64> {
    let front: [u8; STAMP_SIZE] = value.get(..STAMP_SIZE)?.try_into().ok()?;
    Some(u64::from_be_bytes(front))
}

/// An `Instant` as µs since the UNIX epoch. The offset between the two clocks is taken once
/// per process, so stamps of one run are mutually consistent and cost no clock read.
pub fn epoch_us(time: Instant) -> u64 {
    static ORIGIN: OnceLock<(Instant, Duration)> = OnceLock::new();
    let (origin, origin_epoch) = *ORIGIN.get_or_init(|| {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), epoch)
    });
    let epoch = if time >= origin {
        origin_epoch + (time - origin)
    } else {
        origin_epoch.saturating_sub(origin - time)
    };
    u64::try_from(epoch.as_micros()).unwrap_or(u64::MAX)
}

fn epoch_ms(time: Instant) -> i64 {
    i64::try_from(epoch_us(time) / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_holds_what_fits_and_at_least_one() {
        // 16384 − 61 header bytes over 100 + 16 per record.
        assert_eq!(records_per_batch(16_384, 100), 140);
        assert_eq!(records_per_batch(1000, 100_000), 1);
        assert_eq!(records_per_batch(0, 1), 1);
    }

    #[test]
    fn stamp_round_trips_and_follows_the_clock() {
        let mut payload = random_payload(32, 7);
        assert!(payload.iter().all(u8::is_ascii_uppercase));
        let earlier = Instant::now();
        let later = earlier + Duration::from_millis(3);
        stamp(&mut payload, later);
        let read = read_stamp(&payload).unwrap();
        assert_eq!(read, epoch_us(later));
        assert_eq!(read - epoch_us(earlier), 3000);
        assert_eq!(read_stamp(&payload[..7]), None);
        let mut short = vec![b'A'; 4];
        stamp(&mut short, later);
        assert_eq!(short, b"AAAA");
    }

    #[test]
    fn payload_is_deterministic_per_seed() {
        assert_eq!(random_payload(64, 1), random_payload(64, 1));
        assert_ne!(random_payload(64, 1), random_payload(64, 2));
    }

    #[test]
    fn ready_means_full_lingered_or_draining() {
        let now = Instant::now();
        let linger = Duration::from_millis(5);
        let pending = vec![
            Pending {
                enqueued: vec![now; 3],
            },
            Pending {
                enqueued: vec![now - Duration::from_millis(6)],
            },
            Pending {
                enqueued: vec![now],
            },
            Pending::default(),
        ];
        assert_eq!(
            ready_partitions(&pending, 3, linger, now, false),
            vec![0, 1]
        );
        assert_eq!(
            ready_partitions(&pending, 3, linger, now, true),
            vec![0, 1, 2]
        );
    }
}
