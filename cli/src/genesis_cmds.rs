//! `lantau genesis`: a consortium's genesis, made without any member's secret leaving its host
//! (see `interface::ceremony`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use interface::ceremony::{self, SignedEntry};
use interface::home::{self, NodeConfig};

#[derive(Subcommand)]
pub enum GenesisCommand {
    /// On a member's own host: write its validator and node keys into a new home (with a
    /// config.toml for one validator per machine) and its signed entry, to share with the
    /// others. The keys never leave the home.
    Member {
        /// The new home (must not hold one).
        #[arg(long)]
        home: PathBuf,
        /// The validator's name in logs and status.
        #[arg(long)]
        moniker: String,
        /// Where the other validators reach this one, a libp2p address such as
        /// /ip4/10.0.0.1/tcp/26656 or /dns4/val1.example.com/tcp/26656.
        #[arg(long)]
        p2p_address: String,
        /// Voting power.
        #[arg(long, default_value_t = 1)]
        power: u64,
    },
    /// Build genesis.json from the members' entries (each checked) and print its hash, which
    /// every member compares before starting. Only the --account holders may send.
    Assemble {
        /// The new chain's id.
        #[arg(long)]
        chain_id: String,
        /// A member's entry file (`genesis member` writes <home>/entry.json), one per validator.
        #[arg(long = "entry", required = true)]
        entries: Vec<PathBuf>,
        #[command(flatten)]
        accounts: crate::keys::GenesisAccounts,
        /// Where to write it (must not exist).
        #[arg(long, default_value = "genesis.json")]
        out: PathBuf,
    },
    /// Print a genesis file's hash, to compare with the other members'.
    Hash {
        /// The genesis file (e.g. <home>/genesis.json).
        genesis: PathBuf,
    },
}

pub fn run(cmd: GenesisCommand) -> Result<()> {
    match cmd {
        GenesisCommand::Member {
            home,
            moniker,
            p2p_address,
            power,
        } => member(&home, &moniker, &p2p_address, power),
        GenesisCommand::Assemble {
            chain_id,
            entries,
            accounts,
            out,
        } => assemble(&chain_id, &entries, &accounts, &out),
        GenesisCommand::Hash { genesis } => {
            let text = std::fs::read_to_string(&genesis)
                .with_context(|| format!("reading {}", genesis.display()))?;
            let genesis = ledger::Genesis::from_json(&text)
                .with_context(|| format!("{} is not a lantau genesis", genesis.display()))?;
            outln!("{}", genesis.hash());
            Ok(())
        }
    }
}

fn member(home_dir: &Path, moniker: &str, p2p_address: &str, power: u64) -> Result<()> {
    if home_dir.join("validator_key").exists() || home_dir.join("config.toml").exists() {
        bail!(
            "{} already holds a home; refusing to make new keys over it (choose another --home)",
            home_dir.display()
        );
    }
    let port = p2p_address
        .rsplit('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .with_context(|| {
            format!(
                "--p2p-address {p2p_address:?} must end in /tcp/PORT, e.g. /ip4/10.0.0.1/tcp/26656"
            )
        })?;
    let entry = ceremony::make_entry(home_dir, moniker, p2p_address, power)?;
    // One validator per machine: listen on every interface, verify on every core.
    let config = NodeConfig {
        moniker: moniker.into(),
        p2p_listen: format!("/ip4/0.0.0.0/tcp/{port}"),
        api_listen: "0.0.0.0:26657".into(),
        verify_threads: 0,
        ..NodeConfig::default()
    };
    let config_path = home_dir.join("config.toml");
    let text = toml::to_string_pretty(&config).context("writing config.toml")?;
    std::fs::write(&config_path, home::commented(&text))
        .with_context(|| format!("writing {}", config_path.display()))?;
    let entry_path = home_dir.join("entry.json");
    let json = serde_json::to_string_pretty(&entry).expect("an entry serialises");
    std::fs::write(&entry_path, format!("{json}\n"))
        .with_context(|| format!("writing {}", entry_path.display()))?;
    outln!("{json}");
    eprintln!(
        "wrote the keys, config.toml and {}: share the entry (only it) with whoever assembles the genesis, then put the genesis.json you all agreed on (compare `lantau genesis hash`) into {} and run `lantau start --home {}`",
        entry_path.display(),
        home_dir.display(),
        home_dir.display()
    );
    Ok(())
}

fn assemble(
    chain_id: &str,
    entry_files: &[PathBuf],
    accounts: &crate::keys::GenesisAccounts,
    out: &Path,
) -> Result<()> {
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let entries: Vec<SignedEntry> = entry_files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a genesis entry", path.display()))
        })
        .collect::<Result<_>>()?;
    let permissions = ceremony::permissions(
        &accounts.accounts,
        &accounts.receive_only,
        accounts.open_receiving,
    )?;
    let funded: Vec<_> = accounts
        .accounts
        .iter()
        .chain(&accounts.receive_only)
        .copied()
        .collect();
    let mut genesis = ceremony::assemble(chain_id, &entries, &funded)?;
    genesis.permissions = Some(permissions);
    genesis.validate()?;
    std::fs::write(out, genesis.to_json()).with_context(|| format!("writing {}", out.display()))?;
    outln!("genesis hash {}", genesis.hash());
    eprintln!(
        "wrote {} ({} validators); every member checks this hash with `lantau genesis hash` before starting",
        out.display(),
        genesis.validators.len()
    );
    Ok(())
}
