//! The signaling parser on arbitrary bytes must never panic: every input is a message or a
//! protocol error the room can send back. Run from `fuzz/`:
//! `cargo fuzz run --sanitizer none signaling corpus/signaling`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = dragoman_rtc::protocol::parse_client(data) {
        // The error must itself be sendable.
        let _ = dragoman_rtc::protocol::to_json(&e.into());
    }
});
