//! Hashing and signing, and the one list of domain tags.
//!
//! Every hash and every signature in lantau is taken over `domain || canonical bytes`, with the
//! domain tags below, so bytes signed for one purpose (a vote) can never be replayed as another
//! (a transaction), and a hash of one kind can never collide with a hash of another by design.

use std::fmt;

use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Domain tags. Changing one is a hard fork.
pub mod domain {
    pub const TX: &[u8] = b"lantau/tx/v1\0";
    pub const TX_HASH: &[u8] = b"lantau/tx-hash/v1\0";
    pub const BLOCK_HEADER: &[u8] = b"lantau/block-header/v1\0";
    pub const VOTE: &[u8] = b"lantau/vote/v1\0";
    pub const PROPOSAL: &[u8] = b"lantau/proposal/v1\0";
    /// A gossiped transaction batch's digest, by which proposals name it.
    pub const TX_BATCH: &[u8] = b"lantau/tx-batch/v1\0";
    pub const MERKLE_LEAF: &[u8] = b"\x00";
    pub const MERKLE_NODE: &[u8] = b"\x01";
    /// Every hash in the state tree (`state_tree`): account keys and values, leaves, inner
    /// nodes.
    pub const STATE_TREE: &[u8] = b"lantau/state/v2\0";
    pub const GENESIS: &[u8] = b"lantau/genesis/v1\0";
    /// A consortium member's genesis entry, signed by its validator key and its node key.
    pub const GENESIS_ENTRY: &[u8] = b"lantau/genesis-entry/v1\0";
    /// Associated data of a passphrase-encrypted key file (`interface::home::sealed_key`),
    /// with the address it holds: a file whose address was swapped does not decrypt.
    pub const SEALED_KEY: &[u8] = b"lantau/sealed-key/v1\0";
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

macro_rules! hex_bytes {
    ($name:ident, $len:expr, $what:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn from_hex(s: &str) -> Result<Self, ParseHexError> {
                let s = s.strip_prefix("0x").unwrap_or(s);
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| ParseHexError {
                    what: $what,
                    expected_len: $len,
                    got: s.chars().count(),
                    bad_char: s.chars().find(|c| !c.is_ascii_hexdigit()),
                })?;
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Short form keeps logs and test failures readable.
                write!(f, "{}({}..)", stringify!($name), &self.to_hex()[..8])
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes!(Hash, 32, "hash");
hex_bytes!(PublicKey, 32, "public key");
hex_bytes!(Signature, 64, "signature");

/// An account is named by its owner's ed25519 public key.
pub type Address = PublicKey;

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {what}: expected {} hex characters (0-9, a-f), got {}", expected_len * 2, self.found())]
pub struct ParseHexError {
    what: &'static str,
    expected_len: usize,
    got: usize,
    /// The first character that is not a hex digit, if any.
    bad_char: Option<char>,
}

impl ParseHexError {
    fn found(&self) -> String {
        match self.bad_char {
            Some(c) => format!("{} characters including {c:?}, which is not hex", self.got),
            None => format!("{} characters", self.got),
        }
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("public key is not a valid ed25519 point")]
    InvalidKey,
    #[error("public key has small order (weak key)")]
    WeakKey,
    #[error("signature does not verify")]
    BadSignature,
}

impl PublicKey {
    /// Parse into a dalek key, rejecting invalid and small-order (weak) keys. Rejecting weak
    /// keys here is what lets batch verification and strict verification agree on keys.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::InvalidKey)?;
        if vk.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        Ok(vk)
    }

    /// The signature validity rule (see `ed25519`: ZIP-215's cofactored equation, small-order
    /// keys refused) over `domain || message`; the same verdict as in any batch.
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        sig: &Signature,
    ) -> Result<(), SignatureError> {
        let vk = self.to_verifying_key()?;
        verify_with(&vk, domain, message, sig)
    }
}

pub(crate) fn verify_with(
    vk: &VerifyingKey,
    domain: &[u8],
    message: &[u8],
    sig: &Signature,
) -> Result<(), SignatureError> {
    if crate::ed25519::prepare(vk, domain, message, &sig.0).is_some_and(|p| p.holds()) {
        Ok(())
    } else {
        Err(SignatureError::BadSignature)
    }
}

/// A signing key. The node keeps its one copy in the signer task; everything else sees only
/// the public key.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    pub fn generate() -> Self {
        Self::from_secret(rand::random())
    }

    /// Deterministic key from a seed string; for tests, simulations and demo accounts only.
    pub fn from_seed(seed: &str) -> Self {
        Self::from_secret(sha256(&[b"lantau/test-key/v1\0", seed.as_bytes()]).0)
    }

    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Sign `domain || message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        let msg = [domain, message].concat();
        Signature(self.signing.sign(&msg).to_bytes())
    }

    /// A valid signature over `domain || message` whose `R` is `rB + T`, `T` the `t`-th point
    /// of the 8-torsion subgroup (`t` in 1, 3, 5, 7 has order 8). Accepted by the cofactored
    /// rule, refused by `verify_strict`, and passed by a non-cofactored batch only when its
    /// coefficient kills `T`: what a client would craft to split validators. For tests and
    /// adversarial tooling; honest signing never makes one.
    pub fn sign_with_torsion(&self, domain: &[u8], message: &[u8], t: usize) -> Signature {
        let (secret, public) = (self.secret_bytes(), self.public().0);
        Signature(crate::ed25519::sign_with_torsion(
            &secret, &public, domain, message, t,
        ))
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_domain_separation() {
        let k = Keypair::from_seed("alice");
        let sig = k.sign(domain::TX, b"hello");
        assert_eq!(k.public().verify(domain::TX, b"hello", &sig), Ok(()));
        assert_eq!(
            k.public().verify(domain::VOTE, b"hello", &sig),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            k.public().verify(domain::TX, b"hellO", &sig),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey(identity).to_verifying_key().err(),
            Some(SignatureError::WeakKey)
        );
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(
            PublicKey(off_curve).to_verifying_key().err(),
            Some(SignatureError::InvalidKey)
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = sha256(&[b"x"]);
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash::from_hex(&format!("0x{h}")).unwrap(), h);
        let err = Hash::from_hex("abc").unwrap_err().to_string();
        assert!(err.contains("64 hex characters"), "{err}");
        // Right length, wrong alphabet: say which character is wrong, not "got 64".
        let err = Hash::from_hex(&"g".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("'g', which is not hex"), "{err}");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
    }
}
