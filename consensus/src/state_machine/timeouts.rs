//! L57-L67, the three timeouts of a round, and the rebroadcast timer that stands in for the
//! paper's assumption that every message a correct validator sends is eventually received.

use ledger::VoteKind;

use super::Consensus;
use crate::effect::Effect;
use crate::input::{Timeout, TimeoutKind};
use crate::messages::Message;
use crate::signing_log::Step;

impl Consensus {
    /// A timeout of another height or round is stale and does nothing.
    pub(super) fn on_timeout(&mut self, t: Timeout, fx: &mut Vec<Effect>) {
        if t.height != self.height || t.round != self.round {
            return;
        }
        match t.kind {
            // L57-L60 OnTimeoutPropose: prevote nil.
            TimeoutKind::Propose if self.step == Step::Propose => {
                self.vote(VoteKind::Prevote, None, fx);
                self.step = Step::Prevote;
            }
            // L61-L64 OnTimeoutPrevote: precommit nil.
            TimeoutKind::Prevote if self.step == Step::Prevote => {
                self.vote(VoteKind::Precommit, None, fx);
                self.step = Step::Precommit;
            }
            // L65-L67 OnTimeoutPrecommit: the next round.
            TimeoutKind::Precommit => self.start_round(self.round + 1, fx),
            TimeoutKind::Rebroadcast => self.rebroadcast(fx),
            _ => {}
        }
    }

    /// Send again what a validator that lost messages needs to catch up with this height,
    /// and schedule the next rebroadcast.
    fn rebroadcast(&mut self, fx: &mut Vec<Effect>) {
        // Every vote of this height: a validator still in an earlier round needs them to
        // finish it, and votes for a block may be a proof-of-lock. Of proposals (which carry
        // whole blocks) only the current one.
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
        // Relay the precommits that let us leave the previous round: a validator still in it
        // may have lost some (from validators that since went quiet) and, without them, could
        // neither time out of it nor hear enough of a later round to skip ahead (found by the
        // simulator: honest validators split across two rounds).
        if self.round > 0 {
            let moved_on = self.votes.votes_in(self.round - 1, VoteKind::Precommit);
            fx.extend(
                moved_on
                    .into_iter()
                    .map(|v| Effect::Broadcast(Message::Vote(v))),
            );
        }
        // Relay the proof-of-lock behind our valid block: a proposer re-proposing it needs
        // every validator to have seen that quorum of prevotes.
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

    pub(super) fn schedule(&self, kind: TimeoutKind, after_ms: u64, fx: &mut Vec<Effect>) {
        let timeout = Timeout {
            height: self.height,
            round: self.round,
            kind,
        };
        fx.push(Effect::ScheduleTimeout { timeout, after_ms });
    }

    /// `timeoutPropose(round)` and the others: a base that grows linearly with the round, so
    /// that after GST some round is long enough for every correct validator.
    pub(super) fn timeout_ms(&self, base: u64, delta: u64) -> u64 {
        base.saturating_add(delta.saturating_mul(self.round as u64))
    }
}
