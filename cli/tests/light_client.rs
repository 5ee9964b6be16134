//! The light client against a live 4-validator testnet: `lantau query account` and `lantau
//! query tx` verify what an honest node answers, and refuse, naming what failed, what a
//! lying one answers. The liar is an HTTP proxy in front of an honest node that rewrites
//! the proof answers (the balance, the proof, the header, the certificate's signatures, the
//! height asked for); everything else passes through.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use common::{Testnet, json, ok, run, wait_until};

#[derive(Clone, Copy, Debug)]
enum Lie {
    Balance,
    Proof,
    Header,
    /// Keep two of the certificate's signatures: short of a quorum of 4.
    DropSignatures,
    /// Replace one signature with a copy of another: a signer counted twice.
    RepeatSigner,
    TxPath,
    /// Ask the node for this old height instead of what the client asked.
    OldHeight(u64),
}

fn flip_hex(text: &str, at: usize) -> String {
    let mut bytes = hex_decode(text);
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    hex_encode(&bytes)
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn lie_about(lie: Lie, body: &mut serde_json::Value) {
    let cert = |body: &serde_json::Value| -> ledger::CommitCertificate {
        ledger::encoding::decode(&hex_decode(body["certificate"].as_str().unwrap())).unwrap()
    };
    match lie {
        Lie::Balance => {
            let balance = body["account"]["balance"].as_u64().unwrap();
            body["account"]["balance"] = (balance + 1_000).into();
        }
        Lie::Proof => {
            let p = body["proof"].as_str().unwrap().to_string();
            body["proof"] = flip_hex(&p, p.len() / 4).into();
        }
        // The last byte of an encoded header is part of its state root.
        Lie::Header => {
            let h = body["header"].as_str().unwrap().to_string();
            body["header"] = flip_hex(&h, usize::MAX).into();
        }
        Lie::DropSignatures => {
            let mut c = cert(body);
            c.signatures.truncate(2);
            body["certificate"] = hex_encode(&ledger::encoding::encode(&c)).into();
        }
        Lie::RepeatSigner => {
            let mut c = cert(body);
            c.signatures[1] = c.signatures[0].clone();
            body["certificate"] = hex_encode(&ledger::encoding::encode(&c)).into();
        }
        // The leaf's index: the path then leads elsewhere (or nowhere).
        Lie::TxPath => {
            let p = body["path"].as_str().unwrap().to_string();
            body["path"] = flip_hex(&p, 0).into();
        }
        Lie::OldHeight(_) => {}
    }
}

/// An HTTP/1.1 proxy on a free loopback port that tells `lie` in every proof answer.
fn liar(upstream: &str, lie: Lie) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || serve(client, &upstream, lie));
        }
    });
    url
}

fn serve(client: TcpStream, upstream: &str, lie: Lie) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    loop {
        // A request head (the client sends only GETs here).
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let mut request_line = head[0].clone();
        if let Lie::OldHeight(h) = lie
            && request_line.contains("prove=true")
        {
            let target = request_line.split(' ').nth(1).unwrap().to_string();
            let base = target.split("&height=").next().unwrap();
            request_line = request_line.replace(&target, &format!("{base}&height={h}"));
        }
        let mut up = TcpStream::connect(upstream).unwrap();
        let forwarded = format!("{request_line}Host: {upstream}\r\nConnection: close\r\n\r\n",);
        up.write_all(forwarded.as_bytes()).unwrap();
        let mut answer = Vec::new();
        up.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let status_line = String::from_utf8_lossy(&answer[..split])
            .lines()
            .next()
            .unwrap()
            .to_string();
        let mut body = answer[split + 4..].to_vec();
        if request_line.contains("prove=true") && status_line.contains(" 200 ") {
            let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            lie_about(lie, &mut value);
            body = serde_json::to_vec(&value).unwrap();
        }
        let reply = format!(
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if client.write_all(reply.as_bytes()).is_err() || client.write_all(&body).is_err() {
            return;
        }
    }
}

fn fails(dir: &Path, args: &[&str], reason: &str) -> String {
    let out = run(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "lantau {args:?} should fail with exit code 1:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(reason),
        "lantau {args:?}: wanted {reason:?} in:\n{stderr}"
    );
    stderr
}

#[test]
fn queries_verify_honest_answers_and_refuse_lies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "testnet",
            "init",
            "--validators",
            "4",
            "--block-interval-ms",
            "50",
        ],
    );
    // node3 keeps only 5 heights provable.
    let config = d.join("node3/config.toml");
    let text: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .map(|l| match l.starts_with("state_versions_kept") {
            true => "state_versions_kept = 5\n".to_string(),
            false => format!("{l}\n"),
        })
        .collect();
    assert!(text.contains("state_versions_kept = 5"), "{text}");
    std::fs::write(&config, text).unwrap();
    let _guard = Testnet(d.to_path_buf());
    ok(d, &["testnet", "up", "--timeout-secs", "60"]);
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    let api = |i: usize| status[i]["api"].as_str().unwrap().to_string();

    let me = d.join("me.key");
    let keygen = ok(d, &["keygen", "--out", me.to_str().unwrap()]);
    let bob = keygen
        .split_whitespace()
        .find(|w| w.len() == 64)
        .unwrap()
        .to_string();
    let alice = d.join("keys/alice.key");
    let sent = ok(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            alice.to_str().unwrap(),
            "--to",
            &bob,
            "--amount",
            "77",
            "--wait",
        ],
    );
    let hash = sent.split_whitespace().next().unwrap().to_string();

    // Honest answers verify, by the testnet's genesis.
    let shown = ok(d, &["query", "account", &bob]);
    assert!(shown.contains("balance  77"), "{shown}");
    assert!(shown.contains("verified at height "), "{shown}");
    assert!(shown.contains(" of 4 validators"), "{shown}");
    let v = json(&ok(d, &["query", "account", &bob, "--json"]));
    assert_eq!(v["balance"], 77);
    assert!(v["verified"]["signers"].as_u64().unwrap() >= 3, "{v}");
    let absent = ok(d, &["query", "account", &"ab".repeat(32)]);
    assert!(absent.contains("no such account"), "{absent}");
    assert!(absent.contains("verified at height"), "{absent}");
    let tx = ok(d, &["query", "tx", &hash]);
    assert!(tx.contains("committed and executed at height"), "{tx}");
    assert!(tx.contains("amount  77"), "{tx}");
    assert!(tx.contains("verified at height"), "{tx}");

    // Lies are refused, naming what did not verify.
    for (lie, reason) in [
        (Lie::Balance, "is not what the certified state root holds"),
        (Lie::Proof, "state proof"),
        (Lie::Header, "certificate does not certify the header"),
        (Lie::DropSignatures, "signers hold 2 of 4 voting power"),
        (Lie::RepeatSigner, "signs twice"),
    ] {
        let url = liar(&api(0), lie);
        let err = fails(d, &["query", "account", &bob, "--node", &url], reason);
        assert!(err.contains("did not verify"), "{lie:?}: {err}");
        assert!(
            !err.contains("balance"),
            "a refused answer is not shown: {err}"
        );
    }
    for (lie, reason) in [
        (Lie::TxPath, "Merkle path does not lead"),
        (Lie::Header, "certificate does not certify the header"),
        (Lie::DropSignatures, "signers hold 2 of 4"),
    ] {
        let url = liar(&api(1), lie);
        fails(d, &["query", "tx", &hash, "--node", &url], reason);
    }
    // --trust-node shows whatever the node says, and says so.
    let trusting = ok(
        d,
        &[
            "query",
            "account",
            &bob,
            "--node",
            &liar(&api(0), Lie::Balance),
            "--trust-node",
        ],
    );
    assert!(trusting.contains("not verified"), "{trusting}");

    // An answer for an old height verifies, and says which height it proved.
    let old = liar(&api(0), Lie::OldHeight(1));
    let shown = ok(d, &["query", "account", &bob, "--node", &old]);
    assert!(shown.contains("verified at height 1 "), "{shown}");
    assert!(
        shown.contains("no such account"),
        "bob was paid after height 1: {shown}"
    );
    fails(
        d,
        &["query", "account", &bob, "--node", &old, "--height", "3"],
        "answered for height 1, not the 3 asked for",
    );

    // node3 keeps 5 heights: an older one is refused by name.
    wait_until("height 8", || {
        json(&ok(
            d,
            &["query", "account", &bob, "--json", "--node", &api(3)],
        ))["verified"]["height"]
            .as_u64()
            .unwrap()
            >= 8
    });
    fails(
        d,
        &["query", "account", &bob, "--node", &api(3), "--height", "1"],
        "is not kept here",
    );
    // A genesis in the environment does not get in the way of --trust-node.
    let out = common::lantau(d)
        .args(["query", "account", &bob, "--trust-node"])
        .env("LANTAU_GENESIS", "/nonexistent/genesis.json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A restarted validator recomputes the tree from its store and proves recent heights.
    ok(d, &["testnet", "stop", "node2", "--kill"]);
    ok(d, &["testnet", "start", "node2"]);
    wait_until("node2 to answer again", || {
        run(d, &["query", "account", &bob, "--node", &api(2)])
            .status
            .success()
    });
    let after = ok(d, &["query", "account", &bob, "--node", &api(2)]);
    assert!(after.contains("balance  77"), "{after}");

    // Without a genesis there is nothing to verify against.
    let elsewhere = tempfile::tempdir().unwrap();
    fails(
        elsewhere.path(),
        &["query", "account", &bob, "--node", &api(0)],
        "needs the chain's genesis.json",
    );
    let genesis = d.join("node0/genesis.json");
    let shown = ok(
        elsewhere.path(),
        &[
            "query",
            "account",
            &bob,
            "--node",
            &api(0),
            "--genesis",
            genesis.to_str().unwrap(),
        ],
    );
    assert!(shown.contains("balance  77"), "{shown}");
}
