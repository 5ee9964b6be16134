//! An async client for a node's HTTP API (`node::api`), typed with `interface::http`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use interface::http::{
    AccountProofView, AccountView, ApiError, BatchSubmitted, BlockView, CommitInfo, MempoolView,
    NodeStatus, PeerView, SubmitRequest, Submitted, TxAnswer, TxInfo,
};
use ledger::{AccountTx, Address, Hash, SignedTx, TxBatch, Validator};
use serde::de::DeserializeOwned;

pub use crate::client_error::ClientError;

/// Talks to one node. Cheap to clone; connections are kept alive and reused.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    /// Sent as `Authorization: Bearer <token>` (a node with `api_token_file` requires it for
    /// submissions and metrics).
    token: Option<String>,
}

/// What a submission returned: its hash at once, or its fate after waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    Accepted(Hash),
    Waited(TxInfo),
}

/// The API base URL a user typed, checked and normalised: `HOST:PORT` gets `http://`, a
/// trailing `/` or `/v1` is dropped; other schemes and paths are refused with what to type.
pub fn parse_base_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let (scheme, rest) = with_scheme.split_once("://").expect("has a scheme");
    if scheme != "http" {
        return Err(format!(
            "{text:?}: only http:// is supported (got {scheme}://); e.g. http://127.0.0.1:26657"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/v1").unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Err(format!(
            "{text:?}: the node URL takes no path (got /{path}); e.g. http://127.0.0.1:26657"
        ));
    }
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{text:?}: no host; e.g. http://127.0.0.1:26657"));
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "{text:?}: port {port:?} is not a number from 1 to 65535"
        ));
    }
    Ok(format!("http://{host}"))
}

impl Client {
    /// `base` is like `http://127.0.0.1:26657` (a trailing slash is fine); see
    /// [`parse_base_url`] for text a user typed.
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
            token: None,
        }
    }

    /// The same client with another per-request deadline.
    /// Send the node's API token with every request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        timeout: Duration,
    ) -> Result<(StatusCode, T), ClientError> {
        let body = Bytes::from(body.unwrap_or_default());
        self.call_with(method, path, body, "application/json", timeout)
            .await
    }

    async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: &str,
        timeout: Duration,
    ) -> Result<(StatusCode, T), ClientError> {
        let (status, bytes) = self
            .exchange(method, path, body, content_type, timeout)
            .await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse {
            url: format!("{}{path}", self.base),
            status: status.as_u16(),
            reason: e.to_string(),
        })?;
        Ok((status, value))
    }

    /// One request; a non-success status becomes the API's error (or a bad response).
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: &str,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", content_type);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response =
                self.http
                    .request(request)
                    .await
                    .map_err(|e| ClientError::Unreachable {
                        url: self.base.clone(),
                        reason: error_chain(&e),
                    })?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                url: url.clone(),
                secs: timeout.as_secs(),
            })??;
        if !status.is_success() {
            return Err(refusal(url, status, &bytes));
        }
        Ok((status, bytes))
    }

    /// The node's `/metrics` text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (_, bytes) = self
            .exchange(
                Method::GET,
                "/metrics",
                Bytes::new(),
                "text/plain",
                self.timeout,
            )
            .await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Ok(self.call(Method::GET, path, None, self.timeout).await?.1)
    }

    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        self.get("/v1/status").await
    }

    pub async fn account(&self, address: &Address) -> Result<AccountView, ClientError> {
        self.get(&format!("/v1/accounts/{address}")).await
    }

    /// The account at `height` (None: the node's tip) with what proves it.
    pub async fn account_proof(
        &self,
        address: &Address,
        height: Option<u64>,
    ) -> Result<AccountProofView, ClientError> {
        let at = height.map(|h| format!("&height={h}")).unwrap_or_default();
        self.get(&format!("/v1/accounts/{address}?prove=true{at}"))
            .await
    }

    /// A committed transaction with what proves it, or the plain answer if it is pending.
    pub async fn tx_proof(&self, hash: &Hash) -> Result<TxAnswer, ClientError> {
        self.get(&format!("/v1/txs/{hash}?prove=true")).await
    }

    pub async fn tx(&self, hash: &Hash) -> Result<TxInfo, ClientError> {
        self.get(&format!("/v1/txs/{hash}")).await
    }

    /// A committed block; `None` for the latest.
    pub async fn block(&self, height: Option<u64>) -> Result<BlockView, ClientError> {
        match height {
            Some(h) => self.get(&format!("/v1/blocks/{h}")).await,
            None => self.get("/v1/blocks/latest").await,
        }
    }

    pub async fn validators(&self) -> Result<Vec<Validator>, ClientError> {
        self.get("/v1/validators").await
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>, ClientError> {
        self.get("/v1/peers").await
    }

    /// What waits in the node's mempool: its totals and the oldest `limit` (only `from`'s).
    pub async fn mempool(
        &self,
        limit: usize,
        from: Option<&Address>,
    ) -> Result<MempoolView, ClientError> {
        let from = from.map_or(String::new(), |a| format!("&from={a}"));
        self.get(&format!("/v1/mempool?limit={limit}{from}")).await
    }

    /// `address`'s committed transfers, newest first, from before height `before`.
    pub async fn account_txs(
        &self,
        address: &Address,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AccountTx>, ClientError> {
        let before = before.map_or(String::new(), |h| format!("&before={h}"));
        self.get(&format!("/v1/accounts/{address}/txs?limit={limit}{before}"))
            .await
    }

    /// Follow the node's commits (`GET /v1/events`), and with `tx` that transaction's.
    pub async fn events(&self, tx: Option<&Hash>) -> Result<crate::events::Events, ClientError> {
        let path = tx.map_or("/v1/events".to_string(), |h| format!("/v1/events?tx={h}"));
        let url = format!("{}{path}", self.base);
        let request = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| ClientError::Timeout {
                url: url.clone(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(refusal(url, status, &bytes));
        }
        Ok(crate::events::Events::new(url, response.into_body()))
    }

    /// Submit many encoded transactions in one request (`POST /v1/txs/batch`).
    pub async fn submit_batch(&self, batch: &TxBatch) -> Result<BatchSubmitted, ClientError> {
        let body = Bytes::from(batch.encode());
        Ok(self
            .call_with(
                Method::POST,
                "/v1/txs/batch",
                body,
                "application/octet-stream",
                self.timeout,
            )
            .await?
            .1)
    }

    /// Recent commits from `from` on, with the node's commit times.
    pub async fn commits(&self, from: u64) -> Result<Vec<CommitInfo>, ClientError> {
        self.get(&format!("/v1/commits?from={from}")).await
    }

    /// Submit a signed transfer; with `wait`, the node holds the answer until the commit (or
    /// the wait runs out and the answer is `TxInfo::Pending`).
    pub async fn submit(
        &self,
        tx: &SignedTx,
        wait: Option<Duration>,
    ) -> Result<SubmitOutcome, ClientError> {
        let body = serde_json::to_string(&SubmitRequest {
            tx: hex::encode(tx.encode()),
        })
        .expect("serialises");
        match wait {
            None => {
                let (_, s): (_, Submitted) = self
                    .call(Method::POST, "/v1/txs", Some(body), self.timeout)
                    .await?;
                Ok(SubmitOutcome::Accepted(s.hash))
            }
            Some(wait) => {
                let path = format!("/v1/txs?wait_ms={}", wait.as_millis());
                let (_, info) = self
                    .call(Method::POST, &path, Some(body), wait + self.timeout)
                    .await?;
                Ok(SubmitOutcome::Waited(info))
            }
        }
    }
}

/// A non-success answer: the API's error, or a bad response when it is not one.
fn refusal(url: String, status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(error) => ClientError::Api {
            status: status.as_u16(),
            error,
        },
        Err(_) => ClientError::BadResponse {
            url,
            status: status.as_u16(),
            reason: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

/// hyper's errors hide the cause (connection refused) in their source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_base_url;

    #[test]
    fn node_urls_are_normalised_or_refused_with_advice() {
        for (typed, base) in [
            ("http://127.0.0.1:26657", "http://127.0.0.1:26657"),
            ("127.0.0.1:26657", "http://127.0.0.1:26657"),
            ("http://127.0.0.1:26657/", "http://127.0.0.1:26657"),
            ("http://node1:26657/v1", "http://node1:26657"),
            ("http://node1:26657/v1/", "http://node1:26657"),
            ("localhost", "http://localhost"),
        ] {
            assert_eq!(parse_base_url(typed).as_deref(), Ok(base), "{typed}");
        }
        for (typed, says) in [
            ("htp://127.0.0.1:1", "only http://"),
            ("https://127.0.0.1:1", "only http://"),
            ("http://127.0.0.1:1/api", "takes no path"),
            ("http://", "no host"),
            (":26657", "no host"),
            ("127.0.0.1:port", "not a number"),
        ] {
            let e = parse_base_url(typed).unwrap_err();
            assert!(e.contains(says), "{typed}: {e}");
        }
    }
}
