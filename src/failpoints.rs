//! Test-only fault injection, compiled with the `failpoints` feature only (never in release
//! builds). A point is armed by creating the file `<data dir>/failpoints/<name>`; the first
//! time the broker reaches it, it removes the file (so each arming fires once, even across a
//! restart) and injects its fault. Tests arm points from outside the broker process, which is
//! why the switch is a file and not an in-process flag.
//!
//! Blocking file checks on the executor: acceptable for a test-only feature.
//! Runs on whichever shard reaches the point.
use std::path::Path;

use crate::storage::AppendInfo;

/// Produce: after new batches were appended, drop the connection instead of answering (the
/// client cannot tell whether its batches were written and retries them).
pub const PRODUCE_DROP_AFTER_APPEND: &str = "produce-drop-after-append";

/// Produce: after new batches were appended, end the process at once instead of answering (a
/// crash between the append and the response; the test restarts the broker).
pub const PRODUCE_EXIT_AFTER_APPEND: &str = "produce-exit-after-append";

/// A point that fired and asks its caller to drop the connection. Its own type, so this module
/// names nothing above storage; handlers turn it into `HandlerError::Failpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("failpoint {name}")]
pub struct Fired {
    pub name: &'static str,
}

/// Exit status of [`PRODUCE_EXIT_AFTER_APPEND`], so a test can tell it from a real failure.
pub const EXIT_STATUS: i32 = 86;

/// The directory holding armed points.
#[must_use]
pub fn directory(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("failpoints")
}

/// Whether `name` was armed; disarms it.
#[must_use]
pub fn fire(data_dir: &Path, name: &str) -> bool {
    std::fs::remove_file(directory(data_dir).join(name)).is_ok()
}

/// The Produce points, reached after the appends of a request and before its response.
///
/// # Errors
/// [`Fired`] when [`PRODUCE_DROP_AFTER_APPEND`] fires (the connection is then closed).
pub fn after_produce_append<'a, E: 'a>(
    data_dir: &Path,
    results: impl IntoIterator<Item = &'a Result<AppendInfo, E>>,
) -> Result<(), Fired> {
    let appended = results
        .into_iter()
        .any(|result| result.as_ref().is_ok_and(|info| !info.duplicate));
    if !appended {
        return Ok(());
    }
    if fire(data_dir, PRODUCE_EXIT_AFTER_APPEND) {
        tracing::warn!("failpoint {PRODUCE_EXIT_AFTER_APPEND}: exiting");
        // `_exit`, not `std::process::exit`: no atexit handlers or destructors run while the
        // other shard threads keep going (they could crash the exit and change its status),
        // and nothing is flushed, which is what a crash looks like.
        // SAFETY: `_exit` takes any status and never returns; no Rust state is observed after.
        unsafe { libc::_exit(EXIT_STATUS) }
    }
    if fire(data_dir, PRODUCE_DROP_AFTER_APPEND) {
        tracing::warn!("failpoint {PRODUCE_DROP_AFTER_APPEND}: dropping the connection");
        return Err(Fired {
            name: PRODUCE_DROP_AFTER_APPEND,
        });
    }
    Ok(())
}
