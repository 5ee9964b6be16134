//! The fixed validator set and the voting-power thresholds derived from it.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Validator {
    pub public_key: PublicKey,
    pub power: u64,
}

/// Validators in genesis order; the index of a validator is its identity in certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total_power: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidatorSetError {
    #[error("the validator set is empty")]
    Empty,
    #[error("validator {0} appears twice")]
    Duplicate(PublicKey),
    #[error("validator {0} has zero voting power")]
    ZeroPower(PublicKey),
    #[error("total voting power overflows")]
    PowerOverflow,
    #[error("validator {0} has an invalid or weak public key")]
    BadKey(PublicKey),
}

impl ValidatorSet {
    pub fn new(validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        let mut total: u64 = 0;
        for v in &validators {
            if !seen.insert(v.public_key) {
                return Err(ValidatorSetError::Duplicate(v.public_key));
            }
            if v.power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.public_key));
            }
            if v.public_key.to_verifying_key().is_err() {
                return Err(ValidatorSetError::BadKey(v.public_key));
            }
            total = total
                .checked_add(v.power)
                .ok_or(ValidatorSetError::PowerOverflow)?;
        }
        // Thresholds multiply the total by 3; keep that in range.
        if total > u64::MAX / 3 {
            return Err(ValidatorSetError::PowerOverflow);
        }
        Ok(Self {
            validators,
            total_power: total,
        })
    }

    /// `n` validators of power 1.
    pub fn equal(keys: impl IntoIterator<Item = PublicKey>) -> Result<Self, ValidatorSetError> {
        Self::new(
            keys.into_iter()
                .map(|public_key| Validator {
                    public_key,
                    power: 1,
                })
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn get(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }

    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators.iter().position(|v| v.public_key == *key)
    }

    pub fn power_of(&self, key: &PublicKey) -> u64 {
        self.index_of(key).map_or(0, |i| self.validators[i].power)
    }

    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// More than two thirds of the voting power: a Byzantine quorum (2f+1 of 3f+1).
    pub fn is_quorum(&self, power: u64) -> bool {
        3 * power > 2 * self.total_power
    }

    /// More than one third of the voting power: at least one honest validator (f+1).
    pub fn is_one_third(&self, power: u64) -> bool {
        3 * power > self.total_power
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    fn set(n: usize) -> ValidatorSet {
        ValidatorSet::equal((0..n).map(|i| Keypair::from_seed(&format!("v{i}")).public())).unwrap()
    }

    #[test]
    fn quorum_is_2f_plus_1_of_3f_plus_1() {
        for (n, quorum, third) in [(1, 1, 1), (4, 3, 2), (7, 5, 3), (10, 7, 4)] {
            let s = set(n);
            assert!(s.is_quorum(quorum) && !s.is_quorum(quorum - 1), "n={n}");
            assert!(s.is_one_third(third) && !s.is_one_third(third - 1), "n={n}");
        }
    }

    #[test]
    fn rejects_bad_sets() {
        let k = Keypair::from_seed("a").public();
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
        assert_eq!(
            ValidatorSet::equal([k, k]),
            Err(ValidatorSetError::Duplicate(k))
        );
        assert_eq!(
            ValidatorSet::new(vec![Validator {
                public_key: k,
                power: 0
            }]),
            Err(ValidatorSetError::ZeroPower(k))
        );
    }
}
