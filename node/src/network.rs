//! The libp2p network of a validator: TCP + Noise + yamux, identify and ping, gossipsub topics
//! for transactions and consensus messages, and request-response for block sync. Only peers in
//! the genesis allow-list may connect.
//!
//! It runs as one tokio task: [`spawn`] builds the swarm (`swarm`), starts its loop
//! (`event_loop`) and returns a command sender and an event receiver.

use std::collections::{HashMap, HashSet};

use libp2p::gossipsub::{IdentTopic, MessageId};
use libp2p::request_response::{self, ResponseChannel};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

/// Largest gossip message: a proposal carrying a full block.
pub const MAX_GOSSIP_BYTES: usize = 16 * 1024 * 1024;

mod batch_protocol;
mod event_loop;
mod swarm;
mod sync_protocol;
pub use batch_protocol::{
    BatchRequest, BatchResponse, MAX_BATCH_RESPONSE_BYTES, MAX_BATCHES_PER_REQUEST,
};
use event_loop::NetworkTask;
pub use sync_protocol::{SYNC_BATCH, SYNC_REPLY_BUDGET_BYTES, SyncRequest, SyncResponse};

/// Carries `TxBatch`es.
pub const TX_TOPIC: &str = "lantau/txs/1";
pub const CONSENSUS_TOPIC: &str = "lantau/consensus/1";
/// Each validator also listens on a topic of its own, for consensus messages addressed to it
/// alone. Honest validators never use it; a research testnet's `withhold` liar does, to send
/// its precommits to only some validators.
fn direct_topic(peer: &PeerId) -> IdentTopic {
    IdentTopic::new(format!("{CONSENSUS_TOPIC}/to/{peer}"))
}

/// What the node made of a gossip message. Gossipsub forwards accepted messages only, and a
/// rejected one lowers its sender's peer score until the sender is graylisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Not misbehaviour (a stale vote, a tx already committed): drop without penalty.
    Ignore,
    /// Malformed, badly signed, or signed by a non-validator.
    Reject,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// Gossipsub peer score; negative after rejected messages.
    pub score: f64,
}

pub enum Command {
    Report {
        id: MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    Peers {
        reply: tokio::sync::oneshot::Sender<Vec<PeerInfo>>,
    },
    /// Cut a validator off (closing its connections and refusing new ones), or let it back.
    /// For operators quarantining a peer, and for partition tests.
    SetBlocked {
        peer: PeerId,
        blocked: bool,
    },
    Publish {
        topic: &'static str,
        data: Vec<u8>,
    },
    /// Publish a consensus message on one validator's direct topic.
    PublishTo {
        peer: PeerId,
        data: Vec<u8>,
    },
    RequestBlocks {
        peer: PeerId,
        request: SyncRequest,
    },
    /// `permit` is held until the reply is written (or fails): what waits in libp2p's
    /// buffers for a slow reader counts against the serving bound.
    RespondBlocks {
        request_id: request_response::InboundRequestId,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
        permit: tokio::sync::OwnedSemaphorePermit,
    },
    /// Ask `peer` for batches by digest (`/lantau/batches/1`).
    RequestBatches {
        peer: PeerId,
        request: BatchRequest,
    },
    RespondBatches {
        channel: ResponseChannel<BatchResponse>,
        response: BatchResponse,
    },
}

pub enum Event {
    /// Answer with [`Command::Report`]: gossipsub holds the message until then.
    Gossip {
        topic: &'static str,
        data: Vec<u8>,
        /// The validator that published it.
        from: PeerId,
        id: MessageId,
        /// The peer that passed it to us (the one penalised for a bad message).
        source: PeerId,
    },
    BlocksRequested {
        request_id: request_response::InboundRequestId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    },
    Blocks {
        from: PeerId,
        response: SyncResponse,
    },
    SyncFailed {
        from: PeerId,
        /// The reply arrived but did not decode (oversized, malformed, or a block whose body
        /// does not match its header): the peer lied, rather than being slow or gone.
        lied: bool,
    },
    BatchesRequested {
        from: PeerId,
        request: BatchRequest,
        channel: ResponseChannel<BatchResponse>,
    },
    Batches {
        from: PeerId,
        response: BatchResponse,
    },
    /// A batch request failed (timed out, refused, or its reply did not decode).
    BatchFetchFailed {
        from: PeerId,
    },
    Connected(PeerId),
    Disconnected(PeerId),
}

/// Incoming connections still in their handshake at once (see the connection limits).
pub const MAX_PENDING_INCOMING: u32 = 32;
/// Sync requests from one peer served at once (see the network task).
const SERVED_PER_PEER: usize = 2;

pub struct NetworkConfig {
    pub key: libp2p::identity::Keypair,
    pub listen: Multiaddr,
    /// Every validator's peer id and address (our own is skipped when dialing).
    pub peers: Vec<(PeerId, Multiaddr)>,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network setup: {0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
}

/// Start the network task.
pub fn spawn(
    config: NetworkConfig,
) -> Result<(mpsc::Sender<Command>, mpsc::Receiver<Event>), NetworkError> {
    let allowed: HashSet<PeerId> = config.peers.iter().map(|(p, _)| *p).collect();
    let swarm = swarm::build(&config, &allowed)?;
    let me = *swarm.local_peer_id();
    let task = NetworkTask {
        my_direct_topic: direct_topic(&me).hash(),
        swarm,
        allowed,
        peers: config.peers.into_iter().filter(|(p, _)| *p != me).collect(),
        connected: HashSet::new(),
        writing: HashMap::new(),
        serving: HashMap::new(),
        serving_batches: HashMap::new(),
        last_heard: HashMap::new(),
        last_sweep: std::time::Instant::now(),
    };
    let (commands, command_rx) = mpsc::channel::<Command>(1024);
    let (event_tx, events) = mpsc::channel::<Event>(4096);
    tokio::spawn(task.run(command_rx, event_tx));
    Ok((commands, events))
}

#[cfg(test)]
mod tests;
