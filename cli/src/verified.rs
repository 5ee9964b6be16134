//! Reads that a client checks instead of believing (`lantau query account`, `lantau query
//! tx`): the light client trusts only the chain's genesis file and checks every answer with
//! `testnet::light` (certificate against the validator set, then the proof against the
//! header). `--trust-node` takes the node's word instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use ledger::light::Trusted;

use crate::error_codes::coded;
use crate::testnet_cmds::default_dir;

#[derive(Args)]
pub struct TrustArgs {
    /// Take the node's answer without checking it (no genesis needed).
    #[arg(long)]
    pub trust_node: bool,
    /// The chain's genesis.json: the validator set answers are checked against. Default:
    /// the local testnet's (`lantau testnet up`). Unused with --trust-node.
    #[arg(long, env = "LANTAU_GENESIS")]
    pub genesis: Option<PathBuf>,
}

impl TrustArgs {
    /// What answers are checked against; None with `--trust-node`.
    pub fn trusted(&self) -> Result<Option<Trusted>> {
        if self.trust_node {
            return Ok(None);
        }
        let path = match &self.genesis {
            Some(path) => path.clone(),
            None => testnet_genesis().ok_or_else(|| {
                coded(
                    "no_genesis",
                    format!(
                        "a verified read needs the chain's genesis.json, and there is no local testnet in {}: pass --genesis FILE (or --trust-node to take the node's word)",
                        default_dir().display()
                    ),
                )
            })?,
        };
        let genesis = read_genesis(&path)?;
        let trusted = Trusted::from_genesis(&genesis)
            .with_context(|| format!("{}: its validator set", path.display()))?;
        Ok(Some(trusted))
    }
}

/// The local testnet's genesis (every home holds the same one).
fn testnet_genesis() -> Option<PathBuf> {
    let dir = default_dir();
    let manifest = testnet::manifest::Manifest::load(&dir).ok()?;
    let path = dir.join(&manifest.nodes.first()?.home).join("genesis.json");
    path.exists().then_some(path)
}

pub fn read_genesis(path: &Path) -> Result<ledger::Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ledger::Genesis::from_json(&text)
        .with_context(|| format!("{} is not a lantau genesis", path.display()))
}

/// A node's answer that did not verify: exit 1, code `not_verified`, and what failed.
pub fn refused(node: &str, e: testnet::light::Unverified) -> anyhow::Error {
    coded(
        "not_verified",
        format!("the answer of {node} did not verify, so it is not shown: {e}"),
    )
}
