//! `lantau query ...`: reads of a node's HTTP API (and what every client command shares:
//! which node, `--json`, the token).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use interface::http::{TxAnswer, TxInfo};
use ledger::{Account, Address, Hash};
use serde::Serialize;
use testnet::client::Client;

use crate::error_codes::coded;
use crate::output::{table, thousands, utc};
use crate::runtime;
use crate::testnet_cmds::default_dir;
use crate::verified::TrustArgs;

#[derive(Args)]
pub struct NodeArgs {
    /// The node's API URL. Default: the first validator of the local testnet
    /// (`lantau testnet up`), else http://127.0.0.1:26657.
    #[arg(long, env = "LANTAU_NODE", value_parser = node_url)]
    node: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The node's API token, for a node whose config sets `api_token_file` (submissions
    /// need it). Prefer the environment variable: arguments show in `ps`.
    #[arg(long, env = "LANTAU_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
}

/// A node URL, checked before anything is sent (a bad one is a usage error: exit 2).
fn node_url(text: &str) -> Result<String, String> {
    testnet::client::parse_base_url(text)
}

/// Where client commands go when nothing says otherwise.
const DEFAULT_NODE: &str = "http://127.0.0.1:26657";

impl NodeArgs {
    pub(crate) fn client(&self) -> Result<Client> {
        let url = match &self.node {
            Some(url) => url.clone(),
            None => {
                let dir = default_dir();
                match testnet::manifest::Manifest::load(&dir)
                    .ok()
                    .and_then(|m| m.nodes.first().map(|n| n.api.clone()))
                {
                    Some(api) => api,
                    None => {
                        eprintln!(
                            "note: no --node, LANTAU_NODE or local testnet in {}; using {DEFAULT_NODE}",
                            dir.display()
                        );
                        DEFAULT_NODE.into()
                    }
                }
            }
        };
        Ok(Client::new(&url).with_token(self.api_token.clone()))
    }
}

#[derive(Subcommand)]
pub enum QueryCommand {
    /// Balance and nonce of an address (or of the key in --key), verified: the answer must
    /// carry a proof against a header that a quorum of the genesis validators signed.
    Account {
        /// The account's address (64 hex characters; an account is its owner's public key).
        #[arg(required_unless_present = "key", conflicts_with = "key")]
        address: Option<String>,
        /// A key file instead of the address: the account it signs for.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The account as it was after this block (the node keeps the last
        /// `state_versions_kept` heights provable). Default: the latest.
        #[arg(long, conflicts_with = "trust_node")]
        height: Option<u64>,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// An account's committed transfers, sent and received, newest first.
    History {
        /// The account's address.
        #[arg(required_unless_present = "key", conflicts_with = "key")]
        address: Option<String>,
        /// A key file instead of the address: the account it signs for.
        #[arg(long)]
        key: Option<PathBuf>,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        /// Only transfers committed before this height (to page back: the oldest height shown).
        #[arg(long)]
        before: Option<u64>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// What waits in the node's mempool, oldest first: sender, recipient, amount, nonce, and
    /// whether it can go in the next block or waits for an earlier nonce.
    Mempool {
        /// Only this sender's transactions.
        #[arg(long)]
        from: Option<String>,
        /// How many to list (at most 1000; the totals count all of them).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// A transaction by hash: pending, or committed (and so executed) at a height.
    /// Verified like `query account` once committed: the node must prove the transaction
    /// is in a block a quorum signed.
    Tx {
        /// The transaction hash printed by `lantau tx transfer` (64 hex characters).
        hash: String,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// A committed block and its certificate (default: the latest).
    Block {
        /// A block height, or `latest` (the default).
        height: Option<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The latest committed blocks, newest first: height, round, transactions, and the
    /// proposer's and this node's commit times.
    Blocks {
        /// How many (at most 100).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
        last: u64,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The node's height, round, peers, mempool and sync state.
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The validator set.
    Validators {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Connected peers and their gossip scores.
    Peers {
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) fn print_json(value: &impl Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialises")
    );
}

pub(crate) fn parse_address(text: &str) -> Result<Address> {
    text.parse().map_err(|e| {
        coded(
            "bad_address",
            format!("malformed address {text:?}: {e} (an address is 64 hex characters)"),
        )
    })
}

pub(crate) fn print_tx(info: &TxInfo) {
    match info {
        TxInfo::Pending { hash } => outln!("{hash}  pending"),
        TxInfo::Committed {
            hash,
            height,
            index,
        } => {
            // Only transfers that execute are ever committed: inclusion is the receipt.
            outln!("{hash}  committed and executed at height {height} (index {index})");
        }
    }
}

/// What a committed transaction moved, from the block the node says holds it (checked to
/// be this transaction; `--trust-node` reads check no more than that).
fn committed_transfer(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    hash: &Hash,
    info: &TxInfo,
) -> Result<Option<ledger::Transfer>> {
    let TxInfo::Committed { height, index, .. } = info else {
        return Ok(None);
    };
    let view = rt.block_on(client.block(Some(*height)))?;
    let tx = view
        .block
        .txs
        .get(*index as usize)
        .filter(|t| t.hash() == *hash);
    Ok(Some(tx.map(|t| t.transfer.clone()).ok_or_else(|| {
        coded(
            "bad_response",
            format!(
                "the node says {hash} is at height {height} index {index}, but that block holds no such transaction there"
            ),
        )
    })?))
}

pub fn run_query(cmd: QueryCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        QueryCommand::Account {
            address,
            key,
            height,
            trust,
            node,
        } => {
            let address = match (address, key) {
                (Some(address), _) => parse_address(&address)?,
                (None, Some(key)) => crate::keys::address(&key)?,
                (None, None) => unreachable!("clap requires one of them"),
            };
            let client = node.client()?;
            let trusted = trust.trusted()?;
            // The pending count is the node's mempool: its word, shown only for the latest.
            let view = match height {
                None => Some(rt.block_on(client.account(&address))?),
                Some(_) => None,
            };
            let (account, verified) = match (&trusted, view) {
                (None, Some(v)) => (
                    v.exists.then_some(Account {
                        balance: v.balance,
                        nonce: v.nonce,
                    }),
                    None,
                ),
                (None, None) => unreachable!("--height conflicts with --trust-node"),
                (Some(t), _) => {
                    let answer = rt.block_on(client.account_proof(&address, height))?;
                    let (account, verified) = testnet::light::account(t, &address, height, &answer)
                        .map_err(|e| crate::verified::refused(client.url(), e))?;
                    (account, Some(verified))
                }
            };
            let a = account.unwrap_or_default();
            let next_nonce = view.map(|v| v.next_nonce.max(a.nonce));
            if node.json {
                let mut value = serde_json::json!({
                    "balance": a.balance,
                    "nonce": a.nonce,
                    "exists": account.is_some(),
                });
                if let Some(n) = next_nonce {
                    value["next_nonce"] = n.into();
                }
                if let Some(v) = &verified {
                    value["verified"] = serde_json::to_value(v).expect("serialises");
                }
                print_json(&value);
                return Ok(());
            }
            outln!("address  {address}");
            if account.is_none() {
                outln!(
                    "no such account on this chain: it was not funded in genesis and has never been paid (check the address)"
                );
            } else {
                outln!("balance  {}", thousands(a.balance));
                outln!("nonce    {}", a.nonce);
                if let Some(n) = next_nonce.filter(|n| *n != a.nonce) {
                    outln!(
                        "pending  {} (the next transfer takes nonce {n}; this node's mempool, not verified)",
                        n - a.nonce,
                    );
                }
            }
            match verified {
                Some(v) => outln!("{v}"),
                None => outln!("not verified: the node's word (--trust-node)"),
            }
        }
        QueryCommand::History {
            address,
            key,
            limit,
            before,
            node,
        } => {
            let address = match (address, key) {
                (Some(address), _) => parse_address(&address)?,
                (None, Some(key)) => crate::keys::address(&key)?,
                (None, None) => unreachable!("clap requires one of them"),
            };
            let entries =
                rt.block_on(node.client()?.account_txs(&address, before, limit as usize))?;
            if node.json {
                print_json(&entries);
            } else if entries.is_empty() {
                outln!(
                    "no committed transfers of {address}{}",
                    before.map_or(String::new(), |h| format!(" before height {h}"))
                );
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            thousands(e.height),
                            short(&e.hash.to_hex()),
                            if e.sent { "sent to" } else { "received from" }.into(),
                            e.counterparty.to_string(),
                            if e.sent {
                                format!("-{}", thousands(e.amount))
                            } else {
                                format!("+{}", thousands(e.amount))
                            },
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(&["height", "hash", "", "counterparty", "amount"], &rows)
                );
                if entries.len() as u64 == limit {
                    let oldest = entries.last().map_or(0, |e| e.height);
                    outln!("older: lantau query history {address} --before {oldest}");
                }
            }
        }
        QueryCommand::Mempool { from, limit, node } => {
            let from = from.as_deref().map(parse_address).transpose()?;
            let view = rt.block_on(node.client()?.mempool(limit as usize, from.as_ref()))?;
            if node.json {
                print_json(&view);
            } else {
                outln!(
                    "{} transactions, {} bytes (admits up to {} and {} bytes)",
                    thousands(view.txs as u64),
                    thousands(view.bytes as u64),
                    thousands(view.max_txs as u64),
                    thousands(view.max_bytes as u64)
                );
                if !view.pending.is_empty() {
                    let rows: Vec<Vec<String>> = view
                        .pending
                        .iter()
                        .map(|p| {
                            vec![
                                short(&p.hash.to_hex()),
                                short(&p.from.to_string()),
                                short(&p.to.to_string()),
                                thousands(p.amount),
                                p.nonce.to_string(),
                                if p.ready {
                                    "ready"
                                } else {
                                    "waits for an earlier nonce"
                                }
                                .into(),
                            ]
                        })
                        .collect();
                    out!(
                        "{}",
                        table(&["hash", "from", "to", "amount", "nonce", "state"], &rows)
                    );
                }
            }
        }
        QueryCommand::Tx { hash, trust, node } => {
            let hash: Hash = hash.parse().map_err(|e| {
                coded(
                    "bad_hash",
                    format!("malformed transaction hash {hash:?}: {e} (64 hex characters)"),
                )
            })?;
            let client = node.client()?;
            let (info, transfer, verified) = match trust.trusted()? {
                Some(trusted) => match rt.block_on(client.tx_proof(&hash))? {
                    TxAnswer::Proved(proof) => {
                        let (tx, verified) = testnet::light::tx(&trusted, &hash, &proof)
                            .map_err(|e| crate::verified::refused(client.url(), e))?;
                        let info = TxInfo::Committed {
                            hash,
                            height: proof.height,
                            index: proof.index,
                        };
                        (info, Some(tx.transfer), Some(verified))
                    }
                    TxAnswer::Unproved(TxInfo::Committed { height, .. }) => {
                        return Err(coded(
                            "not_verified",
                            format!(
                                "{} says {hash} committed at height {height} but sent no proof of it, so it is not believed",
                                client.url()
                            ),
                        ));
                    }
                    TxAnswer::Unproved(pending) => (pending, None, None),
                },
                None => {
                    let info = rt.block_on(client.tx(&hash))?;
                    let transfer = committed_transfer(&rt, &client, &hash, &info)?;
                    (info, transfer, None)
                }
            };
            if node.json {
                let mut value = serde_json::to_value(&info).expect("serialises");
                if let Some(t) = &transfer {
                    value["transfer"] = serde_json::json!({
                        "from": t.from,
                        "to": t.to,
                        "amount": t.amount,
                        "nonce": t.nonce,
                        "memo": String::from_utf8_lossy(&t.memo),
                    });
                }
                if let Some(v) = &verified {
                    value["verified"] = serde_json::to_value(v).expect("serialises");
                }
                print_json(&value);
            } else {
                print_tx(&info);
                if let Some(t) = &transfer {
                    outln!("from    {}", t.from);
                    outln!("to      {}", t.to);
                    outln!("amount  {}", thousands(t.amount));
                    outln!("nonce   {}", t.nonce);
                    if !t.memo.is_empty() {
                        outln!("memo    {}", String::from_utf8_lossy(&t.memo));
                    }
                }
                match (&verified, &info) {
                    (Some(v), _) => outln!("{v}"),
                    (None, TxInfo::Pending { .. }) if !trust.trust_node => outln!(
                        "not verified: a pending transaction is the node's word until it commits"
                    ),
                    _ => outln!("not verified: the node's word (--trust-node)"),
                }
            }
        }
        QueryCommand::Block { height, node } => {
            let height = match height.as_deref() {
                None | Some("latest") => None,
                Some(h) => Some(h.parse::<u64>().map_err(|_| {
                    coded(
                        "bad_height",
                        format!("malformed block height {h:?}: a number, or `latest`"),
                    )
                })?),
            };
            let client = node.client()?;
            let view = rt.block_on(client.block(height))?;
            if node.json {
                print_json(&serde_json::json!({
                    "hash": view.block.hash(),
                    "tx_hashes": view.block.txs.iter().map(|t| t.hash()).collect::<Vec<_>>(),
                    "block": view.block,
                    "certificate": view.certificate,
                }));
                return Ok(());
            }
            let h = &view.block.header;
            // Validators are known by their place in genesis (testnet homes are node0..).
            let proposer = rt
                .block_on(client.validators())
                .ok()
                .and_then(|vs| vs.iter().position(|v| v.public_key == h.proposer))
                .map_or_else(
                    || h.proposer.to_string(),
                    |i| {
                        format!(
                            "validator {i} (node{i} in a local testnet), {}",
                            short(&h.proposer.to_string())
                        )
                    },
                );
            outln!("height     {}", h.height);
            outln!("hash       {}", view.block.hash());
            outln!("round      {}", h.round);
            outln!("proposer   {proposer}");
            outln!("time       {}", crate::output::utc(h.timestamp_ms));
            outln!("prev hash  {}", h.prev_hash);
            outln!("state root {}", h.state_root);
            outln!(
                "certified  by {} validators in round {}",
                view.certificate.signatures.len(),
                view.certificate.round
            );
            outln!("txs        {}", view.block.txs.len());
            if !view.block.txs.is_empty() {
                let rows: Vec<Vec<String>> = view
                    .block
                    .txs
                    .iter()
                    .map(|tx| {
                        let t = &tx.transfer;
                        vec![
                            short(&tx.hash().to_hex()),
                            short(&t.from.to_string()),
                            short(&t.to.to_string()),
                            thousands(t.amount),
                            t.nonce.to_string(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(&["hash", "from", "to", "amount", "nonce"], &rows)
                );
            }
        }
        QueryCommand::Blocks { last, node } => {
            let client = node.client()?;
            let tip = rt.block_on(client.status())?.committed_height;
            let from = tip.saturating_sub(last - 1).max(1);
            let mut commits = rt.block_on(client.commits(from))?;
            commits.retain(|c| c.height <= tip);
            commits.reverse();
            if node.json {
                print_json(&commits);
            } else if commits.is_empty() {
                outln!("no blocks committed yet (or none this node still holds in its commit log)");
            } else {
                let rows: Vec<Vec<String>> = commits
                    .iter()
                    .map(|c| {
                        vec![
                            thousands(c.height),
                            c.round.to_string(),
                            thousands(c.txs.len() as u64),
                            utc(c.proposed_at_ms),
                            format!("{} ms", c.committed_at_ms.saturating_sub(c.proposed_at_ms)),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &["height", "round", "txs", "proposed (UTC)", "to commit here"],
                        &rows
                    )
                );
            }
        }
        QueryCommand::Status { node } => {
            let s = rt.block_on(node.client()?.status())?;
            if node.json {
                print_json(&s);
            } else {
                outln!("chain      {}", s.chain_id);
                outln!(
                    "validator  {}",
                    s.validator
                        .map_or("(not a validator)".into(), |v| v.to_string())
                );
                outln!("committed  {}", s.committed_height);
                outln!("deciding   height {} round {}", s.height, s.round);
                outln!("peers      {}", s.peers);
                outln!("mempool    {} txs", thousands(s.mempool as u64));
                outln!("syncing    {}", if s.syncing { "yes" } else { "no" });
            }
        }
        QueryCommand::Validators { node } => {
            let validators = rt.block_on(node.client()?.validators())?;
            if node.json {
                print_json(&validators);
            } else {
                let rows: Vec<Vec<String>> = validators
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        vec![i.to_string(), v.public_key.to_string(), v.power.to_string()]
                    })
                    .collect();
                out!("{}", table(&["#", "public key", "power"], &rows));
            }
        }
        QueryCommand::Peers { node } => {
            let peers = rt.block_on(node.client()?.peers())?;
            if node.json {
                print_json(&peers);
            } else {
                let rows: Vec<Vec<String>> = peers
                    .iter()
                    .map(|p| vec![p.peer_id.clone(), format!("{:.1}", p.score)])
                    .collect();
                out!("{}", table(&["peer id", "score"], &rows));
            }
        }
    }
    Ok(())
}

/// First and last 6 hex characters, for tables.
pub(crate) fn short(hex: &str) -> String {
    if hex.len() <= 14 {
        return hex.into();
    }
    format!("{}..{}", &hex[..6], &hex[hex.len() - 6..])
}
