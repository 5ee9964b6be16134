//! Which messages the state machine takes in: the checks and bounds the paper leaves out.
//!
//! A message is refused (with an [`InputError`], nothing changed) when its signer is no
//! validator, its height is past or more than one ahead, its round is too far ahead, it is an
//! old round's proposal, its signer already fills its budget of future rounds, its proposer
//! is wrong or its signature does not verify. Next-height messages are buffered within a
//! per-validator budget and taken in when the height starts. What is kept is bounded per
//! validator, so a Byzantine one cannot make an honest one hold more than a few blocks.

use std::collections::HashSet;

use ledger::{CommitCertificate, Hash};

use super::Consensus;
use crate::effect::{Effect, Evidence};
use crate::input::InputError;
use crate::messages::Message;
use crate::proposer::proposer;
use crate::votes::Added;

/// Messages for the next height kept per validator while this height finishes: enough for a
/// few rounds, small enough that a Byzantine validator cannot crowd out the others.
const MAX_BUFFERED_PER_VALIDATOR: usize = 16;
/// Of those, proposals (which carry whole blocks, up to the gossip limit): an honest proposer
/// sends one per round it is in.
const MAX_BUFFERED_PROPOSALS_PER_VALIDATOR: usize = 2;
/// Rounds above ours in which one validator's messages are kept. A correct validator is in one
/// round at a time; one ahead of us re-sends its earlier rounds' votes, and f+1 of them in a
/// round make us skip to it, which turns those rounds into current ones and frees the budget.
/// Without this bound a Byzantine proposer could make us hold a full block for each of the
/// `MAX_ROUNDS_AHEAD` rounds it is proposer of.
pub const MAX_FUTURE_ROUNDS_PER_VALIDATOR: usize = 4;
/// Rounds ahead of ours for which messages are kept. A Byzantine validator could otherwise
/// make us store votes for millions of rounds; honest validators are never this far apart
/// (f+1 of them ahead make us skip to their round).
pub const MAX_ROUNDS_AHEAD: u32 = 1_000;
/// Rounds behind ours whose proposals (and blocks) are kept. A proposer leads one round in n,
/// so without this bound a long stall piles up one full block per round it led. Older
/// proposals are dropped unless they hold our lock, our valid value or a decided value; a
/// decision in a round this old is learnt by block sync instead.
pub const MAX_PAST_ROUNDS: u32 = 4;

impl Consensus {
    pub(super) fn on_message(
        &mut self,
        msg: Message,
        fx: &mut Vec<Effect>,
    ) -> Result<(), InputError> {
        let signer = msg.signer();
        if self.validators.index_of(&signer).is_none() {
            return Err(InputError::UnknownValidator(signer));
        }
        let h = msg.height();
        if h < self.height {
            return Err(InputError::StaleHeight {
                current: self.height,
                got: h,
            });
        }
        if h > self.height + 1 {
            return Err(InputError::FarFuture {
                current: self.height,
                got: h,
            });
        }
        // Gossip delivers the same message many times: skip the signature check for a copy of
        // one already counted.
        if h == self.height && self.already_counted(&msg) {
            return Ok(());
        }
        if msg.round() > self.round.saturating_add(MAX_ROUNDS_AHEAD) {
            return Err(InputError::FarFutureRound {
                current: self.round,
                got: msg.round(),
            });
        }
        if h == self.height
            && matches!(msg, Message::Proposal(_))
            && msg.round() < self.oldest_kept_round()
        {
            return Err(InputError::FarPastRound {
                current: self.round,
                got: msg.round(),
            });
        }
        if h == self.height && msg.round() > self.round {
            let rounds = self.votes.future_rounds_of(&signer, self.round);
            if rounds.len() >= MAX_FUTURE_ROUNDS_PER_VALIDATOR && !rounds.contains(&msg.round()) {
                return Err(InputError::FutureRoundsFull {
                    validator: signer,
                    current: self.round,
                    got: msg.round(),
                    limit: MAX_FUTURE_ROUNDS_PER_VALIDATOR,
                });
            }
        }
        self.verify_message(&msg)?;
        // A third (or later) block for one round from its proposer: the evidence is already
        // out, and a correct validator never sends even a second, so it is refused as
        // misbehaviour (its relay is penalised) rather than forwarded again.
        if let Message::Proposal(p) = &msg
            && h == self.height
            && self.proposal_evidence.contains(&p.proposal.round)
            && self
                .proposals
                .get(&p.proposal.round)
                .is_some_and(|first| first.proposal.block.hash() != p.proposal.block.hash())
        {
            return Err(InputError::ExtraProposal {
                proposer: signer,
                round: p.proposal.round,
            });
        }
        if h == self.height + 1 {
            self.buffer_next_height(msg);
            return Ok(());
        }
        self.accept(msg, fx);
        Ok(())
    }

    /// A block others decided at our height, with the certificate that proves it.
    pub(super) fn on_synced_block(
        &mut self,
        block: ledger::Block,
        certificate: CommitCertificate,
        fx: &mut Vec<Effect>,
    ) -> Result<(), InputError> {
        if block.header.height != self.height {
            return Err(InputError::StaleHeight {
                current: self.height,
                got: block.header.height,
            });
        }
        certificate.verify(
            &self.config.chain_id,
            self.height,
            &block.hash(),
            &self.validators,
        )?;
        self.decide(block, certificate, fx);
        Ok(())
    }

    /// Keep a verified next-height message within its signer's budget; drop it beyond.
    fn buffer_next_height(&mut self, msg: Message) {
        let signer = msg.signer();
        let from_signer = self.buffered.iter().filter(|m| m.signer() == signer);
        let (count, proposals) = from_signer.fold((0, 0), |(n, p), m| {
            (n + 1, p + usize::from(matches!(m, Message::Proposal(_))))
        });
        let is_proposal = matches!(msg, Message::Proposal(_));
        if count < MAX_BUFFERED_PER_VALIDATOR
            && !(is_proposal && proposals >= MAX_BUFFERED_PROPOSALS_PER_VALIDATOR)
        {
            self.buffered.push(msg);
        }
    }

    /// Take in the buffered messages of the height just started.
    pub(super) fn take_in_buffered(&mut self, fx: &mut Vec<Effect>) {
        for msg in std::mem::take(&mut self.buffered) {
            if msg.height() == self.height {
                self.accept(msg, fx);
            }
        }
    }

    /// Check a message's signer, proposer and signature without taking it in, whatever its
    /// height: a driver uses this before it believes a message that claims the chain is ahead
    /// (and asks the sender for blocks). The validator set is fixed by genesis, so a message
    /// from any height can be checked.
    pub fn verify_foreign(&self, msg: &Message) -> Result<(), InputError> {
        let signer = msg.signer();
        if self.validators.index_of(&signer).is_none() {
            return Err(InputError::UnknownValidator(signer));
        }
        self.verify_message(msg)
    }

    /// Blocks this state machine holds: those of the current height's proposals and lock
    /// proof, and those of buffered next-height proposals. What the per-validator bounds
    /// above limit (a block may be as large as the gossip limit).
    pub fn held_blocks(&self) -> usize {
        self.blocks.len()
            + self
                .buffered
                .iter()
                .filter(|m| matches!(m, Message::Proposal(_)))
                .count()
    }

    fn already_counted(&self, msg: &Message) -> bool {
        match msg {
            Message::Vote(v) => self.votes.contains(v),
            Message::Proposal(p) => self.proposals.get(&p.proposal.round) == Some(&**p),
        }
    }

    fn verify_message(&self, msg: &Message) -> Result<(), InputError> {
        let chain = &self.config.chain_id;
        match msg {
            Message::Vote(v) => v
                .verify(chain)
                .map_err(|_| InputError::BadSignature(v.vote.validator)),
            Message::Proposal(p) => {
                let pr = &p.proposal;
                let expected = proposer(&self.validators, pr.height, pr.round);
                if pr.proposer != expected {
                    return Err(InputError::WrongProposer {
                        height: pr.height,
                        round: pr.round,
                        expected,
                        got: pr.proposer,
                    });
                }
                if pr.block.header.height != pr.height {
                    return Err(InputError::BlockHeightMismatch {
                        height: pr.height,
                        block_height: pr.block.header.height,
                    });
                }
                p.verify(chain)
                    .map_err(|_| InputError::BadSignature(pr.proposer))
            }
        }
    }

    /// Record a verified message of the current height: a vote in the tally (evidence if it
    /// conflicts with one of its signer's), the first proposal of a round with its block
    /// (evidence, once, for a second).
    pub(super) fn accept(&mut self, msg: Message, fx: &mut Vec<Effect>) {
        match msg {
            Message::Vote(v) => {
                if let Added::Equivocation(first) = self.votes.add(v.clone()) {
                    fx.push(Effect::Evidence(Evidence::DoubleVote {
                        first,
                        second: Box::new(v),
                    }));
                }
            }
            Message::Proposal(p) => {
                let round = p.proposal.round;
                self.votes.heard(round, p.proposal.proposer);
                match self.proposals.get(&round) {
                    Some(first)
                        if first.proposal.block.hash() != p.proposal.block.hash()
                            && self.proposal_evidence.insert(round) =>
                    {
                        fx.push(Effect::Evidence(Evidence::DoubleProposal {
                            first: Box::new(first.clone()),
                            second: p,
                        }));
                    }
                    Some(_) => {}
                    None => {
                        let block = p.proposal.block.clone();
                        self.blocks.entry(block.hash()).or_insert(block);
                        self.proposals.insert(round, *p);
                    }
                }
            }
        }
    }

    fn oldest_kept_round(&self) -> u32 {
        self.round.saturating_sub(MAX_PAST_ROUNDS)
    }

    /// Forget proposals (ours too) of rounds older than `MAX_PAST_ROUNDS` behind ours, and
    /// the blocks no kept proposal, lock, valid value or decided round needs.
    pub(super) fn prune_past_rounds(&mut self) {
        let oldest = self.oldest_kept_round();
        let pinned: HashSet<Hash> = self
            .locked
            .iter()
            .chain(&self.valid)
            .map(|(_, h)| *h)
            .chain(self.votes.decided_rounds().into_iter().map(|(_, h)| h))
            .collect();
        self.proposals
            .retain(|&round, p| round >= oldest || pinned.contains(&p.proposal.block.hash()));
        self.own_messages
            .retain(|m| !matches!(m, Message::Proposal(p) if p.proposal.round < oldest));
        let live: HashSet<Hash> = self
            .proposals
            .values()
            .map(|p| p.proposal.block.hash())
            .chain(pinned)
            .collect();
        self.blocks.retain(|h, _| live.contains(h));
        self.verdicts.retain(|h, _| live.contains(h));
    }
}
