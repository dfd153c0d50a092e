//! The last events of a run, kept in a ring buffer so a violation prints what led to it.
//! Bounded by `TRACE_EVENTS_MAX`; each line carries the virtual time. Runs on the
//! simulator's thread.
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

/// Lines a trace keeps (the issue asks for "the last events"; 200 cover a few virtual seconds
/// of one partition's traffic, enough to see the election or crash behind a violation).
pub const TRACE_EVENTS_MAX: usize = 200;

/// A ring buffer of formatted events.
#[derive(Debug, Default)]
pub struct Trace {
    lines: VecDeque<String>,
    /// Events recorded over the run, including the dropped ones.
    pub recorded: u64,
}

impl Trace {
    /// Records one event at virtual time `now`.
    pub fn record(&mut self, now: Duration, event: std::fmt::Arguments<'_>) {
        if self.lines.len() == TRACE_EVENTS_MAX {
            self.lines.pop_front();
        }
        let mut line = String::new();
        let millis = now.as_millis();
        let _ = write!(line, "{:>6}.{:03} {event}", millis / 1000, millis % 1000);
        self.lines.push_back(line);
        self.recorded += 1;
        assert!(self.lines.len() <= TRACE_EVENTS_MAX, "trace over its bound");
    }

    /// The kept lines, oldest first.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}
