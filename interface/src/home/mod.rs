//! A validator's home directory: `config.toml`, `genesis.json`, `validator_key` (the
//! consensus signing key), `node_key` (the libp2p identity) and `data/` (RocksDB). Writing
//! and reading the files; turning them into a running node is `node::home`'s job.

mod config;
mod keys;
pub mod sealed_key;

use std::fs;
use std::path::{Path, PathBuf};

use ledger::{Genesis, P2pEndpoint};

pub use config::{CONFIG_DOCS, NodeConfig, Peer, commented};
pub use keys::{
    NewKeys, generate_keys, peer_id_of, public_key_of_peer_id, read_key_file, read_secret,
    write_key_file, write_secret_file,
};

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

/// Write `genesis.json` and `config.toml` into a home that has its keys.
pub fn write_home(home: &Path, genesis: &Genesis, config: &NodeConfig) -> Result<(), HomeError> {
    let genesis_path = home.join("genesis.json");
    genesis.validate().map_err(|e| invalid(&genesis_path, e))?;
    fs::write(&genesis_path, genesis.to_json()).map_err(io(&genesis_path))?;
    let config_path = home.join("config.toml");
    let text = toml::to_string_pretty(config).map_err(|e| invalid(&config_path, e))?;
    fs::write(&config_path, commented(&text)).map_err(io(&config_path))
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
        // No table headers: a key appended at the end is a top-level key, not a timeout.
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with('[')),
            "{text}"
        );
        let without: String = text
            .lines()
            .filter(|l| !l.starts_with("max_block_txs ="))
            .map(|l| format!("{l}\n"))
            .collect();
        let appended: NodeConfig =
            toml::from_str(&format!("{without}max_block_txs = 7\n")).expect("a top-level key");
        assert_eq!(appended.max_block_txs, 7);

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
