//! The genesis of a consortium, made without anyone's secret leaving its host.
//!
//! Each member writes its validator and node keys on its own host ([`make_entry`]) and shares
//! only a signed [`SignedEntry`]: its public key, peer id, p2p address, power and name, signed
//! by both keys over `lantau/genesis-entry/v1 || encode(entry)`, so no one can put a key or a
//! peer id it does not hold into the set. One command assembles the genesis from the entries
//! ([`assemble`]) and prints its hash for every member to compare; `lantau start` refuses a
//! genesis that does not name the home's own keys. `lantau testnet init` builds its homes the
//! same way (one entry per home).

use std::collections::HashSet;
use std::path::Path;

use ledger::crypto::domain;
use ledger::{Address, Genesis, Keypair, P2pEndpoint, Permissions, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::home::{self, HomeError};

/// What a member declares about its validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub moniker: String,
    pub public_key: PublicKey,
    pub peer_id: String,
    /// Where the other validators dial it (a libp2p multiaddr).
    pub p2p_address: String,
    pub power: u64,
}

/// An entry with the proof that its author holds both keys it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEntry {
    #[serde(flatten)]
    pub entry: Entry,
    /// By the validator key.
    pub validator_signature: Signature,
    /// By the node key (whose public key the peer id carries).
    pub node_signature: Signature,
}

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("the entry of {moniker:?} does not verify ({what}); ask its member for a fresh one")]
    BadEntry { moniker: String, what: &'static str },
    #[error("two entries share {what} {value}; each validator needs its own")]
    Duplicate { what: &'static str, value: String },
    #[error("{0}")]
    Usage(String),
    #[error("the assembled genesis is invalid: {0}")]
    Genesis(#[from] ledger::genesis::GenesisError),
}

fn signed_bytes(e: &Entry) -> Vec<u8> {
    ledger::encoding::encode(&(
        &e.moniker,
        &e.public_key,
        &e.peer_id,
        &e.p2p_address,
        e.power,
    ))
}

/// Write fresh validator and node keys into `home` (owner-only, never overwritten) and the
/// member's signed entry for them.
pub fn make_entry(
    home: &Path,
    moniker: &str,
    p2p_address: &str,
    power: u64,
) -> Result<SignedEntry, CeremonyError> {
    if moniker.is_empty() || power == 0 {
        return Err(CeremonyError::Usage(
            "an entry needs a moniker and a power of at least 1".into(),
        ));
    }
    home::generate_keys(home)?;
    let validator = Keypair::from_secret(home::read_secret(&home.join("validator_key"))?);
    let node_secret = home::read_secret(&home.join("node_key"))?;
    let entry = Entry {
        moniker: moniker.into(),
        public_key: validator.public(),
        peer_id: home::peer_id_of(node_secret),
        p2p_address: p2p_address.into(),
        power,
    };
    let bytes = signed_bytes(&entry);
    Ok(SignedEntry {
        validator_signature: validator.sign(domain::GENESIS_ENTRY, &bytes),
        node_signature: Keypair::from_secret(node_secret).sign(domain::GENESIS_ENTRY, &bytes),
        entry,
    })
}

impl SignedEntry {
    /// Both signatures hold over the entry as written.
    pub fn verify(&self) -> Result<(), CeremonyError> {
        let bad = |what| CeremonyError::BadEntry {
            moniker: self.entry.moniker.clone(),
            what,
        };
        let bytes = signed_bytes(&self.entry);
        self.entry
            .public_key
            .verify(domain::GENESIS_ENTRY, &bytes, &self.validator_signature)
            .map_err(|_| bad("the validator key's signature"))?;
        home::public_key_of_peer_id(&self.entry.peer_id)
            .ok_or_else(|| bad("the peer id is not an ed25519 libp2p peer id"))?
            .verify(domain::GENESIS_ENTRY, &bytes, &self.node_signature)
            .map_err(|_| bad("the node key's signature"))?;
        Ok(())
    }
}

/// A genesis for `chain_id` whose validators are the entries, in order, each checked, and
/// which funds `accounts`. Permissions, if any, are the caller's ([`permissions`]).
pub fn assemble(
    chain_id: &str,
    entries: &[SignedEntry],
    accounts: &[(Address, u64)],
) -> Result<Genesis, CeremonyError> {
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    for e in entries {
        e.verify()?;
        let e = &e.entry;
        for (what, value) in [
            ("the validator key", e.public_key.to_string()),
            ("the peer id", e.peer_id.clone()),
            ("the p2p address", e.p2p_address.clone()),
            ("the moniker", e.moniker.clone()),
        ] {
            if !seen.insert((what, value.clone())) {
                return Err(CeremonyError::Duplicate { what, value });
            }
        }
    }
    let keys: Vec<PublicKey> = entries.iter().map(|e| e.entry.public_key).collect();
    let mut genesis = Genesis::with_validators(chain_id, &keys, accounts);
    for (v, e) in genesis.validators.iter_mut().zip(entries) {
        v.name = e.entry.moniker.clone();
        v.power = e.entry.power;
        v.p2p = Some(P2pEndpoint {
            peer_id: e.entry.peer_id.clone(),
            address: e.entry.p2p_address.clone(),
        });
    }
    genesis.validate()?;
    Ok(genesis)
}

/// The permissions of a chain run by others than its users: only `senders` send; accounts in
/// `receive_only` exist and receive; with `open_receiving` a transfer opens an account.
/// Refuses a chain on which no transfer could ever succeed.
pub fn permissions(
    senders: &[(Address, u64)],
    receive_only: &[(Address, u64)],
    open_receiving: bool,
) -> Result<Permissions, CeremonyError> {
    let usage = |m: String| Err(CeremonyError::Usage(m));
    if senders.is_empty() {
        return usage(
            "a permissioned chain funds only the accounts you name: add --account ADDRESS:BALANCE (repeatable)".into(),
        );
    }
    let named: HashSet<Address> = senders.iter().map(|(a, _)| *a).collect();
    if let Some((a, _)) = receive_only.iter().find(|(a, _)| named.contains(a)) {
        return usage(format!(
            "{a} is both an --account (a sender) and --receive-only; name it once"
        ));
    }
    // A sender can pay only another account: with one sender that needs somewhere to send.
    if named.len() == 1 && receive_only.is_empty() && !open_receiving {
        return usage(
            "with one --account and no other account, no transfer can succeed (it may not pay itself, and this chain opens no accounts): add --receive-only ADDRESS for each payee, another --account, or --open-receiving".into(),
        );
    }
    Ok(Permissions {
        senders: senders.iter().map(|(a, _)| *a).collect(),
        open_receiving,
    })
}

/// Refuse to run a home whose genesis does not name its own validator key, or names it with
/// another peer id: its key or its genesis is not the one agreed on.
pub fn check_names_home(
    genesis: &Genesis,
    validator: &PublicKey,
    peer_id: &str,
) -> Result<(), String> {
    let Some(v) = genesis
        .validators
        .iter()
        .find(|v| v.public_key == *validator)
    else {
        return Err(format!(
            "genesis.json does not name this home's validator key {validator}: this is not the genesis its members agreed on, or not this validator's home (compare its hash with `lantau genesis hash`)"
        ));
    };
    match &v.p2p {
        Some(p) if p.peer_id != peer_id => Err(format!(
            "genesis.json gives validator {} the peer id {}, but this home's node key is {peer_id}",
            v.name, p.peer_id
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_separate_homes_assemble_and_a_forged_one_is_refused() {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let entries: Vec<SignedEntry> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                make_entry(
                    d.path(),
                    &format!("bank{i}"),
                    &format!("/ip4/10.0.0.{i}/tcp/26656"),
                    1,
                )
                .unwrap()
            })
            .collect();
        for e in &entries {
            e.verify().unwrap();
            let json = serde_json::to_string(e).unwrap();
            assert_eq!(&serde_json::from_str::<SignedEntry>(&json).unwrap(), e);
        }
        let treasury = Keypair::from_seed("treasury").public();
        let genesis = assemble("consortium", &entries, &[(treasury, 100)]).unwrap();
        assert_eq!(genesis.validators.len(), 4);
        assert_eq!(genesis.validators[2].name, "bank2");
        let peer = &entries[1].entry.peer_id;
        assert!(check_names_home(&genesis, &entries[1].entry.public_key, peer).is_ok());
        let stranger = Keypair::from_seed("stranger").public();
        assert!(check_names_home(&genesis, &stranger, peer).is_err());
        assert!(check_names_home(&genesis, &entries[1].entry.public_key, "other").is_err());

        // A member's entry altered by someone else (a higher power, another address, another
        // member's peer id) no longer verifies.
        let mut more_power = entries[0].clone();
        more_power.entry.power = 100;
        let mut moved = entries[0].clone();
        moved.entry.p2p_address = "/ip4/6.6.6.6/tcp/26656".into();
        let mut stolen_peer = entries[0].clone();
        stolen_peer.entry.peer_id = entries[1].entry.peer_id.clone();
        for forged in [more_power, moved, stolen_peer] {
            let mut set = entries.clone();
            set[0] = forged;
            assert!(matches!(
                assemble("consortium", &set, &[]),
                Err(CeremonyError::BadEntry { .. })
            ));
        }
        let mut twice = entries.clone();
        twice[3] = entries[0].clone();
        assert!(matches!(
            assemble("consortium", &twice, &[]),
            Err(CeremonyError::Duplicate { .. })
        ));
    }
}
