//! `ringbroker tune check|apply`: the kernel and machine settings the broker depends on,
//! each checked against a recommendation, with the reason, and set where it can be
//! (Redpanda's `checkedTunable`: check → apply → re-check, idempotent).
//!
//! ```text
//! check            run every check of checks.rs, print the report (exit 0; --strict: 1 on warn)
//! apply            check, write each failing knob that has a fix, re-check, print both
//! apply --dry-run  check and print what apply would write, touching nothing
//! ```
//!
//! Every path is read and written through a [`Root`]: `/` normally, or the directory in
//! [`ROOT_ENV`] (a hidden test hook: tests point it at a fake `/proc` + `/sys` tree so that
//! `apply` is exercised without touching the machine). Reads are bounded by
//! [`FILE_SIZE_MAX`]. Runs on the main thread of the admin process; no shard runs.
pub mod checks;
pub mod topology;

use super::args::{self, Spec};
use super::table::Table;
use super::{CliError, Outcome};
use crate::config::{ConfigError, ConfigFile};
use checks::Profile;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Environment variable naming a fake filesystem root (tests only; not in `--help`).
pub const ROOT_ENV: &str = "RINGBROKER_TUNE_ROOT";
/// Largest sysfs/procfs file read (`/proc/self/limits` is ~1.5 KiB; cpu lists are short).
pub const FILE_SIZE_MAX: u64 = 64 * 1024;

/// Why a tune command could not run (a failed write during apply is reported, not an error).
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("profile: {0}")]
    Profile(#[source] ConfigError),
}

/// Where `/proc` and `/sys` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    #[must_use]
    pub fn new(base: &Path) -> Self {
        Self {
            base: base.to_owned(),
        }
    }

    /// `/`, or [`ROOT_ENV`] when set.
    #[must_use]
    pub fn from_env() -> Self {
        let base = std::env::var_os(ROOT_ENV).map_or_else(|| PathBuf::from("/"), PathBuf::from);
        Self { base }
    }

    /// The real path of `absolute` (e.g. `/proc/sys/vm/swappiness`) under this root.
    ///
    /// # Panics
    /// When `absolute` does not start with '/' (a programmer error).
    #[must_use]
    pub fn path(&self, absolute: &str) -> PathBuf {
        assert!(absolute.starts_with('/'), "{absolute} is not absolute");
        self.base.join(absolute.trim_start_matches('/'))
    }

    /// Reads at most [`FILE_SIZE_MAX`] bytes of `absolute`, trimmed of the trailing newline.
    ///
    /// # Errors
    /// The file cannot be opened or read, or is not UTF-8.
    pub fn read(&self, absolute: &str) -> io::Result<String> {
        let mut text = String::new();
        std::fs::File::open(self.path(absolute))?
            .take(FILE_SIZE_MAX)
            .read_to_string(&mut text)?;
        Ok(text.trim_end_matches('\n').to_owned())
    }

    /// Writes `value` and a newline to `absolute`, as `sysctl -w` and `echo >` do.
    ///
    /// # Errors
    /// The file cannot be opened for writing (missing, read-only, not permitted).
    pub fn write(&self, absolute: &str, value: &str) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(absolute))?;
        file.write_all(format!("{value}\n").as_bytes())
    }

    /// Creates `absolute` with `value` under a test root (never `/`).
    ///
    /// # Panics
    /// On a real root or any I/O error (test helper).
    pub fn write_for_test(&self, absolute: &str, value: &str) {
        assert_ne!(self.base, Path::new("/"), "test helper on the real root");
        let path = self.path(absolute);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|error| panic!("{error}"));
        }
        std::fs::write(&path, value).unwrap_or_else(|error| panic!("{error}"));
    }
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
}

/// One value to write to fix a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// Absolute path under the [`Root`].
    pub path: String,
    pub value: String,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub name: &'static str,
    pub status: Status,
    pub current: String,
    pub recommended: String,
    pub reason: String,
    /// What `apply` writes when the status is `Warn`; empty when it cannot be set from here
    /// (limits come from the systemd unit, topology from the profile).
    pub fixes: Vec<Fix>,
}

const FLAGS: Spec = Spec {
    values: &["--config"],
    switches: &["--dry-run", "--strict"],
};

/// Runs `ringbroker tune ACTION ARGS…`.
///
/// # Errors
/// Bad arguments or an unreadable profile.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let parsed = args::parse(args, FLAGS)?;
    if !parsed.positional.is_empty() {
        return Err(CliError::Usage("tune takes no positional arguments"));
    }
    let file = match parsed.value("--config") {
        Some(path) => ConfigFile::load(Path::new(path)).map_err(TuneError::Profile)?,
        None => ConfigFile::default(),
    };
    let root = Root::from_env();
    let profile = Profile::new(&root, &file);
    match action {
        "check" => {
            let findings = checks::run_all(&root, &profile);
            out.write_all(format_report(&findings).as_bytes())?;
            let warned = findings
                .iter()
                .any(|finding| finding.status == Status::Warn);
            Ok(if warned && parsed.switch("--strict") {
                Outcome::Problems
            } else {
                Outcome::Success
            })
        }
        "apply" => apply(&root, &profile, parsed.switch("--dry-run"), out),
        other => Err(CliError::UnknownCommand {
            words: format!("tune {other}"),
        }),
    }
}

/// check → write every fix of every warning → re-check. With `dry_run`, only prints the
/// writes. Problems when a warning with a fix remains (or, dry, would be written).
///
/// # Errors
/// Only a failed write to `out`; a failed sysfs write is reported in the output.
pub fn apply(
    root: &Root,
    profile: &Profile,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let before = checks::run_all(root, profile);
    writeln!(out, "Before:")?;
    out.write_all(format_report(&before).as_bytes())?;
    let fixes: Vec<&Fix> = before
        .iter()
        .filter(|finding| finding.status == Status::Warn)
        .flat_map(|finding| &finding.fixes)
        .collect();
    if fixes.is_empty() {
        writeln!(out, "\nNothing to apply.")?;
        return Ok(Outcome::Success);
    }
    writeln!(out)?;
    if dry_run {
        for fix in &fixes {
            writeln!(out, "would write {:?} to {}", fix.value, fix.path)?;
        }
        return Ok(Outcome::Problems);
    }
    for fix in &fixes {
        match root.write(&fix.path, &fix.value) {
            Ok(()) => writeln!(out, "wrote {:?} to {}", fix.value, fix.path)?,
            Err(error) => writeln!(
                out,
                "FAILED to write {:?} to {}: {error}",
                fix.value, fix.path
            )?,
        }
    }
    let after = checks::run_all(root, profile);
    writeln!(out, "\nAfter:")?;
    out.write_all(format_report(&after).as_bytes())?;
    let fixable_left = after
        .iter()
        .any(|finding| finding.status == Status::Warn && !finding.fixes.is_empty());
    Ok(if fixable_left {
        Outcome::Problems
    } else {
        Outcome::Success
    })
}

/// `CHECK STATUS CURRENT RECOMMENDED REASON` and a summary line.
#[must_use]
pub fn format_report(findings: &[Finding]) -> String {
    let mut table = Table::new(&["CHECK", "STATUS", "CURRENT", "RECOMMENDED", "REASON"]);
    for finding in findings {
        let status = match finding.status {
            Status::Pass => "pass",
            Status::Warn => "WARN",
        };
        table.push(vec![
            finding.name.to_owned(),
            status.to_owned(),
            finding.current.clone(),
            finding.recommended.clone(),
            finding.reason.clone(),
        ]);
    }
    let warned = findings
        .iter()
        .filter(|finding| finding.status == Status::Warn)
        .count();
    format!(
        "{}{} checks, {} pass, {warned} warn\n",
        table.render(),
        findings.len(),
        findings.len() - warned
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> (tempfile::TempDir, Root) {
        let dir = tempfile::TempDir::new().unwrap();
        let root = Root::new(dir.path());
        root.write_for_test("/sys/devices/system/cpu/online", "0-1\n");
        root.write_for_test("/proc/sys/vm/swappiness", "60\n");
        root.write_for_test("/proc/sys/net/ipv4/tcp_wmem", "4096 16384 4194304\n");
        (dir, root)
    }

    fn apply_to_text(root: &Root, dry_run: bool) -> (Outcome, String) {
        let profile = Profile::new(root, &ConfigFile::default());
        let mut out = Vec::new();
        let outcome = apply(root, &profile, dry_run, &mut out).unwrap();
        (outcome, String::from_utf8(out).unwrap())
    }

    #[test]
    fn dry_run_lists_writes_and_touches_nothing() {
        let (_dir, root) = fake();
        let (outcome, text) = apply_to_text(&root, true);
        assert_eq!(outcome, Outcome::Problems);
        assert!(
            text.contains("would write \"1\" to /proc/sys/vm/swappiness"),
            "{text}"
        );
        assert!(
            text.contains("would write \"4096 16384 16777216\" to /proc/sys/net/ipv4/tcp_wmem"),
            "{text}"
        );
        assert_eq!(root.read("/proc/sys/vm/swappiness").unwrap(), "60");
    }

    #[test]
    fn apply_writes_rechecks_and_is_idempotent() {
        let (_dir, root) = fake();
        let (outcome, text) = apply_to_text(&root, false);
        assert!(
            text.contains("wrote \"1\" to /proc/sys/vm/swappiness"),
            "{text}"
        );
        assert_eq!(root.read("/proc/sys/vm/swappiness").unwrap(), "1");
        assert_eq!(
            root.read("/proc/sys/net/ipv4/tcp_wmem").unwrap(),
            "4096 16384 16777216"
        );
        // Knobs absent from the fake tree stay warnings without a fix: nothing fixable is left.
        assert_eq!(outcome, Outcome::Success, "{text}");
        let after = text.split("After:").nth(1).unwrap();
        assert!(
            after
                .lines()
                .any(|line| line.starts_with("vm.swappiness") && line.contains("pass"))
        );
        let (again, text) = apply_to_text(&root, false);
        assert_eq!(again, Outcome::Success);
        assert!(text.contains("Nothing to apply."), "{text}");
    }

    #[test]
    fn a_failed_write_is_reported_and_leaves_problems() {
        let (dir, root) = fake();
        // A read-only number (procfs refuses writes to 0444 entries, even from root).
        let swappiness = dir.path().join("proc/sys/vm/swappiness");
        std::fs::remove_file(&swappiness).unwrap();
        std::os::unix::fs::symlink("/proc/sys/kernel/random/entropy_avail", &swappiness).unwrap();
        let (outcome, text) = apply_to_text(&root, false);
        assert!(
            text.contains("FAILED to write \"1\" to /proc/sys/vm/swappiness"),
            "{text}"
        );
        assert!(text.contains("wrote \"4096 16384 16777216\""), "{text}");
        assert_eq!(outcome, Outcome::Problems, "{text}");
    }
}
