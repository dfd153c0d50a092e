//! InitProducerId (key 22): gives an idempotent producer its producer id and epoch. Runs on the
//! connection's shard; ids come from the node's one allocator on shard 0
//! (`cluster::producer_ids`, reached with `invoke_on(0, …)`), which takes them from blocks the
//! controller commits to the metadata log (unique across brokers). While no block can be had
//! (no controller, a commit that timed out) the answer is the retriable
//! COORDINATOR_LOAD_IN_PROGRESS, as Kafka's broker answers when its block has not arrived.
//!
//! ```text
//! transactional_id set                  TRANSACTIONAL_ID_AUTHORIZATION_FAILED (no transactions)
//! producer_id = -1, producer_epoch = -1 a new id, epoch 0 (every version; v0–v2 carry neither)
//! only one of them is -1                INVALID_REQUEST (as Kafka's KafkaApis)
//! an id we issued, epoch < i16::MAX - 1 the same id, epoch + 1 (v3+: KIP-360 bump after
//!                                       OUT_OF_ORDER_SEQUENCE_NUMBER and the like)
//! an id we issued, epoch exhausted      a new id, epoch 0 (Kafka's rule for exhausted epochs)
//! an id we never issued                 a new id, epoch 0
//! ```
//! Kafka itself answers every non-transactional request with a fresh id and epoch 0 (its
//! coordinator keeps no state for idempotent producers). Bumping the epoch of an id we issued
//! instead keeps ids from being burnt on each client recovery, and lets each partition fence
//! batches still in flight under the old epoch (INVALID_PRODUCER_EPOCH). Either answer is what
//! clients expect: they take whatever id and epoch come back and restart their sequences at 0.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::cell::RefCell;
use std::rc::Rc;

use super::{HandlerError, RequestContext};
use crate::broker::Shard;
use crate::cluster::controller;
use crate::cluster::metadata::{MetadataError, ProducerIdBlock};
use crate::cluster::producer_ids::{self, BlockSource, ProducerIdAllocator, ProducerIdError};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::storage::StorageError;

pub const API_KEY: ApiKey = ApiKey::InitProducerId;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// The shard holding the allocator.
const ALLOCATOR_SHARD: usize = 0;

/// Kafka's `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`.
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

/// An epoch at or past this is exhausted: the producer gets a new id (Kafka's
/// `Short.MaxValue - 1`, which keeps `epoch + 1` representable for a final marker).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// Answers with an id and epoch, or the error code a client expects (see the module docs).
///
/// # Errors
/// `Mesh` when shard 0 stopped (shutdown); every other outcome is a response.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: InitProducerIdRequest,
) -> Result<InitProducerIdResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if request.transactional_id.is_some() {
        // We run no transaction coordinator. TRANSACTIONAL_ID_AUTHORIZATION_FAILED is what
        // Kafka answers when a transactional id may not be used; the Java client and
        // librdkafka both treat it as fatal, so `initTransactions()` fails at once with a clear
        // message instead of retrying a retriable code (NOT_COORDINATOR,
        // COORDINATOR_NOT_AVAILABLE) until its timeout.
        return Ok(error_response(
            ErrorCode::TransactionalIdAuthorizationFailed,
        ));
    }
    // Kafka 3: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic (KIP-679).
    if !ctx.authorize_idempotent_write() {
        return Ok(error_response(ErrorCode::ClusterAuthorizationFailed));
    }
    let current = match (request.producer_id, request.producer_epoch) {
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
        (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => {
            return Ok(error_response(ErrorCode::InvalidRequest));
        }
        (producer_id, epoch) => Some((producer_id, epoch)),
    };
    let assigned = ctx
        .shard
        .invoke_on(ALLOCATOR_SHARD, move |shard| async move {
            assign(&shard, current).await
        })
        .await?;
    Ok(match assigned {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            producer_id,
            producer_epoch,
        },
        Err(error) => {
            tracing::warn!(%error, "InitProducerId: no producer id");
            error_response(error_code(&error))
        }
    })
}

/// The running broker's allocator lives in shard 0's services; blocks come from the
/// controller through the metadata log.
impl BlockSource for Rc<Shard> {
    fn allocator(&self) -> &RefCell<Option<ProducerIdAllocator>> {
        &self.state.producer_ids
    }

    async fn request_block(
        &self,
        node_id: i32,
        floor: i64,
    ) -> Result<ProducerIdBlock, MetadataError> {
        controller::allocate_producer_ids(self, node_id, floor).await
    }
}

/// On the allocator's shard: the id and epoch for a producer that holds `current` (or none).
///
/// # Errors
/// As [`producer_ids::allocate`].
pub async fn assign(
    source: &impl BlockSource,
    current: Option<(i64, i16)>,
) -> Result<(i64, i16), ProducerIdError> {
    if let Some((producer_id, epoch)) = current {
        let issued = source
            .allocator()
            .borrow()
            .as_ref()
            .is_some_and(|allocator| allocator.is_issued(producer_id));
        if issued && (0..EPOCH_EXHAUSTED).contains(&epoch) {
            return Ok((producer_id, epoch + 1));
        }
    }
    let producer_id = producer_ids::allocate(source).await?;
    assert!(producer_id >= 0, "allocated a negative producer id");
    Ok((producer_id, 0))
}

/// No block yet is retriable for clients (COORDINATOR_LOAD_IN_PROGRESS, Kafka's answer while
/// its producer-id block is on its way), as is a disk failure (KAFKA_STORAGE_ERROR); the end
/// of the id space or a missing allocator is a server error.
fn error_code(error: &ProducerIdError) -> ErrorCode {
    match error {
        ProducerIdError::Storage(StorageError::Io { .. }) => ErrorCode::KafkaStorageError,
        // By code: a refusal of the active controller comes back forwarded, as its code. No
        // controller, a commit that did not land, a registration still on its way: the block
        // may come on a retry. Anything else (ids exhausted, a refused record) will not.
        ProducerIdError::Metadata(error) => {
            let retriable = matches!(
                error.error_code(),
                ErrorCode::RequestTimedOut
                    | ErrorCode::NotController
                    | ErrorCode::BrokerIdNotRegistered
                    | ErrorCode::StaleBrokerEpoch
                    | ErrorCode::KafkaStorageError
            );
            if retriable {
                ErrorCode::CoordinatorLoadInProgress
            } else {
                ErrorCode::UnknownServerError
            }
        }
        ProducerIdError::Storage(_) | ProducerIdError::NotHere => ErrorCode::UnknownServerError,
    }
}

fn error_response(error_code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::metadata::ClusterError;
    use crate::cluster::{ClusterMetadata, MetadataChange};

    /// A one-node controller deciding blocks on a local state.
    #[derive(Clone)]
    struct Local(
        Rc<(
            RefCell<Option<ProducerIdAllocator>>,
            RefCell<ClusterMetadata>,
        )>,
    );

    impl BlockSource for Local {
        fn allocator(&self) -> &RefCell<Option<ProducerIdAllocator>> {
            &self.0.0
        }

        async fn request_block(
            &self,
            node_id: i32,
            floor: i64,
        ) -> Result<ProducerIdBlock, MetadataError> {
            let change = MetadataChange::AllocateProducerIds { node_id, floor };
            let mut metadata = self.0.1.borrow_mut();
            *metadata = metadata.with_change(&change, node_id)?;
            Ok(metadata.producer_id_block(node_id).unwrap())
        }
    }

    async fn allocator(directory: &std::path::Path) -> Local {
        let metadata = ClusterMetadata::empty("c".into());
        let allocator = ProducerIdAllocator::open(directory, 1, &metadata)
            .await
            .unwrap();
        Local(Rc::new((
            RefCell::new(Some(allocator)),
            RefCell::new(metadata),
        )))
    }

    #[compio::test]
    async fn new_producers_get_fresh_ids_at_epoch_zero() {
        let directory = tempfile::tempdir().unwrap();
        let cell = allocator(directory.path()).await;
        assert_eq!(assign(&cell, None).await.unwrap(), (0, 0));
        assert_eq!(assign(&cell, None).await.unwrap(), (1, 0));
    }

    #[compio::test]
    async fn a_known_producer_gets_its_epoch_bumped_until_exhausted() {
        let directory = tempfile::tempdir().unwrap();
        let cell = allocator(directory.path()).await;
        let (producer_id, epoch) = assign(&cell, None).await.unwrap();
        assert_eq!(
            assign(&cell, Some((producer_id, epoch))).await.unwrap(),
            (producer_id, 1)
        );
        let last = EPOCH_EXHAUSTED - 1;
        assert_eq!(
            assign(&cell, Some((producer_id, last))).await.unwrap(),
            (producer_id, EPOCH_EXHAUSTED)
        );
        let renewed = assign(&cell, Some((producer_id, EPOCH_EXHAUSTED))).await;
        assert_eq!(renewed.unwrap(), (producer_id + 1, 0));
        // An id this node never handed out is not bumped: the producer starts afresh.
        let unknown = assign(&cell, Some((5_000, 3))).await.unwrap();
        assert_eq!(unknown, (producer_id + 2, 0));
    }

    #[test]
    fn only_io_failures_and_missing_blocks_are_retriable() {
        let io = StorageError::Io {
            operation: "fdatasync",
            path: "/x".into(),
            source: std::io::Error::other("EIO"),
        };
        assert_eq!(
            error_code(&ProducerIdError::Storage(io)),
            ErrorCode::KafkaStorageError
        );
        let exhausted = MetadataError::Cluster(ClusterError::ProducerIdsExhausted);
        assert_eq!(
            error_code(&ProducerIdError::Metadata(exhausted)),
            ErrorCode::UnknownServerError
        );
        let unregistered = MetadataError::Cluster(ClusterError::UnknownBroker { node_id: 1 });
        assert_eq!(
            error_code(&ProducerIdError::Metadata(unregistered)),
            ErrorCode::CoordinatorLoadInProgress
        );
        let forwarded = MetadataError::Forwarded {
            code: ErrorCode::NotController,
            message: "no active controller".into(),
        };
        assert_eq!(
            error_code(&ProducerIdError::Metadata(forwarded)),
            ErrorCode::CoordinatorLoadInProgress
        );
    }
}
