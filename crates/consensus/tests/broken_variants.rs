//! The checker must be able to fail: with a deliberately broken rule the simulator has to find
//! a safety violation.

use consensus::Mutation;
use consensus::sim::{self, Scenario, Violation};

fn first_violation(
    mutation: Mutation,
    n: usize,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, Violation)> {
    seeds.into_iter().find_map(|seed| {
        let mut sc = Scenario::random(seed, n);
        sc.mutation = mutation;
        sim::run(&sc)
            .safety_violations()
            .next()
            .cloned()
            .map(|v| (seed, v))
    })
}

#[test]
fn quorum_of_2f_is_caught() {
    let found = first_violation(Mutation::WeakQuorum, 4, 0..300);
    let (seed, violation) = found.expect("a 2f quorum must break agreement within 300 seeds");
    println!("2f quorum: seed {seed}: {violation:?}");
    assert!(matches!(
        violation,
        Violation::Agreement { .. } | Violation::Certificate { .. }
    ));
}

#[test]
fn honest_rules_pass_the_same_seeds() {
    // The seeds that break the mutated rules are fine with the real ones.
    let found = first_violation(Mutation::None, 4, 0..100);
    assert_eq!(found, None);
}
