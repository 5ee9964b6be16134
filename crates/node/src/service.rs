//! A networked validator: one tokio task owns the consensus state machine and the
//! application, and drives them with real timers and the libp2p network (see `network`).
//! Verification and RocksDB writes block, so they run under `block_in_place`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use consensus::{Config, Consensus, Effect, Input, InputError, Message, Timeouts};
use ledger::{Genesis, Keypair, TxBatch};
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::app::{AppConfig, Application, SubmitError};
use crate::byzantine::{Behaviour, Byzantine, Route};
use crate::commit_log::CommitLog;
use crate::handle::Request;
pub use crate::handle::{NodeError, NodeHandle, Status, TxStatus};
use crate::metrics::Metrics;
use crate::network::{self, Command, Event, NetworkConfig, SyncResponse, Verdict};
use crate::sync::SyncPeers;

/// How often an idle proposer looks for a first transaction (see `empty_block_wait_ms`).
const EMPTY_MEMPOOL_POLL: Duration = Duration::from_millis(10);

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
    consensus: Consensus,
    app: Application,
    net: mpsc::Sender<Command>,
    timers: mpsc::Sender<Input>,
    builds: mpsc::Sender<(u64, u32)>,
    block_interval: Duration,
    last_commit: Instant,
    peers: usize,
    sync: SyncPeers,
    /// The last block stored: what this node reports as committed (never the height consensus
    /// has moved to, which runs ahead when a commit fails).
    committed_height: u64,
    /// Why this validator stopped taking part, once it has (see [`Node::halt`]).
    halted: watch::Sender<Option<String>>,
    /// Admitted transactions waiting to be gossiped as one batch.
    outbox: TxOutbox,
    commits: CommitLog,
    metrics: Arc<Metrics>,
    byzantine: Option<Byzantine>,
    /// Each validator's libp2p peer id, for messages addressed to one validator.
    validator_peers: std::collections::HashMap<ledger::PublicKey, PeerId>,
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
    let height = committed_height + 1;
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
    let validator_peers = setup
        .genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .zip(setup.network.peers.iter().map(|(p, _)| *p))
        .collect();
    let consensus = Consensus::new(config, validators, Some(setup.validator_key), height, log);
    let (net, mut events) = network::spawn(setup.network)?;
    let (timers, mut timer_rx) = mpsc::channel::<Input>(1024);
    let (requests, mut request_rx) = mpsc::channel::<Request>(1024);
    let (builds, mut build_rx) = mpsc::channel::<(u64, u32)>(16);
    let mut node = Node {
        consensus,
        app,
        net,
        timers,
        builds,
        block_interval: setup.block_interval,
        last_commit: Instant::now(),
        peers: 0,
        sync: SyncPeers::default(),
        committed_height,
        halted: watch::Sender::new(None),
        outbox: TxOutbox::default(),
        commits: CommitLog::default(),
        metrics: Arc::new(Metrics::default()),
        byzantine,
        validator_peers,
    };
    let metrics = node.metrics.clone();
    let halted = node.halted.subscribe();
    tokio::spawn(async move {
        let fx = node.consensus.start();
        node.apply(fx).await;
        let mut linger = tokio::time::interval(TxOutbox::LINGER);
        linger.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = linger.tick() => node.flush_outbox().await,
                Some(input) = timer_rx.recv() => { let _ = node.input(input).await; }
                Some((height, round)) = build_rx.recv() => node.build(height, round).await,
                Some(event) = events.recv() => node.on_network(event).await,
                request = request_rx.recv() => match request {
                    Some(request) => node.on_request(request).await,
                    None => return,
                },
            }
        }
    });
    Ok(NodeHandle {
        requests,
        metrics,
        halted,
    })
}

impl Node {
    fn is_halted(&self) -> bool {
        self.halted.borrow().is_some()
    }

    /// Fail-stop: this validator can no longer keep its promises (a decided block or a
    /// signature it cannot make durable), so it stops taking part rather than vote on a state
    /// it does not have. Reads keep working; `/v1/status` says why; `lantau start` exits
    /// non-zero.
    fn halt(&mut self, reason: String) {
        if self.is_halted() {
            return;
        }
        tracing::error!(
            %reason,
            height = self.committed_height,
            "validator halted: it will not vote or propose again until restarted; fix the cause (disk full or read-only, damaged data) and restart it"
        );
        self.metrics.set(&self.metrics.halted, 1);
        self.halted.send_replace(Some(reason));
    }

    async fn input(&mut self, input: Input) -> Result<(), InputError> {
        if self.is_halted() {
            return Ok(());
        }
        let result = match self.consensus.handle(input) {
            Ok(fx) => {
                self.apply(fx).await;
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .add(&self.metrics.consensus_messages_refused, 1);
                tracing::debug!(error = %e, "consensus input refused");
                Err(e)
            }
        };
        self.update_gauges();
        result
    }

    async fn flush_outbox(&mut self) {
        if let Some(batch) = self.outbox.take() {
            let _ = self
                .net
                .send(Command::Publish {
                    topic: network::TX_TOPIC,
                    data: batch.encode(),
                })
                .await;
        }
    }

    async fn report(&mut self, id: MessageId, source: PeerId, verdict: Verdict) {
        if verdict == Verdict::Reject {
            self.metrics.add(&self.metrics.gossip_rejected, 1);
            tracing::warn!(%source, "rejected a gossip message; the peer is penalised");
        }
        let _ = self
            .net
            .send(Command::Report {
                id,
                source,
                verdict,
            })
            .await;
    }

    fn update_gauges(&self) {
        let m = &self.metrics;
        m.set(&m.height, self.consensus.height());
        m.set(&m.round, self.consensus.round() as u64);
        m.set(&m.peers, self.peers as u64);
        m.set(&m.mempool_txs, self.app.mempool_len() as u64);
        let (hits, misses) = self.app.cache_stats();
        m.set(&m.verify_cache_hits, hits);
        m.set(&m.verify_cache_misses, misses);
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Submit { raws, reply } => {
                if let Some(reason) = self.halted.borrow().clone() {
                    let halted = || Err(SubmitError::Halted(reason.clone()));
                    let _ = reply.send(raws.iter().map(|_| halted()).collect());
                    return;
                }
                let results = tokio::task::block_in_place(|| self.app.submit(&raws));
                let refused = results.iter().filter(|r| r.is_err()).count();
                self.metrics.add(&self.metrics.txs_refused, refused as u64);
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
            Request::Commits { from, reply } => {
                let _ = reply.send(self.commits.since(from));
            }
            Request::Status { reply } => {
                let _ = reply.send(Status {
                    chain_id: self.app.chain_id().to_string(),
                    validator: self.consensus.me(),
                    height: self.consensus.height(),
                    committed_height: self.committed_height,
                    round: self.consensus.round(),
                    peers: self.peers,
                    mempool: self.app.mempool_len(),
                    syncing: self.sync.is_syncing(),
                    halted: self.halted.borrow().clone(),
                });
            }
            Request::Account { address, reply } => {
                let _ = reply.send(self.app.account(&address));
            }
            Request::Tx { hash, reply } => {
                let status = if self.app.is_pending(&hash) {
                    Ok(TxStatus::Pending)
                } else {
                    self.app
                        .store()
                        .tx(&hash)
                        .map(|r| r.map_or(TxStatus::Unknown, TxStatus::Committed))
                };
                let _ = reply.send(status);
            }
            Request::SetBlocked { peer, blocked } => {
                let _ = self.net.send(Command::SetBlocked { peer, blocked }).await;
            }
            Request::Peers { reply } => {
                // The network task answers directly.
                let _ = self.net.send(Command::Peers { reply }).await;
            }
            Request::Validators { reply } => {
                let _ = reply.send(self.consensus.validators().validators().to_vec());
            }
            Request::Block { height, reply } => {
                let store = self.app.store();
                let result = (|| {
                    let h = match height {
                        Some(h) => h,
                        None => store.tip()?.height,
                    };
                    Ok(match (store.block(h)?, store.certificate(h)?) {
                        (Some(b), Some(c)) => Some((b, c)),
                        _ => None,
                    })
                })();
                let _ = reply.send(result);
            }
        }
    }

    async fn on_network(&mut self, event: Event) {
        match event {
            Event::Gossip {
                topic: network::TX_TOPIC,
                data,
                id,
                source,
                ..
            } => {
                let Ok(batch) = TxBatch::decode(&data) else {
                    self.report(id, source, Verdict::Reject).await;
                    return;
                };
                let results = tokio::task::block_in_place(|| self.app.submit(&batch.txs));
                // A transaction we already hold (gossip echoes) is not a refusal; one that is
                // malformed or badly signed is the sender's fault.
                let refused = results
                    .iter()
                    .filter(|r| r.is_err() && !matches!(r, Err(SubmitError::Duplicate(_))))
                    .count();
                self.metrics.add(&self.metrics.txs_refused, refused as u64);
                // Forwarded unless it proves the sender wrong; duplicates and stale nonces are
                // races between submissions, not misbehaviour.
                let verdict = if results
                    .iter()
                    .any(|r| matches!(r, Err(SubmitError::Invalid(_))))
                {
                    Verdict::Reject
                } else {
                    Verdict::Accept
                };
                self.report(id, source, verdict).await;
            }
            Event::Gossip {
                data,
                from,
                id,
                source,
                ..
            } => {
                let Ok(msg) = Message::decode(&data) else {
                    self.metrics
                        .add(&self.metrics.consensus_messages_refused, 1);
                    tracing::debug!(%from, "undecodable consensus message");
                    self.report(id, source, Verdict::Reject).await;
                    return;
                };
                if self.is_halted() {
                    self.report(id, source, Verdict::Ignore).await;
                    return;
                }
                let height = msg.height();
                let current = self.consensus.height();
                // A message more than a height ahead is not taken in, but its signature is
                // checked before it is believed: an unchecked one would let anyone point our
                // sync at a liar.
                let far_ahead = height > current + 1;
                let relay = self.byzantine.as_ref().and_then(|liar| liar.relay(&msg));
                let result = if far_ahead {
                    tokio::task::block_in_place(|| self.consensus.verify_foreign(&msg))
                } else {
                    let input = match msg {
                        Message::Proposal(p) => Input::Proposal(*p),
                        Message::Vote(v) => Input::Vote(v),
                    };
                    self.input(input).await
                };
                let verdict = match &result {
                    Ok(()) if far_ahead => Verdict::Ignore,
                    Ok(()) => Verdict::Accept,
                    Err(e) if e.is_misbehaviour() => Verdict::Reject,
                    Err(_) => Verdict::Ignore,
                };
                if height > current && result.is_ok() {
                    self.sync.saw(from, height);
                    self.request_sync().await;
                }
                if let Some(data) = relay {
                    let topic = network::CONSENSUS_TOPIC;
                    let _ = self.net.send(Command::Publish { topic, data }).await;
                }
                self.report(id, source, verdict).await;
            }
            Event::BlocksRequested { request, channel } => {
                let mut blocks = Vec::new();
                let to = request
                    .to_height
                    .min(request.from_height.saturating_add(network::SYNC_BATCH - 1));
                let mut bytes = 0;
                for h in request.from_height..=to {
                    if bytes >= network::SYNC_REPLY_BUDGET_BYTES {
                        break;
                    }
                    let store = self.app.store();
                    match (store.block_sized(h), store.certificate(h)) {
                        (Ok(Some((b, size))), Ok(Some(c))) => {
                            bytes += size;
                            blocks.push((b, c));
                        }
                        _ => break,
                    }
                }
                if let Some(liar) = &self.byzantine {
                    liar.sync_reply(&mut blocks);
                }
                let _ = self
                    .net
                    .send(Command::RespondBlocks {
                        channel,
                        response: SyncResponse { blocks },
                    })
                    .await;
            }
            Event::Blocks { response, from } => {
                let before = self.consensus.height();
                let lied = self.apply_synced(response).await;
                if lied {
                    self.metrics.add(&self.metrics.sync_rejected, 1);
                    tracing::warn!(peer = %from, "a sync reply did not verify; asking another peer");
                }
                self.sync.finished(from, lied);
                // Keep fetching batches while a peer is known to be ahead, rather than waiting
                // for its next consensus message to remind us; after a reply that brought
                // nothing, wait for that reminder instead of asking in a loop.
                if lied || self.consensus.height() > before {
                    self.request_sync().await;
                }
            }
            Event::SyncFailed { from, lied } => {
                if lied {
                    self.metrics.add(&self.metrics.sync_rejected, 1);
                    tracing::warn!(peer = %from, "a sync reply was malformed or its blocks did not match their headers");
                }
                self.sync.finished(from, lied);
                self.request_sync().await;
            }
            Event::Connected(_) => self.peers += 1,
            Event::Disconnected(peer) => {
                self.peers = self.peers.saturating_sub(1);
                self.sync.forget(&peer);
                self.request_sync().await;
            }
        }
    }

    /// Apply the blocks of a sync reply in order, each only after it checks out: the next
    /// height, the parent we hold, a certificate from a quorum (in consensus). The bodies were
    /// bound to their headers when the reply was decoded. True if the reply lied.
    async fn apply_synced(&mut self, response: SyncResponse) -> bool {
        for (block, certificate) in response.blocks {
            if self.is_halted() {
                return false;
            }
            let height = self.consensus.height();
            if block.header.height < height {
                continue; // decided here meanwhile
            }
            let parent = match self.app.tip() {
                Ok(tip) => tip.block_hash,
                Err(e) => {
                    self.halt(format!("cannot read the tip: {e}"));
                    return false;
                }
            };
            if block.header.height != height || block.header.prev_hash != parent {
                tracing::debug!(
                    height = block.header.height,
                    "sync reply out of order or off our chain"
                );
                return true;
            }
            if let Err(e) = self.input(Input::SyncedBlock { block, certificate }).await {
                tracing::debug!(error = %e, "synced block refused");
                return true;
            }
        }
        // An empty or short reply is not a lie (the peer may have answered before committing
        // what its consensus message showed it decided); the next request rotates to another
        // peer.
        false
    }

    async fn request_sync(&mut self) {
        if self.is_halted() {
            return;
        }
        let next = self.consensus.height();
        if let Some((peer, request)) = self.sync.next_request(next, network::SYNC_BATCH) {
            tracing::debug!(%peer, from = request.from_height, to = request.to_height, "requesting blocks");
            let _ = self
                .net
                .send(Command::RequestBlocks { peer, request })
                .await;
        }
    }

    async fn apply(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Persist(record) => {
                    // Durable before anything after it is sent.
                    if let Err(e) =
                        tokio::task::block_in_place(|| self.app.persist_signing(&record))
                    {
                        self.halt(format!(
                            "cannot make a signature durable, so it was not sent: {e}"
                        ));
                        return;
                    }
                }
                Effect::Broadcast(msg) => self.broadcast(msg).await,
                Effect::ScheduleTimeout { timeout, after_ms } => {
                    let timers = self.timers.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(after_ms)).await;
                        let _ = timers.send(Input::Timeout(timeout)).await;
                    });
                }
                Effect::BuildBlock { height, round } => {
                    // Wait out the block interval without holding up message handling.
                    let at = self.last_commit + self.block_interval;
                    let builds = self.builds.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        let _ = builds.send((height, round)).await;
                    });
                }
                Effect::ValidateBlock { block, .. } => {
                    let valid = tokio::task::block_in_place(|| self.app.validate(&block));
                    if let Ok(fx) = self.consensus.handle(Input::BlockVerdict {
                        block_hash: block.hash(),
                        valid,
                    }) {
                        queue.extend(fx);
                    }
                }
                Effect::Decide { block, certificate } => {
                    let started = std::time::Instant::now();
                    match tokio::task::block_in_place(|| self.app.commit(&block, &certificate)) {
                        Ok((tip, hashes)) => {
                            self.committed_height = tip.height;
                            self.commits.record(&block, hashes, crate::now_ms());
                            let m = &self.metrics;
                            m.set(&m.last_commit_micros, started.elapsed().as_micros() as u64);
                            m.add(&m.txs_committed, block.txs.len() as u64);
                            m.add(&m.blocks_committed, 1);
                            tracing::info!(height = tip.height, txs = block.txs.len(), "committed")
                        }
                        Err(e) => {
                            self.halt(format!(
                                "cannot commit decided block {}: {e}",
                                block.header.height
                            ));
                            return;
                        }
                    }
                    self.last_commit = Instant::now();
                }
                Effect::Evidence(e) => tracing::warn!(?e, "equivocation"),
            }
        }
    }

    async fn broadcast(&mut self, msg: Message) {
        let out = match &mut self.byzantine {
            Some(liar) => liar.outgoing(msg),
            None => vec![(Route::All, msg)],
        };
        for (route, msg) in out {
            let data = msg.encode();
            match route {
                Route::All => {
                    let topic = network::CONSENSUS_TOPIC;
                    let _ = self.net.send(Command::Publish { topic, data }).await;
                }
                Route::Only(validators) => {
                    for v in validators {
                        if let Some(&peer) = self.validator_peers.get(&v) {
                            let data = data.clone();
                            let _ = self.net.send(Command::PublishTo { peer, data }).await;
                        }
                    }
                }
            }
        }
    }

    async fn build(&mut self, height: u64, round: u32) {
        let Some(proposer) = self.consensus.me() else {
            return;
        };
        if self.is_halted() {
            return;
        }
        if (self.consensus.height(), self.consensus.round()) != (height, round) {
            return; // the round moved on while we waited
        }
        let wait = Duration::from_millis(self.app.config().empty_block_wait_ms);
        if round == 0 && self.app.mempool_len() == 0 && self.last_commit.elapsed() < wait {
            // Nothing to propose yet: look again shortly.
            let builds = self.builds.clone();
            tokio::spawn(async move {
                tokio::time::sleep(EMPTY_MEMPOOL_POLL).await;
                let _ = builds.send((height, round)).await;
            });
            return;
        }
        let block = match tokio::task::block_in_place(|| {
            self.app
                .build_block(height, round, proposer, crate::now_ms())
        }) {
            Ok(block) => block,
            Err(e) => return self.halt(format!("cannot build a block: {e}")),
        };
        let _ = self
            .input(Input::BlockToPropose {
                height,
                round,
                block,
            })
            .await;
    }
}
