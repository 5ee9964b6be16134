//! Validators as separate nodes on 127.0.0.1, talking libp2p.

use std::time::Duration;

use consensus::Timeouts;
use ledger::{Genesis, Keypair, Transfer};
use libp2p::{Multiaddr, PeerId};
use node::app::AppConfig;
use node::network::{self, NetworkConfig};
use node::service::{self, NodeHandle, NodeSetup};

fn free_port() -> u16 {
    node::ports::free_local_port()
}

fn p2p_key(i: usize) -> libp2p::identity::Keypair {
    node::home::p2p_identity(ledger::crypto::sha256(&[b"test-p2p-key", &[i as u8]]).0)
}

struct Net {
    handles: Vec<Option<NodeHandle>>,
    dirs: Vec<tempfile::TempDir>,
    keys: Vec<Keypair>,
    genesis: Genesis,
    peers: Vec<(PeerId, Multiaddr)>,
    /// As in `config.toml` (`0`: an idle proposer proposes an empty block at once).
    empty_block_wait_ms: u64,
}

impl Net {
    fn node(&self, i: usize) -> &NodeHandle {
        self.handles[i].as_ref().expect("node is running")
    }

    fn running(&self) -> impl Iterator<Item = &NodeHandle> {
        self.handles.iter().flatten()
    }

    fn setup(&self, i: usize) -> NodeSetup {
        NodeSetup {
            byzantine: None,
            dir: self.dirs[i].path().to_path_buf(),
            genesis: self.genesis.clone(),
            validator_key: Keypair::from_secret(self.keys[i].secret_bytes()),
            network: NetworkConfig {
                key: p2p_key(i),
                listen: self.peers[i].1.clone(),
                peers: self.peers.clone(),
            },
            timeouts: Timeouts {
                propose_base_ms: 500,
                rebroadcast_ms: 500,
                ..Timeouts::default()
            },
            block_interval: Duration::from_millis(50),
            app: AppConfig {
                verify_threads: 1,
                empty_block_wait_ms: self.empty_block_wait_ms,
                ..AppConfig::default()
            },
        }
    }

    async fn min_height(&self) -> u64 {
        let mut min = u64::MAX;
        for h in self.running() {
            min = min.min(h.status().await.unwrap().height);
        }
        min
    }
}

/// Accounts that send the bulk of a load test (one sender may only have so much pending).
fn bulk_sender(i: usize) -> Keypair {
    Keypair::from_seed(&format!("bulk-{i}"))
}

const BULK_SENDERS: usize = 8;

fn genesis(keys: &[Keypair], alice: &Keypair) -> Genesis {
    let validators: Vec<_> = keys.iter().map(Keypair::public).collect();
    let mut funded = vec![(alice.public(), 1_000)];
    funded.extend((0..BULK_SENDERS).map(|i| (bulk_sender(i).public(), 1_000_000)));
    Genesis::with_validators("net-test", &validators, &funded)
}

fn start(n: usize, alice: &Keypair) -> Net {
    start_only(n, n, alice)
}

/// A genesis of `n` validators with only the first `live` started.
fn start_only(n: usize, live: usize, alice: &Keypair) -> Net {
    start_configured(n, live, alice, 0)
}

fn start_configured(n: usize, live: usize, alice: &Keypair, empty_block_wait_ms: u64) -> Net {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_seed(&format!("net-{i}")))
        .collect();
    let genesis = genesis(&keys, alice);
    let peers: Vec<(PeerId, Multiaddr)> = (0..n)
        .map(|i| {
            (
                p2p_key(i).public().to_peer_id(),
                format!("/ip4/127.0.0.1/tcp/{}", free_port())
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    let dirs = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut net = Net {
        handles: vec![],
        dirs,
        keys,
        genesis,
        peers,
        empty_block_wait_ms,
    };
    for i in 0..n {
        let handle = (i < live).then(|| service::start(net.setup(i)).unwrap());
        net.handles.push(handle);
    }
    net
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_networked_validators_commit_a_transfer_everywhere() {
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let net = start(4, &alice);
    wait_for("blocks to be committed", async || {
        net.min_height().await >= 3
    })
    .await;

    let tx = Transfer {
        chain_id: "net-test".into(),
        from: alice.public(),
        to: bob,
        amount: 42,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    net.node(1)
        .submit(tx.encode())
        .await
        .unwrap()
        .expect("accepted");
    assert!(
        net.node(1).submit(tx.encode()).await.unwrap().is_err(),
        "a replay is refused"
    );
    wait_for("the transfer on every validator", async || {
        for h in net.running() {
            if h.balance(bob).await.unwrap() != 42 {
                return false;
            }
        }
        true
    })
    .await;
    for h in net.running() {
        assert_eq!(h.balance(alice.public()).await.unwrap(), 958);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_validator_catches_up_through_block_sync() {
    let alice = Keypair::from_seed("alice");
    let mut net = start(4, &alice);
    wait_for("first blocks", async || net.min_height().await >= 2).await;
    // Stop validator 3; the other three keep deciding without it.
    net.handles[3] = None;
    let stopped_at = net.min_height().await;
    wait_for("progress without validator 3", async || {
        net.min_height().await >= stopped_at + 20
    })
    .await;
    net.handles[3] = Some(service::start(net.setup(3)).unwrap());
    let target = net.node(0).status().await.unwrap().height;
    wait_for("validator 3 to catch up", async || {
        net.node(3).status().await.unwrap().height >= target
    })
    .await;
    // And it takes part again: the chain keeps growing with all four.
    let now = net.min_height().await;
    wait_for("progress after the restart", async || {
        net.min_height().await >= now + 3
    })
    .await;
}

/// Validators named by DNS names in their peer lists (as genesis names pods in Kubernetes)
/// resolve them through the transport and commit together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validators_dial_each_other_by_dns_name() {
    let alice = Keypair::from_seed("alice");
    let mut net = start_only(4, 0, &alice);
    let by_name: Vec<(PeerId, Multiaddr)> = net
        .peers
        .iter()
        .map(|(peer, address)| {
            let port = address
                .iter()
                .find_map(|p| match p {
                    libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                    _ => None,
                })
                .unwrap();
            (
                *peer,
                format!("/dns4/localhost/tcp/{port}").parse().unwrap(),
            )
        })
        .collect();
    for i in 0..4 {
        let mut setup = net.setup(i);
        setup.network.peers = by_name.clone();
        net.handles[i] = Some(service::start(setup).unwrap());
    }
    wait_for(
        "validators that know each other by name to commit",
        async || net.min_height().await >= 3,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_outside_the_genesis_set_cannot_connect() {
    let alice = Keypair::from_seed("alice");
    let net = start(4, &alice);
    wait_for("validators to connect", async || {
        for h in net.running() {
            if h.status().await.unwrap().peers < 3 {
                return false;
            }
        }
        true
    })
    .await;
    // A stranger that knows every address and dials them all.
    let stranger_dir = tempfile::tempdir().unwrap();
    let mut setup = net.setup(0);
    setup.dir = stranger_dir.path().to_path_buf();
    setup.validator_key = Keypair::from_seed("stranger");
    let stranger_key = p2p_key(99);
    let stranger_id = stranger_key.public().to_peer_id();
    let stranger_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", free_port())
        .parse()
        .unwrap();
    let mut peers = net.peers.clone();
    peers.push((stranger_key.public().to_peer_id(), stranger_addr.clone()));
    setup.network = NetworkConfig {
        key: stranger_key,
        listen: stranger_addr,
        peers,
    };
    let stranger = service::start(setup).unwrap();
    // For five seconds of its dialling, no validator ever lists it as a peer. (The
    // stranger's own count is no measure: its outbound dial completes the transport
    // handshake before the validator drops it, so it can see a connection for an instant.)
    let watching = tokio::time::Instant::now();
    while watching.elapsed() < Duration::from_secs(5) {
        for h in net.running() {
            let peers = h.peers().await.unwrap();
            assert!(
                peers.iter().all(|p| p.peer_id != stranger_id),
                "a validator accepted the stranger"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stranger.status().await.unwrap().height,
        1,
        "the stranger learned nothing"
    );
    for h in net.running() {
        assert_eq!(h.status().await.unwrap().peers, 3);
    }
}

/// A validator that signs one vote at height 10^12 and never answers a sync request: a
/// fresh validator catching up believes a height only as far as peers with more than a
/// third of the power claim it, so it never asks the liar (each ask would cost a 5 s
/// timeout), catches up from the honest peers, and is not left "syncing" once up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_liar_claiming_a_huge_height_neither_slows_catch_up_nor_keeps_a_node_syncing() {
    let alice = Keypair::from_seed("alice");
    let mut net = start_only(4, 3, &alice);
    wait_for("a history to catch up on", async || {
        net.min_height().await >= 30
    })
    .await;
    // Validator 2 loses its store; 0 and 1 alone (half the power) wait at their tip.
    net.handles[2] = None;
    net.dirs[2] = tempfile::tempdir().unwrap();
    // Validator 3 runs a rogue stack: its genuine key signs a far-future vote, republished
    // every 100 ms, and it holds every sync request unanswered.
    let (rogue, mut rogue_events) = network::spawn(NetworkConfig {
        key: p2p_key(3),
        listen: net.peers[3].1.clone(),
        peers: net.peers.clone(),
    })
    .unwrap();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = asked.clone();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Some(event) = rogue_events.recv().await {
            if let network::Event::BlocksRequested { channel, .. } = event {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                held.push(channel);
            }
        }
    });
    let liar_key = Keypair::from_secret(net.keys[3].secret_bytes());
    tokio::spawn(async move {
        for round in 0u32.. {
            let vote = ledger::Vote {
                height: 1_000_000_000_000,
                round,
                kind: ledger::VoteKind::Prevote,
                block: None,
                validator: liar_key.public(),
            }
            .sign("net-test", &liar_key);
            let data = consensus::Message::Vote(vote).encode();
            let topic = network::CONSENSUS_TOPIC;
            if rogue
                .send(network::Command::Publish { topic, data })
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let target = net.node(0).status().await.unwrap().height;
    net.handles[2] = Some(service::start(net.setup(2)).unwrap());
    wait_for("validator 2 to catch up past the others' tip", async || {
        net.node(2).status().await.unwrap().height > target
    })
    .await;
    let now = net.min_height().await;
    wait_for("progress with validator 2 back", async || {
        net.min_height().await >= now + 3
    })
    .await;
    wait_for("validator 2 up to date and not syncing", async || {
        !net.node(2).status().await.unwrap().syncing
    })
    .await;
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the liar was asked for blocks"
    );
}

/// Accepted TCP sockets on local `port` that some descriptor holds (`/proc/net/tcp`: local
/// address, state, inode), the listening one aside.
fn sockets_held_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && f[3] != "0A" && f[9] != "0"
        })
        .count()
}

/// Thousands of raw TCP connections to a validator's p2p port that never speak (each would
/// hold a descriptor through a Noise handshake before the allow-list could judge it): the
/// node refuses what is over its pending bound at accept, so its descriptors stay bounded
/// (RocksDB needs them: running out fail-stops a node) and the chain keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_raw_connections_leaves_descriptors_bounded_and_commits_going() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // The flood's own ends are descriptors of this process too; 200 is still far above the
    // bound.
    let flood = 5_000.min(limit.saturating_sub(1_000) as usize / 2);
    assert!(
        flood >= 200,
        "RLIMIT_NOFILE {limit} (hard) is too low for this test"
    );
    let alice = Keypair::from_seed("alice");
    let net = start(4, &alice);
    wait_for("blocks to be committed", async || {
        net.min_height().await >= 2
    })
    .await;
    let port = net.peers[0]
        .1
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let held = tokio::task::spawn_blocking(move || {
        (0..flood)
            .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(
        held.len() >= flood / 2,
        "only {} connections opened",
        held.len()
    );
    let height = net.min_height().await;
    wait_for("commits during the flood", async || {
        net.min_height().await >= height + 3
    })
    .await;
    // Node0's own sockets on its p2p port: owned by a descriptor (inode set), not the
    // listener. Counted from the kernel's table, so the other tests' nodes and stores in
    // this process do not enter the count.
    let node_side = sockets_held_on(port);
    let bound = network::MAX_PENDING_INCOMING as usize + 16;
    assert!(
        node_side <= bound,
        "node0 holds {node_side} sockets on its p2p port during a flood of {} (bound {bound})",
        held.len()
    );
    drop(held);
}

/// A client submits transfers whose signatures carry a torsion component in R, which under
/// dalek's non-cofactored batch passed at one validator and failed at its peers (who then
/// scored the relaying validator down, three rejections graylisting it). Under the
/// cofactored rule every validator gives them one verdict: they are gossiped, committed
/// everywhere, and no honest peer's score of the relay drops below zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torsioned_signatures_cannot_turn_honest_validators_against_each_other() {
    let alice = Keypair::from_seed("alice");
    let net = start(4, &alice);
    wait_for("blocks to be committed", async || {
        net.min_height().await >= 2
    })
    .await;
    let to = Keypair::from_seed("torsion-recipient").public();
    let mut sent = 0;
    for nonce in 0..21 {
        for s in 0..BULK_SENDERS {
            let sender = bulk_sender(s);
            let transfer = Transfer {
                chain_id: "net-test".into(),
                from: sender.public(),
                to,
                amount: 1,
                nonce,
                memo: vec![],
            };
            let message = ledger::encoding::encode(&transfer);
            let signature =
                sender.sign_with_torsion(ledger::crypto::domain::TX, &message, 1 + 2 * (s % 4));
            let tx = ledger::SignedTx {
                transfer,
                signature,
            };
            net.node(0)
                .submit(tx.encode())
                .await
                .unwrap()
                .expect("node0 admits it");
            sent += 1;
        }
        // One batch per round of nonces, so each reaches the peers in a batch of its own.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    wait_for("every torsioned transfer on every validator", async || {
        for h in net.running() {
            if h.balance(to).await.unwrap() != sent {
                return false;
            }
        }
        true
    })
    .await;
    let relay = net.peers[0].0;
    for (i, h) in net.running().enumerate().skip(1) {
        assert_eq!(
            h.metrics().gossip_rejected.get(),
            0,
            "validator {i} rejected gossip"
        );
        let peers = h.peers().await.unwrap();
        let score = peers.iter().find(|p| p.peer_id == relay).map(|p| p.score);
        assert!(
            score.is_some_and(|s| s >= 0.0),
            "validator {i} scores node0 {score:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_peer_gossiping_forgeries_is_rejected_and_penalised() {
    let alice = Keypair::from_seed("alice");
    // Validator 3's libp2p identity is allowed in, but it runs a rogue network stack.
    let net = start_only(4, 3, &alice);
    let (rogue, mut rogue_events) = network::spawn(NetworkConfig {
        key: p2p_key(3),
        listen: net.peers[3].1.clone(),
        peers: net.peers.clone(),
    })
    .unwrap();
    tokio::spawn(async move { while rogue_events.recv().await.is_some() {} });
    let rogue_id = net.peers[3].0;

    let stranger = Keypair::from_seed("not-a-validator");
    let forged_vote = consensus::Message::Vote(
        ledger::Vote {
            height: 1,
            round: 0,
            kind: ledger::VoteKind::Prevote,
            block: None,
            validator: stranger.public(),
        }
        .sign("net-test", &stranger),
    );
    let mut bad_tx = Transfer {
        chain_id: "net-test".into(),
        from: alice.public(),
        to: stranger.public(),
        amount: 1,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    bad_tx.transfer.amount = 1_000; // the signature no longer matches
    let forgeries: Vec<(&'static str, Vec<u8>)> = vec![
        (
            network::CONSENSUS_TOPIC,
            b"not a consensus message".to_vec(),
        ),
        (network::CONSENSUS_TOPIC, forged_vote.encode()),
        (
            network::TX_TOPIC,
            ledger::TxBatch {
                txs: vec![bad_tx.encode()],
            }
            .encode(),
        ),
    ];
    let rejected = async || {
        let mut total = 0;
        for h in net.running() {
            total += h.metrics().gossip_rejected.get();
        }
        total
    };
    let mut round = 0u8;
    wait_for("the forgeries to be rejected", async || {
        // The junk changes each round so gossipsub does not drop it as a duplicate.
        round = round.wrapping_add(1);
        for (topic, data) in &forgeries {
            let mut data = data.clone();
            if *topic == network::CONSENSUS_TOPIC && data.starts_with(b"not") {
                data.push(round);
            }
            let _ = rogue.send(network::Command::Publish { topic, data }).await;
        }
        rejected().await >= 9
    })
    .await;
    // The honest validators scored the rogue down, and nothing forged was counted.
    let mut penalised = 0;
    for h in net.running() {
        let peers = h.peers().await.unwrap();
        if peers.iter().any(|p| p.peer_id == rogue_id && p.score < 0.0) {
            penalised += 1;
        }
        assert_eq!(h.balance(stranger.public()).await.unwrap(), 0);
        assert_eq!(h.balance(alice.public()).await.unwrap(), 1_000);
    }
    assert!(penalised >= 1, "no validator penalised the rogue peer");
    // The three honest validators are a quorum of four and keep deciding.
    let now = net.min_height().await;
    wait_for("progress despite the rogue", async || {
        net.min_height().await >= now + 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_validator_catches_up_after_the_partition_heals() {
    let alice = Keypair::from_seed("alice");
    let net = start(4, &alice);
    wait_for("first blocks", async || net.min_height().await >= 2).await;
    // Cut validator 3 off from the others, in both directions.
    let isolated = net.peers[3].0;
    for i in 0..3 {
        net.node(i).set_peer_blocked(isolated, true).await.unwrap();
        net.node(3)
            .set_peer_blocked(net.peers[i].0, true)
            .await
            .unwrap();
    }
    wait_for("validator 3 to lose its peers", async || {
        net.node(3).status().await.unwrap().peers == 0
    })
    .await;
    let cut_at = net.node(3).status().await.unwrap().height;
    // The majority side (3 of 4) keeps deciding; the minority cannot.
    wait_for("the majority to move on", async || {
        net.node(0).status().await.unwrap().height >= cut_at + 10
    })
    .await;
    assert!(net.node(3).status().await.unwrap().height <= cut_at + 1);

    // Heal.
    for i in 0..3 {
        net.node(i).set_peer_blocked(isolated, false).await.unwrap();
        net.node(3)
            .set_peer_blocked(net.peers[i].0, false)
            .await
            .unwrap();
    }
    let target = net.node(0).status().await.unwrap().height;
    wait_for("validator 3 to catch up", async || {
        net.node(3).status().await.unwrap().height >= target
    })
    .await;
    // All four commit the same blocks from here on.
    let now = net.min_height().await;
    wait_for("progress with all four", async || {
        net.min_height().await >= now + 3
    })
    .await;
    let h = now;
    let reference = net.node(0).block(Some(h)).await.unwrap().unwrap().0.hash();
    for node in net.running() {
        let block = node.block(Some(h)).await.unwrap().unwrap().0;
        assert_eq!(block.hash(), reference, "validators disagree at height {h}");
    }
}

/// A tmpfs mounted on a directory for the length of a test, so a test can fill a validator's
/// disk for real. Needs the right to mount (root, as in CI here); without it the test says so
/// and does not run.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, megabytes: u64) -> Option<Tmpfs> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_path_buf()))
    }

    /// Write until the filesystem refuses: the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("ballast")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        // The last pages, a few bytes at a time.
        while f.write_all(&[0u8; 512]).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fail-stop: a validator whose disk is full cannot commit the block its peers decided nor
/// persist its next signature. It must stop taking part and say why, never
/// report a height it did not store, and never vote on; the others keep the chain going.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_that_cannot_commit_halts_and_says_why() {
    let alice = Keypair::from_seed("alice");
    let mut net = start_only(4, 3, &alice);
    // Small enough that RocksDB cannot preallocate its log on it (a preallocated log would
    // take a few thousand more blocks before a write fails).
    let Some(disk) = Tmpfs::mount(net.dirs[3].path(), 16) else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the fail-stop test did not run"
        );
        return;
    };
    net.handles[3] = Some(service::start(net.setup(3)).unwrap());
    wait_for("all four to commit", async || net.min_height().await >= 4).await;

    disk.fill();
    wait_for("node 3 to halt", async || {
        net.node(3).status().await.unwrap().halted.is_some()
    })
    .await;
    let status = net.node(3).status().await.unwrap();
    let reason = status.halted.clone().unwrap();
    assert!(
        reason.contains("commit") || reason.contains("durable"),
        "{reason}"
    );
    assert_eq!(net.node(3).metrics().halted.get(), 1);
    // It reports what it stored, not the height consensus had moved to.
    let stored = net
        .node(3)
        .block(None)
        .await
        .unwrap()
        .map_or(0, |(b, _)| b.header.height);
    assert_eq!(status.committed_height, stored);
    // It admits nothing.
    let tx = Transfer {
        chain_id: "net-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    assert!(matches!(
        net.node(3).submit(tx.encode()).await.unwrap(),
        Err(node::refusal::Refusal::Halted(_))
    ));

    // The others go on without it, and it signs nothing more: no precommit of node 3 in any
    // certificate after the halt.
    let halted_at = status.height;
    wait_for("the others to pass the halt by 5 heights", async || {
        net.node(0).status().await.unwrap().height > halted_at + 5
    })
    .await;
    let me = net.keys[3].public();
    let index = net.genesis.validator_set().unwrap().index_of(&me).unwrap() as u32;
    for h in halted_at..halted_at + 5 {
        let (_, cert) = net.node(0).block(Some(h)).await.unwrap().unwrap();
        assert!(
            cert.signatures.iter().all(|s| s.validator_index != index),
            "node 3 precommitted at height {h} after halting"
        );
    }
    assert_eq!(net.node(3).status().await.unwrap().height, halted_at);
    net.handles[3] = None;
}

/// Cut `a` and `b` apart (both directions) or join them again.
/// Submit `txs` (one sender's, in nonce order) as a client does: what the node refuses for
/// want of room (drain-time admission) goes again, from the first refused, until all is in.
async fn submit_all(node: &NodeHandle, mut txs: Vec<Vec<u8>>) {
    for _ in 0..600 {
        let refused_from = match node.submit_batch(txs.clone()).await {
            Ok(results) => results.iter().position(Result::is_err),
            Err(node::handle::NodeError::Full(_)) => Some(0),
            Err(e) => panic!("{e}"),
        };
        let Some(first) = refused_from else {
            return;
        };
        txs.drain(..first);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the node kept refusing for a minute");
}

async fn set_partition(net: &Net, a: &[usize], b: &[usize], blocked: bool) {
    for &i in a {
        for &j in b {
            net.node(i)
                .set_peer_blocked(net.peers[j].0, blocked)
                .await
                .unwrap();
            net.node(j)
                .set_peer_blocked(net.peers[i].0, blocked)
                .await
                .unwrap();
        }
    }
}

async fn max_height(net: &Net) -> u64 {
    let mut max = 0;
    for n in net.running() {
        max = max.max(n.status().await.unwrap().height);
    }
    max
}

/// Wait (at most 10 s) until every validator has committed two heights above any height seen
/// now; returns how long that took.
async fn resumes(net: &Net, what: &str) -> f64 {
    let healed = tokio::time::Instant::now();
    let target = max_height(net).await + 2;
    while tokio::time::Instant::now() < healed + Duration::from_secs(10) {
        if net.min_height().await >= target {
            let secs = healed.elapsed().as_secs_f64();
            eprintln!("{what}: every validator committed 2 new heights {secs:.1} s later");
            return secs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: the chain did not resume within 10 s of the heal");
}

/// An idle chain (no transactions, the proposer waiting for one before proposing an empty
/// block, as `config.toml` sets it) must resume by itself after any partition heals, without
/// a transaction to nudge it: split 2|2 (no quorum on either side), 1|3 (the majority goes on,
/// the minority falls behind), and a rotating partition that cuts each validator off in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_chain_resumes_by_itself_after_any_partition_heals() {
    let alice = Keypair::from_seed("alice");
    let net = start_configured(4, 4, &alice, 400);
    wait_for("first blocks", async || net.min_height().await >= 3).await;
    let lost_each_other = async |links: usize| {
        wait_for("the sides to lose each other", async || {
            let mut peers = 0;
            for n in net.running() {
                peers += n.status().await.unwrap().peers;
            }
            peers == links
        })
        .await
    };

    for round in 0..2 {
        set_partition(&net, &[0, 1], &[2, 3], true).await;
        lost_each_other(4).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (stalled, max) = (net.min_height().await, max_height(&net).await);
        assert!(
            max <= stalled + 1,
            "no quorum, no progress ({stalled}..{max})"
        );
        set_partition(&net, &[0, 1], &[2, 3], false).await;
        resumes(&net, &format!("2|2 partition #{round}")).await;
    }

    set_partition(&net, &[3], &[0, 1, 2], true).await;
    lost_each_other(6).await;
    let cut_at = net.node(0).status().await.unwrap().height;
    wait_for("the majority to go on", async || {
        net.node(0).status().await.unwrap().height >= cut_at + 3
    })
    .await;
    set_partition(&net, &[3], &[0, 1, 2], false).await;
    resumes(&net, "1|3 partition").await;

    for isolated in 0..4 {
        let rest: Vec<usize> = (0..4).filter(|&i| i != isolated).collect();
        set_partition(&net, &[isolated], &rest, true).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        set_partition(&net, &[isolated], &rest, false).await;
    }
    resumes(&net, "rotating partition").await;
}

/// A quorum of validators restarting at once (here all of them) resumes from the signing
/// logs and stored chains, with no transaction to nudge it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_chain_resumes_after_every_validator_restarts_at_once() {
    let alice = Keypair::from_seed("alice");
    let mut net = start_configured(4, 4, &alice, 400);
    wait_for("first blocks", async || net.min_height().await >= 3).await;
    for handle in &mut net.handles {
        *handle = None;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..4 {
        net.handles[i] = Some(service::start(net.setup(i)).unwrap());
    }
    resumes(&net, "restart of all four").await;
}

/// Busy blocks are large: a validator that fell behind must catch up across more block bytes
/// than one sync reply may carry (the decoder's 32 MiB). Before replies were bounded by bytes,
/// the responder packed up to 256 blocks into one reply, the requester refused it, and the
/// validator never caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_catches_up_across_more_block_bytes_than_one_reply_holds() {
    let alice = Keypair::from_seed("alice");
    let mut net = start(4, &alice);
    wait_for("first blocks", async || net.min_height().await >= 2).await;
    net.handles[3] = None;

    // ~40 MB of transfers (1 KiB memos), from several senders.
    let per_sender = 4_500;
    let batches: Vec<Vec<Vec<u8>>> = (0..BULK_SENDERS)
        .map(|i| {
            let key = bulk_sender(i);
            (0..per_sender)
                .map(|nonce| {
                    Transfer {
                        chain_id: "net-test".into(),
                        from: key.public(),
                        to: alice.public(),
                        amount: 1,
                        nonce,
                        memo: vec![b'm'; ledger::tx::MAX_MEMO_BYTES],
                    }
                    .sign(&key)
                    .encode()
                })
                .collect()
        })
        .collect();
    let total_bytes: usize = batches.iter().flatten().map(Vec::len).sum();
    assert!(total_bytes > 36 * 1024 * 1024, "{total_bytes} bytes");
    for batch in batches {
        for chunk in batch.chunks(1_500) {
            submit_all(net.node(0), chunk.to_vec()).await;
        }
    }
    wait_for("the load to commit on the others", async || {
        let mut done = true;
        for i in 0..3 {
            let nonce = net
                .node(i)
                .account(bulk_sender(BULK_SENDERS - 1).public())
                .await
                .unwrap()
                .nonce;
            done &= nonce == per_sender;
        }
        done
    })
    .await;

    net.handles[3] = Some(service::start(net.setup(3)).unwrap());
    let target = net.node(0).status().await.unwrap().height;
    wait_for("validator 3 to catch up", async || {
        net.node(3).status().await.unwrap().height >= target
    })
    .await;
    for i in 0..BULK_SENDERS {
        let account = net.node(3).account(bulk_sender(i).public()).await.unwrap();
        assert_eq!(account.nonce, per_sender);
    }
    assert_eq!(net.node(3).metrics().sync_rejected.get(), 0);
}

/// A validator that falls behind and can only reach a peer that answers sync with lies
/// (altered bodies under certified headers, wrong parents) stores none of it, counts the lie
/// and sets that peer aside, and catches up from honest peers as soon as it can reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_validator_stores_nothing_a_lying_sync_peer_sends() {
    let alice = Keypair::from_seed("alice");
    let mut net = start_only(4, 3, &alice);
    let mut liar = net.setup(3);
    liar.byzantine = Some(node::byzantine::Behaviour::TamperSync);
    net.handles[3] = Some(service::start(liar).unwrap());
    wait_for("first blocks", async || net.min_height().await >= 2).await;

    // Validator 2 stops; the others (the liar among them) go on.
    net.handles[2] = None;
    let stopped_at = net.node(0).status().await.unwrap().height;
    wait_for("progress without validator 2", async || {
        net.node(0).status().await.unwrap().height >= stopped_at + 10
    })
    .await;
    // It comes back able to reach only the liar.
    for honest in [0, 1] {
        net.node(honest)
            .set_peer_blocked(net.peers[2].0, true)
            .await
            .unwrap();
    }
    net.handles[2] = Some(service::start(net.setup(2)).unwrap());
    for honest in [0, 1] {
        net.node(2)
            .set_peer_blocked(net.peers[honest].0, true)
            .await
            .unwrap();
    }
    let rejected = || net.node(2).metrics().sync_rejected.get();
    wait_for("validator 2 to be lied to", async || rejected() >= 1).await;
    let lagging = net.node(2).status().await.unwrap();
    assert!(lagging.committed_height < stopped_at + 10, "{lagging:?}");
    assert!(lagging.halted.is_none());

    // Honest peers reachable again: it catches up and holds the honest chain.
    for honest in [0, 1] {
        net.node(honest)
            .set_peer_blocked(net.peers[2].0, false)
            .await
            .unwrap();
        net.node(2)
            .set_peer_blocked(net.peers[honest].0, false)
            .await
            .unwrap();
    }
    let target = net.node(0).status().await.unwrap().height;
    wait_for("validator 2 to catch up", async || {
        net.node(2).status().await.unwrap().height >= target
    })
    .await;
    for h in 1..target {
        let honest = net.node(0).block(Some(h)).await.unwrap().unwrap().0;
        let synced = net.node(2).block(Some(h)).await.unwrap().unwrap().0;
        assert_eq!(honest, synced, "height {h}");
    }
}

/// Directed links `i -> j` through local proxies that can go *silent*: connections stay open
/// but carry nothing, and new ones are accepted but not put through, as when a cable is cut
/// or a firewall drops packets (unlike a refused or reset connection, nothing tells either
/// side). What was held is delivered when the link comes back.
struct SilentLinks {
    silent: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<(usize, usize)>>>,
    /// Port of the proxy for `i -> j`.
    ports: std::collections::HashMap<(usize, usize), u16>,
}

impl SilentLinks {
    async fn start(targets: &[Multiaddr]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let silent: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<(usize, usize)>>> =
            Default::default();
        let port_of = |a: &Multiaddr| {
            a.iter()
                .find_map(|p| match p {
                    libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                    _ => None,
                })
                .unwrap()
        };
        let mut ports = std::collections::HashMap::new();
        for i in 0..targets.len() {
            for (j, target) in targets.iter().enumerate().filter(|(j, _)| *j != i) {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ports.insert((i, j), listener.local_addr().unwrap().port());
                let (target, silent) = (port_of(target), silent.clone());
                tokio::spawn(async move {
                    while let Ok((inbound, _)) = listener.accept().await {
                        let silent = silent.clone();
                        let open = async move || {
                            while silent.lock().unwrap().contains(&(i, j)) {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        };
                        tokio::spawn(async move {
                            open().await;
                            let Ok(outbound) =
                                tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                            else {
                                return;
                            };
                            let (mut ir, mut iw) = inbound.into_split();
                            let (mut or, mut ow) = outbound.into_split();
                            let pump = async move |r: &mut tokio::net::tcp::OwnedReadHalf,
                                                   w: &mut tokio::net::tcp::OwnedWriteHalf| {
                                let mut buf = vec![0u8; 16 * 1024];
                                loop {
                                    open().await;
                                    let n = match r.read(&mut buf).await {
                                        Ok(0) | Err(_) => return,
                                        Ok(n) => n,
                                    };
                                    open().await;
                                    if w.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            };
                            tokio::select! {
                                _ = pump(&mut ir, &mut ow) => {}
                                _ = pump(&mut or, &mut iw) => {}
                            }
                        });
                    }
                });
            }
        }
        Self { silent, ports }
    }

    fn cut_off(&self, node: usize, n: usize, cut: bool) {
        let mut silent = self.silent.lock().unwrap();
        for other in (0..n).filter(|&o| o != node) {
            for link in [(node, other), (other, node)] {
                if cut {
                    silent.insert(link);
                } else {
                    silent.remove(&link);
                }
            }
        }
    }
}

/// What the nodes of this test binary log about their links and catching up.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn install() -> Self {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "node::network=info,node::service::block_sync=info",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the one subscriber");
        logs
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A validator whose links are cut silently (connections open, nothing delivered) is noticed
/// as gone within seconds by it and by the others, each logs it, and once the links come back
/// it reconnects, catches up and the chain goes on. Reports how long the resume took.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silently_cut_validator_is_noticed_and_resumes_after_the_heal() {
    let logs = CapturedLogs::install();
    let alice = Keypair::from_seed("alice");
    let mut net = start_configured(4, 0, &alice, 0);
    let listen: Vec<Multiaddr> = net.peers.iter().map(|(_, a)| a.clone()).collect();
    let links = SilentLinks::start(&listen).await;
    for i in 0..4 {
        let mut setup = net.setup(i);
        for (j, (_, address)) in setup.network.peers.iter_mut().enumerate() {
            if j != i {
                *address = format!("/ip4/127.0.0.1/tcp/{}", links.ports[&(i, j)])
                    .parse()
                    .unwrap();
            }
        }
        net.handles[i] = Some(service::start(setup).unwrap());
    }
    wait_for("first blocks", async || net.min_height().await >= 3).await;

    links.cut_off(3, 4, true);
    let cut = tokio::time::Instant::now();
    let noticed = async || {
        let mut peers = vec![];
        for n in net.running() {
            peers.push(n.status().await.unwrap().peers);
        }
        peers == [2, 2, 2, 0]
    };
    while !noticed().await {
        assert!(
            cut.elapsed() < Duration::from_secs(12),
            "12 s after a silent cut, the validators still count node3 as a peer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the cut was noticed {:.1} s later",
        cut.elapsed().as_secs_f64()
    );
    let cut_at = net.node(0).status().await.unwrap().height;
    wait_for("the majority to go on", async || {
        net.node(0).status().await.unwrap().height >= cut_at + 3
    })
    .await;

    links.cut_off(3, 4, false);
    let healed = tokio::time::Instant::now();
    let target = max_height(&net).await + 2;
    while net.min_height().await < target {
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "30 s after the heal, node3 has not caught up and the chain not gone on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "after the heal every validator committed 2 new heights {:.1} s later",
        healed.elapsed().as_secs_f64()
    );
    let text = logs.text();
    let node3 = net.peers[3].0.to_string();
    for line in [
        "no ping answer",
        "peer lost",
        "peer connected",
        "caught up by block sync",
    ] {
        assert!(
            text.lines().any(|l| l.contains(line)),
            "no {line:?} in the logs:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.contains("peer lost") && l.contains(&node3)),
        "node3's loss is not logged:\n{text}"
    );
}

/// Start `net`'s validator 3 as a liar of `behaviour` (the others honest), and wait for the
/// first blocks.
async fn with_liar(behaviour: node::byzantine::Behaviour, alice: &Keypair) -> Net {
    let mut net = start_only(4, 3, alice);
    let mut liar = net.setup(3);
    liar.byzantine = Some(behaviour);
    net.handles[3] = Some(service::start(liar).unwrap());
    wait_for("first blocks", async || net.min_height().await >= 2).await;
    net
}

fn alice_pays(alice: &Keypair, nonce: u64, amount: u64) -> Vec<u8> {
    Transfer {
        chain_id: "net-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount,
        nonce,
        memo: vec![],
    }
    .sign(alice)
    .encode()
}

/// The heights in `from..to` that validator 3 proposed, as node 0 committed them.
async fn proposed_by_3(net: &Net, from: u64, to: u64) -> Vec<(u64, u32)> {
    let liar = net.keys[3].public();
    let mut heights = vec![];
    for h in from..to {
        let (block, cert) = net.node(0).block(Some(h)).await.unwrap().unwrap();
        if block.header.proposer == liar {
            heights.push((h, cert.round));
        }
    }
    heights
}

/// A proposal names its transactions by the batches that gossiped them. A validator that
/// never gossips its batches (so every other validator lacks them) still gets its block
/// decided: the others fetch the batches from it by digest, check them, and vote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposal_whose_batches_were_never_gossiped_is_fetched_and_decided() {
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let net = with_liar(node::byzantine::Behaviour::HideBatches, &alice).await;
    // Only validator 3 ever holds these: they reach the others inside its proposal alone.
    for nonce in 0..3 {
        let accepted = net.node(3).submit(alice_pays(&alice, nonce, 10)).await;
        assert!(accepted.unwrap().is_ok());
    }
    wait_for("the hidden transfers on every validator", async || {
        for h in net.running() {
            if h.balance(bob).await.unwrap() != 30 {
                return false;
            }
        }
        true
    })
    .await;
    for i in 0..3 {
        let m = net.node(i).metrics();
        assert!(
            m.batches_fetched.get() >= 1,
            "validator {i} fetched no batch"
        );
        assert_eq!(m.batch_replies_rejected.get(), 0);
    }
    // Every block holding them was validator 3's.
    let tip = net.node(0).status().await.unwrap().committed_height;
    let mut found = 0;
    for h in 1..=tip {
        let (block, _) = net.node(0).block(Some(h)).await.unwrap().unwrap();
        if !block.txs.is_empty() {
            assert_eq!(block.header.proposer, net.keys[3].public());
            found += block.txs.len();
        }
    }
    assert_eq!(found, 3);
}

/// A validator that answers batch fetches with bytes matching no digest asked for is refused
/// (nothing it sent is stored) and set aside; its proposals are given up and it loses its
/// rounds, while the honest validators go on committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_does_not_match_its_digest_is_refused_and_its_sender_set_aside() {
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let net = with_liar(node::byzantine::Behaviour::BadBatches, &alice).await;
    // A transfer only the liar holds: its proposals name a batch only it can serve.
    assert!(
        net.node(3)
            .submit(alice_pays(&alice, 0, 10))
            .await
            .unwrap()
            .is_ok()
    );
    let rejected = || {
        (0..3)
            .map(|i| net.node(i).metrics().batch_replies_rejected.get())
            .sum::<u64>()
    };
    wait_for("the liar's replies to be refused", async || rejected() >= 1).await;
    let from = net.node(0).status().await.unwrap().committed_height;
    wait_for("8 more heights", async || net.min_height().await > from + 8).await;
    // The liar's transfer was never stored or committed anywhere honest.
    for i in 0..3 {
        assert_eq!(net.node(i).balance(bob).await.unwrap(), 0);
        assert!(net.node(i).status().await.unwrap().halted.is_none());
    }
    // Its proposals after the lie lost their round: every height it proposed carried no
    // transactions of its own (the only ones it had), so none was decided from its batches.
    let to = net.node(0).status().await.unwrap().committed_height;
    for (h, _) in proposed_by_3(&net, from + 1, to).await {
        let (block, _) = net.node(0).block(Some(h)).await.unwrap().unwrap();
        assert!(block.txs.is_empty(), "height {h}");
    }
    // An honest transfer still commits.
    submit_all(net.node(0), vec![alice_pays(&alice, 0, 7)]).await;
    wait_for("the honest transfer", async || {
        net.node(1).balance(bob).await.unwrap() == 7
    })
    .await;
}

/// A proposer naming a batch that exists nowhere costs its round and nothing else: every
/// peer is asked, the proposal is given up, the next round decides, and the liar is neither
/// penalised nor cut off (nothing it sent was false on its face).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_naming_an_unknown_batch_loses_its_round_and_nothing_else() {
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let net = with_liar(node::byzantine::Behaviour::PhantomBatches, &alice).await;
    let from = net.node(0).status().await.unwrap().committed_height;
    submit_all(net.node(0), vec![alice_pays(&alice, 0, 5)]).await;
    wait_for("8 more heights", async || net.min_height().await > from + 8).await;
    let given_up: u64 = (0..3)
        .map(|i| net.node(i).metrics().proposals_unresolved.get())
        .sum();
    assert!(given_up >= 3, "{given_up}");
    let to = net.node(0).status().await.unwrap().committed_height;
    // Validator 3 leads round 0 of every fourth height; a liar's round is lost, so none of
    // the heights since was decided on a proposal of its.
    assert_eq!(proposed_by_3(&net, from + 1, to).await, vec![]);
    let mut later_rounds = 0;
    for h in from + 1..to {
        let (_, cert) = net.node(0).block(Some(h)).await.unwrap().unwrap();
        later_rounds += usize::from(cert.round > 0);
    }
    assert!(later_rounds >= 1);
    assert_eq!(net.node(2).balance(bob).await.unwrap(), 5);
    let liar = net.peers[3].0;
    for i in 0..3 {
        let peers = net.node(i).peers().await.unwrap();
        let seen = peers
            .iter()
            .find(|p| p.peer_id == liar)
            .expect("still connected");
        assert!(seen.score >= 0.0, "the liar was penalised: {}", seen.score);
        assert_eq!(net.node(i).metrics().gossip_rejected.get(), 0);
        assert_eq!(net.node(i).metrics().batch_replies_rejected.get(), 0);
    }
}
