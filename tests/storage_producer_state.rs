//! Idempotent producers through `PartitionLog`: the 5-batch window answers retries with their
//! original offsets and writes nothing, gaps and old epochs are refused whole, epoch bumps,
//! sequence wrap, expiry, and the table surviving clean and unclean restarts (snapshot at
//! roll/close plus replay of the log tail).
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use ringbroker::storage::testing::{ProducerFields, build_batch, build_producer_batch};
use ringbroker::storage::{
    AppendInfo, AppendRequest, CheckedBatch, Clock, LogConfig, ManualClock, PartitionLog,
    ProducerError, ShardLogs, StorageError, StorageErrorKind, TimestampType, snapshot_file_name,
};

const NOW: i64 = 1_700_000_000_000;

fn clock() -> Rc<ManualClock> {
    Rc::new(ManualClock::new(NOW))
}

fn path(directory: &Path) -> PathBuf {
    directory.join("topic-0")
}

async fn open(directory: &Path, config: LogConfig, clock: &Rc<ManualClock>) -> PartitionLog {
    let clock: Rc<dyn Clock> = clock.clone();
    PartitionLog::open(path(directory), config, clock)
        .await
        .unwrap()
}

fn batch(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BytesMut {
    let producer = ProducerFields {
        producer_id,
        epoch,
        base_sequence,
    };
    build_producer_batch(producer, records, NOW)
}

async fn send(
    log: &mut PartitionLog,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    records: i32,
) -> Result<AppendInfo, StorageError> {
    let batches = vec![batch(producer_id, epoch, base_sequence, records)];
    log.append(batches, 0).await
}

fn kind(result: Result<AppendInfo, StorageError>) -> StorageErrorKind {
    result.unwrap_err().kind()
}

#[compio::test]
async fn retries_inside_the_window_get_their_original_offsets_and_write_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    let mut originals = Vec::new();
    for index in 0..6 {
        let info = send(&mut log, 7, 0, index * 3, 3).await.unwrap();
        assert!(!info.duplicate);
        originals.push(info);
    }
    let log_end = log.log_end_offset();
    assert_eq!(log_end, 18);
    // The newest five are remembered.
    for (index, original) in originals.iter().enumerate().skip(1) {
        let sequence = i32::try_from(index).unwrap() * 3;
        let retry = send(&mut log, 7, 0, sequence, 3).await.unwrap();
        assert!(retry.duplicate, "batch {index}");
        assert_eq!(
            (retry.base_offset, retry.last_offset),
            (original.base_offset, original.last_offset)
        );
        assert_eq!(retry.record_count, 0);
        assert_eq!(log.log_end_offset(), log_end, "a duplicate is not written");
    }
    // The sixth-newest fell out of the window: Kafka calls that out of order.
    let too_old = send(&mut log, 7, 0, 0, 3).await;
    assert_eq!(kind(too_old), StorageErrorKind::OutOfOrderSequence);
    // A retry that overlaps but does not match a batch exactly is not a duplicate either.
    let misaligned = send(&mut log, 7, 0, 4, 3).await;
    assert_eq!(kind(misaligned), StorageErrorKind::OutOfOrderSequence);
    assert_eq!(log.log_end_offset(), log_end);
    // The next sequence goes on.
    assert_eq!(send(&mut log, 7, 0, 18, 1).await.unwrap().base_offset, 18);
}

#[compio::test]
async fn a_gap_refuses_the_whole_request_and_writes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    let two = vec![batch(1, 0, 0, 2), batch(1, 0, 2, 2)];
    assert_eq!(log.append(two, 0).await.unwrap().last_offset, 3);
    let gap = send(&mut log, 1, 0, 5, 1).await;
    match gap {
        Err(StorageError::Producer(ProducerError::OutOfOrderSequence {
            first_sequence,
            last_sequence,
            ..
        })) => assert_eq!((first_sequence, last_sequence), (5, 3)),
        other => panic!("expected a producer error, got {other:?}"),
    }
    // All-or-nothing: a good batch followed by a gapped one writes neither.
    let mixed = vec![batch(1, 0, 4, 1), batch(1, 0, 9, 1)];
    let refused = log.append(mixed, 0).await;
    assert_eq!(kind(refused), StorageErrorKind::OutOfOrderSequence);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.producer_state().get(1).unwrap().batches.len(), 2);
    // Batches without a producer id bypass the table.
    let plain = log.append(vec![build_batch(1, NOW, b"x")], 0).await;
    assert_eq!(plain.unwrap().base_offset, 4);
    assert_eq!(send(&mut log, 1, 0, 4, 1).await.unwrap().base_offset, 5);
}

#[compio::test]
async fn epochs_fence_old_producers_and_a_bump_restarts_at_zero() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    send(&mut log, 3, 4, 0, 5).await.unwrap();
    send(&mut log, 3, 4, 5, 5).await.unwrap();
    let bumped_mid_sequence = send(&mut log, 3, 5, 10, 1).await;
    assert_eq!(
        kind(bumped_mid_sequence),
        StorageErrorKind::OutOfOrderSequence
    );
    let bumped = send(&mut log, 3, 5, 0, 1).await.unwrap();
    assert_eq!(bumped.base_offset, 10);
    let zombie = send(&mut log, 3, 4, 10, 1).await;
    assert_eq!(kind(zombie), StorageErrorKind::InvalidProducerEpoch);
    // A retry of the old epoch's batch is no longer a duplicate: the old epoch is fenced.
    let old_retry = send(&mut log, 3, 4, 5, 5).await;
    assert_eq!(kind(old_retry), StorageErrorKind::InvalidProducerEpoch);
    let entry = log.producer_state().get(3).unwrap();
    assert_eq!((entry.epoch, entry.batches.len()), (5, 1));
    assert_eq!(log.log_end_offset(), 11);
}

#[compio::test]
async fn an_unknown_producer_is_accepted_at_any_sequence() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    // KIP-360: its state may have expired; Kafka 2.5+ accepts and goes on from there.
    let info = send(&mut log, 11, 2, 1234, 2).await.unwrap();
    assert!(!info.duplicate);
    assert_eq!(send(&mut log, 11, 2, 1236, 1).await.unwrap().base_offset, 2);
    assert_eq!(
        kind(send(&mut log, 11, 2, 1238, 1).await),
        StorageErrorKind::OutOfOrderSequence
    );
}

#[compio::test]
async fn sequences_wrap_from_i32_max_to_zero() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    send(&mut log, 5, 0, i32::MAX - 1, 1).await.unwrap();
    // Sequences MAX, 0, 1: crosses the wrap inside the batch.
    let wrapping = send(&mut log, 5, 0, i32::MAX, 3).await.unwrap();
    let retry = send(&mut log, 5, 0, i32::MAX, 3).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, wrapping.base_offset);
    assert_eq!(send(&mut log, 5, 0, 2, 1).await.unwrap().base_offset, 4);
}

#[compio::test]
async fn requests_of_one_tick_see_each_other_and_a_duplicate_is_answered_in_the_tick() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let log = open(directory.path(), LogConfig::default(), &clock).await;
    let mut logs = ShardLogs::new();
    logs.insert(0u32, log);
    let request = |sequence| AppendRequest {
        batches: vec![CheckedBatch::new(batch(9, 1, sequence, 2).freeze()).unwrap()],
        leader_epoch: 0,
    };
    let first = logs
        .append_tick(vec![(0, request(0)), (0, request(2))])
        .await;
    let offsets: Vec<i64> = first
        .iter()
        .map(|r| r.as_ref().unwrap().base_offset)
        .collect();
    assert_eq!(offsets, vec![0, 2]);
    let second = logs
        .append_tick(vec![(0, request(2)), (0, request(4)), (0, request(7))])
        .await;
    let retry = second[0].as_ref().unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 2);
    assert_eq!(second[1].as_ref().unwrap().base_offset, 4);
    let gap = second[2].as_ref().unwrap_err();
    assert_eq!(gap.kind(), StorageErrorKind::OutOfOrderSequence);
    assert_eq!(logs.get(&0).unwrap().log_end_offset(), 6);
}

#[compio::test]
async fn idle_producers_expire_after_producer_id_expiration() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        producer_id_expiration: Duration::from_hours(1),
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    send(&mut log, 1, 0, 0, 1).await.unwrap();
    clock.advance(Duration::from_mins(50));
    send(&mut log, 2, 0, 0, 1).await.unwrap();
    assert_eq!(log.producer_state().len(), 2, "not expired yet");
    // Producer 1's batch carries NOW; expiry is measured from it.
    clock.advance(Duration::from_mins(15));
    let later = build_producer_batch(
        ProducerFields {
            producer_id: 2,
            epoch: 0,
            base_sequence: 1,
        },
        1,
        clock.now_ms(),
    );
    log.append(vec![later], 0).await.unwrap();
    assert!(log.producer_state().get(1).is_none(), "producer 1 expired");
    assert!(log.producer_state().get(2).is_some());
    // Its retry is now an unknown producer's batch: accepted (and written again, as in Kafka).
    let again = send(&mut log, 1, 0, 0, 1).await.unwrap();
    assert!(!again.duplicate);
}

#[compio::test]
async fn a_duplicate_on_a_log_append_time_topic_reports_the_original_time() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    let original = send(&mut log, 1, 0, 0, 1).await.unwrap();
    assert_eq!(original.log_append_time_ms, NOW);
    clock.advance(Duration::from_secs(5));
    let retry = send(&mut log, 1, 0, 0, 1).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.log_append_time_ms, NOW);
}

#[compio::test]
async fn a_clean_restart_keeps_deduplicating_from_the_snapshot() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    send(&mut log, 4, 1, 0, 2).await.unwrap();
    send(&mut log, 4, 1, 2, 2).await.unwrap();
    let table = log.producer_state().clone();
    log.close().await.unwrap();
    assert!(path(directory.path()).join(snapshot_file_name(4)).exists());
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    assert_eq!(log.producer_state(), &table);
    let retry = send(&mut log, 4, 1, 2, 2).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 2);
    assert_eq!(
        kind(send(&mut log, 4, 1, 9, 1).await),
        StorageErrorKind::OutOfOrderSequence
    );
}

#[compio::test]
async fn an_unclean_restart_rebuilds_from_the_roll_snapshot_and_the_tail() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = LogConfig {
        segment_bytes: 400,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config.clone(), &clock).await;
    for sequence in 0..12 {
        send(&mut log, 8, 0, sequence, 1).await.unwrap();
        send(&mut log, 9, 3, sequence * 2, 2).await.unwrap();
    }
    assert!(log.segment_count() > 3, "rolled several times");
    let table = log.producer_state().clone();
    let log_end = log.log_end_offset();
    drop(log); // a crash: no close, no clean-shutdown snapshot
    let snapshots = std::fs::read_dir(path(directory.path()))
        .unwrap()
        .filter(|e| is_snapshot(&e.as_ref().unwrap().path()))
        .count();
    assert_eq!(snapshots, 2, "older snapshots are deleted");
    let mut log = open(directory.path(), config.clone(), &clock).await;
    assert_eq!(log.log_end_offset(), log_end);
    assert_eq!(log.producer_state(), &table);
    let retry = send(&mut log, 9, 3, 22, 2).await.unwrap();
    assert!(retry.duplicate);
    // Without any snapshot the whole log is replayed, to the same table.
    drop(log);
    for entry in std::fs::read_dir(path(directory.path())).unwrap() {
        let entry = entry.unwrap().path();
        if is_snapshot(&entry) {
            std::fs::remove_file(entry).unwrap();
        }
    }
    let log = open(directory.path(), config, &clock).await;
    assert_eq!(log.producer_state(), &table);
}

#[compio::test]
async fn a_damaged_snapshot_is_skipped_and_the_log_replayed() {
    let directory = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    send(&mut log, 2, 0, 0, 3).await.unwrap();
    let table = log.producer_state().clone();
    log.close().await.unwrap();
    let snapshot = path(directory.path()).join(snapshot_file_name(3));
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snapshot, bytes).unwrap();
    let mut log = open(directory.path(), LogConfig::default(), &clock).await;
    assert_eq!(log.producer_state(), &table);
    assert!(send(&mut log, 2, 0, 0, 3).await.unwrap().duplicate);
}

fn is_snapshot(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "snapshot")
}
