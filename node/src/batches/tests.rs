use super::*;
use ledger::{Keypair, Transfer};

fn tx(nonce: u64) -> SignedTx {
    let alice = Keypair::from_seed("alice");
    Transfer {
        chain_id: "batch-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce,
        memo: vec![],
    }
    .sign(&alice)
}

fn encoded(txs: &[SignedTx]) -> Vec<u8> {
    TxBatch {
        txs: txs.iter().map(SignedTx::encode).collect(),
    }
    .encode()
}

fn store_with(store: &mut BatchStore, author: PeerId, txs: &[SignedTx]) -> Hash {
    let (digest, batch) = StoredBatch::decode(encoded(txs), author).unwrap();
    store.insert(digest, batch);
    digest
}

fn proposal(txs: Vec<SignedTx>) -> SignedProposal {
    let proposer = Keypair::from_seed("proposer");
    let ids: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
    let block = Block {
        header: BlockHeader {
            chain_id: "batch-test".into(),
            height: 3,
            round: 1,
            prev_hash: Hash([7; 32]),
            proposer: proposer.public(),
            timestamp_ms: 1,
            tx_root: Block::compute_tx_root(&ids),
            state_root: Hash::ZERO,
        },
        txs,
    };
    Proposal {
        height: 3,
        round: 1,
        pol_round: None,
        block,
        proposer: proposer.public(),
    }
    .sign("batch-test", &proposer)
}

#[test]
fn a_compact_proposal_names_stored_batches_and_resolves_to_the_signed_original() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut store = BatchStore::new(1 << 20);
    let first = store_with(&mut store, a, &[tx(0), tx(1)]);
    let second = store_with(&mut store, b, &[tx(2), tx(3)]);
    // Block order across batches, one transaction inline (not gossiped yet).
    let original = proposal(vec![tx(2), tx(0), tx(1), tx(4)]);
    let compact = store.compact(&original);
    assert_eq!(compact.batches, vec![second, first]);
    assert_eq!(
        compact.txs[..3],
        [
            TxRef::Batched { batch: 0, index: 0 },
            TxRef::Batched { batch: 1, index: 0 },
            TxRef::Batched { batch: 1, index: 1 },
        ]
    );
    assert_eq!(compact.txs[3], TxRef::Inline(tx(4)));
    let wire = ConsensusWire::Compact(Box::new(compact.clone())).encode();
    assert!(wire.len() < Message::Proposal(Box::new(original.clone())).encode().len());
    assert_eq!(ConsensusWire::peek_height(&wire), Some(3));
    let ConsensusWire::Compact(back) = ConsensusWire::decode(&wire).unwrap() else {
        panic!("not compact");
    };
    let resolved = store.resolve(&back).unwrap();
    assert_eq!(resolved, original);
    resolved.verify("batch-test").unwrap();
    // The signature checks on the header alone.
    let Message::Proposal(header_only) = compact.header_only() else {
        unreachable!()
    };
    header_only.verify("batch-test").unwrap();
}

#[test]
fn a_batched_transaction_costs_a_proposal_twelve_bytes() {
    let mut store = BatchStore::new(1 << 20);
    let txs: Vec<SignedTx> = (0..100).map(tx).collect();
    store_with(&mut store, PeerId::random(), &txs);
    let empty = ConsensusWire::Compact(Box::new(store.compact(&proposal(vec![])))).encode();
    let full = proposal(txs);
    let compact = ConsensusWire::Compact(Box::new(store.compact(&full))).encode();
    // One digest and 100 references more than an empty block.
    assert_eq!(compact.len() - empty.len(), 32 + 100 * 12);
    let whole = Message::Proposal(Box::new(full)).encode().len();
    assert!(compact.len() * 5 < whole, "{} vs {whole}", compact.len());
}

#[test]
fn a_full_proposal_and_a_vote_still_decode_as_consensus_messages_encode_them() {
    let original = Message::Proposal(Box::new(proposal(vec![tx(0)])));
    let wire = ConsensusWire::decode(&original.encode()).unwrap();
    assert_eq!(wire, ConsensusWire::from(original.clone()));
    assert_eq!(wire.encode(), original.encode());
}

#[test]
fn missing_batches_are_named_and_bad_references_are_malformed() {
    let a = PeerId::random();
    let mut full = BatchStore::new(1 << 20);
    let digest = store_with(&mut full, a, &[tx(0), tx(1)]);
    let compact = full.compact(&proposal(vec![tx(0), tx(1)]));

    let empty = BatchStore::new(1 << 20);
    assert_eq!(
        empty.resolve(&compact),
        Err(Unresolved::Missing(vec![digest]))
    );

    let mut outside = compact.clone();
    outside.txs[1] = TxRef::Batched { batch: 0, index: 2 };
    assert!(matches!(
        full.resolve(&outside),
        Err(Unresolved::Malformed(_))
    ));
    let mut no_batch = compact.clone();
    no_batch.txs[1] = TxRef::Batched { batch: 1, index: 0 };
    assert!(matches!(
        full.resolve(&no_batch),
        Err(Unresolved::Malformed(_))
    ));
    // Another body under the signed header (the batch's order swapped).
    let mut swapped = compact.clone();
    swapped.txs.swap(0, 1);
    assert_eq!(
        full.resolve(&swapped),
        Err(Unresolved::Malformed(
            "the body is not the one tx_root names"
        ))
    );
    let mut twice = compact.clone();
    twice.batches.push(digest);
    assert!(matches!(
        full.resolve(&twice),
        Err(Unresolved::Malformed(_))
    ));
    let other = store_with(&mut full, a, &[tx(5)]);
    let mut unused = compact.clone();
    unused.batches.push(other);
    assert!(matches!(
        full.resolve(&unused),
        Err(Unresolved::Malformed(_))
    ));
}

#[test]
fn the_store_is_bounded_in_bytes_per_author_and_evicts_only_that_authors_oldest() {
    let (flooder, honest) = (PeerId::random(), PeerId::random());
    let one = encoded(&[tx(0)]).len();
    let mut store = BatchStore::new(3 * one);
    let kept = store_with(&mut store, honest, &[tx(100)]);
    let mut digests = vec![];
    for n in 0..10 {
        digests.push(store_with(&mut store, flooder, &[tx(n)]));
        assert!(store.bytes_of(&flooder) <= 3 * one);
    }
    assert!(store.contains(&kept));
    assert!(digests[7..].iter().all(|d| store.contains(d)));
    assert!(digests[..7].iter().all(|d| !store.contains(d)));
    assert_eq!(store.len(), 4);
    // An evicted transaction is no longer compacted: it goes inline.
    let compact = store.compact(&proposal(vec![tx(0), tx(9)]));
    assert_eq!(compact.txs[0], TxRef::Inline(tx(0)));
    assert!(matches!(compact.txs[1], TxRef::Batched { .. }));
}

#[test]
fn bytes_that_are_no_batch_of_transactions_are_not_stored() {
    let a = PeerId::random();
    assert!(StoredBatch::decode(vec![1, 2, 3], a).is_none());
    let garbage = TxBatch {
        txs: vec![vec![0xff; 40]],
    }
    .encode();
    assert!(StoredBatch::decode(garbage, a).is_none());
}

#[test]
fn a_batch_stored_from_its_admission_decoding_is_the_batch_its_bytes_decode_to() {
    let author = PeerId::random();
    let txs = [tx(0), tx(1), tx(2)];
    let bytes = encoded(&txs);
    let raw: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
    let verifier = ledger::verify::TxVerifier::new("batch-test", 1, 16);
    let decoded = verifier.decode(&raw);
    let (digest, from_admission) =
        StoredBatch::from_decoded(bytes.clone(), author, &decoded).unwrap();
    let (expected_digest, expected) = StoredBatch::decode(bytes, author).unwrap();
    assert_eq!(digest, expected_digest);
    assert_eq!(from_admission.txs, expected.txs);
    assert_eq!(from_admission.encoded, expected.encoded);
    // The same decoding then admits them, signatures checked.
    let admitted = verifier.verify_decoded(&raw, decoded);
    assert!(admitted.iter().all(Result::is_ok));

    // A transaction of another chain keeps the batch out of the store, and is refused.
    let foreign = ledger::verify::TxVerifier::new("other-chain", 1, 16);
    let decoded = foreign.decode(&raw);
    assert!(StoredBatch::from_decoded(encoded(&txs), author, &decoded).is_none());
    assert!(
        foreign
            .verify_decoded(&raw, decoded)
            .iter()
            .all(|r| matches!(r, Err(TxError::WrongChain { .. })))
    );
    // A forged signature decodes (and so is stored) but is not admitted.
    let mut forged = tx(3);
    forged.signature.0[5] ^= 1;
    let raw = vec![forged.encode()];
    let decoded = verifier.decode(&raw);
    assert!(StoredBatch::from_decoded(encoded(&[forged]), author, &decoded).is_some());
    assert!(matches!(
        verifier.verify_decoded(&raw, decoded)[0],
        Err(TxError::Signature(_))
    ));
}
