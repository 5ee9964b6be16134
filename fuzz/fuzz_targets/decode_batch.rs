#![no_main]
// Transaction batches from clients (POST /v1/txs/batch) and validators' tx gossip: decoding
// never panics, what decodes re-encodes to the same bytes, and each transaction inside goes
// through the ordinary transaction decoder.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = ledger::TxBatch::decode(data) {
        assert_eq!(batch.encode(), data);
        for tx in &batch.txs {
            let _ = ledger::SignedTx::decode(tx);
        }
    }
});
