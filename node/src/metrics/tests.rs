use super::*;
use consensus::InputError;
use ledger::Keypair;

/// One sample's value from the text format, by its full series name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn refused_consensus_messages_are_counted_by_reason() {
    let m = Metrics::new();
    m.consensus_refused(InputError::StaleHeight { current: 2, got: 1 }.reason());
    m.consensus_refused(InputError::StaleHeight { current: 3, got: 2 }.reason());
    m.consensus_refused("undecodable");
    let text = m.render();
    let refused = |reason: &str| {
        sample(
            &text,
            &format!("lantau_consensus_messages_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refused("stale_height"), Some(2.0), "{text}");
    assert_eq!(refused("undecodable"), Some(1.0), "{text}");
    assert_eq!(
        refused("bad_signature"),
        Some(0.0),
        "every reason is listed from the start"
    );
    // Every reason consensus gives has its own label.
    let key = Keypair::from_seed("k").public();
    for e in [
        InputError::UnknownValidator(key),
        InputError::BadSignature(key),
        InputError::WrongProposer {
            height: 1,
            round: 0,
            expected: key,
            got: key,
        },
        InputError::BlockHeightMismatch {
            height: 1,
            block_height: 2,
        },
        InputError::FarFuture { current: 1, got: 9 },
        InputError::FarFutureRound { current: 1, got: 9 },
        InputError::FarPastRound { current: 9, got: 1 },
        InputError::ExtraProposal {
            proposer: key,
            round: 0,
        },
        InputError::FutureRoundsFull {
            validator: key,
            current: 0,
            got: 9,
            limit: 4,
        },
    ] {
        assert!(REFUSAL_REASONS.contains(&e.reason()), "{e}");
    }
    for invalid in [
        crate::app::InvalidBlock::Signature,
        crate::app::InvalidBlock::StateRoot {
            claimed: ledger::Hash::ZERO,
            computed: ledger::Hash::ZERO,
        },
        crate::app::InvalidBlock::Structure(ledger::BlockError::TooManyTxs(2, 1)),
    ] {
        assert!(REFUSAL_REASONS.contains(&invalid.reason()), "{invalid}");
    }
}

#[test]
fn commits_fill_the_histograms_and_the_round_counts() {
    let m = Metrics::new();
    m.committed(3, 600, 0, Duration::from_millis(3));
    m.committed(0, 0, 0, Duration::from_millis(1));
    m.committed(10, 2_000, 4, Duration::from_millis(40));
    m.height_took(Duration::from_millis(250));
    m.round_took(Duration::from_millis(100));
    m.built(Duration::from_millis(6));
    m.validated(Duration::from_millis(8));
    m.validated(Duration::from_millis(2));
    m.signing_persisted(Duration::from_micros(300));
    let text = m.render();
    let v = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(v("lantau_txs_committed_total"), 13.0);
    assert_eq!(v("lantau_blocks_committed_total"), 3.0);
    assert_eq!(v("lantau_heights_decided_total{round=\"0\"}"), 2.0);
    assert_eq!(v("lantau_heights_decided_total{round=\"3+\"}"), 1.0);
    assert_eq!(v("lantau_block_txs_count"), 3.0);
    assert_eq!(v("lantau_block_txs_sum"), 13.0);
    assert_eq!(
        v("lantau_block_txs_bucket{le=\"0.0\"}"),
        1.0,
        "the empty block"
    );
    assert_eq!(v("lantau_block_txs_bucket{le=\"4.0\"}"), 2.0);
    assert_eq!(v("lantau_block_size_bytes_sum"), 2_600.0);
    assert_eq!(v("lantau_block_commit_seconds_count"), 3.0);
    assert_eq!(v("lantau_block_commit_seconds_bucket{le=\"0.004\"}"), 2.0);
    assert_eq!(v("lantau_height_seconds_sum"), 0.25);
    assert_eq!(v("lantau_block_build_seconds_sum"), 0.006);
    assert_eq!(v("lantau_block_validate_seconds_count"), 2.0);
    assert_eq!(v("lantau_block_validate_seconds_sum"), 0.01);
    assert_eq!(
        v("lantau_signing_persist_seconds_bucket{le=\"0.0005\"}"),
        1.0
    );
    assert_eq!(v("lantau_round_seconds_count"), 1.0);
}

#[test]
fn messages_refusals_and_cache_totals_are_counted() {
    let m = Metrics::new();
    m.message(false, "prevote");
    m.message(false, "prevote");
    m.message(true, "proposal");
    m.tx_refused("mempool_full");
    m.tx_refused("mempool_full");
    m.tx_refused("bad_signature");
    m.cache_stats(10, 4);
    m.cache_stats(15, 4);
    let text = m.render();
    let v = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}:\n{text}"));
    assert_eq!(
        v("lantau_p2p_messages_received_total{kind=\"prevote\"}"),
        2.0
    );
    assert_eq!(
        v("lantau_p2p_messages_received_total{kind=\"sync_reply\"}"),
        0.0
    );
    assert_eq!(v("lantau_p2p_messages_sent_total{kind=\"proposal\"}"), 1.0);
    assert_eq!(v("lantau_txs_refused_total{code=\"mempool_full\"}"), 2.0);
    assert_eq!(v("lantau_txs_refused_total{code=\"bad_signature\"}"), 1.0);
    assert_eq!(
        v("lantau_verify_cache_hits_total"),
        15.0,
        "totals, not increments"
    );
    assert_eq!(v("lantau_verify_cache_misses_total"), 4.0);
}

#[test]
fn build_info_and_process_metrics_are_exposed() {
    let text = Metrics::new().render();
    let info = text
        .lines()
        .find(|l| l.starts_with("lantau_build_info{"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        info.contains("version=\"") && info.contains("commit=\""),
        "{info}"
    );
    assert!(info.ends_with(" 1"), "{info}");
    if cfg!(target_os = "linux") {
        for series in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
        ] {
            assert!(sample(&text, series).is_some(), "{series} missing:\n{text}");
        }
        assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    }
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with EOF");
}

/// The README's metrics table names every series `/metrics` exposes, and nothing else.
#[test]
fn the_readme_lists_every_series() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Metrics")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("a ### Metrics section");
    let mut documented: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or("");
            first
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let metrics = Metrics::new();
    metrics.tx_refused("mempool_full"); // a family appears with its first series
    let mut exposed: Vec<String> = metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            let suffix = match kind {
                "counter" => "_total",
                "info" => "_info",
                _ => "",
            };
            let name = name.strip_prefix("lantau_").unwrap_or(name);
            format!("{name}{suffix}")
        })
        .collect();
    documented.sort();
    exposed.sort();
    assert_eq!(documented, exposed);
}
