//! A translated call of continuous speech, on this machine, in one run: whether the room keeps
//! real time.
//!
//! A room in-process with the real engines (as `dragoman serve` loads them) and four
//! participants over loopback WebRTC: speakers A and B talk at the same time for `--minutes`,
//! each from real recordings of one voice played back to back with no pause between them (as
//! people talk: a clip ends, the next begins), and read German captions; listeners C (German)
//! and D (Vietnamese) read and hear the translations. Every caption is thus translated into two
//! languages and every final spoken in two.
//!
//! Per minute of the call: from the end of each recorded clip to the final caption that covers
//! it, to its translation, and to the first translated speech after that (p50 and p95, C's
//! view); audio dropped by the room; the process's CPU (cores) and resident memory (peak so
//! far). Then the whole call's figures. See `scripts/bench_call.sh` for the recordings.
//!
//! `bench_call DIR_A DIR_B [--minutes N] [--speakers 1|2] [--no-refine] [--slots N]`, each DIR
//! holding `NAME.wav` with `NAME.txt` (the clips are played in name order); `--no-refine` leaves
//! the refiner out, as `refine_finals = false` does in the server; `--slots` sets how many model
//! jobs the compute gate runs at once (default: one, as in the server). With `BENCH_CLIPS` set,
//! each clip's latencies are printed too.

#![allow(clippy::print_stdout)] // a benchmark prints

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use dragoman_core::SampleRate;
use dragoman_core::decode::load_audio;
use dragoman_core::store::ModelStore;
use dragoman_examples::client_options;
use dragoman_examples::measure::{cpu_seconds, memory_mb, percentile};
use dragoman_rtc::client::{Client, ClientEvent, local_signaling};
use dragoman_rtc::codec::OpusEncoder;
use dragoman_rtc::compute::ComputeGate;
use dragoman_rtc::protocol::ProtocolError;
use dragoman_rtc::room::{Identity, Room, RoomEvent, RoomOptions};
use dragoman_stt::eval::trim_silence;

const RATE: u32 = 48_000;
/// Samples per 20 ms packet.
const PACKET: usize = 960;

/// The speakers' recordings: `(audio at 48 kHz, where each clip ends in samples)`.
fn speech(dir: &str, minutes: f64) -> anyhow::Result<(Vec<f32>, Vec<usize>)> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| dir.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    names.sort();
    anyhow::ensure!(!names.is_empty(), "no .wav files in {dir}");
    let (mut audio, mut ends) = (Vec::new(), Vec::new());
    let want = (minutes * 60.0 * f64::from(RATE)) as usize;
    'fill: loop {
        for path in &names {
            if audio.len() >= want {
                break 'fill;
            }
            let samples = load_audio(path, SampleRate::new(RATE)?)?.samples;
            audio.extend_from_slice(trim_silence(&samples, RATE));
            ends.push(audio.len());
        }
    }
    // A second of silence at the end lets the last utterance close.
    audio.extend(std::iter::repeat_n(0.0, RATE as usize));
    Ok((audio, ends))
}

/// What listener C received, as it arrived.
#[derive(Default)]
struct Heard {
    /// `(arrival, speaker, caption id, media end in s)` of final originals.
    originals: Vec<(Instant, String, u64, f64)>,
    /// `(arrival, speaker, caption id)` of final German translations.
    translations: Vec<(Instant, String, u64)>,
    /// Seconds from the first German final of a caption to its refined translation.
    refined: Vec<f64>,
    /// `(arrival, speaker)` of German speech packets.
    speech: Vec<(Instant, String)>,
    /// Audio the room told a speaker it dropped, in ms.
    shed_ms: u64,
}

/// One clip's figures: when it ended (seconds into the call) and its latencies.
struct Sample {
    at: f64,
    original: Option<f64>,
    translated: Option<f64>,
    speech: Option<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // The libraries' logs on stderr, as `RUST_LOG` asks (warnings by default).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (dir_a, dir_b) = match args.as_slice() {
        [a, b, ..] => (a.clone(), b.clone()),
        _ => anyhow::bail!(
            "usage: bench_call DIR_A DIR_B [--minutes N] [--speakers 1|2] [--no-refine] [--slots N]"
        ),
    };
    let minutes: f64 = flag("--minutes").map_or(Ok(5.0), |m| m.parse())?;
    let speakers: usize = flag("--speakers").map_or(Ok(2), |m| m.parse())?;
    let (rss_before, _) = memory_mb();
    let refine = !args.iter().any(|a| a == "--no-refine");
    let gate = Arc::new(match flag("--slots") {
        Some(slots) => ComputeGate::new(slots.parse()?),
        None => ComputeGate::default(),
    });
    let engines = dragoman_engines::engines(&ModelStore::from_env()?, refine, gate)?;
    dragoman_engines::warm_up(&engines)?;
    let (rss_loaded, _) = memory_mb();

    let open = |token: &str, _room: &str| -> Result<Identity, ProtocolError> {
        Ok(Identity {
            id: Some(token.to_string()),
            name: None,
            can_publish: true,
            can_subscribe: true,
        })
    };
    let room = Room::new(RoomOptions::new("call"), engines, Arc::new(open));
    // Where the time goes: each pipeline stage's own latency (see `PipelineEvent::Latency`).
    let stages = Arc::new(Mutex::new(BTreeMap::<&'static str, Vec<f64>>::new()));
    let mut room_events = room.events();
    {
        let stages = stages.clone();
        tokio::spawn(async move {
            while let Ok(event) = room_events.recv().await {
                if let RoomEvent::StageLatency { stage, elapsed, .. } = event {
                    let mut stages = stages.lock().unwrap_or_else(PoisonError::into_inner);
                    stages.entry(stage).or_default().push(elapsed.as_secs_f64());
                }
            }
        });
    }
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut clients = Vec::new();
    for (token, spoken, read, hear) in
        [("c", "de", "de", Some("de")), ("d", "vi", "vi", Some("vi"))]
    {
        let (client, mut events) = Client::join(
            local_signaling(&room),
            client_options(token, spoken, read, hear),
        )
        .await?;
        if token == "c" {
            let heard = heard.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    let now = Instant::now();
                    let mut h = heard.lock().unwrap_or_else(PoisonError::into_inner);
                    match event {
                        ClientEvent::Caption(c) if c.is_final && !c.is_translation() => {
                            let end = c.end_ms.unwrap_or(0) as f64 / 1000.0;
                            h.originals.push((now, c.speaker, c.caption_id, end));
                        }
                        ClientEvent::Caption(c) if c.refined && c.lang == "de" => {
                            let first = h.translations.iter().find(|(_, speaker, id)| {
                                *speaker == c.speaker && *id == c.caption_id
                            });
                            if let Some((at, _, _)) = first {
                                let after = now.duration_since(*at).as_secs_f64();
                                h.refined.push(after);
                            }
                        }
                        ClientEvent::Caption(c) if c.is_final && c.lang == "de" => {
                            h.translations.push((now, c.speaker, c.caption_id));
                        }
                        ClientEvent::Packet { from, track_id, .. } if track_id == "speech-de" => {
                            h.speech.push((now, from));
                        }
                        _ => {}
                    }
                }
            });
        } else {
            tokio::spawn(async move { while events.recv().await.is_some() {} });
        }
        clients.push(client);
    }
    let mut talkers = Vec::new();
    for (token, spoken, dir) in [("a", "en", &dir_a), ("b", "es", &dir_b)]
        .into_iter()
        .take(speakers)
    {
        let (audio, ends) = speech(dir, minutes)?;
        let mut o = client_options(token, spoken, "de", None);
        o.audio = true;
        let (client, mut events) = Client::join(local_signaling(&room), o).await?;
        client.published(Duration::from_secs(10)).await?;
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let ClientEvent::AudioShed(ms) = event {
                    heard.lock().unwrap_or_else(PoisonError::into_inner).shed_ms += ms;
                }
            }
        });
        let mut encoder = OpusEncoder::new()?;
        let mut packets = encoder.encode(&audio)?;
        packets.extend(encoder.flush()?);
        talkers.push((token, Arc::new(client), packets, ends));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "call: {speakers} speaker(s) without pauses for {minutes:.1} min (A en, B es), listeners C (de) and D (vi); RSS {rss_before:.0} MB before the models, {rss_loaded:.0} MB loaded"
    );

    // Everyone talks at once; each packet's send time is kept to time the clips' ends.
    let started = Instant::now();
    let mut sending = Vec::new();
    for (_, client, packets, _) in &talkers {
        let client = client.clone();
        let packets = packets.clone();
        sending.push(tokio::spawn(async move {
            let mut sent = Vec::with_capacity(packets.len());
            client
                .send_audio(&packets, true, |_| sent.push(Instant::now()))
                .await
                .map(|()| sent)
        }));
    }
    // Per-minute resources while the call runs.
    let mut minute_rows = Vec::new();
    let (mut cpu, mut wall) = (cpu_seconds(), Instant::now());
    while sending.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if wall.elapsed() >= Duration::from_secs(60) || sending.iter().all(|t| t.is_finished()) {
            let used = cpu_seconds() - cpu;
            let elapsed = wall.elapsed().as_secs_f64();
            let (rss, peak) = memory_mb();
            let stats = room.stats();
            minute_rows.push((used / elapsed, rss, peak, stats.pipeline_drops));
            (cpu, wall) = (cpu_seconds(), Instant::now());
        }
    }
    let mut sent_at = Vec::new();
    for task in sending {
        sent_at.push(task.await??);
    }
    // The last captions, translations and speech.
    tokio::time::sleep(Duration::from_secs(15)).await;

    let h = std::mem::take(&mut *heard.lock().unwrap_or_else(PoisonError::into_inner));
    let mut samples = Vec::new();
    for ((token, _, _, ends), sent) in talkers.iter().zip(&sent_at) {
        let originals: Vec<_> = h.originals.iter().filter(|o| o.1 == *token).collect();
        for &end in ends {
            let packet = (end / PACKET).min(sent.len().saturating_sub(1));
            let Some(&spoken) = sent.get(packet) else {
                continue;
            };
            let end_s = end as f64 / f64::from(RATE);
            let covering = originals.iter().find(|o| o.3 >= end_s - 0.3);
            let since = |t: Instant| t.saturating_duration_since(spoken).as_secs_f64();
            let original = covering.map(|o| since(o.0));
            let translation = covering.and_then(|o| {
                h.translations
                    .iter()
                    .find(|t| t.1 == *token && t.2 == o.2)
                    .map(|t| t.0)
            });
            let speech = translation.and_then(|t| {
                h.speech
                    .iter()
                    .find(|s| s.1 == *token && s.0 >= t)
                    .map(|s| since(s.0))
            });
            samples.push(Sample {
                at: spoken.duration_since(started).as_secs_f64(),
                original,
                translated: translation.map(since),
                speech,
            });
        }
    }
    let clips = samples.len();
    if std::env::var_os("BENCH_CLIPS").is_some() {
        for s in &samples {
            println!(
                "clip ending at {:6.1} s: final {:?}, translated {:?}, speech {:?}",
                s.at, s.original, s.translated, s.speech
            );
        }
    }
    let mut by_minute: BTreeMap<usize, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        by_minute.entry((s.at / 60.0) as usize).or_default().push(s);
    }
    println!(
        "| minute | clips | final caption p50 / p95 s | translated p50 / p95 s | first speech p50 / p95 s | missing finals | CPU cores | RSS MB | peak RSS MB | audio dropped (packets, total) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let stat = |values: Vec<f64>| -> String {
        let mut v = values;
        if v.is_empty() {
            return "-".into();
        }
        format!(
            "{:.2} / {:.2}",
            percentile(&mut v, 0.5),
            percentile(&mut v, 0.95)
        )
    };
    for (minute, rows) in &by_minute {
        let take = |f: fn(&Sample) -> Option<f64>| rows.iter().filter_map(|s| f(s)).collect();
        let missing = rows.iter().filter(|s| s.original.is_none()).count();
        let (cores, rss, peak, dropped) =
            minute_rows
                .get(*minute)
                .copied()
                .unwrap_or((f64::NAN, f64::NAN, f64::NAN, 0));
        println!(
            "| {} | {} | {} | {} | {} | {missing} | {cores:.2} | {rss:.0} | {peak:.0} | {dropped} |",
            minute + 1,
            rows.len(),
            stat(take(|s| s.original)),
            stat(take(|s| s.translated)),
            stat(take(|s| s.speech)),
        );
    }
    let all = |f: fn(&Sample) -> Option<f64>| samples.iter().filter_map(f).collect::<Vec<_>>();
    let (_, peak) = memory_mb();
    println!(
        "whole call: {clips} clips; final caption {}; translated {}; first speech {}; {} finals, {} translations heard, {} refined ({} after the first); audio dropped: {} packets, speakers told of {} ms; peak RSS {peak:.0} MB",
        stat(all(|s| s.original)),
        stat(all(|s| s.translated)),
        stat(all(|s| s.speech)),
        h.originals.len(),
        h.translations.len(),
        h.refined.len(),
        stat(h.refined.clone()),
        room.stats().pipeline_drops,
        h.shed_ms,
    );
    let stages = stages
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let stages: Vec<String> = stages
        .into_iter()
        .map(|(stage, times)| format!("{stage} {} ({} times)", stat(times.clone()), times.len()))
        .collect();
    println!("stage latency p50 / p95 s: {}", stages.join("; "));
    room.close().await;
    Ok(())
}
