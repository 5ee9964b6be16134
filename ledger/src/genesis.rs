//! The genesis file: chain id, validators and the initial allocation.

use std::collections::HashSet;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{Address, Hash, PublicKey, domain, sha256};
use crate::encoding;
use crate::tx::MAX_CHAIN_ID_BYTES;
use crate::validators::{Validator, ValidatorSet, ValidatorSetError};

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Human-readable name, for logs and status output.
    pub name: String,
    pub public_key: PublicKey,
    #[serde(default = "one")]
    pub power: u64,
    /// Where the other validators reach this one. Part of the chain's identity: only these
    /// peer ids may connect. A node can override an address in its config.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<P2pEndpoint>,
}

/// A validator's libp2p identity and address, as text (the ledger does not link libp2p; the
/// node parses them).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pEndpoint {
    pub peer_id: String,
    pub address: String,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    pub genesis_time_ms: u64,
    pub validators: Vec<GenesisValidator>,
    pub accounts: Vec<GenesisAccount>,
    /// Account permissioning; absent: anyone with funds may send to anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
}

/// Who may use a permissioned payments chain (Besu's account permissioning is the model):
/// only listed accounts send, and unless `open_receiving`, only accounts that exist receive.
/// Nodes refuse other transfers at admission, and validators refuse blocks that hold one.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Accounts allowed to send.
    pub senders: Vec<Address>,
    /// Whether a transfer to an address with no account opens one.
    #[serde(default)]
    pub open_receiving: bool,
}

/// Why a transfer breaks the chain's account permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("account {0} is not permitted to send on this chain (genesis permissions.senders)")]
    Sender(Address),
    #[error("account {0} does not exist and this chain opens no accounts by transfer")]
    Recipient(Address),
}

impl Permissions {
    /// Check one transfer; `exists` says whether an address has an account.
    pub fn check(
        &self,
        from: &Address,
        to: &Address,
        exists: impl Fn(&Address) -> bool,
    ) -> Result<(), PermissionError> {
        if !self.senders.contains(from) {
            return Err(PermissionError::Sender(*from));
        }
        if !self.open_receiving && !exists(to) {
            return Err(PermissionError::Recipient(*to));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis chain id must be 1 to {MAX_CHAIN_ID_BYTES} bytes, got {0}")]
    BadChainId(usize),
    #[error("genesis validators: {0}")]
    Validators(#[from] ValidatorSetError),
    #[error("genesis account {0} appears twice")]
    DuplicateAccount(Address),
    #[error("genesis balances add up to more than u64::MAX")]
    SupplyOverflow,
    #[error("genesis JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Genesis {
    /// A genesis with `validators` of power 1 (named `validator-<i>`) and the given balances.
    pub fn with_validators(
        chain_id: &str,
        validators: &[PublicKey],
        accounts: &[(Address, u64)],
    ) -> Self {
        Self {
            chain_id: chain_id.into(),
            genesis_time_ms: 0,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisValidator {
                    name: format!("validator-{i}"),
                    public_key: *k,
                    power: 1,
                    p2p: None,
                })
                .collect(),
            accounts: accounts
                .iter()
                .map(|(address, balance)| GenesisAccount {
                    address: *address,
                    balance: *balance,
                })
                .collect(),
            permissions: None,
        }
    }

    pub fn from_json(json: &str) -> Result<Self, GenesisError> {
        let g: Genesis = serde_json::from_str(json)?;
        g.validate()?;
        Ok(g)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serialises")
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.is_empty() || self.chain_id.len() > MAX_CHAIN_ID_BYTES {
            return Err(GenesisError::BadChainId(self.chain_id.len()));
        }
        self.validator_set()?;
        let mut seen = HashSet::new();
        let mut supply: u64 = 0;
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            supply = supply
                .checked_add(a.balance)
                .ok_or(GenesisError::SupplyOverflow)?;
        }
        Ok(())
    }

    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::new(
            self.validators
                .iter()
                .map(|v| Validator {
                    public_key: v.public_key,
                    power: v.power,
                })
                .collect(),
        )
    }

    /// Identifies the chain: a database or peer with another genesis hash is foreign. A
    /// genesis without permissions hashes as it did before they existed.
    pub fn hash(&self) -> Hash {
        let base = (
            &self.chain_id,
            self.genesis_time_ms,
            &self.validators,
            &self.accounts,
        );
        match &self.permissions {
            None => sha256(&[domain::GENESIS, &encoding::encode(&base)]),
            Some(p) => sha256(&[
                domain::GENESIS,
                &encoding::encode(&base),
                &encoding::encode(p),
            ]),
        }
    }

    pub fn total_supply(&self) -> u64 {
        self.accounts.iter().map(|a| a.balance).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::Keypair;

    pub fn genesis(validators: usize, accounts: &[(&str, u64)]) -> Genesis {
        Genesis {
            chain_id: "test-chain".into(),
            genesis_time_ms: 0,
            validators: (0..validators)
                .map(|i| GenesisValidator {
                    name: format!("v{i}"),
                    public_key: Keypair::from_seed(&format!("validator-{i}")).public(),
                    power: 1,
                    p2p: None,
                })
                .collect(),
            accounts: accounts
                .iter()
                .map(|(seed, balance)| GenesisAccount {
                    address: Keypair::from_seed(seed).public(),
                    balance: *balance,
                })
                .collect(),
            permissions: None,
        }
    }

    #[test]
    fn json_round_trip_and_validation() {
        let g = genesis(4, &[("alice", 100), ("bob", 5)]);
        let back = Genesis::from_json(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.hash(), g.hash());
        assert_eq!(g.total_supply(), 105);

        let dup = genesis(4, &[("alice", 1), ("alice", 2)]);
        assert!(matches!(
            dup.validate(),
            Err(GenesisError::DuplicateAccount(_))
        ));
        let overflow = genesis(4, &[("alice", u64::MAX), ("bob", 1)]);
        assert!(matches!(
            overflow.validate(),
            Err(GenesisError::SupplyOverflow)
        ));
        let empty = genesis(0, &[]);
        assert!(matches!(empty.validate(), Err(GenesisError::Validators(_))));
        assert!(matches!(
            Genesis::from_json("{\"chain_id\": 3}"),
            Err(GenesisError::Json(_))
        ));
    }

    #[test]
    fn permissions_say_who_sends_and_who_receives() {
        let alice = Keypair::from_seed("alice").public();
        let bob = Keypair::from_seed("bob").public();
        let stranger = Keypair::from_seed("stranger").public();
        let closed = Permissions {
            senders: vec![alice],
            open_receiving: false,
        };
        let exists = |a: &Address| *a == alice || *a == bob;
        assert_eq!(closed.check(&alice, &bob, exists), Ok(()));
        assert_eq!(
            closed.check(&bob, &alice, exists),
            Err(PermissionError::Sender(bob))
        );
        assert_eq!(
            closed.check(&alice, &stranger, exists),
            Err(PermissionError::Recipient(stranger))
        );
        let open = Permissions {
            open_receiving: true,
            ..closed
        };
        assert_eq!(open.check(&alice, &stranger, exists), Ok(()));

        // A genesis without permissions keeps its hash; with them it is another chain, and
        // they survive JSON.
        let mut g = genesis(4, &[("alice", 100)]);
        let before = g.hash();
        assert_eq!(
            before,
            sha256(&[
                domain::GENESIS,
                &encoding::encode(&(&g.chain_id, g.genesis_time_ms, &g.validators, &g.accounts))
            ])
        );
        g.permissions = Some(open);
        assert_ne!(g.hash(), before);
        let back = Genesis::from_json(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert!(!genesis(4, &[]).to_json().contains("permissions"));
    }
}
