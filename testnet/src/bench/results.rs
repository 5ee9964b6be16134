//! From raw samples to numbers: throughput and latencies over the measured window, counts of
//! every transaction's fate, a per-second timeline, and the CSV/JSON files that keep it all.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use interface::http::CommitInfo;
use ledger::Hash;
use serde::{Deserialize, Serialize};

use super::load::{Ack, Sent, Workload};
use crate::TestnetError;

/// Mean and percentiles of a set of samples (ms); zeros when there are none.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub samples: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        Self {
            samples: values.len(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// A fault as it happened, for the timeline and the plots.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppliedFault {
    /// Seconds after the load started.
    pub at_secs: f64,
    pub what: String,
    /// Validators this fault killed (their mempools, memory only, are gone) and when the kill
    /// was done, in seconds after the load started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub killed: Vec<u16>,
    #[serde(default)]
    pub done_secs: f64,
}

/// How long before a kill an admitted transaction may still be only in the killed validator's
/// memory: the outbox lingers 10 ms before gossiping, and a loaded machine delays both ends.
pub const CRASH_EXPOSURE_MS: u64 = 250;

/// One (validators, rate) point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointSummary {
    pub label: String,
    pub validators: usize,
    pub offered_tps: u64,
    pub tx_size: usize,
    pub window_secs: f64,
    pub sent: usize,
    pub accepted: usize,
    /// Final refusals by the node's error code (after retries).
    pub rejected: BTreeMap<String, usize>,
    /// Resubmissions of refused transactions (full mempool, sender limit, nonce gap,
    /// unreachable node), as a client would.
    pub retried: usize,
    pub unreachable: usize,
    /// Our transactions seen committed (any time).
    pub committed: usize,
    /// Accepted but never committed, after draining, although every earlier transfer of the
    /// same sender was accepted: lost by the network.
    pub dropped: usize,
    /// Accepted but never committed behind an earlier nonce of the same sender that stayed
    /// refused (the client resubmits only refusals that clear by themselves, and only for
    /// `retry_for`): the refusal is counted, this is its consequence.
    pub stranded: usize,
    /// Accepted by a validator at most [`CRASH_EXPOSURE_MS`] before a fault killed it, and
    /// never committed: it died in that validator's mempool, which is memory only (as in
    /// CometBFT; a client resubmits what it does not see committed). The sender's later
    /// transfers count as stranded.
    #[serde(default)]
    pub crash_lost: usize,
    /// Committed during the window, per second.
    pub committed_tps: f64,
    pub blocks_per_sec: f64,
    /// Client send to commit on the observing validator, for transactions sent in the window.
    pub e2e_latency_ms: Stats,
    /// Proposal (the proposer's block timestamp) to commit, per block in the window.
    pub consensus_latency_ms: Stats,
    /// The accepting answer to commit on the observing validator, for transactions sent in the
    /// window: the wait a node answers for once it said yes. e2e adds what the client waited
    /// before that (backing off after refusals, under overload).
    #[serde(default)]
    pub accepted_latency_ms: Stats,
    /// The first stage of e2e: client send to the proposal that carried the transaction
    /// (submission, gossip, waiting in the mempool), for transactions sent in the window.
    pub queue_latency_ms: Stats,
    pub faults: Vec<AppliedFault>,
    /// The measured window, in seconds after the load started (before it: warm-up).
    #[serde(default)]
    pub window_from_secs: f64,
    #[serde(default)]
    pub window_to_secs: f64,
    /// Heights committed during the run, and how many needed more than round 0.
    #[serde(default)]
    pub rounds: Rounds,
    /// p2p messages the honest validators received during the point, by kind, from their
    /// `/metrics` (summed over validators).
    #[serde(default)]
    pub messages_received: BTreeMap<String, u64>,
    /// Where a height's time went on the honest validators (their `/metrics`).
    #[serde(default)]
    pub stages: super::stages::Stages,
    /// CPU time and peak memory of every validator and of the load generator.
    #[serde(default)]
    pub resources: super::resources::Resources,
    /// Validators that lied on purpose all run long, as `node3 equivocate`.
    #[serde(default)]
    pub byzantine: Vec<String>,
    /// What the honest validators held at the end (agreement, forged transfers, panics,
    /// memory): see `audit`.
    #[serde(default)]
    pub audit: super::audit::Audit,
    /// No accepted transaction was lost and the audit is clean: the run counts.
    pub complete: bool,
}

/// Heights a point committed, by the round that decided them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Rounds {
    pub heights: usize,
    /// Decided in round 1 or later: a proposer missed its turn or the votes split.
    pub after_round_0: usize,
    pub max_round: u32,
}

/// Everything one point produced.
pub struct PointData {
    pub summary: PointSummary,
    /// (second since load start, committed in that second, sent in that second)
    pub timeline: Vec<(u64, usize, usize)>,
    /// Per transaction: commit time and height on the observer, if committed.
    pub commit_ms: Vec<Option<u64>>,
    pub commit_height: Vec<Option<u64>>,
    /// Per committed transaction: (seconds after the load started that it was sent, e2e ms).
    pub latencies: Vec<(f64, f64)>,
}

/// Which point this is.
pub struct PointId {
    pub label: String,
    pub validators: usize,
    pub offered_tps: u64,
}

pub struct Window {
    pub load_start_ms: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Join the client's samples with the observer's commits.
pub fn analyse(
    id: PointId,
    workload: &Workload,
    sent: &Sent,
    commits: &[CommitInfo],
    window: &Window,
    faults: Vec<AppliedFault>,
) -> PointData {
    let index: HashMap<Hash, usize> = workload
        .hashes
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, i))
        .collect();
    let mut commit_ms: Vec<Option<u64>> = vec![None; workload.txs.len()];
    let mut commit_height: Vec<Option<u64>> = vec![None; workload.txs.len()];
    let mut rounds = Rounds::default();
    let mut proposed_ms: Vec<u64> = vec![0; workload.txs.len()];
    let in_window = |ms: u64| ms >= window.start_ms && ms < window.end_ms;
    let mut consensus = Vec::new();
    let mut blocks_in_window = 0;
    let mut committed_in_window = 0;
    for c in commits {
        rounds.heights += 1;
        rounds.after_round_0 += usize::from(c.round > 0);
        rounds.max_round = rounds.max_round.max(c.round);
        if in_window(c.committed_at_ms) {
            blocks_in_window += 1;
            consensus.push(c.committed_at_ms.saturating_sub(c.proposed_at_ms) as f64);
        }
        for h in &c.txs {
            if let Some(&i) = index.get(h)
                && commit_ms[i].is_none()
            {
                commit_ms[i] = Some(c.committed_at_ms);
                commit_height[i] = Some(c.height);
                proposed_ms[i] = c.proposed_at_ms;
                committed_in_window += usize::from(in_window(c.committed_at_ms));
            }
        }
    }
    let mut rejected = BTreeMap::new();
    let (mut accepted, mut unreachable, mut sent_count) = (0, 0, 0);
    let (mut dropped, mut stranded, mut crash_lost) = (0, 0, 0);
    let load_ms = |secs: f64| window.load_start_ms + (secs * 1000.0) as u64;
    let died_in_crash = |i: usize| {
        faults.iter().any(|f| {
            f.killed.contains(&sent.node[i])
                && sent.accepted_ms[i] + CRASH_EXPOSURE_MS >= load_ms(f.at_secs)
                && sent.accepted_ms[i] <= load_ms(f.done_secs)
        })
    };
    // Senders with a refused transfer so far (in sending order, which is nonce order).
    let mut refused_sender: std::collections::HashSet<u32> = Default::default();
    let mut e2e = Vec::new();
    let mut queue = Vec::new();
    let mut after_accept = Vec::new();
    for (i, ack) in sent.acks.iter().enumerate() {
        match ack {
            Ack::NotSent => continue,
            Ack::Accepted if commit_ms[i].is_none() => {
                accepted += 1;
                if refused_sender.contains(&workload.sender[i]) {
                    stranded += 1;
                } else if died_in_crash(i) {
                    crash_lost += 1;
                    refused_sender.insert(workload.sender[i]);
                } else {
                    dropped += 1;
                }
            }
            Ack::Accepted => accepted += 1,
            Ack::Rejected(code) => {
                *rejected.entry(code.clone()).or_insert(0) += 1;
                refused_sender.insert(workload.sender[i]);
            }
            Ack::Unreachable => {
                unreachable += 1;
                refused_sender.insert(workload.sender[i]);
            }
        }
        sent_count += 1;
        if let Some(c) = commit_ms[i]
            && in_window(sent.sent_ms[i])
        {
            e2e.push(c.saturating_sub(sent.sent_ms[i]) as f64);
            queue.push(proposed_ms[i].saturating_sub(sent.sent_ms[i]) as f64);
            after_accept.push(c.saturating_sub(sent.accepted_ms[i]) as f64);
        }
    }
    let committed = commit_ms.iter().flatten().count();
    let window_secs = (window.end_ms - window.start_ms) as f64 / 1000.0;

    let since_load = |ms: u64| ms.saturating_sub(window.load_start_ms) as f64 / 1000.0;
    let latencies = (0..sent.acks.len())
        .filter_map(|i| {
            let c = commit_ms[i]?;
            Some((
                since_load(sent.sent_ms[i]),
                c.saturating_sub(sent.sent_ms[i]) as f64,
            ))
        })
        .collect();
    let second = |ms: u64| ms.saturating_sub(window.load_start_ms) / 1000;
    let mut timeline: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for (i, ack) in sent.acks.iter().enumerate() {
        if *ack != Ack::NotSent {
            timeline.entry(second(sent.sent_ms[i])).or_default().1 += 1;
        }
        if let Some(c) = commit_ms[i] {
            timeline.entry(second(c)).or_default().0 += 1;
        }
    }
    PointData {
        summary: PointSummary {
            label: id.label,
            validators: id.validators,
            offered_tps: id.offered_tps,
            tx_size: workload.tx_size,
            window_secs,
            sent: sent_count,
            accepted,
            rejected,
            retried: sent.retries,
            unreachable,
            committed,
            dropped,
            stranded,
            crash_lost,
            committed_tps: committed_in_window as f64 / window_secs,
            blocks_per_sec: blocks_in_window as f64 / window_secs,
            e2e_latency_ms: Stats::of(e2e),
            consensus_latency_ms: Stats::of(consensus),
            queue_latency_ms: Stats::of(queue),
            accepted_latency_ms: Stats::of(after_accept),
            faults,
            window_from_secs: since_load(window.start_ms),
            window_to_secs: since_load(window.end_ms),
            rounds,
            messages_received: BTreeMap::new(),
            stages: Default::default(),
            resources: Default::default(),
            byzantine: vec![],
            audit: Default::default(),
            complete: dropped == 0,
        },
        timeline: timeline
            .into_iter()
            .map(|(s, (committed, sent))| (s, committed, sent))
            .collect(),
        commit_ms,
        commit_height,
        latencies,
    }
}

pub(super) fn write(path: &Path, text: &str) -> Result<(), TestnetError> {
    std::fs::write(path, text).map_err(|e| TestnetError::io(path, e))
}

/// `samples.csv`, `blocks.csv`, `timeline.csv` and `summary.json` in `dir`.
pub fn write_point(
    dir: &Path,
    data: &PointData,
    sent: &Sent,
    commits: &[CommitInfo],
) -> Result<(), TestnetError> {
    std::fs::create_dir_all(dir).map_err(|e| TestnetError::io(dir, e))?;
    let mut samples =
        String::from("tx,node,sent_ms,ack,accepted_ms,commit_ms,commit_height,latency_ms\n");
    for (i, ack) in sent.acks.iter().enumerate() {
        let ack = match ack {
            Ack::NotSent => continue,
            Ack::Accepted => "accepted",
            Ack::Rejected(code) => code.as_str(),
            Ack::Unreachable => "unreachable",
        };
        let (commit, height, latency) = match (data.commit_ms[i], data.commit_height[i]) {
            (Some(c), Some(h)) => (
                c.to_string(),
                h.to_string(),
                c.saturating_sub(sent.sent_ms[i]).to_string(),
            ),
            _ => Default::default(),
        };
        let _ = writeln!(
            samples,
            "{i},{},{},{ack},{},{commit},{height},{latency}",
            sent.node[i],
            sent.sent_ms[i],
            Some(sent.accepted_ms[i])
                .filter(|ms| *ms > 0)
                .map_or(String::new(), |ms| ms.to_string())
        );
    }
    write(&dir.join("samples.csv"), &samples)?;
    let mut blocks = String::from("height,round,proposed_at_ms,committed_at_ms,txs\n");
    for c in commits {
        let _ = writeln!(
            blocks,
            "{},{},{},{},{}",
            c.height,
            c.round,
            c.proposed_at_ms,
            c.committed_at_ms,
            c.txs.len()
        );
    }
    write(&dir.join("blocks.csv"), &blocks)?;
    let mut timeline = String::from("second,committed,sent\n");
    for (s, committed, sent) in &data.timeline {
        let _ = writeln!(timeline, "{s},{committed},{sent}");
    }
    write(&dir.join("timeline.csv"), &timeline)?;
    write(
        &dir.join("summary.json"),
        &serde_json::to_string_pretty(&data.summary).expect("serialises"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_behind_a_refused_nonce_are_stranded_not_dropped() {
        let w = super::super::load::presign("t", 3, 1, 0);
        let sent = Sent {
            sent_ms: vec![1_000; 3],
            acks: vec![
                Ack::Rejected("mempool_full".into()),
                Ack::Accepted,
                Ack::Accepted,
            ],
            node: vec![0; 3],
            accepted_ms: vec![0, 1_000, 1_000],
            retries: 0,
        };
        let window = Window {
            load_start_ms: 0,
            start_ms: 0,
            end_ms: 2_000,
        };
        let id = PointId {
            label: "p".into(),
            validators: 4,
            offered_tps: 3,
        };
        let s = analyse(id, &w, &sent, &[], &window, vec![]).summary;
        assert_eq!((s.dropped, s.stranded), (0, 2));
        assert!(s.complete);
    }

    /// A validator's mempool is memory only: what it admitted just before a kill may die with it,
    /// and that is told apart from a loss anywhere else, which still fails the run.
    #[test]
    fn transfers_admitted_just_before_a_kill_are_lost_in_it_not_dropped() {
        // Five senders; sender s's first transfer is tx s, its second tx 5 + s.
        let w = super::super::load::presign("t", 10, 5, 0);
        let kill = AppliedFault {
            at_secs: 2.0,
            what: "kill node1".into(),
            killed: vec![1],
            done_secs: 2.01,
        };
        let mut sent = Sent {
            sent_ms: vec![1_000; 10],
            acks: vec![Ack::Accepted; 10],
            // tx 0: node1, 100 ms before the kill; tx 1: node1, 1.5 s before it; tx 2: node0,
            // 100 ms before it; tx 3: node1 after the kill was done (it cannot have been).
            node: vec![1, 1, 0, 1, 0, 1, 1, 0, 0, 0],
            accepted_ms: vec![
                1_900, 500, 1_900, 2_500, 1_000, 2_600, 2_600, 2_600, 2_600, 2_600,
            ],
            retries: 0,
        };
        sent.sent_ms[5..].fill(2_500);
        // Everything else is committed.
        let committed: Vec<Hash> = [4, 7, 8, 9].iter().map(|&i| w.hashes[i]).collect();
        let commits = vec![CommitInfo {
            height: 1,
            round: 0,
            proposed_at_ms: 2_900,
            committed_at_ms: 3_000,
            txs: committed,
            proposer: ledger::Keypair::from_seed("v0").public(),
        }];
        let window = Window {
            load_start_ms: 0,
            start_ms: 0,
            end_ms: 4_000,
        };
        let id = PointId {
            label: "p".into(),
            validators: 4,
            offered_tps: 3,
        };
        let s = analyse(id, &w, &sent, &commits, &window, vec![kill]).summary;
        assert_eq!(s.crash_lost, 1, "tx 0 died in node1's mempool");
        assert_eq!(s.stranded, 1, "tx 5 waits behind tx 0's nonce");
        assert_eq!(s.dropped, 4, "txs 1, 2, 3 and 6 had no kill to blame");
        assert!(!s.complete);
    }

    #[test]
    fn percentiles_of_known_samples() {
        let s = Stats::of((1..=100).map(f64::from).collect());
        assert_eq!((s.samples, s.p50, s.p99, s.max), (100, 51.0, 99.0, 100.0));
        assert_eq!(s.mean, 50.5);
        assert_eq!(Stats::of(vec![]).samples, 0);
    }

    #[test]
    fn analysis_joins_sends_with_commits() {
        let w = super::super::load::presign("t", 4, 2, 0);
        let sent = Sent {
            sent_ms: vec![1_000, 1_000, 2_000, 2_000],
            acks: vec![
                Ack::Accepted,
                Ack::Accepted,
                Ack::Rejected("mempool_full".into()),
                Ack::Accepted,
            ],
            node: vec![0, 1, 0, 1],
            accepted_ms: vec![1_000, 1_200, 0, 2_000],
            retries: 0,
        };
        let commits = vec![CommitInfo {
            height: 5,
            round: 0,
            proposed_at_ms: 1_100,
            committed_at_ms: 1_300,
            txs: vec![w.hashes[0], w.hashes[1]],
            proposer: ledger::Keypair::from_seed("v0").public(),
        }];
        let window = Window {
            load_start_ms: 0,
            start_ms: 500,
            end_ms: 2_500,
        };
        let id = PointId {
            label: "p".into(),
            validators: 4,
            offered_tps: 2,
        };
        let d = analyse(id, &w, &sent, &commits, &window, vec![]);
        let s = &d.summary;
        assert_eq!((s.sent, s.accepted, s.committed, s.dropped), (4, 3, 2, 1));
        assert_eq!(s.stranded, 0, "tx 3's sender had nothing refused");
        assert_eq!(s.rejected["mempool_full"], 1);
        assert!(!s.complete, "tx 3 was accepted and never committed");
        assert_eq!(s.e2e_latency_ms.p50, 300.0);
        assert_eq!(
            (s.accepted_latency_ms.mean, s.accepted_latency_ms.max),
            (200.0, 300.0),
            "tx 1 was accepted 200 ms after it was sent (a retry), 100 ms before its commit"
        );
        assert_eq!(s.consensus_latency_ms.mean, 200.0);
        assert_eq!(
            s.queue_latency_ms.p50, 100.0,
            "sent at 1000, proposed at 1100"
        );
        assert_eq!(s.committed_tps, 1.0);
        assert_eq!(d.timeline, vec![(1, 2, 2), (2, 0, 2)]);
    }
}
