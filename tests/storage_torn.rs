//! Torn tails and flipped bytes: cut the active segment at every byte offset within its last
//! two batches, and flip random bytes there; each reopen must recover to the last whole good
//! batch, agree with a fresh scan, serve nothing corrupt, and accept appends again.
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter};
use ringbroker::storage::testing::{SplitMix64, build_batch_sized};
use ringbroker::storage::{Clock, LogConfig, ManualClock, PartitionLog};

const NOW: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 150,
        ..LogConfig::default()
    }
}

fn clock() -> Rc<dyn Clock> {
    Rc::new(ManualClock::new(NOW))
}

/// Builds a log of ≥ 3 segments whose active one holds ≥ 4 batches; returns the batch ends in
/// the active segment, the log end offset after each of them, the active base offset and the
/// number of batches written.
async fn build(directory: &Path) -> (Vec<u64>, Vec<i64>, i64, usize) {
    let mut log = PartitionLog::open(directory.to_path_buf(), config(), clock())
        .await
        .unwrap();
    for seed in 0..200u64 {
        let records = 1 + (seed % 4) as i32;
        let size = 40 + (seed as usize * 7) % 90;
        let batch = build_batch_sized(records, NOW + seed as i64, size, seed);
        log.append(vec![batch], 2).await.unwrap();
        let active_base = *log.segment_base_offsets().last().unwrap();
        let (ends, offsets) = active_batches(&log, active_base).await;
        if log.segment_count() >= 3 && ends.len() >= 4 {
            // Crash: no close, so the clean-shutdown marker stays cleared.
            drop(log);
            return (ends, offsets, active_base, seed as usize + 1);
        }
    }
    panic!("200 batches did not give three segments");
}

async fn active_batches(log: &PartitionLog, active_base: i64) -> (Vec<u64>, Vec<i64>) {
    let slice = log.read(active_base, u32::MAX, true).await.unwrap();
    let mut ends = Vec::new();
    let mut offsets = Vec::new();
    let mut position = 0u64;
    for range in &slice.ranges {
        let bytes = range.read_to_bytes().await.unwrap();
        for batch in BatchSplitter::new(bytes) {
            position += batch.len() as u64;
            ends.push(position);
            offsets.push(BatchHeader::parse(&batch).unwrap().last_offset() + 1);
        }
    }
    (ends, offsets)
}

fn copy_directory(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn all_batches(log: &PartitionLog) -> Vec<Bytes> {
    let slice = log
        .read(log.log_start_offset(), u32::MAX, true)
        .await
        .unwrap();
    let mut batches = Vec::new();
    for range in &slice.ranges {
        // read_to_bytes re-checks every CRC: nothing corrupt may come back.
        let bytes = range.read_to_bytes().await.unwrap();
        batches.extend(BatchSplitter::new(bytes));
    }
    batches
}

/// Opens the damaged copy and checks it recovered to `expected_end`.
async fn check_recovery(directory: &Path, expected_end: i64) {
    let mut log = PartitionLog::open(directory.to_path_buf(), config(), clock())
        .await
        .unwrap();
    assert_eq!(
        log.log_end_offset(),
        expected_end,
        "{}",
        directory.display()
    );
    log.verify_against_scan().await.unwrap();
    let batches = all_batches(&log).await;
    let last = batches
        .last()
        .map(|b| BatchHeader::parse(b).unwrap().last_offset() + 1);
    assert_eq!(last, Some(expected_end));
    let info = log
        .append(vec![build_batch_sized(2, NOW, 10, 99)], 2)
        .await
        .unwrap();
    assert_eq!(info.base_offset, expected_end);
    assert_eq!(all_batches(&log).await.len(), batches.len() + 1);
    log.close().await.unwrap();
}

#[compio::test]
async fn every_cut_in_the_last_two_batches_recovers() {
    let source = tempfile::tempdir().unwrap();
    let (ends, offsets, active_base, _) = build(source.path()).await;
    assert!(
        ends.len() >= 3,
        "active segment needs three batches, has {}",
        ends.len()
    );
    let log_name = format!("{active_base:020}.log");
    let cut_from = ends[ends.len() - 3];
    let cut_to = *ends.last().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for cut in cut_from..cut_to {
        let directory = scratch.path().join(format!("cut-{cut}"));
        copy_directory(source.path(), &directory);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(directory.join(&log_name));
        file.unwrap().set_len(cut).unwrap();
        let whole = ends.iter().filter(|end| **end <= cut).count();
        let expected_end = if whole == 0 {
            active_base
        } else {
            offsets[whole - 1]
        };
        check_recovery(&directory, expected_end).await;
        std::fs::remove_dir_all(&directory).unwrap();
    }
}

#[compio::test]
async fn flipped_bytes_never_survive_recovery() {
    let seed = SplitMix64::seed_from_env("STORAGE_TORN_SEED");
    println!("storage_torn seed {seed} (STORAGE_TORN_SEED={seed} to replay)");
    let mut random = SplitMix64::new(seed);
    let source = tempfile::tempdir().unwrap();
    let (ends, offsets, active_base, _) = build(source.path()).await;
    let log_name = format!("{active_base:020}.log");
    let first = ends[ends.len() - 3];
    let span = ends.last().unwrap() - first;
    let scratch = tempfile::tempdir().unwrap();
    for round in 0..60 {
        let position = first + random.below(span);
        let directory = scratch.path().join(format!("flip-{round}"));
        copy_directory(source.path(), &directory);
        let path = directory.join(&log_name);
        let mut bytes = std::fs::read(&path).unwrap();
        let flip = 1 + random.below(255) as u8;
        bytes[position as usize] ^= flip;
        std::fs::write(&path, &bytes).unwrap();
        // The batch holding `position`, and where in it the byte sits.
        let damaged = ends.iter().filter(|end| **end <= position).count();
        let batch_start = if damaged == 0 { 0 } else { ends[damaged - 1] };
        let within = position - batch_start;
        // Bytes 12..16 (leader epoch) sit outside the CRC, like the base offset; the base
        // offset is caught by the continuity check, the epoch is not checkable at all.
        let expected_end = if (12..16).contains(&within) {
            *offsets.last().unwrap()
        } else if damaged == 0 {
            active_base
        } else {
            offsets[damaged - 1]
        };
        check_recovery(&directory, expected_end).await;
        std::fs::remove_dir_all(&directory).unwrap();
    }
}

#[compio::test]
async fn damaged_index_of_an_old_segment_is_rebuilt() {
    let directory = tempfile::tempdir().unwrap();
    let (_, offsets, _, written) = build(directory.path()).await;
    // Reopen cleanly first so the next open trusts old segments' indexes.
    let log = PartitionLog::open(directory.path().to_path_buf(), config(), clock())
        .await
        .unwrap();
    let first_base = log.segment_base_offsets()[0];
    log.close().await.unwrap();
    let index = directory.path().join(format!("{first_base:020}.index"));
    let mut bytes = std::fs::read(&index).unwrap();
    assert!(bytes.len() >= 16, "first segment needs two index entries");
    bytes.swap(3, 11); // relative offsets no longer increase
    bytes.truncate(bytes.len() - 1);
    std::fs::write(&index, &bytes).unwrap();
    std::fs::remove_file(directory.path().join(format!("{first_base:020}.timeindex"))).unwrap();
    let log = PartitionLog::open(directory.path().to_path_buf(), config(), clock())
        .await
        .unwrap();
    assert_eq!(log.log_end_offset(), *offsets.last().unwrap());
    log.verify_against_scan().await.unwrap();
    assert_eq!(all_batches(&log).await.len(), written);
    assert!(std::fs::read(&index).unwrap().len().is_multiple_of(8));
}

#[compio::test]
async fn a_cut_below_the_recovery_point_drops_the_later_segments() {
    let directory = tempfile::tempdir().unwrap();
    let (_, _, _, _) = build(directory.path()).await;
    let log = PartitionLog::open(directory.path().to_path_buf(), config(), clock())
        .await
        .unwrap();
    let bases = log.segment_base_offsets();
    drop(log);
    // Pretend nothing was ever synced (a crash before the control file caught up): every
    // segment is scanned, and the second one lost its last bytes.
    let control = "ringbroker-log 1\nlog_start_offset 0\nrecovery_point 0\nclean_shutdown 0\n";
    std::fs::write(directory.path().join("ringbroker-log"), control).unwrap();
    let second = directory.path().join(format!("{:020}.log", bases[1]));
    let length = std::fs::metadata(&second).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&second)
        .unwrap();
    file.set_len(length - 5).unwrap();
    let log = PartitionLog::open(directory.path().to_path_buf(), config(), clock())
        .await
        .unwrap();
    assert_eq!(log.segment_base_offsets(), bases[..2].to_vec());
    assert!(log.log_end_offset() < bases[2]);
    assert!(log.log_end_offset() > bases[1]);
    for later in &bases[2..] {
        assert!(!directory.path().join(format!("{later:020}.log")).exists());
    }
    log.verify_against_scan().await.unwrap();
    let batches = all_batches(&log).await;
    let last = BatchHeader::parse(batches.last().unwrap())
        .unwrap()
        .last_offset();
    assert_eq!(last + 1, log.log_end_offset());
    assert_eq!(log.latest_epoch(), Some(2));
}
