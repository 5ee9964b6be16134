//! RocksDB storage: blocks, certificates, the transaction index, account state, metadata and
//! the validator's signing log, one column family each. Committing a block writes everything it changes in one synced
//! `WriteBatch`, so after a crash the database holds exactly the blocks whose commit returned
//! (and possibly the one in flight, whole), never half of one.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bincode::{Decode, Encode};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode, IteratorMode,
    Options, WriteBatch, WriteOptions,
};
use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::crypto::{Address, Hash, PublicKey};
use crate::encoding::{self, DecodeError};
use crate::genesis::Genesis;
use crate::state::{Account, Execution, State};
use crate::state_tree::{self, AccountPath, StateTree};
use crate::vote::CommitCertificate;

mod tree;
use tree::{
    CF_TREE_NODES, CF_TREE_STALE, CF_TREE_STALE_VALUES, CF_TREE_VALUES, NodeCache, StoreTree,
};

/// About what a commit writes per transaction besides the block itself: its index entry, two
/// history entries, two accounts and their tree leaves, and a share of the tree's inner nodes.
const COMMIT_BYTES_PER_TX: usize = 1024;
const CF_BLOCKS: &str = "blocks";
const CF_CERTS: &str = "certificates";
const CF_BLOCK_INDEX: &str = "block_index";
const CF_TXS: &str = "txs";
/// Each account's latest value and the height it last changed at: `encode((Account, u64))`.
const CF_STATE: &str = "state";
const CF_META: &str = "meta";
const CF_SIGNING: &str = "signing";
/// Each account's committed transfers, sent and received: key `address ++ height ++ index`
/// (big-endian, so an account's entries are contiguous and in chain order).
const CF_ACCOUNT_TXS: &str = "account_txs";
const COLUMN_FAMILIES: [&str; 12] = [
    CF_BLOCKS,
    CF_CERTS,
    CF_BLOCK_INDEX,
    CF_TXS,
    CF_STATE,
    CF_META,
    CF_SIGNING,
    CF_ACCOUNT_TXS,
    CF_TREE_NODES,
    CF_TREE_VALUES,
    CF_TREE_STALE,
    CF_TREE_STALE_VALUES,
];

const KEY_SCHEMA: &[u8] = b"schema";
const KEY_GENESIS: &[u8] = b"genesis";
const KEY_TIP: &[u8] = b"tip";
/// The oldest state tree version pruning keeps (nodes reached only by older ones are gone).
const KEY_TREE_FIRST_KEPT: &[u8] = b"tree-first-kept";
/// The height from which every committed transfer is in `account_txs`: 1 (or absent) unless
/// the index was off for a while (`Store::set_account_history`), then one past the last
/// height committed without it.
const KEY_HISTORY_FROM: &[u8] = b"history-from";
/// The first height committed without the history index since it was last complete: where
/// [`Store::fill_history_gap`] starts.
const KEY_HISTORY_GAP_FROM: &[u8] = b"history-gap-from";
/// Heights re-indexed per write while a history gap is filled.
const HISTORY_FILL_HEIGHTS_PER_WRITE: u64 = 64;
/// 2: transaction records carry no receipt (every transfer in a committed block executed).
/// 3: each account's transfers are indexed (`account_txs`), for its history.
/// 4: the state root is the root of a Merkle tree over every account (`state_tree`).
const SCHEMA_VERSION: u32 = 4;

/// Heights whose state stays provable unless the node is configured otherwise.
pub const DEFAULT_STATE_VERSIONS_KEPT: u64 = 1000;

/// The last committed block. At height 0 (nothing committed) `block_hash` is the genesis hash,
/// which block 1 names as its parent: every chain is rooted in its genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Tip {
    pub height: u64,
    pub block_hash: Hash,
    pub state_root: Hash,
}

pub use crate::state::{AccountTx, TxRecord};

/// Most entries one history read returns.
pub const MAX_HISTORY_PAGE: usize = 1000;

fn account_tx_key(address: &Address, height: u64, index: u32) -> [u8; 44] {
    let mut key = [0u8; 44];
    key[..32].copy_from_slice(&address.0);
    key[32..40].copy_from_slice(&height.to_be_bytes());
    key[40..].copy_from_slice(&index.to_be_bytes());
    key
}

fn history_not_indexed(from: Option<u64>) -> String {
    match from {
        None => "this node does not index account history (index_account_history = false in its config.toml): ask a node that does, or turn it on and restart the node (it then indexes the heights it skipped from their blocks)".into(),
        Some(h) => format!("this node indexes account history from height {h} on (the index was off before it): transfers below height {h} are not listed here; ask a node that kept its index on"),
    }
}

/// The height in an `account_tx_key`.
fn key_height(key: &[u8]) -> u64 {
    key.get(32..40)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "cannot open the database at {path}: another lantau process holds its lock ({error}); stop that node first"
    )]
    Locked { path: String, error: rocksdb::Error },
    #[error(
        "the database at {path} is damaged: {error}. lantau refuses to start on it, because recovering only part of it could roll back committed blocks and this validator's signing log (a double-sign risk). Restore the data directory from a backup, or move it away and resync this validator into an empty one"
    )]
    Damaged { path: String, error: rocksdb::Error },
    #[error(
        "{path} holds RocksDB files but its CURRENT file is missing, so the database cannot be opened. It may be a damaged lantau database: do not delete it before checking. Restore CURRENT from a backup, or move the directory away and resync"
    )]
    MissingCurrent { path: String },
    #[error("cannot open the database at {path}: {error}")]
    Open { path: String, error: rocksdb::Error },
    #[error(
        "{path} is not a lantau database (it is non-empty and holds no RocksDB data); point --home at an empty or lantau directory"
    )]
    NotADatabase { path: String },
    #[error(
        "the database at {path} is not a lantau v{SCHEMA_VERSION} database ({detail}); move it away or use another --home"
    )]
    Foreign { path: String, detail: String },
    #[error(
        "the database belongs to another chain (genesis {found}, this genesis is {expected}); use the matching genesis.json or a fresh --home"
    )]
    GenesisMismatch { expected: Hash, found: Hash },
    #[error(
        "database corrupted: {what} ({error}); restore from a backup or resync into a fresh --home"
    )]
    Corrupt { what: String, error: DecodeError },
    #[error("block {got} does not extend the tip: {reason}")]
    OutOfOrder { got: u64, reason: String },
    #[error(
        "block {height} holds transaction {id}, which is already committed{}; a committed record is never overwritten. A certified block that repeats a transaction means the chain's safety assumptions broke: keep this database for inspection",
        .at.map(|h| format!(" at height {h}")).unwrap_or_else(|| " earlier in the same block".into())
    )]
    DuplicateTx {
        height: u64,
        id: Hash,
        at: Option<u64>,
    },
    #[error("{}", history_not_indexed(*from))]
    HistoryNotIndexed {
        /// `None`: this node does not index history at all; `Some(h)`: only from height `h`.
        from: Option<u64>,
    },
    #[error(
        "the state at height {height} is not kept here: this node keeps heights {oldest}..={tip} provable (older ones are pruned: config state_versions_kept); ask for one of those"
    )]
    Pruned { height: u64, oldest: u64, tip: u64 },
    #[error(transparent)]
    StateTree(#[from] state_tree::StateTreeError),
    #[error("database I/O: {0}")]
    Io(#[from] rocksdb::Error),
}

/// Write-ahead log files kept before RocksDB flushes the column families that pin the oldest
/// one. Without a bound, the small `signing` family (which rarely fills a memtable) keeps every
/// WAL alive, and a restart replays hours of block writes.
pub const MAX_TOTAL_WAL_BYTES: u64 = 32 * 1024 * 1024;

pub struct Store {
    /// Shared with the state tree's reader (`tree::StoreTree`), which `State` holds.
    db: Arc<DB>,
    /// Keys of the signing log's live entries, oldest first (see `append_signing_record`).
    signing_keys: std::sync::Mutex<Vec<Vec<u8>>>,
    /// How many of the newest state tree versions commits keep (at least 1).
    versions_kept: AtomicU64,
    /// Whether commits index each account's transfers (`account_txs`).
    account_history: AtomicBool,
    /// The state tree's recent nodes, shared with its reader.
    node_cache: Arc<NodeCache>,
    /// The height each account last changed at: the version of its newest value in the
    /// tree, which its next change supersedes (and pruning later deletes).
    changed_at: std::sync::Mutex<HashMap<Address, u64>>,
}

fn height_key(height: u64) -> [u8; 8] {
    // Big-endian so RocksDB's byte order is height order.
    height.to_be_bytes()
}

impl Store {
    /// Open (or create) the database at `path` for `genesis`, and load the state it holds.
    pub fn open(path: &Path, genesis: &Genesis) -> Result<(Store, State), StorageError> {
        let shown = path.display().to_string();
        let existed = path.exists()
            && std::fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
        if existed && !path.join("CURRENT").exists() {
            if looks_like_rocksdb(path) {
                return Err(StorageError::MissingCurrent { path: shown });
            }
            return Err(StorageError::NotADatabase { path: shown });
        }
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_paranoid_checks(true);
        // A damaged record in the middle of the WAL fails the open instead of silently
        // replaying only up to it (RocksDB's default): that would roll back committed blocks
        // and, worse, signing records, after which the validator could sign twice. Only a
        // torn record at the very end (a write cut short by the crash, never acknowledged) is
        // dropped.
        opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // Compactions run below the node's own threads: they can wait, while the commit in
        // flight holds up the chain (with the sized commit batch below, on 2 cores, one
        // window: e2e p99 at 10k tx/s offered 492 -> 232 ms, at 15k 754 -> 464 ms; README).
        // Flushes keep their priority, so writes never stall behind them.
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        opts.set_env(&env);
        // One writer (the node task): the concurrent memtable insert's atomics buy nothing.
        opts.set_allow_concurrent_memtable_write(false);
        let cfs = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            // Hashes, keys and signatures do not compress: LZ4 on them was ~4% of a loaded
            // validator's CPU (flushes and compactions) for nothing. Blocks keep it (memos).
            if *name != CF_BLOCKS {
                cf.set_compression_type(DBCompressionType::None);
            }
            if *name == CF_TXS {
                // Every commit looks up each of its ids (none may be indexed yet): a filter
                // answers those misses without reading table blocks.
                let mut table = BlockBasedOptions::default();
                table.set_bloom_filter(10.0, false);
                cf.set_block_based_table_factory(&table);
            }
            ColumnFamilyDescriptor::new(*name, cf)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)
            .map_err(|source| open_error(existed, &shown, source))?;
        let store = Store {
            db: Arc::new(db),
            signing_keys: Default::default(),
            versions_kept: AtomicU64::new(DEFAULT_STATE_VERSIONS_KEPT),
            account_history: AtomicBool::new(true),
            node_cache: Arc::default(),
            changed_at: Default::default(),
        };
        let genesis_hash = genesis.hash();
        match store.get_meta::<u32>(KEY_SCHEMA)? {
            // No schema key: either our own genesis write never happened (it is one atomic
            // batch, so then the database is empty) or this is someone else's database.
            None if !store.is_empty() => {
                return Err(StorageError::Foreign {
                    path: shown,
                    detail: "it holds data but no lantau metadata".into(),
                });
            }
            None => store.write_genesis(genesis)?,
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StorageError::Foreign {
                    path: shown,
                    detail: format!("schema version {v}"),
                });
            }
        }
        let found: Hash = store
            .get_meta(KEY_GENESIS)?
            .ok_or_else(|| StorageError::Foreign {
                path: shown.clone(),
                detail: "no genesis hash".into(),
            })?;
        if found != genesis_hash {
            return Err(StorageError::GenesisMismatch {
                expected: genesis_hash,
                found,
            });
        }
        let state = store.load_state()?;
        let keys = store
            .db
            .iterator_cf(store.cf(CF_SIGNING), IteratorMode::Start)
            .map(|item| Ok(item?.0.to_vec()))
            .collect::<Result<Vec<_>, StorageError>>()?;
        *store.signing_keys.lock().expect("signing keys lock") = keys;
        Ok((store, state))
    }

    fn write_genesis(&self, genesis: &Genesis) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        for a in &genesis.accounts {
            let account = Account {
                balance: a.balance,
                nonce: 0,
            };
            batch.put_cf(
                self.cf(CF_STATE),
                a.address.0,
                encoding::encode(&(account, 0u64)),
            );
        }
        let (state_root, update) = State::genesis_update(genesis);
        tree::write_update(&self.db, &mut batch, 0, &update, []);
        let tip = Tip {
            height: 0,
            block_hash: genesis.hash(),
            state_root,
        };
        batch.put_cf(
            self.cf(CF_META),
            KEY_GENESIS,
            encoding::encode(&genesis.hash()),
        );
        batch.put_cf(self.cf(CF_META), KEY_TIP, encoding::encode(&tip));
        // The schema key goes last in the same batch: its presence means genesis is complete.
        batch.put_cf(
            self.cf(CF_META),
            KEY_SCHEMA,
            encoding::encode(&SCHEMA_VERSION),
        );
        self.write_synced(batch)
    }

    fn is_empty(&self) -> bool {
        let default_empty = self.db.iterator(IteratorMode::Start).next().is_none();
        default_empty
            && COLUMN_FAMILIES.iter().all(|cf| {
                self.db
                    .iterator_cf(self.cf(cf), IteratorMode::Start)
                    .next()
                    .is_none()
            })
    }

    fn load_state(&self) -> Result<State, StorageError> {
        let tip = self.tip()?;
        let mut accounts = HashMap::new();
        let mut changed_at = HashMap::new();
        for item in self.db.iterator_cf(self.cf(CF_STATE), IteratorMode::Start) {
            let (key, value) = item?;
            let address =
                PublicKey(key.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                    what: format!("state key of {} bytes", key.len()),
                    error: DecodeError::Malformed("address must be 32 bytes".into()),
                })?);
            let (account, at): (Account, u64) = decode(&value, || format!("account {address}"))?;
            accounts.insert(address, account);
            changed_at.insert(address, at);
        }
        *self.changed_at.lock().unwrap_or_else(|p| p.into_inner()) = changed_at;
        let tree: Arc<dyn StateTree> = Arc::new(StoreTree {
            db: Arc::downgrade(&self.db),
            cache: self.node_cache.clone(),
        });
        // The tree and the tip are written in one batch; disagreeing means damage.
        let root = state_tree::root(tree.as_ref(), tip.height)?;
        if root != tip.state_root {
            return Err(StorageError::Corrupt {
                what: format!("state tree at height {}", tip.height),
                error: DecodeError::Malformed(format!(
                    "its root {root} is not the tip's state root {}",
                    tip.state_root
                )),
            });
        }
        Ok(State::from_parts(
            accounts,
            tip.height,
            tip.state_root,
            tree,
        ))
    }

    /// Keep the newest `n` (at least 1) state tree versions provable; older ones are pruned
    /// as blocks commit.
    pub fn set_state_versions_kept(&self, n: u64) {
        self.versions_kept.store(n.max(1), Ordering::Relaxed);
    }

    /// Index each account's transfers as blocks commit (the default), or not: the index is
    /// the largest of a commit's writes, and a validator that serves no history can skip it.
    /// Heights committed with it off are recorded: once it is back on, history is complete
    /// only from the height after the last of them ([`Self::account_history_from`]) until
    /// [`Self::fill_history_gap`] indexes them from their blocks.
    pub fn set_account_history(&self, on: bool) {
        self.account_history.store(on, Ordering::Relaxed);
    }

    /// The height from which `account_txs` lists every committed transfer; `None` when this
    /// node does not index history.
    pub fn account_history_from(&self) -> Result<Option<u64>, StorageError> {
        if !self.account_history.load(Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(Some(self.get_meta(KEY_HISTORY_FROM)?.unwrap_or(1)))
    }

    /// The oldest height whose state this store can still prove.
    pub fn oldest_provable(&self) -> Result<u64, StorageError> {
        Ok(self.get_meta::<u64>(KEY_TREE_FIRST_KEPT)?.unwrap_or(0))
    }

    /// `address`'s account at `height` (None: it has none) and its path to that height's
    /// state root.
    pub fn prove_account(
        &self,
        height: u64,
        address: &Address,
    ) -> Result<(Option<Account>, AccountPath), StorageError> {
        let tip = self.tip()?.height;
        let oldest = self.oldest_provable()?;
        if height < oldest || height > tip {
            return Err(StorageError::Pruned {
                height,
                oldest,
                tip,
            });
        }
        let tree = StoreTree {
            db: Arc::downgrade(&self.db),
            cache: self.node_cache.clone(),
        };
        Ok(state_tree::prove(&tree, height, address)?)
    }

    pub fn tip(&self) -> Result<Tip, StorageError> {
        self.get_meta(KEY_TIP)?
            .ok_or_else(|| StorageError::Corrupt {
                what: "tip record".into(),
                error: DecodeError::Malformed("missing".into()),
            })
    }

    /// Persist a decided block with its certificate and execution result, durably, in one
    /// atomic write. The block must extend the tip.
    pub fn commit(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
        execution: &Execution,
    ) -> Result<Tip, StorageError> {
        let ids: Vec<Hash> = block.txs.iter().map(crate::tx::SignedTx::hash).collect();
        self.commit_with_ids(block, certificate, execution, &ids)
    }

    /// [`Self::commit`] with the transaction ids already computed (`ids[i]` is
    /// `block.txs[i].hash()`), as validation has them.
    pub fn commit_with_ids(
        &self,
        block: &Block,
        certificate: &CommitCertificate,
        execution: &Execution,
        ids: &[Hash],
    ) -> Result<Tip, StorageError> {
        let tip = self.tip()?;
        let height = block.header.height;
        let hash = block.hash();
        let out_of_order = |reason: String| StorageError::OutOfOrder {
            got: height,
            reason,
        };
        // The caller's ids come from the same block; a mismatch here is a bug upstream, and
        // storing it would index transactions the block does not hold.
        if ids.len() != block.txs.len() {
            return Err(out_of_order(format!(
                "{} transactions but {} ids",
                block.txs.len(),
                ids.len()
            )));
        }
        if Block::compute_tx_root(ids) != block.header.tx_root {
            return Err(out_of_order(
                "the transactions do not match the header's tx root".into(),
            ));
        }
        if height != tip.height + 1 {
            return Err(out_of_order(format!("tip is at height {}", tip.height)));
        }
        if block.header.prev_hash != tip.block_hash {
            return Err(out_of_order(format!(
                "parent {} is not the tip {}",
                block.header.prev_hash, tip.block_hash
            )));
        }
        if execution.height != height || execution.state_root != block.header.state_root {
            return Err(out_of_order(
                "execution result does not belong to this block".into(),
            ));
        }
        if certificate.block_hash != hash || certificate.height != height {
            return Err(out_of_order("certificate is for another block".into()));
        }
        self.check_txs_are_new(height, ids)?;
        let encoded_block = encoding::encode(block);
        // Sized up front: grown by doubling, the batch's buffer was copied over and over (and
        // its fresh pages cleared by the kernel) at every commit.
        let mut batch = WriteBatch::with_capacity_bytes(
            2 * encoded_block.len() + ids.len() * COMMIT_BYTES_PER_TX,
        );
        let key = height_key(height);
        batch.put_cf(self.cf(CF_BLOCKS), key, encoded_block);
        batch.put_cf(self.cf(CF_CERTS), key, encoding::encode(certificate));
        batch.put_cf(self.cf(CF_BLOCK_INDEX), hash.0, key);
        // Each column family's keys go in ascending order: RocksDB's memtable skip list starts
        // each insert from where the previous one landed, so keys in order skip most of the
        // search that random hashes and addresses would make it repeat from the top.
        let mut records: Vec<([u8; 32], Vec<u8>)> = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                let record = TxRecord {
                    height,
                    index: index as u32,
                };
                (id.0, encoding::encode(&record))
            })
            .collect();
        records.sort_unstable_by_key(|a| a.0);
        let txs = self.cf(CF_TXS);
        for (key, record) in records {
            batch.put_cf(txs, key, record);
        }
        if self.account_history.load(Ordering::Relaxed) {
            self.index_history(&mut batch, block, ids);
        } else {
            let meta = self.cf(CF_META);
            if self.get_meta::<u64>(KEY_HISTORY_GAP_FROM)?.is_none() {
                batch.put_cf(meta, KEY_HISTORY_GAP_FROM, encoding::encode(&height));
            }
            batch.put_cf(meta, KEY_HISTORY_FROM, encoding::encode(&(height + 1)));
        }
        // `changes` is a map by address: already in key order.
        let state = self.cf(CF_STATE);
        let mut changed_at = self.changed_at.lock().unwrap_or_else(|p| p.into_inner());
        for (address, account) in &execution.changes {
            batch.put_cf(state, address.0, encoding::encode(&(*account, height)));
        }
        let superseded = execution
            .changes
            .keys()
            .filter_map(|a| changed_at.get(a).map(|previous| (*a, *previous)));
        tree::write_update(
            &self.db,
            &mut batch,
            height,
            &execution.tree_update,
            superseded,
        );
        let first_kept = (height + 1).saturating_sub(self.versions_kept.load(Ordering::Relaxed));
        let pruned_through = self.oldest_provable()?;
        let mut pruned = Vec::new();
        if first_kept > pruned_through {
            pruned = tree::prune(&self.db, &mut batch, pruned_through + 1, first_kept)?;
            batch.put_cf(
                self.cf(CF_META),
                KEY_TREE_FIRST_KEPT,
                encoding::encode(&first_kept),
            );
        }
        let new_tip = Tip {
            height,
            block_hash: hash,
            state_root: execution.state_root,
        };
        batch.put_cf(self.cf(CF_META), KEY_TIP, encoding::encode(&new_tip));
        self.write_synced(batch)?;
        changed_at.extend(execution.changes.keys().map(|a| (*a, height)));
        drop(changed_at);
        self.node_cache.pruned(&pruned);
        self.node_cache.written(&execution.tree_update);
        Ok(new_tip)
    }

    /// With the history index on, index the heights committed while it was off, from the
    /// stored blocks (every block is kept), so the history is whole again. Idempotent: the
    /// entries are the ones the commit would have written, and a crash part-way leaves the
    /// gap recorded, to be filled at the next call. Returns how many heights it indexed.
    pub fn fill_history_gap(&self) -> Result<u64, StorageError> {
        if !self.account_history.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let Some(from) = self.get_meta::<u64>(KEY_HISTORY_FROM)? else {
            return Ok(0);
        };
        let gap_from = self.get_meta::<u64>(KEY_HISTORY_GAP_FROM)?.unwrap_or(1);
        let mut height = gap_from;
        while height < from {
            let mut batch = WriteBatch::default();
            let end = from.min(height + HISTORY_FILL_HEIGHTS_PER_WRITE);
            for h in height..end {
                let block = self.block(h)?.ok_or_else(|| StorageError::Corrupt {
                    what: format!("block {h}, needed to fill the account history index"),
                    error: DecodeError::Malformed("missing".into()),
                })?;
                let ids: Vec<Hash> = block.txs.iter().map(crate::tx::SignedTx::hash).collect();
                self.index_history(&mut batch, &block, &ids);
            }
            self.write_synced(batch)?;
            height = end;
        }
        let mut done = WriteBatch::default();
        done.delete_cf(self.cf(CF_META), KEY_HISTORY_FROM);
        done.delete_cf(self.cf(CF_META), KEY_HISTORY_GAP_FROM);
        self.write_synced(done)?;
        Ok(from - gap_from)
    }

    /// Put each transfer of `block` under both its accounts' history keys, in key order.
    fn index_history(&self, batch: &mut WriteBatch, block: &Block, ids: &[Hash]) {
        let height = block.header.height;
        let mut history: Vec<([u8; 44], AccountTx)> = Vec::with_capacity(2 * ids.len());
        for (index, (tx, id)) in block.txs.iter().zip(ids).enumerate() {
            let t = &tx.transfer;
            let index = index as u32;
            let entry = |sent, counterparty| AccountTx {
                height,
                index,
                hash: *id,
                sent,
                counterparty,
                amount: t.amount,
                nonce: t.nonce,
            };
            history.push((account_tx_key(&t.from, height, index), entry(true, t.to)));
            history.push((account_tx_key(&t.to, height, index), entry(false, t.from)));
        }
        history.sort_unstable_by_key(|a| a.0);
        let history_cf = self.cf(CF_ACCOUNT_TXS);
        for (key, entry) in &history {
            batch.put_cf(history_cf, key, encoding::encode(entry));
        }
    }

    /// Durably append one entry of the validator's signing log (consensus records, opaque
    /// here) before the message it describes is sent. Entries are ordered by `(height,
    /// position)`; appending at a height drops the entries of earlier heights, so the log
    /// holds the current height's entries, or the last entry of an earlier height.
    ///
    /// Pruning deletes the few live keys of earlier heights one by one, in the same synced
    /// batch. (A range delete per record, as before, left one range tombstone per signature
    /// that every later read and every restart had to replay.)
    pub fn append_signing_record(
        &self,
        height: u64,
        position: &[u8],
        record: &[u8],
    ) -> Result<(), StorageError> {
        let cf = self.cf(CF_SIGNING);
        let mut key = height_key(height).to_vec();
        key.extend_from_slice(position);
        let mut keys = self.signing_keys.lock().expect("signing keys lock");
        let earlier = keys
            .iter()
            .take_while(|k| k.as_slice() < height_key(height).as_slice())
            .count();
        let mut batch = WriteBatch::default();
        for old in &keys[..earlier] {
            batch.delete_cf(cf, old);
        }
        batch.put_cf(cf, &key, record);
        self.write_synced(batch)?;
        keys.drain(..earlier);
        if let Err(at) = keys.binary_search(&key) {
            keys.insert(at, key);
        }
        Ok(())
    }

    /// The signing log, oldest entry first.
    pub fn signing_log(&self) -> Result<Vec<Vec<u8>>, StorageError> {
        self.db
            .iterator_cf(self.cf(CF_SIGNING), IteratorMode::Start)
            .map(|item| Ok(item?.1.to_vec()))
            .collect()
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        self.get(CF_BLOCKS, &height_key(height), || format!("block {height}"))
    }

    /// Bytes held in memtables across column families (what a restart replayed from the WAL
    /// sits here until flushed).
    pub fn memtable_bytes(&self) -> u64 {
        COLUMN_FAMILIES
            .iter()
            .filter_map(|cf| {
                self.db
                    .property_int_value_cf(self.cf(cf), "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()
            })
            .sum()
    }

    /// A stored block and the size of its encoding (what sending it costs).
    pub fn block_sized(&self, height: u64) -> Result<Option<(Block, usize)>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BLOCKS), height_key(height))?
        {
            None => Ok(None),
            Some(bytes) => Ok(Some((
                decode(&bytes, || format!("block {height}"))?,
                bytes.len(),
            ))),
        }
    }

    /// A stored block's header, without decoding its transactions (a block's encoding
    /// starts with its header).
    pub fn header(&self, height: u64) -> Result<Option<crate::BlockHeader>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BLOCKS), height_key(height))?
        {
            None => Ok(None),
            Some(bytes) => {
                encoding::decode_prefix(&bytes)
                    .map(Some)
                    .map_err(|error| StorageError::Corrupt {
                        what: format!("block {height}'s header"),
                        error,
                    })
            }
        }
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StorageError> {
        self.get(CF_CERTS, &height_key(height), || {
            format!("certificate {height}")
        })
    }

    pub fn height_of_block(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        match self.db.get_cf(self.cf(CF_BLOCK_INDEX), hash.0)? {
            None => Ok(None),
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(b) => Ok(Some(u64::from_be_bytes(b))),
                Err(_) => Err(StorageError::Corrupt {
                    what: format!("block index entry for {hash}"),
                    error: DecodeError::Malformed(format!("{} bytes, expected 8", v.len())),
                }),
            },
        }
    }

    /// Execution already refuses a replay (its nonce is used); this keeps the index from
    /// ever overwriting a record even if that rule broke.
    fn check_txs_are_new(&self, height: u64, ids: &[Hash]) -> Result<(), StorageError> {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        if let Some(id) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(StorageError::DuplicateTx {
                height,
                id: *id,
                at: None,
            });
        }
        let txs = self.cf(CF_TXS);
        let found = self
            .db
            .batched_multi_get_cf(txs, ids.iter().map(|id| &id.0[..]), false);
        for (id, found) in ids.iter().zip(found) {
            if let Some(bytes) = found? {
                let record: TxRecord = decode(&bytes, || format!("transaction record {id}"))?;
                return Err(StorageError::DuplicateTx {
                    height,
                    id: *id,
                    at: Some(record.height),
                });
            }
        }
        Ok(())
    }

    pub fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, StorageError> {
        self.get(CF_TXS, &hash.0, || format!("transaction record {hash}"))
    }

    /// `address`'s committed transfers, newest first: at most `limit` (capped at
    /// [`MAX_HISTORY_PAGE`]) from before `before` (a height; `None`: from the tip).
    pub fn account_txs(
        &self,
        address: &Address,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AccountTx>, StorageError> {
        let Some(from) = self.account_history_from()? else {
            return Err(StorageError::HistoryNotIndexed { from: None });
        };
        // Below `from` the index has a gap: listing what happens to be there would pass a
        // partial history off as a whole one.
        if from > 1 && before.is_some_and(|h| h <= from) {
            return Err(StorageError::HistoryNotIndexed { from: Some(from) });
        }
        let limit = limit.min(MAX_HISTORY_PAGE);
        let upper = match before {
            Some(h) => account_tx_key(address, h, 0),
            None => account_tx_key(address, u64::MAX, u32::MAX),
        };
        let mut out = Vec::new();
        let start = IteratorMode::From(&upper, rocksdb::Direction::Reverse);
        for item in self.db.iterator_cf(self.cf(CF_ACCOUNT_TXS), start) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item?;
            if !key.starts_with(&address.0) || key_height(&key) < from {
                break;
            }
            // `From` in reverse starts at the bound itself when it exists.
            if key.as_ref() == upper.as_slice() {
                continue;
            }
            out.push(decode(&value, || format!("history entry of {address}"))?);
        }
        Ok(out)
    }

    pub fn account(&self, address: &Address) -> Result<Option<Account>, StorageError> {
        let stored: Option<(Account, u64)> =
            self.get(CF_STATE, &address.0, || format!("account {address}"))?;
        Ok(stored.map(|(account, _)| account))
    }

    fn get<T: Decode<()>>(
        &self,
        cf: &str,
        key: &[u8],
        what: impl FnOnce() -> String,
    ) -> Result<Option<T>, StorageError> {
        match self.db.get_pinned_cf(self.cf(cf), key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes, what).map(Some),
        }
    }

    fn get_meta<T: Decode<()>>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.get(CF_META, key, || {
            format!("metadata {:?}", String::from_utf8_lossy(key))
        })
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }
}

/// Whether a directory holds files RocksDB writes (a database that lost its CURRENT file).
fn looks_like_rocksdb(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("MANIFEST-")
                || name.starts_with("OPTIONS-")
                || name.ends_with(".sst")
                || name.ends_with(".log")
                || name == "IDENTITY"
        })
    })
}

/// Tell the operator which of the ways an open fails this is: someone holds the lock, the
/// files are damaged, the database is another program's, or something else (disk, rights).
fn open_error(existed: bool, path: &str, error: rocksdb::Error) -> StorageError {
    let text = error.to_string();
    let path = path.to_string();
    if text.contains("lock hold by current process")
        || text.contains("While lock file")
        || text.contains("Resource temporarily unavailable")
    {
        StorageError::Locked { path, error }
    } else if text.contains("Corruption") {
        StorageError::Damaged { path, error }
    } else if existed && text.contains("olumn famil") {
        StorageError::Foreign { path, detail: text }
    } else {
        StorageError::Open { path, error }
    }
}

fn decode<T: Decode<()>>(bytes: &[u8], what: impl FnOnce() -> String) -> Result<T, StorageError> {
    encoding::decode(bytes).map_err(|error| StorageError::Corrupt {
        what: what(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::block;
    use crate::crypto::Keypair;
    use crate::genesis::tests::genesis;
    use crate::state::ChainRules;
    use crate::tx::tests::transfer;
    use crate::vote::tests::{certificate, keys};

    fn commit_next(store: &Store, state: &mut State, txs: Vec<crate::tx::SignedTx>) -> Block {
        let tip = store.tip().unwrap();
        let exec = state
            .execute(&ChainRules::open("test-chain"), &txs)
            .unwrap();
        let mut b = block(tip.height + 1, tip.block_hash, txs);
        b.header.state_root = exec.state_root;
        let cert = certificate(&keys(4), &[0, 1, 2], b.header.height, b.hash());
        store.commit(&b, &cert, &exec).unwrap();
        state.apply(&exec);
        b
    }

    #[test]
    fn commit_reopen_restores_exactly_the_last_block() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100), ("bob", 0)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let (store, mut state) = Store::open(dir.path(), &g).unwrap();
        assert_eq!(state, State::from_genesis(&g));
        assert_eq!(store.tip().unwrap().block_hash, g.hash());

        let b1 = commit_next(
            &store,
            &mut state,
            vec![transfer(&alice, bob.public(), 30, 0)],
        );
        let b2 = commit_next(
            &store,
            &mut state,
            vec![transfer(&alice, bob.public(), 50, 1)],
        );
        drop(store);

        let (store, reopened) = Store::open(dir.path(), &g).unwrap();
        assert_eq!(reopened, state);
        assert_eq!(reopened.account(&bob.public()).balance, 80);
        let tip = store.tip().unwrap();
        assert_eq!((tip.height, tip.block_hash), (2, b2.hash()));
        assert_eq!(store.block(1).unwrap().unwrap(), b1);
        assert_eq!(store.height_of_block(&b2.hash()).unwrap(), Some(2));
        assert_eq!(store.certificate(2).unwrap().unwrap().block_hash, b2.hash());
        let rec = store.tx(&b2.txs[0].hash()).unwrap().unwrap();
        assert_eq!(
            rec,
            TxRecord {
                height: 2,
                index: 0
            }
        );
        assert!(store.block(3).unwrap().is_none());
    }

    #[test]
    fn with_the_history_index_off_commits_skip_it_and_the_gap_is_refused_until_filled_from_blocks()
    {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100), ("bob", 10)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let history_keys = |store: &Store| -> Vec<u64> {
            store
                .db
                .iterator_cf(store.cf(CF_ACCOUNT_TXS), IteratorMode::Start)
                .map(|item| key_height(&item.unwrap().0))
                .collect()
        };
        {
            let (store, mut state) = Store::open(dir.path(), &g).unwrap();
            assert_eq!(store.account_history_from().unwrap(), Some(1));
            commit_next(
                &store,
                &mut state,
                vec![transfer(&alice, bob.public(), 1, 0)],
            );
            store.set_account_history(false);
            commit_next(
                &store,
                &mut state,
                vec![transfer(&alice, bob.public(), 2, 1)],
            );
            assert_eq!(history_keys(&store), vec![1, 1], "height 2 left no entry");
            assert_eq!(store.account_history_from().unwrap(), None);
            let off = store.account_txs(&alice.public(), None, 10).unwrap_err();
            assert!(
                matches!(off, StorageError::HistoryNotIndexed { from: None }),
                "{off}"
            );
            assert!(off.to_string().contains("index_account_history"), "{off}");
        }
        // Back on (the default) after a restart: complete from height 3 only, until filled.
        let (store, mut state) = Store::open(dir.path(), &g).unwrap();
        assert_eq!(store.account_history_from().unwrap(), Some(3));
        let b3 = commit_next(
            &store,
            &mut state,
            vec![transfer(&bob, alice.public(), 3, 0)],
        );
        let listed = store.account_txs(&alice.public(), None, 10).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|e| (e.height, e.hash))
                .collect::<Vec<_>>(),
            vec![(3, b3.txs[0].hash())],
            "height 1's entries sit below the gap and are not passed off as the whole history"
        );
        for before in [3, 2] {
            let gap = store
                .account_txs(&alice.public(), Some(before), 10)
                .unwrap_err();
            assert!(
                matches!(gap, StorageError::HistoryNotIndexed { from: Some(3) }),
                "{gap}"
            );
        }
        assert_eq!(
            store.account_txs(&alice.public(), Some(4), 10).unwrap(),
            listed
        );
        // Filled from the stored blocks: whole again, as if the index had never been off.
        assert_eq!(store.fill_history_gap().unwrap(), 1);
        assert_eq!(store.account_history_from().unwrap(), Some(1));
        assert_eq!(history_keys(&store), vec![1, 2, 3, 1, 2, 3]);
        let whole = store.account_txs(&alice.public(), None, 10).unwrap();
        assert_eq!(
            whole
                .iter()
                .map(|e| (e.height, e.sent, e.amount))
                .collect::<Vec<_>>(),
            vec![(3, false, 3), (2, true, 2), (1, true, 1)]
        );
        assert_eq!(store.fill_history_gap().unwrap(), 0, "nothing left to fill");
    }

    #[test]
    fn an_accounts_history_lists_what_it_sent_and_received_newest_first_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100), ("bob", 10), ("carol", 0)]);
        let (alice, bob, carol) = (
            Keypair::from_seed("alice"),
            Keypair::from_seed("bob"),
            Keypair::from_seed("carol"),
        );
        let (store, mut state) = Store::open(dir.path(), &g).unwrap();
        let b1 = commit_next(
            &store,
            &mut state,
            vec![
                transfer(&alice, bob.public(), 30, 0),
                transfer(&alice, carol.public(), 5, 1),
            ],
        );
        let b2 = commit_next(
            &store,
            &mut state,
            vec![transfer(&bob, alice.public(), 7, 0)],
        );
        commit_next(
            &store,
            &mut state,
            vec![transfer(&carol, bob.public(), 1, 0)],
        );
        let alice_history = store.account_txs(&alice.public(), None, 10).unwrap();
        let seen: Vec<_> = alice_history
            .iter()
            .map(|e| (e.height, e.index, e.sent, e.counterparty, e.amount))
            .collect();
        assert_eq!(
            seen,
            vec![
                (2, 0, false, bob.public(), 7),
                (1, 1, true, carol.public(), 5),
                (1, 0, true, bob.public(), 30),
            ]
        );
        assert_eq!(alice_history[0].hash, b2.txs[0].hash());
        assert_eq!(alice_history[2].hash, b1.txs[0].hash());
        assert_eq!(alice_history[1].nonce, 1);
        // Pages: the newest one, then everything before its height.
        assert_eq!(
            store.account_txs(&alice.public(), None, 1).unwrap().len(),
            1
        );
        let older = store.account_txs(&alice.public(), Some(2), 10).unwrap();
        assert_eq!(older, alice_history[1..].to_vec());
        assert!(
            store
                .account_txs(&alice.public(), Some(1), 10)
                .unwrap()
                .is_empty()
        );
        // Bob's and carol's histories hold their own entries only.
        assert_eq!(store.account_txs(&bob.public(), None, 10).unwrap().len(), 3);
        assert_eq!(
            store.account_txs(&carol.public(), None, 10).unwrap().len(),
            2
        );
        let nobody = Keypair::from_seed("nobody").public();
        assert!(store.account_txs(&nobody, None, 10).unwrap().is_empty());
    }

    #[test]
    fn out_of_order_commits_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100)]);
        let (store, state) = Store::open(dir.path(), &g).unwrap();
        let exec = state.execute(&ChainRules::open("test-chain"), &[]).unwrap();
        let mut b = block(2, g.hash(), vec![]);
        b.header.state_root = exec.state_root;
        let cert = certificate(&keys(4), &[0, 1, 2], 2, b.hash());
        assert!(matches!(
            store.commit(&b, &cert, &exec),
            Err(StorageError::OutOfOrder { .. })
        ));
        let b = block(1, Hash::ZERO, vec![]);
        assert!(matches!(
            store.commit(&b, &cert, &exec),
            Err(StorageError::OutOfOrder { .. })
        ));
        assert_eq!(store.tip().unwrap().height, 0);
    }

    #[test]
    fn ids_that_do_not_match_the_block_are_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100)]);
        let alice = Keypair::from_seed("alice");
        let (store, state) = Store::open(dir.path(), &g).unwrap();
        let txs = vec![transfer(&alice, Keypair::from_seed("bob").public(), 1, 0)];
        let exec = state
            .execute(&ChainRules::open("test-chain"), &txs)
            .unwrap();
        let mut b = block(1, g.hash(), txs);
        b.header.state_root = exec.state_root;
        let cert = certificate(&keys(4), &[0, 1, 2], 1, b.hash());
        let other = transfer(&alice, alice.public(), 2, 0).hash();
        for ids in [vec![], vec![other], vec![other, other]] {
            assert!(matches!(
                store.commit_with_ids(&b, &cert, &exec, &ids),
                Err(StorageError::OutOfOrder { .. })
            ));
        }
        assert_eq!(store.tip().unwrap().height, 0);
        assert!(store.tx(&other).unwrap().is_none(), "nothing indexed");
    }

    /// Execution refuses a replay by its nonce; storage refuses it again by its id, so a
    /// committed record is never overwritten even if a certified block repeats one.
    #[test]
    fn a_committed_transaction_is_never_indexed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100), ("bob", 0)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let (store, mut state) = Store::open(dir.path(), &g).unwrap();
        let x = transfer(&alice, bob.public(), 30, 0);
        commit_next(&store, &mut state, vec![x.clone()]);
        let empty = state.execute(&ChainRules::open("test-chain"), &[]).unwrap();
        let tip = store.tip().unwrap();
        let y = transfer(&alice, bob.public(), 1, 1);
        for (txs, at) in [
            (vec![x.clone()], Some(1)),
            (vec![y.clone(), y.clone()], None),
        ] {
            let mut b = block(2, tip.block_hash, txs.clone());
            b.header.state_root = empty.state_root;
            let cert = certificate(&keys(4), &[0, 1, 2], 2, b.hash());
            match store.commit(&b, &cert, &empty) {
                Err(StorageError::DuplicateTx {
                    height: 2,
                    id,
                    at: a,
                }) => {
                    assert_eq!((id, a), (txs[0].hash(), at));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(store.tip().unwrap(), tip);
        assert_eq!(
            store.tx(&x.hash()).unwrap(),
            Some(TxRecord {
                height: 1,
                index: 0
            })
        );
        assert_eq!(store.tx(&y.hash()).unwrap(), None);
    }

    #[test]
    fn foreign_and_corrupt_databases_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[("alice", 100)]);
        drop(Store::open(dir.path(), &g).unwrap());
        let other = genesis(4, &[("alice", 101)]);
        assert!(matches!(
            Store::open(dir.path(), &other),
            Err(StorageError::GenesisMismatch { .. })
        ));

        // A directory of unrelated files.
        let junk = tempfile::tempdir().unwrap();
        std::fs::write(junk.path().join("notes.txt"), "hello").unwrap();
        assert!(matches!(
            Store::open(junk.path(), &g),
            Err(StorageError::NotADatabase { .. })
        ));

        // A RocksDB database that is not ours (default column family only, other data).
        let foreign = tempfile::tempdir().unwrap();
        {
            let mut o = Options::default();
            o.create_if_missing(true);
            let db = DB::open(&o, foreign.path()).unwrap();
            db.put(b"k", b"v").unwrap();
        }
        let err = Store::open(foreign.path(), &g)
            .err()
            .expect("foreign db must not open");
        assert!(matches!(err, StorageError::Foreign { .. }), "{err}");

        // Corrupt a stored account: reopening reports corruption instead of panicking.
        {
            let (store, _) = Store::open(dir.path(), &g).unwrap();
            let alice = Keypair::from_seed("alice").public();
            store
                .db
                .put_cf(store.cf(CF_STATE), alice.0, [1, 2, 3])
                .unwrap();
        }
        let err = Store::open(dir.path(), &g)
            .err()
            .expect("corrupt db must not open");
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("account"), "{err}");
    }

    #[test]
    fn signing_log_survives_reopen_and_keeps_only_the_current_height() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[]);
        {
            let (store, _) = Store::open(dir.path(), &g).unwrap();
            store
                .append_signing_record(1, &[0, 0, 0, 0, 1], b"h1 prevote")
                .unwrap();
            store
                .append_signing_record(1, &[0, 0, 0, 0, 2], b"h1 precommit")
                .unwrap();
            assert_eq!(
                store.signing_log().unwrap(),
                vec![b"h1 prevote".to_vec(), b"h1 precommit".to_vec()]
            );
            store
                .append_signing_record(2, &[0, 0, 0, 0, 1], b"h2 prevote")
                .unwrap();
        }
        let (store, _) = Store::open(dir.path(), &g).unwrap();
        assert_eq!(store.signing_log().unwrap(), vec![b"h2 prevote".to_vec()]);
    }

    /// A directory on tmpfs where there is one: these tests write hundreds of megabytes with a
    /// sync per write, which on a real disk would take minutes and test nothing more.
    fn scratch_dir() -> tempfile::TempDir {
        match std::path::Path::new("/dev/shm") {
            shm if shm.is_dir() => tempfile::tempdir_in(shm).unwrap(),
            _ => tempfile::tempdir().unwrap(),
        }
    }

    fn wal_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    }

    /// Commit `heights` blocks, each with the validator's three signing records, the way a
    /// long-running validator does. Storage does not execute: each block carries the same
    /// transfers with the memo made unique (new ids, unsigned) and an empty block's
    /// execution, since what matters is the bytes written.
    fn run_heights(store: &Store, state: &mut State, heights: u64, txs: &[crate::tx::SignedTx]) {
        let signers = keys(4);
        for _ in 0..heights {
            let tip = store.tip().unwrap();
            let h = tip.height + 1;
            for step in 0u8..3 {
                store
                    .append_signing_record(h, &[0, 0, 0, 0, step], &[step; 300])
                    .unwrap();
            }
            let exec = state.execute(&ChainRules::open("test-chain"), &[]).unwrap();
            let txs: Vec<_> = txs
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    let head = t.transfer.memo.len().min(8);
                    t.transfer.memo.splice(..head, h.to_le_bytes());
                    t
                })
                .collect();
            let mut b = block(h, tip.block_hash, txs);
            b.header.state_root = exec.state_root;
            let cert = certificate(&signers, &[0, 1, 2], h, b.hash());
            store.commit(&b, &cert, &exec).unwrap();
            state.apply(&exec);
        }
    }

    #[test]
    fn a_long_history_keeps_the_wal_and_the_signing_log_small() {
        let dir = scratch_dir();
        let g = genesis(4, &[("alice", 1_000)]);
        let alice = Keypair::from_seed("alice");
        let txs: Vec<_> = (0..40)
            .map(|n| {
                let mut t = transfer(&alice, alice.public(), 1, n);
                t.transfer.memo = vec![7; 200];
                t.transfer.clone().sign(&alice)
            })
            .collect();
        let heights = 12_000;
        {
            let (store, mut state) = Store::open(dir.path(), &g).unwrap();
            run_heights(&store, &mut state, heights, &txs);
            // ~12 KB per height, ~140 MB in all: the WAL holds only the last stretch of it,
            // because the signing family no longer pins every log file.
            let wal = wal_bytes(dir.path());
            assert!(
                wal <= 2 * MAX_TOTAL_WAL_BYTES,
                "{wal} bytes of WAL after {heights} heights"
            );
        }
        let (store, _) = Store::open(dir.path(), &g).unwrap();
        assert_eq!(store.tip().unwrap().height, heights);
        assert_eq!(
            store.signing_log().unwrap(),
            vec![vec![0; 300], vec![1; 300], vec![2; 300]],
            "only the last height's records survive pruning"
        );
        let live = store
            .db
            .iterator_cf(store.cf(CF_SIGNING), IteratorMode::Start)
            .count();
        assert_eq!(live, 3);
    }

    #[test]
    fn a_damaged_wal_is_refused_not_silently_rolled_back() {
        let dir = scratch_dir();
        let g = genesis(4, &[("alice", 1_000)]);
        let alice = Keypair::from_seed("alice");
        let txs = vec![transfer(&alice, alice.public(), 1, 0)];
        {
            let (store, mut state) = Store::open(dir.path(), &g).unwrap();
            run_heights(&store, &mut state, 200, &txs);
        }
        // Flip 32 bytes in the middle of the write-ahead log, as a bad disk would.
        let wal = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max_by_key(|p| p.metadata().unwrap().len())
            .expect("a WAL file");
        let mut bytes = std::fs::read(&wal).unwrap();
        assert!(bytes.len() > 100_000, "{} bytes of WAL", bytes.len());
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 32] {
            *b ^= 0xa5;
        }
        std::fs::write(&wal, bytes).unwrap();

        let err = Store::open(dir.path(), &g)
            .err()
            .expect("a damaged WAL must not open");
        assert!(matches!(err, StorageError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("signing log"), "{err}");
    }

    #[test]
    fn a_database_that_lost_its_current_file_is_called_damaged_not_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[]);
        drop(Store::open(dir.path(), &g).unwrap());
        std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
        let err = Store::open(dir.path(), &g).err().expect("must not open");
        assert!(matches!(err, StorageError::MissingCurrent { .. }), "{err}");
        assert!(err.to_string().contains("do not delete"), "{err}");
        assert!(!err.to_string().contains("another lantau process"), "{err}");
    }

    #[test]
    fn second_open_of_a_live_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(4, &[]);
        let _first = Store::open(dir.path(), &g).unwrap();
        let err = Store::open(dir.path(), &g)
            .err()
            .expect("lock must be held");
        assert!(matches!(err, StorageError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another lantau process"), "{err}");
    }

    fn count(store: &Store, cf: &str) -> usize {
        store
            .db
            .iterator_cf(store.cf(cf), IteratorMode::Start)
            .count()
    }

    /// The newest heights prove every account (and every absence) against the roots their
    /// headers carried, before and after a restart; older ones are refused by name, and
    /// what only they reached is deleted.
    #[test]
    fn recent_heights_stay_provable_after_pruning_and_a_restart() {
        let dir = scratch_dir();
        let g = genesis(4, &[("alice", 1_000_000), ("bob", 0), ("carol", 5)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let stranger = Keypair::from_seed("stranger").public();
        let (store, mut state) = Store::open(dir.path(), &g).unwrap();
        store.set_state_versions_kept(10);
        let mut roots = vec![store.tip().unwrap().state_root];
        for n in 0..1_000u64 {
            let b = commit_next(
                &store,
                &mut state,
                vec![transfer(&alice, bob.public(), 1, n)],
            );
            roots.push(b.header.state_root);
        }
        let unpruned_nodes = count(&store, CF_TREE_NODES);
        drop(store);
        let (store, reopened) = Store::open(dir.path(), &g).unwrap();
        store.set_state_versions_kept(10);
        assert_eq!(reopened, state);
        assert_eq!(store.oldest_provable().unwrap(), 991);
        for h in 991..=1000u64 {
            let root = roots[h as usize];
            let (bob_then, path) = store.prove_account(h, &bob.public()).unwrap();
            assert_eq!(
                bob_then,
                Some(Account {
                    balance: h,
                    nonce: 0
                })
            );
            state_tree::verify(&root, &bob.public(), bob_then.as_ref(), &path).unwrap();
            let (none, path) = store.prove_account(h, &stranger).unwrap();
            assert_eq!(none, None);
            state_tree::verify(&root, &stranger, None, &path).unwrap();
            // Carol's leaf was last written at genesis: its value must survive pruning.
            let (carol, path) = store
                .prove_account(h, &Keypair::from_seed("carol").public())
                .unwrap();
            assert_eq!(carol.map(|c| c.balance), Some(5));
            state_tree::verify(
                &root,
                &Keypair::from_seed("carol").public(),
                carol.as_ref(),
                &path,
            )
            .unwrap();
        }
        for h in [0, 990, 1001] {
            assert!(
                matches!(
                    store.prove_account(h, &bob.public()),
                    Err(StorageError::Pruned {
                        oldest: 991,
                        tip: 1000,
                        ..
                    })
                ),
                "height {h}"
            );
        }
        // Three accounts: a handful of nodes per kept version, not per height ever.
        let (nodes, values) = (count(&store, CF_TREE_NODES), count(&store, CF_TREE_VALUES));
        assert!(
            nodes <= 80,
            "{nodes} nodes kept (before the restart: {unpruned_nodes})"
        );
        assert!(values <= 30, "{values} values kept");
        let mut state = reopened;
        commit_next(
            &store,
            &mut state,
            vec![transfer(&alice, bob.public(), 1, 1_000)],
        );
        assert_eq!(store.oldest_provable().unwrap(), 992);
    }
}
