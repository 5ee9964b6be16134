//! What every command that makes transfers shares: signing one, checking a memo, warning
//! about a new recipient, and waiting for commits.

use std::time::Duration;

use anyhow::Result;
use ledger::{Address, Keypair, SignedTx, Transfer};
use testnet::client::Client;

use crate::error_codes::coded;

#[derive(clap::Args)]
pub struct WaitArgs {
    /// Wait for the commit and print its height (committed means executed).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 30)]
    wait_secs: u64,
}

impl WaitArgs {
    pub(crate) fn limit(&self) -> Option<Duration> {
        self.wait.then(|| Duration::from_secs(self.wait_secs))
    }

    pub(crate) fn secs(&self) -> u64 {
        self.wait_secs
    }
}

/// A one-character typo is a valid address: a payment to it commits all the same.
pub(crate) async fn warn_if_new(client: &Client, to: &Address) -> Result<()> {
    if !client.account(to).await?.exists {
        eprintln!(
            "warning: {to} has no account on this chain yet (never funded or paid); check the address: a transfer to it cannot be undone"
        );
    }
    Ok(())
}

pub(crate) fn sign(
    key: &Keypair,
    chain_id: String,
    to: Address,
    amount: u64,
    nonce: u64,
    memo: &str,
) -> SignedTx {
    Transfer {
        chain_id,
        from: key.public(),
        to,
        amount,
        nonce,
        memo: memo.as_bytes().to_vec(),
    }
    .sign(key)
}

pub(crate) fn check_memo(memo: &str) -> Result<()> {
    if memo.len() > ledger::tx::MAX_MEMO_BYTES {
        return Err(coded(
            "malformed_tx",
            format!(
                "the memo is {} bytes; at most {} allowed",
                memo.len(),
                ledger::tx::MAX_MEMO_BYTES
            ),
        ));
    }
    Ok(())
}

pub(crate) fn still_pending(hash: ledger::Hash, secs: u64) -> anyhow::Error {
    coded(
        "still_pending",
        format!(
            "{hash} is still pending after {secs} s; check later with `lantau query tx {hash}`"
        ),
    )
}
