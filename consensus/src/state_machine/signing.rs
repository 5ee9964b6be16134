//! Signing: a validator never signs two conflicting messages, not even across a crash.
//!
//! Every signature goes through [`Consensus::send`]: its [`SignRecord`] (with the lock at the
//! time, and the lock proof on a locking precommit) is emitted as [`Effect::Persist`] before
//! the message is broadcast. The guard [`SignRecord::permits`] lets a validator sign only at a
//! (height, round, step) position later than its last signature, or the identical message
//! again. A restarted validator is rebuilt from the records of its height ([`Consensus::restore`]):
//! round and lock from the last, its own messages re-sent as signed, and the locked block with
//! its prevotes from the lock proof, so it can still re-propose the block and prove its lock.

use ledger::Vote;
use ledger::{Block, Hash, VoteKind};

use super::Consensus;
use crate::effect::Effect;
use crate::messages::{Message, Proposal};
use crate::signing_log::{LockProof, SignRecord, Step};

impl Consensus {
    /// Rebuild from the persisted records of before a restart (see [`Consensus::new`]).
    pub(super) fn restore(&mut self, log: Vec<SignRecord>) {
        let last = log.last().cloned();
        let (round, locked) = match &last {
            Some(r) if r.height == self.height => (r.round, r.locked),
            _ => (0, None),
        };
        #[cfg(feature = "sim")]
        let locked =
            locked.filter(|_| self.config.mutation != crate::config::Mutation::ForgetLockOnRestart);
        self.round = round;
        self.locked = locked;
        self.last_signed = last;
        let height = self.height;
        for record in log.into_iter().filter(|r| r.height == height) {
            if let Message::Proposal(p) = &record.message {
                self.verdicts.insert(p.proposal.block.hash(), true);
            }
            if let (Some(proof), Some(lock)) = (record.lock_proof, self.locked) {
                let hash = proof.block.hash();
                if lock.1 == hash {
                    self.blocks.insert(hash, proof.block);
                    self.verdicts.insert(hash, true);
                    self.valid = Some(lock);
                    for v in proof.prevotes {
                        self.votes.add(v);
                    }
                }
            }
            self.own_messages.push(record.message.clone());
            self.accept(record.message, &mut Vec::new());
        }
    }

    /// L19: broadcast the proposal of this round.
    pub(super) fn propose(&mut self, block: Block, pol_round: Option<u32>, fx: &mut Vec<Effect>) {
        // Proposed before a restart: that proposal stands (re-sent as signed), whatever the
        // restored state would choose now.
        let round = self.round;
        if let Some(sent) = self
            .own_messages
            .iter()
            .find(|m| matches!(m, Message::Proposal(p) if p.proposal.round == round))
        {
            fx.push(Effect::Broadcast(sent.clone()));
            return;
        }
        let hash = block.hash();
        let Some(key) = &self.key else { return };
        let proposal = Proposal {
            height: self.height,
            round: self.round,
            pol_round,
            block,
            proposer: key.public(),
        };
        let msg = Message::Proposal(Box::new(proposal.sign(&self.config.chain_id, key)));
        if !self.may_send(Step::Propose, &msg) {
            return;
        }
        // Our own block is valid by construction.
        self.verdicts.insert(hash, true);
        self.send(Step::Propose, Some(hash), msg, fx);
    }

    /// A prevote or precommit for `block` (nil: `None`) in this round.
    pub(super) fn vote(&mut self, kind: VoteKind, block: Option<Hash>, fx: &mut Vec<Effect>) {
        let step = match kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        let Some(key) = &self.key else { return };
        let vote = Vote {
            height: self.height,
            round: self.round,
            kind,
            block,
            validator: key.public(),
        };
        let msg = Message::Vote(vote.sign(&self.config.chain_id, key));
        if !self.may_send(step, &msg) {
            return;
        }
        self.send(step, block, msg, fx);
    }

    fn may_send(&self, step: Step, msg: &Message) -> bool {
        if broken!(self, NoSigningGuard) {
            return self.key.is_some();
        }
        self.key.is_some()
            && self
                .last_signed
                .as_ref()
                .is_none_or(|last| last.permits((self.height, self.round, step), msg))
    }

    /// Persist, then broadcast, then count our own message. A message identical to one
    /// already sent (same position and value, after a restart) is only re-sent.
    fn send(&mut self, step: Step, value: Option<Hash>, msg: Message, fx: &mut Vec<Effect>) {
        if self.own_messages.contains(&msg) {
            fx.push(Effect::Broadcast(msg));
            return;
        }
        let record = SignRecord {
            height: self.height,
            round: self.round,
            step,
            value,
            locked: self.locked,
            message: msg.clone(),
            lock_proof: self.lock_proof(step, value),
        };
        fx.push(Effect::Persist(Box::new(record.clone())));
        self.last_signed = Some(record);
        fx.push(Effect::Broadcast(msg.clone()));
        self.own_messages.push(msg.clone());
        self.accept(msg, fx);
    }

    /// The proof to persist with a precommit that locks on `value`.
    fn lock_proof(&self, step: Step, value: Option<Hash>) -> Option<LockProof> {
        let (round, hash) = self.locked?;
        if step != Step::Precommit || round != self.round || value != Some(hash) {
            return None;
        }
        Some(LockProof {
            block: self.blocks.get(&hash)?.clone(),
            prevotes: self.votes.votes_for(round, VoteKind::Prevote, Some(hash)),
        })
    }
}
