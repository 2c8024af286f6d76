//! Live captions, translated: English recordings played as a call delivers them (20 ms chunks,
//! real-time pacing simulated) through Whisper streaming captions and incremental caption
//! translation, with the models `dragoman models pull` fetched (whisper-base, silero-vad, and
//! the best pulled translation model for the pair).
//!
//! Reports how long after each utterance ends its translated final caption is ready on this
//! machine, counting the compute of both stages as it queues up in real time, plus how many
//! partial translations were sent before it. Prints the first captions as a sample.
//!
//! `cargo run --release -p dragoman-examples --example caption_translation -- TO CLIP.wav ...`

#![allow(clippy::print_stdout)] // an example prints

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::engine::{
    CaptionText, SpeechToText, SttEvent, SttOptions, TranslationEvent, TranslationOptions,
    Translator,
};
use dragoman_core::store::ModelStore;
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::WhisperModel;
use dragoman_translate::cache::LruCache;
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::models;

/// Silence between clips, so each clip is one or more separate utterances.
const GAP_SECONDS: f64 = 0.75;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (to, clips) = args
        .split_first()
        .context("usage: caption_translation TO CLIP.wav ...")?;
    let to = Lang::parse(to)?;
    let store = ModelStore::from_env()?;
    let device = Device::Cpu;
    let whisper = WhisperModel::load(&store.source("whisper-base")?, &device)?;
    let vad = SileroVad::load_cpu(&store.source("silero-vad")?)?;
    let ids = models::choose_pulled(&store, Lang::EN, to)?;
    let translators = ids
        .iter()
        .map(|id| models::load(&store, id, None, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = TranslationEngine::new(translators).with_cache(Arc::new(LruCache::new(
        NonZeroUsize::new(4096).context("capacity")?,
    )));

    // The recordings back to back, with pauses; remember where speech ends.
    let rate = SampleRate::HZ_16000;
    let gap = vec![0f32; (GAP_SECONDS * 16_000.0) as usize];
    let mut audio = Vec::new();
    let mut ends = Vec::new();
    for clip in clips {
        audio.extend_from_slice(&gap);
        audio.extend(load_audio(clip, rate)?.samples);
        ends.push(audio.len() as f64 / 16_000.0);
    }
    audio.extend_from_slice(&gap);

    let stt = WhisperStt::new(whisper, vad, StreamOptions::default());
    let mut stt_options = SttOptions::default();
    stt_options.language = Some(Lang::EN);
    let mut captions = stt.new_session(&stt_options)?;
    let mut translation = engine.new_session(&TranslationOptions::new(Lang::EN, to))?;

    let mut caption_id = 0u64;
    let mut t = StreamTime::zero(rate);
    let mut busy_until = 0f64;
    // (ready at, media time the utterance ended, event)
    let mut translated: Vec<(f64, TranslationEvent)> = Vec::new();
    let mut finals_end: Vec<f64> = Vec::new();
    let mut handle = |event: SttEvent,
                      translation: &mut Box<dyn dragoman_core::engine::TranslationSession>|
     -> anyhow::Result<()> {
        let caption = match event {
            SttEvent::Partial {
                text,
                stable_prefix_len,
                expected_final_len,
                start,
            } => CaptionText {
                caption_id,
                text,
                stable_prefix_len,
                expected_final_len,
                is_final: false,
                start,
            },
            SttEvent::Final {
                text, start, end, ..
            } => {
                finals_end.push(end.as_secs_f64());
                caption_id += 1;
                CaptionText {
                    caption_id: caption_id - 1,
                    stable_prefix_len: text.len(),
                    expected_final_len: None,
                    text,
                    is_final: true,
                    start,
                }
            }
            _ => return Ok(()),
        };
        translation.push_text(&caption)?;
        Ok(())
    };
    for piece in audio.chunks(320) {
        let started = Instant::now();
        captions.push_audio(&AudioChunk::new(t, piece.to_vec()))?;
        while let Some(event) = captions.poll_event() {
            handle(event, &mut translation)?;
        }
        let took = started.elapsed().as_secs_f64();
        t = t.advanced(piece.len() as u64);
        // Real-time pacing: the chunk arrives at media time t; work queues behind earlier work.
        let now = t.as_secs_f64();
        busy_until = busy_until.max(now) + took;
        while let Some(event) = translation.poll_event() {
            translated.push((busy_until, event));
        }
    }
    captions.finish()?;
    while let Some(event) = captions.poll_event() {
        handle(event, &mut translation)?;
    }
    while let Some(event) = translation.poll_event() {
        translated.push((busy_until, event));
    }

    // For each spoken clip: its end to the first translated final ready after it.
    let mut latencies: Vec<f64> = ends
        .iter()
        .filter_map(|&end| {
            translated
                .iter()
                .find(|(ready, e)| e.is_final && *ready >= end)
                .map(|(ready, _)| ready - end)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let partials = translated.iter().filter(|(_, e)| !e.is_final).count();
    let finals = translated.iter().filter(|(_, e)| e.is_final).count();
    println!(
        "{} clips, {:.1} s of audio, English -> {} with {}; 2 threads",
        clips.len(),
        audio.len() as f64 / 16_000.0,
        to.code(),
        ids.join(" + ")
    );
    println!(
        "{finals} translated finals, {partials} partial translations before them; {} speech finals",
        finals_end.len()
    );
    if let (Some(first), Some(last)) = (latencies.first(), latencies.last()) {
        let median = latencies[latencies.len() / 2];
        println!(
            "utterance end -> translated final ready: median {median:.2} s, min {first:.2} s, max {last:.2} s"
        );
    }
    for (_, event) in translated.iter().filter(|(_, e)| e.is_final).take(3) {
        println!("  [{}] {}", event.caption_id, event.text);
    }
    Ok(())
}
