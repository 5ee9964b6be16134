//! The application the simulated validators run: lantau's own ledger (`ledger::State`) over a
//! handful of funded accounts, with blocks of real signed transfers. Judging a block is what
//! the node's application does (structure, signatures, execution against the state root), so
//! a tampered body or a block built on a wrong state is refused for the same reasons.

use std::collections::{BTreeMap, HashMap, HashSet};

use ledger::block::MAX_BLOCK_TXS;
use ledger::merkle::merkle_root;
use ledger::{
    Account, Block, BlockHeader, ChainRules, Hash, Keypair, PublicKey, SignedTx, State, Transfer,
};

use super::CHAIN_ID;
use super::rng::Rng;

const ACCOUNTS: usize = 4;
const BALANCE: u64 = 1_000_000;

pub struct Accounts {
    keys: Vec<Keypair>,
}

impl Accounts {
    pub fn new() -> Self {
        Self {
            keys: (0..ACCOUNTS)
                .map(|i| Keypair::from_seed(&format!("sim-account-{i}")))
                .collect(),
        }
    }

    pub fn genesis(&self) -> State {
        let accounts: BTreeMap<PublicKey, Account> = self
            .keys
            .iter()
            .map(|k| {
                let account = Account {
                    balance: BALANCE,
                    nonce: 0,
                };
                (k.public(), account)
            })
            .collect();
        State::from_accounts(accounts)
    }

    pub fn supply(&self) -> u128 {
        ACCOUNTS as u128 * BALANCE as u128
    }

    /// A block of up to three transfers on `state`, as a proposer builds it.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        &self,
        rng: &mut Rng,
        state: &State,
        height: u64,
        round: u32,
        prev_hash: Hash,
        proposer: PublicKey,
        now_ms: u64,
    ) -> Block {
        let mut nonces: HashMap<PublicKey, u64> = HashMap::new();
        let drawn: Vec<SignedTx> = (0..rng.range(0, 3))
            .map(|_| {
                let from = rng.pick(&self.keys);
                let to = rng.pick(&self.keys).public();
                let nonce = nonces
                    .entry(from.public())
                    .or_insert_with(|| state.account(&from.public()).nonce);
                let transfer = Transfer {
                    chain_id: CHAIN_ID.into(),
                    from: from.public(),
                    to,
                    amount: rng.range(1, 1_000),
                    nonce: *nonce,
                    memo: vec![],
                };
                *nonce += 1;
                transfer.sign(from)
            })
            .collect();
        // A proposer keeps only what executes (a drawn transfer may send to itself or more
        // than its sender holds).
        let (execution, kept) = state
            .execute_runnable(&ChainRules::open(CHAIN_ID), &drawn)
            .expect("the simulator's state tree is in memory");
        let txs: Vec<SignedTx> = kept.iter().map(|&i| drawn[i].clone()).collect();
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        Block {
            header: BlockHeader {
                chain_id: CHAIN_ID.into(),
                height,
                round,
                prev_hash,
                proposer,
                timestamp_ms: now_ms,
                tx_root: merkle_root(&hashes),
                state_root: execution.state_root,
            },
            txs,
        }
    }
}

/// The honest application's verdict on a block proposed on top of `state` (whose tip is
/// `tip`): the node's checks, in the node's order. `verified` holds the ids of transfers whose
/// signatures were already checked (the node keeps the same cache), shared by the simulated
/// validators to keep runs cheap.
pub fn judge(
    state: &State,
    tip: &Hash,
    height: u64,
    block: &Block,
    verified: &mut HashSet<Hash>,
) -> bool {
    let Ok(ids) = block.check_structure(CHAIN_ID, height, tip, MAX_BLOCK_TXS) else {
        return false;
    };
    for (tx, id) in block.txs.iter().zip(ids) {
        if !verified.contains(&id) {
            if tx.verify().is_err() {
                return false;
            }
            verified.insert(id);
        }
    }
    state
        .execute(&ChainRules::open(CHAIN_ID), &block.txs)
        .is_ok_and(|e| e.state_root == block.header.state_root)
}

/// The same block with one transfer's amount changed (or a transfer added): header, and so
/// hash and signatures over it, untouched.
pub fn tamper(block: &Block, accounts: &Accounts) -> Block {
    let mut forged = block.clone();
    match forged.txs.first_mut() {
        Some(tx) => tx.transfer.amount = tx.transfer.amount.wrapping_add(1),
        None => {
            let key = &accounts.keys[0];
            let transfer = Transfer {
                chain_id: CHAIN_ID.into(),
                from: key.public(),
                to: accounts.keys[1].public(),
                amount: 1,
                nonce: 0,
                memo: vec![],
            };
            forged.txs.push(transfer.sign(key));
        }
    }
    forged
}
