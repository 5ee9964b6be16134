//! The libp2p network of a validator: TCP + Noise + yamux, identify and ping, gossipsub topics
//! for transactions and consensus messages, and request-response for block sync. Only peers in
//! the genesis allow-list may connect.
//!
//! It runs as one tokio task: [`spawn`] returns a command sender and an event receiver.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::Duration;

use futures::StreamExt;
use ledger::crypto::sha256;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::request_response::{self, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, allow_block_list, connection_limits, identify, noise, ping,
    tcp, yamux,
};
use tokio::sync::mpsc;

/// Largest gossip message: a proposal carrying a full block.
pub const MAX_GOSSIP_BYTES: usize = 16 * 1024 * 1024;

mod sync_protocol;
pub use sync_protocol::{SYNC_BATCH, SYNC_REPLY_BUDGET_BYTES, SyncRequest, SyncResponse};
use sync_protocol::{SYNC_PROTOCOL, SYNC_REQUEST_TIMEOUT, SyncCodec};

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
    Connected(PeerId),
    Disconnected(PeerId),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
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

/// Peer scoring that only punishes invalid messages. The validator set is small and fixed, so
/// the mesh-delivery, behaviour and IP-colocation penalties meant for open networks would only
/// hurt (every local validator shares 127.0.0.1; a quiet chain delivers few messages; a
/// paused validator breaks gossip promises).
fn peer_score_params() -> PeerScoreParams {
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4 counts squared: three invalid messages (-90) cross the graylist threshold (-80).
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    };
    PeerScoreParams {
        topics: [TX_TOPIC, CONSENSUS_TOPIC]
            .into_iter()
            .map(|t| (IdentTopic::new(t).hash(), topic.clone()))
            .collect(),
        ip_colocation_factor_weight: 0.0,
        // Protocol-level penalties (IHAVE promises not kept, GRAFT during backoff, a full send
        // queue) hit a validator that was only slow or paused for a moment, and once its score
        // passes the graylist threshold every message it sends is ignored: seen here as a
        // validator whose proposals and transactions never arrived after a 3 s pause.
        behaviour_penalty_weight: 0.0,
        slow_peer_weight: 0.0,
        ..PeerScoreParams::default()
    }
}

/// An error and its sources, joined: libp2p's transport errors keep the reason (such as
/// "Address already in use") in a source, not in their own message.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.trim().is_empty()).collect();
    if parts.is_empty() {
        "unknown reason".into()
    } else {
        parts.join(": ")
    }
}

/// Start the network task.
pub fn spawn(
    config: NetworkConfig,
) -> Result<(mpsc::Sender<Command>, mpsc::Receiver<Event>), NetworkError> {
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let allowed: HashSet<PeerId> = config.peers.iter().map(|(p, _)| *p).collect();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_GOSSIP_BYTES)
                .heartbeat_interval(Duration::from_millis(500))
                // Consensus re-sends identical messages on purpose (its rebroadcast timeout),
                // so a message's id is its publisher and sequence number (gossipsub's default),
                // never its content: each re-send is a new message. With content ids, gossipsub
                // refused every re-send as a duplicate, and its duplicate cache only forgets
                // on the next *new* message, so a quiet chain that lost messages in a
                // partition never heard them again after the heal: it stayed stuck until some
                // transaction was gossiped.
                .message_id_fn(|m| {
                    let source = m.source.map(|p| p.to_bytes()).unwrap_or_default();
                    let seqno = m.sequence_number.unwrap_or_default().to_be_bytes();
                    MessageId::from(sha256(&[&source, &seqno, &m.data]).0.to_vec())
                })
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub =
                gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)?;
            gossipsub.with_peer_score(peer_score_params(), PeerScoreThresholds::default())?;
            let mut allow = allow_block_list::Behaviour::default();
            for peer in &allowed {
                allow.allow_peer(*peer);
            }
            // Every TCP connection costs a descriptor and a Noise handshake before the
            // allow-list can judge its peer, so connections still being upgraded are bounded
            // too: a flood of raw dials is refused at accept instead of exhausting the
            // descriptors RocksDB needs (running out of them fail-stops the node).
            let limits = connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established_per_peer(Some(2))
                    .with_max_established(Some(allowed.len() as u32 * 2 + 2))
                    .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                    .with_max_pending_outgoing(Some(allowed.len() as u32 * 2 + 2)),
            );
            Ok(Behaviour {
                allow,
                limits,
                gossipsub,
                identify: identify::Behaviour::new(identify::Config::new(
                    "/lantau/1".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
                sync: request_response::Behaviour::new(
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(SYNC_REQUEST_TIMEOUT),
                ),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let me = *swarm.local_peer_id();
    for topic in [
        IdentTopic::new(TX_TOPIC),
        IdentTopic::new(CONSENSUS_TOPIC),
        direct_topic(&me),
    ] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| setup(&e))?;
    }
    let my_direct_topic = direct_topic(&me).hash();
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: config.listen.clone(),
            reason: error_chain(&e),
        })?;
    let peers: Vec<(PeerId, Multiaddr)> =
        config.peers.into_iter().filter(|(p, _)| *p != me).collect();

    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(1024);
    let (evt_tx, evt_rx) = mpsc::channel::<Event>(4096);
    tokio::spawn(async move {
        let mut redial = tokio::time::interval(Duration::from_secs(2));
        let mut connected: HashSet<PeerId> = HashSet::new();
        // Sync replies handed to libp2p and not yet written, with their serving permits.
        let mut writing: HashMap<
            request_response::InboundRequestId,
            tokio::sync::OwnedSemaphorePermit,
        > = HashMap::new();
        // Sync requests being served per peer. An honest requester has one in flight (two
        // for a moment, when its next request overtakes our write's completion), so a peer
        // that stalls its reads holds at most `SERVED_PER_PEER` serving permits, not all.
        let mut serving: HashMap<PeerId, HashSet<request_response::InboundRequestId>> =
            HashMap::new();
        loop {
            tokio::select! {
                _ = redial.tick() => {
                    // Dial every validator we are not connected to (also after a peer restarts).
                    for (peer, addr) in &peers {
                        if !connected.contains(peer) {
                            let _ = swarm.dial(addr.clone());
                        }
                    }
                }
                cmd = cmd_rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    match cmd {
                        Command::Report { id, source, verdict } => {
                            let acceptance = match verdict {
                                Verdict::Accept => MessageAcceptance::Accept,
                                Verdict::Ignore => MessageAcceptance::Ignore,
                                Verdict::Reject => MessageAcceptance::Reject,
                            };
                            swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &source, acceptance);
                        }
                        Command::Peers { reply } => {
                            let gossip = &swarm.behaviour().gossipsub;
                            let mut peers: Vec<PeerInfo> = connected.iter().map(|p| PeerInfo {
                                peer_id: *p,
                                score: gossip.peer_score(p).unwrap_or(0.0),
                            }).collect();
                            peers.sort_by_key(|p| p.peer_id);
                            let _ = reply.send(peers);
                        }
                        Command::SetBlocked { peer, blocked } => {
                            // Only genesis validators are ever allowed back in.
                            if blocked {
                                swarm.behaviour_mut().allow.disallow_peer(peer);
                            } else if allowed.contains(&peer) {
                                swarm.behaviour_mut().allow.allow_peer(peer);
                            }
                        }
                        Command::Publish { topic, data } => {
                            // No peers yet (startup) is not an error: consensus re-sends.
                            if let Err(e) = swarm.behaviour_mut().gossipsub.publish(IdentTopic::new(topic), data) {
                                tracing::debug!(topic, error = %e, "publish failed");
                            }
                        }
                        Command::PublishTo { peer, data } => {
                            if let Err(e) = swarm.behaviour_mut().gossipsub.publish(direct_topic(&peer), data) {
                                tracing::debug!(%peer, error = %e, "direct publish failed");
                            }
                        }
                        Command::RequestBlocks { peer, request } => {
                            swarm.behaviour_mut().sync.send_request(&peer, request);
                        }
                        Command::RespondBlocks { request_id, channel, response, permit } => {
                            if swarm.behaviour_mut().sync.send_response(channel, response).is_ok() {
                                writing.insert(request_id, permit);
                            }
                        }
                    }
                }
                event = swarm.select_next_some() => {
                    let out = match event {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                            connected.insert(peer_id).then_some(Event::Connected(peer_id))
                        }
                        SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                            connected.remove(&peer_id);
                            Some(Event::Disconnected(peer_id))
                        }
                        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                            let topic = if message.topic == IdentTopic::new(TX_TOPIC).hash() {
                                Some(TX_TOPIC)
                            } else if message.topic == IdentTopic::new(CONSENSUS_TOPIC).hash()
                                || message.topic == my_direct_topic
                            {
                                Some(CONSENSUS_TOPIC)
                            } else {
                                None
                            };
                            // Only a validator may publish, on a known topic; the node judges
                            // the content and reports back.
                            let from_validator = message.source.is_some_and(|s| allowed.contains(&s));
                            match (topic, message.source) {
                                (Some(topic), Some(from)) if from_validator => Some(Event::Gossip {
                                    topic,
                                    data: message.data,
                                    from,
                                    id: message_id,
                                    source: propagation_source,
                                }),
                                _ => {
                                    swarm.behaviour_mut().gossipsub.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Reject);
                                    None
                                }
                            }
                        }
                        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. })) => match message {
                            request_response::Message::Request { request_id, request, channel } => {
                                let mine = serving.entry(peer).or_default();
                                if mine.len() >= SERVED_PER_PEER {
                                    // Dropping the channel refuses it (libp2p closes the stream).
                                    tracing::debug!(%peer, "too many concurrent sync requests; one refused");
                                    drop(channel);
                                    None
                                } else {
                                    mine.insert(request_id);
                                    Some(Event::BlocksRequested { request_id, request, channel })
                                }
                            }
                            request_response::Message::Response { response, .. } => Some(Event::Blocks { from: peer, response }),
                        },
                        SwarmEvent::Behaviour(BehaviourEvent::Sync(
                            request_response::Event::ResponseSent { peer, request_id, .. }
                            | request_response::Event::InboundFailure { peer, request_id, .. },
                        )) => {
                            writing.remove(&request_id);
                            if let Some(mine) = serving.get_mut(&peer) {
                                mine.remove(&request_id);
                                if mine.is_empty() {
                                    serving.remove(&peer);
                                }
                            }
                            None
                        }
                        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure { peer, error, .. })) => {
                            let lied = matches!(&error, request_response::OutboundFailure::Io(e) if e.kind() == io::ErrorKind::InvalidData);
                            Some(Event::SyncFailed { from: peer, lied })
                        }
                        _ => None,
                    };
                    if let Some(out) = out && evt_tx.send(out).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok((cmd_tx, evt_rx))
}

#[cfg(test)]
mod tests;
