//! The profile's `[socket]` and `[io_uring]` knobs take effect in a running broker.
//!
//! Socket buffers: a client cannot read the broker's SO_SNDBUF/SO_RCVBUF, so the test reads the
//! broker's "applied socket buffer" lines, which carry what `getsockopt` returned after the set
//! (Linux stores twice the request; the sizes asked here sit below the default
//! `net.core.[rw]mem_max` of 212992, so no cap applies).
//!
//! Rings: besides the "applied io_uring settings" lines, the kernel's own view is read from
//! `/proc/<pid>/fdinfo` of the broker's io_uring fds (`SqMask` = entries - 1, `SqThread` = the
//! SQPOLL thread's pid or -1), so a knob that only reached the log would fail.
//!
//! One test per file: it sets an environment variable (`NO_COLOR`, for a plain log) that the
//! broker children inherit.
mod common;

use common::{Broker, BrokerOptions};

const SHARDS: usize = 2;

#[test]
fn socket_and_io_uring_knobs_take_effect() {
    // SAFETY: the only test in this process; no other thread reads the environment.
    unsafe { std::env::set_var("NO_COLOR", "1") };
    socket_buffers_and_ring_entries_are_applied();
    sqpoll_starts_a_kernel_poller_per_ring();
}

fn socket_buffers_and_ring_entries_are_applied() {
    let broker = Broker::start_with(BrokerOptions {
        shards: SHARDS,
        config_toml: Some(
            "[socket]\nsend_buffer_size = 65536\nreceive_buffer_size = 98304\n\
             [io_uring]\nentries = 256\n"
                .to_owned(),
        ),
        extra_args: Vec::new(),
    });
    let log = broker.log();
    for (option, requested, applied) in
        [("SO_SNDBUF", 65536, 131_072), ("SO_RCVBUF", 98304, 196_608)]
    {
        let lines = matching(
            &log,
            "applied socket buffer",
            &format!("option=\"{option}\""),
        );
        assert_eq!(
            lines.len(),
            SHARDS,
            "one line per shard for {option}:\n{log}"
        );
        for line in lines {
            assert!(
                line.contains(&format!("requested_size={requested}")),
                "{line}"
            );
            assert!(line.contains(&format!("applied_size={applied}")), "{line}");
        }
    }
    let rings = matching(&log, "applied io_uring settings", "entries=256");
    assert_eq!(rings.len(), SHARDS, "{log}");
    assert!(
        rings.iter().all(|line| line.contains("sqpoll=false")),
        "{log}"
    );
    let fdinfo = io_uring_fdinfo(broker.pid());
    // compio may open rings of its own beyond the shards'; each shard's must be there.
    let sized = count_where(&fdinfo, "SqMask", |mask| mask == "0xff");
    assert!(
        sized >= SHARDS,
        "{SHARDS} rings of 256 entries expected: {fdinfo:#?}"
    );
    assert!(
        fdinfo
            .iter()
            .all(|info| field(info, "SqThread") == Some("-1")),
        "no SQPOLL thread expected: {fdinfo:#?}"
    );
}

fn sqpoll_starts_a_kernel_poller_per_ring() {
    let broker = Broker::start_with(BrokerOptions {
        shards: SHARDS,
        // A short idle keeps the pollers asleep between the harness's probes.
        config_toml: Some("[io_uring]\nsqpoll = true\nsqpoll_idle_ms = 10\n".to_owned()),
        extra_args: Vec::new(),
    });
    let log = broker.log();
    let rings = matching(&log, "applied io_uring settings", "sqpoll=true");
    assert_eq!(rings.len(), SHARDS, "{log}");
    assert!(
        rings.iter().all(|line| line.contains("sqpoll_idle_ms=10")),
        "{log}"
    );
    let fdinfo = io_uring_fdinfo(broker.pid());
    let polled = count_where(&fdinfo, "SqThread", |pid| pid != "-1");
    assert!(
        polled >= SHARDS,
        "{SHARDS} SQPOLL rings expected: {fdinfo:#?}"
    );
}

/// The log lines holding both `message` and `field`.
fn matching<'a>(log: &'a str, message: &str, field: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|line| line.contains(message) && line.contains(field))
        .collect()
}

/// `/proc/<pid>/fdinfo` of every io_uring fd of the process.
fn io_uring_fdinfo(pid: i32) -> Vec<String> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    let mut infos = Vec::new();
    for entry in fds {
        let entry = entry.unwrap();
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // closed between the listing and the read
        };
        if target.to_string_lossy() != "anon_inode:[io_uring]" {
            continue;
        }
        let fd = entry.file_name();
        let path = format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy());
        if let Ok(info) = std::fs::read_to_string(path) {
            infos.push(info);
        }
    }
    infos
}

/// How many fdinfo files have a `name` line whose value passes `test`.
fn count_where(fdinfo: &[String], name: &str, test: impl Fn(&str) -> bool) -> usize {
    fdinfo
        .iter()
        .filter(|info| field(info, name).is_some_and(&test))
        .count()
}

/// The value of a `Name:\tvalue` line of an fdinfo file.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}
