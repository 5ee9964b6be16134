//! `lantau watch`: follow a node's commits live over its event stream (`GET /v1/events`), or
//! one transaction's fate until it commits.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use interface::http::{BlockEvent, TxInfo};
use ledger::Hash;
use testnet::client::ClientError;

use crate::client_cmds::{NodeArgs, print_tx};
use crate::error_codes::coded;
use crate::output::{thousands, utc};
use crate::runtime;

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Follow this transaction (its hash) until it commits, then exit; exit 1 if it is not
    /// committed within --timeout-secs.
    #[arg(long, value_name = "HASH")]
    tx: Option<String>,
    /// With --tx: how long to wait for the commit, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Exit after this many blocks (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    blocks: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(args: WatchArgs) -> Result<()> {
    let watched: Option<Hash> = args
        .tx
        .as_deref()
        .map(|h| {
            h.parse().map_err(|e| {
                coded(
                    "bad_hash",
                    format!("malformed transaction hash {h:?}: {e} (64 hex characters)"),
                )
            })
        })
        .transpose()?;
    let client = args.node.client()?;
    let json = args.node.json;
    runtime()?.block_on(async {
        // Open the stream before looking at the transaction: a commit in between is on it.
        let mut events = client
            .events(watched.as_ref())
            .await
            .with_context(|| format!("following {}", client.url()))?;
        if let Some(hash) = watched {
            match client.tx(&hash).await {
                Ok(info @ TxInfo::Committed { .. }) => return done(&info, json),
                Ok(TxInfo::Pending { .. }) => say(json, &hash, "pending", "waits in the mempool"),
                Err(ClientError::Api { status: 404, .. }) => say(
                    json,
                    &hash,
                    "unknown",
                    "not known to this node yet (it may still arrive from another validator)",
                ),
                Err(e) => return Err(e.into()),
            }
        } else if !json {
            outln!("following {} (Ctrl-C to stop)", client.url());
        }
        let deadline = watched.map(|_| Instant::now() + Duration::from_secs(args.timeout_secs));
        let mut blocks = 0u64;
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), events.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let hash = watched.expect("a deadline only with --tx");
                        return Err(crate::transfers::still_pending(hash, args.timeout_secs));
                    }
                },
                None => events.next().await,
            };
            let Some(event) = next.with_context(|| format!("following {}", client.url()))? else {
                return Err(coded(
                    "unreachable",
                    format!(
                        "{} closed the event stream (the node stopped?)",
                        client.url()
                    ),
                ));
            };
            match event.name.as_str() {
                "tx" => {
                    let info: TxInfo = parse(&event.data)?;
                    // Only the transaction asked about ends the watch, whatever a node sends.
                    let about = match &info {
                        TxInfo::Committed { hash, .. } | TxInfo::Pending { hash } => *hash,
                    };
                    if Some(about) == watched {
                        return done(&info, json);
                    }
                }
                "block" => {
                    let block: BlockEvent = parse(&event.data)?;
                    blocks += 1;
                    if json && watched.is_none() {
                        outln!("{}", event.data);
                    } else if watched.is_none() {
                        outln!(
                            "height {:>8}  round {}  txs {:>6}  proposed {}  committed here +{} ms",
                            thousands(block.height),
                            block.round,
                            thousands(block.txs as u64),
                            utc(block.proposed_at_ms),
                            block.committed_at_ms.saturating_sub(block.proposed_at_ms)
                        );
                    }
                    // Still in the mempool? A transfer can also be dropped (a gap that never
                    // filled) or never reach this node: say so now and then.
                    if let Some(hash) = watched
                        && blocks.is_multiple_of(10)
                        && let Err(ClientError::Api { status: 404, .. }) = client.tx(&hash).await
                    {
                        let text = format!(
                            "neither in this node's mempool nor committed, {blocks} blocks on"
                        );
                        say(json, &hash, "unknown", &text);
                    }
                    if args.blocks.is_some_and(|n| blocks >= n) {
                        return Ok(());
                    }
                }
                "lagged" if !json => {
                    let missed: serde_json::Value = parse(&event.data)?;
                    outln!(
                        "(fell behind: {} blocks skipped; see lantau query blocks)",
                        missed["missed"]
                    );
                }
                _ => {}
            }
        }
    })
}

fn parse<T: serde::de::DeserializeOwned>(data: &str) -> Result<T> {
    serde_json::from_str(data).map_err(|e| {
        coded(
            "bad_response",
            format!("an event the CLI cannot read ({e}): {data}"),
        )
    })
}

fn say(json: bool, hash: &Hash, status: &str, text: &str) {
    if json {
        outln!("{}", serde_json::json!({ "hash": hash, "status": status }));
    } else {
        outln!("{hash}  {text}");
    }
}

fn done(info: &TxInfo, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string(info).expect("serialises"));
    } else {
        print_tx(info);
    }
    Ok(())
}
