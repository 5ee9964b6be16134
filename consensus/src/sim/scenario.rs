//! A simulation scenario: who is faulty and how, what the network does, and when validators
//! crash. Drawn from a seed ([`Scenario::random`]) or built by hand ([`super::schedules`]),
//! so any failing run is reproduced from its seed or schedule name alone.

use super::rng::Rng;
use crate::config::Mutation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Honest,
    /// Never sends anything.
    Silent,
    /// One of two instances holding the same key, each running honest code: the network sees
    /// two validators' worth of conflicting proposals and votes from one key, and cuts decide
    /// which honest validators hear which instance.
    Twin,
    /// Runs honest code and lies on top of it, as `Lies` says.
    Byzantine(Lies),
}

/// What a Byzantine validator does besides running honest code. `side` is a set of node
/// indices (bit i = node i): the validators a split message's first version goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lies {
    /// As proposer: two valid blocks of its own (the second invalid half the time), one to
    /// `side`, the other to the rest.
    pub equivocate: bool,
    /// As proposer: a fresh block with no proof-of-lock round, whatever its valid value.
    pub fresh_proposals: bool,
    /// As proposer above round 0: a fresh block claiming a proof-of-lock round (`pol_round`)
    /// that has no quorum of prevotes behind it.
    pub fake_pol_round: bool,
    /// As voter: its honest vote to `side`, a vote for another block of the round (or nil)
    /// to the rest. In a round where it proposed, it votes for the block each side was shown.
    pub split_votes: bool,
    /// Precommits go to `side` only: one validator can decide while the others lock and
    /// move on.
    pub precommit_to_side: bool,
    /// Holds every message back until GST, then releases them all at once.
    pub withhold_until_gst: bool,
    /// Goes silent at GST (after taking part before it), so the honest validators must
    /// finish without it.
    pub quit_at_gst: bool,
    /// Relays every proposal it receives with a tampered body (header and signature intact).
    pub tamper_relay: bool,
    /// Answers block sync with a tampered body under a valid header and certificate.
    pub tamper_sync: bool,
    pub side: u64,
}

/// Message kinds, as a bit set for [`Cut`].
pub mod kinds {
    pub const PROPOSAL: u8 = 1;
    pub const PREVOTE: u8 = 2;
    pub const PRECOMMIT: u8 = 4;
    pub const ALL: u8 = 7;
}

/// A network fault aimed at protocol positions: messages of `kinds` at heights and rounds in
/// the given (inclusive) ranges, sent by a node in `from` to a node in `to`, are lost, every
/// copy, until `until_ms` (at most GST). Rebroadcasts are lost too, so the cut views persist:
/// the Twins way of putting validators in the states that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub heights: (u64, u64),
    pub rounds: (u32, u32),
    pub kinds: u8,
    pub from: u64,
    pub to: u64,
    pub until_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAt {
    /// At a virtual time (before or after GST).
    Time(u64),
    /// Right after the node's `n`-th persisted signature (1-based), before it is sent.
    Persist(u32),
}

/// An honest node crashes and comes back `down_ms` later from its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub node: usize,
    pub at: CrashAt,
    pub down_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed of the network's randomness (delays, drops); also names a random scenario.
    pub seed: u64,
    /// A hand-built schedule's name; `None` for a random one.
    pub name: Option<&'static str>,
    /// Validators (keys). Twins add a second node for a key.
    pub validators: usize,
    /// Voting power of each validator key.
    pub powers: Vec<u64>,
    /// Role of each validator key.
    pub roles: Vec<Role>,
    /// Heights every honest validator must decide.
    pub heights: u64,
    /// Heights every honest validator must decide after the network is stable (GST passed,
    /// every crashed node back): the liveness and wedge bounds apply to these.
    pub heights_after_stable: u64,
    /// Global stabilisation time: before it messages may be lost, delayed up to
    /// `max_delay_ms`, and the network partitioned; after it every message arrives within
    /// `delta_ms`.
    pub gst_ms: u64,
    pub max_delay_ms: u64,
    pub delta_ms: u64,
    pub drop_prob: f64,
    pub duplicate_prob: f64,
    /// Random time-based partitions before GST.
    pub partitions: bool,
    pub cuts: Vec<Cut>,
    pub crashes: Vec<Crash>,
    pub mutation: Mutation,
}

impl Scenario {
    /// A random scenario for `n` validators: equal or weighted power (sometimes one validator
    /// just under a third), Byzantine validators holding less than a third of the power,
    /// crashes at random persist positions and times (some after GST), cuts, partitions.
    pub fn random(seed: u64, n: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x5CE7_A210);
        let powers = match rng.range(0, 2) {
            0 => vec![1; n],
            1 => (0..n).map(|_| rng.range(1, 10)).collect(),
            // The first validator just under a third of the total.
            _ => {
                let heavy = (3 * (n as u64 - 1) - 1) / 2;
                std::iter::once(heavy).chain(vec![3; n - 1]).collect()
            }
        };
        let total: u64 = powers.iter().sum();
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.range(0, i as u64) as usize);
        }
        // Byzantine validators while their power stays below a third (and at most one in
        // six runs has none).
        let wanted = rng.range(0, 5);
        let mut roles = vec![Role::Honest; n];
        let mut faulty_power = 0;
        let mut chosen = 0;
        for &v in &order {
            if chosen >= wanted || 3 * (faulty_power + powers[v]) >= total {
                continue;
            }
            faulty_power += powers[v];
            chosen += 1;
            roles[v] = match rng.range(0, 3) {
                0 => Role::Silent,
                1 => Role::Twin,
                _ => Role::Byzantine(Lies::default()),
            };
        }
        let nodes = node_count(&roles);
        for role in roles.iter_mut() {
            if let Role::Byzantine(lies) = role {
                *lies = Lies {
                    equivocate: rng.chance(0.5),
                    fresh_proposals: rng.chance(0.3),
                    fake_pol_round: rng.chance(0.3),
                    split_votes: rng.chance(0.6),
                    precommit_to_side: rng.chance(0.3),
                    withhold_until_gst: rng.chance(0.15),
                    quit_at_gst: rng.chance(0.15),
                    tamper_relay: rng.chance(0.3),
                    tamper_sync: rng.chance(0.3),
                    side: rng.next_u64() & mask(nodes),
                };
            }
        }
        let gst_ms = rng.range(500, 8_000);
        let cuts = (0..rng.range(0, 4))
            .map(|_| {
                let h = rng.range(1, 4);
                let r = rng.range(0, 3) as u32;
                Cut {
                    heights: (h, h + rng.range(0, 1)),
                    rounds: (r, r + rng.range(0, 2) as u32),
                    kinds: rng.range(1, kinds::ALL as u64) as u8,
                    from: rng.next_u64() & mask(nodes),
                    to: rng.next_u64() & mask(nodes),
                    until_ms: gst_ms,
                }
            })
            .collect();
        let honest: Vec<usize> = node_roles(&roles)
            .into_iter()
            .enumerate()
            .filter(|(_, (_, r))| *r == Role::Honest)
            .map(|(i, _)| i)
            .collect();
        let crashes = if rng.chance(0.6) {
            (0..rng.range(1, 3))
                .map(|_| Crash {
                    node: *rng.pick(&honest),
                    at: if rng.chance(0.6) {
                        // Any persist position: proposals, prevotes and precommits of the
                        // first heights, before and after GST.
                        CrashAt::Persist(rng.range(1, 40) as u32)
                    } else {
                        CrashAt::Time(rng.range(0, gst_ms + 3_000))
                    },
                    down_ms: rng.range(50, 2_000),
                })
                .collect()
        } else {
            vec![]
        };
        Self {
            seed,
            name: None,
            validators: n,
            powers,
            roles,
            heights: 10,
            heights_after_stable: 3,
            gst_ms,
            max_delay_ms: rng.range(10, 1_500),
            delta_ms: rng.range(5, 100),
            drop_prob: *rng.pick(&[0.0, 0.05, 0.2, 0.4]),
            duplicate_prob: *rng.pick(&[0.0, 0.1, 0.3]),
            partitions: rng.chance(0.5),
            cuts,
            crashes,
            mutation: Mutation::None,
        }
    }

    /// `(key index, role)` of every node: a Twin key has two nodes, next to each other.
    pub fn nodes(&self) -> Vec<(usize, Role)> {
        node_roles(&self.roles)
    }

    pub fn total_power(&self) -> u64 {
        self.powers.iter().sum()
    }
}

fn node_roles(roles: &[Role]) -> Vec<(usize, Role)> {
    roles
        .iter()
        .enumerate()
        .flat_map(|(key, role)| {
            let copies = if *role == Role::Twin { 2 } else { 1 };
            std::iter::repeat_n((key, *role), copies)
        })
        .collect()
}

fn node_count(roles: &[Role]) -> usize {
    node_roles(roles).len()
}

/// The set of the first `nodes` node indices.
pub fn mask(nodes: usize) -> u64 {
    if nodes >= 64 {
        u64::MAX
    } else {
        (1 << nodes) - 1
    }
}

/// The set of the given node indices.
pub fn set(nodes: &[usize]) -> u64 {
    nodes.iter().fold(0, |m, &i| m | (1 << i))
}
