//! ringbench's output: the lines kafka-producer-perf-test and kafka-consumer-perf-test print,
//! HDR-histogram percentiles in µs, the sweep and baseline tables, and the `--json` document.
//!
//! Owns formatting and the latency/window accumulators; knows nothing of sockets or Kafka.
//! Self-contained (std and hdrhistogram only) so `tests/bench_cli.rs` compiles it on its own.
//! Runs on every bench thread (accumulators) and the main thread (printing).
//!
//! Units: latencies are recorded in µs; Kafka's lines show ms, as Kafka's tools do. MB is
//! 1024 × 1024 bytes, as in Kafka's tools.
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Highest latency the histogram resolves (1 hour in µs); larger values saturate to it.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
const MB: f64 = 1024.0 * 1024.0;

/// Latency histogram in µs, 3 significant digits (≤ 0.1 % error).
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// # Panics
    /// Never: the bounds are constants hdrhistogram accepts (1 ≤ low, high ≥ 2 × low,
    /// sigfig ≤ 5); a failure would be a programmer error.
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
            .expect("constant histogram bounds are valid");
        Self { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(micros.clamp(1, LATENCY_US_MAX));
    }

    /// Records `count` samples of `latency`.
    pub fn record_n(&mut self, latency: Duration, count: u64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record_n(micros.clamp(1, LATENCY_US_MAX), count);
    }

    /// Folds `other` in; both share the same bounds, so this cannot fail.
    pub fn merge(&mut self, other: &Latency) {
        let result = self.histogram.add(&other.histogram);
        assert!(result.is_ok(), "histograms with equal bounds always add");
    }

    pub fn percentiles(&self) -> Percentiles {
        let h = &self.histogram;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            p9999_us: h.value_at_quantile(0.9999),
            max_us: h.max(),
        }
    }
}

/// Summary of one latency histogram, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub p9999_us: u64,
    pub max_us: u64,
}

/// Figures of one progress window (kafka-producer-perf-test's `Stats` window), with the
/// window's own latency histogram for its percentiles.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub records: u64,
    pub bytes: u64,
    pub latency_us_sum: u64,
    pub latency_us_max: u64,
    pub latency: Latency,
}

impl Window {
    /// Adds `records` records of `bytes` total that all took `latency`.
    pub fn record(&mut self, records: u64, bytes: u64, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.records = self.records.saturating_add(records);
        self.bytes = self.bytes.saturating_add(bytes);
        self.latency_us_sum = self
            .latency_us_sum
            .saturating_add(micros.saturating_mul(records));
        self.latency_us_max = self.latency_us_max.max(micros);
        self.latency.record_n(latency, records);
    }

    pub fn merge(&mut self, other: &Window) {
        self.records = self.records.saturating_add(other.records);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.latency_us_sum = self.latency_us_sum.saturating_add(other.latency_us_sum);
        self.latency_us_max = self.latency_us_max.max(other.latency_us_max);
        self.latency.merge(&other.latency);
    }
}

#[allow(clippy::cast_precision_loss)] // figures for humans
fn per_second(amount: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    amount as f64 / seconds
}

#[allow(clippy::cast_precision_loss)] // figures for humans
fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// kafka-producer-perf-test's progress line, e.g.
/// `5000 records sent, 1000.0 records/sec (0.10 MB/sec), 2.1 ms avg latency, 9.0 ms max latency.`
#[allow(clippy::cast_precision_loss)]
pub fn progress_line(window: &Window, elapsed: Duration) -> String {
    let avg = if window.records == 0 {
        0.0
    } else {
        window.latency_us_sum as f64 / window.records as f64 / 1000.0
    };
    format!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, \
         {:.1} ms max latency.",
        window.records,
        per_second(window.records, elapsed),
        per_second(window.bytes, elapsed) / MB,
        avg,
        ms(window.latency_us_max),
    )
}

/// The window's percentiles, stamped with the UNIX time in ms at which it closed so a script
/// can keep the windows of an interval, e.g.
/// `window end_ms 1765100000000 records 5000 p50_us 2100 p99_us 9000 max_us 9000`.
pub fn window_line(window: &Window, end: SystemTime) -> String {
    let end_ms = end
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let latency = window.latency.percentiles();
    format!(
        "window end_ms {end_ms} records {} p50_us {} p99_us {} max_us {}",
        window.records, latency.p50_us, latency.p99_us, latency.max_us
    )
}

/// What a produce run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProduceSummary {
    pub records: u64,
    /// Record value bytes acknowledged (what kafka-producer-perf-test counts).
    pub bytes: u64,
    /// Request bytes written to sockets, frames included.
    pub wire_bytes: u64,
    pub requests: u64,
    pub elapsed: Duration,
    pub latency: Percentiles,
}

/// kafka-producer-perf-test's final line. Its percentiles are whole ms, as Kafka prints them.
pub fn produce_summary_line(summary: &ProduceSummary) -> String {
    let latency = &summary.latency;
    format!(
        "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, \
         {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
        summary.records,
        per_second(summary.records, summary.elapsed),
        per_second(summary.bytes, summary.elapsed) / MB,
        latency.mean_us / 1000.0,
        ms(latency.max_us),
        latency.p50_us / 1000,
        latency.p95_us / 1000,
        latency.p99_us / 1000,
        latency.p999_us / 1000,
    )
}

/// The HDR line ringbench adds: `<label> latency µs: p50 … p99 … p99.9 … p99.99 … max …`.
pub fn hdr_line(label: &str, latency: &Percentiles) -> String {
    format!(
        "{label} latency us: p50 {}, p99 {}, p99.9 {}, p99.99 {}, max {} ({} samples)",
        latency.p50_us,
        latency.p99_us,
        latency.p999_us,
        latency.p9999_us,
        latency.max_us,
        latency.count,
    )
}

/// What a consume run measured (kafka-consumer-perf-test's columns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConsumeSummary {
    pub start: SystemTime,
    pub end: SystemTime,
    pub records: u64,
    /// Key + value bytes of the records consumed.
    pub bytes: u64,
    /// Response bytes read from sockets.
    pub wire_bytes: u64,
    pub fetches: u64,
    /// Time from the first fetch to the last record (Kafka's `fetch.time.ms`; no rebalance).
    pub fetch_time: Duration,
}

/// kafka-consumer-perf-test's header line.
pub const CONSUMER_HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, \
     data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, \
     fetch.nMsg.sec";

/// kafka-consumer-perf-test's row for `summary` (rebalance time is 0: ringbench assigns
/// partitions itself, there is no group).
#[allow(clippy::cast_precision_loss)]
pub fn consumer_row(summary: &ConsumeSummary) -> String {
    let total = summary
        .end
        .duration_since(summary.start)
        .unwrap_or_default();
    let megabytes = summary.bytes as f64 / MB;
    let fetch_seconds = summary.fetch_time.as_secs_f64().max(1e-9);
    format!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
        timestamp(summary.start),
        timestamp(summary.end),
        megabytes,
        megabytes / total.as_secs_f64().max(1e-9),
        summary.records,
        per_second(summary.records, total),
        summary.fetch_time.as_millis(),
        megabytes / fetch_seconds,
        summary.records as f64 / fetch_seconds,
    )
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in UTC, the consumer tool's date format.
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let days = i64::try_from(since.as_secs() / 86_400).unwrap_or(0);
    let second_of_day = since.as_secs() % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}:{:03}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One line of the sweep table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRow {
    pub compression: &'static str,
    pub summary: ProduceSummary,
}

/// The sweep table: one row per codec.
pub fn sweep_table(rows: &[SweepRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>14} {:>10} {:>16} {:>10} {:>10} {:>10}",
        "codec", "records/s", "MB/s", "wire bytes", "wire MB/s", "p50 us", "p99 us"
    );
    for row in rows {
        let s = &row.summary;
        let _ = writeln!(
            out,
            "{:<8} {:>14.1} {:>10.2} {:>16} {:>10.2} {:>10} {:>10}",
            row.compression,
            per_second(s.records, s.elapsed),
            per_second(s.bytes, s.elapsed) / MB,
            s.wire_bytes,
            per_second(s.wire_bytes, s.elapsed) / MB,
            s.latency.p50_us,
            s.latency.p99_us,
        );
    }
    out
}

/// One baseline measurement: a transfer's throughput and, for ping-pong, its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineRow {
    pub name: &'static str,
    pub bytes: u64,
    pub chunk_size: usize,
    pub elapsed: Duration,
    /// Records of `record_size` the bytes stand for.
    pub records: u64,
    pub latency: Option<Percentiles>,
}

/// The baseline table.
pub fn baseline_table(rows: &[BaselineRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>14} {:>10} {:>14} {:>10} {:>10} {:>10}",
        "transfer", "bytes", "chunk", "records/s", "MB/s", "p50 us", "p99 us"
    );
    for row in rows {
        let (p50, p99) = row.latency.map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |latency| (latency.p50_us.to_string(), latency.p99_us.to_string()),
        );
        let _ = writeln!(
            out,
            "{:<16} {:>14} {:>10} {:>14.1} {:>10.2} {:>10} {:>10}",
            row.name,
            row.bytes,
            row.chunk_size,
            per_second(row.records, row.elapsed),
            per_second(row.bytes, row.elapsed) / MB,
            p50,
            p99,
        );
    }
    out
}

/// A JSON value; enough for ringbench's report (no parsing, only writing).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Number(f64),
    Integer(u64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            // JSON has no NaN or infinity; a figure that is not finite is reported as null.
            Json::Number(value) if value.is_finite() => {
                let _ = write!(out, "{value}");
            }
            Json::Number(_) => out.push_str("null"),
            Json::Integer(value) => {
                let _ = write!(out, "{value}");
            }
            Json::Text(text) => write_string(out, text),
            Json::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (index, (key, value)) in fields.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Percentiles {
    pub fn to_json(self) -> Json {
        Json::object([
            ("count", Json::Integer(self.count)),
            ("mean_us", Json::Number(self.mean_us)),
            ("p50_us", Json::Integer(self.p50_us)),
            ("p95_us", Json::Integer(self.p95_us)),
            ("p99_us", Json::Integer(self.p99_us)),
            ("p999_us", Json::Integer(self.p999_us)),
            ("p9999_us", Json::Integer(self.p9999_us)),
            ("max_us", Json::Integer(self.max_us)),
        ])
    }
}

impl ProduceSummary {
    pub fn to_json(self) -> Json {
        Json::object([
            ("records", Json::Integer(self.records)),
            ("bytes", Json::Integer(self.bytes)),
            ("wire_bytes", Json::Integer(self.wire_bytes)),
            ("requests", Json::Integer(self.requests)),
            ("elapsed_s", Json::Number(self.elapsed.as_secs_f64())),
            (
                "records_per_s",
                Json::Number(per_second(self.records, self.elapsed)),
            ),
            (
                "mb_per_s",
                Json::Number(per_second(self.bytes, self.elapsed) / MB),
            ),
            ("latency", self.latency.to_json()),
        ])
    }
}

impl ConsumeSummary {
    pub fn to_json(self) -> Json {
        let total = self.end.duration_since(self.start).unwrap_or_default();
        Json::object([
            ("records", Json::Integer(self.records)),
            ("bytes", Json::Integer(self.bytes)),
            ("wire_bytes", Json::Integer(self.wire_bytes)),
            ("fetches", Json::Integer(self.fetches)),
            ("elapsed_s", Json::Number(total.as_secs_f64())),
            ("fetch_time_s", Json::Number(self.fetch_time.as_secs_f64())),
            (
                "records_per_s",
                Json::Number(per_second(self.records, total)),
            ),
            ("mb_per_s", Json::Number(per_second(self.bytes, total) / MB)),
        ])
    }
}

impl BaselineRow {
    pub fn to_json(self) -> Json {
        Json::object([
            ("name", Json::Text(self.name.to_owned())),
            ("bytes", Json::Integer(self.bytes)),
            ("chunk_size", Json::Integer(self.chunk_size as u64)),
            ("elapsed_s", Json::Number(self.elapsed.as_secs_f64())),
            (
                "records_per_s",
                Json::Number(per_second(self.records, self.elapsed)),
            ),
            (
                "mb_per_s",
                Json::Number(per_second(self.bytes, self.elapsed) / MB),
            ),
            (
                "latency",
                self.latency
                    .map_or(Json::Object(Vec::new()), Percentiles::to_json),
            ),
        ])
    }
}
