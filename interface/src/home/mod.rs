//! A validator's home directory: `config.toml`, `genesis.json`, `validator_key` (the
//! consensus signing key), `node_key` (the libp2p identity) and `data/` (RocksDB). Writing
//! and reading the files; turning them into a running node is `node::home`'s job.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ledger::timeouts::Timeouts;
use ledger::{Genesis, Keypair, P2pEndpoint};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub peer_id: String,
    pub address: String,
}

/// What each `config.toml` key means: the comments written into every generated
/// `config.toml` and the README's table come from here (a test holds them equal).
pub const CONFIG_DOCS: &[(&str, &str)] = &[
    ("moniker", "A name for this node in logs."),
    (
        "p2p_listen",
        "libp2p listen address (multiaddr) for the other validators.",
    ),
    ("api_listen", "HTTP API address (host:port)."),
    (
        "api_max_body_bytes",
        "Largest request body the API accepts (413 `body_too_large` above).",
    ),
    (
        "api_max_connections",
        "HTTP API connections served at once; more are closed on arrival. Lowered at start if the open-file limit would not leave 512 descriptors for peers and storage.",
    ),
    (
        "api_header_timeout_ms",
        "Time a client has to send a request's headers; also how long an idle keep-alive connection stays open.",
    ),
    (
        "api_request_timeout_ms",
        "Time a request may take in all, body included (408 `request_timeout`); above the longest `?wait_ms` (60 s).",
    ),
    (
        "block_interval_ms",
        "Least time between a commit and this validator's next proposal.",
    ),
    (
        "max_block_txs",
        "Most transactions in a block this validator proposes.",
    ),
    (
        "max_block_bytes",
        "Most bytes of transactions in a block this validator proposes; at most 15 MiB (a proposal must fit in one 16 MiB gossip message).",
    ),
    (
        "mempool_max_txs",
        "Transactions the mempool holds; beyond, submissions get 503 `mempool_full`.",
    ),
    (
        "mempool_max_bytes",
        "Bytes the mempool holds; beyond, submissions get 503 `mempool_full`.",
    ),
    (
        "mempool_max_drain_ms",
        "Admit only what the chain commits within this long at its rate over the last seconds (never less than `max_block_txs`); beyond, 503 `mempool_full` with Retry-After, so overload becomes early refusals instead of a queue. 0 = count and byte bounds only.",
    ),
    (
        "mempool_gap_ttl_blocks",
        "Blocks a transfer may wait in the mempool for an earlier nonce of its sender.",
    ),
    (
        "mempool_max_per_sender",
        "Most transactions one sender may have waiting (429 `sender_limit` beyond).",
    ),
    (
        "empty_block_wait_ms",
        "With an empty mempool, how long the proposer waits after the last commit for a transaction before proposing an empty block; below `timeouts.propose_base_ms`; 0 = at once.",
    ),
    (
        "verify_threads",
        "Signature verification threads; 0 = one per core.",
    ),
    (
        "peer_address_overrides",
        "`[[peer_address_overrides]]` entries (`peer_id`, `address`) that replace genesis.json's address for a validator whose host moved; only peer ids named in genesis are allowed.",
    ),
    (
        "timeouts.propose_base_ms",
        "Time to wait for a proposal in round 0.",
    ),
    (
        "timeouts.propose_delta_ms",
        "Added to the proposal wait per round.",
    ),
    (
        "timeouts.prevote_base_ms",
        "Time to wait for more prevotes after any 2f+1 arrived, in round 0.",
    ),
    (
        "timeouts.prevote_delta_ms",
        "Added to the prevote wait per round.",
    ),
    (
        "timeouts.precommit_base_ms",
        "Time to wait for more precommits after any 2f+1 arrived, in round 0, before the next round.",
    ),
    (
        "timeouts.precommit_delta_ms",
        "Added to the precommit wait per round.",
    ),
    (
        "timeouts.rebroadcast_ms",
        "How often a validator re-sends its votes of the height, its current proposal, the previous round's precommits and the proof-of-lock of its valid block, so messages lost before the network stabilised cannot stall a height.",
    ),
];

/// `config.toml`. Every field has a default; unknown fields are an error (typos). What each
/// key means is in [`CONFIG_DOCS`].
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
    /// Admit only what commits within this long at the recent commit rate; 0 = off.
    pub mempool_max_drain_ms: u64,
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
        Self {
            moniker: "validator".into(),
            p2p_listen: "/ip4/127.0.0.1/tcp/26656".into(),
            api_listen: "127.0.0.1:26657".into(),
            api_max_body_bytes: 64 * 1024,
            api_max_connections: 512,
            api_header_timeout_ms: 10_000,
            api_request_timeout_ms: 75_000,
            block_interval_ms: 200,
            max_block_txs: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
            mempool_max_txs: 100_000,
            mempool_max_bytes: 64 * 1024 * 1024,
            mempool_max_drain_ms: 1_500,
            mempool_gap_ttl_blocks: 100,
            mempool_max_per_sender: 10_000,
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

/// An I/O error on `path`.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |error| HomeError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// An error naming `path` and what is wrong with it.
pub fn invalid(path: &Path, message: impl ToString) -> HomeError {
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

/// The 32-byte secret in a key file (hex).
pub fn read_secret(path: &Path) -> Result<[u8; 32], HomeError> {
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

/// The libp2p peer id of the node key `secret`, as libp2p writes it: base58 of the identity
/// multihash of the protobuf-encoded ed25519 public key. Computed here so tools that write
/// homes need not link libp2p; the node checks it against libp2p's own answer (`node::home`).
pub fn peer_id_of(secret: [u8; 32]) -> String {
    let public = Keypair::from_secret(secret).public();
    // multihash: identity (0x00), 36 bytes; protobuf: field 1 = KeyType Ed25519 (1),
    // field 2 = 32 bytes of key.
    let mut bytes = vec![0x00, 36, 0x08, 0x01, 0x12, 32];
    bytes.extend_from_slice(public.as_bytes());
    bs58::encode(bytes).into_string()
}

/// The keys of a new validator home, written with owner-only permissions.
pub struct NewKeys {
    pub validator: ledger::PublicKey,
    pub peer_id: String,
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
        peer_id: peer_id_of(node_secret),
    })
}

/// Write `genesis.json` and `config.toml` into a home that has its keys.
pub fn write_home(home: &Path, genesis: &Genesis, config: &NodeConfig) -> Result<(), HomeError> {
    let genesis_path = home.join("genesis.json");
    genesis.validate().map_err(|e| invalid(&genesis_path, e))?;
    fs::write(&genesis_path, genesis.to_json()).map_err(io(&genesis_path))?;
    let config_path = home.join("config.toml");
    let text = toml::to_string_pretty(config).map_err(|e| invalid(&config_path, e))?;
    fs::write(&config_path, commented(&text)).map_err(io(&config_path))
}

/// `config.toml` text with each key's meaning from [`CONFIG_DOCS`] written above it.
pub fn commented(toml_text: &str) -> String {
    let mut out = String::from(
        "# lantau validator configuration. Every key may be left out (its default applies);\n# unknown keys are refused.\n\n",
    );
    let mut table = String::new();
    for line in toml_text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|t| t.strip_suffix("]]"))
        {
            table = String::new();
            if let Some((_, doc)) = CONFIG_DOCS.iter().find(|(k, _)| *k == name) {
                out.push_str(&comment(doc));
            }
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            table = format!("{name}.");
        } else if let Some((key, _)) = trimmed.split_once(" = ") {
            let full = format!("{table}{key}");
            if let Some((_, doc)) = CONFIG_DOCS.iter().find(|(k, _)| *k == full) {
                out.push_str(&comment(doc));
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn comment(doc: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in doc.split_whitespace() {
        if line.len() + word.len() > 90 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
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
        peer_id: keys.peer_id,
        address: config.p2p_listen.clone(),
    });
    write_home(home, &genesis, &config)
}

/// `config.toml` of a home, parsed (unknown fields are an error).
pub fn read_config(home: &Path) -> Result<NodeConfig, HomeError> {
    let path = home.join("config.toml");
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    toml::from_str(&text).map_err(|e| invalid(&path, e))
}

/// `genesis.json` of a home, parsed and validated.
pub fn read_genesis(home: &Path) -> Result<Genesis, HomeError> {
    let path = home.join("genesis.json");
    let json = fs::read_to_string(&path).map_err(io(&path))?;
    Genesis::from_json(&json).map_err(|e| invalid(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `config.toml` is documented, the generated file carries the comments and
    /// still parses to the same config, and the README's table is the same text.
    #[test]
    fn config_docs_cover_every_key_and_match_the_readme() {
        let config = NodeConfig {
            peer_address_overrides: vec![Peer {
                peer_id: "p".into(),
                address: "/ip4/10.0.0.9/tcp/26656".into(),
            }],
            ..NodeConfig::default()
        };
        let plain = toml::to_string_pretty(&config).unwrap();
        let value: toml::Table = plain.parse().unwrap();
        let mut keys = std::collections::BTreeSet::new();
        for (k, v) in &value {
            match v.as_table() {
                Some(t) => keys.extend(t.keys().map(|sub| format!("{k}.{sub}"))),
                None => {
                    keys.insert(k.clone());
                }
            }
        }
        let documented: std::collections::BTreeSet<String> =
            CONFIG_DOCS.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, documented);

        let text = commented(&plain);
        for (_, doc) in CONFIG_DOCS {
            let first_words: Vec<&str> = doc.split_whitespace().take(3).collect();
            assert!(
                text.contains(&format!("# {}", first_words.join(" "))),
                "{doc}"
            );
        }
        let back: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(toml::to_string_pretty(&back).unwrap(), plain);

        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let section = readme
            .split("### config.toml")
            .nth(1)
            .expect("README config section");
        let rows: Vec<(String, String)> = section
            .lines()
            .skip_while(|l| !l.starts_with("| `"))
            .take_while(|l| l.starts_with("| `"))
            .map(|l| {
                let (key, doc) = l.trim_matches('|').split_once(" | ").unwrap();
                (
                    key.trim().trim_matches('`').to_string(),
                    doc.trim().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = CONFIG_DOCS
            .iter()
            .map(|(k, d)| (k.to_string(), d.to_string()))
            .collect();
        assert_eq!(rows, expected);
    }
}
