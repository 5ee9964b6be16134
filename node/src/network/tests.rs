use super::sync_protocol::{MAX_SYNC_RESPONSE_BYTES, read_framed};
use super::*;
use ledger::encoding;
use ledger::merkle::merkle_root;
use ledger::{Block, CommitCertificate};
use ledger::{BlockHeader, Hash, Keypair, Transfer};
use std::io;
use std::time::Duration;

fn signed(from: &Keypair, amount: u64, nonce: u64) -> ledger::SignedTx {
    Transfer {
        chain_id: "sync-test".into(),
        from: from.public(),
        to: from.public(),
        amount,
        nonce,
        memo: vec![],
    }
    .sign(from)
}

fn frame(response: &SyncResponse) -> Vec<u8> {
    let bytes = encoding::encode(response);
    let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
    framed.extend(bytes);
    framed
}

/// A sync reply that pairs a decided header (whose certificate would verify) with other
/// transactions is refused where the bytes are read, as a lie, before any of it is used.
#[test]
fn a_sync_reply_with_a_swapped_body_is_refused_as_invalid_data() {
    let key = Keypair::from_seed("alice");
    let txs = vec![signed(&key, 1, 0)];
    let ids: Vec<Hash> = txs.iter().map(ledger::SignedTx::hash).collect();
    let block = Block {
        header: BlockHeader {
            chain_id: "sync-test".into(),
            height: 1,
            round: 0,
            prev_hash: Hash::ZERO,
            proposer: key.public(),
            timestamp_ms: 0,
            tx_root: merkle_root(&ids),
            state_root: Hash::ZERO,
        },
        txs,
    };
    let certificate = CommitCertificate {
        height: 1,
        round: 0,
        block_hash: block.hash(),
        signatures: vec![],
    };
    let genuine = SyncResponse {
        blocks: vec![(block.clone(), certificate.clone())],
    };
    let read = |bytes: Vec<u8>| {
        futures::executor::block_on(read_framed::<_, SyncResponse>(
            &mut futures::io::Cursor::new(bytes),
            MAX_SYNC_RESPONSE_BYTES,
        ))
    };
    assert_eq!(read(frame(&genuine)).unwrap().blocks.len(), 1);

    let mut forged = block;
    forged.txs = vec![signed(&Keypair::from_seed("mallory"), 1_000_000, 0)];
    let lie = SyncResponse {
        blocks: vec![(forged, certificate)],
    };
    let err = read(frame(&lie)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("tx root"), "{err}");
}

/// A port in use is reported with the operating system's reason, not an empty one.
#[tokio::test]
async fn a_p2p_port_in_use_says_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let key = crate::home::p2p_identity([9u8; 32]);
    let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let peers = vec![(key.public().to_peer_id(), listen.clone())];
    let err = spawn(NetworkConfig { key, listen, peers }).expect_err("the port is taken");
    let text = err.to_string();
    assert!(text.contains("in use"), "{text}");
}

/// A peer that asks for blocks many times at once is served at most `SERVED_PER_PEER` at a
/// time, the rest refused at once: here the serving side never answers (a reply stuck
/// behind a reader that stalls holds its request the same way), and of 10 concurrent
/// requests exactly 2 reach it, while the asker hears 8 refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_is_served_at_most_two_sync_requests_at_once() {
    let keys: Vec<_> = (0..2)
        .map(|i| crate::home::p2p_identity([40 + i; 32]))
        .collect();
    let peers: Vec<(PeerId, Multiaddr)> = keys
        .iter()
        .map(|k| {
            let port = crate::ports::free_local_port();
            let addr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
            (k.public().to_peer_id(), addr)
        })
        .collect();
    let config = |i: usize| NetworkConfig {
        key: keys[i].clone(),
        listen: peers[i].1.clone(),
        peers: peers.clone(),
    };
    let (_server, mut served) = spawn(config(0)).unwrap();
    let (asker, mut answers) = spawn(config(1)).unwrap();
    let server_id = peers[0].0;
    // Wait for the connection, then ask ten times at once.
    loop {
        match answers.recv().await.unwrap() {
            Event::Connected(p) if p == server_id => break,
            _ => {}
        }
    }
    for from_height in 0..10 {
        let request = SyncRequest {
            from_height,
            to_height: from_height,
        };
        asker
            .send(Command::RequestBlocks {
                peer: server_id,
                request,
            })
            .await
            .unwrap();
    }
    let mut refused = 0;
    while refused < 8 {
        // Refusals come at once; without the bound every request would reach the server
        // (counted below) and these would be its timeouts.
        let event = answers.recv().await.unwrap();
        if let Event::SyncFailed { from, lied } = event {
            assert_eq!((from, lied), (server_id, false));
            refused += 1;
        }
    }
    let mut held = vec![];
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(500), served.recv()).await
    {
        if let Event::BlocksRequested { channel, .. } = event {
            held.push(channel);
        }
    }
    assert_eq!(held.len(), SERVED_PER_PEER);
}
