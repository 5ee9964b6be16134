//! A networked validator: one tokio task owns the consensus driver, the application and the
//! mempool, and reacts to the network, timers and submissions (the select loop in [`run`]).
//! Reads do not come here: they go to the read side (`reads`). Verification and RocksDB
//! writes block, so they run under `block_in_place`.
//!
//! - `consensus_host`: the driver's host (persist, validate, commit) and its outputs;
//! - `network_events`: gossip and block sync.

mod consensus_host;
mod network_events;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use consensus::{Config, Consensus, Driver, Input, Timeouts};
use ledger::{Genesis, Keypair, TxBatch};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{AppConfig, Application, SubmitError};
use crate::byzantine::{Behaviour, Byzantine, SyncLiar};
use crate::handle::Request;
pub use crate::handle::{NodeError, NodeHandle, Status, TxStatus};
use crate::metrics::Metrics;
use crate::network::{self, Command, NetworkConfig};
use crate::reads::{self, Publisher};
use crate::sync::SyncPeers;

pub struct NodeSetup {
    pub dir: PathBuf,
    pub genesis: Genesis,
    pub validator_key: Keypair,
    pub network: NetworkConfig,
    pub timeouts: Timeouts,
    /// Least time between a commit and this validator's next proposal.
    pub block_interval: Duration,
    pub app: AppConfig,
    /// Misbehave on purpose (research testnets only; see `byzantine`).
    pub byzantine: Option<Behaviour>,
}

struct Node {
    driver: Driver,
    app: Application,
    net: mpsc::Sender<Command>,
    timers: mpsc::Sender<Input>,
    /// `(height, round)` to build for, once the block interval has passed.
    builds: mpsc::Sender<(u64, u32)>,
    block_interval: Duration,
    last_commit: Instant,
    /// A proposal waiting for its first transaction (see `empty_block_wait_ms`): built as soon
    /// as one is admitted, or empty at the deadline.
    waiting_build: Option<(u64, u32)>,
    built: consensus_host::Built,
    peers: usize,
    sync: SyncPeers,
    /// The last block stored: what this node reports as committed (never the height consensus
    /// has moved to, which runs ahead when a commit fails).
    committed_height: u64,
    /// How many more transactions may enter, shared with the handles (see `admission`).
    admission: Arc<crate::admission::Admission>,
    /// Gossiped transaction batches come back here once verified off this task.
    verified_gossip: mpsc::Sender<VerifiedGossip>,
    /// The (height, round) consensus was last seen in, and since when: round durations.
    round_clock: (u64, u32, Instant),
    /// Admitted transactions waiting to be gossiped as one batch.
    outbox: TxOutbox,
    publish: Publisher,
    metrics: Arc<Metrics>,
    byzantine: Option<Byzantine>,
    sync_liar: Option<SyncLiar>,
    /// Permits to serve a sync reply (see `sync::SYNC_SERVERS`).
    sync_servers: Arc<tokio::sync::Semaphore>,
    /// Each validator's libp2p peer id, for messages addressed to one validator.
    validator_peers: HashMap<ledger::PublicKey, PeerId>,
    /// Far-ahead consensus messages already verified, by content: a peer re-publishing one
    /// under new gossip sequence numbers costs a hash, not a signature check.
    far_ahead_verified: HashSet<ledger::Hash>,
}

/// Entries of `Node::far_ahead_verified` before it starts over.
const FAR_AHEAD_VERIFIED: usize = 4096;

/// A gossiped transaction batch, decoded and verified off the node task, waiting for the
/// state checks and for its verdict to be reported to gossipsub.
pub(crate) struct VerifiedGossip {
    id: libp2p::gossipsub::MessageId,
    source: PeerId,
    verified: Vec<Result<ledger::verify::Admitted, ledger::TxError>>,
    /// Whether every transaction of the message was verified (none cut for want of room).
    complete: bool,
    /// The bytes were no batch at all (a correct validator never sends that).
    malformed: bool,
    reservation: crate::admission::Reservation,
}

/// Transactions admitted here, gossiped together: one gossipsub message (one libp2p signature,
/// one validation round trip) per batch instead of per transaction.
#[derive(Default)]
struct TxOutbox {
    batch: TxBatch,
    bytes: usize,
}

impl TxOutbox {
    const MAX_TXS: usize = 4096;
    const MAX_BYTES: usize = 1024 * 1024;
    /// How long an admitted transaction may wait for companions.
    const LINGER: Duration = Duration::from_millis(10);

    fn push(&mut self, raw: Vec<u8>) {
        self.bytes += raw.len();
        self.batch.txs.push(raw);
    }

    fn is_full(&self) -> bool {
        self.batch.txs.len() >= Self::MAX_TXS || self.bytes >= Self::MAX_BYTES
    }

    fn take(&mut self) -> Option<TxBatch> {
        if self.batch.txs.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(std::mem::take(&mut self.batch))
    }
}

/// Open the store, start the network and the node task. Call from inside a multi-threaded
/// tokio runtime: blocking work runs under `block_in_place`. Dropping every [`NodeHandle`]
/// stops the node.
pub fn start(setup: NodeSetup) -> Result<NodeHandle, NodeError> {
    let validators = setup
        .genesis
        .validator_set()
        .map_err(|e| NodeError::Genesis(e.to_string()))?;
    let app = Application::open(&setup.dir, &setup.genesis, setup.app)?;
    let committed_height = app.tip()?.height;
    let log = app.signing_log()?;
    let config = Config {
        timeouts: setup.timeouts,
        ..Config::new(setup.genesis.chain_id.clone())
    };
    let byzantine = setup.byzantine.map(|behaviour| {
        tracing::warn!(%behaviour, "this validator is Byzantine on purpose (research testnet)");
        Byzantine::new(
            behaviour,
            Keypair::from_secret(setup.validator_key.secret_bytes()),
            setup.genesis.chain_id.clone(),
            validators.clone(),
        )
    });
    // Genesis lists validators and their p2p endpoints in the same order.
    let validator_peers: HashMap<ledger::PublicKey, PeerId> = setup
        .genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .zip(setup.network.peers.iter().map(|(p, _)| *p))
        .collect();
    // Sync believes a height only as far as peers with more than a third of the power claim.
    let peer_power: HashMap<PeerId, u64> = setup
        .genesis
        .validators
        .iter()
        .zip(setup.network.peers.iter())
        .map(|(v, (p, _))| (*p, v.power))
        .collect();
    let total_power = setup.genesis.validators.iter().map(|v| v.power).sum();
    let me = setup.validator_key.public();
    let consensus = Consensus::new(
        config,
        validators.clone(),
        Some(setup.validator_key),
        committed_height + 1,
        log,
    );
    let status = Status {
        chain_id: setup.genesis.chain_id.clone(),
        validator: Some(me),
        height: committed_height + 1,
        committed_height,
        round: 0,
        peers: 0,
        mempool: 0,
        syncing: false,
        halted: None,
    };
    let (publish, reads) = reads::channel(
        app.store().clone(),
        validators.validators().to_vec(),
        status,
    );
    let (net, events) = network::spawn(setup.network)?;
    let (timers, timer_rx) = mpsc::channel::<Input>(1024);
    let (requests, request_rx) = mpsc::channel::<Request>(1024);
    let (builds, build_rx) = mpsc::channel::<(u64, u32)>(16);
    let (verified_gossip, verified_rx) = mpsc::channel::<VerifiedGossip>(256);
    let node = Node {
        verified_gossip,
        driver: Driver::new(consensus),
        app,
        net,
        timers,
        builds,
        block_interval: setup.block_interval,
        last_commit: Instant::now(),
        waiting_build: None,
        built: Default::default(),
        peers: 0,
        sync: SyncPeers::new(peer_power, total_power),
        committed_height,
        round_clock: (0, 0, Instant::now()),
        admission: Arc::default(),
        outbox: TxOutbox::default(),
        publish,
        metrics: Arc::new(Metrics::default()),
        sync_liar: byzantine.as_ref().and_then(Byzantine::sync_liar),
        sync_servers: Arc::new(tokio::sync::Semaphore::new(crate::sync::SYNC_SERVERS)),
        byzantine,
        validator_peers,
        far_ahead_verified: HashSet::new(),
    };
    let metrics = node.metrics.clone();
    let admission = node.admission.clone();
    let (room, client_room) = node.app.mempool_room();
    admission.publish_room(room, client_room);
    let verifier = node.app.verifier();
    tokio::spawn(run(
        node,
        timer_rx,
        build_rx,
        events,
        request_rx,
        verified_rx,
    ));
    Ok(NodeHandle {
        requests,
        metrics,
        reads,
        admission,
        verifier,
    })
}

/// The node task: one event at a time, until every handle is dropped.
async fn run(
    mut node: Node,
    mut timers: mpsc::Receiver<Input>,
    mut builds: mpsc::Receiver<(u64, u32)>,
    mut events: mpsc::Receiver<network::Event>,
    mut requests: mpsc::Receiver<Request>,
    mut verified: mpsc::Receiver<VerifiedGossip>,
) {
    node.start().await;
    let mut linger = tokio::time::interval(TxOutbox::LINGER);
    linger.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = linger.tick() => node.flush_outbox().await,
            Some(input) = timers.recv() => { let _ = node.input(input).await; }
            Some((height, round)) = builds.recv() => node.build(height, round).await,
            Some(event) = events.recv() => node.on_network(event).await,
            Some(batch) = verified.recv() => node.on_verified_gossip(batch).await,
            request = requests.recv() => match request {
                Some(request) => node.on_request(request).await,
                None => return,
            },
        }
        node.publish_status();
    }
}

impl Node {
    fn is_halted(&self) -> bool {
        self.driver.halted().is_some()
    }

    /// Publish what `/v1/status` and the gauges show.
    fn publish_status(&mut self) {
        let c = self.driver.consensus();
        let m = &self.metrics;
        let (height, round, since) = self.round_clock;
        if (height, round) != (c.height(), c.round()) {
            m.round_took(since.elapsed());
            self.round_clock = (c.height(), c.round(), Instant::now());
        }
        m.height.set(c.height() as i64);
        m.round.set(i64::from(c.round()));
        m.peers.set(self.peers as i64);
        m.mempool_txs.set(self.app.mempool_len() as i64);
        let (room, client_room) = self.app.mempool_room();
        self.admission.publish_room(room, client_room);
        let (admits, drain) = self.app.admission();
        m.mempool_admits.set(admits as i64);
        m.mempool_drain_seconds.set(drain.unwrap_or(0.0));
        let (hits, misses) = self.app.cache_stats();
        m.cache_stats(hits, misses);
        let halted = self.driver.halted();
        self.publish.status.send_if_modified(|s| {
            let before = (
                s.height,
                s.committed_height,
                s.round,
                s.peers,
                s.mempool,
                s.syncing,
            );
            let now = (
                c.height(),
                self.committed_height,
                c.round(),
                self.peers,
                self.app.mempool_len(),
                self.sync.is_syncing(),
            );
            if before == now && s.halted.as_deref() == halted {
                return false;
            }
            (
                s.height,
                s.committed_height,
                s.round,
                s.peers,
                s.mempool,
                s.syncing,
            ) = now;
            s.halted = halted.map(str::to_string);
            true
        });
    }

    async fn flush_outbox(&mut self) {
        if let Some(batch) = self.outbox.take() {
            self.metrics.message(true, "tx_batch");
            let _ = self
                .net
                .send(Command::Publish {
                    topic: network::TX_TOPIC,
                    data: batch.encode(),
                })
                .await;
        }
    }

    /// Count refused transactions by their API code. From gossip, a transaction we already
    /// hold (an echo) is not a refusal; one that is malformed or badly signed is.
    fn count_refusals(&self, results: &[Result<ledger::Hash, SubmitError>], gossip: bool) {
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            if !(gossip && matches!(e, SubmitError::Duplicate(_))) {
                self.metrics.tx_refused(crate::api::refusal(e).1.as_str());
            }
        }
    }

    /// Admit transactions (from a client or gossip); a proposer waiting for its first
    /// transaction builds at once.
    fn admit(
        &mut self,
        verified: Vec<Result<ledger::verify::Admitted, ledger::TxError>>,
    ) -> Vec<Result<ledger::Hash, SubmitError>> {
        let results = self.app.admit_verified(verified);
        if results.iter().any(Result::is_ok)
            && let Some((height, round)) = self.waiting_build.take()
        {
            let _ = self.builds.try_send((height, round));
        }
        results
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Submit {
                raws,
                verified,
                reply,
            } => {
                if let Some(reason) = self.driver.halted() {
                    let halted = || Err(SubmitError::Halted(reason.to_string()));
                    let _ = reply.send(raws.iter().map(|_| halted()).collect());
                    return;
                }
                let results = self.admit(verified);
                self.count_refusals(&results, false);
                for (raw, result) in raws.into_iter().zip(&results) {
                    if result.is_ok() {
                        self.outbox.push(raw);
                    }
                }
                if self.outbox.is_full() {
                    self.flush_outbox().await;
                }
                let _ = reply.send(results);
            }
            Request::IsPending { hash, reply } => {
                let _ = reply.send(self.app.is_pending(&hash));
            }
            Request::NextNonce { address, reply } => {
                let _ = reply.send(self.app.next_nonce(&address));
            }
            Request::SetBlocked { peer, blocked } => {
                let _ = self.net.send(Command::SetBlocked { peer, blocked }).await;
            }
            Request::Peers { reply } => {
                // The network task answers directly.
                let _ = self.net.send(Command::Peers { reply }).await;
            }
        }
    }
}
