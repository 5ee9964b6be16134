//! lantau's ledger: the byte formats, transactions and blocks, signature verification, the
//! payments state, and (with the `storage` feature) RocksDB persistence.

#![forbid(unsafe_code)]

pub mod account;
pub mod block;
pub mod crypto;
pub mod ed25519;
pub mod encoding;
pub mod genesis;
pub mod light;
pub mod merkle;
pub mod state;
pub mod state_tree;
#[cfg(feature = "storage")]
pub mod storage;
pub mod timeouts;
pub mod tx;
pub mod validators;
pub mod verify;
pub mod vote;

pub use block::{Block, BlockError, BlockHeader};
pub use crypto::{Address, Hash, Keypair, PublicKey, Signature, SignatureError};
pub use genesis::{
    Genesis, GenesisAccount, GenesisValidator, P2pEndpoint, PermissionError, Permissions,
};
pub use state::{
    Account, AccountTx, BlockExecError, ChainRules, ExecError, ExecuteError, Execution, State,
    TransferError, TxRecord,
};
pub use tx::{SignedTx, Transfer, TxBatch, TxError};
pub use validators::{Validator, ValidatorSet};
pub use vote::{CommitCertificate, CommitSig, SignedVote, Vote, VoteKind};
