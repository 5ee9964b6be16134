//! Executing a block and committing it to RocksDB (block, certificate, tx index, state and
//! tip in one synced write), for 1,000- and 10,000-transaction blocks.

use std::time::Duration;

use benches::{CHAIN_ID, genesis, senders, transfers};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ledger::merkle::merkle_root;
use ledger::storage::Store;
use ledger::{Block, BlockHeader, Hash, Keypair, SignedTx};

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

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_commit(&mut c);
    c.final_summary();
}
