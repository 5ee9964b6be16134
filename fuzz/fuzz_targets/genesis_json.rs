#![no_main]
// Operator-supplied genesis files.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ledger::Genesis::from_json(text);
    }
});
