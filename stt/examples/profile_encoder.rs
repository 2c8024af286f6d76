//! Times the parts of one 30-second window: mel, encoder (convolutions and blocks), cross-attention
//! keys/values, and a 30-token greedy decode. `profile_encoder MODEL_DIR`

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a profile prints

/// Inference allocates and frees tensors of tens of megabytes per layer; glibc returns each to
/// the kernel (mmap/munmap), which costs 40% of the encoder's time in page faults. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::Device;
use dragoman_core::{Lang, ModelSource};
use dragoman_stt::whisper::mel::{N_SAMPLES, normalize};
use dragoman_stt::whisper::{DecodeOptions, WhisperModel};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: profile_encoder MODEL_DIR");
    let model = WhisperModel::load(&ModelSource::dir(dir), &Device::Cpu).unwrap();
    let samples: Vec<f32> = (0..N_SAMPLES)
        .map(|i| (i as f32 * 0.05).sin() * 0.1)
        .collect();
    for round in 0..3 {
        let t = Instant::now();
        let mut mel = model.mel().log_mel(&samples);
        normalize(&mut mel);
        let t_mel = t.elapsed();
        let t = Instant::now();
        let audio = model.encode(&mel).unwrap();
        let t_enc = t.elapsed();
        let mut options = DecodeOptions::default();
        options.sample_len = 30;
        let mut decoder = model.decoder();
        let t = Instant::now();
        let r = decoder
            .decode(&audio, &[], Lang::EN, 0.0, &options)
            .unwrap();
        let t_dec = t.elapsed();
        println!(
            "round {round}: mel {t_mel:?}, encoder + cross k/v {t_enc:?}, decode {} tokens {t_dec:?}",
            r.tokens.len()
        );
    }
}
