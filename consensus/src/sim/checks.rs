//! The invariants checked on what honest validators commit, and the round, time and
//! liveness bounds once the network is stable. (What they sign is checked by `monitor`.)

use std::collections::{BTreeMap, HashSet};

use ledger::crypto::sha256;
use ledger::encoding;
use ledger::{Block, CommitCertificate, PublicKey};

use super::{CHAIN_ID, ROUND_SLACK, Sim, Stable, Violation, app, sim_timeouts};
use crate::proposer::proposer;

impl Sim {
    pub(super) fn check_decision(
        &mut self,
        i: usize,
        block: &Block,
        certificate: &CommitCertificate,
    ) {
        let height = block.header.height;
        let hash = block.hash();
        // Each distinct certificate is checked once: they are many copies of few.
        let key = sha256(&[&encoding::encode(certificate)]);
        if !self.verified.contains(&key) {
            match certificate.verify(CHAIN_ID, height, &hash, &self.validators) {
                Ok(()) => {
                    self.verified.insert(key);
                }
                Err(e) => self.outcome.violations.push(Violation::Certificate {
                    node: i,
                    height,
                    error: e.to_string(),
                }),
            }
        }
        let tip = self.tip_hash(i);
        let valid = app::judge(
            &self.nodes[i].disk.state,
            &tip,
            height,
            block,
            &mut self.verified,
        );
        if !self.proposed.contains(&hash) || !valid {
            self.outcome.violations.push(Violation::Validity {
                node: i,
                height,
                block: hash,
            });
        }
        let bytes = encoding::encode(block);
        match self.decisions.get(&height) {
            Some((first, _)) if *first != hash => {
                self.outcome.violations.push(Violation::Agreement {
                    height,
                    first: *first,
                    second: hash,
                });
            }
            Some((_, first_bytes)) if *first_bytes != bytes => {
                self.outcome
                    .violations
                    .push(Violation::CommitBytes { node: i, height });
            }
            Some(_) => {}
            None => {
                self.decisions.insert(height, (hash, bytes));
            }
        }
    }

    /// The longest run of consecutive rounds (over the proposer seats, cyclic) whose
    /// proposers together hold at most two thirds of the power. Once the network is stable
    /// a round fails only if its proposer is faulty or does not hold the block that the
    /// highest lock is on, and the validators that can block a round that way (the faulty
    /// and those locked elsewhere) hold more than a third; with weighted power the seats of a
    /// heavy validator are consecutive, so such runs can be long.
    pub(super) fn failing_run(&self) -> u32 {
        let total = self.validators.total_power();
        let seats: Vec<PublicKey> = (0..total)
            .map(|s| proposer(&self.validators, s, 0))
            .collect();
        let mut best = 0;
        for start in 0..seats.len() {
            let mut holders = HashSet::new();
            let mut power = 0;
            let mut run = 0;
            for p in seats.iter().cycle().skip(start).take(seats.len()) {
                if holders.insert(*p) {
                    power += self.validators.power_of(p);
                }
                if 3 * power > 2 * total {
                    break;
                }
                run += 1;
            }
            best = best.max(run);
        }
        best
    }

    pub(super) fn round_bound(&self) -> u32 {
        self.failing_run() + ROUND_SLACK
    }

    pub(super) fn check_rounds(&mut self, stable: Stable) {
        let bound = self.round_bound();
        let mut rounds = BTreeMap::new();
        for i in self.honest_nodes() {
            for (b, c) in &self.nodes[i].disk.chain {
                rounds.entry(b.header.height).or_insert(c.round);
            }
        }
        for (height, round) in rounds {
            let began_after = height > 1
                && self
                    .first_decided_at
                    .get(&(height - 1))
                    .is_some_and(|&at| at > stable.at);
            if began_after {
                self.outcome.max_round_after_gst = self.outcome.max_round_after_gst.max(round);
                if round > bound {
                    self.outcome.violations.push(Violation::SlowRound {
                        height,
                        round,
                        bound,
                    });
                }
            }
        }
    }

    /// Time for a height starting in round `round` to be decided on a stable network: one
    /// rebroadcast for every validator to hear every round's votes, then up to
    /// `round_bound` rounds with their timeouts and message delays.
    pub(super) fn height_time_bound(&self, round: u32) -> u64 {
        let t = sim_timeouts();
        let delta = self.sc.delta_ms;
        let round_time = |r: u64| {
            t.propose_base_ms
                + t.prevote_base_ms
                + t.precommit_base_ms
                + r * (t.propose_delta_ms + t.prevote_delta_ms + t.precommit_delta_ms)
                + 4 * delta
        };
        let rounds = self.round_bound() as u64 + 1;
        t.rebroadcast_ms
            + 2 * delta
            + (0..rounds)
                .map(|k| round_time(round as u64 + k))
                .sum::<u64>()
    }

    pub(super) fn check_wedges(&mut self, stable: Stable) {
        for i in self.honest_nodes().collect::<Vec<_>>() {
            let times = &self.nodes[i].commit_times;
            let mut previous = 0;
            let mut first = true;
            let mut violation = None;
            for (index, &at) in times.iter().enumerate() {
                if at > stable.at {
                    let start = previous.max(stable.at);
                    let bound = self.height_time_bound(if first { stable.round } else { 0 });
                    first = false;
                    if at - start > bound {
                        violation = Some(Violation::Wedge {
                            node: i,
                            height: index as u64 + 1,
                            waited_ms: at - start,
                            bound_ms: bound,
                        });
                        break;
                    }
                }
                previous = at;
            }
            self.outcome.violations.extend(violation);
        }
    }
}
