//! How one validator runs consensus: its chain, its timeouts and (in the simulator only) the
//! protocol rule it is told to break.

pub use ledger::timeouts::Timeouts;

/// A deliberately broken protocol rule, used only by tests proving the simulator's checker
/// catches it. Compiled only with the `sim` feature. "Lnn" is the line of Algorithm 1 in the
/// Tendermint paper (see `state_machine`).
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mutation {
    #[default]
    None,
    /// Count 2f voting power as a quorum instead of 2f+1.
    WeakQuorum,
    /// L22 and L28 prevote for a valid proposal whatever the lock.
    IgnoreLocks,
    /// L28 believes a proposal's `pol_round` without a quorum of prevotes for it there.
    TrustPolRound,
    /// A restarted validator does not restore its lock from its signing log.
    ForgetLockOnRestart,
    /// No signing guard: a validator may sign anything at a position it already signed.
    NoSigningGuard,
    /// No round skip (L55): f+1 validators in a higher round do not pull us there.
    NoRoundSkip,
    /// A proposer with a valid value proposes a fresh block instead (L16).
    ValidNotReproposed,
    /// L28 releases a lock on a proof-of-lock from a round below the lock's round.
    UnlockOnLowerPol,
    /// L36 precommits (and locks) on f+1 prevotes instead of 2f+1.
    PrecommitWithoutPolka,
}

#[cfg(feature = "sim")]
impl Mutation {
    /// Every mutation, for the mutation score.
    pub const ALL: [Mutation; 9] = [
        Mutation::WeakQuorum,
        Mutation::IgnoreLocks,
        Mutation::TrustPolRound,
        Mutation::ForgetLockOnRestart,
        Mutation::NoSigningGuard,
        Mutation::NoRoundSkip,
        Mutation::ValidNotReproposed,
        Mutation::UnlockOnLowerPol,
        Mutation::PrecommitWithoutPolka,
    ];
}

#[derive(Debug, Clone)]
pub struct Config {
    pub chain_id: String,
    pub timeouts: Timeouts,
    #[cfg(feature = "sim")]
    pub mutation: Mutation,
}

impl Config {
    pub fn new(chain_id: impl Into<String>) -> Self {
        Self {
            chain_id: chain_id.into(),
            timeouts: Timeouts::default(),
            #[cfg(feature = "sim")]
            mutation: Mutation::None,
        }
    }
}
