//! Who proposes at `(height, round)`.

use ledger::{PublicKey, ValidatorSet};

/// Weighted round-robin: seats `0..total_power` are dealt to validators in genesis order, each
/// getting as many consecutive seats as it has power, and `(height + round) mod total_power`
/// picks the seat. With equal power this is plain round-robin, so within any `n` consecutive
/// rounds every validator proposes once: at most `f` rounds in a row can have a faulty proposer.
pub fn proposer(validators: &ValidatorSet, height: u64, round: u32) -> PublicKey {
    let total = validators.total_power();
    let mut seat = (height % total + round as u64 % total) % total;
    for v in validators.validators() {
        if seat < v.power {
            return v.public_key;
        }
        seat -= v.power;
    }
    unreachable!("seat is below the total power")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{Keypair, Validator};

    #[test]
    fn round_robin_and_weighted() {
        let keys: Vec<_> = (0..4)
            .map(|i| Keypair::from_seed(&i.to_string()).public())
            .collect();
        let set = ValidatorSet::equal(keys.clone()).unwrap();
        let picked: Vec<_> = (0..8).map(|r| proposer(&set, 1, r)).collect();
        for k in &keys {
            assert_eq!(picked.iter().filter(|p| *p == k).count(), 2);
        }
        assert_eq!(proposer(&set, 2, 0), proposer(&set, 1, 1));

        let weighted = ValidatorSet::new(vec![
            Validator {
                public_key: keys[0],
                power: 3,
            },
            Validator {
                public_key: keys[1],
                power: 1,
            },
        ])
        .unwrap();
        let picked: Vec<_> = (0..8).map(|r| proposer(&weighted, 0, r)).collect();
        assert_eq!(picked.iter().filter(|p| **p == keys[0]).count(), 6);
    }
}
