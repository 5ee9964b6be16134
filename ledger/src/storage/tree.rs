//! The state tree in RocksDB: its nodes, the account values they commit to (by version, for
//! proofs at recent heights) and the index of nodes each version made stale, which pruning
//! walks to delete what no kept version reaches.

use std::sync::{Arc, Weak};

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};

use super::StorageError;
use crate::encoding::{self, DecodeError, MAX_DECODE_BYTES};
use crate::state_tree::{StateTree, TreeUpdate};

/// `encode(NodeKey)` -> `encode(Node)`.
pub(super) const CF_TREE_NODES: &str = "state_nodes";
/// `key hash ++ version` (big-endian) -> the account's encoding at that version.
pub(super) const CF_TREE_VALUES: &str = "state_values";
/// `stale since version ++ encode(NodeKey)` -> nothing: the node is needed only by versions
/// before that one.
pub(super) const CF_TREE_STALE: &str = "state_stale";

fn value_key(key: &KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&key.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

fn stale_key(since: Version, node: &NodeKey) -> Vec<u8> {
    let mut out = since.to_be_bytes().to_vec();
    out.extend(encoding::encode_serde(node));
    out
}

fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families are created at open")
}

fn corrupt(what: String, error: DecodeError) -> StorageError {
    StorageError::Corrupt { what, error }
}

/// The tree as `jmt` reads it, straight from the database. It does not keep the database
/// open: the `Store` owns it, and once that is dropped reads fail.
pub(super) struct StoreTree {
    pub(super) db: Weak<DB>,
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
        let key = encoding::encode_serde(node_key);
        let db = self.db()?;
        match db.get_pinned_cf(cf(&db, CF_TREE_NODES), key)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                encoding::decode_serde::<Node, MAX_DECODE_BYTES>(&bytes)
                    .map_err(|e| corrupt(format!("state tree node {node_key:?}"), e))?,
            )),
        }
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

impl StateTree for StoreTree {
    /// The commit wrote the update in the block's own batch ([`write_update`]).
    fn applied(&self, _update: &TreeUpdate) {}
}

/// Add one version's nodes, values and stale index to the block's batch.
pub(super) fn write_update(db: &DB, batch: &mut WriteBatch, version: Version, update: &TreeUpdate) {
    let (nodes, values, stale) = (
        cf(db, CF_TREE_NODES),
        cf(db, CF_TREE_VALUES),
        cf(db, CF_TREE_STALE),
    );
    let b = &update.0;
    for (key, node) in b.node_batch.nodes() {
        batch.put_cf(
            nodes,
            encoding::encode_serde(key),
            encoding::encode_serde(node),
        );
    }
    for ((v, key), value) in b.node_batch.values() {
        batch.put_cf(
            values,
            value_key(key, *v),
            value.as_deref().unwrap_or_default(),
        );
    }
    for entry in &b.stale_node_index_batch {
        batch.put_cf(
            stale,
            stale_key(entry.stale_since_version, &entry.node_key),
            [],
        );
    }
    // A version that changes nothing copies the parent's root without marking the old one
    // stale; every version's root is replaced by the next one's, so index it here. (Every
    // update holds its version's root, the node with the empty path.)
    let root = b
        .node_batch
        .nodes()
        .keys()
        .find(|k| k.nibble_path().is_empty());
    if let Some(root) = root.filter(|_| version > 0) {
        let parent = NodeKey::new(version - 1, root.nibble_path().clone());
        batch.put_cf(stale, stale_key(version, &parent), []);
    }
}

/// Delete `key`'s values that no version from `first_kept` on reads: all but the newest at or
/// before it. (A leaf's own version is not its value's: a leaf moved by a split keeps an older
/// value.)
fn prune_values(
    db: &DB,
    batch: &mut WriteBatch,
    key: &KeyHash,
    first_kept: Version,
) -> Result<(), StorageError> {
    let values = cf(db, CF_TREE_VALUES);
    let bound = value_key(key, first_kept);
    let mode = IteratorMode::From(&bound, Direction::Reverse);
    for (i, item) in db.iterator_cf(values, mode).enumerate() {
        let (k, _) = item?;
        if !k.starts_with(&key.0) {
            break;
        }
        if i > 0 {
            batch.delete_cf(values, k);
        }
    }
    Ok(())
}

/// Add to the batch the deletion of every node (and leaf value) that only versions before
/// `first_kept` reach: the entries stale since versions `from..=first_kept`.
pub(super) fn prune(
    db: &DB,
    batch: &mut WriteBatch,
    from: Version,
    first_kept: Version,
) -> Result<(), StorageError> {
    let (nodes, stale) = (cf(db, CF_TREE_NODES), cf(db, CF_TREE_STALE));
    let start = from.to_be_bytes();
    for item in db.iterator_cf(stale, IteratorMode::From(&start, Direction::Forward)) {
        let (key, _) = item?;
        let since = u64::from_be_bytes(key[..8].try_into().map_err(|_| {
            corrupt(
                "stale index key".into(),
                DecodeError::Malformed("shorter than 8 bytes".into()),
            )
        })?);
        if since > first_kept {
            break;
        }
        let node_key: NodeKey = encoding::decode_serde::<_, 4096>(&key[8..])
            .map_err(|e| corrupt("stale index key".into(), e))?;
        let encoded = encoding::encode_serde(&node_key);
        if let Some(bytes) = db.get_pinned_cf(nodes, &encoded)?
            && let Node::Leaf(leaf) = encoding::decode_serde::<Node, MAX_DECODE_BYTES>(&bytes)
                .map_err(|e| corrupt(format!("state tree node {node_key:?}"), e))?
        {
            prune_values(db, batch, &leaf.key_hash(), first_kept)?;
        }
        batch.delete_cf(nodes, encoded);
        batch.delete_cf(stale, key);
    }
    Ok(())
}
