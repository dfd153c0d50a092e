//! ringbench's command line: `ringbench <mode> [--flag value | --flag=value]...`.
//!
//! Owns parsing and validation only; every number is checked against the bounds below once, so
//! the workloads can trust it. Self-contained (std and anyhow only) so that
//! `tests/bench_cli.rs` can compile it on its own. Runs on the main thread before any
//! connection exists.
//!
//! Defaults follow the Kafka 4.x producer and consumer where one exists (`batch.size` 16384,
//! `linger.ms` 5, `acks` all, `max.in.flight.requests.per.connection` 5, `fetch.max.bytes`
//! 50 MiB, `max.partition.fetch.bytes` 1 MiB).
use anyhow::{Context, bail};
use std::time::Duration;

/// Largest record value: Kafka's default `max.message.bytes` is 1 MiB.
pub const RECORD_SIZE_MAX: usize = 1024 * 1024;
/// Largest producer batch; batches are also the baseline's chunk size.
pub const BATCH_SIZE_MAX: usize = 16 * 1024 * 1024;
/// Connections per run; each costs one or two threads.
pub const CONNECTIONS_MAX: usize = 256;
/// Requests in flight per connection (the reader thread's queue depth).
pub const IN_FLIGHT_MAX: usize = 64;
/// Partitions a run may create or address.
pub const PARTITIONS_MAX: i32 = 10_000;
/// Records per run (a bound on every produce and consume loop).
pub const RECORDS_MAX: u64 = 1_000_000_000_000;
/// Longest `--timeout` (one day); every run ends by it.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(86_400);
/// Longest `--linger-ms`.
pub const LINGER_MAX: Duration = Duration::from_secs(60);
/// Largest fetch answer asked for (Kafka's `fetch.max.bytes` cannot exceed the frame either).
pub const FETCH_SIZE_MAX: usize = 64 * 1024 * 1024;
/// Kafka's `security.protocol` values.
pub const SECURITY_PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// Kafka's `sasl.mechanism` values ringbench logs in with.
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
/// Records a run sends when neither `--num-records` nor `--duration` is given.
pub const RECORDS_DEFAULT: u64 = 1_000_000;

/// Which workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Produce,
    Consume,
    EndToEnd,
    Sweep,
    Baseline,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Produce => "produce",
            Self::Consume => "consume",
            Self::EndToEnd => "e2e",
            Self::Sweep => "sweep",
            Self::Baseline => "baseline",
        }
    }
}

/// Codec names as Kafka's `compression.type` spells them. Mapped to the codec's own enum by the
/// workloads so this file stays free of crate types.
pub const COMPRESSIONS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// When a produce run stops: after a count or after a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Records(u64),
    Duration(Duration),
}

/// Every option, validated. Modes ignore the ones that do not concern them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// `HOST:PORT` of any broker of the cluster.
    pub bootstrap: String,
    pub client_id: String,
    pub topic: String,
    pub partitions: i32,
    pub connections: usize,
    pub record_size: usize,
    pub stop: Stop,
    pub batch_size: usize,
    pub linger: Duration,
    /// One of [`COMPRESSIONS`].
    pub compression: &'static str,
    /// 0, 1 or -1.
    pub acks: i16,
    pub in_flight_max: usize,
    /// Target records/s over the whole run; 0 = as fast as possible.
    pub throughput: u64,
    pub fetch_max_bytes: usize,
    pub partition_max_bytes: usize,
    pub timeout: Duration,
    pub json: Option<String>,
    /// Seconds between progress lines (kafka-producer-perf-test prints every 5 s).
    pub report_interval: Duration,
    /// Producing stops (and the summary prints) once this file exists; checked every 50 ms.
    pub stop_file: Option<String>,
    /// One of [`SECURITY_PROTOCOLS`].
    pub security_protocol: &'static str,
    /// PEM CA the broker's certificate must chain to (SSL, SASL_SSL).
    pub ssl_ca: Option<String>,
    /// PEM certificate chain and key presented for mutual TLS (a broker with
    /// `ssl.client.auth=required`); both or neither, SSL and SASL_SSL only.
    pub ssl_cert: Option<String>,
    pub ssl_key: Option<String>,
    /// `(mechanism, user, password)`: one of [`SASL_MECHANISMS`] (SASL_PLAINTEXT, SASL_SSL).
    pub sasl: Option<(&'static str, String, String)>,
}

impl Options {
    fn defaults(mode: Mode) -> Self {
        Self {
            mode,
            bootstrap: "127.0.0.1:9092".to_owned(),
            client_id: "ringbench".to_owned(),
            topic: "ringbench".to_owned(),
            partitions: 1,
            connections: 1,
            record_size: 100,
            stop: Stop::Records(RECORDS_DEFAULT),
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            compression: "none",
            acks: -1,
            in_flight_max: 5,
            throughput: 0,
            fetch_max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(300),
            json: None,
            report_interval: Duration::from_secs(5),
            stop_file: None,
            security_protocol: "PLAINTEXT",
            ssl_ca: None,
            ssl_cert: None,
            ssl_key: None,
            sasl: None,
        }
    }

    /// Records the run is bounded to, when it is bounded by count.
    pub fn records_limit(&self) -> Option<u64> {
        match self.stop {
            Stop::Records(count) => Some(count),
            Stop::Duration(_) => None,
        }
    }
}

/// The usage text printed by `--help` and after a parse error.
pub const USAGE: &str = "\
usage: ringbench <produce|consume|e2e|sweep|baseline> [options]

  produce    Kafka-producer-style load: batching, linger, compression, acks, in-flight
  consume    read the topic from the earliest offset (kafka-consumer-perf-test columns)
  e2e        produce and consume at once; end-to-end latency from the record's timestamp
  sweep      the produce workload once per codec (none gzip snappy lz4 zstd), one table
  baseline   raw TCP sink/source and a sendfile source over loopback, same sizes

options (defaults in brackets):
  --bootstrap HOST:PORT        any broker of the cluster [127.0.0.1:9092]
  --topic NAME                 [ringbench]; created with --partitions if missing
  --partitions N               [1]
  --connections N              producer/consumer connections, one thread each [1]
  --record-size BYTES          value size [100]
  --num-records N              records to send or read [1000000]
  --duration SECONDS           produce for this long instead of a count
  --batch-size BYTES           producer batch.size [16384]
  --linger-ms MS               producer linger.ms [5]
  --compression CODEC          none|gzip|snappy|lz4|zstd [none]
  --acks 0|1|-1                [-1]
  --max-in-flight N            requests in flight per connection [5]
  --throughput N               target records/s, 0 = unlimited [0]
  --fetch-max-bytes BYTES      [52428800]
  --partition-max-bytes BYTES  [1048576]
  --report-interval SECONDS    progress line period [5]; each line also gives the window's
                               p50/p99 and the UNIX time in ms
  --stop-file PATH             produce: stop generating once PATH exists, drain, summarize
  --security-protocol P        PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL [PLAINTEXT]
  --ssl-ca FILE                PEM CA the broker's certificate must chain to (SSL, SASL_SSL)
  --ssl-cert FILE              PEM certificate presented for mutual TLS, with --ssl-key
  --ssl-key FILE               its PEM private key (librdkafka's ssl.key.location)
  --sasl-mechanism M           PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 (SASL_*) [SCRAM-SHA-512]
  --sasl-user NAME             login (SASL_*)
  --sasl-password PASSWORD     login (SASL_*)
  --timeout SECONDS            hard bound on the whole run [300]
  --json FILE                  also write every figure as JSON
  --client-id ID               [ringbench]
";

/// Parses `args` (without the program name).
///
/// # Errors
/// An unknown mode or flag, a missing or malformed value, or a value out of its bounds. The
/// message names the flag.
pub fn parse<I, S>(args: I) -> anyhow::Result<Options>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let Some(mode) = args.next() else {
        bail!("no mode given");
    };
    let mode = match mode.as_str() {
        "produce" => Mode::Produce,
        "consume" => Mode::Consume,
        "e2e" => Mode::EndToEnd,
        "sweep" => Mode::Sweep,
        "baseline" => Mode::Baseline,
        other => bail!("unknown mode {other:?}"),
    };
    let mut options = Options::defaults(mode);
    let mut records = None;
    let mut duration = None;
    let mut login = Login::default();
    // Bounded by the argument count: each iteration consumes one or two arguments.
    while let Some(flag) = args.next() {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args
                    .next()
                    .with_context(|| format!("{flag} needs a value"))?;
                (flag, value)
            }
        };
        if login.apply(&name, &value)? {
            continue;
        }
        apply(&mut options, &name, &value, &mut records, &mut duration)
            .with_context(|| format!("{name} {value:?}"))?;
    }
    options.stop = match (records, duration) {
        (Some(_), Some(_)) => bail!("give --num-records or --duration, not both"),
        (Some(count), None) => Stop::Records(count),
        (None, Some(time)) => Stop::Duration(time),
        (None, None) => Stop::Records(RECORDS_DEFAULT),
    };
    options.sasl = login.finish(options.security_protocol)?;
    validate(&options)?;
    Ok(options)
}

fn apply(
    options: &mut Options,
    name: &str,
    value: &str,
    records: &mut Option<u64>,
    duration: &mut Option<Duration>,
) -> anyhow::Result<()> {
    match name {
        "--bootstrap" => options.bootstrap = value.to_owned(),
        "--client-id" => options.client_id = value.to_owned(),
        "--topic" => options.topic = value.to_owned(),
        "--partitions" => options.partitions = bounded(value, 1, i64::from(PARTITIONS_MAX))?,
        "--connections" => options.connections = bounded(value, 1, cap(CONNECTIONS_MAX))?,
        "--record-size" => options.record_size = bounded(value, 1, cap(RECORD_SIZE_MAX))?,
        "--num-records" => *records = Some(bounded(value, 1, cap(RECORDS_MAX))?),
        "--duration" => *duration = Some(seconds(value, TIMEOUT_MAX)?),
        "--batch-size" => options.batch_size = bounded(value, 1, cap(BATCH_SIZE_MAX))?,
        "--linger-ms" => options.linger = millis(value, LINGER_MAX)?,
        "--compression" => {
            options.compression = COMPRESSIONS
                .iter()
                .copied()
                .find(|codec| *codec == value)
                .with_context(|| format!("codec must be one of {}", COMPRESSIONS.join("|")))?;
        }
        "--acks" => {
            options.acks = match value {
                "0" => 0,
                "1" => 1,
                "-1" | "all" => -1,
                _ => bail!("acks must be 0, 1 or -1"),
            };
        }
        "--max-in-flight" => options.in_flight_max = bounded(value, 1, cap(IN_FLIGHT_MAX))?,
        "--throughput" => options.throughput = bounded(value, 0, 1_000_000_000)?,
        "--fetch-max-bytes" => {
            options.fetch_max_bytes = bounded(value, 1024, cap(FETCH_SIZE_MAX))?;
        }
        "--partition-max-bytes" => {
            options.partition_max_bytes = bounded(value, 1024, cap(FETCH_SIZE_MAX))?;
        }
        "--report-interval" => options.report_interval = seconds(value, TIMEOUT_MAX)?,
        "--timeout" => options.timeout = seconds(value, TIMEOUT_MAX)?,
        "--json" => options.json = Some(value.to_owned()),
        "--stop-file" => options.stop_file = Some(value.to_owned()),
        "--ssl-ca" => options.ssl_ca = Some(value.to_owned()),
        "--ssl-cert" => options.ssl_cert = Some(value.to_owned()),
        "--ssl-key" => options.ssl_key = Some(value.to_owned()),
        "--security-protocol" => options.security_protocol = one_of(value, &SECURITY_PROTOCOLS)?,
        _ => bail!("unknown option"),
    }
    Ok(())
}

fn validate(options: &Options) -> anyhow::Result<()> {
    if options.topic.is_empty() || options.topic.len() > 249 {
        bail!("--topic must be 1 to 249 bytes (Kafka's limit)");
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !options.topic.chars().all(legal) {
        bail!("--topic may hold only ASCII letters, digits, '.', '_' and '-' (Kafka's rule)");
    }
    if options.bootstrap.rsplit_once(':').is_none() {
        bail!("--bootstrap must be HOST:PORT");
    }
    if let Stop::Duration(time) = options.stop
        && time > options.timeout
    {
        bail!("--duration exceeds --timeout");
    }
    let tls = options.security_protocol.ends_with("SSL");
    if tls != options.ssl_ca.is_some() {
        bail!("--ssl-ca is needed with SSL and SASL_SSL, and only with them");
    }
    if options.ssl_cert.is_some() != options.ssl_key.is_some() {
        bail!("--ssl-cert and --ssl-key go together");
    }
    if options.ssl_cert.is_some() && !tls {
        bail!("--ssl-cert and --ssl-key need SSL or SASL_SSL");
    }
    if options.partition_max_bytes > options.fetch_max_bytes {
        bail!("--partition-max-bytes exceeds --fetch-max-bytes");
    }
    assert!(options.connections >= 1, "connections bounded at parse");
    assert!(options.record_size >= 1, "record size bounded at parse");
    Ok(())
}

/// `value` when it is one of `names` (as the constant spells it).
fn one_of(value: &str, names: &[&'static str]) -> anyhow::Result<&'static str> {
    names
        .iter()
        .copied()
        .find(|name| *name == value)
        .with_context(|| format!("must be one of {}", names.join("|")))
}

/// The SASL flags as given, checked against the security protocol once all are read.
#[derive(Default)]
struct Login {
    mechanism: Option<&'static str>,
    user: Option<String>,
    password: Option<String>,
}

impl Login {
    /// Takes `name` when it is a SASL flag.
    fn apply(&mut self, name: &str, value: &str) -> anyhow::Result<bool> {
        match name {
            "--sasl-mechanism" => {
                self.mechanism = Some(one_of(value, &SASL_MECHANISMS).context("--sasl-mechanism")?);
            }
            "--sasl-user" => self.user = Some(value.to_owned()),
            "--sasl-password" => self.password = Some(value.to_owned()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(self, protocol: &str) -> anyhow::Result<Option<(&'static str, String, String)>> {
        let given = self.mechanism.is_some() || self.user.is_some() || self.password.is_some();
        if !protocol.starts_with("SASL_") {
            if given {
                bail!("--sasl-* flags need --security-protocol SASL_PLAINTEXT or SASL_SSL");
            }
            return Ok(None);
        }
        let (Some(user), Some(password)) = (self.user, self.password) else {
            bail!("{protocol} needs --sasl-user and --sasl-password");
        };
        Ok(Some((
            self.mechanism.unwrap_or("SCRAM-SHA-512"),
            user,
            password,
        )))
    }
}

/// A bound as the `i64` that [`bounded`] compares with (every bound here fits).
fn cap<T: TryInto<i64>>(bound: T) -> i64 {
    bound.try_into().unwrap_or(i64::MAX)
}

/// An integer in `min..=max`, converted to the field's type.
fn bounded<T: TryFrom<i64>>(value: &str, min: i64, max: i64) -> anyhow::Result<T> {
    let number: i64 = value.parse().context("not an integer")?;
    if number < min || number > max {
        bail!("must be between {min} and {max}");
    }
    T::try_from(number).map_err(|_| anyhow::anyhow!("out of range"))
}

/// Whole or fractional seconds, more than zero and at most `max`.
fn seconds(value: &str, max: Duration) -> anyhow::Result<Duration> {
    let number: f64 = value.parse().context("not a number of seconds")?;
    if !(number > 0.0 && number <= max.as_secs_f64()) {
        bail!("must be more than 0 and at most {} s", max.as_secs());
    }
    Ok(Duration::from_secs_f64(number))
}

fn millis(value: &str, max: Duration) -> anyhow::Result<Duration> {
    let max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    let number: u64 = bounded(value, 0, max_ms)?;
    Ok(Duration::from_millis(number))
}
