//! `lantau dashboard`: serve the live page of `testnet::dashboard` for a local testnet or
//! for validators anywhere.

use std::path::PathBuf;

use anyhow::{Context, Result};
use testnet::dashboard::{self, Target, aggregate::Names};
use testnet::manifest::Manifest;

use crate::runtime;
use crate::testnet_cmds::default_dir;

#[derive(clap::Args)]
pub struct DashboardArgs {
    /// The local testnet to show.
    #[arg(long, env = "LANTAU_TESTNET_DIR", default_value_os_t = default_dir())]
    dir: PathBuf,
    /// Validators anywhere instead, by API URL (comma-separated), e.g. the compose or
    /// Kubernetes deployments' published APIs.
    #[arg(long, value_delimiter = ',', value_name = "URL,...", value_parser = node_url)]
    nodes: Vec<String>,
    /// Where the page is served; port 0 picks a free one (printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
}

fn node_url(text: &str) -> Result<String, String> {
    testnet::client::parse_base_url(text)
}

pub fn run(args: DashboardArgs) -> Result<()> {
    let (targets, names) = if args.nodes.is_empty() {
        let manifest = Manifest::load(&args.dir)?;
        let targets = manifest
            .nodes
            .iter()
            .map(|n| Target {
                name: n.name.clone(),
                url: n.api.clone(),
            })
            .collect();
        // Names for keys and peer ids come from the testnet's own genesis.
        let names = manifest
            .nodes
            .first()
            .and_then(|n| std::fs::read_to_string(args.dir.join(&n.home).join("genesis.json")).ok())
            .and_then(|text| ledger::Genesis::from_json(&text).ok())
            .map(|g| dashboard::names_from_genesis(&g))
            .unwrap_or_default();
        (targets, names)
    } else {
        let targets = args
            .nodes
            .iter()
            .map(|url| Target {
                name: url.trim_start_matches("http://").to_string(),
                url: url.clone(),
            })
            .collect();
        (targets, Names::default())
    };
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr().context("reading the listening address")?;
        outln!("dashboard: http://{address}/  (Ctrl-C to stop)");
        tokio::select! {
            served = dashboard::serve(listener, targets, names) => served.context("serving the dashboard"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
