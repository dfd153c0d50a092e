//! Fuzz target: bytes → RecordBatch v2 validation → every record and header, decompressing at
//! most `ringbroker::protocol::FUZZ_DECOMPRESSED_SIZE_MAX`. The logic lives in
//! `ringbroker::protocol::fuzz_record_batch`, which `tests/fuzz_corpus.rs` also replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Errors are expected for most inputs; only a panic, hang or over-allocation is a finding.
    let _ = ringbroker::protocol::fuzz_record_batch(data);
});
