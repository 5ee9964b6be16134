//! `lantau testnet init`: N validator homes sharing one genesis.

use std::fs;
use std::path::{Path, PathBuf};

use interface::ceremony;
use interface::home::{self, NodeConfig};
use interface::ports::free_local_port;
use ledger::Address;

use crate::TestnetError;
use crate::manifest::{Manifest, NodeEntry};

/// Accounts every testnet funds (their keys are also written to `<dir>/keys/<name>.key`).
pub use interface::demo::{DEMO_ACCOUNTS, DEMO_BALANCE, demo_key};

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub validators: usize,
    pub chain_id: String,
    /// One host per validator, for a testnet spread over machines; empty for 127.0.0.1 with
    /// free ports (so several local testnets can coexist).
    pub hosts: Vec<String>,
    /// Accounts to fund. A local testnet also funds the demo accounts (whose keys are
    /// public); one spread over `hosts` funds only these.
    pub funded: Vec<(Address, u64)>,
    /// On a `hosts` chain (permissioned: only `funded` accounts send): accounts that exist
    /// from genesis, with these balances, and may receive but never send.
    pub receive_only: Vec<(Address, u64)>,
    /// On a `hosts` chain: a transfer to an address with no account opens one.
    pub open_receiving: bool,
    /// Applied to every validator's config.toml.
    pub config: NodeConfig,
    /// Containers instead of processes: each validator a host of its own on this Docker
    /// network (its homes are written as for `hosts`, at the containers' addresses; the
    /// chain is open and funds the demo accounts, like any local testnet).
    pub docker: Option<crate::docker_net::DockerNet>,
}

/// A chain id no other default testnet shares. Signatures bind the chain id, so a transfer
/// signed for one testnet cannot be replayed on another made the same way.
pub fn fresh_chain_id() -> String {
    // A new signing key is 32 random bytes; its public key is a handy random hex string.
    let nonce = ledger::Keypair::generate().public().to_hex();
    format!("lantau-testnet-{}", &nonce[..8])
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            validators: 4,
            chain_id: fresh_chain_id(),
            hosts: vec![],
            docker: None,
            funded: vec![],
            receive_only: vec![],
            open_receiving: false,
            config: local_defaults(4),
        }
    }
}

/// Config for validators sharing this machine: verification threads split between them.
pub fn local_defaults(validators: usize) -> NodeConfig {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    NodeConfig {
        verify_threads: (cores / validators.max(1)).max(1),
        ..NodeConfig::default()
    }
}

/// The chain's permissions: none on a local testnet (every account may send, any address
/// receive, so options that shape permissions are refused there); on a `hosts` chain those
/// of `ceremony::permissions`, which refuses a chain on which no transfer could succeed.
fn permissions_of(options: &InitOptions) -> Result<Option<ledger::Permissions>, TestnetError> {
    if options.hosts.is_empty() {
        if !options.receive_only.is_empty() || options.open_receiving {
            return Err(TestnetError::Usage(
                "--receive-only and --open-receiving shape a --hosts chain's permissions; a local testnet lets every account send and any address receive".into(),
            ));
        }
        return Ok(None);
    }
    ceremony::permissions(
        &options.funded,
        &options.receive_only,
        options.open_receiving,
    )
    .map(Some)
    .map_err(ceremony_error)
}

fn ceremony_error(e: ceremony::CeremonyError) -> TestnetError {
    match e {
        ceremony::CeremonyError::Home(e) => e.into(),
        ceremony::CeremonyError::Usage(m) => TestnetError::Usage(m),
        e => TestnetError::Usage(e.to_string()),
    }
}

/// A libp2p address for `host` (an IP or a DNS name).
fn p2p_address(host: &str, port: u16) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => format!("/ip4/{ip}/tcp/{port}"),
        Ok(std::net::IpAddr::V6(ip)) => format!("/ip6/{ip}/tcp/{port}"),
        Err(_) => format!("/dns4/{host}/tcp/{port}"),
    }
}

pub fn init(dir: &Path, options: &InitOptions) -> Result<Manifest, TestnetError> {
    let n = options.validators;
    if n == 0 {
        return Err(TestnetError::Usage(
            "a testnet needs at least 1 validator".into(),
        ));
    }
    if !options.hosts.is_empty() && options.hosts.len() != n {
        return Err(TestnetError::Usage(format!(
            "{} hosts given for {n} validators; give one host per validator",
            options.hosts.len()
        )));
    }
    // Keys derived from public seeds are anyone's: never fund them on a chain meant for other
    // machines.
    let demo = options.hosts.is_empty();
    let docker_hosts: Vec<String> = options
        .docker
        .as_ref()
        .map(|net| (0..n).map(|i| net.ip(i)).collect())
        .unwrap_or_default();
    // Decided before anything is written: a refused chain leaves no half-made homes.
    let permissions = permissions_of(options)?;
    if Manifest::exists(dir) {
        return Err(TestnetError::Exists(Manifest::path(dir)));
    }
    fs::create_dir_all(dir).map_err(|e| TestnetError::io(dir, e))?;

    struct Planned {
        home: PathBuf,
        config: NodeConfig,
        entry: NodeEntry,
        /// The home's genesis entry, made as a consortium member makes its own.
        signed: ceremony::SignedEntry,
    }
    let mut planned = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("node{i}");
        let home_dir = dir.join(&name);
        home::ensure_fresh(&home_dir)?;
        let mut config = options.config.clone();
        config.moniker = name.clone();
        let (p2p, api) = match options.hosts.get(i).or(docker_hosts.get(i)) {
            None => {
                let (p2p_port, api_port) = (free_local_port(), free_local_port());
                config.p2p_listen = p2p_address("127.0.0.1", p2p_port);
                config.api_listen = format!("127.0.0.1:{api_port}");
                (
                    config.p2p_listen.clone(),
                    format!("http://127.0.0.1:{api_port}"),
                )
            }
            Some(host) => {
                // One validator per machine: the usual ports, reachable from the others, and
                // the host's own cores (0 = one verification thread per core, counted where
                // it starts), not a share of this machine's.
                config.p2p_listen = "/ip4/0.0.0.0/tcp/26656".into();
                config.api_listen = "0.0.0.0:26657".into();
                config.verify_threads = 0;
                let api = if options.docker.is_some() {
                    // Published on this machine's loopback (see `docker::compose_file`).
                    format!("http://127.0.0.1:{}", free_local_port())
                } else {
                    format!("http://{host}:26657")
                };
                (p2p_address(host, 26656), api)
            }
        };
        let signed = ceremony::make_entry(&home_dir, &name, &p2p, 1).map_err(ceremony_error)?;
        planned.push(Planned {
            home: home_dir,
            config,
            entry: NodeEntry {
                name,
                home: PathBuf::from(format!("node{i}")),
                api,
                p2p,
                byzantine: None,
            },
            signed,
        });
    }

    let demo_accounts: &[&str] = if demo { &DEMO_ACCOUNTS } else { &[] };
    let mut funded: Vec<(Address, u64)> = demo_accounts
        .iter()
        .map(|name| (demo_key(name).public(), DEMO_BALANCE))
        .collect();
    funded.extend(options.funded.iter().copied());
    funded.extend(options.receive_only.iter().copied());
    let entries: Vec<ceremony::SignedEntry> = planned.iter().map(|p| p.signed.clone()).collect();
    let mut genesis =
        ceremony::assemble(&options.chain_id, &entries, &funded).map_err(ceremony_error)?;
    // A chain for real machines is permissioned: only the accounts named may send, and
    // transfers open no new accounts unless asked to.
    genesis.permissions = permissions;
    for p in &planned {
        home::write_home(&p.home, &genesis, &p.config)?;
    }
    for name in demo_accounts {
        home::write_key_file(
            &dir.join("keys").join(format!("{name}.key")),
            &demo_key(name),
        )?;
    }
    let manifest = Manifest {
        chain_id: options.chain_id.clone(),
        nodes: planned.into_iter().map(|p| p.entry).collect(),
        docker: options.docker.clone(),
    };
    manifest.save(dir)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_share_one_genesis_with_every_peer() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = init(dir.path(), &InitOptions::default()).unwrap();
        assert_eq!(manifest.nodes.len(), 4);
        let genesis = fs::read_to_string(dir.path().join("node0/genesis.json")).unwrap();
        for i in 1..4 {
            let other = fs::read_to_string(dir.path().join(format!("node{i}/genesis.json")));
            assert_eq!(other.unwrap(), genesis);
        }
        let node2 = dir.path().join("node2");
        let genesis = home::read_genesis(&node2).unwrap();
        assert!(genesis.validators.iter().all(|v| v.p2p.is_some()));
        assert_eq!(genesis.validators.len(), 4);
        assert_eq!(home::read_config(&node2).unwrap().moniker, "node2");
        let ports: std::collections::HashSet<_> = manifest.nodes.iter().map(|n| &n.api).collect();
        assert_eq!(ports.len(), 4, "every validator gets its own API port");
        let alice = home::read_key_file(&dir.path().join("keys/alice.key")).unwrap();
        assert_eq!(alice.public(), demo_key("alice").public());
        assert!(matches!(
            init(dir.path(), &InitOptions::default()),
            Err(TestnetError::Exists(_))
        ));
    }

    /// Every default testnet funds the same demo keys, so a transfer signed for one would
    /// replay on every other if they shared a chain id (signatures bind it). Each gets its own.
    #[test]
    fn a_transfer_signed_for_one_default_testnet_does_not_replay_on_another() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        init(a.path(), &InitOptions::default()).unwrap();
        init(b.path(), &InitOptions::default()).unwrap();
        let ga = home::read_genesis(&a.path().join("node0")).unwrap();
        let gb = home::read_genesis(&b.path().join("node0")).unwrap();
        assert_ne!(ga.chain_id, gb.chain_id);
        assert!(
            ga.chain_id.starts_with("lantau-testnet-"),
            "{}",
            ga.chain_id
        );
        let alice = demo_key("alice");
        let paid = ledger::Transfer {
            chain_id: ga.chain_id.clone(),
            from: alice.public(),
            to: demo_key("bob").public(),
            amount: 1,
            nonce: 0,
            memo: vec![],
        };
        let on = |g: &ledger::Genesis| {
            ledger::State::from_genesis(g).check_transfer(&ledger::ChainRules::of(g), &paid)
        };
        assert_eq!(on(&ga), Ok(()));
        assert!(
            matches!(on(&gb), Err(ledger::TransferError::WrongChain { .. })),
            "{:?}",
            on(&gb)
        );
        assert!(interface::byzantine::is_test_chain(&ga.chain_id));
    }

    #[test]
    fn hosts_give_each_validator_a_reachable_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = InitOptions {
            validators: 2,
            hosts: vec!["10.0.0.1".into(), "val-b.example".into()],
            ..InitOptions::default()
        };
        // A chain for other machines funds only what it is told to, never a demo key.
        assert!(matches!(
            init(dir.path(), &options),
            Err(TestnetError::Usage(m)) if m.contains("--account")
        ));
        let treasury = ledger::Keypair::from_seed("treasury-of-record").public();
        options.funded = vec![(treasury, 5_000)];
        // One sender and nowhere to send: a chain that could never move money.
        assert!(matches!(
            init(dir.path(), &options),
            Err(TestnetError::Usage(m)) if m.contains("--receive-only")
        ));
        let shop = ledger::Keypair::from_seed("shop").public();
        options.receive_only = vec![(shop, 0)];
        let manifest = init(dir.path(), &options).unwrap();
        let genesis = interface::home::read_genesis(&dir.path().join("node0")).unwrap();
        let funded: Vec<_> = genesis
            .accounts
            .iter()
            .map(|a| (a.address, a.balance))
            .collect();
        assert_eq!(funded, vec![(treasury, 5_000), (shop, 0)]);
        let permissions = genesis
            .permissions
            .clone()
            .expect("a --hosts chain is permissioned");
        assert_eq!(permissions.senders, vec![treasury]);
        assert!(!permissions.open_receiving);
        // The treasury can pay the shop; the shop can pay no one.
        let rules = ledger::ChainRules::of(&genesis);
        let state = ledger::State::from_genesis(&genesis);
        let pay = |from, to| ledger::Transfer {
            chain_id: genesis.chain_id.clone(),
            from,
            to,
            amount: 1,
            nonce: 0,
            memo: vec![],
        };
        assert!(state.check_transfer(&rules, &pay(treasury, shop)).is_ok());
        assert!(state.check_transfer(&rules, &pay(shop, treasury)).is_err());
        assert!(!dir.path().join("keys").exists(), "no demo keys written");
        let config = interface::home::read_config(&dir.path().join("node0")).unwrap();
        assert_eq!(config.verify_threads, 0, "the host's cores, counted there");
        assert_eq!(manifest.nodes[0].p2p, "/ip4/10.0.0.1/tcp/26656");
        assert_eq!(manifest.nodes[1].p2p, "/dns4/val-b.example/tcp/26656");
        assert_eq!(manifest.nodes[1].api, "http://val-b.example:26657");
        let wrong = InitOptions {
            validators: 3,
            ..options
        };
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(other.path(), &wrong),
            Err(TestnetError::Usage(_))
        ));
    }
}
