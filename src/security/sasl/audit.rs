//! The audit line for authentication failures: one `warn` per failure with the user, the
//! mechanism and the client address, rate-limited per shard to
//! `AUTH_FAILURE_LOGS_PER_SECOND_MAX` lines a second; failures beyond that are counted and
//! the count is reported by the next line written, so a password-guessing peer cannot flood
//! the log and no failure goes unaccounted.
//!
//! Per-shard state in a thread-local (`Cell`s, `!Send`): runs on the connection's shard.
use crate::limits::AUTH_FAILURE_LOGS_PER_SECOND_MAX;
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One shard's rate limiter: a one-second window and what it let through.
#[derive(Debug)]
pub struct FailureLimiter {
    window_start: Cell<Option<Instant>>,
    written: Cell<u32>,
    suppressed: Cell<u64>,
}

impl FailureLimiter {
    #[must_use]
    pub const fn new() -> Self {
        Self {
            window_start: Cell::new(None),
            written: Cell::new(0),
            suppressed: Cell::new(0),
        }
    }

    /// Whether a line may be written at `now`; `Some(n)` with the failures suppressed since
    /// the last line written, `None` when this one is suppressed too.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let window = Duration::from_secs(1);
        let current = self.window_start.get();
        if current.is_none_or(|start| now.saturating_duration_since(start) >= window) {
            self.window_start.set(Some(now));
            self.written.set(0);
        }
        if self.written.get() >= AUTH_FAILURE_LOGS_PER_SECOND_MAX {
            self.suppressed.set(self.suppressed.get().saturating_add(1));
            return None;
        }
        self.written.set(self.written.get() + 1);
        assert!(self.written.get() <= AUTH_FAILURE_LOGS_PER_SECOND_MAX);
        Some(self.suppressed.replace(0))
    }
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    static LIMITER: FailureLimiter = const { FailureLimiter::new() };
}

/// Logs one authentication failure (rate-limited).
pub fn authentication_failed(
    peer: SocketAddr,
    user: Option<&str>,
    mechanism: Option<&str>,
    reason: &dyn std::fmt::Display,
) {
    let Some(suppressed) = LIMITER.with(|limiter| limiter.admit(Instant::now())) else {
        return;
    };
    tracing::warn!(
        target: "ringbroker::audit",
        client = %peer,
        user = %user.unwrap_or("-"),
        mechanism = %mechanism.unwrap_or("-"),
        %reason,
        suppressed_before = suppressed,
        "authentication failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_at_the_limit_and_counted_in_the_next_window() {
        let limiter = FailureLimiter::new();
        let start = Instant::now();
        for _ in 0..AUTH_FAILURE_LOGS_PER_SECOND_MAX {
            assert_eq!(limiter.admit(start), Some(0));
        }
        assert_eq!(limiter.admit(start), None);
        assert_eq!(limiter.admit(start + Duration::from_millis(999)), None);
        let next = start + Duration::from_secs(1);
        assert_eq!(limiter.admit(next), Some(2));
        assert_eq!(limiter.admit(next), Some(0));
    }
}
