//! `ringbroker serve` logs where each shard runs: "shard → cpu → NUMA node", the node read
//! from sysfs. The sysfs here is a fake tree (`RINGBROKER_TUNE_ROOT`) that puts every cpu on
//! node 1, so the line can only say node 1 if the broker really read it.
//!
//! One test per file: it sets an environment variable the broker child inherits.
mod common;

use common::{Broker, BrokerOptions};

#[test]
fn serve_logs_shard_cpu_and_numa_node() {
    let root = tempfile::TempDir::new().unwrap();
    let node = root.path().join("sys/devices/system/node/node1");
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(node.join("cpulist"), "0-8191\n").unwrap();
    // SAFETY: the only test in this process; no other thread reads the environment.
    unsafe { std::env::set_var("RINGBROKER_TUNE_ROOT", root.path()) };
    let broker = Broker::start_with(BrokerOptions {
        shards: 2,
        config_toml: Some("[io_uring]\nentries = 1024\n".to_owned()),
        extra_args: Vec::new(),
    });
    let log = strip_ansi(&broker.log());
    for shard in 0..2 {
        let line = log
            .lines()
            .find(|line| line.contains(&format!("placement: shard {shard} → cpu ")))
            .unwrap_or_else(|| panic!("no placement line for shard {shard}:\n{log}"));
        assert!(line.contains("→ NUMA node 1"), "{line}");
    }
    let tuning = log
        .lines()
        .find(|line| line.contains("tuning profile"))
        .unwrap();
    assert!(tuning.contains("io_uring_entries=Some(1024)"), "{tuning}");
}

/// The log without its colour escapes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip to the end of the escape sequence.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
