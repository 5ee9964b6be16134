//! Signed transfers: the only transaction kind.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{Address, Hash, Keypair, PublicKey, Signature, SignatureError, domain, sha256};
use crate::encoding::{self, DecodeError};

/// Longest chain id accepted.
pub const MAX_CHAIN_ID_BYTES: usize = 64;
/// Longest memo accepted; the memo lets benchmarks vary transaction size.
pub const MAX_MEMO_BYTES: usize = 1024;
/// Upper bound on one encoded transaction; checked before decoding.
pub const MAX_TX_BYTES: usize = 2048;

/// What the sender signs: move `amount` from the sender's account to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Transfer {
    pub chain_id: String,
    pub from: PublicKey,
    pub to: Address,
    pub amount: u64,
    /// Must equal the sender's account nonce when executed; each executed transfer bumps it.
    pub nonce: u64,
    #[serde(with = "hex_vec")]
    pub memo: Vec<u8>,
}

/// Encoded transactions travelling together (a client's batch submission, a validator's tx
/// gossip), each still in its signed bytes so the receiver hashes and verifies exactly what was
/// sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct TxBatch {
    pub txs: Vec<Vec<u8>>,
}

impl TxBatch {
    /// At most this many encoded bytes (the gossip message limit).
    pub const MAX_BYTES: usize = 16 * 1024 * 1024;

    pub fn decode(bytes: &[u8]) -> Result<Self, crate::encoding::DecodeError> {
        encoding::decode_limited::<_, { Self::MAX_BYTES }>(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The digest proposals name an encoded batch by: over its bytes as sent, so a batch
    /// fetched from anyone can be checked against the name before it is decoded.
    pub fn digest(bytes: &[u8]) -> Hash {
        sha256(&[domain::TX_BATCH, bytes])
    }

    /// How many transactions an encoded batch says it holds, without decoding it (an upper
    /// bound only until it decodes: the bytes may lie).
    pub fn peek_len(bytes: &[u8]) -> Option<u64> {
        encoding::peek_len(bytes)
    }
}

/// A transfer with its sender's signature over `domain::TX || encode(transfer)`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedTx {
    pub transfer: Transfer,
    pub signature: Signature,
}

/// Why a transaction is malformed regardless of state.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("transaction bytes: {0}")]
    Decode(#[from] DecodeError),
    #[error("chain id is {0} bytes; at most {MAX_CHAIN_ID_BYTES} allowed")]
    ChainIdTooLong(usize),
    #[error("memo is {0} bytes; at most {MAX_MEMO_BYTES} allowed")]
    MemoTooLong(usize),
    #[error("transaction is for chain {got:?}, this node runs {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
}

impl Transfer {
    pub fn sign(self, key: &Keypair) -> SignedTx {
        debug_assert_eq!(
            self.from,
            key.public(),
            "signing a transfer for another sender"
        );
        let signature = key.sign(domain::TX, &encoding::encode(&self));
        SignedTx {
            transfer: self,
            signature,
        }
    }

    /// Size and shape limits that hold on any chain.
    pub fn check_bounds(&self) -> Result<(), TxError> {
        if self.chain_id.len() > MAX_CHAIN_ID_BYTES {
            return Err(TxError::ChainIdTooLong(self.chain_id.len()));
        }
        if self.memo.len() > MAX_MEMO_BYTES {
            return Err(TxError::MemoTooLong(self.memo.len()));
        }
        Ok(())
    }
}

impl SignedTx {
    /// Decode from wire bytes, enforcing size limits.
    pub fn decode(bytes: &[u8]) -> Result<SignedTx, TxError> {
        let tx: SignedTx = encoding::decode_limited::<_, MAX_TX_BYTES>(bytes)?;
        tx.transfer.check_bounds()?;
        Ok(tx)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The transaction's identity: SHA-256 over its canonical signed bytes (transfer and
    /// signature). Including the signature means a copy with a forged signature has another
    /// hash, so a verified-once cache keyed by this hash can never vouch for the forgery.
    pub fn hash(&self) -> Hash {
        Self::hash_bytes(&self.encode())
    }

    /// Hash of already-encoded transaction bytes (saves re-encoding on the admission path).
    pub fn hash_bytes(encoded: &[u8]) -> Hash {
        sha256(&[domain::TX_HASH, encoded])
    }

    /// The bytes the signature covers, without the domain tag.
    pub fn signed_message(&self) -> Vec<u8> {
        encoding::encode(&self.transfer)
    }

    /// Check that the transaction belongs to `chain_id`.
    pub fn check_chain(&self, chain_id: &str) -> Result<(), TxError> {
        if self.transfer.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.to_string(),
                got: self.transfer.chain_id.clone(),
            });
        }
        Ok(())
    }

    /// Single verification under the validity rule (`ed25519`; ARCHITECTURE.md): the same
    /// verdict as in any batch.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.transfer
            .from
            .verify(domain::TX, &self.signed_message(), &self.signature)
    }
}

mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn transfer(from: &Keypair, to: Address, amount: u64, nonce: u64) -> SignedTx {
        Transfer {
            chain_id: "test-chain".into(),
            from: from.public(),
            to,
            amount,
            nonce,
            memo: vec![],
        }
        .sign(from)
    }

    #[test]
    fn signed_transfer_verifies_and_tampering_breaks_it() {
        let alice = Keypair::from_seed("alice");
        let bob = Keypair::from_seed("bob").public();
        let tx = transfer(&alice, bob, 10, 0);
        tx.verify().unwrap();
        let mut forged = tx.clone();
        forged.transfer.amount = 11;
        assert!(forged.verify().is_err());
        assert_ne!(forged.hash(), tx.hash());
    }

    #[test]
    fn typical_transfer_is_about_150_bytes() {
        let alice = Keypair::from_seed("alice");
        let len = transfer(&alice, alice.public(), 1, 0).encode().len();
        assert!((140..=180).contains(&len), "{len}");
    }

    #[test]
    fn oversized_memo_is_rejected_on_decode() {
        let alice = Keypair::from_seed("alice");
        let mut t = transfer(&alice, alice.public(), 1, 0);
        t.transfer.memo = vec![0; MAX_MEMO_BYTES + 1];
        assert!(matches!(
            SignedTx::decode(&t.encode()),
            Err(TxError::MemoTooLong(_))
        ));
    }

    #[test]
    fn wrong_chain_is_reported() {
        let alice = Keypair::from_seed("alice");
        let t = transfer(&alice, alice.public(), 1, 0);
        assert!(t.check_chain("test-chain").is_ok());
        assert!(matches!(
            t.check_chain("other"),
            Err(TxError::WrongChain { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(amount: u64, nonce: u64, memo in proptest::collection::vec(any::<u8>(), 0..64)) {
            let alice = Keypair::from_seed("alice");
            let mut t = transfer(&alice, alice.public(), amount, nonce);
            t.transfer.memo = memo;
            let bytes = t.encode();
            let back = SignedTx::decode(&bytes).unwrap();
            prop_assert_eq!(&back, &t);
            prop_assert_eq!(back.encode(), bytes);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SignedTx::decode(&bytes);
        }

        #[test]
        fn mutated_encodings_never_panic(idx in 0usize..200, byte: u8) {
            let alice = Keypair::from_seed("alice");
            let mut bytes = transfer(&alice, alice.public(), 5, 1).encode();
            let i = idx % bytes.len();
            bytes[i] = byte;
            if let Ok(tx) = SignedTx::decode(&bytes) {
                prop_assert_eq!(tx.encode(), bytes);
            }
        }
    }
}
