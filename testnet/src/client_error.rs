//! What can go wrong talking to a node, for [`crate::client`] and [`crate::events`].

use interface::http::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {reason}. Is it running? (`lantau testnet status`)")]
    Unreachable { url: String, reason: String },
    #[error("the node refused the request ({status}, {}): {}", .error.code, .error.message)]
    Api { status: u16, error: ApiError },
    #[error("unexpected answer from {url} ({status}): {reason}")]
    BadResponse {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("no answer from {url} within {secs} s")]
    Timeout { url: String, secs: u64 },
}

impl ClientError {
    /// The API's error code, when the node answered with one.
    pub fn code(&self) -> Option<interface::http::ErrorCode> {
        match self {
            ClientError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }
}
