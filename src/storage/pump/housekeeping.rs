//! The housekeeping pass (every `HOUSEKEEPING_INTERVAL_MS`, or [`super::LogPump::housekeeping`]):
//! `segment.ms` rolls, retention, `flush.ms` and the replicated high-watermark checkpoint of
//! every open log, and retention for the dormant ones (issue 20).
//!
//! Dormant logs: each pass visits the next `dormant_checks_per_pass` of them round-robin
//! (ordered by partition, from a cursor that wraps), so every dormant log is looked at once per
//! `dormant logs / dormant_checks_per_pass` passes and a pass's work stays bounded whatever the
//! partition count. A visit reads only what retention needs, on a blocking thread
//! (`storage::retention_probe`: segment names, the oldest deletable segment's largest timestamp,
//! sizes when `retention.bytes` is set). The pump does not wait for it: a pass starts a probe,
//! and the next pass (the timer's, a second later) collects its answer and starts the next one
//! — 256 logs take ~17 ms of a blocking thread (debug build), which would otherwise hold up
//! every command of the shard once a second. The logs with something to delete — at most
//! `dormant_opens_per_pass` — are opened (recovered as on first use) and marked unused, the
//! pass runs their retention as for any open log, and eviction closes them first when more
//! than `open_logs_max` are open. A log found due after the pass opened its share is probed
//! again first by the next probe. A log opened, or removed, while its probe ran is skipped.
//!
//! Not for dormant logs: `segment.ms` rolls. Kafka rolls an active segment on the next append
//! only (retention never deletes the active segment), and a dormant log takes no appends; the
//! first append after it opens checks `segment.ms` as always. An open idle log, though, rolls
//! from this pass, so its last segment can then expire, while a dormant one keeps it — as every
//! Kafka partition does.
//!
//! Runs on the pump's shard; the probe's file reads on compio's blocking pool.
use std::ops::Bound;

use super::task::Pump;
use super::{LogSpec, PartitionKey};
use crate::storage::StorageError;
use crate::storage::retention_probe::{ClosedLog, RetentionDue, retention_due};

/// The probe's answer for one log; `None`: not probed (its config is unresolved).
type ProbeOutcome = Option<Result<Option<RetentionDue>, StorageError>>;

/// A dormant-log probe running on a blocking thread: the logs it visits, in order, and its
/// answer for each.
pub(super) struct RetentionProbe {
    keys: Vec<PartitionKey>,
    task: compio::runtime::JoinHandle<Vec<ProbeOutcome>>,
}

impl Pump {
    /// One pass; `wait`: finish this pass's dormant-log probe before returning (an explicit
    /// [`super::LogPump::housekeeping`]), else collect it in a later pass (the timer's).
    pub(super) async fn housekeeping(&mut self, wait: bool) {
        self.open_dormant_due(wait).await;
        let keys: Vec<PartitionKey> = self.logs.keys().copied().collect();
        for key in keys {
            let Some(log) = self.logs.get_mut(&key) else {
                continue;
            };
            if let Err(error) = log.maybe_roll().await {
                tracing::warn!(%error, "segment roll failed");
            }
            if let Err(error) = log.enforce_retention().await {
                tracing::warn!(%error, "retention failed");
            }
            if let Err(error) = log.maybe_flush().await {
                tracing::warn!(%error, "flush failed");
            }
            if let Err(error) = log.maybe_persist_high_watermark().await {
                tracing::warn!(%error, "high watermark checkpoint failed");
            }
        }
        // Rolls add segment files; dormant logs opened for retention close again.
        self.close_least_used_if_over().await;
    }

    /// Collects the probe started by an earlier pass once it has finished (or, when `wait`,
    /// the one this pass starts), opening — unused — the logs retention has something to
    /// delete from; starts the next probe when none runs (module docs).
    async fn open_dormant_due(&mut self, wait: bool) {
        if self
            .retention_probe
            .as_ref()
            .is_some_and(|probe| probe.task.is_finished())
        {
            self.collect_probe().await;
        }
        if self.retention_probe.is_none() {
            self.retention_probe = self.start_probe();
        }
        if wait {
            self.collect_probe().await;
        }
    }

    /// Probes the next dormant logs on a blocking thread; the cursor moves past them.
    fn start_probe(&mut self) -> Option<RetentionProbe> {
        let visiting = self.next_dormant();
        let &(last, _) = visiting.last()?;
        assert!(
            visiting.len() <= self.limits.dormant_checks_per_pass,
            "visiting {} dormant logs",
            visiting.len()
        );
        self.retention_cursor = Some(last);
        let now_ms = self.clock.now_ms();
        let (keys, logs): (Vec<PartitionKey>, Vec<Option<ClosedLog>>) =
            visiting.into_iter().unzip();
        let task = compio::runtime::spawn_blocking(move || {
            logs.iter()
                .map(|log| log.as_ref().map(|log| retention_due(log, now_ms)))
                .collect::<Vec<_>>()
        });
        Some(RetentionProbe { keys, task })
    }

    /// Waits for the running probe, if any, and opens (unused) at most
    /// `dormant_opens_per_pass` of the logs it found due that are still dormant.
    async fn collect_probe(&mut self) {
        let Some(RetentionProbe { keys, task }) = self.retention_probe.take() else {
            return;
        };
        let outcomes = match task.await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::warn!(%error, "dormant retention probe failed");
                return;
            }
        };
        assert_eq!(outcomes.len(), keys.len(), "one outcome per dormant log");
        let mut opening: Vec<(PartitionKey, LogSpec)> = Vec::new();
        for (key, outcome) in keys.into_iter().zip(outcomes) {
            // Opened, or removed, since the probe started: its answer is moot.
            if !self.dormant.contains_key(&key) {
                continue;
            }
            let reason = match outcome {
                Some(Ok(Some(reason))) => reason,
                Some(Ok(None)) | None => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, ?key, "dormant retention probe failed");
                    continue;
                }
            };
            if opening.len() == self.limits.dormant_opens_per_pass {
                // This one and the rest are probed again first, by the next probe.
                self.retention_cursor = self.dormant.range(..key).next_back().map(|(k, _)| *k);
                break;
            }
            if let Some(spec) = self.dormant.remove(&key) {
                tracing::debug!(?key, ?reason, "opening a dormant log for retention");
                opening.push((key, spec));
            }
        }
        self.open_unused(opening).await;
    }

    /// The next `dormant_checks_per_pass` dormant logs after the cursor, wrapping once; each
    /// with what the probe needs (`None` for a log whose config is unresolved: it is never
    /// opened, so neither is it probed).
    fn next_dormant(&self) -> Vec<(PartitionKey, Option<ClosedLog>)> {
        let count = self.limits.dormant_checks_per_pass;
        let after = match self.retention_cursor {
            Some(cursor) => self
                .dormant
                .range((Bound::Excluded(cursor), Bound::Unbounded)),
            None => self.dormant.range(..),
        };
        let mut visiting: Vec<(PartitionKey, &LogSpec)> =
            after.take(count).map(|(key, spec)| (*key, spec)).collect();
        if let Some(cursor) = self.retention_cursor {
            let wrapped = self.dormant.range(..=cursor);
            let room = count - visiting.len();
            visiting.extend(wrapped.take(room).map(|(key, spec)| (*key, spec)));
        }
        visiting
            .into_iter()
            .map(|(key, spec)| (key, closed_log(spec)))
            .collect()
    }
}

fn closed_log(spec: &LogSpec) -> Option<ClosedLog> {
    let config = spec.config.as_ref()?;
    Some(ClosedLog {
        directory: spec.directory.clone(),
        retention_ms: config.retention_ms,
        retention_bytes: config.retention_bytes,
        replicated: spec.replicated,
    })
}
