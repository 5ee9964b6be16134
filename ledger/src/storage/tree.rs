//! The state tree in RocksDB: its nodes, the account values they commit to (by version, for
//! proofs at recent heights) and the index of nodes each version made stale, which pruning
//! walks to delete what no kept version reaches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};

use super::StorageError;
use crate::crypto::Address;
use crate::encoding::{self, DecodeError, MAX_DECODE_BYTES};
use crate::state_tree::{StateTree, TreeUpdate, account_key};

/// `encode(NodeKey)` -> `encode(Node)`.
pub(super) const CF_TREE_NODES: &str = "state_nodes";
/// `key hash ++ version` (big-endian) -> the account's encoding at that version.
pub(super) const CF_TREE_VALUES: &str = "state_values";
/// `version` -> `encode(Vec<NodeKey>)`: the nodes that version replaced, needed only by
/// versions before it.
pub(super) const CF_TREE_STALE: &str = "state_stale";
/// `version` -> the value keys (`key hash ++ version`, 40 bytes each) of the accounts' values
/// that version replaced, needed only by versions before it. (Values are pruned by this
/// index, not with their leaves: a leaf moved by a split keeps pointing at its older value.)
pub(super) const CF_TREE_STALE_VALUES: &str = "state_stale_values";

fn value_key(key: &KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&key.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families are created at open")
}

fn corrupt(what: String, error: DecodeError) -> StorageError {
    StorageError::Corrupt { what, error }
}

/// Nodes kept per generation of [`NodeCache`]: two generations of leaves and inner nodes
/// (at most ~1 KiB each) stay within ~32 MiB.
const CACHED_NODES: usize = 16 * 1024;

/// Nodes recently written or read, so that each block's update does not read from RocksDB
/// the upper levels the previous block rewrote, nor the leaves of accounts that pay often. A
/// node key names one node for ever (each version is written once), so a cached node is
/// never stale; pruned ones are dropped. Two generations: when the newer fills, the older is
/// forgotten.
#[derive(Default)]
pub(super) struct NodeCache {
    inner: Mutex<(HashMap<NodeKey, Node>, HashMap<NodeKey, Node>)>,
}

impl NodeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<NodeKey, Node>, HashMap<NodeKey, Node>)> {
        // Plain maps of immutable values: a panic elsewhere cannot leave them half-written.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &NodeKey) -> Option<Node> {
        let mut g = self.lock();
        if let Some(node) = g.0.get(key) {
            return Some(node.clone());
        }
        let node = g.1.remove(key)?;
        Self::put(&mut g, key.clone(), node.clone());
        Some(node)
    }

    fn put(g: &mut (HashMap<NodeKey, Node>, HashMap<NodeKey, Node>), key: NodeKey, node: Node) {
        g.0.insert(key, node);
        if g.0.len() >= CACHED_NODES {
            g.1 = std::mem::take(&mut g.0);
        }
    }

    /// A committed update's nodes (call once its batch is written).
    pub(super) fn written(&self, update: &TreeUpdate) {
        let mut g = self.lock();
        for (key, node) in update.0.node_batch.nodes() {
            Self::put(&mut g, key.clone(), node.clone());
        }
    }

    /// Nodes a written batch deleted.
    pub(super) fn pruned(&self, keys: &[NodeKey]) {
        let mut g = self.lock();
        for key in keys {
            g.0.remove(key);
            g.1.remove(key);
        }
    }
}

/// The tree as `jmt` reads it, from the cache or the database. It does not keep the
/// database open: the `Store` owns it, and once that is dropped reads fail.
pub(super) struct StoreTree {
    pub(super) db: Weak<DB>,
    pub(super) cache: Arc<NodeCache>,
}

impl StoreTree {
    fn db(&self) -> anyhow::Result<Arc<DB>> {
        self.db
            .upgrade()
            .ok_or_else(|| anyhow::anyhow!("the database is closed"))
    }
}

impl TreeReader for StoreTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if let Some(node) = self.cache.get(node_key) {
            return Ok(Some(node));
        }
        let key = encoding::encode_serde(node_key);
        let db = self.db()?;
        let Some(bytes) = db.get_pinned_cf(cf(&db, CF_TREE_NODES), key)? else {
            return Ok(None);
        };
        let node = encoding::decode_serde::<Node, MAX_DECODE_BYTES>(&bytes)
            .map_err(|e| corrupt(format!("state tree node {node_key:?}"), e))?;
        Self::put_read(&self.cache, node_key, &node);
        Ok(Some(node))
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let bound = value_key(&key_hash, max_version);
        let mode = IteratorMode::From(&bound, Direction::Reverse);
        let db = self.db()?;
        let found = db.iterator_cf(cf(&db, CF_TREE_VALUES), mode).next();
        match found {
            Some(item) => {
                let (key, value) = item?;
                // An empty value records a deletion (lantau never deletes an account).
                Ok((key.starts_with(&key_hash.0) && !value.is_empty()).then(|| value.to_vec()))
            }
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("lantau's state tree does not support restoring from a snapshot")
    }
}

impl StoreTree {
    fn put_read(cache: &NodeCache, key: &NodeKey, node: &Node) {
        NodeCache::put(&mut cache.lock(), key.clone(), node.clone());
    }
}

impl StateTree for StoreTree {
    /// The commit wrote the update in the block's own batch ([`write_update`]).
    fn applied(&self, _update: &TreeUpdate) {}
}

/// Add one version's nodes, values and stale indexes to the block's batch. `superseded`
/// lists the accounts whose previous value this version replaces, with that value's
/// version.
pub(super) fn write_update(
    db: &DB,
    batch: &mut WriteBatch,
    version: Version,
    update: &TreeUpdate,
    superseded: impl IntoIterator<Item = (Address, Version)>,
) {
    let b = &update.0;
    // In key order, as the commit writes every column family (see `Store::commit_with_ids`):
    // neither the batch's maps nor the encodings of their keys are ordered like the bytes.
    let mut nodes: Vec<(Vec<u8>, &Node)> = b
        .node_batch
        .nodes()
        .iter()
        .map(|(key, node)| (encoding::encode_serde(key), node))
        .collect();
    nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let nodes_cf = cf(db, CF_TREE_NODES);
    for (key, node) in nodes {
        batch.put_cf(nodes_cf, key, encoding::encode_serde(node));
    }
    let mut values: Vec<([u8; 40], &[u8])> = b
        .node_batch
        .values()
        .iter()
        .map(|((v, key), value)| (value_key(key, *v), value.as_deref().unwrap_or_default()))
        .collect();
    values.sort_unstable_by_key(|a| a.0);
    let values_cf = cf(db, CF_TREE_VALUES);
    for (key, value) in values {
        batch.put_cf(values_cf, key, value);
    }
    // Each index is one entry per version (a put per stale node made commits pay for one
    // memtable insert more per node).
    let mut stale: Vec<&NodeKey> = b
        .stale_node_index_batch
        .iter()
        .map(|entry| &entry.node_key)
        .collect();
    // A version that changes nothing copies the parent's root without marking the old one
    // stale; every version's root is replaced by the next one's, so index it here. (Every
    // update holds its version's root, the node with the empty path.)
    let root = b
        .node_batch
        .nodes()
        .keys()
        .find(|k| k.nibble_path().is_empty());
    let parent = root
        .filter(|_| version > 0)
        .map(|root| NodeKey::new(version - 1, root.nibble_path().clone()));
    if let Some(parent) = &parent
        && !stale.contains(&parent)
    {
        stale.push(parent);
    }
    let key = version.to_be_bytes();
    if !stale.is_empty() {
        batch.put_cf(cf(db, CF_TREE_STALE), key, encoding::encode_serde(&stale));
    }
    let superseded: Vec<u8> = superseded
        .into_iter()
        .flat_map(|(address, previous)| value_key(&account_key(&address), previous))
        .collect();
    if !superseded.is_empty() {
        batch.put_cf(cf(db, CF_TREE_STALE_VALUES), key, superseded);
    }
}

/// Add to the batch the deletion of every node and value that only versions before
/// `first_kept` reach: those stale since versions `from..=first_kept` (what is stale since
/// `s` is reached only by versions before `s`). Returns the nodes deleted.
pub(super) fn prune(
    db: &DB,
    batch: &mut WriteBatch,
    from: Version,
    first_kept: Version,
) -> Result<Vec<NodeKey>, StorageError> {
    let (nodes, values) = (cf(db, CF_TREE_NODES), cf(db, CF_TREE_VALUES));
    let mut deleted = Vec::new();
    for (index, what) in [(CF_TREE_STALE, "nodes"), (CF_TREE_STALE_VALUES, "values")] {
        let index = cf(db, index);
        let start = from.to_be_bytes();
        for item in db.iterator_cf(index, IteratorMode::From(&start, Direction::Forward)) {
            let (key, entry) = item?;
            let since = <[u8; 8]>::try_from(key.as_ref()).map_err(|_| {
                corrupt(
                    format!("stale {what} index key"),
                    DecodeError::Malformed(format!("{} bytes, not 8", key.len())),
                )
            })?;
            if u64::from_be_bytes(since) > first_kept {
                break;
            }
            if what == "nodes" {
                let stale: Vec<NodeKey> = encoding::decode_serde::<_, MAX_DECODE_BYTES>(&entry)
                    .map_err(|e| corrupt("stale nodes index entry".into(), e))?;
                for node in stale {
                    batch.delete_cf(nodes, encoding::encode_serde(&node));
                    deleted.push(node);
                }
            } else {
                for value in entry.chunks(40) {
                    batch.delete_cf(values, value);
                }
            }
            batch.delete_cf(index, key);
        }
    }
    Ok(deleted)
}
