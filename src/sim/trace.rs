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
#[derive(Debug)]
pub struct Trace {
    lines: VecDeque<String>,
    capacity: usize,
    /// Events recorded over the run, including the dropped ones.
    pub recorded: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::with_capacity(TRACE_EVENTS_MAX)
    }
}

impl Trace {
    /// A trace keeping the last `capacity` lines (at least 1).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Trace {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            recorded: 0,
        }
    }

    /// Records one event at virtual time `now`.
    pub fn record(&mut self, now: Duration, event: std::fmt::Arguments<'_>) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        let mut line = String::new();
        let millis = now.as_millis();
        let _ = write!(line, "{:>6}.{:03} {event}", millis / 1000, millis % 1000);
        self.lines.push_back(line);
        self.recorded += 1;
        assert!(self.lines.len() <= self.capacity, "trace over its bound");
    }

    /// The kept lines, oldest first.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}
