//! `lantau testnet init|up|down|status|logs`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use interface::http::NodeStatus;
use testnet::init::{InitOptions, local_defaults};
use testnet::manifest::Manifest;
use testnet::processes::{self, Stop};

use crate::output::{Progress, table, thousands};
use crate::runtime;

/// `$LANTAU_TESTNET_DIR`, else `~/.lantau/testnet`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LANTAU_TESTNET_DIR") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".lantau").join("testnet")
}

#[derive(Args)]
pub struct DirArg {
    /// The testnet directory.
    #[arg(long, env = "LANTAU_TESTNET_DIR", default_value_os_t = default_dir())]
    dir: PathBuf,
}

#[derive(Args)]
pub struct InitArgs {
    /// Number of validators, 1 to 100 (4 tolerates one faulty; 7 tolerates two). Default: 4.
    #[arg(long, value_parser = validator_count)]
    validators: Option<usize>,
    /// Name of the new chain. Default: lantau-testnet-<8 random hex digits>, new for every
    /// testnet, so a transfer signed for one cannot be replayed on another.
    #[arg(long)]
    chain_id: Option<String>,
    /// One host (IP or DNS name) per validator, comma-separated, to run the same validator
    /// set across machines: each home listens on 0.0.0.0 with ports 26656 (p2p) and 26657
    /// (API); copy `nodeI/` to host I and run `lantau start --home nodeI` there.
    #[arg(long, value_delimiter = ',')]
    hosts: Vec<String>,
    /// Needed with --hosts, whose genesis funds nothing else and is permissioned.
    #[command(flatten)]
    accounts: crate::keys::GenesisAccounts,
    /// Least time between blocks, in milliseconds.
    #[arg(long, default_value_t = 200)]
    block_interval_ms: u64,
    /// Run the validators as containers (Docker Engine with Compose), each its own host on
    /// a network of its own, from a docker-compose.yml written into the testnet folder; the
    /// image is built here from this binary (no registry needed).
    #[arg(long, conflicts_with = "hosts")]
    docker: bool,
    /// Also write Kubernetes manifests into <dir>/k8s for a real cluster: a StatefulSet of
    /// one pod per validator on different nodes, a headless Service whose DNS names genesis
    /// uses as p2p addresses, the genesis in a ConfigMap and the keys in a Secret; apply with
    /// `kubectl apply -k <dir>/k8s`. Permissioned like --hosts: give --account.
    #[arg(long, conflicts_with_all = ["hosts", "docker"])]
    k8s: bool,
    /// With --k8s: the namespace the manifests use.
    #[arg(long, default_value = "lantau", requires = "k8s")]
    namespace: String,
}

#[derive(Subcommand)]
pub enum TestnetCommand {
    /// Create N validator homes sharing one genesis, with funded demo accounts (keys in
    /// <dir>/keys/). Local testnets get free ports, so several can coexist.
    Init {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        init: InitArgs,
    },
    /// Start every validator as a background process (init first on a fresh directory) and
    /// wait until they produce blocks.
    Up {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        init: InitArgs,
        /// Give up waiting for blocks after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Stop every validator cleanly (SIGTERM; SIGKILL after 10 s).
    Down {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Stop every validator and delete the testnet's folder: homes, chains, keys and logs.
    /// Refuses a folder that holds no testnet.
    Rm {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Build the container image from this binary (what --docker testnets and the
    /// Kubernetes manifests run) and print its tag; --save also writes it as a tarball to
    /// `docker load` on another host or push to a cluster's registry.
    Image {
        /// Also write the image here (`docker save`).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Freeze one validator (SIGSTOP, or `docker pause`): it neither answers nor votes,
    /// and its links stay open. `testnet resume` lets it run again.
    Pause {
        #[command(flatten)]
        dir: DirArg,
        /// `node2` or `2`.
        node: String,
    },
    /// Let a paused validator run again.
    Resume {
        #[command(flatten)]
        dir: DirArg,
        /// `node2` or `2`.
        node: String,
    },
    /// Cut the links between groups of validators of a --docker testnet, e.g. `0,1|2,3`
    /// (2|2: no side has a quorum) or `node0|node1,node2,node3` (1|3). Replaces any earlier
    /// partition; `testnet heal` removes it.
    Partition {
        #[command(flatten)]
        dir: DirArg,
        /// Every validator once, groups separated by `|`, members by `,`.
        groups: String,
    },
    /// Remove a partition: every validator reaches every other again.
    Heal {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Stop one validator (a fault drill): cleanly, or with --kill as a crash (SIGKILL).
    Stop {
        #[command(flatten)]
        dir: DirArg,
        /// `node2` or `2`.
        node: String,
        /// SIGKILL instead of SIGTERM: a crash, not a clean stop.
        #[arg(long)]
        kill: bool,
    },
    /// Start one stopped validator again (`up` starts every stopped one).
    Start {
        #[command(flatten)]
        dir: DirArg,
        /// `node2` or `2`.
        node: String,
    },
    /// State (up, down, syncing, halted), committed height, round, peers and mempool of every
    /// validator; `--json` for the same as JSON rows.
    Status {
        #[command(flatten)]
        dir: DirArg,
        /// Print a JSON row per validator (name, api, pid, state, committed_height and its
        /// full `/v1/status`, or null when it does not answer).
        #[arg(long)]
        json: bool,
    },
    /// The last lines of the validators' logs.
    Logs {
        #[command(flatten)]
        dir: DirArg,
        /// Only this node (`node2` or `2`).
        node: Option<String>,
        /// Lines of each log to print (the last ones).
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
        /// Keep printing new lines (Ctrl-C to stop).
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

pub fn run(cmd: TestnetCommand) -> Result<()> {
    match cmd {
        TestnetCommand::Init { dir, init } => {
            let manifest = make(&dir.dir, &init)?;
            outln!(
                "initialised {} validators in {}",
                manifest.nodes.len(),
                dir.dir.display()
            );
            out!("{}", layout_table(&manifest));
            if init.k8s {
                outln!(
                    "apply them with: kubectl apply -k {}/{} (set the image the cluster pulls in its kustomization.yaml)",
                    dir.dir.display(),
                    testnet::k8s::K8S_DIR
                );
            } else if init.hosts.is_empty() {
                outln!(
                    "start them with: lantau testnet up --dir {}",
                    dir.dir.display()
                );
            } else {
                // `testnet up` would start every validator on this machine.
                let d = dir.dir.display();
                outln!(
                    "copy {d}/nodeI/ to host I and run `lantau start --home nodeI` there \
                     (genesis.json in each home names every validator's host)"
                );
            }
            Ok(())
        }
        TestnetCommand::Up {
            dir,
            init,
            timeout_secs,
        } => up(&dir.dir, &init, Duration::from_secs(timeout_secs)),
        TestnetCommand::Down { dir } => down(&dir.dir),
        TestnetCommand::Rm { dir } => rm(&dir.dir),
        TestnetCommand::Stop { dir, node, kill } => {
            let manifest = Manifest::load(&dir.dir)?;
            let (_, entry) = manifest.node(&node)?;
            if let Some(net) = &manifest.docker {
                testnet::docker::set_running(&dir.dir, net, &entry.name, false, kill)?;
                outln!("{} {}", if kill { "killed" } else { "stopped" }, entry.name);
                return Ok(());
            }
            let how = if kill { Stop::Kill } else { Stop::Graceful };
            if processes::stop_node(&dir.dir, entry, how, Duration::from_secs(10)) {
                outln!("{} {}", if kill { "killed" } else { "stopped" }, entry.name);
            } else {
                outln!("{} was not running", entry.name);
            }
            Ok(())
        }
        TestnetCommand::Start { dir, node } => {
            let manifest = Manifest::load(&dir.dir)?;
            let (_, entry) = manifest.node(&node)?;
            if let Some(net) = &manifest.docker {
                testnet::docker::set_running(&dir.dir, net, &entry.name, true, false)?;
                outln!("started {}; it catches up through block sync", entry.name);
                return Ok(());
            }
            let binary = std::env::current_exe().context("finding the lantau binary")?;
            let (pid, new) = processes::start_node(&binary, &dir.dir, entry)?;
            if new {
                outln!(
                    "started {} (pid {pid}); it catches up through block sync",
                    entry.name
                );
            } else {
                outln!("{} is already running (pid {pid})", entry.name);
            }
            Ok(())
        }
        TestnetCommand::Image { save } => {
            let binary = std::env::current_exe().context("finding the lantau binary")?;
            let tag = testnet::docker::ensure_image(&binary)?;
            if let Some(path) = save {
                testnet::docker::save_image(&tag, &path)?;
                eprintln!("wrote {} (`docker load -i` it elsewhere)", path.display());
            }
            outln!("{tag}");
            Ok(())
        }
        TestnetCommand::Pause { dir, node } => pause(&dir.dir, &node, true),
        TestnetCommand::Resume { dir, node } => pause(&dir.dir, &node, false),
        TestnetCommand::Partition { dir, groups } => {
            let (manifest, net) = docker_testnet(&dir.dir, "partition")?;
            let groups = groups
                .split('|')
                .map(|g| {
                    g.split(',')
                        .map(|name| manifest.node(name.trim()).map(|(i, _)| i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            testnet::docker_links::partition(&manifest, &net, &groups)?;
            let shown: Vec<String> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|&i| manifest.nodes[i].name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            outln!("partitioned {}", shown.join(" | "));
            Ok(())
        }
        TestnetCommand::Heal { dir } => {
            let (manifest, net) = docker_testnet(&dir.dir, "heal")?;
            testnet::docker_links::heal(&manifest, &net)?;
            outln!("healed: every validator reaches every other");
            Ok(())
        }
        TestnetCommand::Status { dir, json } => status(&dir.dir, json),
        TestnetCommand::Logs {
            dir,
            node,
            lines,
            follow,
        } => logs(&dir.dir, node.as_deref(), lines, follow),
    }
}

const DEFAULT_VALIDATORS: usize = 4;

/// Most validators a testnet or the demo runs on one machine.
pub const MAX_VALIDATORS: usize = 100;

/// A validator count from 1 to [`MAX_VALIDATORS`] (else a usage error: exit 2).
pub fn validator_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_VALIDATORS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?}: give a number of validators from 1 to {MAX_VALIDATORS}"
        )),
    }
}

/// Fewer than four validators tolerate no faulty one: worth a word before it surprises.
pub fn warn_if_no_fault_tolerated(validators: usize) {
    if validators < 4 {
        eprintln!(
            "note: {validators} validator{} tolerate{} no faulty or stopped validator; 4 tolerate one",
            if validators == 1 { "" } else { "s" },
            if validators == 1 { "s" } else { "" },
        );
    }
}

/// A new testnet in `dir`: processes, or containers with `--docker`.
fn make(dir: &Path, init: &InitArgs) -> Result<Manifest> {
    let options = init_options(init);
    if init.docker {
        let binary = std::env::current_exe().context("finding the lantau binary")?;
        return Ok(testnet::docker::init(dir, &options, &binary)?);
    }
    if init.k8s {
        let binary = std::env::current_exe().context("finding the lantau binary")?;
        let image = testnet::docker::image_tag(&binary)?;
        return Ok(testnet::k8s::init(dir, &options, &init.namespace, &image)?);
    }
    Ok(testnet::init::init(dir, &options)?)
}

fn init_options(args: &InitArgs) -> InitOptions {
    let validators = args.validators.unwrap_or(DEFAULT_VALIDATORS);
    warn_if_no_fault_tolerated(validators);
    let mut config = local_defaults(validators);
    config.block_interval_ms = args.block_interval_ms;
    InitOptions {
        validators,
        chain_id: args
            .chain_id
            .clone()
            .unwrap_or_else(testnet::init::fresh_chain_id),
        hosts: args.hosts.clone(),
        funded: args.accounts.accounts.clone(),
        receive_only: args.accounts.receive_only.clone(),
        open_receiving: args.accounts.open_receiving,
        config,
        docker: None,
    }
}

fn layout_table(manifest: &Manifest) -> String {
    let rows: Vec<Vec<String>> = manifest
        .nodes
        .iter()
        .map(|n| vec![n.name.clone(), n.api.clone(), n.p2p.clone()])
        .collect();
    table(&["node", "api", "p2p"], &rows)
}

fn up(dir: &Path, init: &InitArgs, timeout: Duration) -> Result<()> {
    if init.k8s {
        bail!(
            "--k8s writes manifests for a cluster: use `lantau testnet init --k8s`, then `kubectl apply -k <dir>/k8s`"
        );
    }
    if !init.hosts.is_empty() {
        bail!(
            "--hosts makes homes for other machines: use `lantau testnet init --hosts`, then start each home on its host"
        );
    }
    if !Manifest::exists(dir) {
        let options = init_options(init);
        eprintln!(
            "no testnet in {}; creating {} validators",
            dir.display(),
            options.validators
        );
        make(dir, init)?;
    }
    let manifest = Manifest::load(dir)?;
    // Flags that shape a new testnet cannot change an existing one: say so rather than
    // start the old one as if they had been applied.
    let remake = format!(
        "stop and remove it first (lantau testnet down --dir {d} && rm -r {d}) or pick another --dir",
        d = dir.display()
    );
    if let Some(n) = init.validators
        && n != manifest.nodes.len()
    {
        bail!(
            "the testnet in {} has {} validators, not {n}; {remake}",
            dir.display(),
            manifest.nodes.len()
        );
    }
    if let Some(chain) = &init.chain_id
        && *chain != manifest.chain_id
    {
        bail!(
            "the testnet in {} runs chain {:?}, not {chain:?}; {remake}",
            dir.display(),
            manifest.chain_id
        );
    }

    if init.docker && manifest.docker.is_none() {
        bail!(
            "the testnet in {} runs its validators as processes, not containers; {remake}",
            dir.display()
        );
    }
    let binary = std::env::current_exe().context("finding the lantau binary")?;
    if let Some(net) = &manifest.docker {
        crate::testnet_docker::up(dir, &manifest, net, &binary, timeout)?;
        status(dir, false)?;
        outln!();
        outln!(
            "demo keys: {}/keys/{{alice,bob,carol,dave}}.key",
            dir.display()
        );
        outln!(
            "compose:   {}/{} (project {})",
            dir.display(),
            testnet::docker::COMPOSE_FILE,
            net.project
        );
        outln!("dashboard: lantau dashboard --dir {}", dir.display());
        outln!(
            "stop:      lantau testnet down --dir {}  (removes the containers; the homes stay)",
            dir.display()
        );
        return Ok(());
    }
    let mut started = Vec::new();
    for node in &manifest.nodes {
        let (_, new) = processes::start_node(&binary, dir, node)?;
        if new {
            started.push(node.clone());
        }
    }
    if started.is_empty() {
        eprintln!(
            "all {} validators were already running",
            manifest.nodes.len()
        );
    }
    let mut progress = Progress::new();
    let all: Vec<usize> = (0..manifest.nodes.len()).collect();
    let waited = runtime()?.block_on(processes::wait_until_producing(
        dir,
        &manifest,
        &all,
        2,
        timeout,
        |statuses| {
            let answering = statuses.iter().flatten().count();
            let height = statuses
                .iter()
                .flatten()
                .map(|s| s.committed_height)
                .min()
                .unwrap_or(0);
            progress.update(&format!(
                "waiting for blocks: {answering}/{} validators answering, height {height}",
                statuses.len()
            ));
        },
    ));
    if let Err(e) = waited {
        progress.finish("the testnet did not become healthy");
        // The logs that explain it: an exited node's end is in the error itself; otherwise
        // those of the validators that never answered.
        if let testnet::TestnetError::NotHealthy { unreachable, .. } = &e {
            for node in manifest
                .nodes
                .iter()
                .filter(|n| unreachable.contains(&n.name))
            {
                if let Ok(lines) = processes::tail(&processes::log_path(dir, node), 5) {
                    eprintln!("--- {} (last lines of its log)", node.name);
                    for line in lines {
                        eprintln!("{line}");
                    }
                }
            }
        }
        // Leave nothing half-started behind.
        let mut stopped = Vec::new();
        for node in &started {
            if processes::stop_node(dir, node, processes::Stop::Graceful, Duration::from_secs(5)) {
                stopped.push(node.name.clone());
            }
        }
        if !stopped.is_empty() {
            eprintln!("stopped {} (started by this command)", stopped.join(", "));
        }
        return Err(e.into());
    }
    progress.finish(&format!(
        "{} validators are up and committing blocks",
        manifest.nodes.len()
    ));
    status(dir, false)?;
    outln!();
    outln!(
        "demo keys: {}/keys/{{alice,bob,carol,dave}}.key",
        dir.display()
    );
    outln!("logs:      lantau testnet logs --dir {}", dir.display());
    outln!("dashboard: lantau dashboard --dir {}", dir.display());
    outln!("stop:      lantau testnet down --dir {}", dir.display());
    Ok(())
}

/// A --docker testnet's manifest and network; `what` names the command for the error.
fn docker_testnet(dir: &Path, what: &str) -> Result<(Manifest, testnet::docker::DockerNet)> {
    let manifest = Manifest::load(dir)?;
    let Some(net) = manifest.docker.clone() else {
        bail!(
            "`testnet {what}` cuts links between containers: make the testnet with --docker (processes on one machine share loopback; `lantau bench --faults` cuts them through proxies)"
        );
    };
    Ok((manifest, net))
}

fn pause(dir: &Path, node: &str, paused: bool) -> Result<()> {
    let manifest = Manifest::load(dir)?;
    let (_, entry) = manifest.node(node)?;
    let verb = if paused { "paused" } else { "resumed" };
    if let Some(net) = &manifest.docker {
        testnet::docker::set_paused(dir, net, &entry.name, paused)?;
    } else if !processes::pause_node(dir, entry, paused) {
        bail!("{} is not running", entry.name);
    }
    outln!("{verb} {}", entry.name);
    Ok(())
}

fn down(dir: &Path) -> Result<()> {
    let manifest = Manifest::load(dir)?;
    if let Some(net) = &manifest.docker {
        testnet::docker::down(dir, net)?;
        outln!("stopped and removed {} containers", manifest.nodes.len());
        return Ok(());
    }
    let mut stopped = 0;
    for node in &manifest.nodes {
        if processes::stop_node(dir, node, Stop::Graceful, Duration::from_secs(10)) {
            outln!("stopped {}", node.name);
            stopped += 1;
        }
    }
    if stopped == 0 {
        outln!("no validator of {} was running", dir.display());
    }
    Ok(())
}

fn rm(dir: &Path) -> Result<()> {
    // Only what `testnet init` made: a folder with a manifest, never any other path.
    let manifest = Manifest::load(dir)?;
    if manifest.nodes.iter().any(|n| !n.runs_here()) {
        bail!(
            "{} is a testnet for other machines: its validators (and their keys) live there; remove the folder by hand if you mean to",
            dir.display()
        );
    }
    down(dir)?;
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    outln!("removed {}", dir.display());
    Ok(())
}

/// What a validator is doing, in one word: `down` (no answer), `halted` (fail-stop),
/// `syncing` (catching up by block sync) or `up`.
fn state_of(status: Option<&NodeStatus>) -> &'static str {
    match status {
        None => "down",
        Some(s) if s.halted.is_some() => "halted",
        Some(s) if s.syncing => "syncing",
        Some(_) => "up",
    }
}

fn status(dir: &Path, json: bool) -> Result<()> {
    let manifest = Manifest::load(dir)?;
    let statuses: Vec<Option<NodeStatus>> = runtime()?.block_on(processes::statuses(&manifest));
    if json {
        let nodes: Vec<_> = manifest
            .nodes
            .iter()
            .zip(&statuses)
            .map(|(n, s)| {
                // `committed_height`: the last block stored, as the table's "committed";
                // `status.height` is the one being decided (committed + 1).
                serde_json::json!({
                    "name": n.name,
                    "api": n.api,
                    "pid": processes::running_pid(dir, n),
                    "state": state_of(s.as_ref()),
                    "committed_height": s.as_ref().map(|s| s.committed_height),
                    "status": s,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&nodes)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = manifest
        .nodes
        .iter()
        .zip(&statuses)
        .map(|(n, s)| {
            let pid = processes::running_pid(dir, n).map_or("-".into(), |p| p.to_string());
            match s {
                Some(st) => vec![
                    n.name.clone(),
                    pid,
                    state_of(Some(st)).into(),
                    thousands(st.committed_height),
                    st.round.to_string(),
                    st.peers.to_string(),
                    thousands(st.mempool as u64),
                    n.api.clone(),
                ],
                None => vec![
                    n.name.clone(),
                    pid,
                    "down".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    n.api.clone(),
                ],
            }
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "node",
                "pid",
                "state",
                "committed",
                "round",
                "peers",
                "mempool (txs)",
                "api"
            ],
            &rows
        )
    );
    Ok(())
}

fn logs(dir: &Path, node: Option<&str>, lines: usize, follow: bool) -> Result<()> {
    let manifest = Manifest::load(dir)?;
    let nodes: Vec<_> = match node {
        Some(name) => vec![manifest.node(name)?.1.clone()],
        None => manifest.nodes.clone(),
    };
    let prefix = nodes.len() > 1;
    let mut offsets = Vec::new();
    for n in &nodes {
        let path = processes::log_path(dir, n);
        if !path.exists() {
            eprintln!("{}: no log yet ({})", n.name, path.display());
            offsets.push(0);
            continue;
        }
        for line in processes::tail(&path, lines)? {
            print_line(prefix, &n.name, &line);
        }
        offsets.push(std::fs::metadata(&path).map_or(0, |m| m.len()));
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(250));
        for (n, offset) in nodes.iter().zip(offsets.iter_mut()) {
            let path = processes::log_path(dir, n);
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            let len = file.metadata().map_or(0, |m| m.len());
            if len < *offset {
                *offset = 0; // truncated or replaced
            }
            if len == *offset {
                continue;
            }
            file.seek(SeekFrom::Start(*offset))?;
            let mut text = String::new();
            file.read_to_string(&mut text)?;
            // Hold back a partial last line until it is complete.
            let complete = text.rfind('\n').map_or(0, |i| i + 1);
            for line in text[..complete].lines() {
                print_line(prefix, &n.name, line);
            }
            *offset += complete as u64;
        }
    }
}

fn print_line(prefix: bool, name: &str, line: &str) {
    if prefix {
        outln!("{name} | {line}");
    } else {
        outln!("{line}");
    }
}
