//! `lantau bench`: the benchmark harness (`testnet::bench`) from the command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use testnet::bench::config::{BenchConfig, Fault, FaultKind};

use crate::output::Progress;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    action: Option<BenchAction>,
    /// A TOML scenario (the flags below with underscores, plus [[faults]] tables); flags
    /// override it.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Validator counts to sweep, comma-separated [default: 4].
    #[arg(long, value_delimiter = ',')]
    validators: Vec<usize>,
    /// Input rates in tx/s to sweep, comma-separated [default: 1000].
    #[arg(long, value_delimiter = ',')]
    rates: Vec<u64>,
    /// Measured seconds per point [default: 20].
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Seconds of load before measuring [default: 5].
    #[arg(long)]
    warmup_secs: Option<u64>,
    /// Bytes per encoded transfer, padded with memo bytes [default: smallest, ~160].
    #[arg(long)]
    tx_size: Option<usize>,
    /// Sending accounts [default: 1000].
    #[arg(long)]
    senders: Option<usize>,
    /// Validators' least time between blocks [default: 25].
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Validators' most transactions per block [default: 10000].
    #[arg(long)]
    max_block_txs: Option<usize>,
    /// Validators' mempool bound [default: the node's, 100000].
    #[arg(long)]
    mempool_max_txs: Option<usize>,
    /// Validators' admission bound by drain time, ms; 0 = off [default: the node's, 1500].
    #[arg(long)]
    mempool_max_drain_ms: Option<u64>,
    /// Validators skip the account history index (`index_account_history = false`), to
    /// measure consensus and storage without it.
    #[arg(long)]
    no_account_history: bool,
    /// Run each point this many times; the summary gives the mean and a 95% interval
    /// [default: 1].
    #[arg(long)]
    repeat: Option<usize>,
    /// One batch per validator every this many ms [default: 50].
    #[arg(long)]
    burst_ms: Option<u64>,
    /// Seconds to wait after the load for accepted transactions to commit [default: 15].
    #[arg(long)]
    drain_secs: Option<u64>,
    /// Peak throughput is the best point with e2e p99 under this [default: 1500].
    #[arg(long)]
    latency_cap_ms: Option<u64>,
    /// Validators never started (f down from the start), comma-separated.
    #[arg(long, value_delimiter = ',')]
    offline: Vec<usize>,
    /// Added to every validator link, each way, through per-link TCP proxies.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Plus a uniform random delay up to this.
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// A fault, SECONDS:KIND[:NODES], repeatable: 8:kill:2, 14:restart:2, 5:pause:1,
    /// 7:resume:1, 5:partition:2,3, 10:heal. KIND is kill, stop, restart, pause, resume,
    /// partition or heal.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// A validator that lies for the whole run, NODE:BEHAVIOUR, repeatable: 3:equivocate.
    /// BEHAVIOUR is equivocate, withhold, tamper-relay, tamper-sync, flood-rounds, fake-pol,
    /// silent, hide-batches, bad-batches or phantom-batches (see `lantau start --help`).
    /// Load goes to the honest validators only.
    #[arg(long = "byzantine", value_name = "NODE:BEHAVIOUR")]
    byzantine: Vec<String>,
    /// Where the validators run: `processes` on this machine, or `docker` containers, each
    /// its own host on a network of its own (kill, pause and partition faults go to the
    /// engine; added link latency needs processes) [default: processes].
    #[arg(long, value_parser = ["processes", "docker"])]
    engine: Option<String>,
    /// With --engine docker: CPUs each validator's container may use (e.g. 0.5).
    #[arg(long, value_name = "CPUS")]
    cpus_per_validator: Option<f64>,
    /// Results directory [default: bench-results/<UTC time>, e.g. 2026-12-03T13-45-10Z].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_fault(text: &str) -> Result<Fault> {
    let mut parts = text.splitn(3, ':');
    let at_secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("fault {text:?}: expected SECONDS:KIND[:NODES]"))?;
    let kind = match parts.next() {
        Some("kill") => FaultKind::Kill,
        Some("stop") => FaultKind::Stop,
        Some("restart") => FaultKind::Restart,
        Some("pause") => FaultKind::Pause,
        Some("resume") => FaultKind::Resume,
        Some("partition") => FaultKind::Partition,
        Some("heal") => FaultKind::Heal,
        other => bail!(
            "fault {text:?}: unknown kind {other:?} (kill, stop, restart, pause, resume, partition, heal)"
        ),
    };
    let nodes = match parts.next() {
        None | Some("") => vec![],
        Some(list) => list
            .split(',')
            .map(|n| n.trim().trim_start_matches("node").parse())
            .collect::<Result<_, _>>()
            .with_context(|| format!("fault {text:?}: nodes are numbers, like 2,3"))?,
    };
    Ok(Fault {
        at_secs,
        kind,
        nodes,
    })
}

fn config(args: BenchArgs) -> Result<(BenchConfig, Option<PathBuf>)> {
    let mut c = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the scenario {}", path.display()))?;
            BenchConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => BenchConfig::default(),
    };
    if !args.validators.is_empty() {
        c.validators = args.validators;
    }
    if !args.rates.is_empty() {
        c.rates = args.rates;
    }
    if !args.offline.is_empty() {
        c.offline = args.offline;
    }
    let set = |field: &mut u64, value: Option<u64>| {
        if let Some(v) = value {
            *field = v;
        }
    };
    set(&mut c.duration_secs, args.duration_secs);
    set(&mut c.warmup_secs, args.warmup_secs);
    set(&mut c.block_interval_ms, args.block_interval_ms);
    set(&mut c.latency_cap_ms, args.latency_cap_ms);
    set(&mut c.latency_ms, args.latency_ms);
    set(&mut c.jitter_ms, args.jitter_ms);
    set(&mut c.burst_ms, args.burst_ms);
    set(&mut c.drain_secs, args.drain_secs);
    if let Some(v) = args.max_block_txs {
        c.max_block_txs = v;
    }
    if let Some(v) = args.mempool_max_txs {
        c.mempool_max_txs = v;
    }
    if let Some(v) = args.mempool_max_drain_ms {
        c.mempool_max_drain_ms = Some(v);
    }
    if args.no_account_history {
        c.index_account_history = false;
    }
    if let Some(v) = args.repeat {
        c.repeat = v;
    }
    if let Some(v) = args.tx_size {
        c.tx_size = v;
    }
    if let Some(v) = args.senders {
        c.senders = v;
    }
    for f in &args.faults {
        c.faults.push(parse_fault(f)?);
    }
    match args.engine.as_deref() {
        Some("docker") => c.engine = testnet::bench::config::Engine::Docker,
        Some(_) => c.engine = testnet::bench::config::Engine::Processes,
        None => {}
    }
    if args.cpus_per_validator.is_some() {
        c.cpus_per_validator = args.cpus_per_validator;
    }
    for b in &args.byzantine {
        let (node, behaviour) = b.split_once(':').with_context(|| {
            format!("--byzantine {b:?}: expected NODE:BEHAVIOUR, like 3:equivocate")
        })?;
        let node = node
            .trim_start_matches("node")
            .parse()
            .with_context(|| format!("--byzantine {b:?}: the node is a number"))?;
        c.byzantine.push(testnet::bench::config::ByzantineNode {
            node,
            behaviour: behaviour.to_string(),
        });
    }
    Ok((c, args.out))
}

#[derive(clap::Subcommand)]
enum BenchAction {
    /// Put finished runs side by side in one report: each run is named by the parameters that
    /// set it apart (else by its build), with a latency-vs-throughput plot of all of them.
    Compare {
        /// Result directories of `lantau bench` (each holds a summary.json).
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
        /// Where to write the report [default: bench-results/compare-<UTC time>, e.g.
        /// compare-2026-12-03T13-45-10Z].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn compare(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<()> {
    let runs = testnet::bench::compare::load(dirs)?;
    let out = out.unwrap_or_else(|| {
        PathBuf::from("bench-results").join(format!("compare-{}", crate::output::utc_folder_name()))
    });
    let report = testnet::bench::compare::write_report(&runs, &out)?;
    out!("{}", testnet::bench::compare::table(&runs));
    outln!("report: {}", report.display());
    Ok(())
}

pub fn run(mut args: BenchArgs) -> Result<()> {
    if let Some(BenchAction::Compare { dirs, out }) = args.action.take() {
        return compare(&dirs, out);
    }
    let (config, out) = config(args)?;
    config.validate()?;
    let out = out
        .unwrap_or_else(|| PathBuf::from("bench-results").join(crate::output::utc_folder_name()));
    let binary = std::env::current_exe().context("finding the lantau binary")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let mut progress = Progress::new();
    let outcome = runtime.block_on(testnet::bench::run(
        &config,
        &binary,
        &out,
        &mut |fraction, message| progress.bar(fraction, message),
    ))?;
    progress.finish(&format!("results in {}", out.display()));
    out!("{}", outcome.table);
    for line in outcome
        .points
        .iter()
        .filter_map(|p| p.stages.line(&p.label))
    {
        outln!("{line}");
    }
    match &outcome.peak {
        Some(p) => outln!(
            "peak: {:.0} committed tx/s with e2e p99 {:.0} ms <= {} ms ({})",
            p.committed_tps,
            p.e2e_latency_ms.p99,
            config.latency_cap_ms,
            p.label
        ),
        None => outln!(
            "peak: no complete point kept e2e p99 under {} ms",
            config.latency_cap_ms
        ),
    }
    outln!(
        "{}",
        outcome
            .ceiling
            .line(outcome.peak.as_ref().map(|p| p.committed_tps))
    );
    outln!("report: {}", outcome.report.display());
    let lost: usize = outcome.points.iter().map(|p| p.dropped).sum();
    if lost > 0 {
        bail!(
            "{lost} accepted transactions were never committed: the run failed (see samples.csv)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    #[test]
    fn flags_override_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("s.toml");
        std::fs::write(
            &scenario,
            "rates = [5]\nmempool_max_txs = 7\nburst_ms = 20\n",
        )
        .unwrap();
        let parsed = <Wrapper as clap::Parser>::parse_from([
            "bench",
            "--scenario",
            scenario.to_str().unwrap(),
            "--rates",
            "100,200",
            "--max-block-txs",
            "50",
            "--drain-secs",
            "3",
            "--fault",
            "1:kill:2",
        ]);
        let (c, out) = config(parsed.args).unwrap();
        assert_eq!(c.rates, [100, 200], "the flag wins");
        assert_eq!(
            (c.mempool_max_txs, c.burst_ms),
            (7, 20),
            "the file fills the rest"
        );
        assert_eq!((c.max_block_txs, c.drain_secs), (50, 3));
        assert_eq!(c.faults.len(), 1);
        assert!(out.is_none());
    }

    #[test]
    fn fault_flags_parse() {
        let f = parse_fault("5:partition:2,3").unwrap();
        assert_eq!(
            (f.at_secs, f.kind, f.nodes),
            (5.0, FaultKind::Partition, vec![2, 3])
        );
        assert_eq!(parse_fault("9.5:heal").unwrap().kind, FaultKind::Heal);
        assert_eq!(parse_fault("1:kill:node2").unwrap().nodes, vec![2]);
        assert!(parse_fault("x:kill:1").is_err());
        assert!(parse_fault("1:explode:1").is_err());
    }
}
