//! `lantau tx batch`: many payments from one key, read from a CSV file (`to,amount[,memo]`),
//! signed with consecutive nonces and sent in one `POST /v1/txs/batch`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use interface::http::TxInfo;
use ledger::{Address, Hash, TxBatch};

use crate::client_cmds::{NodeArgs, parse_address, print_json, short};
use crate::error_codes::coded;
use crate::output::{table, thousands};
use crate::runtime;
use crate::transfers::{WaitArgs, check_memo, sign, warn_if_new};

/// Most rows one file may hold (one request; the node's batch limit is 8 MiB).
pub const MAX_ROWS: usize = 10_000;

/// Recipients checked for being new (each is one request); beyond, no warning is given.
const MAX_RECIPIENT_CHECKS: usize = 100;

struct Payment {
    /// The line in the file (1-based), for messages.
    line: u64,
    to: Address,
    amount: u64,
    memo: String,
}

/// Where one payment ended.
#[derive(serde::Serialize)]
struct Outcome {
    line: u64,
    to: Address,
    amount: u64,
    nonce: u64,
    hash: Hash,
    /// `submitted`, `committed`, `pending` (still, after --wait) or `rejected`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

pub fn run(from_key: &Path, csv_path: &Path, wait: &WaitArgs, node: &NodeArgs) -> Result<()> {
    let key = crate::keys::load(from_key)?;
    let payments = read(csv_path)?;
    let total = payments
        .iter()
        .try_fold(0u64, |sum, p| sum.checked_add(p.amount))
        .ok_or_else(|| coded("malformed_tx", "the amounts add up to more than 2^64"))?;
    let client = node.client()?;
    let rt = runtime()?;
    let mut outcomes = rt.block_on(async {
        let status = client.status().await?;
        let account = client.account(&key.public()).await?;
        if total > account.balance {
            return Err(coded(
                "insufficient_funds",
                format!(
                    "insufficient funds: {} holds {}, the {} payments need {}",
                    key.public(),
                    thousands(account.balance),
                    payments.len(),
                    thousands(total)
                ),
            ));
        }
        let recipients: BTreeSet<Address> = payments.iter().map(|p| p.to).collect();
        for to in recipients.iter().take(MAX_RECIPIENT_CHECKS) {
            warn_if_new(&client, to).await?;
        }
        let txs: Vec<_> = payments
            .iter()
            .zip(account.next_nonce..)
            .map(|(p, nonce)| {
                sign(
                    &key,
                    status.chain_id.clone(),
                    p.to,
                    p.amount,
                    nonce,
                    &p.memo,
                )
            })
            .collect();
        let batch = TxBatch {
            txs: txs.iter().map(|t| t.encode()).collect(),
        };
        let answer = client
            .submit_batch(&batch)
            .await
            .with_context(|| format!("submitting {} payments to {}", txs.len(), client.url()))?;
        let mut outcomes: Vec<Outcome> = payments
            .iter()
            .zip(&txs)
            .map(|(p, tx)| Outcome {
                line: p.line,
                to: p.to,
                amount: p.amount,
                nonce: tx.transfer.nonce,
                hash: tx.hash(),
                status: "submitted",
                height: None,
                code: None,
                message: None,
            })
            .collect();
        for r in answer.rejected {
            if let Some(o) = outcomes.get_mut(r.index) {
                o.status = "rejected";
                o.code = Some(r.code.to_string());
                o.message = Some(r.message);
            }
        }
        if let Some(limit) = wait.limit() {
            wait_for_commits(&client, &mut outcomes, limit).await?;
        }
        Ok::<_, anyhow::Error>(outcomes)
    })?;
    outcomes.sort_by_key(|o| o.line);
    if node.json {
        print_json(&outcomes);
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                let result = match (o.status, o.height, &o.code) {
                    ("committed", Some(h), _) => format!("committed at height {h}"),
                    ("rejected", _, Some(code)) => format!("rejected: {code}"),
                    (status, _, _) => status.to_string(),
                };
                vec![
                    o.line.to_string(),
                    short(&o.to.to_string()),
                    thousands(o.amount),
                    o.nonce.to_string(),
                    short(&o.hash.to_hex()),
                    result,
                ]
            })
            .collect();
        out!(
            "{}",
            table(&["line", "to", "amount", "nonce", "hash", "result"], &rows)
        );
        for o in outcomes.iter().filter(|o| o.status == "rejected") {
            eprintln!(
                "line {}: {}",
                o.line,
                o.message.as_deref().unwrap_or("rejected")
            );
        }
    }
    let rejected = outcomes.iter().filter(|o| o.status == "rejected").count();
    let pending = outcomes.iter().filter(|o| o.status == "pending").count();
    if rejected > 0 {
        // A rejected nonce leaves a gap: the later payments wait for it and then expire.
        return Err(coded(
            "rejected",
            format!(
                "{rejected} of {} payments were rejected; payments after a rejected one wait for its nonce (fix the rows and send them again)",
                outcomes.len()
            ),
        ));
    }
    if pending > 0 {
        return Err(coded(
            "still_pending",
            format!(
                "{pending} of {} payments are still pending after {} s; check them with `lantau query tx`",
                outcomes.len(),
                wait.secs()
            ),
        ));
    }
    Ok(())
}

/// Polls each submitted payment until it commits or `limit` runs out.
async fn wait_for_commits(
    client: &testnet::client::Client,
    outcomes: &mut [Outcome],
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        for o in outcomes.iter_mut().filter(|o| o.status == "submitted") {
            if let TxInfo::Committed { height, .. } = client.tx(&o.hash).await? {
                o.status = "committed";
                o.height = Some(height);
            }
        }
        if outcomes.iter().all(|o| o.status != "submitted") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            for o in outcomes.iter_mut().filter(|o| o.status == "submitted") {
                o.status = "pending";
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The payments in a CSV file, each checked; an error names the line.
fn read(path: &Path) -> Result<Vec<Payment>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut payments = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |why: String| {
            coded(
                "bad_csv",
                format!(
                    "{} line {line}: {why} (columns: to,amount[,memo])",
                    path.display()
                ),
            )
        };
        if payments.is_empty() && record.get(0).is_some_and(|f| f.eq_ignore_ascii_case("to")) {
            continue; // the header row
        }
        if !(2..=3).contains(&record.len()) {
            return Err(bad(format!("{} columns", record.len())));
        }
        let to = parse_address(&record[0]).map_err(|e| bad(format!("{e:#}")))?;
        let amount = record[1]
            .parse::<u64>()
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| {
                bad(format!(
                    "amount {:?} is not a whole number of at least 1",
                    &record[1]
                ))
            })?;
        let memo = record.get(2).unwrap_or("").to_string();
        check_memo(&memo).map_err(|e| bad(format!("{e:#}")))?;
        payments.push(Payment {
            line,
            to,
            amount,
            memo,
        });
        if payments.len() > MAX_ROWS {
            return Err(bad(format!(
                "more than {MAX_ROWS} payments; split the file"
            )));
        }
    }
    if payments.is_empty() {
        return Err(coded(
            "bad_csv",
            format!(
                "{} holds no payments (columns: to,amount[,memo])",
                path.display()
            ),
        ));
    }
    Ok(payments)
}
