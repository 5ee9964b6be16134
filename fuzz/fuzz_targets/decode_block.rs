#![no_main]
// Blocks from peers and from storage.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = ledger::encoding::decode::<ledger::Block>(data) {
        assert_eq!(ledger::encoding::encode(&block), data);
        let _ = block.check_structure("fuzz", block.header.height, &block.header.prev_hash, 10_000);
    }
    let _ = ledger::encoding::decode::<ledger::CommitCertificate>(data);
});
