//! The network task: dials the validators it is not connected to, carries out the node's
//! commands and turns swarm events into the node's [`Event`]s, keeping the per-peer bounds on
//! sync serving.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::request_response::{self, InboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, ping};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::swarm::{Behaviour, BehaviourEvent};
use super::{
    CONSENSUS_TOPIC, Command, Event, PeerInfo, SERVED_PER_PEER, TX_TOPIC, Verdict, direct_topic,
};

pub(super) struct NetworkTask {
    pub(super) swarm: Swarm<Behaviour>,
    /// The genesis validators: the only peers allowed in, and the only publishers believed.
    pub(super) allowed: HashSet<PeerId>,
    /// The other validators, to dial.
    pub(super) peers: Vec<(PeerId, Multiaddr)>,
    pub(super) my_direct_topic: TopicHash,
    pub(super) connected: HashSet<PeerId>,
    /// Sync replies handed to libp2p and not yet written, with their serving permits.
    pub(super) writing: HashMap<InboundRequestId, OwnedSemaphorePermit>,
    /// Sync requests being served per peer. An honest requester has one in flight (two for a
    /// moment, when its next request overtakes our write's completion), so a peer that stalls
    /// its reads holds at most `SERVED_PER_PEER` serving permits, not all.
    pub(super) serving: HashMap<PeerId, HashSet<InboundRequestId>>,
    /// Batch fetches being answered per peer, bounded the same way: a reply may hold 32 MiB,
    /// so a peer that keeps asking without reading holds at most `SERVED_PER_PEER` of them.
    pub(super) serving_batches: HashMap<PeerId, HashSet<InboundRequestId>>,
    /// Each connection's last answered ping (or its opening), to close dead links.
    pub(super) last_heard: HashMap<ConnectionId, (PeerId, Instant)>,
    /// When dead links were last looked for.
    pub(super) last_sweep: Instant,
}

/// A connection whose pings went unanswered this long is taken for dead and closed. libp2p's
/// ping reports a failure only at the second in a row, and after a timed-out ping it opens a
/// new substream whose negotiation may take 10 s: ~14 s in all, too long to notice a cut.
const DEAD_AFTER: Duration = Duration::from_secs(5);
/// How often lost peers are redialled and dead links looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl NetworkTask {
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) {
        let mut redial = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = redial.tick() => {
                    self.close_dead_links();
                    self.redial();
                }
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                event = self.swarm.select_next_some() => {
                    if let Some(out) = self.on_swarm_event(event)
                        && events.send(out).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    }

    fn close_dead_links(&mut self) {
        let now = Instant::now();
        // This task itself was held up (the node task slow to take events): the pings it did
        // not read say nothing about the links, so every link gets a fresh DEAD_AFTER.
        let stalled = now.duration_since(self.last_sweep) > 2 * SWEEP_EVERY;
        self.last_sweep = now;
        if stalled {
            for (_, at) in self.last_heard.values_mut() {
                *at = now;
            }
            return;
        }
        let dead: Vec<(ConnectionId, PeerId)> = self
            .last_heard
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) > DEAD_AFTER)
            .map(|(c, (p, _))| (*c, *p))
            .collect();
        for (connection, peer) in dead {
            tracing::warn!(%peer, "no ping answer for {DEAD_AFTER:?}; closing the connection");
            self.last_heard.remove(&connection);
            self.swarm.close_connection(connection);
        }
    }

    /// Dial every validator we are neither connected to nor dialing (also after a peer
    /// restarts, or a dead link was closed).
    fn redial(&mut self) {
        for (peer, addr) in &self.peers {
            if !self.connected.contains(peer) {
                let dial = DialOpts::peer_id(*peer)
                    .addresses(vec![addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                let _ = self.swarm.dial(dial);
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let (swarm, connected, allowed) = (&mut self.swarm, &self.connected, &self.allowed);
        let writing = &mut self.writing;
        match cmd {
            Command::Report {
                id,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                    Verdict::Reject => MessageAcceptance::Reject,
                };
                swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::Peers { reply } => {
                let gossip = &swarm.behaviour().gossipsub;
                let mut peers: Vec<PeerInfo> = connected
                    .iter()
                    .map(|p| PeerInfo {
                        peer_id: *p,
                        score: gossip.peer_score(p).unwrap_or(0.0),
                    })
                    .collect();
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
                if let Err(e) = swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(IdentTopic::new(topic), data)
                {
                    tracing::debug!(topic, error = %e, "publish failed");
                }
            }
            Command::PublishTo { peer, data } => {
                if let Err(e) = swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(direct_topic(&peer), data)
                {
                    tracing::debug!(%peer, error = %e, "direct publish failed");
                }
            }
            Command::RequestBlocks { peer, request } => {
                swarm.behaviour_mut().sync.send_request(&peer, request);
            }
            Command::RequestBatches { peer, request } => {
                swarm.behaviour_mut().batches.send_request(&peer, request);
            }
            Command::RespondBatches { channel, response } => {
                let _ = swarm
                    .behaviour_mut()
                    .batches
                    .send_response(channel, response);
            }
            Command::RespondBlocks {
                request_id,
                channel,
                response,
                permit,
            } => {
                if swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response)
                    .is_ok()
                {
                    writing.insert(request_id, permit);
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Option<Event> {
        let (swarm, connected, allowed) = (&mut self.swarm, &mut self.connected, &self.allowed);
        let (serving, writing) = (&mut self.serving, &mut self.writing);
        let serving_batches = &mut self.serving_batches;
        let my_direct_topic = &self.my_direct_topic;
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                ..
            } => {
                self.last_heard
                    .insert(connection_id, (peer_id, Instant::now()));
                let new = connected.insert(peer_id);
                if new {
                    let address = endpoint.get_remote_address();
                    tracing::info!(peer = %peer_id, %address, "peer connected");
                }
                new.then_some(Event::Connected(peer_id))
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                self.last_heard.remove(&connection_id);
                if num_established > 0 {
                    return None;
                }
                connected.remove(&peer_id);
                let cause = cause.map_or("closed".to_string(), |e| e.to_string());
                tracing::warn!(peer = %peer_id, %cause, "peer lost; redialling every second");
                Some(Event::Disconnected(peer_id))
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Ok(_),
            })) => {
                self.last_heard.insert(connection, (peer, Instant::now()));
                None
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(failure),
            })) => {
                // A link that stopped answering is dead even while TCP keeps it open: close it
                // so the peer counts as lost and the next dial starts afresh.
                tracing::warn!(%peer, %failure, "a ping failed; closing the connection");
                swarm.close_connection(connection);
                None
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "dial failed");
                None
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let topic = if message.topic == IdentTopic::new(TX_TOPIC).hash() {
                    Some(TX_TOPIC)
                } else if message.topic == IdentTopic::new(CONSENSUS_TOPIC).hash()
                    || message.topic == *my_direct_topic
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
                        swarm
                            .behaviour_mut()
                            .gossipsub
                            .report_message_validation_result(
                                &message_id,
                                &propagation_source,
                                MessageAcceptance::Reject,
                            );
                        None
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    let mine = serving.entry(peer).or_default();
                    if mine.len() >= SERVED_PER_PEER {
                        // Dropping the channel refuses it (libp2p closes the stream).
                        tracing::debug!(%peer, "too many concurrent sync requests; one refused");
                        drop(channel);
                        None
                    } else {
                        mine.insert(request_id);
                        Some(Event::BlocksRequested {
                            request_id,
                            request,
                            channel,
                        })
                    }
                }
                request_response::Message::Response { response, .. } => Some(Event::Blocks {
                    from: peer,
                    response,
                }),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::ResponseSent {
                    peer, request_id, ..
                }
                | request_response::Event::InboundFailure {
                    peer, request_id, ..
                },
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
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure { peer, error, .. },
            )) => {
                let lied = matches!(&error, request_response::OutboundFailure::Io(e) if e.kind() == io::ErrorKind::InvalidData);
                Some(Event::SyncFailed { from: peer, lied })
            }
            SwarmEvent::Behaviour(BehaviourEvent::Batches(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    let mine = serving_batches.entry(peer).or_default();
                    if mine.len() >= SERVED_PER_PEER {
                        tracing::debug!(%peer, "too many concurrent batch fetches; one refused");
                        drop(channel);
                        None
                    } else {
                        mine.insert(request_id);
                        Some(Event::BatchesRequested {
                            from: peer,
                            request,
                            channel,
                        })
                    }
                }
                request_response::Message::Response { response, .. } => Some(Event::Batches {
                    from: peer,
                    response,
                }),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Batches(
                request_response::Event::ResponseSent {
                    peer, request_id, ..
                }
                | request_response::Event::InboundFailure {
                    peer, request_id, ..
                },
            )) => {
                if let Some(mine) = serving_batches.get_mut(&peer) {
                    mine.remove(&request_id);
                    if mine.is_empty() {
                        serving_batches.remove(&peer);
                    }
                }
                None
            }
            SwarmEvent::Behaviour(BehaviourEvent::Batches(
                request_response::Event::OutboundFailure { peer, .. },
            )) => Some(Event::BatchFetchFailed { from: peer }),
            _ => None,
        }
    }
}
