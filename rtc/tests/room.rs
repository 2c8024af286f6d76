//! The room over real loopback WebRTC with the real engines: headless participants built on
//! the `webrtc` crate join, A speaks English (a LibriVox recording, as Opus RTP paced like a
//! microphone) and sends VP8 video; B reads and hears Vietnamese, C German.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{
    decode_packets, engines, envelope_correlation, hear, recording, synthesize, word_error_rate,
};
use dragoman_core::Lang;
use dragoman_rtc::client::{Client, ClientEvent, ClientOptions, local_signaling};
use dragoman_rtc::codec::OpusEncoder;
use dragoman_rtc::protocol::{Caption, ErrorCode, Languages, ProtocolError, ServerMessage};
use dragoman_rtc::room::{Identity, Room, RoomOptions};
use dragoman_stt::eval::{char_errors, normalize_words};
use tokio::sync::mpsc;

/// Tokens are the participant ids; anything else is refused.
fn room() -> Room {
    let authorize = |token: &str, _room: &str| {
        if ["a", "b", "c"].contains(&token) {
            Ok(Identity {
                id: Some(token.to_string()),
                name: Some(token.to_uppercase()),
                can_publish: true,
                can_subscribe: true,
            })
        } else {
            Err(ProtocolError::new(ErrorCode::Unauthorized, "unknown token"))
        }
    };
    let mut options = RoomOptions::new("test");
    // Debug builds of the engines run slower than real time on 2 cores: queue the whole
    // recording rather than drop (dropping is the pipeline tests' and the benchmark's matter).
    options.pipeline.audio_queue = 5_000;
    Room::new(options, engines(), Arc::new(authorize))
}

fn languages(spoken: &str, captions: &str, audio: Option<&str>) -> Languages {
    Languages {
        spoken: Some(spoken.into()),
        captions: Some(captions.into()),
        audio: audio.map(Into::into),
    }
}

async fn join(
    room: &Room,
    token: &str,
    languages: Languages,
    publish: bool,
) -> (Client, mpsc::Receiver<ClientEvent>) {
    let mut options = ClientOptions::default();
    options.token = token.into();
    options.languages = languages;
    options.audio = publish;
    options.video = publish;
    Client::join(local_signaling(room), options).await.unwrap()
}

/// Everything a listener received.
#[derive(Default, Debug)]
struct Received {
    captions: Vec<Caption>,
    /// Keyframe requests for our video.
    keyframes: Arc<std::sync::atomic::AtomicUsize>,
    /// `(from, track id, payload, marker)` in arrival order.
    packets: Vec<(String, String, Bytes, bool)>,
}

fn collect(mut events: mpsc::Receiver<ClientEvent>) -> Arc<std::sync::Mutex<Received>> {
    let received = Arc::new(std::sync::Mutex::new(Received::default()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let mut r = sink.lock().unwrap();
            match event {
                ClientEvent::Caption(c) => r.captions.push(c),
                ClientEvent::KeyframeRequested => {
                    r.keyframes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                ClientEvent::Packet {
                    from,
                    track_id,
                    packet,
                } => {
                    r.packets
                        .push((from, track_id, packet.payload, packet.header.marker));
                }
                _ => {}
            }
        }
    });
    received
}

fn finals(r: &Received, lang: &str) -> Vec<Caption> {
    r.captions
        .iter()
        .filter(|c| c.is_final && c.lang == lang && c.speaker == "a")
        .cloned()
        .collect()
}

/// Size of the throwaway video packets sent until a subscriber's connection is up (the checked
/// frames' packets are 201 bytes).
const PRIMING_BYTES: usize = 50;

/// A synthetic VP8 frame: `n` packets with a payload descriptor (start bit on the first) and
/// bytes derived from the frame and packet number, so the receiver can check them.
fn video_frame(frame: u32) -> Vec<Bytes> {
    (0..3u8)
        .map(|p| {
            let mut payload = vec![if p == 0 { 0x10 } else { 0x00 }];
            payload.extend((0..200u32).map(|i| (frame * 7 + u32::from(p) * 13 + i) as u8));
            Bytes::from(payload)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_get_captions_translations_speech_and_video() {
    let room = room();
    let (a, a_events) = join(&room, "a", languages("en", "en", None), true).await;
    let (b, b_events) = join(&room, "b", languages("vi", "vi", Some("vi")), false).await;
    let (_c, c_events) = join(&room, "c", languages("de", "de", Some("de")), false).await;
    let (a_got, b_got, c_got) = (collect(a_events), collect(b_events), collect(c_events));
    let a_keyframes = a_got.lock().unwrap().keyframes.clone();
    a.published(Duration::from_secs(10)).await.unwrap();
    // Let the subscriber connections come up before media flows.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // B's subscriber connection comes up in its own time (later on a loaded machine), and
    // packets forwarded before it is up are lost by design: prime it with throwaway frames
    // (shorter than the checked ones) until B receives one.
    let primed = tokio::time::timeout(Duration::from_secs(20), async {
        for frame in 0u32.. {
            let throwaway = vec![Bytes::from(vec![0x10u8; PRIMING_BYTES])];
            a.send_video_frame(&throwaway, frame * 3000).await.unwrap();
            tokio::time::sleep(Duration::from_millis(33)).await;
            if b_got
                .lock()
                .unwrap()
                .packets
                .iter()
                .any(|(from, id, _, _)| from == "a" && id == "video")
            {
                break;
            }
        }
    })
    .await;
    assert!(primed.is_ok(), "B's video never came up");

    let (audio, references, _) = recording(2, 1.0);
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packets = encoder.encode(&audio).unwrap();
    packets.extend(encoder.flush().unwrap());
    let frames = 40u32;
    let video = async {
        for frame in 0..frames {
            a.send_video_frame(&video_frame(frame), (1_000 + frame) * 3000)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(33)).await;
        }
    };
    let speech = a.send_audio(&packets, true, |_| {});
    let (sent, ()) = tokio::join!(speech, video);
    sent.unwrap();

    // Wait for every final to be translated for both listeners (the models are slow).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let done = {
            let (a, b, c) = (
                a_got.lock().unwrap(),
                b_got.lock().unwrap(),
                c_got.lock().unwrap(),
            );
            let n = finals(&a, "en").len();
            n >= references.len() && finals(&b, "vi").len() >= n && finals(&c, "de").len() >= n
        };
        if done || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The last translated speech plays out in real time: wait until no speech packet came for
    // 3 s (a sentence's speech is paced at 20 ms a packet, without gaps that long).
    let speech_packets = || {
        [&b_got, &c_got]
            .iter()
            .map(|got| {
                got.lock()
                    .unwrap()
                    .packets
                    .iter()
                    .filter(|(from, id, _, _)| from == "a" && id.starts_with("speech-"))
                    .count()
            })
            .sum::<usize>()
    };
    let (mut last, mut still_since) = (speech_packets(), tokio::time::Instant::now());
    while still_since.elapsed() < Duration::from_secs(3) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = speech_packets();
        if now != last {
            (last, still_since) = (now, tokio::time::Instant::now());
        }
    }
    let stats = room.stats();
    eprintln!("room stats: {stats:?}");
    assert_eq!(stats.participants, 3);
    assert_eq!(stats.pipeline_drops, 0);

    // A keyframe request from B reaches A, the publisher.
    b.request_keyframe("a").await.unwrap();
    let requested = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if a_keyframes.load(std::sync::atomic::Ordering::Relaxed) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(requested.is_ok(), "A got no keyframe request");
    let (a_got, b_got, c_got) = (
        a_got.lock().unwrap(),
        b_got.lock().unwrap(),
        c_got.lock().unwrap(),
    );
    // A's own words, as A reads them.
    let original = finals(&a_got, "en");
    let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
    let (wrong, words) = word_error_rate(&references, &heard, "A's captions");
    assert!(wrong * 10 <= words, "WER {wrong}/{words}");
    assert!(
        a_got.captions.iter().all(|c| c.lang == "en"),
        "A gets no translations of itself"
    );

    let mut checks = Vec::new();
    // Whisper base hears espeak-ng's German well enough to check the words (CER 22% offline
    // in the pipeline test); its Vietnamese, on espeak-ng's Vietnamese reading the weak
    // model's half-English output, it does not (CER 0.9): there the check is that the
    // track carries exactly the speech the engine made for the captions.
    for (got, lang, code, max_cer) in [
        (&b_got, Lang::VI, "vi", None),
        (&c_got, Lang::DE, "de", Some(0.5)),
    ] {
        let translated = finals(got, code);
        assert!(translated.len() >= original.len(), "{code}: {translated:?}");
        for t in &translated {
            assert_eq!(t.source_lang, "en");
            assert!(!t.text.trim().is_empty());
            eprintln!("  {code} [{}] {}", t.caption_id, t.text);
        }
        // The originals come too, and no other language.
        assert!(
            got.captions
                .iter()
                .all(|c| c.lang == code || c.lang == "en")
        );
        // The translated voice says the translated captions.
        let track = format!("speech-{code}");
        let speech: Vec<Vec<u8>> = got
            .packets
            .iter()
            .filter(|(from, id, _, _)| from == "a" && *id == track)
            .map(|(_, _, p, _)| p.to_vec())
            .collect();
        assert!(!speech.is_empty(), "no {track} packets");
        let samples = decode_packets(&speech);
        let spoken = hear(&samples, lang);
        let said: Vec<&str> = translated.iter().map(|c| c.text.as_str()).collect();
        let (wrong, chars) =
            char_errors(&normalize_words(&said.join(" ")), &normalize_words(&spoken));
        eprintln!(
            "  {code} speech: {} packets, {:.1} s, heard back at CER {wrong}/{chars} | {spoken}",
            speech.len(),
            samples.len() as f64 / 48_000.0
        );
        // It is the speech the engine makes for those captions, delivered whole.
        let local = synthesize(&said, lang);
        let correlation = envelope_correlation(&samples, &local);
        let ratio = samples.len() as f64 / local.len() as f64;
        eprintln!(
            "  {code} speech vs the engine's own: length ratio {ratio:.3}, envelope correlation {correlation:.3}"
        );
        checks.push((
            code,
            wrong as f64 / chars.max(1) as f64,
            max_cer,
            ratio,
            correlation,
        ));
    }
    for (code, cer, max_cer, ratio, correlation) in checks {
        assert!(
            (0.97..=1.03).contains(&ratio),
            "{code}: length ratio {ratio}"
        );
        assert!(
            correlation > 0.9,
            "{code}: envelope correlation {correlation}"
        );
        if let Some(max_cer) = max_cer {
            assert!(cer <= max_cer, "{code}: CER {cer:.2}");
        }
    }

    // Video reaches B frame-intact: every packet, in order, bytes unchanged.
    let sent: Vec<Bytes> = (0..frames).flat_map(video_frame).collect();
    let got: Vec<Bytes> = b_got
        .packets
        .iter()
        .filter(|(from, id, p, _)| from == "a" && id == "video" && p.len() != PRIMING_BYTES)
        .map(|(_, _, p, _)| p.clone())
        .collect();
    assert_eq!(got.len(), sent.len(), "video packets");
    assert!(got == sent, "video payloads differ");
    // Nobody receives their own tracks.
    assert!(a_got.packets.iter().all(|(from, _, _, _)| from != "a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signaling_gets_an_error_and_the_connection_survives() {
    let room = room();
    let (mut connection, mut replies) = room.connect();
    let mut next_error = async || match replies.recv().await {
        Some(ServerMessage::Error { code, .. }) => code,
        other => panic!("expected an error, got {other:?}"),
    };
    connection.handle_raw(b"{not json").await;
    assert_eq!(next_error().await, ErrorCode::MalformedMessage);
    connection
        .handle_raw(br#"{"type":"offer","sdp":"v=0"}"#)
        .await;
    assert_eq!(next_error().await, ErrorCode::UnexpectedMessage);
    connection
        .handle_raw(br#"{"type":"join","token":"forged"}"#)
        .await;
    assert_eq!(next_error().await, ErrorCode::Unauthorized);
    connection
        .handle_raw(br#"{"type":"join","token":"a","languages":{"captions":"xx-klingon"}}"#)
        .await;
    assert_eq!(next_error().await, ErrorCode::UnsupportedLanguage);
    // Still usable: a good join works.
    connection
        .handle_raw(br#"{"type":"join","token":"a"}"#)
        .await;
    assert!(matches!(
        replies.recv().await,
        Some(ServerMessage::Joined { .. })
    ));
    connection
        .handle_raw(br#"{"type":"answer","sdp":"garbage"}"#)
        .await;
    let code = loop {
        match replies.recv().await {
            Some(ServerMessage::Error { code, .. }) => break code,
            Some(_) => {}
            None => panic!("connection closed"),
        }
    };
    assert_eq!(code, ErrorCode::BadSdp);
    connection.handle_raw(br#"{"type":"ping","id":9}"#).await;
    loop {
        match replies.recv().await {
            Some(ServerMessage::Pong { id }) => {
                assert_eq!(id, 9);
                break;
            }
            Some(_) => {}
            None => panic!("connection closed"),
        }
    }
    assert_eq!(room.participants().len(), 1);
    connection.close().await;
    assert!(room.participants().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_arrive_through_loss_and_jitter() {
    let room = room();
    let relay = common::LossyRelay::start(0.05, Duration::from_millis(30)).await;
    let (a, events) = join_through(&room, &relay, "a", languages("en", "en", None), true).await;
    let got = collect(events);
    a.published(Duration::from_secs(15)).await.unwrap();

    let (audio, references, _) = recording(1, 1.0);
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packets = encoder.encode(&audio).unwrap();
    packets.extend(encoder.flush().unwrap());
    a.send_audio(&packets, true, |_| {}).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while finals(&got.lock().unwrap(), "en").is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let got = got.lock().unwrap();
    let original = finals(&got, "en");
    let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
    let dropped = relay.dropped.load(std::sync::atomic::Ordering::Relaxed);
    let passed = relay.passed.load(std::sync::atomic::Ordering::Relaxed);
    let label = format!(
        "5% loss, 0-30 ms jitter: {dropped} of {} datagrams lost",
        dropped + passed
    );
    let (wrong, words) = word_error_rate(&references, &heard, &label);
    assert!(dropped > 0, "the relay lost nothing");
    assert!(!original.is_empty(), "no caption came through");
    assert!(wrong * 5 <= words, "WER {wrong}/{words}");
}

/// Joins with the publisher connection's packets going through `relay` (its candidates
/// rewritten both ways on the signaling path).
async fn join_through(
    room: &Room,
    relay: &Arc<common::LossyRelay>,
    token: &str,
    languages: Languages,
    publish: bool,
) -> (Client, mpsc::Receiver<ClientEvent>) {
    use dragoman_rtc::protocol::{ClientMessage, PeerRole};
    let (to_room, mut from_room) = local_signaling(room);
    let (client_tx, mut client_rx) = mpsc::channel::<ClientMessage>(256);
    let (room_tx, room_rx) = mpsc::channel::<ServerMessage>(1024);
    {
        let relay = relay.clone();
        tokio::spawn(async move {
            while let Some(mut message) = client_rx.recv().await {
                if let ClientMessage::Candidate(c) = &mut message
                    && c.target == PeerRole::Publisher
                {
                    c.candidate = relay.rewrite(&c.candidate, true);
                }
                let _ = to_room.send(message).await;
            }
        });
    }
    {
        let relay = relay.clone();
        tokio::spawn(async move {
            while let Some(mut message) = from_room.recv().await {
                if let ServerMessage::Candidate(c) = &mut message
                    && c.target == PeerRole::Publisher
                {
                    c.candidate = relay.rewrite(&c.candidate, false);
                }
                let _ = room_tx.send(message).await;
            }
        });
    }
    let mut options = ClientOptions::default();
    options.token = token.into();
    options.languages = languages;
    options.audio = publish;
    Client::join((client_tx, room_rx), options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_vanishes_is_removed() {
    let room = room();
    let relay = common::LossyRelay::start(0.0, Duration::ZERO).await;
    let (a, _a_events) = join_through(&room, &relay, "a", languages("en", "en", None), true).await;
    a.published(Duration::from_secs(10)).await.unwrap();
    let (_b, b_events) = join(&room, "b", languages("de", "de", None), false).await;
    let mut b_events = b_events;
    assert_eq!(room.participants().len(), 2);
    // A's network goes silent: no goodbye, no close.
    relay.cut.store(true, std::sync::atomic::Ordering::Relaxed);
    let vanished = std::time::Instant::now();
    let left = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = b_events.recv().await {
            if let ClientEvent::ParticipantLeft(id) = event {
                return id;
            }
        }
        String::new()
    })
    .await
    .expect("B is told A left");
    eprintln!(
        "A removed {:.1} s after its network went silent",
        vanished.elapsed().as_secs_f64()
    );
    assert_eq!(left, "a");
    assert_eq!(room.participants().len(), 1);
    let stats = room.stats();
    assert_eq!(stats.tracks, 0, "A's tracks are gone: {stats:?}");
    std::mem::forget(a); // its connections are dead; dropping would only log
}
