//! The housekeeping pass (every `HOUSEKEEPING_INTERVAL_MS`, or [`super::LogPump::housekeeping`]):
//! `segment.ms` rolls, retention, `flush.ms` and the replicated high-watermark checkpoint of
//! every open log, and retention for the dormant ones (issue 20).
//!
//! Dormant logs: each pass visits the next `dormant_checks_per_pass` of them round-robin
//! (ordered by partition, from a cursor that wraps), so every dormant log is looked at once per
//! `dormant logs / dormant_checks_per_pass` passes and a pass's work stays bounded whatever the
//! partition count. A visit reads only what retention needs, on a blocking thread
//! (`storage::retention_probe`: segment names, the oldest deletable segment's largest timestamp,
//! sizes when `retention.bytes` is set); the logs with something to delete — at most
//! `dormant_opens_per_pass` — are opened (recovered as on first use) and marked unused, the
//! pass runs their retention as for any open log, and eviction closes them first when more
//! than `open_logs_max` are open. A log the probe finds due while the pass has opened its
//! share already is visited again first next pass.
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
use crate::storage::retention_probe::{ClosedLog, retention_due};

impl Pump {
    pub(super) async fn housekeeping(&mut self) {
        self.open_dormant_due().await;
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

    /// Probes the next dormant logs (module docs) and opens, unused, those retention has
    /// something to delete from.
    async fn open_dormant_due(&mut self) {
        let visiting = self.next_dormant();
        let Some(&(last, _)) = visiting.last() else {
            return;
        };
        assert!(
            visiting.len() <= self.limits.dormant_checks_per_pass,
            "visiting {} dormant logs",
            visiting.len()
        );
        let now_ms = self.clock.now_ms();
        let probes: Vec<Option<ClosedLog>> = visiting.iter().map(|(_, log)| log.clone()).collect();
        let probing = compio::runtime::spawn_blocking(move || {
            probes
                .iter()
                .map(|probe| probe.as_ref().map(|log| retention_due(log, now_ms)))
                .collect::<Vec<_>>()
        });
        let outcomes = match probing.await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::warn!(%error, "dormant retention probe failed");
                return;
            }
        };
        assert_eq!(
            outcomes.len(),
            visiting.len(),
            "one outcome per dormant log"
        );
        let mut opening: Vec<(PartitionKey, LogSpec)> = Vec::new();
        self.retention_cursor = Some(last);
        for ((key, _), outcome) in visiting.into_iter().zip(outcomes) {
            let due = match outcome {
                Some(Ok(due)) => due,
                Some(Err(error)) => {
                    tracing::warn!(%error, ?key, "dormant retention probe failed");
                    None
                }
                None => None,
            };
            let Some(reason) = due else { continue };
            if opening.len() == self.limits.dormant_opens_per_pass {
                // This one and the rest wait for the next pass, which starts here.
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
