//! HTTP JSON API (axum). Errors are JSON `{"code": ..., "message": ...}` with a stable code;
//! request bodies are size-limited.
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/v1/txs` `{"tx": "<hex of the encoded SignedTx>"}` | `{"hash"}`; 400 malformed, 422 refused, 413 too large, 503 mempool full |
//! | GET | `/v1/accounts/{address}` | `{"balance", "nonce"}` |
//! | GET | `/v1/status` | `{"height", "round", "peers", "mempool"}` |
//! | GET | `/health` | `{"ok": true}` |

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::{Address, TxError};
use serde::{Deserialize, Serialize};

use crate::app::SubmitError;
use crate::service::{NodeError, NodeHandle};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

fn stopped(e: NodeError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "node_stopped",
        e.to_string(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitTx {
    tx: String,
}

pub fn router(node: NodeHandle, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/txs", post(submit))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/status", get(status))
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(node)
}

async fn submit(
    State(node): State<NodeHandle>,
    body: Result<Json<SubmitTx>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(e.status(), "body_too_large", e.body_text());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_json", e.body_text()),
    };
    let Ok(bytes) = hex::decode(req.tx.trim_start_matches("0x")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_hex",
            "\"tx\" must be the hex encoding of a signed transaction",
        );
    };
    match node.submit(bytes).await {
        Ok(Ok(hash)) => Json(serde_json::json!({ "hash": hash })).into_response(),
        Ok(Err(e)) => {
            let (status, code) = match &e {
                SubmitError::Invalid(TxError::Signature(_)) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature")
                }
                SubmitError::Invalid(TxError::WrongChain { .. }) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "wrong_chain")
                }
                SubmitError::Invalid(_) => (StatusCode::BAD_REQUEST, "malformed_tx"),
                SubmitError::Duplicate(_) => (StatusCode::UNPROCESSABLE_ENTITY, "duplicate"),
                SubmitError::StaleNonce { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "stale_nonce"),
                SubmitError::MempoolFull { .. } => {
                    (StatusCode::SERVICE_UNAVAILABLE, "mempool_full")
                }
            };
            error(status, code, e.to_string())
        }
        Err(e) => stopped(e),
    }
}

async fn account(State(node): State<NodeHandle>, Path(address): Path<String>) -> Response {
    let address: Address = match address.parse() {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_address", format!("{e}")),
    };
    match node.account(address).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => stopped(e),
    }
}

async fn status(State(node): State<NodeHandle>) -> Response {
    match node.status().await {
        Ok(s) => Json(serde_json::json!({
            "height": s.height, "round": s.round, "peers": s.peers, "mempool": s.mempool
        }))
        .into_response(),
        Err(e) => stopped(e),
    }
}
