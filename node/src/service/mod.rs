//! A networked validator: one tokio task owns the consensus driver, the application and the
//! mempool, and reacts to the network, timers and submissions (the select loop in [`run`]).
//! Reads do not come here: they go to the read side (`reads`). Verification and RocksDB
//! writes block, so they run under `block_in_place`.
//!
//! - `consensus_host`: the driver's host (persist, validate, commit) and its outputs;
//! - `proposing`: building this validator's blocks;
//! - `batch_fetch`: proposals by batch digest, out and in, and fetching missing batches;
//! - `network_events`: what the network brings, sent on to
//!   - `tx_gossip`: transaction batches in and out,
//!   - `consensus_gossip`: proposals and votes,
//!   - `block_sync`: serving blocks and catching up;
//! - `requests`: what the handles ask of the node task.

mod batch_fetch;
mod block_sync;
mod consensus_gossip;
mod consensus_host;
mod network_events;
mod proposing;
mod requests;
mod tx_gossip;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use consensus::{Config, Consensus, Driver, Input, Timeouts};
use ledger::{Genesis, Keypair};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::{AppConfig, Application};
use crate::byzantine::{Behaviour, Byzantine};
use crate::handle::Request;
pub use crate::handle::{NodeError, NodeHandle, Status, TxStatus};
use crate::metrics::Metrics;
use crate::network::{self, Command, NetworkConfig};
use crate::reads::{self, Publisher};
use crate::sync::SyncPeers;
use batch_fetch::BatchFetch;
use block_sync::BlockSync;
use consensus_gossip::FarAheadVerified;
use proposing::Proposing;
use tx_gossip::{TxGossip, TxOutbox, VerifiedGossip};

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
    proposing: Proposing,
    last_commit: Instant,
    peers: usize,
    sync: BlockSync,
    /// The last block stored: what this node reports as committed (never the height consensus
    /// has moved to, which runs ahead when a commit fails).
    committed_height: u64,
    /// How many more transactions may enter, shared with the handles (see `admission`).
    admission: Arc<crate::admission::Admission>,
    /// The (height, round) consensus was last seen in, and since when: round durations.
    round_clock: (u64, u32, Instant),
    txs: TxGossip,
    publish: Publisher,
    metrics: Arc<Metrics>,
    byzantine: Option<Byzantine>,
    /// Each validator's libp2p peer id, for messages addressed to one validator.
    validator_peers: HashMap<ledger::PublicKey, PeerId>,
    far_ahead_verified: FarAheadVerified,
    batches: BatchFetch,
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
        history_indexed_from: app.store().account_history_from()?,
    };
    let (publish, reads) = reads::channel(
        app.store().clone(),
        validators.validators().to_vec(),
        status,
    );
    let my_peer = setup.network.key.public().to_peer_id();
    let (net, events) = network::spawn(setup.network)?;
    let (timers, timer_rx) = mpsc::channel::<Input>(1024);
    let (requests, request_rx) = mpsc::channel::<Request>(1024);
    let (builds, build_rx) = mpsc::channel::<(u64, u32)>(16);
    let (verified_gossip, verified_rx) = mpsc::channel::<VerifiedGossip>(256);
    let (stored, stored_rx) = mpsc::channel(256);
    let (ticks, tick_rx) = mpsc::channel::<()>(64);

    let node = Node {
        driver: Driver::new(consensus),
        app,
        net,
        timers,
        proposing: Proposing {
            builds,
            interval: setup.block_interval,
            waiting: None,
            built: HashSet::new(),
        },
        last_commit: Instant::now(),
        peers: 0,
        sync: BlockSync {
            peers: SyncPeers::new(peer_power, total_power),
            servers: Arc::new(tokio::sync::Semaphore::new(crate::sync::SYNC_SERVERS)),
            liar: byzantine.as_ref().and_then(Byzantine::sync_liar),
            behind_from: None,
        },
        committed_height,
        round_clock: (0, 0, Instant::now()),
        admission: Arc::default(),
        txs: TxGossip {
            outbox: TxOutbox::default(),
            verified: verified_gossip,
        },
        publish,
        metrics: Arc::new(Metrics::default()),
        byzantine,
        validator_peers,
        far_ahead_verified: FarAheadVerified::default(),
        batches: BatchFetch::new(stored, ticks, my_peer),
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
        (stored_rx, tick_rx),
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
    (mut stored, mut ticks): (
        mpsc::Receiver<(ledger::Hash, crate::batches::StoredBatch)>,
        mpsc::Receiver<()>,
    ),
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
            Some((digest, batch)) = stored.recv() => node.on_batch_stored(digest, batch).await,
            Some(()) = ticks.recv() => node.on_fetch_tick().await,
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
        self.sync.note_progress(self.committed_height);
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
                self.sync.peers.is_syncing(),
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
}
