//! Queries: commits, accounts, transactions, blocks, validators, status, peers, readiness and
//! metrics. Each reads the node's read side, never its task (see `handle`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger::{Address, Hash};
use serde::Deserialize;

use super::errors::{bad_path, bad_query, error, node_error};
use crate::handle::{NodeHandle, TxStatus};
use interface::http::*;

#[derive(Deserialize)]
pub(super) struct CommitsQuery {
    from: u64,
}

pub(super) async fn commits(
    State(node): State<NodeHandle>,
    q: Result<Query<CommitsQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    match node.commits(q.from).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => node_error(e),
    }
}

pub(super) async fn validators(State(node): State<NodeHandle>) -> Response {
    match node.validators().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => node_error(e),
    }
}

/// The address in a path segment (or a query parameter, `what` naming it), or the 400
/// `bad_address` answer.
fn address_in(
    text: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<Address, Box<Response>> {
    let text = match text {
        Ok(Path(a)) => a,
        Err(e) => return Err(Box::new(bad_path(ErrorCode::BadAddress, e))),
    };
    text.parse().map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadAddress,
            format!("{what}{e}"),
        ))
    })
}

#[derive(Deserialize)]
pub(super) struct ProveQuery {
    #[serde(default)]
    prove: bool,
    height: Option<u64>,
}

pub(super) async fn account(
    State(node): State<NodeHandle>,
    address: Result<Path<String>, PathRejection>,
    q: Result<Query<ProveQuery>, QueryRejection>,
) -> Response {
    let address = match address_in(address, "") {
        Ok(a) => a,
        Err(refused) => return *refused,
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    if q.prove {
        return match node.account_proof(address, q.height).await {
            Ok(p) => Json(p).into_response(),
            Err(e) => node_error(e),
        };
    }
    if q.height.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadQuery,
            "height= needs prove=true (an unproven read is of the latest state)",
        );
    }
    match node.account_view(address).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => node_error(e),
    }
}

/// Most transactions one `GET /v1/mempool` lists (its totals count them all).
pub const MAX_MEMPOOL_LISTED: usize = 1000;

#[derive(Deserialize)]
pub(super) struct MempoolQuery {
    limit: Option<usize>,
    from: Option<String>,
}

pub(super) async fn mempool(
    State(node): State<NodeHandle>,
    q: Result<Query<MempoolQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let from = match q
        .from
        .map(|a| address_in(Ok(Path(a)), "from: "))
        .transpose()
    {
        Ok(from) => from,
        Err(refused) => return *refused,
    };
    let limit = q.limit.unwrap_or(100).min(MAX_MEMPOOL_LISTED);
    match node.mempool(limit, from).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => node_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    limit: Option<usize>,
    before: Option<u64>,
}

/// `GET /v1/accounts/{address}/txs`: its committed transfers, newest first.
pub(super) async fn account_txs(
    State(node): State<NodeHandle>,
    address: Result<Path<String>, PathRejection>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let address = match address_in(address, "") {
        Ok(a) => a,
        Err(refused) => return *refused,
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let limit = q.limit.unwrap_or(100);
    match node.account_txs(address, q.before, limit).await {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => node_error(e),
    }
}

pub(super) async fn tx(
    State(node): State<NodeHandle>,
    hash: Result<Path<String>, PathRejection>,
    q: Result<Query<ProveQuery>, QueryRejection>,
) -> Response {
    let prove = match q {
        Ok(Query(q)) => q.prove,
        Err(e) => return bad_query(e),
    };
    let hash = match hash {
        Ok(Path(h)) => h,
        Err(e) => return bad_path(ErrorCode::BadHash, e),
    };
    let hash: Hash = match hash.parse() {
        Ok(h) => h,
        Err(e) => return error(StatusCode::BAD_REQUEST, ErrorCode::BadHash, format!("{e}")),
    };
    if prove {
        match node.tx_proof(hash).await {
            Ok(Some(p)) => return Json(p).into_response(),
            // Pending or unknown: nothing to prove, answered as without `prove`.
            Ok(None) => {}
            Err(e) => return node_error(e),
        }
    }
    match node.tx(hash).await {
        Ok(TxStatus::Pending) => Json(TxInfo::Pending { hash }).into_response(),
        Ok(TxStatus::Committed(r)) => Json(TxInfo::committed(hash, r)).into_response(),
        Ok(TxStatus::Unknown) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no transaction {hash}"),
        ),
        Err(e) => node_error(e),
    }
}

pub(super) async fn block(
    State(node): State<NodeHandle>,
    height: Result<Path<String>, PathRejection>,
) -> Response {
    let height = match height {
        Ok(Path(h)) => h,
        Err(e) => return bad_path(ErrorCode::BadHeight, e),
    };
    let height = match height.as_str() {
        "latest" => None,
        h => match h.parse::<u64>() {
            Ok(h) => Some(h),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadHeight,
                    "height must be a number or \"latest\"",
                );
            }
        },
    };
    match node.block(height).await {
        Ok(Some((block, certificate))) => Json(BlockView { block, certificate }).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no committed block at that height",
        ),
        Err(e) => node_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct ReadinessQuery {
    min_peers: Option<usize>,
}

/// Ready: not halted, not syncing, and connected to at least `min_peers` validators (by
/// default enough for a quorum with this one, counting equal power: what it needs to decide).
pub(super) async fn readiness(
    State(node): State<NodeHandle>,
    q: Result<Query<ReadinessQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    let (status, validators) = match (node.status().await, node.validators().await) {
        (Ok(s), Ok(v)) => (s, v.len()),
        (Err(e), _) | (_, Err(e)) => return node_error(e),
    };
    let min_peers = q
        .min_peers
        .unwrap_or((2 * validators / 3 + 1).saturating_sub(1));
    let mut reasons = Vec::new();
    if status.halted.is_some() {
        reasons.push("halted".to_string());
    }
    if status.syncing {
        reasons.push("syncing".to_string());
    }
    if status.peers < min_peers {
        reasons.push("too_few_peers".to_string());
    }
    let ready = reasons.is_empty();
    let body = Readiness {
        ready,
        reasons,
        peers: status.peers,
        min_peers,
        syncing: status.syncing,
        committed_height: status.committed_height,
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub(super) async fn metrics(State(node): State<NodeHandle>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics().render(),
    )
        .into_response()
}

pub(super) async fn status(State(node): State<NodeHandle>) -> Response {
    match node.status().await {
        Ok(s) => Json(s).into_response(),
        Err(e) => node_error(e),
    }
}

pub(super) async fn peers(State(node): State<NodeHandle>) -> Response {
    match node.peers().await {
        Ok(peers) => Json(
            peers
                .iter()
                .map(|p| PeerView {
                    peer_id: p.peer_id.to_string(),
                    score: p.score,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => node_error(e),
    }
}
