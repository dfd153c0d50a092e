//! This broker's membership in the cluster (CLUSTER.md, "Broker lifecycle"), broker side:
//! register with the active controller at start-up (a new broker epoch), heartbeat until it
//! is unfenced, keep heartbeating, re-register when the controller no longer knows this
//! incarnation, and on SIGTERM ask for a controlled shutdown (leadership moved away) before
//! the broker stops.
//!
//! The node file `meta.properties` in the data dir (Kafka's name and `key=value` format:
//! `version`, `cluster.id`, `node.id`) is written after the first registration and read at
//! every start: a data dir of another node id is refused before anything starts, and the
//! cluster id it names goes into the registration, so a data dir of another cluster is
//! refused by the controller (`InconsistentClusterId`) with a message naming both ids.
//!
//! Runs on shard 0; `!Send`.
use super::metadata::MetadataStore;
use super::policy::lifecycle::{Heartbeat, HeartbeatReply, RegistrationRequest};
use super::quorum::{ControllerConnection, Transport};
use super::rpc::{ControllerClient, ControllerRequest, ControllerResponse};
use crate::limits::{CONTROLLER_RETRY_MS, NODE_FILE_SIZE_MAX, REJOIN_EVERY_HEARTBEATS};
use crate::protocol::ErrorCode;
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The node file's name in the data dir.
pub const NODE_FILE_NAME: &str = "meta.properties";

/// Why this broker cannot join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("the active controller refused this broker ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("no active controller answered within {timeout_ms} ms: {last}")]
    Timeout { timeout_ms: u64, last: String },
    #[error(
        "data dir {path} belongs to node {found}, not --node-id {expected}: start that node \
         with it, or give this node its own data dir"
    )]
    NodeIdMismatch {
        path: String,
        found: i32,
        expected: i32,
    },
    #[error("node file {path}: {reason}")]
    NodeFile { path: String, reason: String },
}

/// What the data dir's node file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    pub cluster_id: String,
    pub node_id: i32,
}

impl NodeFile {
    /// Reads `<data>/meta.properties`; `None` when there is none (a new data dir).
    ///
    /// # Errors
    /// Unreadable, too large, or missing a key.
    pub fn read(data_dir: &Path) -> Result<Option<Self>, MembershipError> {
        let path = data_dir.join(NODE_FILE_NAME);
        let bad = |reason: String| MembershipError::NodeFile {
            path: path.display().to_string(),
            reason,
        };
        let text = match std::fs::read(&path) {
            Ok(bytes) if bytes.len() > NODE_FILE_SIZE_MAX => {
                return Err(bad(format!("larger than {NODE_FILE_SIZE_MAX} bytes")));
            }
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| bad(e.to_string()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(bad(error.to_string())),
        };
        let value = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        let cluster_id = value("cluster.id").ok_or_else(|| bad("no cluster.id".into()))?;
        let node_id = value("node.id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no valid node.id".into()))?;
        Ok(Some(Self {
            cluster_id,
            node_id,
        }))
    }

    /// Refuses a data dir written by another node id.
    ///
    /// # Errors
    /// `NodeIdMismatch`, or the file is unreadable.
    pub fn check(data_dir: &Path, node_id: i32) -> Result<Option<Self>, MembershipError> {
        let file = Self::read(data_dir)?;
        if let Some(found) = &file
            && found.node_id != node_id
        {
            return Err(MembershipError::NodeIdMismatch {
                path: data_dir.display().to_string(),
                found: found.node_id,
                expected: node_id,
            });
        }
        Ok(file)
    }

    /// Writes the file atomically and durably (blocking; once, after the first registration).
    ///
    /// # Errors
    /// The write failed.
    pub fn write(&self, data_dir: &Path) -> Result<(), MembershipError> {
        let text = format!(
            "# written by ringbroker; do not edit\nversion=1\ncluster.id={}\nnode.id={}\n",
            self.cluster_id, self.node_id
        );
        super::clean_shutdown::write_durably(data_dir, NODE_FILE_NAME, &text).map_err(|error| {
            MembershipError::NodeFile {
                path: data_dir.join(NODE_FILE_NAME).display().to_string(),
                reason: error.to_string(),
            }
        })
    }
}

/// Before a node with a data dir joins the quorum: asks the other voters which cluster they
/// are, and refuses when one names another cluster than the node file does — before Raft
/// could replace this data dir's metadata log with another cluster's. Voters that do not
/// answer (down, or starting too) are skipped; with no answer at all the node goes on (the
/// controller checks the cluster id again at registration). Asked over `transport`, the
/// controller channel's.
///
/// # Errors
/// `Refused` (INCONSISTENT_CLUSTER_ID) naming both cluster ids.
pub async fn check_cluster_id(
    node_file: &NodeFile,
    voters: &[(i32, String)],
    timeout: Duration,
    transport: &Transport,
) -> Result<(), MembershipError> {
    let request = postcard::to_stdvec(&ControllerRequest::ClusterId).unwrap_or_default();
    for (node_id, address) in voters {
        if *node_id == node_file.node_id {
            continue;
        }
        let mut connection =
            ControllerConnection::new(address, timeout, std::sync::Arc::clone(transport));
        let Ok(answer) = connection.app(&request).await else {
            continue;
        };
        let Ok(ControllerResponse::ClusterId {
            cluster_id: Some(cluster_id),
        }) = postcard::from_bytes(&answer)
        else {
            continue;
        };
        if cluster_id != node_file.cluster_id {
            return Err(MembershipError::Refused {
                code: ErrorCode::InconsistentClusterId,
                message: format!(
                    "this data dir belongs to cluster {:?} but voter {node_id} is in cluster \
                     {cluster_id:?}: give this broker an empty data dir to join that cluster",
                    node_file.cluster_id
                ),
            });
        }
        return Ok(());
    }
    Ok(())
}

/// The bound of one registration attempt: the controller channel's own.
fn rpc_timeout() -> Duration {
    Duration::from_millis(crate::limits::CONTROLLER_RPC_TIMEOUT_MS)
}

/// This broker's registration and heartbeats. See the module docs.
pub struct Membership {
    client: Rc<ControllerClient>,
    store: MetadataStore,
    request: RegistrationRequest,
    broker_epoch: Cell<Option<i64>>,
    fenced: Cell<bool>,
    heartbeat_interval: Duration,
    session_timeout: Duration,
}

impl Membership {
    #[must_use]
    pub fn new(
        client: Rc<ControllerClient>,
        store: MetadataStore,
        request: RegistrationRequest,
        heartbeat_interval: Duration,
        session_timeout: Duration,
    ) -> Self {
        Self {
            client,
            store,
            request,
            broker_epoch: Cell::new(None),
            fenced: Cell::new(true),
            heartbeat_interval,
            session_timeout,
        }
    }

    /// The broker epoch of the current registration.
    #[must_use]
    pub fn broker_epoch(&self) -> Option<i64> {
        self.broker_epoch.get()
    }

    /// One request, retried on retriable failures (no leader, unreachable, not the
    /// controller, not committed) until `timeout`.
    async fn request(
        &self,
        request: &ControllerRequest,
        timeout: Duration,
        attempt: Duration,
    ) -> Result<ControllerResponse, MembershipError> {
        let deadline = Instant::now() + timeout;
        // Bounded by the deadline.
        loop {
            let last = match self.client.send_within(request, attempt).await {
                Ok(ControllerResponse::Refused { code, message }) => {
                    let code = ErrorCode::from_code(code);
                    return Err(MembershipError::Refused { code, message });
                }
                Ok(ControllerResponse::NotController { leader }) => {
                    format!("not the controller (leader {leader:?})")
                }
                Ok(ControllerResponse::Unavailable { message }) => message,
                Ok(answer) => return Ok(answer),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                return Err(MembershipError::Timeout { timeout_ms, last });
            }
            compio::time::sleep(Duration::from_millis(CONTROLLER_RETRY_MS)).await;
        }
    }

    /// Registers (a new broker epoch), then heartbeats until the controller unfences this
    /// broker (it has applied the log past its registration).
    ///
    /// # Errors
    /// `Refused` (another cluster id, a live broker with this node id, another shard count);
    /// `Timeout` when no controller answered.
    pub async fn join(&self, timeout: Duration) -> Result<i64, MembershipError> {
        let deadline = Instant::now() + timeout;
        let broker_epoch = self.register(timeout).await?;
        self.broker_epoch.set(Some(broker_epoch));
        self.fenced.set(true);
        tracing::info!(broker_epoch, "registered with the active controller");
        // Bounded by the deadline.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.heartbeat(false, left).await?;
            if !reply.is_fenced {
                tracing::info!(broker_epoch, "unfenced by the active controller");
                return Ok(broker_epoch);
            }
            if left.is_zero() {
                return Err(MembershipError::Timeout {
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    last: "still fenced".into(),
                });
            }
            compio::time::sleep(Duration::from_millis(CONTROLLER_RETRY_MS)).await;
        }
    }

    /// Registers; a refusal because this node id is registered with a live session is
    /// retried until that session could have expired (the previous incarnation of this node
    /// died a moment ago: a restart after kill -9, as KRaft's brokers retry), then final.
    async fn register(&self, timeout: Duration) -> Result<i64, MembershipError> {
        let request = ControllerRequest::Register(self.request.clone());
        let patience = Instant::now() + self.session_timeout * 2;
        // Bounded by `patience` (then the refusal is returned) and by `timeout` per attempt.
        loop {
            match self.request(&request, timeout, rpc_timeout()).await {
                Ok(ControllerResponse::Registered { broker_epoch }) => return Ok(broker_epoch),
                Ok(_) => return Err(unexpected("Register")),
                Err(MembershipError::Refused {
                    code: ErrorCode::DuplicateBrokerRegistration,
                    ..
                }) if Instant::now() < patience => {
                    tracing::info!("node id registered with a live session; retrying");
                    compio::time::sleep(self.heartbeat_interval).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One heartbeat carrying the applied metadata version.
    ///
    /// # Errors
    /// As [`Self::request`]; `Refused` with STALE_BROKER_EPOCH / BROKER_ID_NOT_REGISTERED when
    /// the controller no longer knows this incarnation.
    pub async fn heartbeat(
        &self,
        wants_shutdown: bool,
        timeout: Duration,
    ) -> Result<HeartbeatReply, MembershipError> {
        let applied_offset = self.store.applied().map_or(0, |state| state.version);
        let heartbeat = Heartbeat {
            node_id: self.request.node_id,
            broker_epoch: self.broker_epoch.get().unwrap_or(-1),
            applied_offset,
            wants_fence: false,
            wants_shutdown,
        };
        // Half a session per attempt: a heartbeat stuck on a former controller gives way in
        // time to reach the new one before the session it started at its takeover runs out.
        let attempt = self.session_timeout / 2;
        let answer = self
            .request(&ControllerRequest::Heartbeat(heartbeat), timeout, attempt)
            .await?;
        let ControllerResponse::Heartbeat(reply) = answer else {
            return Err(unexpected("Heartbeat"));
        };
        self.fenced.set(reply.is_fenced);
        Ok(reply)
    }

    /// Heartbeats every interval for the broker's life; re-registers when the controller
    /// lost this incarnation (fenced and unregistered, or a controller that never heard of
    /// it). Ends when `stop` is set.
    pub async fn run(self: Rc<Self>, stop: Rc<Cell<bool>>) {
        let mut beats = 0u64;
        // Bounded by the broker's life: ends when `stop` is set at shutdown.
        while !stop.get() {
            compio::time::sleep(self.heartbeat_interval).await;
            if stop.get() {
                break;
            }
            beats += 1;
            if beats.is_multiple_of(REJOIN_EVERY_HEARTBEATS) {
                let quorum = self.client.quorum();
                if let Err(error) = quorum.rejoin(self.heartbeat_interval).await {
                    tracing::debug!(%error, "observer re-join failed");
                }
            }
            let result = self.heartbeat(false, self.heartbeat_interval * 2).await;
            let lost = matches!(
                &result,
                Err(MembershipError::Refused {
                    code: ErrorCode::StaleBrokerEpoch | ErrorCode::BrokerIdNotRegistered,
                    ..
                })
            );
            if lost {
                tracing::warn!("the controller lost this broker's registration: registering again");
                if let Err(error) = self.join(self.heartbeat_interval * 20).await {
                    tracing::warn!(%error, "re-registration failed; retrying");
                }
            } else if let Err(error) = result {
                tracing::debug!(%error, "heartbeat failed");
            }
        }
    }

    /// Controlled shutdown: heartbeats asking to shut down until the controller says this
    /// broker leads nothing (and fenced it), or `timeout` passes. Without an active controller
    /// (the quorum lost its majority) it gives up after one attempt: nobody can move
    /// leadership then, and the broker's stop is bounded.
    pub async fn shut_down(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let attempt = (self.heartbeat_interval * 4).max(Duration::from_secs(1));
        // Bounded by the deadline.
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.heartbeat(true, attempt.min(left)).await {
                Ok(reply) if reply.should_shut_down => {
                    tracing::info!("controlled shutdown: leadership moved away");
                    return;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "controlled shutdown: no answer; stopping anyway");
                    return;
                }
            }
            compio::time::sleep(Duration::from_millis(CONTROLLER_RETRY_MS)).await;
        }
        tracing::warn!("controlled shutdown timed out; stopping anyway");
    }
}

fn unexpected(request: &str) -> MembershipError {
    MembershipError::Refused {
        code: ErrorCode::UnknownServerError,
        message: format!("the controller answered {request} with another kind of answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_file_round_trips_and_refuses_another_node_id() {
        let directory = tempfile::TempDir::new().unwrap();
        assert_eq!(NodeFile::check(directory.path(), 3).unwrap(), None);
        let file = NodeFile {
            cluster_id: "abc-123".into(),
            node_id: 3,
        };
        file.write(directory.path()).unwrap();
        assert_eq!(
            NodeFile::read(directory.path()).unwrap(),
            Some(file.clone())
        );
        assert_eq!(NodeFile::check(directory.path(), 3).unwrap(), Some(file));
        let error = NodeFile::check(directory.path(), 4).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("belongs to node 3, not --node-id 4"),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_or_oversized_node_file_is_refused() {
        let directory = tempfile::TempDir::new().unwrap();
        let path = directory.path().join(NODE_FILE_NAME);
        std::fs::write(&path, "version=1\nnode.id=1\n").unwrap();
        assert!(NodeFile::read(directory.path()).is_err(), "no cluster id");
        std::fs::write(&path, "cluster.id=x\nnode.id=one\n").unwrap();
        assert!(NodeFile::read(directory.path()).is_err(), "bad node id");
        std::fs::write(&path, "x".repeat(NODE_FILE_SIZE_MAX + 1)).unwrap();
        assert!(NodeFile::read(directory.path()).is_err(), "too large");
    }
}
