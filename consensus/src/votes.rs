//! Vote bookkeeping for one height: who voted what in each round, tallied by voting power,
//! and equivocation detection (one validator, one round and step, two different values).
//!
//! As in the paper, a quorum for a value counts the distinct validators that signed a vote
//! for that value, so an equivocating validator counts towards each value it signed (safety
//! still holds: two quorums share an honest validator, and honest validators sign one value).
//! Counting only the first vote seen would let an equivocator split the honest validators'
//! views of a proof-of-lock for good and stall the chain.

use std::collections::{BTreeMap, HashMap, HashSet};

use ledger::{CommitCertificate, CommitSig, Hash, PublicKey, SignedVote, ValidatorSet, VoteKind};

/// Distinct values kept per validator, round and step for values no other validator voted
/// for: bounded so an equivocator cannot fill memory. A vote for a value others voted for is
/// always kept: it may complete a quorum (a proof-of-lock relayed later). Each validator
/// brings at most three values of its own, so a round and step holds at most 3n values and
/// n x 3n votes. Without that exception an equivocator that
/// signed a few throwaway values first could keep one honest validator from ever counting a
/// real proof-of-lock, and locked validators never agree again (found by the simulator).
const MAX_VALUES_PER_VOTER: usize = 3;

#[derive(Default)]
struct Tally {
    /// Each validator's distinct votes, first received first.
    votes: HashMap<PublicKey, Vec<SignedVote>>,
    power_by_value: HashMap<Option<Hash>, u64>,
    total: u64,
}

#[derive(Default)]
struct RoundVotes {
    prevotes: Tally,
    precommits: Tally,
    /// Validators heard from in this round (any message), for the round-skip rule.
    heard: HashSet<PublicKey>,
    heard_power: u64,
}

impl RoundVotes {
    fn tally(&self, kind: VoteKind) -> &Tally {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }
}

/// What adding a vote did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// The same vote again (gossip duplicates): ignored.
    Duplicate,
    /// The validator already voted differently in this round and step: the earlier vote is
    /// returned as evidence, the new one is not counted.
    Equivocation(Box<SignedVote>),
}

pub struct VoteKeeper {
    validators: ValidatorSet,
    /// Least voting power that counts as a quorum.
    quorum: u64,
    rounds: BTreeMap<u32, RoundVotes>,
}

impl VoteKeeper {
    pub fn new(validators: ValidatorSet, quorum: u64) -> Self {
        Self {
            validators,
            quorum,
            rounds: BTreeMap::new(),
        }
    }

    /// Add a vote whose signature was checked and whose signer is a validator.
    pub fn add(&mut self, vote: SignedVote) -> Added {
        let power = self.validators.power_of(&vote.vote.validator);
        let round = self.rounds.entry(vote.vote.round).or_default();
        if round.heard.insert(vote.vote.validator) {
            round.heard_power += power;
        }
        let tally = match vote.vote.kind {
            VoteKind::Prevote => &mut round.prevotes,
            VoteKind::Precommit => &mut round.precommits,
        };
        let supported = tally
            .power_by_value
            .get(&vote.vote.block)
            .is_some_and(|p| *p > 0);
        let mine = tally.votes.entry(vote.vote.validator).or_default();
        if mine.iter().any(|v| v.vote.block == vote.vote.block) {
            return Added::Duplicate;
        }
        let first = mine.first().cloned();
        if first.is_none() {
            tally.total += power;
        }
        if mine.len() < MAX_VALUES_PER_VOTER || supported {
            *tally.power_by_value.entry(vote.vote.block).or_default() += power;
            mine.push(vote);
        }
        match first {
            None => Added::New,
            Some(first) => Added::Equivocation(Box::new(first)),
        }
    }

    /// Every vote of `kind` for `value` in `round`: the proof that backs a quorum.
    /// Sorted by validator, so the result is deterministic.
    pub fn votes_for(&self, round: u32, kind: VoteKind, value: Option<Hash>) -> Vec<SignedVote> {
        let mut votes: Vec<SignedVote> = self
            .rounds
            .get(&round)
            .map(|r| {
                r.tally(kind)
                    .votes
                    .values()
                    .flatten()
                    .filter(|v| v.vote.block == value)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        votes.sort_by_key(|v| v.vote.validator);
        votes
    }

    /// Every vote of `kind` in `round`, whatever its value, sorted by validator.
    pub fn votes_in(&self, round: u32, kind: VoteKind) -> Vec<SignedVote> {
        let mut votes: Vec<SignedVote> = self
            .rounds
            .get(&round)
            .map(|r| r.tally(kind).votes.values().flatten().cloned().collect())
            .unwrap_or_default();
        votes.sort_by_key(|v| v.vote.validator);
        votes
    }

    /// Whether this exact signed vote was already added.
    pub fn contains(&self, vote: &SignedVote) -> bool {
        self.rounds.get(&vote.vote.round).is_some_and(|r| {
            r.tally(vote.vote.kind)
                .votes
                .get(&vote.vote.validator)
                .is_some_and(|vs| vs.contains(vote))
        })
    }

    /// Note that `validator` sent something (a proposal) in `round`.
    pub fn heard(&mut self, round: u32, validator: PublicKey) {
        let power = self.validators.power_of(&validator);
        let r = self.rounds.entry(round).or_default();
        if r.heard.insert(validator) {
            r.heard_power += power;
        }
    }

    /// The rounds above `current` in which `validator` was heard from (any message).
    pub fn future_rounds_of(&self, validator: &PublicKey, current: u32) -> Vec<u32> {
        self.rounds
            .range(current.saturating_add(1)..)
            .filter(|(_, r)| r.heard.contains(validator))
            .map(|(round, _)| *round)
            .collect()
    }

    pub fn power_for(&self, round: u32, kind: VoteKind, value: Option<Hash>) -> u64 {
        self.rounds
            .get(&round)
            .and_then(|r| r.tally(kind).power_by_value.get(&value).copied())
            .unwrap_or(0)
    }

    pub fn total_power(&self, round: u32, kind: VoteKind) -> u64 {
        self.rounds.get(&round).map_or(0, |r| r.tally(kind).total)
    }

    /// The values with more than two thirds of `kind` votes in `round` (at most one, unless
    /// more than a third of the power equivocates).
    pub fn quorum_values(&self, round: u32, kind: VoteKind) -> Vec<Option<Hash>> {
        let Some(r) = self.rounds.get(&round) else {
            return vec![];
        };
        let mut values: Vec<Option<Hash>> = r
            .tally(kind)
            .power_by_value
            .iter()
            .filter(|(_, p)| **p >= self.quorum)
            .map(|(v, _)| *v)
            .collect();
        values.sort();
        values
    }

    /// The lowest round above `current` in which validators holding more than a third of the
    /// power were heard from.
    pub fn skip_round(&self, current: u32) -> Option<u32> {
        self.rounds
            .range(current + 1..)
            .find(|(_, r)| self.validators.is_one_third(r.heard_power))
            .map(|(round, _)| *round)
    }

    /// Rounds holding a precommit quorum for some block.
    pub fn decided_rounds(&self) -> Vec<(u32, Hash)> {
        self.rounds
            .keys()
            .flat_map(|&r| {
                self.quorum_values(r, VoteKind::Precommit)
                    .into_iter()
                    .flatten()
                    .map(move |h| (r, h))
            })
            .collect()
    }

    /// The commit certificate for `block` decided in `round`: every precommit for it.
    pub fn certificate(&self, height: u64, round: u32, block: Hash) -> CommitCertificate {
        let mut signatures: Vec<CommitSig> = self
            .votes_for(round, VoteKind::Precommit, Some(block))
            .into_iter()
            .map(|v| CommitSig {
                validator_index: self
                    .validators
                    .index_of(&v.vote.validator)
                    .expect("only validators' votes are kept")
                    as u32,
                signature: v.signature,
            })
            .collect();
        signatures.sort_by_key(|s| s.validator_index);
        CommitCertificate {
            height,
            round,
            block_hash: block,
            signatures,
        }
    }
}
