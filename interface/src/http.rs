//! The JSON bodies of the HTTP API, shared by the server (`api`) and its clients, so the two
//! cannot drift apart.

use std::fmt;

use ledger::{Address, Block, CommitCertificate, Hash, PublicKey, TxRecord};
use serde::{Deserialize, Serialize};

/// Most entries one `/v1/commits` answer carries.
pub const MAX_COMMITS_PER_QUERY: usize = 256;

/// Every error: a stable `code` for programs and a `message` for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

/// The stable error codes of the API, the same type on the server and in its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadAddress,
    BadBatch,
    BadBody,
    BadHash,
    BadHeight,
    BadHex,
    BadJson,
    BadQuery,
    BadSignature,
    BodyTooLarge,
    /// The request bodies in flight already fill the node's byte budget.
    Busy,
    InsufficientFunds,
    MalformedTx,
    MempoolFull,
    MethodNotAllowed,
    NodeStopped,
    NonceGap,
    NoncePending,
    NotFound,
    RecipientNotPermitted,
    RequestTimeout,
    SelfTransfer,
    SenderNotPermitted,
    SenderLimit,
    StaleNonce,
    StorageError,
    UnknownSender,
    WrongChain,
    ZeroAmount,
    /// A transaction already pending (only in batch answers).
    Duplicate,
    /// The endpoint needs the node's API token (`Authorization: Bearer ...`).
    Unauthorized,
    /// A proof was asked for a height whose state this node no longer keeps (or has not
    /// committed yet).
    HeightNotKept,
    /// An account's history was asked of a node that does not index it
    /// (`index_account_history = false`).
    HistoryNotIndexed,
    /// A code this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code a server sends (the README's error table lists exactly these).
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::BadAddress,
        ErrorCode::BadBatch,
        ErrorCode::BadBody,
        ErrorCode::BadHash,
        ErrorCode::BadHeight,
        ErrorCode::BadHex,
        ErrorCode::BadJson,
        ErrorCode::BadQuery,
        ErrorCode::BadSignature,
        ErrorCode::BodyTooLarge,
        ErrorCode::Busy,
        ErrorCode::InsufficientFunds,
        ErrorCode::MalformedTx,
        ErrorCode::MempoolFull,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NodeStopped,
        ErrorCode::NonceGap,
        ErrorCode::NoncePending,
        ErrorCode::NotFound,
        ErrorCode::RecipientNotPermitted,
        ErrorCode::RequestTimeout,
        ErrorCode::SelfTransfer,
        ErrorCode::SenderNotPermitted,
        ErrorCode::SenderLimit,
        ErrorCode::StaleNonce,
        ErrorCode::StorageError,
        ErrorCode::UnknownSender,
        ErrorCode::WrongChain,
        ErrorCode::ZeroAmount,
        ErrorCode::Duplicate,
        ErrorCode::Unauthorized,
        ErrorCode::HeightNotKept,
        ErrorCode::HistoryNotIndexed,
    ];

    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadAddress => "bad_address",
            ErrorCode::BadBatch => "bad_batch",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadHash => "bad_hash",
            ErrorCode::BadHeight => "bad_height",
            ErrorCode::BadHex => "bad_hex",
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadQuery => "bad_query",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Busy => "busy",
            ErrorCode::InsufficientFunds => "insufficient_funds",
            ErrorCode::MalformedTx => "malformed_tx",
            ErrorCode::MempoolFull => "mempool_full",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NodeStopped => "node_stopped",
            ErrorCode::NonceGap => "nonce_gap",
            ErrorCode::NoncePending => "nonce_pending",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RecipientNotPermitted => "recipient_not_permitted",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::SenderNotPermitted => "sender_not_permitted",
            ErrorCode::SelfTransfer => "self_transfer",
            ErrorCode::UnknownSender => "unknown_sender",
            ErrorCode::ZeroAmount => "zero_amount",
            ErrorCode::SenderLimit => "sender_limit",
            ErrorCode::StaleNonce => "stale_nonce",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::WrongChain => "wrong_chain",
            ErrorCode::Duplicate => "duplicate",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::HeightNotKept => "height_not_kept",
            ErrorCode::HistoryNotIndexed => "history_not_indexed",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// Refusals that clear by themselves: retry the same transaction later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::MempoolFull | ErrorCode::SenderLimit | ErrorCode::NonceGap | ErrorCode::Busy
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One committed block as this node saw it (`GET /v1/commits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub height: u64,
    pub round: u32,
    /// The proposer's clock when it built the block (ms since the Unix epoch).
    pub proposed_at_ms: u64,
    /// This node's clock when the block was durably committed.
    pub committed_at_ms: u64,
    pub txs: Vec<Hash>,
    /// The validator that proposed it.
    pub proposer: PublicKey,
}

impl CommitInfo {
    pub fn new(block: &Block, txs: Vec<Hash>, committed_at_ms: u64) -> Self {
        Self {
            height: block.header.height,
            round: block.header.round,
            proposed_at_ms: block.header.timestamp_ms,
            committed_at_ms,
            txs,
            proposer: block.header.proposer,
        }
    }
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
    pub code: ErrorCode,
    pub message: String,
}

/// `GET /v1/txs/{hash}`, and `POST /v1/txs?wait_ms=N`. Committed means executed: a block
/// holding a transfer that does not execute is invalid, so there is no failed receipt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TxInfo {
    Pending { hash: Hash },
    Committed { hash: Hash, height: u64, index: u32 },
}

impl TxInfo {
    pub fn committed(hash: Hash, record: TxRecord) -> Self {
        TxInfo::Committed {
            hash,
            height: record.height,
            index: record.index,
        }
    }
}

/// `GET /v1/accounts/{address}?prove=true[&height=H]`: the account at a height (none: it
/// has no account there) and what proves it to a client that trusts only the genesis. The
/// three proof parts are hex of their `ledger::encoding` bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountProofView {
    pub address: Address,
    pub height: u64,
    pub account: Option<ledger::Account>,
    /// The block header at `height`, whose `state_root` the proof leads to.
    pub header: String,
    /// The commit certificate of that header.
    pub certificate: String,
    /// The account's path in the state tree (inclusion, or exclusion when `account` is
    /// null).
    pub proof: String,
}

/// `GET /v1/txs/{hash}?prove=true` for a committed transaction: it, its block's header and
/// certificate, and its Merkle path to the header's `tx_root` (hex, `ledger::encoding`).
/// Inclusion is the receipt: a committed block holds only transfers that executed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxProofView {
    pub hash: Hash,
    pub height: u64,
    pub index: u32,
    pub tx: String,
    pub header: String,
    pub certificate: String,
    pub path: String,
}

/// `GET /v1/txs/{hash}?prove=true`: a proof when the transaction is committed, else the
/// plain answer (a pending transaction has nothing to prove yet).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TxAnswer {
    Proved(TxProofView),
    Unproved(TxInfo),
}

/// `GET /v1/accounts/{address}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountView {
    pub balance: u64,
    /// The committed nonce: what the next transfer must carry to execute next.
    pub nonce: u64,
    /// The nonce a new transfer should carry at this node: past the committed one and the
    /// transfers it holds pending in sequence.
    pub next_nonce: u64,
    /// Whether the account exists (funded in genesis or paid since). One that does not
    /// shows zeros; a transfer to it opens it only where the chain allows that.
    #[serde(default = "exists_unless_told")]
    pub exists: bool,
}

/// A node from before `exists` was answered: assume the account exists rather than warn.
fn exists_unless_told() -> bool {
    true
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
    /// The height from which `GET /v1/accounts/{address}/txs` lists every transfer (1: a
    /// validator fills any gap its index left when it starts); null when it keeps no history.
    #[serde(default)]
    pub history_indexed_from: Option<u64>,
}

/// `GET /readiness`: whether this node is fit to serve and vote (503 when not), and why not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// What keeps it from being ready: `halted`, `syncing`, `too_few_peers`.
    pub reasons: Vec<String>,
    pub peers: usize,
    pub min_peers: usize,
    pub syncing: bool,
    pub committed_height: u64,
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

/// `GET /v1/mempool`: what waits for a block at this node, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MempoolView {
    /// Every transaction held, and their encoded bytes (not only those listed).
    pub txs: usize,
    pub bytes: usize,
    /// The bounds it admits up to now (`mempool_max_txs`, lower while the chain drains
    /// slowly; `mempool_max_bytes`).
    pub max_txs: usize,
    pub max_bytes: usize,
    /// Up to the request's `limit`, in arrival order.
    pub pending: Vec<PendingTx>,
}

/// One transaction in [`MempoolView`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingTx {
    pub hash: Hash,
    pub from: Address,
    pub to: Address,
    pub amount: u64,
    pub nonce: u64,
    /// False while it waits for an earlier nonce of its sender (it cannot go in a block yet).
    pub ready: bool,
    /// The height being decided when it arrived.
    pub arrived_at_height: u64,
}

/// `GET /v1/events`, event `block`: a block this node committed (as [`CommitInfo`], with
/// the count of its transactions instead of their hashes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockEvent {
    pub height: u64,
    pub round: u32,
    pub txs: usize,
    pub proposed_at_ms: u64,
    pub committed_at_ms: u64,
}

impl From<&CommitInfo> for BlockEvent {
    fn from(c: &CommitInfo) -> Self {
        Self {
            height: c.height,
            round: c.round,
            txs: c.txs.len(),
            proposed_at_ms: c.proposed_at_ms,
            committed_at_ms: c.committed_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_read_the_same_in_json_and_in_text() {
        for code in [
            ErrorCode::BadAddress,
            ErrorCode::MempoolFull,
            ErrorCode::NodeStopped,
            ErrorCode::StorageError,
            ErrorCode::WrongChain,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let names: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are distinct");
        // A newer server's code does not break an older client.
        let e: ApiError = serde_json::from_str(r#"{"code":"brand_new","message":"m"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
    }

    /// The README's error table lists exactly the codes a server sends.
    #[test]
    fn readme_error_table_matches_the_codes() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md at the repository root");
        let section = readme
            .split("### Error codes")
            .nth(1)
            .expect("README has an \"Error codes\" section");
        let listed: std::collections::BTreeSet<&str> = section
            .lines()
            .skip_while(|l| !l.starts_with("| `"))
            .take_while(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let codes: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, codes);
    }
}
