//! A room bot: runs a room in-process with the Room API (no server), joins a bot that plays a
//! recording into the call as a microphone would, and a listener that reads captions in
//! another language and hears the translated speech. Prints the captions as they arrive.
//!
//! `cargo run --release -p dragoman-examples --example room_bot -- [--to de] speech.wav`
//! (the recording in English; models from `dragoman models pull`).

#![allow(clippy::print_stdout)] // an example prints

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dragoman_core::SampleRate;
use dragoman_core::decode::load_audio;
use dragoman_core::store::ModelStore;
use dragoman_rtc::client::{Client, ClientEvent, ClientOptions, local_signaling};
use dragoman_rtc::codec::OpusEncoder;
use dragoman_rtc::protocol::{Languages, ProtocolError};
use dragoman_rtc::room::{Identity, Room, RoomOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (to, file) = match args.as_slice() {
        [flag, to, file] if flag == "--to" => (to.clone(), file.clone()),
        [file] => ("de".to_string(), file.clone()),
        _ => anyhow::bail!("usage: room_bot [--to LANG] FILE.wav"),
    };
    let store = ModelStore::from_env()?;
    let engines = dragoman_examples::engines(&store)?;
    // Anyone may join this room; a server checks signed tokens here.
    let open = |token: &str, _room: &str| -> Result<Identity, ProtocolError> {
        Ok(Identity {
            id: None,
            name: Some(token.to_string()),
            can_publish: true,
            can_subscribe: true,
        })
    };
    let room = Room::new(RoomOptions::new("demo"), engines, Arc::new(open));

    let mut listener = ClientOptions::default();
    listener.token = "listener".into();
    listener.languages = Languages {
        spoken: Some(to.clone()),
        captions: Some(to.clone()),
        audio: Some(to.clone()),
    };
    let (_listener, mut heard) = Client::join(local_signaling(&room), listener).await?;

    let mut bot = ClientOptions::default();
    bot.token = "bot".into();
    bot.languages = Languages {
        spoken: Some("en".into()),
        captions: Some("en".into()),
        audio: None,
    };
    bot.audio = true;
    let (bot, _) = Client::join(local_signaling(&room), bot).await?;
    bot.published(Duration::from_secs(10)).await?;

    let audio = load_audio(&file, SampleRate::new(48_000)?).with_context(|| file.clone())?;
    let mut encoder = OpusEncoder::new()?;
    let mut packets = encoder.encode(&audio.samples)?;
    // A second of silence after the recording lets the last sentence end.
    packets.extend(encoder.encode(&vec![0.0; 48_000])?);
    packets.extend(encoder.flush()?);
    println!(
        "playing {file} ({:.1} s) into room 'demo'; the listener reads {to}",
        audio.samples.len() as f64 / 48_000.0
    );

    let started = Instant::now();
    let printer = tokio::spawn(async move {
        let mut speech_packets = 0usize;
        while let Some(event) = heard.recv().await {
            match event {
                ClientEvent::Caption(c) if c.is_final => println!(
                    "[{:6.2} s] {} ({}): {}",
                    started.elapsed().as_secs_f64(),
                    c.speaker_name,
                    c.lang,
                    c.text
                ),
                ClientEvent::Packet { track_id, .. } if track_id.starts_with("speech-") => {
                    speech_packets += 1;
                    if speech_packets % 250 == 1 {
                        println!(
                            "[{:6.2} s] translated speech playing ({track_id})",
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
                _ => {}
            }
        }
    });
    bot.send_audio(&packets, true, |_| {}).await?;
    // Translations and speech of the last sentence follow the recording's end.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stats = room.stats();
    println!("room: {stats:?}");
    bot.leave().await;
    room.close().await;
    printer.abort();
    Ok(())
}
