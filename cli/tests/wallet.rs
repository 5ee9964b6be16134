//! The real `lantau` binary as a wallet user drives it against a live 4-validator testnet:
//! sealed keys, export and import, offline signing and broadcast, CSV batches, an account's
//! history, the mempool, and following the chain live.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{Testnet, json, lantau, ok, run};

fn with_passphrase(dir: &Path, passphrase: &str, args: &[&str]) -> Output {
    lantau(dir)
        .env("LANTAU_KEY_PASSPHRASE", passphrase)
        .args(args)
        .output()
        .expect("runs lantau")
}

fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "lantau {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Exit code 1 with `expected` in the error.
fn failed(args: &[&str], out: Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "lantau {args:?}: {stderr}");
    assert!(
        stderr.contains(expected) && !stderr.contains("panicked"),
        "lantau {args:?}: expected {expected:?} in {stderr}"
    );
}

fn address_in(keygen_output: &str) -> String {
    keygen_output
        .split_whitespace()
        .find(|w| w.len() == 64)
        .expect("prints the address")
        .to_string()
}

#[test]
fn a_wallet_user_s_commands_on_a_live_testnet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.as_path();
    let path = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let (_testnet, _) = Testnet::up(d);
    let alice = dir.join("keys/alice.key").to_str().unwrap().to_string();
    let bob = ledger::Keypair::from_seed("bob").public().to_string();

    // A sealed key: no secret in the file, the address readable without the passphrase.
    let sealed = path("sealed.key");
    let args = ["keygen", "--encrypt", "--out", &sealed];
    let me = address_in(&succeeded(&args, with_passphrase(d, "s3cret", &args)));
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(text.contains("argon2id") && text.contains(&me), "{text}");
    assert_eq!(ok(d, &["address", &sealed]).trim(), me);
    let args = ["keygen", "--encrypt", "--out", &path("other.key")];
    failed(&args, run(d, &args), "no terminal to ask it on");
    let fund = [
        "tx",
        "transfer",
        "--from-key",
        &alice,
        "--to",
        &me,
        "--amount",
        "1000",
        "--wait",
    ];
    ok(d, &fund);
    let pay_bob = [
        "tx",
        "transfer",
        "--from-key",
        &sealed,
        "--to",
        &bob,
        "--amount",
        "10",
        "--wait",
    ];
    failed(&pay_bob, run(d, &pay_bob), "LANTAU_KEY_PASSPHRASE");
    failed(
        &pay_bob,
        with_passphrase(d, "wrong", &pay_bob),
        "wrong passphrase",
    );
    let paid = succeeded(&pay_bob, with_passphrase(d, "s3cret", &pay_bob));
    assert!(paid.contains("committed and executed"), "{paid}");

    // Export and import: the same account, now in a plain file.
    let args = ["key", "export", &sealed];
    let secret = succeeded(&args, with_passphrase(d, "s3cret", &args));
    assert_eq!(secret.trim().len(), 64);
    let plain = path("plain.key");
    let mut import = lantau(d)
        .args(["key", "import", "--secret", "-", "--out", &plain])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    import
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let imported = import.wait_with_output().unwrap();
    assert!(imported.status.success());
    assert_eq!(address_in(&String::from_utf8_lossy(&imported.stdout)), me);

    // Offline signing: the signer asks no node; the file is broadcast from elsewhere.
    let account = json(&ok(d, &["query", "account", &me, "--json"]));
    let nonce = account["next_nonce"].as_u64().unwrap().to_string();
    let genesis = dir.join("node0/genesis.json").to_str().unwrap().to_string();
    let signed = path("signed.json");
    let sign = [
        "tx",
        "sign",
        "--from-key",
        &plain,
        "--to",
        &bob,
        "--amount",
        "25",
        "--nonce",
        &nonce,
        "--genesis",
        &genesis,
        "--node",
        "http://127.0.0.1:1",
        "--out",
        &signed,
    ];
    // `--node` is no flag of `tx sign`: it talks to nothing.
    assert_eq!(run(d, &sign).status.code(), Some(2));
    let sign = &sign[..12];
    let sign = [sign, &["--out", &signed]].concat();
    ok(d, &sign);
    let file = json(&std::fs::read_to_string(&signed).unwrap());
    assert_eq!(
        (file["amount"].as_u64(), file["to"].as_str()),
        (Some(25), Some(bob.as_str()))
    );
    let hash = file["hash"].as_str().unwrap().to_string();
    // The hash is known before the transfer exists anywhere: follow it, then send it.
    let watch = lantau(d)
        .args(["watch", "--tx", &hash, "--timeout-secs", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // An edited readable field no longer matches what was signed.
    let mut edited = file.clone();
    edited["amount"] = 2500.into();
    let edited_path = path("edited.json");
    std::fs::write(&edited_path, edited.to_string()).unwrap();
    let args = ["tx", "broadcast", &edited_path];
    failed(&args, run(d, &args), "differ from what is signed");
    let args = ["tx", "broadcast", &signed, "--wait"];
    assert!(ok(d, &args).contains("committed and executed"));
    let watched = watch.wait_with_output().unwrap();
    let watched_text = String::from_utf8_lossy(&watched.stdout);
    assert!(
        watched.status.success(),
        "{watched_text}{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    assert!(
        watched_text.contains(&format!("{hash}  committed and executed at height")),
        "{watched_text}"
    );
    // Sent twice: the node refuses the replay.
    failed(&args, run(d, &args), "stale_nonce");

    // A CSV of payments: one request, consecutive nonces, each committed.
    let carol = ledger::Keypair::from_seed("carol").public().to_string();
    let csv = path("payroll.csv");
    std::fs::write(
        &csv,
        format!("to,amount,memo\n{bob},3,march\n# a comment\n{carol},4,\"march, with a comma\"\n{bob},5\n"),
    )
    .unwrap();
    let batch = [
        "tx",
        "batch",
        "--from-key",
        &plain,
        "--csv",
        &csv,
        "--wait",
        "--json",
    ];
    let outcomes = json(&ok(d, &batch));
    let outcomes = outcomes.as_array().unwrap();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    for o in outcomes {
        assert_eq!(o["status"], "committed", "{o}");
    }
    let nonces: Vec<u64> = outcomes
        .iter()
        .map(|o| o["nonce"].as_u64().unwrap())
        .collect();
    assert!(nonces.windows(2).all(|w| w[1] == w[0] + 1), "{nonces:?}");
    std::fs::write(&csv, format!("{bob},3\n{bob},zero\n")).unwrap();
    let batch = ["tx", "batch", "--from-key", &plain, "--csv", &csv];
    failed(&batch, run(d, &batch), "line 2: amount \"zero\"");

    // The history: every transfer of the account, newest first, both directions.
    let history = json(&ok(d, &["query", "history", &me, "--json"]));
    let seen: Vec<(bool, u64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["sent"].as_bool().unwrap(), e["amount"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (true, 5),
            (true, 4),
            (true, 3),
            (true, 25),
            (true, 10),
            (false, 1000)
        ],
        "{history}"
    );
    let page = json(&ok(
        d,
        &[
            "query", "history", "--key", &sealed, "--limit", "2", "--json",
        ],
    ));
    assert_eq!(page.as_array().unwrap().len(), 2);
    let text = ok(d, &["query", "history", &me, "--limit", "2"]);
    assert!(text.contains("--before"), "{text}");
    let oldest = history[5]["height"].as_u64().unwrap().to_string();
    let before = json(&ok(
        d,
        &["query", "history", &me, "--before", &oldest, "--json"],
    ));
    assert!(before.as_array().unwrap().is_empty(), "{before}");

    // The mempool: a transfer two nonces ahead waits, and is shown waiting.
    let account = json(&ok(d, &["query", "account", &me, "--json"]));
    let ahead = (account["next_nonce"].as_u64().unwrap() + 2).to_string();
    let sent = ok(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            &plain,
            "--to",
            &bob,
            "--amount",
            "1",
            "--nonce",
            &ahead,
        ],
    );
    let gapped = sent.split_whitespace().nth(1).unwrap().to_string();
    let pool = json(&ok(d, &["query", "mempool", "--from", &me, "--json"]));
    let pending = pool["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pool}");
    assert_eq!(
        (pending[0]["hash"].as_str(), pending[0]["ready"].as_bool()),
        (Some(gapped.as_str()), Some(false)),
        "{pool}"
    );
    let text = ok(d, &["query", "mempool"]);
    assert!(text.contains("waits for an earlier nonce"), "{text}");
    // Watching it gives up after its timeout, exit 1.
    let args = ["watch", "--tx", &gapped, "--timeout-secs", "2"];
    failed(&args, run(d, &args), "still pending after 2 s");

    // Following blocks: one JSON object per block, heights rising.
    let lines = ok(d, &["watch", "--blocks", "3", "--json"]);
    let heights: Vec<u64> = lines
        .lines()
        .map(|l| json(l)["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights.len(), 3, "{lines}");
    assert!(heights.windows(2).all(|w| w[1] > w[0]), "{heights:?}");
}
