#![no_main]
// Consensus messages from peers.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = consensus::Message::decode(data) {
        assert_eq!(msg.encode(), data);
    }
    let _ = ledger::encoding::decode::<consensus::SignRecord>(data);
});
