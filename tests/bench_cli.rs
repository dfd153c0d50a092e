//! ringbench's argument parsing and report formatting (compiled here from bench/ sources), and
//! the `baseline` mode run end to end over 127.0.0.1 with tiny sizes.
//!
//! Broker-facing modes are exercised against an in-test broker in `bench_mock_broker.rs`; a
//! run against ringbroker itself waits until it serves Produce and Fetch.
#[path = "../bench/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../bench/report/mod.rs"]
#[allow(dead_code)]
mod report;

use cli::{Mode, Stop, parse};
use report::{
    BaselineRow, ConsumeSummary, Json, Latency, Percentiles, ProduceSummary, SweepRow, Window,
};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

#[test]
fn defaults_follow_kafka() {
    let options = parse(["produce"]).unwrap();
    assert_eq!(options.mode, Mode::Produce);
    assert_eq!(options.bootstrap, "127.0.0.1:9092");
    assert_eq!(options.batch_size, 16_384);
    assert_eq!(options.linger, Duration::from_millis(5));
    assert_eq!(options.acks, -1);
    assert_eq!(options.in_flight_max, 5);
    assert_eq!(options.compression, "none");
    assert_eq!(options.stop, Stop::Records(cli::RECORDS_DEFAULT));
    assert_eq!(options.timeout, Duration::from_secs(300));
    assert_eq!(options.fetch_max_bytes, 50 * 1024 * 1024);
    assert_eq!(options.partition_max_bytes, 1024 * 1024);
}

#[test]
fn every_flag_in_both_spellings() {
    let options = parse([
        "e2e",
        "--bootstrap=127.0.0.2:19092",
        "--topic",
        "t.1_x-y",
        "--partitions=12",
        "--connections",
        "3",
        "--record-size=512",
        "--duration",
        "2.5",
        "--batch-size=65536",
        "--linger-ms",
        "0",
        "--compression=zstd",
        "--acks",
        "1",
        "--max-in-flight=1",
        "--throughput",
        "1000",
        "--fetch-max-bytes=2097152",
        "--partition-max-bytes",
        "1048576",
        "--report-interval=1",
        "--timeout",
        "10",
        "--json=/tmp/x.json",
        "--client-id",
        "me",
    ])
    .unwrap();
    assert_eq!(options.mode, Mode::EndToEnd);
    assert_eq!(options.bootstrap, "127.0.0.2:19092");
    assert_eq!(options.topic, "t.1_x-y");
    assert_eq!(options.partitions, 12);
    assert_eq!(options.connections, 3);
    assert_eq!(options.record_size, 512);
    assert_eq!(options.stop, Stop::Duration(Duration::from_millis(2500)));
    assert_eq!(options.batch_size, 65_536);
    assert_eq!(options.linger, Duration::ZERO);
    assert_eq!(options.compression, "zstd");
    assert_eq!(options.acks, 1);
    assert_eq!(options.in_flight_max, 1);
    assert_eq!(options.throughput, 1000);
    assert_eq!(options.fetch_max_bytes, 2_097_152);
    assert_eq!(options.report_interval, Duration::from_secs(1));
    assert_eq!(options.timeout, Duration::from_secs(10));
    assert_eq!(options.json.as_deref(), Some("/tmp/x.json"));
    assert_eq!(options.client_id, "me");
    assert_eq!(options.records_limit(), None);
}

#[test]
fn security_and_stop_file_flags_parse_and_must_agree() {
    let plain = parse(["produce"]).unwrap();
    assert_eq!(plain.security_protocol, "PLAINTEXT");
    assert_eq!(
        (plain.ssl_ca, plain.sasl, plain.stop_file),
        (None, None, None)
    );
    let ssl = parse(["produce", "--security-protocol", "SSL", "--ssl-ca=ca.pem"]).unwrap();
    assert_eq!(
        (ssl.security_protocol, ssl.ssl_ca.as_deref()),
        ("SSL", Some("ca.pem"))
    );
    let sasl = parse([
        "consume",
        "--security-protocol=SASL_SSL",
        "--ssl-ca=ca.pem",
        "--sasl-user=u",
        "--sasl-password=p",
        "--stop-file=/tmp/stop",
    ])
    .unwrap();
    let login = ("SCRAM-SHA-512", "u".to_owned(), "p".to_owned());
    assert_eq!(sasl.sasl, Some(login));
    assert_eq!(sasl.stop_file.as_deref(), Some("/tmp/stop"));
    let plain_sasl = parse([
        "produce",
        "--security-protocol=SASL_PLAINTEXT",
        "--sasl-mechanism=PLAIN",
        "--sasl-user=u",
        "--sasl-password=p",
    ])
    .unwrap();
    assert_eq!(plain_sasl.sasl.map(|login| login.0), Some("PLAIN"));
    for refused in [
        &["produce", "--security-protocol=TLS"][..],
        &["produce", "--security-protocol=SSL"],
        &["produce", "--ssl-ca=ca.pem"],
        &["produce", "--sasl-user=u", "--sasl-password=p"],
        &[
            "produce",
            "--security-protocol=SASL_PLAINTEXT",
            "--sasl-user=u",
        ],
        &[
            "produce",
            "--security-protocol=SASL_PLAINTEXT",
            "--sasl-mechanism=GSSAPI",
        ],
    ] {
        assert!(parse(refused.iter().copied()).is_err(), "{refused:?}");
    }
}

#[test]
fn mtls_flags_come_in_pairs_and_only_with_tls() {
    let plain = parse(["produce"]).unwrap();
    assert_eq!((plain.ssl_cert, plain.ssl_key), (None, None));
    let mtls = parse([
        "produce",
        "--security-protocol=SSL",
        "--ssl-ca=ca.pem",
        "--ssl-cert",
        "me.pem",
        "--ssl-key=me.key",
    ])
    .unwrap();
    assert_eq!(
        (mtls.ssl_cert.as_deref(), mtls.ssl_key.as_deref()),
        (Some("me.pem"), Some("me.key"))
    );
    for refused in [
        &[
            "produce",
            "--security-protocol=SSL",
            "--ssl-ca=ca.pem",
            "--ssl-cert=me.pem",
        ][..],
        &[
            "produce",
            "--security-protocol=SSL",
            "--ssl-ca=ca.pem",
            "--ssl-key=me.key",
        ],
        &[
            "produce",
            "--security-protocol=SASL_PLAINTEXT",
            "--sasl-user=u",
            "--sasl-password=p",
            "--ssl-cert=me.pem",
            "--ssl-key=me.key",
        ],
    ] {
        assert!(parse(refused.iter().copied()).is_err(), "{refused:?}");
    }
}

#[test]
fn acks_all_is_minus_one_and_modes_parse() {
    assert_eq!(parse(["produce", "--acks", "all"]).unwrap().acks, -1);
    assert_eq!(parse(["produce", "--acks", "0"]).unwrap().acks, 0);
    for (name, mode) in [
        ("consume", Mode::Consume),
        ("sweep", Mode::Sweep),
        ("baseline", Mode::Baseline),
    ] {
        let options = parse([name]).unwrap();
        assert_eq!(options.mode, mode);
        assert_eq!(options.mode.name(), name);
    }
}

fn error_of(args: &[&str]) -> String {
    format!("{:#}", parse(args.iter().copied()).unwrap_err())
}

#[test]
fn rejects_bad_arguments_with_the_flag_named() {
    assert!(error_of(&[]).contains("no mode"));
    assert!(error_of(&["fly"]).contains("unknown mode"));
    assert!(error_of(&["produce", "--speed", "1"]).contains("--speed"));
    assert!(error_of(&["produce", "--topic"]).contains("needs a value"));
    assert!(error_of(&["produce", "--acks", "2"]).contains("acks"));
    assert!(error_of(&["produce", "--compression", "brotli"]).contains("codec"));
    assert!(error_of(&["produce", "--record-size", "0"]).contains("--record-size"));
    let huge = (cli::RECORD_SIZE_MAX + 1).to_string();
    assert!(error_of(&["produce", "--record-size", &huge]).contains("between"));
    assert!(error_of(&["produce", "--connections", "x"]).contains("not an integer"));
    assert!(error_of(&["produce", "--max-in-flight", "65"]).contains("between 1 and 64"));
    assert!(error_of(&["produce", "--num-records", "5", "--duration", "1"]).contains("not both"));
    assert!(error_of(&["produce", "--duration", "301"]).contains("exceeds --timeout"));
    assert!(error_of(&["produce", "--duration", "0"]).contains("more than 0"));
    assert!(error_of(&["produce", "--topic", "a/b"]).contains("--topic"));
    assert!(error_of(&["produce", "--bootstrap", "localhost"]).contains("HOST:PORT"));
    assert!(
        error_of(&[
            "consume",
            "--fetch-max-bytes",
            "2048",
            "--partition-max-bytes",
            "4096"
        ])
        .contains("exceeds")
    );
}

#[test]
fn progress_line_matches_kafka_producer_perf_test() {
    let mut window = Window::default();
    window.record(4000, 400_000, Duration::from_millis(2));
    window.record(1000, 100_000, Duration::from_millis(12));
    let line = report::progress_line(&window, Duration::from_secs(5));
    assert_eq!(
        line,
        "5000 records sent, 1000.0 records/sec (0.10 MB/sec), 4.0 ms avg latency, \
         12.0 ms max latency."
    );
    let end = std::time::UNIX_EPOCH + Duration::from_millis(1_765_100_000_123);
    assert_eq!(
        report::window_line(&window, end),
        "window end_ms 1765100000123 records 5000 p50_us 2000 p99_us 12007 max_us 12007"
    );
    assert_eq!(
        report::window_line(&Window::default(), end),
        "window end_ms 1765100000123 records 0 p50_us 0 p99_us 0 max_us 0"
    );
}

#[test]
fn summary_line_matches_kafka_producer_perf_test() {
    let mut latency = Latency::new();
    for ms in 1..=100u64 {
        latency.record(Duration::from_millis(ms));
    }
    let summary = ProduceSummary {
        records: 100,
        bytes: 1024 * 1024,
        wire_bytes: 2_000_000,
        requests: 10,
        elapsed: Duration::from_secs(2),
        latency: latency.percentiles(),
    };
    let line = report::produce_summary_line(&summary);
    assert!(
        line.starts_with("100 records sent, 50.000000 records/sec (0.50 MB/sec), 50.5"),
        "{line}"
    );
    assert!(
        line.ends_with("ms 50th, 95 ms 95th, 99 ms 99th, 100 ms 99.9th."),
        "{line}"
    );
    let hdr = report::hdr_line("produce", &summary.latency);
    assert!(hdr.starts_with("produce latency us: p50 50"), "{hdr}");
    assert!(hdr.ends_with("(100 samples)"), "{hdr}");
}

#[test]
fn percentiles_are_within_histogram_precision() {
    let mut latency = Latency::new();
    for micros in 1..=10_000u64 {
        latency.record(Duration::from_micros(micros));
    }
    let p = latency.percentiles();
    assert_eq!(p.count, 10_000);
    assert!(p.p50_us.abs_diff(5000) <= 5, "{p:?}");
    assert!(p.p99_us.abs_diff(9900) <= 10, "{p:?}");
    assert!(p.p999_us.abs_diff(9990) <= 10, "{p:?}");
    assert!(p.max_us.abs_diff(10_000) <= 10, "{p:?}");
    let mut other = Latency::new();
    other.record(Duration::from_secs(1));
    latency.merge(&other);
    assert_eq!(latency.percentiles().count, 10_001);
    assert_eq!(Latency::new().percentiles(), Percentiles::default());
}

#[test]
fn consumer_row_matches_kafka_consumer_perf_test() {
    let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let summary = ConsumeSummary {
        start,
        end: start + Duration::from_secs(2),
        records: 1000,
        bytes: 2 * 1024 * 1024,
        wire_bytes: 3_000_000,
        fetches: 4,
        fetch_time: Duration::from_secs(1),
    };
    assert_eq!(
        report::consumer_row(&summary),
        "2023-11-14 22:13:20:123, 2023-11-14 22:13:22:123, 2.0000, 1.0000, 1000, 500.0000, 0, \
         1000, 2.0000, 1000.0000"
    );
    assert_eq!(report::CONSUMER_HEADER.split(", ").count(), 10);
    assert_eq!(report::timestamp(UNIX_EPOCH), "1970-01-01 00:00:00:000");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(report::timestamp(leap), "2000-02-29 00:00:00:000");
}

#[test]
fn tables_have_one_row_per_entry() {
    let summary = ProduceSummary {
        records: 10,
        bytes: 1000,
        wire_bytes: 1200,
        requests: 1,
        elapsed: Duration::from_secs(1),
        latency: Percentiles::default(),
    };
    let rows: Vec<SweepRow> = ["none", "gzip"]
        .into_iter()
        .map(|compression| SweepRow {
            compression,
            summary,
        })
        .collect();
    let table = report::sweep_table(&rows);
    assert_eq!(table.lines().count(), 3);
    assert!(table.lines().nth(2).unwrap().starts_with("gzip"));
    let baseline = [BaselineRow {
        name: "tcp-sink",
        bytes: 1024 * 1024,
        chunk_size: 16_384,
        elapsed: Duration::from_secs(1),
        records: 1000,
        latency: None,
    }];
    let table = report::baseline_table(&baseline);
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.contains("1000.0") && row.contains("1.00") && row.ends_with('-'),
        "{row}"
    );
}

#[test]
fn json_escapes_and_nests() {
    let document = Json::object([
        ("text", Json::Text("a\"b\\c\n".to_owned())),
        ("n", Json::Number(1.5)),
        ("nan", Json::Number(f64::NAN)),
        (
            "list",
            Json::Array(vec![Json::Integer(1), Json::Integer(2)]),
        ),
    ]);
    assert_eq!(
        document.render(),
        r#"{"text":"a\"b\\c\u000a","n":1.5,"nan":null,"list":[1,2]}"#
    );
}

fn ringbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringbench"))
}

#[test]
fn baseline_runs_over_loopback_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("baseline.json");
    let output = ringbench()
        .args(["baseline", "--num-records", "2000", "--record-size", "100"])
        .args(["--batch-size", "4096", "--timeout", "60", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in [
        "tcp-sink",
        "tcp-file-sink",
        "tcp-file-sync-sink",
        "tcp-source",
        "file-copy-source",
        "sendfile-source",
        "ping-pong",
    ] {
        assert!(stdout.contains(name), "{stdout}");
    }
    let document = std::fs::read_to_string(&json).unwrap();
    assert!(document.starts_with(r#"{"mode":"baseline""#), "{document}");
    // Each throughput transfer moves exactly record-size × num-records bytes.
    assert_eq!(
        document.matches(r#""bytes":200000,"#).count(),
        6,
        "{document}"
    );
    assert!(document.contains(r#""p99_us":"#), "{document}");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let output = ringbench()
        .args(["produce", "--acks", "7"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("acks") && stderr.contains("usage:"),
        "{stderr}"
    );
    let help = ringbench().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("baseline"));
}

#[test]
fn unreachable_broker_fails_cleanly() {
    // Port 9 (discard) on loopback has no listener in the test environment.
    let output = ringbench()
        .args([
            "produce",
            "--bootstrap",
            "127.0.0.1:9",
            "--num-records",
            "1",
            "--timeout",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("connecting to 127.0.0.1:9"));
}
