//! The checker must be able to fail. Each named protocol mutation (a deliberately broken rule,
//! compiled only with the `sim` feature) runs over the hand-built schedules and then the
//! random seeds until some invariant is violated; every one must be caught.
//!
//!   cargo test --release -p consensus --test mutations -- --nocapture
//!   LANTAU_MUTATION_SEEDS=10000 cargo test --release -p consensus --test mutations -- --nocapture
//!
//! The second runs every mutation over 10,000 random seeds (no schedules, no early stop) and
//! prints how many runs caught it, by invariant, and the first seed that did.

use std::collections::BTreeMap;
use std::time::Instant;

use consensus::Mutation;
use consensus::sim::{self, Scenario, schedules};

const DEFAULT_SEEDS: u64 = 600;
const SIZES: [usize; 3] = [4, 7, 10];

fn random(seed: u64) -> Scenario {
    Scenario::random(seed, SIZES[(seed % 3) as usize])
}

/// Where a mutation was first caught: the schedule or seed, and the invariant.
#[derive(Debug)]
struct Catch {
    by: String,
    violation: String,
}

fn first_catch(mutation: Mutation, seeds: u64) -> Option<Catch> {
    let named = schedules::all().into_iter().map(|sc| {
        let by = format!("schedule {}", sc.name.unwrap_or("?"));
        (by, sc)
    });
    let seeded = (0..seeds).map(|seed| (format!("seed {seed}"), random(seed)));
    named.chain(seeded).find_map(|(by, mut sc)| {
        sc.mutation = mutation;
        let outcome = sim::run(&sc);
        let kinds: std::collections::BTreeSet<&str> =
            outcome.violations.iter().map(|v| v.kind()).collect();
        outcome.violations.first().map(|v| Catch {
            by,
            violation: format!("{v:?}; in all: {kinds:?}"),
        })
    })
}

#[test]
fn every_mutation_is_caught() {
    let seeds = std::env::var("LANTAU_MUTATION_SEEDS")
        .map(|s| s.parse().expect("LANTAU_MUTATION_SEEDS must be a number"))
        .ok();
    if let Some(seeds) = seeds {
        return campaign(seeds);
    }
    let started = Instant::now();
    let results: Vec<(Mutation, Option<Catch>)> = std::thread::scope(|s| {
        let handles: Vec<_> = Mutation::ALL
            .iter()
            .map(|&m| s.spawn(move || (m, first_catch(m, DEFAULT_SEEDS))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("mutation thread"))
            .collect()
    });
    let caught = results.iter().filter(|(_, c)| c.is_some()).count();
    for (m, catch) in &results {
        match catch {
            Some(c) => println!("{m:?}: caught by {}: {}", c.by, c.violation),
            None => println!("{m:?}: NOT caught"),
        }
    }
    println!(
        "mutation score: {caught}/{} caught ({:.1?})",
        results.len(),
        started.elapsed()
    );
    assert_eq!(caught, results.len(), "every mutation must be caught");
}

/// Every mutation over `seeds` random seeds (no schedules, no early stop): how many runs
/// catch it, by the first invariant violated, and the first seed that does.
fn campaign(seeds: u64) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    for &m in &Mutation::ALL {
        let started = Instant::now();
        let found: Vec<(u64, &'static str)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        (t..seeds)
                            .step_by(threads as usize)
                            .filter_map(|seed| {
                                let mut sc = random(seed);
                                sc.mutation = m;
                                let outcome = sim::run(&sc);
                                outcome.violations.first().map(|v| (seed, v.kind()))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("campaign thread"))
                .collect()
        });
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, kind) in &found {
            *counts.entry(kind).or_insert(0) += 1;
        }
        let first = found.iter().map(|(seed, _)| *seed).min();
        println!(
            "{m:?}: caught in {} of {seeds} seeds (first: seed {first:?}) in {:.1?}: {counts:?}",
            found.len(),
            started.elapsed()
        );
    }
}
