//! One file per ringbench mode; each runs on the main thread and spawns the actors it needs.
pub mod baseline;
pub mod consume;
pub mod e2e;
pub mod produce;
pub mod sweep;

use std::thread::JoinHandle;

/// Joins every thread (so none outlives the run) and returns their results, or the first
/// error in spawn order.
///
/// # Errors
/// The first thread's error, or a panic turned into an error naming `what`.
pub fn join_all<T>(
    handles: Vec<JoinHandle<anyhow::Result<T>>>,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    let mut results = Vec::with_capacity(handles.len());
    let mut first_error = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(result)) => results.push(result),
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            Err(_) => {
                first_error.get_or_insert(anyhow::anyhow!("a {what} thread panicked"));
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(results),
    }
}
