//! Hand-built schedules: the runs the random mix rarely finds, written as Twins-style scenarios
//! (which messages of which height, round and step reach whom before GST, and what the
//! Byzantine validator does). With four equal validators the proposer of height 1, round r
//! is key `(1 + r) mod 4`. Each must pass with the honest rules; each targets protocol rules
//! that, broken, let it fork or stall.

use super::scenario::{Crash, CrashAt, Cut, Lies, Role, Scenario, kinds, set};
use crate::config::Mutation;

/// Every schedule, in the order the mutation test tries them.
pub fn all() -> Vec<Scenario> {
    vec![
        locked_then_fresh_block(),
        locked_then_fake_pol_round(),
        locked_restart_then_fresh_block(),
        valid_value_from_lower_round(),
        lagger_after_gst(),
        tampered_bodies_and_sync(),
    ]
}

const FOREVER: u64 = u64::MAX / 2;
const GST: u64 = 10_000;

struct Builder(Scenario);

impl Builder {
    fn new(name: &'static str, n: usize) -> Self {
        Self(Scenario {
            seed: 1,
            name: Some(name),
            validators: n,
            powers: vec![1; n],
            roles: vec![Role::Honest; n],
            heights: 3,
            heights_after_stable: 2,
            gst_ms: GST,
            max_delay_ms: 20,
            delta_ms: 20,
            drop_prob: 0.0,
            duplicate_prob: 0.0,
            partitions: false,
            cuts: vec![],
            crashes: vec![],
            mutation: Mutation::None,
        })
    }

    fn byzantine(mut self, key: usize, lies: Lies) -> Self {
        self.0.roles[key] = Role::Byzantine(lies);
        self
    }

    /// Before GST, `kinds` messages at `heights` and `rounds` from `from` to `to` are lost.
    fn cut(
        mut self,
        heights: (u64, u64),
        rounds: (u32, u32),
        kinds: u8,
        from: &[usize],
        to: &[usize],
    ) -> Self {
        self.0.cuts.push(Cut {
            heights,
            rounds,
            kinds,
            from: set(from),
            to: set(to),
            until_ms: self.0.gst_ms,
        });
        self
    }

    fn crash_after_persist(mut self, node: usize, n: u32, down_ms: u64) -> Self {
        self.0.crashes.push(Crash {
            node,
            at: CrashAt::Persist(n),
            down_ms,
        });
        self
    }

    fn gst(mut self, ms: u64) -> Self {
        self.0.gst_ms = ms;
        for c in &mut self.0.cuts {
            c.until_ms = ms;
        }
        self
    }

    fn heights(mut self, heights: u64, after_stable: u64) -> Self {
        self.0.heights = heights;
        self.0.heights_after_stable = after_stable;
        self
    }

    fn build(self) -> Scenario {
        self.0
    }
}

/// Keys 1 and 2 (honest) lock on block v in round 0 of height 1 while only key 0 decides it:
/// the Byzantine key 3 precommits v to key 0 and nil to the others, and key 0's precommit is
/// lost. Round 1's proposal is lost. In round 2 key 3 proposes `lie` (a fresh block, with or
/// without a claimed proof-of-lock round). Honest locks refuse it; a validator that forgets
/// or ignores its lock decides it, and height 1 forks.
fn locked_split(name: &'static str, lie: Lies) -> Builder {
    let lies = Lies {
        split_votes: true,
        side: set(&[0]),
        ..lie
    };
    Builder::new(name, 4)
        .byzantine(3, lies)
        .cut((1, 1), (0, 0), kinds::PRECOMMIT, &[0], &[1, 2, 3])
        .cut((1, 1), (0, 0), kinds::PRECOMMIT, &[1, 2], &[3])
        .cut((1, 1), (1, 1), kinds::PROPOSAL, &[2], &[0, 1, 3])
        .cut((2, FOREVER), (0, u32::MAX), kinds::ALL, &[0], &[1, 2, 3])
}

/// Round 2 brings a fresh block with no proof-of-lock: rules 22/28 must keep the locks.
pub fn locked_then_fresh_block() -> Scenario {
    let lie = Lies {
        fresh_proposals: true,
        ..Lies::default()
    };
    locked_split("locked-then-fresh-block", lie).build()
}

/// Round 2 brings a fresh block claiming proof-of-lock round 1, where it had no prevotes:
/// rule 28 must check the claim.
pub fn locked_then_fake_pol_round() -> Scenario {
    let lie = Lies {
        fake_pol_round: true,
        ..Lies::default()
    };
    locked_split("locked-then-fake-pol-round", lie).build()
}

/// As [`locked_then_fresh_block`], but keys 1 and 2 crash right after signing their round-1
/// prevote (their fourth signature) and restart: the lock must survive the restart.
pub fn locked_restart_then_fresh_block() -> Scenario {
    let lie = Lies {
        fresh_proposals: true,
        ..Lies::default()
    };
    locked_split("locked-restart-then-fresh-block", lie)
        .crash_after_persist(1, 4, 100)
        .crash_after_persist(2, 4, 100)
        .build()
}

/// Key 3 alone sees round 0's polka for block w and keeps w as its valid value; keys 1 and 2
/// then lock on a fresh block v in round 1 (key 1 decides it; the Byzantine key 0 prevotes v
/// to them and nil to key 3; key 2's prevotes, which would relay that polka, do not reach
/// key 3). In round 2 key 3 re-proposes w with proof-of-lock round 0.
/// Key 2, locked in round 1, must not take a round-0 proof-of-lock as a reason to unlock.
pub fn valid_value_from_lower_round() -> Scenario {
    let lies = Lies {
        split_votes: true,
        side: set(&[3]),
        ..Lies::default()
    };
    Builder::new("valid-value-from-lower-round", 4)
        .byzantine(0, lies)
        .cut((1, 1), (0, 0), kinds::PREVOTE, &[1, 2], &[1, 2])
        .cut((1, 1), (1, 1), kinds::PRECOMMIT, &[1], &[2])
        .cut((1, 1), (1, 1), kinds::PREVOTE, &[2], &[3])
        .cut((2, FOREVER), (0, u32::MAX), kinds::ALL, &[1], &[0, 2, 3])
        .build()
}

/// Key 0 is cut off while every proposal is lost, so keys 1-3 go through dozens of rounds of
/// height 1 without deciding. At GST the Byzantine key 3 goes silent: keys 1 and 2 need key
/// 0, which must catch up to their round by the round-skip rule, not one timeout at a time.
pub fn lagger_after_gst() -> Scenario {
    let lies = Lies {
        quit_at_gst: true,
        ..Lies::default()
    };
    let all = [0, 1, 2, 3];
    Builder::new("lagger-after-gst", 4)
        .byzantine(3, lies)
        .cut((1, FOREVER), (0, u32::MAX), kinds::ALL, &[0], &[1, 2, 3])
        .cut((1, FOREVER), (0, u32::MAX), kinds::ALL, &[1, 2, 3], &[0])
        .cut((1, FOREVER), (0, u32::MAX), kinds::PROPOSAL, &all, &all)
        .gst(150_000)
        .heights(1, 1)
        .build()
}

/// The Byzantine key 3 relays every proposal with a tampered body and answers block sync
/// with tampered bodies; key 0 is cut off until GST and must catch up by sync. Every copy
/// with a tampered body must be refused and nothing but the decided bytes committed.
pub fn tampered_bodies_and_sync() -> Scenario {
    let lies = Lies {
        tamper_relay: true,
        tamper_sync: true,
        ..Lies::default()
    };
    Builder::new("tampered-bodies-and-sync", 4)
        .byzantine(3, lies)
        .cut((1, FOREVER), (0, u32::MAX), kinds::ALL, &[1, 2], &[0])
        .heights(6, 2)
        .build()
}
