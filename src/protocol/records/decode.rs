//! Reading the records of a validated v2 batch: [`Records`] iterates them (decompressing the
//! section once, capped), [`verify_records`] walks every record and header as a broker must
//! before accepting a batch. Record layout and invariants in `records/mod.rs`. It does not build
//! batches (`encode.rs`) nor check the 61-byte header and CRC ([`super::super::record_batch`]).
//! Sans-IO; runs on the connection's shard (Produce validation) and in ringbench's consumers.
use super::super::compression::{self, CodecError};
use super::super::primitives::{DecodeError, DecodeErrorKind, Reader};
use super::super::record_batch::{self, BatchError, Compression, HEADER_SIZE};
use crate::limits::DECOMPRESSED_BATCH_SIZE_MAX;
use bytes::Bytes;

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

/// A varint length read at `start`, checked to be non-negative and within the bytes left.
fn checked_length(reader: &Reader, length: i32, start: usize) -> Result<usize, DecodeError> {
    usize::try_from(length)
        .ok()
        .filter(|length| *length <= reader.remaining())
        .ok_or_else(|| {
            let kind = DecodeErrorKind::InvalidLength {
                length: i64::from(length),
                have: reader.remaining(),
            };
            DecodeError::new(kind, start)
        })
}

/// `[length:varint][bytes]`; any negative length is null, as Kafka's `Utils.readBytes` reads it.
fn read_varint_bytes(reader: &mut Reader) -> Result<Option<Bytes>, DecodeError> {
    let start = reader.offset();
    let length = reader.varint()?;
    if length < 0 {
        return Ok(None);
    }
    let length = checked_length(reader, length, start)?;
    reader.bytes(length).map(Some)
}

fn read_header(reader: &mut Reader) -> Result<Header, DecodeError> {
    let start = reader.offset();
    let length = reader.varint().map_err(|e| e.in_field("Header.key"))?;
    // Unlike record keys, a negative header key length is an error in Kafka too.
    let length = checked_length(reader, length, start).map_err(|e| e.in_field("Header.key"))?;
    let key = reader.bytes(length)?;
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
    let length = checked_length(reader, length, start).map_err(|e| e.in_field("Record.length"))?;
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

#[cfg(test)]
mod tests {
    use super::super::testing::{
        Expected, batch_with_section, decode, encode, options, reseal, sample, to_expected,
    };
    use super::*;
    use crate::protocol::compression::SnappyFraming;
    use crate::protocol::primitives::Writer;
    use crate::protocol::records::BatchOptions;
    use bytes::{BufMut, BytesMut};

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

    /// One record: `[attributes, ts delta 0, offset delta 0]`, then `fields`, length-prefixed.
    fn hand_record(fields: &[i32], tail: &[u8]) -> BytesMut {
        let mut record = BytesMut::new();
        record.put_i8(0);
        record.put_varlong(0);
        record.put_varint(0);
        for field in fields {
            record.put_varint(*field);
        }
        record.put_slice(tail);
        let mut section = BytesMut::new();
        section.put_varint(i32::try_from(record.len()).unwrap());
        section.extend_from_slice(&record);
        section
    }

    #[test]
    fn negative_lengths_follow_kafka() {
        // Key -2 and value -7 read as null (Kafka's Utils.readBytes), no headers.
        let section = hand_record(&[-2, -7, 0], &[]);
        let records = decode(batch_with_section(Compression::None, 1, &section), 1024).unwrap();
        assert_eq!(
            (records[0].key.clone(), records[0].value.clone()),
            (None, None)
        );
        // A header value of -5 is null; a header key of -1 is an error.
        let section = hand_record(&[-1, -1, 1, 1], b"k\x09");
        let records = decode(batch_with_section(Compression::None, 1, &section), 1024).unwrap();
        let header = records[0].headers.iter().next().unwrap();
        assert_eq!((header.key, header.value), (Bytes::from("k"), None));
        let section = hand_record(&[-1, -1, 1, -1, -1], &[]);
        let error = decode(batch_with_section(Compression::None, 1, &section), 1024).unwrap_err();
        let RecordsError::Record { source, .. } = error else {
            panic!("{error}");
        };
        assert_eq!(source.field, "Header.key");
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
}
