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
//! | GET | `/v1/validators` | `[{"public_key", "power"}]` |
//! | GET | `/v1/txs/{hash}` | `{"status": "pending", "hash"}` or `{"status": "committed", "hash", "height", "index"}`; 404 |
//! | GET | `/v1/blocks/{height}` or `/v1/blocks/latest` | `{"block", "certificate"}`; 404 |
//! | GET | `/v1/status` | [`NodeStatus`] |
//! | GET | `/v1/peers` | `[{"peer_id", "score"}]` |
//! | GET | `/health` | `{"ok": true}` |
//! | GET | `/readiness?min_peers=N` | [`Readiness`]; 503 when halted, syncing or short of peers |
//! | GET | `/metrics` | Prometheus text format |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::{Address, Hash, TxBatch, TxError};
use serde::Deserialize;

use crate::app::SubmitError;
use crate::service::{NodeError, NodeHandle, TxStatus};
pub use interface::http::*;

fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let mut response = (
        status,
        Json(ApiError {
            code,
            message: message.into(),
        }),
    )
        .into_response();
    // Refusals that clear by themselves say when to come back (RFC 9110 Retry-After).
    if matches!(code, ErrorCode::MempoolFull | ErrorCode::SenderLimit) {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    response
}

fn node_error(e: NodeError) -> Response {
    match e {
        NodeError::Full(refused) => {
            let (status, code) = refusal(&refused);
            error(status, code, refused.to_string())
        }
        NodeError::Storage(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::StorageError,
            e.to_string(),
        ),
        e => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NodeStopped,
            e.to_string(),
        ),
    }
}

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

pub fn router(node: NodeHandle, max_body_bytes: usize) -> Router {
    let budget = BodyBudget {
        bytes: Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT_BODY_BYTES)),
        max_body_bytes,
        node: node.clone(),
    };
    Router::new()
        .route("/v1/txs", post(submit))
        .route(
            "/v1/txs/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/commits", get(commits))
        .route("/v1/accounts/{address}", get(account))
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

async fn no_such_endpoint(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!(
            "no endpoint {method} {}; the endpoints are listed in the README",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

fn bad_query(e: QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, ErrorCode::BadQuery, e.body_text())
}

/// A path segment that is not UTF-8 (or otherwise unreadable) is refused with the code of the
/// value it should have been.
fn bad_path(code: ErrorCode, e: PathRejection) -> Response {
    error(StatusCode::BAD_REQUEST, code, e.body_text())
}

#[derive(Deserialize)]
struct SubmitQuery {
    wait_ms: Option<u64>,
}

/// Longest a submission may wait for its commit.
const MAX_WAIT_MS: u64 = 60_000;

async fn submit(
    State(node): State<NodeHandle>,
    query: Result<Query<SubmitQuery>, QueryRejection>,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(e),
    };
    // Requests refused here never reach the node; count them with the node's refusals.
    let refuse = |status, code: ErrorCode, message: String| {
        node.metrics().tx_refused(code.as_str());
        error(status, code, message)
    };
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(e.status(), ErrorCode::BodyTooLarge, e.body_text());
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, ErrorCode::BadJson, e.body_text()),
    };
    let Ok(bytes) = hex::decode(req.tx.trim_start_matches("0x")) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadHex,
            "\"tx\" must be the hex encoding of a signed transaction".into(),
        );
    };
    match node.submit(bytes).await {
        Ok(Ok(hash)) => match query.wait_ms {
            None => Json(Submitted { hash }).into_response(),
            Some(wait) => wait_for_commit(&node, hash, wait.min(MAX_WAIT_MS)).await,
        },
        Ok(Err(e)) => {
            let (status, code) = refusal(&e);
            error(status, code, e.to_string())
        }
        Err(e) => node_error(e),
    }
}

/// The HTTP status and stable code for a refused transaction.
pub(crate) fn refusal(e: &SubmitError) -> (StatusCode, ErrorCode) {
    match e {
        SubmitError::Invalid(TxError::Signature(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::BadSignature)
        }
        SubmitError::Invalid(TxError::WrongChain { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::WrongChain)
        }
        SubmitError::Invalid(_) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedTx),
        SubmitError::Duplicate(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Duplicate),
        SubmitError::ZeroAmount => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ZeroAmount),
        SubmitError::SelfTransfer => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::SelfTransfer),
        SubmitError::UnknownSender => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::UnknownSender),
        SubmitError::NotPermitted(ledger::PermissionError::Sender(_)) => {
            (StatusCode::FORBIDDEN, ErrorCode::SenderNotPermitted)
        }
        SubmitError::NotPermitted(ledger::PermissionError::Recipient(_)) => {
            (StatusCode::FORBIDDEN, ErrorCode::RecipientNotPermitted)
        }
        SubmitError::StaleNonce { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::StaleNonce),
        SubmitError::InsufficientFunds { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InsufficientFunds,
        ),
        SubmitError::MempoolFull { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::MempoolFull)
        }
        SubmitError::SenderLimit { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::SenderLimit),
        SubmitError::NoncePending { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NoncePending)
        }
        SubmitError::NonceGap { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NonceGap),
        SubmitError::Halted(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NodeStopped),
    }
}

/// Many transactions in one request: the body is a `ledger::TxBatch` in `ledger::encoding`
/// (`application/octet-stream`). For load generators and bridges; one result per transaction.
async fn submit_batch(
    State(node): State<NodeHandle>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::BodyTooLarge
            } else {
                ErrorCode::BadBody
            };
            node.metrics().tx_refused(code.as_str());
            return error(e.status(), code, e.body_text());
        }
    };
    // Under overload most requests find no room: answer those before decoding (4,096
    // transactions are 4,096 allocations). The claimed count is bounded by the body, so a
    // forged one cannot inflate the refusal counter.
    if let Some(claimed) = TxBatch::peek_len(&body) {
        let count = usize::try_from(claimed)
            .unwrap_or(usize::MAX)
            .min(body.len());
        if let Some(refused) = node.refuse_if_no_room(count) {
            return node_error(NodeError::Full(refused));
        }
    }
    let batch = match TxBatch::decode(&body) {
        Ok(b) => b,
        Err(e) => {
            node.metrics().tx_refused(ErrorCode::BadBatch.as_str());
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadBatch,
                format!("the body must be an encoded TxBatch: {e}"),
            );
        }
    };
    match node.submit_batch(batch.txs).await {
        Ok(results) => {
            let mut accepted = 0;
            let mut rejected = Vec::new();
            for (index, r) in results.into_iter().enumerate() {
                match r {
                    Ok(_) => accepted += 1,
                    Err(e) => rejected.push(BatchRejection {
                        index,
                        code: refusal(&e).1,
                        message: e.to_string(),
                    }),
                }
            }
            Json(BatchSubmitted { accepted, rejected }).into_response()
        }
        Err(e) => node_error(e),
    }
}

#[derive(Deserialize)]
struct CommitsQuery {
    from: u64,
}

async fn commits(
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

async fn wait_for_commit(node: &NodeHandle, hash: Hash, wait_ms: u64) -> Response {
    match node
        .wait_for_commit(hash, std::time::Duration::from_millis(wait_ms))
        .await
    {
        Ok(Some(r)) => Json(TxInfo::committed(hash, r)).into_response(),
        // Accepted, not yet committed: the client polls /v1/txs/{hash}.
        Ok(None) => (StatusCode::ACCEPTED, Json(TxInfo::Pending { hash })).into_response(),
        Err(e) => node_error(e),
    }
}

async fn validators(State(node): State<NodeHandle>) -> Response {
    match node.validators().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => node_error(e),
    }
}

async fn account(
    State(node): State<NodeHandle>,
    address: Result<Path<String>, PathRejection>,
) -> Response {
    let address = match address {
        Ok(Path(a)) => a,
        Err(e) => return bad_path(ErrorCode::BadAddress, e),
    };
    let address: Address = match address.parse() {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadAddress,
                format!("{e}"),
            );
        }
    };
    match node.account_view(address).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => node_error(e),
    }
}

async fn tx(State(node): State<NodeHandle>, hash: Result<Path<String>, PathRejection>) -> Response {
    let hash = match hash {
        Ok(Path(h)) => h,
        Err(e) => return bad_path(ErrorCode::BadHash, e),
    };
    let hash: Hash = match hash.parse() {
        Ok(h) => h,
        Err(e) => return error(StatusCode::BAD_REQUEST, ErrorCode::BadHash, format!("{e}")),
    };
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

async fn block(
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
struct ReadinessQuery {
    min_peers: Option<usize>,
}

/// Ready: not halted, not syncing, and connected to at least `min_peers` validators (by
/// default enough for a quorum with this one, counting equal power: what it needs to decide).
async fn readiness(
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

async fn metrics(State(node): State<NodeHandle>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.metrics().render(),
    )
        .into_response()
}

async fn status(State(node): State<NodeHandle>) -> Response {
    match node.status().await {
        Ok(s) => Json(s).into_response(),
        Err(e) => node_error(e),
    }
}

async fn peers(State(node): State<NodeHandle>) -> Response {
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
