//! `lantau keygen` and reading key files.

use std::path::Path;

use anyhow::Result;
use interface::home;
use ledger::Keypair;

pub fn keygen(out: &Path) -> Result<()> {
    let key = Keypair::generate();
    home::write_key_file(out, &key)?;
    outln!("wrote {} (owner-only)", out.display());
    // An account's address is its public key.
    outln!("public key / address  {}", key.public());
    Ok(())
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

pub fn load(path: &Path) -> Result<Keypair> {
    // Suggest `keygen` only where it would help: it refuses to overwrite an existing path.
    let hint = if path.is_dir() {
        "it is a directory; pass the key file itself, e.g. a validator home's validator_key"
            .to_string()
    } else if path.exists() {
        "it is not a lantau key file".to_string()
    } else {
        format!("create one with `lantau keygen --out {}`", path.display())
    };
    home::read_key_file(path).map_err(|e| {
        crate::error_codes::coded(
            "bad_key_file",
            format!("cannot use the key file {} ({hint}): {e}", path.display()),
        )
    })
}
