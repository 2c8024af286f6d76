//! The CTranslate2 reader and the Whisper name mapping on arbitrary bytes must never panic.
//! Run: `cargo fuzz run --sanitizer none ct2 -- -max_total_time=60`
#![no_main]

use dragoman_core::store::convert::ct2::{Ct2Model, whisper_to_hf};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Ct2Model::parse(data.to_vec()) {
        let _ = whisper_to_hf(&model);
    }
});
