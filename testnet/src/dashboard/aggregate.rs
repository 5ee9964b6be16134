//! What the dashboard shows, computed from polls of the validators' public API: pure
//! functions of the polls (no I/O), so every number on the page is unit-tested.
//!
//! - Rates (tx/s, blocks/s) come from each validator's counters (`lantau_txs_committed_total`,
//!   `lantau_blocks_committed_total`) between two polls; a counter that went down means the
//!   process restarted, and that interval is skipped. The chain's rate in a second is the
//!   highest any validator saw then (a validator that lags or restarts never hides it).
//! - Commit latency is proposal to the first validator's commit, per block, from
//!   `/v1/commits`; p50/p99 over the last minute.
//! - A validator whose poll fails or times out is down from that poll on, and keeps its last
//!   known numbers, greyed; it never stops the others being shown.

use std::collections::{BTreeMap, HashMap};

use interface::http::{CommitInfo, NodeStatus, PeerView};
use ledger::PublicKey;
use serde::Serialize;

/// Seconds of rate history kept for the charts.
pub const HISTORY_SECS: u64 = 300;
/// Blocks kept for latency, rounds and the latest-blocks table.
const MAX_BLOCKS: usize = 2048;
/// The latency window.
const LATENCY_WINDOW_MS: u64 = 60_000;
/// Heights behind the best committed height before a validator is listed as behind.
pub const BEHIND_AFTER: u64 = 3;

/// One poll of one validator.
pub struct Poll {
    pub at_ms: u64,
    /// How long `/v1/status` took.
    pub latency_ms: u64,
    pub outcome: Result<Polled, String>,
}

/// What a validator answered.
pub struct Polled {
    pub status: NodeStatus,
    pub commits: Vec<CommitInfo>,
    pub metrics: String,
    pub peers: Vec<PeerView>,
}

/// Names for what the API identifies by key: validators (by public key) and peers (by
/// libp2p peer id). Anything not named is shown shortened.
#[derive(Default, Clone)]
pub struct Names {
    pub validators: HashMap<PublicKey, String>,
    pub peers: HashMap<String, String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub url: String,
    pub up: bool,
    /// Why the last poll failed.
    pub error: Option<String>,
    pub down_since_ms: Option<u64>,
    pub committed_height: u64,
    pub height: u64,
    pub round: u32,
    pub peers: usize,
    pub mempool: usize,
    pub syncing: bool,
    pub halted: Option<String>,
    pub latency_ms: u64,
    /// Heights below the best committed height of any validator.
    pub behind: u64,
    /// Gossip messages and sync replies this validator rejected (from its metrics).
    pub gossip_rejected: f64,
    pub sync_rejected: f64,
    pub ever_polled: bool,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct BlockRow {
    pub height: u64,
    pub round: u32,
    pub txs: usize,
    pub proposer: String,
    pub proposed_at_ms: u64,
    /// Proposal to the first commit any validator reported.
    pub commit_ms: u64,
}

pub use super::metrics_text::{Counts, parse_metrics};

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PeerScore {
    /// The peer, named when known.
    pub peer: String,
    /// The lowest score any validator gives it (negative after rejected messages).
    pub worst_score: f64,
    pub seen_by: usize,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub at_ms: u64,
    pub nodes: Vec<NodeRow>,
    /// `[second (ms since the epoch), tx/s, blocks/s]`, oldest first, one per second seen.
    pub rates: Vec<(u64, f64, f64)>,
    pub latency_p50_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    /// Of the blocks kept, how many needed more than one round.
    pub later_rounds: usize,
    pub blocks_kept: usize,
    pub latest_blocks: Vec<BlockRow>,
    pub refusals: Counts,
    pub consensus_refusals: Counts,
    pub peer_scores: Vec<PeerScore>,
    /// Up validators more than [`BEHIND_AFTER`] heights behind.
    pub behind: Vec<String>,
}

/// A block as the dashboard keeps it.
struct SeenBlock {
    round: u32,
    txs: usize,
    proposer: PublicKey,
    proposed_at_ms: u64,
    first_commit_ms: u64,
}

/// Counter readings of one validator at one poll.
#[derive(Clone, Copy)]
struct Reading {
    at_ms: u64,
    txs: f64,
    blocks: f64,
}

struct NodeState {
    row: NodeRow,
    last_reading: Option<Reading>,
    peers: Vec<PeerView>,
    refusals: Counts,
    consensus_refusals: Counts,
}

/// Every poll so far, reduced to what the page shows.
pub struct Aggregator {
    names: Names,
    nodes: Vec<NodeState>,
    blocks: BTreeMap<u64, SeenBlock>,
    /// Per second: the highest tx/s and blocks/s any validator saw.
    rates: BTreeMap<u64, (f64, f64)>,
}

impl Aggregator {
    /// One row per validator, named and with its API URL, in display order.
    pub fn new(targets: &[(String, String)], names: Names) -> Self {
        let nodes = targets
            .iter()
            .map(|(name, url)| NodeState {
                row: NodeRow {
                    name: name.clone(),
                    url: url.clone(),
                    up: false,
                    error: Some("not polled yet".into()),
                    down_since_ms: None,
                    committed_height: 0,
                    height: 0,
                    round: 0,
                    peers: 0,
                    mempool: 0,
                    syncing: false,
                    halted: None,
                    latency_ms: 0,
                    behind: 0,
                    gossip_rejected: 0.0,
                    sync_rejected: 0.0,
                    ever_polled: false,
                },
                last_reading: None,
                peers: vec![],
                refusals: Counts::new(),
                consensus_refusals: Counts::new(),
            })
            .collect();
        Self {
            names,
            nodes,
            blocks: BTreeMap::new(),
            rates: BTreeMap::new(),
        }
    }

    /// The height to ask `node`'s `/v1/commits` from: the first not kept yet, but no more
    /// than the last 20 it committed (the page shows recent blocks, not all of them).
    pub fn commits_from(&self, node: usize) -> u64 {
        let recent = self.nodes[node].row.committed_height.saturating_sub(20);
        let next = self.blocks.keys().next_back().map_or(0, |&last| last + 1);
        next.max(recent).max(1)
    }

    /// Take one poll of validator `node`.
    pub fn record(&mut self, node: usize, poll: Poll) {
        let state = &mut self.nodes[node];
        state.row.latency_ms = poll.latency_ms;
        let polled = match poll.outcome {
            Err(error) => {
                if state.row.up || state.row.down_since_ms.is_none() {
                    state.row.down_since_ms = Some(poll.at_ms);
                }
                state.row.up = false;
                state.row.error = Some(error);
                state.last_reading = None;
                return;
            }
            Ok(polled) => polled,
        };
        let s = &polled.status;
        let row = &mut state.row;
        row.up = true;
        row.ever_polled = true;
        row.error = None;
        row.down_since_ms = None;
        row.committed_height = s.committed_height;
        row.height = s.height;
        row.round = s.round;
        row.peers = s.peers;
        row.mempool = s.mempool;
        row.syncing = s.syncing;
        row.halted = s.halted.clone();
        let metrics = parse_metrics(&polled.metrics);
        row.gossip_rejected = metrics.sum("lantau_gossip_rejected_total");
        row.sync_rejected = metrics.sum("lantau_sync_replies_rejected_total");
        state.refusals = metrics.by_label("lantau_txs_refused_total", "code");
        state.consensus_refusals =
            metrics.by_label("lantau_consensus_messages_refused_total", "reason");
        state.peers = polled.peers;
        let reading = Reading {
            at_ms: poll.at_ms,
            txs: metrics.sum("lantau_txs_committed_total"),
            blocks: metrics.sum("lantau_blocks_committed_total"),
        };
        if let Some(last) = state.last_reading
            && reading.at_ms > last.at_ms
            && reading.txs >= last.txs
            && reading.blocks >= last.blocks
        {
            let secs = (reading.at_ms - last.at_ms) as f64 / 1000.0;
            let (tps, bps) = (
                (reading.txs - last.txs) / secs,
                (reading.blocks - last.blocks) / secs,
            );
            let second = poll.at_ms / 1000 * 1000;
            let entry = self.rates.entry(second).or_insert((0.0, 0.0));
            entry.0 = entry.0.max(tps);
            entry.1 = entry.1.max(bps);
        }
        state.last_reading = Some(reading);
        for c in polled.commits {
            let block = self.blocks.entry(c.height).or_insert(SeenBlock {
                round: c.round,
                txs: c.txs.len(),
                proposer: c.proposer,
                proposed_at_ms: c.proposed_at_ms,
                first_commit_ms: c.committed_at_ms,
            });
            block.first_commit_ms = block.first_commit_ms.min(c.committed_at_ms);
        }
        while self.blocks.len() > MAX_BLOCKS {
            self.blocks.pop_first();
        }
        let oldest = (poll.at_ms / 1000).saturating_sub(HISTORY_SECS) * 1000;
        self.rates = self.rates.split_off(&oldest);
    }

    pub fn snapshot(&self, at_ms: u64) -> Snapshot {
        let best = self
            .nodes
            .iter()
            .map(|n| n.row.committed_height)
            .max()
            .unwrap_or(0);
        let nodes: Vec<NodeRow> = self
            .nodes
            .iter()
            .map(|n| NodeRow {
                behind: best.saturating_sub(n.row.committed_height),
                ..n.row.clone()
            })
            .collect();
        let behind = nodes
            .iter()
            .filter(|n| n.up && n.behind > BEHIND_AFTER)
            .map(|n| n.name.clone())
            .collect();
        let recent: Vec<u64> = self
            .blocks
            .values()
            .filter(|b| b.first_commit_ms + LATENCY_WINDOW_MS >= at_ms)
            .map(|b| b.first_commit_ms.saturating_sub(b.proposed_at_ms))
            .collect();
        let sum = |pick: fn(&NodeState) -> &Counts| {
            let mut total = Counts::new();
            for n in &self.nodes {
                for (k, v) in pick(n) {
                    *total.entry(k.clone()).or_default() += v;
                }
            }
            total.retain(|_, v| *v > 0.0);
            total
        };
        let refusals = sum(|n| &n.refusals);
        let consensus_refusals = sum(|n| &n.consensus_refusals);
        Snapshot {
            at_ms,
            nodes,
            rates: self
                .rates
                .iter()
                .map(|(&t, &(tps, bps))| (t, tps, bps))
                .collect(),
            latency_p50_ms: percentile(&recent, 50.0),
            latency_p99_ms: percentile(&recent, 99.0),
            later_rounds: self.blocks.values().filter(|b| b.round > 0).count(),
            blocks_kept: self.blocks.len(),
            latest_blocks: self
                .blocks
                .iter()
                .rev()
                .take(12)
                .map(|(&height, b)| BlockRow {
                    height,
                    round: b.round,
                    txs: b.txs,
                    proposer: self.validator_name(&b.proposer),
                    proposed_at_ms: b.proposed_at_ms,
                    commit_ms: b.first_commit_ms.saturating_sub(b.proposed_at_ms),
                })
                .collect(),
            refusals,
            consensus_refusals,
            peer_scores: self.peer_scores(),
            behind,
        }
    }

    fn validator_name(&self, key: &PublicKey) -> String {
        self.names
            .validators
            .get(key)
            .cloned()
            .unwrap_or_else(|| short(&key.to_string()))
    }

    /// Each peer's worst score as the up validators see it, worst first.
    fn peer_scores(&self) -> Vec<PeerScore> {
        let mut by_peer: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for n in self.nodes.iter().filter(|n| n.row.up) {
            for p in &n.peers {
                let e = by_peer.entry(&p.peer_id).or_insert((f64::INFINITY, 0));
                e.0 = e.0.min(p.score);
                e.1 += 1;
            }
        }
        let mut scores: Vec<PeerScore> = by_peer
            .into_iter()
            .map(|(peer, (worst_score, seen_by))| PeerScore {
                peer: self
                    .names
                    .peers
                    .get(peer)
                    .cloned()
                    .unwrap_or_else(|| short(peer)),
                worst_score,
                seen_by,
            })
            .collect();
        scores.sort_by(|a, b| a.worst_score.total_cmp(&b.worst_score));
        scores
    }
}

/// Nearest-rank percentile; `None` for no samples.
pub fn percentile(samples: &[u64], p: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn short(text: &str) -> String {
    if text.len() <= 14 {
        return text.into();
    }
    format!("{}..{}", &text[..6], &text[text.len() - 6..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{Hash, Keypair};

    fn status(committed: u64) -> NodeStatus {
        NodeStatus {
            chain_id: "c".into(),
            validator: None,
            height: committed + 1,
            committed_height: committed,
            round: 0,
            peers: 3,
            mempool: 0,
            syncing: false,
            halted: None,
            history_indexed_from: Some(1),
        }
    }

    fn metrics(txs: u64, blocks: u64) -> String {
        format!(
            "# TYPE lantau_txs_committed counter\nlantau_txs_committed_total {txs}\nlantau_blocks_committed_total {blocks}\nlantau_txs_refused_total{{code=\"stale_nonce\"}} 2\nlantau_txs_refused_total{{code=\"bad_signature\"}} 1\nlantau_consensus_messages_refused_total{{reason=\"bad_signature\"}} 0\n# EOF\n"
        )
    }

    fn ok(at_ms: u64, committed: u64, txs: u64, blocks: u64, commits: Vec<CommitInfo>) -> Poll {
        Poll {
            at_ms,
            latency_ms: 3,
            outcome: Ok(Polled {
                status: status(committed),
                commits,
                metrics: metrics(txs, blocks),
                peers: vec![],
            }),
        }
    }

    fn two() -> Aggregator {
        Aggregator::new(
            &[
                ("node0".into(), "http://a".into()),
                ("node1".into(), "http://b".into()),
            ],
            Names::default(),
        )
    }

    #[test]
    fn rates_come_from_counters_and_a_restart_is_skipped() {
        let mut a = two();
        a.record(0, ok(10_000, 5, 1_000, 50, vec![]));
        a.record(0, ok(12_000, 7, 1_400, 54, vec![]));
        // node1 saw less in the same second: the chain's rate is the highest.
        a.record(1, ok(10_500, 5, 1_000, 50, vec![]));
        a.record(1, ok(12_500, 7, 1_100, 52, vec![]));
        let s = a.snapshot(12_500);
        assert_eq!(s.rates, vec![(12_000, 200.0, 2.0)]);
        // node0 restarted: its counters start again from zero; no negative rate.
        a.record(0, ok(13_000, 8, 10, 1, vec![]));
        assert_eq!(a.snapshot(13_000).rates.len(), 1);
        a.record(0, ok(14_000, 9, 110, 2, vec![]));
        assert_eq!(a.snapshot(14_000).rates.last(), Some(&(14_000, 100.0, 1.0)));
        // History is bounded in time.
        a.record(
            0,
            ok(14_000 + (HISTORY_SECS + 5) * 1000, 10, 120, 3, vec![]),
        );
        assert!(a.snapshot(0).rates.iter().all(|r| r.0 > 14_000));
    }

    #[test]
    fn commits_are_asked_from_the_first_block_not_kept_and_never_far_back() {
        let mut a = two();
        assert_eq!(a.commits_from(0), 1, "nothing known yet");
        let commit = |height| CommitInfo {
            height,
            round: 0,
            proposed_at_ms: 0,
            committed_at_ms: 1,
            txs: vec![],
            proposer: Keypair::from_seed("v0").public(),
        };
        a.record(0, ok(1_000, 100, 0, 0, vec![commit(99), commit(100)]));
        assert_eq!(a.commits_from(0), 101);
        // Far ahead of what is kept: only its last 20.
        a.record(1, ok(1_000, 300, 0, 0, vec![]));
        assert_eq!(a.commits_from(1), 280);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        let samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
    }

    #[test]
    fn a_validator_that_times_out_is_down_and_keeps_its_last_numbers() {
        let mut a = two();
        a.record(0, ok(1_000, 20, 0, 0, vec![]));
        a.record(1, ok(1_000, 20, 0, 0, vec![]));
        a.record(
            1,
            Poll {
                at_ms: 2_000,
                latency_ms: 800,
                outcome: Err("no answer within 800 ms".into()),
            },
        );
        a.record(0, ok(2_000, 25, 0, 0, vec![]));
        let s = a.snapshot(2_000);
        let (n0, n1) = (&s.nodes[0], &s.nodes[1]);
        assert!(n0.up && !n1.up);
        assert_eq!(n1.down_since_ms, Some(2_000));
        assert_eq!(n1.error.as_deref(), Some("no answer within 800 ms"));
        assert_eq!((n1.committed_height, n1.behind), (20, 5));
        // Down validators are not "behind": they are down.
        assert!(s.behind.is_empty());
        // A second failure keeps the first failure's time; an answer brings it back.
        a.record(
            1,
            Poll {
                at_ms: 3_000,
                latency_ms: 800,
                outcome: Err("refused".into()),
            },
        );
        assert_eq!(a.snapshot(3_000).nodes[1].down_since_ms, Some(2_000));
        a.record(1, ok(4_000, 21, 0, 0, vec![]));
        let s = a.snapshot(4_000);
        assert!(s.nodes[1].up && s.nodes[1].down_since_ms.is_none());
        assert_eq!(s.behind, vec!["node1".to_string()]);
        // Refusals are summed over validators, zero counts left out.
        assert_eq!(s.refusals.get("stale_nonce"), Some(&4.0));
        assert!(s.consensus_refusals.is_empty());
    }

    #[test]
    fn blocks_give_latency_rounds_and_named_proposers() {
        let proposer = Keypair::from_seed("v0").public();
        let mut names = Names::default();
        names.validators.insert(proposer, "node0".into());
        let mut a = Aggregator::new(
            &[("node0".into(), "u".into()), ("node1".into(), "v".into())],
            names,
        );
        let commit = |height, round, committed_at_ms| CommitInfo {
            height,
            round,
            proposed_at_ms: 100_000 + height * 1000,
            committed_at_ms,
            txs: vec![Hash([height as u8; 32])],
            proposer,
        };
        a.record(
            0,
            ok(
                110_000,
                3,
                0,
                0,
                vec![commit(1, 0, 101_050), commit(2, 1, 102_400)],
            ),
        );
        // node1 committed block 1 earlier: latency counts from the first commit.
        a.record(1, ok(110_000, 3, 0, 0, vec![commit(1, 0, 101_020)]));
        let s = a.snapshot(110_000);
        assert_eq!(s.blocks_kept, 2);
        assert_eq!(s.later_rounds, 1);
        assert_eq!(s.latest_blocks[0].height, 2);
        assert_eq!(s.latest_blocks[1].commit_ms, 20);
        assert_eq!(s.latest_blocks[0].proposer, "node0");
        assert_eq!((s.latency_p50_ms, s.latency_p99_ms), (Some(20), Some(400)));
        // Out of the one-minute window, no latency is claimed.
        assert_eq!(a.snapshot(200_000).latency_p50_ms, None);
    }
}
