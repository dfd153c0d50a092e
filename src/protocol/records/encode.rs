//! Building v2 batches: [`BatchBuilder`] writes records straight into the caller's output buffer
//! (or a reused scratch buffer compressed once at the end), then the 61-byte header and the
//! CRC-32C. It does not read batches (`decode.rs`). Sans-IO; runs in ringbench's producers, in
//! the group coordinator's log writes (on the coordinator's shard) and in tests.
use super::super::compression::{self, CodecError, SnappyFraming};
use super::super::primitives::{Writer, unsigned_varint_size};
use super::super::record_batch::{
    self, ATTRIBUTE_CONTROL, ATTRIBUTE_TIMESTAMP_TYPE, ATTRIBUTE_TRANSACTIONAL, Compression,
    HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2,
};
use super::{NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};
use crate::limits::DECOMPRESSED_BATCH_SIZE_MAX;
use bytes::{BufMut, BytesMut};
use std::ops::Range;

/// Why a batch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("a batch needs at least one record")]
    Empty,
    /// The record was not added; finish this batch and start another.
    #[error("records section would grow to {size} bytes, over the cap of {limit}")]
    Full { size: usize, limit: usize },
    #[error("batch of {size} bytes does not fit an i32 length")]
    BatchTooLarge { size: usize },
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Batch-level settings. `Default` is what a non-idempotent producer sends: no producer id,
/// epoch or sequence, CreateTime, base offset 0, no compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    pub compression: Compression,
    pub snappy_framing: SnappyFraming,
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub is_control: bool,
    /// Sets the LogAppendTime attribute; timestamps are still taken from the records.
    pub is_log_append_time: bool,
    /// Cap on the uncompressed records section; [`BatchBuilder::append`] refuses a record past
    /// it (a producer's `batch.size`). At most [`DECOMPRESSED_BATCH_SIZE_MAX`], so every batch
    /// we build can be read back by [`Records`].
    pub records_size_max: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            compression: Compression::None,
            snappy_framing: SnappyFraming::Raw,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            is_transactional: false,
            is_control: false,
            is_log_append_time: false,
            records_size_max: DECOMPRESSED_BATCH_SIZE_MAX,
        }
    }
}

impl BatchOptions {
    fn attributes(&self) -> i16 {
        let mut attributes = self.compression as i16;
        if self.is_log_append_time {
            attributes |= ATTRIBUTE_TIMESTAMP_TYPE;
        }
        if self.is_transactional {
            attributes |= ATTRIBUTE_TRANSACTIONAL;
        }
        if self.is_control {
            attributes |= ATTRIBUTE_CONTROL;
        }
        attributes
    }
}

/// A record to encode; borrows everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRecord<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [NewHeader<'a>],
}

/// A header to encode.
#[derive(Debug, Clone, Copy)]
pub struct NewHeader<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

fn zigzag32(value: i32) -> u64 {
    #[allow(clippy::cast_sign_loss)] // zigzag encoding reinterprets the bits on purpose
    let raw = ((value << 1) ^ (value >> 31)) as u32;
    u64::from(raw)
}

fn zigzag64(value: i64) -> u64 {
    #[allow(clippy::cast_sign_loss)] // zigzag encoding reinterprets the bits on purpose
    let raw = ((value << 1) ^ (value >> 63)) as u64;
    raw
}

/// Bytes of a `[length:varint][bytes]` field; `None` when the length does not fit an i32.
fn varint_bytes_size(bytes: Option<&[u8]>) -> Option<usize> {
    match bytes {
        None => Some(unsigned_varint_size(zigzag32(-1))),
        Some(bytes) => {
            let length = i32::try_from(bytes.len()).ok()?;
            unsigned_varint_size(zigzag32(length)).checked_add(bytes.len())
        }
    }
}

fn put_varint_bytes(target: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => target.put_varint(-1),
        Some(bytes) => {
            target.put_varint(super::super::primitives::length_i32(bytes.len()));
            target.put_slice(bytes);
        }
    }
}

/// Builds one v2 batch at the end of an output buffer.
///
/// ```text
/// new()     reserves the 61-byte header in `output`
/// append()  writes a record into `output` (no codec) or into `scratch` (codec)
/// finish()  compresses `scratch` into `output`, writes the header and the CRC-32C
/// ```
/// Dropping a builder without `finish` leaves a partial batch at the end of `output`; truncate
/// it to the length it had before `new`.
#[derive(Debug)]
pub struct BatchBuilder<'a> {
    output: &'a mut BytesMut,
    scratch: &'a mut BytesMut,
    options: BatchOptions,
    /// Where this batch starts in `output`.
    start: usize,
    records_count: i32,
    records_size: usize,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl<'a> BatchBuilder<'a> {
    /// Starts a batch at the end of `output`. `scratch` is cleared and reused for the
    /// uncompressed records of a compressed batch; keep it across batches to avoid reallocating.
    ///
    /// # Panics
    /// When `options.records_size_max` exceeds [`DECOMPRESSED_BATCH_SIZE_MAX`] (programmer error).
    pub fn new(output: &'a mut BytesMut, scratch: &'a mut BytesMut, options: BatchOptions) -> Self {
        assert!(
            options.records_size_max <= DECOMPRESSED_BATCH_SIZE_MAX,
            "records_size_max {} over {DECOMPRESSED_BATCH_SIZE_MAX}",
            options.records_size_max
        );
        let start = output.len();
        output.put_bytes(0, HEADER_SIZE);
        scratch.clear();
        Self {
            output,
            scratch,
            options,
            start,
            records_count: 0,
            records_size: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Records appended so far.
    #[must_use]
    pub fn records_count(&self) -> i32 {
        self.records_count
    }

    /// Uncompressed bytes of the records appended so far.
    #[must_use]
    pub fn records_size(&self) -> usize {
        self.records_size
    }

    /// Appends one record. On error nothing was written.
    ///
    /// # Errors
    /// `Full` when the record would take the records section past `records_size_max` (or a
    /// field or the count past i32).
    ///
    /// # Panics
    /// If the bytes written differ from the size computed up front (a bug in this file).
    pub fn append(&mut self, record: &NewRecord<'_>) -> Result<(), EncodeError> {
        if self.records_count == 0 {
            // Kafka's builders use the first record's timestamp as the base.
            self.base_timestamp = record.timestamp;
        }
        let timestamp_delta = record.timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = self.records_count;
        let limit = self.options.records_size_max;
        let full = EncodeError::Full {
            size: usize::MAX,
            limit,
        };
        let body_size = record_body_size(record, timestamp_delta, offset_delta).ok_or(full)?;
        let body_length = i32::try_from(body_size).map_err(|_| EncodeError::Full {
            size: body_size,
            limit,
        })?;
        let size = unsigned_varint_size(zigzag32(body_length)).saturating_add(body_size);
        let records_size = self.records_size.saturating_add(size);
        if records_size > limit || self.records_count == i32::MAX {
            return Err(EncodeError::Full {
                size: records_size,
                limit,
            });
        }
        let target: &mut BytesMut = if self.options.compression == Compression::None {
            self.output
        } else {
            self.scratch
        };
        let before = target.len();
        target.put_varint(body_length);
        target.put_i8(0);
        target.put_varlong(timestamp_delta);
        target.put_varint(offset_delta);
        put_varint_bytes(target, record.key);
        put_varint_bytes(target, record.value);
        target.put_varint(super::super::primitives::length_i32(record.headers.len()));
        for header in record.headers {
            put_varint_bytes(target, Some(header.key));
            put_varint_bytes(target, header.value);
        }
        assert_eq!(target.len() - before, size, "record size arithmetic is off");
        self.records_size = records_size;
        self.records_count += 1;
        self.max_timestamp = self.max_timestamp.max(record.timestamp);
        Ok(())
    }

    /// Compresses the records, writes the header and CRC, and returns the batch's byte range in
    /// `output`. On error `output` is truncated back to where the batch started.
    ///
    /// # Errors
    /// `Empty`, `BatchTooLarge`, `Codec`.
    pub fn finish(mut self) -> Result<Range<usize>, EncodeError> {
        match self.write_trailer_and_header() {
            Ok(()) => Ok(self.start..self.output.len()),
            Err(error) => {
                self.output.truncate(self.start);
                Err(error)
            }
        }
    }

    fn write_trailer_and_header(&mut self) -> Result<(), EncodeError> {
        if self.records_count == 0 {
            return Err(EncodeError::Empty);
        }
        if self.options.compression != Compression::None {
            compression::compress(
                self.options.compression,
                self.options.snappy_framing,
                self.scratch,
                self.output,
            )?;
        }
        let size = self.output.len() - self.start;
        let batch_length =
            i32::try_from(size - LOG_OVERHEAD).map_err(|_| EncodeError::BatchTooLarge { size })?;
        let header = self.header_bytes(batch_length);
        let batch = self
            .output
            .get_mut(self.start..)
            .ok_or(EncodeError::BatchTooLarge { size })?;
        if let Some(target) = batch.get_mut(..HEADER_SIZE) {
            target.copy_from_slice(&header);
        }
        let crc = record_batch::compute_crc(batch);
        if let Some(target) = batch.get_mut(record_batch::CRC_OFFSET..record_batch::CRC_OFFSET + 4)
        {
            target.copy_from_slice(&crc.to_be_bytes());
        }
        debug_assert!(
            record_batch::validate(batch).is_ok(),
            "built an invalid batch"
        );
        Ok(())
    }

    fn header_bytes(&self, batch_length: i32) -> [u8; HEADER_SIZE] {
        let mut header = BytesMut::with_capacity(HEADER_SIZE);
        header.put_i64(self.options.base_offset);
        header.put_i32(batch_length);
        header.put_i32(self.options.partition_leader_epoch);
        header.put_i8(MAGIC_V2);
        header.put_u32(0); // CRC, written once the header is in place
        header.put_i16(self.options.attributes());
        header.put_i32(self.records_count - 1);
        header.put_i64(self.base_timestamp);
        header.put_i64(self.max_timestamp);
        header.put_i64(self.options.producer_id);
        header.put_i16(self.options.producer_epoch);
        header.put_i32(self.options.base_sequence);
        header.put_i32(self.records_count);
        let mut out = [0u8; HEADER_SIZE];
        assert_eq!(header.len(), HEADER_SIZE, "header layout");
        out.copy_from_slice(&header);
        out
    }
}

/// Bytes of a record after its length prefix; `None` if a field does not fit an i32.
fn record_body_size(
    record: &NewRecord<'_>,
    timestamp_delta: i64,
    offset_delta: i32,
) -> Option<usize> {
    let headers_count = i32::try_from(record.headers.len()).ok()?;
    let mut size = 1 // attributes
        + unsigned_varint_size(zigzag64(timestamp_delta))
        + unsigned_varint_size(zigzag32(offset_delta))
        + unsigned_varint_size(zigzag32(headers_count));
    size = size.checked_add(varint_bytes_size(record.key)?)?;
    size = size.checked_add(varint_bytes_size(record.value)?)?;
    for header in record.headers {
        size = size.checked_add(varint_bytes_size(Some(header.key))?)?;
        size = size.checked_add(varint_bytes_size(header.value)?)?;
    }
    Some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{ATTRIBUTES_OFFSET, CRC_OFFSET};
    use crate::protocol::records::verify_records;

    #[test]
    fn one_record_batch_byte_layout() {
        let record = NewRecord {
            timestamp: 5,
            key: None,
            value: Some(b"hi"),
            headers: &[NewHeader {
                key: b"k",
                value: None,
            }],
        };
        let mut output = BytesMut::new();
        let mut scratch = BytesMut::new();
        let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
        builder.append(&record).unwrap();
        builder.finish().unwrap();
        // length 11 → zigzag 22; attributes; ts delta 0; offset delta 0; key null (-1 → 1);
        // value len 2 → 4, "hi"; 1 header → 2; key len 1 → 2, "k"; value null → 1.
        let records: [u8; 11] = [22, 0, 0, 0, 1, 4, b'h', b'i', 2, 2, b'k'];
        let mut expected = Vec::new();
        expected.extend_from_slice(&0i64.to_be_bytes()); // base offset
        expected.extend_from_slice(&(49i32 + 12).to_be_bytes()); // batch length
        expected.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        expected.push(2); // magic
        expected.extend_from_slice(&[0; 4]); // crc, filled below
        expected.extend_from_slice(&0i16.to_be_bytes()); // attributes
        expected.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        expected.extend_from_slice(&5i64.to_be_bytes()); // base timestamp
        expected.extend_from_slice(&5i64.to_be_bytes()); // max timestamp
        expected.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        expected.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        expected.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        expected.extend_from_slice(&1i32.to_be_bytes()); // records count
        expected.extend_from_slice(&records);
        expected.push(1); // header value null, the last byte of the record
        let crc = crc32c::crc32c(&expected[ATTRIBUTES_OFFSET..]);
        expected[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(&output[..], &expected[..]);
    }

    #[test]
    fn builder_full_and_empty_leave_output_clean() {
        let mut output = BytesMut::from(&b"prefix"[..]);
        let mut scratch = BytesMut::new();
        let options = BatchOptions {
            records_size_max: 32,
            ..BatchOptions::default()
        };
        let builder = BatchBuilder::new(&mut output, &mut scratch, options);
        assert!(matches!(builder.finish(), Err(EncodeError::Empty)));
        assert_eq!(&output[..], b"prefix");

        let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
        let small = NewRecord {
            value: Some(b"0123456789"),
            ..NewRecord::default()
        };
        builder.append(&small).unwrap();
        let size = builder.records_size();
        assert!(matches!(
            builder.append(&small),
            Err(EncodeError::Full { .. })
        ));
        assert_eq!(builder.records_size(), size);
        assert_eq!(builder.records_count(), 1);
        let range = builder.finish().unwrap();
        assert_eq!(range.start, 6);
        assert_eq!(
            verify_records(output.freeze().slice(range), 1024).unwrap(),
            1
        );
    }
}
