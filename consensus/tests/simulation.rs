//! Seeded simulations across n = 4, 7, 10 with equal or weighted power, Byzantine validators
//! holding less than a third of it (silent, Twins, liars), crashes at persist positions and
//! times (some after GST), cuts, partitions, drops, duplicates and reordering, ten heights or
//! more per run; then the hand-built schedules. Every run must keep every invariant of
//! `consensus::sim` (see ARCHITECTURE.md). The default is 600 seeds; a campaign:
//!
//!   LANTAU_SIM_SEEDS=10000 cargo test --release -p consensus --test simulation -- --nocapture
//!   LANTAU_SIM_SEED=1234   cargo test --release -p consensus --test simulation -- --nocapture

use std::time::Instant;

use consensus::sim::{self, Outcome, Scenario};

const SIZES: [usize; 3] = [4, 7, 10];

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("LANTAU_SIM_SEED") {
        return vec![seed.parse().expect("LANTAU_SIM_SEED must be a number")];
    }
    let count: u64 = std::env::var("LANTAU_SIM_SEEDS")
        .map(|s| s.parse().expect("LANTAU_SIM_SEEDS must be a number"))
        .unwrap_or(600);
    (0..count).collect()
}

fn scenario(seed: u64) -> Scenario {
    Scenario::random(seed, SIZES[(seed % 3) as usize])
}

#[test]
fn random_scenarios_keep_safety_and_liveness() {
    let seeds = seeds();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
                s.spawn(move || {
                    mine.into_iter()
                        .map(|seed| sim::run(&scenario(seed)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let worst = outcomes
        .iter()
        .max_by_key(|o| o.max_round_after_gst)
        .expect("at least one seed");
    let evidence: u64 = outcomes.iter().map(|o| o.evidence).sum();
    let messages: u64 = outcomes.iter().map(|o| o.messages_delivered).sum();
    println!(
        "simulation: {} seeds in {:.1?}; {} messages delivered; {} equivocations detected; \
         worst round to decide after GST: {} (seed {})",
        outcomes.len(),
        elapsed,
        messages,
        evidence,
        worst.max_round_after_gst,
        worst.seed
    );
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.violations.is_empty())
        .map(|o| {
            format!(
                "seed {} ({:?}): {:?}, max round after GST {}, end {} ms, final {:#?}\n  reproduce: LANTAU_SIM_SEED={} cargo test --release -p consensus --test simulation -- --nocapture",
                o.seed,
                scenario(o.seed),
                o.violations,
                o.max_round_after_gst,
                o.end_ms,
                o.final_states,
                o.seed
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn same_seed_same_run() {
    for seed in [3, 11, 52] {
        let a = sim::run(&scenario(seed));
        let b = sim::run(&scenario(seed));
        assert_eq!(
            (
                a.messages_delivered,
                a.end_ms,
                a.evidence,
                a.max_round_after_gst
            ),
            (
                b.messages_delivered,
                b.end_ms,
                b.evidence,
                b.max_round_after_gst
            )
        );
    }
}

#[test]
fn hand_built_schedules_pass_with_the_honest_rules() {
    for sc in sim::schedules::all() {
        let name = sc.name.expect("schedules are named");
        let o = sim::run(&sc);
        println!(
            "{name}: {} heights, {} messages, {} refused, {} equivocations, end {} ms",
            o.heights, o.messages_delivered, o.refused, o.evidence, o.end_ms
        );
        assert!(
            o.violations.is_empty(),
            "{name}: {:?}\nfinal {:#?}",
            o.violations,
            o.final_states
        );
        if name == "tampered-bodies-and-sync" {
            assert!(o.refused > 0, "{name}: no tampered copy was refused: {o:?}");
        }
    }
}
