//! Accounts and the deterministic execution of a block's transfers.
//!
//! Execution never looks at signatures: a block reaches execution only after consensus
//! decided it, and re-deciding validity here could make honest nodes diverge (see `verify`).
//!
//! The state root is the root of the authenticated tree over every account
//! (`state_tree`) after the block; executing computes it from the parent version without
//! writing, so judging a proposal that is never decided changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{Address, Hash};
use crate::genesis::{Genesis, PermissionError, Permissions};
use crate::state_tree::{self, MemoryTree, StateTree, StateTreeError, TreeUpdate};
use crate::tx::{SignedTx, Transfer};

pub use crate::account::Account;

/// The rules every transfer in a block must pass against the state before it: one chain,
/// its account permissions. Admission checks the same rules, so a mempool holds only what
/// could execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRules {
    pub chain_id: String,
    pub permissions: Option<Permissions>,
}

impl ChainRules {
    pub fn of(genesis: &Genesis) -> Self {
        Self {
            chain_id: genesis.chain_id.clone(),
            permissions: genesis.permissions.clone(),
        }
    }

    /// A chain without account permissions.
    pub fn open(chain_id: &str) -> Self {
        Self {
            chain_id: chain_id.to_string(),
            permissions: None,
        }
    }
}

/// What makes a transfer unable to execute whatever precedes it in its block: admission
/// refuses these at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the transfer is for chain {got:?}, this chain is {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("a transfer must move at least 1 unit")]
    ZeroAmount,
    #[error("a transfer to its own sender changes nothing; send to another account")]
    SelfTransfer,
    #[error(transparent)]
    NotPermitted(#[from] PermissionError),
    #[error("the sender has no account on this chain; fund it first")]
    UnknownSender,
}

/// Why a transfer cannot execute where it stands. A block holding one is invalid: every
/// transfer in a committed block executed, so its inclusion is its receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("nonce {got} is not the sender's next ({expected})")]
    BadNonce { expected: u64, got: u64 },
    #[error("the sender holds {balance}, less than the {amount} it sends")]
    InsufficientFunds { balance: u64, amount: u64 },
    #[error("the recipient's balance would overflow")]
    RecipientOverflow,
}

/// The transfer at `index` of a block cannot execute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction {index} of the block cannot execute: {error}")]
pub struct BlockExecError {
    pub index: usize,
    pub error: ExecError,
}

/// Executing a block failed: a transfer cannot execute (the block is invalid), or the state
/// tree cannot be read (this node cannot judge at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Block(#[from] BlockExecError),
    #[error(transparent)]
    Tree(#[from] StateTreeError),
}

/// The result of executing a block against a state, not yet applied. Every transfer in it
/// executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub height: u64,
    /// New value of every account the block touched, in address order.
    pub changes: BTreeMap<Address, Account>,
    pub state_root: Hash,
    /// The tree's new version: what the commit writes.
    pub tree_update: TreeUpdate,
}

/// All accounts, in memory, and the authenticated tree over them (version = height).
/// Storage persists each block's changes; a restarted node reloads the accounts from storage
/// and reads the tree where it lies.
#[derive(Clone)]
pub struct State {
    accounts: HashMap<Address, Account>,
    height: u64,
    root: Hash,
    tree: Arc<dyn StateTree>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("height", &self.height)
            .field("root", &self.root)
            .field("accounts", &self.accounts.len())
            .finish()
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        (self.height, self.root, &self.accounts) == (other.height, other.root, &other.accounts)
    }
}

impl Eq for State {}

impl State {
    /// The genesis allocation as version 0 of a tree in memory.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        Self::from_accounts(genesis_accounts(genesis))
    }

    /// `accounts` as height 0, its tree in memory.
    pub fn from_accounts(accounts: impl IntoIterator<Item = (Address, Account)>) -> Self {
        let changes: BTreeMap<Address, Account> = accounts.into_iter().collect();
        let tree = Arc::new(MemoryTree::default());
        let (root, update) = state_tree::update(tree.as_ref(), 0, &changes)
            .expect("a new tree in memory cannot fail to read");
        tree.applied(&update);
        Self {
            accounts: changes.into_iter().collect(),
            height: 0,
            root,
            tree,
        }
    }

    /// The genesis tree's first version: what storage writes when it creates a database.
    pub fn genesis_update(genesis: &Genesis) -> (Hash, TreeUpdate) {
        state_tree::update(&MemoryTree::default(), 0, &genesis_accounts(genesis))
            .expect("a new tree in memory cannot fail to read")
    }

    /// Rebuild from persisted parts (storage's job to supply them consistently: `tree`
    /// holds version `height`, whose root is `root`).
    pub fn from_parts(
        accounts: HashMap<Address, Account>,
        height: u64,
        root: Hash,
        tree: Arc<dyn StateTree>,
    ) -> Self {
        Self {
            accounts,
            height,
            root,
            tree,
        }
    }

    /// The tree this state's root is the root of.
    pub fn tree(&self) -> &Arc<dyn StateTree> {
        &self.tree
    }

    pub fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn root(&self) -> Hash {
        self.root
    }

    pub fn accounts(&self) -> &HashMap<Address, Account> {
        &self.accounts
    }

    pub fn total_supply(&self) -> u128 {
        self.accounts.values().map(|a| a.balance as u128).sum()
    }

    /// The checks of one transfer that no earlier transfer in its block can change (all
    /// but nonce and balances), against this state: what admission refuses at once.
    pub fn check_transfer(&self, rules: &ChainRules, t: &Transfer) -> Result<(), TransferError> {
        check_transfer(rules, t, |a| self.accounts.contains_key(a))
    }

    /// Execute `txs` as block `self.height() + 1` without changing `self`; every transfer
    /// must execute, or the block is invalid.
    pub fn execute(&self, rules: &ChainRules, txs: &[SignedTx]) -> Result<Execution, ExecuteError> {
        let mut run = Run::new(self, txs.len());
        for (index, tx) in txs.iter().enumerate() {
            run.apply(rules, &tx.transfer)
                .map_err(|error| BlockExecError { index, error })?;
        }
        Ok(run.finish()?)
    }

    /// Execute the transfers of `txs` that can run, in order, skipping the others (a
    /// proposer's block: its mempool may hold a transfer that an earlier one in the same
    /// block made unpayable). Returns the execution and the indices kept.
    pub fn execute_runnable(
        &self,
        rules: &ChainRules,
        txs: &[SignedTx],
    ) -> Result<(Execution, Vec<usize>), StateTreeError> {
        let mut run = Run::new(self, txs.len());
        let kept = (0..txs.len())
            .filter(|&i| run.apply(rules, &txs[i].transfer).is_ok())
            .collect();
        Ok((run.finish()?, kept))
    }

    /// Apply an execution made from this state.
    pub fn apply(&mut self, execution: &Execution) {
        assert_eq!(
            execution.height,
            self.height + 1,
            "execution applied out of order"
        );
        self.accounts
            .extend(execution.changes.iter().map(|(a, acc)| (*a, *acc)));
        self.tree.applied(&execution.tree_update);
        self.height = execution.height;
        self.root = execution.state_root;
    }
}

fn genesis_accounts(genesis: &Genesis) -> BTreeMap<Address, Account> {
    genesis
        .accounts
        .iter()
        .map(|a| {
            let account = Account {
                balance: a.balance,
                nonce: 0,
            };
            (a.address, account)
        })
        .collect()
}

fn check_transfer(
    rules: &ChainRules,
    t: &Transfer,
    exists: impl Fn(&Address) -> bool,
) -> Result<(), TransferError> {
    if t.chain_id != rules.chain_id {
        return Err(TransferError::WrongChain {
            expected: rules.chain_id.clone(),
            got: t.chain_id.clone(),
        });
    }
    // Writing to the chain costs the sender something: no free records.
    if t.amount == 0 {
        return Err(TransferError::ZeroAmount);
    }
    if t.from == t.to {
        return Err(TransferError::SelfTransfer);
    }
    if let Some(p) = &rules.permissions {
        p.check(&t.from, &t.to, &exists)?;
    }
    if !exists(&t.from) {
        return Err(TransferError::UnknownSender);
    }
    Ok(())
}

/// One block's execution in progress: the accounts it changed so far. A transfer that fails
/// changes nothing.
struct Run<'a> {
    state: &'a State,
    changes: HashMap<Address, Account>,
}

impl<'a> Run<'a> {
    fn new(state: &'a State, txs: usize) -> Self {
        Self {
            state,
            changes: HashMap::with_capacity(txs * 2),
        }
    }

    fn account(&self, address: &Address) -> Option<Account> {
        self.changes
            .get(address)
            .or_else(|| self.state.accounts.get(address))
            .copied()
    }

    fn apply(&mut self, rules: &ChainRules, t: &Transfer) -> Result<(), ExecError> {
        check_transfer(rules, t, |a| self.account(a).is_some())?;
        let mut from = self.account(&t.from).ok_or(TransferError::UnknownSender)?;
        if t.nonce != from.nonce {
            return Err(ExecError::BadNonce {
                expected: from.nonce,
                got: t.nonce,
            });
        }
        if from.balance < t.amount {
            return Err(ExecError::InsufficientFunds {
                balance: from.balance,
                amount: t.amount,
            });
        }
        let mut to = self.account(&t.to).unwrap_or_default();
        to.balance = to
            .balance
            .checked_add(t.amount)
            .ok_or(ExecError::RecipientOverflow)?;
        from.balance -= t.amount;
        from.nonce += 1;
        self.changes.insert(t.from, from);
        self.changes.insert(t.to, to);
        Ok(())
    }

    fn finish(self) -> Result<Execution, StateTreeError> {
        let height = self.state.height + 1;
        let changes: BTreeMap<Address, Account> = self.changes.into_iter().collect();
        let (state_root, tree_update) =
            state_tree::update(self.state.tree.as_ref(), height, &changes)?;
        Ok(Execution {
            height,
            changes,
            state_root,
            tree_update,
        })
    }
}

/// Where a committed transaction is. It executed: a block holding a transfer that does not
/// is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxRecord {
    pub height: u64,
    pub index: u32,
}

/// One committed transfer as an account's history shows it: the account sent it or received
/// it. Kept beside the block so a history needs no block decoding.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AccountTx {
    pub height: u64,
    pub index: u32,
    pub hash: Hash,
    /// True when the account sent it (it then paid `amount` with this `nonce`).
    pub sent: bool,
    /// The other side: the recipient of a transfer sent, the sender of one received.
    pub counterparty: Address,
    pub amount: u64,
    pub nonce: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use crate::genesis::tests::genesis;
    use crate::tx::tests::transfer;
    use proptest::prelude::*;

    fn open() -> ChainRules {
        ChainRules::open("test-chain")
    }

    #[test]
    fn a_block_of_good_transfers_executes() {
        let g = genesis(1, &[("alice", 100), ("bob", 0)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let mut s = State::from_genesis(&g);
        let txs = vec![
            transfer(&alice, bob.public(), 60, 0),
            transfer(&bob, alice.public(), 5, 0), // funded by the transfer before it
            transfer(&alice, bob.public(), 45, 1),
        ];
        let e = s.execute(&open(), &txs).unwrap();
        s.apply(&e);
        assert_eq!(
            s.account(&alice.public()),
            Account {
                balance: 0,
                nonce: 2
            }
        );
        assert_eq!(
            s.account(&bob.public()),
            Account {
                balance: 100,
                nonce: 1
            }
        );
        assert_eq!(s.height(), 1);
        assert_eq!(s.total_supply(), 100);
    }

    /// One transfer that cannot execute makes the whole block invalid, and nothing of it is
    /// applied: no nonce used, no account made for a stranger.
    #[test]
    fn one_transfer_that_cannot_execute_invalidates_the_block() {
        let g = genesis(1, &[("alice", 100), ("bob", u64::MAX - 50)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let stranger = Keypair::from_seed("stranger");
        let s = State::from_genesis(&g);
        let good = transfer(&alice, bob.public(), 1, 0);
        let mut other_chain = transfer(&alice, bob.public(), 1, 1);
        other_chain.transfer.chain_id = "other".into();
        let other_chain = other_chain.transfer.sign(&alice);
        let cases: Vec<(SignedTx, ExecError)> = vec![
            (
                good.clone(),
                ExecError::BadNonce {
                    expected: 1,
                    got: 0,
                },
            ), // a replay
            (
                transfer(&alice, bob.public(), 1, 5),
                ExecError::BadNonce {
                    expected: 1,
                    got: 5,
                },
            ),
            (
                transfer(&alice, bob.public(), 100, 1),
                ExecError::InsufficientFunds {
                    balance: 99,
                    amount: 100,
                },
            ),
            (
                transfer(&alice, bob.public(), 0, 1),
                TransferError::ZeroAmount.into(),
            ),
            (
                transfer(&alice, alice.public(), 1, 1),
                TransferError::SelfTransfer.into(),
            ),
            (
                transfer(&stranger, bob.public(), 1, 0),
                TransferError::UnknownSender.into(),
            ),
            (
                transfer(&alice, bob.public(), 99, 1),
                ExecError::RecipientOverflow,
            ),
            (
                other_chain,
                TransferError::WrongChain {
                    expected: "test-chain".into(),
                    got: "other".into(),
                }
                .into(),
            ),
        ];
        for (bad, error) in cases {
            let got = s.execute(&open(), &[good.clone(), bad]);
            assert_eq!(got, Err(BlockExecError { index: 1, error }.into()));
        }
        let (e, kept) = s
            .execute_runnable(
                &open(),
                &[
                    transfer(&stranger, bob.public(), 1, 0),
                    good.clone(),
                    good.clone(),
                ],
            )
            .unwrap();
        assert_eq!(kept, vec![1]);
        assert_eq!(e, s.execute(&open(), &[good]).unwrap());
        assert!(!e.changes.contains_key(&stranger.public()));
    }

    #[test]
    fn permissions_are_rules_of_execution() {
        let g = genesis(1, &[("alice", 100), ("bob", 100)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let stranger = Keypair::from_seed("stranger").public();
        let s = State::from_genesis(&g);
        let mut rules = open();
        rules.permissions = Some(Permissions {
            senders: vec![alice.public()],
            open_receiving: false,
        });
        let refused = |tx: SignedTx| match s.execute(&rules, &[tx]) {
            Err(ExecuteError::Block(e)) => e.error,
            other => panic!("expected a refused transfer, got {other:?}"),
        };
        assert_eq!(
            refused(transfer(&bob, alice.public(), 1, 0)),
            ExecError::Transfer(PermissionError::Sender(bob.public()).into())
        );
        assert_eq!(
            refused(transfer(&alice, stranger, 1, 0)),
            ExecError::Transfer(PermissionError::Recipient(stranger).into())
        );
        assert!(
            s.execute(&rules, &[transfer(&alice, bob.public(), 1, 0)])
                .is_ok()
        );
    }

    #[test]
    fn execution_is_deterministic_and_root_tracks_state() {
        let g = genesis(1, &[("alice", 100), ("bob", 0)]);
        let (alice, bob) = (Keypair::from_seed("alice"), Keypair::from_seed("bob"));
        let s = State::from_genesis(&g);
        let txs = vec![transfer(&alice, bob.public(), 1, 0)];
        assert_eq!(s.execute(&open(), &txs), s.execute(&open(), &txs));
        let other = vec![transfer(&alice, bob.public(), 2, 0)];
        assert_ne!(
            s.execute(&open(), &txs).unwrap().state_root,
            s.execute(&open(), &other).unwrap().state_root
        );
        let g2 = genesis(1, &[("alice", 101), ("bob", 0)]);
        assert_ne!(State::from_genesis(&g2).root(), s.root());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever transfers run, in any order, with any nonces and amounts, no value is
        /// created or destroyed.
        #[test]
        fn total_supply_is_conserved(
            ops in proptest::collection::vec((0usize..4, 0usize..5, 0u64..400, 0u64..4), 0..60),
            balances in proptest::collection::vec(0u64..(u64::MAX / 8), 4),
        ) {
            let seeds = ["a", "b", "c", "d"];
            let accounts: Vec<(&str, u64)> = seeds.iter().copied().zip(balances.iter().copied()).collect();
            let g = genesis(1, &accounts);
            let keys: Vec<Keypair> = seeds.iter().map(|s| Keypair::from_seed(s)).collect();
            let outsider = Keypair::from_seed("outsider").public();
            let mut s = State::from_genesis(&g);
            let supply = s.total_supply();
            for block in ops.chunks(7) {
                let txs: Vec<SignedTx> = block.iter().map(|&(from, to, amount, nonce)| {
                    let to = if to == 4 { outsider } else { keys[to].public() };
                    let amount = if amount == 399 { u64::MAX } else { amount };
                    transfer(&keys[from], to, amount, nonce)
                }).collect();
                let (e, kept) = s.execute_runnable(&open(), &txs).unwrap();
                let runnable: Vec<SignedTx> = kept.iter().map(|&i| txs[i].clone()).collect();
                prop_assert_eq!(s.execute(&open(), &runnable), Ok(e.clone()));
                s.apply(&e);
                prop_assert_eq!(s.total_supply(), supply);
            }
        }
    }
}
