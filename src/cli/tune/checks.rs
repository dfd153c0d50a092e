//! The checks of `ringbroker tune`, one function each, in report order. Each reads its knob
//! under a [`Root`], compares it with a recommendation and says why; those the broker can set
//! itself carry a [`Fix`]. Recommendations and their reasons are in tuning/README.md.
//!
//! Pure reads; `apply` in mod.rs does the writing. Runs on the main thread.
use super::topology::Topology;
use super::{Finding, Fix, Root, Status};
use crate::config::{Config, ConfigFile};
use crate::limits;

/// Socket buffer ceiling recommended for `net.core.[rw]mem_max` and the tcp autotuning max:
/// 16 MiB covers a 10 Gbit/s link at ~13 ms RTT (bandwidth-delay product), the usual
/// datacentre figure, so one connection is never window-bound.
pub const SOCKET_BUFFER_RECOMMENDED: u64 = 16 * 1024 * 1024;
/// `somaxconn` caps every listen backlog; 4096 is the kernel default since 5.4 and ≥ our
/// [`limits::LISTEN_BACKLOG`], so connection bursts are not dropped.
pub const SOMAXCONN_RECOMMENDED: u64 = 4096;
/// Open files: connections (≤ `limits::CONNECTIONS_MAX`) plus three per segment (.log,
/// .index, .timeindex) for tens of thousands of segments; 2^18 is the floor, 2^20 the
/// value deploy/ringbroker.service sets.
pub const NOFILE_MIN: u64 = 1 << 18;
pub const NOFILE_RECOMMENDED: u64 = 1 << 20;
/// Locked memory: io_uring registered buffers pin pages against RLIMIT_MEMLOCK.
pub const MEMLOCK_MIN: u64 = 64 * 1024 * 1024;

const _: () = assert!(SOMAXCONN_RECOMMENDED >= limits::LISTEN_BACKLOG as u64);
const _: () = assert!(NOFILE_MIN >= limits::CONNECTIONS_MAX as u64);

/// What the checks compare against: the profile, resolved on this machine.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile's shard cpus, or every online cpu.
    pub shard_cpus: Vec<usize>,
    pub irq_cpus: Vec<usize>,
    pub numa_nodes: Option<usize>,
    /// The largest socket buffer the profile asks for (0: none).
    pub socket_buffer_size: u64,
    /// Why the profile does not validate on this machine, if it does not.
    pub invalid: Option<String>,
    pub topology: Topology,
}

impl Profile {
    #[must_use]
    pub fn new(root: &Root, file: &ConfigFile) -> Self {
        let topology = Topology::read(root);
        let invalid = if topology.online_cpus.is_empty() {
            Some("cannot read /sys/devices/system/cpu/online".to_owned())
        } else {
            Config::validate(file.clone(), &topology.online_cpus)
                .err()
                .map(|error| error.to_string())
        };
        let shard_cpus = file
            .shards
            .cpus
            .clone()
            .unwrap_or_else(|| topology.online_cpus.clone());
        let socket_buffer_size = [
            file.socket.send_buffer_size,
            file.socket.receive_buffer_size,
        ]
        .into_iter()
        .flatten()
        .max()
        .map_or(0, |size| u64::try_from(size).unwrap_or(u64::MAX));
        Self {
            shard_cpus,
            irq_cpus: file.shards.irq_cpus.clone().unwrap_or_default(),
            numa_nodes: file.shards.numa_nodes,
            socket_buffer_size,
            invalid,
            topology,
        }
    }
}

/// Every check, in report order.
///
/// # Panics
/// When a check has no reason (a programmer error).
#[must_use]
pub fn run_all(root: &Root, profile: &Profile) -> Vec<Finding> {
    let buffer_max = SOCKET_BUFFER_RECOMMENDED.max(profile.socket_buffer_size);
    let findings = vec![
        io_uring(root),
        rlimit(root, "limit.memlock", "Max locked memory", MEMLOCK_MIN),
        rlimit(root, "limit.nofile", "Max open files", NOFILE_MIN),
        at_least(
            root,
            "net.core.somaxconn",
            SOMAXCONN_RECOMMENDED,
            SOMAXCONN_REASON,
        ),
        at_least(root, "net.core.rmem_max", buffer_max, RMEM_REASON),
        at_least(root, "net.core.wmem_max", buffer_max, WMEM_REASON),
        tcp_autotuning(root, "net.ipv4.tcp_rmem", buffer_max),
        tcp_autotuning(root, "net.ipv4.tcp_wmem", buffer_max),
        transparent_huge_pages(root),
        governor(root, &profile.shard_cpus),
        ranged(root, "vm.swappiness", 1, 0..=10, SWAPPINESS_REASON),
        ranged(
            root,
            "vm.dirty_background_ratio",
            5,
            1..=5,
            BACKGROUND_REASON,
        ),
        ranged(root, "vm.dirty_ratio", 60, 40..=80, DIRTY_RATIO_REASON),
        ranged(
            root,
            "vm.dirty_expire_centisecs",
            3000,
            100..=3000,
            EXPIRE_REASON,
        ),
        numa(profile),
    ];
    assert!(findings.iter().all(|finding| !finding.reason.is_empty()));
    findings
}

const SOMAXCONN_REASON: &str = "caps every listen backlog; a short one drops connection bursts";
const RMEM_REASON: &str = "caps SO_RCVBUF and receive autotuning per connection";
const WMEM_REASON: &str = "caps SO_SNDBUF and send autotuning per connection";
const SWAPPINESS_REASON: &str = "keeps broker memory in RAM and leaves the rest to page cache";
const BACKGROUND_REASON: &str = "starts segment writeback early and steadily instead of in bursts";
const DIRTY_RATIO_REASON: &str =
    "high enough that appends are not throttled while writeback catches up";
const EXPIRE_REASON: &str = "bounds how long appended segment data stays unflushed";

fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn finding(name: &'static str, status: Status, current: String, recommended: String) -> Finding {
    Finding {
        name,
        status,
        current,
        recommended,
        reason: String::new(),
        fixes: Vec::new(),
    }
}

fn unreadable(name: &'static str, path: &str, error: &std::io::Error) -> Finding {
    Finding {
        reason: format!("cannot read {path}: {error}"),
        ..finding(name, Status::Warn, "?".to_owned(), "-".to_owned())
    }
}

fn io_uring(root: &Root) -> Finding {
    let name = "kernel.io_uring_disabled";
    let path = sysctl_path(name);
    match root.read(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Finding {
            reason: "knob absent: kernels before 6.6 always allow io_uring".to_owned(),
            ..finding(name, Status::Pass, "absent".to_owned(), "0".to_owned())
        },
        Err(error) => unreadable(name, &path, &error),
        Ok(value) => {
            let status = if value.trim() == "0" {
                Status::Pass
            } else {
                Status::Warn
            };
            Finding {
                reason: "io_uring is the broker's only I/O path; 1 or 2 refuse it".to_owned(),
                fixes: vec![Fix {
                    path,
                    value: "0".to_owned(),
                }],
                ..finding(name, status, value, "0".to_owned())
            }
        }
    }
}

/// A soft limit from `/proc/self/limits` (this process's, i.e. the shell's: the service
/// gets its own from deploy/ringbroker.service).
fn rlimit(root: &Root, name: &'static str, label: &str, minimum: u64) -> Finding {
    let path = "/proc/self/limits";
    let text = match root.read(path) {
        Ok(text) => text,
        Err(error) => return unreadable(name, path, &error),
    };
    // "Max open files            1024                 524288               files"
    let soft = text
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    let enough = soft == "unlimited" || soft.parse::<u64>().is_ok_and(|value| value >= minimum);
    let recommended = if name == "limit.nofile" {
        NOFILE_RECOMMENDED.to_string()
    } else {
        "unlimited".to_owned()
    };
    Finding {
        reason: format!(
            "this shell's soft limit (needs >= {minimum}); the systemd unit sets the service's"
        ),
        ..finding(
            name,
            if enough { Status::Pass } else { Status::Warn },
            soft,
            recommended,
        )
    }
}

fn read_number(root: &Root, name: &'static str) -> Result<u64, Finding> {
    let path = sysctl_path(name);
    let text = root
        .read(&path)
        .map_err(|error| unreadable(name, &path, &error))?;
    text.trim().parse().map_err(|_| Finding {
        reason: format!("{path} holds {text:?}, not a number"),
        ..finding(name, Status::Warn, text.clone(), "-".to_owned())
    })
}

fn numeric(name: &'static str, value: u64, ok: bool, recommended: u64, reason: &str) -> Finding {
    Finding {
        reason: reason.to_owned(),
        fixes: vec![Fix {
            path: sysctl_path(name),
            value: recommended.to_string(),
        }],
        ..finding(
            name,
            if ok { Status::Pass } else { Status::Warn },
            value.to_string(),
            recommended.to_string(),
        )
    }
}

fn at_least(root: &Root, name: &'static str, minimum: u64, reason: &str) -> Finding {
    match read_number(root, name) {
        Ok(value) => numeric(name, value, value >= minimum, minimum, reason),
        Err(finding) => finding,
    }
}

fn ranged(
    root: &Root,
    name: &'static str,
    recommended: u64,
    range: std::ops::RangeInclusive<u64>,
    reason: &str,
) -> Finding {
    assert!(
        range.contains(&recommended),
        "{name}: {recommended} outside {range:?}"
    );
    match read_number(root, name) {
        Ok(value) => numeric(name, value, range.contains(&value), recommended, reason),
        Err(finding) => finding,
    }
}

/// `tcp_rmem` / `tcp_wmem` are "min default max"; only max (autotuning's ceiling) matters.
fn tcp_autotuning(root: &Root, name: &'static str, maximum: u64) -> Finding {
    let path = sysctl_path(name);
    let text = match root.read(&path) {
        Ok(text) => text,
        Err(error) => return unreadable(name, &path, &error),
    };
    let fields: Vec<u64> = text
        .split_whitespace()
        .filter_map(|field| field.parse().ok())
        .collect();
    let [min, default, max] = fields[..] else {
        return Finding {
            reason: format!("{path} holds {text:?}, not three numbers"),
            ..finding(name, Status::Warn, text.clone(), "-".to_owned())
        };
    };
    let recommended = format!("{min} {default} {}", max.max(maximum));
    Finding {
        reason: "the third number caps TCP autotuning of each connection's buffer".to_owned(),
        fixes: vec![Fix {
            path,
            value: recommended.clone(),
        }],
        ..finding(
            name,
            if max >= maximum {
                Status::Pass
            } else {
                Status::Warn
            },
            text.split_whitespace().collect::<Vec<_>>().join(" "),
            recommended,
        )
    }
}

fn transparent_huge_pages(root: &Root) -> Finding {
    let name = "transparent_hugepage";
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    let text = match root.read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Finding {
                reason: "kernel built without THP".to_owned(),
                ..finding(
                    name,
                    Status::Pass,
                    "absent".to_owned(),
                    "madvise".to_owned(),
                )
            };
        }
        Err(error) => return unreadable(name, path, &error),
    };
    // "always [madvise] never": the bracketed word is the mode in force. A lone word is
    // taken as the mode too (what a plain file holds after `apply` wrote to it).
    let mode = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('[')?.strip_suffix(']'))
        .or_else(|| Some(text.trim()).filter(|word| !word.contains(char::is_whitespace)))
        .filter(|word| !word.is_empty())
        .unwrap_or("?")
        .to_owned();
    let status = if mode == "madvise" || mode == "never" {
        Status::Pass
    } else {
        Status::Warn
    };
    Finding {
        reason: "'always' makes khugepaged compact memory behind the shards (latency spikes)"
            .to_owned(),
        fixes: vec![Fix {
            path: path.to_owned(),
            value: "madvise".to_owned(),
        }],
        ..finding(name, status, mode, "madvise".to_owned())
    }
}

fn governor(root: &Root, cpus: &[usize]) -> Finding {
    let name = "cpufreq.governor";
    let mut current: Vec<String> = Vec::new();
    let mut fixes = Vec::new();
    for cpu in cpus.iter().take(limits::SHARDS_MAX) {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor");
        let Ok(governor) = root.read(&path) else {
            continue;
        };
        if governor != "performance" {
            fixes.push(Fix {
                path,
                value: "performance".to_owned(),
            });
        }
        if !current.contains(&governor) {
            current.push(governor);
        }
    }
    if current.is_empty() {
        return Finding {
            reason: "no cpufreq driver on the shard cpus (a VM or a fixed clock)".to_owned(),
            ..finding(
                name,
                Status::Pass,
                "absent".to_owned(),
                "performance".to_owned(),
            )
        };
    }
    Finding {
        reason: format!(
            "shard cpus busy-poll and must not wait to clock up ({} of {} differ)",
            fixes.len(),
            cpus.len()
        ),
        status: if fixes.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        fixes,
        ..finding(
            name,
            Status::Pass,
            current.join(","),
            "performance".to_owned(),
        )
    }
}

fn numa(profile: &Profile) -> Finding {
    let name = "numa.topology";
    let topology = &profile.topology;
    let nodes = topology.node_count();
    let placement: Vec<String> = profile
        .shard_cpus
        .iter()
        .take(limits::SHARDS_MAX)
        .map(|cpu| match topology.node_of(*cpu) {
            Some(node) => format!("{cpu}@{node}"),
            None => format!("{cpu}@?"),
        })
        .collect();
    let mut problems = Vec::new();
    if let Some(invalid) = &profile.invalid {
        problems.push(format!("profile does not fit this machine: {invalid}"));
    }
    if let Some(expected) = profile.numa_nodes.filter(|expected| *expected != nodes) {
        problems.push(format!(
            "profile is for {expected} nodes, machine has {nodes}"
        ));
    }
    let missing: Vec<String> = profile
        .irq_cpus
        .iter()
        .filter(|cpu| !topology.online_cpus.contains(cpu))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        problems.push(format!("irq cpus {} are not online", missing.join(",")));
    }
    let status = if problems.is_empty() {
        Status::Pass
    } else {
        Status::Warn
    };
    let reason = if problems.is_empty() {
        format!("{nodes} node(s); shard cpu@node as the profile places them")
    } else {
        problems.join("; ")
    };
    let expected = profile
        .numa_nodes
        .map_or_else(|| "any".to_owned(), |nodes| format!("{nodes} node(s)"));
    Finding {
        reason,
        ..finding(name, status, placement.join(","), expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_machine() -> (tempfile::TempDir, Root) {
        let dir = tempfile::TempDir::new().unwrap();
        let root = Root::new(dir.path());
        root.write_for_test("/sys/devices/system/cpu/online", "0-3\n");
        root.write_for_test("/proc/sys/kernel/io_uring_disabled", "2\n");
        root.write_for_test(
            "/proc/self/limits",
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max open files            1024                 524288               files\n\
             Max locked memory         unlimited            unlimited            bytes\n",
        );
        root.write_for_test("/proc/sys/net/core/somaxconn", "4096\n");
        root.write_for_test("/proc/sys/net/core/rmem_max", "212992\n");
        root.write_for_test("/proc/sys/net/core/wmem_max", "16777216\n");
        root.write_for_test("/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        root.write_for_test("/proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t16777216\n");
        root.write_for_test(
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        );
        root.write_for_test(
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "powersave\n",
        );
        root.write_for_test(
            "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "performance\n",
        );
        root.write_for_test("/proc/sys/vm/swappiness", "60\n");
        root.write_for_test("/proc/sys/vm/dirty_background_ratio", "10\n");
        root.write_for_test("/proc/sys/vm/dirty_ratio", "20\n");
        root.write_for_test("/proc/sys/vm/dirty_expire_centisecs", "3000\n");
        (dir, root)
    }

    fn status_of(findings: &[Finding], name: &str) -> Status {
        findings
            .iter()
            .find(|finding| finding.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
            .status
    }

    #[test]
    fn each_check_passes_or_warns_on_its_own_knob() {
        let (_dir, root) = fake_machine();
        let file: ConfigFile = toml::from_str("[shards]\ncpus = [0, 1]\n").unwrap();
        let findings = run_all(&root, &Profile::new(&root, &file));
        let expected = [
            ("kernel.io_uring_disabled", Status::Warn),
            ("limit.memlock", Status::Pass),
            ("limit.nofile", Status::Warn),
            ("net.core.somaxconn", Status::Pass),
            ("net.core.rmem_max", Status::Warn),
            ("net.core.wmem_max", Status::Pass),
            ("net.ipv4.tcp_rmem", Status::Warn),
            ("net.ipv4.tcp_wmem", Status::Pass),
            ("transparent_hugepage", Status::Warn),
            ("cpufreq.governor", Status::Warn),
            ("vm.swappiness", Status::Warn),
            ("vm.dirty_background_ratio", Status::Warn),
            ("vm.dirty_ratio", Status::Warn),
            ("vm.dirty_expire_centisecs", Status::Pass),
            ("numa.topology", Status::Pass),
        ];
        assert_eq!(findings.len(), expected.len());
        for (name, status) in expected {
            assert_eq!(status_of(&findings, name), status, "{name}");
        }
        let tcp = findings
            .iter()
            .find(|f| f.name == "net.ipv4.tcp_rmem")
            .unwrap();
        assert_eq!(tcp.fixes[0].value, "4096 131072 16777216");
        let governor = findings
            .iter()
            .find(|f| f.name == "cpufreq.governor")
            .unwrap();
        assert_eq!(governor.fixes.len(), 1, "only cpu0 needs a change");
    }

    #[test]
    fn numa_compares_the_profile_with_the_machine() {
        let (_dir, root) = fake_machine();
        root.write_for_test("/sys/devices/system/node/node0/cpulist", "0-1\n");
        root.write_for_test("/sys/devices/system/node/node1/cpulist", "2-3\n");
        let fits: ConfigFile =
            toml::from_str("[shards]\ncpus = [1, 2, 3]\nirq_cpus = [0]\nnuma_nodes = 2\n").unwrap();
        let finding = numa(&Profile::new(&root, &fits));
        assert_eq!(finding.status, Status::Pass, "{}", finding.reason);
        assert_eq!(finding.current, "1@0,2@1,3@1");

        let wrong: ConfigFile =
            toml::from_str("[shards]\ncpus = [1, 9]\nnuma_nodes = 4\n").unwrap();
        let finding = numa(&Profile::new(&root, &wrong));
        assert_eq!(finding.status, Status::Warn);
        assert!(
            finding.reason.contains("for 4 nodes, machine has 2"),
            "{}",
            finding.reason
        );
        assert!(finding.reason.contains("cpu 9"), "{}", finding.reason);
    }

    #[test]
    fn absent_optional_knobs_pass_with_their_reason() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = Root::new(dir.path());
        root.write_for_test("/sys/devices/system/cpu/online", "0\n");
        let findings = run_all(&root, &Profile::new(&root, &ConfigFile::default()));
        assert_eq!(
            status_of(&findings, "kernel.io_uring_disabled"),
            Status::Pass
        );
        assert_eq!(status_of(&findings, "transparent_hugepage"), Status::Pass);
        assert_eq!(status_of(&findings, "cpufreq.governor"), Status::Pass);
        // A missing sysctl that must exist is a warning without a fix.
        let swappiness = findings.iter().find(|f| f.name == "vm.swappiness").unwrap();
        assert_eq!(swappiness.status, Status::Warn);
        assert!(swappiness.fixes.is_empty());
        assert!(
            swappiness.reason.contains("cannot read"),
            "{}",
            swappiness.reason
        );
    }
}
