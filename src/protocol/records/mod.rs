//! Records inside a RecordBatch v2: bounded iteration over a validated batch, and the encoder.
//!
//! Owns the record layout, the records-section decompression entry point (codecs live in
//! [`super::compression`]) and [`BatchBuilder`]. The 61-byte header, CRC-32C and in-place patches
//! belong to [`super::record_batch`]. Sans-IO; runs on the connection's shard (Produce
//! validation, tests) and in ringbench's producers (encoding).
//!
//! ```text
//! record   [length:varint][attributes:i8][timestamp_delta:varlong][offset_delta:varint]
//!          [key_length:varint][key][value_length:varint][value]
//!          [headers_count:varint]([key_length:varint][key][value_length:varint][value])*
//!          key/value length < 0 = null (Kafka reads any negative length as null);
//!          header keys are never null
//! ```
//! Invariants:
//! - Records borrow from the batch (or from the one decompressed buffer): keys, values and
//!   headers are `Bytes` slices, never per-record copies.
//! - Every varint length is checked against the bytes left before it is sliced; the header's
//!   records count is never used to allocate, only to check that the records match it exactly
//!   (a missing record or trailing bytes is an error, as in Kafka's `DefaultRecordBatch`).
//! - Decompressed output is capped ([`crate::limits::DECOMPRESSED_BATCH_SIZE_MAX`] or lower).
//! - [`BatchBuilder`] allocates nothing per record: records go straight into the output buffer,
//!   or into a caller-owned scratch buffer that is compressed once at the end.
//!
//! Files: `decode.rs` (records iteration and verification), `encode.rs` ([`BatchBuilder`]),
//! `testing.rs` (test-only helpers shared by both: sample records, resealing a cut batch).
mod decode;
mod encode;
#[cfg(test)]
mod testing;

pub use decode::{
    Header, HeaderIter, Record, RecordHeaders, Records, RecordsError, verify_records,
};
pub use encode::{BatchBuilder, BatchOptions, EncodeError, NewHeader, NewRecord};

/// Kafka's "no producer id / epoch / sequence / leader epoch" (`RecordBatch.NO_*`).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

#[cfg(test)]
mod tests {
    use super::testing::{Expected, decode, encode, options, reseal, sample, to_expected};
    use super::*;
    use crate::protocol::compression::SnappyFraming;
    use crate::protocol::record_batch::{self, Compression, HEADER_SIZE};
    use bytes::Bytes;

    #[test]
    fn round_trip_every_codec() {
        let expected = sample();
        let framings = [SnappyFraming::Raw, SnappyFraming::Xerial];
        for codec in Compression::ALL {
            for framing in framings {
                let options = BatchOptions {
                    snappy_framing: framing,
                    ..options(codec)
                };
                let batch = encode(&expected, options);
                let header = record_batch::validate(&batch).unwrap();
                assert_eq!(header.compression().unwrap(), codec);
                assert_eq!(header.base_offset(), 1000);
                assert_eq!(header.records_count(), 4);
                assert_eq!(header.last_offset_delta(), 3);
                assert_eq!(header.base_timestamp(), 1_700_000_000_000);
                assert_eq!(header.max_timestamp(), 1_700_000_001_000);
                assert_eq!(header.producer_id(), 42);
                assert_eq!(header.producer_epoch(), 3);
                assert_eq!(header.base_sequence(), 17);
                assert_eq!(header.partition_leader_epoch(), NO_PARTITION_LEADER_EPOCH);
                let records = decode(batch.clone(), 1 << 20).unwrap();
                let decoded: Vec<Expected> = records.iter().map(to_expected).collect();
                assert_eq!(decoded, expected, "{codec:?} {framing:?}");
                let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
                assert_eq!(offsets, [1000, 1001, 1002, 1003]);
                assert_eq!(verify_records(batch, 1 << 20).unwrap(), 4);
            }
        }
    }

    fn arbitrary_record() -> impl proptest::strategy::Strategy<Value = Expected> {
        use proptest::prelude::*;
        let bytes = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40));
        let header = (proptest::collection::vec(any::<u8>(), 0..8), bytes());
        (
            any::<i64>(),
            bytes(),
            bytes(),
            proptest::collection::vec(header, 0..4),
        )
            .prop_map(|(timestamp, key, value, headers)| Expected {
                timestamp,
                key,
                value,
                headers,
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any records, any codec: decode(encode(records)) == records, and every truncation of
        /// the records section (resealed) fails without panicking.
        #[test]
        fn arbitrary_records_round_trip(
            records in proptest::collection::vec(arbitrary_record(), 1..6),
            codec_index in 0usize..5,
        ) {
            let codec = Compression::ALL[codec_index];
            let batch = encode(&records, options(codec));
            let decoded: Vec<Expected> =
                decode(batch.clone(), 1 << 20).unwrap().iter().map(to_expected).collect();
            proptest::prop_assert_eq!(&decoded, &records);
            for cut in HEADER_SIZE..batch.len() {
                let mut resealed = batch[..cut].to_vec();
                reseal(&mut resealed);
                proptest::prop_assert!(decode(Bytes::from(resealed), 1 << 20).is_err());
            }
        }
    }
}
