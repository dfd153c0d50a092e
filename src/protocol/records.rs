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
//!          key/value length -1 = null; header keys are never null
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
use super::compression::{self, CodecError, SnappyFraming};
use super::primitives::{DecodeError, DecodeErrorKind, Reader, Writer, unsigned_varint_size};
use super::record_batch::{
    self, ATTRIBUTE_CONTROL, ATTRIBUTE_TIMESTAMP_TYPE, ATTRIBUTE_TRANSACTIONAL, BatchError,
    Compression, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2,
};
use crate::limits::DECOMPRESSED_BATCH_SIZE_MAX;
use bytes::{BufMut, Bytes, BytesMut};
use std::ops::Range;

/// Kafka's "no producer id / epoch / sequence / leader epoch" (`RecordBatch.NO_*`).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Why the records of a batch cannot be read. Storage and Produce map these to
/// CORRUPT_MESSAGE (`Batch` CRC/length) or INVALID_RECORD (the rest).
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A record that does not parse; `source.offset` is the byte in the batch (uncompressed) or
    /// in the decompressed records section (compressed).
    #[error("record {index}: {source}")]
    Record {
        index: i32,
        #[source]
        source: DecodeError,
    },
    #[error("batch declares {declared} records but holds only {found} (bytes end at {offset})")]
    MissingRecords {
        declared: i32,
        found: i32,
        offset: usize,
    },
    #[error("{count} bytes left after the {declared} declared records, at byte {offset}")]
    TrailingBytes {
        declared: i32,
        count: usize,
        offset: usize,
    },
}

/// One record, its fields resolved against the batch header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unused by Kafka so far; kept verbatim.
    pub attributes: i8,
    /// Base offset + offset delta.
    pub offset: i64,
    /// Base timestamp + timestamp delta, or the batch's max timestamp for LogAppendTime batches
    /// (as Kafka's `DefaultRecord` resolves it).
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: RecordHeaders,
}

/// A record's headers: validated when the record was parsed, walked again on demand so that a
/// record costs no allocation. Duplicate keys and their order are kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeaders {
    count: u32,
    bytes: Bytes,
}

/// One header. The key is bytes, not a checked string: Kafka's Java decoder reads it lossily
/// (`new String(bytes, UTF_8)`), so rejecting non-UTF-8 keys would refuse batches Kafka accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

impl Header {
    /// The key as text, if it is UTF-8.
    #[must_use]
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

impl RecordHeaders {
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(usize::MAX)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[must_use]
    pub fn iter(&self) -> HeaderIter {
        HeaderIter {
            reader: Reader::new(self.bytes.clone()),
            left: self.count,
        }
    }
}

impl IntoIterator for &RecordHeaders {
    type Item = Header;
    type IntoIter = HeaderIter;

    fn into_iter(self) -> HeaderIter {
        self.iter()
    }
}

/// Iterator over [`RecordHeaders`].
#[derive(Debug, Clone)]
pub struct HeaderIter {
    reader: Reader,
    left: u32,
}

impl Iterator for HeaderIter {
    type Item = Header;

    fn next(&mut self) -> Option<Header> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match read_header(&mut self.reader) {
            Ok(header) => Some(header),
            Err(error) => {
                // The bytes were walked with the same function when the record was parsed.
                debug_assert!(false, "validated header failed to parse: {error}");
                self.left = 0;
                None
            }
        }
    }
}

/// `[length:varint][bytes]`, length -1 = null.
fn read_varint_bytes(reader: &mut Reader) -> Result<Option<Bytes>, DecodeError> {
    let start = reader.offset();
    let length = reader.varint()?;
    if length == -1 {
        return Ok(None);
    }
    let invalid = DecodeError::new(
        DecodeErrorKind::InvalidLength {
            length: i64::from(length),
            have: reader.remaining(),
        },
        start,
    );
    let length = usize::try_from(length).map_err(|_| invalid.clone())?;
    if length > reader.remaining() {
        return Err(invalid);
    }
    reader.bytes(length).map(Some)
}

fn read_header(reader: &mut Reader) -> Result<Header, DecodeError> {
    let start = reader.offset();
    let key = read_varint_bytes(reader)
        .map_err(|e| e.in_field("Header.key"))?
        .ok_or_else(|| {
            DecodeError::new(DecodeErrorKind::UnexpectedNull, start).in_field("Header.key")
        })?;
    let value = read_varint_bytes(reader).map_err(|e| e.in_field("Header.value"))?;
    Ok(Header { key, value })
}

/// What a record needs from its batch header.
#[derive(Debug, Clone, Copy)]
struct RecordBase {
    offset: i64,
    timestamp: i64,
    /// `Some(max_timestamp)` for LogAppendTime batches.
    log_append_time: Option<i64>,
}

fn read_record(reader: &mut Reader, base: RecordBase) -> Result<Record, DecodeError> {
    let start = reader.offset();
    let length = reader.varint().map_err(|e| e.in_field("Record.length"))?;
    let invalid = DecodeError::new(
        DecodeErrorKind::InvalidLength {
            length: i64::from(length),
            have: reader.remaining(),
        },
        start,
    )
    .in_field("Record.length");
    let length = usize::try_from(length).map_err(|_| invalid.clone())?;
    if length > reader.remaining() {
        return Err(invalid);
    }
    let mut body = reader.sub_reader(length)?;
    let attributes = body.i8().map_err(|e| e.in_field("Record.attributes"))?;
    let timestamp_delta = body
        .varlong()
        .map_err(|e| e.in_field("Record.timestamp_delta"))?;
    let offset_delta = body
        .varint()
        .map_err(|e| e.in_field("Record.offset_delta"))?;
    let key = read_varint_bytes(&mut body).map_err(|e| e.in_field("Record.key"))?;
    let value = read_varint_bytes(&mut body).map_err(|e| e.in_field("Record.value"))?;
    let headers = read_headers(&mut body)?;
    // The record's length must cover exactly its fields.
    body.finish().map_err(|e| e.in_field("Record"))?;
    Ok(Record {
        attributes,
        // Wrapping, like Java's long arithmetic: a hostile base cannot make us panic.
        offset: base.offset.wrapping_add(i64::from(offset_delta)),
        timestamp: base
            .log_append_time
            .unwrap_or_else(|| base.timestamp.wrapping_add(timestamp_delta)),
        key,
        value,
        headers,
    })
}

fn read_headers(body: &mut Reader) -> Result<RecordHeaders, DecodeError> {
    let start = body.offset();
    let count = body
        .varint()
        .map_err(|e| e.in_field("Record.headers_count"))?;
    // Each header takes at least two bytes (two varint lengths).
    let count = u32::try_from(count)
        .ok()
        .filter(|count| usize::try_from(*count).is_ok_and(|c| c <= body.remaining() / 2))
        .ok_or_else(|| {
            DecodeError::new(
                DecodeErrorKind::ArrayTooLong {
                    count: i64::from(count),
                    have: body.remaining(),
                },
                start,
            )
            .in_field("Record.headers_count")
        })?;
    let section = body.clone();
    let section_start = body.offset();
    for _ in 0..count {
        read_header(body)?;
    }
    let mut section = section;
    let bytes = section.bytes(body.offset() - section_start)?;
    Ok(RecordHeaders { count, bytes })
}

/// Iterator over the records of one validated batch, yielding each record or the first error
/// (after which it ends).
#[derive(Debug, Clone)]
pub struct Records {
    reader: Reader,
    base: RecordBase,
    declared: i32,
    index: i32,
    done: bool,
    compression: Compression,
}

impl Records {
    /// Validates `batch` (length, CRC, count, codec) and prepares to iterate its records,
    /// decompressing them with the default cap [`DECOMPRESSED_BATCH_SIZE_MAX`].
    ///
    /// # Errors
    /// `Batch` for a bad header, `Codec` when decompression fails or exceeds the cap.
    pub fn new(batch: Bytes) -> Result<Self, RecordsError> {
        Self::with_cap(batch, DECOMPRESSED_BATCH_SIZE_MAX)
    }

    /// As [`Records::new`] with a smaller cap on the decompressed records section (a cap above
    /// [`DECOMPRESSED_BATCH_SIZE_MAX`] is lowered to it).
    ///
    /// # Errors
    /// As [`Records::new`].
    pub fn with_cap(batch: Bytes, decompressed_size_max: usize) -> Result<Self, RecordsError> {
        let cap = decompressed_size_max.min(DECOMPRESSED_BATCH_SIZE_MAX);
        let header = record_batch::validate(&batch)?;
        let compression = header.compression()?;
        let base = RecordBase {
            offset: header.base_offset(),
            timestamp: header.base_timestamp(),
            log_append_time: header
                .is_log_append_time()
                .then_some(header.max_timestamp()),
        };
        let declared = header.records_count();
        let reader = match compression {
            Compression::None => {
                // Offsets in errors are then bytes of the batch itself.
                let mut reader = Reader::new(batch);
                reader
                    .bytes(HEADER_SIZE)
                    .map_err(|source| RecordsError::Record { index: 0, source })?;
                reader
            }
            codec => {
                let compressed = batch.get(HEADER_SIZE..).unwrap_or_default();
                let records = compression::decompress(codec, compressed, cap)?;
                Reader::new(Bytes::from(records))
            }
        };
        Ok(Self {
            reader,
            base,
            declared,
            index: 0,
            done: false,
            compression,
        })
    }

    /// The batch's declared records count.
    #[must_use]
    pub fn records_count(&self) -> i32 {
        self.declared
    }

    #[must_use]
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Ends the iteration with `error`.
    fn fail(&mut self, error: RecordsError) -> Result<Record, RecordsError> {
        self.done = true;
        Err(error)
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index >= self.declared {
            self.done = true;
            if self.reader.is_empty() {
                return None;
            }
            return Some(self.fail(RecordsError::TrailingBytes {
                declared: self.declared,
                count: self.reader.remaining(),
                offset: self.reader.offset(),
            }));
        }
        if self.reader.is_empty() {
            return Some(self.fail(RecordsError::MissingRecords {
                declared: self.declared,
                found: self.index,
                offset: self.reader.offset(),
            }));
        }
        match read_record(&mut self.reader, self.base) {
            Ok(record) => {
                self.index += 1;
                Some(Ok(record))
            }
            Err(source) => {
                let index = self.index;
                Some(self.fail(RecordsError::Record { index, source }))
            }
        }
    }
}

/// Validates `batch` and walks every record and header, as a broker must before accepting a
/// compressed batch. Returns the number of records.
///
/// # Errors
/// Any [`RecordsError`].
///
/// # Panics
/// If the iterator ended without an error before the declared count (a bug in [`Records`]).
pub fn verify_records(batch: Bytes, decompressed_size_max: usize) -> Result<i32, RecordsError> {
    let records = Records::with_cap(batch, decompressed_size_max)?;
    let declared = records.records_count();
    let mut count = 0i32;
    for record in records {
        let record = record?;
        // Walking the headers again costs nothing new but proves the stored section re-parses.
        debug_assert_eq!(record.headers.iter().count(), record.headers.len());
        count += 1;
    }
    assert_eq!(count, declared, "iteration ended early without an error");
    Ok(count)
}

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
            target.put_varint(super::primitives::length_i32(bytes.len()));
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
        target.put_varint(super::primitives::length_i32(record.headers.len()));
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{
        ATTRIBUTES_OFFSET, BATCH_LENGTH_OFFSET, CRC_OFFSET, RECORDS_COUNT_OFFSET,
    };

    /// An owned record description for tests: what we encode and expect back.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Expected {
        timestamp: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    }

    fn sample() -> Vec<Expected> {
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

    fn encode(records: &[Expected], options: BatchOptions) -> Bytes {
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

    fn decode(batch: Bytes, cap: usize) -> Result<Vec<Record>, RecordsError> {
        Records::with_cap(batch, cap)?.collect()
    }

    fn to_expected(record: &Record) -> Expected {
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

    fn options(compression: Compression) -> BatchOptions {
        BatchOptions {
            compression,
            base_offset: 1000,
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 17,
            ..BatchOptions::default()
        }
    }

    /// Rewrites batch_length and the CRC so that only the records section is under test.
    fn reseal(batch: &mut [u8]) {
        let length = i32::try_from(batch.len() - LOG_OVERHEAD).unwrap();
        batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
        let crc = record_batch::compute_crc(batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// A sealed batch whose records section is `section`, declared as `codec` and `count`.
    fn batch_with_section(codec: Compression, count: i32, section: &[u8]) -> Bytes {
        let one = encode(&sample()[1..2], options(Compression::None));
        let mut batch = one[..HEADER_SIZE].to_vec();
        batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&(codec as i16).to_be_bytes());
        batch[23..27].copy_from_slice(&(count - 1).to_be_bytes());
        batch[RECORDS_COUNT_OFFSET..HEADER_SIZE].copy_from_slice(&count.to_be_bytes());
        batch.extend_from_slice(section);
        reseal(&mut batch);
        Bytes::from(batch)
    }

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

    #[test]
    fn uncompressed_records_borrow_from_the_batch() {
        let batch = encode(&sample(), options(Compression::None));
        let range = batch.as_ptr_range();
        for record in decode(batch.clone(), 1 << 20).unwrap() {
            if let Some(value) = record.value.as_ref().filter(|v| !v.is_empty()) {
                assert!(range.contains(&value.as_ptr()), "value was copied");
            }
        }
    }

    #[test]
    fn duplicate_header_keys_keep_order() {
        let batch = encode(&sample()[..1], options(Compression::None));
        let record = decode(batch, 1 << 20).unwrap().remove(0);
        assert_eq!(record.headers.len(), 4);
        let keys: Vec<String> = record
            .headers
            .iter()
            .map(|h| h.key_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, ["trace", "trace", "empty", "null"]);
        let pairs: Vec<(Bytes, Option<Bytes>)> =
            record.headers.iter().map(|h| (h.key, h.value)).collect();
        assert_eq!(pairs[0], (Bytes::from("trace"), Some(Bytes::from("a"))));
        assert_eq!(pairs[1], (Bytes::from("trace"), Some(Bytes::from("b"))));
        assert_eq!(pairs[2], (Bytes::from("empty"), Some(Bytes::new())));
        assert_eq!(pairs[3], (Bytes::from("null"), None));
    }

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
    fn truncation_at_every_byte_errors() {
        for codec in Compression::ALL {
            let batch = encode(&sample(), options(codec));
            for cut in 0..batch.len() {
                // As received: the length no longer matches.
                assert!(
                    Records::new(batch.slice(..cut)).is_err(),
                    "{codec:?} cut {cut}"
                );
                // Resealed: header and CRC agree, so the records section itself must fail.
                if cut >= HEADER_SIZE {
                    let mut resealed = batch[..cut].to_vec();
                    reseal(&mut resealed);
                    let result = decode(Bytes::from(resealed), 1 << 20);
                    assert!(result.is_err(), "{codec:?} resealed cut {cut}");
                }
            }
        }
    }

    #[test]
    fn count_mismatch_and_trailing_bytes_error() {
        let two = encode(&sample()[1..3], options(Compression::None));
        let section = &two[HEADER_SIZE..];
        let error = decode(batch_with_section(Compression::None, 3, section), 1024).unwrap_err();
        assert!(
            matches!(
                error,
                RecordsError::MissingRecords {
                    declared: 3,
                    found: 2,
                    ..
                }
            ),
            "{error}"
        );
        let error = decode(batch_with_section(Compression::None, 1, section), 1024).unwrap_err();
        assert!(
            matches!(error, RecordsError::TrailingBytes { declared: 1, .. }),
            "{error}"
        );
        // The same through a codec.
        let mut compressed = BytesMut::new();
        compression::compress(
            Compression::Zstd,
            SnappyFraming::Raw,
            section,
            &mut compressed,
        )
        .unwrap();
        let error = decode(batch_with_section(Compression::Zstd, 1, &compressed), 1024);
        assert!(matches!(error, Err(RecordsError::TrailingBytes { .. })));
    }

    #[test]
    fn record_length_past_the_end_is_an_error_not_an_allocation() {
        // A record claiming 2^30 bytes, then a header count of 2^30.
        let mut section = Vec::new();
        let mut writer = BytesMut::new();
        writer.put_varint(1 << 30);
        section.extend_from_slice(&writer);
        let error = decode(batch_with_section(Compression::None, 1, &section), 1024).unwrap_err();
        assert!(
            matches!(error, RecordsError::Record { index: 0, .. }),
            "{error}"
        );

        let mut record = BytesMut::new();
        record.put_i8(0);
        record.put_varlong(0);
        record.put_varint(0);
        record.put_varint(-1);
        record.put_varint(-1);
        record.put_varint(1 << 30);
        let mut section = BytesMut::new();
        section.put_varint(i32::try_from(record.len()).unwrap());
        section.extend_from_slice(&record);
        let error = decode(batch_with_section(Compression::None, 1, &section), 1024).unwrap_err();
        let RecordsError::Record { source, .. } = error else {
            panic!("{error}");
        };
        assert!(
            matches!(source.kind, DecodeErrorKind::ArrayTooLong { .. }),
            "{source}"
        );
    }

    #[test]
    fn corrupt_compressed_payloads_error() {
        let plain = encode(&sample(), options(Compression::None));
        let section = plain[HEADER_SIZE..].to_vec();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut compressed = BytesMut::new();
            compression::compress(codec, SnappyFraming::Raw, &section, &mut compressed).unwrap();
            // Flip bytes in the middle of the payload (the CRC is resealed, so only the codec
            // or the record parser can notice).
            let mut flipped = compressed.to_vec();
            let middle = flipped.len() / 2;
            for byte in &mut flipped[middle..middle + 4] {
                *byte ^= 0x5a;
            }
            let result = decode(batch_with_section(codec, 4, &flipped), 1 << 20);
            match result {
                Err(_) => {}
                // A flip inside a literal can decode; then the records must differ.
                Ok(records) => {
                    let decoded: Vec<Expected> = records.iter().map(to_expected).collect();
                    assert_ne!(decoded, sample(), "{codec:?}");
                }
            }
            let garbage = [0x13u8; 40];
            assert!(
                decode(batch_with_section(codec, 4, &garbage), 1 << 20).is_err(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn zstd_bomb_of_one_gib_stops_at_the_cap() {
        use std::io::Write;
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
        let batch = batch_with_section(Compression::Zstd, 1, &bomb);
        let error = Records::with_cap(batch, 1 << 20).unwrap_err();
        assert!(
            matches!(
                error,
                RecordsError::Codec(CodecError::TooLarge {
                    limit: 1_048_576,
                    ..
                })
            ),
            "{error}"
        );
    }

    #[test]
    fn gzip_and_snappy_bombs_stop_at_the_cap() {
        let zeros = vec![0u8; 16 << 20];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut bomb = BytesMut::new();
            compression::compress(codec, SnappyFraming::Raw, &zeros, &mut bomb).unwrap();
            let batch = batch_with_section(codec, 1, &bomb);
            let error = Records::with_cap(batch, 64 * 1024).unwrap_err();
            assert!(
                matches!(error, RecordsError::Codec(CodecError::TooLarge { .. })),
                "{codec:?}: {error}"
            );
        }
    }

    #[test]
    fn log_append_time_uses_max_timestamp() {
        let options = BatchOptions {
            is_log_append_time: true,
            ..options(Compression::None)
        };
        let batch = encode(&sample(), options);
        for record in decode(batch, 1 << 20).unwrap() {
            assert_eq!(record.timestamp, 1_700_000_001_000);
        }
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
