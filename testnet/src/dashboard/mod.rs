//! `lantau dashboard`: one page that shows a running network live. This process polls every
//! validator's public API once a second (`/v1/status`, `/v1/commits`, `/metrics`,
//! `/v1/peers`), aggregates ([`aggregate`]), and serves the page (`page.html`, built into the
//! binary: no CDN, nothing fetched but `/api/snapshot` from this origin) and the snapshot.

pub mod aggregate;
mod metrics_text;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aggregate::{Aggregator, Names, Poll, Polled};

use crate::client::Client;

/// How often each validator is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A validator that has not answered all four requests by then is shown down.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(800);

/// The page, with its CSS and JavaScript.
pub const PAGE: &str = include_str!("page.html");

/// One validator to show: its name and API URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub url: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Poll one validator: all four requests, within [`POLL_TIMEOUT`] together.
async fn poll(client: &Client, commits_from: u64) -> Poll {
    let at_ms = now_ms();
    let started = Instant::now();
    let requests = async {
        let status = client.status().await?;
        let latency_ms = started.elapsed().as_millis() as u64;
        let (commits, metrics, peers) = tokio::try_join!(
            client.commits(commits_from),
            client.metrics(),
            client.peers()
        )?;
        Ok::<_, crate::client::ClientError>((
            latency_ms,
            Polled {
                status,
                commits,
                metrics,
                peers,
            },
        ))
    };
    match tokio::time::timeout(POLL_TIMEOUT, requests).await {
        Ok(Ok((latency_ms, polled))) => Poll {
            at_ms,
            latency_ms,
            outcome: Ok(polled),
        },
        Ok(Err(e)) => Poll {
            at_ms,
            latency_ms: started.elapsed().as_millis() as u64,
            outcome: Err(e.to_string()),
        },
        Err(_) => Poll {
            at_ms,
            latency_ms: POLL_TIMEOUT.as_millis() as u64,
            outcome: Err(format!("no answer within {} ms", POLL_TIMEOUT.as_millis())),
        },
    }
}

/// Serve the dashboard on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    targets: Vec<Target>,
    names: Names,
) -> std::io::Result<()> {
    let pairs: Vec<(String, String)> = targets
        .iter()
        .map(|t| (t.name.clone(), t.url.clone()))
        .collect();
    let aggregator = Arc::new(Mutex::new(Aggregator::new(&pairs, names)));
    let clients: Vec<Client> = targets
        .iter()
        .map(|t| Client::new(&t.url).with_timeout(POLL_TIMEOUT))
        .collect();
    let polling = aggregator.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let from: Vec<u64> = {
                let a = lock(&polling);
                (0..clients.len()).map(|i| a.commits_from(i)).collect()
            };
            // Together: each is bounded by POLL_TIMEOUT, so one dead validator delays none.
            let polls =
                futures::future::join_all(clients.iter().zip(from).map(|(c, f)| poll(c, f))).await;
            let mut a = lock(&polling);
            for (i, p) in polls.into_iter().enumerate() {
                a.record(i, p);
            }
        }
    });
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { ([("content-type", "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/api/snapshot",
            axum::routing::get(move || {
                let aggregator = aggregator.clone();
                async move { axum::Json(lock(&aggregator).snapshot(now_ms())) }
            }),
        );
    axum::serve(listener, app).await
}

fn lock(a: &Mutex<Aggregator>) -> std::sync::MutexGuard<'_, Aggregator> {
    // Plain values: a panic in another holder cannot leave them half-updated in a way that
    // matters to a display.
    a.lock().unwrap_or_else(|p| p.into_inner())
}

/// Names for a local testnet: validators by their genesis key and peers by peer id, from
/// the genesis of its first home.
pub fn names_from_genesis(genesis: &ledger::Genesis) -> Names {
    let mut names = Names::default();
    for v in &genesis.validators {
        names.validators.insert(v.public_key, v.name.clone());
        if let Some(p2p) = &v.p2p {
            names.peers.insert(p2p.peer_id.clone(), v.name.clone());
        }
    }
    names
}
