//! The state tree at scale (default 1,000,000 accounts; `LANTAU_STATE_ACCOUNTS` to change):
//! the size of an account proof and of an absence proof, the time to verify each, and the
//! time to compute the next root when a 10,000-transfer block changes 20,000 accounts. The
//! tree is in memory here, so these are the tree's own costs; `block_commit` adds RocksDB.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use ledger::crypto::sha256;
use ledger::light::encode_account_path;
use ledger::{Account, Address, PublicKey, State, state_tree};

fn address(i: u64) -> Address {
    PublicKey(sha256(&[b"bench-account", &i.to_le_bytes()]).0)
}

fn main() {
    let n: u64 = std::env::var("LANTAU_STATE_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let started = std::time::Instant::now();
    let state = State::from_accounts((0..n).map(|i| {
        (
            address(i),
            Account {
                balance: i + 1,
                nonce: 0,
            },
        )
    }));
    eprintln!("built a tree of {n} accounts in {:.1?}", started.elapsed());
    let tree = state.tree().clone();
    let root = state.root();
    let (present, present_path) = state_tree::prove(tree.as_ref(), 0, &address(n / 2)).unwrap();
    let absent_address = address(n + 7);
    let (absent, absent_path) = state_tree::prove(tree.as_ref(), 0, &absent_address).unwrap();
    assert!(present.is_some() && absent.is_none());
    println!(
        "proof size at {n} accounts: {} bytes for an account, {} bytes for an absence",
        encode_account_path(&present_path).len(),
        encode_account_path(&absent_path).len()
    );

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut group = c.benchmark_group(format!("state_tree_{n}_accounts"));
    group.bench_function("verify_account_proof", |b| {
        b.iter(|| {
            state_tree::verify(&root, &address(n / 2), present.as_ref(), &present_path).unwrap()
        })
    });
    group.bench_function("verify_absence_proof", |b| {
        b.iter(|| state_tree::verify(&root, &absent_address, None, &absent_path).unwrap())
    });
    group.bench_function("prove", |b| {
        b.iter(|| state_tree::prove(tree.as_ref(), 0, &address(n / 3)).unwrap())
    });
    group.sample_size(10);
    // 10,000 transfers between 20,000 distinct accounts: 10,000 existing senders and 10,000
    // new recipients, spread over the tree.
    group.bench_function("root_after_20000_account_changes", |b| {
        b.iter_batched(
            || {
                let mut changes = BTreeMap::new();
                for k in 0..10_000u64 {
                    let from = address(k * (n / 10_000).max(1) % n);
                    changes.insert(
                        from,
                        Account {
                            balance: 1,
                            nonce: 1,
                        },
                    );
                    changes.insert(
                        address(n + 1_000 + k),
                        Account {
                            balance: 1,
                            nonce: 0,
                        },
                    );
                }
                changes
            },
            |changes| state_tree::update(tree.as_ref(), 1, &changes).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    c.final_summary();
}
