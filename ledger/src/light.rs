//! The light client: what a wallet checks so that it needs to trust only the genesis (the
//! validators' keys), not the node that answers. An answer is a header, the commit
//! certificate for it and a proof against one of its roots; each is checked in turn, and the
//! first that fails is named. No storage, runtime or network: this is what a wallet embeds.

use crate::account::Account;
use crate::block::BlockHeader;
use crate::crypto::{Address, Hash};
use crate::encoding::{self, DecodeError};
use crate::genesis::Genesis;
use crate::merkle::MerklePath;
use crate::state_tree::{self, AccountPath, PathError};
use crate::tx::SignedTx;
use crate::validators::{ValidatorSet, ValidatorSetError};
use crate::vote::{CertificateError, CommitCertificate};

/// Largest proof accepted: a path has at most 256 siblings of ~70 bytes.
const MAX_PROOF_BYTES: usize = 64 * 1024;
/// Largest certificate accepted: a signature per validator.
const MAX_CERTIFICATE_BYTES: usize = 1 << 20;
const MAX_HEADER_BYTES: usize = 4096;

/// What the client trusts: the chain and its validator set, from the genesis file.
#[derive(Debug, Clone)]
pub struct Trusted {
    pub chain_id: String,
    pub validators: ValidatorSet,
}

impl Trusted {
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, ValidatorSetError> {
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            validators: genesis.validator_set()?,
        })
    }
}

/// A header the validators decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    pub header: BlockHeader,
    /// Validators whose precommits the certificate holds, and how many there are.
    pub signers: usize,
    pub validators: usize,
}

/// Why an answer is not believed.
#[derive(Debug, thiserror::Error)]
pub enum LightError {
    #[error("the {what} the node sent does not decode: {error}")]
    Bytes {
        what: &'static str,
        error: DecodeError,
    },
    #[error("the header is for chain {got:?}, but the genesis is for {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("the header is for height {got}, but the answer says {claimed}")]
    WrongHeight { claimed: u64, got: u64 },
    #[error("the commit certificate does not certify the header: {0}")]
    Certificate(#[from] CertificateError),
    #[error("the account the node reported is not what the certified state root holds: {0}")]
    Account(#[from] PathError),
    #[error("the transaction the node sent hashes to {got}, not the {asked} asked for")]
    WrongTx { asked: Hash, got: Hash },
    #[error("the transaction's Merkle path does not lead to the certified header's tx root")]
    TxPath,
}

fn decode<T: bincode::Decode<()>, const LIMIT: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, LightError> {
    encoding::decode_limited::<T, LIMIT>(bytes).map_err(|error| LightError::Bytes { what, error })
}

/// Check that `header` (encoded) is at `height` of the trusted chain and that `certificate`
/// (encoded) holds precommits for it from distinct known validators with a quorum of power.
pub fn verify_header(
    trusted: &Trusted,
    height: u64,
    header: &[u8],
    certificate: &[u8],
) -> Result<Certified, LightError> {
    let header: BlockHeader = decode::<_, MAX_HEADER_BYTES>("header", header)?;
    let certificate: CommitCertificate =
        decode::<_, MAX_CERTIFICATE_BYTES>("certificate", certificate)?;
    if header.chain_id != trusted.chain_id {
        return Err(LightError::WrongChain {
            expected: trusted.chain_id.clone(),
            got: header.chain_id,
        });
    }
    if header.height != height {
        return Err(LightError::WrongHeight {
            claimed: height,
            got: header.height,
        });
    }
    certificate.verify(
        &trusted.chain_id,
        header.height,
        &header.hash(),
        &trusted.validators,
    )?;
    Ok(Certified {
        header,
        signers: certificate.signatures.len(),
        validators: trusted.validators.len(),
    })
}

/// Check an account answer: the header is certified, and under its state root `address`
/// holds `account` (None: has no account).
pub fn verify_account(
    trusted: &Trusted,
    address: &Address,
    account: Option<&Account>,
    height: u64,
    header: &[u8],
    certificate: &[u8],
    proof: &[u8],
) -> Result<Certified, LightError> {
    let certified = verify_header(trusted, height, header, certificate)?;
    let path: AccountPath =
        encoding::decode_serde::<_, MAX_PROOF_BYTES>(proof).map_err(|error| LightError::Bytes {
            what: "state proof",
            error,
        })?;
    state_tree::verify(&certified.header.state_root, address, account, &path)?;
    Ok(certified)
}

/// Check a transaction answer: the header is certified, `tx` (encoded) is the transaction
/// asked for, and `path` (encoded) leads from its id to the header's tx root. Inclusion is
/// the receipt: only transfers that execute are ever in a committed block.
pub fn verify_tx(
    trusted: &Trusted,
    asked: &Hash,
    height: u64,
    tx: &[u8],
    header: &[u8],
    certificate: &[u8],
    path: &[u8],
) -> Result<(Certified, SignedTx), LightError> {
    let certified = verify_header(trusted, height, header, certificate)?;
    let tx = SignedTx::decode(tx).map_err(|e| LightError::Bytes {
        what: "transaction",
        error: DecodeError::Malformed(e.to_string()),
    })?;
    let got = tx.hash();
    if got != *asked {
        return Err(LightError::WrongTx { asked: *asked, got });
    }
    let path: MerklePath = decode::<_, MAX_PROOF_BYTES>("Merkle path", path)?;
    if path.root_of(&got) != Some(certified.header.tx_root) {
        return Err(LightError::TxPath);
    }
    Ok((certified, tx))
}

/// The encoding of a state proof, as served.
pub fn encode_account_path(path: &AccountPath) -> Vec<u8> {
    encoding::encode_serde(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::block;
    use crate::crypto::Keypair;
    use crate::genesis::tests::genesis;
    use crate::merkle::merkle_path;
    use crate::state::{ChainRules, State};
    use crate::tx::tests::transfer;
    use crate::vote::tests::keys;
    use crate::vote::{CommitSig, Vote, VoteKind};
    use proptest::prelude::*;

    fn certify(signers: &[usize], header: &BlockHeader) -> CommitCertificate {
        let keys = keys(4);
        let signatures = signers
            .iter()
            .map(|&i| {
                let vote = Vote {
                    height: header.height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block: Some(header.hash()),
                    validator: keys[i].public(),
                };
                CommitSig {
                    validator_index: i as u32,
                    signature: vote.sign(&header.chain_id, &keys[i]).signature,
                }
            })
            .collect();
        CommitCertificate {
            height: header.height,
            round: 0,
            block_hash: header.hash(),
            signatures,
        }
    }

    /// An account answer at height 2 of a small chain, as a node serves it.
    struct Answer {
        trusted: Trusted,
        address: Address,
        account: Option<Account>,
        header: Vec<u8>,
        certificate: Vec<u8>,
        proof: Vec<u8>,
        tx: Vec<u8>,
        tx_hash: Hash,
        tx_path: Vec<u8>,
    }

    fn answer(who: &str) -> Answer {
        let g = genesis(4, &[("alice", 100), ("bob", 0)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let mut state = State::from_genesis(&g);
        let rules = ChainRules::open("test-chain");
        let mut last = None;
        for (n, txs) in [
            vec![transfer(&alice, bob.public(), 30, 0)],
            vec![
                transfer(&alice, bob.public(), 5, 1),
                transfer(&bob, alice.public(), 1, 0),
                transfer(&alice, bob.public(), 7, 2),
            ],
        ]
        .into_iter()
        .enumerate()
        {
            let e = state.execute(&rules, &txs).unwrap();
            let mut b = block(n as u64 + 1, Hash::ZERO, txs);
            b.header.state_root = e.state_root;
            state.apply(&e);
            last = Some(b);
        }
        let b = last.unwrap();
        let address = Keypair::from_seed(who).public();
        let (account, path) = state_tree::prove(state.tree().as_ref(), 2, &address).unwrap();
        let ids = b.tx_hashes();
        Answer {
            trusted: Trusted::from_genesis(&g).unwrap(),
            address,
            account,
            header: encoding::encode(&b.header),
            certificate: encoding::encode(&certify(&[0, 2, 3], &b.header)),
            proof: encode_account_path(&path),
            tx: b.txs[1].encode(),
            tx_hash: ids[1],
            tx_path: encoding::encode(&merkle_path(&ids, 1).unwrap()),
        }
    }

    fn check_account(a: &Answer) -> Result<Certified, LightError> {
        verify_account(
            &a.trusted,
            &a.address,
            a.account.as_ref(),
            2,
            &a.header,
            &a.certificate,
            &a.proof,
        )
    }

    fn check_tx(a: &Answer) -> Result<(Certified, SignedTx), LightError> {
        verify_tx(
            &a.trusted,
            &a.tx_hash,
            2,
            &a.tx,
            &a.header,
            &a.certificate,
            &a.tx_path,
        )
    }

    #[test]
    fn honest_answers_verify_and_name_their_signers() {
        let bob = answer("bob");
        assert_eq!(bob.account.map(|a| a.balance), Some(41));
        let c = check_account(&bob).unwrap();
        assert_eq!((c.header.height, c.signers, c.validators), (2, 3, 4));
        let stranger = answer("stranger");
        assert_eq!(stranger.account, None);
        check_account(&stranger).unwrap();
        let (_, tx) = check_tx(&bob).unwrap();
        assert_eq!(tx.hash(), bob.tx_hash);
    }

    #[test]
    fn lies_are_refused_with_what_did_not_verify() {
        let base = answer("bob");
        let mut a = answer("bob");
        a.account = Some(Account {
            balance: 1_000_000,
            nonce: 1,
        });
        assert!(matches!(check_account(&a), Err(LightError::Account(_))));
        a.account = None;
        assert!(matches!(check_account(&a), Err(LightError::Account(_))));
        // A certificate short of a quorum: one signature dropped.
        let mut a = answer("bob");
        let mut cert: CommitCertificate = encoding::decode(&base.certificate).unwrap();
        cert.signatures.pop();
        a.certificate = encoding::encode(&cert);
        let err = check_account(&a).unwrap_err();
        assert!(
            matches!(
                err,
                LightError::Certificate(CertificateError::NoQuorum { .. })
            ),
            "{err}"
        );
        // The same signer twice, and a header for another height.
        let mut cert: CommitCertificate = encoding::decode(&base.certificate).unwrap();
        cert.signatures[2] = cert.signatures[0].clone();
        a.certificate = encoding::encode(&cert);
        assert!(matches!(
            check_account(&a),
            Err(LightError::Certificate(
                CertificateError::DuplicateValidator(0)
            ))
        ));
        let a = answer("bob");
        let wrong_height = verify_account(
            &a.trusted,
            &a.address,
            a.account.as_ref(),
            3,
            &a.header,
            &a.certificate,
            &a.proof,
        );
        assert!(matches!(wrong_height, Err(LightError::WrongHeight { .. })));
        // Another transaction of the block with this one's path, or another's hash asked.
        let mut a = answer("bob");
        a.tx_hash = Hash([9; 32]);
        assert!(matches!(check_tx(&a), Err(LightError::WrongTx { .. })));
    }

    /// Every single-byte change to the proof, the header or the certificate is refused.
    #[test]
    fn every_single_byte_change_is_refused() {
        for who in ["bob", "stranger"] {
            let a = answer(who);
            for field in 0..5 {
                let len = [
                    a.proof.len(),
                    a.header.len(),
                    a.certificate.len(),
                    a.tx.len(),
                    a.tx_path.len(),
                ][field];
                for i in 0..len {
                    let mut b = answer_clone(&a);
                    let bytes = [
                        &mut b.proof,
                        &mut b.header,
                        &mut b.certificate,
                        &mut b.tx,
                        &mut b.tx_path,
                    ];
                    bytes.into_iter().nth(field).unwrap()[i] ^= 0x01;
                    let refused = if field == 0 {
                        check_account(&b).is_err()
                    } else if field >= 3 {
                        check_tx(&b).is_err()
                    } else {
                        check_account(&b).is_err() && check_tx(&b).is_err()
                    };
                    assert!(
                        refused,
                        "{who}: field {field} byte {i} flipped still verifies"
                    );
                }
            }
        }
    }

    fn answer_clone(a: &Answer) -> Answer {
        Answer {
            trusted: a.trusted.clone(),
            address: a.address,
            account: a.account,
            header: a.header.clone(),
            certificate: a.certificate.clone(),
            proof: a.proof.clone(),
            tx: a.tx.clone(),
            tx_hash: a.tx_hash,
            tx_path: a.tx_path.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any replacement of any byte (not only one bit) of the three parts is refused.
        #[test]
        fn any_byte_replaced_is_refused(field in 0usize..3, at in any::<prop::sample::Index>(), to in any::<u8>()) {
            let a = answer("bob");
            let mut b = answer_clone(&a);
            let bytes = [&mut b.proof, &mut b.header, &mut b.certificate].into_iter().nth(field).unwrap();
            let i = at.index(bytes.len());
            prop_assume!(bytes[i] != to);
            bytes[i] = to;
            prop_assert!(check_account(&b).is_err());
        }
    }
}
