//! The room's latency and forwarding cost, on this machine, in one run.
//!
//! Latency: a room in-process with the real engines; A speaks real recorded English sentences
//! (one prompt file each, with pauses between, as Opus RTP paced like a microphone), B reads
//! and hears `--to` (Vietnamese by default). For each sentence: from its end in A's audio
//! (the last sample above the silence threshold) to B's final original caption, to B's final
//! translated caption, and to the first packet of B's translated speech. p50 and p95.
//!
//! Forwarding: N publishers of synthetic VP8 RTP (30 frames/s, 3 packets of 1000 bytes per
//! frame) and M subscribers, no pipelines; the process's CPU time per forwarded stream
//! (publishers' and subscribers' own WebRTC work included: an upper bound for the SFU).
//!
//! `bench_room DIR TRANSCRIPT [--to LANG] [--sentences N]`, DIR holding `NAME.wav` for the
//! `NAME: text` lines of TRANSCRIPT (see `scripts/bench_room.sh`).

#![allow(clippy::print_stdout)] // a benchmark prints

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use dragoman_core::SampleRate;
use dragoman_core::decode::load_audio;
use dragoman_core::store::ModelStore;
use dragoman_examples::client_options;
use dragoman_examples::measure::{cpu_seconds, percentile};
use dragoman_rtc::client::{Client, ClientEvent, local_signaling};
use dragoman_rtc::codec::OpusEncoder;
use dragoman_rtc::pipeline::Engines;
use dragoman_rtc::protocol::ProtocolError;
use dragoman_rtc::room::{Identity, Room, RoomOptions};

const RATE: u32 = 48_000;
/// Silence between sentences (and after the last).
const GAP_SECONDS: f64 = 1.5;

fn open_room(engines: Engines) -> Room {
    // The forwarding runs' publishers ("p0", ...) only publish, so exactly N x M streams flow.
    let open = |token: &str, _room: &str| -> Result<Identity, ProtocolError> {
        Ok(Identity {
            id: Some(token.to_string()),
            name: None,
            can_publish: true,
            can_subscribe: !token.starts_with('p'),
        })
    };
    Room::new(RoomOptions::new("bench"), engines, Arc::new(open))
}

/// Sentences with one recording each: `(text, samples at 48 kHz)`.
fn sentences(dir: &str, transcript: &str, count: usize) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let text = std::fs::read_to_string(transcript).with_context(|| transcript.to_string())?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, said)) = line.split_once(": ") else {
            continue;
        };
        let said = said.trim();
        // One whole sentence of some length: one caption each.
        let words = said.split_whitespace().count();
        let one_sentence = said.ends_with('.') && said.matches(['.', '?', '!']).count() == 1;
        if !(6..=16).contains(&words) || !one_sentence || said.contains('[') {
            continue;
        }
        let path = format!("{dir}/{name}.wav");
        if !std::path::Path::new(&path).is_file() {
            continue;
        }
        out.push((
            said.to_string(),
            load_audio(&path, SampleRate::new(RATE)?)?.samples,
        ));
        if out.len() == count {
            break;
        }
    }
    anyhow::ensure!(out.len() == count, "only {} usable sentences", out.len());
    Ok(out)
}

/// Where speech ends in `samples`: after the last 10 ms block above -40 dBFS.
fn speech_end(samples: &[f32]) -> usize {
    let block = (RATE / 100) as usize;
    samples
        .chunks(block)
        .rposition(|c| c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32 > 1e-4)
        .map_or(0, |i| (i + 1) * block)
}

#[derive(Default)]
struct Heard {
    /// `(arrival, caption id, text)` of A's final originals and translations.
    originals: Vec<(Instant, u64, String)>,
    translations: Vec<(Instant, u64, String)>,
    /// Arrival of each translated speech packet.
    speech: Vec<Instant>,
}

async fn latency(
    engines: &Engines,
    dir: &str,
    transcript: &str,
    to: &str,
    count: usize,
) -> anyhow::Result<()> {
    let sentences = sentences(dir, transcript, count)?;
    let room = open_room(engines.clone());
    let (_b, mut b_events) = Client::join(
        local_signaling(&room),
        client_options("b", to, to, Some(to)),
    )
    .await?;
    let mut a_options = client_options("a", "en", "en", None);
    a_options.audio = true;
    let (a, _a_events) = Client::join(local_signaling(&room), a_options).await?;
    a.published(Duration::from_secs(10)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let heard = Arc::new(Mutex::new(Heard::default()));
    {
        let heard = heard.clone();
        let to = to.to_string();
        tokio::spawn(async move {
            while let Some(event) = b_events.recv().await {
                let now = Instant::now();
                let mut h = heard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match event {
                    ClientEvent::Caption(c) if c.is_final && c.speaker == "a" => {
                        if c.lang == to {
                            h.translations.push((now, c.caption_id, c.text));
                        } else {
                            h.originals.push((now, c.caption_id, c.text));
                        }
                    }
                    ClientEvent::Packet { track_id, .. } if track_id.starts_with("speech-") => {
                        h.speech.push(now);
                    }
                    _ => {}
                }
            }
        });
    }

    // A's audio: the sentences with pauses; where each one's speech ends, in packets.
    let gap = vec![0f32; (GAP_SECONDS * f64::from(RATE)) as usize];
    let mut audio = gap.clone();
    let mut ends = Vec::new();
    for (_, samples) in &sentences {
        ends.push(audio.len() + speech_end(samples));
        audio.extend_from_slice(samples);
        audio.extend_from_slice(&gap);
    }
    audio.extend(std::iter::repeat_n(0.0, 2 * gap.len()));
    let mut encoder = OpusEncoder::new()?;
    let mut packets = encoder.encode(&audio)?;
    packets.extend(encoder.flush()?);
    println!(
        "latency: {} sentences ({:.0} s of audio) from A (en) to B ({to}), real-time pacing",
        sentences.len(),
        audio.len() as f64 / f64::from(RATE)
    );
    let sent_at = Arc::new(Mutex::new(Vec::with_capacity(packets.len())));
    {
        let sent_at = sent_at.clone();
        a.send_audio(&packets, true, move |_| {
            sent_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Instant::now());
        })
        .await?;
    }
    // Let the last translation and speech come.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let done = {
            let h = heard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            h.translations.len() >= h.originals.len() && h.originals.len() >= sentences.len()
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let sent_at = sent_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    {
        let h = heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Speech bursts: a packet more than 200 ms after the previous starts one.
        let bursts: Vec<Instant> = h
            .speech
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                *i == 0 || t.duration_since(h.speech[i - 1]) > Duration::from_millis(200)
            })
            .map(|(_, t)| *t)
            .collect();
        let (mut to_original, mut to_translated, mut to_speech) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut next_original = 0;
        for &end in &ends {
            // The wall-clock moment the sentence's last sample was sent.
            let packet = (end / 960).min(sent_at.len().saturating_sub(1));
            let Some(&spoken) = sent_at.get(packet) else {
                continue;
            };
            // The first final that arrived after the sentence ended (and after the previous).
            let Some(index) =
                (next_original..h.originals.len()).find(|&i| h.originals[i].0 >= spoken)
            else {
                continue;
            };
            next_original = index + 1;
            let (arrived, id, _) = &h.originals[index];
            to_original.push(arrived.duration_since(spoken).as_secs_f64());
            if let Some((t, _, _)) = h.translations.iter().find(|(_, tid, _)| tid == id) {
                to_translated.push(t.duration_since(spoken).as_secs_f64());
                if let Some(b) = bursts.iter().find(|b| **b >= *t) {
                    to_speech.push(b.duration_since(spoken).as_secs_f64());
                }
            }
        }
        println!(
            "{} finals heard for {} sentences; {} translated; {} speech bursts",
            h.originals.len(),
            sentences.len(),
            h.translations.len(),
            bursts.len()
        );
        println!("| from the end of each sentence to B's | n | p50 s | p95 s |");
        println!("|---|---|---|---|");
        for (what, values) in [
            ("final original caption", &mut to_original),
            ("final translated caption", &mut to_translated),
            ("first translated speech", &mut to_speech),
        ] {
            let n = values.len();
            println!(
                "| {what} | {n} | {:.2} | {:.2} |",
                percentile(values, 0.5),
                percentile(values, 0.95)
            );
        }
        let stats = room.stats();
        println!("room: {stats:?}");
        for (_, id, text) in h.originals.iter().take(3) {
            let translated = h
                .translations
                .iter()
                .find(|(_, t, _)| t == id)
                .map_or("", |t| t.2.as_str());
            println!("  [{id}] {text} -> {translated}");
        }
    }
    room.close().await;
    Ok(())
}

async fn forwarding(
    engines: &Engines,
    publishers: usize,
    subscribers: usize,
) -> anyhow::Result<(f64, u64)> {
    let room = open_room(engines.clone());
    let mut listeners = Vec::new();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for s in 0..subscribers {
        let (client, mut events) = Client::join(
            local_signaling(&room),
            client_options(&format!("s{s}"), "en", "en", None),
        )
        .await?;
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if matches!(event, ClientEvent::Packet { .. }) {
                    received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        listeners.push(client);
    }
    let mut senders = Vec::new();
    for p in 0..publishers {
        let mut o = client_options(&format!("p{p}"), "en", "en", None);
        o.video = true;
        let (client, _) = Client::join(local_signaling(&room), o).await?;
        client.published(Duration::from_secs(10)).await?;
        senders.push(Arc::new(client));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seconds = 10.0;
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let before = received.load(std::sync::atomic::Ordering::Relaxed);
    let tasks: Vec<_> = senders
        .iter()
        .map(|client| {
            let client = client.clone();
            tokio::spawn(async move {
                let payload = Bytes::from(vec![0x10u8; 1000]);
                let mut ticks = tokio::time::interval(Duration::from_millis(33));
                for frame in 0..(seconds * 30.0) as u32 {
                    ticks.tick().await;
                    let _ = client
                        .send_video_frame(
                            &[payload.clone(), payload.clone(), payload.clone()],
                            frame * 3000,
                        )
                        .await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let used = cpu_seconds() - cpu;
    let elapsed = wall.elapsed().as_secs_f64();
    let got = received.load(std::sync::atomic::Ordering::Relaxed) - before;
    room.close().await;
    Ok((used / elapsed, got))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, transcript) = match args.as_slice() {
        [dir, transcript, ..] => (dir.clone(), transcript.clone()),
        _ => anyhow::bail!("usage: bench_room DIR TRANSCRIPT [--to LANG] [--sentences N]"),
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let to = flag("--to").unwrap_or_else(|| "vi".into());
    let count = flag("--sentences").map_or(Ok(24), |n| n.parse())?;
    let engines = dragoman_examples::engines(&ModelStore::from_env()?)?;
    latency(&engines, &dir, &transcript, &to, count).await?;

    println!("\nforwarding: synthetic VP8, 30 frames/s x 3 packets x 1000 bytes per stream, 10 s");
    println!(
        "| publishers x subscribers | streams forwarded | packets received | CPU (cores) | CPU per stream (% of a core) |"
    );
    println!("|---|---|---|---|---|");
    for (n, m) in [(1, 1), (2, 2), (2, 4), (4, 4)] {
        let (cores, got) = forwarding(&engines, n, m).await?;
        let streams = n * m;
        println!(
            "| {n} x {m} | {streams} | {got} (of {}) | {cores:.3} | {:.2} |",
            streams * 900,
            100.0 * cores / streams as f64
        );
    }
    Ok(())
}
