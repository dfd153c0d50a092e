//! Roll, retention, DeleteRecords and flush policies, driven by a `ManualClock`.
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use ringbroker::storage::testing::build_batch_sized;
use ringbroker::storage::{
    AppendRequest, CheckedBatch, Clock, FlushPolicy, LogConfig, ManualClock, PartitionLog,
    StorageErrorKind,
};

const NOW: i64 = 1_700_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

async fn open(directory: &Path, config: LogConfig, clock: &Rc<ManualClock>) -> PartitionLog {
    let clock: Rc<dyn Clock> = clock.clone();
    PartitionLog::open(directory.join("t-0"), config, clock)
        .await
        .unwrap()
}

/// One 100-byte batch of one record stamped with the clock's time.
async fn append_now(log: &mut PartitionLog, clock: &ManualClock) -> i64 {
    let batch = build_batch_sized(1, clock.now_ms(), 39, clock.now_ms() as u64);
    log.append(vec![batch], 0).await.unwrap().base_offset
}

fn files(directory: &Path, extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory.join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(extension))
        .collect();
    names.sort();
    names
}

#[compio::test]
async fn rolls_by_size_and_by_age() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let config = LogConfig {
        segment_bytes: 300,
        segment_ms: Some(HOUR),
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    for _ in 0..7 {
        append_now(&mut log, &clock).await;
    }
    // Three 100-byte batches fit a 300-byte segment.
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
    log.maybe_roll().await.unwrap();
    assert_eq!(log.segment_count(), 3);
    clock.advance(HOUR + Duration::from_millis(1));
    log.maybe_roll().await.unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6, 7]);
    // An empty active segment never rolls by age.
    clock.advance(HOUR * 2);
    log.maybe_roll().await.unwrap();
    assert_eq!(log.segment_count(), 4);
    append_now(&mut log, &clock).await;
    clock.advance(HOUR * 2);
    // The append path checks age too: the next append lands in a new segment.
    assert_eq!(append_now(&mut log, &clock).await, 8);
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6, 7, 8]);
    assert_eq!(files(directory.path(), ".log").len(), 5);
    // Rolled segments are synced, and their index files written, in the background (the last
    // roll's flush may still be pending); once it is collected the recovery point is the
    // active segment's base and every rolled segment has its time index.
    assert!(log.recovery_point() <= 8);
    log.settle_pending_flush(true).await.unwrap();
    assert_eq!(log.recovery_point(), 8);
    assert_eq!(files(directory.path(), ".timeindex").len(), 4);
    log.verify_against_scan().await.unwrap();
}

#[compio::test]
async fn retention_by_time_deletes_old_inactive_segments() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let config = LogConfig {
        segment_bytes: 200,
        retention_ms: Some(HOUR * 24),
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config.clone(), &clock).await;
    for _ in 0..4 {
        append_now(&mut log, &clock).await;
    }
    clock.advance(HOUR * 12);
    for _ in 0..3 {
        append_now(&mut log, &clock).await;
    }
    // Segments: [0,1] at NOW, [2,3] at NOW, [4,5] at NOW+12h, [6] active.
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 6]);
    assert_eq!(log.enforce_retention().await.unwrap(), 0);
    let lease = log.read(0, 100, true).await.unwrap();
    clock.advance(HOUR * 13);
    assert_eq!(log.enforce_retention().await.unwrap(), 2);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.segment_base_offsets(), vec![4, 6]);
    assert_eq!(files(directory.path(), ".log").len(), 2);
    let error = log.read(3, 100, true).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
    // The lease taken before deletion still reads the unlinked file.
    assert_eq!(lease.ranges[0].read_to_bytes().await.unwrap().len(), 100);
    // Everything expired: the active segment stays.
    clock.advance(HOUR * 100);
    assert_eq!(log.enforce_retention().await.unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![6]);
    assert_eq!(log.log_start_offset(), 6);
    log.close().await.unwrap();
    let log = open(directory.path(), config, &clock).await;
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 7));
}

#[compio::test]
async fn retention_by_size_keeps_the_newest_bytes() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let config = LogConfig {
        segment_bytes: 200,
        retention_bytes: Some(450),
        retention_ms: None,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    for _ in 0..9 {
        append_now(&mut log, &clock).await;
    }
    assert_eq!(log.size_bytes(), 900);
    // Kafka's rule: delete the oldest segment while the log minus it still holds ≥ 450 bytes:
    // 900 → 700 → 500; deleting another would leave 300 < 450.
    assert_eq!(log.enforce_retention().await.unwrap(), 2);
    assert_eq!(log.size_bytes(), 500);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.enforce_retention().await.unwrap(), 0);
}

#[compio::test]
async fn delete_records_moves_start_and_persists() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config.clone(), &clock).await;
    for _ in 0..5 {
        append_now(&mut log, &clock).await;
    }
    assert_eq!(log.delete_records_before(3).await.unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![2, 4]);
    assert_eq!(log.delete_records_before(1).await.unwrap(), 3);
    let error = log.delete_records_before(6).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::OffsetOutOfRange);
    // Reading at the new start returns the batch holding it; below it is out of range.
    let slice = log.read(3, 1000, true).await.unwrap();
    assert_eq!(slice.log_start_offset, 3);
    assert_eq!(slice.ranges[0].position, 100);
    assert!(log.read(2, 1000, true).await.is_err());
    drop(log);
    let log = open(directory.path(), config, &clock).await;
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.log_end_offset(), 5);
}

#[compio::test]
async fn flush_policies_move_the_recovery_point() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let policies = [
        (FlushPolicy::None, [0, 0, 0]),
        (FlushPolicy::Messages(2), [0, 2, 2]),
        (FlushPolicy::Interval(Duration::from_secs(10)), [0, 0, 3]),
        (FlushPolicy::Strict, [1, 2, 3]),
    ];
    for (index, (flush, expected)) in policies.into_iter().enumerate() {
        let config = LogConfig {
            flush,
            ..LogConfig::default()
        };
        let path = directory.path().join(format!("p{index}"));
        let mut log = open(&path, config, &clock).await;
        let mut points = Vec::new();
        for step in 0..3 {
            if step == 2 {
                clock.advance(Duration::from_secs(11));
            }
            append_now(&mut log, &clock).await;
            points.push(log.recovery_point());
        }
        assert_eq!(points, expected, "{flush:?}");
        log.close().await.unwrap();
    }
}

/// A roll flushes the closed segment in the background: the recovery point stays below it
/// until that flush is collected, and retention deleting the just-rolled segment waits for its
/// index files first, so none is left behind for a deleted segment.
#[compio::test]
async fn rolled_segments_flush_in_the_background_and_retention_leaves_no_orphans() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Rc::new(ManualClock::new(NOW));
    let config = LogConfig {
        segment_bytes: 100,
        retention_bytes: Some(1),
        ..LogConfig::default()
    };
    let mut log = open(directory.path(), config, &clock).await;
    assert_eq!(append_now(&mut log, &clock).await, 0);
    // This append rolls segment 0 and spawns its flush; nothing collects it yet. (Unsynced,
    // as the broker's tick appends: `append` would apply the flush policy after it, which
    // collects the flush when it already finished — timing-dependent.)
    let batch = build_batch_sized(1, clock.now_ms(), 39, clock.now_ms() as u64);
    let request = AppendRequest {
        batches: vec![CheckedBatch::new(batch.freeze()).unwrap()],
        leader_epoch: 0,
    };
    let appended = log.append_unsynced(vec![request]).await.pop().unwrap();
    assert_eq!(appended.unwrap().base_offset, 1);
    assert_eq!(log.segment_base_offsets(), vec![0, 1]);
    assert_eq!(log.recovery_point(), 0);
    // Retention takes segment 0 at once (it is over 1 byte): it waits for the flush.
    assert_eq!(log.enforce_retention().await.unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![1]);
    assert_eq!(
        files(directory.path(), ".log"),
        vec![format!("{:020}.log", 1)]
    );
    assert!(files(directory.path(), ".index").is_empty());
    assert!(files(directory.path(), ".timeindex").is_empty());
    // Roll again and collect the flush explicitly: the recovery point covers segment 1.
    assert_eq!(append_now(&mut log, &clock).await, 2);
    log.settle_pending_flush(true).await.unwrap();
    assert_eq!(log.recovery_point(), 2);
    assert_eq!(
        files(directory.path(), ".timeindex"),
        vec![format!("{:020}.timeindex", 1)]
    );
    log.verify_against_scan().await.unwrap();
}
