//! The authenticated state: a Jellyfish Merkle Tree (the `jmt` crate, Diem's design as
//! Penumbra maintains it) over every account, `SHA-256(address) -> encode(Account)`, one
//! version per height. Its root is each header's `state_root`, so one account's balance and
//! nonce (or its absence) can be proven against a certified header.
//!
//! Every hash in the tree (keys, values, leaves, inner nodes) is SHA-256 under the
//! `lantau/state/v2` domain ([`StateHasher`]). The tree's nodes live behind [`StateTree`]:
//! RocksDB in a node (`storage`), [`MemoryTree`] for the simulator and tests. Executing a block
//! computes the new root and the nodes to write ([`TreeUpdate`]) from the parent version
//! without writing anything; the commit writes them, so a proposal that is never decided
//! leaves no trace.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, SimpleHasher, Version};
use sha2::{Digest, Sha256};

use crate::account::Account;
use crate::crypto::{Address, Hash, domain};
use crate::encoding;

/// SHA-256 with the state tree's domain tag in front of every input.
pub struct StateHasher(Sha256);

impl SimpleHasher for StateHasher {
    fn new() -> Self {
        let mut h = Sha256::new();
        h.update(domain::STATE_TREE);
        Self(h)
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A Merkle path from one account's leaf (or the empty place where it would be) to a root.
pub type AccountPath = jmt::proof::SparseMerkleProof<StateHasher>;

/// Why the tree could not be read or updated: storage trouble, never a transfer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the state tree cannot be read: {0}")]
pub struct StateTreeError(pub String);

impl StateTreeError {
    fn of(e: anyhow::Error) -> Self {
        Self(format!("{e:#}"))
    }
}

/// Where an account sits in the tree.
pub fn account_key(address: &Address) -> KeyHash {
    KeyHash::with::<StateHasher>(address.0)
}

fn account_value(account: &Account) -> OwnedValue {
    encoding::encode(account)
}

/// The nodes (and values) one block's execution adds to the tree, and those it makes stale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUpdate(pub TreeUpdateBatch);

/// Storage of the tree's nodes, read by `jmt` through [`TreeReader`].
pub trait StateTree: TreeReader + Send + Sync {
    /// An execution computed against this tree was applied to the state. A tree whose
    /// updates are written by the block's commit (RocksDB's, in the same atomic batch)
    /// has nothing left to do.
    fn applied(&self, update: &TreeUpdate);
}

/// `jmt` wants a sized reader; this lends it the state's tree.
struct Reader<'a>(&'a dyn StateTree);

impl TreeReader for Reader<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.0.get_node_option(node_key)
    }
    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.0.get_value_option(max_version, key_hash)
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.0.get_rightmost_leaf()
    }
}

/// The root of version `version` after setting `changes` on version `version - 1` (on the
/// empty tree for version 0), and the nodes that make it.
pub fn update(
    tree: &dyn StateTree,
    version: u64,
    changes: &BTreeMap<Address, Account>,
) -> Result<(Hash, TreeUpdate), StateTreeError> {
    let reader = Reader(tree);
    let jmt = JellyfishMerkleTree::<_, StateHasher>::new(&reader);
    let (roots, batch) = if changes.is_empty() {
        // `jmt` would take a missing parent for an empty tree here: make sure it exists.
        if version > 0 {
            root(tree, version - 1)?;
        }
        // The batch insert refuses an empty set; this copies the parent's root to `version`.
        jmt.put_value_sets(vec![Vec::<(KeyHash, Option<OwnedValue>)>::new()], version)
    } else {
        // One pass that builds each touched node once (the per-key insert rebuilds and
        // rehashes a path per account).
        let set = changes
            .iter()
            .map(|(a, acc)| (account_key(a), account_value(acc)))
            .collect();
        jmt.batch_put_value_sets(vec![set], None, version)
    }
    .map_err(StateTreeError::of)?;
    Ok((Hash(roots[0].0), TreeUpdate(batch)))
}

/// The root of `version`.
pub fn root(tree: &dyn StateTree, version: u64) -> Result<Hash, StateTreeError> {
    let reader = Reader(tree);
    JellyfishMerkleTree::<_, StateHasher>::new(&reader)
        .get_root_hash(version)
        .map(|r| Hash(r.0))
        .map_err(StateTreeError::of)
}

/// `address`'s account at `version` (None: no such account) with its path to that
/// version's root.
pub fn prove(
    tree: &dyn StateTree,
    version: u64,
    address: &Address,
) -> Result<(Option<Account>, AccountPath), StateTreeError> {
    let reader = Reader(tree);
    let (value, path) = JellyfishMerkleTree::<_, StateHasher>::new(&reader)
        .get_with_proof(account_key(address), version)
        .map_err(StateTreeError::of)?;
    let account = value
        .map(|v| encoding::decode::<Account>(&v))
        .transpose()
        .map_err(|e| StateTreeError(format!("account {address} in the tree: {e}")))?;
    Ok((account, path))
}

/// Why a path does not prove what it is said to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the state proof does not verify against state root {root}: {reason}")]
pub struct PathError {
    pub root: Hash,
    pub reason: String,
}

/// Check that under `root`, `address` holds `account` (None: has no account).
pub fn verify(
    root: &Hash,
    address: &Address,
    account: Option<&Account>,
    path: &AccountPath,
) -> Result<(), PathError> {
    path.verify(
        jmt::RootHash(root.0),
        account_key(address),
        account.map(account_value),
    )
    .map_err(|e| PathError {
        root: *root,
        reason: e.to_string(),
    })
}

/// Every node and value in memory, all versions kept: the simulator's and tests' tree.
#[derive(Default)]
pub struct MemoryTree {
    inner: RwLock<MemoryNodes>,
}

#[derive(Default)]
struct MemoryNodes {
    nodes: HashMap<NodeKey, Node>,
    /// By key, then version: the newest version at or below a bound is one range away.
    values: BTreeMap<(KeyHash, Version), Option<OwnedValue>>,
}

impl TreeReader for MemoryTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.read().nodes.get(node_key).cloned())
    }
    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .read()
            .values
            .range((key_hash, 0)..=(key_hash, max_version))
            .next_back()
            .and_then(|(_, v)| v.clone()))
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("lantau's state tree does not support restoring from a snapshot")
    }
}

impl StateTree for MemoryTree {
    fn applied(&self, update: &TreeUpdate) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let batch = &update.0.node_batch;
        inner.nodes.extend(
            batch
                .nodes()
                .iter()
                .map(|(key, node)| (key.clone(), node.clone())),
        );
        inner.values.extend(
            batch
                .values()
                .iter()
                .map(|((version, key), value)| ((*key, *version), value.clone())),
        );
    }
}

impl MemoryTree {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryNodes> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    fn addr(i: u32) -> Address {
        Keypair::from_seed(&format!("tree-{i}")).public()
    }

    fn acc(balance: u64, nonce: u64) -> Account {
        Account { balance, nonce }
    }

    fn commit(tree: &MemoryTree, version: u64, changes: &[(Address, Account)]) -> Hash {
        let changes: BTreeMap<Address, Account> = changes.iter().copied().collect();
        let (root, update) = update(tree, version, &changes).unwrap();
        tree.applied(&update);
        root
    }

    /// Present and absent accounts prove at each version, and only their own value does.
    #[test]
    fn accounts_and_absences_prove_at_every_version() {
        let tree = MemoryTree::default();
        let (a, b, c) = (addr(1), addr(2), addr(3));
        let r0 = commit(&tree, 0, &[(a, acc(100, 0))]);
        let r1 = commit(&tree, 1, &[(a, acc(60, 1)), (b, acc(40, 0))]);
        let r2 = commit(&tree, 2, &[]);
        assert_eq!(r1, r2, "an empty block keeps the root");
        assert_ne!(r0, r1);
        for (version, root, expect_a, expect_b) in [
            (0, r0, Some(acc(100, 0)), None),
            (1, r1, Some(acc(60, 1)), Some(acc(40, 0))),
            (2, r2, Some(acc(60, 1)), Some(acc(40, 0))),
        ] {
            assert_eq!(super::root(&tree, version).unwrap(), root);
            for (who, expected) in [(a, expect_a), (b, expect_b), (c, None)] {
                let (got, path) = prove(&tree, version, &who).unwrap();
                assert_eq!(got, expected, "version {version}");
                verify(&root, &who, got.as_ref(), &path).unwrap();
                // Any other value, or claiming absence (or presence), fails.
                let other = Some(acc(got.map_or(1, |g| g.balance + 1), 0));
                assert!(verify(&root, &who, other.as_ref(), &path).is_err());
                if got.is_some() {
                    assert!(verify(&root, &who, None, &path).is_err());
                }
                assert!(verify(&Hash([7; 32]), &who, got.as_ref(), &path).is_err());
            }
        }
    }

    #[test]
    fn the_root_covers_every_account_and_is_order_free() {
        let accounts: Vec<(Address, Account)> =
            (0..50).map(|i| (addr(i), acc(i as u64, 0))).collect();
        let t1 = MemoryTree::default();
        let r = commit(&t1, 0, &accounts);
        let t2 = MemoryTree::default();
        let mut reversed = accounts.clone();
        reversed.reverse();
        assert_eq!(commit(&t2, 0, &reversed), r);
        let t3 = MemoryTree::default();
        let mut changed = accounts.clone();
        changed[17].1.nonce = 1;
        assert_ne!(commit(&t3, 0, &changed), r);
    }

    #[test]
    fn a_missing_version_is_an_error_not_a_panic() {
        let tree = MemoryTree::default();
        commit(&tree, 0, &[(addr(1), acc(1, 0))]);
        assert!(update(&tree, 5, &BTreeMap::new()).is_err());
        let one = [(addr(2), acc(1, 0))].into_iter().collect();
        assert!(update(&tree, 5, &one).is_err());
        assert!(prove(&tree, 9, &addr(1)).is_err());
    }
}
