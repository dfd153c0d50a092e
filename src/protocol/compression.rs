//! Codecs of a RecordBatch v2 records section: bounded decompression and compression.
//!
//! Sans-IO and synchronous; runs on whichever shard validates or builds a batch (the connection's
//! shard for Produce validation, ringbench's client threads for encoding).
//!
//! Invariant: decompression never allocates more than `decompressed_size_max + 1` bytes of
//! output. Every codec is read through [`read_bounded`], which grows its buffer geometrically
//! but never past the cap plus the one byte that proves the output is too large, so a
//! decompression bomb stops at the cap with [`CodecError::TooLarge`]. Snappy's raw format
//! announces its length up front; that length is checked against the cap before any allocation.
//!
//! Formats, as the Java client writes them:
//! ```text
//! gzip    RFC 1952 members (concatenated members are read as one stream, like GZIPInputStream)
//! snappy  raw snappy block, or xerial framing:
//!         ["\x82SNAPPY\0"][version:i32 BE][compatible:i32 BE]([length:i32 BE][raw block])*
//! lz4     LZ4 frame format (independent blocks, as Kafka's Lz4BlockOutputStream)
//! zstd    zstd frames, streamed
//! ```
//! The zstd decoder's window memory is bounded by zstd's own default `window_log_max` (2^27),
//! which is below `limits::DECOMPRESSED_BATCH_SIZE_MAX`.
use super::record_batch::Compression;
use bytes::{BufMut, BytesMut};
use std::io::{self, Read, Write};

/// The xerial snappy stream header the Java client writes (`SnappyOutputStream`).
pub const XERIAL_MAGIC: [u8; 8] = *b"\x82SNAPPY\0";
/// Magic plus the two version ints.
pub const XERIAL_HEADER_SIZE: usize = 16;
/// Uncompressed bytes per xerial chunk when we write the framing (xerial's default block size).
pub const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Output buffer size of the first read; small batches decompress without regrowing.
const READ_INITIAL_SIZE: usize = 16 * 1024;
/// `Interrupted` reads retried in a row before giving up (in-memory readers never return it;
/// the bound keeps a misbehaving reader from looping forever).
const READ_INTERRUPTED_MAX: u32 = 16;
/// gzip level for batches we build: flate2's default, the same as Java's `Deflater` default.
const GZIP_LEVEL: u32 = 6;
/// zstd level for batches we build: Kafka's default `compression.zstd.level`.
const ZSTD_LEVEL: i32 = 3;

/// Why a records section could not be decompressed or compressed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{codec:?} output exceeds the cap of {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
    #[error("{codec:?} payload is corrupt: {source}")]
    Corrupt {
        codec: Compression,
        #[source]
        source: io::Error,
    },
    #[error("xerial snappy chunk at byte {offset} is malformed")]
    XerialChunk { offset: usize },
    #[error("lz4 frame is truncated at byte {offset} (no end mark)")]
    Lz4Truncated { offset: usize },
}

/// Which snappy framing to write. Reading accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnappyFraming {
    /// One raw snappy block: what librdkafka and the `kafka-protocol` crate write.
    #[default]
    Raw,
    /// xerial's stream framing: what the Java client writes.
    Xerial,
}

/// Decompresses `compressed` with `codec`, refusing output larger than `decompressed_size_max`.
///
/// `Compression::None` copies nothing: callers pass uncompressed records through themselves, so
/// here it returns the input as a new vector only to keep the function total.
///
/// # Errors
/// `TooLarge` when the output would exceed the cap; `Corrupt`, `XerialChunk`, `Lz4Truncated`
/// for bad payloads.
///
/// # Panics
/// If a bounded read returned more than the cap (a bug in [`read_bounded`]).
pub fn decompress(
    codec: Compression,
    compressed: &[u8],
    decompressed_size_max: usize,
) -> Result<Vec<u8>, CodecError> {
    let output = match codec {
        Compression::None => read_bounded(codec, compressed, decompressed_size_max),
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(compressed);
            read_bounded(codec, decoder, decompressed_size_max)
        }
        Compression::Snappy => decompress_snappy(compressed, decompressed_size_max),
        Compression::Lz4 => {
            check_lz4_frame_complete(compressed)?;
            let decoder = lz4_flex::frame::FrameDecoder::new(compressed);
            read_bounded(codec, decoder, decompressed_size_max)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(compressed)
                .map_err(|source| CodecError::Corrupt { codec, source })?;
            read_bounded(codec, decoder, decompressed_size_max)
        }
    }?;
    assert!(
        output.len() <= decompressed_size_max,
        "bounded read returned {} bytes over the cap {decompressed_size_max}",
        output.len()
    );
    Ok(output)
}

/// Reads `source` to its end into a buffer that never grows past `limit + 1` bytes.
fn read_bounded(
    codec: Compression,
    mut source: impl Read,
    limit: usize,
) -> Result<Vec<u8>, CodecError> {
    // One byte past the cap is enough to prove the output is too large.
    let capacity_max = limit.saturating_add(1);
    let mut output = vec![0u8; READ_INITIAL_SIZE.min(capacity_max)];
    let mut filled = 0usize;
    let mut interrupted = 0u32;
    // Each pass reads at least one byte or ends, and `filled` never exceeds `capacity_max`.
    loop {
        if filled == output.len() {
            if output.len() >= capacity_max {
                return Err(CodecError::TooLarge { codec, limit });
            }
            let grown = output.len().saturating_mul(2).min(capacity_max);
            output.resize(grown, 0);
        }
        let Some(spare) = output.get_mut(filled..) else {
            break;
        };
        match source.read(spare) {
            Ok(0) => break,
            Ok(count) => {
                filled = filled.saturating_add(count);
                interrupted = 0;
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                interrupted += 1;
                if interrupted > READ_INTERRUPTED_MAX {
                    return Err(CodecError::Corrupt {
                        codec,
                        source: error,
                    });
                }
            }
            Err(source) => return Err(CodecError::Corrupt { codec, source }),
        }
    }
    if filled > limit {
        return Err(CodecError::TooLarge { codec, limit });
    }
    output.truncate(filled);
    Ok(output)
}

const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();
const LZ4_FLG_DICTIONARY_ID: u8 = 0x01;
const LZ4_FLG_CONTENT_CHECKSUM: u8 = 0x04;
const LZ4_FLG_CONTENT_SIZE: u8 = 0x08;
const LZ4_FLG_BLOCK_CHECKSUM: u8 = 0x10;
const LZ4_BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;

/// Walks an LZ4 frame's block headers (no decompression) and checks that it reaches the end mark
/// (and the content checksum, when flagged). `lz4_flex` treats end of input as end of frame, but
/// Kafka's `Lz4BlockInputStream` rejects a frame cut short, and so must we: a truncated frame
/// could otherwise decode to a valid-looking prefix of the records.
fn check_lz4_frame_complete(compressed: &[u8]) -> Result<(), CodecError> {
    let truncated = |offset: usize| CodecError::Lz4Truncated { offset };
    match compressed.get(..4) {
        None => return Err(truncated(0)),
        // Not a frame at all; the decoder reports it as corrupt.
        Some(magic) if magic != LZ4_MAGIC => return Ok(()),
        Some(_) => {}
    }
    let flags = *compressed.get(4).ok_or(truncated(4))?;
    let mut offset = 6; // magic, FLG, BD
    if flags & LZ4_FLG_CONTENT_SIZE != 0 {
        offset += 8;
    }
    if flags & LZ4_FLG_DICTIONARY_ID != 0 {
        offset += 4;
    }
    offset += 1; // header checksum
    let block_checksum_size = if flags & LZ4_FLG_BLOCK_CHECKSUM != 0 {
        4
    } else {
        0
    };
    // Each pass advances by at least the 4-byte block size, so it ends within len/4 passes.
    loop {
        let prefix = compressed
            .get(offset..offset + 4)
            .ok_or(truncated(offset))?;
        let mut raw = [0u8; 4];
        raw.copy_from_slice(prefix);
        let size = u32::from_le_bytes(raw) & !LZ4_BLOCK_UNCOMPRESSED;
        offset += 4;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).map_err(|_| truncated(offset))?;
        offset = offset
            .checked_add(size)
            .and_then(|end| end.checked_add(block_checksum_size))
            .ok_or(truncated(offset))?;
    }
    if flags & LZ4_FLG_CONTENT_CHECKSUM != 0 {
        offset += 4;
    }
    if offset > compressed.len() {
        return Err(truncated(offset));
    }
    Ok(())
}

fn snappy_error(source: snap::Error) -> CodecError {
    CodecError::Corrupt {
        codec: Compression::Snappy,
        source: io::Error::new(io::ErrorKind::InvalidData, source),
    }
}

fn decompress_snappy(compressed: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    if compressed.starts_with(&XERIAL_MAGIC) {
        return decompress_xerial(compressed, limit);
    }
    // Like xerial's SnappyInputStream: anything without the magic is one raw block.
    let mut output = Vec::new();
    snappy_raw_append(compressed, &mut output, limit)?;
    Ok(output)
}

/// Decompresses one raw snappy block onto the end of `output`, keeping `output` within `limit`.
fn snappy_raw_append(block: &[u8], output: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let length = snap::raw::decompress_len(block).map_err(snappy_error)?;
    let start = output.len();
    let end = start
        .checked_add(length)
        .filter(|end| *end <= limit)
        .ok_or(CodecError::TooLarge {
            codec: Compression::Snappy,
            limit,
        })?;
    output.resize(end, 0);
    let target = output.get_mut(start..).unwrap_or_default();
    let written = snap::raw::Decoder::new()
        .decompress(block, target)
        .map_err(snappy_error)?;
    // The block's announced length and its content must agree.
    if written != length {
        return Err(snappy_error(snap::Error::HeaderMismatch {
            expected_len: u64::try_from(length).unwrap_or(u64::MAX),
            got_len: u64::try_from(written).unwrap_or(u64::MAX),
        }));
    }
    Ok(())
}

fn decompress_xerial(compressed: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut offset = XERIAL_HEADER_SIZE;
    if compressed.len() < offset {
        return Err(CodecError::XerialChunk { offset: 0 });
    }
    let mut output = Vec::new();
    // Each pass consumes at least the 4-byte length, so the loop ends within len/4 passes.
    while offset < compressed.len() {
        let chunk_error = CodecError::XerialChunk { offset };
        let prefix = compressed
            .get(offset..offset + 4)
            .ok_or(CodecError::XerialChunk { offset })?;
        let mut raw = [0u8; 4];
        raw.copy_from_slice(prefix);
        let length = usize::try_from(i32::from_be_bytes(raw)).map_err(|_| chunk_error)?;
        let start = offset + 4;
        let end = start
            .checked_add(length)
            .ok_or(CodecError::XerialChunk { offset })?;
        let block = compressed
            .get(start..end)
            .ok_or(CodecError::XerialChunk { offset })?;
        snappy_raw_append(block, &mut output, limit)?;
        offset = end;
    }
    Ok(output)
}

/// Appends `input` compressed with `codec` to `output`.
///
/// # Errors
/// Only if a codec fails while writing to memory (not expected; kept typed rather than a panic).
pub fn compress(
    codec: Compression,
    snappy_framing: SnappyFraming,
    input: &[u8],
    output: &mut BytesMut,
) -> Result<(), CodecError> {
    let corrupt = |source: io::Error| CodecError::Corrupt { codec, source };
    match codec {
        Compression::None => output.extend_from_slice(input),
        Compression::Gzip => {
            let level = flate2::Compression::new(GZIP_LEVEL);
            let mut encoder = flate2::write::GzEncoder::new(output.writer(), level);
            encoder.write_all(input).map_err(corrupt)?;
            encoder.finish().map_err(corrupt)?;
        }
        Compression::Snappy => match snappy_framing {
            SnappyFraming::Raw => snappy_raw_compress(input, output)?,
            SnappyFraming::Xerial => compress_xerial(input, output)?,
        },
        Compression::Lz4 => {
            // Kafka's Java reader rejects dependent blocks; 64 KiB is its writer's block size.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, output.writer());
            encoder.write_all(input).map_err(corrupt)?;
            encoder.finish().map_err(|error| corrupt(error.into()))?;
        }
        Compression::Zstd => {
            zstd::stream::copy_encode(input, output.writer(), ZSTD_LEVEL).map_err(corrupt)?;
        }
    }
    Ok(())
}

fn snappy_raw_compress(input: &[u8], output: &mut BytesMut) -> Result<(), CodecError> {
    let start = output.len();
    output.resize(start + snap::raw::max_compress_len(input.len()), 0);
    let target = output.get_mut(start..).unwrap_or_default();
    let written = snap::raw::Encoder::new()
        .compress(input, target)
        .map_err(snappy_error)?;
    output.truncate(start + written);
    Ok(())
}

fn compress_xerial(input: &[u8], output: &mut BytesMut) -> Result<(), CodecError> {
    output.extend_from_slice(&XERIAL_MAGIC);
    // Version 1, compatible version 1: what xerial's SnappyOutputStream writes.
    output.put_i32(1);
    output.put_i32(1);
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let prefix_at = output.len();
        output.extend_from_slice(&[0; 4]);
        snappy_raw_compress(chunk, output)?;
        let length = super::primitives::length_i32(output.len() - prefix_at - 4);
        if let Some(prefix) = output.get_mut(prefix_at..prefix_at + 4) {
            prefix.copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"the quick brown fox jumps over the lazy dog, again and again and again";

    #[test]
    fn every_codec_round_trips() {
        for codec in Compression::ALL {
            for framing in [SnappyFraming::Raw, SnappyFraming::Xerial] {
                let mut compressed = BytesMut::new();
                compress(codec, framing, SAMPLE, &mut compressed).unwrap();
                let output = decompress(codec, &compressed, 1024).unwrap();
                assert_eq!(output, SAMPLE, "{codec:?} {framing:?}");
            }
        }
    }

    #[test]
    fn every_codec_stops_at_the_cap() {
        let input = vec![0u8; 100_000];
        for codec in Compression::ALL {
            for framing in [SnappyFraming::Raw, SnappyFraming::Xerial] {
                let mut compressed = BytesMut::new();
                compress(codec, framing, &input, &mut compressed).unwrap();
                let error = decompress(codec, &compressed, 4096).unwrap_err();
                assert!(
                    matches!(error, CodecError::TooLarge { limit: 4096, .. }),
                    "{codec:?} {framing:?}: {error}"
                );
                // Exactly at the cap is allowed.
                assert_eq!(
                    decompress(codec, &compressed, 100_000).unwrap().len(),
                    100_000
                );
            }
        }
    }

    #[test]
    fn xerial_layout_and_malformed_chunks() {
        let mut framed = BytesMut::new();
        compress_xerial(SAMPLE, &mut framed).unwrap();
        assert_eq!(&framed[..8], &XERIAL_MAGIC);
        assert_eq!(&framed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let length = i32::from_be_bytes(framed[16..20].try_into().unwrap());
        assert_eq!(usize::try_from(length).unwrap(), framed.len() - 20);
        for cut in 0..framed.len() {
            let result = decompress(Compression::Snappy, &framed[..cut], 1024);
            if cut == XERIAL_HEADER_SIZE {
                // A header with no chunks is xerial's encoding of empty input.
                assert!(result.unwrap().is_empty());
            } else {
                assert!(result.is_err(), "cut {cut}");
            }
        }
        let mut negative = framed.to_vec();
        negative[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decompress(Compression::Snappy, &negative, 1024),
            Err(CodecError::XerialChunk { offset: 16 })
        ));
    }

    #[test]
    fn corrupt_payloads_error() {
        let garbage = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            assert!(decompress(codec, &garbage, 1024).is_err(), "{codec:?}");
        }
        assert!(decompress(Compression::Zstd, &garbage, 1024).is_err());
    }

    #[test]
    fn lz4_truncated_frames_error() {
        let mut framed = BytesMut::new();
        compress(Compression::Lz4, SnappyFraming::Raw, SAMPLE, &mut framed).unwrap();
        assert_eq!(&framed[framed.len() - 4..], &[0, 0, 0, 0], "end mark");
        for cut in 0..framed.len() {
            assert!(
                decompress(Compression::Lz4, &framed[..cut], 1024).is_err(),
                "cut {cut}"
            );
        }
    }
}
