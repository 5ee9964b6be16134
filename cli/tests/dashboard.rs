//! `lantau dashboard` against a live 4-validator testnet, looked at in headless Chromium
//! (Debian's chromium-headless-shell, from scripts/install-deps.sh): the page loads with no
//! errors, shows the four validators at their heights, its tx/s chart rises under load, a
//! killed validator is shown down and then up again, nothing overflows at 1280 px, and a
//! screenshot is not blank.

mod common;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{Testnet, lantau, ok, wait_until};

/// Stops the dashboard even when an assertion fails.
struct Dashboard(Child);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The page after `budget_ms` of its own time (its timers run, its fetches are real), with
/// a probe that reports into the title what the test checks: errors, polls, each
/// validator's state and committed height, the tx/s chart's maximum, and any overflow.
fn look(url: &str, budget_ms: u64) -> String {
    let out = Command::new("chromium-headless-shell")
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium-headless-shell (installed by scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `attribute="value"` of the first element carrying `marker` in a dumped DOM.
fn attr<'a>(dom: &'a str, marker: &str, attribute: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in the page:\n{dom}"));
    let tag_start = dom[..=at].rfind('<').unwrap();
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').unwrap()];
    let key = format!("{attribute}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attribute} in {tag}"))
        + key.len();
    &tag[from..from + tag[from..].find('"').unwrap()]
}

fn node_state<'a>(dom: &'a str, node: &str) -> &'a str {
    attr(dom, &format!("data-node=\"{node}\""), "data-state")
}

fn height(dir: &Path, i: usize) -> u64 {
    let status: serde_json::Value =
        serde_json::from_str(&ok(dir, &["testnet", "status", "--json"])).unwrap();
    status[i]["status"]["committed_height"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn the_dashboard_shows_the_network_live_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.as_path();
    let (_testnet, up) = Testnet::up(d);
    assert!(
        up.contains("lantau dashboard --dir"),
        "testnet up names it: {up}"
    );
    let mut dashboard = lantau(d)
        .args(["dashboard", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(dashboard.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _dashboard = Dashboard(dashboard);
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();

    // Loaded: no errors, polled, four validators up at the heights they report (once the
    // dashboard's first poll is in: it runs on real time, the page on virtual time).
    wait_until("the dashboard's first poll", || {
        snapshot(&url)["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["up"] == true)
    });
    let before: Vec<u64> = (0..4).map(|i| height(d, i)).collect();
    let dom = look(&url, 3000);
    assert_eq!(
        attr(&dom, "<body", "data-errors"),
        "0",
        "errors on the page"
    );
    assert!(attr(&dom, "<body", "data-polls").parse::<u32>().unwrap() >= 2);
    for (i, before) in before.iter().enumerate() {
        let name = format!("node{i}");
        assert_eq!(node_state(&dom, &name), "up", "{name}");
        let shown: u64 = attr(&dom, &format!("data-node=\"{name}\""), "data-committed")
            .parse()
            .unwrap();
        assert!(
            shown + 5 >= *before && shown <= height(d, i),
            "{name}: the page shows {shown}, the node was at {before} before"
        );
    }
    // Laid out at 1280 px without anything wider than the page (the page measures itself).
    assert_eq!(
        attr(&dom, "<body", "data-overflow"),
        "",
        "overflowing at 1280 px"
    );

    // Under load the tx/s chart rises from the idle chain's zero.
    let idle = look(&url, 2000);
    let idle_max: f64 = attr(&idle, "id=\"tps-chart\"", "data-max").parse().unwrap();
    let csv = tmp.path().join("load.csv");
    let bob = ledger::Keypair::from_seed("bob").public().to_string();
    let rows: String = (0..400).map(|_| format!("{bob},1\n")).collect();
    std::fs::write(&csv, rows).unwrap();
    let alice = dir.join("keys/alice.key");
    ok(
        d,
        &[
            "tx",
            "batch",
            "--from-key",
            alice.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--wait",
        ],
    );
    // The dashboard polls in real time: wait until it has seen the counters move (the page
    // then draws what it has; the page's own clock is virtual and would not wait).
    wait_until("the dashboard to see the batch commit", || {
        snapshot(&url)["rates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[1].as_f64().unwrap() > 0.0)
    });
    let loaded = look(&url, 3000);
    let loaded_max: f64 = attr(&loaded, "id=\"tps-chart\"", "data-max")
        .parse()
        .unwrap();
    assert!(
        loaded_max > idle_max && loaded_max > 0.0,
        "tx/s {idle_max} -> {loaded_max}"
    );

    // A crash is shown, and so is the recovery. The dashboard notices in real time (its
    // poll); the page then shows what the dashboard knows.
    ok(d, &["testnet", "stop", "node2", "--kill"]);
    let killed = Instant::now();
    let node2_up = |url: &str| snapshot(url)["nodes"][2]["up"].as_bool().unwrap();
    wait_until("the dashboard to see node2 down", || !node2_up(&url));
    eprintln!(
        "the dashboard showed node2 down {} ms after the kill (poll every 1 s, 800 ms timeout)",
        killed.elapsed().as_millis()
    );
    let down = look(&url, 2000);
    assert_eq!(node_state(&down, "node2"), "down");
    assert_eq!(node_state(&down, "node1"), "up");
    ok(d, &["testnet", "start", "node2"]);
    wait_until("the dashboard to see node2 up again", || node2_up(&url));
    assert_eq!(node_state(&look(&url, 2000), "node2"), "up");

    // Validators anywhere, by URL: one that answers, one that cannot (a closed port).
    let status: serde_json::Value =
        serde_json::from_str(&ok(d, &["testnet", "status", "--json"])).unwrap();
    let node0 = status[0]["api"].as_str().unwrap().to_string();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let mut anywhere = lantau(d)
        .args(["dashboard", "--nodes", &format!("{node0},{closed}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(anywhere.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _anywhere = Dashboard(anywhere);
    let other = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    wait_until("the URL dashboard's first poll", || {
        snapshot(&other)["nodes"][0]["up"] == true
    });
    let nodes = snapshot(&other)["nodes"].clone();
    assert_eq!(nodes.as_array().unwrap().len(), 2, "{nodes}");
    assert_eq!(nodes[1]["up"], false, "{nodes}");
    assert!(
        nodes[1]["error"].as_str().unwrap().contains("cannot reach"),
        "{nodes}"
    );
    let dom = look(&other, 2000);
    assert_eq!(attr(&dom, "<body", "data-errors"), "0");

    // A screenshot of the whole page, not blank.
    let shot = tmp.path().join("dashboard.png");
    let out = Command::new("chromium-headless-shell")
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1100",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 30_000,
        "a screenshot of {} bytes looks blank",
        png.len()
    );
    if let Ok(keep) = std::env::var("LANTAU_DASHBOARD_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// The dashboard's `/api/snapshot`.
fn snapshot(url: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /api/snapshot HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
