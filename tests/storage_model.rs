//! Seeded model test: random appends, reads, rolls (small segments), retention by size,
//! DeleteRecords, clean restarts and crashes (drop without close), checked against an
//! in-memory model of every batch ever acknowledged. Prints its seed; replay with
//! `STORAGE_MODEL_SEED=<seed> cargo test --test storage_model`.
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter};
use ringbroker::storage::testing::{SplitMix64, build_batch_sized};
use ringbroker::storage::{Clock, LogConfig, ManualClock, PartitionLog, StorageErrorKind};

const START: i64 = 1_700_000_000_000;
const OPERATIONS: usize = 600;

#[derive(Debug, Clone)]
struct ModelBatch {
    base_offset: i64,
    last_offset: i64,
    max_timestamp: i64,
    crc: u32,
    size: u64,
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
    log_start_offset: i64,
}

impl Model {
    fn log_end_offset(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start_offset, |b| b.last_offset + 1)
    }

    /// Index of the batch holding `offset`.
    fn containing(&self, offset: i64) -> Option<usize> {
        self.batches.iter().position(|b| b.last_offset >= offset)
    }
}

struct Harness {
    directory: PathBuf,
    config: LogConfig,
    clock: Rc<ManualClock>,
    random: SplitMix64,
    model: Model,
    log: Option<PartitionLog>,
}

impl Harness {
    fn log(&mut self) -> &mut PartitionLog {
        self.log.as_mut().unwrap()
    }

    async fn reopen(&mut self, clean: bool) {
        let log = self.log.take().unwrap();
        if clean {
            log.close().await.unwrap();
        } else {
            drop(log);
        }
        let clock: Rc<dyn Clock> = self.clock.clone();
        let log = PartitionLog::open(self.directory.clone(), self.config.clone(), clock).await;
        self.log = Some(log.unwrap());
        let log = self.log.as_ref().unwrap();
        assert_eq!(log.log_end_offset(), self.model.log_end_offset());
        assert_eq!(log.log_start_offset(), self.model.log_start_offset);
        log.verify_against_scan().await.unwrap();
    }

    async fn append(&mut self) {
        let count = 1 + self.random.below(3) as usize;
        let mut batches = Vec::with_capacity(count);
        let mut pending = Vec::with_capacity(count);
        for _ in 0..count {
            let records = 1 + self.random.below(5) as i32;
            let timestamp = self.clock.now_ms() - self.random.below(5_000) as i64;
            let size = 1 + self.random.below(400) as usize;
            let batch = build_batch_sized(records, timestamp, size, self.random.next_u64());
            let header = BatchHeader::parse(&batch).unwrap();
            pending.push((records, timestamp, header.crc(), batch.len() as u64));
            batches.push(batch);
        }
        let epoch = 1 + (self.clock.now_ms() - START) as i32 / 100_000;
        let info = self.log().append(batches, epoch).await.unwrap();
        assert_eq!(info.base_offset, self.model.log_end_offset());
        let mut next = info.base_offset;
        for (records, max_timestamp, crc, size) in pending {
            self.model.batches.push(ModelBatch {
                base_offset: next,
                last_offset: next + i64::from(records) - 1,
                max_timestamp,
                crc,
                size,
            });
            next += i64::from(records);
        }
        assert_eq!(info.last_offset + 1, next);
    }

    async fn read(&mut self) {
        let start = self.model.log_start_offset;
        let end = self.model.log_end_offset();
        let offset = start + self.random.below((end - start + 1) as u64) as i64;
        let max_bytes = self.random.below(3_000) as u32;
        let min_one_batch = self.random.below(2) == 0;
        let log = self.log.as_ref().unwrap();
        let slice = log.read(offset, max_bytes, min_one_batch).await.unwrap();
        assert_eq!(slice.high_watermark, end);
        assert_eq!(slice.log_start_offset, start);
        let mut got: Vec<Bytes> = Vec::new();
        for range in &slice.ranges {
            got.extend(BatchSplitter::new(range.read_to_bytes().await.unwrap()));
        }
        let Some(first) = self.model.containing(offset) else {
            assert!(got.is_empty(), "read at the log end returns nothing");
            return;
        };
        let mut total = 0u64;
        for (index, batch) in got.iter().enumerate() {
            let expected = &self.model.batches[first + index];
            let header = BatchHeader::parse(batch).unwrap();
            assert_eq!(header.base_offset(), expected.base_offset);
            assert_eq!(header.crc(), expected.crc);
            total += batch.len() as u64;
        }
        let next = self.model.batches.get(first + got.len());
        if got.len() == 1 && total > u64::from(max_bytes) {
            assert!(
                min_one_batch,
                "oversized first batch only with min_one_batch"
            );
        } else {
            assert!(
                total <= u64::from(max_bytes),
                "read {total} > max {max_bytes}"
            );
            if let Some(next) = next {
                assert!(
                    total + next.size > u64::from(max_bytes),
                    "read stopped early"
                );
            }
            if got.is_empty() && min_one_batch {
                panic!("min_one_batch returned nothing at {offset}");
            }
        }
        let below = log.read(start - 1, 100, true).await.unwrap_err();
        assert_eq!(below.kind(), StorageErrorKind::OffsetOutOfRange);
        let above = log.read(end + 1, 100, true).await.unwrap_err();
        assert_eq!(above.kind(), StorageErrorKind::OffsetOutOfRange);
    }

    async fn retention(&mut self) {
        let retention_bytes = 500 + self.random.below(6_000);
        let mut config = self.config.clone();
        config.retention_bytes = Some(retention_bytes);
        self.log().update_config(config);
        let old_start = self.model.log_start_offset;
        self.log().enforce_retention().await.unwrap();
        let config = self.config.clone();
        self.log().update_config(config);
        self.sync_start_after_deletion(old_start);
        let log = self.log.as_ref().unwrap();
        if log.segment_count() > 1 {
            // What is left, minus the first segment, must not have fit the budget.
            let first_size: u64 = self.segment_size(0);
            assert!(log.size_bytes() - first_size < retention_bytes);
        }
    }

    fn segment_size(&self, index: usize) -> u64 {
        let log = self.log.as_ref().unwrap();
        let bases = log.segment_base_offsets();
        let from = bases[index];
        let to = bases.get(index + 1).copied().unwrap_or(i64::MAX);
        self.model
            .batches
            .iter()
            .filter(|b| b.base_offset >= from && b.base_offset < to)
            .map(|b| b.size)
            .sum()
    }

    /// After segments were deleted: the log start moved to a segment base; drop model
    /// batches in deleted segments and check sizes agree.
    fn sync_start_after_deletion(&mut self, old_start: i64) {
        let log = self.log.as_ref().unwrap();
        let new_start = log.log_start_offset();
        assert!(new_start >= old_start);
        let first_base = log.segment_base_offsets()[0];
        self.model.log_start_offset = new_start;
        self.model.batches.retain(|b| b.base_offset >= first_base);
        let model_size: u64 = self.model.batches.iter().map(|b| b.size).sum();
        assert_eq!(log.size_bytes(), model_size);
        if let Some(first) = self.model.batches.first() {
            assert_eq!(first.base_offset, first_base);
        }
    }

    async fn delete_records(&mut self) {
        let start = self.model.log_start_offset;
        let end = self.model.log_end_offset();
        let offset = start + self.random.below((end - start + 1) as u64 / 3 + 1) as i64;
        let new_start = self.log().delete_records_before(offset).await.unwrap();
        assert_eq!(new_start, offset.max(start));
        self.sync_start_after_deletion(start);
        assert_eq!(self.model.log_start_offset, new_start);
        let error = self.log().delete_records_before(end + 1).await.unwrap_err();
        assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
    }

    async fn timestamps(&mut self) {
        let target = self.clock.now_ms() - self.random.below(200_000) as i64;
        let start = self.model.log_start_offset;
        let expected = self
            .model
            .batches
            .iter()
            .find(|b| b.last_offset >= start && b.max_timestamp >= target)
            .map(|b| (b.base_offset.max(start), b.max_timestamp));
        let log = self.log.as_ref().unwrap();
        assert_eq!(log.offset_for_timestamp(target).await.unwrap(), expected);
        let mut best: Option<(i64, i64)> = None;
        for batch in &self.model.batches {
            if best.is_none_or(|(_, ts)| batch.max_timestamp > ts) {
                best = Some((batch.base_offset.max(start), batch.max_timestamp));
            }
        }
        assert_eq!(log.max_timestamp(), best);
    }
}

#[compio::test]
async fn random_operations_match_the_model() {
    let seed = SplitMix64::seed_from_env("STORAGE_MODEL_SEED");
    println!("storage_model seed {seed} (STORAGE_MODEL_SEED={seed} to replay)");
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(START));
    let config = LogConfig {
        segment_bytes: 1_500,
        segment_ms: Some(Duration::from_secs(60)),
        retention_ms: None,
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let dyn_clock: Rc<dyn Clock> = clock.clone();
    let path = directory.path().join("model-0");
    let log = PartitionLog::open(path.clone(), config.clone(), dyn_clock)
        .await
        .unwrap();
    let mut harness = Harness {
        directory: path,
        config,
        clock,
        random: SplitMix64::new(seed),
        model: Model::default(),
        log: Some(log),
    };
    for step in 0..OPERATIONS {
        let choice = harness.random.below(100);
        match choice {
            0..=44 => harness.append().await,
            45..=69 => harness.read().await,
            70..=74 => harness.retention().await,
            75..=78 => harness.delete_records().await,
            79..=84 => harness.timestamps().await,
            85..=91 => {
                harness
                    .clock
                    .advance(Duration::from_secs(harness.random.below(90)));
                harness.log().maybe_roll().await.unwrap();
            }
            92..=95 => harness.reopen(true).await,
            _ => harness.reopen(false).await,
        }
        if step % 50 == 0 {
            harness
                .log
                .as_ref()
                .unwrap()
                .verify_against_scan()
                .await
                .unwrap();
        }
    }
    let log = harness.log.take().unwrap();
    log.verify_against_scan().await.unwrap();
    println!(
        "storage_model end: {} segments, offsets [{}, {})",
        log.segment_count(),
        log.log_start_offset(),
        log.log_end_offset()
    );
    log.close().await.unwrap();
}
