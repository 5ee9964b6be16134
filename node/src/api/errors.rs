//! Every error the API answers: a JSON `{"code", "message"}` with a stable code, and the HTTP
//! status for it (the one place a refusal becomes a status).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::handle::NodeError;
use crate::refusal::Refusal;
use interface::http::{ApiError, ErrorCode};

pub(super) fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
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

pub(super) fn node_error(e: NodeError) -> Response {
    match e {
        NodeError::Full(refusal) => refused(&refusal),
        NodeError::Storage(e @ ledger::storage::StorageError::Pruned { .. }) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::HeightNotKept,
            e.to_string(),
        ),
        NodeError::Storage(e @ ledger::storage::StorageError::HistoryNotIndexed { .. }) => error(
            StatusCode::NOT_FOUND,
            ErrorCode::HistoryNotIndexed,
            e.to_string(),
        ),
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

pub(super) async fn no_such_endpoint(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!(
            "no endpoint {method} {}; the endpoints are listed in the README",
            uri.path()
        ),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
}

pub(super) fn bad_query(e: QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, ErrorCode::BadQuery, e.body_text())
}

/// A path segment that is not UTF-8 (or otherwise unreadable) is refused with the code of the
/// value it should have been.
pub(super) fn bad_path(code: ErrorCode, e: PathRejection) -> Response {
    error(StatusCode::BAD_REQUEST, code, e.body_text())
}

/// The answer to a refused transaction: its stable code, and the HTTP status for it.
pub(super) fn refused(e: &Refusal) -> Response {
    let code = e.code();
    let status = match code {
        ErrorCode::MalformedTx => StatusCode::BAD_REQUEST,
        ErrorCode::SenderNotPermitted | ErrorCode::RecipientNotPermitted => StatusCode::FORBIDDEN,
        ErrorCode::SenderLimit => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::MempoolFull | ErrorCode::NodeStopped => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, code, e.to_string())
}
