//! `lantau init` and `lantau start`: a validator home and the node that runs from it.

use std::path::Path;

use anyhow::{Context, Result};
use node::{api, home, service};
use testnet::init::{DEMO_ACCOUNTS, DEMO_BALANCE, demo_key};

pub fn init(home_dir: &Path, chain_id: &str) -> Result<()> {
    // The same demo accounts as a testnet's, so the walk-through works on either.
    let funded: Vec<_> = DEMO_ACCOUNTS
        .iter()
        .map(|s| (demo_key(s).public(), DEMO_BALANCE))
        .collect();
    home::init(home_dir, chain_id, &funded)?;
    println!(
        "initialised a single-validator home in {}",
        home_dir.display()
    );
    println!("start it with: lantau start --home {}", home_dir.display());
    Ok(())
}

pub fn start(home_dir: &Path) -> Result<()> {
    // Colours only on a terminal: `testnet up` sends the output to log files.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let loaded =
        home::load(home_dir).with_context(|| format!("loading the home {}", home_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async move {
        let api_listen = loaded.config.api_listen.clone();
        let node = service::start(loaded.setup).context("starting the node")?;
        let listener = tokio::net::TcpListener::bind(&api_listen)
            .await
            .with_context(|| {
                format!("binding the API to {api_listen} (is another node using it?)")
            })?;
        tracing::info!(%api_listen, "API listening");
        let app = api::router(node, loaded.config.api_max_body_bytes);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving the API")?;
        // Every commit is one synced RocksDB write: stopping here loses nothing committed.
        tracing::info!("stopped");
        Ok(())
    })
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
