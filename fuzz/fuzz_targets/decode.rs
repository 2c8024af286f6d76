//! Audio container and codec parsing on arbitrary bytes must never panic or hang.
//! Run from `fuzz/`: `cargo fuzz run --sanitizer none decode corpus/decode ../core/tests/fixtures/audio`
//! (libFuzzer writes new inputs into the first directory only, so the fixtures stay as they are).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The unguarded entry point, so that a decoder panic is a crash the fuzzer reports.
    let _ = dragoman_core::decode::decode_unguarded(data.to_vec(), None);
});
