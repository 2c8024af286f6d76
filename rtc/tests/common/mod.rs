//! What the room tests share: the real engines (Whisper base with Silero VAD, the offline
//! Gemma 3 270M translator, espeak-ng voices plus the Piper English voice), real English
//! recordings with their reference transcripts, Opus packets of them, and Whisper listening to
//! translated speech.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses some

#[path = "../../../stt/tests/common/mod.rs"]
mod speech;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::engine::{SpeechToText, TextToSpeech, Translator};
use dragoman_core::store::{ModelStore, PullOptions};
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime};
use dragoman_rtc::codec::{OpusDecoder, OpusEncoder};
use dragoman_rtc::compute::ComputeGate;
use dragoman_rtc::pipeline::{Engines, OpusPacket};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, WhisperModel};
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::models;
use dragoman_tts::engine::SpeechEngine;
use dragoman_tts::piper::PiperVoice;

pub(crate) use speech::{LIBRIVOX, librivox};

/// The translation model reachable here (the Hub's seq2seq models are not): a 270M base LLM,
/// weak out of English. Tests hold its output to "a non-empty translation for every final".
pub(crate) const TRANSLATION_MODEL: &str = "gemma3-270m-q4km";
const PIPER_VOICE: &str = "piper-en_US-joe-medium";

fn store() -> (ModelStore, PullOptions) {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-test-store");
    let mut options = PullOptions::default();
    options.hub = false;
    (ModelStore::new(root), options)
}

/// Whisper base and Silero VAD, loaded once per test binary.
pub(crate) fn whisper() -> &'static (WhisperModel, SileroVad) {
    static MODELS: OnceLock<(WhisperModel, SileroVad)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let whisper = WhisperModel::load(&speech::model("whisper-base"), &Device::Cpu).unwrap();
        let vad = SileroVad::load_cpu(&speech::model("silero-vad")).unwrap();
        (whisper, vad)
    })
}

/// The engines of a room, loaded once per test binary.
pub(crate) fn engines() -> Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES
        .get_or_init(|| {
            let (whisper, vad) = whisper().clone();
            let stt: Arc<dyn SpeechToText> =
                Arc::new(WhisperStt::new(whisper, vad, StreamOptions::default()));
            let (store, options) = store();
            for id in [TRANSLATION_MODEL, PIPER_VOICE] {
                store.pull(id, &options, &()).expect("pull model");
            }
            let translator: Arc<dyn Translator> = Arc::new(TranslationEngine::new(vec![
                models::load(&store, TRANSLATION_MODEL, None, &Device::Cpu).unwrap(),
            ]));
            let mut tts = SpeechEngine::new().expect("espeak-ng is installed");
            let piper = PiperVoice::load(
                &store.source(PIPER_VOICE).unwrap(),
                PIPER_VOICE,
                "en_US-joe-medium.onnx.json",
                "model.safetensors",
                tts.espeak(),
                &Device::Cpu,
            )
            .unwrap();
            tts.add_voice(Arc::new(piper));
            let tts: Arc<dyn TextToSpeech> = Arc::new(tts);
            Engines {
                stt,
                translator,
                refiner: None,
                tts,
                compute: Arc::new(ComputeGate::default()),
            }
        })
        .clone()
}

/// The stronger translator that refines finals in the refinement test: Qwen2.5-Coder 0.5B
/// Instruct (the smallest instruct model in the catalog).
pub(crate) fn refiner() -> Arc<dyn Translator> {
    const REFINER: &str = "qwen2.5-coder-0.5b-instruct-q4km";
    let (store, options) = store();
    store.pull(REFINER, &options, &()).expect("pull model");
    Arc::new(TranslationEngine::new(vec![
        models::load(&store, REFINER, None, &Device::Cpu).unwrap(),
    ]))
}

/// LibriVox clips back to back at 48 kHz with `gap` seconds of silence around each, their
/// reference transcripts, and where (seconds) each clip's speech ends.
pub(crate) fn recording(clips: usize, gap: f64) -> (Vec<f32>, Vec<String>, Vec<f64>) {
    let dir = librivox();
    let rate = SampleRate::new(48_000).unwrap();
    let silence = vec![0f32; (gap * 48_000.0) as usize];
    let (mut audio, mut references, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for clip in &LIBRIVOX[..clips] {
        audio.extend_from_slice(&silence);
        audio.extend(
            load_audio(dir.join(format!("{clip}.wav")), rate)
                .unwrap()
                .samples,
        );
        ends.push(audio.len() as f64 / 48_000.0);
        references.push(std::fs::read_to_string(dir.join(format!("{clip}.txt"))).unwrap());
    }
    audio.extend_from_slice(&silence);
    (audio, references, ends)
}

/// `audio` (48 kHz mono) as 20 ms Opus packets with sequence numbers from `first`.
pub(crate) fn opus_packets(audio: &[f32], first: u16) -> Vec<OpusPacket> {
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packets = encoder.encode(audio).unwrap();
    packets.extend(encoder.flush().unwrap());
    packets
        .into_iter()
        .enumerate()
        .map(|(i, payload)| OpusPacket {
            sequence: first.wrapping_add(i as u16),
            payload,
        })
        .collect()
}

/// Opus packets decoded to 48 kHz mono.
pub(crate) fn decode_packets(packets: &[Vec<u8>]) -> Vec<f32> {
    let mut decoder = OpusDecoder::new().unwrap();
    packets
        .iter()
        .flat_map(|p| decoder.decode(p).unwrap())
        .collect()
}

/// What Whisper base hears in 48 kHz mono `audio` spoken in `lang`.
pub(crate) fn hear(audio: &[f32], lang: Lang) -> String {
    let (whisper, vad) = whisper();
    let audio = dragoman_core::resample::resample(
        audio,
        SampleRate::new(48_000).unwrap(),
        SampleRate::HZ_16000,
    )
    .unwrap();
    let chunk = AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), audio);
    let mut options = DecodeOptions::default();
    options.language = Some(lang);
    whisper
        .decoder()
        .transcribe_speech(&chunk, vad, &file_vad_options(), &options)
        .unwrap()
        .text
}

/// What the room's text-to-speech engine says for `texts` in `lang`, one utterance each,
/// back to back at 48 kHz (as the pipeline speaks translated finals).
pub(crate) fn synthesize(texts: &[&str], lang: Lang) -> Vec<f32> {
    let tts = engines().tts;
    let mut session = tts
        .new_session(&dragoman_core::engine::TtsOptions::new(lang))
        .unwrap();
    let mut out = Vec::new();
    for text in texts {
        session.push_text(text).unwrap();
        session.finish().unwrap();
        let mut audio = Vec::new();
        let rate = dragoman_tts::session::drain_audio(session.as_mut(), &mut audio).unwrap();
        out.extend(
            dragoman_core::resample::resample(&audio, rate, SampleRate::new(48_000).unwrap())
                .unwrap(),
        );
    }
    out
}

/// Correlation of the loudness envelopes (10 ms RMS) of two 48 kHz signals, at the best
/// shift within ±50 ms (the codec delays a little, each utterance is padded to whole
/// frames): near 1 when they are the same speech.
pub(crate) fn envelope_correlation(a: &[f32], b: &[f32]) -> f64 {
    let envelope = |x: &[f32]| -> Vec<f64> {
        x.chunks(480)
            .map(|c| (c.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
            .collect()
    };
    let (a, b) = (envelope(a), envelope(b));
    let correlation = |a: &[f64], b: &[f64]| {
        let n = a.len().min(b.len());
        let mean = |x: &[f64]| x[..n].iter().sum::<f64>() / n as f64;
        let (ma, mb) = (mean(a), mean(b));
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (x, y) = (a[i] - ma, b[i] - mb);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
    };
    (0..=5)
        .flat_map(|shift| [correlation(&a[shift..], &b), correlation(&a, &b[shift..])])
        .fold(f64::MIN, f64::max)
}

/// A UDP relay between two peers on loopback that loses and delays packets, like a poor
/// network: each datagram is dropped with probability `loss`, else delivered after a random
/// delay of up to `jitter` (so some arrive out of order). Peers are pointed at it by
/// rewriting the host candidates they trickle (see [`LossyRelay::rewrite`]).
pub(crate) struct LossyRelay {
    /// Faces the first peer (`a`) sees as the second peer's address, and vice versa.
    face_a: std::sync::Arc<tokio::net::UdpSocket>,
    face_b: std::sync::Arc<tokio::net::UdpSocket>,
    real: std::sync::Mutex<[Option<std::net::SocketAddr>; 2]>,
    pub(crate) dropped: std::sync::atomic::AtomicU64,
    pub(crate) passed: std::sync::atomic::AtomicU64,
    /// Set: every datagram is lost (the peer vanished).
    pub(crate) cut: std::sync::atomic::AtomicBool,
}

impl LossyRelay {
    pub(crate) async fn start(loss: f64, jitter: std::time::Duration) -> std::sync::Arc<Self> {
        use std::sync::atomic::Ordering;
        let bind = || async {
            std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap())
        };
        let relay = std::sync::Arc::new(Self {
            face_a: bind().await,
            face_b: bind().await,
            real: std::sync::Mutex::new([None, None]),
            dropped: Default::default(),
            passed: Default::default(),
            cut: Default::default(),
        });
        // Direction 0: what peer a sends (to face_b) goes to peer b from face_a; 1: reverse.
        for direction in 0..2 {
            let relay = relay.clone();
            tokio::spawn(async move {
                let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ direction as u64;
                let mut random = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut buffer = vec![0u8; 2048];
                loop {
                    let (from, to) = if direction == 0 {
                        (&relay.face_b, relay.face_a.clone())
                    } else {
                        (&relay.face_a, relay.face_b.clone())
                    };
                    let Ok((n, _)) = from.recv_from(&mut buffer).await else {
                        return;
                    };
                    let Some(target) = relay.real.lock().unwrap()[1 - direction] else {
                        continue;
                    };
                    if relay.cut.load(Ordering::Relaxed) || random() < loss {
                        relay.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    relay.passed.fetch_add(1, Ordering::Relaxed);
                    let datagram = buffer[..n].to_vec();
                    let delay = jitter.mul_f64(random());
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = to.send_to(&datagram, target).await;
                    });
                }
            });
        }
        relay
    }

    /// A host candidate of peer `a` (`from_a`) or `b`, rewritten to the relay's face that
    /// stands for it; the real address is remembered.
    pub(crate) fn rewrite(&self, candidate: &str, from_a: bool) -> String {
        let mut fields: Vec<String> = candidate.split_whitespace().map(str::to_string).collect();
        if fields.len() > 7
            && fields[2].eq_ignore_ascii_case("udp")
            && let Ok(real) = format!("{}:{}", fields[4], fields[5]).parse()
        {
            self.real.lock().unwrap()[usize::from(!from_a)] = Some(real);
            let face = if from_a { &self.face_a } else { &self.face_b }
                .local_addr()
                .unwrap();
            fields[4] = face.ip().to_string();
            fields[5] = face.port().to_string();
        }
        fields.join(" ")
    }
}

/// Word errors of the finals `heard` against the reference transcripts (both normalised),
/// printed under `label`: `(wrong, reference words)`.
pub(crate) fn word_error_rate(
    references: &[String],
    heard: &[&str],
    label: &str,
) -> (usize, usize) {
    let (wrong, words) = dragoman_stt::eval::word_errors(
        &dragoman_stt::eval::normalize_words(&references.join(" ")),
        &dragoman_stt::eval::normalize_words(&heard.join(" ")),
    );
    eprintln!("{label}: WER {wrong}/{words} | {}", heard.join(" | "));
    (wrong, words)
}
