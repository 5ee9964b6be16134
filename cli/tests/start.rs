//! The real `lantau` binary: init a home, start it, submit over HTTP, stop with SIGTERM,
//! start again and find the committed state.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ledger::{Keypair, Transfer};

fn free_port() -> u16 {
    node::ports::free_local_port()
}

fn lantau() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lantau"))
}

/// One HTTP/1.1 request; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terminate(node: &mut Node) -> std::process::ExitStatus {
    let pid = node.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    node.0.wait().unwrap()
}

#[test]
fn init_start_submit_stop_restart() {
    let home = tempfile::tempdir().unwrap();
    // Without flags genesis funds nobody: no account spendable with a public key.
    let bare = tempfile::tempdir().unwrap();
    let out = lantau()
        .args(["init", "--home"])
        .arg(bare.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let genesis = std::fs::read_to_string(bare.path().join("genesis.json")).unwrap();
    assert!(
        json(&genesis)["accounts"].as_array().unwrap().is_empty(),
        "{genesis}"
    );

    let out = lantau()
        .args(["init", "--demo-accounts", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = lantau()
        .args(["init", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(!again.status.success(), "init must not overwrite a home");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // A home checked without starting it: valid as made, and a broken config named.
    let checked = lantau()
        .args(["config", "validate", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("is a valid home"));
    let config_path = home.path().join("config.toml");
    let good = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, format!("{good}max_blok_txs = 3\n")).unwrap();
    let checked = lantau()
        .args(["config", "validate", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&checked.stderr).contains("max_blok_txs"));
    std::fs::write(&config_path, good).unwrap();

    let (p2p, api) = (free_port(), free_port());
    let config_path = home.path().join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("/tcp/26656", &format!("/tcp/{p2p}"))
        .replace("127.0.0.1:26657", &format!("127.0.0.1:{api}"))
        .replace("block_interval_ms = 200", "block_interval_ms = 20");
    std::fs::write(&config_path, config).unwrap();

    let start = || {
        Node(
            lantau()
                .args(["start", "--home"])
                .arg(home.path())
                .env("RUST_LOG", "warn")
                .spawn()
                .unwrap(),
        )
    };
    let mut node = start();
    let height = |port| {
        http(port, "GET", "/v1/status", "").map(|(_, b)| json(&b)["height"].as_u64().unwrap_or(0))
    };
    wait_until("blocks", || height(api).unwrap_or(0) >= 2);

    // A second start of a running home, or a start of a folder that is no home: one error
    // each, saying what to do.
    let second = lantau()
        .args(["start", "--home"])
        .arg(home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("already running (pid {})", node.0.id())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one error, once: {stderr}");
    let out = lantau()
        .args(["start", "--home"])
        .arg(bare.path().join("nothing"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is not a lantau home") && stderr.contains("lantau init --home"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one error, once: {stderr}");

    let alice = Keypair::from_seed("alice");
    let bob = Keypair::from_seed("bob").public();
    let tx = Transfer {
        chain_id: "lantau-local".into(),
        from: alice.public(),
        to: bob,
        amount: 250,
        nonce: 0,
        memo: vec![],
    }
    .sign(&alice);
    let (status, body) = http(
        api,
        "POST",
        "/v1/txs",
        &format!("{{\"tx\":\"{}\"}}", hex::encode(tx.encode())),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(api, "POST", "/v1/txs", "{not json").unwrap();
    assert_eq!(status, 400, "{body}");
    let bob_balance = |port| {
        http(port, "GET", &format!("/v1/accounts/{bob}"), "")
            .map(|(_, b)| json(&b)["balance"].as_u64().unwrap_or(0))
    };
    wait_until("the transfer", || bob_balance(api) == Some(1_000_000_250));

    assert!(
        terminate(&mut node).success(),
        "SIGTERM stops the node cleanly"
    );
    // Restarted with JSON logs: every line is a JSON object, and the first says what runs.
    let mut node = Node(
        lantau()
            .args(["start", "--log-format", "json", "--home"])
            .arg(home.path())
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = node.0.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let starting = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line");
        let entry = json(&line);
        if entry["fields"]["message"] == "lantau starting" {
            break entry;
        }
    };
    let fields = &starting["fields"];
    assert!(
        fields["version"].as_str().unwrap().contains("(commit "),
        "{starting}"
    );
    assert_eq!(fields["chain"], "lantau-local", "{starting}");
    assert!(
        fields["committed_height"].as_u64().unwrap() >= 2,
        "{starting}"
    );
    wait_until("the restarted node", || {
        bob_balance(api) == Some(1_000_000_250)
    });
    let after = height(api).unwrap();
    wait_until("new blocks after the restart", || {
        height(api).unwrap_or(0) > after
    });
    assert!(terminate(&mut node).success());

    // Logging to a file: nothing on stdout, and a fatal error (the API port is taken) is in
    // the file as well as on stderr.
    let taken = std::net::TcpListener::bind(("127.0.0.1", api)).unwrap();
    let log = home.path().join("logs/node.log");
    let out = lantau()
        .args(["start", "--home"])
        .arg(home.path())
        .arg("--log-file")
        .arg(&log)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    drop(taken);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lantau starting"), "{text}");
    assert!(
        text.contains("ERROR") && text.contains("binding the API"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour codes in a file: {text}");
}

/// `lantau demo` stopped with Ctrl-C prints its summary and removes its temporary stores.
#[test]
fn an_interrupted_demo_sums_up_and_removes_its_stores() {
    let mut demo = Node(
        lantau()
            .args(["demo", "--seconds", "300"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let next = || {
        lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from the demo")
    };
    let stores = loop {
        let line = next();
        if let Some((_, dir)) = line.split_once("stores in ") {
            break std::path::PathBuf::from(dir.trim());
        }
    };
    assert!(stores.exists(), "{}", stores.display());
    // A committed block's row: its height first.
    while !next()
        .split_whitespace()
        .next()
        .is_some_and(|h| h.parse::<u64>().is_ok_and(|h| h >= 2))
    {}
    Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status()
        .unwrap();
    let status = demo.0.wait().unwrap();
    // Everything it printed until it closed its output.
    let rest: Vec<String> =
        std::iter::from_fn(|| lines_rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
    let rest = rest.join("\n");
    assert!(status.success(), "{status:?}: {rest}");
    assert!(
        rest.contains("interrupted after") && rest.contains("transfers submitted"),
        "{rest}"
    );
    assert!(rest.contains("removed the stores"), "{rest}");
    assert!(!stores.exists(), "{} is left behind", stores.display());
}

fn run_ok(args: &[&str]) -> String {
    let out = lantau().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "lantau {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A consortium's ceremony: four members make their keys in four separate homes and share
/// only signed entries; a forged entry is refused; the assembled genesis has one hash for
/// everyone; the chain made from it commits; a home its genesis does not name will not start.
#[test]
fn a_chain_assembled_from_four_members_entries_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let (p2p, api): (Vec<u16>, Vec<u16>) = (0..4).map(|_| (free_port(), free_port())).unzip();
    let mut entries = vec![];
    for i in 0..4 {
        let home = p(&format!("bank{i}"));
        let address = format!("/ip4/127.0.0.1/tcp/{}", p2p[i]);
        let moniker = format!("bank{i}");
        let printed = run_ok(&[
            "genesis",
            "member",
            "--home",
            &home,
            "--moniker",
            &moniker,
            "--p2p-address",
            &address,
        ]);
        assert!(
            json(&printed)["validator_signature"].is_string(),
            "{printed}"
        );
        // Four machines in one: each API on its own port.
        let config = std::path::Path::new(&home).join("config.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("0.0.0.0:26657", &format!("127.0.0.1:{}", api[i]))
            .replace("block_interval_ms = 200", "block_interval_ms = 20");
        std::fs::write(&config, text).unwrap();
        entries.push(format!("{home}/entry.json"));
    }
    let treasury = p("treasury.key");
    let treasury_address = run_ok(&["keygen", "--out", &treasury])
        .split_whitespace()
        .find(|w| w.len() == 64)
        .unwrap()
        .to_string();
    let shop = Keypair::from_seed("shop").public().to_string();
    let account = format!("{treasury_address}:1000");
    let assemble = |entries: &[String], out: &str| {
        let mut args = vec!["genesis", "assemble", "--chain-id", "consortium-test"];
        for e in entries {
            args.extend(["--entry", e.as_str()]);
        }
        args.extend(["--account", &account, "--receive-only", &shop, "--out", out]);
        lantau().args(&args).output().unwrap()
    };
    // Someone raised bank3's power in transit: refused.
    let forged = p("forged.json");
    let text = std::fs::read_to_string(&entries[3]).unwrap();
    std::fs::write(&forged, text.replace("\"power\": 1", "\"power\": 9")).unwrap();
    let mut with_forged = entries.clone();
    with_forged[3] = forged;
    let out = assemble(&with_forged, &p("bad.json"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let genesis = p("genesis.json");
    let out = assemble(&entries, &genesis);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .replace("genesis hash ", "");
    let mut nodes = vec![];
    for i in 0..4 {
        let home = p(&format!("bank{i}"));
        std::fs::copy(&genesis, format!("{home}/genesis.json")).unwrap();
        assert_eq!(
            run_ok(&["genesis", "hash", &format!("{home}/genesis.json")]).trim(),
            hash
        );
        nodes.push(Node(
            lantau()
                .args(["start", "--home", &home])
                .env("RUST_LOG", "warn")
                .spawn()
                .unwrap(),
        ));
    }
    let height = |port| {
        http(port, "GET", "/v1/status", "")
            .map(|(_, b)| json(&b)["committed_height"].as_u64().unwrap_or(0))
    };
    wait_until("the consortium's first blocks", || {
        api.iter().all(|&port| height(port).unwrap_or(0) >= 2)
    });
    let node = format!("http://127.0.0.1:{}", api[1]);
    let sent = run_ok(&[
        "tx",
        "transfer",
        "--from-key",
        &treasury,
        "--to",
        &shop,
        "--amount",
        "5",
        "--node",
        &node,
        "--wait",
    ]);
    assert!(sent.contains("committed"), "{sent}");

    // A member whose home the genesis does not name: its node will not start on it.
    let outsider = p("outsider");
    run_ok(&[
        "genesis",
        "member",
        "--home",
        &outsider,
        "--moniker",
        "outsider",
        "--p2p-address",
        "/ip4/127.0.0.1/tcp/1",
    ]);
    std::fs::copy(&genesis, format!("{outsider}/genesis.json")).unwrap();
    let out = lantau()
        .args(["start", "--home", &outsider])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not name this home's validator key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(nodes);
}
