use super::*;
use ledger::Transfer;

fn validator_keys() -> Vec<Keypair> {
    (0..4)
        .map(|i| Keypair::from_seed(&format!("local-{i}")))
        .collect()
}

fn test_genesis(keys: &[Keypair], funded: &Keypair) -> Genesis {
    let validators: Vec<_> = keys.iter().map(Keypair::public).collect();
    Genesis::with_validators("local-test", &validators, &[(funded.public(), 1_000)])
}

fn fast() -> LocalNetConfig {
    LocalNetConfig {
        block_interval: Duration::from_millis(20),
        ..LocalNetConfig::default()
    }
}

fn run_to_height(net: &mut LocalNet, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && (0..4).any(|i| net.app(i).tip().unwrap().height < height) {
        net.run_until(Instant::now() + Duration::from_millis(50), &mut |_| {});
    }
}

#[test]
fn stopped_and_restarted_net_resumes_the_same_chain() {
    let keys = validator_keys();
    let alice = Keypair::from_seed("alice");
    let genesis = test_genesis(&keys, &alice);
    let dir = tempfile::tempdir().unwrap();
    let first_blocks: Vec<Hash> = {
        let mut net = LocalNet::start(dir.path(), &genesis, validator_keys(), fast()).unwrap();
        run_to_height(&mut net, 3);
        (1..=3)
            .map(|h| net.app(0).store().block(h).unwrap().unwrap().hash())
            .collect()
    };
    let mut net = LocalNet::start(dir.path(), &genesis, keys, fast()).unwrap();
    assert!(
        !net.app(0).signing_log().unwrap().is_empty(),
        "signing log was persisted"
    );
    let start = net.app(0).tip().unwrap().height;
    assert!(start >= 3);
    run_to_height(&mut net, start + 3);
    for i in 0..4 {
        assert!(
            net.app(i).tip().unwrap().height >= start + 3,
            "validator {i} resumed"
        );
        for (h, hash) in (1..=3).zip(&first_blocks) {
            assert_eq!(net.app(i).store().block(h).unwrap().unwrap().hash(), *hash);
        }
    }
}

#[test]
fn four_validators_commit_the_same_transfers() {
    let keys = validator_keys();
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let genesis = test_genesis(&keys, &alice);
    let dir = tempfile::tempdir().unwrap();
    let mut net = LocalNet::start(dir.path(), &genesis, keys, fast()).unwrap();
    for nonce in 0..10 {
        let tx = Transfer {
            chain_id: "local-test".into(),
            from: alice.public(),
            to: bob,
            amount: 7,
            nonce,
            memo: vec![],
        }
        .sign(&alice);
        net.submit((nonce % 4) as usize, &tx.encode()).unwrap();
    }
    // A replay is refused.
    let replay = Transfer {
        chain_id: "local-test".into(),
        from: alice.public(),
        to: bob,
        amount: 7,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    assert!(matches!(
        net.submit(0, &replay.encode()),
        Err(Refusal::Duplicate(_))
    ));

    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && (0..4).any(|i| net.app(i).account(&bob).balance < 70) {
        net.run_until(Instant::now() + Duration::from_millis(100), &mut |_| {});
    }
    for i in 0..4 {
        assert_eq!(net.app(i).account(&bob).balance, 70, "validator {i}");
        assert_eq!(net.app(i).account(&alice.public()).nonce, 10);
    }
    // Same chain everywhere: compare the blocks at every height validator 0 has.
    let tip = net.app(0).tip().unwrap();
    for h in 1..=tip.height.min(net.app(1).tip().unwrap().height) {
        let b0 = net.app(0).store().block(h).unwrap().unwrap();
        for i in 1..4 {
            if let Some(b) = net.app(i).store().block(h).unwrap() {
                assert_eq!(b.hash(), b0.hash(), "height {h}, validator {i}");
            }
        }
    }
    let replay_after_commit = net.submit(1, &replay.encode());
    assert!(
        matches!(replay_after_commit, Err(Refusal::StaleNonce { .. })),
        "{replay_after_commit:?}"
    );
}

/// Validators stopped a height apart are brought level at start, so those behind are not left
/// unable to decide a height the others already left.
#[test]
fn a_restart_levels_stores_that_stopped_apart() {
    let keys = validator_keys();
    let alice = Keypair::from_seed("alice");
    let genesis = test_genesis(&keys, &alice);
    let dir = tempfile::tempdir().unwrap();
    let open = |i: usize| {
        Application::open(
            &dir.path().join(format!("validator-{i}")),
            &genesis,
            AppConfig::default(),
        )
        .unwrap()
    };
    let mut apps = vec![open(0), open(1)];
    for height in 1..=2 {
        let block = apps[1].build_block(height, 0, keys[0].public(), 0).unwrap();
        let certificate = ledger::CommitCertificate {
            height,
            round: 0,
            block_hash: block.hash(),
            signatures: vec![],
        };
        apps[1].commit(&block, &certificate).unwrap();
    }
    assert_eq!(apps[0].tip().unwrap().height, 0);
    super::catch_up(&mut apps).unwrap();
    assert_eq!(apps[0].tip().unwrap().height, 2);
    for h in 1..=2 {
        assert_eq!(
            apps[0].store().block(h).unwrap().unwrap().hash(),
            apps[1].store().block(h).unwrap().unwrap().hash()
        );
    }
}
