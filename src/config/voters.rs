//! The syntax of `--quorum-voters` / `quorum_voters` (Kafka's `controller.quorum.voters`):
//! `id@host:port,...`. Here, below the cluster layer, so config validation and the metadata
//! quorum (`cluster::quorum`, which re-exports [`QuorumVoter`] as its `Voter`) read it alike.
//! Runs in `main` (config) and wherever the quorum is configured.
use crate::limits::QUORUM_VOTERS_MAX;

/// One entry of the voter list: `id@host:port`, the voter's controller listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub node_id: i32,
    pub address: String,
}

/// What is wrong with a voter list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoterListError {
    #[error("bad voter list at entry {index}: expected id@host:port")]
    Syntax { index: usize },
    #[error("a voter id appears twice")]
    Duplicate,
    #[error("more voters than QUORUM_VOTERS_MAX ({QUORUM_VOTERS_MAX})")]
    TooMany,
}

/// Parses `1@h:p,2@h:p,...`: ids non-negative and distinct, each address `host:port` with a
/// non-empty host, at most [`QUORUM_VOTERS_MAX`] entries. Resolves nothing.
///
/// # Errors
/// [`VoterListError`], naming the first bad entry.
pub fn parse_quorum_voters(text: &str) -> Result<Vec<QuorumVoter>, VoterListError> {
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for (index, item) in text.split(',').enumerate() {
        let bad = VoterListError::Syntax { index };
        let (id, address) = item.trim().split_once('@').ok_or(bad.clone())?;
        let node_id = id.parse::<i32>().ok().filter(|id| *id >= 0);
        let has_port = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        let (Some(node_id), true) = (node_id, has_port) else {
            return Err(bad);
        };
        if voters.iter().any(|v| v.node_id == node_id) {
            return Err(VoterListError::Duplicate);
        }
        if voters.len() >= QUORUM_VOTERS_MAX {
            return Err(VoterListError::TooMany);
        }
        voters.push(QuorumVoter {
            node_id,
            address: address.to_string(),
        });
    }
    Ok(voters)
}
