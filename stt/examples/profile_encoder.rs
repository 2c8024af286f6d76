//! Times the parts of one window of 30, 10 and 5 seconds (the full window and fitted ones): mel,
//! encoder (convolutions and blocks), cross-attention keys/values, and a 30-token greedy decode.
//! `profile_encoder MODEL_DIR [SPEECH.wav]`

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a profile prints

/// Inference allocates and frees tensors of tens of megabytes per layer; glibc returns each to
/// the kernel (mmap/munmap), which costs 40% of the encoder's time in page faults. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::{Lang, ModelSource, SampleRate};
use dragoman_stt::whisper::mel::{N_SAMPLES, normalize};
use dragoman_stt::whisper::{DecodeOptions, Precision, WhisperModel};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: profile_encoder MODEL_DIR");
    // Real speech (a recording given as the second argument), else a tone.
    let speech = match std::env::args().nth(2) {
        Some(file) => load_audio(&file, SampleRate::HZ_16000).unwrap().samples,
        None => (0..N_SAMPLES)
            .map(|i| (i as f32 * 0.05).sin() * 0.1)
            .collect(),
    };
    for precision in [Precision::F32, Precision::Q8, Precision::Q8Decoder] {
        println!("{precision:?} weights");
        let source = ModelSource::dir(&dir);
        let model =
            WhisperModel::load_as(&source, &Device::Cpu, "whisper-base", precision).unwrap();
        for seconds in [30, 10, 5] {
            let samples: Vec<f32> = speech
                .iter()
                .copied()
                .cycle()
                .take(N_SAMPLES * seconds / 30)
                .collect();
            profile(&model, &samples, seconds);
        }
    }
}

fn profile(model: &WhisperModel, samples: &[f32], seconds: usize) {
    for round in 0..3 {
        let t = Instant::now();
        let mut mel = model.mel().log_mel(samples);
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
            "{seconds} s, round {round}: mel {t_mel:?}, encoder + cross k/v {t_enc:?}, decode {} tokens {t_dec:?}",
            r.tokens.len()
        );
    }
}
