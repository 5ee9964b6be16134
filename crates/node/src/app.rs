//! The application side of a validator: mempool, block building, block validation and
//! commit. Consensus decides *which* block; this decides what a block may contain and
//! persists it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use consensus::{SignRecord, Step};
use ledger::encoding;
use ledger::merkle::merkle_root;
use ledger::storage::{StorageError, Store, Tip};
use ledger::verify::{Admitted, TxVerifier};
use ledger::{
    Account, Address, Block, BlockHeader, CommitCertificate, Execution, Genesis, Hash, PublicKey,
    SignedTx, State, TxError,
};

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
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_block_txs: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
            max_mempool_txs: 100_000,
            max_mempool_bytes: 64 * 1024 * 1024,
            verify_threads: 0,
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
    #[error("mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    MempoolFull { txs: usize, bytes: usize },
    #[error("nonce {got} was already used by this account (next is {next})")]
    StaleNonce { got: u64, next: u64 },
}

pub struct Application {
    chain_id: String,
    config: AppConfig,
    store: Store,
    state: State,
    verifier: TxVerifier,
    /// Admitted transactions in arrival order.
    mempool: VecDeque<Admitted>,
    pending: HashSet<Hash>,
    mempool_bytes: usize,
    /// Results of executing blocks we validated or built, by block hash, so a decided block
    /// is not executed twice.
    executions: HashMap<Hash, Execution>,
}

impl Application {
    pub fn open(dir: &Path, genesis: &Genesis, config: AppConfig) -> Result<Self, StorageError> {
        let (store, state) = Store::open(dir, genesis)?;
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            verifier: TxVerifier::new(genesis.chain_id.clone(), config.verify_threads, 1 << 20),
            config,
            store,
            state,
            mempool: VecDeque::new(),
            pending: HashSet::new(),
            mempool_bytes: 0,
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
        self.pending.contains(hash)
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Make a consensus signing record durable. Call before sending the message it records.
    pub fn persist_signing(&self, record: &SignRecord) -> Result<(), StorageError> {
        let step = match record.step {
            Step::Propose => 0u8,
            Step::Prevote => 1,
            Step::Precommit => 2,
        };
        let mut position = record.round.to_be_bytes().to_vec();
        position.push(step);
        self.store
            .append_signing_record(record.height, &position, &encoding::encode(record))
    }

    /// The signing log to restore consensus from after a restart.
    pub fn signing_log(&self) -> Result<Vec<SignRecord>, StorageError> {
        self.store
            .signing_log()?
            .iter()
            .map(|bytes| {
                encoding::decode(bytes).map_err(|source| StorageError::Corrupt {
                    what: "signing log entry".into(),
                    source,
                })
            })
            .collect()
    }

    /// Admit raw transactions (decode, verify once, check against the state).
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn submit<B: AsRef<[u8]> + Sync>(&mut self, raw: &[B]) -> Vec<Result<Hash, SubmitError>> {
        self.verifier
            .admit(raw)
            .into_iter()
            .map(|admitted| {
                let a = admitted?;
                if self.pending.contains(&a.hash) {
                    return Err(SubmitError::Duplicate(a.hash));
                }
                let sender = self.state.account(&a.tx.transfer.from);
                if a.tx.transfer.nonce < sender.nonce {
                    return Err(SubmitError::StaleNonce {
                        got: a.tx.transfer.nonce,
                        next: sender.nonce,
                    });
                }
                // Against committed state: pending transfers may still change the balance, but a
                // sender that cannot cover the amount now almost surely never will.
                if a.tx.transfer.amount > sender.balance {
                    return Err(SubmitError::InsufficientFunds {
                        balance: sender.balance,
                        amount: a.tx.transfer.amount,
                    });
                }
                if self.mempool.len() >= self.config.max_mempool_txs
                    || self.mempool_bytes + a.size > self.config.max_mempool_bytes
                {
                    return Err(SubmitError::MempoolFull {
                        txs: self.mempool.len(),
                        bytes: self.mempool_bytes,
                    });
                }
                self.mempool_bytes += a.size;
                self.pending.insert(a.hash);
                let hash = a.hash;
                self.mempool.push_back(a);
                Ok(hash)
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
    ) -> Block {
        let tip = self.store.tip().expect("tip is readable");
        let mut bytes = 0;
        let (hashes, txs): (Vec<Hash>, Vec<SignedTx>) = self
            .mempool
            .iter()
            .take(self.config.max_block_txs)
            .take_while(|a| {
                bytes += a.size;
                bytes <= self.config.max_block_bytes
            })
            .map(|a| (a.hash, a.tx.clone()))
            .unzip();
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
        self.executions.insert(block.hash(), execution);
        block
    }

    /// Judge a proposed block: structure, signatures (verified-once cache) and execution.
    pub fn validate(&mut self, block: &Block) -> bool {
        let Ok(tip) = self.store.tip() else {
            return false;
        };
        if block
            .check_structure(
                &self.chain_id,
                tip.height + 1,
                &tip.block_hash,
                self.config.max_block_txs,
            )
            .is_err()
        {
            return false;
        }
        if self.verifier.verify_block_txs(&block.txs).is_err() {
            return false;
        }
        let execution = self.state.execute(&self.chain_id, &block.txs);
        let valid = execution.state_root == block.header.state_root;
        if valid {
            self.executions.insert(block.hash(), execution);
        }
        valid
    }

    /// Commit a decided block. Execution never re-checks signatures: the block is certified.
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<Tip, StorageError> {
        let hash = block.hash();
        let execution = match self.executions.remove(&hash) {
            Some(e) => e,
            None => self.state.execute(&self.chain_id, &block.txs),
        };
        let tip = self.store.commit(block, certificate, &execution)?;
        self.state.apply(&execution);
        self.executions.clear();
        let committed: HashSet<Hash> = block.txs.iter().map(SignedTx::hash).collect();
        // Re-check the rest against the new state: drop what was committed, what can never
        // execute (its nonce is used) and what the sender can no longer pay for.
        let state = &self.state;
        self.mempool.retain(|a| {
            let sender = state.account(&a.tx.transfer.from);
            !committed.contains(&a.hash)
                && a.tx.transfer.nonce >= sender.nonce
                && a.tx.transfer.amount <= sender.balance
        });
        self.pending = self.mempool.iter().map(|a| a.hash).collect();
        self.mempool_bytes = self.mempool.iter().map(|a| a.size).sum();
        Ok(tip)
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
        assert_eq!(app.build_block(1, 0, alice.public(), 0).txs.len(), 6);
        app.config.max_block_bytes = one * 3 + one / 2;
        assert_eq!(app.build_block(1, 0, alice.public(), 0).txs.len(), 3);
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
        let block = app.build_block(1, 0, alice.public(), 0);
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
