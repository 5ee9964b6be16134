//! One point: a fresh testnet of `n` validators under open-loop load at one rate, with its
//! faults, measured from the outside and written to its own folder.

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

use super::config::{self, BenchConfig, Engine};
use super::faults::run_faults;
use super::load::{self, Ack, Workload};
use super::results::{self, AppliedFault, PointSummary, Window, write};
use super::{CHAIN_ID, audit, proxy, resources};
use crate::TestnetError;
use crate::client::Client;
use crate::init::{InitOptions, local_defaults};
use crate::manifest::Manifest;
use crate::processes::{self, Stop};

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
        if let Some(net) = &self.manifest.docker {
            let _ = crate::docker::down(&self.dir, net);
            return;
        }
        for node in &self.manifest.nodes {
            processes::stop_node(&self.dir, node, Stop::Graceful, Duration::from_secs(5));
        }
    }
}

pub(super) async fn run_point(
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
    let Testnet {
        dir: net_dir,
        manifest,
        links,
        teardown,
        live,
    } = start_testnet(config, n, binary, dir).await?;

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
    // Measured before the audit, which re-reads and re-verifies every committed transfer
    // here: that is the harness checking, not the client's cost to the validators.
    let resources = resources::measure(&net_dir, &manifest, generator_cpu_at_start);
    progress(0.95, "auditing the honest validators");
    let honest: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| !config.is_byzantine(i))
        .collect();
    let audit = audit::run(&net_dir, &manifest, &honest).await;
    let metrics = scrape_metrics(&manifest, &honest).await;
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
    data.summary.messages_received = messages_received(&metrics);
    data.summary.stages = super::stages::Stages::from_metrics(&metrics);
    data.summary.resources = resources;
    data.summary.audit = audit;
    results::write_point(dir, &data, &sent, &commits)?;
    Ok((data.summary, data.timeline, data.latencies))
}

/// A point's testnet, running and committing.
struct Testnet {
    dir: PathBuf,
    manifest: Manifest,
    /// The proxies between validators, when the point needs latency or partitions.
    links: Option<proxy::Links>,
    teardown: Teardown,
    /// The validators started (all but the configured offline ones).
    live: Vec<usize>,
}

/// Write a fresh testnet into `dir/testnet` with the point's settings, put the proxies in
/// when needed, start its live validators and wait until they commit.
async fn start_testnet(
    config: &BenchConfig,
    n: usize,
    binary: &Path,
    dir: &Path,
) -> Result<Testnet, TestnetError> {
    let net_dir = dir.join("testnet");
    let _ = std::fs::remove_dir_all(&net_dir);
    let mut node_config = local_defaults(n);
    node_config.block_interval_ms = config.block_interval_ms;
    node_config.max_block_txs = config.max_block_txs;
    if let Some(ms) = config.mempool_max_drain_ms {
        node_config.mempool_max_drain_ms = ms;
    }
    node_config.index_account_history = config.index_account_history;
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
    let options = InitOptions {
        validators: n,
        chain_id: CHAIN_ID.into(),
        funded,
        config: node_config,
        ..InitOptions::default()
    };
    let manifest = match config.engine {
        Engine::Processes => crate::init::init(&net_dir, &options)?,
        Engine::Docker => crate::docker::init(&net_dir, &options, binary)?,
    };
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
    if let Some(net) = &manifest.docker {
        // The behaviours and CPU limits go into the compose file; the engine starts them.
        let image = crate::docker::ensure_image(binary)?;
        crate::docker::write_compose(&net_dir, &manifest, &image, config.cpus_per_validator)?;
        let services: Vec<String> = live
            .iter()
            .map(|&i| manifest.nodes[i].name.clone())
            .collect();
        crate::docker::up_only(&net_dir, net, binary, &services)?;
        crate::docker::wait_until_committing(&manifest, &live, 2, Duration::from_secs(90)).await?;
    } else {
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
    }
    Ok(Testnet {
        dir: net_dir,
        manifest,
        links,
        teardown,
        live,
    })
}

/// The `/metrics` text of each of `nodes` that answers.
async fn scrape_metrics(manifest: &Manifest, nodes: &[usize]) -> Vec<String> {
    let mut texts = Vec::new();
    for &i in nodes {
        let client = Client::new(&manifest.nodes[i].api).with_timeout(Duration::from_secs(2));
        if let Ok(text) = client.metrics().await {
            texts.push(text);
        }
    }
    texts
}

/// p2p messages received, by kind, summed over validators' `/metrics` texts.
fn messages_received(texts: &[String]) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for text in texts {
        for (kind, n) in parse_messages_received(text) {
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
            &interface::home::commented(&toml::to_string_pretty(&c).expect("config serialises")),
        )?;
    }
    Ok(links)
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
