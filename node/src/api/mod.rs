//! HTTP JSON API (axum). Errors are JSON `{"code": ..., "message": ...}` with a stable code;
//! request bodies are size-limited.
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/v1/txs` `{"tx": "<hex of the encoded SignedTx>"}` | `{"hash"}`; 400 malformed, 422 refused, 413 too large, 503 mempool full |
//! | POST | `/v1/txs?wait_ms=N` | as above, but waits up to N ms (at most 60 s) for the commit: `{"hash", "status", "height", "index"}` (committed means executed) |
//! | POST | `/v1/txs/batch` (body: an encoded `TxBatch`) | [`BatchSubmitted`] |
//! | GET | `/v1/commits?from=H` | [`CommitInfo`]s of recent blocks, with this node's commit times |
//! | GET | `/v1/accounts/{address}` | `{"balance", "nonce", "next_nonce"}` (committed, and counting this node's pending transfers) |
//! | GET | `/v1/accounts/{address}?prove=true&height=H` | [`AccountProofView`]: the account (or null) at H (default: the tip) with header, certificate and state proof; 404 `height_not_kept` outside the kept heights |
//! | GET | `/v1/accounts/{address}/txs?limit=N&before=H` | its committed transfers, newest first ([`ledger::AccountTx`]); 404 `history_not_indexed` without the index |
//! | GET | `/v1/mempool?limit=N&from=ADDRESS` | [`MempoolView`] |
//! | GET | `/v1/events?tx=HASH` | Server-Sent Events: committed blocks (see `events`) |
//! | GET | `/v1/validators` | `[{"public_key", "power"}]` |
//! | GET | `/v1/txs/{hash}` | `{"status": "pending", "hash"}` or `{"status": "committed", "hash", "height", "index"}`; 404 |
//! | GET | `/v1/txs/{hash}?prove=true` | [`TxProofView`] for a committed transaction (header, certificate, Merkle path); else as without it |
//! | GET | `/v1/blocks/{height}` or `/v1/blocks/latest` | `{"block", "certificate"}`; 404 |
//! | GET | `/v1/status` | [`NodeStatus`] |
//! | GET | `/v1/peers` | `[{"peer_id", "score"}]` |
//! | GET | `/health` | `{"ok": true}` |
//! | GET | `/readiness?min_peers=N` | [`Readiness`]; 503 when halted, syncing or short of peers |
//! | GET | `/metrics` | Prometheus text format |

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

mod errors;
mod events;
mod reads;
mod writes;

use crate::handle::NodeHandle;
use errors::{error, method_not_allowed, no_such_endpoint};
pub use events::MAX_EVENT_STREAMS;
pub use interface::http::*;
pub use reads::MAX_MEMPOOL_LISTED;
use reads::{
    account, account_txs, block, commits, mempool, metrics, peers, readiness, status, tx,
    validators,
};
use writes::{submit, submit_batch};

/// Largest `POST /v1/txs/batch` body.
pub const MAX_BATCH_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Bytes of request bodies held at once, across every connection: 512 connections with 8 MiB
/// batches each, and their decoded copies, would otherwise be gigabytes.
pub const MAX_INFLIGHT_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
struct BodyBudget {
    bytes: Arc<tokio::sync::Semaphore>,
    max_body_bytes: usize,
    node: NodeHandle,
}

/// A request with a body takes its size from the budget (its `Content-Length`, or the
/// largest body its route accepts when it gives none) until its answer is made, which covers
/// the decoded copy and the verification too; with no room it is refused at once.
async fn body_budget(
    State(budget): State<BodyBudget>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let route_max = if request.uri().path() == "/v1/txs/batch" {
        MAX_BATCH_BODY_BYTES
    } else {
        budget.max_body_bytes
    };
    let claimed = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(route_max)
        .min(route_max)
        .clamp(1, MAX_INFLIGHT_BODY_BYTES);
    let Ok(_held) = budget.bytes.clone().try_acquire_many_owned(claimed as u32) else {
        budget.node.metrics().tx_refused(ErrorCode::Busy.as_str());
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            format!(
                "this node already holds {MAX_INFLIGHT_BODY_BYTES} bytes of request bodies; retry shortly"
            ),
        );
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, "1".parse().expect("valid"));
        return response;
    };
    next.run(request).await
}

/// `router`, with its writes (`POST /v1/txs`, `POST /v1/txs/batch`) and `/metrics` open only
/// to requests that carry `Authorization: Bearer <token>`; reads stay open.
pub fn require_token(router: Router, token: String) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(token),
        check_token,
    ))
}

async fn check_token(
    State(token): State<Arc<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let guarded =
        (request.method() == Method::POST && path.starts_with("/v1/txs")) || path == "/metrics";
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !guarded || presented.is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        format!(
            "{path} needs this node's API token: send Authorization: Bearer <token> (lantau --api-token, or LANTAU_API_TOKEN)"
        ),
    );
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Compare without stopping at the first differing byte, so the time taken tells nothing
/// about how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn router(node: NodeHandle, max_body_bytes: usize) -> Router {
    let budget = BodyBudget {
        bytes: Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT_BODY_BYTES)),
        max_body_bytes,
        node: node.clone(),
    };
    let streams = Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS));
    Router::new()
        .route("/v1/txs", post(submit))
        .route(
            "/v1/txs/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/commits", get(commits))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/accounts/{address}/txs", get(account_txs))
        .route("/v1/mempool", get(mempool))
        .route(
            "/v1/events",
            get(move |node, q| events::events(node, q, streams.clone())),
        )
        .route("/v1/txs/{hash}", get(tx))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/validators", get(validators))
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .route("/readiness", get(readiness))
        .route("/metrics", get(metrics))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(budget, body_budget))
        .with_state(node)
}
