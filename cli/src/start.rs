//! `lantau init` and `lantau start`: a validator home and the node that runs from it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use interface::demo::{DEMO_ACCOUNTS, DEMO_BALANCE, demo_key};
use node::api_server::{self, ApiLimits};
use node::{api, home, service};

use crate::log_file::RotatingFile;

pub fn init(
    home_dir: &Path,
    chain_id: &str,
    mut funded: Vec<(ledger::Address, u64)>,
    demo_accounts: bool,
) -> Result<()> {
    if demo_accounts {
        // The same demo accounts as a local testnet's, so the walk-through works on either.
        funded.extend(
            DEMO_ACCOUNTS
                .iter()
                .map(|s| (demo_key(s).public(), DEMO_BALANCE)),
        );
    }
    if funded.is_empty() {
        eprintln!(
            "note: genesis funds no account; pass --account ADDRESS:BALANCE (or --demo-accounts for a local walk-through)"
        );
    }
    interface::home::init(home_dir, chain_id, &funded)?;
    outln!(
        "initialised a single-validator home in {}",
        home_dir.display()
    );
    outln!("start it with: lantau start --home {}", home_dir.display());
    Ok(())
}

/// Where and how `lantau start` logs.
pub struct Logging {
    pub json: bool,
    pub file: Option<PathBuf>,
    pub max_bytes: u64,
    pub keep: usize,
}

impl Logging {
    fn init(&self) -> Result<()> {
        let filter =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        let fmt = tracing_subscriber::fmt().with_env_filter(filter);
        match (&self.file, self.json) {
            (Some(path), json) => {
                let file = RotatingFile::open(path, self.max_bytes, self.keep)
                    .with_context(|| format!("opening the log file {}", path.display()))?;
                let fmt = fmt.with_ansi(false).with_writer(Mutex::new(file));
                if json {
                    fmt.json().init();
                } else {
                    fmt.init();
                }
            }
            (None, true) => fmt.json().init(),
            // Colours only on a terminal.
            (None, false) => fmt
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init(),
        }
        // A panic reaches the log too, not only stderr (which may be a file rotated away).
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            tracing::error!(%info, "panic");
            default_hook(info);
        }));
        Ok(())
    }
}

/// Refuse a folder that is no home, and a home some process already runs, before anything is
/// opened: each with what to do rather than a missing file or RocksDB's lock error.
fn check_home(home_dir: &Path) -> Result<()> {
    let d = home_dir.display();
    if !home_dir.join("config.toml").exists() && !home_dir.join("genesis.json").exists() {
        anyhow::bail!(
            "{d} is not a lantau home (it has no config.toml or genesis.json): create one with `lantau init --home {d}`"
        );
    }
    if let Some(pid) = interface::procfs::lock_holder(&home_dir.join("data").join("LOCK"))
        && pid != std::process::id()
    {
        anyhow::bail!(
            "the home {d} is already running (pid {pid}): stop that node first (`kill {pid}`), or start another home"
        );
    }
    Ok(())
}

pub fn start(
    home_dir: &Path,
    byzantine: Option<interface::byzantine::Behaviour>,
    any_chain: bool,
    logging: &Logging,
) -> Result<()> {
    logging.init()?;
    node::metrics::set_build_info(env!("CARGO_PKG_VERSION"), env!("LANTAU_COMMIT"));
    let result = run(home_dir, byzantine, any_chain);
    // The `error:` line on stderr says it; a log file (often all an operator reads of a
    // service) gets it too.
    if let Err(e) = &result
        && logging.file.is_some()
    {
        tracing::error!("{e:#}");
    }
    result
}

fn run(
    home_dir: &Path,
    byzantine: Option<interface::byzantine::Behaviour>,
    any_chain: bool,
) -> Result<()> {
    check_home(home_dir)?;
    let mut loaded =
        home::load(home_dir).with_context(|| format!("loading the home {}", home_dir.display()))?;
    if let Some(behaviour) = byzantine {
        let chain = &loaded.setup.genesis.chain_id;
        if !any_chain && !node::byzantine::is_test_chain(chain) {
            anyhow::bail!(
                "refusing --byzantine {behaviour} on chain {chain:?}, whose id does not mark a test chain (test, bench, demo, devnet); add --i-know-this-is-a-test-chain if it is one"
            );
        }
        loaded.setup.byzantine = Some(behaviour);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async move {
        let api_listen = loaded.config.api_listen.clone();
        let (chain, validator) = (
            loaded.setup.genesis.chain_id.clone(),
            loaded.setup.validator_key.public(),
        );
        let p2p = loaded.setup.network.listen.to_string();
        let node = service::start(loaded.setup).context("starting the node")?;
        let height = node.status().await.map_or(0, |s| s.committed_height);
        // One line that says what runs: which build, which chain, which validator, from where.
        tracing::info!(
            version = crate::VERSION,
            %chain,
            %validator,
            committed_height = height,
            %p2p,
            api = %api_listen,
            home = %home_dir.display(),
            "lantau starting"
        );
        let listener = tokio::net::TcpListener::bind(&api_listen)
            .await
            .with_context(|| {
                format!("binding the API to {api_listen} (is another node using it?)")
            })?;
        tracing::info!(%api_listen, "API listening");
        let halted = node.clone();
        let metrics = node.metrics_handle();
        let app = api::router(node, loaded.config.api_max_body_bytes);
        let app = match loaded.api_token {
            Some(token) => api::require_token(app, token),
            None => app,
        };
        let limits = api_limits(&loaded.config);
        // Stop on a signal, or when the validator halts (fail-stop): then exit non-zero, so a
        // supervisor sees the failure instead of a validator that quietly stopped voting.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Option<String>>();
        tokio::spawn(async move {
            let reason = tokio::select! {
                _ = shutdown_signal() => None,
                reason = halted.halted() => Some(reason),
            };
            let _ = stop_tx.send(reason);
        });
        let (reason_tx, reason_rx) = tokio::sync::oneshot::channel::<Option<String>>();
        api_server::serve(listener, app, limits, metrics, async move {
            let reason = stop_rx.await.unwrap_or(None);
            let _ = reason_tx.send(reason);
        })
        .await;
        if let Ok(Some(reason)) = reason_rx.await {
            anyhow::bail!("the validator halted: {reason}");
        }
        // Every commit is one synced RocksDB write: stopping here loses nothing committed.
        tracing::info!("stopped");
        Ok(())
    })
}

/// The API's limits from config.toml, with the connection cap lowered if the open-file limit
/// (raised to its hard maximum first) would not leave descriptors for peers and storage.
fn api_limits(config: &interface::home::NodeConfig) -> ApiLimits {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let max_connections = api_server::connection_cap(config.api_max_connections, nofile);
    if max_connections < config.api_max_connections {
        tracing::warn!(
            nofile,
            max_connections,
            "the open-file limit is low: the API serves fewer connections than api_max_connections, keeping {} descriptors for peers and storage",
            api_server::FD_RESERVE
        );
    }
    ApiLimits {
        max_connections,
        header_timeout: Duration::from_millis(config.api_header_timeout_ms),
        request_timeout: Duration::from_millis(config.api_request_timeout_ms),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
