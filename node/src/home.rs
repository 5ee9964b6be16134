//! A validator's home directory: `config.toml`, `genesis.json`, `validator_key` (the
//! consensus signing key), `node_key` (the libp2p identity) and `data/` (RocksDB).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use consensus::Timeouts;
use ledger::{Genesis, Keypair, P2pEndpoint};
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::app::AppConfig;
use crate::network::NetworkConfig;
use crate::service::NodeSetup;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub peer_id: String,
    pub address: String,
}

const MAX_BLOCK_BYTES: usize = crate::network::MAX_GOSSIP_BYTES - 1024 * 1024;

/// `config.toml`. Every field has a default; unknown fields are an error (typos).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub moniker: String,
    pub p2p_listen: String,
    pub api_listen: String,
    pub api_max_body_bytes: usize,
    /// HTTP API connections served at once (more are closed on arrival). Lowered at start if
    /// the open-file limit would not leave 512 descriptors for peers and storage.
    pub api_max_connections: usize,
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    pub api_header_timeout_ms: u64,
    /// Time a request may take in all, body included (above the longest `?wait_ms`, 60 s).
    pub api_request_timeout_ms: u64,
    pub block_interval_ms: u64,
    pub max_block_txs: usize,
    /// At most 15 MiB: a proposal must fit in one 16 MiB gossip message.
    pub max_block_bytes: usize,
    pub mempool_max_txs: usize,
    pub mempool_max_bytes: usize,
    /// Blocks a transfer may wait in the mempool for an earlier nonce of its sender.
    pub mempool_gap_ttl_blocks: u64,
    /// Most transactions one sender may have waiting in the mempool.
    pub mempool_max_per_sender: usize,
    /// With an empty mempool the proposer waits up to this long after the last commit for a
    /// transaction before proposing an empty block (fewer empty blocks on an idle chain).
    /// Must be below `timeouts.propose_base_ms`; 0 = propose at once.
    pub empty_block_wait_ms: u64,
    /// Signature verification threads; 0 = one per core.
    pub verify_threads: usize,
    /// Addresses that replace genesis.json's for the given validators (a host moved). Only
    /// peer ids named in genesis are allowed.
    pub peer_address_overrides: Vec<Peer>,
    pub timeouts: Timeouts,
}

impl Default for NodeConfig {
    fn default() -> Self {
        let app = AppConfig::default();
        Self {
            moniker: "validator".into(),
            p2p_listen: "/ip4/127.0.0.1/tcp/26656".into(),
            api_listen: "127.0.0.1:26657".into(),
            api_max_body_bytes: 64 * 1024,
            api_max_connections: 512,
            api_header_timeout_ms: 10_000,
            api_request_timeout_ms: 75_000,
            block_interval_ms: 200,
            max_block_txs: app.max_block_txs,
            max_block_bytes: app.max_block_bytes,
            mempool_max_txs: app.max_mempool_txs,
            mempool_max_bytes: app.max_mempool_bytes,
            mempool_gap_ttl_blocks: app.mempool_gap_ttl_blocks,
            mempool_max_per_sender: app.max_pending_per_sender,
            empty_block_wait_ms: 500,
            verify_threads: 0,
            peer_address_overrides: vec![],
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    // Not `source`: the message already carries it, and error chains would print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0} already exists; refusing to overwrite it (choose another path)")]
    Exists(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |error| HomeError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn invalid(path: &Path, message: impl ToString) -> HomeError {
    HomeError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Write `contents` readable by the owner only (keys).
fn write_secret(path: &Path, contents: &str) -> Result<(), HomeError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(contents.as_bytes()).map_err(io(path))
}

fn read_secret(path: &Path) -> Result<[u8; 32], HomeError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| invalid(path, "expected 64 hex characters"))?;
    Ok(out)
}

/// Save an account or validator key: the hex of its 32-byte secret, owner-only (0600).
/// Refuses to overwrite an existing file.
pub fn write_key_file(path: &Path, key: &Keypair) -> Result<(), HomeError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    write_secret(path, &format!("{}\n", hex::encode(key.secret_bytes()))).map_err(|e| match e {
        HomeError::Io { error, .. } if error.kind() == std::io::ErrorKind::AlreadyExists => {
            HomeError::Exists(path.to_path_buf())
        }
        e => e,
    })
}

/// Load a key written by [`write_key_file`] (or a home's `validator_key`).
pub fn read_key_file(path: &Path) -> Result<Keypair, HomeError> {
    Ok(Keypair::from_secret(read_secret(path)?))
}

pub fn p2p_identity(secret: [u8; 32]) -> libp2p::identity::Keypair {
    let mut secret = secret;
    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
        .expect("32 bytes are an ed25519 secret")
}

/// The keys of a new validator home, written with owner-only permissions.
pub struct NewKeys {
    pub validator: ledger::PublicKey,
    pub peer_id: PeerId,
}

/// Write fresh `validator_key` and `node_key` files into `home` (created if missing).
pub fn generate_keys(home: &Path) -> Result<NewKeys, HomeError> {
    fs::create_dir_all(home).map_err(io(home))?;
    let validator = Keypair::generate();
    let node_secret: [u8; 32] = Keypair::generate().secret_bytes();
    write_secret(
        &home.join("validator_key"),
        &hex::encode(validator.secret_bytes()),
    )?;
    write_secret(&home.join("node_key"), &hex::encode(node_secret))?;
    Ok(NewKeys {
        validator: validator.public(),
        peer_id: p2p_identity(node_secret).public().to_peer_id(),
    })
}

/// Write `genesis.json` and `config.toml` into a home that has its keys.
pub fn write_home(home: &Path, genesis: &Genesis, config: &NodeConfig) -> Result<(), HomeError> {
    let genesis_path = home.join("genesis.json");
    genesis.validate().map_err(|e| invalid(&genesis_path, e))?;
    fs::write(&genesis_path, genesis.to_json()).map_err(io(&genesis_path))?;
    let config_path = home.join("config.toml");
    let text = toml::to_string_pretty(config).map_err(|e| invalid(&config_path, e))?;
    fs::write(&config_path, text).map_err(io(&config_path))
}

/// Refuse to initialise over an existing home.
pub fn ensure_fresh(home: &Path) -> Result<(), HomeError> {
    let genesis_path = home.join("genesis.json");
    if genesis_path.exists() {
        return Err(HomeError::Exists(genesis_path));
    }
    Ok(())
}

/// Create a single-validator home: keys, a genesis naming this validator (with its peer id
/// and address) and funding `funded` accounts, and a default config.
pub fn init(
    home: &Path,
    chain_id: &str,
    funded: &[(ledger::Address, u64)],
) -> Result<(), HomeError> {
    ensure_fresh(home)?;
    let keys = generate_keys(home)?;
    let config = NodeConfig::default();
    let mut genesis = Genesis::with_validators(chain_id, &[keys.validator], funded);
    genesis.validators[0].p2p = Some(P2pEndpoint {
        peer_id: keys.peer_id.to_string(),
        address: config.p2p_listen.clone(),
    });
    write_home(home, &genesis, &config)
}

/// Everything `lantau start` needs from a home.
pub struct Loaded {
    pub setup: NodeSetup,
    pub config: NodeConfig,
}

pub fn load(home: &Path) -> Result<Loaded, HomeError> {
    let config_path = home.join("config.toml");
    let text = fs::read_to_string(&config_path).map_err(io(&config_path))?;
    let config: NodeConfig = toml::from_str(&text).map_err(|e| invalid(&config_path, e))?;
    if config.max_block_bytes > MAX_BLOCK_BYTES {
        return Err(invalid(
            &config_path,
            format!(
                "max_block_bytes is {}; at most {MAX_BLOCK_BYTES} (a proposal must fit in one gossip message)",
                config.max_block_bytes
            ),
        ));
    }
    if config.empty_block_wait_ms >= config.timeouts.propose_base_ms {
        return Err(invalid(
            &config_path,
            format!(
                "empty_block_wait_ms ({}) must be below timeouts.propose_base_ms ({}), or the other validators give up on the proposal first",
                config.empty_block_wait_ms, config.timeouts.propose_base_ms
            ),
        ));
    }
    let genesis_path = home.join("genesis.json");
    let json = fs::read_to_string(&genesis_path).map_err(io(&genesis_path))?;
    let genesis = Genesis::from_json(&json).map_err(|e| invalid(&genesis_path, e))?;
    let validator_key = Keypair::from_secret(read_secret(&home.join("validator_key"))?);
    let node_key = p2p_identity(read_secret(&home.join("node_key"))?);
    let listen: Multiaddr = config
        .p2p_listen
        .parse()
        .map_err(|e| invalid(&config_path, format!("p2p_listen: {e}")))?;
    let peers = genesis_peers(&genesis, &config.peer_address_overrides)
        .map_err(|message| invalid(&genesis_path, message))?;
    let setup = NodeSetup {
        byzantine: None,
        dir: home.join("data"),
        genesis,
        validator_key,
        network: NetworkConfig {
            key: node_key,
            listen,
            peers,
        },
        timeouts: config.timeouts.clone(),
        block_interval: Duration::from_millis(config.block_interval_ms),
        app: AppConfig {
            max_block_txs: config.max_block_txs,
            max_block_bytes: config.max_block_bytes,
            max_mempool_txs: config.mempool_max_txs,
            max_mempool_bytes: config.mempool_max_bytes,
            mempool_gap_ttl_blocks: config.mempool_gap_ttl_blocks,
            max_pending_per_sender: config.mempool_max_per_sender,
            empty_block_wait_ms: config.empty_block_wait_ms,
            verify_threads: config.verify_threads,
        },
    };
    Ok(Loaded { setup, config })
}

/// Every validator's peer id and address from genesis, with `overrides` applied.
pub fn genesis_peers(
    genesis: &Genesis,
    overrides: &[Peer],
) -> Result<Vec<(PeerId, Multiaddr)>, String> {
    let mut peers = Vec::new();
    for v in &genesis.validators {
        let p2p = v.p2p.as_ref().ok_or_else(|| {
            format!(
                "validator {:?} has no p2p endpoint (peer_id, address); a networked chain needs one per validator",
                v.name
            )
        })?;
        let id: PeerId = p2p
            .peer_id
            .parse()
            .map_err(|e| format!("validator {:?}: peer id {}: {e}", v.name, p2p.peer_id))?;
        let addr: Multiaddr = p2p
            .address
            .parse()
            .map_err(|e| format!("validator {:?}: address {}: {e}", v.name, p2p.address))?;
        peers.push((id, addr));
    }
    for o in overrides {
        let id: PeerId = o
            .peer_id
            .parse()
            .map_err(|e| format!("address override: peer id {}: {e}", o.peer_id))?;
        let addr: Multiaddr = o
            .address
            .parse()
            .map_err(|e| format!("address override for {id}: {}: {e}", o.address))?;
        let slot = peers.iter_mut().find(|(p, _)| *p == id).ok_or_else(|| {
            format!("address override for {id}, which is not a genesis validator")
        })?;
        slot.1 = addr;
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_then_load_round_trips_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let alice = Keypair::from_seed("alice").public();
        init(dir.path(), "home-test", &[(alice, 5)]).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.setup.genesis.chain_id, "home-test");
        assert_eq!(loaded.setup.network.peers.len(), 1);
        assert_eq!(
            loaded.setup.network.peers[0].0,
            loaded.setup.network.key.public().to_peer_id()
        );
        assert!(matches!(
            init(dir.path(), "home-test", &[]),
            Err(HomeError::Exists(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("validator_key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn config_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "home-test", &[]).unwrap();
        fs::write(dir.path().join("config.toml"), "block_interval_msx = 3\n").unwrap();
        let err = load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("config.toml") && err.contains("block_interval_msx"),
            "{err}"
        );
        fs::write(
            dir.path().join("config.toml"),
            "empty_block_wait_ms = 5000\n",
        )
        .unwrap();
        let err = load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("propose_base_ms"), "{err}");
        // Partial configs take defaults for the rest.
        fs::write(
            dir.path().join("config.toml"),
            "block_interval_ms = 3\n[timeouts]\npropose_base_ms = 900\n",
        )
        .unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.config.block_interval_ms, 3);
        assert_eq!(loaded.config.timeouts.propose_base_ms, 900);
        assert_eq!(
            loaded.config.timeouts.prevote_base_ms,
            Timeouts::default().prevote_base_ms
        );
    }

    #[test]
    fn peers_come_from_genesis_and_overrides_only_move_addresses() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "home-test", &[]).unwrap();
        let genesis = load(dir.path()).unwrap().setup.genesis;
        let me = genesis.validators[0].p2p.clone().unwrap();
        let moved = Peer {
            peer_id: me.peer_id.clone(),
            address: "/ip4/10.0.0.7/tcp/4000".into(),
        };
        let peers = genesis_peers(&genesis, &[moved]).unwrap();
        assert_eq!(peers[0].1.to_string(), "/ip4/10.0.0.7/tcp/4000");

        let stranger = Peer {
            peer_id: p2p_identity([7; 32]).public().to_peer_id().to_string(),
            address: "/ip4/10.0.0.8/tcp/4000".into(),
        };
        let err = genesis_peers(&genesis, &[stranger]).unwrap_err();
        assert!(err.contains("not a genesis validator"), "{err}");

        let mut no_p2p = genesis.clone();
        no_p2p.validators[0].p2p = None;
        let err = genesis_peers(&no_p2p, &[]).unwrap_err();
        assert!(err.contains("no p2p endpoint"), "{err}");
    }
}
