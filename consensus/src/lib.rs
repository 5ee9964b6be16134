//! lantau consensus: a Tendermint-style BFT state machine with no I/O, the one [`Driver`]
//! every host runs it through, and (with the `sim` feature, for tests) the deterministic
//! simulator that tests it.
//!
//! The crate depends on `ledger` for types (blocks, votes, certificates, keys) and nothing
//! that does I/O: no tokio, libp2p or RocksDB. A host (the node, the in-process net, the
//! simulator) feeds [`Input`]s to [`Driver::handle`], answers its [`Host`] calls (persist,
//! validate, commit) and carries out the [`Output`]s it returns.
//!
//! - [`config`]: a validator's chain, timeouts and (sim only) the rule it breaks;
//! - [`input`] and [`effect`]: what goes into the state machine and what comes out;
//! - [`signing_log`]: the record of each signature, persisted before it is sent;
//! - [`state_machine`]: Algorithm 1, one function per rule, and what the paper assumes away;
//! - [`votes`]: tallies by power; [`proposer`]: whose turn; [`messages`]: what is gossiped;
//! - [`driver`]: persist before send, halt rather than vote on.

#![forbid(unsafe_code)]

pub mod config;
pub mod driver;
pub mod effect;
pub mod input;
pub mod messages;
pub mod proposer;
pub mod signing_log;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state_machine;
pub mod votes;

#[cfg(feature = "sim")]
pub use config::Mutation;
pub use config::{Config, Timeouts};
pub use driver::{Driver, Host, Output};
pub use effect::{Effect, Evidence};
pub use input::{Input, InputError, Timeout, TimeoutKind};
pub use messages::{Message, Proposal, SignedProposal};
pub use signing_log::{LockProof, SignRecord, Step};
pub use state_machine::Consensus;
