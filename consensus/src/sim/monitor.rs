//! Invariants over what validators sign, checked as they sign it: the accountability view
//! (every signature is seen by the monitor the moment it exists, whether or not it is ever
//! delivered).
//!
//! For honest validators it checks, at each signature:
//! - **no double signing**: one message per (height, round, step);
//! - **precommits are justified**: a precommit for a block comes after prevotes for it at
//!   that round from a quorum of voting power were signed;
//! - **locks are kept**: after precommitting `v` at round `r`, a prevote for another block at a
//!   later round `r'` needs a quorum of prevotes for that block at some round in `[r, r')`
//!   (the proof-of-lock that rule 28 demands), i.e. no amnesia;
//! - **proposals respect the lock**: a locked proposer proposes another block only with a
//!   proof-of-lock round at or above its lock, and any claimed proof-of-lock round has that
//!   quorum of prevotes.
//!
//! Quorums here are true quorums (more than two thirds of the power), whatever mutation the
//! validators run, and count every validator's prevotes, faulty ones included: an honest
//! validator may rightly rely on them.

use std::collections::{HashMap, HashSet};

use ledger::{Hash, VoteKind};

use super::Violation;
use crate::messages::Message;
use crate::signing_log::Step;

pub struct Monitor {
    powers: Vec<u64>,
    quorum: u64,
    /// Keys that signed a prevote, by (height, round, block).
    prevotes: HashMap<(u64, u32, Option<Hash>), HashSet<usize>>,
    /// Each honest key's messages by (height, round, step).
    signed: HashMap<(usize, u64, u32, Step), Message>,
    /// Each honest key's last precommit for a block at a height: its lock.
    locks: HashMap<(usize, u64), (u32, Hash)>,
}

impl Monitor {
    pub fn new(powers: Vec<u64>) -> Self {
        let total: u64 = powers.iter().sum();
        Self {
            powers,
            quorum: 2 * total / 3 + 1,
            prevotes: HashMap::new(),
            signed: HashMap::new(),
            locks: HashMap::new(),
        }
    }

    fn polka(&self, height: u64, round: u32, block: Hash) -> bool {
        let power: u64 = self
            .prevotes
            .get(&(height, round, Some(block)))
            .map_or(0, |keys| keys.iter().map(|k| self.powers[*k]).sum());
        power >= self.quorum
    }

    /// `key` (of node `node`, honest or not) signed `msg`.
    pub fn signed(
        &mut self,
        node: usize,
        key: usize,
        honest: bool,
        msg: &Message,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        let (height, round) = (msg.height(), msg.round());
        if honest {
            let step = match msg {
                Message::Proposal(_) => Step::Propose,
                Message::Vote(v) if v.vote.kind == VoteKind::Prevote => Step::Prevote,
                Message::Vote(_) => Step::Precommit,
            };
            match self.signed.get(&(key, height, round, step)) {
                Some(first) if first != msg => out.push(Violation::DoubleSign {
                    node,
                    height,
                    round,
                    step,
                }),
                Some(_) => {}
                None => {
                    self.signed.insert((key, height, round, step), msg.clone());
                }
            }
            if let Some(why) = self.unjustified(key, msg) {
                out.push(Violation::Unjustified {
                    node,
                    height,
                    round,
                    why,
                });
            }
            if let Message::Vote(v) = msg
                && v.vote.kind == VoteKind::Precommit
                && let Some(block) = v.vote.block
            {
                self.locks.insert((key, height), (round, block));
            }
        }
        if let Message::Vote(v) = msg
            && v.vote.kind == VoteKind::Prevote
        {
            self.prevotes
                .entry((height, round, v.vote.block))
                .or_default()
                .insert(key);
        }
        out
    }

    fn unjustified(&self, key: usize, msg: &Message) -> Option<&'static str> {
        let (height, round) = (msg.height(), msg.round());
        let lock = self.locks.get(&(key, height)).copied();
        match msg {
            Message::Vote(v) => {
                let block = v.vote.block?;
                match v.vote.kind {
                    VoteKind::Precommit if !self.polka(height, round, block) => {
                        Some("precommit without a quorum of prevotes")
                    }
                    VoteKind::Prevote => match lock {
                        Some((lr, locked)) if locked != block && lr < round => {
                            let unlocked = (lr..round).any(|q| self.polka(height, q, block));
                            (!unlocked)
                                .then_some("prevote against its lock without a newer proof-of-lock")
                        }
                        _ => None,
                    },
                    VoteKind::Precommit => None,
                }
            }
            Message::Proposal(p) => {
                let block = p.proposal.block.hash();
                if let Some(vr) = p.proposal.pol_round
                    && !self.polka(height, vr, block)
                {
                    return Some("proposal claims a proof-of-lock round without its quorum");
                }
                match lock {
                    Some((lr, locked)) if locked != block => {
                        (p.proposal.pol_round.is_none_or(|vr| vr < lr)).then_some(
                            "locked proposer proposes another block without a newer proof-of-lock",
                        )
                    }
                    _ => None,
                }
            }
        }
    }
}
