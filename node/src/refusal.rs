//! Why a transaction is refused: one vocabulary for every door a transaction comes in by (a
//! client, a batch, gossip) and every layer that refuses it (the admission gate, the
//! verifier, the state, the mempool). Each refusal has the stable [`ErrorCode`] clients and
//! metrics see; only `api` maps codes to HTTP statuses.

use interface::http::ErrorCode;
use ledger::{Hash, TransferError, TxError};

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    #[error("a transfer must move at least 1 unit")]
    ZeroAmount,
    #[error("a transfer to its own sender changes nothing; send to another account")]
    SelfTransfer,
    #[error("the sender has no account on this chain; fund it first")]
    UnknownSender,
    #[error(transparent)]
    NotPermitted(#[from] ledger::PermissionError),
    #[error("the sender holds {balance}, less than the {amount} it sends")]
    InsufficientFunds { balance: u64, amount: u64 },
    #[error("a transaction with nonce {nonce} from this sender is already pending")]
    NoncePending { nonce: u64 },
    #[error(
        "nonce {got} is too far ahead: this sender's next missing nonce is {next}; send that first"
    )]
    NonceGap { got: u64, next: u64 },
    #[error("this sender already has {limit} transactions waiting; retry after some commit")]
    SenderLimit { limit: usize },
    #[error(
        "the mempool is full ({txs} transactions waiting, more than this validator commits in mempool_max_drain_ms or its count and byte bounds); retry later"
    )]
    MempoolFull { txs: usize, bytes: usize },
    #[error("nonce {got} was already used by this account (next is {next})")]
    StaleNonce { got: u64, next: u64 },
    #[error("this validator has halted and admits nothing ({0}); send to another node")]
    Halted(String),
}

impl From<TransferError> for Refusal {
    /// Admission refuses what execution would: the same rules, under the API's names.
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::WrongChain { expected, got } => {
                Refusal::Invalid(TxError::WrongChain { expected, got })
            }
            TransferError::ZeroAmount => Refusal::ZeroAmount,
            TransferError::SelfTransfer => Refusal::SelfTransfer,
            TransferError::NotPermitted(p) => Refusal::NotPermitted(p),
            TransferError::UnknownSender => Refusal::UnknownSender,
        }
    }
}

impl Refusal {
    /// The stable code of the API's error body and of the `refused` metric's label.
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Invalid(TxError::Signature(_)) => ErrorCode::BadSignature,
            Refusal::Invalid(TxError::WrongChain { .. }) => ErrorCode::WrongChain,
            Refusal::Invalid(_) => ErrorCode::MalformedTx,
            Refusal::Duplicate(_) => ErrorCode::Duplicate,
            Refusal::ZeroAmount => ErrorCode::ZeroAmount,
            Refusal::SelfTransfer => ErrorCode::SelfTransfer,
            Refusal::UnknownSender => ErrorCode::UnknownSender,
            Refusal::NotPermitted(ledger::PermissionError::Sender(_)) => {
                ErrorCode::SenderNotPermitted
            }
            Refusal::NotPermitted(ledger::PermissionError::Recipient(_)) => {
                ErrorCode::RecipientNotPermitted
            }
            Refusal::StaleNonce { .. } => ErrorCode::StaleNonce,
            Refusal::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
            Refusal::MempoolFull { .. } => ErrorCode::MempoolFull,
            Refusal::SenderLimit { .. } => ErrorCode::SenderLimit,
            Refusal::NoncePending { .. } => ErrorCode::NoncePending,
            Refusal::NonceGap { .. } => ErrorCode::NonceGap,
            Refusal::Halted(_) => ErrorCode::NodeStopped,
        }
    }
}
