//! Building the validator's libp2p swarm: TCP + Noise + yamux, gossipsub with strict
//! validation and scoring that only punishes invalid messages, identify, ping, block sync
//! over request-response, the genesis allow-list and connection limits.

use std::collections::HashSet;
use std::time::Duration;

use ledger::crypto::sha256;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, identify, noise, ping, tcp,
    yamux,
};

use super::batch_protocol::{BATCH_PROTOCOL, BATCH_REQUEST_TIMEOUT, BatchCodec};
use super::sync_protocol::{SYNC_PROTOCOL, SYNC_REQUEST_TIMEOUT, SyncCodec};
use super::{
    CONSENSUS_TOPIC, MAX_GOSSIP_BYTES, MAX_PENDING_INCOMING, NetworkConfig, NetworkError, TX_TOPIC,
    direct_topic,
};

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    pub(super) limits: connection_limits::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
    pub(super) batches: request_response::Behaviour<BatchCodec>,
}

/// How often each connection is pinged, and how long one ping may take. A cut link leaves TCP
/// connections open and silent, so without pings a validator would count a peer it cannot
/// reach, and after the heal wait on TCP's retransmission backoff (see `event_loop`, which
/// closes a connection whose pings stop being answered).
pub(super) const PING_INTERVAL: Duration = Duration::from_secs(1);
pub(super) const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a dial (TCP, Noise, yamux) may take: a dial into a cut link fails after this, and
/// the next one goes out on a fresh connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The swarm, subscribed to its topics and listening; not yet dialing anyone.
pub(super) fn build(
    config: &NetworkConfig,
    allowed: &HashSet<PeerId>,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        // Genesis may name validators by DNS name (`/dns4/lantau-0.lantau.ns.svc...`, as the
        // Kubernetes manifests do): resolved at each dial, so a pod that moves is found anew.
        .with_dns()
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
            for peer in allowed {
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
                ping: ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(PING_INTERVAL)
                        .with_timeout(PING_TIMEOUT),
                ),
                sync: request_response::Behaviour::new(
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(SYNC_REQUEST_TIMEOUT),
                ),
                batches: request_response::Behaviour::new(
                    [(StreamProtocol::new(BATCH_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(BATCH_REQUEST_TIMEOUT),
                ),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .with_connection_timeout(CONNECTION_TIMEOUT)
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
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: config.listen.clone(),
            reason: error_chain(&e),
        })?;
    Ok(swarm)
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
