//! Differential tests of `protocol::records` against the `kafka-protocol` crate (0.15), for all
//! five codecs: batches it encodes must validate and iterate with ours, field by field, and
//! batches we encode must decode with it to the same records.
//!
//! `kafka-protocol` keeps headers in an `IndexMap`, so duplicate header keys cannot go through
//! it; they are covered by the unit tests in `records.rs`. Its snappy is raw snappy only, so the
//! xerial framing the Java client writes is covered here with a hand-built framed input.
//! Runs on the test harness's threads; no broker involved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as TheirCompression, Record as TheirRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use ringbroker::protocol::compression::{SnappyFraming, XERIAL_MAGIC};
use ringbroker::protocol::record_batch::{self, Compression};
use ringbroker::protocol::records::{
    BatchBuilder, BatchOptions, NewHeader, NewRecord, Record, Records,
};

const CAP: usize = 16 << 20;
const BASE_OFFSET: i64 = 5000;
const PRODUCER_ID: i64 = 77;
const PRODUCER_EPOCH: i16 = 2;
const BASE_SEQUENCE: i32 = 40;
const LEADER_EPOCH: i32 = 9;

fn their_codec(codec: Compression) -> TheirCompression {
    match codec {
        Compression::None => TheirCompression::None,
        Compression::Gzip => TheirCompression::Gzip,
        Compression::Snappy => TheirCompression::Snappy,
        Compression::Lz4 => TheirCompression::Lz4,
        Compression::Zstd => TheirCompression::Zstd,
    }
}

/// Records with unique header keys (their map would merge duplicates), null and empty fields,
/// timestamps out of order, and a value large enough to span lz4 and xerial blocks.
fn their_records() -> Vec<TheirRecord> {
    let shapes: Vec<(
        i64,
        Option<Bytes>,
        Option<Bytes>,
        Vec<(&str, Option<Bytes>)>,
    )> = vec![
        (
            1_700_000_000_000,
            Some(Bytes::from_static(b"k0")),
            Some(Bytes::from_static(b"v0")),
            vec![("a", Some(Bytes::from_static(b"1"))), ("b", None)],
        ),
        (1_699_999_000_000, None, None, vec![]),
        (
            1_700_000_000_001,
            Some(Bytes::new()),
            Some(Bytes::new()),
            vec![("empty", Some(Bytes::new()))],
        ),
        (
            1_700_000_500_000,
            Some(Bytes::from(vec![3u8; 1000])),
            Some(Bytes::from(b"payload of a bigger record ".repeat(5000))),
            vec![],
        ),
    ];
    shapes
        .into_iter()
        .enumerate()
        .map(|(index, (timestamp, key, value, headers))| {
            let delta = i32::try_from(index).unwrap();
            let mut map = IndexMap::new();
            for (name, header_value) in headers {
                map.insert(StrBytes::from_string(name.to_owned()), header_value);
            }
            TheirRecord {
                transactional: false,
                control: false,
                partition_leader_epoch: LEADER_EPOCH,
                producer_id: PRODUCER_ID,
                producer_epoch: PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: BASE_OFFSET + i64::from(delta),
                sequence: BASE_SEQUENCE + delta,
                timestamp,
                key,
                value,
                headers: map,
            }
        })
        .collect()
}

fn encode_theirs(codec: Compression) -> Bytes {
    let mut buffer = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: their_codec(codec),
    };
    RecordBatchEncoder::encode(&mut buffer, their_records().iter(), &options).unwrap();
    buffer.freeze()
}

fn encode_ours(records: &[TheirRecord], options: BatchOptions) -> Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
    for record in records {
        let headers: Vec<NewHeader<'_>> = record
            .headers
            .iter()
            .map(|(key, value)| NewHeader {
                key: key.as_bytes(),
                value: value.as_deref(),
            })
            .collect();
        builder
            .append(&NewRecord {
                timestamp: record.timestamp,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: &headers,
            })
            .unwrap();
    }
    builder.finish().unwrap();
    output.freeze()
}

fn our_options(codec: Compression, framing: SnappyFraming) -> BatchOptions {
    BatchOptions {
        compression: codec,
        snappy_framing: framing,
        base_offset: BASE_OFFSET,
        partition_leader_epoch: LEADER_EPOCH,
        producer_id: PRODUCER_ID,
        producer_epoch: PRODUCER_EPOCH,
        base_sequence: BASE_SEQUENCE,
        ..BatchOptions::default()
    }
}

/// Every field of our record equals theirs.
fn assert_same(ours: &Record, theirs: &TheirRecord, context: &str) {
    assert_eq!(ours.offset, theirs.offset, "{context}: offset");
    assert_eq!(ours.timestamp, theirs.timestamp, "{context}: timestamp");
    assert_eq!(ours.key, theirs.key, "{context}: key");
    assert_eq!(ours.value, theirs.value, "{context}: value");
    assert_eq!(ours.attributes, 0, "{context}: attributes");
    let our_headers: Vec<(String, Option<Bytes>)> = ours
        .headers
        .iter()
        .map(|h| (h.key_str().unwrap().to_owned(), h.value))
        .collect();
    let their_headers: Vec<(String, Option<Bytes>)> = theirs
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(our_headers, their_headers, "{context}: headers");
}

#[test]
fn theirs_encode_ours_decode_every_codec() {
    let expected = their_records();
    for codec in Compression::ALL {
        let batch = encode_theirs(codec);
        let header = record_batch::validate(&batch).unwrap();
        assert_eq!(header.compression().unwrap(), codec);
        assert_eq!(header.base_offset(), BASE_OFFSET);
        assert_eq!(header.partition_leader_epoch(), LEADER_EPOCH);
        assert_eq!(header.producer_id(), PRODUCER_ID);
        assert_eq!(header.producer_epoch(), PRODUCER_EPOCH);
        assert_eq!(header.base_sequence(), BASE_SEQUENCE);
        assert_eq!(header.records_count(), 4);
        assert_eq!(header.max_timestamp(), 1_700_000_500_000);
        assert!(!header.is_transactional() && !header.is_control());
        let records: Vec<Record> = Records::with_cap(batch, CAP)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(records.len(), expected.len());
        for (index, (ours, theirs)) in records.iter().zip(&expected).enumerate() {
            assert_same(ours, theirs, &format!("{codec:?} record {index}"));
        }
    }
}

/// `kafka-protocol` 0.15.1 writes a null header value as length -1 but reads only -2 as null
/// (Kafka reads any negative length as null), so null header values cannot go through its
/// decoder; they are replaced with a value here and covered by the other direction.
fn without_null_header_values(mut records: Vec<TheirRecord>) -> Vec<TheirRecord> {
    for record in &mut records {
        for value in record.headers.values_mut() {
            value.get_or_insert_with(|| Bytes::from_static(b"was null"));
        }
    }
    records
}

#[test]
fn ours_encode_theirs_decode_every_codec() {
    let records = without_null_header_values(their_records());
    for codec in Compression::ALL {
        let mut batch = encode_ours(&records, our_options(codec, SnappyFraming::Raw));
        let set = RecordBatchDecoder::decode(&mut batch)
            .unwrap_or_else(|error| panic!("{codec:?}: {error:#}"));
        assert!(batch.is_empty(), "{codec:?}: their decoder left bytes");
        assert_eq!(set.version, 2);
        assert_eq!(set.records.len(), records.len(), "{codec:?}");
        for (decoded, original) in set.records.iter().zip(&records) {
            // Their decoder fills batch fields into each record, so whole records compare.
            assert_eq!(decoded, original, "{codec:?}");
        }
    }
}

/// The Java client's snappy: xerial framing, built by hand here so that the test does not
/// depend on our own encoder: header, then two chunks splitting the records section.
#[test]
fn xerial_framed_snappy_from_a_hand_built_stream() {
    let plain = encode_theirs(Compression::None);
    let section = &plain[record_batch::HEADER_SIZE..];
    let (first, second) = section.split_at(section.len() / 3);
    let mut framed = Vec::new();
    framed.extend_from_slice(&XERIAL_MAGIC);
    framed.extend_from_slice(&1i32.to_be_bytes());
    framed.extend_from_slice(&1i32.to_be_bytes());
    for chunk in [first, second] {
        let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
        framed.extend_from_slice(&i32::try_from(block.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&block);
    }
    // Same header, Snappy attributes, new section, new length and CRC.
    let mut batch = plain[..record_batch::HEADER_SIZE].to_vec();
    batch[record_batch::ATTRIBUTES_OFFSET + 1] |= Compression::Snappy as u8;
    batch.extend_from_slice(&framed);
    let length = i32::try_from(batch.len() - record_batch::LOG_OVERHEAD).unwrap();
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = record_batch::compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());

    let records: Vec<Record> = Records::with_cap(Bytes::from(batch), CAP)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (index, (ours, theirs)) in records.iter().zip(&their_records()).enumerate() {
        assert_same(ours, theirs, &format!("xerial record {index}"));
    }
    assert_eq!(records.len(), 4);

    // Our xerial writer produces the same layout: magic, versions 1/1, length-prefixed chunks.
    let ours = encode_ours(
        &their_records(),
        our_options(Compression::Snappy, SnappyFraming::Xerial),
    );
    assert_eq!(&ours[record_batch::HEADER_SIZE..][..8], &XERIAL_MAGIC);
    assert_eq!(
        Records::with_cap(ours, CAP)
            .unwrap()
            .filter(Result::is_ok)
            .count(),
        4
    );
}
