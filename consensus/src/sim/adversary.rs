//! What a Byzantine validator sends instead of its honest messages ([`Lies`]). It runs honest
//! code, so its signing log and timing are those of a validator; these functions rewrite,
//! split, hold back or drop what that code broadcasts, and forge relays.

use ledger::{Block, Hash, Vote};

use super::{Lies, Sim, app};
use crate::messages::{Message, Proposal, SignedProposal};

/// The `(recipient, message)` pairs a Byzantine node `from` sends for its honest `msg`.
pub(super) fn sends(sim: &mut Sim, from: usize, lies: Lies, msg: Message) -> Vec<(usize, Message)> {
    let gst = sim.sc.gst_ms;
    if lies.quit_at_gst && sim.now >= gst {
        return vec![];
    }
    let (for_side, for_rest) = match &msg {
        Message::Proposal(p) => proposals(sim, from, lies, p),
        Message::Vote(v) => votes(sim, from, lies, &v.vote),
    };
    let precommit = matches!(&msg, Message::Vote(v) if v.vote.kind == ledger::VoteKind::Precommit);
    let on_side = |to: usize| lies.side >> to & 1 == 1;
    let mut out = Vec::new();
    for to in (0..sim.nodes.len()).filter(|&to| to != from) {
        if precommit && lies.precommit_to_side && !on_side(to) {
            continue;
        }
        let m = if on_side(to) { &for_side } else { &for_rest };
        if lies.withhold_until_gst && sim.now < gst {
            sim.held.push((from, to, m.clone()));
        } else {
            out.push((to, m.clone()));
        }
    }
    out
}

/// The proposals for `side` and for the rest, and what each was shown, remembered so the
/// votes of the round back them.
fn proposals(sim: &mut Sim, from: usize, lies: Lies, p: &SignedProposal) -> (Message, Message) {
    let pr = &p.proposal;
    let mut base = Message::Proposal(Box::new(p.clone()));
    if lies.fake_pol_round && pr.round > 0 {
        base = propose(sim, from, pr, (7, false), Some(pr.round - 1));
    } else if lies.fresh_proposals {
        base = propose(sim, from, pr, (7, false), None);
    }
    let rest = if lies.equivocate {
        let invalid = sim.rng.chance(0.5);
        let pol = match &base {
            Message::Proposal(b) => b.proposal.pol_round,
            Message::Vote(_) => None,
        };
        propose(sim, from, pr, (1, invalid), pol)
    } else {
        base.clone()
    };
    let hash = |m: &Message| match m {
        Message::Proposal(p) => p.proposal.block.hash(),
        Message::Vote(_) => unreachable!("proposals only"),
    };
    sim.shown
        .insert((from, pr.height, pr.round), (hash(&base), hash(&rest)));
    (base, rest)
}

/// Another block of its own for the same position (`salt` keeps it distinct).
fn fresh(sim: &mut Sim, from: usize, pr: &Proposal, salt: u64, invalid: bool) -> Block {
    let mut block = sim.build_block(from, pr.height, pr.round);
    block.header.timestamp_ms += salt;
    if invalid {
        block.header.state_root = Hash([0xBA; 32]);
    }
    block
}

/// A proposal of a fresh block (`(salt, invalid)`, see [`fresh`]) at `pr`'s position.
fn propose(
    sim: &mut Sim,
    from: usize,
    pr: &Proposal,
    (salt, invalid): (u64, bool),
    pol_round: Option<u32>,
) -> Message {
    let block = fresh(sim, from, pr, salt, invalid);
    let key = &sim.keys[sim.nodes[from].key_index];
    let proposal = Proposal {
        block,
        pol_round,
        ..pr.clone()
    };
    let msg = Message::Proposal(Box::new(proposal.sign(super::CHAIN_ID, key)));
    sim.note_proposal(&msg);
    msg
}

/// The votes for `side` and for the rest.
fn votes(sim: &mut Sim, from: usize, lies: Lies, vote: &Vote) -> (Message, Message) {
    let position = (from, vote.height, vote.round);
    let (side, rest) = match sim.shown.get(&position) {
        Some(&(side, rest)) => (Some(side), Some(rest)),
        None if lies.split_votes => {
            let known = sim
                .proposals_at
                .get(&(vote.height, vote.round))
                .cloned()
                .unwrap_or_default();
            let other = known.into_iter().rev().find(|h| Some(*h) != vote.block);
            (vote.block, other)
        }
        None => (vote.block, vote.block),
    };
    (sign(sim, from, vote, side), sign(sim, from, vote, rest))
}

fn sign(sim: &mut Sim, from: usize, vote: &Vote, block: Option<Hash>) -> Message {
    let key_index = sim.nodes[from].key_index;
    let vote = Vote {
        block,
        ..vote.clone()
    };
    let msg = Message::Vote(vote.sign(super::CHAIN_ID, &sim.keys[key_index]));
    let found = sim.monitor.signed(from, key_index, false, &msg);
    sim.outcome.violations.extend(found);
    msg
}

/// Relay a proposal it received with a tampered body (its header and signature intact).
pub(super) fn relay_tampered(sim: &mut Sim, at: usize, p: &SignedProposal) {
    let mut forged = p.clone();
    forged.proposal.block = app::tamper(&p.proposal.block, &sim.accounts);
    let msg = Message::Proposal(Box::new(forged));
    for to in (0..sim.nodes.len()).filter(|&to| to != at) {
        sim.send(at, to, msg.clone());
    }
}
