//! The real `lantau` binary driving a 4-validator testnet of background processes: init, up,
//! keygen, transfer, query on another validator, logs, status, down, and every client error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn lantau(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lantau"));
    // Client commands find the node through the testnet directory, as a user's would.
    c.env("LANTAU_TESTNET_DIR", dir).env_remove("LANTAU_NODE");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    lantau(dir).args(args).output().expect("runs lantau")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "lantau {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and must fail with exit code 1 and `expected` in its message (no panic, no debug dump).
fn fails(dir: &Path, args: &[&str], expected: &str) {
    let out = run(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "lantau {args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "lantau {args:?}: expected {expected:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"));
}

/// Stops the testnet even when an assertion fails.
struct Testnet(PathBuf);

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = run(&self.0, &["testnet", "down"]);
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A GET over plain HTTP/1.1 to `base` (`http://host:port`).
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn a_four_validator_testnet_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.as_path();
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
    fails(d, &["testnet", "init"], "already holds a testnet");
    let _guard = Testnet(dir.clone());
    let up = ok(d, &["testnet", "up", "--timeout-secs", "60"]);
    assert!(up.contains("node3"), "{up}");

    let status = json(&ok(d, &["testnet", "status", "--json"]));
    let nodes = status.as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        assert!(n["pid"].as_i64().is_some(), "{n}");
        assert_eq!(n["status"]["peers"], 3, "{n}");
    }
    let node2_api = nodes[2]["api"].as_str().unwrap().to_string();

    let me = dir.join("me.key");
    let keygen = ok(d, &["keygen", "--out", me.to_str().unwrap()]);
    let address = keygen
        .split_whitespace()
        .find(|w| w.len() == 64)
        .expect("keygen prints the address")
        .to_string();
    fails(
        d,
        &["keygen", "--out", me.to_str().unwrap()],
        "already exists",
    );

    // A fresh address has no account yet: a query says so, a payment to it warns.
    let fresh = ok(d, &["query", "account", &address]);
    assert!(fresh.contains("no such account"), "{fresh}");
    // Default node: the testnet's first validator.
    let alice = dir.join("keys/alice.key");
    let alice = alice.to_str().unwrap();
    let transfer = [
        "tx",
        "transfer",
        "--from-key",
        alice,
        "--to",
        &address,
        "--amount",
        "77",
        "--wait",
    ];
    let out = run(d, &transfer);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no account on this chain yet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = String::from_utf8(out.stdout).unwrap();
    // A nonce ahead of the sender's next one is accepted, and the CLI says what it waits for.
    let bob_key = dir.join("keys/bob.key");
    let out = run(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            bob_key.to_str().unwrap(),
            "--to",
            &address,
            "--amount",
            "1",
            "--nonce",
            "3",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waits in the mempool until nonces 0..2 commit"),
        "{stderr}"
    );
    assert!(sent.contains("committed and executed at height"), "{sent}");
    // The transaction by its hash: where it committed and what it moved.
    let hash = sent.split_whitespace().next().unwrap();
    let shown = ok(d, &["query", "tx", hash]);
    assert!(
        shown.contains(&format!("to      {address}")) && shown.contains("amount  77"),
        "{shown}"
    );
    let shown = json(&ok(d, &["query", "tx", hash, "--json"]));
    assert_eq!(shown["transfer"]["amount"], 77, "{shown}");
    // The latest blocks, newest first, and the node's status at the top level.
    let blocks = json(&ok(d, &["query", "blocks", "--last", "3", "--json"]));
    let heights: Vec<u64> = blocks
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights.len(), 3, "{blocks}");
    assert!(heights.windows(2).all(|w| w[0] == w[1] + 1), "{heights:?}");
    let table = ok(d, &["query", "blocks", "--last", "2"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(ok(d, &["status"]).contains("committed"));

    // A scrape of a validator that has been deciding heights: which build it is, and what
    // went over the wire by kind.
    let metrics = http_get(&node2_api, "/metrics");
    let build = metrics
        .lines()
        .find(|l| l.starts_with("lantau_build_info{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let version = ok(d, &["--version"]);
    let commit = version
        .split("commit ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(
        build.contains(&format!("commit=\"{commit}\"")),
        "{build} vs {version}"
    );
    let count = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing:\n{metrics}"))
            .parse()
            .unwrap()
    };
    for kind in ["proposal", "prevote", "precommit"] {
        let received = format!("lantau_p2p_messages_received_total{{kind=\"{kind}\"}}");
        let sent = format!("lantau_p2p_messages_sent_total{{kind=\"{kind}\"}}");
        assert!(count(&received) > 0.0, "{received}\n{metrics}");
        if kind != "proposal" {
            assert!(count(&sent) > 0.0, "{sent}");
        }
    }
    assert!(count("lantau_round_seconds_count") > 0.0);
    assert!(count("lantau_height_seconds_count") > 0.0);
    assert!(count("process_cpu_seconds_total") > 0.0);

    // Visible on another validator.
    wait_until("node2 to see the transfer", || {
        let account = json(&ok(
            d,
            &["query", "account", &address, "--node", &node2_api, "--json"],
        ));
        account["balance"] == 77
    });
    let human = ok(d, &["query", "account", &address]);
    // At the same height (the chain moves on between two queries).
    let height = human
        .split("verified at height ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a verified answer: {human}"));
    let at_height = ok(d, &["query", "account", &address, "--height", height]);
    let by_key = ok(
        d,
        &[
            "query",
            "account",
            "--key",
            me.to_str().unwrap(),
            "--height",
            height,
        ],
    );
    assert_eq!(by_key, at_height, "the key file's account is the address's");
    assert!(human.contains("balance  77"), "{human}");
    let block = json(&ok(d, &["query", "block", "latest", "--json"]));
    assert!(block["certificate"]["signatures"].as_array().unwrap().len() >= 3);
    assert_eq!(block["hash"].as_str().unwrap().len(), 64, "{block}");
    assert!(block["tx_hashes"].is_array(), "{block}");
    let human = ok(d, &["query", "block", "1"]);
    assert!(human.contains(" UTC") && human.contains("(node"), "{human}");
    fails(d, &["query", "block", "tip"], "malformed block height");
    let validators = ok(d, &["query", "validators"]);
    assert_eq!(validators.lines().count(), 5, "{validators}");

    // Every client error: clear message, exit code 1.
    let me = me.to_str().unwrap();
    fails(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            me,
            "--to",
            &address,
            "--amount",
            "78",
        ],
        "insufficient funds",
    );
    fails(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            alice,
            "--to",
            &address,
            "--amount",
            "1",
            "--nonce",
            "0",
        ],
        "stale_nonce",
    );
    fails(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            alice,
            "--to",
            "xyz",
            "--amount",
            "1",
        ],
        "malformed address",
    );
    fails(
        d,
        &[
            "tx",
            "transfer",
            "--from-key",
            "/nonexistent.key",
            "--to",
            &address,
            "--amount",
            "1",
        ],
        "cannot use the key file",
    );
    // A directory is not a key file: no advice to run keygen over it.
    let key_dir = tmp.path().to_str().unwrap();
    let args = [
        "tx",
        "transfer",
        "--from-key",
        key_dir,
        "--to",
        &address,
        "--amount",
        "1",
    ];
    fails(d, &args, "it is a directory");
    assert!(!String::from_utf8_lossy(&run(d, &args).stderr).contains("keygen"));
    fails(
        d,
        &["query", "status", "--node", "http://127.0.0.1:1"],
        "cannot reach the node",
    );
    // The URL forms users type: no scheme and a trailing /v1 work; other schemes and paths
    // are refused with an example.
    fails(
        d,
        &["query", "status", "--node", "127.0.0.1:1"],
        "cannot reach the node",
    );
    let out = run(d, &["query", "status", "--node", "http://127.0.0.1:1/v1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the node") && !stderr.contains("/v1/v1"),
        "{stderr}"
    );
    // A node URL that cannot be one is a usage error (exit 2), found before sending.
    let out = run(d, &["query", "status", "--node", "htp://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http://"));
    // With --json the error is JSON on stdout too.
    let out = run(
        d,
        &["query", "status", "--node", "http://127.0.0.1:1", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error = json(&stdout);
    assert!(
        error["code"] == "unreachable"
            && error["message"].as_str().unwrap().contains("cannot reach"),
        "{error}"
    );
    assert!(stdout.lines().count() > 1, "pretty, like answers: {stdout}");
    assert!(
        out.stderr.is_empty(),
        "only on stdout: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the CLI finds itself carries a stable code too.
    let bob = ledger::Keypair::from_seed("bob").public().to_string();
    for (args, code) in [
        (
            vec![
                "tx",
                "transfer",
                "--from-key",
                "no-such.key",
                "--to",
                &bob,
                "--amount",
                "1",
                "--json",
            ],
            "bad_key_file",
        ),
        (vec!["query", "tx", "00ff", "--json"], "bad_hash"),
        (vec!["query", "account", "xyz", "--json"], "bad_address"),
    ] {
        let out = run(d, &args);
        let error = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(error["code"], code, "{args:?}: {error}");
    }
    let out = run(d, &["query", "status", "--node", "http://127.0.0.1:1/api"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("takes no path"));
    fails(d, &["query", "tx", "00ff"], "malformed transaction hash");
    fails(d, &["testnet", "logs", "node9"], "no node \"node9\"");
    // Flags for a new testnet do not silently apply to this one.
    fails(
        d,
        &["testnet", "up", "--validators", "7"],
        "has 4 validators, not 7",
    );
    fails(
        d,
        &["testnet", "up", "--chain-id", "other"],
        "not \"other\"",
    );

    // A crash drill: kill one validator, the other three keep committing, it comes back and
    // catches up.
    assert!(ok(d, &["testnet", "stop", "node3", "--kill"]).contains("killed node3"));
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    assert!(status[3]["pid"].is_null(), "{status}");
    assert_eq!(status[3]["state"], "down", "{status}");
    assert_eq!(status[0]["state"], "up", "{status}");
    assert_eq!(
        status[0]["committed_height"], status[0]["status"]["committed_height"],
        "{status}"
    );
    // With a node down, the columns still line up: every row as wide as the header.
    let table = ok(d, &["testnet", "status"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("committed") && !header.contains("height"),
        "{table}"
    );
    let committed_end = header.find("committed").unwrap() + "committed".len();
    for row in table.lines().skip(1) {
        assert_eq!(
            row.chars()
                .nth(committed_end - 1)
                .map(|c| c.is_ascii_digit() || c == '-'),
            Some(true),
            "the committed column is right-aligned in every row:\n{table}"
        );
    }
    let height = |i: usize| {
        json(&ok(d, &["testnet", "status", "--json"]))[i]["status"]["committed_height"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = height(0);
    wait_until("progress without node3", || height(0) >= before + 3);
    assert!(ok(d, &["testnet", "start", "3"]).contains("started node3"));
    let target = height(0);
    wait_until("node3 to catch up", || height(3) >= target);

    let logs = ok(d, &["testnet", "logs", "node1", "-n", "5"]);
    assert!(logs.contains("committed"), "{logs}");

    // `lantau testnet logs -f | head -1`: the reader goes away, lantau ends quietly (it used
    // to panic on the broken pipe).
    let mut follow = lantau(d)
        .args(["testnet", "logs", "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(follow.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(!first.is_empty());
    // The pipe is closed now; new log lines keep coming, so the next write fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follow.kill();
            panic!("lantau testnet logs --follow did not end after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status.success() && !stderr.contains("panicked"),
        "{status}: {stderr}"
    );

    let down = ok(d, &["testnet", "down"]);
    assert_eq!(down.matches("stopped").count(), 4, "{down}");
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    for n in status.as_array().unwrap() {
        assert!(n["pid"].is_null() && n["status"].is_null(), "{n}");
    }
    fails(d, &["query", "status"], "cannot reach the node");
}

/// The release binary ships with compressed line tables (cli/build.rs): RocksDB's debug info
/// once made it 490 MB, and uncompressed line tables 61 MB. The bound is for that kind of
/// regression, not for features: 41 MB with the dashboard, containers and DNS dialing.
#[test]
fn the_release_binary_stays_under_48_mb() {
    if cfg!(debug_assertions) {
        return; // debug builds carry full debug info by design
    }
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_lantau"))
        .unwrap()
        .len();
    assert!(size < 48 << 20, "lantau is {} MB", size >> 20);
}

#[test]
fn completions_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    // The version names the commit the binary was built from.
    let version = ok(tmp.path(), &["--version"]);
    assert!(
        version.contains("(commit ") && version.contains("rustc"),
        "{version}"
    );
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && out.status.success()
    {
        let head = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            version.contains(&head),
            "{version} is not built from {head}"
        );
    }
    let bash = ok(tmp.path(), &["completions", "bash"]);
    assert!(bash.contains("lantau") && bash.contains("testnet"));
    for cmd in [
        vec!["--help"],
        vec!["testnet", "up", "--help"],
        vec!["tx", "transfer", "--help"],
        vec!["query", "block", "--help"],
    ] {
        assert!(!ok(tmp.path(), &cmd).is_empty());
    }
    fails(tmp.path(), &["testnet", "status"], "no testnet in");
    // Arguments that cannot be right are refused here, before anything is sent: exit 2.
    let to = ledger::Keypair::from_seed("anyone").public().to_string();
    for (args, says) in [
        (
            vec![
                "tx",
                "transfer",
                "--from-key",
                "k.key",
                "--to",
                &to,
                "--amount",
                "0",
            ],
            "--amount",
        ),
        (
            vec!["testnet", "init", "--validators", "0"],
            "from 1 to 100",
        ),
        (vec!["demo", "--validators", "101"], "from 1 to 100"),
        (
            vec!["query", "status", "--node", "ftp://10.0.0.1"],
            "only http://",
        ),
        (
            vec!["query", "status", "--node", "http://host:port"],
            "not a number",
        ),
    ] {
        let out = run(tmp.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "lantau {args:?}: {stderr}");
        assert!(stderr.contains(says), "lantau {args:?}: {stderr}");
    }
    // Homes for other machines are not started here: the advice says how to start them.
    let hosts = tmp.path().join("hosts");
    let hosts_init = [
        "testnet",
        "init",
        "--hosts",
        "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4",
        "--dir",
        hosts.to_str().unwrap(),
    ];
    // A genesis for real machines funds only named accounts, never the public demo keys.
    fails(tmp.path(), &hosts_init, "--account ADDRESS:BALANCE");
    let treasury = format!("{}:5000", ledger::Keypair::from_seed("treasury").public());
    let mut args = hosts_init.to_vec();
    args.extend(["--account", &treasury]);
    // One sender and nowhere to pay it: refused, with the flags that fix it.
    fails(tmp.path(), &args, "--receive-only ADDRESS");
    let shop = ledger::Keypair::from_seed("shop").public().to_string();
    args.extend(["--receive-only", &shop]);
    let init = ok(tmp.path(), &args);
    let genesis = std::fs::read_to_string(hosts.join("node0").join("genesis.json")).unwrap();
    // An operator can read a home's peer id, as genesis lists it.
    let home0 = hosts.join("node0");
    let peer_id = ok(tmp.path(), &["peer-id", "--home", home0.to_str().unwrap()]);
    assert_eq!(
        peer_id.trim(),
        json(&genesis)["validators"][0]["p2p"]["peer_id"]
            .as_str()
            .unwrap()
    );
    let genesis = json(&genesis);
    assert_eq!(
        genesis["accounts"].as_array().unwrap().len(),
        2,
        "{genesis}"
    );
    assert_eq!(genesis["accounts"][1]["balance"], 0, "{genesis}");
    let senders = genesis["permissions"]["senders"].as_array().unwrap();
    assert_eq!(
        senders.len(),
        1,
        "the receive-only account sends nothing: {genesis}"
    );
    assert!(
        init.contains("lantau start --home nodeI") && !init.contains("testnet up"),
        "{init}"
    );
    // Their keys are live on those machines: this one refuses to start copies of them.
    let hosts_dir = hosts.to_str().unwrap();
    for start in [
        vec!["testnet", "up", "--dir", hosts_dir],
        vec!["testnet", "start", "node0", "--dir", hosts_dir],
    ] {
        fails(tmp.path(), &start, "second copy of its validator key");
    }
    assert!(!hosts.join("node0").join("node.pid").exists());
    // With no testnet and no --node, a client says which node it falls back to.
    let out = run(tmp.path(), &["query", "status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: no --node") && stderr.contains("http://127.0.0.1:26657"),
        "{stderr}"
    );
}

/// One validator cannot start (its API port is taken): `testnet up` fails at once, names it
/// and why, and leaves none of the others running.
#[test]
fn testnet_up_with_a_taken_port_fails_fast_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.as_path();
    ok(d, &["testnet", "init", "--validators", "4"]);
    let _cleanup = Testnet(dir.clone());
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    let api = status[2]["api"].as_str().unwrap().to_string();
    let port: u16 = api.rsplit(':').next().unwrap().parse().unwrap();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();

    let started = Instant::now();
    let out = run(d, &["testnet", "up", "--timeout-secs", "60"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("node2 exited") && stderr.contains("binding the API"),
        "{stderr}"
    );
    // Noticed when the validator exited, not when the 60 s wait for blocks ran out.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(stderr.contains("stopped node0, node1, node3"), "{stderr}");
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    for n in status.as_array().unwrap() {
        assert!(n["pid"].is_null(), "{n}");
    }
    // `testnet rm` removes what init made, and nothing that is no testnet.
    assert!(ok(d, &["testnet", "rm"]).contains("removed"));
    assert!(!dir.exists());
    let other = tmp.path().join("not-a-testnet");
    std::fs::create_dir_all(&other).unwrap();
    fails(
        tmp.path(),
        &["testnet", "rm", "--dir", other.to_str().unwrap()],
        "no testnet",
    );
    assert!(other.exists());
}
