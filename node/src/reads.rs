//! The read side of a node: everything the API and block sync serving read, reachable from
//! any task without going through the node task. RocksDB reads go to the store (shared, and
//! safe to read while the node task commits: a commit is one atomic write batch); the status
//! and recent commits are published by the node task as they change.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::storage::{StorageError, Store, TxRecord};
use ledger::{Account, Address, Block, CommitCertificate, Hash, Validator};
use tokio::sync::{broadcast, watch};

use crate::commit_log::{CommitInfo, CommitLog};
use interface::http::NodeStatus as Status;
use interface::http::{AccountProofView, TxProofView};
use ledger::encoding;
use ledger::merkle::merkle_path;

/// Commit notifications kept for slow listeners; one that falls further behind re-reads the
/// store instead.
const COMMIT_EVENTS: usize = 64;

/// A cheap-to-clone handle on the read side.
#[derive(Clone)]
pub struct Reads {
    store: Arc<Store>,
    validators: Arc<[Validator]>,
    status: watch::Receiver<Status>,
    commits: Arc<Mutex<CommitLog>>,
    committed: broadcast::Sender<Arc<CommitInfo>>,
}

/// The node task's end: what it publishes for [`Reads`].
pub(crate) struct Publisher {
    pub status: watch::Sender<Status>,
    commits: Arc<Mutex<CommitLog>>,
    committed: broadcast::Sender<Arc<CommitInfo>>,
}

pub(crate) fn channel(
    store: Arc<Store>,
    validators: Vec<Validator>,
    status: Status,
) -> (Publisher, Reads) {
    let (status, status_rx) = watch::channel(status);
    let commits = Arc::new(Mutex::new(CommitLog::default()));
    let (committed, _) = broadcast::channel(COMMIT_EVENTS);
    let reads = Reads {
        store,
        validators: validators.into(),
        status: status_rx,
        commits: commits.clone(),
        committed: committed.clone(),
    };
    (
        Publisher {
            status,
            commits,
            committed,
        },
        reads,
    )
}

impl Publisher {
    /// A block was durably committed (call after the store write).
    pub fn committed(&self, info: CommitInfo) {
        let info = Arc::new(info);
        lock(&self.commits).push(CommitInfo::clone(&info));
        // No listener is fine.
        let _ = self.committed.send(info);
    }
}

fn lock(log: &Mutex<CommitLog>) -> std::sync::MutexGuard<'_, CommitLog> {
    // The log is a plain ring of values; a panic elsewhere cannot leave it half-written.
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Reads {
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Resolves with the reason once the validator halts (fail-stop); never, while it runs.
    pub async fn halted(&self) -> String {
        let mut rx = self.status.clone();
        let reason = rx
            .wait_for(|s| s.halted.is_some())
            .await
            .map(|status| status.halted.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }

    /// Committed blocks as they happen (see [`COMMIT_EVENTS`] for how far one may lag).
    pub fn subscribe_commits(&self) -> broadcast::Receiver<Arc<CommitInfo>> {
        self.committed.subscribe()
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn commits(&self, from: u64) -> Vec<CommitInfo> {
        lock(&self.commits).since(from)
    }

    pub fn account(&self, address: &Address) -> Result<Account, StorageError> {
        Ok(self.account_if_any(address)?.unwrap_or_default())
    }

    /// The account, or `None` if it does not exist.
    pub fn account_if_any(&self, address: &Address) -> Result<Option<Account>, StorageError> {
        self.store.account(address)
    }

    pub fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, StorageError> {
        self.store.tx(hash)
    }

    /// A committed block with its certificate; `None` height means the latest.
    pub fn block(
        &self,
        height: Option<u64>,
    ) -> Result<Option<(Block, CommitCertificate)>, StorageError> {
        let h = match height {
            Some(h) => h,
            None => self.store.tip()?.height,
        };
        Ok(match (self.store.block(h)?, self.store.certificate(h)?) {
            (Some(b), Some(c)) => Some((b, c)),
            _ => None,
        })
    }

    /// `address`'s account at `height` (None: the tip) with the header, certificate and
    /// state proof that let a light client check it.
    pub fn account_proof(
        &self,
        address: &Address,
        height: Option<u64>,
    ) -> Result<AccountProofView, StorageError> {
        let tip = self.store.tip()?.height;
        let height = height.unwrap_or(tip);
        // Height 0 has no header or certificate: the genesis file is its proof.
        let (header, certificate) = match (
            (height > 0)
                .then(|| self.store.header(height))
                .transpose()?
                .flatten(),
            (height > 0)
                .then(|| self.store.certificate(height))
                .transpose()?
                .flatten(),
        ) {
            (Some(h), Some(c)) => (h, c),
            _ => {
                return Err(StorageError::Pruned {
                    height,
                    oldest: self.store.oldest_provable()?.max(1),
                    tip,
                });
            }
        };
        let (account, path) = self.store.prove_account(height, address)?;
        Ok(AccountProofView {
            address: *address,
            height,
            account,
            header: hex::encode(encoding::encode(&header)),
            certificate: hex::encode(encoding::encode(&certificate)),
            proof: hex::encode(ledger::light::encode_account_path(&path)),
        })
    }

    /// A committed transaction with its block's header and certificate and its Merkle path
    /// to the header's `tx_root` (None: not committed here).
    pub fn tx_proof(&self, hash: &Hash) -> Result<Option<TxProofView>, StorageError> {
        let Some(record) = self.store.tx(hash)? else {
            return Ok(None);
        };
        let (Some(block), Some(certificate)) = (
            self.store.block(record.height)?,
            self.store.certificate(record.height)?,
        ) else {
            return Ok(None);
        };
        let ids = block.tx_hashes();
        let index = record.index as usize;
        let (Some(tx), Some(path)) = (block.txs.get(index), merkle_path(&ids, index)) else {
            return Err(StorageError::Corrupt {
                what: format!("the index entry of {hash}"),
                error: encoding::DecodeError::Malformed(format!(
                    "it names transaction {index} of block {}, which has {}",
                    record.height,
                    ids.len()
                )),
            });
        };
        Ok(Some(TxProofView {
            hash: *hash,
            height: record.height,
            index: record.index,
            tx: hex::encode(tx.encode()),
            header: hex::encode(encoding::encode(&block.header)),
            certificate: hex::encode(encoding::encode(&certificate)),
            path: hex::encode(encoding::encode(&path)),
        }))
    }

    /// Wait up to `wait` for `hash` to be committed, woken by each commit.
    pub async fn wait_for_tx(
        &self,
        hash: Hash,
        wait: Duration,
    ) -> Result<Option<TxRecord>, StorageError> {
        // Subscribe before the first look, so a commit between the two is not missed.
        let mut commits = self.committed.subscribe();
        if let Some(record) = self.tx(&hash)? {
            return Ok(Some(record));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, commits.recv()).await {
                Err(_) => return Ok(None),
                Ok(Ok(info)) if !info.txs.contains(&hash) => continue,
                // In this block, or we fell behind the notifications: read the store.
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    if let Some(record) = self.tx(&hash)? {
                        return Ok(Some(record));
                    }
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(None),
            }
        }
    }
}
