//! `CheckedBatch`: one record batch that passed `record_batch::validate` (magic 2, length,
//! CRC-32C, record count against last offset delta, known codec), holding its bytes as a shared
//! `Bytes`, usually a slice of the Produce request frame.
//!
//! Why a type: the check runs once, where the bytes were just received (the connection's
//! shard, ARCHITECTURE §3), and storage on the owning shard takes only `CheckedBatch`es, so a
//! batch that skipped the check cannot reach a segment. Nothing here copies the batch: the log
//! patches a private copy of the 61-byte header and writes header and body as two iovecs
//! (append.rs), so a batch never has to be made unique (which would mean copying the frame).
//!
//! Runs on any shard; `Send` (it is moved from the connection's shard to the owner's).
use std::ops::Deref;

use bytes::Bytes;

use crate::protocol::record_batch::{self, BatchError, BatchHeader};

/// A validated v2 record batch. Derefs to its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBatch {
    bytes: Bytes,
}

impl CheckedBatch {
    /// Validates `bytes` as exactly one batch.
    ///
    /// # Errors
    /// The first [`BatchError`] `record_batch::validate` finds.
    pub fn new(bytes: Bytes) -> Result<Self, BatchError> {
        record_batch::validate(&bytes)?;
        Ok(Self { bytes })
    }

    /// The batch's header (it parsed when the batch was checked).
    #[must_use]
    pub fn header(&self) -> BatchHeader<'_> {
        match BatchHeader::parse(&self.bytes) {
            Ok(header) => header,
            Err(error) => unreachable!("a checked batch re-parses: {error}"),
        }
    }

    /// The whole batch, shared.
    #[must_use]
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Deref for CheckedBatch {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::storage::testing::build_batch;

    #[test]
    fn only_valid_batches_are_checked_and_nothing_is_copied() {
        let batch = build_batch(3, 500, b"records").freeze();
        let checked = CheckedBatch::new(batch.clone()).unwrap();
        assert_eq!(checked.bytes().as_ptr(), batch.as_ptr());
        assert_eq!(checked.header().records_count(), 3);
        let mut corrupt = batch.to_vec();
        *corrupt.last_mut().unwrap() ^= 1;
        assert!(matches!(
            CheckedBatch::new(Bytes::from(corrupt)),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(CheckedBatch::new(batch.slice(..batch.len() - 1)).is_err());
    }
}
