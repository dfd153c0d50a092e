//! Per-partition log settings (Kafka's topic configs, typed) and the clock the log reads.
//!
//! [`LogConfig`] is the typed form of a topic's configs that the log and its pump take. It is
//! resolved once per metadata version from the one config table (`cluster::configs::log_config`:
//! topic override, else broker-level override, else the table's default, every value parsed and
//! bounds-checked by the table's validator), never parsed per use. Its `Default` is built from the
//! same `limits.rs` constants the table's defaults are, and a test in `cluster::configs` checks
//! that resolving no overrides gives exactly `LogConfig::default()`: one source per default.
//! `cluster::partition_logs` resolves it for every partition a shard owns and hands it to the
//! log pump (`storage/pump/`).
//!
//! The clock is a trait so retention, roll and flush-interval behaviour can be tested with a
//! [`ManualClock`] instead of sleeping. Runs on the shard that owns the partition.
use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::limits::{
    INDEX_INTERVAL_BYTES_DEFAULT, MESSAGE_SIZE_MAX_DEFAULT, MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
    RETENTION_MS_DEFAULT, SEGMENT_BYTES_DEFAULT, SEGMENT_MS_DEFAULT, SEGMENT_SIZE_MAX,
    SEGMENT_SIZE_MIN,
};

/// When the log calls fdatasync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Kafka's default: the page cache and replication protect data; sync only on roll/close.
    #[default]
    None,
    /// `flush.messages`: sync once this many records have been appended since the last sync.
    Messages(u64),
    /// `flush.ms`: sync when this long has passed since the last sync (checked on append and on
    /// [`crate::storage::PartitionLog::maybe_flush`]).
    Interval(Duration),
    /// Sync before acknowledging every append (grouped per tick by
    /// [`crate::storage::ShardLogs`]).
    Strict,
}

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps (checked against the before/after windows).
    #[default]
    CreateTime,
    /// Overwrite each batch's max timestamp with the broker's clock on append.
    LogAppendTime,
}

/// One partition's settings. `Default` is Kafka 4's topic defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: Option<Duration>,
    /// `retention.ms`: delete whole non-active segments whose largest timestamp is older.
    pub retention_ms: Option<Duration>,
    /// `retention.bytes`: delete the oldest non-active segments while the log is larger.
    pub retention_bytes: Option<u64>,
    /// `index.interval.bytes`: one sparse index entry per this many bytes of batches.
    pub index_interval_bytes: u32,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: u32,
    pub flush: FlushPolicy,
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (Kafka 4 default: unlimited).
    pub message_timestamp_before_max: Option<Duration>,
    /// `message.timestamp.after.max.ms` (Kafka 4 default: one hour).
    pub message_timestamp_after_max: Option<Duration>,
    /// `producer.id.expiration.ms` (a broker config in Kafka; default one day): idempotent
    /// producers idle this long are forgotten.
    pub producer_id_expiration: Duration,
}

/// A non-negative millisecond constant as a `Duration` (a negative one is a programmer error).
const fn duration_of_ms(ms: i64) -> Duration {
    assert!(ms >= 0, "a negative duration constant");
    Duration::from_millis(ms.unsigned_abs())
}

#[allow(clippy::cast_possible_truncation)] // const assert below: the default fits a u32
const MAX_MESSAGE_BYTES_DEFAULT: u32 = MESSAGE_SIZE_MAX_DEFAULT as u32;
const _: () = assert!(MESSAGE_SIZE_MAX_DEFAULT <= u32::MAX as usize);

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: Some(duration_of_ms(SEGMENT_MS_DEFAULT)),
            retention_ms: Some(duration_of_ms(RETENTION_MS_DEFAULT)),
            retention_bytes: None,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: MAX_MESSAGE_BYTES_DEFAULT,
            flush: FlushPolicy::None,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max: None,
            message_timestamp_after_max: Some(duration_of_ms(
                MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            )),
            producer_id_expiration: Duration::from_millis(
                crate::limits::PRODUCER_ID_EXPIRATION_MS_DEFAULT,
            ),
        }
    }
}

impl LogConfig {
    /// The segment size actually used: positions in the sparse index are i32, so a segment
    /// can never exceed `i32::MAX` bytes, and a segment must hold at least one batch header.
    #[must_use]
    pub fn segment_size_effective(&self) -> u64 {
        self.segment_bytes.clamp(SEGMENT_SIZE_MIN, SEGMENT_SIZE_MAX)
    }

    /// The index interval actually used (at least one byte, so entries stay sparse but exist).
    #[must_use]
    pub fn index_interval_effective(&self) -> u32 {
        self.index_interval_bytes.max(1)
    }
}

/// Milliseconds since the Unix epoch, as Kafka's timestamps are.
pub trait Clock {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_time_ms(SystemTime::now())
    }
}

/// Milliseconds since the Unix epoch (a file's mtime, the wall clock); 0 before it.
#[must_use]
pub fn system_time_ms(time: SystemTime) -> i64 {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: Cell<i64>,
}

impl ManualClock {
    #[must_use]
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms: Cell::new(now_ms),
        }
    }

    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.set(now_ms);
    }

    pub fn advance(&self, by: Duration) {
        let by_ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.set(self.now_ms.get().saturating_add(by_ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.get()
    }
}

/// A `Duration` as Kafka's i64 milliseconds, saturating.
#[must_use]
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1 << 30);
        assert_eq!(config.max_message_bytes, 1_048_588);
        assert_eq!(config.index_interval_bytes, 4096);
        assert_eq!(config.retention_bytes, None);
        assert_eq!(config.flush, FlushPolicy::None);
        assert_eq!(config.segment_ms, Some(Duration::from_millis(604_800_000)));
    }

    #[test]
    fn segment_size_is_clamped_to_index_positions() {
        let mut config = LogConfig {
            segment_bytes: u64::MAX,
            ..LogConfig::default()
        };
        assert_eq!(config.segment_size_effective(), SEGMENT_SIZE_MAX);
        config.segment_bytes = 1;
        assert_eq!(config.segment_size_effective(), SEGMENT_SIZE_MIN);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        assert!(SystemClock.now_ms() > 1_600_000_000_000);
    }
}
