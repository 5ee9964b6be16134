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

/// A validator that timed out of round 0 on others' precommits relays them with its own
/// votes: a validator still in round 0 that lost some (their signers since went quiet) can
/// then leave it too. Simulation seed 947 had honest validators split across two rounds for
/// good without this.
#[test]
fn the_precommits_that_ended_a_round_are_relayed() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let others: Vec<usize> = (0..4).filter(|&i| i != me).collect();
    for &o in &others {
        feed(&mut c, vote(&ks[o], 0, VoteKind::Precommit, None));
    }
    let timeout = |round, kind| {
        Input::Timeout(Timeout {
            height: 1,
            round,
            kind,
        })
    };
    feed(&mut c, timeout(0, TimeoutKind::Precommit));
    assert_eq!(c.round(), 1);
    let fx = feed(&mut c, timeout(1, TimeoutKind::Rebroadcast));
    let relayed: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(Message::Vote(v))
                if v.vote.round == 0 && v.vote.kind == VoteKind::Precommit =>
            {
                Some(v.vote.validator)
            }
            _ => None,
        })
        .collect();
    for &o in &others {
        assert!(relayed.contains(&ks[o].public()), "{relayed:?}");
    }
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

/// An equivocator that signed throwaway values first cannot keep its vote for a real value
/// from completing a quorum (a proof-of-lock relayed later), while fresh throwaway values
/// past the per-validator bound are still not kept. Before this, locked validators could
/// disagree forever about a proof-of-lock (simulation seed 3003).
#[test]
fn an_equivocator_cannot_hide_a_quorum_behind_throwaway_votes() {
    let ks = keys();
    let mut keeper = consensus::votes::VoteKeeper::new(set(&ks), 3);
    let prevote = |k: &Keypair, block: Hash| {
        Vote {
            height: 1,
            round: 1,
            kind: VoteKind::Prevote,
            block: Some(block),
            validator: k.public(),
        }
        .sign(CHAIN, k)
    };
    let junk = |i: u8| sha256(&[b"junk", &[i]]);
    for i in 0..4 {
        keeper.add(prevote(&ks[3], junk(i)));
    }
    assert_eq!(keeper.power_for(1, VoteKind::Prevote, Some(junk(2))), 1);
    assert_eq!(
        keeper.power_for(1, VoteKind::Prevote, Some(junk(3))),
        0,
        "a fourth value nobody else voted for is not kept"
    );
    let v = sha256(&[b"v"]);
    keeper.add(prevote(&ks[0], v));
    keeper.add(prevote(&ks[1], v));
    keeper.add(prevote(&ks[3], v));
    assert_eq!(keeper.power_for(1, VoteKind::Prevote, Some(v)), 3);
    assert_eq!(keeper.quorum_values(1, VoteKind::Prevote), vec![Some(v)]);
}

/// A block of `n` transactions, so that holding one costs memory like a real proposal.
fn full_block(round: u32, proposer: &Keypair, n: u64) -> Block {
    let sender = Keypair::from_seed("sender");
    let txs: Vec<_> = (0..n)
        .map(|nonce| {
            ledger::Transfer {
                chain_id: CHAIN.into(),
                from: sender.public(),
                to: sender.public(),
                amount: 1,
                nonce,
                memo: vec![0; 64],
            }
            .sign(&sender)
        })
        .collect();
    let mut b = block(1, round, proposer, round as u64);
    b.header.tx_root = merkle_root(&txs.iter().map(|t| t.hash()).collect::<Vec<_>>());
    b.txs = txs;
    b
}

#[test]
fn a_byzantine_proposer_cannot_make_us_hold_a_block_for_every_future_round() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    // One validator proposes a full block in every round it leads, up to the round horizon.
    let liar = (0..4).find(|&i| i != me).unwrap();
    let mut kept = 0;
    let mut refused = 0;
    for round in 1..consensus::state_machine::MAX_ROUNDS_AHEAD {
        if proposer_of(&ks, 1, round) != liar {
            continue;
        }
        let b = full_block(round, &ks[liar], 20);
        match c.handle(proposal(&ks, round, None, &b)) {
            Ok(_) => kept += 1,
            Err(InputError::FutureRoundsFull { .. }) => refused += 1,
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!(
        kept,
        consensus::state_machine::MAX_FUTURE_ROUNDS_PER_VALIDATOR
    );
    assert!(refused > 200, "{refused} refused");
    assert_eq!(
        c.held_blocks(),
        consensus::state_machine::MAX_FUTURE_ROUNDS_PER_VALIDATOR
    );
    assert_eq!(c.round(), 0, "one validator alone never moves our round");

    // The bound does not cost liveness: f+1 honest validators in one of those rounds still
    // make us skip to it.
    let first_liar_round = (1..).find(|&r| proposer_of(&ks, 1, r) == liar).unwrap();
    let honest = (0..4).find(|&i| i != me && i != liar).unwrap();
    feed(
        &mut c,
        vote(&ks[honest], first_liar_round, VoteKind::Prevote, None),
    );
    assert_eq!(c.round(), first_liar_round);

    // Votes for future rounds are bounded the same way, per validator.
    let mut c = node(&ks, me, vec![]);
    c.start();
    let accepted = (1..500)
        .filter(|&r| {
            c.handle(vote(&ks[liar], r, VoteKind::Prevote, None))
                .is_ok()
        })
        .count();
    assert_eq!(
        accepted,
        consensus::state_machine::MAX_FUTURE_ROUNDS_PER_VALIDATOR
    );
}

/// Through a long stall (200 rounds, none deciding), a proposer sends a full block in every
/// round it leads; only the last `MAX_PAST_ROUNDS` rounds' blocks stay held, and a late
/// proposal for an older round is refused rather than stored.
#[test]
fn a_long_stall_holds_only_the_recent_rounds_proposals() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let liar = (0..4).find(|&i| i != me).unwrap();
    let skippers: Vec<usize> = (0..4).filter(|&i| i != me && i != liar).collect();
    let mut led = vec![];
    let mut most_held = 0;
    for round in 0..200 {
        assert_eq!(c.round(), round);
        if proposer_of(&ks, 1, round) == liar {
            feed(
                &mut c,
                proposal(&ks, round, None, &full_block(round, &ks[liar], 20)),
            );
            led.push(round);
        }
        most_held = most_held.max(c.held_blocks());
        for &i in &skippers {
            feed(&mut c, vote(&ks[i], round + 1, VoteKind::Prevote, None));
        }
    }
    assert!(led.len() >= 40, "the liar led {} rounds", led.len());
    let bound = consensus::state_machine::MAX_PAST_ROUNDS as usize + 1;
    assert!(most_held <= bound, "held {most_held} blocks at once");
    let old = led[0];
    assert_eq!(
        c.handle(proposal(&ks, old, None, &full_block(old, &ks[liar], 20)))
            .err(),
        Some(InputError::FarPastRound {
            current: 200,
            got: old
        })
    );
    assert!(c.held_blocks() <= bound);
}

/// A proposer that sends many different proposals for one round gives one piece of evidence
/// (each would hold a copy of a block), its log line names blocks by hash, and every one past
/// the second is refused as misbehaviour (its relay penalised).
#[test]
fn many_proposals_for_one_round_give_one_piece_of_evidence() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let mut evidence = vec![];
    let proposer = &ks[proposer_of(&ks, 1, 0)];
    for salt in 0..2 {
        let fx = feed(&mut c, proposal(&ks, 0, None, &block(1, 0, proposer, salt)));
        evidence.extend(fx.into_iter().filter_map(|e| match e {
            Effect::Evidence(e) => Some(e),
            _ => None,
        }));
    }
    // Past the second, each is refused as misbehaviour: no more evidence, nothing kept.
    for salt in 2..20 {
        let refused = c.handle(proposal(&ks, 0, None, &block(1, 0, proposer, salt)));
        assert!(
            matches!(&refused, Err(e @ InputError::ExtraProposal { round: 0, .. }) if e.is_misbehaviour()),
            "{refused:?}"
        );
    }
    // The first block again is a duplicate, not an extra one.
    assert!(
        c.handle(proposal(&ks, 0, None, &block(1, 0, proposer, 0)))
            .is_ok()
    );
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let line = evidence[0].to_string();
    assert!(line.contains("two proposals at height 1 round 0"), "{line}");
    assert!(line.len() < 400, "{line}");
    assert!(c.held_blocks() <= 1, "extra proposals are not kept");
}

#[test]
fn next_height_proposals_are_buffered_at_most_twice_per_validator() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let liar = (0..4).find(|&i| i != me).unwrap();
    let p2 = |round: u32| {
        let b = {
            let mut b = full_block(round, &ks[liar], 5);
            b.header.height = 2;
            b
        };
        let signer = consensus::proposer::proposer(&set(&ks), 2, round);
        (signer == ks[liar].public()).then(|| {
            Input::Proposal(
                Proposal {
                    height: 2,
                    round,
                    pol_round: None,
                    block: b,
                    proposer: signer,
                }
                .sign(CHAIN, &ks[liar]),
            )
        })
    };
    for round in 0..200 {
        if let Some(p) = p2(round) {
            let _ = c.handle(p);
        }
    }
    assert_eq!(c.held_blocks(), 2);
}

#[test]
fn a_restarted_proposer_re_sends_its_proposal_instead_of_signing_another() {
    // The proposer of round 2 locked on A in round 0, saw a newer polka for A in round 1
    // (so its valid round is 1), and proposed A with pol_round 1 in round 2. It crashes. Its
    // log restores the lock of round 0 only: without the guard on whole messages it would
    // now sign A again with pol_round 0 at the same position, a second signed proposal.
    let ks = keys();
    let me = proposer_of(&ks, 1, 2);
    let a = block(1, 0, &ks[proposer_of(&ks, 1, 0)], 1);
    let prevotes: Vec<_> = (0..4)
        .filter(|&i| i != me)
        .take(2)
        .map(
            |i| match vote(&ks[i], 0, VoteKind::Prevote, Some(a.hash())) {
                Input::Vote(v) => v,
                _ => unreachable!(),
            },
        )
        .collect();
    let own_prevote = match vote(&ks[me], 0, VoteKind::Prevote, Some(a.hash())) {
        Input::Vote(v) => v,
        _ => unreachable!(),
    };
    let own_precommit = match vote(&ks[me], 0, VoteKind::Precommit, Some(a.hash())) {
        Input::Vote(v) => v,
        _ => unreachable!(),
    };
    let mut lock_prevotes = prevotes.clone();
    lock_prevotes.push(own_prevote);
    let precommit = SignRecord {
        height: 1,
        round: 0,
        step: Step::Precommit,
        value: Some(a.hash()),
        locked: Some((0, a.hash())),
        message: Message::Vote(own_precommit),
        lock_proof: Some(consensus::LockProof {
            block: a.clone(),
            prevotes: lock_prevotes,
        }),
    };
    let original = match proposal(&ks, 2, Some(1), &a) {
        Input::Proposal(p) => Message::Proposal(Box::new(p)),
        _ => unreachable!(),
    };
    let proposed = SignRecord {
        height: 1,
        round: 2,
        step: Step::Propose,
        value: Some(a.hash()),
        locked: Some((0, a.hash())),
        message: original.clone(),
        lock_proof: None,
    };
    assert!(!proposed.permits((1, 2, Step::Propose), &{
        let Input::Proposal(p) = proposal(&ks, 2, Some(0), &a) else {
            unreachable!()
        };
        Message::Proposal(Box::new(p))
    }));
    let mut c = node(&ks, me, vec![precommit, proposed]);
    let fx = c.start();
    assert!(
        fx.iter().all(|e| !matches!(e, Effect::Persist(_))),
        "nothing new signed: {fx:?}"
    );
    let proposals: Vec<&Message> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(m @ Message::Proposal(_)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(proposals, vec![&original]);
}

#[test]
fn far_future_messages_can_be_checked_before_they_are_believed() {
    let ks = keys();
    let me = follower(&ks);
    let mut c = node(&ks, me, vec![]);
    c.start();
    let genuine = Vote {
        height: 50,
        round: 3,
        kind: VoteKind::Precommit,
        block: Some(Hash::ZERO),
        validator: ks[0].public(),
    }
    .sign(CHAIN, &ks[0]);
    assert_eq!(c.verify_foreign(&Message::Vote(genuine.clone())), Ok(()));
    let mut forged = genuine;
    forged.vote.height = 5_000;
    assert_eq!(
        c.verify_foreign(&Message::Vote(forged)),
        Err(InputError::BadSignature(ks[0].public()))
    );
    let stranger = Keypair::from_seed("stranger");
    let Input::Vote(v) = vote(&stranger, 0, VoteKind::Prevote, None) else {
        unreachable!()
    };
    assert!(matches!(
        c.verify_foreign(&Message::Vote(v)),
        Err(InputError::UnknownValidator(_))
    ));
}

#[test]
fn a_relayed_proposal_with_a_swapped_body_never_reaches_consensus_and_the_genuine_one_decides() {
    let ks = keys();
    let me = follower(&ks);
    let p = proposer_of(&ks, 1, 0);
    let genuine = full_block(0, &ks[p], 3);
    let Input::Proposal(signed) = proposal(&ks, 0, None, &genuine) else {
        unreachable!()
    };
    // A relay keeps the signed header and swaps the transactions.
    let mut tampered = signed.clone();
    tampered.proposal.block.txs.swap(0, 2);
    assert_eq!(tampered.proposal.block.hash(), genuine.hash());
    let relayed = Message::Proposal(Box::new(tampered)).encode();
    let err = Message::decode(&relayed).unwrap_err();
    assert!(err.to_string().contains("tx root"), "{err}");

    // The genuine copy, arriving after the forgery, is the one consensus votes on.
    let mut c = node(&ks, me, vec![]);
    c.start();
    let genuine_bytes = Message::Proposal(Box::new(signed)).encode();
    let Ok(Message::Proposal(decoded)) = Message::decode(&genuine_bytes) else {
        panic!("the genuine proposal decodes")
    };
    let fx = feed(&mut c, Input::Proposal(*decoded));
    assert_eq!(
        votes_sent(&fx),
        vec![(0, VoteKind::Prevote, Some(genuine.hash()))]
    );
}

/// A node drops stale messages by the height their bytes claim, before decoding a block.
#[test]
fn an_encoded_message_s_height_is_read_without_decoding_it() {
    let ks = keys();
    let b = full_block(0, &ks[proposer_of(&ks, 1, 0)], 50);
    let Input::Proposal(p) = proposal(&ks, 0, None, &b) else {
        unreachable!()
    };
    let Input::Vote(v) = vote(&ks[0], 3, VoteKind::Precommit, Some(b.hash())) else {
        unreachable!()
    };
    for msg in [Message::Proposal(Box::new(p)), Message::Vote(v)] {
        assert_eq!(Message::peek_height(&msg.encode()), Some(msg.height()));
    }
    assert_eq!(Message::peek_height(&[0; 11]), None, "too short");
    assert_eq!(Message::peek_height(&[7; 64]), None, "no such variant");
}
