//! `ringbroker tune check|apply` as a process: the real check on this machine (its report is
//! printed, so CI logs show it), each profile in tuning/profiles/, and apply against a fake
//! `/proc` + `/sys` tree (`RINGBROKER_TUNE_ROOT`), never the real one.
use ringbroker::config::{Config, ConfigFile};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHECKS: [&str; 15] = [
    "kernel.io_uring_disabled",
    "limit.memlock",
    "limit.nofile",
    "net.core.somaxconn",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "transparent_hugepage",
    "cpufreq.governor",
    "vm.swappiness",
    "vm.dirty_background_ratio",
    "vm.dirty_ratio",
    "vm.dirty_expire_centisecs",
    "numa.topology",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tune(args: &[&str], root: Option<&Path>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringbroker"));
    command.arg("tune").args(args);
    match root {
        Some(root) => command.env("RINGBROKER_TUNE_ROOT", root),
        None => command.env_remove("RINGBROKER_TUNE_ROOT"),
    };
    let output = command.output().expect("run ringbroker tune");
    let run = Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    println!(
        "$ ringbroker tune {}\n{}{}",
        args.join(" "),
        run.stdout,
        run.stderr
    );
    run
}

fn profiles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/profiles");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
}

/// A fake machine: two cpus, a few knobs off their recommendation.
fn fake_root() -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    for (path, value) in [
        ("sys/devices/system/cpu/online", "0-1\n"),
        ("proc/sys/vm/swappiness", "60\n"),
        ("proc/sys/vm/dirty_ratio", "20\n"),
        ("proc/sys/kernel/io_uring_disabled", "0\n"),
        (
            "sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        ),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
    dir
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap()
}

#[test]
fn check_on_this_machine_prints_every_check() {
    let run = tune(&["check"], None);
    // Written past the test harness's capture (it captures print! only), so CI logs show
    // this machine's report even when the test passes.
    let report = format!(
        "\n--- ringbroker tune check on this machine ---\n{}",
        run.stdout
    );
    std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes()).unwrap();
    assert_eq!(
        run.code, 0,
        "warnings alone do not fail check: {}",
        run.stderr
    );
    let mut lines = run.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["CHECK", "STATUS", "CURRENT", "RECOMMENDED", "REASON"]
    );
    for check in CHECKS {
        let line = run
            .stdout
            .lines()
            .find(|line| line.starts_with(check))
            .unwrap_or_else(|| panic!("{check} missing"));
        let status = line.split_whitespace().nth(1).unwrap();
        assert!(status == "pass" || status == "WARN", "{line}");
    }
    assert!(run.stdout.contains("15 checks, "), "{}", run.stdout);
}

#[test]
fn check_reads_each_profile() {
    for profile in profiles() {
        let run = tune(&["check", "--config", profile.to_str().unwrap()], None);
        assert_eq!(run.code, 0, "{}: {}", profile.display(), run.stderr);
        assert!(run.stdout.contains("numa.topology"), "{}", run.stdout);
    }
    let missing = tune(&["check", "--config", "/nonexistent/profile.toml"], None);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("cannot read config file"),
        "{}",
        missing.stderr
    );
}

#[test]
fn profiles_validate_on_the_machines_they_describe() {
    let expected = [
        ("numa-2socket.toml", 64, 60),
        ("single-socket-16core.toml", 16, 14),
        ("vm-2core.toml", 2, 2),
    ];
    let paths = profiles();
    assert_eq!(paths.len(), expected.len(), "{paths:?}");
    for (path, (name, cpus, shards)) in paths.iter().zip(expected) {
        assert!(path.ends_with(name), "{}", path.display());
        let file = ConfigFile::load(path).unwrap();
        let available: Vec<usize> = (0..cpus).collect();
        let config = Config::validate(file, &available).unwrap();
        assert_eq!(config.shard_count(), shards, "{name}");
        assert!(
            config
                .tuning
                .irq_cpus
                .iter()
                .all(|cpu| !config.shard_cpus.contains(cpu)),
            "{name}"
        );
    }
}

#[test]
fn strict_check_fails_on_warnings() {
    let root = fake_root();
    let run = tune(&["check", "--strict"], Some(root.path()));
    assert_eq!(run.code, 1);
    let swappiness = run
        .stdout
        .lines()
        .find(|l| l.starts_with("vm.swappiness"))
        .unwrap();
    assert_eq!(
        swappiness.split_whitespace().take(4).collect::<Vec<_>>(),
        ["vm.swappiness", "WARN", "60", "1"]
    );
}

#[test]
fn apply_dry_run_shows_writes_and_changes_nothing() {
    let root = fake_root();
    let run = tune(&["apply", "--dry-run"], Some(root.path()));
    assert_eq!(run.code, 1, "a dry run leaves the warnings in place");
    assert!(
        run.stdout
            .contains("would write \"1\" to /proc/sys/vm/swappiness"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("would write \"60\" to /proc/sys/vm/dirty_ratio")
    );
    assert!(
        run.stdout
            .contains("would write \"madvise\" to /sys/kernel/mm/transparent_hugepage/enabled")
    );
    assert!(
        !run.stdout
            .contains("would write \"0\" to /proc/sys/kernel/io_uring_disabled")
    );
    assert!(!run.stdout.contains("After:"));
    assert_eq!(read(root.path(), "proc/sys/vm/swappiness"), "60\n");
}

#[test]
fn apply_writes_rechecks_and_a_second_apply_has_nothing_to_do() {
    let root = fake_root();
    let run = tune(&["apply"], Some(root.path()));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(read(root.path(), "proc/sys/vm/swappiness"), "1\n");
    assert_eq!(read(root.path(), "proc/sys/vm/dirty_ratio"), "60\n");
    assert_eq!(
        read(root.path(), "sys/kernel/mm/transparent_hugepage/enabled"),
        "madvise\n"
    );
    let after = run.stdout.split("After:").nth(1).expect("a re-check");
    let swappiness = after
        .lines()
        .find(|l| l.starts_with("vm.swappiness"))
        .unwrap();
    assert!(swappiness.contains(" pass "), "{swappiness}");
    let again = tune(&["apply"], Some(root.path()));
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("Nothing to apply."),
        "{}",
        again.stdout
    );
}

#[test]
fn deploy_sysctl_conf_passes_every_check_it_covers() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/sysctl.conf"))
            .unwrap();
    let root = fake_root();
    let mut names = Vec::new();
    for line in text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
    {
        let (name, value) = line.split_once('=').unwrap();
        let path = root
            .path()
            .join("proc/sys")
            .join(name.trim().replace('.', "/"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{}\n", value.trim())).unwrap();
        names.push(name.trim().to_owned());
    }
    assert!(names.len() >= 10, "{names:?}");
    let run = tune(&["check"], Some(root.path()));
    for name in names {
        let line = run
            .stdout
            .lines()
            .find(|line| line.starts_with(&name))
            .unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("pass"), "{line}");
    }
}

#[test]
fn deploy_unit_sets_the_limits_tune_checks() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ringbroker.service"),
    )
    .unwrap();
    let value = |key: &str| -> String {
        unit.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_owned()
    };
    assert_eq!(value("LimitMEMLOCK"), "infinity");
    let nofile: u64 = value("LimitNOFILE").parse().unwrap();
    assert!(nofile >= 262_144, "limit.nofile passes from 262144");
    assert_eq!(value("DynamicUser"), "yes");
    assert_eq!(value("ProtectSystem"), "strict");
    assert!(value("ExecStart").contains("--config /etc/ringbroker/ringbroker.toml"));
    for syscall in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert!(
            value("SystemCallFilter").contains(syscall),
            "{syscall} filtered out"
        );
    }
}

#[test]
fn deploy_cluster_configs_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/cluster");
    for node in 1..=3 {
        let file = ConfigFile::load(&dir.join(format!("node{node}.toml"))).unwrap();
        let config = Config::validate(file, &[0, 1]).unwrap();
        assert_eq!(config.node_id, node);
        assert_eq!(config.advertise.host, format!("broker{node}.example"));
    }
}
