use super::*;

/// What the node does with a submission: verify (off its task), then admit.
trait Submit {
    fn submit<B: AsRef<[u8]> + Sync>(&mut self, raw: &[B]) -> Vec<Result<Hash, Refusal>>;
}

impl Submit for Application {
    fn submit<B: AsRef<[u8]> + Sync>(&mut self, raw: &[B]) -> Vec<Result<Hash, Refusal>> {
        let verified = self.verifier().admit(raw);
        self.admit_verified(verified)
    }
}
use ledger::{GenesisAccount, GenesisValidator, Keypair, Transfer};

fn setup(mempool_max_txs: usize) -> (tempfile::TempDir, Application, Keypair) {
    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        mempool_max_txs,
        verify_threads: 1,
        ..AppConfig::default()
    };
    let app = Application::open(dir.path(), &genesis(), config).unwrap();
    (dir, app, Keypair::from_seed("alice"))
}

/// One validator; alice holds 100.
fn genesis() -> Genesis {
    let alice = Keypair::from_seed("alice");
    Genesis {
        chain_id: "app-test".into(),
        genesis_time_ms: 0,
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: Keypair::from_seed("v").public(),
            power: 1,
            p2p: None,
        }],
        accounts: vec![GenesisAccount {
            address: alice.public(),
            balance: 100,
        }],
        permissions: None,
    }
}

fn transfer(from: &Keypair, nonce: u64, chain: &str) -> Vec<u8> {
    Transfer {
        chain_id: chain.into(),
        from: from.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce,
        memo: vec![],
    }
    .sign(from)
    .encode()
}

fn valid(app: &mut Application, block: &Block) -> bool {
    app.validate(block).expect("the tip reads").is_ok()
}

fn send(from: &Keypair, to: &Keypair, amount: u64, nonce: u64) -> SignedTx {
    Transfer {
        chain_id: "app-test".into(),
        from: from.public(),
        to: to.public(),
        amount,
        nonce,
        memo: vec![],
    }
    .sign(from)
}

/// A block as a Byzantine proposer builds it: any transfers, a consistent tx root, and the
/// state root of whatever part of it would run (the old rule let the rest through as failed
/// receipts).
fn forged_block(app: &Application, txs: Vec<SignedTx>) -> Block {
    let tip = app.tip().unwrap();
    let (execution, _) = app.state.execute_runnable(&app.rules, &txs).unwrap();
    Block {
        header: BlockHeader {
            chain_id: "app-test".into(),
            height: tip.height + 1,
            round: 0,
            prev_hash: tip.block_hash,
            proposer: Keypair::from_seed("v").public(),
            timestamp_ms: 0,
            tx_root: Block::compute_tx_root(&txs.iter().map(SignedTx::hash).collect::<Vec<_>>()),
            state_root: execution.state_root,
        },
        txs,
    }
}

/// What a lying proposer could do when a block could hold transfers that do not execute:
/// re-include a committed payment X (overwriting its record with a failed one, so a wallet
/// pays again), include a victim's pending transfer out of order (evicting it unexecuted),
/// and create accounts for free with a never-funded key. Each such block is now invalid,
/// and a certified one fail-stops the commit with nothing written.
#[test]
fn a_block_holding_any_transfer_that_does_not_execute_is_invalid() {
    let (_dir, mut app, alice) = setup(100);
    let (bob, mallory) = (Keypair::from_seed("bob"), Keypair::from_seed("mallory"));
    let x = send(&alice, &bob, 10, 0);
    assert!(app.submit(&[x.encode()])[0].is_ok());
    let first = commit_next(&mut app, &alice);
    assert_eq!(first.txs, vec![x.clone()]);
    let victim = [send(&alice, &bob, 1, 1), send(&alice, &bob, 1, 2)];
    let pending: Vec<_> = victim.iter().map(SignedTx::encode).collect();
    assert!(app.submit(&pending).iter().all(Result::is_ok));
    let free_account = send(&mallory, &bob, 1, 5);
    for txs in [
        vec![x.clone()],
        vec![free_account.clone()],
        vec![victim[1].clone()],
        vec![x.clone(), free_account.clone(), victim[1].clone()],
    ] {
        let block = forged_block(&app, txs);
        let verdict = app.validate(&block).unwrap();
        assert!(
            matches!(
                verdict,
                Err(InvalidBlock::Execution(BlockExecError { index: 0, .. }))
            ),
            "{verdict:?}"
        );
        // Even decided by a faulty supermajority, it is not applied.
        let certificate = CommitCertificate {
            height: 2,
            round: 0,
            block_hash: block.hash(),
            signatures: vec![],
        };
        let refused = app.commit(&block, &certificate).unwrap_err();
        assert!(
            matches!(
                refused,
                AppError::DecidedBlockInexecutable { height: 2, .. }
            ),
            "{refused}"
        );
    }
    assert_eq!(app.tip().unwrap().height, 1);
    assert_eq!(
        app.store().tx(&x.hash()).unwrap(),
        Some(ledger::TxRecord {
            height: 1,
            index: 0
        })
    );
    assert_eq!(app.store().account(&mallory.public()).unwrap(), None);
    assert!(victim.iter().all(|t| app.is_pending(&t.hash())));
    // The honest proposer's next block executes both, in order.
    let next = commit_next(&mut app, &alice);
    assert_eq!(next.txs, victim.to_vec());
}

/// A proposer leaves out what an earlier transfer in its own block made unpayable, instead
/// of proposing a block every honest validator refuses.
#[test]
fn a_proposer_drops_what_its_block_made_unpayable() {
    let (_dir, mut app, alice) = setup(100);
    let bob = Keypair::from_seed("bob");
    let txs = [send(&alice, &bob, 60, 0), send(&alice, &bob, 60, 1)];
    let raw: Vec<_> = txs.iter().map(SignedTx::encode).collect();
    assert!(
        app.submit(&raw).iter().all(Result::is_ok),
        "each fits the balance alone"
    );
    let block = app.build_block(1, 0, alice.public(), 0).unwrap();
    assert_eq!(block.txs, vec![txs[0].clone()]);
    assert!(valid(&mut app, &block));
    commit_next(&mut app, &alice);
    assert_eq!(app.mempool_len(), 0, "the unpayable one left the mempool");
}

#[test]
fn submissions_get_explicit_errors() {
    let (_dir, mut app, alice) = setup(2);
    let results = app.submit(&[
        transfer(&alice, 0, "app-test"),
        transfer(&alice, 0, "app-test"),
        transfer(&alice, 1, "other-chain"),
        vec![0xde, 0xad],
        transfer(&alice, 1, "app-test"),
        transfer(&alice, 2, "app-test"),
    ]);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Refusal::Duplicate(_))));
    assert!(matches!(
        results[2],
        Err(Refusal::Invalid(TxError::WrongChain { .. }))
    ));
    assert!(matches!(
        results[3],
        Err(Refusal::Invalid(TxError::Decode(_)))
    ));
    assert!(results[4].is_ok());
    assert!(matches!(
        results[5],
        Err(Refusal::MempoolFull { txs: 2, .. })
    ));
    assert_eq!(app.mempool_len(), 2);
}

#[test]
fn proposed_blocks_respect_the_tx_and_byte_limits() {
    let (_dir, mut app, alice) = setup(100);
    let one = transfer(&alice, 0, "app-test").len();
    let txs: Vec<_> = (0..10).map(|n| transfer(&alice, n, "app-test")).collect();
    assert!(app.submit(&txs).iter().all(Result::is_ok));
    app.config.max_block_txs = 6;
    assert_eq!(
        app.build_block(1, 0, alice.public(), 0).unwrap().txs.len(),
        6
    );
    app.config.max_block_bytes = one * 3 + one / 2;
    assert_eq!(
        app.build_block(1, 0, alice.public(), 0).unwrap().txs.len(),
        3
    );
}

/// Commit whatever this validator would propose next.
fn commit_next(app: &mut Application, proposer: &Keypair) -> Block {
    let height = app.tip().unwrap().height + 1;
    let block = app.build_block(height, 0, proposer.public(), 0).unwrap();
    let certificate = CommitCertificate {
        height,
        round: 0,
        block_hash: block.hash(),
        signatures: vec![],
    };
    app.commit(&block, &certificate).unwrap();
    block
}

#[test]
fn a_nonce_gap_waits_in_the_mempool_then_expires() {
    let (_dir, mut app, alice) = setup(100);
    app.config.mempool_gap_ttl_blocks = 3;
    app.reconfigure();
    // Nonce 1 and 3 arrive before nonce 0; nonce 2 never does.
    let early = [
        transfer(&alice, 1, "app-test"),
        transfer(&alice, 3, "app-test"),
    ];
    assert!(app.submit(&early).iter().all(Result::is_ok));
    assert!(
        commit_next(&mut app, &alice).txs.is_empty(),
        "nothing runs ahead of nonce 0"
    );
    assert_eq!(app.mempool_len(), 2);
    assert!(app.submit(&[transfer(&alice, 0, "app-test")])[0].is_ok());
    let block = commit_next(&mut app, &alice);
    let nonces: Vec<u64> = block.txs.iter().map(|t| t.transfer.nonce).collect();
    assert_eq!(nonces, [0, 1], "in nonce order, stopping at the gap");
    assert_eq!(app.mempool_len(), 1, "nonce 3 still waits for nonce 2");
    commit_next(&mut app, &alice);
    commit_next(&mut app, &alice);
    assert_eq!(app.mempool_len(), 0, "the gap outlived its ttl");
}

#[test]
fn transfers_far_past_a_missing_nonce_are_refused() {
    let (_dir, mut app, alice) = setup(100);
    let window = crate::mempool::FUTURE_WINDOW;
    // Nonce 0 never arrives: a few later ones may wait, the rest are refused.
    let later: Vec<_> = (1..=window)
        .map(|n| transfer(&alice, n, "app-test"))
        .collect();
    let results = app.submit(&later);
    assert!(results[..(window - 1) as usize].iter().all(Result::is_ok));
    assert!(matches!(
        results[(window - 1) as usize],
        Err(Refusal::NonceGap { got, next: 0 }) if got == window
    ));
    // Another transfer with a nonce already waiting is refused too.
    let twin = Transfer {
        chain_id: "app-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 2,
        nonce: 1,
        memo: vec![],
    }
    .sign(&alice)
    .encode();
    assert!(matches!(
        app.submit(&[twin])[0],
        Err(Refusal::NoncePending { nonce: 1 })
    ));
}

#[test]
fn transfers_waiting_for_a_gap_take_at_most_a_quarter_of_the_mempool() {
    let (_dir, mut app, alice) = setup(8);
    let results = app.submit(&[
        transfer(&alice, 1, "app-test"),
        transfer(&alice, 2, "app-test"),
        transfer(&alice, 3, "app-test"),
    ]);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(
        results[2],
        Err(Refusal::NonceGap { got: 3, next: 0 })
    ));
    // The transfer that fills the gap still gets in, and the run becomes executable.
    assert!(app.submit(&[transfer(&alice, 0, "app-test")])[0].is_ok());
    assert!(app.submit(&[transfer(&alice, 3, "app-test")])[0].is_ok());
    assert_eq!(commit_next(&mut app, &alice).txs.len(), 4);
}

#[test]
fn one_sender_cannot_fill_the_mempool() {
    let (_dir, mut app, alice) = setup(100);
    app.config.mempool_max_per_sender = 3;
    app.reconfigure();
    let txs: Vec<_> = (0..5).map(|n| transfer(&alice, n, "app-test")).collect();
    let results = app.submit(&txs);
    assert!(results[..3].iter().all(Result::is_ok));
    assert!(matches!(results[3], Err(Refusal::SenderLimit { limit: 3 })));
    // Committing frees the sender's slots.
    commit_next(&mut app, &alice);
    assert!(app.submit(&[txs[3].clone()])[0].is_ok());
}

#[test]
fn a_sender_who_cannot_pay_is_refused() {
    let (_dir, mut app, alice) = setup(10);
    let balance = app.account(&alice.public()).balance;
    let too_much = Transfer {
        chain_id: "app-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: balance + 1,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice)
    .encode();
    let results = app.submit(&[too_much]);
    assert!(
        matches!(results[0], Err(Refusal::InsufficientFunds { balance: b, amount }) if b == balance && amount == balance + 1)
    );
    assert_eq!(app.mempool_len(), 0);
}

#[test]
fn mempool_is_bounded_in_bytes_too() {
    let (_dir, mut app, alice) = setup(1000);
    let one = transfer(&alice, 0, "app-test").len();
    app.config.mempool_max_bytes = one * 2;
    app.reconfigure();
    let results = app.submit(&[
        transfer(&alice, 0, "app-test"),
        transfer(&alice, 1, "app-test"),
        transfer(&alice, 2, "app-test"),
    ]);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(Refusal::MempoolFull { txs: 2, bytes }) if bytes == 2 * one));
}

#[test]
fn blocks_with_a_wrong_state_root_or_bad_signature_are_invalid() {
    let (_dir, mut app, alice) = setup(10);
    app.submit(&[transfer(&alice, 0, "app-test")]);
    let block = app.build_block(1, 0, alice.public(), 0).unwrap();
    assert!(valid(&mut app, &block));

    let mut wrong_root = block.clone();
    wrong_root.header.state_root = Hash::ZERO;
    assert!(!valid(&mut app, &wrong_root));

    let mut forged = block.clone();
    forged.txs[0].signature.0[0] ^= 1;
    forged.header.tx_root = Block::compute_tx_root(&forged.tx_hashes());
    assert!(!valid(&mut app, &forged));
}

/// On a chain with account permissions, an unlisted sender and a transfer that would open an
/// account are refused at admission with their reasons, and a block holding such a transfer
/// (built by a validator that ignores the rule) is invalid.
#[test]
fn account_permissions_are_enforced_at_admission_and_in_blocks() {
    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob");
    let stranger = Keypair::from_seed("stranger").public();
    let account = |k: &Keypair| GenesisAccount {
        address: k.public(),
        balance: 100,
    };
    let genesis = |permissions| Genesis {
        chain_id: "app-test".into(),
        genesis_time_ms: 0,
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: Keypair::from_seed("v").public(),
            power: 1,
            p2p: None,
        }],
        accounts: vec![account(&alice), account(&bob)],
        permissions,
    };
    let permissions = ledger::Permissions {
        senders: vec![alice.public()],
        open_receiving: false,
    };
    let config = || AppConfig {
        verify_threads: 1,
        ..AppConfig::default()
    };
    let send = |from: &Keypair, to, nonce| {
        Transfer {
            chain_id: "app-test".into(),
            from: from.public(),
            to,
            amount: 1,
            nonce,
            memo: vec![],
        }
        .sign(from)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut app = Application::open(dir.path(), &genesis(Some(permissions)), config()).unwrap();
    let results = app.submit(&[
        send(&alice, bob.public(), 0).encode(),
        send(&bob, alice.public(), 0).encode(),
        send(&alice, stranger, 1).encode(),
    ]);
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        matches!(
            results[1],
            Err(Refusal::NotPermitted(ledger::PermissionError::Sender(_)))
        ),
        "{results:?}"
    );
    assert!(
        matches!(
            results[2],
            Err(Refusal::NotPermitted(ledger::PermissionError::Recipient(_)))
        ),
        "{results:?}"
    );

    // An open chain admits bob's transfer and builds a block with it; the permissioned chain
    // refuses that block.
    let open_dir = tempfile::tempdir().unwrap();
    let mut open = Application::open(open_dir.path(), &genesis(None), config()).unwrap();
    assert!(open.submit(&[send(&bob, alice.public(), 0).encode()])[0].is_ok());
    let block = open.build_block(1, 0, bob.public(), 0).unwrap();
    assert_eq!(block.txs.len(), 1);
    assert!(valid(&mut open, &block));
    // The same transfer in a block on the permissioned chain's own tip is refused for it.
    let forbidden = forged_block(&app, block.txs.clone());
    let verdict = app.validate(&forbidden).unwrap();
    assert!(
        matches!(
            &verdict,
            Err(InvalidBlock::Execution(BlockExecError {
                index: 0,
                error: ledger::ExecError::Transfer(ledger::TransferError::NotPermitted(
                    ledger::PermissionError::Sender(_)
                ))
            }))
        ),
        "{verdict:?}"
    );
}

/// Past what the chain drains in `mempool_max_drain_ms`, the mempool refuses as if full,
/// whatever room its count bound leaves; the bound follows the commit rate.
#[test]
fn admission_is_bounded_by_drain_time() {
    let (_dir, mut app, alice) = setup(100);
    app.mempool.set_drain_cap(Some(1));
    assert_eq!(app.admission().0, 1);
    let results = app.submit(&[
        transfer(&alice, 0, "app-test"),
        transfer(&alice, 1, "app-test"),
    ]);
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1],
        Err(Refusal::MempoolFull { txs: 1, .. })
    ));
    // A commit recomputes the bound: one block gives no rate yet, so only the count bounds.
    commit_next(&mut app, &alice);
    assert_eq!(app.admission(), (100, None));
    // Commits spread over time give a rate; the bound is at least one block.
    app.config.max_block_txs = 7;
    app.config.mempool_max_drain_ms = 1_000;
    for nonce in 1..4 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(app.submit(&[transfer(&alice, nonce, "app-test")])[0].is_ok());
        commit_next(&mut app, &alice);
    }
    let (admits, drain) = app.admission();
    assert_eq!(admits, 7, "a slow chain still takes a block's worth");
    assert_eq!(drain, Some(0.0), "an empty mempool drains at once");
}

/// Heights committed while the history index was off are indexed from their blocks when a
/// validator opens with it back on: its history is whole, not cut at the switch.
#[test]
fn reopened_with_the_history_index_back_on_a_validator_fills_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let open = |index_account_history| {
        let config = AppConfig {
            verify_threads: 1,
            index_account_history,
            ..AppConfig::default()
        };
        Application::open(dir.path(), &genesis(), config).unwrap()
    };
    let mut app = open(false);
    assert!(app.submit(&[transfer(&alice, 0, "app-test")])[0].is_ok());
    let block = commit_next(&mut app, &Keypair::from_seed("v"));
    assert_eq!(block.txs.len(), 1);
    assert!(app.store().account_txs(&alice.public(), None, 10).is_err());
    drop(app);
    let app = open(true);
    assert_eq!(app.store().account_history_from().unwrap(), Some(1));
    let history = app.store().account_txs(&alice.public(), None, 10).unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| (e.height, e.hash))
            .collect::<Vec<_>>(),
        vec![(1, block.txs[0].hash())]
    );
}
