//! The checker must be able to fail. Each named protocol mutation (a deliberately broken rule,
//! compiled only with the `sim` feature) runs over the hand-built schedules and then the
//! random seeds until some invariant is violated; every one must be caught.
//!
//!   cargo test --release -p consensus --test mutations -- --nocapture
//!   LANTAU_MUTATION_SEEDS=10000 cargo test --release -p consensus --test mutations -- --nocapture
//!
//! The second runs every mutation over random seeds only (no schedules) and prints the first
//! seed that catches it and with which invariants.

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

/// Every mutation over random seeds only (no schedules): the first of `seeds` seeds that
/// catches it, and with which invariant. Runs that break liveness run to the end of their
/// window, so counting every catching run would take hours; the first is what says how
/// strong the random mix is.
fn campaign(seeds: u64) {
    let started = Instant::now();
    let results: Vec<(Mutation, Option<(u64, String)>)> = std::thread::scope(|s| {
        let handles: Vec<_> = Mutation::ALL
            .iter()
            .map(|&m| {
                s.spawn(move || {
                    let first = (0..seeds).find_map(|seed| {
                        let mut sc = random(seed);
                        sc.mutation = m;
                        let outcome = sim::run(&sc);
                        let kinds: std::collections::BTreeSet<&str> =
                            outcome.violations.iter().map(|v| v.kind()).collect();
                        (!kinds.is_empty()).then(|| (seed, format!("{kinds:?}")))
                    });
                    (m, first)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("campaign thread"))
            .collect()
    });
    for (m, first) in &results {
        match first {
            Some((seed, kinds)) => println!("{m:?}: first caught by random seed {seed}: {kinds}"),
            None => println!("{m:?}: not caught by random seeds 0..{seeds}"),
        }
    }
    let caught = results.iter().filter(|(_, f)| f.is_some()).count();
    println!(
        "random seeds alone: {caught}/{} caught within {seeds} seeds ({:.1?})",
        results.len(),
        started.elapsed()
    );
}
