//! Accounts that local demo testnets fund, from fixed public seeds so anyone can sign for
//! them. Nothing else may fund them: on a real chain they would be anyone's money.

use ledger::{Address, Keypair};

pub const DEMO_ACCOUNTS: [&str; 4] = ["alice", "bob", "carol", "dave"];
pub const DEMO_BALANCE: u64 = 1_000_000_000;

pub fn demo_key(name: &str) -> Keypair {
    Keypair::from_seed(name)
}

/// Every demo account with its starting balance.
pub fn demo_funding() -> Vec<(Address, u64)> {
    DEMO_ACCOUNTS
        .iter()
        .map(|name| (demo_key(name).public(), DEMO_BALANCE))
        .collect()
}
