//! Rule-level tests of the state machine, driven by hand.

use consensus::{
    Config, Consensus, Effect, Evidence, Input, InputError, Message, Proposal, SignRecord, Step,
    Timeout, TimeoutKind,
};
use ledger::crypto::sha256;
use ledger::merkle::merkle_root;
use ledger::{Block, BlockHeader, Hash, Keypair, ValidatorSet, Vote, VoteKind};

const CHAIN: &str = "unit-chain";

fn keys() -> Vec<Keypair> {
    (0..4)
        .map(|i| Keypair::from_seed(&format!("unit-{i}")))
        .collect()
}

fn set(keys: &[Keypair]) -> ValidatorSet {
    ValidatorSet::equal(keys.iter().map(Keypair::public)).unwrap()
}

fn node(keys: &[Keypair], i: usize, log: Vec<SignRecord>) -> Consensus {
    let key = Keypair::from_secret(keys[i].secret_bytes());
    Consensus::new(Config::new(CHAIN), set(keys), Some(key), 1, log)
}

fn block(height: u64, round: u32, proposer: &Keypair, salt: u64) -> Block {
    Block {
        header: BlockHeader {
            chain_id: CHAIN.into(),
            height,
            round,
            prev_hash: Hash::ZERO,
            proposer: proposer.public(),
            timestamp_ms: salt,
            tx_root: merkle_root(&[]),
            state_root: Hash::ZERO,
        },
        txs: vec![],
    }
}

fn proposer_of(keys: &[Keypair], height: u64, round: u32) -> usize {
    let p = consensus::proposer::proposer(&set(keys), height, round);
    keys.iter().position(|k| k.public() == p).unwrap()
}

fn proposal(keys: &[Keypair], round: u32, pol_round: Option<u32>, b: &Block) -> Input {
    let p = &keys[proposer_of(keys, 1, round)];
    Input::Proposal(
        Proposal {
            height: 1,
            round,
            pol_round,
            block: b.clone(),
            proposer: p.public(),
        }
        .sign(CHAIN, p),
    )
}

fn vote(key: &Keypair, round: u32, kind: VoteKind, block: Option<Hash>) -> Input {
    Input::Vote(
        Vote {
            height: 1,
            round,
            kind,
            block,
            validator: key.public(),
        }
        .sign(CHAIN, key),
    )
}

/// Feed an input, answering validation requests with `valid`.
fn feed(c: &mut Consensus, input: Input) -> Vec<Effect> {
    let mut out = Vec::new();
    let mut pending = vec![input];
    while let Some(input) = pending.pop() {
        for e in c.handle(input).expect("input accepted") {
            if let Effect::ValidateBlock { block, .. } = &e {
                pending.push(Input::BlockVerdict {
                    block_hash: block.hash(),
                    valid: true,
                });
            }
            out.push(e);
        }
    }
    out
}

fn votes_sent(fx: &[Effect]) -> Vec<(u32, VoteKind, Option<Hash>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Broadcast(Message::Vote(v)) => Some((v.vote.round, v.vote.kind, v.vote.block)),
            _ => None,
        })
        .collect()
}

/// A validator that proposes in none of rounds 0, 1 and 2.
fn follower(keys: &[Keypair]) -> usize {
    (proposer_of(keys, 1, 0) + 3) % 4
}

#[test]
fn four_validators_decide_with_a_valid_certificate() {
    let ks = keys();
    let mut nodes: Vec<Consensus> = (0..4).map(|i| node(&ks, i, vec![])).collect();
    let mut inbox: Vec<(usize, Input)> = Vec::new();
    let mut decided = vec![None; 4];
    let mut outbox: Vec<(usize, Vec<Effect>)> =
        nodes.iter_mut().map(|n| n.start()).enumerate().collect();
    for _ in 0..1000 {
        for (from, effects) in outbox.drain(..) {
            for e in effects {
                match e {
                    Effect::Broadcast(m) => {
                        for to in (0..4).filter(|&t| t != from) {
                            let input = match m.clone() {
                                Message::Proposal(p) => Input::Proposal(*p),
                                Message::Vote(v) => Input::Vote(v),
                            };
                            inbox.push((to, input));
                        }
                    }
                    Effect::BuildBlock { height, round } => inbox.push((
                        from,
                        Input::BlockToPropose {
                            height,
                            round,
                            block: block(height, round, &ks[from], 7),
                        },
                    )),
                    Effect::ValidateBlock { block, .. } => inbox.push((
                        from,
                        Input::BlockVerdict {
                            block_hash: block.hash(),
                            valid: true,
                        },
                    )),
                    Effect::Decide { block, certificate } => {
                        certificate
                            .verify(CHAIN, 1, &block.hash(), &set(&ks))
                            .expect("certificate verifies");
                        decided[from] = Some(block.hash());
                    }
                    _ => {}
                }
            }
        }
        if inbox.is_empty() {
            break;
        }
        for (to, input) in inbox.drain(..) {
            if nodes[to].height() == 1 {
                outbox.push((to, nodes[to].handle(input).expect("valid input")));
            }
        }
    }
    assert!(decided.iter().all(|d| d.is_some()), "{decided:?}");
    assert!(decided.windows(2).all(|w| w[0] == w[1]));
    assert!(nodes.iter().all(|n| n.height() == 2 && n.round() == 0));
}

#[test]
fn persist_comes_before_every_signed_message() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let b = block(1, 0, &ks[proposer_of(&ks, 1, 0)], 1);
    let fx = feed(&mut c, proposal(&ks, 0, None, &b));
    let persist = fx
        .iter()
        .position(|e| matches!(e, Effect::Persist(_)))
        .expect("persists");
    let send = fx
        .iter()
        .position(|e| matches!(e, Effect::Broadcast(_)))
        .expect("sends");
    assert!(persist < send);
    assert_eq!(
        votes_sent(&fx),
        vec![(0, VoteKind::Prevote, Some(b.hash()))]
    );
}

#[test]
fn restarted_validator_never_signs_a_conflicting_vote() {
    let ks = keys();
    let me = follower(&ks);
    let b = block(1, 0, &ks[proposer_of(&ks, 1, 0)], 1);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let fx = feed(&mut c, proposal(&ks, 0, None, &b));
    let log: Vec<SignRecord> = fx
        .iter()
        .filter_map(|e| {
            if let Effect::Persist(r) = e {
                Some((**r).clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(log.len(), 1);

    // Crash and restart from the log: the proposal is gone, and the propose timeout fires.
    // A fresh validator would prevote nil here; this one must not.
    let mut c = node(&ks, me, log.clone());
    let mut fx = c.start();
    fx.extend(feed(
        &mut c,
        Input::Timeout(Timeout {
            height: 1,
            round: 0,
            kind: TimeoutKind::Propose,
        }),
    ));
    fx.extend(feed(
        &mut c,
        Input::Timeout(Timeout {
            height: 1,
            round: 0,
            kind: TimeoutKind::Rebroadcast,
        }),
    ));
    assert!(
        fx.iter().all(|e| !matches!(e, Effect::Persist(_))),
        "nothing new signed: {fx:?}"
    );
    // What it does send is the original prevote, byte for byte.
    let original = &log[0].message;
    let sent: Vec<&Message> = fx
        .iter()
        .filter_map(|e| {
            if let Effect::Broadcast(m) = e {
                Some(m)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(sent, vec![original]);
    assert_eq!(c.step(), Step::Prevote);
}

#[test]
fn locked_validator_prevotes_nil_for_another_block() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let a = block(1, 0, &ks[proposer_of(&ks, 1, 0)], 1);
    feed(&mut c, proposal(&ks, 0, None, &a));
    // A polka for A in round 0: lock on A and precommit it.
    let others: Vec<usize> = (0..4).filter(|&i| i != me).collect();
    let mut fx = Vec::new();
    for &i in &others[..2] {
        fx.extend(feed(
            &mut c,
            vote(&ks[i], 0, VoteKind::Prevote, Some(a.hash())),
        ));
    }
    assert_eq!(
        votes_sent(&fx),
        vec![(0, VoteKind::Precommit, Some(a.hash()))]
    );
    assert_eq!(c.locked(), Some((0, a.hash())));

    // Round 1 (after precommit timeout) proposes B with no proof-of-lock: prevote nil.
    for &i in &others {
        feed(&mut c, vote(&ks[i], 0, VoteKind::Precommit, None));
    }
    feed(
        &mut c,
        Input::Timeout(Timeout {
            height: 1,
            round: 0,
            kind: TimeoutKind::Precommit,
        }),
    );
    assert_eq!(c.round(), 1);
    let b = block(1, 1, &ks[proposer_of(&ks, 1, 1)], 2);
    let fx = feed(&mut c, proposal(&ks, 1, None, &b));
    assert_eq!(votes_sent(&fx), vec![(1, VoteKind::Prevote, None)]);

    // Round 2 re-proposes B with a proof-of-lock from round 1, newer than our lock: unlock.
    for &i in &others {
        feed(&mut c, vote(&ks[i], 1, VoteKind::Prevote, Some(b.hash())));
    }
    for &i in &others {
        feed(&mut c, vote(&ks[i], 1, VoteKind::Precommit, None));
    }
    feed(
        &mut c,
        Input::Timeout(Timeout {
            height: 1,
            round: 1,
            kind: TimeoutKind::Precommit,
        }),
    );
    assert_eq!(c.round(), 2);
    let fx = feed(&mut c, proposal(&ks, 2, Some(1), &b));
    assert_eq!(
        votes_sent(&fx),
        vec![(2, VoteKind::Prevote, Some(b.hash()))]
    );
}

#[test]
fn f_plus_one_validators_ahead_make_us_skip_rounds() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let others: Vec<usize> = (0..4).filter(|&i| i != me).collect();
    feed(&mut c, vote(&ks[others[0]], 5, VoteKind::Prevote, None));
    assert_eq!(c.round(), 0, "one validator ahead is not enough");
    feed(&mut c, vote(&ks[others[1]], 5, VoteKind::Prevote, None));
    assert_eq!(c.round(), 5);
}

#[test]
fn bad_inputs_are_refused_with_reasons() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let stranger = Keypair::from_seed("stranger");
    assert_eq!(
        c.handle(vote(&stranger, 0, VoteKind::Prevote, None)).err(),
        Some(InputError::UnknownValidator(stranger.public()))
    );
    let mut forged = Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block: None,
        validator: ks[0].public(),
    }
    .sign(CHAIN, &ks[0]);
    forged.vote.block = Some(Hash::ZERO);
    assert_eq!(
        c.handle(Input::Vote(forged)).err(),
        Some(InputError::BadSignature(ks[0].public()))
    );
    let wrong = (proposer_of(&ks, 1, 0) + 1) % 4;
    let b = block(1, 0, &ks[wrong], 1);
    let bad_proposal = Proposal {
        height: 1,
        round: 0,
        pol_round: None,
        block: b,
        proposer: ks[wrong].public(),
    }
    .sign(CHAIN, &ks[wrong]);
    assert!(matches!(
        c.handle(Input::Proposal(bad_proposal)),
        Err(InputError::WrongProposer { .. })
    ));
    let far = Vote {
        height: 9,
        round: 0,
        kind: VoteKind::Prevote,
        block: None,
        validator: ks[0].public(),
    }
    .sign(CHAIN, &ks[0]);
    assert_eq!(
        c.handle(Input::Vote(far)).err(),
        Some(InputError::FarFuture { current: 1, got: 9 })
    );
    let far_round = Vote {
        height: 1,
        round: 5_000,
        kind: VoteKind::Prevote,
        block: None,
        validator: ks[0].public(),
    }
    .sign(CHAIN, &ks[0]);
    assert_eq!(
        c.handle(Input::Vote(far_round)).err(),
        Some(InputError::FarFutureRound {
            current: 0,
            got: 5_000
        })
    );
    // None of it changed the state.
    assert_eq!((c.height(), c.round(), c.step()), (1, 0, Step::Propose));
}

#[test]
fn double_votes_produce_evidence_and_count_once() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let other = (me + 1) % 4;
    assert!(feed(&mut c, vote(&ks[other], 0, VoteKind::Prevote, None)).is_empty());
    let fx = feed(
        &mut c,
        vote(&ks[other], 0, VoteKind::Prevote, Some(sha256(&[b"x"]))),
    );
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::Evidence(Evidence::DoubleVote { .. })]
        ),
        "{fx:?}"
    );
    // The duplicate of the first vote is ignored silently.
    assert!(feed(&mut c, vote(&ks[other], 0, VoteKind::Prevote, None)).is_empty());
}
