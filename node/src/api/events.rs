//! `GET /v1/events`: the blocks this node commits, as Server-Sent Events, for `lantau watch`
//! and dashboards. With `?tx=HASH` the stream also tells that transaction's commit.
//!
//! Events: `block` ([`BlockEvent`]), `tx` ([`TxInfo`], committed), and `lagged`
//! (`{"missed": N}`: the client read too slowly and N blocks were skipped; it may re-read
//! them from `/v1/commits`). A comment line every 15 s keeps idle proxies from closing it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use ledger::Hash;
use serde::Deserialize;
use tokio::sync::{Semaphore, broadcast};

use super::errors::{bad_query, error, node_error};
use crate::handle::{NodeHandle, TxStatus};
use interface::http::{BlockEvent, ErrorCode, TxInfo};

/// Event streams served at once. Each holds a connection, a task and a receiver on the
/// commit notifications (which are shared, so a slow client costs no extra memory: it lags).
pub const MAX_EVENT_STREAMS: usize = 64;

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    tx: Option<String>,
}

pub(super) async fn events(
    State(node): State<NodeHandle>,
    q: Result<Query<EventsQuery>, QueryRejection>,
    streams: Arc<Semaphore>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let watched: Option<Hash> = match q.tx.as_deref().map(str::parse) {
        None => None,
        Some(Ok(hash)) => Some(hash),
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadHash,
                format!("tx: {e} (64 hex characters)"),
            );
        }
    };
    let Ok(permit) = streams.try_acquire_owned() else {
        node.metrics().api_event_streams_refused.inc();
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            format!("this node already serves {MAX_EVENT_STREAMS} event streams; retry later"),
        );
    };
    // Subscribe before looking the transaction up, so a commit between the two is seen.
    let commits = node.subscribe_commits();
    let mut first = Vec::new();
    if let Some(hash) = watched {
        match node.tx(hash).await {
            Ok(TxStatus::Committed(record)) => first.push(tx_event(hash, record)),
            Ok(_) => {}
            Err(e) => return node_error(e),
        }
    }
    node.metrics().api_event_streams.inc();
    let state = Stream {
        commits,
        watched,
        node,
        _permit: permit,
    };
    let rest = futures::stream::unfold(state, |mut s| async move {
        let events = s.next().await?;
        Some((futures::stream::iter(events), s))
    })
    .flatten();
    let stream = futures::stream::iter(first)
        .chain(rest)
        .map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One client's stream; dropped when the client goes away.
struct Stream {
    commits: broadcast::Receiver<Arc<interface::http::CommitInfo>>,
    watched: Option<Hash>,
    node: NodeHandle,
    /// Held for as long as the client listens.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.node.metrics().api_event_streams.dec();
    }
}

impl Stream {
    /// The events of the next commit; `None` once the node stops.
    async fn next(&mut self) -> Option<Vec<Event>> {
        match self.commits.recv().await {
            Ok(info) => {
                let mut events = vec![json_event("block", &BlockEvent::from(info.as_ref()))];
                if let Some(hash) = self.watched
                    && let Some(index) = info.txs.iter().position(|h| *h == hash)
                {
                    let record = ledger::TxRecord {
                        height: info.height,
                        index: index as u32,
                    };
                    events.push(tx_event(hash, record));
                }
                Some(events)
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "an event stream's client fell behind");
                let mut events = vec![json_event(
                    "lagged",
                    &serde_json::json!({ "missed": missed }),
                )];
                // The watched transaction may have been in a skipped block.
                if let Some(hash) = self.watched
                    && let Ok(TxStatus::Committed(record)) = self.node.tx(hash).await
                {
                    events.push(tx_event(hash, record));
                }
                Some(events)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

fn tx_event(hash: Hash, record: ledger::TxRecord) -> Event {
    json_event("tx", &TxInfo::committed(hash, record))
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(value).expect("event bodies serialise"))
}
