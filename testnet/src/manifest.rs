//! `testnet.toml`: what `lantau testnet init` created, so `up`, `down`, `status`, `logs` and
//! the clients know where every validator lives.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TestnetError;

pub const MANIFEST: &str = "testnet.toml";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub chain_id: String,
    pub nodes: Vec<NodeEntry>,
    /// Set for a testnet of containers (`init --docker`): the engine runs the validators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<crate::docker_net::DockerNet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: String,
    /// The validator's home, relative to the testnet directory.
    pub home: PathBuf,
    /// Base URL of its HTTP API.
    pub api: String,
    /// The libp2p address the others dial.
    pub p2p: String,
    /// Research runs: started with `--byzantine <this>` (see `lantau start --help`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<String>,
}

impl NodeEntry {
    /// Whether this validator lives on this machine (its API is on loopback). The homes of a
    /// `--hosts` testnet are for other machines: each holds a validator key that must be
    /// live in one place only.
    pub fn runs_here(&self) -> bool {
        let host = self
            .api
            .split("://")
            .nth(1)
            .unwrap_or(&self.api)
            .split('/')
            .next()
            .unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }
}

impl Manifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST)
    }

    pub fn exists(dir: &Path) -> bool {
        Self::path(dir).exists()
    }

    pub fn load(dir: &Path) -> Result<Self, TestnetError> {
        let path = Self::path(dir);
        let text = fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TestnetError::NoTestnet(dir.to_path_buf())
            } else {
                TestnetError::io(&path, e)
            }
        })?;
        toml::from_str(&text).map_err(|e| TestnetError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    pub fn save(&self, dir: &Path) -> Result<(), TestnetError> {
        let path = Self::path(dir);
        let text = toml::to_string_pretty(self).expect("manifest serialises");
        fs::write(&path, text).map_err(|e| TestnetError::io(&path, e))
    }

    /// The node named `name` (`node0`) or at index `name` (`0`).
    pub fn node(&self, name: &str) -> Result<(usize, &NodeEntry), TestnetError> {
        self.nodes
            .iter()
            .enumerate()
            .find(|(i, n)| n.name == name || i.to_string() == name)
            .ok_or_else(|| TestnetError::UnknownNode {
                name: name.into(),
                known: self.nodes.iter().map(|n| n.name.clone()).collect(),
            })
    }
}
