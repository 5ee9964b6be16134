//! Key files encrypted at rest with a passphrase (what `lantau keygen --encrypt` writes).
//!
//! The secret is sealed with XChaCha20-Poly1305 under a key derived from the passphrase by
//! Argon2id (RFC 9106), the same construction as the keystores wallets use. The file is JSON
//! and names the account's address in clear, so `lantau address` needs no passphrase; the
//! address is bound as associated data, so a file whose address was edited does not open.
//!
//! Reading a file is reading hostile input: its Argon2 cost parameters are bounded before
//! any work, so a crafted file cannot make the CLI allocate gigabytes.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ledger::{Address, Keypair};
use serde::{Deserialize, Serialize};

use super::{HomeError, invalid};

/// Argon2id cost for new files: 64 MiB and 3 passes (RFC 9106's second recommendation),
/// about half a second on a laptop core.
const NEW_MEMORY_KIB: u32 = 64 * 1024;
const NEW_ITERATIONS: u32 = 3;
/// The most a file may ask for: 1 GiB and 20 passes.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 20;

/// The file's format version (`"lantau_sealed_key": 1`).
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedFile {
    lantau_sealed_key: u32,
    address: Address,
    kdf: Kdf,
    /// Hex of the 24-byte XChaCha20 nonce.
    nonce: String,
    /// Hex of the sealed 32-byte secret and its 16-byte tag.
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    algorithm: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    /// Hex of the 16-byte salt.
    salt: String,
}

/// Whether the text of a key file is a sealed one (otherwise it is the plain hex secret).
pub fn is_sealed(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// The text of a new sealed key file holding `key`.
pub fn seal(key: &Keypair, passphrase: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let nonce: [u8; 24] = rand::random();
    let kdf = Kdf {
        algorithm: "argon2id".into(),
        memory_kib: NEW_MEMORY_KIB,
        iterations: NEW_ITERATIONS,
        parallelism: 1,
        salt: hex::encode(salt),
    };
    let address = key.public();
    let cipher = cipher(passphrase, &kdf, &salt).expect("the new file's parameters are valid");
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &key.secret_bytes(),
                aad: &associated_data(&address),
            },
        )
        .expect("sealing 32 bytes cannot fail");
    let file = SealedFile {
        lantau_sealed_key: FORMAT,
        address,
        kdf,
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(sealed),
    };
    let json = serde_json::to_string_pretty(&file).expect("a sealed key serialises");
    format!("{json}\n")
}

/// The address a sealed file says it holds (no passphrase needed; not proof of anything
/// until [`open`] succeeds).
pub fn address_of(path: &Path, text: &str) -> Result<Address, HomeError> {
    Ok(parse(path, text)?.address)
}

/// The key in a sealed file, with its passphrase.
pub fn open(path: &Path, text: &str, passphrase: &str) -> Result<Keypair, HomeError> {
    let file = parse(path, text)?;
    let bad = |what: &str| invalid(path, format!("not a valid sealed key file: {what}"));
    if file.kdf.algorithm != "argon2id" {
        return Err(bad("the only key derivation is argon2id"));
    }
    if file.kdf.memory_kib > MAX_MEMORY_KIB
        || file.kdf.iterations > MAX_ITERATIONS
        || file.kdf.parallelism > 16
    {
        return Err(bad(&format!(
            "its argon2 cost is over the bounds ({MAX_MEMORY_KIB} KiB, {MAX_ITERATIONS} passes, 16 lanes)"
        )));
    }
    let mut salt = [0u8; 16];
    hex::decode_to_slice(&file.kdf.salt, &mut salt).map_err(|_| bad("salt"))?;
    let mut nonce = [0u8; 24];
    hex::decode_to_slice(&file.nonce, &mut nonce).map_err(|_| bad("nonce"))?;
    let sealed = hex::decode(&file.ciphertext).map_err(|_| bad("ciphertext"))?;
    let cipher = cipher(passphrase, &file.kdf, &salt).map_err(|e| bad(&e))?;
    let secret = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: &associated_data(&file.address),
            },
        )
        .map_err(|_| {
            invalid(
                path,
                "wrong passphrase (or the file was altered): it does not decrypt",
            )
        })?;
    let secret: [u8; 32] = secret
        .try_into()
        .map_err(|_| bad("the sealed secret is not 32 bytes"))?;
    let key = Keypair::from_secret(secret);
    // Cannot differ when the tag verified, unless the file was made to lie from the start.
    if key.public() != file.address {
        return Err(bad("the secret is not the named address's"));
    }
    Ok(key)
}

fn parse(path: &Path, text: &str) -> Result<SealedFile, HomeError> {
    let file: SealedFile = serde_json::from_str(text)
        .map_err(|e| invalid(path, format!("not a valid sealed key file: {e}")))?;
    if file.lantau_sealed_key != FORMAT {
        return Err(invalid(
            path,
            format!(
                "sealed key format {} (this lantau reads {FORMAT})",
                file.lantau_sealed_key
            ),
        ));
    }
    Ok(file)
}

fn associated_data(address: &Address) -> Vec<u8> {
    [ledger::crypto::domain::SEALED_KEY, address.as_bytes()].concat()
}

fn cipher(passphrase: &str, kdf: &Kdf, salt: &[u8]) -> Result<XChaCha20Poly1305, String> {
    let params = Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(XChaCha20Poly1305::new((&key).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_passphrase_only() {
        let path = Path::new("k.json");
        let key = Keypair::from_seed("sealed");
        let text = seal(&key, "correct horse");
        assert!(is_sealed(&text) && !text.contains(&hex::encode(key.secret_bytes())));
        assert_eq!(address_of(path, &text).unwrap(), key.public());
        let opened = open(path, &text, "correct horse").unwrap();
        assert_eq!(opened.secret_bytes(), key.secret_bytes());
        let wrong = open(path, &text, "correct horsf").unwrap_err().to_string();
        assert!(wrong.contains("wrong passphrase"), "{wrong}");
        // Sealing twice gives different files (fresh salt and nonce) that both open.
        let again = seal(&key, "correct horse");
        assert_ne!(again, text);
        assert!(open(path, &again, "correct horse").is_ok());
    }

    #[test]
    fn an_altered_file_does_not_open() {
        let path = Path::new("k.json");
        let key = Keypair::from_seed("sealed");
        let text = seal(&key, "pw");
        let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Another address in clear: the associated data no longer matches.
        let mut swapped = file.clone();
        swapped["address"] = Keypair::from_seed("other").public().to_string().into();
        let e = open(path, &swapped.to_string(), "pw")
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not decrypt"), "{e}");
        // One flipped ciphertext digit.
        let mut flipped = file.clone();
        let c = flipped["ciphertext"].as_str().unwrap().to_string();
        let first = if c.starts_with('0') { "1" } else { "0" };
        flipped["ciphertext"] = format!("{first}{}", &c[1..]).into();
        assert!(open(path, &flipped.to_string(), "pw").is_err());
        // A cost that would take gigabytes is refused before any work.
        file["kdf"]["memory_kib"] = (8u64 * 1024 * 1024).into();
        let e = open(path, &file.to_string(), "pw").unwrap_err().to_string();
        assert!(e.contains("over the bounds"), "{e}");
    }
}
