//! The broker's replication throttle (issue 18): one budget of record bytes per second for the
//! whole broker, drawn from by every shard's follower fetchers. Kafka keeps one quota per
//! broker over all its throttled replicas (ReplicationQuotaManager: one sensor per direction,
//! recorded into by every fetcher thread), and `follower.replication.throttled.rate` is a
//! broker's rate. A partition lives on one shard, so a budget split evenly over the shards
//! gave a lone moving partition `rate / shards`; shared, one shard fetching alone gets the
//! whole rate and shards fetching at once share it.
//!
//! Two token buckets: `All` (`--replication-throttle-bytes-per-sec`, every follower fetch) and
//! `Moving` (the committed `follower.replication.throttled.rate`, the replicas this broker is
//! adding). A fetch stream draws ([`Draw`]) from each bucket whose rate ([`Rates`]) is not 0:
//! it waits the longest any of them asks, and its request's `max_bytes` is the least any of
//! them has left. A bucket whose rate changes keeps what it holds (debt included, capped at
//! the new burst): shards see a new committed rate at slightly different times, and a change
//! must not hand out a fresh burst each time one of them does.
//!
//! Runs on every shard: the broker makes one [`ReplicationThrottle`] and hands an `Arc` of it
//! to each shard's replica manager (`ReplicationSettings`). Each bucket sits behind a
//! `std::sync::Mutex`, the one cross-shard lock of replication: a budget of the whole broker is
//! shared state by its definition, and the lock is taken a few times per follower Fetch
//! request (never per record), held for a few integer operations and never across an
//! `.await`, so at most `SHARDS_MAX` fetcher threads rarely meet on it. Exchanging tokens
//! through the mesh instead would cost more than the lock it saves.
//!
//! No clock reads: every call is given `now`, so the arithmetic is tested with made-up
//! instants. Not owned here: what is fetched and when (`fetcher.rs`), the rates' configuration
//! (`config`, `cluster::configs`).
use crate::limits::{
    REPLICA_FETCH_RESPONSE_BYTES, REPLICATION_THROTTLE_BURST_MS, REPLICATION_THROTTLE_WAIT_MS_MAX,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The broker's replication throttle (see the module's header); one per broker.
#[derive(Debug, Default)]
pub struct ReplicationThrottle {
    /// Every follower fetch; `None` until its first draw with a rate.
    all: Mutex<Option<TokenBucket>>,
    /// Moving data only; `None` until its first draw with a rate.
    moving: Mutex<Option<TokenBucket>>,
}

/// The rates (bytes/s of records, 0 = that bucket is off) one fetch stream draws at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rates {
    /// `--replication-throttle-bytes-per-sec`, the broker's.
    pub(super) all: u64,
    /// The committed `follower.replication.throttled.rate` for the `Moving` stream, else 0.
    pub(super) moving: u64,
}

/// One fetch stream's draw on the broker's throttle, for one request.
#[derive(Debug, Clone)]
pub(super) struct Draw {
    throttle: Arc<ReplicationThrottle>,
    rates: Rates,
}

impl ReplicationThrottle {
    /// A draw at `rates` on this broker-wide throttle.
    pub(super) fn draw(self: &Arc<Self>, rates: Rates) -> Draw {
        Draw {
            throttle: Arc::clone(self),
            rates,
        }
    }

    /// The buckets with their rates in `rates`.
    fn buckets(&self, rates: Rates) -> [(&Mutex<Option<TokenBucket>>, u64); 2] {
        [(&self.all, rates.all), (&self.moving, rates.moving)]
    }
}

impl Draw {
    /// How long to wait before the next request: the longest any drawn bucket asks (zero when
    /// each has budget or is off), at most `REPLICATION_THROTTLE_WAIT_MS_MAX`.
    pub(super) fn wait(&self, now: Instant) -> Duration {
        let waits = self
            .throttle
            .buckets(self.rates)
            .map(|(slot, rate)| at_rate(slot, rate, now, Duration::ZERO, |b| b.wait(now)));
        let wait = waits.into_iter().max().unwrap_or(Duration::ZERO);
        assert!(wait <= Duration::from_millis(REPLICATION_THROTTLE_WAIT_MS_MAX));
        wait
    }

    /// A request's `max_bytes`: the least any drawn bucket has left (at least 1), or
    /// `REPLICA_FETCH_RESPONSE_BYTES` when none is on.
    pub(super) fn budget(&self, now: Instant) -> i32 {
        let off = REPLICA_FETCH_RESPONSE_BYTES;
        let budgets = self
            .throttle
            .buckets(self.rates)
            .map(|(slot, rate)| at_rate(slot, rate, now, off, |b| b.budget(now)));
        let budget = budgets.into_iter().min().unwrap_or(off);
        assert!(budget >= 1, "budget {budget}");
        budget
    }

    /// `bytes` of records arrived: every drawn bucket pays them (a bucket never drawn at a
    /// rate before, which no request went through, has nothing to pay).
    pub(super) fn spent(&self, bytes: u64) {
        for (slot, rate) in self.throttle.buckets(self.rates) {
            if rate == 0 {
                continue;
            }
            if let Some(bucket) = lock(slot).as_mut() {
                bucket.spent(bytes);
            }
        }
    }
}

/// Runs `act` on `slot`'s bucket brought to `rate` at `now` (made at its first draw), or
/// answers `off` when `rate` is 0.
fn at_rate<T>(
    slot: &Mutex<Option<TokenBucket>>,
    rate: u64,
    now: Instant,
    off: T,
    act: impl FnOnce(&mut TokenBucket) -> T,
) -> T {
    if rate == 0 {
        return off;
    }
    let mut slot = lock(slot);
    let bucket = slot.get_or_insert_with(|| TokenBucket::new(rate, now));
    bucket.set_rate(rate, now);
    assert_eq!(bucket.rate, rate);
    act(bucket)
}

/// The bucket behind `slot`. A poisoned lock (a shard panicked holding it, an assertion that
/// stops the broker) is used as is: the bucket's invariants are checked again at every use.
fn lock(slot: &Mutex<Option<TokenBucket>>) -> std::sync::MutexGuard<'_, Option<TokenBucket>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A token bucket of record bytes: `rate` per second, at most `REPLICATION_THROTTLE_BURST_MS`
/// of it saved. A response may overdraw it (a leader returns a partition's first batch whole,
/// KIP-74, and shards drawing at once may each be handed the same budget); the debt is waited
/// out before the next request.
#[derive(Debug)]
struct TokenBucket {
    rate: u64,
    capacity: i64,
    /// Bytes that may be fetched now; negative while overdrawn.
    tokens: i64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(rate: u64, now: Instant) -> Self {
        let bucket = Self {
            rate,
            capacity: capacity_of(rate),
            tokens: capacity_of(rate),
            refilled: now,
        };
        bucket.check_invariants();
        bucket
    }

    fn check_invariants(&self) {
        assert!(self.rate > 0);
        assert!(self.capacity >= 1, "capacity {}", self.capacity);
        assert!(
            self.tokens <= self.capacity,
            "tokens {} > capacity {}",
            self.tokens,
            self.capacity
        );
    }

    /// Moves to `rate` from `now` on: what was earned until now at the old rate stays, and
    /// so does the debt; savings are capped at the new burst.
    fn set_rate(&mut self, rate: u64, now: Instant) {
        if rate == self.rate {
            return;
        }
        self.refill(now);
        self.rate = rate;
        self.capacity = capacity_of(rate);
        self.tokens = self.tokens.min(self.capacity);
        self.check_invariants();
    }

    /// Adds what `rate` earned since the last refill. `now` may be older than the last refill
    /// (another shard's clock read, taken before it locked): then nothing is earned.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = u128::from(self.rate) * elapsed.as_nanos() / 1_000_000_000;
        if earned > 0 {
            let earned = i64::try_from(earned).unwrap_or(i64::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
            self.refilled = now;
        }
        self.check_invariants();
    }

    /// How long to wait before the next request (zero when there is budget), at most
    /// `REPLICATION_THROTTLE_WAIT_MS_MAX`.
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens > 0 {
            return Duration::ZERO;
        }
        let deficit = u128::from(self.tokens.unsigned_abs()) + 1;
        let nanos = deficit * 1_000_000_000 / u128::from(self.rate);
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos).min(Duration::from_millis(REPLICATION_THROTTLE_WAIT_MS_MAX))
    }

    /// A request's `max_bytes`: what is left of the budget (at least 1).
    fn budget(&mut self, now: Instant) -> i32 {
        self.refill(now);
        i32::try_from(self.tokens.max(1)).unwrap_or(i32::MAX)
    }

    fn spent(&mut self, bytes: u64) {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.tokens = self.tokens.saturating_sub(bytes);
        self.check_invariants();
    }
}

/// The most a bucket at `rate` saves: `REPLICATION_THROTTLE_BURST_MS` of it (at least 1 byte).
fn capacity_of(rate: u64) -> i64 {
    assert!(rate > 0);
    i64::try_from(rate.saturating_mul(REPLICATION_THROTTLE_BURST_MS) / 1000)
        .unwrap_or(i64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const MB: u64 = 1_000_000;

    /// A draw on `throttle` of the moving stream at `moving` bytes/s, no broker-wide rate.
    fn moving_draw(throttle: &Arc<ReplicationThrottle>, moving: u64) -> Draw {
        throttle.draw(Rates { all: 0, moving })
    }

    #[test]
    fn the_bucket_waits_out_what_was_overdrawn() {
        let start = Instant::now();
        // 1 MB/s: 100 KB of burst.
        let mut bucket = TokenBucket::new(MB, start);
        assert_eq!(bucket.wait(start), Duration::ZERO);
        assert_eq!(bucket.budget(start), 100_000);
        // A 600 KB answer overdraws by 500 KB: half a second, waited in bounded steps.
        bucket.spent(600_000);
        let wait = bucket.wait(start);
        assert!(wait >= Duration::from_millis(500), "{wait:?}");
        assert!(wait <= Duration::from_millis(REPLICATION_THROTTLE_WAIT_MS_MAX));
        assert_eq!(bucket.budget(start), 1);
        let later = start + Duration::from_millis(600);
        assert_eq!(bucket.wait(later), Duration::ZERO);
        // Idle time saves at most the burst.
        let idle = later + Duration::from_secs(60);
        assert_eq!(bucket.budget(idle), 100_000);
        // A huge debt waits at most the bound per step.
        bucket.spent(1 << 40);
        let wait = bucket.wait(idle);
        assert_eq!(
            wait,
            Duration::from_millis(REPLICATION_THROTTLE_WAIT_MS_MAX)
        );
        // An instant older than the last refill (another shard's) earns nothing.
        let mut bucket = TokenBucket::new(MB, later);
        bucket.spent(100_000);
        assert_eq!(bucket.budget(start), 1);
    }

    /// What `shards` fetch streams of one broker pull in `seconds` of made-up time: each
    /// loops as a fetcher does (wait, budget, a request of at most `REQUEST` bytes, spent)
    /// in 1 ms steps, the first to draw taking turns (the throttle serves whoever asks first;
    /// real fetchers wake at times that differ). Per shard, the bytes fetched.
    fn pulled(throttle: &Arc<ReplicationThrottle>, shards: usize, seconds: u64) -> Vec<u64> {
        const REQUEST: u64 = 64 * 1024;
        let draws: Vec<Draw> = (0..shards)
            .map(|_| moving_draw(throttle, 10 * MB))
            .collect();
        let mut fetched = vec![0u64; shards];
        let start = Instant::now();
        for step in 0..seconds * 1000 {
            let now = start + Duration::from_millis(step);
            for turn in 0..shards {
                let shard = (turn + usize::try_from(step).unwrap()) % shards;
                let draw = &draws[shard];
                if !draw.wait(now).is_zero() {
                    continue;
                }
                let bytes = REQUEST.min(u64::try_from(draw.budget(now)).unwrap());
                draw.spent(bytes);
                fetched[shard] += bytes;
            }
        }
        fetched
    }

    /// The rate is the broker's: a lone shard fetching (a partition lives on one shard) gets
    /// all of it, not `rate / shards`.
    #[test]
    fn one_shard_alone_gets_the_whole_rate() {
        let throttle = Arc::new(ReplicationThrottle::default());
        let fetched = pulled(&throttle, 1, 10);
        // 10 s at 10 MB/s, plus at most the 1 MB burst and one request of overshoot.
        assert!(fetched[0] >= 99 * MB, "{fetched:?}");
        assert!(fetched[0] <= 101 * MB + 64 * 1024, "{fetched:?}");
    }

    /// Two shards drawing from the one budget get the whole rate between them, never more,
    /// and neither is starved.
    #[test]
    fn two_shards_share_the_whole_rate() {
        let throttle = Arc::new(ReplicationThrottle::default());
        let fetched = pulled(&throttle, 2, 10);
        let total: u64 = fetched.iter().sum();
        assert!(total >= 99 * MB, "{fetched:?}");
        assert!(total <= 101 * MB + 2 * 64 * 1024, "{fetched:?}");
        for shard in &fetched {
            assert!(*shard >= 40 * MB, "{fetched:?}");
        }
    }

    /// Real threads (the shards) on one throttle, at one instant so no time refills it: they
    /// drain exactly the one burst between them, overdrawing by at most one request each.
    #[test]
    fn shard_threads_drain_one_shared_burst() {
        const REQUEST: u64 = 1_000;
        const DRAWS_MAX: usize = 1_000;
        let throttle = Arc::new(ReplicationThrottle::default());
        let now = Instant::now();
        let burst = 1_000_000; // 10 MB/s for REPLICATION_THROTTLE_BURST_MS
        let fetched: u64 = std::thread::scope(|scope| {
            let shards: Vec<_> = (0..2)
                .map(|_| {
                    let draw = moving_draw(&throttle, 10 * MB);
                    scope.spawn(move || {
                        let mut fetched = 0;
                        for _ in 0..DRAWS_MAX {
                            if !draw.wait(now).is_zero() {
                                break;
                            }
                            let bytes = REQUEST.min(u64::try_from(draw.budget(now)).unwrap());
                            draw.spent(bytes);
                            fetched += bytes;
                        }
                        fetched
                    })
                })
                .collect();
            shards.into_iter().map(|shard| shard.join().unwrap()).sum()
        });
        assert!(fetched >= burst, "{fetched}");
        assert!(fetched <= burst + 2 * REQUEST, "{fetched}");
        assert!(!moving_draw(&throttle, 10 * MB).wait(now).is_zero());
    }

    #[test]
    fn a_rate_of_zero_is_off() {
        let throttle = Arc::new(ReplicationThrottle::default());
        let now = Instant::now();
        let off = throttle.draw(Rates { all: 0, moving: 0 });
        off.spent(1 << 40);
        assert_eq!(off.wait(now), Duration::ZERO);
        assert_eq!(off.budget(now), REPLICA_FETCH_RESPONSE_BYTES);
        // Nothing was drawn, so a bucket turned on later starts with its burst.
        assert_eq!(moving_draw(&throttle, MB).budget(now), 100_000);
    }

    /// Shards that see a new committed rate at different times do not get a fresh burst each
    /// time the rate they draw at changes: the debt stays, paid at the new rate.
    #[test]
    fn a_new_rate_keeps_the_debt() {
        let throttle = Arc::new(ReplicationThrottle::default());
        let now = Instant::now();
        let slow = moving_draw(&throttle, MB);
        let fast = moving_draw(&throttle, 10 * MB);
        assert_eq!(slow.budget(now), 100_000);
        slow.spent(600_000);
        assert_eq!(fast.budget(now), 1, "no fresh burst");
        assert_eq!(slow.budget(now), 1, "no fresh burst back");
        // 500 KB of debt at 10 MB/s: 50 ms.
        let wait = fast.wait(now);
        assert!(wait >= Duration::from_millis(50), "{wait:?}");
        assert!(wait <= Duration::from_millis(51), "{wait:?}");
        // Savings are capped at the new (smaller) burst.
        let idle = now + Duration::from_secs(60);
        assert_eq!(fast.budget(idle), 1_000_000);
        assert_eq!(slow.budget(idle), 100_000);
    }

    /// The moving bucket slows only the stream that draws from it; both streams draw from the
    /// broker-wide one.
    #[test]
    fn moving_data_waits_its_own_bucket_only() {
        let throttle = Arc::new(ReplicationThrottle::default());
        let now = Instant::now();
        let in_sync = throttle.draw(Rates { all: 0, moving: 0 });
        let moving = moving_draw(&throttle, MB);
        assert_eq!(moving.budget(now), 100_000, "the moving bucket's burst");
        moving.spent(600_000);
        assert!(moving.wait(now) >= Duration::from_millis(500));
        assert_eq!(moving.budget(now), 1);
        assert_eq!(
            in_sync.wait(now),
            Duration::ZERO,
            "in-sync followers never wait"
        );
        assert_eq!(in_sync.budget(now), REPLICA_FETCH_RESPONSE_BYTES);
        // With a broker-wide rate too, each stream takes the tighter of its buckets.
        let both = throttle.draw(Rates {
            all: 10 * MB,
            moving: MB,
        });
        assert!(both.wait(now) >= Duration::from_millis(500));
        let in_sync = throttle.draw(Rates {
            all: 10 * MB,
            moving: 0,
        });
        assert_eq!(in_sync.wait(now), Duration::ZERO);
        assert_eq!(in_sync.budget(now), 1_000_000);
    }
}
