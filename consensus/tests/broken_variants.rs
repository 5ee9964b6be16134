//! The checker must be able to fail: with a deliberately broken rule the simulator has to find
//! a safety violation, and specifically two honest validators deciding different blocks.

use consensus::Mutation;
use consensus::sim::{self, Scenario, Violation};

fn first_disagreement(
    mutation: Mutation,
    n: usize,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, Violation)> {
    first_disagreement_in(mutation, seeds, |seed| Scenario::random(seed, n))
}

fn first_disagreement_in(
    mutation: Mutation,
    seeds: std::ops::Range<u64>,
    scenario: impl Fn(u64) -> Scenario,
) -> Option<(u64, Violation)> {
    seeds.into_iter().find_map(|seed| {
        let mut sc = scenario(seed);
        sc.mutation = mutation;
        let outcome = sim::run(&sc);
        outcome
            .violations
            .into_iter()
            .find(|v| matches!(v, Violation::Agreement { .. }))
            .map(|v| (seed, v))
    })
}

#[test]
fn quorum_of_2f_breaks_agreement_and_is_caught() {
    let (seed, violation) = first_disagreement(Mutation::WeakQuorum, 4, 0..500)
        .expect("a 2f quorum must break agreement within 500 seeds");
    println!("2f quorum: seed {seed}: {violation:?}");
}

#[test]
fn honest_rules_keep_agreement_on_the_same_seeds() {
    assert_eq!(first_disagreement(Mutation::None, 4, 0..300), None);
}
