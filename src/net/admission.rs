//! Connection admission: `connections_max` across all shards and `connections_per_ip_max` per
//! client address, checked right after `accept` and before any buffer or task exists for the
//! connection. Over a cap, the socket is closed at once (Kafka closes per-IP excess the same
//! way); the backlog is not left to fill, so clients get a prompt close instead of a hang.
//!
//! Shared by every shard (`Arc<Admission>`). The global count is one atomic. The per-IP counts
//! are a map behind a `Mutex`: this is the accept path, taken once per connection for a map
//! update, never per request, so it is not the data path the no-mutex rule protects. The map
//! holds only addresses with open connections, so it has at most `connections_max` entries.
use crate::config::Limits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("connections_max ({max}) reached")]
    Global { max: usize },
    #[error("connections_per_ip_max ({max}) reached for {ip}")]
    PerIp { ip: IpAddr, max: usize },
}

/// The caps and the current counts.
#[derive(Debug)]
pub struct Admission {
    connections_max: usize,
    connections_per_ip_max: usize,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it releases its slots.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// # Panics
    /// When a cap is 0 (config validation rejects that).
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        assert!(limits.connections_max > 0);
        assert!(limits.connections_per_ip_max > 0);
        Self {
            connections_max: limits.connections_max,
            connections_per_ip_max: limits.connections_per_ip_max,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Connections open now, across all shards.
    #[must_use]
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a global slot and a slot for `ip`, or neither.
    ///
    /// # Errors
    /// `Global` or `PerIp` when the cap is reached.
    ///
    /// # Panics
    /// When the per-IP map outgrows `connections_max` (a broken invariant).
    pub fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refused> {
        let max = self.connections_max;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| Refused::Global { max })?;
        // A poisoned map only means another thread panicked mid-update of plain counters;
        // the counts stay usable.
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.connections_per_ip_max {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            drop(per_ip);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::PerIp {
                ip,
                max: self.connections_per_ip_max,
            });
        }
        *count += 1;
        assert!(per_ip.len() <= self.connections_max);
        Ok(Permit {
            admission: Arc::clone(self),
            ip,
        })
    }

    fn release(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.get_mut(&ip);
        assert!(count.is_some(), "release of {ip} without a permit");
        if let Some(count) = count {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
        }
        drop(per_ip);
        let previous = self.open.fetch_sub(1, Ordering::AcqRel);
        assert!(previous > 0, "open connection count underflow");
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.release(self.ip);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    fn admission(global: usize, per_ip: usize) -> Arc<Admission> {
        Arc::new(Admission::new(&Limits {
            connections_max: global,
            connections_per_ip_max: per_ip,
            ..Limits::default()
        }))
    }

    #[test]
    fn global_cap_and_release() {
        let admission = admission(2, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = admission.try_admit(a).unwrap();
        let _second = admission.try_admit(b).unwrap();
        assert_eq!(
            admission.try_admit(a).unwrap_err(),
            Refused::Global { max: 2 }
        );
        drop(first);
        assert_eq!(admission.open(), 1);
        assert!(admission.try_admit(a).is_ok());
    }

    #[test]
    fn per_ip_cap_leaves_global_slot_free() {
        let admission = admission(10, 1);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let _first = admission.try_admit(a).unwrap();
        assert!(matches!(
            admission.try_admit(a),
            Err(Refused::PerIp { max: 1, .. })
        ));
        assert_eq!(admission.open(), 1);
        assert!(admission.try_admit("10.0.0.2".parse().unwrap()).is_ok());
    }
}
