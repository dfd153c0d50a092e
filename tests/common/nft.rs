//! Network partitions of one broker process on loopback with nftables (issue 16's "a follower
//! cut off"). Needs root and the `nft` tool: [`ensure_nft`] installs the Debian package
//! `nftables` with `apt-get install -y nftables` when `nft` is missing; a test that cannot get
//! it says so and skips (on the project's machine it must work).
//!
//! Every broker talks over 127.0.0.1, so addresses tell nothing apart; ports and the process
//! do. A [`Cut`] adds a table of its own, `ringbroker_test_<test pid>_<n>`, with an output
//! chain that drops
//!
//! ```text
//! tcp sport/dport ∈ {every local port of the broker's TCP sockets}   its listeners (client and
//!                   controller ports) and the connections it already has (follower fetches to
//!                   the leader's client port, heartbeats, Raft), found via /proc/<pid>/fd and
//!                   /proc/net/tcp
//! socket cgroupv2 = ringbroker_test_<test pid>_<n>   connections it opens later: the broker is
//!                   moved into that cgroup (v2, /sys/fs/cgroup/unified or /sys/fs/cgroup), and
//!                   a socket is tagged with its creator's cgroup when created
//! ```
//! Loopback packets pass the output hook in both directions, so this is a full partition of
//! the process: it reaches nobody and nobody reaches it (a connect to it times out). Dropping
//! the [`Cut`] deletes the table, moves the broker back to the root cgroup and removes the
//! cgroup. An ephemeral port of a connection the broker closes during the cut may be reused by
//! another process and be dropped too until the cut ends; the tests' cuts last seconds.
//! Runs in test processes only.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Makes sure `nft` runs, installing nftables when it is missing.
///
/// # Errors
/// Why nftables cannot be used here (not root, apt-get failed): tests skip with it.
pub fn ensure_nft() -> Result<(), String> {
    if nft_runs() {
        return Ok(());
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "nftables"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("apt-get: {e}"))?;
    if status.success() && nft_runs() {
        Ok(())
    } else {
        Err(format!(
            "nft is missing and `apt-get install -y nftables` ended with {status}"
        ))
    }
}

/// Whether `nft list tables` succeeds (installed, and we may use netlink).
fn nft_runs() -> bool {
    Command::new("nft")
        .args(["list", "tables"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The cgroup v2 mount and the path `nft` resolves cgroup names under (`/sys/fs/cgroup`).
fn cgroup2_root() -> Result<(PathBuf, String), String> {
    for (mount, prefix) in [
        ("/sys/fs/cgroup/unified", "unified/"),
        ("/sys/fs/cgroup", ""),
    ] {
        let mount = Path::new(mount);
        if mount.join("cgroup.procs").exists() && mount.join("cgroup.controllers").exists() {
            return Ok((mount.to_path_buf(), prefix.to_owned()));
        }
    }
    Err("no cgroup v2 hierarchy under /sys/fs/cgroup".to_owned())
}

/// A partition of one broker process; healed when dropped.
pub struct Cut {
    table: String,
    cgroup: PathBuf,
    root: PathBuf,
    pid: i32,
}

impl Cut {
    /// Cuts process `pid` off: drops every TCP packet of its current sockets and of the
    /// sockets it opens from now on.
    ///
    /// # Errors
    /// nftables or cgroup v2 is not usable.
    pub fn isolate(pid: i32) -> Result<Self, String> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        ensure_nft()?;
        let (root, prefix) = cgroup2_root()?;
        let name = format!(
            "ringbroker_test_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let cgroup = root.join(&name);
        std::fs::create_dir_all(&cgroup).map_err(|e| format!("{}: {e}", cgroup.display()))?;
        let cut = Self {
            table: name.clone(),
            cgroup,
            root,
            pid,
        };
        // First into the cgroup, then list the sockets: one opened in between is caught by one
        // rule or the other.
        std::fs::write(cut.cgroup.join("cgroup.procs"), pid.to_string())
            .map_err(|e| format!("move {pid} into {name}: {e}"))?;
        let ports = local_ports(pid)?;
        let port_set = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut script = format!(
            "table inet {name} {{\n chain output {{\n  type filter hook output priority 0; \
             policy accept;\n  socket cgroupv2 level 1 \"{prefix}{name}\" drop\n"
        );
        if !ports.is_empty() {
            script.push_str(&format!(
                "  tcp sport {{ {port_set} }} drop\n  tcp dport {{ {port_set} }} drop\n"
            ));
        }
        script.push_str(" }\n}\n");
        run_nft(&script)?;
        Ok(cut)
    }
}

/// `nft -f -` with `script` on its input.
fn run_nft(script: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(script.as_bytes())
            .map_err(|e| format!("nft input: {e}"))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft failed: {}\n{script}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The local ports of every TCP socket process `pid` holds (listeners and connections).
fn local_ports(pid: i32) -> Result<BTreeSet<u16>, String> {
    let mut inodes = BTreeSet::new();
    let fds =
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| format!("fds of {pid}: {e}"))?;
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|inode| inode.parse::<u64>().ok())
        {
            inodes.insert(inode);
        }
    }
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (fields.get(1), fields.get(9)) else {
                continue;
            };
            let port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if let (Some(port), Ok(inode)) = (port, inode.parse::<u64>())
                && inodes.contains(&inode)
            {
                ports.insert(port);
            }
        }
    }
    Ok(ports)
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .stderr(Stdio::null())
            .status();
        // Back to the root cgroup (fails harmlessly when the process is gone), then remove
        // ours once it is empty.
        let _ = std::fs::write(self.root.join("cgroup.procs"), self.pid.to_string());
        let _ = super::eventually(Duration::from_secs(5), || {
            std::fs::remove_dir(&self.cgroup).is_ok() || !self.cgroup.exists()
        });
    }
}
