//! Unit tests of the quorum's storage: openraft's own storage test suite over our log store and
//! state machine, and our on-disk specifics (one batch per entry, reopen, vote file, purge).
use std::cell::RefCell;
use std::rc::Rc;

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{EntryPayload, RaftLogReader, StorageError};

use super::log_store::{LogStore, METADATA_PARTITION_DIRECTORY};
use super::state_machine::{MetadataApplier, SnapshotRejected, StateMachine};
use super::types::{Entry, LogId, Proposal, TypeConfig, Vote};

type AppliedList = Rc<RefCell<Vec<(i64, Vec<Vec<u8>>)>>>;

/// Applies by remembering `(offset, records)`; its snapshot is the list, postcard-encoded.
#[derive(Default, Clone)]
pub struct ListApplier {
    pub applied: AppliedList,
}

impl MetadataApplier for ListApplier {
    fn apply(&mut self, offset: i64, records: &[Vec<u8>]) {
        self.applied.borrow_mut().push((offset, records.to_vec()));
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_stdvec(&*self.applied.borrow()).unwrap_or_default()
    }

    fn restore(&mut self, _offset: i64, snapshot: &[u8]) -> Result<(), SnapshotRejected> {
        let list = postcard::from_bytes(snapshot).map_err(|e| SnapshotRejected {
            reason: e.to_string(),
        })?;
        *self.applied.borrow_mut() = list;
        Ok(())
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine<ListApplier>, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine<ListApplier>), StorageError<TypeConfig>>
    {
        let directory = tempfile::tempdir().unwrap();
        let log = LogStore::open(directory.path()).await.unwrap();
        let partition = directory.path().join(METADATA_PARTITION_DIRECTORY);
        let machine = StateMachine::open(&partition, ListApplier::default())
            .await
            .unwrap();
        Ok((directory, log, machine))
    }
}

#[compio::test]
async fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).await.unwrap();
}

fn entry(term: u64, index: u64, records: &[&[u8]]) -> Entry {
    Entry {
        log_id: LogId::new_term_index(term, index),
        payload: EntryPayload::Normal(Proposal {
            records: records.iter().map(|r| r.to_vec()).collect(),
        }),
    }
}

async fn append(log: &mut LogStore, entries: Vec<Entry>) {
    log.append(entries, IOFlushed::noop()).await.unwrap();
}

#[compio::test]
async fn entries_survive_reopen_one_batch_each_with_term_as_epoch() {
    let directory = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(directory.path()).await.unwrap();
    append(
        &mut log,
        vec![entry(1, 0, &[b"a"]), entry(1, 1, &[b"b", b"c"])],
    )
    .await;
    append(&mut log, vec![entry(2, 2, &[b"d"])]).await;
    let read = log.try_get_log_entries(1..3).await.unwrap();
    assert_eq!(read, vec![entry(1, 1, &[b"b", b"c"]), entry(2, 2, &[b"d"])]);
    drop(log);
    let mut log = LogStore::open(directory.path()).await.unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(LogId::new_term_index(2, 2)));
    assert_eq!(state.last_purged_log_id, None);
    assert_eq!(log.try_get_log_entries(0..).await.unwrap().len(), 3);
    // The partition is a Kafka partition: one batch per entry, epoch = term.
    let partition = directory.path().join(METADATA_PARTITION_DIRECTORY);
    let checkpoint = std::fs::read_to_string(partition.join("leader-epoch-checkpoint")).unwrap();
    assert!(checkpoint.contains("1 0"), "{checkpoint}");
    assert!(checkpoint.contains("2 2"), "{checkpoint}");
}

#[compio::test]
async fn vote_is_on_disk_when_save_vote_returns() {
    let directory = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(directory.path()).await.unwrap();
    assert_eq!(log.read_vote().await.unwrap(), None);
    let vote = Vote::new(3, 2);
    log.save_vote(&vote).await.unwrap();
    // A second handle opened now (as after a crash) sees it.
    let mut reopened = LogStore::open(directory.path()).await.unwrap();
    assert_eq!(reopened.read_vote().await.unwrap(), Some(vote));
}

#[compio::test]
async fn truncate_drops_a_conflicting_suffix_durably() {
    let directory = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(directory.path()).await.unwrap();
    let entries = (0..5).map(|i| entry(1, i, &[b"x"])).collect();
    append(&mut log, entries).await;
    log.truncate_after(Some(LogId::new_term_index(1, 2)))
        .await
        .unwrap();
    append(&mut log, vec![entry(2, 3, &[b"new"])]).await;
    drop(log);
    let mut log = LogStore::open(directory.path()).await.unwrap();
    let read = log.try_get_log_entries(0..).await.unwrap();
    assert_eq!(read.len(), 4);
    assert_eq!(read.last(), Some(&entry(2, 3, &[b"new"])));
}

#[compio::test]
async fn purge_moves_the_log_start_and_survives_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(directory.path()).await.unwrap();
    let entries = (0..4).map(|i| entry(1, i, &[b"x"])).collect();
    append(&mut log, entries).await;
    log.purge(LogId::new_term_index(1, 1)).await.unwrap();
    // Purge past the end (a snapshot installed ahead of the log): the log restarts after it.
    log.purge(LogId::new_term_index(1, 9)).await.unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(LogId::new_term_index(1, 9)));
    assert_eq!(state.last_log_id, Some(LogId::new_term_index(1, 9)));
    append(&mut log, vec![entry(2, 10, &[b"after"])]).await;
    drop(log);
    let mut log = LogStore::open(directory.path()).await.unwrap();
    assert_eq!(log.log_start_offset().await, 10);
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(LogId::new_term_index(2, 10)));
    assert_eq!(
        log.try_get_log_entries(10..).await.unwrap(),
        vec![entry(2, 10, &[b"after"])]
    );
}

#[compio::test]
async fn a_gap_in_appends_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(directory.path()).await.unwrap();
    append(&mut log, vec![entry(1, 0, &[b"x"])]).await;
    let result = log
        .append(vec![entry(1, 3, &[b"x"])], IOFlushed::noop())
        .await;
    assert!(result.is_err());
    assert_eq!(log.try_get_log_entries(0..).await.unwrap().len(), 1);
}
