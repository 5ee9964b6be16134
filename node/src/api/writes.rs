//! Submissions: one transaction (optionally waiting for its commit) or a batch.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger::{Hash, TxBatch};
use serde::Deserialize;

use super::errors::{bad_query, error, node_error, refused};
use crate::handle::{NodeError, NodeHandle};
use interface::http::*;

#[derive(Deserialize)]
pub(super) struct SubmitQuery {
    wait_ms: Option<u64>,
}

/// Longest a submission may wait for its commit.
const MAX_WAIT_MS: u64 = 60_000;

pub(super) async fn submit(
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
        Ok(Err(e)) => refused(&e),
        Err(e) => node_error(e),
    }
}

/// Many transactions in one request: the body is a `ledger::TxBatch` in `ledger::encoding`
/// (`application/octet-stream`). For load generators and bridges; one result per transaction.
pub(super) async fn submit_batch(
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
                        code: e.code(),
                        message: e.to_string(),
                    }),
                }
            }
            Json(BatchSubmitted { accepted, rejected }).into_response()
        }
        Err(e) => node_error(e),
    }
}

pub(super) async fn wait_for_commit(node: &NodeHandle, hash: Hash, wait_ms: u64) -> Response {
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
