//! `lantau testnet up --docker`: four validators as containers, each its own host at its own
//! address on a network of its own, driven by the unchanged client commands; one is killed
//! by the engine and restarted and catches up; 2|2 and 1|3 partitions heal; a paused one
//! resumes. Needs a Docker engine with Compose (`.ci/run`
//! checks for one and sets LANTAU_REQUIRE_DOCKER, so the test cannot skip there); elsewhere,
//! without an engine, it prints SKIPPED and why.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{json, ok};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("runs docker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes what the test created, containers and network, even when it fails.
struct Cleanup {
    dir: std::path::PathBuf,
    project: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = common::run(&self.dir, &["testnet", "down"]);
        for id in docker(&["ps", "-aq", "--filter", &format!("name={}-", self.project)])
            .split_whitespace()
        {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.project])
            .output();
    }
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_within(30, what, done)
}

fn wait_within(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_testnet_of_containers_commits_and_survives_a_kill_partitions_and_a_pause() {
    let engine = Command::new("docker")
        .args(["info", "-f", "{{.ServerVersion}}"])
        .output();
    if !engine.as_ref().is_ok_and(|o| o.status.success()) {
        let why = engine.map_or_else(
            |e| e.to_string(),
            |o| String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            std::env::var_os("LANTAU_REQUIRE_DOCKER").is_none(),
            "no Docker engine answers: {why}"
        );
        eprintln!("SKIPPED: no Docker engine answers ({why})");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.as_path();
    ok(
        d,
        &[
            "testnet",
            "init",
            "--docker",
            "--validators",
            "4",
            "--block-interval-ms",
            "100",
        ],
    );
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("testnet.toml")).unwrap()).unwrap();
    let project = manifest["docker"]["project"].as_str().unwrap().to_string();
    let prefix = manifest["docker"]["subnet_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let _cleanup = Cleanup {
        dir: dir.clone(),
        project: project.clone(),
    };
    let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains("ipv4_address") && compose.contains("healthcheck"),
        "{compose}"
    );

    let started = Instant::now();
    ok(d, &["testnet", "up", "--timeout-secs", "120"]);
    eprintln!(
        "testnet up --docker to committing blocks: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Four hosts: a container each, at the address genesis names for it.
    let genesis = std::fs::read_to_string(dir.join("node0/genesis.json")).unwrap();
    for i in 0..4 {
        let name = format!("{project}-node{i}");
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &name,
        ]);
        assert_eq!(ip.trim(), format!("{prefix}.{}", 10 + i), "{name}");
        assert!(
            genesis.contains(&format!("/ip4/{}/tcp/26656", ip.trim())),
            "{genesis}"
        );
    }

    // The client commands work unchanged, through the published APIs.
    let status = json(&ok(d, &["testnet", "status", "--json"]));
    let apis: Vec<String> = (0..4)
        .map(|i| status[i]["api"].as_str().unwrap().to_string())
        .collect();
    let alice = dir.join("keys/alice.key");
    let bob = ledger::Keypair::from_seed("bob").public().to_string();
    let pay_bob = |amount: &str| {
        let args = [
            "tx",
            "transfer",
            "--from-key",
            alice.to_str().unwrap(),
            "--to",
            &bob,
        ];
        let sent = ok(d, &[&args[..], &["--amount", amount, "--wait"]].concat());
        assert!(sent.contains("committed and executed"), "{sent}");
    };
    pay_bob("7");
    let balance = |api: &str| {
        json(&ok(d, &["query", "account", &bob, "--node", api, "--json"]))["balance"]
            .as_u64()
            .unwrap()
    };
    let before = balance(&apis[0]);
    let block =
        |api: &str| json(&ok(d, &["query", "block", "2", "--node", api, "--json"]))["hash"].clone();
    let hash = block(&apis[0]);
    for api in &apis[1..] {
        assert_eq!(block(api), hash, "the same block 2 on {api}");
    }

    // The engine kills one; the others go on; it restarts and catches up, with the transfer.
    assert!(ok(d, &["testnet", "stop", "node3", "--kill"]).contains("killed node3"));
    let height = |api: &str| {
        json(&ok(d, &["query", "status", "--node", api, "--json"]))["committed_height"]
            .as_u64()
            .unwrap()
    };
    let at_kill = height(&apis[0]);
    pay_bob("5");
    assert!(height(&apis[0]) > at_kill);
    ok(d, &["testnet", "start", "node3"]);
    let restarted = Instant::now();
    let target = height(&apis[0]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let caught_up = Command::new(env!("CARGO_BIN_EXE_lantau"))
            .args(["query", "status", "--json", "--node", &apis[3]])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .is_some_and(|s| s["committed_height"].as_u64() >= Some(target));
        if caught_up {
            break;
        }
        assert!(Instant::now() < deadline, "node3 did not catch up");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "node3 caught up {:.1} s after its restart",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(
        balance(&apis[3]),
        before + 5,
        "every acknowledged transfer, on node3 too"
    );

    // 2|2: no side has a quorum, nothing commits; after the heal all four commit again.
    let heights = || -> Vec<u64> { apis.iter().map(|a| height(a)).collect() };
    assert!(ok(d, &["testnet", "partition", "0,1|2,3"]).contains("node0,node1 | node2,node3"));
    std::thread::sleep(Duration::from_secs(2)); // what was in flight lands
    let cut = heights();
    std::thread::sleep(Duration::from_secs(10));
    let still = heights();
    assert!(
        still.iter().max() <= Some(&(cut.iter().max().unwrap() + 1)),
        "no quorum on either side of 2|2, yet {cut:?} -> {still:?}"
    );
    ok(d, &["testnet", "heal"]);
    let healed = Instant::now();
    let top = *still.iter().max().unwrap();
    // After a long cut the validators' rounds have drifted apart (timeouts grow each round),
    // so the first commit after a heal can take a few rounds: a generous bound, and the time
    // is printed.
    wait_within(30, "all four to commit after the 2|2 heal", || {
        heights().iter().all(|&h| h >= top + 2)
    });
    eprintln!(
        "2|2 partition of 10 s: every validator committed 2 new heights {:.1} s after the heal",
        healed.elapsed().as_secs_f64()
    );

    // 1|3: the three keep committing, the one cannot; after the heal it catches up.
    ok(d, &["testnet", "partition", "node0|node1,node2,node3"]);
    std::thread::sleep(Duration::from_secs(2));
    let alone = height(&apis[0]);
    let three = height(&apis[1]);
    wait_for("the three to commit without node0", || {
        height(&apis[1]) >= three + 3
    });
    assert!(height(&apis[0]) <= alone + 1, "node0 alone cannot commit");
    std::thread::sleep(Duration::from_secs(5));
    ok(d, &["testnet", "heal"]);
    let healed = Instant::now();
    let target = height(&apis[1]);
    wait_within(30, "node0 to catch up after the 1|3 heal", || {
        height(&apis[0]) >= target
    });
    eprintln!(
        "1|3 partition: node0 caught up {:.1} s after the heal",
        healed.elapsed().as_secs_f64()
    );

    // Paused by the engine: it answers nothing, and runs on after the resume.
    ok(d, &["testnet", "pause", "node1"]);
    assert!(
        Command::new(env!("CARGO_BIN_EXE_lantau"))
            .args(["query", "status", "--node", &apis[1]])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true),
        "a paused container does not answer"
    );
    ok(d, &["testnet", "resume", "node1"]);
    let resumed_at = height(&apis[0]);
    wait_for("node1 to commit after the resume", || {
        height(&apis[1]) >= resumed_at
    });

    // The image a cluster would run: built once per binary, so the same tag as the testnet's.
    let tag = ok(d, &["testnet", "image"]);
    let image = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        &format!("{project}-node0"),
    ]);
    assert_eq!(tag.trim(), image.trim());

    // Down removes the containers and the network; the homes stay.
    ok(d, &["testnet", "down"]);
    let left = docker(&["ps", "-aq", "--filter", &format!("name={project}-")]);
    assert!(left.trim().is_empty(), "containers left: {left}");
    assert!(
        !docker(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|n| n == project)
    );
    assert!(dir.join("node0/genesis.json").exists());

    // The bench harness on containers (after the testnet above is gone: one network at a
    // time): a short point with a kill, CPU-limited, audited as on processes.
    let out = tmp.path().join("bench");
    let bench = Command::new(env!("CARGO_BIN_EXE_lantau"))
        .args([
            "bench",
            "--engine",
            "docker",
            "--cpus-per-validator",
            "1",
            "--rates",
            "300",
            "--duration-secs",
            "3",
            "--warmup-secs",
            "1",
            "--fault",
            "2:kill:2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).unwrap());
    assert_eq!(
        summary["params"]["engine"], "docker",
        "{}",
        summary["params"]
    );
    let p = &summary["points"][0];
    assert_eq!(p["complete"], true, "{p}");
    // A kill may take with it what node2 acknowledged and had not gossiped yet (a mempool is
    // not durable); the audit counts those as lost in the kill (accepted there just before
    // it), and their senders' later nonces as stranded. Nothing else may go missing.
    assert_eq!(p["dropped"].as_u64(), Some(0), "{p}");
    let count = |k: &str| p[k].as_u64().unwrap();
    assert_eq!(
        count("committed") + count("crash_lost") + count("stranded"),
        count("accepted"),
        "every acknowledged transfer committed or was lost in the kill: {p}"
    );
    assert!(p["faults"].to_string().contains("kill"), "{p}");
    // The containers' validators are measured like processes (their host pids).
    let measured = p["resources"]["validators"].as_array().unwrap();
    assert!(
        measured.len() >= 3 && measured.iter().all(|v| v["cpu_secs"].as_f64() > Some(0.0)),
        "{p}"
    );
    let left = docker(&["ps", "-aq", "--filter", "name=lantau-bench"]);
    assert!(left.trim().is_empty(), "the bench left containers: {left}");
}
