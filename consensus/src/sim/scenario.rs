//! A simulation scenario: who is faulty and how, and what the network does. Drawn from a
//! seed, so any failing run is reproduced by its seed alone.

use super::rng::Rng;
use crate::io::Mutation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Honest,
    /// Never sends anything.
    Silent,
    /// Runs honest code but sends conflicting proposals and votes to different halves of the
    /// network.
    Equivocator,
    /// One of two instances holding the same key, each running honest code: the network sees
    /// double votes.
    Twin,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Validators (keys). Twins add a second node for a key.
    pub validators: usize,
    /// Role of each validator key.
    pub roles: Vec<Role>,
    /// Heights every honest validator must decide.
    pub heights: u64,
    /// Global stabilisation time: before it messages may be lost, delayed up to
    /// `max_delay_ms`, and the network partitioned; after it every message arrives within
    /// `delta_ms` and honest validators that crashed are back up.
    pub gst_ms: u64,
    pub max_delay_ms: u64,
    pub delta_ms: u64,
    pub drop_prob: f64,
    pub duplicate_prob: f64,
    /// Honest validators crash and restart before GST.
    pub crashes: bool,
    /// Probability of crashing right after persisting a signature and before sending it.
    pub crash_after_persist_prob: f64,
    pub partitions: bool,
    pub mutation: Mutation,
}

impl Scenario {
    /// A random scenario for `n` validators with up to `f = (n-1)/3` Byzantine ones.
    pub fn random(seed: u64, n: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x5CE7_A210);
        let f = (n - 1) / 3;
        let byzantine = rng.range(0, f as u64) as usize;
        let mut roles = vec![Role::Honest; n];
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.range(0, i as u64) as usize);
        }
        for &v in order.iter().take(byzantine) {
            roles[v] = *rng.pick(&[Role::Silent, Role::Equivocator, Role::Twin]);
        }
        let crashes = rng.chance(0.5);
        Self {
            seed,
            validators: n,
            roles,
            heights: 3,
            gst_ms: rng.range(0, 8_000),
            max_delay_ms: rng.range(10, 1_500),
            delta_ms: rng.range(5, 100),
            drop_prob: *rng.pick(&[0.0, 0.05, 0.2, 0.4]),
            duplicate_prob: *rng.pick(&[0.0, 0.1, 0.3]),
            crashes,
            crash_after_persist_prob: if crashes { 0.02 } else { 0.0 },
            partitions: rng.chance(0.5),
            mutation: Mutation::None,
        }
    }

    pub fn f(&self) -> usize {
        (self.validators - 1) / 3
    }
}
