//! The append path of [`PartitionLog`]: check sizes and timestamps (the batches themselves were
//! validated when they became [`CheckedBatch`]es), roll if needed, assign offsets, one vectored
//! positional write, account, apply the flush policy.
//!
//! All-or-nothing per request: a request with one bad batch is refused whole and the log is
//! untouched. Idempotent producers' batches are checked against the producer table before
//! anything is written (producer_state.rs): a request out of sequence or of an old epoch is
//! refused whole; a retry of batches already written is answered with their original offsets
//! and not written again; the table learns the accepted batches only after the write.
//! Several requests (one tick's worth for this partition, see `ShardLogs`) share one
//! vectored write; each gets its own result.
//!
//! No copy of the batches: they are shared `Bytes` (slices of the request frames). The base
//! offset and leader epoch (outside the CRC) are patched into a private copy of each 61-byte
//! header, all of one write's headers in one buffer, and each batch goes out as two iovecs:
//! patched header, then the caller's bytes after the header. ARCHITECTURE §3 says "patch in
//! place"; doing that needs a unique buffer, which for a batch inside a shared frame meant
//! copying every produced byte once more (the user-space memmove in the 1 MiB produce profile).
//! Runs on the shard that owns the partition.
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use compio::io::AsyncWriteAtExt;

use super::batch::CheckedBatch;
use super::config::duration_ms;
use super::epoch::LeaderEpochCache;
use super::log::truncate_file;
use super::producer_log::RequestCheck;
use super::producer_state::StagedUpdates;
use super::segment::{BatchMeta, Segment};
use super::{FlushPolicy, PartitionLog, StorageError, TimestampType};
use crate::limits::{
    APPEND_BATCHES_MAX, APPEND_SIZE_MAX, INLINE_WRITE_BYTES_MAX, SEGMENTS_PER_PARTITION_MAX,
    WRITEBACK_START_BYTES,
};
use crate::protocol::record_batch::{
    self, ATTRIBUTES_OFFSET, BatchHeader, CRC_OFFSET, HEADER_SIZE, MAX_TIMESTAMP_OFFSET,
};

/// Attributes bit 3: the batch's timestamps are LogAppendTime.
const TIMESTAMP_TYPE_BIT: i16 = 0x08;

/// Most iovecs one write takes (Linux `IOV_MAX`); longer appends are written in pieces. Each
/// batch takes two (patched header, rest), so this is an even number.
const IOVECS_PER_WRITE_MAX: usize = 1024;
const _: () = assert!(IOVECS_PER_WRITE_MAX.is_multiple_of(2));

/// Write-back is started in whole pages of this size (4 KiB: the smallest page Linux uses on
/// the machines we run on; a larger real page only makes the last one partly covered).
const WRITEBACK_PAGE_SIZE: u32 = 4096;

/// What an append assigned, or for an idempotent producer's retry, what the original got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's time written into the batches, or −1 unless `LogAppendTime`.
    pub log_append_time_ms: i64,
    /// Records written by this append (0 for a duplicate).
    pub record_count: i64,
    /// The request repeated batches already in the log (same producer, epoch and sequences):
    /// nothing was written, and the offsets are the original's. The broker answers it as a
    /// success, as Kafka does.
    pub duplicate: bool,
    /// The log start offset when the append was made (Produce v5+ reports it).
    pub log_start_offset: i64,
}

/// One producer's batches for this partition.
#[derive(Debug)]
pub struct AppendRequest {
    pub batches: Vec<CheckedBatch>,
    pub leader_epoch: i32,
}

/// A validated request's totals.
struct Checked {
    size: u64,
    record_count: i64,
}

/// The patched headers and the bodies of one write, with what each request was assigned.
struct Patched {
    heads: BytesMut,
    bodies: Vec<Bytes>,
    infos: Vec<AppendInfo>,
    /// The log end offset once the write lands.
    next_offset: i64,
}

/// What the check step of one `append_unsynced` decided, before anything is written.
struct AppendPlan {
    /// One per request: final for duplicates and refusals, a placeholder for the others.
    results: Vec<Result<AppendInfo, StorageError>>,
    /// One per request: `Some` for the requests to write.
    checked: Vec<Option<Checked>>,
    /// Producer-table updates of the requests to write, committed after the write.
    staged: StagedUpdates,
    /// The log end offset when the check ran: the first offset of this write.
    first_offset: i64,
    /// The log end offset after the write.
    next_offset: i64,
}

impl PartitionLog {
    /// Validates all batches (magic 2, length, CRC-32C, record count vs last offset delta,
    /// size vs `max_message_bytes`, timestamps), then assigns offsets, patches base offset and
    /// leader epoch, and writes. An invalid batch leaves the log untouched. Applies the flush
    /// policy (Strict: fdatasync before returning). The broker checks batches on the
    /// connection's shard and calls [`Self::append_unsynced`] through `ShardLogs`; this is the
    /// one-request convenience for tests, tools and recovery-style callers.
    ///
    /// # Errors
    /// `CorruptMessage`, `InvalidRecord`, `EmptyAppend`, `TooManyBatches`, `MessageTooLarge`,
    /// `InvalidTimestamp` (log untouched); `Io`, `Offline`, `SegmentLimit`.
    pub async fn append(
        &mut self,
        batches: Vec<BytesMut>,
        leader_epoch: i32,
    ) -> Result<AppendInfo, StorageError> {
        let mut checked = Vec::with_capacity(batches.len());
        for (index, batch) in batches.into_iter().enumerate() {
            let batch = CheckedBatch::new(batch.freeze())
                .map_err(|reason| StorageError::from_batch_error(index, reason))?;
            checked.push(batch);
        }
        let request = AppendRequest {
            batches: checked,
            leader_epoch,
        };
        let mut results = self.append_unsynced(vec![request]).await;
        let result = results.pop().unwrap_or(Err(StorageError::EmptyAppend));
        let info = result?;
        self.apply_flush_policy().await?;
        Ok(info)
    }

    /// Appends several requests with one write and no flush; `ShardLogs` syncs afterwards,
    /// once per tick. One result per request, in order.
    pub async fn append_unsynced(
        &mut self,
        mut requests: Vec<AppendRequest>,
    ) -> Vec<Result<AppendInfo, StorageError>> {
        let now_ms = self.clock.now_ms();
        // A failed background flush takes the log offline; `ensure_online` below reports it.
        if let Err(error) = self.settle_pending_flush(false).await {
            tracing::error!(%error, "background flush of a rolled segment failed");
        }
        self.maybe_expire_producers(now_ms);
        let plan = self.check_all(&requests, now_ms);
        let size: u64 = plan.checked.iter().flatten().map(|c| c.size).sum();
        let record_count: i64 = plan.checked.iter().flatten().map(|c| c.record_count).sum();
        if size == 0 {
            return plan.results;
        }
        if let Err(error) = self.maybe_roll_for(size, record_count, now_ms).await {
            return fail_checked(plan.results, &plan.checked, &error);
        }
        match self
            .write_checked(&mut requests, &plan.checked, now_ms)
            .await
        {
            Ok(infos) => self.append_unsynced_complete(plan, infos),
            Err(error) => fail_checked(plan.results, &plan.checked, &error),
        }
    }

    /// The check step of [`PartitionLog::append_unsynced`]: every request against the log and
    /// the producer table, without writing. Requests to write get a placeholder result and
    /// their totals in `checked`; duplicates and refusals get their final result.
    fn check_all(&self, requests: &[AppendRequest], now_ms: i64) -> AppendPlan {
        let first_offset = self.log_end_offset();
        let mut plan = AppendPlan {
            results: Vec::with_capacity(requests.len()),
            checked: Vec::with_capacity(requests.len()),
            staged: StagedUpdates::default(),
            first_offset,
            next_offset: first_offset,
        };
        for request in requests {
            let outcome = self
                .ensure_online()
                .and_then(|()| self.check_request(request, now_ms))
                .and_then(|totals| {
                    let check =
                        self.check_producers(request, plan.next_offset, now_ms, &plan.staged)?;
                    Ok((totals, check))
                });
            let (check, result) = match outcome {
                Ok((totals, RequestCheck::Append(updates))) => {
                    plan.next_offset += totals.record_count;
                    plan.staged.merge(updates);
                    (Some(totals), Err(StorageError::EmptyAppend))
                }
                Ok((_, RequestCheck::Duplicate(info))) => (None, Ok(info)),
                Err(error) => (None, Err(error)),
            };
            plan.checked.push(check);
            plan.results.push(result);
        }
        assert_eq!(plan.results.len(), requests.len(), "one result per request");
        plan
    }

    /// After the write of [`PartitionLog::append_unsynced`]: the producer table learns the
    /// staged updates, and each written request gets its offsets.
    fn append_unsynced_complete(
        &mut self,
        plan: AppendPlan,
        infos: Vec<AppendInfo>,
    ) -> Vec<Result<AppendInfo, StorageError>> {
        // The producer updates were staged with offsets counted from the same log end.
        assert_eq!(
            infos.first().map(|info| info.base_offset),
            Some(plan.first_offset),
            "staged producer offsets"
        );
        assert_eq!(
            self.log_end_offset(),
            plan.next_offset,
            "staged producer offsets"
        );
        self.producers.commit(plan.staged);
        let mut results = plan.results;
        let mut infos = infos.into_iter();
        for (result, check) in results.iter_mut().zip(&plan.checked) {
            if check.is_some()
                && let Some(info) = infos.next()
            {
                *result = Ok(info);
            }
        }
        results
    }

    /// fdatasync for the policy after a successful append (Strict always; Messages/Interval
    /// when due).
    ///
    /// # Errors
    /// As [`PartitionLog::flush`].
    pub async fn apply_flush_policy(&mut self) -> Result<(), StorageError> {
        match self.config.flush {
            FlushPolicy::Strict => self.flush().await,
            FlushPolicy::None | FlushPolicy::Messages(_) | FlushPolicy::Interval(_) => {
                self.maybe_flush().await
            }
        }
    }

    fn check_request(&self, request: &AppendRequest, now_ms: i64) -> Result<Checked, StorageError> {
        let count = request.batches.len();
        if count == 0 {
            return Err(StorageError::EmptyAppend);
        }
        if count > APPEND_BATCHES_MAX {
            return Err(StorageError::TooManyBatches {
                count,
                count_max: APPEND_BATCHES_MAX,
            });
        }
        let size_max =
            u64::from(self.config.max_message_bytes).min(self.config.segment_size_effective());
        let mut totals = Checked {
            size: 0,
            record_count: 0,
        };
        for batch in &request.batches {
            let header = batch.header();
            let size = batch.len() as u64;
            if size > size_max {
                return Err(StorageError::MessageTooLarge { size, size_max });
            }
            self.check_timestamps(&header, now_ms)?;
            totals.size += size;
            totals.record_count += i64::from(header.records_count());
        }
        if totals.size > APPEND_SIZE_MAX {
            return Err(StorageError::MessageTooLarge {
                size: totals.size,
                size_max: APPEND_SIZE_MAX,
            });
        }
        Ok(totals)
    }

    /// CreateTime windows, checked per batch: the max timestamp against
    /// `message.timestamp.after.max.ms`, the base timestamp against `...before.max.ms`
    /// (Kafka checks every record; storage does not parse records).
    fn check_timestamps(&self, header: &BatchHeader<'_>, now_ms: i64) -> Result<(), StorageError> {
        if self.config.message_timestamp_type == TimestampType::LogAppendTime {
            return Ok(());
        }
        if let Some(after) = self.config.message_timestamp_after_max {
            let timestamp_ms = header.max_timestamp();
            if timestamp_ms > now_ms.saturating_add(duration_ms(after)) {
                return Err(StorageError::InvalidTimestamp {
                    timestamp_ms,
                    now_ms,
                });
            }
        }
        if let Some(before) = self.config.message_timestamp_before_max {
            let timestamp_ms = header.base_timestamp();
            if timestamp_ms >= 0 && timestamp_ms < now_ms.saturating_sub(duration_ms(before)) {
                return Err(StorageError::InvalidTimestamp {
                    timestamp_ms,
                    now_ms,
                });
            }
        }
        Ok(())
    }

    /// Rolls before an append of `size` bytes and `record_count` records when the active
    /// segment is full by bytes, age or relative offsets.
    pub(super) async fn maybe_roll_for(
        &mut self,
        size: u64,
        record_count: i64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let full = u64::from(active.size) + size > self.config.segment_size_effective();
        let last_relative = active.next_offset + record_count - 1 - active.base_offset;
        let offsets_full = last_relative > i64::from(i32::MAX);
        if full || offsets_full || self.segment_expired(now_ms) {
            self.roll().await?;
        }
        Ok(())
    }

    pub(super) fn segment_expired(&self, now_ms: i64) -> bool {
        let (Some(segment_ms), Some(first)) =
            (self.config.segment_ms, self.active().first_batch_timestamp)
        else {
            return false;
        };
        first >= 0 && now_ms.saturating_sub(first) > duration_ms(segment_ms)
    }

    /// Closes the active segment and opens a new one at the log end. The closed segment is
    /// made durable in the background (fdatasync, then its index files): see
    /// [`super::log::PendingFlush`]. A roll first waits for the previous roll's flush, so at
    /// most one runs and a producer faster than the disk is held back here.
    ///
    /// # Errors
    /// `Io`, `SegmentLimit`.
    pub(super) async fn roll(&mut self) -> Result<(), StorageError> {
        if self.segments.len() >= SEGMENTS_PER_PARTITION_MAX {
            return Err(StorageError::SegmentLimit {
                count: self.segments.len(),
            });
        }
        self.settle_pending_flush(true).await?;
        let log_end = self.log_end_offset();
        let directory = self.directory.clone();
        // Re-check after the await: only an append could have moved the end, and appends
        // hold `&mut self`, so it cannot have.
        assert_eq!(log_end, self.log_end_offset(), "log end moved during roll");
        let (segment, file_size) = Segment::open(&directory, log_end).await?;
        if file_size > 0 {
            // Leftover of a crash during an earlier roll: nothing in it was ever acknowledged.
            truncate_file(&segment, 0).await?;
        }
        self.active_mut().finish_time_index();
        let rolled = self.active();
        let (segment_base, file, index_files) = (
            rolled.base_offset,
            Rc::clone(&rolled.log),
            rolled.index_files(),
        );
        let task = compio::runtime::spawn(async move {
            file.file()
                .sync_data()
                .await
                .map_err(|error| StorageError::io("fdatasync", file.path(), error))?;
            index_files.write(&directory).await
        });
        self.pending_flush = Some(super::log::PendingFlush {
            segment_base,
            up_to: log_end,
            task,
        });
        self.segments.push_back(segment);
        self.unflushed_records = 0;
        self.last_flush_ms = self.clock.now_ms();
        // Kafka snapshots producer state at every roll, so a restart replays at most the
        // active segment's batch headers (those past the recovery point are replayed too).
        self.write_producer_snapshot().await?;
        self.check_invariants();
        Ok(())
    }

    /// Assigns offsets, writes every checked request's batches in one go, then accounts.
    async fn write_checked(
        &mut self,
        requests: &mut [AppendRequest],
        checked: &[Option<Checked>],
        now_ms: i64,
    ) -> Result<Vec<AppendInfo>, StorageError> {
        let log_append_time_ms = match self.config.message_timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        let mut epochs = epochs_if_newer(&self.epochs, requests, checked);
        let patched = self.patch_checked(requests, checked, epochs.as_mut(), log_append_time_ms);
        if let Some(epochs) = &epochs {
            // Before the data: a crash in between leaves an epoch past the log end, which the
            // next open truncates; the other order could lose the epoch of written batches.
            self.write_epoch_checkpoint(epochs).await?;
        }
        let heads = patched.heads.freeze();
        let mut parts = Vec::with_capacity(2 * patched.bodies.len());
        for (index, body) in patched.bodies.into_iter().enumerate() {
            parts.push(heads.slice(index * HEADER_SIZE..(index + 1) * HEADER_SIZE));
            parts.push(body);
        }
        let position = self.active().size;
        self.write_parts(parts, position).await?;
        self.index_written(&heads);
        self.start_writeback();
        assert_eq!(
            self.log_end_offset(),
            patched.next_offset,
            "log end after append"
        );
        if let Some(epochs) = epochs.take() {
            self.epochs = epochs;
        }
        let infos = patched.infos;
        let appended: i64 = infos.iter().map(|i| i.record_count).sum();
        self.unflushed_records = self
            .unflushed_records
            .saturating_add(u64::try_from(appended).unwrap_or(0));
        self.advance_high_watermark();
        self.check_invariants();
        Ok(infos)
    }

    /// The offsets step of [`PartitionLog::write_checked`]: assigns each checked request its
    /// offsets (and leader epoch) and patches a private copy of every batch header, all of one
    /// write's headers in one buffer (one allocation per write). Writes nothing.
    fn patch_checked(
        &self,
        requests: &mut [AppendRequest],
        checked: &[Option<Checked>],
        mut epochs: Option<&mut LeaderEpochCache>,
        log_append_time_ms: i64,
    ) -> Patched {
        let batch_count: usize = requests
            .iter()
            .zip(checked)
            .filter(|(_, check)| check.is_some())
            .map(|(request, _)| request.batches.len())
            .sum();
        let mut patched = Patched {
            heads: BytesMut::with_capacity(batch_count * HEADER_SIZE),
            bodies: Vec::with_capacity(batch_count),
            infos: Vec::with_capacity(requests.len()),
            next_offset: self.log_end_offset(),
        };
        for (request, check) in requests.iter_mut().zip(checked) {
            let Some(check) = check else { continue };
            let base_offset = patched.next_offset;
            if let Some(epochs) = epochs.as_deref_mut() {
                epochs.assign(request.leader_epoch, base_offset);
            }
            for batch in request.batches.drain(..) {
                let (head, body) = batch.bytes().split_at(HEADER_SIZE);
                let start = patched.heads.len();
                patched.heads.extend_from_slice(head);
                let header = patched.heads.get_mut(start..).unwrap_or_default();
                let offset = patched.next_offset;
                patch_header(
                    header,
                    body,
                    offset,
                    request.leader_epoch,
                    log_append_time_ms,
                );
                patched.next_offset += i64::from(batch.header().records_count());
                patched.bodies.push(batch.bytes().slice(HEADER_SIZE..));
            }
            assert_eq!(
                patched.next_offset - base_offset,
                check.record_count,
                "offsets per request"
            );
            patched.infos.push(AppendInfo {
                base_offset,
                last_offset: patched.next_offset - 1,
                log_append_time_ms,
                record_count: check.record_count,
                duplicate: false,
                log_start_offset: self.log_start_offset,
            });
        }
        patched
    }

    /// The accounting step of [`PartitionLog::write_checked`]: the active segment learns each
    /// written batch (size, offsets, timestamps, sparse index entries).
    /// Starts write-back of what the active segment received since the last start, once that
    /// is `WRITEBACK_START_BYTES`: `sync_file_range(SYNC_FILE_RANGE_WRITE)` queues those pages
    /// for the disk and returns without waiting for them. The roll's fdatasync then finds most
    /// of the segment written, and the disk works while the segment fills instead of in one
    /// burst per roll (bench/RESULTS.md, issue 20). Durability is unchanged: nothing counts as
    /// durable, and the recovery point stays, until an fdatasync completes. Only whole pages
    /// are started, so the next append never writes into a page under write-back. A failure
    /// is logged and otherwise ignored: those pages are then written by the fdatasync, which
    /// reports any I/O error itself.
    fn start_writeback(&mut self) {
        let active = self.active_mut();
        let end = active.size & !(WRITEBACK_PAGE_SIZE - 1);
        let from = active.writeback_started_to.min(end);
        if end - from < WRITEBACK_START_BYTES {
            return;
        }
        let fd = active.log.raw_fd();
        // SAFETY: plain syscall on `fd`, the segment's open descriptor, owned by `active.log`
        // (alive for the call); no memory is passed.
        let result = unsafe {
            libc::sync_file_range(
                fd,
                libc::off64_t::from(from),
                libc::off64_t::from(end - from),
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if result != 0 {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, path = %active.log.path().display(), "sync_file_range");
        }
        active.writeback_started_to = end;
    }

    pub(super) fn index_written(&mut self, heads: &[u8]) {
        let interval = self.config.index_interval_effective();
        let active = self.active_mut();
        for head in heads.chunks_exact(HEADER_SIZE) {
            let meta = BatchHeader::parse(head)
                .ok()
                .and_then(|h| BatchMeta::from_header(&h, active.size));
            let Some(meta) = meta else {
                unreachable!("a validated batch re-parses");
            };
            active.on_batch(&meta, interval);
        }
    }

    /// Positional vectored writes at the active segment's end, `IOV_MAX` buffers at a time.
    /// On failure the file is cut back to `position`; if even that fails the log goes offline.
    ///
    /// Small writes (≤ `INLINE_WRITE_BYTES_MAX`) are a plain `pwritev` on this thread; larger
    /// ones go through io_uring. Why: ext4 cannot do a buffered write without blocking
    /// (IOCB_NOWAIT is refused), so io_uring hands every buffered write to an io-wq worker
    /// thread and wakes us when it is done — two context switches per write. For a 16 KiB
    /// batch that hand-off costs more than the copy itself: 100-byte-record produce (16 KiB
    /// batches, 4 interleaved runs each) went from 2.47 to 2.64 M records/s median with 8%
    /// less broker CPU per record writing inline (bench/RESULTS.md, "produce: small writes
    /// inline"). For large writes the copy dominates and the worker lets it overlap with
    /// this shard's other work. The cost of inline: a write that must wait (dirty-page
    /// throttling, reclaim) holds this shard for that time; it is bounded by the threshold's
    /// copy plus whatever the kernel imposes, which io-wq would impose on the request too.
    pub(super) async fn write_parts(
        &mut self,
        mut parts: Vec<Bytes>,
        position: u32,
    ) -> Result<(), StorageError> {
        let file = Rc::clone(&self.active().log);
        let mut writer = file.file();
        let mut at = u64::from(position);
        // Loop bound: each pass writes ≥ one buffer; ≤ 2 × APPEND_BATCHES_MAX / 1024 passes.
        while !parts.is_empty() {
            let rest = if parts.len() > IOVECS_PER_WRITE_MAX {
                parts.split_off(IOVECS_PER_WRITE_MAX)
            } else {
                Vec::new()
            };
            let length: u64 = parts.iter().map(|b| b.len() as u64).sum();
            let result = if length <= INLINE_WRITE_BYTES_MAX {
                write_inline(file.raw_fd(), &parts, at)
            } else {
                writer.write_vectored_all_at(parts, at).await.0
            };
            if let Err(error) = result {
                if truncate_file(self.active(), u64::from(position))
                    .await
                    .is_err()
                {
                    self.offline = true;
                }
                return Err(StorageError::io("write", file.path(), error));
            }
            at += length;
            parts = rest;
        }
        Ok(())
    }
}

/// `pwritev` of every byte of `parts` at `at`, on this thread, retrying short writes and EINTR.
fn write_inline(fd: std::os::fd::RawFd, parts: &[Bytes], at: u64) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = parts
        .iter()
        .map(|part| std::io::IoSlice::new(part))
        .collect();
    let mut slices = &mut slices[..];
    let mut at = at;
    // Loop bound: every pass writes ≥ 1 byte or returns (EINTR retries are the kernel's).
    while !slices.is_empty() {
        let count = libc::c_int::try_from(slices.len().min(IOVECS_PER_WRITE_MAX))
            .unwrap_or(libc::c_int::MAX);
        let offset = libc::off_t::try_from(at)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix (std guarantees it);
        // the slices borrow `parts`, alive for the call; `count` ≤ their number; `fd` is the
        // segment's open descriptor, owned by the caller's `SegmentFile` for the call.
        let written =
            unsafe { libc::pwritev(fd, slices.as_ptr().cast::<libc::iovec>(), count, offset) };
        if written < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        let written = usize::try_from(written).unwrap_or(0);
        if written == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero));
        }
        at += written as u64;
        std::io::IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// A copy of the epoch cache to extend when a request's epoch is newer than the latest (rare:
/// leader changes), so the checkpoint can be written before the data.
fn epochs_if_newer(
    epochs: &LeaderEpochCache,
    requests: &[AppendRequest],
    checked: &[Option<Checked>],
) -> Option<LeaderEpochCache> {
    let latest = epochs.latest_epoch().unwrap_or(-1);
    let newer = requests
        .iter()
        .zip(checked)
        .any(|(request, check)| check.is_some() && request.leader_epoch > latest);
    newer.then(|| epochs.clone())
}

/// Writes the assigned base offset and leader epoch (outside the CRC) into `head`, a copy of
/// a batch's 61-byte header whose remaining bytes are `body`; for LogAppendTime also the
/// timestamp type bit and max timestamp (inside the CRC, which is recomputed over the patched
/// header fields and the untouched body).
fn patch_header(
    head: &mut [u8],
    body: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time_ms: i64,
) {
    assert_eq!(head.len(), HEADER_SIZE, "header copy");
    record_batch::set_base_offset(head, base_offset);
    record_batch::set_partition_leader_epoch(head, leader_epoch);
    if log_append_time_ms < 0 {
        return;
    }
    let attributes = BatchHeader::parse(head).map_or(0, |h| h.attributes()) | TIMESTAMP_TYPE_BIT;
    write_field(head, ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
    write_field(
        head,
        MAX_TIMESTAMP_OFFSET,
        &log_append_time_ms.to_be_bytes(),
    );
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(head.get(ATTRIBUTES_OFFSET..).unwrap_or_default()),
        body,
    );
    write_field(head, CRC_OFFSET, &crc.to_be_bytes());
}

fn write_field(batch: &mut [u8], offset: usize, bytes: &[u8]) {
    let field = batch.get_mut(offset..offset + bytes.len());
    assert!(field.is_some(), "batch too short to patch");
    if let Some(field) = field {
        field.copy_from_slice(bytes);
    }
}

/// Turns every checked request's placeholder into `error` (copied: `io::Error` is not Clone).
fn fail_checked(
    mut results: Vec<Result<AppendInfo, StorageError>>,
    checked: &[Option<Checked>],
    error: &StorageError,
) -> Vec<Result<AppendInfo, StorageError>> {
    for (result, check) in results.iter_mut().zip(checked) {
        if check.is_some() {
            *result = Err(copy_error(error));
        }
    }
    results
}

pub(super) fn copy_error(error: &StorageError) -> StorageError {
    error.duplicate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing::{build_batch, build_batch_sized};
    use crate::storage::{Clock, LogConfig, ManualClock};

    /// Patches the header copy the way `write_checked` does and reassembles the batch.
    fn patched(batch: &[u8], base_offset: i64, epoch: i32, log_append_time_ms: i64) -> Vec<u8> {
        let (head, body) = batch.split_at(HEADER_SIZE);
        let mut head = head.to_vec();
        patch_header(&mut head, body, base_offset, epoch, log_append_time_ms);
        [head.as_slice(), body].concat()
    }

    #[test]
    fn patching_keeps_the_crc_valid() {
        let original = build_batch(3, 500, b"records");
        let batch = patched(&original, 1234, 9, -1);
        let header = record_batch::validate(&batch).unwrap();
        assert_eq!(header.base_offset(), 1234);
        assert_eq!(header.partition_leader_epoch(), 9);
        assert!(!header.is_log_append_time());
        assert_eq!(header.max_timestamp(), 500);
        // Only the header copy changed: the records are the original bytes.
        assert_eq!(batch[HEADER_SIZE..], original[HEADER_SIZE..]);
        let batch = patched(&batch, 1, 2, 777);
        let header = record_batch::validate(&batch).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp(), 777);
        assert_eq!(header.base_offset(), 1);
    }

    /// Write-back is started once `WRITEBACK_START_BYTES` have arrived since the last start,
    /// in whole pages only, and never past what was written; the log reopens whole.
    #[compio::test]
    async fn writeback_starts_in_whole_pages_every_few_mebibytes() {
        const NOW: i64 = 1_000;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(NOW));
        let mut log = PartitionLog::open(path.clone(), LogConfig::default(), Rc::clone(&clock))
            .await
            .unwrap();
        let mut starts = Vec::new();
        // ~1 MB batches, not a multiple of the page size: 20 of them cross the threshold twice.
        for seed in 0..20u64 {
            log.append(vec![build_batch_sized(4, NOW, 1_000_003, seed)], 0)
                .await
                .unwrap();
            let active = log.active();
            let started = active.writeback_started_to;
            assert_eq!(started % WRITEBACK_PAGE_SIZE, 0, "whole pages");
            assert!(started <= active.size);
            if started != starts.last().copied().unwrap_or(0) {
                // A start covers everything but the last partial page.
                assert_eq!(started, active.size & !(WRITEBACK_PAGE_SIZE - 1));
                starts.push(started);
            }
        }
        assert_eq!(log.segment_count(), 1);
        let gaps: Vec<u32> = starts
            .iter()
            .scan(0, |at, s| Some(s - std::mem::replace(at, *s)))
            .collect();
        assert_eq!(starts.len(), 2, "{starts:?}");
        assert!(
            gaps.iter().all(|gap| *gap >= WRITEBACK_START_BYTES),
            "{gaps:?}"
        );
        assert!(
            gaps.iter()
                .all(|gap| *gap < WRITEBACK_START_BYTES + 1_001_000),
            "{gaps:?}"
        );
        let end = log.log_end_offset();
        drop(log);
        let log = PartitionLog::open(path, LogConfig::default(), clock)
            .await
            .unwrap();
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(end, 80);
    }
}
