//! The signature validity rule: Ed25519 with ZIP-215's cofactored equation, the same verdict
//! alone and in any batch, on every node.
//!
//! A signature `(R, s)` by key `A` over message `M` is valid when `A` decompresses and is not
//! of small order (lantau's one addition to ZIP-215), `R` decompresses, `s` is canonical
//! (`s < l`), and `[8]([s]B - R - [k]A)` is the identity, `k = SHA-512(R || A || M) mod l`.
//!
//! Why not dalek's `verify_batch` + `verify_strict`: dalek's batch equation is not
//! cofactored, so a signature whose `R` carries a small-order component passes a batch only
//! when its random coefficient happens to kill that component, which depends on the other
//! signatures in the batch, while `verify_strict` always rejects it. A client could then make
//! one validator accept a transfer that its peers reject, and have them penalise it for
//! relaying it. With the cofactored equation, batch and single verification accept exactly
//! the same signatures (up to the 2^-128 chance that random coefficients hide a bad one).
//!
//! Why not the `ed25519-consensus` crate, which implements the same rule: it runs on
//! `curve25519-dalek-ng`'s portable backend, without the AVX2 and AVX-512 IFMA backends of
//! `curve25519-dalek` 5 that `ed25519-dalek` already brings. Verification is most of a
//! validator's CPU, so the rule is written here on `curve25519-dalek` and tested against
//! `ed25519-consensus` (a dev-dependency) on crafted torsion cases.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha512};

use curve25519_dalek::constants::EIGHT_TORSION;

/// One signature, decoded and hashed: ready for the single or the batch equation.
pub(crate) struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Decode the signature `sig` by `key` over `domain || message`; `None` if `R` does not
/// decompress or `s` is not canonical. `key` was parsed by `PublicKey::to_verifying_key`,
/// which refuses small-order keys.
pub(crate) fn prepare(
    key: &VerifyingKey,
    domain: &[u8],
    message: &[u8],
    sig: &[u8; 64],
) -> Option<Prepared> {
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("64-byte signature");
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("64-byte signature");
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let digest = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(key.as_bytes())
        .chain_update(domain)
        .chain_update(message)
        .finalize();
    let wide: [u8; 64] = digest.into();
    Some(Prepared {
        a: key.to_edwards(),
        r,
        s,
        k: Scalar::from_bytes_mod_order_wide(&wide),
    })
}

impl Prepared {
    /// The single equation: `[8]([s]B - [k]A - R) == 0`.
    pub(crate) fn holds(&self) -> bool {
        let sb_minus_ka =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.a, &self.s);
        (sb_minus_ka - self.r).mul_by_cofactor().is_identity()
    }
}

/// The batch equation with random 128-bit coefficients `z_i`:
/// `[8]([-sum z_i s_i]B + sum [z_i]R_i + sum [z_i k_i]A_i) == 0`. True exactly when every
/// single equation holds (but for a 2^-128 chance), whatever else is in the batch.
pub(crate) fn all_hold(items: &[Prepared]) -> bool {
    if items.is_empty() {
        return true;
    }
    let mut scalars = Vec::with_capacity(2 * items.len() + 1);
    let mut points = Vec::with_capacity(2 * items.len() + 1);
    let mut b = Scalar::ZERO;
    for item in items {
        let z = Scalar::from(rand::random::<u128>());
        b -= z * item.s;
        scalars.push(z);
        points.push(item.r);
        scalars.push(z * item.k);
        points.push(item.a);
    }
    scalars.push(b);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// A valid signature by the key with `secret` (and `public`) over `domain || message` whose
/// `R` is `rB + T`, `T` the `t`-th point of the 8-torsion subgroup (see
/// `Keypair::sign_with_torsion`).
pub(crate) fn sign_with_torsion(
    secret: &[u8; 32],
    public: &[u8; 32],
    domain: &[u8],
    message: &[u8],
    t: usize,
) -> [u8; 64] {
    let expanded: [u8; 64] = Sha512::digest(secret).into();
    let mut clamped: [u8; 32] = expanded[..32].try_into().expect("32 bytes");
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let a = Scalar::from_bytes_mod_order(clamped);
    let nonce: [u8; 64] = Sha512::new()
        .chain_update(&expanded[32..])
        .chain_update(message)
        .finalize()
        .into();
    let r = Scalar::from_bytes_mod_order_wide(&nonce);
    let big_r = (EdwardsPoint::mul_base(&r) + EIGHT_TORSION[t % 8]).compress();
    let k: [u8; 64] = Sha512::new()
        .chain_update(big_r.as_bytes())
        .chain_update(public)
        .chain_update(domain)
        .chain_update(message)
        .finalize()
        .into();
    let s = r + Scalar::from_bytes_mod_order_wide(&k) * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::{Keypair, PublicKey, Signature, SignatureError, domain};

    pub fn torsioned_signature(key: &Keypair, message: &[u8], t: usize) -> Signature {
        key.sign_with_torsion(domain::TX, message, t)
    }

    fn prepared(key: &PublicKey, message: &[u8], sig: &Signature) -> Prepared {
        prepare(
            &key.to_verifying_key().unwrap(),
            domain::TX,
            message,
            &sig.0,
        )
        .unwrap()
    }

    /// Our verdict is the reference implementation's (`ed25519-consensus`, ZIP-215) for
    /// honest signatures, for signatures with every torsion component in `R`, and for
    /// tampered ones.
    #[test]
    fn verdicts_match_the_zip215_reference() {
        for seed in 0..8 {
            let key = Keypair::from_seed(&format!("zip215-{seed}"));
            let pk = key.public();
            let message = format!("message {seed}").into_bytes();
            let mut cases = vec![(key.sign(domain::TX, &message), true)];
            for t in 0..8 {
                cases.push((torsioned_signature(&key, &message, t), true));
            }
            let mut tampered = cases[1].0;
            tampered.0[40] ^= 1;
            cases.push((tampered, false));
            let vk = ed25519_consensus::VerificationKey::try_from(pk.0).unwrap();
            for (sig, expected) in cases {
                let signed = [domain::TX, &message[..]].concat();
                let reference = vk
                    .verify(&ed25519_consensus::Signature::from(sig.0), &signed)
                    .is_ok();
                assert_eq!(reference, expected);
                let ours = prepare(
                    &pk.to_verifying_key().unwrap(),
                    domain::TX,
                    &message,
                    &sig.0,
                )
                .is_some_and(|p| p.holds());
                assert_eq!(ours, expected, "seed {seed}");
            }
        }
    }

    #[test]
    fn a_batch_holds_exactly_when_every_signature_does() {
        let keys: Vec<Keypair> = (0..6)
            .map(|i| Keypair::from_seed(&format!("batch-{i}")))
            .collect();
        let good: Vec<Prepared> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let m = [i as u8; 10];
                prepared(&k.public(), &m, &torsioned_signature(k, &m, i % 8))
            })
            .collect();
        assert!(all_hold(&good));
        let m = [9u8; 10];
        let mut bad = keys[0].sign(domain::TX, &m);
        bad.0[33] ^= 4;
        let mut with_bad = good;
        with_bad.push(prepared(&keys[0].public(), &m, &bad));
        assert!(!all_hold(&with_bad));
        assert!(all_hold(&[]));
    }

    #[test]
    fn a_non_canonical_s_is_refused() {
        let key = Keypair::from_seed("s");
        let mut sig = key.sign(domain::TX, b"m");
        // s + l is the same scalar but not its canonical encoding: a malleated signature.
        let s = Scalar::from_canonical_bytes(sig.0[32..].try_into().unwrap()).unwrap();
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = s.as_bytes()[i] as u16 + l_bytes[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        sig.0[32..].copy_from_slice(&sum);
        let vk = key.public().to_verifying_key().unwrap();
        assert!(prepare(&vk, domain::TX, b"m", &sig.0).is_none());
        assert_eq!(
            key.public().verify(domain::TX, b"m", &sig),
            Err(SignatureError::BadSignature)
        );
    }
}
