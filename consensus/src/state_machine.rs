//! The Tendermint state machine for one validator: inputs in, effects out, no I/O.
//!
//! It follows Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic,
//! 2018). Every input may enable some of the paper's `upon` rules; after each input
//! [`Consensus::handle`] re-evaluates the rules until none fires, so the result does not depend
//! on the order in which enabling messages arrived.
//!
//! Safety across crashes: before any signed message is broadcast, an [`Effect::Persist`] of the
//! [`SignRecord`] comes first in the effect list. The driver must make it durable before
//! executing the effects after it. Signing is guarded by the record: a validator signs only at
//! a (height, round, step) position later than the last one it signed, or the identical value
//! again, so even a restarted validator with a stale view never signs two conflicting messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use ledger::{Block, CommitCertificate, Hash, Keypair, PublicKey, ValidatorSet, Vote, VoteKind};

pub use crate::io::{
    Config, Effect, Evidence, Input, InputError, LockProof, SignRecord, Step, Timeout, TimeoutKind,
    Timeouts,
};
use crate::messages::{Message, Proposal, SignedProposal};
use crate::proposer::proposer;
use crate::votes::{Added, VoteKeeper};

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

/// Whether the simulator asked for this deliberately broken rule; always false outside the
/// `sim` feature, so the node's code path has no mutation in it.
macro_rules! broken {
    ($self:ident, $m:ident) => {{
        #[cfg(feature = "sim")]
        let on = $self.config.mutation == crate::io::Mutation::$m;
        #[cfg(not(feature = "sim"))]
        let on = false;
        on
    }};
}

pub struct Consensus {
    config: Config,
    validators: ValidatorSet,
    key: Option<Keypair>,
    me: Option<PublicKey>,
    quorum: u64,

    height: u64,
    round: u32,
    step: Step,
    locked: Option<(u32, Hash)>,
    valid: Option<(u32, Hash)>,

    votes: VoteKeeper,
    proposals: BTreeMap<u32, SignedProposal>,
    /// Rounds whose proposer already gave evidence of a second proposal: one piece of
    /// evidence per (height, round, proposer) is enough, and each costs a copy of a block.
    proposal_evidence: HashSet<u32>,
    blocks: HashMap<Hash, Block>,
    verdicts: HashMap<Hash, bool>,
    validating: HashSet<Hash>,
    last_signed: Option<SignRecord>,
    own_messages: Vec<Message>,
    buffered: Vec<Message>,

    // "for the first time" flags of the current round.
    prevote_timeout_set: bool,
    precommit_timeout_set: bool,
    polka_seen: bool,
}

impl Consensus {
    /// A validator (or, with `key: None`, an observer) about to run `height`. `log` holds the
    /// persisted [`SignRecord`]s from before a restart: at least the last one, and every one
    /// of `height`.
    pub fn new(
        config: Config,
        validators: ValidatorSet,
        key: Option<Keypair>,
        height: u64,
        log: Vec<SignRecord>,
    ) -> Self {
        let me = key.as_ref().map(Keypair::public);
        let total = validators.total_power();
        let quorum = 2 * total / 3 + 1;
        #[cfg(feature = "sim")]
        let quorum = match config.mutation {
            crate::io::Mutation::WeakQuorum => (2 * ((total - 1) / 3)).max(1),
            _ => quorum,
        };
        let last = log.last().cloned();
        let (round, locked) = match &last {
            Some(r) if r.height == height => (r.round, r.locked),
            _ => (0, None),
        };
        #[cfg(feature = "sim")]
        let locked = locked.filter(|_| config.mutation != crate::io::Mutation::ForgetLockOnRestart);
        let mut c = Self {
            votes: VoteKeeper::new(validators.clone(), quorum),
            config,
            validators,
            key,
            me,
            quorum,
            height,
            round,
            step: Step::Propose,
            locked,
            valid: None,
            proposals: BTreeMap::new(),
            proposal_evidence: HashSet::new(),
            blocks: HashMap::new(),
            verdicts: HashMap::new(),
            validating: HashSet::new(),
            last_signed: last,
            own_messages: Vec::new(),
            buffered: Vec::new(),
            prevote_timeout_set: false,
            precommit_timeout_set: false,
            polka_seen: false,
        };
        for record in log.into_iter().filter(|r| r.height == height) {
            if let Message::Proposal(p) = &record.message {
                c.verdicts.insert(p.proposal.block.hash(), true);
            }
            if let (Some(proof), Some(lock)) = (record.lock_proof, c.locked) {
                let hash = proof.block.hash();
                if lock.1 == hash {
                    c.blocks.insert(hash, proof.block);
                    c.verdicts.insert(hash, true);
                    c.valid = Some(lock);
                    for v in proof.prevotes {
                        c.votes.add(v);
                    }
                }
            }
            c.own_messages.push(record.message.clone());
            c.accept(record.message, &mut Vec::new());
        }
        c
    }

    /// This validator's key, if it is one.
    pub fn me(&self) -> Option<PublicKey> {
        self.me
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    pub fn step(&self) -> Step {
        self.step
    }

    pub fn locked(&self) -> Option<(u32, Hash)> {
        self.locked
    }

    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// Begin (or, after a restart, resume) the current height.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.start_round(self.round, &mut fx);
        self.run_rules(&mut fx);
        fx
    }

    pub fn handle(&mut self, input: Input) -> Result<Vec<Effect>, InputError> {
        let mut fx = Vec::new();
        match input {
            Input::Proposal(p) => self.on_message(Message::Proposal(Box::new(p)), &mut fx)?,
            Input::Vote(v) => self.on_message(Message::Vote(v), &mut fx)?,
            Input::Timeout(t) => self.on_timeout(t, &mut fx),
            Input::BlockToPropose {
                height,
                round,
                block,
            } => {
                if height == self.height && round == self.round && self.step == Step::Propose {
                    self.propose(block, None, &mut fx);
                }
            }
            Input::BlockVerdict { block_hash, valid } => {
                if self.validating.remove(&block_hash) {
                    self.verdicts.insert(block_hash, valid);
                }
            }
            Input::SyncedBlock { block, certificate } => {
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
                self.decide(block, certificate, &mut fx);
            }
        }
        self.run_rules(&mut fx);
        Ok(fx)
    }

    fn on_message(&mut self, msg: Message, fx: &mut Vec<Effect>) -> Result<(), InputError> {
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
            return Ok(());
        }
        self.accept(msg, fx);
        Ok(())
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

    /// Record a verified message of the current height.
    fn accept(&mut self, msg: Message, fx: &mut Vec<Effect>) {
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

    fn on_timeout(&mut self, t: Timeout, fx: &mut Vec<Effect>) {
        if t.height != self.height || t.round != self.round {
            return;
        }
        match t.kind {
            TimeoutKind::Propose if self.step == Step::Propose => {
                self.vote(VoteKind::Prevote, None, fx);
                self.step = Step::Prevote;
            }
            TimeoutKind::Prevote if self.step == Step::Prevote => {
                self.vote(VoteKind::Precommit, None, fx);
                self.step = Step::Precommit;
            }
            TimeoutKind::Precommit => self.start_round(self.round + 1, fx),
            TimeoutKind::Rebroadcast => {
                // Every vote of this height: a validator still in an earlier round needs them
                // to finish it, and votes for a block may be a proof-of-lock. Of proposals
                // (which carry whole blocks) only the current one.
                let round = self.round;
                let needed = |m: &&Message| match m {
                    Message::Vote(_) => true,
                    Message::Proposal(p) => p.proposal.round == round,
                };
                fx.extend(
                    self.own_messages
                        .iter()
                        .filter(needed)
                        .cloned()
                        .map(Effect::Broadcast),
                );
                // Relay the precommits that let us leave the previous round: a validator still
                // in it may have lost some (from validators that since went quiet) and, without
                // them, could neither time out of it nor hear enough of a later round to skip
                // ahead (found by the simulator: honest validators split across two rounds).
                if self.round > 0 {
                    let moved_on = self.votes.votes_in(self.round - 1, VoteKind::Precommit);
                    fx.extend(
                        moved_on
                            .into_iter()
                            .map(|v| Effect::Broadcast(Message::Vote(v))),
                    );
                }
                // Relay the proof-of-lock behind our valid block: a proposer re-proposing it
                // needs every validator to have seen that quorum of prevotes.
                if let Some((vr, v)) = self.valid {
                    let proof = self.votes.votes_for(vr, VoteKind::Prevote, Some(v));
                    fx.extend(
                        proof
                            .into_iter()
                            .map(|v| Effect::Broadcast(Message::Vote(v))),
                    );
                }
                self.schedule(
                    TimeoutKind::Rebroadcast,
                    self.config.timeouts.rebroadcast_ms,
                    fx,
                );
            }
            _ => {}
        }
    }

    fn schedule(&self, kind: TimeoutKind, after_ms: u64, fx: &mut Vec<Effect>) {
        let timeout = Timeout {
            height: self.height,
            round: self.round,
            kind,
        };
        fx.push(Effect::ScheduleTimeout { timeout, after_ms });
    }

    fn timeout_ms(&self, base: u64, delta: u64) -> u64 {
        base.saturating_add(delta.saturating_mul(self.round as u64))
    }

    fn oldest_kept_round(&self) -> u32 {
        self.round.saturating_sub(MAX_PAST_ROUNDS)
    }

    /// Forget proposals (ours too) of rounds older than `MAX_PAST_ROUNDS` behind ours, and
    /// the blocks no kept proposal, lock, valid value or decided round needs.
    fn prune_past_rounds(&mut self) {
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

    fn start_round(&mut self, round: u32, fx: &mut Vec<Effect>) {
        self.round = round;
        self.prune_past_rounds();
        self.step = Step::Propose;
        self.prevote_timeout_set = false;
        self.precommit_timeout_set = false;
        self.polka_seen = false;
        let t = self.config.timeouts.clone();
        self.schedule(TimeoutKind::Rebroadcast, t.rebroadcast_ms, fx);
        if self.me.is_some() && self.me == Some(proposer(&self.validators, self.height, round)) {
            let valid = if broken!(self, ValidNotReproposed) {
                None
            } else {
                self.valid
            };
            match valid.and_then(|(vr, v)| self.blocks.get(&v).map(|b| (vr, b.clone()))) {
                Some((vr, block)) => self.propose(block, Some(vr), fx),
                None => fx.push(Effect::BuildBlock {
                    height: self.height,
                    round,
                }),
            }
        }
        // Scheduled for the proposer too: if building or sending its block fails, the round
        // still moves on.
        self.schedule(
            TimeoutKind::Propose,
            self.timeout_ms(t.propose_base_ms, t.propose_delta_ms),
            fx,
        );
    }

    fn propose(&mut self, block: Block, pol_round: Option<u32>, fx: &mut Vec<Effect>) {
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

    fn vote(&mut self, kind: VoteKind, block: Option<Hash>, fx: &mut Vec<Effect>) {
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

    fn is_quorum(&self, power: u64) -> bool {
        power >= self.quorum
    }

    /// The block's verdict, asking the application for one the first time it is needed.
    fn verdict(&mut self, hash: Hash, fx: &mut Vec<Effect>) -> Option<bool> {
        if let Some(v) = self.verdicts.get(&hash) {
            return Some(*v);
        }
        if let Some(block) = self.blocks.get(&hash)
            && self.validating.insert(hash)
        {
            fx.push(Effect::ValidateBlock {
                height: self.height,
                block: block.clone(),
            });
        }
        None
    }

    fn run_rules(&mut self, fx: &mut Vec<Effect>) {
        // Bounded: every iteration that continues changes height, round or step.
        for _ in 0..10_000 {
            if !self.step_rules(fx) {
                return;
            }
        }
    }

    /// Apply the first enabled rule; true if the state changed.
    fn step_rules(&mut self, fx: &mut Vec<Effect>) -> bool {
        // Decision: a proposal for v and 2f+1 precommits for v in any round.
        for (round, hash) in self.votes.decided_rounds() {
            if self.blocks.contains_key(&hash) && self.verdict(hash, fx) == Some(true) {
                let certificate = self.votes.certificate(self.height, round, hash);
                let block = self.blocks[&hash].clone();
                self.decide(block, certificate, fx);
                return true;
            }
        }
        // Round skip: f+1 validators are ahead of us.
        if let Some(round) = self.votes.skip_round(self.round)
            && !broken!(self, NoRoundSkip)
        {
            self.start_round(round, fx);
            return true;
        }
        let round = self.round;
        if self.step == Step::Propose && self.on_proposal(fx) {
            return true;
        }
        if self.step == Step::Prevote
            && !self.prevote_timeout_set
            && self.is_quorum(self.votes.total_power(round, VoteKind::Prevote))
        {
            {
                self.prevote_timeout_set = true;
                let t = &self.config.timeouts;
                let after = self.timeout_ms(t.prevote_base_ms, t.prevote_delta_ms);
                self.schedule(TimeoutKind::Prevote, after, fx);
            }
        }
        if self.step >= Step::Prevote
            && !self.polka_seen
            && let Some(p) = self.proposals.get(&round)
        {
            {
                let hash = p.proposal.block.hash();
                let power = self.votes.power_for(round, VoteKind::Prevote, Some(hash));
                let polka = if broken!(self, PrecommitWithoutPolka) {
                    self.validators.is_one_third(power)
                } else {
                    self.is_quorum(power)
                };
                if polka && self.verdict(hash, fx) == Some(true) {
                    self.polka_seen = true;
                    if self.step == Step::Prevote {
                        self.locked = Some((round, hash));
                        self.vote(VoteKind::Precommit, Some(hash), fx);
                        self.step = Step::Precommit;
                    }
                    self.valid = Some((round, hash));
                    return true;
                }
            }
        }
        if self.step == Step::Prevote
            && self.is_quorum(self.votes.power_for(round, VoteKind::Prevote, None))
        {
            self.vote(VoteKind::Precommit, None, fx);
            self.step = Step::Precommit;
            return true;
        }
        if !self.precommit_timeout_set
            && self.is_quorum(self.votes.total_power(round, VoteKind::Precommit))
        {
            self.precommit_timeout_set = true;
            let t = &self.config.timeouts;
            let after = self.timeout_ms(t.precommit_base_ms, t.precommit_delta_ms);
            self.schedule(TimeoutKind::Precommit, after, fx);
        }
        false
    }

    /// The prevote rules of the propose step. True if we prevoted.
    fn on_proposal(&mut self, fx: &mut Vec<Effect>) -> bool {
        let round = self.round;
        let Some(p) = self.proposals.get(&round) else {
            return false;
        };
        let hash = p.proposal.block.hash();
        let pol_round = p.proposal.pol_round;
        let prevote_for_value = match pol_round {
            None => {
                let Some(valid) = self.verdict(hash, fx) else {
                    return false;
                };
                valid && (self.locked.is_none_or(|(_, v)| v == hash) || broken!(self, IgnoreLocks))
            }
            Some(vr) if vr < round => {
                if !self.is_quorum(self.votes.power_for(vr, VoteKind::Prevote, Some(hash)))
                    && !broken!(self, TrustPolRound)
                {
                    return false;
                }
                let Some(valid) = self.verdict(hash, fx) else {
                    return false;
                };
                let unlocks =
                    |(lr, v): (u32, Hash)| lr <= vr || v == hash || broken!(self, UnlockOnLowerPol);
                valid && (self.locked.is_none_or(unlocks) || broken!(self, IgnoreLocks))
            }
            // A proof-of-lock round not below the proposal's round is malformed: prevote nil.
            Some(_) => false,
        };
        self.vote(VoteKind::Prevote, prevote_for_value.then_some(hash), fx);
        self.step = Step::Prevote;
        true
    }

    fn decide(&mut self, block: Block, certificate: CommitCertificate, fx: &mut Vec<Effect>) {
        fx.push(Effect::Decide { block, certificate });
        self.height += 1;
        self.round = 0;
        self.locked = None;
        self.valid = None;
        self.votes = VoteKeeper::new(self.validators.clone(), self.quorum);
        self.proposals.clear();
        self.proposal_evidence.clear();
        self.blocks.clear();
        self.verdicts.clear();
        self.validating.clear();
        self.own_messages.clear();
        self.start_round(0, fx);
        for msg in std::mem::take(&mut self.buffered) {
            if msg.height() == self.height {
                self.accept(msg, fx);
            }
        }
    }
}
