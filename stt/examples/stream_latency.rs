//! Live captions on continuous speech, beside file transcription of the same recording, in one
//! run: real recordings (one sentence or clause each, with a reference text) trimmed to their
//! speech and played back to back with `GAP` seconds between them (0: people do not pause
//! between sentences) for `MINUTES`.
//!
//! The session is driven as the room's pipeline drives it: audio arrives in real time while
//! a push is being computed, and the next push carries everything that arrived meanwhile (at
//! least 20 ms): computation-aware streaming. Printed per encoder window: WER of the finals, the
//! compute time against file transcription (`transcribe_speech`, as `dragoman transcribe`), the
//! worst backlog, finals per sentence, media time from each sentence's end to the final that
//! covers it (p50/p95), and retractions of committed text (must be 0).
//!
//! `stream_latency WHISPER_DIR VAD_DIR MINUTES GAP CLIP.wav ...` (each `CLIP.txt` holds its text);
//! with `SHOW_EVENTS` set, every caption event is printed with the clock it came out at; with
//! `RUNS=step`, only the room's precision on this CPU runs (`Precision::fastest_on_this_cpu`), at the default step (750 ms: one stream) and at each of
//! `STEPS` ms (default `1000,500`); with
//! `RUNS=confirm`, the same, with the confirming decode after a sentence end hurried
//! to each of `CONFIRMS` ms (default `1000,400,800`; 1000 is no hurry; `300/600` waits 300 ms
//! after the hurried decode and 600 ms after the sentence end Whisper timed).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

/// See the `bench` example: mimalloc keeps large tensor buffers instead of returning them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::engine::{SpeechToText, SttEvent, SttOptions};
use dragoman_core::{AudioChunk, Lang, ModelSource, SampleRate, StreamTime};
use dragoman_stt::eval::{normalize_english, percentile, retractions, trim_silence, word_errors};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, EncoderWindow, Precision, WhisperModel};

const RATE: usize = 16_000;

struct Run {
    label: String,
    wer: f64,
    compute: f64,
    worst_backlog: f64,
    finals: usize,
    latency: Vec<f64>,
    retractions: usize,
}

fn stream(
    whisper: &WhisperModel,
    vad: &SileroVad,
    options: StreamOptions,
    audio: &[f32],
    ends: &[f64],
    reference: &str,
) -> Run {
    let mut label = format!("stream, {:?}", options.encoder_window);
    let default = StreamOptions::default();
    if options.solo_step_ms != default.solo_step_ms {
        label += &format!(", step {} ms", options.solo_step_ms);
    }
    if options.confirm_step_ms != default.confirm_step_ms {
        label += &format!(", confirm {} ms", options.confirm_step_ms);
    }
    if options.confirm_after_end_ms != default.confirm_after_end_ms {
        label += &format!(", {} ms after the end", options.confirm_after_end_ms);
    }
    let engine = WhisperStt::new(whisper.clone(), vad.clone(), options);
    let mut stt = SttOptions::default();
    stt.language = Some(Lang::EN);
    let mut session = engine.new_session(&stt).unwrap();
    let (mut sent, mut clock, mut compute) = (0usize, 0.0f64, 0.0f64);
    let mut worst_backlog = 0.0f64;
    let mut events: Vec<(f64, SttEvent)> = Vec::new();
    while sent < audio.len() {
        // Everything that arrived by now (real time), at least one 20 ms packet.
        let arrived = ((clock * RATE as f64) as usize)
            .max(sent + RATE / 50)
            .min(audio.len());
        clock = clock.max(arrived as f64 / RATE as f64);
        let time = StreamTime::from_samples(sent as u64, SampleRate::HZ_16000);
        let started = Instant::now();
        session
            .push_audio(&AudioChunk::new(time, audio[sent..arrived].to_vec()))
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        sent = arrived;
        compute += took;
        clock += took;
        worst_backlog = worst_backlog.max(clock - sent as f64 / RATE as f64);
        while let Some(e) = session.poll_event() {
            if std::env::var_os("SHOW_EVENTS").is_some() {
                println!("{clock:7.2} s (took {took:.2} s): {e:?}");
            }
            events.push((clock, e));
        }
    }
    session.finish().unwrap();
    while let Some(e) = session.poll_event() {
        events.push((clock, e));
    }
    let finals: Vec<(f64, f64, &str)> = events
        .iter()
        .filter_map(|(at, e)| match e {
            SttEvent::Final { end, text, .. } => Some((*at, end.as_secs_f64(), text.as_str())),
            _ => None,
        })
        .collect();
    // A sentence is covered by the first final that reaches to within 300 ms of its end.
    let latency = ends
        .iter()
        .filter_map(|&end| {
            finals
                .iter()
                .find(|(_, reach, _)| *reach >= end - 0.3)
                .map(|(at, _, _)| at - end)
        })
        .collect::<Vec<f64>>();
    if std::env::var_os("SHOW_LATENCY").is_some() {
        let shown: Vec<String> = latency.iter().map(|l| format!("{l:.2}")).collect();
        println!("{label}: end->final per sentence {}", shown.join(" "));
    }
    let text: Vec<&str> = finals.iter().map(|(_, _, t)| *t).collect();
    let (errors, words) = word_errors(reference, &normalize_english(&text.join(" ")));
    Run {
        label,
        wer: errors as f64 / words as f64,
        compute,
        worst_backlog,
        finals: finals.len(),
        latency,
        retractions: retractions(events.iter().map(|(_, e)| e)),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = ModelSource::dir(&args[0]);
    let load = |precision| WhisperModel::load_as(&source, &Device::Cpu, "whisper-base", precision);
    let models = [
        (Precision::F32, load(Precision::F32).unwrap()),
        (Precision::Q8, load(Precision::Q8).unwrap()),
        (Precision::Q8Decoder, load(Precision::Q8Decoder).unwrap()),
    ];
    let vad = SileroVad::load_cpu(&ModelSource::dir(&args[1])).unwrap();
    let minutes: f64 = args[2].parse().unwrap();
    let gap = vec![0.0f32; (args[3].parse::<f64>().unwrap() * RATE as f64) as usize];
    let clips: Vec<(Vec<f32>, String)> = args[4..]
        .iter()
        .map(|f| {
            let audio = load_audio(f, SampleRate::HZ_16000).unwrap().samples;
            let text = std::fs::read_to_string(f.replace(".wav", ".txt")).unwrap();
            (
                trim_silence(&audio, RATE as u32).to_vec(),
                normalize_english(&text),
            )
        })
        .collect();

    let (mut audio, mut ends, mut reference) = (Vec::new(), Vec::new(), Vec::new());
    'fill: loop {
        for (clip, text) in &clips {
            if audio.len() as f64 / RATE as f64 >= minutes * 60.0 {
                break 'fill;
            }
            audio.extend_from_slice(clip);
            ends.push(audio.len() as f64 / RATE as f64);
            reference.push(text.as_str());
            audio.extend_from_slice(&gap);
        }
    }
    audio.extend(vec![0.0f32; RATE]);
    let reference = reference.join(" ");
    let seconds = audio.len() as f64 / RATE as f64;

    println!(
        "{:.1} s of continuous speech ({} clips, {:.2} s between them, {} words), {} threads",
        seconds,
        ends.len(),
        gap.len() as f64 / RATE as f64,
        reference.split_whitespace().count(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
    println!(
        "| run | WER | compute s | x file | worst backlog s | finals | end->final p50 s | p95 s | retractions |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let with = |window: Option<EncoderWindow>, step_ms: Option<u32>| {
        let mut options = StreamOptions::default();
        if let Some(window) = window {
            options.encoder_window = window;
        }
        if let Some(step_ms) = step_ms {
            options.step_ms = step_ms;
            options.solo_step_ms = step_ms;
        }
        options
    };
    // RUNS=step compares only how often the stream decodes (default window; the steps
    // in STEPS, default 1000,500), and
    // RUNS=confirm how soon a sentence end is confirmed.
    let only = std::env::var("RUNS").unwrap_or_default();
    // The default runs at the precision the room picks on this CPU.
    let live = Precision::fastest_on_this_cpu();
    let mut runs = vec![(live, with(None, None))];
    if only == "step" {
        let steps = std::env::var("STEPS").unwrap_or_else(|_| "1000,500".into());
        runs.extend(steps.split(',').map(|step| {
            let step = step.trim().parse().expect("STEPS: ms,...");
            (live, with(None, Some(step)))
        }));
    } else if only == "confirm" {
        let confirms = std::env::var("CONFIRMS").unwrap_or_else(|_| "1000,400,800".into());
        runs.extend(confirms.split(',').map(|confirm| {
            let mut options = with(None, None);
            let (step, after_end) = confirm.split_once('/').unwrap_or((confirm, "0"));
            options.confirm_step_ms = step.trim().parse().expect("CONFIRMS: ms[/ms],...");
            options.confirm_after_end_ms = after_end.trim().parse().expect("CONFIRMS: ms[/ms],...");
            (live, options)
        }));
    } else {
        runs.extend(
            models
                .iter()
                .map(|(precision, _)| *precision)
                .filter(|&precision| precision != live)
                .map(|precision| (precision, with(None, None))),
        );
        runs.extend([
            (live, with(Some(EncoderWindow::Full), None)),
            (
                live,
                with(
                    Some(EncoderWindow::Fitted {
                        margin_ms: 1_000,
                        min_ms: 4_000,
                    }),
                    None,
                ),
            ),
        ]);
    }
    for (precision, whisper) in &models {
        if !runs.iter().any(|(p, _)| p == precision) {
            continue;
        }
        let started = Instant::now();
        let mut options = DecodeOptions::default();
        options.language = Some(Lang::EN);
        let file = whisper
            .decoder()
            .transcribe_speech(
                &AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), audio.clone()),
                &vad,
                &file_vad_options(),
                &options,
            )
            .unwrap();
        let file_compute = started.elapsed().as_secs_f64();
        let (file_errors, words) = word_errors(&reference, &normalize_english(&file.text));
        println!(
            "| {precision:?}, file transcription (transcribe_speech) | {:.2}% | {file_compute:.1} | 1.00 | | | | | |",
            100.0 * file_errors as f64 / words as f64
        );
        for (_, options) in runs.iter().filter(|(p, _)| p == precision) {
            let run = stream(whisper, &vad, options.clone(), &audio, &ends, &reference);
            println!(
                "| {precision:?}, {} | {:.2}% | {:.1} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {} |",
                run.label,
                100.0 * run.wer,
                run.compute,
                run.compute / file_compute,
                run.worst_backlog,
                run.finals,
                percentile(&run.latency, 0.5),
                percentile(&run.latency, 0.95),
                run.retractions,
            );
        }
    }
}
