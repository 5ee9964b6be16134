//! Consensus votes and the commit certificate built from them.
//!
//! They live here, beside blocks, because storage and block sync verify certificates without
//! running consensus.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{Hash, Keypair, PublicKey, Signature, SignatureError, domain};
use crate::encoding;
use crate::validators::ValidatorSet;
use crate::verify::{SigItem, verify_batch};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// One validator's vote: for a block hash, or nil (`block: None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct Vote {
    pub height: u64,
    pub round: u32,
    pub kind: VoteKind,
    pub block: Option<Hash>,
    pub validator: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct SignedVote {
    pub vote: Vote,
    pub signature: Signature,
}

/// The bytes a vote's signature covers: chain id, height, round, step and value. The voter's
/// key is not part of them; the signature itself binds the voter.
pub fn vote_sign_bytes(
    chain_id: &str,
    height: u64,
    round: u32,
    kind: VoteKind,
    block: Option<Hash>,
) -> Vec<u8> {
    encoding::encode(&(chain_id, height, round, kind, block))
}

impl Vote {
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        vote_sign_bytes(chain_id, self.height, self.round, self.kind, self.block)
    }

    pub fn sign(self, chain_id: &str, key: &Keypair) -> SignedVote {
        debug_assert_eq!(self.validator, key.public());
        let signature = key.sign(domain::VOTE, &self.sign_bytes(chain_id));
        SignedVote {
            vote: self,
            signature,
        }
    }
}

impl SignedVote {
    pub fn verify(&self, chain_id: &str) -> Result<(), SignatureError> {
        self.vote.validator.verify(
            domain::VOTE,
            &self.vote.sign_bytes(chain_id),
            &self.signature,
        )
    }
}

/// One precommit in a certificate; the validator is named by its index in the set.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitSig {
    pub validator_index: u32,
    pub signature: Signature,
}

/// Proof that a block was decided: precommits for it from more than 2/3 of the voting power,
/// all in one round.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block_hash: Hash,
    pub signatures: Vec<CommitSig>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("certificate is for height {got}, expected {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("certificate is for block {got}, expected {expected}")]
    WrongBlock { expected: Hash, got: Hash },
    #[error("validator index {0} is not in the validator set")]
    UnknownValidator(u32),
    #[error("validator index {0} signs twice")]
    DuplicateValidator(u32),
    #[error("signers hold {power} of {total} voting power; more than two thirds is needed")]
    NoQuorum { power: u64, total: u64 },
    #[error("signature of validator index {index}: {error}")]
    BadSignature { index: u32, error: SignatureError },
}

impl CommitCertificate {
    /// Check the certificate decides `block_hash` at `height` under `validators`: distinct
    /// known signers holding a quorum, every signature valid (batch-verified).
    pub fn verify(
        &self,
        chain_id: &str,
        height: u64,
        block_hash: &Hash,
        validators: &ValidatorSet,
    ) -> Result<(), CertificateError> {
        if self.height != height {
            return Err(CertificateError::WrongHeight {
                expected: height,
                got: self.height,
            });
        }
        if self.block_hash != *block_hash {
            return Err(CertificateError::WrongBlock {
                expected: *block_hash,
                got: self.block_hash,
            });
        }
        let mut seen = vec![false; validators.len()];
        let mut power = 0u64;
        for s in &self.signatures {
            let i = s.validator_index as usize;
            let v = validators
                .get(i)
                .ok_or(CertificateError::UnknownValidator(s.validator_index))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(CertificateError::DuplicateValidator(s.validator_index));
            }
            power += v.power;
        }
        if !validators.is_quorum(power) {
            return Err(CertificateError::NoQuorum {
                power,
                total: validators.total_power(),
            });
        }
        let msg = vote_sign_bytes(
            chain_id,
            height,
            self.round,
            VoteKind::Precommit,
            Some(*block_hash),
        );
        let keys: Vec<PublicKey> = self
            .signatures
            .iter()
            .map(|s| validators.validators()[s.validator_index as usize].public_key)
            .collect();
        let items: Vec<SigItem<'_>> = self
            .signatures
            .iter()
            .zip(&keys)
            .map(|(s, key)| SigItem {
                key,
                domain: domain::VOTE,
                message: &msg,
                signature: &s.signature,
            })
            .collect();
        for (s, result) in self.signatures.iter().zip(verify_batch(&items)) {
            result.map_err(|error| CertificateError::BadSignature {
                index: s.validator_index,
                error,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::sha256;

    pub fn keys(n: usize) -> Vec<Keypair> {
        (0..n)
            .map(|i| Keypair::from_seed(&format!("validator-{i}")))
            .collect()
    }

    pub fn certificate(
        keys: &[Keypair],
        signers: &[usize],
        height: u64,
        block: Hash,
    ) -> CommitCertificate {
        let signatures = signers
            .iter()
            .map(|&i| {
                let vote = Vote {
                    height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block: Some(block),
                    validator: keys[i].public(),
                };
                CommitSig {
                    validator_index: i as u32,
                    signature: vote.sign("c", &keys[i]).signature,
                }
            })
            .collect();
        CommitCertificate {
            height,
            round: 0,
            block_hash: block,
            signatures,
        }
    }

    #[test]
    fn certificate_checks() {
        let ks = keys(4);
        let set = ValidatorSet::equal(ks.iter().map(|k| k.public())).unwrap();
        let b = sha256(&[b"block"]);
        let ok = certificate(&ks, &[0, 1, 3], 5, b);
        assert_eq!(ok.verify("c", 5, &b, &set), Ok(()));
        assert_eq!(
            ok.verify("c", 6, &b, &set),
            Err(CertificateError::WrongHeight {
                expected: 6,
                got: 5
            })
        );
        assert!(matches!(
            ok.verify("other-chain", 5, &b, &set),
            Err(CertificateError::BadSignature { .. })
        ));
        let short = certificate(&ks, &[0, 1], 5, b);
        assert_eq!(
            short.verify("c", 5, &b, &set),
            Err(CertificateError::NoQuorum { power: 2, total: 4 })
        );
        let dup = certificate(&ks, &[0, 1, 1], 5, b);
        assert_eq!(
            dup.verify("c", 5, &b, &set),
            Err(CertificateError::DuplicateValidator(1))
        );
        let mut forged = certificate(&ks, &[0, 1, 2], 5, b);
        forged.signatures[2].signature = forged.signatures[1].signature;
        assert!(matches!(
            forged.verify("c", 5, &b, &set),
            Err(CertificateError::BadSignature { index: 2, .. })
        ));
        let mut unknown = ok.clone();
        unknown.signatures[0].validator_index = 9;
        assert_eq!(
            unknown.verify("c", 5, &b, &set),
            Err(CertificateError::UnknownValidator(9))
        );
    }

    #[test]
    fn vote_signatures_bind_every_field() {
        let k = Keypair::from_seed("v");
        let vote = Vote {
            height: 1,
            round: 2,
            kind: VoteKind::Prevote,
            block: None,
            validator: k.public(),
        };
        let signed = vote.clone().sign("c", &k);
        assert!(signed.verify("c").is_ok());
        let mut other = signed.clone();
        other.vote.kind = VoteKind::Precommit;
        assert!(other.verify("c").is_err());
        let mut other = signed.clone();
        other.vote.block = Some(Hash::ZERO);
        assert!(other.verify("c").is_err());
        let mut other = signed;
        other.vote.round = 3;
        assert!(other.verify("c").is_err());
    }
}
