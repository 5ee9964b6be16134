//! Blocks: a header that commits to everything, and the transactions.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{Hash, PublicKey, domain, sha256};
use crate::encoding;
use crate::merkle::merkle_root;
use crate::tx::SignedTx;

/// The most transactions a valid block may hold, whatever a proposer's own configured limit
/// (validators with different configs must still accept each other's blocks).
pub const MAX_BLOCK_TXS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    pub height: u64,
    /// Consensus round in which the block was proposed.
    pub round: u32,
    pub prev_hash: Hash,
    pub proposer: PublicKey,
    /// Proposer's wall clock, milliseconds since the Unix epoch. Informational only.
    pub timestamp_ms: u64,
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
    /// State root after executing this block's transactions (see `state`).
    pub state_root: Hash,
}

/// A header and the transactions it commits to. Decoding (bincode or serde) checks that the
/// transactions are the ones the header's `tx_root` names, so a `Block` that came from bytes
/// always has the body its hash (the header's) was signed for: a peer cannot pair a decided
/// header with other transactions. Code that builds a block in memory computes the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Serialize, Deserialize)]
#[serde(try_from = "BlockParts")]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTx>,
}

/// A block as it arrives, before its body is checked against its header.
#[derive(Decode, Deserialize)]
struct BlockParts {
    header: BlockHeader,
    txs: Vec<SignedTx>,
}

impl TryFrom<BlockParts> for Block {
    type Error = BlockError;

    fn try_from(parts: BlockParts) -> Result<Self, BlockError> {
        let block = Block {
            header: parts.header,
            txs: parts.txs,
        };
        block.check_body()?;
        Ok(block)
    }
}

impl<C> Decode<C> for Block {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let parts = <BlockParts as Decode<C>>::decode(decoder)?;
        Block::try_from(parts)
            .map_err(|e| bincode::error::DecodeError::OtherString(format!("block body: {e}")))
    }
}
bincode::impl_borrow_decode!(Block);

/// Structural problems with a block, independent of state and signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    #[error("block is for chain {got:?}, expected {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("block height {got}, expected {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("block's previous hash {got} does not match the tip {expected}")]
    WrongParent { expected: Hash, got: Hash },
    #[error("tx root {got} does not match the transactions ({expected})")]
    TxRootMismatch { expected: Hash, got: Hash },
    #[error("block holds {0} transactions, over the limit of {1}")]
    TooManyTxs(usize, usize),
    #[error("transaction {index} is malformed: {reason}")]
    BadTx { index: usize, reason: String },
    #[error("transaction {index} repeats an earlier transaction of the block")]
    DuplicateTx { index: usize },
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        sha256(&[domain::BLOCK_HEADER, &encoding::encode(self)])
    }
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Whether the transactions are the ones the header commits to (count within the protocol
    /// limit, Merkle root of their ids equal to `tx_root`). Returns the ids.
    pub fn check_body(&self) -> Result<Vec<Hash>, BlockError> {
        if self.txs.len() > MAX_BLOCK_TXS {
            return Err(BlockError::TooManyTxs(self.txs.len(), MAX_BLOCK_TXS));
        }
        let hashes = self.tx_hashes();
        let root = merkle_root(&hashes);
        if root != self.header.tx_root {
            return Err(BlockError::TxRootMismatch {
                expected: root,
                got: self.header.tx_root,
            });
        }
        Ok(hashes)
    }

    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.txs.iter().map(SignedTx::hash).collect()
    }

    pub fn compute_tx_root(tx_hashes: &[Hash]) -> Hash {
        merkle_root(tx_hashes)
    }

    /// Check the block fits on `(height, prev_hash)` of `chain_id` and is internally
    /// consistent. Signatures and execution are checked elsewhere.
    pub fn check_structure(
        &self,
        chain_id: &str,
        height: u64,
        prev_hash: &Hash,
        max_txs: usize,
    ) -> Result<Vec<Hash>, BlockError> {
        let h = &self.header;
        if h.chain_id != chain_id {
            return Err(BlockError::WrongChain {
                expected: chain_id.into(),
                got: h.chain_id.clone(),
            });
        }
        if h.height != height {
            return Err(BlockError::WrongHeight {
                expected: height,
                got: h.height,
            });
        }
        if h.prev_hash != *prev_hash {
            return Err(BlockError::WrongParent {
                expected: *prev_hash,
                got: h.prev_hash,
            });
        }
        if self.txs.len() > max_txs {
            return Err(BlockError::TooManyTxs(self.txs.len(), max_txs));
        }
        // The body must be the one the header names (the same check as at decode; a block
        // built in memory has not been through it).
        let hashes = self.check_body()?;
        let mut seen = std::collections::HashSet::with_capacity(self.txs.len());
        for (index, (tx, hash)) in self.txs.iter().zip(&hashes).enumerate() {
            tx.transfer
                .check_bounds()
                .and_then(|_| tx.check_chain(chain_id))
                .map_err(|e| BlockError::BadTx {
                    index,
                    reason: e.to_string(),
                })?;
            if !seen.insert(*hash) {
                return Err(BlockError::DuplicateTx { index });
            }
        }
        Ok(hashes)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::tx::tests::transfer;
    use proptest::prelude::*;

    pub fn block(height: u64, prev: Hash, txs: Vec<SignedTx>) -> Block {
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        Block {
            header: BlockHeader {
                chain_id: "test-chain".into(),
                height,
                round: 0,
                prev_hash: prev,
                proposer: Keypair::from_seed("p").public(),
                timestamp_ms: 1,
                tx_root: merkle_root(&hashes),
                state_root: Hash::ZERO,
            },
            txs,
        }
    }

    #[test]
    fn structure_checks() {
        let a = Keypair::from_seed("alice");
        let txs = vec![
            transfer(&a, a.public(), 1, 0),
            transfer(&a, a.public(), 1, 1),
        ];
        let b = block(3, Hash::ZERO, txs.clone());
        assert_eq!(
            b.check_structure("test-chain", 3, &Hash::ZERO, 10)
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            b.check_structure("x", 3, &Hash::ZERO, 10),
            Err(BlockError::WrongChain { .. })
        ));
        assert!(matches!(
            b.check_structure("test-chain", 4, &Hash::ZERO, 10),
            Err(BlockError::WrongHeight { .. })
        ));
        assert!(matches!(
            b.check_structure("test-chain", 3, &b.hash(), 10),
            Err(BlockError::WrongParent { .. })
        ));
        assert_eq!(
            b.check_structure("test-chain", 3, &Hash::ZERO, 1),
            Err(BlockError::TooManyTxs(2, 1))
        );
        let mut dup = block(3, Hash::ZERO, vec![txs[0].clone(), txs[0].clone()]);
        assert_eq!(
            dup.check_structure("test-chain", 3, &Hash::ZERO, 10),
            Err(BlockError::DuplicateTx { index: 1 })
        );
        dup.txs.pop();
        assert!(matches!(
            dup.check_structure("test-chain", 3, &Hash::ZERO, 10),
            Err(BlockError::TxRootMismatch { .. })
        ));
    }

    #[test]
    fn header_hash_covers_every_field() {
        let b = block(1, Hash::ZERO, vec![]);
        let base = b.hash();
        let mut h = b.header.clone();
        h.state_root = Hash([1; 32]);
        assert_ne!(h.hash(), base);
        let mut h = b.header.clone();
        h.timestamp_ms += 1;
        assert_ne!(h.hash(), base);
        let mut h = b.header;
        h.round += 1;
        assert_ne!(h.hash(), base);
    }

    #[test]
    fn a_body_that_does_not_match_its_header_never_decodes() {
        let a = Keypair::from_seed("alice");
        let genuine = block(
            3,
            Hash::ZERO,
            vec![
                transfer(&a, a.public(), 1, 0),
                transfer(&a, a.public(), 2, 1),
            ],
        );
        let bytes = encoding::encode(&genuine);
        assert_eq!(encoding::decode::<Block>(&bytes).unwrap(), genuine);
        let json = serde_json::to_string(&genuine).unwrap();
        assert_eq!(serde_json::from_str::<Block>(&json).unwrap(), genuine);

        // Same header (same hash, so the same signatures vouch for it), other bodies: one
        // transaction swapped, one dropped, one added.
        let mut swapped = genuine.clone();
        swapped.txs[1] = transfer(&a, a.public(), 99, 1);
        let mut dropped = genuine.clone();
        dropped.txs.pop();
        let mut added = genuine.clone();
        added.txs.push(transfer(&a, a.public(), 3, 2));
        for forged in [swapped, dropped, added] {
            assert_eq!(forged.hash(), genuine.hash());
            let err = encoding::decode::<Block>(&encoding::encode(&forged)).unwrap_err();
            assert!(err.to_string().contains("tx root"), "{err}");
            let json = serde_json::to_string(&forged).unwrap();
            assert!(serde_json::from_str::<Block>(&json).is_err());
            assert!(matches!(
                forged.check_body(),
                Err(BlockError::TxRootMismatch { .. })
            ));
        }
    }

    proptest! {
        #[test]
        fn block_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = encoding::decode::<Block>(&bytes);
        }

        #[test]
        fn block_round_trip(n in 0usize..5, height: u64) {
            let a = Keypair::from_seed("alice");
            let txs = (0..n as u64).map(|i| transfer(&a, a.public(), i, i)).collect();
            let b = block(height, Hash([7; 32]), txs);
            let bytes = encoding::encode(&b);
            prop_assert_eq!(encoding::decode::<Block>(&bytes).unwrap(), b);
        }
    }
}
