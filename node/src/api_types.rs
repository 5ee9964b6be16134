//! The JSON bodies of the HTTP API, shared by the server (`api`) and its clients, so the two
//! cannot drift apart.

pub use crate::commit_log::CommitInfo;
use ledger::storage::TxRecord;
use ledger::{Block, CommitCertificate, Hash, PublicKey, Receipt};
use serde::{Deserialize, Serialize};

/// Every error: a stable `code` for programs and a `message` for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// `POST /v1/txs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Hex of the encoded `SignedTx`.
    pub tx: String,
}

/// `POST /v1/txs` without `wait_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Submitted {
    pub hash: Hash,
}

/// `POST /v1/txs/batch`: how many were admitted, and why each of the others was not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchSubmitted {
    pub accepted: usize,
    pub rejected: Vec<BatchRejection>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchRejection {
    /// Position in the submitted batch.
    pub index: usize,
    pub code: String,
    pub message: String,
}

/// `GET /v1/txs/{hash}`, and `POST /v1/txs?wait_ms=N`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TxInfo {
    Pending {
        hash: Hash,
    },
    Committed {
        hash: Hash,
        height: u64,
        index: u32,
        receipt: Receipt,
    },
}

impl TxInfo {
    pub fn committed(hash: Hash, record: TxRecord) -> Self {
        TxInfo::Committed {
            hash,
            height: record.height,
            index: record.index,
            receipt: record.receipt,
        }
    }
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeStatus {
    pub chain_id: String,
    /// This node's validator key, if it is one.
    pub validator: Option<PublicKey>,
    /// The height being decided.
    pub height: u64,
    pub committed_height: u64,
    pub round: u32,
    pub peers: usize,
    pub mempool: usize,
    pub syncing: bool,
    /// Set once the validator stopped taking part (it could not commit a decided block or
    /// persist a signature): why, and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
}

/// One entry of `GET /v1/peers`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerView {
    pub peer_id: String,
    /// Gossipsub score; negative after rejected messages.
    pub score: f64,
}

/// `GET /v1/blocks/{height}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockView {
    pub block: Block,
    pub certificate: CommitCertificate,
}
