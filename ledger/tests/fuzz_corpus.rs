//! Runs the fuzz targets' checks (fuzz/fuzz_targets) over the committed seed corpus, so CI
//! exercises every decoder on real and mutated inputs without libFuzzer. With
//! `LANTAU_WRITE_CORPUS=1` it first (re)writes the valid seeds.

use std::fs;
use std::path::PathBuf;

use ledger::{
    Block, BlockHeader, CommitCertificate, Genesis, GenesisAccount, GenesisValidator, Hash,
    Keypair, P2pEndpoint, SignedTx, Transfer, TxBatch, encoding,
};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let alice = Keypair::from_seed("alice");
    let tx = |nonce: u64, memo: usize| {
        Transfer {
            chain_id: "fuzz".into(),
            from: alice.public(),
            to: alice.public(),
            amount: 5,
            nonce,
            memo: vec![7; memo],
        }
        .sign(&alice)
    };
    let txs = vec![tx(0, 0), tx(1, 16)];
    let block = Block {
        header: BlockHeader {
            chain_id: "fuzz".into(),
            height: 1,
            round: 0,
            prev_hash: Hash::ZERO,
            proposer: alice.public(),
            timestamp_ms: 1,
            tx_root: Block::compute_tx_root(&txs.iter().map(SignedTx::hash).collect::<Vec<_>>()),
            state_root: Hash::ZERO,
        },
        txs,
    };
    let cert = CommitCertificate {
        height: 1,
        round: 0,
        block_hash: block.hash(),
        signatures: vec![],
    };
    let genesis = Genesis {
        chain_id: "fuzz".into(),
        genesis_time_ms: 0,
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: alice.public(),
            power: 1,
            p2p: None,
        }],
        accounts: vec![GenesisAccount {
            address: alice.public(),
            balance: 10,
        }],
        permissions: None,
    };
    let mut networked = genesis.clone();
    networked.validators[0].p2p = Some(P2pEndpoint {
        peer_id: "12D3KooWCTiZhUqwEqfyr9KWbv35BMSF76KNcRZ1enMenJ5eqAHo".into(),
        address: "/ip4/127.0.0.1/tcp/26656".into(),
    });
    let batch = TxBatch {
        txs: vec![tx(0, 0).encode(), tx(1, 8).encode(), b"not a tx".to_vec()],
    };
    vec![
        ("decode_batch", "batch".into(), batch.encode()),
        ("decode_batch", "empty".into(), TxBatch::default().encode()),
        (
            "genesis_json",
            "genesis-p2p".into(),
            networked.to_json().into_bytes(),
        ),
        ("decode_tx", "transfer".into(), tx(0, 0).encode()),
        ("decode_tx", "transfer-memo".into(), tx(3, 100).encode()),
        ("decode_block", "block".into(), encoding::encode(&block)),
        (
            "decode_block",
            "certificate".into(),
            encoding::encode(&cert),
        ),
        (
            "genesis_json",
            "genesis".into(),
            genesis.to_json().into_bytes(),
        ),
    ]
}

/// The same checks as the fuzz targets.
fn check(target: &str, data: &[u8]) {
    match target {
        "decode_tx" => {
            if let Ok(tx) = SignedTx::decode(data) {
                assert_eq!(tx.encode(), data);
                let _ = tx.verify();
            }
        }
        "decode_block" => {
            if let Ok(block) = encoding::decode::<Block>(data) {
                assert_eq!(encoding::encode(&block), data);
                let _ = block.check_structure(
                    "fuzz",
                    block.header.height,
                    &block.header.prev_hash,
                    10_000,
                );
            }
            let _ = encoding::decode::<CommitCertificate>(data);
        }
        "decode_batch" => {
            if let Ok(batch) = TxBatch::decode(data) {
                assert_eq!(batch.encode(), data);
                for tx in &batch.txs {
                    let _ = SignedTx::decode(tx);
                }
            }
        }
        "genesis_json" => {
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = Genesis::from_json(text);
            }
        }
        other => panic!("unknown fuzz target {other}"),
    }
}

#[test]
fn seed_corpus_and_its_mutations_never_panic() {
    if std::env::var("LANTAU_WRITE_CORPUS").is_ok() {
        for (target, name, bytes) in seeds() {
            fs::create_dir_all(corpus(target)).unwrap();
            fs::write(corpus(target).join(name), bytes).unwrap();
        }
    }
    let mut files = 0;
    for target in ["decode_tx", "decode_block", "decode_batch", "genesis_json"] {
        let dir = corpus(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let data = fs::read(entry.unwrap().path()).unwrap();
            files += 1;
            check(target, &data);
            // Every truncation and a sweep of single-byte flips.
            for len in 0..data.len() {
                check(target, &data[..len]);
            }
            for i in 0..data.len() {
                let mut m = data.clone();
                m[i] ^= 0xff;
                check(target, &m);
            }
        }
    }
    assert!(files >= 8, "seed corpus missing: found {files} files");
}
