//! The `decode_message` fuzz target's checks over its committed seed corpus (see
//! fuzz/fuzz_targets). `LANTAU_WRITE_CORPUS=1` (re)writes the valid seeds first.

use std::fs;
use std::path::PathBuf;

use consensus::{Message, Proposal, SignRecord, Step};
use ledger::merkle::merkle_root;
use ledger::{Block, BlockHeader, Hash, Keypair, Vote, VoteKind, encoding};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_message")
}

fn check(data: &[u8]) {
    if let Ok(msg) = Message::decode(data) {
        assert_eq!(msg.encode(), data);
    }
    let _ = encoding::decode::<SignRecord>(data);
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let k = Keypair::from_seed("fuzz");
    let vote = Message::Vote(
        Vote {
            height: 1,
            round: 2,
            kind: VoteKind::Precommit,
            block: Some(Hash([3; 32])),
            validator: k.public(),
        }
        .sign("fuzz", &k),
    );
    let block = Block {
        header: BlockHeader {
            chain_id: "fuzz".into(),
            height: 1,
            round: 0,
            prev_hash: Hash::ZERO,
            proposer: k.public(),
            timestamp_ms: 0,
            tx_root: merkle_root(&[]),
            state_root: Hash::ZERO,
        },
        txs: vec![],
    };
    let proposal = Message::Proposal(Box::new(
        Proposal {
            height: 1,
            round: 0,
            pol_round: None,
            block,
            proposer: k.public(),
        }
        .sign("fuzz", &k),
    ));
    let record = SignRecord {
        height: 1,
        round: 2,
        step: Step::Precommit,
        value: Some(Hash([3; 32])),
        locked: None,
        message: vote.clone(),
        lock_proof: None,
    };
    vec![
        ("vote", vote.encode()),
        ("proposal", proposal.encode()),
        ("sign-record", encoding::encode(&record)),
    ]
}

#[test]
fn seed_corpus_and_its_mutations_never_panic() {
    if std::env::var("LANTAU_WRITE_CORPUS").is_ok() {
        fs::create_dir_all(corpus()).unwrap();
        for (name, bytes) in seeds() {
            fs::write(corpus().join(name), bytes).unwrap();
        }
    }
    let mut files = 0;
    for entry in fs::read_dir(corpus()).expect("fuzz/corpus/decode_message exists") {
        let data = fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        check(&data);
        for len in 0..data.len() {
            check(&data[..len]);
        }
        for i in 0..data.len() {
            let mut m = data.clone();
            m[i] ^= 0xff;
            check(&m);
        }
    }
    assert!(files >= 3, "seed corpus missing: found {files} files");
}
