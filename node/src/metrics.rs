//! Prometheus metrics (`prometheus-client`): what the node task and the API update, and what
//! `/metrics` renders in the OpenMetrics text format.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

mod process;

/// Why consensus refused a message: the `reason` label of
/// `lantau_consensus_messages_refused_total` (`consensus::InputError::reason`, and
/// `undecodable` for bytes that are no message). `stale_height` is normal: votes for a height
/// that arrive after this validator decided it. `invalid_block_*`: a proposal whose block
/// this validator judged invalid (`app::InvalidBlock::reason`), and voted nil on.
pub const REFUSAL_REASONS: [&str; 16] = [
    "bad_certificate",
    "bad_signature",
    "extra_proposal",
    "far_future_height",
    "far_future_round",
    "far_past_round",
    "future_rounds_full",
    "invalid_block_execution",
    "invalid_block_signature",
    "invalid_block_state_root",
    "invalid_block_structure",
    "malformed",
    "stale_height",
    "undecodable",
    "unknown_validator",
    "wrong_proposer",
];

/// What crosses the p2p network: the `kind` label of the message counters.
pub const MESSAGE_KINDS: [&str; 6] = [
    "proposal",
    "prevote",
    "precommit",
    "tx_batch",
    "sync_request",
    "sync_reply",
];

/// The `round` label of `lantau_heights_decided_total`.
const DECIDED_ROUNDS: [&str; 4] = ["0", "1", "2", "3+"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Round {
    round: &'static str,
}

/// The binary's version and commit for `lantau_build_info`, set once by the program that
/// runs the node (the commit is stamped into the `lantau` binary, not into this crate).
static BUILD: OnceLock<(String, String)> = OnceLock::new();

pub fn set_build_info(version: &str, commit: &str) {
    let _ = BUILD.set((version.to_string(), commit.to_string()));
}

pub struct Metrics {
    registry: Registry,
    pub height: Gauge,
    pub round: Gauge,
    pub peers: Gauge,
    pub mempool_txs: Gauge,
    /// Transactions the mempool admits now (drain-time bound included).
    pub mempool_admits: Gauge,
    /// Seconds the mempool's content takes to commit at the recent rate.
    pub mempool_drain_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub halted: Gauge,
    pub api_connections: Gauge,
    pub txs_committed: Counter,
    pub blocks_committed: Counter,
    pub gossip_rejected: Counter,
    pub sync_rejected: Counter,
    pub batches_fetched: Counter,
    pub batch_replies_rejected: Counter,
    pub proposals_unresolved: Counter,
    pub api_connections_refused: Counter,
    pub api_event_streams: Gauge,
    pub api_event_streams_refused: Counter,
    verify_cache_hits: Counter,
    verify_cache_misses: Counter,
    txs_refused: Family<Code, Counter>,
    consensus_refused: Family<Reason, Counter>,
    messages_received: Family<Kind, Counter>,
    messages_sent: Family<Kind, Counter>,
    heights_decided: Family<Round, Counter>,
    block_commit_seconds: Histogram,
    block_build_seconds: Histogram,
    block_validate_seconds: Histogram,
    signing_persist_seconds: Histogram,
    height_seconds: Histogram,
    round_seconds: Histogram,
    block_txs: Histogram,
    block_bytes: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector));
        let r = root.sub_registry_with_prefix("lantau");
        let (version, commit) = BUILD
            .get()
            .cloned()
            .unwrap_or_else(|| (env!("CARGO_PKG_VERSION").to_string(), "unknown".to_string()));
        r.register(
            "build",
            "The running binary: version and the commit it was built from",
            Info::new(vec![("version", version), ("commit", commit)]),
        );
        macro_rules! reg {
            ($name:literal, $help:literal, $metric:expr) => {{
                let m = $metric;
                r.register($name, $help, m.clone());
                m
            }};
            ($name:literal, $help:literal, $unit:expr, $metric:expr) => {{
                let m = $metric;
                r.register_with_unit($name, $help, $unit, m.clone());
                m
            }};
        }
        // Seconds from 0.5 ms to ~16 s, doubling.
        let seconds = || Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let metrics = Self {
            height: reg!("height", "Height consensus is working on", Gauge::default()),
            round: reg!(
                "round",
                "Consensus round at the current height",
                Gauge::default()
            ),
            peers: reg!("peers", "Connected validator peers", Gauge::default()),
            mempool_txs: reg!(
                "mempool_txs",
                "Transactions waiting in the mempool",
                Gauge::default()
            ),
            mempool_admits: reg!(
                "mempool_admits_txs",
                "Transactions the mempool admits now: mempool_max_txs, or fewer while the chain would take longer than mempool_max_drain_ms to commit them",
                Gauge::default()
            ),
            mempool_drain_seconds: reg!(
                "mempool_drain",
                "Time the mempool's transactions take to commit at the rate of the last seconds",
                Unit::Seconds,
                Gauge::default()
            ),
            halted: reg!(
                "halted",
                "1 once this validator stopped taking part because it could not commit a decided block or persist a signature (see /v1/status)",
                Gauge::default()
            ),
            api_connections: reg!(
                "api_connections",
                "HTTP API connections open",
                Gauge::default()
            ),
            txs_committed: reg!(
                "txs_committed",
                "Transactions committed",
                Counter::default()
            ),
            blocks_committed: reg!("blocks_committed", "Blocks committed", Counter::default()),
            gossip_rejected: reg!(
                "gossip_rejected",
                "Gossip messages rejected as misbehaviour (malformed, bad signature, non-validator signer); their senders are penalised",
                Counter::default()
            ),
            sync_rejected: reg!(
                "sync_replies_rejected",
                "Block sync replies that did not verify (malformed, body not matching its header, wrong parent or certificate); their senders are not asked again for a while",
                Counter::default()
            ),
            batches_fetched: reg!(
                "batches_fetched",
                "Transaction batches a compact proposal named that this validator lacked, fetched from a peer and matching their digests",
                Counter::default()
            ),
            batch_replies_rejected: reg!(
                "batch_replies_rejected",
                "Batch fetch replies holding bytes that match no digest asked for, or no batch; their senders are not asked again for a while",
                Counter::default()
            ),
            proposals_unresolved: reg!(
                "proposals_unresolved",
                "Compact proposals given up on because no peer served a batch they named (the proposer loses its round)",
                Counter::default()
            ),
            api_connections_refused: reg!(
                "api_connections_refused",
                "HTTP API connections closed on arrival because the cap (api_max_connections) was reached",
                Counter::default()
            ),
            api_event_streams: reg!(
                "api_event_streams",
                "GET /v1/events streams open",
                Gauge::default()
            ),
            api_event_streams_refused: reg!(
                "api_event_streams_refused",
                "GET /v1/events requests refused (busy) because MAX_EVENT_STREAMS were open",
                Counter::default()
            ),
            verify_cache_hits: reg!(
                "verify_cache_hits",
                "Signature checks answered by the verified-once cache",
                Counter::default()
            ),
            verify_cache_misses: reg!(
                "verify_cache_misses",
                "Signature checks that had to verify",
                Counter::default()
            ),
            txs_refused: reg!(
                "txs_refused",
                "Submitted or gossiped transactions refused, by error code (the API's codes; gossip echoes of held transactions are not counted)",
                Family::default()
            ),
            consensus_refused: reg!(
                "consensus_messages_refused",
                "Consensus messages refused, by reason (stale_height: late votes for a height already decided, normal)",
                Family::default()
            ),
            messages_received: reg!(
                "p2p_messages_received",
                "Messages taken from the p2p network, by kind",
                Family::default()
            ),
            messages_sent: reg!(
                "p2p_messages_sent",
                "Messages handed to the p2p network, by kind (a broadcast counts once)",
                Family::default()
            ),
            heights_decided: reg!(
                "heights_decided",
                "Heights committed, by the round of their certificate (round > 0 means a proposer was missed or votes split)",
                Family::default()
            ),
            block_commit_seconds: reg!(
                "block_commit",
                "Time to execute and persist a decided block",
                Unit::Seconds,
                seconds()
            ),
            block_build_seconds: reg!(
                "block_build",
                "Time to build this validator's proposal: pick and execute the mempool's transfers",
                Unit::Seconds,
                seconds()
            ),
            block_validate_seconds: reg!(
                "block_validate",
                "Time to judge a proposed block before voting on it: structure, signatures, execution",
                Unit::Seconds,
                seconds()
            ),
            signing_persist_seconds: reg!(
                "signing_persist",
                "Time to make one signing record durable, which each signed message waits for before it is sent",
                Unit::Seconds,
                seconds()
            ),
            height_seconds: reg!(
                "height",
                "Time from the previous commit to this height's commit on this validator",
                Unit::Seconds,
                seconds()
            ),
            round_seconds: reg!(
                "round",
                "How long each round lasted on this validator (ended by a commit or a round change)",
                Unit::Seconds,
                seconds()
            ),
            block_txs: reg!(
                "block_txs",
                "Transactions per committed block",
                Histogram::new(std::iter::once(0.0).chain(exponential_buckets(1.0, 4.0, 9)))
            ),
            block_bytes: reg!(
                "block_size",
                "Bytes of transactions per committed block",
                Unit::Bytes,
                Histogram::new(exponential_buckets(256.0, 4.0, 10))
            ),
            registry: root,
        };
        for reason in REFUSAL_REASONS {
            let _ = metrics.consensus_refused.get_or_create(&Reason { reason });
        }
        for round in DECIDED_ROUNDS {
            let _ = metrics.heights_decided.get_or_create(&Round { round });
        }
        for kind in MESSAGE_KINDS {
            let _ = metrics.messages_received.get_or_create(&Kind { kind });
            let _ = metrics.messages_sent.get_or_create(&Kind { kind });
        }
        metrics
    }

    /// Count a refused consensus message under its reason (one of [`REFUSAL_REASONS`]).
    pub fn consensus_refused(&self, reason: &'static str) {
        debug_assert!(
            REFUSAL_REASONS.contains(&reason),
            "unlisted refusal reason {reason}"
        );
        self.consensus_refused
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub fn tx_refused(&self, code: &str) {
        self.txs_refused(code, 1);
    }

    pub fn txs_refused(&self, code: &str, n: usize) {
        if n == 0 {
            return;
        }
        self.txs_refused
            .get_or_create(&Code { code: code.into() })
            .inc_by(n as u64);
    }

    /// Count a message of one of [`MESSAGE_KINDS`] in or out.
    pub fn message(&self, sent: bool, kind: &'static str) {
        debug_assert!(MESSAGE_KINDS.contains(&kind), "unlisted kind {kind}");
        let family = if sent {
            &self.messages_sent
        } else {
            &self.messages_received
        };
        family.get_or_create(&Kind { kind }).inc();
    }

    /// The verified-once cache's running totals.
    pub fn cache_stats(&self, hits: u64, misses: u64) {
        for (counter, total) in [
            (&self.verify_cache_hits, hits),
            (&self.verify_cache_misses, misses),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// A committed block: its size, how long it took to store, and its round.
    pub fn committed(&self, txs: usize, bytes: usize, round: u32, took: Duration) {
        self.txs_committed.inc_by(txs as u64);
        self.blocks_committed.inc();
        self.block_txs.observe(txs as f64);
        self.block_bytes.observe(bytes as f64);
        self.block_commit_seconds.observe(took.as_secs_f64());
        let round = DECIDED_ROUNDS[(round as usize).min(DECIDED_ROUNDS.len() - 1)];
        self.heights_decided.get_or_create(&Round { round }).inc();
    }

    /// The stages of a height that hold up this validator's part in it (besides the commit):
    /// building a proposal, judging one, and persisting each signature before it is sent.
    pub fn built(&self, took: Duration) {
        self.block_build_seconds.observe(took.as_secs_f64());
    }

    pub fn validated(&self, took: Duration) {
        self.block_validate_seconds.observe(took.as_secs_f64());
    }

    pub fn signing_persisted(&self, took: Duration) {
        self.signing_persist_seconds.observe(took.as_secs_f64());
    }

    pub fn height_took(&self, took: Duration) {
        self.height_seconds.observe(took.as_secs_f64());
    }

    pub fn round_took(&self, took: Duration) {
        self.round_seconds.observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests;
