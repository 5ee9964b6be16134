//! Short `lantau bench` runs (the CI smoke test of the harness): four validators as separate
//! processes, a few seconds of modest load, and the results checked for completeness and
//! sanity. The full sweeps are documented commands, not tests.

use std::path::Path;
use std::process::Command;

/// One benchmark at a time: each runs a whole testnet, and three at once on two cores would
/// measure the contention rather than the harness.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn bench(out: &Path, extra: &[&str]) -> serde_json::Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_lantau"))
        .args(["bench", "--senders", "50", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("runs lantau bench");
    assert!(
        output.status.success(),
        "lantau bench failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("committed") && stdout.contains("report:"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    let run: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
    // The ceiling every peak is a ratio of, measured in the same run, in all three places.
    let line = run["ceiling_line"]
        .as_str()
        .expect("a ceiling line")
        .to_string();
    assert!(
        line.starts_with("ceiling ") && line.contains(" validators)"),
        "{line}"
    );
    assert!(stdout.contains(&line), "{stdout}");
    assert!(
        run["ceiling"]["tx_per_sec"].as_f64().unwrap() > 0.0,
        "{run}"
    );
    let page = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(page.contains(&line), "the report names the ceiling");
    // What ran, where and how, next to the points.
    assert!(
        run["version"].as_str().unwrap().contains("(commit "),
        "{run}"
    );
    assert!(run["machine"]["cores"].as_u64().unwrap() > 0, "{run}");
    assert!(
        !run["params"]["rates"].as_array().unwrap().is_empty(),
        "{run}"
    );
    run["points"].clone()
}

fn assert_files(out: &Path, label: &str) {
    for f in [
        "params.toml",
        "machine.txt",
        "summary.csv",
        "latency_vs_throughput.svg",
        "latency_cdf.svg",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let point = out.join("points").join(label);
    for f in [
        "samples.csv",
        "blocks.csv",
        "timeline.csv",
        "summary.json",
        "throughput.svg",
        "latency.svg",
    ] {
        assert!(point.join(f).is_file(), "{label}/{f} missing");
    }
    let machine = std::fs::read_to_string(out.join("machine.txt")).unwrap();
    assert!(
        machine.contains("cores") && machine.contains("(commit ") && machine.contains("cpu_flags"),
        "{machine}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.matches("<svg").count() >= 4, "plots are inline");
}

/// Lay the report out in headless Chromium at a laptop's width: nothing overflows sideways
/// (every table fits without scrolling, every plot within the page), and a screenshot of the
/// whole page is taken and is not blank. Chromium comes from scripts/install-deps.sh.
fn check_layout_in_chromium(report: &Path, tables: usize) {
    let dir = report.parent().unwrap();
    let probe = dir.join("layout-probe.html");
    let page = std::fs::read_to_string(report).unwrap();
    // Measures after layout; the verdict goes into the title, which --dump-dom prints.
    let script = "<script>(()=>{const w=document.documentElement.clientWidth;const bad=[];\
if(document.documentElement.scrollWidth>w)bad.push('page '+document.documentElement.scrollWidth+'>'+w);\
document.querySelectorAll('.wide').forEach((d,i)=>{if(d.scrollWidth>d.clientWidth)bad.push('table '+i+' '+d.scrollWidth+'>'+d.clientWidth)});\
document.querySelectorAll('svg').forEach((s,i)=>{const r=s.getBoundingClientRect();if(r.right>w||r.width<200)bad.push('plot '+i+' '+r.left+'..'+r.right)});\
document.title='LAYOUT '+(bad.length?bad.join('; '):'ok')+' tables='+document.querySelectorAll('table').length+' plots='+document.querySelectorAll('svg').length;})()</script></body>";
    std::fs::write(&probe, page.replace("</body>", script)).unwrap();
    let chromium = |args: &[&str]| {
        let out = Command::new("chromium-headless-shell")
            .args(["--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args(args)
            .arg(format!("file://{}", probe.display()))
            .output()
            .expect("chromium-headless-shell (installed by scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--window-size=1280,900", "--dump-dom"]);
    let title = dom
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or("");
    assert!(title.starts_with("LAYOUT ok"), "{title}");
    assert!(
        title.contains(&format!("tables={tables} ")) && !title.contains("plots=0"),
        "{title}"
    );
    let shot = dir.join("report.png");
    chromium(&[
        "--window-size=1280,4000",
        &format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[1..4], b"PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "the screenshot is the page at the asked width");
    // A blank page compresses to a few KB; tables, text and plots do not.
    assert!(
        png.len() > 40_000,
        "screenshot of {} bytes looks blank",
        png.len()
    );
}

#[test]
fn smoke_run_commits_everything_it_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("smoke");
    let rate = 300;
    let summary = bench(
        &out,
        &[
            "--rates",
            &rate.to_string(),
            "--duration-secs",
            "3",
            "--warmup-secs",
            "1",
        ],
    );
    assert_files(&out, "4v-300tps");
    // Performance, fate, machine use, where a height's time goes, messages.
    check_layout_in_chromium(&out.join("report.html"), 5);
    let p = &summary[0];
    let sent = p["sent"].as_u64().unwrap();
    assert_eq!(sent, rate * 4, "every pre-signed transfer was sent");
    assert_eq!(p["accepted"], sent, "{p}");
    assert_eq!(
        p["committed"], p["accepted"],
        "committed = acknowledged: {p}"
    );
    assert_eq!(
        (p["dropped"].as_u64(), p["complete"].as_bool()),
        (Some(0), Some(true))
    );
    // What the window measured is consistent, whatever the machine's speed (speed itself is
    // the benchmarks' business, not a test's): some commits, never more than was sent.
    let tps = p["committed_tps"].as_f64().unwrap();
    assert!(tps > 0.0 && tps * 3.0 <= sent as f64, "{p}");
    let e2e = &p["e2e_latency_ms"];
    let (p50, p99) = (e2e["p50"].as_f64().unwrap(), e2e["p99"].as_f64().unwrap());
    assert!(e2e["samples"].as_u64().unwrap() > 0);
    assert!(p50 > 0.0 && p50 <= p99, "{e2e}");
    let consensus = p["consensus_latency_ms"]["mean"].as_f64().unwrap();
    assert!(consensus >= 0.0 && consensus <= p99, "{p}");

    // The measured window follows the warm-up; heights and traffic were counted.
    assert_eq!(
        (p["window_from_secs"].as_f64(), p["window_to_secs"].as_f64()),
        (Some(1.0), Some(4.0))
    );
    let rounds = &p["rounds"];
    assert!(rounds["heights"].as_u64().unwrap() >= 3, "{rounds}");
    assert!(rounds["after_round_0"].as_u64().unwrap() <= rounds["heights"].as_u64().unwrap());
    let messages = &p["messages_received"];
    for kind in ["proposal", "prevote", "precommit", "tx_batch"] {
        assert!(messages[kind].as_u64().unwrap() > 0, "{kind}: {messages}");
    }
    // Every height was built, validated, voted on and committed somewhere: each stage has a
    // mean, and none of them is longer than the height it is part of.
    let stages = &p["stages"];
    let height = stages["height_ms"].as_f64().unwrap();
    for stage in ["build_ms", "validate_ms", "signing_ms", "commit_ms"] {
        let ms = stages[stage]
            .as_f64()
            .unwrap_or_else(|| panic!("{stage}: {stages}"));
        assert!(ms > 0.0 && ms <= height, "{stage}: {stages}");
    }

    // One sample row per transfer, each committed with a height and a latency.
    let samples = std::fs::read_to_string(out.join("points/4v-300tps/samples.csv")).unwrap();
    let mut lines = samples.lines();
    assert_eq!(
        lines.next(),
        Some("tx,node,sent_ms,ack,accepted_ms,commit_ms,commit_height,latency_ms")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len() as u64, sent);
    let blocks = std::fs::read_to_string(out.join("points/4v-300tps/blocks.csv")).unwrap();
    let heights: std::collections::HashSet<&str> = blocks
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(heights.len() as u64, rounds["heights"].as_u64().unwrap());
    for r in &rows {
        let fields: Vec<&str> = r.split(',').collect();
        assert_eq!(fields[3], "accepted", "{r}");
        let accepted: u64 = fields[4].parse().unwrap();
        assert!(
            accepted >= fields[2].parse::<u64>().unwrap(),
            "{r}: answered after the send"
        );
        assert!(heights.contains(fields[6]), "{r}: a height of blocks.csv");
        assert!(fields[7].parse::<u64>().is_ok(), "{r}");
    }
}

#[test]
fn faults_and_link_latency_are_applied_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("faults");
    let summary = bench(
        &out,
        &[
            "--rates",
            "200",
            "--duration-secs",
            "3",
            "--warmup-secs",
            "1",
            "--latency-ms",
            "5",
            "--fault",
            "1:partition:3",
            "--fault",
            "2.5:heal",
            "--fault",
            "3:pause:2",
            "--fault",
            "3.5:resume:2",
        ],
    );
    assert_files(&out, "4v-200tps");
    let p = &summary[0];
    let faults: Vec<String> = p["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        faults,
        ["partition node3", "heal", "pause node2", "resume node2"]
    );
    // Three of four validators are a quorum: the chain kept committing through the faults,
    // and nothing acknowledged was lost.
    assert_eq!(p["dropped"], 0, "{p}");
    assert_eq!(p["committed"], p["accepted"], "{p}");
    assert!(p["committed_tps"].as_f64().unwrap() > 0.0, "{p}");
    let svg = std::fs::read_to_string(out.join("points/4v-200tps/throughput.svg")).unwrap();
    assert!(svg.contains("partition node3"), "fault markers are drawn");
}

/// Regression: gossipsub's behaviour penalties (broken IHAVE promises, GRAFT during backoff)
/// once graylisted a validator that had been paused for a few seconds, so nothing it sent
/// afterwards (its proposals, the transactions submitted to it) reached the others. Without
/// the fix this run loses ~280 acknowledged transfers.
#[test]
fn a_validator_paused_for_seconds_is_heard_again_after_it_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pause");
    let summary = bench(
        &out,
        &[
            "--validators",
            "7",
            "--rates",
            "2000",
            "--duration-secs",
            "8",
            "--warmup-secs",
            "1",
            "--fault",
            "2:pause:2",
            "--fault",
            "5:resume:2",
        ],
    );
    let p = &summary[0];
    assert_eq!(
        (p["dropped"].as_u64(), p["stranded"].as_u64()),
        (Some(0), Some(0)),
        "{p}"
    );
    assert_eq!(p["committed"], p["accepted"], "{p}");
}

/// A mempool far too small for the load: nodes refuse with `mempool_full`, the generator
/// resubmits as a client would, and every transfer still commits, in nonce order, with no
/// sender stranded behind its first refusal.
///
/// The overload is forced, not hoped for: blocks of at most 20 transfers, at most one every
/// 100 ms, drain at most 200 tx/s however fast the machine, and 400 tx/s are offered into
/// mempools of 100, so every validator's mempool fills within the first second.
#[test]
fn refusals_under_overload_are_retried_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("overload.toml");
    std::fs::write(
        &scenario,
        "rates = [400]\nduration_secs = 2\nwarmup_secs = 1\nmempool_max_txs = 100\n\
         max_block_txs = 20\nblock_interval_ms = 100\ndrain_secs = 60\n",
    )
    .unwrap();
    let out = tmp.path().join("overload");
    let summary = bench(&out, &["--scenario", scenario.to_str().unwrap()]);
    let p = &summary[0];
    assert!(
        p["retried"].as_u64().unwrap() > 0,
        "the mempool never refused: {p}"
    );
    assert_eq!(p["committed"], p["sent"], "{p}");
    assert_eq!(
        (p["dropped"].as_u64(), p["stranded"].as_u64()),
        (Some(0), Some(0)),
        "{p}"
    );
    assert!(p["rejected"].as_object().unwrap().is_empty(), "{p}");
}

/// What a run with Byzantine validators must still show: everything acknowledged committed,
/// and the honest validators (audited before the testnet stopped) agreeing block by block,
/// holding no transfer whose signature does not verify, never panicking or halting, and
/// staying far below a memory bound.
fn assert_honest_validators_unharmed(p: &serde_json::Value, honest: u64) {
    assert_eq!(p["dropped"], 0, "{p}");
    // Everything acknowledged is committed, except what a killed validator held in its
    // mempool when it died and the same senders' transfers behind those.
    let n = |k: &str| p[k].as_u64().unwrap();
    let killed = p["faults"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["what"].as_str().unwrap().starts_with("kill"));
    if !killed {
        assert_eq!((n("crash_lost"), n("stranded")), (0, 0), "{p}");
    }
    assert_eq!(
        n("committed") + n("crash_lost") + n("stranded"),
        n("accepted"),
        "{p}"
    );
    assert!(p["committed"].as_u64().unwrap() > 0, "{p}");
    let audit = &p["audit"];
    assert!(audit["validators"].as_u64().unwrap() >= honest, "{audit}");
    assert!(audit["heights"].as_u64().unwrap() >= 3, "{audit}");
    assert_eq!(audit["divergent_heights"], 0, "{audit}");
    assert_eq!(audit["unverifiable_txs"], 0, "{audit}");
    assert_eq!(audit["panicked"], 0, "{audit}");
    assert_eq!(audit["halted"], 0, "{audit}");
    let rss = audit["max_peak_rss_mib"].as_u64().unwrap();
    assert!(rss > 0 && rss < 1024, "{audit}");
    assert_eq!(p["complete"], true, "{p}");
}

#[test]
fn one_byzantine_validator_of_four_cannot_harm_the_honest_ones() {
    let tmp = tempfile::tempdir().unwrap();
    for behaviour in [
        "equivocate",
        "withhold",
        "tamper-relay",
        "tamper-sync",
        "flood-rounds",
        "fake-pol",
        "silent",
        "hide-batches",
        "bad-batches",
        "phantom-batches",
    ] {
        let out = tmp.path().join(behaviour);
        let liar = format!("3:{behaviour}");
        let mut args = vec![
            "--rates",
            "300",
            "--duration-secs",
            "4",
            "--warmup-secs",
            "1",
            "--byzantine",
            &liar,
        ];
        // A validator that falls behind asks its peers for blocks, the liar among them.
        if behaviour == "tamper-sync" {
            args.extend(["--fault", "0.5:kill:1", "--fault", "2.5:restart:1"]);
        }
        let summary = bench(&out, &args);
        let p = &summary[0];
        assert_eq!(p["byzantine"][0], format!("node3 {behaviour}"), "{p}");
        assert_honest_validators_unharmed(p, 3);
        eprintln!(
            "{behaviour}: {:.0} tx/s, e2e p50 {:.0} ms, p99 {:.0} ms",
            p["committed_tps"].as_f64().unwrap(),
            p["e2e_latency_ms"]["p50"].as_f64().unwrap(),
            p["e2e_latency_ms"]["p99"].as_f64().unwrap()
        );
    }
}

#[test]
fn two_byzantine_validators_of_seven_cannot_harm_the_honest_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("seven");
    let summary = bench(
        &out,
        &[
            "--validators",
            "7",
            "--rates",
            "300",
            "--duration-secs",
            "4",
            "--warmup-secs",
            "1",
            "--byzantine",
            "1:equivocate",
            "--byzantine",
            "6:tamper-relay",
        ],
    );
    let p = &summary[0];
    assert_eq!(p["byzantine"].as_array().unwrap().len(), 2, "{p}");
    assert_honest_validators_unharmed(p, 5);
    // The load went to the honest validators, and samples.csv names them (not the
    // generator's own numbering of its clients, which skips the liars).
    let samples = std::fs::read_to_string(out.join("points/7v-300tps/samples.csv")).unwrap();
    let nodes: std::collections::BTreeSet<&str> = samples
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(nodes, ["0", "2", "3", "4", "5"].into(), "{nodes:?}");
}

#[test]
fn compare_puts_runs_side_by_side_named_by_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, large) = (tmp.path().join("small"), tmp.path().join("large"));
    let quick = [
        "--rates",
        "200",
        "--duration-secs",
        "2",
        "--warmup-secs",
        "1",
    ];
    bench(&small, &quick);
    bench(&large, &[&quick[..], &["--tx-size", "400"]].concat());
    let out = tmp.path().join("compared");
    let output = Command::new(env!("CARGO_BIN_EXE_lantau"))
        .args(["bench", "compare"])
        .args([&small, &large])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("tx_size=0") && stdout.contains("tx_size=400"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        report.contains("tx_size=400, p50"),
        "both runs are in the one plot"
    );
    assert_eq!(
        report.matches("<h2>tx_size=").count(),
        2,
        "a section per run"
    );
    // A summary table, then four tables per run.
    check_layout_in_chromium(&out.join("report.html"), 9);

    // A directory that holds no run is named.
    let output = Command::new(env!("CARGO_BIN_EXE_lantau"))
        .args(["bench", "compare"])
        .arg(&small)
        .arg(tmp.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("summary.json"),
        "{stderr}"
    );
}

#[test]
fn repeated_points_get_a_mean_an_interval_and_the_cost_of_every_process() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("repeat");
    let points = bench(
        &out,
        &[
            "--rates",
            "200",
            "--duration-secs",
            "2",
            "--warmup-secs",
            "1",
            "--repeat",
            "2",
        ],
    );
    let labels: Vec<&str> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["4v-200tps-r1", "4v-200tps-r2"]);
    for p in points.as_array().unwrap() {
        let r = &p["resources"];
        let validators = r["validators"].as_array().unwrap();
        assert_eq!(validators.len(), 4, "{r}");
        for v in validators {
            assert!(v["cpu_secs"].as_f64().unwrap() > 0.0, "{v}");
            assert!(v["peak_rss_mib"].as_u64().unwrap() > 0, "{v}");
        }
        assert!(
            r["load_generator"]["cpu_secs"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let aggregates = run["aggregates"].as_array().unwrap();
    assert_eq!(aggregates.len(), 1, "{run}");
    let a = &aggregates[0];
    assert_eq!(
        (a["label"].as_str(), a["committed_tps"]["runs"].as_u64()),
        (Some("4v-200tps"), Some(2))
    );
    let (mean, min, max) = (
        a["committed_tps"]["mean"].as_f64().unwrap(),
        a["committed_tps"]["min"].as_f64().unwrap(),
        a["committed_tps"]["max"].as_f64().unwrap(),
    );
    assert!(min <= mean && mean <= max && mean > 100.0, "{a}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("Repeated runs") && report.contains("Machine use"));
}
