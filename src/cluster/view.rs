//! This shard's view of the cluster metadata: its copy of the latest snapshot (every shard)
//! and the node metadata file (the controller shard only). A per-shard service owned by
//! cluster/ and composed above it (`broker::Services`), which exposes it to the controller
//! through [`MetadataHost`].
//!
//! Runs on its own shard; `!Send` (`RefCell`), never borrowed across an `.await`.
use super::active::ActiveController;
use super::membership::Membership;
use super::rpc::ControllerClient;
use super::{ClusterMetadata, MetadataStore};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// One shard's metadata view.
#[derive(Debug)]
pub struct MetadataView {
    /// Replaced (never mutated) by `controller::install`, or by the controller's own change.
    current: RefCell<Arc<ClusterMetadata>>,
    /// The node metadata file; only the controller shard has it.
    store: Option<MetadataStore>,
    /// The metadata quorum's leader as this node last heard (the active controller), set by
    /// shard 0's quorum watcher and published to every shard with the metadata.
    quorum_leader: Cell<Option<i32>>,
    /// Shard 0's links to the cluster: the controller service, the client that reaches the
    /// active controller, this broker's membership.
    link: Option<ControllerLink>,
}

/// Shard 0's cluster services (see [`MetadataView::link`]).
#[derive(Clone)]
pub struct ControllerLink {
    pub active: Rc<ActiveController>,
    pub client: Rc<ControllerClient>,
    pub membership: Rc<Membership>,
    /// Set at shutdown: the heartbeat and session-timer tasks end.
    pub stopping: Rc<std::cell::Cell<bool>>,
}

impl std::fmt::Debug for ControllerLink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ControllerLink")
            .field("broker_epoch", &self.membership.broker_epoch())
            .finish_non_exhaustive()
    }
}

impl MetadataView {
    #[must_use]
    pub fn new(current: Arc<ClusterMetadata>, store: Option<MetadataStore>) -> Self {
        Self {
            current: RefCell::new(current),
            store,
            quorum_leader: Cell::new(None),
            link: None,
        }
    }

    /// Shard 0's view: the metadata log's store and the cluster services.
    #[must_use]
    pub fn with_link(
        current: Arc<ClusterMetadata>,
        store: MetadataStore,
        link: ControllerLink,
    ) -> Self {
        Self {
            link: Some(link),
            ..Self::new(current, Some(store))
        }
    }

    /// The cluster services, on shard 0.
    #[must_use]
    pub fn link(&self) -> Option<&ControllerLink> {
        self.link.as_ref()
    }

    /// The active controller (the metadata quorum's leader) as this shard last heard; `None`
    /// while no leader is known.
    #[must_use]
    pub fn quorum_leader(&self) -> Option<i32> {
        self.quorum_leader.get()
    }

    /// Records the quorum leader this shard was told about.
    pub fn set_quorum_leader(&self, leader: Option<i32>) {
        self.quorum_leader.set(leader);
    }

    /// The current snapshot.
    #[must_use]
    pub fn current(&self) -> Arc<ClusterMetadata> {
        Arc::clone(&self.current.borrow())
    }

    /// The node metadata file, on the controller shard.
    #[must_use]
    pub fn store(&self) -> Option<&MetadataStore> {
        self.store.as_ref()
    }

    /// Makes `next` current (the controller, right after persisting it).
    pub fn replace(&self, next: Arc<ClusterMetadata>) {
        *self.current.borrow_mut() = next;
    }

    /// Makes `next` current when it is newer than the current snapshot; returns whichever is
    /// current afterwards (publications from concurrent changes may arrive out of order).
    pub fn install_if_newer(&self, next: Arc<ClusterMetadata>) -> Arc<ClusterMetadata> {
        let mut slot = self.current.borrow_mut();
        if next.version > slot.version {
            *slot = next;
        }
        Arc::clone(&slot)
    }
}

/// What the controller needs from a shard's services: the shard's [`MetadataView`], and a
/// hook that brings the shard's other services in line with a newly installed snapshot (open
/// and close partition logs, drop committed offsets of deleted topics). Implemented by the
/// composition (`broker::Services`), so cluster/ names no service above it.
pub trait MetadataHost: 'static {
    fn metadata_view(&self) -> &MetadataView;

    /// Runs on the shard after `install` (whether or not the snapshot was newer): `current`
    /// is the snapshot now current there. Completes once the shard's services reflect it.
    fn metadata_installed(&self, current: Arc<ClusterMetadata>) -> impl Future<Output = ()>;
}
