//! Test-only helpers for the records codec: an owned record description, sample records that
//! cover every field shape, encode/decode shorthands, and building or resealing a batch around a
//! hand-made records section so that only the section is under test. Compiled only for tests.
use super::{BatchBuilder, BatchOptions, NewHeader, NewRecord, Record, Records, RecordsError};
use crate::protocol::record_batch::{
    self, ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, CRC_OFFSET, Compression, HEADER_SIZE,
    LOG_OVERHEAD, RECORDS_COUNT_OFFSET,
};
use bytes::{Bytes, BytesMut};

/// An owned record description for tests: what we encode and expect back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expected {
    pub(super) timestamp: i64,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

pub(super) fn sample() -> Vec<Expected> {
    vec![
        Expected {
            timestamp: 1_700_000_000_000,
            key: Some(b"key-0".to_vec()),
            value: Some(b"value zero".to_vec()),
            headers: vec![
                (b"trace".to_vec(), Some(b"a".to_vec())),
                (b"trace".to_vec(), Some(b"b".to_vec())),
                (b"empty".to_vec(), Some(Vec::new())),
                (b"null".to_vec(), None),
            ],
        },
        Expected {
            timestamp: 1_699_999_999_000, // earlier than the base: negative delta
            key: None,
            value: None,
            headers: Vec::new(),
        },
        Expected {
            timestamp: 1_700_000_000_500,
            key: Some(Vec::new()),
            value: Some(Vec::new()),
            headers: Vec::new(),
        },
        Expected {
            timestamp: 1_700_000_001_000,
            key: Some(vec![7; 300]),
            value: Some(b"the quick brown fox ".repeat(200)),
            headers: vec![(vec![0xff, 0xfe], Some(vec![1, 2, 3]))],
        },
    ]
}

pub(super) fn encode(records: &[Expected], options: BatchOptions) -> Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
    for record in records {
        let headers: Vec<NewHeader<'_>> = record
            .headers
            .iter()
            .map(|(key, value)| NewHeader {
                key,
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
    let range = builder.finish().unwrap();
    assert_eq!(range, 0..output.len());
    output.freeze()
}

pub(super) fn decode(batch: Bytes, cap: usize) -> Result<Vec<Record>, RecordsError> {
    Records::with_cap(batch, cap)?.collect()
}

pub(super) fn to_expected(record: &Record) -> Expected {
    Expected {
        timestamp: record.timestamp,
        key: record.key.as_ref().map(|key| key.to_vec()),
        value: record.value.as_ref().map(|value| value.to_vec()),
        headers: record
            .headers
            .iter()
            .map(|header| (header.key.to_vec(), header.value.map(|v| v.to_vec())))
            .collect(),
    }
}

pub(super) fn options(compression: Compression) -> BatchOptions {
    BatchOptions {
        compression,
        base_offset: 1000,
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 17,
        ..BatchOptions::default()
    }
}

/// Rewrites `batch_length` and the CRC so that only the records section is under test.
pub(super) fn reseal(batch: &mut [u8]) {
    let length = i32::try_from(batch.len() - LOG_OVERHEAD).unwrap();
    batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    let crc = record_batch::compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A sealed batch whose records section is `section`, declared as `codec` and `count`.
pub(super) fn batch_with_section(codec: Compression, count: i32, section: &[u8]) -> Bytes {
    let one = encode(&sample()[1..2], options(Compression::None));
    let mut batch = one[..HEADER_SIZE].to_vec();
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&(codec as i16).to_be_bytes());
    batch[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    batch[RECORDS_COUNT_OFFSET..HEADER_SIZE].copy_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(section);
    reseal(&mut batch);
    Bytes::from(batch)
}
