//! lantau consensus: a Tendermint-style BFT state machine with no I/O, the one [`Driver`]
//! every host runs it through, and (with the `sim` feature, for tests) the deterministic
//! simulator that tests it.
//!
//! The crate depends on `ledger` for types (blocks, votes, certificates, keys) and nothing
//! that does I/O: no tokio, libp2p or RocksDB. A host (the node, the in-process net, the
//! simulator) feeds [`Input`]s to [`Driver::handle`], answers its [`Host`] calls (persist,
//! validate, commit) and carries out the [`Output`]s it returns.

#![forbid(unsafe_code)]

pub mod driver;
pub mod io;
pub mod messages;
pub mod proposer;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state_machine;
pub mod votes;

pub use driver::{Driver, Host, Output};
#[cfg(feature = "sim")]
pub use io::Mutation;
pub use messages::{Message, Proposal, SignedProposal};
pub use state_machine::{
    Config, Consensus, Effect, Evidence, Input, InputError, LockProof, SignRecord, Step, Timeout,
    TimeoutKind, Timeouts,
};
