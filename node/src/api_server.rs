//! Serving the HTTP API with limits no client can push past. File descriptors are shared with
//! libp2p and RocksDB: an API that holds every connection a client opens (2,000 slowloris
//! connections were held for 75 s) would leave a validator unable to dial its peers or open a
//! table file. So connections are capped (beyond the cap they are closed at once, before any
//! byte is read), headers must arrive within a timeout (which also closes idle keep-alive
//! connections), and every request has an overall deadline.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::metrics::Metrics;
use interface::http::{ApiError, ErrorCode};

#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and that an idle keep-alive connection
    /// is kept.
    pub header_timeout: Duration,
    /// Time a request may take in all, its body included (above the longest `?wait_ms`).
    pub request_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(75),
        }
    }
}

/// Descriptors kept for libp2p and RocksDB whatever the API's cap says.
pub const FD_RESERVE: u64 = 512;

/// The connection cap that leaves [`FD_RESERVE`] descriptors free under a soft `RLIMIT_NOFILE`
/// of `nofile` (the API's own listener and a few more are in the reserve too).
pub fn connection_cap(configured: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(FD_RESERVE).max(8);
    configured.min(room as usize).max(1)
}

/// Serve `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ApiLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: wait a
                // moment rather than spin.
                tracing::warn!(error = %e, "API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.api_connections_refused.inc();
            drop(stream);
            continue;
        };
        let in_use = limits.max_connections - permits.available_permits();
        metrics.api_connections.set(in_use as i64);
        let router = router.clone();
        let limits = limits.clone();
        let metrics = metrics.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let request_timeout = limits.request_timeout;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let router = router.clone();
                async move {
                    let req = req.map(Body::new);
                    let response =
                        match tokio::time::timeout(request_timeout, router.oneshot(req)).await {
                            Ok(Ok(response)) => response,
                            Ok(Err(never)) => match never {},
                            Err(_) => timed_out(request_timeout),
                        };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
            let in_use = limits.max_connections - permits.available_permits();
            metrics.api_connections.set(in_use as i64);
        });
    }
}

fn timed_out(after: Duration) -> Response<Body> {
    let body = serde_json::to_vec(&ApiError {
        code: ErrorCode::RequestTimeout,
        message: format!(
            "the request took longer than {} s (a slow body?); send it again",
            after.as_secs()
        ),
    })
    .unwrap_or_default();
    Response::builder()
        .status(StatusCode::REQUEST_TIMEOUT)
        .header("content-type", "application/json")
        .header("connection", "close")
        .body(Body::from(body))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_peers_and_storage() {
        assert_eq!(connection_cap(512, 1_048_576), 512);
        assert_eq!(connection_cap(512, 1024), 512);
        assert_eq!(connection_cap(512, 800), 288);
        assert_eq!(connection_cap(512, 100), 8);
    }
}
