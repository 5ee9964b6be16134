//! A home's key files: the validator's signing key and the node's libp2p identity, written
//! owner-only and never overwritten.

use std::fs;
use std::io::Write;
use std::path::Path;

use ledger::Keypair;

use super::{HomeError, invalid, io};

/// Write `contents` readable by the owner only (keys).
fn write_secret(path: &Path, contents: &str) -> Result<(), HomeError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(contents.as_bytes()).map_err(io(path))
}

/// The 32-byte secret in a key file (hex).
pub fn read_secret(path: &Path) -> Result<[u8; 32], HomeError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| invalid(path, "expected 64 hex characters"))?;
    Ok(out)
}

/// Save an account or validator key: the hex of its 32-byte secret, owner-only (0600).
/// Refuses to overwrite an existing file.
pub fn write_key_file(path: &Path, key: &Keypair) -> Result<(), HomeError> {
    write_secret_file(path, &format!("{}\n", hex::encode(key.secret_bytes())))
}

/// Write a new owner-only (0600) file, and its folder if missing; refuses to overwrite.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<(), HomeError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    write_secret(path, contents).map_err(|e| match e {
        HomeError::Io { error, .. } if error.kind() == std::io::ErrorKind::AlreadyExists => {
            HomeError::Exists(path.to_path_buf())
        }
        e => e,
    })
}

/// Load a key written by [`write_key_file`] (or a home's `validator_key`).
pub fn read_key_file(path: &Path) -> Result<Keypair, HomeError> {
    Ok(Keypair::from_secret(read_secret(path)?))
}

/// The libp2p peer id of the node key `secret`, as libp2p writes it: base58 of the identity
/// multihash of the protobuf-encoded ed25519 public key. Computed here so tools that write
/// homes need not link libp2p; the node checks it against libp2p's own answer (`node::home`).
pub fn peer_id_of(secret: [u8; 32]) -> String {
    let public = Keypair::from_secret(secret).public();
    let mut bytes = ED25519_PEER_ID_PREFIX.to_vec();
    bytes.extend_from_slice(public.as_bytes());
    bs58::encode(bytes).into_string()
}

/// The ed25519 public key a peer id of [`peer_id_of`]'s form carries; `None` for any other.
pub fn public_key_of_peer_id(peer_id: &str) -> Option<ledger::PublicKey> {
    let bytes = bs58::decode(peer_id).into_vec().ok()?;
    let key: [u8; 32] = bytes
        .strip_prefix(&ED25519_PEER_ID_PREFIX)?
        .try_into()
        .ok()?;
    Some(ledger::PublicKey(key))
}

/// multihash: identity (0x00), 36 bytes; protobuf: field 1 = KeyType Ed25519 (1), field 2 =
/// 32 bytes of key.
const ED25519_PEER_ID_PREFIX: [u8; 6] = [0x00, 36, 0x08, 0x01, 0x12, 32];

/// The keys of a new validator home, written with owner-only permissions.
pub struct NewKeys {
    pub validator: ledger::PublicKey,
    pub peer_id: String,
}

/// Write fresh `validator_key` and `node_key` files into `home` (created if missing).
pub fn generate_keys(home: &Path) -> Result<NewKeys, HomeError> {
    fs::create_dir_all(home).map_err(io(home))?;
    let validator = Keypair::generate();
    let node_secret: [u8; 32] = Keypair::generate().secret_bytes();
    write_secret(
        &home.join("validator_key"),
        &hex::encode(validator.secret_bytes()),
    )?;
    write_secret(&home.join("node_key"), &hex::encode(node_secret))?;
    Ok(NewKeys {
        validator: validator.public(),
        peer_id: peer_id_of(node_secret),
    })
}
