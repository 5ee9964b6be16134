//! The application side of a validator: mempool, block building, block validation and
//! commit. Consensus decides *which* block; this decides what a block may contain and
//! persists it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use consensus::SignRecord;
use ledger::merkle::merkle_root;
use ledger::storage::{StorageError, Store, Tip};
use ledger::verify::{Admitted, TxVerifier};
use ledger::{
    Account, Address, Block, BlockError, BlockExecError, BlockHeader, ChainRules,
    CommitCertificate, ExecuteError, Execution, Genesis, Hash, PublicKey, SignedTx, State, TxError,
};

use crate::mempool::{CommitRate, Mempool, MempoolLimits};
use crate::refusal::Refusal;
use crate::signing_log;

/// Limits of one validator's application.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub max_block_txs: usize,
    /// Bound on the encoded size of a proposed block's transactions; kept well under the
    /// gossip message limit, since a proposal carries its block.
    pub max_block_bytes: usize,
    pub mempool_max_txs: usize,
    /// Bound on the encoded size of everything in the mempool.
    pub mempool_max_bytes: usize,
    pub verify_threads: usize,
    /// Blocks a transfer may wait for an earlier nonce of its sender before it is dropped.
    pub mempool_gap_ttl_blocks: u64,
    /// With an empty mempool, the proposer waits up to this long (ms after the last commit)
    /// for a transaction before proposing an empty block: an idle chain makes few blocks,
    /// a busy one loses nothing. Must stay below the propose timeout; 0 = no wait.
    pub empty_block_wait_ms: u64,
    /// Most mempool transactions one sender may have waiting.
    pub mempool_max_per_sender: usize,
    /// Admit only what the chain commits within this long at its recent rate (at least one
    /// block's worth); 0 = count and byte bounds only.
    pub mempool_max_drain_ms: u64,
    /// Heights whose state stays provable (older tree versions are pruned).
    pub state_versions_kept: u64,
    /// Index each account's transfers as blocks commit.
    pub index_account_history: bool,
}

impl AppConfig {
    fn mempool_limits(&self) -> MempoolLimits {
        MempoolLimits {
            mempool_max_txs: self.mempool_max_txs,
            mempool_max_bytes: self.mempool_max_bytes,
            mempool_max_per_sender: self.mempool_max_per_sender,
            mempool_gap_ttl_blocks: self.mempool_gap_ttl_blocks,
        }
    }
}

impl Default for AppConfig {
    /// `config.toml`'s defaults (one source), but no wait for a first transaction.
    fn default() -> Self {
        let c = interface::home::NodeConfig::default();
        Self {
            max_block_txs: c.max_block_txs,
            max_block_bytes: c.max_block_bytes,
            mempool_max_txs: c.mempool_max_txs,
            mempool_max_bytes: c.mempool_max_bytes,
            verify_threads: c.verify_threads,
            mempool_gap_ttl_blocks: c.mempool_gap_ttl_blocks,
            empty_block_wait_ms: 0,
            mempool_max_per_sender: c.mempool_max_per_sender,
            mempool_max_drain_ms: c.mempool_max_drain_ms,
            state_versions_kept: c.state_versions_kept,
            index_account_history: c.index_account_history,
        }
    }
}

/// Why a proposed block is invalid (counted by reason, never voted for).
#[derive(Debug, thiserror::Error)]
pub enum InvalidBlock {
    #[error("structure: {0}")]
    Structure(#[from] BlockError),
    #[error("a transaction's signature does not verify")]
    Signature,
    #[error(transparent)]
    Execution(#[from] BlockExecError),
    #[error("its state root {claimed} is not the {computed} its execution gives")]
    StateRoot { claimed: Hash, computed: Hash },
}

impl InvalidBlock {
    /// Label for the refusal counter.
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidBlock::Structure(_) => "invalid_block_structure",
            InvalidBlock::Signature => "invalid_block_signature",
            InvalidBlock::Execution(_) => "invalid_block_execution",
            InvalidBlock::StateRoot { .. } => "invalid_block_state_root",
        }
    }
}

/// What stops a validator (fail-stop): it cannot keep a promise about its own state.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "decided block {height} cannot execute ({error}): a certificate for an invalid block means more than a third of the voting power is faulty, so this validator stops rather than guess"
    )]
    DecidedBlockInexecutable { height: u64, error: BlockExecError },
}

pub struct Application {
    /// The chain id and account permissions every transfer must satisfy.
    rules: ChainRules,
    config: AppConfig,
    /// Shared with the read side (API, sync serving), which never waits for this task.
    store: Arc<Store>,
    state: State,
    verifier: Arc<TxVerifier>,
    mempool: Mempool,
    /// Results of executing blocks we validated or built, with their transaction ids, by
    /// block hash, so a decided block is neither executed nor hashed twice.
    executions: HashMap<Hash, (Execution, Vec<Hash>)>,
    /// The recent commit rate, which bounds admission by drain time.
    commit_rate: CommitRate,
}

impl Application {
    pub fn open(dir: &Path, genesis: &Genesis, config: AppConfig) -> Result<Self, StorageError> {
        let (store, state) = Store::open(dir, genesis)?;
        store.set_state_versions_kept(config.state_versions_kept);
        store.set_account_history(config.index_account_history);
        let filled = store.fill_history_gap()?;
        if filled > 0 {
            tracing::info!(
                heights = filled,
                "indexed the account history of heights committed while index_account_history was off"
            );
        }
        Ok(Self {
            rules: ChainRules::of(genesis),
            verifier: Arc::new(TxVerifier::new(
                genesis.chain_id.clone(),
                config.verify_threads,
                1 << 20,
            )),
            mempool: Mempool::new(config.mempool_limits()),
            commit_rate: CommitRate::default(),
            config,
            store: Arc::new(store),
            state,
            executions: HashMap::new(),
        })
    }

    pub fn tip(&self) -> Result<Tip, StorageError> {
        self.store.tip()
    }

    pub fn account(&self, address: &Address) -> Account {
        self.state.account(address)
    }

    /// Verified-once cache `(hits, misses)`.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.verifier.cache().hits(), self.verifier.cache().misses())
    }

    /// The nonce `address`'s next transfer should carry, counting what this mempool holds.
    pub fn next_nonce(&self, address: &Address) -> u64 {
        self.mempool
            .next_nonce(address, self.state.account(address).nonce)
    }

    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.mempool.contains(hash)
    }

    /// `GET /v1/mempool`: the oldest `limit` transactions held (only `from`'s, if given).
    pub fn mempool_view(
        &self,
        limit: usize,
        from: Option<&Address>,
    ) -> interface::http::MempoolView {
        interface::http::MempoolView {
            txs: self.mempool.len(),
            bytes: self.mempool.bytes(),
            max_txs: self.mempool.max_txs(),
            max_bytes: self.mempool.max_bytes(),
            pending: self
                .mempool
                .list(limit, from, |a| self.state.account(a).nonce),
        }
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Make a consensus signing record durable. Call before sending the message it records.
    pub fn persist_signing(&self, record: &SignRecord) -> Result<(), StorageError> {
        signing_log::persist(&self.store, record)
    }

    /// The signing log to restore consensus from after a restart.
    pub fn signing_log(&self) -> Result<Vec<SignRecord>, StorageError> {
        signing_log::load(&self.store)
    }

    /// How many more transactions the mempool takes now (0 when full), and how many of them
    /// from clients: new submissions stop at half of it, so what peers already accepted and
    /// gossip still finds room (see `admission::Origin`).
    pub fn mempool_room(&self) -> (usize, usize) {
        if self.mempool.is_full(0) {
            return (0, 0);
        }
        let (max, len) = (self.mempool.max_txs(), self.mempool.len());
        (max.saturating_sub(len), max.div_ceil(2).saturating_sub(len))
    }

    /// Transactions the mempool admits now (see `mempool_max_drain_ms`), and the seconds its
    /// content would take to commit at the recent rate (none while the rate is unknown).
    pub fn admission(&self) -> (usize, Option<f64>) {
        let drain = self
            .commit_rate
            .per_sec()
            .filter(|r| *r > 0.0)
            .map(|r| self.mempool.len() as f64 / r);
        (self.mempool.max_txs(), drain)
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn chain_id(&self) -> &str {
        &self.rules.chain_id
    }

    /// Decodes and signature checks are stateless, so a node runs them off its consensus
    /// task with this verifier (its verified-once cache is the one blocks are checked with).
    pub fn verifier(&self) -> Arc<TxVerifier> {
        self.verifier.clone()
    }

    /// The one way into the mempool: transactions already decoded and verified by
    /// [`Self::verifier`] (off the node task), checked here against the state and the
    /// mempool's bounds.
    pub fn admit_verified(
        &mut self,
        verified: Vec<Result<Admitted, TxError>>,
    ) -> Vec<Result<Hash, Refusal>> {
        if self.mempool.is_full(0) {
            let mempool = &self.mempool;
            return verified
                .iter()
                .map(|_| Err(mempool.full_refusal()))
                .collect();
        }
        let height = self.state.height() + 1;
        verified
            .into_iter()
            .map(|admitted| {
                let a = admitted?;
                let t = &a.tx.transfer;
                self.state.check_transfer(&self.rules, t)?;
                let sender = self.state.account(&t.from);
                self.mempool.admit(a, &sender, height)
            })
            .collect()
    }

    /// Build the block this validator proposes at `height`: what the mempool selects, less
    /// any transfer an earlier one in the block made unable to execute.
    pub fn build_block(
        &mut self,
        height: u64,
        round: u32,
        proposer: PublicKey,
        timestamp_ms: u64,
    ) -> Result<Block, StorageError> {
        let tip = self.store.tip()?;
        let (mut hashes, mut txs) = self.mempool.select(
            self.config.max_block_txs,
            self.config.max_block_bytes,
            &self.state,
        );
        let (execution, kept) = self.state.execute_runnable(&self.rules, &txs)?;
        if kept.len() != txs.len() {
            hashes = kept.iter().map(|&i| hashes[i]).collect();
            txs = kept.iter().map(|&i| txs[i].clone()).collect();
        }
        let block = Block {
            header: BlockHeader {
                chain_id: self.rules.chain_id.clone(),
                height,
                round,
                prev_hash: tip.block_hash,
                proposer,
                timestamp_ms,
                tx_root: merkle_root(&hashes),
                state_root: execution.state_root,
            },
            txs,
        };
        self.executions.insert(block.hash(), (execution, hashes));
        Ok(block)
    }

    /// Judge a proposed block: structure, signatures (verified-once cache) and execution,
    /// where every transfer must execute. `Err` only when this validator cannot judge at
    /// all (its tip or state tree is unreadable), which must stop it rather than make it vote
    /// nil forever.
    pub fn validate(&mut self, block: &Block) -> Result<Result<(), InvalidBlock>, StorageError> {
        let tip = self.store.tip()?;
        let ids = match block.check_structure(
            &self.rules.chain_id,
            tip.height + 1,
            &tip.block_hash,
            ledger::block::MAX_BLOCK_TXS,
        ) {
            Ok(ids) => ids,
            Err(e) => return Ok(Err(e.into())),
        };
        if self
            .verifier
            .verify_block_txs_by_id(&block.txs, &ids)
            .is_err()
        {
            return Ok(Err(InvalidBlock::Signature));
        }
        let execution = match self.state.execute(&self.rules, &block.txs) {
            Ok(execution) => execution,
            Err(ExecuteError::Block(e)) => return Ok(Err(e.into())),
            Err(ExecuteError::Tree(e)) => return Err(e.into()),
        };
        if execution.state_root != block.header.state_root {
            return Ok(Err(InvalidBlock::StateRoot {
                claimed: block.header.state_root,
                computed: execution.state_root,
            }));
        }
        self.executions.insert(block.hash(), (execution, ids));
        Ok(Ok(()))
    }

    /// Commit a decided block. Execution never re-checks signatures: the block is certified.
    /// Returns the new tip and the block's transaction ids.
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<(Tip, Vec<Hash>), AppError> {
        let hash = block.hash();
        let (execution, hashes) = match self.executions.remove(&hash) {
            Some(known) => known,
            None => (
                self.state
                    .execute(&self.rules, &block.txs)
                    .map_err(|e| match e {
                        ExecuteError::Block(error) => AppError::DecidedBlockInexecutable {
                            height: block.header.height,
                            error,
                        },
                        ExecuteError::Tree(e) => AppError::Storage(e.into()),
                    })?,
                block.txs.iter().map(SignedTx::hash).collect(),
            ),
        };
        let tip = self
            .store
            .commit_with_ids(block, certificate, &execution, &hashes)?;
        self.state.apply(&execution);
        self.executions.clear();
        let committed: HashSet<Hash> = hashes.iter().copied().collect();
        self.mempool.after_commit(&committed, &self.state);
        self.commit_rate
            .record(std::time::Instant::now(), block.txs.len());
        self.mempool.set_drain_cap(self.commit_rate.cap(
            std::time::Duration::from_millis(self.config.mempool_max_drain_ms),
            self.config.max_block_txs,
        ));
        Ok((tip, hashes))
    }
}

#[cfg(test)]
impl Application {
    /// Apply changes made to `config` after opening (tests only; the mempool must be empty).
    fn reconfigure(&mut self) {
        assert!(self.mempool.is_empty());
        self.mempool = Mempool::new(self.config.mempool_limits());
    }
}

#[cfg(test)]
mod tests;
