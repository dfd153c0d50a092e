//! Fuzz target: bytes → one request frame → header → body of the matching request type.
//! The logic lives in `ringbroker::protocol::fuzz_decode_request` so that
//! `tests/fuzz_corpus.rs` replays the corpus through exactly the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Errors are expected for most inputs; only a panic, hang or over-allocation is a finding.
    let _ = ringbroker::protocol::fuzz_decode_request(data);
});
