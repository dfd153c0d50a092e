//! A queue checker in the spirit of Jepsen's: given what the producer was told (every
//! acknowledged record's partition, offset and value) and what each replica's log holds once
//! the brokers stopped (read straight from its segment files), it reports
//!
//! ```text
//! lost         acknowledged, but the final leader's log holds another value (or nothing) at
//!              its offset, or the offset is not below the partition's high watermark
//! duplicated   one value at two offsets of one replica's log
//! divergent    one offset below the HW holding different values on two replicas
//! not identical  a replica's batches below the HW are not byte for byte the leader's
//! ```
//! Values must be unique per produced record (the workload numbers them). Records with a null
//! value and control batches are skipped. The checker is pure over its inputs except
//! [`read_replica_log`], which reads a partition directory.
//!
//! Its unit tests (one per verdict, synthetic inputs) live in `tests/replication_faults.rs`:
//! a `#[cfg(test)]` module here would run again in every test binary that includes `common`.
//! Runs in test processes only.
use bytes::Bytes;
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter};
use ringbroker::protocol::records::Records;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One record the producer's delivery report acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub partition: i32,
    pub offset: i64,
    pub value: Vec<u8>,
}

/// One replica's log of one partition: its record batches in offset order, as on disk.
#[derive(Debug, Clone, Default)]
pub struct ReplicaLog {
    pub broker: i32,
    pub batches: Vec<Bytes>,
}

/// One partition at the end of a run.
#[derive(Debug, Clone, Default)]
pub struct PartitionView {
    pub partition: i32,
    /// The broker that led it last; its log is the truth for `lost`.
    pub leader: i32,
    /// The leader's high watermark: every ISR member holds the log below it.
    pub high_watermark: i64,
    pub replicas: Vec<ReplicaLog>,
}

/// (broker, the value it holds at an offset, if any) per replica.
pub type Held = Vec<(i32, Option<String>)>;

/// What the checker found; empty lists mean a clean run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub acknowledged: usize,
    /// (partition, offset, acknowledged value, what the leader holds there): a record the
    /// leader holds at its offset is still lost when the offset is not below the HW.
    pub lost: Vec<(i32, i64, String, Option<String>)>,
    /// (partition, broker, value, offsets).
    pub duplicated: Vec<(i32, i32, String, Vec<i64>)>,
    /// (partition, offset, (broker, value) per replica).
    pub divergent: Vec<(i32, i64, Held)>,
    /// (partition, broker, why).
    pub not_identical: Vec<(i32, i32, String)>,
    /// Problems reading the logs (a batch that does not decode, a missing replica).
    pub unreadable: Vec<String>,
    /// Per partition: its HW and each replica's data record count and log end, for reports.
    pub summary: Vec<String>,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.divergent.is_empty()
            && self.not_identical.is_empty()
            && self.unreadable.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        writeln!(
            f,
            "{} acknowledged; lost {}, duplicated {}, divergent {}, not identical {}, \
             unreadable {}",
            self.acknowledged,
            self.lost.len(),
            self.duplicated.len(),
            self.divergent.len(),
            self.not_identical.len(),
            self.unreadable.len()
        )?;
        for line in &self.summary {
            writeln!(f, "  {line}")?;
        }
        for lost in self.lost.iter().take(SHOWN) {
            writeln!(f, "  lost {lost:?}")?;
        }
        for duplicated in self.duplicated.iter().take(SHOWN) {
            writeln!(f, "  duplicated {duplicated:?}")?;
        }
        for divergent in self.divergent.iter().take(SHOWN) {
            writeln!(f, "  divergent {divergent:?}")?;
        }
        for not_identical in self.not_identical.iter().take(SHOWN) {
            writeln!(f, "  not identical {not_identical:?}")?;
        }
        for unreadable in self.unreadable.iter().take(SHOWN) {
            writeln!(f, "  unreadable {unreadable}")?;
        }
        Ok(())
    }
}

/// Offset → value of one replica's data records (null values skipped).
type Values = BTreeMap<i64, Vec<u8>>;

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

/// The data records of `batches` by offset; the first batch that does not decode is an error.
fn values(batches: &[Bytes]) -> Result<Values, String> {
    let mut values = Values::new();
    for batch in batches {
        let header = BatchHeader::parse(batch).map_err(|e| format!("header: {e}"))?;
        if header.is_control() {
            continue;
        }
        let records = Records::new(batch.clone())
            .map_err(|e| format!("batch at {}: {e}", header.base_offset()))?;
        for record in records {
            let record = record.map_err(|e| format!("record at {}: {e}", header.base_offset()))?;
            if let Some(value) = record.value {
                values.insert(record.offset, value.to_vec());
            }
        }
    }
    Ok(values)
}

/// Runs every check over `acked` and `partitions`.
pub fn check(acked: &[Acked], partitions: &[PartitionView]) -> Verdict {
    let mut verdict = Verdict {
        acknowledged: acked.len(),
        ..Verdict::default()
    };
    let mut decoded: BTreeMap<(i32, i32), Values> = BTreeMap::new();
    for view in partitions {
        for replica in &view.replicas {
            match values(&replica.batches) {
                Ok(values) => {
                    decoded.insert((view.partition, replica.broker), values);
                }
                Err(error) => verdict.unreadable.push(format!(
                    "partition {} broker {}: {error}",
                    view.partition, replica.broker
                )),
            }
        }
        verdict.summary.push(summary(view, &decoded));
        check_duplicates(view, &decoded, &mut verdict);
        check_divergence(view, &decoded, &mut verdict);
        check_identical(view, &mut verdict);
    }
    check_lost(acked, partitions, &decoded, &mut verdict);
    verdict
}

/// `partition P HW h: broker b n records end e, …`.
fn summary(view: &PartitionView, decoded: &BTreeMap<(i32, i32), Values>) -> String {
    let replicas: Vec<String> = view
        .replicas
        .iter()
        .map(|replica| {
            let end = replica
                .batches
                .last()
                .and_then(|batch| BatchHeader::parse(batch).ok())
                .map_or(0, |header| header.last_offset() + 1);
            let count = decoded
                .get(&(view.partition, replica.broker))
                .map_or(0, BTreeMap::len);
            format!("broker {} {count} records end {end}", replica.broker)
        })
        .collect();
    format!(
        "partition {} leader {} HW {}: {}",
        view.partition,
        view.leader,
        view.high_watermark,
        replicas.join(", ")
    )
}

fn check_lost(
    acked: &[Acked],
    partitions: &[PartitionView],
    decoded: &BTreeMap<(i32, i32), Values>,
    verdict: &mut Verdict,
) {
    for record in acked {
        let view = partitions.iter().find(|v| v.partition == record.partition);
        let held = view.and_then(|view| {
            decoded
                .get(&(view.partition, view.leader))
                .and_then(|values| values.get(&record.offset))
        });
        let committed = view.is_some_and(|view| record.offset < view.high_watermark);
        if held != Some(&record.value) || !committed {
            verdict.lost.push((
                record.partition,
                record.offset,
                text(&record.value),
                held.map(|value| text(value)),
            ));
        }
    }
}

fn check_duplicates(
    view: &PartitionView,
    decoded: &BTreeMap<(i32, i32), Values>,
    verdict: &mut Verdict,
) {
    for replica in &view.replicas {
        let Some(values) = decoded.get(&(view.partition, replica.broker)) else {
            continue;
        };
        let mut offsets: BTreeMap<&[u8], Vec<i64>> = BTreeMap::new();
        for (offset, value) in values {
            offsets.entry(value.as_slice()).or_default().push(*offset);
        }
        for (value, offsets) in offsets {
            if offsets.len() > 1 {
                verdict
                    .duplicated
                    .push((view.partition, replica.broker, text(value), offsets));
            }
        }
    }
}

fn check_divergence(
    view: &PartitionView,
    decoded: &BTreeMap<(i32, i32), Values>,
    verdict: &mut Verdict,
) {
    let replicas: Vec<(i32, &Values)> = view
        .replicas
        .iter()
        .filter_map(|r| {
            decoded
                .get(&(view.partition, r.broker))
                .map(|v| (r.broker, v))
        })
        .collect();
    let offsets: std::collections::BTreeSet<i64> = replicas
        .iter()
        .flat_map(|(_, values)| {
            values
                .range(..view.high_watermark)
                .map(|(offset, _)| *offset)
        })
        .collect();
    for offset in offsets {
        let held: Vec<(i32, Option<&Vec<u8>>)> = replicas
            .iter()
            .map(|(broker, values)| (*broker, values.get(&offset)))
            .collect();
        if held.windows(2).any(|pair| pair[0].1 != pair[1].1) {
            verdict.divergent.push((
                view.partition,
                offset,
                held.iter()
                    .map(|(broker, value)| (*broker, value.map(|v| text(v))))
                    .collect(),
            ));
        }
    }
}

/// The batches that start below `high_watermark`.
fn below(batches: &[Bytes], high_watermark: i64) -> Vec<&Bytes> {
    batches
        .iter()
        .filter(|batch| BatchHeader::parse(batch).is_ok_and(|h| h.base_offset() < high_watermark))
        .collect()
}

fn check_identical(view: &PartitionView, verdict: &mut Verdict) {
    let Some(leader) = view.replicas.iter().find(|r| r.broker == view.leader) else {
        verdict.unreadable.push(format!(
            "partition {}: no log of leader {}",
            view.partition, view.leader
        ));
        return;
    };
    let expected = below(&leader.batches, view.high_watermark);
    for replica in view.replicas.iter().filter(|r| r.broker != view.leader) {
        let actual = below(&replica.batches, view.high_watermark);
        let why = if actual.len() != expected.len() {
            Some(format!(
                "{} batches below HW {}, the leader has {}",
                actual.len(),
                view.high_watermark,
                expected.len()
            ))
        } else {
            expected
                .iter()
                .zip(&actual)
                .find(|(a, b)| a != b)
                .map(|(a, _)| {
                    let base = BatchHeader::parse(a).map_or(-1, |h| h.base_offset());
                    format!("batch at {base} differs from the leader's")
                })
        };
        if let Some(why) = why {
            verdict
                .not_identical
                .push((view.partition, replica.broker, why));
        }
    }
}

/// Every record batch of a partition directory: its `*.log` segments in base-offset order,
/// each split into whole batches (a torn tail after the last whole batch is ignored, as
/// recovery would cut it).
///
/// # Errors
/// The directory or a segment cannot be read.
pub fn read_replica_log(broker: i32, directory: &Path) -> std::io::Result<ReplicaLog> {
    let mut segments: Vec<(i64, std::path::PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some(base) = name
            .strip_suffix(".log")
            .and_then(|stem| stem.parse::<i64>().ok())
        {
            segments.push((base, path));
        }
    }
    segments.sort();
    let mut batches = Vec::new();
    for (_, path) in segments {
        let bytes = Bytes::from(std::fs::read(&path)?);
        batches.extend(BatchSplitter::new(bytes));
    }
    Ok(ReplicaLog { broker, batches })
}
