//! The snapshot encoding: magic, format version, metadata version, cluster id, the state as
//! records, CRC-32C; bounded by `METADATA_SNAPSHOT_SIZE_MAX`. Pure code.
use super::*;

/// The snapshot file's bytes for `metadata`.
///
/// # Errors
/// `TooLarge` when they would exceed `METADATA_SNAPSHOT_SIZE_MAX`.
pub fn encode_snapshot(metadata: &ClusterMetadata) -> Result<Vec<u8>, MetadataFileError> {
    let records = metadata.snapshot_records();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&metadata.version.to_be_bytes());
    put_length(&mut out, metadata.cluster_id.len());
    out.extend_from_slice(metadata.cluster_id.as_bytes());
    put_length(&mut out, records.len());
    for record in &records {
        put_length(&mut out, record.encoded_size());
        record.encode(&mut out);
        if out.len() > METADATA_SNAPSHOT_SIZE_MAX {
            break;
        }
    }
    let size = out.len() + 4;
    if size > METADATA_SNAPSHOT_SIZE_MAX {
        return Err(MetadataFileError::TooLarge {
            size,
            size_max: METADATA_SNAPSHOT_SIZE_MAX,
        });
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// A length that fits u32: every length here is bounded by the snapshot size, checked
/// against `METADATA_SNAPSHOT_SIZE_MAX` (≤ u32::MAX) before the file is written.
pub(super) fn put_length(out: &mut Vec<u8>, length: usize) {
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
}

/// The state a snapshot file's bytes stand for.
///
/// # Errors
/// [`SnapshotDecodeError`]; never panics, whatever the bytes.
pub fn decode_snapshot(bytes: &[u8]) -> Result<ClusterMetadata, SnapshotDecodeError> {
    if bytes.len() > METADATA_SNAPSHOT_SIZE_MAX {
        return Err(SnapshotDecodeError::TooLarge {
            size: bytes.len(),
            size_max: METADATA_SNAPSHOT_SIZE_MAX,
        });
    }
    if !bytes.starts_with(MAGIC) {
        return Err(SnapshotDecodeError::BadMagic);
    }
    let (body, stored) = bytes
        .split_last_chunk::<4>()
        .ok_or(SnapshotDecodeError::BadMagic)?;
    let stored = u32::from_be_bytes(*stored);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(SnapshotDecodeError::Checksum { stored, computed });
    }
    let header = |source| SnapshotDecodeError::Header { source };
    let mut reader = Reader {
        bytes: body,
        offset: MAGIC.len(),
    };
    let found = reader.u32().map_err(header)?;
    if found != FORMAT_VERSION {
        return Err(SnapshotDecodeError::FormatVersion { found });
    }
    let version = reader.u64().map_err(header)?;
    let cluster_id = reader.string().map_err(header)?;
    if cluster_id.is_empty() || cluster_id.len() > CLUSTER_ID_LENGTH_MAX {
        let length = cluster_id.len();
        return Err(SnapshotDecodeError::ClusterId { length });
    }
    let record_count = reader.u32().map_err(header)?;
    // Not preallocated from `record_count`: each record takes at least 6 bytes, so the loop
    // stops at the first one the file does not hold.
    let mut records = Vec::new();
    for index in 0..record_count {
        let record = reader
            .bytes()
            .and_then(MetadataRecord::decode)
            .map_err(|source| SnapshotDecodeError::Record { index, source })?;
        records.push(record);
    }
    reader.finish().map_err(header)?;
    ClusterMetadata::restore(cluster_id, version, &records).map_err(|source| {
        SnapshotDecodeError::Apply {
            source: Box::new(source),
        }
    })
}
