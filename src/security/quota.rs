//! Quota enforcement on one shard: rate windows per quota entity in use, and the throttle time
//! a client that is over its quota must wait (KIP-13, KIP-124, KIP-219).
//!
//! ```text
//! window  QUOTA_WINDOW_SAMPLES (11) samples × QUOTA_WINDOW_SAMPLE_MS (1 s), Kafka's
//!         quota.window.num × quota.window.size.seconds
//! rate    sum of the samples / elapsed, elapsed = now − oldest sample's start, at least
//!         (samples − 1) × sample length (Kafka's `Rate.windowSize`)
//! throttle (rate − quota) / quota × elapsed, capped at QUOTA_THROTTLE_TIME_MS_MAX (11 s);
//!         request_percentage's at QUOTA_REQUEST_THROTTLE_TIME_MS_MAX (1 s), as Kafka's
//!         ClientRequestQuotaManager caps it at one sample
//! ```
//!
//! Per shard, not per broker: each shard keeps its own windows, so a client whose connections
//! land on several shards may reach up to (shards it uses) × its quota on this broker. Kafka's
//! quotas are per broker already (a client spread over brokers gets brokers × quota); this
//! adds the same factor across shards in exchange for no cross-shard traffic on the request
//! path. One connection always stays on one shard, so a single-connection client (what
//! librdkafka opens per broker) is held to its quota exactly.
//!
//! A sensor is keyed by the quota key and the tags of the entity its quota came from (Kafka's
//! metric tags, `cluster::quotas::ResolvedQuota`): clients sharing a `<default>` quota each get
//! their own window; clients of one user under a user quota share one. At most
//! `QUOTA_SENSORS_PER_SHARD_MAX` sensors; a full table drops the one idle longest.
//!
//! Also kept here: the throttle time each client was given (for metrics), bounded by
//! `QUOTA_THROTTLE_METRIC_CLIENTS_MAX` clients with the rest summed under `<other>`.
//!
//! Runs on the connection's shard; state is thread-local (one shard per thread).
use crate::cluster::quotas::{ClientQuotas, QuotaKey};
use crate::limits::{
    QUOTA_REQUEST_THROTTLE_TIME_MS_MAX, QUOTA_SENSORS_PER_SHARD_MAX,
    QUOTA_THROTTLE_METRIC_CLIENTS_MAX, QUOTA_THROTTLE_TIME_MS_MAX, QUOTA_WINDOW_SAMPLE_MS,
    QUOTA_WINDOW_SAMPLES,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The metric label of clients past `QUOTA_THROTTLE_METRIC_CLIENTS_MAX`.
pub const OTHER_CLIENTS: &str = "<other>";

/// One sample: what was recorded since `start_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// A rate over `QUOTA_WINDOW_SAMPLES` samples of `QUOTA_WINDOW_SAMPLE_MS` (Kafka's `Rate`
/// over a `SampledStat`). Times are ms on any monotonic clock the caller keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct RateWindow {
    /// Grows to `QUOTA_WINDOW_SAMPLES`, then is reused round-robin.
    samples: Vec<Sample>,
    current: usize,
}

impl RateWindow {
    #[must_use]
    pub fn new(now_ms: u64) -> Self {
        let mut samples = Vec::with_capacity(QUOTA_WINDOW_SAMPLES);
        samples.push(Sample {
            start_ms: now_ms,
            value: 0.0,
        });
        Self {
            samples,
            current: 0,
        }
    }

    /// Adds `value` to the current sample, first moving to the next one when the current one
    /// is a whole sample length old.
    pub fn record(&mut self, value: f64, now_ms: u64) {
        assert!(value >= 0.0, "negative record {value}");
        let current = self.samples.get(self.current).copied();
        let expired = current
            .is_none_or(|sample| now_ms.saturating_sub(sample.start_ms) >= QUOTA_WINDOW_SAMPLE_MS);
        if expired {
            self.current = (self.current + 1) % QUOTA_WINDOW_SAMPLES;
            let fresh = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            match self.samples.get_mut(self.current) {
                Some(sample) => *sample = fresh,
                None => self.samples.push(fresh),
            }
        }
        if let Some(sample) = self.samples.get_mut(self.current) {
            sample.value += value;
        }
        self.check_invariants();
    }

    /// The rate per second and the window it was measured over (ms), after forgetting
    /// samples older than the whole window.
    #[must_use]
    pub fn measure(&mut self, now_ms: u64) -> (f64, u64) {
        let window_ms = QUOTA_WINDOW_SAMPLES as u64 * QUOTA_WINDOW_SAMPLE_MS;
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.start_ms) >= window_ms {
                *sample = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
        let total: f64 = self.samples.iter().map(|sample| sample.value).sum();
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed_ms = now_ms.saturating_sub(oldest);
        let full = elapsed_ms / QUOTA_WINDOW_SAMPLE_MS;
        let full_min = QUOTA_WINDOW_SAMPLES as u64 - 1;
        if full < full_min {
            elapsed_ms += (full_min - full) * QUOTA_WINDOW_SAMPLE_MS;
        }
        assert!(elapsed_ms >= full_min * QUOTA_WINDOW_SAMPLE_MS);
        #[allow(clippy::cast_precision_loss)] // ms of a window: far below 2^52
        let rate = total / (elapsed_ms as f64 / 1000.0);
        (rate, elapsed_ms)
    }

    fn check_invariants(&self) {
        assert!(!self.samples.is_empty());
        assert!(self.samples.len() <= QUOTA_WINDOW_SAMPLES);
        assert!(
            self.current < self.samples.len(),
            "current {}",
            self.current
        );
    }
}

/// Kafka's throttle time for a `rate` over `quota` measured across `window_ms`: how long the
/// client must stay silent for its rate over the window to come back to the quota. Zero when
/// within the quota; capped at `QUOTA_THROTTLE_TIME_MS_MAX`.
#[must_use]
pub fn throttle_time(rate: f64, quota: f64, window_ms: u64) -> Duration {
    assert!(quota >= 0.0, "negative quota {quota}");
    if rate <= quota {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_precision_loss)] // ms of a window: far below 2^52
    let ms = if quota == 0.0 {
        QUOTA_THROTTLE_TIME_MS_MAX as f64
    } else {
        (rate - quota) / quota * window_ms as f64
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to the cap
    let ms = ms.clamp(0.0, QUOTA_THROTTLE_TIME_MS_MAX as f64) as u64;
    Duration::from_millis(ms)
}

/// Who a request is from, for quotas: the principal's name and the request's client id
/// (`""` when the header has none, as Kafka).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub user: &'a str,
    pub client_id: &'a str,
}

type SensorKey = (QuotaKey, Option<String>, Option<String>);

struct Sensor {
    window: RateWindow,
    last_used_ms: u64,
}

/// One shard's sensors and throttle totals.
struct ShardQuotas {
    epoch: Instant,
    sensors: HashMap<SensorKey, Sensor>,
    /// (user, client id) → (throttled responses, total throttle ms).
    throttled: BTreeMap<(String, String), (u64, u64)>,
}

thread_local! {
    static SHARD_QUOTAS: RefCell<ShardQuotas> = RefCell::new(ShardQuotas {
        epoch: Instant::now(),
        sensors: HashMap::new(),
        throttled: BTreeMap::new(),
    });
}

impl ShardQuotas {
    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn sensor(&mut self, key: SensorKey, now_ms: u64) -> &mut Sensor {
        if !self.sensors.contains_key(&key) && self.sensors.len() >= QUOTA_SENSORS_PER_SHARD_MAX {
            // O(sensors), only when full: drop the one idle longest.
            let idle = self
                .sensors
                .iter()
                .min_by_key(|(_, sensor)| sensor.last_used_ms)
                .map(|(key, _)| key.clone());
            if let Some(idle) = idle {
                self.sensors.remove(&idle);
            }
        }
        assert!(self.sensors.len() <= QUOTA_SENSORS_PER_SHARD_MAX);
        let sensor = self.sensors.entry(key).or_insert_with(|| Sensor {
            window: RateWindow::new(now_ms),
            last_used_ms: now_ms,
        });
        sensor.last_used_ms = now_ms;
        sensor
    }
}

/// Records `value` (bytes, or percent-seconds of shard time) against `client`'s `key` quota
/// and returns the throttle time it earns (at most one sample for `request_percentage`, as
/// Kafka); zero without a quota (nothing is kept then).
#[must_use]
pub fn record(
    quotas: &ClientQuotas,
    key: QuotaKey,
    client: Client<'_>,
    value: f64,
    now: Instant,
) -> Duration {
    let Some(resolved) = quotas.resolve(key, client.user, client.client_id) else {
        return Duration::ZERO;
    };
    SHARD_QUOTAS.with_borrow_mut(|shard| {
        let now_ms = shard.now_ms(now);
        let sensor_key = (key, resolved.user_tag, resolved.client_id_tag);
        let sensor = shard.sensor(sensor_key, now_ms);
        sensor.window.record(value, now_ms);
        let (rate, window_ms) = sensor.window.measure(now_ms);
        let throttle = throttle_time(rate, resolved.value, window_ms);
        match key {
            QuotaKey::RequestPercentage => {
                throttle.min(Duration::from_millis(QUOTA_REQUEST_THROTTLE_TIME_MS_MAX))
            }
            QuotaKey::ProducerByteRate
            | QuotaKey::ConsumerByteRate
            | QuotaKey::ControllerMutationRate => throttle,
        }
    })
}

/// Counts a throttle `client` was given, for the metrics.
pub fn note_throttle(client: Client<'_>, throttle: Duration) {
    let ms = u64::try_from(throttle.as_millis()).unwrap_or(u64::MAX);
    SHARD_QUOTAS.with_borrow_mut(|shard| {
        let key = (client.user.to_owned(), client.client_id.to_owned());
        let full = shard.throttled.len() >= QUOTA_THROTTLE_METRIC_CLIENTS_MAX;
        let key = if full && !shard.throttled.contains_key(&key) {
            (OTHER_CLIENTS.to_owned(), OTHER_CLIENTS.to_owned())
        } else {
            key
        };
        let totals = shard.throttled.entry(key).or_default();
        totals.0 += 1;
        totals.1 = totals.1.saturating_add(ms);
        assert!(shard.throttled.len() <= QUOTA_THROTTLE_METRIC_CLIENTS_MAX + 1);
    });
}

/// This shard's throttle totals: (user, client id) → (throttled responses, total ms).
#[must_use]
pub fn throttle_totals() -> BTreeMap<(String, String), (u64, u64)> {
    SHARD_QUOTAS.with_borrow(|shard| shard.throttled.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::cluster::quotas::{EntityName, QuotaEntity};

    #[test]
    fn a_young_window_counts_as_ten_samples() {
        let mut window = RateWindow::new(0);
        window.record(1000.0, 0);
        // 1000 bytes in the first ms: measured over (11 − 1) s, as Kafka.
        assert_eq!(window.measure(0), (100.0, 10_000));
        // Past 10 s the real elapsed time counts.
        window.record(1000.0, 10_500);
        let (rate, elapsed) = window.measure(10_500);
        assert_eq!(elapsed, 10_500);
        assert!((rate - 2000.0 / 10.5).abs() < 1e-9);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut window = RateWindow::new(0);
        window.record(5000.0, 0);
        // Every second a small record: the first sample is reused after 11 samples.
        for second in 1..=12 {
            window.record(10.0, second * 1000);
        }
        let (rate, _) = window.measure(12_000);
        assert!(rate < 20.0, "the 5000 bytes are gone: {rate}");
        assert!(window.samples.len() <= QUOTA_WINDOW_SAMPLES);
    }

    #[test]
    fn throttle_is_kafkas_overshoot_over_quota_times_window() {
        assert_eq!(throttle_time(100.0, 100.0, 10_000), Duration::ZERO);
        // Twice the quota over 10 s: silent for 10 s brings it back.
        assert_eq!(throttle_time(200.0, 100.0, 10_000), Duration::from_secs(10));
        assert_eq!(throttle_time(150.0, 100.0, 10_000), Duration::from_secs(5));
        let cap = Duration::from_millis(QUOTA_THROTTLE_TIME_MS_MAX);
        assert_eq!(throttle_time(10_000.0, 1.0, 10_000), cap);
        assert_eq!(throttle_time(1.0, 0.0, 10_000), cap);
    }

    #[test]
    fn records_throttle_only_clients_with_a_quota() {
        let mut quotas = ClientQuotas::default();
        let entity = QuotaEntity {
            user: None,
            client_id: Some(EntityName::Named("slow".to_owned())),
        };
        quotas
            .set(&entity, QuotaKey::ProducerByteRate, Some(1000.0))
            .unwrap();
        let now = Instant::now();
        let slow = Client {
            user: "ANONYMOUS",
            client_id: "slow",
        };
        let fast = Client {
            user: "ANONYMOUS",
            client_id: "fast",
        };
        let key = QuotaKey::ProducerByteRate;
        // 10,000 bytes within the quota's 10 s window: exactly the quota, no throttle.
        assert_eq!(record(&quotas, key, slow, 10_000.0, now), Duration::ZERO);
        let throttle = record(&quotas, key, slow, 10_000.0, now);
        assert_eq!(throttle, Duration::from_secs(10));
        assert_eq!(record(&quotas, key, fast, 1e9, now), Duration::ZERO);
    }

    #[test]
    fn a_request_percentage_throttle_is_capped_at_one_sample() {
        let mut quotas = ClientQuotas::default();
        let entity = QuotaEntity {
            user: None,
            client_id: Some(EntityName::Named("busy".to_owned())),
        };
        quotas
            .set(&entity, QuotaKey::RequestPercentage, Some(1.0))
            .unwrap();
        let busy = Client {
            user: "ANONYMOUS",
            client_id: "busy",
        };
        let key = QuotaKey::RequestPercentage;
        let now = Instant::now();
        // 10 percent-seconds within the 10 s window: exactly 1%, no throttle.
        assert_eq!(record(&quotas, key, busy, 10.0, now), Duration::ZERO);
        // Twice the share would be 10 s for a byte rate; a request quota waits one sample.
        let throttle = record(&quotas, key, busy, 10.0, now);
        assert_eq!(
            throttle,
            Duration::from_millis(QUOTA_REQUEST_THROTTLE_TIME_MS_MAX)
        );
    }
}
