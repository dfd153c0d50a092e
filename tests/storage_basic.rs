//! Partition log basics: append/read round trips, validation refusals leave the log
//! untouched, LogAppendTime, leader epochs, restart, and `ShardLogs` group commit.
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter};
use ringbroker::storage::testing::{build_batch, build_batch_sized};
use ringbroker::storage::{
    AppendRequest, CheckedBatch, Clock, FlushPolicy, LogConfig, ManualClock, PartitionLog,
    ShardLogs, StorageErrorKind, TimestampType,
};

const NOW: i64 = 1_700_000_000_000;

fn clock() -> Rc<ManualClock> {
    Rc::new(ManualClock::new(NOW))
}

async fn open(directory: &Path, config: LogConfig, clock: &Rc<ManualClock>) -> PartitionLog {
    let clock: Rc<dyn Clock> = clock.clone();
    PartitionLog::open(directory.join("topic-0"), config, clock)
        .await
        .unwrap()
}

async fn read_all(log: &PartitionLog, offset: i64) -> Vec<Bytes> {
    let slice = log.read(offset, u32::MAX, true).await.unwrap();
    let mut batches = Vec::new();
    for range in &slice.ranges {
        let bytes = range.read_to_bytes().await.unwrap();
        batches.extend(BatchSplitter::new(bytes));
    }
    batches
}

#[compio::test]
async fn append_assigns_offsets_and_reads_back() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let info = log
        .append(vec![build_batch(3, NOW, b"abc")], 7)
        .await
        .unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 2, 3)
    );
    assert_eq!(info.log_append_time_ms, -1);
    let batches = vec![build_batch(2, NOW, b"d"), build_batch(1, NOW, b"e")];
    let info = log.append(batches, 7).await.unwrap();
    assert_eq!((info.base_offset, info.last_offset), (3, 5));
    assert_eq!(log.high_watermark(), 6);
    let read = read_all(&log, 0).await;
    let bases: Vec<i64> = read
        .iter()
        .map(|b| BatchHeader::parse(b).unwrap().base_offset())
        .collect();
    assert_eq!(bases, vec![0, 3, 5]);
    let epoch = BatchHeader::parse(&read[1])
        .unwrap()
        .partition_leader_epoch();
    assert_eq!(epoch, 7);
    // Reading from the middle of a batch starts at that batch.
    let from_four = read_all(&log, 4).await;
    assert_eq!(BatchHeader::parse(&from_four[0]).unwrap().base_offset(), 3);
    // At the log end: empty; past it or below the start: out of range.
    assert!(log.read(6, 1024, true).await.unwrap().ranges.is_empty());
    let error = log.read(7, 1024, true).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
    let error = log.read(-1, 1024, true).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
    log.verify_against_scan().await.unwrap();
}

#[compio::test]
async fn max_bytes_cuts_on_batch_boundaries() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    for seed in 0..20 {
        log.append(vec![build_batch_sized(1, NOW, 39, seed)], 0)
            .await
            .unwrap();
    }
    // Each batch is 100 bytes.
    let slice = log.read(0, 350, false).await.unwrap();
    assert_eq!(slice.size_bytes(), 300);
    // A batch ending exactly at max_bytes is included.
    let slice = log.read(0, 300, false).await.unwrap();
    assert_eq!(slice.size_bytes(), 300);
    let slice = log.read(5, 99, false).await.unwrap();
    assert_eq!(slice.size_bytes(), 0);
    let slice = log.read(5, 99, true).await.unwrap();
    assert_eq!(slice.size_bytes(), 100);
    assert_eq!(slice.ranges[0].position, 500);
    let slice = log.read(19, 10_000, false).await.unwrap();
    assert_eq!(slice.size_bytes(), 100);
}

#[compio::test]
async fn invalid_batches_leave_the_log_untouched() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        max_message_bytes: 1000,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    log.append(vec![build_batch(1, NOW, b"x")], 0)
        .await
        .unwrap();
    let mut corrupt = build_batch(1, NOW, b"payload");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let good = build_batch(1, NOW, b"fine");
    let error = log
        .append(vec![good.clone(), corrupt], 0)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::CorruptMessage);
    let mut miscounted = build_batch(3, NOW, b"p");
    miscounted[60] = 9; // records count low byte → 9, CRC now wrong too: recompute
    let crc = ringbroker::protocol::record_batch::compute_crc(&miscounted);
    miscounted[17..21].copy_from_slice(&crc.to_be_bytes());
    let error = log.append(vec![miscounted], 0).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::InvalidRecord);
    let large = build_batch_sized(1, NOW, 2000, 1);
    let error = log.append(vec![large], 0).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::MessageTooLarge);
    let future = build_batch(1, NOW + 2 * 3_600_000, b"late");
    let error = log.append(vec![future], 0).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::InvalidTimestamp);
    let error = log.append(Vec::new(), 0).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::InvalidRecord);
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.size_bytes(), 62);
    assert_eq!(read_all(&log, 0).await.len(), 1);
}

#[compio::test]
async fn log_append_time_rewrites_timestamp_and_keeps_crc_valid() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    let info = log
        .append(vec![build_batch(2, 5, b"old")], 0)
        .await
        .unwrap();
    assert_eq!(info.log_append_time_ms, NOW);
    let batch = &read_all(&log, 0).await[0];
    let header = BatchHeader::parse(batch).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp(), NOW);
    assert_eq!(log.max_timestamp(), Some((0, NOW)));
}

#[compio::test]
async fn epochs_timestamps_and_restart_survive() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    log.append(vec![build_batch(2, NOW - 30, b"a")], 1)
        .await
        .unwrap();
    log.append(vec![build_batch(2, NOW - 10, b"b")], 3)
        .await
        .unwrap();
    log.append(vec![build_batch(2, NOW - 20, b"c")], 3)
        .await
        .unwrap();
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 2)));
    assert_eq!(log.end_offset_for_epoch(2), Some((1, 2)));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 6)));
    assert_eq!(log.end_offset_for_epoch(4), None);
    assert_eq!(
        log.offset_for_timestamp(NOW - 25).await.unwrap(),
        Some((2, NOW - 10))
    );
    assert_eq!(
        log.offset_for_timestamp(NOW - 40).await.unwrap(),
        Some((0, NOW - 30))
    );
    assert_eq!(log.offset_for_timestamp(NOW).await.unwrap(), None);
    assert_eq!(log.max_timestamp(), Some((2, NOW - 10)));
    log.close().await.unwrap();
    let log = open(directory.path(), LogConfig::default(), &clock).await;
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 2)));
    assert_eq!(log.latest_epoch(), Some(3));
    assert_eq!(read_all(&log, 0).await.len(), 3);
    let checkpoint =
        std::fs::read_to_string(directory.path().join("topic-0/leader-epoch-checkpoint")).unwrap();
    assert_eq!(checkpoint, "0\n2\n1 0\n3 2\n");
}

#[compio::test]
async fn shard_logs_group_commit_answers_each_request() {
    let directory = tempfile::tempdir().unwrap();
    let clock: Rc<dyn Clock> = clock();
    let config = LogConfig {
        flush: FlushPolicy::Strict,
        ..LogConfig::default()
    };
    let mut shard = ShardLogs::new();
    for partition in 0..3 {
        let path = directory.path().join(format!("t-{partition}"));
        let log = PartitionLog::open(path, config.clone(), clock.clone())
            .await
            .unwrap();
        shard.insert(partition, log);
    }
    let request = |records: i32, payload: &[u8]| AppendRequest {
        batches: vec![CheckedBatch::new(build_batch(records, NOW, payload).freeze()).unwrap()],
        leader_epoch: 0,
    };
    // A corrupt batch cannot even be put in a request (the broker checks batches on the
    // connection's shard); an empty request is what storage itself refuses in a tick.
    let mut bad = build_batch(1, NOW, b"bad");
    bad[30] ^= 1;
    assert!(CheckedBatch::new(bad.freeze()).is_err());
    let requests = vec![
        (0, request(2, b"a")),
        (1, request(1, b"b")),
        (0, request(3, b"c")),
        (
            2,
            AppendRequest {
                batches: Vec::new(),
                leader_epoch: 0,
            },
        ),
        (9, request(1, b"nobody")),
    ];
    let results = shard.append_tick(requests).await;
    let offsets: Vec<Option<(i64, i64)>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|i| (i.base_offset, i.last_offset)))
        .collect();
    assert_eq!(
        offsets,
        vec![Some((0, 1)), Some((0, 0)), Some((2, 4)), None, None]
    );
    assert_eq!(
        results[3].as_ref().unwrap_err().kind(),
        StorageErrorKind::InvalidRecord
    );
    assert_eq!(
        results[4].as_ref().unwrap_err().kind(),
        StorageErrorKind::UnknownPartition
    );
    let log = shard.get(&0).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(shard.get(&2).unwrap().log_end_offset(), 0);
    let batches = read_all(log, 0).await;
    assert_eq!(batches.len(), 2);
}

#[compio::test]
async fn reads_stop_at_an_explicit_high_watermark() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    log.set_high_watermark_follows_log_end(false);
    log.append(vec![build_batch(3, NOW - 3, b"a")], 0)
        .await
        .unwrap();
    log.append(vec![build_batch(2, NOW - 2, b"b")], 0)
        .await
        .unwrap();
    log.append(vec![build_batch(1, NOW - 1, b"c")], 0)
        .await
        .unwrap();
    assert_eq!((log.high_watermark(), log.log_end_offset()), (0, 6));
    assert!(log.read(0, u32::MAX, true).await.unwrap().ranges.is_empty());
    log.set_high_watermark(3);
    let batches = read_all(&log, 0).await;
    assert_eq!(batches.len(), 1);
    assert_eq!(log.offset_for_timestamp(NOW - 2).await.unwrap(), None);
    // A high watermark inside a batch serves only the batches wholly below it.
    log.set_high_watermark(4);
    assert_eq!(read_all(&log, 0).await.len(), 1);
    log.set_high_watermark(6);
    assert_eq!(read_all(&log, 1).await.len(), 3);
    assert_eq!(
        log.offset_for_timestamp(NOW - 2).await.unwrap(),
        Some((3, NOW - 2))
    );
    let error = log.delete_records_before(7).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
}
