use super::sync_protocol::{MAX_SYNC_RESPONSE_BYTES, read_framed};
use super::*;
use ledger::encoding;
use ledger::merkle::merkle_root;
use ledger::{Block, CommitCertificate};
use ledger::{BlockHeader, Hash, Keypair, Transfer};

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
