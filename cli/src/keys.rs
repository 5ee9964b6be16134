//! `lantau keygen` and reading key files.

use std::path::Path;

use anyhow::{Context, Result};
use interface::home;
use ledger::Keypair;

pub fn keygen(out: &Path) -> Result<()> {
    let key = Keypair::generate();
    home::write_key_file(out, &key)?;
    println!("wrote {} (owner-only)", out.display());
    // An account's address is its public key.
    println!("public key / address  {}", key.public());
    Ok(())
}

pub fn load(path: &Path) -> Result<Keypair> {
    home::read_key_file(path).with_context(|| {
        format!(
            "cannot use the key file {} (create one with `lantau keygen --out {}`)",
            path.display(),
            path.display()
        )
    })
}
