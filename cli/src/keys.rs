//! `lantau keygen`, `lantau key ...` and reading key files, plain or sealed with a
//! passphrase (`interface::home::sealed_key`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use interface::home::{self, sealed_key};
use ledger::Keypair;

use crate::error_codes::coded;

/// Where a passphrase comes from when no terminal can ask for it (scripts, tests).
pub const PASSPHRASE_ENV: &str = "LANTAU_KEY_PASSPHRASE";

#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Print a key file's secret (64 hex characters) on stdout, decrypting it if sealed: to
    /// move the key to another wallet or machine. Anyone who sees it can spend the account.
    Export {
        /// The key file.
        key: PathBuf,
    },
    /// Write a key file from a secret (64 hex characters, as `key export` prints it).
    Import {
        /// A file holding the secret, or - to read it from stdin.
        #[arg(long, value_name = "FILE")]
        secret: PathBuf,
        /// The key file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Seal the new file with a passphrase (LANTAU_KEY_PASSPHRASE, or asked twice).
        #[arg(long)]
        encrypt: bool,
    },
}

pub fn keygen(out: &Path, encrypt: bool) -> Result<()> {
    let key = Keypair::generate();
    write(out, &key, encrypt)?;
    outln!(
        "wrote {} (owner-only{})",
        out.display(),
        if encrypt {
            ", sealed with a passphrase"
        } else {
            ""
        }
    );
    // An account's address is its public key.
    outln!("public key / address  {}", key.public());
    Ok(())
}

pub fn run(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Export { key } => {
            let key = load(&key)?;
            if std::io::stdout().is_terminal() {
                eprintln!("warning: this is the secret key; whoever sees it can spend the account");
            }
            outln!("{}", hex::encode(key.secret_bytes()));
            Ok(())
        }
        KeyCommand::Import {
            secret,
            out,
            encrypt,
        } => {
            let text = if secret == Path::new("-") {
                std::io::read_to_string(std::io::stdin())
                    .context("reading the secret from stdin")?
            } else {
                std::fs::read_to_string(&secret)
                    .with_context(|| format!("reading {}", secret.display()))?
            };
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| {
                coded(
                    "bad_key_file",
                    "the secret must be 64 hex characters (what `lantau key export` prints)",
                )
            })?;
            let key = Keypair::from_secret(bytes);
            write(&out, &key, encrypt)?;
            outln!("wrote {}", out.display());
            outln!("public key / address  {}", key.public());
            Ok(())
        }
    }
}

fn write(out: &Path, key: &Keypair, encrypt: bool) -> Result<()> {
    if !encrypt {
        return Ok(home::write_key_file(out, key)?);
    }
    let passphrase = passphrase(&format!("passphrase for {}: ", out.display()), true)?;
    let text = sealed_key::seal(key, &passphrase);
    Ok(home::write_secret_file(out, &text)?)
}

/// The passphrase: from LANTAU_KEY_PASSPHRASE, else asked on the terminal (twice when
/// `confirm`, for a new file).
fn passphrase(prompt: &str, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(coded(
            "passphrase_needed",
            format!(
                "a passphrase is needed and there is no terminal to ask it on; set {PASSPHRASE_ENV}"
            ),
        ));
    }
    let first = rpassword::prompt_password(prompt).context("reading the passphrase")?;
    if confirm {
        if first.is_empty() {
            return Err(coded(
                "passphrase_needed",
                "an empty passphrase protects nothing",
            ));
        }
        let again = rpassword::prompt_password("again: ").context("reading the passphrase")?;
        if again != first {
            return Err(coded("passphrase_needed", "the two passphrases differ"));
        }
    }
    Ok(first)
}

/// `ADDRESS:BALANCE`, for genesis accounts given on the command line.
pub fn parse_account(text: &str) -> Result<(ledger::Address, u64), String> {
    let (address, balance) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected ADDRESS:BALANCE"))?;
    let address = address.parse().map_err(|e| format!("{text:?}: {e}"))?;
    let balance = balance
        .parse()
        .map_err(|_| format!("{text:?}: the balance must be a whole number"))?;
    Ok((address, balance))
}

/// The accounts of a new chain, as `testnet init` and `genesis assemble` take them.
#[derive(clap::Args)]
pub struct GenesisAccounts {
    /// Fund an account in genesis, ADDRESS:BALANCE (repeatable). On a permissioned chain
    /// (--hosts, a consortium) only these accounts may send; a local testnet also funds the
    /// demo accounts.
    #[arg(long = "account", value_name = "ADDRESS:BALANCE", value_parser = parse_account)]
    pub accounts: Vec<(ledger::Address, u64)>,
    /// On a permissioned chain: an account that exists from genesis and may receive but never
    /// send (a shop, a payee), ADDRESS or ADDRESS:BALANCE (repeatable).
    #[arg(long = "receive-only", value_name = "ADDRESS[:BALANCE]", value_parser = parse_receive_only)]
    pub receive_only: Vec<(ledger::Address, u64)>,
    /// On a permissioned chain: a transfer to an address with no account opens one (default:
    /// only accounts named in genesis may receive).
    #[arg(long)]
    pub open_receiving: bool,
}

/// `ADDRESS` (balance 0) or `ADDRESS:BALANCE`.
pub fn parse_receive_only(text: &str) -> Result<(ledger::Address, u64), String> {
    if text.contains(':') {
        return parse_account(text);
    }
    let address = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    Ok((address, 0))
}

/// The address a key file is for; a sealed file says it without its passphrase.
pub fn address(path: &Path) -> Result<ledger::Address> {
    match std::fs::read_to_string(path) {
        Ok(text) if sealed_key::is_sealed(&text) => sealed_key::address_of(path, &text)
            .map_err(|e| coded("bad_key_file", format!("cannot read the sealed key {e}"))),
        _ => Ok(load(path)?.public()),
    }
}

/// A key file, plain or sealed (then its passphrase is asked, or taken from
/// LANTAU_KEY_PASSPHRASE).
pub fn load(path: &Path) -> Result<Keypair> {
    if let Ok(text) = std::fs::read_to_string(path)
        && sealed_key::is_sealed(&text)
    {
        let passphrase = passphrase(&format!("passphrase for {}: ", path.display()), false)?;
        return sealed_key::open(path, &text, &passphrase)
            .map_err(|e| coded("bad_key_file", format!("cannot open the sealed key {e}")));
    }
    home::read_key_file(path).map_err(|e| bad_key(path, e))
}

fn bad_key(path: &Path, e: home::HomeError) -> anyhow::Error {
    // Suggest `keygen` only where it would help: it refuses to overwrite an existing path.
    let hint = if path.is_dir() {
        "it is a directory; pass the key file itself, e.g. a validator home's validator_key"
            .to_string()
    } else if path.exists() {
        "it is not a lantau key file".to_string()
    } else {
        format!("create one with `lantau keygen --out {}`", path.display())
    };
    coded(
        "bad_key_file",
        format!("cannot use the key file {} ({hint}): {e}", path.display()),
    )
}
