//! How fast a fresh validator catches up through block sync.
//!
//! Builds a chain of N certified blocks offline (all four validator keys are in this process,
//! so each block gets a real commit certificate), gives a copy of it to validators 0-2, starts
//! them with an empty validator 3, and times validator 3 from start to the tip.
//!
//! With `--liar`, validator 2 is a liar instead: its key signs a vote at height 10^12, which
//! it republishes every 100 ms, and it holds every sync request unanswered (validators 0 and
//! 1 hold the chain; with the fresh one they are a quorum again once it has caught up).
//!
//!   cargo run --release -p node --example catch_up -- [blocks] [txs_per_block] [--liar]

use std::path::Path;
use std::time::{Duration, Instant};

use consensus::Timeouts;
use ledger::{CommitCertificate, CommitSig, Genesis, Keypair, Transfer, Vote, VoteKind};
use libp2p::{Multiaddr, PeerId};
use node::app::{AppConfig, Application};
use node::network::NetworkConfig;
use node::service::{self, NodeSetup};

const CHAIN: &str = "catch-up";

fn free_port() -> u16 {
    node::ports::free_local_port()
}

fn p2p_key(i: usize) -> libp2p::identity::Keypair {
    node::home::p2p_identity(ledger::crypto::sha256(&[b"catch-up-p2p-key", &[i as u8]]).0)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Commit `blocks` blocks of `txs_per_block` transfers each into a store at `dir`.
fn build_chain(
    dir: &Path,
    genesis: &Genesis,
    keys: &[Keypair],
    sender: &Keypair,
    blocks: u64,
    txs_per_block: u64,
) {
    let validators = genesis.validator_set().unwrap();
    let mut app = Application::open(dir, genesis, AppConfig::default()).unwrap();
    let mut nonce = 0;
    for height in 1..=blocks {
        let txs: Vec<Vec<u8>> = (0..txs_per_block)
            .map(|_| {
                nonce += 1;
                Transfer {
                    chain_id: CHAIN.into(),
                    from: sender.public(),
                    to: keys[0].public(),
                    amount: 1,
                    nonce: nonce - 1,
                    memo: vec![],
                }
                .sign(sender)
                .encode()
            })
            .collect();
        let verified = app.verifier().admit(&txs);
        for result in app.admit_verified(verified) {
            result.unwrap();
        }
        let proposer = keys[(height % 4) as usize].public();
        let block = app
            .build_block(height, 0, proposer, height * 1000)
            .expect("tip readable");
        let block_hash = block.hash();
        let signatures = keys
            .iter()
            .map(|k| CommitSig {
                validator_index: validators.index_of(&k.public()).unwrap() as u32,
                signature: Vote {
                    height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block: Some(block_hash),
                    validator: k.public(),
                }
                .sign(CHAIN, k)
                .signature,
            })
            .collect();
        let certificate = CommitCertificate {
            height,
            round: 0,
            block_hash,
            signatures,
        };
        app.commit(&block, &certificate).unwrap();
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let liar = std::env::args().any(|a| a == "--liar");
    let mut args = std::env::args().skip(1).filter(|a| a != "--liar");
    let blocks: u64 = args.next().map_or(10_000, |a| a.parse().expect("blocks"));
    let txs_per_block: u64 = args.next().map_or(0, |a| a.parse().expect("txs per block"));
    let keys: Vec<Keypair> = (0..4)
        .map(|i| Keypair::from_seed(&format!("catch-up-validator-{i}")))
        .collect();
    let sender = Keypair::from_seed("catch-up-sender");
    let validators: Vec<_> = keys.iter().map(Keypair::public).collect();
    let genesis = Genesis::with_validators(CHAIN, &validators, &[(sender.public(), u64::MAX / 2)]);

    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    eprintln!("building {blocks} certified blocks of {txs_per_block} txs ...");
    let built = Instant::now();
    let chain = dirs[0].path().join("data");
    build_chain(&chain, &genesis, &keys, &sender, blocks, txs_per_block);
    for d in &dirs[1..3] {
        copy_dir(&chain, &d.path().join("data"));
    }
    eprintln!("built in {:.1}s", built.elapsed().as_secs_f64());

    let peers: Vec<(PeerId, Multiaddr)> = (0..4)
        .map(|i| {
            let addr = format!("/ip4/127.0.0.1/tcp/{}", free_port());
            (p2p_key(i).public().to_peer_id(), addr.parse().unwrap())
        })
        .collect();
    let setup = |i: usize| NodeSetup {
        byzantine: None,
        dir: dirs[i].path().join("data"),
        genesis: genesis.clone(),
        validator_key: Keypair::from_secret(keys[i].secret_bytes()),
        network: NetworkConfig {
            key: p2p_key(i),
            listen: peers[i].1.clone(),
            peers: peers.clone(),
        },
        timeouts: Timeouts::default(),
        block_interval: Duration::from_millis(200),
        app: AppConfig {
            verify_threads: 1,
            ..AppConfig::default()
        },
    };
    let honest = if liar { 2 } else { 3 };
    let _ahead: Vec<_> = (0..honest)
        .map(|i| service::start(setup(i)).unwrap())
        .collect();
    if liar {
        start_liar(&keys[2], p2p_key(2), peers[2].1.clone(), peers.clone());
    }
    let started = Instant::now();
    let fresh = service::start(setup(3)).unwrap();
    let mut last_report = Instant::now();
    loop {
        let height = fresh.status().await.unwrap().height;
        if height > blocks {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            eprintln!(
                "  {:>5.1}s: at height {height}",
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "catch-up{}: {blocks} blocks of {txs_per_block} txs synced by a fresh validator in {took:.2}s ({:.0} blocks/s, {:.0} tx/s)",
        if liar { " (with a liar)" } else { "" },
        blocks as f64 / took,
        (blocks * txs_per_block) as f64 / took,
    );
}

/// Validator 2 as a liar: a genuine signature at a height no one reached, republished under
/// new gossip sequence numbers, and sync requests held until they time out.
fn start_liar(
    key: &Keypair,
    p2p: libp2p::identity::Keypair,
    listen: Multiaddr,
    peers: Vec<(PeerId, Multiaddr)>,
) {
    let (net, mut events) = node::network::spawn(NetworkConfig {
        key: p2p,
        listen,
        peers,
    })
    .unwrap();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Some(event) = events.recv().await {
            if let node::network::Event::BlocksRequested { channel, .. } = event {
                held.push(channel);
            }
        }
    });
    let key = Keypair::from_secret(key.secret_bytes());
    tokio::spawn(async move {
        for round in 0u32.. {
            let vote = Vote {
                height: 1_000_000_000_000,
                round,
                kind: VoteKind::Prevote,
                block: None,
                validator: key.public(),
            }
            .sign(CHAIN, &key);
            let data = consensus::Message::Vote(vote).encode();
            let topic = node::network::CONSENSUS_TOPIC;
            let publish = node::network::Command::Publish { topic, data };
            if net.send(publish).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}
