//! Turning a validator home (`interface::home`: config.toml, genesis.json, keys) into what
//! the node runs: the libp2p identity, the peers from genesis, the application limits.

use std::path::Path;
use std::time::Duration;

use interface::home::{
    HomeError, NodeConfig, Peer, invalid, read_config, read_genesis, read_secret,
};
use ledger::{Genesis, Keypair};
use libp2p::{Multiaddr, PeerId};

use crate::app::AppConfig;
use crate::network::NetworkConfig;
use crate::service::NodeSetup;

/// A proposal must fit in one gossip message, with room for its envelope.
const MAX_BLOCK_BYTES: usize = crate::network::MAX_GOSSIP_BYTES - 1024 * 1024;

pub fn p2p_identity(secret: [u8; 32]) -> libp2p::identity::Keypair {
    let mut secret = secret;
    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
        .expect("32 bytes are an ed25519 secret")
}

/// Everything `lantau start` needs from a home.
pub struct Loaded {
    pub setup: NodeSetup,
    pub config: NodeConfig,
    /// The bearer token the API's writes and metrics require (`api_token_file`), if any.
    pub api_token: Option<String>,
}

pub fn load(home: &Path) -> Result<Loaded, HomeError> {
    let config_path = home.join("config.toml");
    let config = read_config(home)?;
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
    let genesis = read_genesis(home)?;
    let validator_key = Keypair::from_secret(read_secret(&home.join("validator_key"))?);
    let node_key = p2p_identity(read_secret(&home.join("node_key"))?);
    // A genesis that does not name this home's keys is not the one its members agreed on.
    interface::ceremony::check_names_home(
        &genesis,
        &validator_key.public(),
        &node_key.public().to_peer_id().to_string(),
    )
    .map_err(|message| invalid(&genesis_path, message))?;
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
            mempool_max_txs: config.mempool_max_txs,
            mempool_max_bytes: config.mempool_max_bytes,
            mempool_gap_ttl_blocks: config.mempool_gap_ttl_blocks,
            mempool_max_per_sender: config.mempool_max_per_sender,
            mempool_max_drain_ms: config.mempool_max_drain_ms,
            empty_block_wait_ms: config.empty_block_wait_ms,
            verify_threads: config.verify_threads,
            state_versions_kept: config.state_versions_kept,
            index_account_history: config.index_account_history,
        },
    };
    let api_token = read_api_token(home, &config.api_token_file)?;
    Ok(Loaded {
        setup,
        config,
        api_token,
    })
}

/// The token in `api_token_file` (relative to the home), trimmed; `None` when the key is
/// empty. A file that is missing or holds no token is an error: a node meant to be guarded
/// must not start open.
fn read_api_token(home: &Path, file: &str) -> Result<Option<String>, HomeError> {
    if file.is_empty() {
        return Ok(None);
    }
    let path = home.join(file);
    let token = std::fs::read_to_string(&path)
        .map_err(|e| invalid(&path, format!("api_token_file: {e}")))?
        .trim()
        .to_string();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            &path,
            "api_token_file must hold one token (no spaces); make one with e.g. `openssl rand -hex 32`",
        ));
    }
    Ok(Some(token))
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
    use interface::home::{HomeError, Peer, init};
    use ledger::Keypair;
    use ledger::timeouts::Timeouts;
    use std::fs;

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
    fn an_api_token_file_is_read_and_a_missing_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "home-test", &[]).unwrap();
        assert_eq!(load(dir.path()).unwrap().api_token, None);
        fs::write(
            dir.path().join("config.toml"),
            "api_token_file = \"api_token\"\n",
        )
        .unwrap();
        let err = load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("api_token"),
            "a guarded node must not start open: {err}"
        );
        fs::write(dir.path().join("api_token"), "  \n").unwrap();
        assert!(load(dir.path()).is_err(), "an empty token guards nothing");
        fs::write(dir.path().join("api_token"), "0123abcd\n").unwrap();
        assert_eq!(
            load(dir.path()).unwrap().api_token.as_deref(),
            Some("0123abcd")
        );
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

        assert_eq!(
            interface::home::peer_id_of([7; 32]),
            p2p_identity([7; 32]).public().to_peer_id().to_string(),
            "tools compute peer ids as libp2p does"
        );
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
