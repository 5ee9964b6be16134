//! Executing a block and committing it to RocksDB (block, certificate, tx index, state and
//! tip in one synced write), for 1,000- and 10,000-transaction blocks: into a fresh database,
//! and into one that already holds 300 such blocks (a loaded validator's memtables and
//! files, where each key lands costs more).

use std::time::Duration;

use benches::{CHAIN_ID, genesis, senders, transfers};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ledger::merkle::merkle_root;
use ledger::storage::Store;
use ledger::{Block, BlockHeader, Hash, Keypair, SignedTx, Transfer};

fn block_on(store: &Store, txs: &[SignedTx]) -> Block {
    let tip = store.tip().unwrap();
    let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
    Block {
        header: BlockHeader {
            chain_id: CHAIN_ID.into(),
            height: tip.height + 1,
            round: 0,
            prev_hash: tip.block_hash,
            proposer: Keypair::from_seed("bench-validator").public(),
            timestamp_ms: 0,
            tx_root: merkle_root(&hashes),
            state_root: Hash::ZERO,
        },
        txs: txs.to_vec(),
    }
}

fn bench_commit(c: &mut Criterion) {
    let keys = senders(2000);
    let g = genesis(&keys);
    let mut group = c.benchmark_group("block_execute_commit");
    group.sample_size(20);
    for size in [1_000usize, 10_000] {
        let txs = transfers(&keys, size, 0);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let (store, state) = Store::open(dir.path(), &g).unwrap();
                    let block = block_on(&store, &txs);
                    (dir, store, state, block)
                },
                |(dir, store, mut state, mut block)| {
                    let exec = state
                        .execute(&ledger::ChainRules::open(CHAIN_ID), &block.txs)
                        .unwrap();
                    block.header.state_root = exec.state_root;
                    // The certificate's signatures are not checked by storage; its size is
                    // what matters here (3 of 4 validators).
                    let cert = benches::placeholder_certificate(&block);
                    store.commit(&block, &cert, &exec).unwrap();
                    state.apply(&exec);
                    (dir, store, state)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// Blocks of one transfer from each sender to the next, nonces continuing block after block
/// (what `lantau bench`'s load makes at ~1,000 transactions per block).
struct Blocks {
    keys: Vec<Keypair>,
    next_nonce: u64,
}

impl Blocks {
    fn next(&mut self) -> Vec<SignedTx> {
        let n = self.keys.len();
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        (0..n)
            .map(|s| {
                Transfer {
                    chain_id: CHAIN_ID.into(),
                    from: self.keys[s].public(),
                    to: self.keys[(s + 1) % n].public(),
                    amount: 1,
                    nonce,
                    memo: vec![],
                }
                .sign(&self.keys[s])
            })
            .collect()
    }
}

fn execute_and_commit(store: &Store, state: &mut ledger::State, txs: &[SignedTx]) {
    let mut block = block_on(store, txs);
    let exec = state
        .execute(&ledger::ChainRules::open(CHAIN_ID), &block.txs)
        .unwrap();
    block.header.state_root = exec.state_root;
    let cert = benches::placeholder_certificate(&block);
    store.commit(&block, &cert, &exec).unwrap();
    state.apply(&exec);
}

fn bench_commit_loaded(c: &mut Criterion) {
    const PREFILLED: usize = 300;
    let mut blocks = Blocks {
        keys: senders(1000),
        next_nonce: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, mut state) = Store::open(dir.path(), &genesis(&blocks.keys)).unwrap();
    for _ in 0..PREFILLED {
        let txs = blocks.next();
        execute_and_commit(&store, &mut state, &txs);
    }
    let mut group = c.benchmark_group("block_execute_commit_loaded");
    group.sample_size(20);
    group.throughput(Throughput::Elements(blocks.keys.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(blocks.keys.len()), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let txs = blocks.next(); // signing is not what this measures
                let started = std::time::Instant::now();
                execute_and_commit(&store, &mut state, &txs);
                took += started.elapsed();
            }
            took
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_commit(&mut c);
    bench_commit_loaded(&mut c);
    c.final_summary();
}
