//! The Tendermint state machine for one validator: inputs in, effects out, no I/O.
//!
//! It follows Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic,
//! 2018, arXiv:1807.04938); "Lnn" is a line of that algorithm. Each `upon` rule is one
//! function of [`rules`], tagged with its lines:
//!
//! | rule | lines | upon (trigger) | then (effect) |
//! |---|---|---|---|
//! | start round | L11-L21 | start, L55, L65 | round and step set; the proposer proposes its valid block (L16) or asks for one (L18, [`Effect::BuildBlock`]); propose timeout (L21) |
//! | fresh proposal | L22 | proposal `(h, r, v, -1)` from the proposer, step propose | prevote `v` if valid and not locked on another block, else nil; step prevote |
//! | re-proposal | L28 | proposal `(h, r, v, vr)`, `vr < r`, and 2f+1 prevotes for `v` in `vr`, step propose | prevote `v` if valid and locked at or below `vr` or on `v`, else nil; step prevote |
//! | prevote timeout | L34 | 2f+1 prevotes for anything in `r`, step prevote, first time | schedule the prevote timeout |
//! | polka | L36 | proposal `v` and 2f+1 prevotes for `v` in `r`, valid, step at least prevote, first time | at step prevote: lock `v`, precommit `v`, step precommit; valid block `(r, v)` |
//! | nil polka | L44 | 2f+1 prevotes for nil in `r`, step prevote | precommit nil; step precommit |
//! | precommit timeout | L47 | 2f+1 precommits for anything in `r`, first time | schedule the precommit timeout |
//! | decision | L49 | proposal `v` and 2f+1 precommits for `v` in any round, valid | [`Effect::Decide`]; next height, lock and valid block reset; start round 0 |
//! | round skip | L55 | messages from f+1 power in a round above ours | start that round |
//! | timeout propose | L57 | the propose timeout of this round, step propose | prevote nil; step prevote |
//! | timeout prevote | L61 | the prevote timeout of this round, step prevote | precommit nil; step precommit |
//! | timeout precommit | L65 | the precommit timeout of this round | start the next round |
//!
//! After every input [`Consensus::handle`] tries the rules in the order of
//! [`rules::UPON_RULES`] and starts again from the first whenever one moves the validator
//! (height, round or step), until none fires; so the result does not depend on the order in
//! which enabling messages arrived. Where the code departs from the paper it says so at the
//! rule (a malformed `vr >= r` prevotes nil at once, the proposer also schedules its propose
//! timeout, a rebroadcast timer stands in for the paper's reliable gossip, and a block others
//! decided arrives with its certificate through [`Input::SyncedBlock`]).
//!
//! The rest of the module is what the paper assumes away: [`intake`] (which messages are
//! kept: bounds, signature checks, buffering the next height), [`signing`] (never two
//! conflicting signatures, the lock proof, restart from the signing log) and [`timeouts`].
//!
//! Safety across crashes: before any signed message is broadcast, an [`Effect::Persist`] of the
//! [`SignRecord`] comes first in the effect list. The driver must make it durable before
//! executing the effects after it.

use std::collections::{BTreeMap, HashMap, HashSet};

use ledger::{Hash, Keypair, PublicKey, ValidatorSet};

use crate::config::Config;
use crate::effect::Effect;
use crate::input::{Input, InputError};
use crate::messages::{Message, SignedProposal};
use crate::signing_log::{SignRecord, Step};
use crate::votes::VoteKeeper;

/// Whether the simulator asked for this deliberately broken rule; always false outside the
/// `sim` feature, so the node's code path has no mutation in it.
macro_rules! broken {
    ($self:ident, $m:ident) => {{
        #[cfg(feature = "sim")]
        let on = $self.config.mutation == crate::config::Mutation::$m;
        #[cfg(not(feature = "sim"))]
        let on = false;
        on
    }};
}

pub mod intake;
pub mod rules;
pub mod signing;
pub mod timeouts;

pub use intake::{MAX_FUTURE_ROUNDS_PER_VALIDATOR, MAX_PAST_ROUNDS, MAX_ROUNDS_AHEAD};

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
    blocks: HashMap<Hash, ledger::Block>,
    verdicts: HashMap<Hash, bool>,
    validating: HashSet<Hash>,
    last_signed: Option<SignRecord>,
    own_messages: Vec<Message>,
    buffered: Vec<Message>,

    // The "for the first time" conditions of L34, L36 and L47, for the current round.
    prevote_timeout_set: bool,
    precommit_timeout_set: bool,
    polka_seen: bool,
}

impl Consensus {
    /// A validator (or, with `key: None`, an observer) about to run `height`. `log` holds the
    /// persisted [`SignRecord`]s from before a restart: at least the last one, and every one
    /// of `height` (see [`signing`] for what is rebuilt from them).
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
            crate::config::Mutation::WeakQuorum => (2 * ((total - 1) / 3)).max(1),
            _ => quorum,
        };
        let mut c = Self {
            votes: VoteKeeper::new(validators.clone(), quorum),
            config,
            validators,
            key,
            me,
            quorum,
            height,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            proposals: BTreeMap::new(),
            proposal_evidence: HashSet::new(),
            blocks: HashMap::new(),
            verdicts: HashMap::new(),
            validating: HashSet::new(),
            last_signed: None,
            own_messages: Vec::new(),
            buffered: Vec::new(),
            prevote_timeout_set: false,
            precommit_timeout_set: false,
            polka_seen: false,
        };
        c.restore(log);
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

    /// Begin (or, after a restart, resume) the current height: L10.
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
                self.on_synced_block(block, certificate, &mut fx)?
            }
        }
        self.run_rules(&mut fx);
        Ok(fx)
    }

    fn is_quorum(&self, power: u64) -> bool {
        power >= self.quorum
    }

    /// The block's verdict (`valid(v)` in the paper), asking the application for one the
    /// first time it is needed.
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
}
