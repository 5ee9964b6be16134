//! What a run reports: the invariants it saw broken, and counts for diagnosis.

use ledger::Hash;

use crate::signing_log::Step;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Agreement {
        height: u64,
        first: Hash,
        second: Hash,
    },
    Validity {
        node: usize,
        height: u64,
        block: Hash,
    },
    Certificate {
        node: usize,
        height: u64,
        error: String,
    },
    /// An honest validator committed other bytes than the first decision at this height.
    CommitBytes { node: usize, height: u64 },
    /// Total balance changed on an honest validator.
    Supply {
        node: usize,
        height: u64,
        supply: u128,
    },
    DoubleSign {
        node: usize,
        height: u64,
        round: u32,
        step: Step,
    },
    Unjustified {
        node: usize,
        height: u64,
        round: u32,
        why: &'static str,
    },
    /// A height that began once the network was stable needed too many rounds.
    SlowRound { height: u64, round: u32, bound: u32 },
    /// An honest validator took longer than the bound to decide a height while the network
    /// was stable and a quorum of honest validators up.
    Wedge {
        node: usize,
        height: u64,
        waited_ms: u64,
        bound_ms: u64,
    },
    Liveness {
        node: usize,
        height_reached: u64,
        target: u64,
    },
}

impl Violation {
    pub fn is_safety(&self) -> bool {
        !matches!(
            self,
            Violation::Liveness { .. } | Violation::Wedge { .. } | Violation::SlowRound { .. }
        )
    }

    /// A short name for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::Agreement { .. } => "agreement",
            Violation::Validity { .. } => "validity",
            Violation::Certificate { .. } => "certificate",
            Violation::CommitBytes { .. } => "commit bytes",
            Violation::Supply { .. } => "supply",
            Violation::DoubleSign { .. } => "double sign",
            Violation::Unjustified { why, .. } => why,
            Violation::SlowRound { .. } => "round bound",
            Violation::Wedge { .. } => "wedge",
            Violation::Liveness { .. } => "liveness",
        }
    }
}

/// What one simulation run saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub violations: Vec<Violation>,
    /// Highest certificate round among heights that began once the network was stable.
    pub max_round_after_gst: u32,
    pub messages_delivered: u64,
    /// Messages and sync replies refused for failing to decode (tampered bodies).
    pub refused: u64,
    pub evidence: u64,
    pub end_ms: u64,
    /// Lowest height every honest validator decided.
    pub heights: u64,
    /// Each node's state at the end, for diagnosing a failed run.
    pub final_states: Vec<String>,
}

impl Outcome {
    pub fn safety_violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.is_safety())
    }
}
