//! The application side of a validator: mempool, block building, block validation and
//! commit. Consensus decides *which* block; this decides what a block may contain and
//! persists it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use consensus::SignRecord;
use ledger::merkle::merkle_root;
use ledger::storage::{StorageError, Store, Tip};
use ledger::verify::TxVerifier;
use ledger::{
    Account, Address, Block, BlockHeader, CommitCertificate, Execution, Genesis, Hash, PublicKey,
    SignedTx, State, TxError,
};

use crate::mempool::{Mempool, MempoolLimits};
use crate::signing_log;

/// Limits of one validator's application.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub max_block_txs: usize,
    /// Bound on the encoded size of a proposed block's transactions; kept well under the
    /// gossip message limit, since a proposal carries its block.
    pub max_block_bytes: usize,
    pub max_mempool_txs: usize,
    /// Bound on the encoded size of everything in the mempool.
    pub max_mempool_bytes: usize,
    pub verify_threads: usize,
    /// Blocks a transfer may wait for an earlier nonce of its sender before it is dropped.
    pub mempool_gap_ttl_blocks: u64,
    /// With an empty mempool, the proposer waits up to this long (ms after the last commit)
    /// for a transaction before proposing an empty block: an idle chain makes few blocks,
    /// a busy one loses nothing. Must stay below the propose timeout; 0 = no wait.
    pub empty_block_wait_ms: u64,
    /// Most mempool transactions one sender may have waiting.
    pub max_pending_per_sender: usize,
}

impl AppConfig {
    fn mempool_limits(&self) -> MempoolLimits {
        MempoolLimits {
            max_txs: self.max_mempool_txs,
            max_bytes: self.max_mempool_bytes,
            max_per_sender: self.max_pending_per_sender,
            gap_ttl_blocks: self.mempool_gap_ttl_blocks,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_block_txs: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
            max_mempool_txs: 100_000,
            max_mempool_bytes: 64 * 1024 * 1024,
            verify_threads: 0,
            mempool_gap_ttl_blocks: 100,
            empty_block_wait_ms: 0,
            max_pending_per_sender: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    #[error("the sender holds {balance}, less than the {amount} it sends")]
    InsufficientFunds { balance: u64, amount: u64 },
    #[error("a transaction with nonce {nonce} from this sender is already pending")]
    NoncePending { nonce: u64 },
    #[error(
        "nonce {got} is too far ahead: this sender's next missing nonce is {next}; send that first"
    )]
    NonceGap { got: u64, next: u64 },
    #[error("this sender already has {limit} transactions waiting; retry after some commit")]
    SenderLimit { limit: usize },
    #[error("mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    MempoolFull { txs: usize, bytes: usize },
    #[error("nonce {got} was already used by this account (next is {next})")]
    StaleNonce { got: u64, next: u64 },
    #[error("this validator has halted and admits nothing ({0}); send to another node")]
    Halted(String),
}

pub struct Application {
    chain_id: String,
    config: AppConfig,
    /// Shared with the read side (API, sync serving), which never waits for this task.
    store: Arc<Store>,
    state: State,
    verifier: TxVerifier,
    mempool: Mempool,
    /// Results of executing blocks we validated or built, with their transaction ids, by
    /// block hash, so a decided block is neither executed nor hashed twice.
    executions: HashMap<Hash, (Execution, Vec<Hash>)>,
}

impl Application {
    pub fn open(dir: &Path, genesis: &Genesis, config: AppConfig) -> Result<Self, StorageError> {
        let (store, state) = Store::open(dir, genesis)?;
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            verifier: TxVerifier::new(genesis.chain_id.clone(), config.verify_threads, 1 << 20),
            mempool: Mempool::new(config.mempool_limits()),
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

    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.mempool.contains(hash)
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

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Admit raw transactions (decode, verify once, check against the state).
    pub fn submit<B: AsRef<[u8]> + Sync>(&mut self, raw: &[B]) -> Vec<Result<Hash, SubmitError>> {
        // Under overload, refuse before verifying: signature checks for transactions that
        // cannot be kept would take the CPU consensus needs to drain the mempool.
        if self.mempool.is_full(0) {
            let (txs, bytes) = (self.mempool.len(), self.mempool.bytes());
            return raw
                .iter()
                .map(|_| Err(SubmitError::MempoolFull { txs, bytes }))
                .collect();
        }
        let height = self.state.height() + 1;
        self.verifier
            .admit(raw)
            .into_iter()
            .map(|admitted| {
                let a = admitted?;
                let sender = self.state.account(&a.tx.transfer.from);
                self.mempool.admit(a, &sender, height)
            })
            .collect()
    }

    /// Build the block this validator proposes at `height`.
    pub fn build_block(
        &mut self,
        height: u64,
        round: u32,
        proposer: PublicKey,
        timestamp_ms: u64,
    ) -> Result<Block, StorageError> {
        let tip = self.store.tip()?;
        let (hashes, txs) = self.mempool.select(
            self.config.max_block_txs,
            self.config.max_block_bytes,
            &self.state,
        );
        let execution = self.state.execute(&self.chain_id, &txs);
        let block = Block {
            header: BlockHeader {
                chain_id: self.chain_id.clone(),
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

    /// Judge a proposed block: structure, signatures (verified-once cache) and execution.
    pub fn validate(&mut self, block: &Block) -> bool {
        let Ok(tip) = self.store.tip() else {
            return false;
        };
        let Ok(ids) = block.check_structure(
            &self.chain_id,
            tip.height + 1,
            &tip.block_hash,
            ledger::block::MAX_BLOCK_TXS,
        ) else {
            return false;
        };
        if self
            .verifier
            .verify_block_txs_by_id(&block.txs, &ids)
            .is_err()
        {
            return false;
        }
        let execution = self.state.execute(&self.chain_id, &block.txs);
        let valid = execution.state_root == block.header.state_root;
        if valid {
            self.executions.insert(block.hash(), (execution, ids));
        }
        valid
    }

    /// Commit a decided block. Execution never re-checks signatures: the block is certified.
    /// Returns the new tip and the block's transaction ids.
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<(Tip, Vec<Hash>), StorageError> {
        let hash = block.hash();
        let (execution, hashes) = match self.executions.remove(&hash) {
            Some(known) => known,
            None => (
                self.state.execute(&self.chain_id, &block.txs),
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
mod tests {
    use super::*;
    use ledger::{GenesisAccount, GenesisValidator, Keypair, Transfer};

    fn setup(max_mempool_txs: usize) -> (tempfile::TempDir, Application, Keypair) {
        let alice = Keypair::from_seed("alice");
        let genesis = Genesis {
            chain_id: "app-test".into(),
            genesis_time_ms: 0,
            validators: vec![GenesisValidator {
                name: "v".into(),
                public_key: Keypair::from_seed("v").public(),
                power: 1,
                p2p: None,
            }],
            accounts: vec![GenesisAccount {
                address: alice.public(),
                balance: 100,
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let config = AppConfig {
            max_mempool_txs,
            verify_threads: 1,
            ..AppConfig::default()
        };
        let app = Application::open(dir.path(), &genesis, config).unwrap();
        (dir, app, alice)
    }

    fn transfer(from: &Keypair, nonce: u64, chain: &str) -> Vec<u8> {
        Transfer {
            chain_id: chain.into(),
            from: from.public(),
            to: from.public(),
            amount: 1,
            nonce,
            memo: vec![],
        }
        .sign(from)
        .encode()
    }

    #[test]
    fn submissions_get_explicit_errors() {
        let (_dir, mut app, alice) = setup(2);
        let results = app.submit(&[
            transfer(&alice, 0, "app-test"),
            transfer(&alice, 0, "app-test"),
            transfer(&alice, 1, "other-chain"),
            vec![0xde, 0xad],
            transfer(&alice, 1, "app-test"),
            transfer(&alice, 2, "app-test"),
        ]);
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(SubmitError::Duplicate(_))));
        assert!(matches!(
            results[2],
            Err(SubmitError::Invalid(TxError::WrongChain { .. }))
        ));
        assert!(matches!(
            results[3],
            Err(SubmitError::Invalid(TxError::Decode(_)))
        ));
        assert!(results[4].is_ok());
        assert!(matches!(
            results[5],
            Err(SubmitError::MempoolFull { txs: 2, .. })
        ));
        assert_eq!(app.mempool_len(), 2);
    }

    #[test]
    fn proposed_blocks_respect_the_tx_and_byte_limits() {
        let (_dir, mut app, alice) = setup(100);
        let one = transfer(&alice, 0, "app-test").len();
        let txs: Vec<_> = (0..10).map(|n| transfer(&alice, n, "app-test")).collect();
        assert!(app.submit(&txs).iter().all(Result::is_ok));
        app.config.max_block_txs = 6;
        assert_eq!(
            app.build_block(1, 0, alice.public(), 0).unwrap().txs.len(),
            6
        );
        app.config.max_block_bytes = one * 3 + one / 2;
        assert_eq!(
            app.build_block(1, 0, alice.public(), 0).unwrap().txs.len(),
            3
        );
    }

    /// Commit whatever this validator would propose next.
    fn commit_next(app: &mut Application, proposer: &Keypair) -> Block {
        let height = app.tip().unwrap().height + 1;
        let block = app.build_block(height, 0, proposer.public(), 0).unwrap();
        let certificate = CommitCertificate {
            height,
            round: 0,
            block_hash: block.hash(),
            signatures: vec![],
        };
        app.commit(&block, &certificate).unwrap();
        block
    }

    #[test]
    fn a_nonce_gap_waits_in_the_mempool_then_expires() {
        let (_dir, mut app, alice) = setup(100);
        app.config.mempool_gap_ttl_blocks = 3;
        app.reconfigure();
        // Nonce 1 and 3 arrive before nonce 0; nonce 2 never does.
        let early = [
            transfer(&alice, 1, "app-test"),
            transfer(&alice, 3, "app-test"),
        ];
        assert!(app.submit(&early).iter().all(Result::is_ok));
        assert!(
            commit_next(&mut app, &alice).txs.is_empty(),
            "nothing runs ahead of nonce 0"
        );
        assert_eq!(app.mempool_len(), 2);
        assert!(app.submit(&[transfer(&alice, 0, "app-test")])[0].is_ok());
        let block = commit_next(&mut app, &alice);
        let nonces: Vec<u64> = block.txs.iter().map(|t| t.transfer.nonce).collect();
        assert_eq!(nonces, [0, 1], "in nonce order, stopping at the gap");
        assert_eq!(app.mempool_len(), 1, "nonce 3 still waits for nonce 2");
        commit_next(&mut app, &alice);
        commit_next(&mut app, &alice);
        assert_eq!(app.mempool_len(), 0, "the gap outlived its ttl");
    }

    #[test]
    fn transfers_far_past_a_missing_nonce_are_refused() {
        let (_dir, mut app, alice) = setup(100);
        let window = crate::mempool::FUTURE_WINDOW;
        // Nonce 0 never arrives: a few later ones may wait, the rest are refused.
        let later: Vec<_> = (1..=window)
            .map(|n| transfer(&alice, n, "app-test"))
            .collect();
        let results = app.submit(&later);
        assert!(results[..(window - 1) as usize].iter().all(Result::is_ok));
        assert!(matches!(
            results[(window - 1) as usize],
            Err(SubmitError::NonceGap { got, next: 0 }) if got == window
        ));
        // Another transfer with a nonce already waiting is refused too.
        let twin = Transfer {
            chain_id: "app-test".into(),
            from: alice.public(),
            to: alice.public(),
            amount: 2,
            nonce: 1,
            memo: vec![],
        }
        .sign(&alice)
        .encode();
        assert!(matches!(
            app.submit(&[twin])[0],
            Err(SubmitError::NoncePending { nonce: 1 })
        ));
    }

    #[test]
    fn transfers_waiting_for_a_gap_take_at_most_a_quarter_of_the_mempool() {
        let (_dir, mut app, alice) = setup(8);
        let results = app.submit(&[
            transfer(&alice, 1, "app-test"),
            transfer(&alice, 2, "app-test"),
            transfer(&alice, 3, "app-test"),
        ]);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert!(matches!(
            results[2],
            Err(SubmitError::NonceGap { got: 3, next: 0 })
        ));
        // The transfer that fills the gap still gets in, and the run becomes executable.
        assert!(app.submit(&[transfer(&alice, 0, "app-test")])[0].is_ok());
        assert!(app.submit(&[transfer(&alice, 3, "app-test")])[0].is_ok());
        assert_eq!(commit_next(&mut app, &alice).txs.len(), 4);
    }

    #[test]
    fn one_sender_cannot_fill_the_mempool() {
        let (_dir, mut app, alice) = setup(100);
        app.config.max_pending_per_sender = 3;
        app.reconfigure();
        let txs: Vec<_> = (0..5).map(|n| transfer(&alice, n, "app-test")).collect();
        let results = app.submit(&txs);
        assert!(results[..3].iter().all(Result::is_ok));
        assert!(matches!(
            results[3],
            Err(SubmitError::SenderLimit { limit: 3 })
        ));
        // Committing frees the sender's slots.
        commit_next(&mut app, &alice);
        assert!(app.submit(&[txs[3].clone()])[0].is_ok());
    }

    #[test]
    fn a_sender_who_cannot_pay_is_refused() {
        let (_dir, mut app, alice) = setup(10);
        let balance = app.account(&alice.public()).balance;
        let too_much = Transfer {
            chain_id: "app-test".into(),
            from: alice.public(),
            to: alice.public(),
            amount: balance + 1,
            nonce: 0,
            memo: vec![],
        }
        .sign(&alice)
        .encode();
        let results = app.submit(&[too_much]);
        assert!(
            matches!(results[0], Err(SubmitError::InsufficientFunds { balance: b, amount }) if b == balance && amount == balance + 1)
        );
        assert_eq!(app.mempool_len(), 0);
    }

    #[test]
    fn mempool_is_bounded_in_bytes_too() {
        let (_dir, mut app, alice) = setup(1000);
        let one = transfer(&alice, 0, "app-test").len();
        app.config.max_mempool_bytes = one * 2;
        app.reconfigure();
        let results = app.submit(&[
            transfer(&alice, 0, "app-test"),
            transfer(&alice, 1, "app-test"),
            transfer(&alice, 2, "app-test"),
        ]);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert!(
            matches!(results[2], Err(SubmitError::MempoolFull { txs: 2, bytes }) if bytes == 2 * one)
        );
    }

    #[test]
    fn blocks_with_a_wrong_state_root_or_bad_signature_are_invalid() {
        let (_dir, mut app, alice) = setup(10);
        app.submit(&[transfer(&alice, 0, "app-test")]);
        let block = app.build_block(1, 0, alice.public(), 0).unwrap();
        assert!(app.validate(&block));

        let mut wrong_root = block.clone();
        wrong_root.header.state_root = Hash::ZERO;
        assert!(!app.validate(&wrong_root));

        let mut forged = block.clone();
        forged.txs[0].signature.0[0] ^= 1;
        forged.header.tx_root = Block::compute_tx_root(&forged.tx_hashes());
        assert!(!app.validate(&forged));
    }
}
