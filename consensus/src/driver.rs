//! The one driver every host runs: the networked node, the in-process net and the simulator.
//!
//! [`Consensus`] only says what must happen; the driver carries out the effects that must
//! happen *before anything else* (make a signature durable, judge a block, commit a decided
//! block) through a [`Host`], in order, and hands back only what goes out ([`Output`]):
//! messages, timers, requests to build a block. So "persist before send" and "halt rather
//! than vote on" are enforced here, once, for every host:
//!
//! - a signed message is returned only after its [`SignRecord`] was persisted; if persisting
//!   fails, nothing after it is returned and the driver halts;
//! - a block is committed before the next height's effects run (they may validate a block on
//!   top of it); if the commit fails, the driver halts;
//! - a halted driver takes no input and produces nothing.

use std::collections::VecDeque;
use std::fmt::Display;

use ledger::{Block, CommitCertificate};

use crate::effect::{Effect, Evidence};
use crate::input::{Input, InputError, Timeout};
use crate::messages::Message;
use crate::signing_log::SignRecord;
use crate::state_machine::Consensus;

/// What the driver needs from the machine it runs on, answered synchronously.
pub trait Host {
    type Error: Display;
    /// Make `record` durable (a crash after this returns must not lose it).
    fn persist(&mut self, record: &SignRecord) -> Result<(), Self::Error>;
    /// Judge a proposed block for `height`: structure, signatures, execution on our tip.
    /// `Err` when the host cannot judge at all (it cannot read its own tip): the driver
    /// halts, since voting nil on every proposal forever is a validator that cannot commit
    /// pretending to take part.
    fn validate(&mut self, height: u64, block: &Block) -> Result<bool, Self::Error>;
    /// Commit a decided block durably; consensus has already moved to the next height.
    fn commit(&mut self, block: Block, certificate: CommitCertificate) -> Result<(), Self::Error>;
}

/// What must go out, in order, once an input has been handled.
#[derive(Debug, Clone)]
pub enum Output {
    /// A signed message; its signing record is already durable.
    Broadcast(Message),
    /// Feed [`Input::Timeout`] back after `after_ms`.
    ScheduleTimeout { timeout: Timeout, after_ms: u64 },
    /// Build a block for `(height, round)` and feed it back as [`Input::BlockToPropose`]
    /// (the host may wait first, e.g. for a block interval or transactions).
    BuildBlock { height: u64, round: u32 },
    /// Proof that a validator equivocated.
    Evidence(Evidence),
}

pub struct Driver {
    consensus: Consensus,
    halted: Option<String>,
}

impl Driver {
    /// `consensus` must have been built from the host's persisted signing log (see
    /// [`Consensus::new`]): the driver cannot check what it was not given.
    pub fn new(consensus: Consensus) -> Self {
        Self {
            consensus,
            halted: None,
        }
    }

    pub fn consensus(&self) -> &Consensus {
        &self.consensus
    }

    /// Why the driver stopped, once it has.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// Stop for good: the host found it cannot keep a promise (a block it cannot read or
    /// build on). The first reason is kept.
    pub fn halt(&mut self, reason: impl Into<String>) {
        if self.halted.is_none() {
            self.halted = Some(reason.into());
        }
    }

    /// Enter the first round (re-sending what the signing log says was already signed).
    pub fn start<H: Host>(&mut self, host: &mut H) -> Vec<Output> {
        if self.halted.is_some() {
            return vec![];
        }
        let effects = self.consensus.start();
        self.run(effects, host)
    }

    /// Handle one input. A refused input changes nothing and returns why; a halted driver
    /// returns no outputs.
    pub fn handle<H: Host>(
        &mut self,
        input: Input,
        host: &mut H,
    ) -> Result<Vec<Output>, InputError> {
        if self.halted.is_some() {
            return Ok(vec![]);
        }
        let effects = self.consensus.handle(input)?;
        Ok(self.run(effects, host))
    }

    fn run<H: Host>(&mut self, effects: Vec<Effect>, host: &mut H) -> Vec<Output> {
        let mut queue: VecDeque<Effect> = effects.into();
        let mut out = Vec::new();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Persist(record) => {
                    if let Err(e) = host.persist(&record) {
                        self.halt(format!(
                            "cannot make a signature durable, so it was not sent: {e}"
                        ));
                        break;
                    }
                }
                Effect::Broadcast(msg) => out.push(Output::Broadcast(msg)),
                Effect::ScheduleTimeout { timeout, after_ms } => {
                    out.push(Output::ScheduleTimeout { timeout, after_ms })
                }
                Effect::BuildBlock { height, round } => {
                    out.push(Output::BuildBlock { height, round })
                }
                Effect::ValidateBlock { height, block } => {
                    let valid = match host.validate(height, &block) {
                        Ok(valid) => valid,
                        Err(e) => {
                            self.halt(format!("cannot judge the proposal for {height}: {e}"));
                            break;
                        }
                    };
                    let verdict = Input::BlockVerdict {
                        block_hash: block.hash(),
                        valid,
                    };
                    // A verdict for a block consensus no longer waits for is refused: fine.
                    if let Ok(more) = self.consensus.handle(verdict) {
                        queue.extend(more);
                    }
                }
                Effect::Decide { block, certificate } => {
                    let height = block.header.height;
                    if let Err(e) = host.commit(block, certificate) {
                        self.halt(format!("cannot commit decided block {height}: {e}"));
                        break;
                    }
                }
                Effect::Evidence(e) => out.push(Output::Evidence(e)),
            }
        }
        out
    }
}
