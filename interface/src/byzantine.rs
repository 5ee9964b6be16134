//! The names of the ways a research validator can lie (`lantau start --byzantine`); what each
//! one does lives in `node::byzantine`.

use std::fmt;
use std::str::FromStr;

/// How a Byzantine validator lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Two different proposals per round it leads, and votes for both values.
    Equivocate,
    /// Precommits go to only half of the other validators (through their direct topics).
    Withhold,
    /// Relays other validators' proposals with the transactions swapped under the signed header.
    TamperRelay,
    /// Answers block sync with altered bodies and wrong parents.
    TamperSync,
    /// Proposals for every future round it leads (up to the consensus horizon).
    FloodRounds,
    /// Proposals claiming a proof-of-lock round it does not have.
    FakePol,
    /// Sends no consensus messages at all.
    Silent,
    /// Gossips none of its transaction batches: its proposals name batches only it holds,
    /// which the others must fetch from it.
    HideBatches,
    /// As `hide-batches`, and answers batch fetches with bytes that match no digest asked for.
    BadBatches,
    /// Its proposals name a batch that does not exist.
    PhantomBatches,
}

impl Behaviour {
    pub const ALL: [Behaviour; 10] = [
        Behaviour::Equivocate,
        Behaviour::Withhold,
        Behaviour::TamperRelay,
        Behaviour::TamperSync,
        Behaviour::FloodRounds,
        Behaviour::FakePol,
        Behaviour::Silent,
        Behaviour::HideBatches,
        Behaviour::BadBatches,
        Behaviour::PhantomBatches,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Equivocate => "equivocate",
            Behaviour::Withhold => "withhold",
            Behaviour::TamperRelay => "tamper-relay",
            Behaviour::TamperSync => "tamper-sync",
            Behaviour::FloodRounds => "flood-rounds",
            Behaviour::FakePol => "fake-pol",
            Behaviour::Silent => "silent",
            Behaviour::HideBatches => "hide-batches",
            Behaviour::BadBatches => "bad-batches",
            Behaviour::PhantomBatches => "phantom-batches",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Behaviour::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Behaviour::ALL.iter().map(|b| b.name()).collect();
                format!("unknown behaviour {s:?}; one of {}", names.join(", "))
            })
    }
}

/// Whether a chain id marks a chain made for tests (`--byzantine` is refused elsewhere unless
/// the operator insists): one of its words (runs of letters) is a test mark, so
/// "lantau-testnet-3f9a" is one and "latest-payments" or "attestation" are not.
pub fn is_test_chain(chain_id: &str) -> bool {
    const MARKS: [&str; 5] = ["test", "testnet", "bench", "demo", "devnet"];
    chain_id
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| MARKS.iter().any(|m| word.eq_ignore_ascii_case(m)))
}
