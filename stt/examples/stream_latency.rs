//! Live-caption latency over a long session: real recordings played back to back (with pauses)
//! for `MINUTES`, at 48 kHz in 20 ms chunks, as a call delivers them. Reports media-time latency
//! (speech onset to first partial, utterance end to final), the compute time of each push, how
//! far behind real time the session would fall on this machine, and retractions of committed text
//! (must be 0). Shows whether work stays bounded as the session grows.
//!
//! `stream_latency WHISPER_DIR VAD_DIR MINUTES CLIP.wav ...`

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

/// See the `bench` example: mimalloc keeps large tensor buffers instead of returning them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::engine::{SpeechToText, SttEvent, SttOptions};
use dragoman_core::resample::resample;
use dragoman_core::{AudioChunk, Lang, ModelSource, SampleRate, StreamTime};
use dragoman_stt::eval::{percentile, retractions};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::WhisperModel;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let whisper = WhisperModel::load(&ModelSource::dir(&args[0]), &Device::Cpu).unwrap();
    let vad = SileroVad::load_cpu(&ModelSource::dir(&args[1])).unwrap();
    let minutes: f64 = args[2].parse().unwrap();
    let clips: Vec<Vec<f32>> = args[3..]
        .iter()
        .map(|f| load_audio(f, SampleRate::HZ_16000).unwrap().samples)
        .collect();

    let mut audio = Vec::new();
    let mut spans = Vec::new();
    let gap = vec![0.0f32; 12_000]; // 0.75 s pauses
    'fill: loop {
        for clip in &clips {
            if audio.len() as f64 / 16_000.0 >= minutes * 60.0 {
                break 'fill;
            }
            audio.extend_from_slice(&gap);
            spans.push((
                audio.len() as f64 / 16_000.0,
                (audio.len() + clip.len()) as f64 / 16_000.0,
            ));
            audio.extend_from_slice(clip);
        }
    }
    audio.extend_from_slice(&gap);
    let at48 = resample(&audio, SampleRate::HZ_16000, SampleRate::HZ_48000).unwrap();

    let engine = WhisperStt::new(whisper, vad, StreamOptions::default());
    let mut options = SttOptions::default();
    options.language = Some(Lang::EN);
    let mut session = engine.new_session(&options).unwrap();
    let mut t = StreamTime::zero(SampleRate::HZ_48000);
    let mut events: Vec<(f64, SttEvent)> = Vec::new();
    let mut push_ms = Vec::new();
    let (mut busy_until, mut worst_lag) = (0.0f64, 0.0f64);
    for piece in at48.chunks(960) {
        let started = Instant::now();
        session
            .push_audio(&AudioChunk::new(t, piece.to_vec()))
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        t = t.advanced(piece.len() as u64);
        // Real-time playback: the chunk arrives at media time t; work queues behind earlier work.
        let now = t.as_secs_f64();
        busy_until = busy_until.max(now) + took;
        worst_lag = worst_lag.max(busy_until - now);
        push_ms.push(took * 1000.0);
        while let Some(e) = session.poll_event() {
            events.push((now, e));
        }
    }
    session.finish().unwrap();
    while let Some(e) = session.poll_event() {
        events.push((t.as_secs_f64(), e));
    }

    let (mut onset, mut end) = (Vec::new(), Vec::new());
    for (s, e) in &spans {
        if let Some((at, _)) = events
            .iter()
            .find(|(at, ev)| matches!(ev, SttEvent::Partial { .. }) && at >= s && *at < e + 1.0)
        {
            onset.push(at - s);
        }
        if let Some((at, _)) = events
            .iter()
            .find(|(at, ev)| matches!(ev, SttEvent::Final { .. }) && *at >= *e)
        {
            end.push(at - e);
        }
    }
    let retractions = retractions(events.iter().map(|(_, e)| e));
    let third = push_ms.len() / 3;
    println!(
        "session {:.1} min of audio, {} utterances, 2 threads",
        audio.len() as f64 / 960_000.0,
        spans.len()
    );
    println!(
        "media time: onset->first partial median {:.2} s p95 {:.2} s; end->final median {:.2} s p95 {:.2} s",
        percentile(&onset, 0.5),
        percentile(&onset, 0.95),
        percentile(&end, 0.5),
        percentile(&end, 0.95)
    );
    println!(
        "compute per 20 ms push: median {:.2} ms, p99 {:.0} ms, max {:.0} ms; first third max {:.0} ms, last third max {:.0} ms",
        percentile(&push_ms, 0.5),
        percentile(&push_ms, 0.99),
        percentile(&push_ms, 1.0),
        percentile(&push_ms[..third], 1.0),
        percentile(&push_ms[2 * third..], 1.0)
    );
    println!(
        "real-time playback on this machine: worst backlog {worst_lag:.2} s; total compute {:.1} s for {:.1} s of audio",
        push_ms.iter().sum::<f64>() / 1000.0,
        audio.len() as f64 / 16_000.0
    );
    println!("retractions of committed text: {retractions}");
}
