//! The audit log of authorization denials: one line per denial with the principal, the
//! resource, the operation and the client's address, rate-limited by a per-shard token bucket
//! (`ACL_DENIAL_LOGS_PER_SEC`, burst of the same size) so a client retrying a denied request
//! cannot flood the log; the next line that is written says how many were left out.
//!
//! Runs on the connection's shard; the bucket is thread-local (one per shard thread).
use crate::cluster::acls::{AclOperation, ResourceType};
use crate::limits::ACL_DENIAL_LOGS_PER_SEC;
use crate::protocol::ApiKey;
use std::cell::Cell;
use std::time::Instant;

/// A token bucket: `tokens` refill at `ACL_DENIAL_LOGS_PER_SEC` up to the same burst.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    refilled_at: Instant,
    /// Denials not logged since the last line.
    suppressed: u64,
}

impl Bucket {
    #[must_use]
    pub fn full(now: Instant) -> Self {
        Self {
            tokens: f64::from(ACL_DENIAL_LOGS_PER_SEC),
            refilled_at: now,
            suppressed: 0,
        }
    }

    /// Takes a token at `now`: `Some(suppressed before)` when a line may be written.
    pub fn take(&mut self, now: Instant) -> Option<u64> {
        let rate = f64::from(ACL_DENIAL_LOGS_PER_SEC);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled_at = now;
        assert!(self.tokens >= 0.0 && self.tokens <= rate);
        if self.tokens < 1.0 {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.tokens -= 1.0;
        Some(std::mem::take(&mut self.suppressed))
    }
}

thread_local! {
    static BUCKET: Cell<Option<Bucket>> = const { Cell::new(None) };
}

/// What was denied, to whom, from where.
#[derive(Debug, Clone, Copy)]
pub struct Denial<'a> {
    pub principal: &'a str,
    pub host: &'a str,
    pub operation: AclOperation,
    pub resource_type: ResourceType,
    pub resource_name: &'a str,
    /// The request's API.
    pub api: ApiKey,
}

/// Logs `denial` unless this shard's bucket is empty.
pub fn log_denial(denial: &Denial<'_>) {
    let now = Instant::now();
    let admitted = BUCKET.with(|cell| {
        let mut bucket = cell.get().unwrap_or_else(|| Bucket::full(now));
        let admitted = bucket.take(now);
        cell.set(Some(bucket));
        admitted
    });
    if let Some(suppressed) = admitted {
        tracing::info!(
            target: "ringbroker::audit",
            principal = denial.principal,
            host = denial.host,
            operation = denial.operation.name(),
            resource_type = denial.resource_type.name(),
            resource = denial.resource_name,
            api = ?denial.api,
            suppressed_since_last = suppressed,
            "authorization denied"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_admits_a_burst_then_the_rate_and_counts_the_rest() {
        let start = Instant::now();
        let mut bucket = Bucket::full(start);
        for _ in 0..ACL_DENIAL_LOGS_PER_SEC {
            assert_eq!(bucket.take(start), Some(0));
        }
        assert_eq!(bucket.take(start), None);
        assert_eq!(bucket.take(start), None);
        let later = start + Duration::from_secs(1);
        assert_eq!(bucket.take(later), Some(2), "the two left out are reported");
        assert_eq!(bucket.take(later), Some(0));
    }
}
