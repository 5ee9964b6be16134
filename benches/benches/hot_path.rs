//! Signature verification, the hot path: single, batched, and the admission pipeline
//! (decode + hash + verify + cache, under lantau's cofactored ZIP-215 rule) against raw
//! `ed25519_dalek::verify_batch` (not cofactored) on the same signatures. Prints one summary
//! line last:
//!   hot-path: pipeline <N> tx/s/core, raw batch <M> sig/s/core, ratio <R>, 2-thread scaling <S>x

use std::time::{Duration, Instant};

use benches::{senders, transfers};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::VerifyingKey;
use ledger::SignedTx;
use ledger::crypto::domain;
use ledger::verify::{SigItem, TxVerifier, VERIFY_CHUNK, verify_batch};

/// Transactions per admission run: enough for every thread to get many chunks.
const ADMIT_TXS: usize = 8192;
/// Distinct senders: payments repeat senders, and the pipeline caches parsed keys.
const SENDERS: usize = 1000;

struct Fixture {
    txs: Vec<SignedTx>,
    raw: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<ed25519_dalek::Signature>,
    keys: Vec<VerifyingKey>,
}

fn fixture(count: usize) -> Fixture {
    let txs = transfers(&senders(SENDERS), count, 0);
    let raw = txs.iter().map(SignedTx::encode).collect();
    let messages = txs
        .iter()
        .map(|t| [domain::TX, &t.signed_message()].concat())
        .collect();
    let signatures = txs
        .iter()
        .map(|t| ed25519_dalek::Signature::from_bytes(&t.signature.0))
        .collect();
    let keys = txs
        .iter()
        .map(|t| t.transfer.from.to_verifying_key().unwrap())
        .collect();
    Fixture {
        txs,
        raw,
        messages,
        signatures,
        keys,
    }
}

fn raw_batch(f: &Fixture) {
    for start in (0..f.messages.len()).step_by(VERIFY_CHUNK) {
        let end = (start + VERIFY_CHUNK).min(f.messages.len());
        let msgs: Vec<&[u8]> = f.messages[start..end].iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&msgs, &f.signatures[start..end], &f.keys[start..end]).unwrap();
    }
}

/// A verifier in the state of a node that has seen these senders before (their parsed keys
/// are cached, as raw batch gets its keys pre-parsed) but none of these transactions.
fn warm_verifier(threads: usize) -> TxVerifier {
    let v = TxVerifier::new(benches::CHAIN_ID, threads, 1 << 20);
    let earlier: Vec<Vec<u8>> = transfers(&senders(SENDERS), SENDERS, 1)
        .iter()
        .map(SignedTx::encode)
        .collect();
    assert!(v.admit(&earlier).iter().all(Result::is_ok));
    v
}

fn admit(verifier: &TxVerifier, f: &Fixture) {
    let results = verifier.admit(&f.raw);
    assert!(results.iter().all(Result::is_ok));
}

fn bench_single(c: &mut Criterion) {
    let f = fixture(64);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_ledger", |b| b.iter(|| f.txs[0].verify().unwrap()));
    g.bench_function("single_dalek_verify", |b| {
        b.iter(|| {
            f.keys[0]
                .verify_strict(&f.messages[0], &f.signatures[0])
                .unwrap()
        })
    });
    g.finish();
}

fn bench_batch(c: &mut Criterion) {
    let f = fixture(1024);
    let mut g = c.benchmark_group("verify_batch");
    for size in [16usize, 64, 256, 1024] {
        g.throughput(Throughput::Elements(size as u64));
        let msgs: Vec<Vec<u8>> = f.txs[..size].iter().map(SignedTx::signed_message).collect();
        g.bench_with_input(BenchmarkId::new("ledger", size), &size, |b, &size| {
            b.iter(|| {
                let items: Vec<SigItem<'_>> = f.txs[..size]
                    .iter()
                    .zip(&msgs)
                    .map(|(t, m)| SigItem {
                        key: &t.transfer.from,
                        domain: domain::TX,
                        message: m,
                        signature: &t.signature,
                    })
                    .collect();
                assert!(verify_batch(&items).iter().all(Result::is_ok));
            })
        });
        g.bench_with_input(BenchmarkId::new("raw_dalek", size), &size, |b, &size| {
            let m: Vec<&[u8]> = f.messages[..size].iter().map(Vec::as_slice).collect();
            b.iter(|| {
                ed25519_dalek::verify_batch(&m, &f.signatures[..size], &f.keys[..size]).unwrap()
            })
        });
    }
    g.finish();
}

fn bench_admission(c: &mut Criterion) {
    let f = fixture(ADMIT_TXS);
    let mut g = c.benchmark_group("admission");
    g.throughput(Throughput::Elements(ADMIT_TXS as u64));
    g.sample_size(10);
    for threads in [1usize, 2] {
        g.bench_function(
            BenchmarkId::new("pipeline", format!("{threads}-thread")),
            |b| {
                // A fresh verifier per run: otherwise every run after the first is cache hits.
                b.iter_batched(
                    || TxVerifier::new(benches::CHAIN_ID, threads, 1 << 20),
                    |v| admit(&v, &f),
                    BatchSize::PerIteration,
                )
            },
        );
    }
    g.bench_function("raw_dalek_batch/1-thread", |b| b.iter(|| raw_batch(&f)));
    g.bench_function("pipeline_cold_keys/1-thread", |b| {
        b.iter_batched(
            || TxVerifier::new(benches::CHAIN_ID, 1, 1 << 20),
            |v| admit(&v, &f),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cached_resubmission/2-thread", |b| {
        let v = TxVerifier::new(benches::CHAIN_ID, 2, 1 << 20);
        admit(&v, &f);
        b.iter(|| v.verify_block_txs(&f.txs).unwrap())
    });
    g.finish();
}

/// Best of `runs` timings of `work`, after one warm-up.
fn best_of(runs: usize, mut work: impl FnMut() -> Duration) -> Duration {
    work();
    (0..runs).map(|_| work()).min().unwrap()
}

fn summary() {
    let f = fixture(ADMIT_TXS);
    let n = ADMIT_TXS as f64;
    let pipeline = |threads: usize| {
        best_of(5, || {
            let v = warm_verifier(threads);
            let t = Instant::now();
            admit(&v, &f);
            t.elapsed()
        })
    };
    let one = pipeline(1);
    let two = pipeline(2);
    let raw = best_of(5, || {
        let t = Instant::now();
        raw_batch(&f);
        t.elapsed()
    });
    let pipeline_rate = n / one.as_secs_f64();
    let raw_rate = n / raw.as_secs_f64();
    println!(
        "hot-path: pipeline {:.0} tx/s/core, raw batch {:.0} sig/s/core, ratio {:.2}, 2-thread scaling {:.2}x",
        pipeline_rate,
        raw_rate,
        pipeline_rate / raw_rate,
        one.as_secs_f64() / two.as_secs_f64()
    );
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_single(&mut c);
    bench_batch(&mut c);
    bench_admission(&mut c);
    c.final_summary();
    summary();
}
