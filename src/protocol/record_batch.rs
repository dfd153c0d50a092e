//! RecordBatch v2: a zero-copy view of the 61-byte header, CRC-32C checks and in-place patches.
//!
//! The same bytes are the wire format (Produce, Fetch) and the on-disk format (`.log` segments),
//! so storage and the broker share this view. Record iteration, codecs and the batch encoder are
//! in [`super::records`].
//!
//! ```text
//! offset  field                 type
//!  0      base_offset           i64   patched by the broker on append
//!  8      batch_length          i32   bytes after this field (total size − 12)
//! 12      partition_leader_epoch i32  patched by the broker on append
//! 16      magic                 i8    = 2
//! 17      crc                   u32   CRC-32C of bytes 21..end
//! 21      attributes            i16   bits 0–2 codec, 3 timestamp type, 4 transactional,
//!                                     5 control, 6 delete horizon
//! 23      last_offset_delta     i32
//! 27      base_timestamp        i64
//! 35      max_timestamp         i64
//! 43      producer_id           i64
//! 51      producer_epoch        i16
//! 53      base_sequence         i32
//! 57      records_count         i32
//! 61      records…
//! ```
//! Base offset and leader epoch sit outside the CRC's span, so patching them keeps it valid.
use bytes::Bytes;

pub const BASE_OFFSET_OFFSET: usize = 0;
pub const BATCH_LENGTH_OFFSET: usize = 8;
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub const MAGIC_OFFSET: usize = 16;
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
pub const PRODUCER_ID_OFFSET: usize = 43;
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
pub const BASE_SEQUENCE_OFFSET: usize = 53;
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the v2 header; records start here.
pub const HEADER_SIZE: usize = 61;
/// Bytes before and including `batch_length`: a batch's total size is `batch_length + 12`.
pub const LOG_OVERHEAD: usize = 12;
/// The only magic we store.
pub const MAGIC_V2: i8 = 2;

pub const ATTRIBUTE_CODEC_MASK: i16 = 0x07;
/// Set for LogAppendTime, clear for CreateTime.
pub const ATTRIBUTE_TIMESTAMP_TYPE: i16 = 0x08;
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
pub const ATTRIBUTE_CONTROL: i16 = 0x20;

/// Why a batch header cannot be trusted. Storage maps these to CORRUPT_MESSAGE or INVALID_RECORD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{have} bytes is shorter than a batch header ({HEADER_SIZE})")]
    TooShort { have: usize },
    #[error("batch length {batch_length} does not fit the {have} bytes given")]
    LengthMismatch { batch_length: i32, have: usize },
    #[error("magic {magic} is not 2")]
    UnsupportedMagic { magic: i8 },
    #[error("CRC-32C mismatch: header {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("records count {records_count} does not match last offset delta {last_offset_delta}")]
    CountMismatch {
        records_count: i32,
        last_offset_delta: i32,
    },
    #[error("unknown compression codec {codec}")]
    UnknownCodec { codec: i16 },
}

/// Compression codec from the attributes' low three bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    pub const ALL: [Compression; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// # Errors
    /// `UnknownCodec` for 5–7.
    pub fn from_attributes(attributes: i16) -> Result<Self, BatchError> {
        match attributes & ATTRIBUTE_CODEC_MASK {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            codec => Err(BatchError::UnknownCodec { codec }),
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

fn read_array<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(slice) = bytes.get(offset..offset + N) {
        out.copy_from_slice(slice);
    }
    out
}

/// A view of one batch's header. Holds at least `HEADER_SIZE` bytes, so every accessor reads
/// inside the buffer; [`BatchHeader::parse`] is the only constructor.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchHeader<'a> {
    /// Views the header at the front of `bytes` (which may hold more batches after it).
    ///
    /// # Errors
    /// `TooShort`, `UnsupportedMagic`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_SIZE {
            return Err(BatchError::TooShort { have: bytes.len() });
        }
        let header = Self { bytes };
        if header.magic() != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic {
                magic: header.magic(),
            });
        }
        Ok(header)
    }

    fn i16_at(&self, offset: usize) -> i16 {
        i16::from_be_bytes(read_array(self.bytes, offset))
    }
    fn i32_at(&self, offset: usize) -> i32 {
        i32::from_be_bytes(read_array(self.bytes, offset))
    }
    fn i64_at(&self, offset: usize) -> i64 {
        i64::from_be_bytes(read_array(self.bytes, offset))
    }

    #[must_use]
    pub fn base_offset(&self) -> i64 {
        self.i64_at(BASE_OFFSET_OFFSET)
    }
    #[must_use]
    pub fn batch_length(&self) -> i32 {
        self.i32_at(BATCH_LENGTH_OFFSET)
    }
    #[must_use]
    pub fn partition_leader_epoch(&self) -> i32 {
        self.i32_at(PARTITION_LEADER_EPOCH_OFFSET)
    }
    #[must_use]
    pub fn magic(&self) -> i8 {
        i8::from_be_bytes(read_array(self.bytes, MAGIC_OFFSET))
    }
    #[must_use]
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(read_array(self.bytes, CRC_OFFSET))
    }
    #[must_use]
    pub fn attributes(&self) -> i16 {
        self.i16_at(ATTRIBUTES_OFFSET)
    }
    #[must_use]
    pub fn last_offset_delta(&self) -> i32 {
        self.i32_at(LAST_OFFSET_DELTA_OFFSET)
    }
    #[must_use]
    pub fn base_timestamp(&self) -> i64 {
        self.i64_at(BASE_TIMESTAMP_OFFSET)
    }
    #[must_use]
    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(MAX_TIMESTAMP_OFFSET)
    }
    #[must_use]
    pub fn producer_id(&self) -> i64 {
        self.i64_at(PRODUCER_ID_OFFSET)
    }
    #[must_use]
    pub fn producer_epoch(&self) -> i16 {
        self.i16_at(PRODUCER_EPOCH_OFFSET)
    }
    #[must_use]
    pub fn base_sequence(&self) -> i32 {
        self.i32_at(BASE_SEQUENCE_OFFSET)
    }
    #[must_use]
    pub fn records_count(&self) -> i32 {
        self.i32_at(RECORDS_COUNT_OFFSET)
    }

    /// # Errors
    /// `UnknownCodec`.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes())
    }
    /// Timestamp type: `true` for LogAppendTime, `false` for CreateTime.
    #[must_use]
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & ATTRIBUTE_TIMESTAMP_TYPE != 0
    }
    #[must_use]
    pub fn is_transactional(&self) -> bool {
        self.attributes() & ATTRIBUTE_TRANSACTIONAL != 0
    }
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.attributes() & ATTRIBUTE_CONTROL != 0
    }

    /// Total bytes of the batch including the 12-byte log overhead, if the length is sane.
    #[must_use]
    pub fn total_size(&self) -> Option<usize> {
        usize::try_from(self.batch_length())
            .ok()?
            .checked_add(LOG_OVERHEAD)
    }

    /// Offset of the last record: base offset + last offset delta.
    #[must_use]
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
}

/// CRC-32C over a batch's bytes from `attributes` to the end.
#[must_use]
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default())
}

/// Checks that `batch` is exactly one whole v2 batch whose CRC, length and record count agree.
/// This is what storage requires before an append and what recovery requires before serving.
///
/// # Errors
/// Any [`BatchError`].
pub fn validate(batch: &[u8]) -> Result<BatchHeader<'_>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    match header.total_size() {
        Some(total) if total == batch.len() && total >= HEADER_SIZE => {}
        _ => {
            return Err(BatchError::LengthMismatch {
                batch_length: header.batch_length(),
                have: batch.len(),
            });
        }
    }
    let computed = compute_crc(batch);
    if computed != header.crc() {
        return Err(BatchError::CrcMismatch {
            stored: header.crc(),
            computed,
        });
    }
    let records_count = header.records_count();
    let last_offset_delta = header.last_offset_delta();
    if records_count <= 0 || last_offset_delta != records_count - 1 {
        return Err(BatchError::CountMismatch {
            records_count,
            last_offset_delta,
        });
    }
    header.compression()?;
    Ok(header)
}

/// Splits a buffer of concatenated batches (a Produce `records` field or a segment range) into
/// whole batches without copying. Stops at the first batch whose length does not fit; the caller
/// decides whether a partial tail is an error (Produce) or normal (Fetch may end mid-batch).
#[derive(Debug, Clone)]
pub struct BatchSplitter {
    rest: Bytes,
}

impl BatchSplitter {
    #[must_use]
    pub fn new(bytes: Bytes) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not yet returned (a partial batch, once `next` has returned `None`).
    #[must_use]
    pub fn remainder(&self) -> &Bytes {
        &self.rest
    }
}

impl Iterator for BatchSplitter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let prefix = self.rest.get(..LOG_OVERHEAD)?;
        let length = i32::from_be_bytes(read_array(prefix, BATCH_LENGTH_OFFSET));
        let total = usize::try_from(length).ok()?.checked_add(LOG_OVERHEAD)?;
        if total > self.rest.len() || total < HEADER_SIZE {
            return None;
        }
        Some(self.rest.split_to(total))
    }
}

/// Writes `base_offset` into the batch in place (outside the CRC's span).
///
/// # Panics
/// When `batch` is shorter than a header (callers validate first).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    let field = batch.get_mut(BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8);
    assert!(field.is_some(), "batch too short to patch");
    if let Some(field) = field {
        field.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Writes `leader_epoch` into the batch in place (outside the CRC's span).
///
/// # Panics
/// When `batch` is shorter than a header (callers validate first).
pub fn set_partition_leader_epoch(batch: &mut [u8], leader_epoch: i32) {
    let field = batch.get_mut(PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4);
    assert!(field.is_some(), "batch too short to patch");
    if let Some(field) = field {
        field.copy_from_slice(&leader_epoch.to_be_bytes());
    }
}
