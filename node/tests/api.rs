//! The HTTP API against a running single-validator node: good requests work, bad ones get a
//! 4xx with a stable code, and the node keeps serving.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consensus::Timeouts;
use http_body_util::BodyExt;
use ledger::{Genesis, GenesisAccount, GenesisValidator, Keypair, Transfer};
use node::api::{ApiError, router};
use node::app::AppConfig;
use node::network::NetworkConfig;
use node::service::{self, NodeSetup};
use tower::ServiceExt;

const LIMIT: usize = 4096;

fn start(dir: &std::path::Path, alice: &Keypair) -> node::service::NodeHandle {
    start_with(
        dir,
        alice,
        AppConfig {
            verify_threads: 1,
            ..AppConfig::default()
        },
    )
}

fn start_with(dir: &std::path::Path, alice: &Keypair, app: AppConfig) -> node::service::NodeHandle {
    start_among(dir, alice, app, 1)
}

/// The node as one of `validators` equal validators, the others never started: with more
/// than one, it never commits, so what it admits stays pending.
fn start_among(
    dir: &std::path::Path,
    alice: &Keypair,
    app: AppConfig,
    validators: usize,
) -> node::service::NodeHandle {
    let validator = Keypair::from_seed("api-validator");
    let others = (1..validators).map(|i| Keypair::from_seed(&format!("api-absent-{i}")));
    let genesis = Genesis {
        chain_id: "api-test".into(),
        genesis_time_ms: 0,
        validators: std::iter::once(validator.public())
            .chain(others.map(|k| k.public()))
            .enumerate()
            .map(|(i, public_key)| GenesisValidator {
                name: format!("v{i}"),
                public_key,
                power: 1,
                p2p: None,
            })
            .collect(),
        accounts: vec![GenesisAccount {
            address: alice.public(),
            balance: 100,
        }],
        permissions: None,
    };
    let key = node::home::p2p_identity([7u8; 32]);
    let port = node::ports::free_local_port();
    let addr: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    // The absent validators' endpoints: closed loopback ports.
    let mut peers = vec![(key.public().to_peer_id(), addr.clone())];
    peers.extend((1..validators).map(|i| {
        let absent = node::home::p2p_identity([7 + i as u8; 32])
            .public()
            .to_peer_id();
        let port = node::ports::free_local_port();
        (
            absent,
            format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(),
        )
    }));
    service::start(NodeSetup {
        byzantine: None,
        dir: dir.to_path_buf(),
        genesis,
        validator_key: validator,
        network: NetworkConfig {
            key,
            listen: addr,
            peers,
        },
        timeouts: Timeouts::default(),
        block_interval: Duration::from_millis(20),
        app,
    })
    .unwrap()
}

/// One of two validators, the other never started: nothing commits, so everything admitted
/// stays pending.
fn pending_only(dir: &std::path::Path, alice: &Keypair) -> node::service::NodeHandle {
    start_among(
        dir,
        alice,
        AppConfig {
            verify_threads: 1,
            ..AppConfig::default()
        },
        2,
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// `GET /metrics`, which must answer 200, as text.
async fn metrics_text(app: &axum::Router) -> String {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn code(v: &serde_json::Value) -> String {
    serde_json::from_value::<ApiError>(v.clone())
        .map(|e| e.code.to_string())
        .unwrap_or_default()
}

/// 1 unit from `from` to bob on the test chain.
fn pays_bob(from: &Keypair, nonce: u64) -> ledger::SignedTx {
    Transfer {
        chain_id: "api-test".into(),
        from: from.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce,
        memo: vec![],
    }
    .sign(from)
}

fn tx_json(tx: &ledger::SignedTx) -> String {
    format!("{{\"tx\": \"{}\"}}", hex::encode(tx.encode()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_accepts_good_requests_and_refuses_bad_ones_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start(dir.path(), &alice);
    let app = router(node, LIMIT);
    let bob = Keypair::from_seed("bob").public();
    let transfer = |nonce, chain: &str| {
        Transfer {
            chain_id: chain.into(),
            from: alice.public(),
            to: bob,
            amount: 1,
            nonce,
            memo: vec![],
        }
        .sign(&alice)
    };

    let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&transfer(0, "api-test"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["hash"].as_str().unwrap(),
        transfer(0, "api-test").hash().to_hex()
    );

    let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&transfer(0, "api-test"))).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "duplicate".into())
    );

    let mut broke = transfer(5, "api-test");
    broke.transfer.amount = u64::MAX;
    let broke = broke.transfer.sign(&alice);
    let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&broke)).await;
    assert_eq!(
        (s, code(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds".into()
        )
    );

    // Waiting for the commit returns where it was committed (committed means executed).
    let (s, v) = call(
        &app,
        "POST",
        "/v1/txs?wait_ms=20000",
        &tx_json(&transfer(1, "api-test")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"].as_str(), Some("committed"), "{v}");
    assert!(v["height"].as_u64().unwrap() >= 1, "{v}");
    assert!(v.get("receipt").is_none(), "{v}");
    let (s, v) = call(&app, "GET", "/v1/validators", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v[0]["public_key"],
        Keypair::from_seed("api-validator").public().to_hex()
    );
    assert_eq!(v[0]["power"], 1);

    let mut forged = transfer(2, "api-test");
    forged.signature.0[0] ^= 1;
    let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&forged)).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature".into())
    );

    let (s, v) = call(
        &app,
        "POST",
        "/v1/txs",
        &tx_json(&transfer(1, "other-chain")),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "wrong_chain".into())
    );

    let (s, v) = call(&app, "POST", "/v1/txs", "{\"tx\": \"00ff\"}").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "malformed_tx".into())
    );

    let (s, v) = call(&app, "POST", "/v1/txs", "{\"tx\": \"not hex\"}").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_hex".into()));

    for bad in ["{", "[]", "{\"tx\": 5}", "{\"tx\": \"00\", \"extra\": 1}"] {
        let (s, v) = call(&app, "POST", "/v1/txs", bad).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "bad_json".into()),
            "{bad}"
        );
    }

    let huge = format!("{{\"tx\": \"{}\"}}", "00".repeat(LIMIT));
    let (s, v) = call(&app, "POST", "/v1/txs", &huge).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large".into())
    );

    let (s, v) = call(&app, "GET", "/v1/accounts/zz", "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_address".into())
    );

    // No free writes: nothing moved, nothing changed, or nothing to pay with.
    let bare = |from: &Keypair, to, amount| {
        let t = Transfer {
            chain_id: "api-test".into(),
            from: from.public(),
            to,
            amount,
            nonce: 2,
            memo: vec![],
        };
        tx_json(&t.sign(from))
    };
    let unfunded = Keypair::from_seed("nobody");
    for (body, expected) in [
        (bare(&alice, bob, 0), "zero_amount"),
        (bare(&alice, alice.public(), 1), "self_transfer"),
        (bare(&unfunded, bob, 1), "unknown_sender"),
    ] {
        let (s, v) = call(&app, "POST", "/v1/txs", &body).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected.into()),
            "{v}"
        );
    }

    // Every answer is JSON with a code: unknown paths, wrong methods, bad query strings and
    // paths that are not UTF-8.
    for (method, uri, status, expected) in [
        ("GET", "/v1/nope", StatusCode::NOT_FOUND, "not_found"),
        (
            "GET",
            "/v1/txs/batch",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "DELETE",
            "/v1/status",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/v1/commits?from=",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        ("GET", "/v1/commits", StatusCode::BAD_REQUEST, "bad_query"),
        (
            "POST",
            "/v1/txs?wait_ms=-1",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "GET",
            "/v1/accounts/%FF%FE",
            StatusCode::BAD_REQUEST,
            "bad_address",
        ),
        ("GET", "/v1/txs/%C3%28", StatusCode::BAD_REQUEST, "bad_hash"),
        (
            "GET",
            "/v1/blocks/%FF",
            StatusCode::BAD_REQUEST,
            "bad_height",
        ),
    ] {
        let body = tx_json(&transfer(9, "api-test"));
        let (s, v) = call(&app, method, uri, &body).await;
        assert_eq!(
            (s, code(&v)),
            (status, expected.into()),
            "{method} {uri}: {v}"
        );
        assert!(!v["message"].as_str().unwrap_or("").is_empty(), "{v}");
    }

    // Still serving, and the one good transfer gets committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = call(&app, "GET", &format!("/v1/accounts/{}", alice.public()), "").await;
        assert_eq!(s, StatusCode::OK);
        if v["nonce"] == 2 {
            assert_eq!(v["balance"], 98);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transfer not committed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hash = transfer(0, "api-test").hash();
    let (s, v) = call(&app, "GET", &format!("/v1/txs/{hash}"), "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "committed");
    assert_eq!(v["index"], 0, "{v}");
    let height = v["height"].as_u64().unwrap();
    let (s, v) = call(&app, "GET", &format!("/v1/blocks/{height}"), "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["block"]["header"]["height"], height);
    assert_eq!(
        v["block"]["txs"][0]["signature"],
        transfer(0, "api-test").signature.to_hex()
    );
    assert_eq!(v["certificate"]["block_hash"].as_str().unwrap().len(), 64);
    let (s, v) = call(&app, "GET", "/v1/blocks/latest", "").await;
    assert!(s == StatusCode::OK && v["block"]["header"]["height"].as_u64().unwrap() >= height);
    let (s, v) = call(&app, "GET", "/v1/blocks/999999", "").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found".into()));
    let (s, v) = call(&app, "GET", "/v1/blocks/x", "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_height".into())
    );
    let (s, v) = call(&app, "GET", &format!("/v1/txs/{}", ledger::Hash::ZERO), "").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found".into()));
    let (s, v) = call(&app, "GET", "/v1/txs/123", "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_hash".into()));

    let (s, v) = call(&app, "GET", "/v1/status", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["height"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["history_indexed_from"], 1, "{v}");
    let (s, _) = call(&app, "GET", "/health", "").await;
    assert_eq!(s, StatusCode::OK);
    // A single validator needs no peers: ready. Asked for more peers than it has: 503, and why.
    let (s, v) = call(&app, "GET", "/readiness", "").await;
    assert_eq!(
        (s, v["ready"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    let (s, v) = call(&app, "GET", "/readiness?min_peers=3", "").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["reasons"], serde_json::json!(["too_few_peers"]), "{v}");
    let (s, v) = call(&app, "GET", "/readiness?min_peers=x", "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_query".into()));

    let text = metrics_text(&app).await;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
            .parse()
            .unwrap()
    };
    assert!(value("lantau_height") >= 2.0);
    assert_eq!(value("lantau_txs_committed_total"), 2.0);
    // Refused: duplicate, insufficient funds, bad signature, wrong chain, malformed tx, bad
    // hex, four bad JSON bodies, one oversized body, and a zero amount, a self transfer and
    // an unknown sender; each under its error code.
    let refused: Vec<(&str, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("lantau_txs_refused_total{code=\""))
        .map(|l| {
            let (code, n) = l.split_once("\"} ").unwrap();
            (code, n.parse().unwrap())
        })
        .collect();
    assert_eq!(refused.iter().map(|(_, n)| n).sum::<f64>(), 14.0, "{text}");
    assert!(refused.contains(&("bad_json", 4.0)), "{refused:?}");
    assert!(refused.contains(&("duplicate", 1.0)), "{refused:?}");
    assert!(value("lantau_blocks_committed_total") >= 1.0);
    assert!(value("lantau_block_commit_seconds_sum") > 0.0);
    assert!(value("lantau_block_txs_count") >= 1.0);
    assert!(value("lantau_heights_decided_total{round=\"0\"}") >= 1.0);
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(text.contains("lantau_build_info{"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_admitted_per_transaction_and_commits_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start(dir.path(), &alice);
    let app = router(node, LIMIT);
    let transfer = |nonce| pays_bob(&alice, nonce);
    let mut forged = transfer(1);
    forged.transfer.amount = 2;
    let good = [transfer(0), transfer(2)];
    let batch = ledger::TxBatch {
        txs: vec![good[0].encode(), forged.encode(), good[1].encode()],
    };
    let post = |body: Vec<u8>| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/txs/batch")
                .header("content-type", "application/octet-stream")
                .body(Body::from(body))
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        }
    };
    let (s, v) = post(batch.encode()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    assert_eq!(v["rejected"][0]["index"], 1, "{v}");
    assert_eq!(v["rejected"][0]["code"], "bad_signature", "{v}");
    let (s, v) = post(b"garbage".to_vec()).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_batch".into()));

    // Nonce 1 was forged, so nonce 2 waits; nonce 0 commits and shows up in /v1/commits.
    let want = good[0].hash().to_hex();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = call(&app, "GET", "/v1/commits?from=1", "").await;
        assert_eq!(s, StatusCode::OK);
        let found = v.as_array().unwrap().iter().find(|c| {
            c["txs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str() == Some(&want))
        });
        if let Some(c) = found {
            let (proposed, committed) = (
                c["proposed_at_ms"].as_u64().unwrap(),
                c["committed_at_ms"].as_u64().unwrap(),
            );
            assert!(
                committed >= proposed && committed - proposed < 10_000,
                "{c}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never committed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = call(&app, "GET", "/v1/commits", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "from is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_chain_waits_for_transactions_before_proposing_empty_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start_with(
        dir.path(),
        &alice,
        AppConfig {
            verify_threads: 1,
            empty_block_wait_ms: 400,
            ..AppConfig::default()
        },
    );
    let height = async || node.status().await.unwrap().height;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = height().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_blocks = height().await - before;
    // A 20 ms block interval alone would make ~100 blocks in 2 s; the wait allows ~5.
    assert!(
        (2..=8).contains(&idle_blocks),
        "{idle_blocks} blocks while idle"
    );

    // A transaction still gets proposed and committed.
    let tx = Transfer {
        chain_id: "api-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    node.submit(tx.encode()).await.unwrap().unwrap();
    let hash = tx.hash();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !matches!(
        node.tx(hash).await.unwrap(),
        node::service::TxStatus::Committed(_)
    ) {
        assert!(tokio::time::Instant::now() < deadline, "never committed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The API cannot be used to exhaust the validator: connections past the cap are closed on
/// arrival, a client that sends its headers slowly (slowloris) or sits idle is disconnected
/// after the header timeout, and meanwhile the node keeps committing and serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_caps_connections_and_drops_slow_and_idle_clients() {
    use node::api_server::{self, ApiLimits};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start(dir.path(), &alice);
    let metrics = node.metrics_handle();
    let app = router(node.clone(), LIMIT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ApiLimits {
        max_connections: 8,
        header_timeout: Duration::from_millis(600),
        request_timeout: Duration::from_secs(5),
    };
    tokio::spawn(api_server::serve(
        listener,
        app,
        limits,
        metrics.clone(),
        std::future::pending(),
    ));
    let start_height = node.status().await.unwrap().height;

    // Eight connections fill the cap: one slowloris, seven idle.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..7 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metrics.api_connections.get(), 8);

    // A ninth is closed at once, without a byte read.
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_millis(500), ninth.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert!(metrics.api_connections_refused.get() >= 1);

    // The slowloris keeps trickling header bytes; it is cut off at the header timeout all the
    // same, and so are the idle ones.
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    assert!(trickle.await.unwrap(), "the slow client was never cut off");
    for mut conn in idle {
        let closed = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    }

    // The cap is free again: an ordinary request is served.
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    client.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("chain_id"), "{response}");
    // And the node kept committing throughout.
    assert!(node.status().await.unwrap().height > start_height + 2);
}

/// A full mempool answers 503 `mempool_full` with Retry-After, before any signature check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mempool_says_when_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start_with(
        dir.path(),
        &alice,
        AppConfig {
            verify_threads: 1,
            mempool_max_txs: 0,
            ..AppConfig::default()
        },
    );
    let app = router(node, LIMIT);
    let tx = Transfer {
        chain_id: "api-test".into(),
        from: alice.public(),
        to: Keypair::from_seed("bob").public(),
        amount: 1,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    let body = format!("{{\"tx\":\"{}\"}}", hex::encode(tx.encode()));
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/v1/txs")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error["code"], "mempool_full", "{error}");
    // A batch with no room for any of it gets one answer for the whole request, not one
    // rejection per transaction: under overload refusals must stay cheap.
    let batch = ledger::TxBatch {
        txs: vec![tx.encode(); 3],
    };
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/v1/txs/batch")
                .header("content-type", "application/octet-stream")
                .body(Body::from(batch.encode()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error["code"], "mempool_full", "{error}");
    // Refused at the door, and still counted, once per transaction.
    let text = metrics_text(&app).await;
    assert!(
        text.contains("lantau_txs_refused_total{code=\"mempool_full\"} 4"),
        "{text}"
    );
}

/// Request bodies held at once are bounded in bytes across all connections, not per
/// request: slow uploads of 8 MiB batches fill the budget (each is counted from its
/// Content-Length before a byte is read), the next request with a body is refused at once
/// with 503 `busy` and Retry-After, reads still work, and the budget frees when they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_in_flight_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let app = router(start(dir.path(), &alice), LIMIT);
    let fit = node::api::MAX_INFLIGHT_BODY_BYTES / node::api::MAX_BATCH_BODY_BYTES;
    let mut senders = vec![];
    let mut slow = vec![];
    // One more upload than fits: exactly one of them is refused, whatever their order.
    for _ in 0..=fit {
        // A body that never finishes arriving.
        let (tx, rx) =
            futures::channel::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        senders.push(tx);
        let req = Request::builder()
            .method("POST")
            .uri("/v1/txs/batch")
            .header(
                "content-length",
                node::api::MAX_BATCH_BODY_BYTES.to_string(),
            )
            .body(Body::from_stream(rx))
            .unwrap();
        slow.push(tokio::spawn(app.clone().oneshot(req)));
    }
    let refused = loop {
        if let Some(i) = slow.iter().position(|u| u.is_finished()) {
            break slow.remove(i).await.unwrap().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let v: serde_json::Value =
        serde_json::from_slice(&refused.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(code(&v), "busy", "{v}");
    // The budget is full: a small body is refused too; a read needs none.
    let (s, v) = call(&app, "POST", "/v1/txs", "{\"tx\": \"00\"}").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::SERVICE_UNAVAILABLE, "busy".into()),
        "{v}"
    );
    let (s, _) = call(&app, "GET", "/v1/status", "").await;
    assert_eq!(s, StatusCode::OK, "reads need no body budget");
    assert!(metrics_text(&app).await.contains("code=\"busy\""));
    assert!(
        slow.iter().all(|u| !u.is_finished()),
        "the others still upload"
    );
    drop(senders);
    for upload in slow {
        let _ = upload.await;
    }
    let (s, v) = call(&app, "POST", "/v1/txs", "{\"tx\": \"00\"}").await;
    assert_ne!(code(&v), "busy", "the budget came back: {s} {v}");
}

/// Two transfers sent in a row without waiting: the account's `next_nonce` counts the one
/// still pending, so the second carries the nonce after it (with the committed nonce it was
/// refused `nonce_pending`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_s_next_nonce_counts_its_pending_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let app = router(pending_only(dir.path(), &alice), LIMIT);
    let path = format!("/v1/accounts/{}", alice.public());
    let send = |nonce| pays_bob(&alice, nonce);
    for sent in 0..3u64 {
        let (s, v) = call(&app, "GET", &path, "").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            (v["nonce"].as_u64(), v["next_nonce"].as_u64()),
            (Some(0), Some(sent)),
            "{v}"
        );
        assert_eq!(v["exists"], true, "{v}");
        let next = v["next_nonce"].as_u64().unwrap();
        let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&send(next))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // An address no one funded or paid: zeros, and said not to exist.
    let nobody = Keypair::from_seed("nobody-at-all").public();
    let (s, v) = call(&app, "GET", &format!("/v1/accounts/{nobody}"), "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["balance"].as_u64(), v["exists"].as_bool()),
        (Some(0), Some(false)),
        "{v}"
    );
}

/// With an API token, submissions and metrics need `Authorization: Bearer <token>` (401
/// `unauthorized` otherwise, a wrong token included); reads stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_guards_submissions_and_metrics_but_not_reads() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start_among(
        dir.path(),
        &alice,
        AppConfig {
            verify_threads: 1,
            ..AppConfig::default()
        },
        2,
    );
    let app = node::api::require_token(router(node, LIMIT), "s3cret-token".into());
    let with = async |method: &str, uri: &str, body: String, token: Option<&str>| {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
        )
    };
    let tx = tx_json(&pays_bob(&alice, 0));
    for token in [None, Some("s3cret-tokeN"), Some("s3cret")] {
        let (s, v) = with("POST", "/v1/txs", tx.clone(), token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}: {v}");
        assert_eq!(v["code"], "unauthorized", "{v}");
        let (s, _) = with("GET", "/metrics", String::new(), token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let (s, v) = with("GET", "/v1/status", String::new(), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = with("POST", "/v1/txs", tx, Some("s3cret-token")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = with("GET", "/metrics", String::new(), Some("s3cret-token")).await;
    assert_eq!(s, StatusCode::OK);
}

/// `GET /v1/mempool` lists what waits, oldest first, and tells the transfers that can go in
/// the next block from those waiting for an earlier nonce; its bounds hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mempool_lists_what_waits_and_which_transfers_are_ready() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let app = router(pending_only(dir.path(), &alice), LIMIT);
    let sent: Vec<_> = [0u64, 1, 3].iter().map(|&n| pays_bob(&alice, n)).collect();
    for tx in &sent {
        let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(tx)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = call(&app, "GET", "/v1/mempool", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["txs"], 3, "{v}");
    assert!(v["bytes"].as_u64().unwrap() > 0 && v["max_txs"].as_u64().unwrap() > 0);
    let listed: Vec<(String, u64, bool)> = v["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["hash"].as_str().unwrap().to_string(),
                p["nonce"].as_u64().unwrap(),
                p["ready"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, bool)> = sent
        .iter()
        .zip([true, true, false])
        .map(|(tx, ready)| (tx.hash().to_hex(), tx.transfer.nonce, ready))
        .collect();
    assert_eq!(listed, expected, "nonce 3 waits for 2");
    // The limit lists fewer; the totals still count everything.
    let (_, v) = call(&app, "GET", "/v1/mempool?limit=1", "").await;
    assert_eq!(
        (v["txs"].as_u64(), v["pending"].as_array().unwrap().len()),
        (Some(3), 1)
    );
    // Another sender's view is empty; a malformed one is refused with a code.
    let nobody = Keypair::from_seed("nobody").public();
    let (_, v) = call(&app, "GET", &format!("/v1/mempool?from={nobody}"), "").await;
    assert!(v["pending"].as_array().unwrap().is_empty(), "{v}");
    let (s, v) = call(&app, "GET", "/v1/mempool?from=xyz", "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_address".into())
    );
    let (s, v) = call(&app, "GET", "/v1/mempool?limit=-1", "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_query".into()));
}

/// The next server-sent event named `name` on `body`, with its data.
async fn next_event(body: &mut Body, name: &str) -> serde_json::Value {
    let mut text = String::new();
    let read = async {
        loop {
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let field = |f: &str| {
                    event
                        .lines()
                        .find_map(|l| l.strip_prefix(f))
                        .map(str::to_string)
                };
                if field("event: ").as_deref() == Some(name) {
                    return serde_json::from_str(&field("data: ").unwrap()).unwrap();
                }
            }
            let frame = body.frame().await.expect("the stream stays open").unwrap();
            text.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("no {name} event within 30 s"))
}

async fn open_events(app: &axum::Router, query: &str) -> axum::response::Response {
    app.clone()
        .oneshot(
            Request::builder()
                .uri(format!("/v1/events{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

/// `GET /v1/events` streams each commit and, with `?tx=`, the watched transaction's; an
/// account's history lists it; streams are bounded, and a closed one frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_tell_commits_and_are_bounded_and_histories_list_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start(dir.path(), &alice);
    let app = router(node, LIMIT);
    let tx = pays_bob(&alice, 0);
    let watched = open_events(&app, &format!("?tx={}", tx.hash())).await;
    assert_eq!(watched.status(), StatusCode::OK);
    assert_eq!(
        watched.headers()["content-type"],
        "text/event-stream",
        "{:?}",
        watched.headers()
    );
    let mut body = watched.into_body();
    let (s, v) = call(&app, "POST", "/v1/txs", &tx_json(&tx)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let committed = next_event(&mut body, "tx").await;
    assert_eq!(committed["status"], "committed", "{committed}");
    assert_eq!(committed["hash"], tx.hash().to_hex());
    let height = committed["height"].as_u64().unwrap();
    // A stream opened after the commit tells it at once.
    let mut late = open_events(&app, &format!("?tx={}", tx.hash()))
        .await
        .into_body();
    assert_eq!(next_event(&mut late, "tx").await["height"], height);
    // Plain block events.
    let mut blocks = open_events(&app, "").await.into_body();
    let (s, _) = call(&app, "POST", "/v1/txs", &tx_json(&pays_bob(&alice, 1))).await;
    assert_eq!(s, StatusCode::OK);
    let block = next_event(&mut blocks, "block").await;
    assert!(
        block["height"].as_u64().unwrap() > 0 && block["txs"].is_u64(),
        "{block}"
    );

    // The history of both sides.
    let bob = Keypair::from_seed("bob").public();
    let (s, v) = call(&app, "GET", &format!("/v1/accounts/{bob}/txs"), "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let entries = v.as_array().unwrap();
    let first = entries.last().unwrap();
    assert_eq!(
        (
            &first["hash"],
            &first["sent"],
            &first["counterparty"],
            &first["height"]
        ),
        (
            &serde_json::json!(tx.hash().to_hex()),
            &serde_json::json!(false),
            &serde_json::json!(alice.public().to_string()),
            &serde_json::json!(height)
        ),
        "{v}"
    );
    let (_, v) = call(
        &app,
        "GET",
        &format!("/v1/accounts/{}/txs?limit=1", alice.public()),
        "",
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["sent"], true, "{v}");
    let (s, v) = call(&app, "GET", &format!("/v1/accounts/{bob}/txs?before=x"), "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_query".into()));
    let (s, v) = call(&app, "GET", "/v1/accounts/xyz/txs", "").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_address".into())
    );
    let (s, v) = call(&app, "GET", "/v1/events?tx=nothex", "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_hash".into()));

    // Three streams are open (body, late, blocks): fill the rest, then one more is refused.
    let mut held = Vec::new();
    for _ in 3..node::api::MAX_EVENT_STREAMS {
        let r = open_events(&app, "").await;
        assert_eq!(r.status(), StatusCode::OK);
        held.push(r);
    }
    // (Not `call`: were the bound broken, its endless body would never be read to the end.)
    let refused = open_events(&app, "").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = refused.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(code(&v), "busy", "{v}");
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains(&format!(
            "lantau_api_event_streams {}",
            node::api::MAX_EVENT_STREAMS
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("lantau_api_event_streams_refused_total 1"),
        "{metrics}"
    );
    // A client that goes away gives its place back.
    drop(held.pop());
    assert_eq!(open_events(&app, "").await.status(), StatusCode::OK);
    drop((body, late, blocks));
}

/// A validator with its history index off still commits and answers for transactions, and
/// says plainly that it keeps no history instead of answering with an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_history_index_refuses_history_queries_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start_with(
        dir.path(),
        &alice,
        AppConfig {
            verify_threads: 1,
            index_account_history: false,
            ..AppConfig::default()
        },
    );
    let app = router(node, LIMIT);
    let tx = pays_bob(&alice, 0);
    let (s, v) = call(&app, "POST", "/v1/txs?wait_ms=10000", &tx_json(&tx)).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &"committed".into()),
        "{v}"
    );
    let (s, v) = call(&app, "GET", &format!("/v1/txs/{}", tx.hash()), "").await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &"committed".into()),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "GET",
        &format!("/v1/accounts/{}/txs", alice.public()),
        "",
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "history_not_indexed".into()),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("index_account_history"),
        "{v}"
    );
    let (s, v) = call(&app, "GET", "/v1/status", "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["history_indexed_from"].is_null(), "{v}");
}

/// Proofs: an account and an absence verify against the genesis validator, a transaction's
/// inclusion does, and bad or unanswerable questions get their codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_and_bad_proof_requests_get_codes() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_seed("alice");
    let node = start(dir.path(), &alice);
    let app = router(node, LIMIT);
    let tx = pays_bob(&alice, 0);
    let (s, v) = call(&app, "POST", "/v1/txs?wait_ms=10000", &tx_json(&tx)).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &"committed".into()),
        "{v}"
    );
    let height = v["height"].as_u64().unwrap();
    let trusted = ledger::light::Trusted {
        chain_id: "api-test".into(),
        validators: ledger::ValidatorSet::equal([Keypair::from_seed("api-validator").public()])
            .unwrap(),
    };
    let unhex = |v: &serde_json::Value, k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    let bob = Keypair::from_seed("bob").public();
    for (who, expect) in [
        (bob, Some(1)),
        (Keypair::from_seed("nobody").public(), None),
    ] {
        let (s, v) = call(
            &app,
            "GET",
            &format!("/v1/accounts/{who}?prove=true&height={height}"),
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["height"], height);
        let account: Option<ledger::Account> =
            serde_json::from_value(v["account"].clone()).unwrap();
        assert_eq!(account.map(|a| a.balance), expect);
        let certified = ledger::light::verify_account(
            &trusted,
            &who,
            account.as_ref(),
            height,
            &unhex(&v, "header"),
            &unhex(&v, "certificate"),
            &unhex(&v, "proof"),
        )
        .unwrap();
        assert_eq!((certified.signers, certified.validators), (1, 1));
    }
    let (s, v) = call(
        &app,
        "GET",
        &format!("/v1/txs/{}?prove=true", tx.hash()),
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, proved) = ledger::light::verify_tx(
        &trusted,
        &tx.hash(),
        v["height"].as_u64().unwrap(),
        &unhex(&v, "tx"),
        &unhex(&v, "header"),
        &unhex(&v, "certificate"),
        &unhex(&v, "path"),
    )
    .unwrap();
    assert_eq!(proved, tx);
    for (uri, status, expected) in [
        (
            format!("/v1/accounts/{bob}?prove=true&height=0"),
            StatusCode::NOT_FOUND,
            "height_not_kept",
        ),
        (
            format!("/v1/accounts/{bob}?prove=true&height=999999"),
            StatusCode::NOT_FOUND,
            "height_not_kept",
        ),
        (
            format!("/v1/accounts/{bob}?prove=true&height=x"),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            format!("/v1/accounts/{bob}?prove=maybe"),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            format!("/v1/accounts/{bob}?height=1"),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/accounts/xyz?prove=true".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_address",
        ),
        (
            format!("/v1/txs/{}?prove=true", "ab".repeat(32)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let (s, v) = call(&app, "GET", &uri, "").await;
        assert_eq!((s, code(&v).as_str()), (status, expected), "{uri}: {v}");
    }
}
