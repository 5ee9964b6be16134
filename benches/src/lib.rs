//! Fixtures shared by the benchmarks: funded accounts and pre-signed transfers.

#![forbid(unsafe_code)]

use ledger::{
    Block, CommitCertificate, CommitSig, Genesis, GenesisAccount, GenesisValidator, Keypair,
    SignedTx, Transfer,
};

/// A certificate for `block` with 3 of 4 signatures. Storage does not check signatures, so
/// these are placeholders of the right size.
pub fn placeholder_certificate(block: &Block) -> CommitCertificate {
    CommitCertificate {
        height: block.header.height,
        round: 0,
        block_hash: block.hash(),
        signatures: (0..3)
            .map(|i| CommitSig {
                validator_index: i,
                signature: ledger::Signature([7; 64]),
            })
            .collect(),
    }
}

pub const CHAIN_ID: &str = "bench-chain";

/// `count` deterministic sender keys.
pub fn senders(count: usize) -> Vec<Keypair> {
    (0..count)
        .map(|i| Keypair::from_seed(&format!("bench-sender-{i}")))
        .collect()
}

/// A genesis funding every sender.
pub fn genesis(senders: &[Keypair]) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        validators: vec![GenesisValidator {
            name: "bench".into(),
            public_key: Keypair::from_seed("bench-validator").public(),
            power: 1,
            p2p: None,
        }],
        accounts: senders
            .iter()
            .map(|k| GenesisAccount {
                address: k.public(),
                balance: 1_000_000_000,
            })
            .collect(),
        permissions: None,
    }
}

/// `count` valid transfers round-robin over `senders`, each sender's nonces in order, sending
/// to the next sender. With an empty memo each encodes to about 150 bytes.
pub fn transfers(senders: &[Keypair], count: usize, memo_bytes: usize) -> Vec<SignedTx> {
    let mut nonces = vec![0u64; senders.len()];
    (0..count)
        .map(|i| {
            let s = i % senders.len();
            let nonce = nonces[s];
            nonces[s] += 1;
            Transfer {
                chain_id: CHAIN_ID.into(),
                from: senders[s].public(),
                to: senders[(s + 1) % senders.len()].public(),
                amount: 1,
                nonce,
                memo: vec![0x42; memo_bytes],
            }
            .sign(&senders[s])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_valid_and_executable() {
        let keys = senders(3);
        let txs = transfers(&keys, 10, 0);
        assert!(txs.iter().all(|t| t.verify().is_ok()));
        let state = ledger::State::from_genesis(&genesis(&keys));
        let executed = state.execute(&ledger::ChainRules::open(CHAIN_ID), &txs);
        assert!(executed.is_ok(), "{executed:?}");
        let len = txs[0].encode().len();
        assert!((140..=180).contains(&len), "{len}");
    }
}
