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
use super::rpc::{ControllerClient, ControllerRequest, ControllerResponse};
use crate::limits::{CONTROLLER_RETRY_MS, NODE_FILE_SIZE_MAX};
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
        let path = data_dir.join(NODE_FILE_NAME);
        let temporary = data_dir.join(format!("{NODE_FILE_NAME}.tmp"));
        let bad = |error: std::io::Error| MembershipError::NodeFile {
            path: path.display().to_string(),
            reason: error.to_string(),
        };
        let file = std::fs::File::create(&temporary).map_err(bad)?;
        std::io::Write::write_all(&mut &file, text.as_bytes()).map_err(bad)?;
        file.sync_all().map_err(bad)?;
        std::fs::rename(&temporary, &path).map_err(bad)?;
        std::fs::File::open(data_dir)
            .and_then(|directory| directory.sync_all())
            .map_err(bad)
    }
}

/// This broker's registration and heartbeats. See the module docs.
pub struct Membership {
    client: Rc<ControllerClient>,
    store: MetadataStore,
    request: RegistrationRequest,
    broker_epoch: Cell<Option<i64>>,
    fenced: Cell<bool>,
    heartbeat_interval: Duration,
}

impl Membership {
    #[must_use]
    pub fn new(
        client: Rc<ControllerClient>,
        store: MetadataStore,
        request: RegistrationRequest,
        heartbeat_interval: Duration,
    ) -> Self {
        Self {
            client,
            store,
            request,
            broker_epoch: Cell::new(None),
            fenced: Cell::new(true),
            heartbeat_interval,
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
    ) -> Result<ControllerResponse, MembershipError> {
        let deadline = Instant::now() + timeout;
        // Bounded by the deadline.
        loop {
            let last = match self.client.send(request).await {
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
        let request = ControllerRequest::Register(self.request.clone());
        let ControllerResponse::Registered { broker_epoch } =
            self.request(&request, timeout).await?
        else {
            return Err(unexpected("Register"));
        };
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
        let answer = self
            .request(&ControllerRequest::Heartbeat(heartbeat), timeout)
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
        // Bounded by the broker's life: ends when `stop` is set at shutdown.
        while !stop.get() {
            compio::time::sleep(self.heartbeat_interval).await;
            if stop.get() {
                break;
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
    /// broker leads nothing (and fenced it), or `timeout` passes.
    pub async fn shut_down(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        // Bounded by the deadline.
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.heartbeat(true, left).await {
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
