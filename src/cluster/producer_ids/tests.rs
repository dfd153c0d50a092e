//! The allocator against a local metadata state deciding `AllocateProducerIds` as the
//! controller does.
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::*;
use crate::cluster::MetadataChange;
use crate::cluster::metadata::{BrokerRegistration, ClusterError, MetadataRecord};
use crate::limits::PRODUCER_ID_BLOCK_SIZE;
use crate::protocol::Uuid;

/// The controller's node in these tests.
const NODE: i32 = 1;

struct Node {
    allocator: RefCell<Option<ProducerIdAllocator>>,
    metadata: Rc<RefCell<ClusterMetadata>>,
    requests: Cell<usize>,
    in_flight: Cell<bool>,
    refuse: Cell<bool>,
}

#[derive(Clone)]
struct Fake(Rc<Node>);

impl BlockSource for Fake {
    fn allocator(&self) -> &RefCell<Option<ProducerIdAllocator>> {
        &self.0.allocator
    }

    async fn request_block(
        &self,
        node_id: i32,
        floor: i64,
    ) -> Result<ProducerIdBlock, MetadataError> {
        assert!(
            !self.0.in_flight.replace(true),
            "two block requests in flight"
        );
        self.0.requests.set(self.0.requests.get() + 1);
        YieldNow(false).await; // a commit takes a while: others run meanwhile
        self.0.in_flight.set(false);
        if self.0.refuse.get() {
            return Err(ClusterError::ProducerIdsExhausted.into());
        }
        let change = MetadataChange::AllocateProducerIds { node_id, floor };
        let mut metadata = self.0.metadata.borrow_mut();
        *metadata = metadata.with_change(&change, NODE)?;
        Ok(metadata.producer_id_block(node_id).unwrap())
    }
}

/// Pending once, then ready: lets other tasks run.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn node(directory: &Path, node_id: i32, metadata: &Rc<RefCell<ClusterMetadata>>) -> Fake {
    let state = metadata.borrow().clone();
    let allocator = ProducerIdAllocator::open(directory, node_id, &state)
        .await
        .unwrap();
    Fake(Rc::new(Node {
        allocator: RefCell::new(Some(allocator)),
        metadata: Rc::clone(metadata),
        requests: Cell::new(0),
        in_flight: Cell::new(false),
        refuse: Cell::new(false),
    }))
}

fn shared(metadata: ClusterMetadata) -> Rc<RefCell<ClusterMetadata>> {
    Rc::new(RefCell::new(metadata))
}

fn issued(source: &Fake, producer_id: i64) -> bool {
    source
        .allocator()
        .borrow()
        .as_ref()
        .unwrap()
        .is_issued(producer_id)
}

fn write_legacy_file(directory: &Path, reserved_end: i64) {
    let text = format!("{HEADER}\nreserved_end {reserved_end}\n");
    std::fs::write(directory.join(ProducerIdAllocator::FILE_NAME), text).unwrap();
}

#[compio::test]
async fn ids_come_from_committed_blocks_and_the_next_is_fetched_ahead() {
    let directory = tempfile::tempdir().unwrap();
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = node(directory.path(), NODE, &metadata).await;
    assert!(!issued(&source, 0));
    assert_eq!(allocate(&source).await.unwrap(), 0);
    assert_eq!(metadata.borrow().producer_id_next(), PRODUCER_ID_BLOCK_SIZE);
    let low = PRODUCER_ID_BLOCK_SIZE - PRODUCER_ID_BLOCK_PREFETCH_REMAINING;
    for expected in 1..low {
        assert_eq!(allocate(&source).await.unwrap(), expected);
    }
    assert_eq!(
        source.0.requests.get(),
        1,
        "no prefetch before the low-water mark"
    );
    assert_eq!(allocate(&source).await.unwrap(), low);
    for _ in 0..100 {
        if source.0.requests.get() == 2 && !source.0.in_flight.get() {
            break;
        }
        YieldNow(false).await;
    }
    assert_eq!(
        source.0.requests.get(),
        2,
        "the next block was asked for ahead"
    );
    assert!(
        source
            .allocator()
            .borrow()
            .as_ref()
            .unwrap()
            .spare
            .is_some()
    );
    for expected in low + 1..2 * PRODUCER_ID_BLOCK_SIZE {
        assert_eq!(allocate(&source).await.unwrap(), expected);
    }
    assert!(issued(&source, 2 * PRODUCER_ID_BLOCK_SIZE - 1));
    assert!(!issued(&source, 3 * PRODUCER_ID_BLOCK_SIZE));
}

#[compio::test]
async fn ids_continue_above_the_old_files_reserved_end_after_an_upgrade() {
    let directory = tempfile::tempdir().unwrap();
    write_legacy_file(directory.path(), 3_000);
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = node(directory.path(), NODE, &metadata).await;
    assert!(
        issued(&source, 2_999),
        "ids the file reserved may have been handed out"
    );
    assert_eq!(allocate(&source).await.unwrap(), 3_000);
    assert_eq!(allocate(&source).await.unwrap(), 3_001);
    assert_eq!(
        metadata.borrow().producer_id_next(),
        3_000 + PRODUCER_ID_BLOCK_SIZE
    );
}

#[compio::test]
async fn a_restart_never_reuses_an_id_and_remembers_its_last_block() {
    let directory = tempfile::tempdir().unwrap();
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = node(directory.path(), NODE, &metadata).await;
    for expected in 0..4 {
        assert_eq!(allocate(&source).await.unwrap(), expected);
    }
    drop(source); // a crash: the rest of the block is skipped, never reused
    let source = node(directory.path(), NODE, &metadata).await;
    assert!(
        issued(&source, 3),
        "the last block may have been handed out"
    );
    assert_eq!(allocate(&source).await.unwrap(), PRODUCER_ID_BLOCK_SIZE);
}

#[compio::test]
async fn concurrent_allocations_are_unique_with_one_request_in_flight() {
    let directory = tempfile::tempdir().unwrap();
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = node(directory.path(), NODE, &metadata).await;
    let count = 2 * PRODUCER_ID_BLOCK_SIZE + 5;
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let source = source.clone();
            compio::runtime::spawn(async move { allocate(&source).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), usize::try_from(count).unwrap());
    let next = metadata.borrow().producer_id_next();
    assert!(
        ids.iter().all(|id| *id < next),
        "every id from a committed block"
    );
}

#[compio::test]
async fn brokers_never_share_an_id_nor_bump_each_others() {
    let directory = tempfile::tempdir().unwrap();
    let mut state = ClusterMetadata::empty("c".into());
    for node_id in [NODE, NODE + 1] {
        let broker_epoch = i64::try_from(state.version).unwrap();
        let record = MetadataRecord::RegisterBroker(BrokerRegistration {
            node_id,
            incarnation: Uuid([1; 16]),
            broker_epoch,
            listeners: Vec::new(),
            shard_count: 1,
            rack: None,
            fenced: true,
        });
        state = state.apply(&record).unwrap();
    }
    let metadata = shared(state);
    let first = node(directory.path(), NODE, &metadata).await;
    let second = node(directory.path(), NODE + 1, &metadata).await;
    let a = allocate(&first).await.unwrap();
    let b = allocate(&second).await.unwrap();
    assert_ne!(a, b);
    assert!(issued(&first, a) && !issued(&first, b));
    assert!(issued(&second, b) && !issued(&second, a));
}

#[compio::test]
async fn a_refused_block_is_an_error_and_the_next_call_asks_again() {
    let directory = tempfile::tempdir().unwrap();
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = node(directory.path(), NODE, &metadata).await;
    source.0.refuse.set(true);
    assert!(matches!(
        allocate(&source).await,
        Err(ProducerIdError::Metadata(_))
    ));
    source.0.refuse.set(false);
    assert_eq!(allocate(&source).await.unwrap(), 0);
}

#[compio::test]
async fn a_malformed_file_refuses_to_open() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(ProducerIdAllocator::FILE_NAME);
    std::fs::write(&path, format!("{HEADER}\nreserved_end -4\n")).unwrap();
    let empty = ClusterMetadata::empty("c".into());
    let error = ProducerIdAllocator::open(directory.path(), NODE, &empty)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ProducerIdError::Storage(StorageError::MalformedFile { line: 2, .. })
        ),
        "{error}"
    );
    assert_eq!(decode("something else\n"), Err(1));
    assert_eq!(
        decode(&format!("{HEADER}\nreserved_end 5\nextra\n")),
        Err(3)
    );
    assert_eq!(decode(&format!("{HEADER}\nreserved_end 77\n")), Ok(77));
}

#[compio::test]
async fn an_empty_cell_is_not_here() {
    let metadata = shared(ClusterMetadata::empty("c".into()));
    let source = Fake(Rc::new(Node {
        allocator: RefCell::new(None),
        metadata,
        requests: Cell::new(0),
        in_flight: Cell::new(false),
        refuse: Cell::new(false),
    }));
    assert!(matches!(
        allocate(&source).await,
        Err(ProducerIdError::NotHere)
    ));
}

#[test]
fn remembered_ranges_merge_and_stay_bounded() {
    let mut allocator = ProducerIdAllocator {
        node_id: NODE,
        floor: 0,
        next_id: 0,
        block_end: 0,
        spare: None,
        issued: VecDeque::new(),
        gate: flume::bounded(1),
    };
    allocator.remember(0..10);
    allocator.remember(10..20);
    assert_eq!(allocator.issued.len(), 1, "contiguous blocks merge");
    let gap = i64::try_from(PRODUCER_ID_RANGES_REMEMBERED_MAX).unwrap() + 5;
    for index in 1..=gap {
        allocator.remember(index * 100..index * 100 + 10);
    }
    assert_eq!(allocator.issued.len(), PRODUCER_ID_RANGES_REMEMBERED_MAX);
    assert!(!allocator.is_issued(5), "the oldest are forgotten");
    assert!(allocator.is_issued(gap * 100 + 9));
    allocator.check_invariants();
}
