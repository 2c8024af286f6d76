//! Silero VAD v6 on candle against onnxruntime running the published ONNX model on real speech,
//! and its segmentation of speech, silence and noise.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use dragoman_core::decode::load_audio;
use dragoman_core::engine::{VadEvent, VadOptions, VoiceActivity};
use dragoman_core::{AudioChunk, SampleRate, StreamTime};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::vad::silero::CHUNK;

fn vad() -> SileroVad {
    SileroVad::load_cpu(&common::model("silero-vad")).expect("load Silero")
}

#[test]
fn matches_onnxruntime_on_real_speech() {
    let model = vad();
    let onnx = common::published("silero-vad").join("silero_vad_16k_op15.onnx");
    let librivox = common::librivox();
    let clips = [
        common::jfk(),
        librivox.join(format!("{}.wav", common::LIBRIVOX[0])),
    ];
    let mut worst = 0f32;
    let mut chunks = 0;
    for clip in &clips {
        let reference: Vec<f32> =
            serde_json::from_value(common::reference_json("silero_onnx.py", &[&onnx, clip]))
                .unwrap();
        let audio = load_audio(clip, SampleRate::HZ_16000).unwrap();
        let mut state = model.initial_state().unwrap();
        for (i, piece) in audio.samples.chunks(CHUNK).enumerate() {
            let mut chunk = piece.to_vec();
            chunk.resize(CHUNK, 0.0);
            let ours = model.probability(&mut state, &chunk).unwrap();
            worst = worst.max((ours - reference[i]).abs());
            chunks += 1;
        }
    }
    eprintln!("max |candle - onnxruntime| = {worst:e} over {chunks} chunks");
    // Same weights, same arithmetic up to float summation order.
    assert!(
        worst < 1e-5,
        "max |candle - onnxruntime| = {worst} over {chunks} chunks"
    );
}

fn segments(model: &SileroVad, samples: Vec<f32>) -> Vec<(f64, f64)> {
    model
        .speech_segments(&samples, &VadOptions::default())
        .unwrap()
        .into_iter()
        .map(|(s, e)| (s as f64 / 16_000.0, e as f64 / 16_000.0))
        .collect()
}

#[test]
fn finds_speech_and_ignores_silence_and_noise() {
    let model = vad();
    let jfk = load_audio(common::jfk(), SampleRate::HZ_16000).unwrap();
    let speech = segments(&model, jfk.samples.clone());
    assert!(!speech.is_empty());
    // The clip is 11 s of speech with short pauses; speech starts within the first second.
    let covered: f64 = speech.iter().map(|(s, e)| e - s).sum();
    assert!(speech[0].0 < 1.0 && covered > 7.0, "{speech:?}");

    assert!(
        segments(&model, vec![0.0; 16_000 * 3]).is_empty(),
        "digital silence"
    );
    // White noise at about -20 dBFS (xorshift, uniform): not speech.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.35
        })
        .collect();
    assert!(segments(&model, noise).is_empty(), "white noise");
}

#[test]
fn streaming_in_small_chunks_at_48k_gives_the_same_segments() {
    let model = vad();
    let jfk = load_audio(common::jfk(), SampleRate::HZ_16000).unwrap();
    let whole = model
        .speech_segments(&jfk.samples, &VadOptions::default())
        .unwrap();
    // The same speech at 48 kHz in 20 ms chunks, as it arrives from a call.
    let at48 =
        dragoman_core::resample::resample(&jfk.samples, SampleRate::HZ_16000, SampleRate::HZ_48000)
            .unwrap();
    let mut session = model.new_session(&VadOptions::default()).unwrap();
    let mut t = StreamTime::zero(SampleRate::HZ_48000);
    let mut events = Vec::new();
    for piece in at48.chunks(960) {
        session
            .push_audio(&AudioChunk::new(t, piece.to_vec()))
            .unwrap();
        t = t.advanced(piece.len() as u64);
        while let Some(e) = session.poll_event() {
            events.push(e);
        }
    }
    session.finish().unwrap();
    while let Some(e) = session.poll_event() {
        events.push(e);
    }
    let streamed: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            VadEvent::SpeechEnd { start, end } => Some((start.samples(), end.samples())),
            _ => None,
        })
        .collect();
    assert_eq!(streamed.len(), whole.len(), "{streamed:?} vs {whole:?}");
    for ((s1, e1), (s2, e2)) in streamed.iter().zip(&whole) {
        // Resampling twice moves boundaries by at most a chunk.
        assert!(
            s1.abs_diff(*s2) <= CHUNK as u64 && e1.abs_diff(*e2) <= CHUNK as u64,
            "{streamed:?} vs {whole:?}"
        );
    }
    // Every end was announced by a start first; pushing after finish is misuse.
    let starts = events
        .iter()
        .filter(|e| matches!(e, VadEvent::SpeechStart { .. }))
        .count();
    assert_eq!(starts, streamed.len());
    assert!(
        session
            .push_audio(&AudioChunk::new(t, vec![0.0; 10]))
            .is_err()
    );
}
