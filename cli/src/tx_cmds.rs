//! `lantau tx ...`: build and sign transfers, online (`transfer`, `batch`) or offline (`sign`,
//! then `broadcast` from any machine that reaches a node).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use interface::http::TxInfo;
use ledger::{Address, SignedTx};
use serde::{Deserialize, Serialize};
use testnet::client::{Client, SubmitOutcome};

use crate::client_cmds::{NodeArgs, parse_address, print_json, print_tx};
use crate::error_codes::coded;
use crate::output::thousands;
use crate::runtime;
use crate::transfers::{WaitArgs, check_memo, sign, still_pending, warn_if_new};

#[derive(Subcommand)]
pub enum TxCommand {
    /// Sign a transfer with a key file and submit it. Fetches the sender's nonce itself.
    Transfer {
        #[command(flatten)]
        transfer: TransferArgs,
        /// Use this nonce instead of the account's next one.
        #[arg(long)]
        nonce: Option<u64>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Sign a transfer offline (no node is asked anything) and write it as JSON for
    /// `lantau tx broadcast`: the signing key never needs to be on a networked machine.
    Sign {
        #[command(flatten)]
        transfer: TransferArgs,
        /// The sender's next nonce (offline, nothing can look it up: `lantau query account`
        /// shows `next_nonce`).
        #[arg(long)]
        nonce: u64,
        /// The chain the transfer is for (signatures bind it).
        #[arg(long, required_unless_present = "genesis", conflicts_with = "genesis")]
        chain_id: Option<String>,
        /// Take the chain id from this genesis file instead.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Write the signed transfer here (must not exist) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Submit a transfer signed by `lantau tx sign` (a file, or - for stdin).
    Broadcast {
        /// The signed transfer's JSON file, or - to read it from stdin.
        file: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Pay many recipients from one key: a CSV file with columns `to,amount[,memo]` (a
    /// header row is allowed), signed with consecutive nonces and sent in one request.
    Batch {
        /// Key file of the sender.
        #[arg(long)]
        from_key: PathBuf,
        /// The CSV file of payments.
        #[arg(long)]
        csv: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// Who pays whom how much: what `tx transfer` and `tx sign` share.
#[derive(clap::Args)]
pub struct TransferArgs {
    /// Key file of the sender (`lantau keygen`; a testnet's demo keys are in
    /// <testnet dir>/keys/).
    #[arg(long)]
    from_key: PathBuf,
    /// Recipient address (64 hex characters).
    #[arg(long)]
    to: String,
    /// Amount to send, in whole units of the chain's token (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    amount: u64,
    /// Up to 1 KiB of text stored with the transfer.
    #[arg(long, default_value = "")]
    memo: String,
}

impl TransferArgs {
    /// The sender's key and the recipient, checked, with the memo.
    fn load(&self) -> Result<(ledger::Keypair, Address)> {
        let key = crate::keys::load(&self.from_key)?;
        let to = parse_address(&self.to)?;
        check_memo(&self.memo)?;
        Ok((key, to))
    }
}

/// What `tx sign` writes and `tx broadcast` reads: the transfer spelled out for review, and
/// `tx`, the hex of its encoding (what `POST /v1/txs` takes).
#[derive(Serialize, Deserialize)]
struct SignedFile {
    chain_id: String,
    from: Address,
    to: Address,
    amount: u64,
    nonce: u64,
    memo: String,
    hash: ledger::Hash,
    tx: String,
}

pub fn run(cmd: TxCommand) -> Result<()> {
    match cmd {
        TxCommand::Transfer {
            transfer: t,
            nonce,
            wait,
            node,
        } => transfer(&t, nonce, &wait, &node),
        TxCommand::Sign {
            transfer: t,
            nonce,
            chain_id,
            genesis,
            out,
        } => {
            let (key, to) = t.load()?;
            let (amount, memo) = (t.amount, t.memo);
            let chain_id = match (chain_id, genesis) {
                (Some(id), _) => id,
                (None, Some(path)) => read_chain_id(&path)?,
                (None, None) => unreachable!("clap requires one of them"),
            };
            let tx = sign(&key, chain_id.clone(), to, amount, nonce, &memo);
            let file = SignedFile {
                chain_id,
                from: key.public(),
                to,
                amount,
                nonce,
                memo,
                hash: tx.hash(),
                tx: hex::encode(tx.encode()),
            };
            let json = serde_json::to_string_pretty(&file).expect("serialises");
            match out {
                None => outln!("{json}"),
                Some(path) => {
                    write_new(&path, &format!("{json}\n"))?;
                    eprintln!(
                        "wrote {} ({}); submit it from any machine with `lantau tx broadcast {}`",
                        path.display(),
                        file.hash,
                        path.display()
                    );
                }
            }
            Ok(())
        }
        TxCommand::Broadcast { file, wait, node } => {
            let tx = read_signed(&file)?;
            let client = node.client()?;
            runtime()?.block_on(async {
                let status = client.status().await?;
                if tx.transfer.chain_id != status.chain_id {
                    return Err(coded(
                        "wrong_chain",
                        format!(
                            "the transfer is signed for chain {:?}, but {} serves {:?}",
                            tx.transfer.chain_id,
                            client.url(),
                            status.chain_id
                        ),
                    ));
                }
                submit(&client, &tx, &wait, &node).await
            })
        }
        TxCommand::Batch {
            from_key,
            csv,
            wait,
            node,
        } => crate::tx_batch::run(&from_key, &csv, &wait, &node),
    }
}

fn transfer(t: &TransferArgs, nonce: Option<u64>, wait: &WaitArgs, node: &NodeArgs) -> Result<()> {
    let (key, to) = t.load()?;
    let amount = t.amount;
    let client = node.client()?;
    runtime()?.block_on(async {
        let status = client.status().await?;
        let account = client.account(&key.public()).await?;
        if amount > account.balance {
            return Err(coded(
                "insufficient_funds",
                format!(
                    "insufficient funds: {} holds {}, the transfer needs {}",
                    key.public(),
                    thousands(account.balance),
                    thousands(amount)
                ),
            ));
        }
        warn_if_new(&client, &to).await?;
        // Counting this node's pending transfers: two sent in a row without --wait must
        // not both carry the committed nonce.
        let nonce = nonce.unwrap_or(account.next_nonce);
        if nonce > account.next_nonce {
            eprintln!(
                "note: nonce {nonce} is ahead of this sender's next one ({}); it waits in the mempool until nonces {}..{} commit",
                account.next_nonce,
                account.next_nonce,
                nonce - 1
            );
        }
        let tx = sign(&key, status.chain_id, to, amount, nonce, &t.memo);
        submit(&client, &tx, wait, node).await
    })
}

fn read_chain_id(path: &Path) -> Result<String> {
    Ok(crate::verified::read_genesis(path)?.chain_id)
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("writing {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A `tx sign` file, checked: the encoding decodes, the signature verifies, and the fields
/// shown for review are the ones signed.
fn read_signed(path: &Path) -> Result<SignedTx> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .context("reading the signed transfer from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let bad = |why: String| {
        coded(
            "malformed_tx",
            format!("{} is not a signed transfer: {why}", path.display()),
        )
    };
    let file: SignedFile = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{e} (`lantau tx sign` writes one)")))?;
    let bytes = hex::decode(file.tx.trim()).map_err(|e| bad(format!("tx: {e}")))?;
    let tx = SignedTx::decode(&bytes).map_err(|e| bad(format!("tx: {e}")))?;
    tx.verify().map_err(|_| {
        coded(
            "bad_signature",
            format!("{}: the signature does not verify", path.display()),
        )
    })?;
    let t = &tx.transfer;
    let shown = (
        &file.chain_id,
        file.from,
        file.to,
        file.amount,
        file.nonce,
        file.memo.as_bytes(),
        file.hash,
    );
    let signed = (
        &t.chain_id,
        t.from,
        t.to,
        t.amount,
        t.nonce,
        &t.memo[..],
        tx.hash(),
    );
    if shown != signed {
        return Err(bad(
            "its readable fields differ from what is signed in `tx` (edited by hand?)".into(),
        ));
    }
    Ok(tx)
}

/// Submit one signed transfer and print its fate as `--json` or text asks.
async fn submit(client: &Client, tx: &SignedTx, wait: &WaitArgs, node: &NodeArgs) -> Result<()> {
    let hash = tx.hash();
    let outcome = client
        .submit(tx, wait.limit())
        .await
        .with_context(|| format!("submitting {hash} to {}", client.url()))?;
    match outcome {
        SubmitOutcome::Accepted(hash) => {
            if node.json {
                print_json(&serde_json::json!({ "hash": hash, "status": "submitted" }));
            } else {
                outln!("submitted {hash}");
                outln!("follow it with: lantau query tx {hash}  (or: lantau watch --tx {hash})");
            }
            Ok(())
        }
        SubmitOutcome::Waited(info) => {
            if node.json {
                print_json(&info);
            } else {
                print_tx(&info);
            }
            match info {
                TxInfo::Pending { hash } => Err(still_pending(hash, wait.secs())),
                TxInfo::Committed { .. } => Ok(()),
            }
        }
    }
}
