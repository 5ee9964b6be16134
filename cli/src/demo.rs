//! `lantau demo`: a live testnet in one process, printing what it commits.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ledger::{Genesis, Keypair, Transfer};
use node::local_net::{LocalNet, LocalNetConfig};

pub struct Options {
    pub validators: usize,
    pub seconds: u64,
    pub dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            validators: 4,
            seconds: 10,
            dir: None,
        }
    }
}

const CHAIN_ID: &str = "lantau-demo";
const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];

pub fn run(opts: Options) -> Result<()> {
    if !(1..=crate::testnet_cmds::MAX_VALIDATORS).contains(&opts.validators) {
        bail!(
            "--validators must be between 1 and {}",
            crate::testnet_cmds::MAX_VALIDATORS
        );
    }
    crate::testnet_cmds::warn_if_no_fault_tolerated(opts.validators);
    let validator_keys: Vec<Keypair> = (0..opts.validators)
        .map(|i| Keypair::from_seed(&format!("demo-validator-{i}")))
        .collect();
    let people: Vec<Keypair> = PEOPLE.iter().map(|p| Keypair::from_seed(p)).collect();
    let validators: Vec<_> = validator_keys.iter().map(Keypair::public).collect();
    let funded: Vec<_> = people.iter().map(|k| (k.public(), 1_000_000)).collect();
    let genesis = Genesis::with_validators(CHAIN_ID, &validators, &funded);
    genesis.validate().context("demo genesis")?;

    let temp;
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let config = LocalNetConfig::default();
    let mut net = LocalNet::start(&dir, &genesis, validator_keys, config)
        .with_context(|| format!("opening validator stores under {}", dir.display()))?;
    outln!(
        "lantau demo: {} validators on chain {CHAIN_ID:?}, stores in {}\n",
        opts.validators,
        dir.display()
    );
    outln!(
        "{:>6}  {:>4}  {:<10}  {:>6}  balances after the block",
        "height",
        "txs",
        "block",
        "signers"
    );

    let mut nonces = vec![0u64; people.len()];
    let mut submitted = 0u64;
    let started = Instant::now();
    let end = started + Duration::from_secs(opts.seconds);
    let interrupted = on_interrupt();
    let mut round = 0usize;
    while Instant::now() < end && !interrupted.load(Ordering::Relaxed) {
        // A few transfers around the circle alice -> bob -> carol -> dave -> alice.
        for k in 0..3 {
            let from = (round + k) % people.len();
            let to = (from + 1) % people.len();
            let tx = Transfer {
                chain_id: CHAIN_ID.into(),
                from: people[from].public(),
                to: people[to].public(),
                amount: 10 + (round % 7) as u64,
                nonce: nonces[from],
                memo: vec![],
            }
            .sign(&people[from]);
            match net.submit(round % net.validators(), &tx.encode()) {
                Ok(_) => {
                    nonces[from] += 1;
                    submitted += 1;
                }
                Err(e) => eprintln!("transfer refused: {e}"),
            }
        }
        round += 1;
        net.run_until(Instant::now() + Duration::from_millis(100), &mut |c| {
            if c.validator != 0 {
                return;
            }
            let balances: Vec<String> = PEOPLE
                .iter()
                .zip(&people)
                .map(|(name, k)| format!("{name} {}", c.app.account(&k.public()).balance))
                .collect();
            outln!(
                "{:>6}  {:>4}  {:<10}  {:>4}/{}  {}",
                c.block.header.height,
                c.block.txs.len(),
                &c.block.hash().to_hex()[..10],
                c.certificate.signatures.len(),
                opts.validators,
                balances.join(", ")
            );
        });
    }
    if interrupted.load(Ordering::Relaxed) {
        outln!(
            "\ninterrupted after {:.1} s",
            started.elapsed().as_secs_f64()
        );
    } else {
        // Let the last submissions commit.
        net.run_until(Instant::now() + Duration::from_secs(1), &mut |_| {});
    }

    let tips: Vec<_> = (0..net.validators())
        .map(|i| net.app(i).tip())
        .collect::<Result<_, _>>()?;
    let committed: u64 = (1..=tips[0].height)
        .map(|h| {
            net.app(0)
                .store()
                .block(h)
                .map(|b| b.map_or(0, |b| b.txs.len() as u64))
        })
        .sum::<Result<u64, _>>()?;
    outln!(
        "\n{submitted} transfers submitted, {committed} committed in {} blocks; validator tips: {}",
        tips[0].height,
        tips.iter()
            .map(|t| t.height.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let total: u64 = people
        .iter()
        .map(|k| net.app(0).account(&k.public()).balance)
        .sum();
    outln!("total supply {total} (genesis {})", genesis.total_supply());
    drop(net);
    if opts.dir.is_none() {
        outln!("removed the stores in {}", dir.display());
    }
    Ok(())
}

/// Set once Ctrl-C (SIGINT) or SIGTERM arrives, so the demo stops at the next block, prints
/// its summary and removes its temporary stores rather than dying with them on disk.
fn on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    if let Ok(runtime) = runtime {
        std::thread::spawn(move || {
            runtime.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                set.store(true, Ordering::Relaxed);
            })
        });
    }
    flag
}
