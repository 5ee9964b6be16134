#![no_main]
// Transactions from clients and gossip: decoding and admission must never panic, and what
// decodes must re-encode to the same bytes (canonical encoding).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = ledger::SignedTx::decode(data) {
        assert_eq!(tx.encode(), data);
        let _ = tx.verify();
    }
});
