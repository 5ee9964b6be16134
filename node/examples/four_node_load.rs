//! Rough load run: four libp2p validators in this process on 127.0.0.1, pre-signed transfers
//! submitted round-robin at a fixed rate, committed tx/s and submit-to-commit latency printed.
//! The proper harness is `lantau bench` (testnet crate); this is a quick look.
//!
//!   cargo run --release -p node --example four_node_load -- [rate_tx_per_s] [seconds]

use std::time::{Duration, Instant};

use consensus::Timeouts;
use ledger::{Genesis, Keypair, Transfer};
use libp2p::{Multiaddr, PeerId};
use node::app::AppConfig;
use node::network::NetworkConfig;
use node::service::{self, NodeSetup};

fn free_port() -> u16 {
    node::ports::free_local_port()
}

fn p2p_key(i: usize) -> libp2p::identity::Keypair {
    node::home::p2p_identity(ledger::crypto::sha256(&[b"load-p2p-key", &[i as u8]]).0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().map_or(1000, |a| a.parse().expect("rate"));
    let seconds: u64 = args.next().map_or(10, |a| a.parse().expect("seconds"));
    let senders: Vec<Keypair> = (0..200)
        .map(|i| Keypair::from_seed(&format!("load-{i}")))
        .collect();
    let keys: Vec<Keypair> = (0..4)
        .map(|i| Keypair::from_seed(&format!("load-validator-{i}")))
        .collect();
    let validators: Vec<_> = keys.iter().map(Keypair::public).collect();
    let funded: Vec<_> = senders.iter().map(|k| (k.public(), 1u64 << 40)).collect();
    let genesis = Genesis::with_validators("load", &validators, &funded);
    let total = (rate * seconds) as usize;
    eprintln!("pre-signing {total} transfers ...");
    let mut nonces = vec![0u64; senders.len()];
    let txs: Vec<Vec<u8>> = (0..total)
        .map(|i| {
            let s = i % senders.len();
            nonces[s] += 1;
            Transfer {
                chain_id: "load".into(),
                from: senders[s].public(),
                to: senders[(s + 1) % senders.len()].public(),
                amount: 1,
                nonce: nonces[s] - 1,
                memo: vec![],
            }
            .sign(&senders[s])
            .encode()
        })
        .collect();
    let peers: Vec<(PeerId, Multiaddr)> = (0..4)
        .map(|i| {
            (
                p2p_key(i).public().to_peer_id(),
                format!("/ip4/127.0.0.1/tcp/{}", free_port())
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            service::start(NodeSetup {
                byzantine: None,
                dir: dirs[i].path().to_path_buf(),
                genesis: genesis.clone(),
                validator_key: key,
                network: NetworkConfig {
                    key: p2p_key(i),
                    listen: peers[i].1.clone(),
                    peers: peers.clone(),
                },
                timeouts: Timeouts::default(),
                block_interval: Duration::from_millis(100),
                app: AppConfig {
                    verify_threads: 1,
                    ..AppConfig::default()
                },
            })
            .unwrap()
        })
        .collect();
    while nodes[0].status().await.unwrap().height < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_height = nodes[0].status().await.unwrap().height;
    let started = Instant::now();
    let mut refused = 0;
    // One transfer in 50 is followed to its commit: submit-to-commit latency.
    let mut samples = Vec::new();
    for (i, tx) in txs.into_iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        match nodes[i % 4].submit(tx).await.unwrap() {
            Err(_) => refused += 1,
            Ok(hash) if i % 50 == 0 => {
                let node = nodes[i % 4].clone();
                samples.push(tokio::spawn(async move {
                    loop {
                        if let Ok(service::TxStatus::Committed(_)) = node.tx(hash).await {
                            return sent.elapsed();
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }));
            }
            Ok(_) => {}
        }
    }
    let sent_in = started.elapsed();
    // Done when every sender's last nonce is committed on validator 0.
    let deadline = Instant::now() + Duration::from_secs(120);
    'wait: while Instant::now() < deadline {
        for (k, expected) in senders.iter().zip(&nonces) {
            if nodes[0].account(k.public()).await.unwrap().nonce < *expected {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue 'wait;
            }
        }
        break;
    }
    let elapsed = started.elapsed();
    let end_height = nodes[0].status().await.unwrap().height;
    let mut latencies = Vec::new();
    for s in samples {
        latencies.push(s.await.unwrap().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "4 validators, {total} transfers offered at {rate}/s over {:.1}s ({refused} refused); all committed after {:.2}s: {:.0} committed tx/s, {} blocks; submit-to-commit latency p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        sent_in.as_secs_f64(),
        elapsed.as_secs_f64(),
        (total - refused) as f64 / elapsed.as_secs_f64(),
        end_height - start_height,
        pct(0.5),
        pct(0.99),
        latencies.len(),
    );
}
