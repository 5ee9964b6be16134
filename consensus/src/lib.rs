//! lantau consensus: a Tendermint-style BFT state machine with no I/O, and the deterministic
//! simulator that tests it.
//!
//! The crate depends on `ledger` for types (blocks, votes, certificates, keys) and nothing
//! that does I/O: no tokio, libp2p or RocksDB. A driver (the node, or [`sim`]) feeds
//! [`Input`]s to [`Consensus::handle`] and carries out the [`Effect`]s in order.

pub mod driver;
pub mod io;
pub mod messages;
pub mod proposer;
pub mod sim;
pub mod state_machine;
pub mod votes;

pub use driver::{Driver, Host, Output};
pub use messages::{Message, Proposal, SignedProposal};
pub use state_machine::{
    Config, Consensus, Effect, Evidence, Input, InputError, LockProof, Mutation, SignRecord, Step,
    Timeout, TimeoutKind, Timeouts,
};
