//! `lantau bench`: fresh local testnets under open-loop load, with faults, measured from the
//! outside the way the hotstuff/Narwhal harness does, and written up as CSV, JSON, SVG and
//! one HTML report.
//!
//! One *point* is one (validator count, input rate) pair: sign the load, start a testnet of
//! separate `lantau start` processes, wait until it commits blocks, send for warm-up +
//! duration seconds while faults fire on schedule, drain, stop everything, and join what the
//! client sent with what an observing validator committed (`/v1/commits`).

pub mod audit;
pub mod compare;
pub mod config;
pub mod load;
pub mod plots;
pub mod proxy;
pub mod report;
pub mod resources;
pub mod results;
pub mod stats;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interface::home::{NodeConfig, Peer};
use interface::http::CommitInfo;
use interface::now_ms;
use ledger::Hash;
use tokio::time::Instant;

use crate::TestnetError;
use crate::client::Client;
use crate::init::{InitOptions, local_defaults};
use crate::manifest::Manifest;
use crate::processes::{self, Stop};
use config::{BenchConfig, FaultKind};
use load::{Ack, Workload};
use results::{AppliedFault, PointSummary, Window, write};

const CHAIN_ID: &str = "bench";

/// Progress of the whole run: (fraction done, what is happening).
pub type ProgressFn<'a> = &'a mut dyn FnMut(f64, &str);

/// What a run wrote, for the caller to print.
pub struct Outcome {
    pub points: Vec<PointSummary>,
    pub report: PathBuf,
    pub table: String,
    pub peak: Option<PointSummary>,
}

/// Run every point of `config` with the `lantau` at `binary`, writing into `out`.
pub async fn run(
    config: &BenchConfig,
    binary: &Path,
    out: &Path,
    progress: ProgressFn<'_>,
) -> Result<Outcome, TestnetError> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|e| TestnetError::io(out, e))?;
    let params = toml::to_string_pretty(config).expect("config serialises");
    let machine = machine_description(binary);
    write(&out.join("params.toml"), &params)?;
    write(&out.join("machine.txt"), &machine)?;

    // Repeats run back to back, so a slow drift of the machine shows in the interval.
    let pairs: Vec<(usize, u64, usize)> = config
        .validators
        .iter()
        .flat_map(|&n| config.rates.iter().map(move |&r| (n, r)))
        .flat_map(|(n, r)| (1..=config.repeat).map(move |k| (n, r, k)))
        .collect();
    let mut points = Vec::new();
    let mut timelines = Vec::new();
    let mut in_window = Vec::new();
    for (k, &(n, rate, run)) in pairs.iter().enumerate() {
        let label = if config.repeat > 1 {
            format!("{n}v-{rate}tps-r{run}")
        } else {
            format!("{n}v-{rate}tps")
        };
        let share = 1.0 / pairs.len() as f64;
        let mut point_progress = |f: f64, msg: &str| {
            progress(
                (k as f64 + f) * share,
                &format!("[{}/{}] {label}: {msg}", k + 1, pairs.len()),
            )
        };
        let dir = out.join("points").join(&label);
        let (summary, timeline, latencies) = run_point(
            config,
            n,
            rate,
            binary,
            &dir,
            label.clone(),
            &mut point_progress,
        )
        .await?;
        let throughput = plots::throughput_over_time(&summary, &timeline);
        write(&dir.join("throughput.svg"), &throughput)?;
        let latency = plots::latency_over_time(&summary, &latencies);
        write(&dir.join("latency.svg"), &latency)?;
        timelines.push((label.clone(), throughput, latency));
        let (from, to) = (summary.window_from_secs, summary.window_to_secs);
        let measured = latencies
            .iter()
            .filter(|(sent, _)| *sent >= from && *sent < to)
            .map(|&(_, ms)| ms)
            .collect();
        in_window.push((label, measured));
        points.push(summary);
    }
    progress(1.0, "writing the report");
    let cdf = plots::latency_cdf(&in_window);
    write(&out.join("latency_cdf.svg"), &cdf)?;
    let curve = plots::latency_vs_throughput(&points);
    write(&out.join("latency_vs_throughput.svg"), &curve)?;
    let machine_fields: serde_json::Value =
        toml::from_str(&machine).unwrap_or(serde_json::Value::Null);
    let aggregates = if config.repeat > 1 {
        stats::aggregate(&points)
    } else {
        vec![]
    };
    let run = results::RunSummary {
        version: machine_fields["lantau"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        params: config.clone(),
        machine: machine_fields,
        points: points.clone(),
        aggregates: aggregates.clone(),
    };
    write(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&run).expect("serialises"),
    )?;
    write(&out.join("summary.csv"), &report::summary_csv(&points))?;
    let html = report::html(&report::ReportInput {
        title: format!("lantau bench: {}", out.display()),
        parameters: params,
        machine,
        points: &points,
        aggregates: &aggregates,
        curve_svg: curve,
        cdf_svg: cdf,
        timelines,
        latency_cap_ms: config.latency_cap_ms,
    });
    let report_path = out.join("report.html");
    write(&report_path, &html)?;
    let mut table = report::summary_table(&points);
    if !aggregates.is_empty() {
        table.push('\n');
        table.push_str(&stats::aggregate_table(&aggregates));
    }
    Ok(Outcome {
        table,
        peak: report::peak_under_cap(&points, config.latency_cap_ms).cloned(),
        points,
        report: report_path,
    })
}

/// A point's summary, its (second, committed, sent) timeline and its (send second, e2e ms)
/// latencies.
type PointOutput = (PointSummary, Vec<(u64, usize, usize)>, Vec<(f64, f64)>);

/// Stops every validator of a point, even on an early return.
struct Teardown {
    dir: PathBuf,
    manifest: Manifest,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        for node in &self.manifest.nodes {
            processes::stop_node(&self.dir, node, Stop::Graceful, Duration::from_secs(5));
        }
    }
}

async fn run_point(
    config: &BenchConfig,
    n: usize,
    rate: u64,
    binary: &Path,
    dir: &Path,
    label: String,
    progress: &mut dyn FnMut(f64, &str),
) -> Result<PointOutput, TestnetError> {
    let total = (rate * (config.warmup_secs + config.duration_secs)) as usize;
    progress(0.0, &format!("signing {total} transfers"));
    let (senders, tx_size) = (config.senders, config.tx_size);
    let workload =
        tokio::task::spawn_blocking(move || load::presign(CHAIN_ID, total, senders, tx_size))
            .await
            .expect("signing finished");

    progress(0.02, "starting the testnet");
    let net_dir = dir.join("testnet");
    let _ = std::fs::remove_dir_all(&net_dir);
    let mut node_config = local_defaults(n);
    node_config.block_interval_ms = config.block_interval_ms;
    node_config.max_block_txs = config.max_block_txs;
    if let Some(ms) = config.mempool_max_drain_ms {
        node_config.mempool_max_drain_ms = ms;
    }
    if config.mempool_max_txs > 0 {
        node_config.mempool_max_txs = config.mempool_max_txs;
    }
    let funded = (0..config.senders)
        .map(|i| {
            (
                load::sender_key(i).public(),
                u64::MAX / (2 * config.senders as u64),
            )
        })
        .collect();
    let manifest = crate::init::init(
        &net_dir,
        &InitOptions {
            validators: n,
            chain_id: CHAIN_ID.into(),
            hosts: vec![],
            funded,
            config: node_config,
        },
    )?;
    let links = if config.needs_proxies() {
        Some(insert_proxies(&net_dir, &manifest, config).await?)
    } else {
        None
    };
    let teardown = Teardown {
        dir: net_dir.clone(),
        manifest: manifest.clone(),
    };
    let mut manifest = manifest;
    for b in &config.byzantine {
        manifest.nodes[b.node].byzantine = Some(b.behaviour.clone());
    }
    let live: Vec<usize> = (0..n).filter(|i| !config.offline.contains(i)).collect();
    for &i in &live {
        processes::start_node(binary, &net_dir, &manifest.nodes[i])?;
    }
    processes::wait_until_producing(
        &net_dir,
        &manifest,
        &live,
        2,
        Duration::from_secs(90),
        |_| {},
    )
    .await?;

    let observer_index = config::observer(config, n).expect("validated");
    let observer = Client::new(&manifest.nodes[observer_index].api);
    let first_height = observer
        .status()
        .await
        .map_err(|e| TestnetError::Usage(format!("observer: {e}")))?
        .committed_height
        + 1;
    let commits: Arc<Mutex<Vec<CommitInfo>>> = Arc::default();
    let collecting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let collector = tokio::spawn(collect(
        observer,
        first_height,
        commits.clone(),
        collecting.clone(),
    ));

    let load_start_ms = now_ms();
    let load_start = Instant::now();
    let generator_cpu_at_start = interface::procfs::usage(None).map_or(0.0, |u| u.cpu_secs);
    let applied: Arc<Mutex<Vec<AppliedFault>>> = Arc::default();
    let links = links.map(Arc::new);
    let faults = tokio::spawn(run_faults(
        config.clone(),
        binary.to_path_buf(),
        net_dir.clone(),
        manifest.clone(),
        links.clone(),
        load_start,
        applied.clone(),
    ));
    // Clients send to honest validators: a Byzantine one may drop what it is given, and that
    // is its choice, not a loss by the network.
    let targets: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| !config.is_byzantine(i))
        .collect();
    let clients: Vec<Client> = targets
        .iter()
        .map(|&i| Client::new(&manifest.nodes[i].api))
        .collect();
    let seconds = (config.warmup_secs + config.duration_secs) as f64;
    let mut sent = load::send(
        &workload,
        &clients,
        rate,
        Duration::from_millis(config.burst_ms),
        Duration::from_secs(config.drain_secs),
        |done| {
            let f = done as f64 / total.max(1) as f64;
            progress(
                0.05 + 0.85 * f,
                &format!(
                    "{:.0}/{seconds:.0} s, {done} sent, {} committed",
                    load_start.elapsed().as_secs_f64(),
                    commits
                        .lock()
                        .expect("lock")
                        .iter()
                        .map(|c| c.txs.len())
                        .sum::<usize>()
                ),
            )
        },
    )
    .await;
    // The generator numbers its clients; faults, samples.csv and the report name validators.
    for n in &mut sent.node {
        *n = targets[usize::from(*n)] as u16;
    }
    let _ = faults.await;

    progress(0.9, "draining");
    drain(
        &workload,
        &sent.acks,
        &commits,
        Duration::from_secs(config.drain_secs),
    )
    .await;
    collecting.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = collector.await;
    progress(0.95, "auditing the honest validators");
    let honest: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| !config.is_byzantine(i))
        .collect();
    let audit = audit::run(&net_dir, &manifest, &honest).await;
    let messages = messages_received(&manifest, &honest).await;
    let resources = resources::measure(&net_dir, &manifest, generator_cpu_at_start);
    progress(0.97, "stopping the testnet");
    if let Some(links) = &links {
        links.heal();
    }
    drop(teardown);
    drop(links);
    // The chains themselves are large and of no use after the run; logs and configs stay.
    for node in &manifest.nodes {
        let _ = std::fs::remove_dir_all(net_dir.join(&node.home).join("data"));
    }

    let commits = std::mem::take(&mut *commits.lock().expect("lock"));
    let window = Window {
        load_start_ms,
        start_ms: load_start_ms + config.warmup_secs * 1000,
        end_ms: load_start_ms + (config.warmup_secs + config.duration_secs) * 1000,
    };
    let faults = std::mem::take(&mut *applied.lock().expect("lock"));
    let id = results::PointId {
        label,
        validators: n,
        offered_tps: rate,
    };
    let mut data = results::analyse(id, &workload, &sent, &commits, &window, faults);
    data.summary.byzantine = config
        .byzantine
        .iter()
        .map(|b| format!("node{} {}", b.node, b.behaviour))
        .collect();
    data.summary.complete &= audit.is_clean();
    data.summary.messages_received = messages;
    data.summary.resources = resources;
    data.summary.audit = audit;
    results::write_point(dir, &data, &sent, &commits)?;
    Ok((data.summary, data.timeline, data.latencies))
}

/// p2p messages `nodes` received, by kind, summed from their `/metrics`.
async fn messages_received(manifest: &Manifest, nodes: &[usize]) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for &i in nodes {
        let client = Client::new(&manifest.nodes[i].api).with_timeout(Duration::from_secs(2));
        let Ok(text) = client.metrics().await else {
            continue;
        };
        for (kind, n) in parse_messages_received(&text) {
            *total.entry(kind).or_insert(0) += n;
        }
    }
    total
}

fn parse_messages_received(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("lantau_p2p_messages_received_total{kind=\""))
        .filter_map(|l| {
            let (kind, n) = l.split_once("\"} ")?;
            Some((kind.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

/// Poll the observer's commits until told to stop (and once more after).
async fn collect(
    client: Client,
    mut next: u64,
    out: Arc<Mutex<Vec<CommitInfo>>>,
    running: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        let keep_going = running.load(std::sync::atomic::Ordering::Relaxed);
        match client.commits(next).await {
            Ok(batch) if !batch.is_empty() => {
                next = batch.last().expect("non-empty").height + 1;
                let full = batch.len() == interface::http::MAX_COMMITS_PER_QUERY;
                out.lock().expect("lock").extend(batch);
                if full {
                    continue;
                }
            }
            _ => {}
        }
        if !keep_going {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until every accepted transaction is committed, or `limit`.
async fn drain(
    workload: &Workload,
    acks: &[Ack],
    commits: &Mutex<Vec<CommitInfo>>,
    limit: Duration,
) {
    let mut waiting: HashSet<Hash> = acks
        .iter()
        .enumerate()
        .filter(|(_, a)| **a == Ack::Accepted)
        .map(|(i, _)| workload.hashes[i])
        .collect();
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    while !waiting.is_empty() && Instant::now() < deadline {
        {
            let commits = commits.lock().expect("lock");
            for c in &commits[seen..] {
                for h in &c.txs {
                    waiting.remove(h);
                }
            }
            seen = commits.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The collector polls every 50 ms: let it catch the last commits.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Start a proxy per link and point every validator's dials at them.
async fn insert_proxies(
    dir: &Path,
    manifest: &Manifest,
    config: &BenchConfig,
) -> Result<proxy::Links, TestnetError> {
    let targets: Vec<SocketAddr> = manifest
        .nodes
        .iter()
        .map(|n| {
            let port = n.p2p.rsplit('/').next().and_then(|p| p.parse::<u16>().ok());
            SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0)))
        })
        .collect();
    let links = proxy::Links::start(
        &targets,
        Duration::from_millis(config.latency_ms),
        Duration::from_millis(config.jitter_ms),
    )
    .await?;
    let genesis_path = dir.join(&manifest.nodes[0].home).join("genesis.json");
    let genesis_text =
        std::fs::read_to_string(&genesis_path).map_err(|e| TestnetError::io(&genesis_path, e))?;
    let genesis = ledger::Genesis::from_json(&genesis_text).map_err(|e| TestnetError::Invalid {
        path: genesis_path.clone(),
        message: e.to_string(),
    })?;
    for (i, node) in manifest.nodes.iter().enumerate() {
        let path = dir.join(&node.home).join("config.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| TestnetError::io(&path, e))?;
        let mut c: NodeConfig = toml::from_str(&text).map_err(|e| TestnetError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        c.peer_address_overrides = genesis
            .validators
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter_map(|(j, v)| {
                Some(Peer {
                    peer_id: v.p2p.as_ref()?.peer_id.clone(),
                    address: format!("/ip4/127.0.0.1/tcp/{}", links.ports[&(i, j)]),
                })
            })
            .collect();
        write(
            &path,
            &toml::to_string_pretty(&c).expect("config serialises"),
        )?;
    }
    Ok(links)
}

async fn run_faults(
    config: BenchConfig,
    binary: PathBuf,
    dir: PathBuf,
    manifest: Manifest,
    links: Option<Arc<proxy::Links>>,
    load_start: Instant,
    applied: Arc<Mutex<Vec<AppliedFault>>>,
) {
    let mut faults = config.faults.clone();
    faults.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let n = manifest.nodes.len();
    for f in faults {
        tokio::time::sleep_until(load_start + Duration::from_secs_f64(f.at_secs)).await;
        let at_secs = load_start.elapsed().as_secs_f64();
        let names: Vec<String> = f
            .nodes
            .iter()
            .map(|&i| manifest.nodes[i].name.clone())
            .collect();
        let killed: Vec<u16> = match f.kind {
            FaultKind::Kill => f.nodes.iter().map(|&i| i as u16).collect(),
            _ => vec![],
        };
        let what = match f.kind {
            FaultKind::Partition | FaultKind::Heal => {
                if let Some(links) = &links {
                    match f.kind {
                        FaultKind::Partition => links.partition(&f.nodes, n),
                        _ => links.heal(),
                    }
                }
                describe(f.kind, &names)
            }
            kind => {
                let (dir, manifest, binary, nodes) = (
                    dir.clone(),
                    manifest.clone(),
                    binary.clone(),
                    f.nodes.clone(),
                );
                let _ = tokio::task::spawn_blocking(move || {
                    for i in nodes {
                        let node = &manifest.nodes[i];
                        match kind {
                            FaultKind::Kill => {
                                processes::stop_node(
                                    &dir,
                                    node,
                                    Stop::Kill,
                                    Duration::from_secs(5),
                                );
                            }
                            FaultKind::Stop => {
                                processes::stop_node(
                                    &dir,
                                    node,
                                    Stop::Graceful,
                                    Duration::from_secs(10),
                                );
                            }
                            FaultKind::Restart => {
                                let _ = processes::start_node(&binary, &dir, node);
                            }
                            FaultKind::Pause => {
                                processes::pause_node(&dir, node, true);
                            }
                            FaultKind::Resume => {
                                processes::pause_node(&dir, node, false);
                            }
                            FaultKind::Partition | FaultKind::Heal => {}
                        }
                    }
                })
                .await;
                describe(kind, &names)
            }
        };
        applied.lock().expect("lock").push(AppliedFault {
            at_secs,
            what,
            killed,
            done_secs: load_start.elapsed().as_secs_f64(),
        });
    }
}

fn describe(kind: FaultKind, nodes: &[String]) -> String {
    let kind = format!("{kind:?}").to_lowercase();
    if nodes.is_empty() {
        kind
    } else {
        format!("{kind} {}", nodes.join(","))
    }
}

/// The machine and the `lantau` build at `binary` (its `--version`: version, commit, rustc).
pub fn machine_description(binary: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("unknown".into(), |m| m.trim().to_string());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".into(), |k| k.trim().to_string());
    // The build that runs the validators, not whatever the working directory holds.
    let build = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    // The instruction sets the verification path can use.
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| {
            l.split_whitespace()
                .filter(|f| {
                    [
                        "avx2",
                        "avx512f",
                        "avx512ifma",
                        "bmi2",
                        "adx",
                        "sha_ni",
                        "aes",
                    ]
                    .contains(f)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into());
    format!(
        "cpu = {model:?}\ncpu_flags = {flags:?}\ncores = {}\nmemory = {memory:?}\nkernel = {kernel:?}\nlantau = {build:?}\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_counts_are_read_from_a_scrape() {
        let text = "# TYPE lantau_p2p_messages_received counter\n\
lantau_p2p_messages_received_total{kind=\"prevote\"} 120\n\
lantau_p2p_messages_received_total{kind=\"tx_batch\"} 7\n\
lantau_p2p_messages_sent_total{kind=\"prevote\"} 40\n\
# EOF\n";
        assert_eq!(
            super::parse_messages_received(text),
            [("prevote".to_string(), 120), ("tx_batch".to_string(), 7)]
        );
    }
}
