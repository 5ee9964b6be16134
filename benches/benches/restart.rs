//! What restarting a long-running validator costs: a store with N heights of history (each
//! height: a block of transfers committed, and three signing-log records, as a validator
//! writes them, every write synced), closed, then reopened. Prints the reopen time, the memory
//! it took, and the write-ahead log it had to replay, for a few history lengths.
//!
//! `cargo bench --workspace --bench restart` (heights via `LANTAU_RESTART_HEIGHTS=10000,20000`).

use std::path::Path;
use std::time::Instant;

use benches::{CHAIN_ID, genesis, senders, transfers};
use ledger::merkle::merkle_root;
use ledger::storage::Store;
use ledger::{Block, BlockHeader, ChainRules, Hash, Keypair, SignedTx};

const TXS_PER_HEIGHT: usize = 50;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `txs` holds `TXS_PER_HEIGHT` transfers for every height, in order.
fn build_history(dir: &Path, heights: u64, txs: &[SignedTx]) {
    let keys = senders(100);
    let (store, mut state) = Store::open(dir, &genesis(&keys)).unwrap();
    for txs in txs.chunks(TXS_PER_HEIGHT).take(heights as usize) {
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        let tip = store.tip().unwrap();
        let height = tip.height + 1;
        for step in 0u8..3 {
            store
                .append_signing_record(height, &[0, 0, 0, 0, step], &[step; 400])
                .unwrap();
        }
        let exec = state.execute(&ChainRules::open(CHAIN_ID), txs).unwrap();
        let block = Block {
            header: BlockHeader {
                chain_id: CHAIN_ID.into(),
                height,
                round: 0,
                prev_hash: tip.block_hash,
                proposer: Keypair::from_seed("bench-validator").public(),
                timestamp_ms: 0,
                tx_root: merkle_root(&hashes),
                state_root: exec.state_root,
            },
            txs: txs.to_vec(),
        };
        let cert = benches::placeholder_certificate(&block);
        store.commit(&block, &cert, &exec).unwrap();
        state.apply(&exec);
    }
}

/// In a fresh process (so memory freed by building the history does not hide the cost):
/// open the store in `dir`, and print the open time, peak resident memory and memtable bytes.
fn reopen_child(dir: &str) {
    let keys = senders(100);
    let started = Instant::now();
    let (store, _) = Store::open(Path::new(dir), &genesis(&keys)).unwrap();
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(store.signing_log().unwrap().len(), 3);
    println!(
        "{open_ms} {} {} {}",
        rss_kib("VmHWM:"),
        store.memtable_bytes(),
        store.tip().unwrap().height
    );
}

fn main() {
    if let Ok(dir) = std::env::var("LANTAU_RESTART_CHILD") {
        return reopen_child(&dir);
    }
    let heights: Vec<u64> = std::env::var("LANTAU_RESTART_HEIGHTS")
        .ok()
        .map(|v| v.split(',').filter_map(|h| h.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let keys = senders(100);
    // Every block holds new transfers: a committed one never executes again.
    let most = heights.iter().copied().max().unwrap_or(0) as usize;
    let txs = transfers(&keys, TXS_PER_HEIGHT * most, 0);
    let exe = std::env::current_exe().unwrap();
    for n in heights {
        let dir = tempfile::tempdir().unwrap();
        let built = Instant::now();
        build_history(dir.path(), n, &txs);
        let build_secs = built.elapsed().as_secs_f64();
        let wal = wal_bytes(dir.path());
        // Three restarts; the first pays for the WAL replay and the flush it triggers.
        for run in 0..3 {
            let out = std::process::Command::new(&exe)
                .env("LANTAU_RESTART_CHILD", dir.path())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<f64> = text
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            assert!(f.len() == 4 && f[3] as u64 == n, "child: {text}");
            println!(
                "restart {} after {n} heights (50 txs each): open {:.0} ms, peak RSS {:.0} MiB, {:.1} MiB in memtables; {:.1} MiB of WAL before the first restart (history written in {build_secs:.0} s)",
                run + 1,
                f[0],
                f[1] / 1024.0,
                f[2] / (1024.0 * 1024.0),
                wal as f64 / (1024.0 * 1024.0)
            );
        }
    }
}
