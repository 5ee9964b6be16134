//! The `upon` rules of Algorithm 1, one function each, named and tagged with their lines.
//!
//! Each rule checks its own trigger and returns whether it moved the validator (changed its
//! height, round or step). [`Consensus::run_rules`] tries them in the order of [`UPON_RULES`]
//! and starts again from the first after every move. The two timeout-scheduling rules (L34,
//! L47) never move: they only set their "first time" flag, so the rules after them are still
//! tried in the same pass.

use ledger::{Block, CommitCertificate, Hash, VoteKind};

use super::Consensus;
use crate::effect::Effect;
use crate::input::TimeoutKind;
use crate::proposer::proposer;
use crate::signing_log::Step;
use crate::votes::VoteKeeper;

type Rule = fn(&mut Consensus, &mut Vec<Effect>) -> bool;

/// The order rules are tried in. A decision first (nothing else matters once a block has a
/// commit quorum), then a round skip, then the rules of the current round by step.
pub const UPON_RULES: [Rule; 8] = [
    Consensus::l49_decision,
    Consensus::l55_round_skip,
    Consensus::l22_fresh_proposal,
    Consensus::l28_reproposal,
    Consensus::l34_schedule_prevote_timeout,
    Consensus::l36_polka,
    Consensus::l44_nil_polka,
    Consensus::l47_schedule_precommit_timeout,
];

impl Consensus {
    pub(super) fn run_rules(&mut self, fx: &mut Vec<Effect>) {
        // Bounded: every pass that continues changes height, round or step.
        for _ in 0..10_000 {
            if !UPON_RULES.iter().any(|rule| rule(self, fx)) {
                return;
            }
        }
    }

    /// L11-L21 StartRound(round). Departure from the paper: the proposer schedules its
    /// propose timeout too (L21 is for the others only), so that if building or sending its
    /// block fails the round still moves on.
    pub(super) fn start_round(&mut self, round: u32, fx: &mut Vec<Effect>) {
        // L12-L13
        self.round = round;
        self.prune_past_rounds();
        self.step = Step::Propose;
        self.prevote_timeout_set = false;
        self.precommit_timeout_set = false;
        self.polka_seen = false;
        let t = self.config.timeouts.clone();
        self.schedule(TimeoutKind::Rebroadcast, t.rebroadcast_ms, fx);
        // L14
        if self.me.is_some() && self.me == Some(proposer(&self.validators, self.height, round)) {
            let valid = if broken!(self, ValidNotReproposed) {
                None
            } else {
                self.valid
            };
            match valid.and_then(|(vr, v)| self.blocks.get(&v).map(|b| (vr, b.clone()))) {
                // L15-L16, L19: re-propose the valid block with its round.
                Some((vr, block)) => self.propose(block, Some(vr), fx),
                // L18: getValue(), answered by Input::BlockToPropose.
                None => fx.push(Effect::BuildBlock {
                    height: self.height,
                    round,
                }),
            }
        }
        // L21
        self.schedule(
            TimeoutKind::Propose,
            self.timeout_ms(t.propose_base_ms, t.propose_delta_ms),
            fx,
        );
    }

    /// L22-L27: upon a proposal `(h, r, v, -1)` from the proposer while in step propose,
    /// prevote `v` if it is valid and we are unlocked or locked on `v`, else nil.
    fn l22_fresh_proposal(&mut self, fx: &mut Vec<Effect>) -> bool {
        let round = self.round;
        let Some(p) = self.proposals.get(&round) else {
            return false;
        };
        if self.step != Step::Propose || p.proposal.pol_round.is_some() {
            return false;
        }
        let hash = p.proposal.block.hash();
        // L23
        let Some(valid) = self.verdict(hash, fx) else {
            return false;
        };
        let prevote_v =
            valid && (self.locked.is_none_or(|(_, v)| v == hash) || broken!(self, IgnoreLocks));
        // L24 / L26, L27
        self.prevote_in_propose_step(prevote_v.then_some(hash), fx);
        true
    }

    /// L28-L33: upon a proposal `(h, r, v, vr)` with `0 <= vr < r` from the proposer and 2f+1
    /// prevotes for `v` in round `vr`, while in step propose: prevote `v` if it is valid and
    /// our lock is from round `vr` or earlier, or on `v`; else nil. Departure from the paper:
    /// a proposal with `vr >= r` is malformed and prevoted nil at once, instead of waiting
    /// for the propose timeout (L57).
    fn l28_reproposal(&mut self, fx: &mut Vec<Effect>) -> bool {
        let round = self.round;
        let Some(p) = self.proposals.get(&round) else {
            return false;
        };
        let Some(vr) = p.proposal.pol_round else {
            return false;
        };
        if self.step != Step::Propose {
            return false;
        }
        let hash = p.proposal.block.hash();
        if vr >= round {
            self.prevote_in_propose_step(None, fx);
            return true;
        }
        if !self.is_quorum(self.votes.power_for(vr, VoteKind::Prevote, Some(hash)))
            && !broken!(self, TrustPolRound)
        {
            return false;
        }
        // L29
        let Some(valid) = self.verdict(hash, fx) else {
            return false;
        };
        let unlocks =
            |(lr, v): (u32, Hash)| lr <= vr || v == hash || broken!(self, UnlockOnLowerPol);
        let prevote_v = valid && (self.locked.is_none_or(unlocks) || broken!(self, IgnoreLocks));
        // L30 / L32, L33
        self.prevote_in_propose_step(prevote_v.then_some(hash), fx);
        true
    }

    fn prevote_in_propose_step(&mut self, value: Option<Hash>, fx: &mut Vec<Effect>) {
        self.vote(VoteKind::Prevote, value, fx);
        self.step = Step::Prevote;
    }

    /// L34-L35: upon 2f+1 prevotes for anything in this round while in step prevote, for the
    /// first time: schedule the prevote timeout.
    fn l34_schedule_prevote_timeout(&mut self, fx: &mut Vec<Effect>) -> bool {
        if self.step == Step::Prevote
            && !self.prevote_timeout_set
            && self.is_quorum(self.votes.total_power(self.round, VoteKind::Prevote))
        {
            self.prevote_timeout_set = true;
            let t = &self.config.timeouts;
            let after = self.timeout_ms(t.prevote_base_ms, t.prevote_delta_ms);
            self.schedule(TimeoutKind::Prevote, after, fx);
        }
        false
    }

    /// L36-L43: upon the round's proposal `v` and 2f+1 prevotes for it (a polka), `v` valid,
    /// in step prevote or later, for the first time: in step prevote, lock `v` and precommit
    /// it (L37-L41); in any case `v` becomes the valid block (L42-L43).
    fn l36_polka(&mut self, fx: &mut Vec<Effect>) -> bool {
        let round = self.round;
        if self.step < Step::Prevote || self.polka_seen {
            return false;
        }
        let Some(p) = self.proposals.get(&round) else {
            return false;
        };
        let hash = p.proposal.block.hash();
        let power = self.votes.power_for(round, VoteKind::Prevote, Some(hash));
        let polka = if broken!(self, PrecommitWithoutPolka) {
            self.validators.is_one_third(power)
        } else {
            self.is_quorum(power)
        };
        if !polka || self.verdict(hash, fx) != Some(true) {
            return false;
        }
        self.polka_seen = true;
        if self.step == Step::Prevote {
            self.locked = Some((round, hash));
            self.vote(VoteKind::Precommit, Some(hash), fx);
            self.step = Step::Precommit;
        }
        self.valid = Some((round, hash));
        true
    }

    /// L44-L46: upon 2f+1 prevotes for nil in this round while in step prevote: precommit
    /// nil.
    fn l44_nil_polka(&mut self, fx: &mut Vec<Effect>) -> bool {
        if self.step != Step::Prevote
            || !self.is_quorum(self.votes.power_for(self.round, VoteKind::Prevote, None))
        {
            return false;
        }
        self.vote(VoteKind::Precommit, None, fx);
        self.step = Step::Precommit;
        true
    }

    /// L47-L48: upon 2f+1 precommits for anything in this round, for the first time: schedule
    /// the precommit timeout.
    fn l47_schedule_precommit_timeout(&mut self, fx: &mut Vec<Effect>) -> bool {
        if !self.precommit_timeout_set
            && self.is_quorum(self.votes.total_power(self.round, VoteKind::Precommit))
        {
            self.precommit_timeout_set = true;
            let t = &self.config.timeouts;
            let after = self.timeout_ms(t.precommit_base_ms, t.precommit_delta_ms);
            self.schedule(TimeoutKind::Precommit, after, fx);
        }
        false
    }

    /// L49-L54: upon a proposal `v` of any round `r` and 2f+1 precommits for `v` in `r`, `v`
    /// valid: decide `v` with the certificate of those precommits.
    fn l49_decision(&mut self, fx: &mut Vec<Effect>) -> bool {
        for (round, hash) in self.votes.decided_rounds() {
            if self.blocks.contains_key(&hash) && self.verdict(hash, fx) == Some(true) {
                let certificate = self.votes.certificate(self.height, round, hash);
                let block = self.blocks[&hash].clone();
                self.decide(block, certificate, fx);
                return true;
            }
        }
        false
    }

    /// L51-L54, also reached by a block sync delivers with its certificate: the decision
    /// goes out, the next height starts at round 0 with lock, valid block and message log
    /// reset, and what was buffered for it is taken in.
    pub(super) fn decide(
        &mut self,
        block: Block,
        certificate: CommitCertificate,
        fx: &mut Vec<Effect>,
    ) {
        // L51
        fx.push(Effect::Decide { block, certificate });
        // L52-L53
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
        // L54
        self.start_round(0, fx);
        self.take_in_buffered(fx);
    }

    /// L55-L56: upon messages from f+1 voting power in a round above ours: start that round.
    fn l55_round_skip(&mut self, fx: &mut Vec<Effect>) -> bool {
        match self.votes.skip_round(self.round) {
            Some(round) if !broken!(self, NoRoundSkip) => {
                self.start_round(round, fx);
                true
            }
            _ => false,
        }
    }
}
