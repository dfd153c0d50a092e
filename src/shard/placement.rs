//! Partition → shard: a pure function of (topic id, partition, shard count), identical on every
//! node and every run, so partition `p` of a topic lives on the same shard index everywhere and
//! replication traffic flows shard i ↔ shard i (ARCHITECTURE §1).
//!
//! `shard = (fnv1a64(topic_id) + partition) mod shard_count`. Hashing the topic spreads topics;
//! adding the partition (instead of hashing it too) puts consecutive partitions of one topic on
//! consecutive shards, so a topic with at least `shard_count` partitions uses every shard evenly,
//! where a hash of both would leave some shards with two and others with none.
//!
//! Runs on any shard (pure). Changing this function moves data: it is part of the on-disk format
//! of a cluster, so its outputs are pinned by a test.
use crate::protocol::Uuid;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The shard owning `partition` of the topic `topic_id`, in `0..shard_count`.
///
/// # Panics
/// When `shard_count` is 0 (a programmer error: config validation guarantees ≥ 1).
#[must_use]
pub fn shard_for(topic_id: Uuid, partition: i32, shard_count: usize) -> usize {
    assert!(shard_count > 0, "shard_count must be positive");
    // Lossless on every supported target (usize ≤ 64 bits); the fallback keeps it total.
    let count = u64::try_from(shard_count).unwrap_or(u64::MAX);
    // Partitions are non-negative once validated; a negative one still maps somewhere stable.
    let offset = u64::from(partition.cast_unsigned());
    let shard = fnv1a64(&topic_id.0).wrapping_add(offset) % count;
    let shard = usize::try_from(shard).unwrap_or(0);
    assert!(shard < shard_count, "shard {shard} out of 0..{shard_count}");
    shard
}

/// 64-bit FNV-1a: tiny, stable by definition, good enough dispersion for 16 random bytes.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn placement_is_pinned() {
        // Pinned outputs: if this fails, placement changed and existing data dirs would move.
        let topic = Uuid([7; 16]);
        let expected = (fnv1a64(&[7; 16]) % 8) as usize;
        assert_eq!(shard_for(topic, 0, 8), expected);
        assert_eq!(shard_for(topic, 1, 8), (expected + 1) % 8);
        assert_eq!(shard_for(Uuid([0; 16]), 0, 1), 0);
    }

    #[test]
    fn partitions_of_a_topic_cover_every_shard() {
        let topic = Uuid(*b"0123456789abcdef");
        for count in 1..=16 {
            let mut used = vec![0u32; count];
            for partition in 0..i32::try_from(count).unwrap() {
                used[shard_for(topic, partition, count)] += 1;
            }
            assert!(used.iter().all(|&n| n == 1), "count {count}: {used:?}");
        }
    }

    #[test]
    fn negative_partition_is_in_range() {
        for count in 1..=8 {
            assert!(shard_for(Uuid([1; 16]), -1, count) < count);
            assert!(shard_for(Uuid([1; 16]), i32::MIN, count) < count);
        }
    }
}
