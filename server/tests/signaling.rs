//! WebSocket signaling on a real listening server: token checks, heartbeats, a call between
//! two headless clients over WebSocket whose captions end up in the transcript, and a
//! graceful shutdown that tells the clients and writes the transcript before a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../rtc/tests/common/mod.rs"]
mod room_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN, Auth, KEY, SECRET, call, config, create_room, state};
use dragoman_rtc::client::{Client, ClientEvent, ClientOptions};
use dragoman_rtc::codec::OpusEncoder;
use dragoman_rtc::protocol::{Caption, ClientMessage, Languages, ServerMessage};
use dragoman_server::serve::auth::{Credentials, Grants};
use dragoman_server::serve::{AppState, Server};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(state: Arc<AppState>) -> Server {
    state.set_engines(room_common::engines());
    Server::start(state).await.unwrap()
}

async fn connect(server: &Server, room: &str) -> Socket {
    let url = format!("ws://{}/v1/rooms/{room}/signal", server.local_addr());
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next protocol message (skipping the server's pings).
async fn next(socket: &mut Socket) -> ServerMessage {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, message: &ClientMessage) {
    let text = serde_json::to_string(message).unwrap();
    socket.send(Message::Text(text.into())).await.unwrap();
}

fn join(token: &str) -> ClientMessage {
    ClientMessage::Join {
        token: token.into(),
        name: None,
        languages: Languages::default(),
    }
}

fn assert_unauthorized(message: ServerMessage, says: &str) {
    match message {
        ServerMessage::Error { code, message } => {
            assert_eq!(code.as_str(), "unauthorized", "{message}");
            assert!(message.contains(says), "{message:?} should say {says:?}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_refuses_bad_tokens_and_keeps_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(state(config(dir.path())).await).await;
    let state = server.state().clone();
    create_room(&state, r#"{"name":"standup"}"#).await;
    create_room(&state, r#"{"name":"other"}"#).await;

    // No room, no upgrade.
    let url = format!("ws://{}/v1/rooms/nope/signal", server.local_addr());
    assert!(tokio_tungstenite::connect_async(url).await.is_err());

    let credentials = Credentials::new(KEY, SECRET);
    let mut socket = connect(&server, "standup").await;
    send(&mut socket, &join("")).await;
    assert_unauthorized(next(&mut socket).await, "required");
    let (forged, _) = Credentials::new(KEY, "guessed").issue(
        "eve",
        None,
        Some("standup"),
        Grants::PARTICIPANT,
        60,
    );
    send(&mut socket, &join(&forged)).await;
    assert_unauthorized(next(&mut socket).await, "signature");
    let (other, _) = credentials.issue("ana", None, Some("other"), Grants::PARTICIPANT, 60);
    send(&mut socket, &join(&other)).await;
    assert_unauthorized(next(&mut socket).await, "not for room");
    let (expired, _) = credentials.issue("ana", None, Some("standup"), Grants::PARTICIPANT, 0);
    tokio::time::sleep(Duration::from_secs(7)).await; // past the 5 s leeway
    send(&mut socket, &join(&expired)).await;
    assert_unauthorized(next(&mut socket).await, "expired");
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut socket).await,
        ServerMessage::Error { .. }
    ));

    // Still open: ping, then a good token joins.
    send(&mut socket, &ClientMessage::Ping { id: 7 }).await;
    assert_eq!(next(&mut socket).await, ServerMessage::Pong { id: 7 });
    let (good, _) = credentials.issue(
        "ana",
        Some("Ana".into()),
        Some("standup"),
        Grants::PARTICIPANT,
        60,
    );
    send(&mut socket, &join(&good)).await;
    match next(&mut socket).await {
        ServerMessage::Joined {
            participant_id,
            room,
            ..
        } => {
            assert_eq!(participant_id, "ana");
            assert_eq!(room, "standup");
        }
        other => panic!("expected joined, got {other:?}"),
    }
    let reply = call(&state, "GET", "/v1/rooms/standup/participants", ADMIN, None).await;
    assert_eq!(reply.json()["participants"][0]["name"], "Ana");
    let metrics = call(&state, "GET", "/metrics", Auth::None, None).await;
    assert!(
        metrics
            .text
            .contains("dragoman_errors_total{kind=\"signaling_unauthorized\"} 4"),
        "{}",
        metrics.text
    );

    // Shutdown tells the client (close frame "going away").
    server.shut_down().await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame;
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(closed.unwrap().reason.as_str(), "server shutting down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.heartbeat_secs = 1;
    let server = start(state(config).await).await;
    create_room(server.state(), r#"{"name":"r"}"#).await;
    // A WebSocket client that never answers (a library client would answer pings on its
    // own): the handshake by hand, then nothing but reading what the server sends.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let handshake = format!(
        "GET /v1/rooms/r/signal HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        server.local_addr()
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the server did not close the silent connection"
    );
    assert!(received.starts_with(b"HTTP/1.1 101"));
    // Unmasked server frames: 0x89 is a ping, 0x88 a close (code, then the reason).
    let pings = received.windows(2).filter(|w| w == &[0x89, 0x00]).count();
    assert!(pings >= 2, "{pings} pings before the close");
    let close = received
        .iter()
        .rposition(|&b| b == 0x88)
        .expect("a close frame");
    assert!(received[close..].ends_with(b"heartbeat timeout"));
    server.shut_down().await;
}

/// Signaling for the rtc headless client over a WebSocket.
async fn websocket_signaling(
    server: &Server,
    room: &str,
) -> (mpsc::Sender<ClientMessage>, mpsc::Receiver<ServerMessage>) {
    let (mut sink, mut stream) = connect(server, room).await.split();
    let (to_room, mut outgoing) = mpsc::channel::<ClientMessage>(256);
    let (incoming, from_room) = mpsc::channel::<ServerMessage>(1024);
    tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let text = serde_json::to_string(&message).unwrap();
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message
                && incoming
                    .send(serde_json::from_str(&text).unwrap())
                    .await
                    .is_err()
            {
                return;
            }
        }
    });
    (to_room, from_room)
}

fn options(token: String, spoken: &str, captions: &str, audio: bool) -> ClientOptions {
    let mut options = ClientOptions::default();
    options.token = token;
    options.languages = Languages {
        spoken: Some(spoken.into()),
        captions: Some(captions.into()),
        audio: None,
    };
    options.audio = audio;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_websocket_is_transcribed_and_the_transcript_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // A debug build runs the models slower than real time: queue the whole recording.
    config.audio_queue = 5000;
    let server = start(state(config.clone()).await).await;
    let state = server.state().clone();
    create_room(&state, r#"{"name":"standup"}"#).await;
    let credentials = Credentials::new(KEY, SECRET);
    let token = |id: &str, name: &str| {
        credentials
            .issue(
                id,
                Some(name.into()),
                Some("standup"),
                Grants::PARTICIPANT,
                600,
            )
            .0
    };

    let (a, _a_events) = Client::join(
        websocket_signaling(&server, "standup").await,
        options(token("ana", "Ana"), "en", "en", true),
    )
    .await
    .unwrap();
    let (_b, mut b_events) = Client::join(
        websocket_signaling(&server, "standup").await,
        options(token("bo", "Bo"), "vi", "vi", false),
    )
    .await
    .unwrap();
    let captions: Arc<Mutex<Vec<Caption>>> = Arc::default();
    {
        let captions = captions.clone();
        tokio::spawn(async move {
            while let Some(event) = b_events.recv().await {
                if let ClientEvent::Caption(caption) = event {
                    captions.lock().unwrap().push(caption);
                }
            }
        });
    }
    a.published(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (audio, references, _) = room_common::recording(1, 1.0);
    let mut encoder = OpusEncoder::new().unwrap();
    let mut packets = encoder.encode(&audio).unwrap();
    packets.extend(encoder.flush().unwrap());
    a.send_audio(&packets, true, |_| {}).await.unwrap();

    let finals = |lang: &str| -> Vec<Caption> {
        captions
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.is_final && c.lang == lang)
            .cloned()
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while (finals("en").is_empty() || finals("vi").len() < finals("en").len())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let english = finals("en");
    let heard: Vec<&str> = english.iter().map(|c| c.text.as_str()).collect();
    let (wrong, words) = room_common::word_error_rate(&references, &heard, "Bo's captions");
    assert!(wrong * 10 <= words, "WER {wrong}/{words}");
    assert!(!finals("vi").is_empty(), "Bo reads Vietnamese");
    assert!(english.iter().all(|c| c.speaker_name == "Ana"));

    // The pipeline's stage timings reached the metrics.
    let metrics = call(&state, "GET", "/metrics", Auth::None, None).await;
    assert!(
        metrics.text.contains("dragoman_participants 2"),
        "{}",
        metrics.text
    );
    assert!(
        !metrics
            .text
            .contains("dragoman_pipeline_stage_seconds_count{stage=\"stt\"} 0"),
        "{}",
        metrics.text
    );

    // Shut down with the call in progress; a new server has the transcript.
    server.shut_down().await;
    drop(state);
    let again = common::state(config).await;
    let reply = call(
        &again,
        "GET",
        "/v1/rooms/standup/transcript?format=json",
        ADMIN,
        None,
    )
    .await;
    let lines = reply.json()["lines"].as_array().unwrap().clone();
    let stored_en: Vec<&str> = lines
        .iter()
        .filter(|l| l["lang"] == "en")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(stored_en, heard, "every English final is in the transcript");
    assert!(
        lines
            .iter()
            .any(|l| l["lang"] == "vi" && l["source_lang"] == "en")
    );
    assert!(lines.iter().all(|l| l["speaker_name"] == "Ana"));
    let vtt = call(
        &again,
        "GET",
        "/v1/rooms/standup/transcript?format=vtt",
        ADMIN,
        None,
    )
    .await;
    assert!(vtt.text.starts_with("WEBVTT\n\n00:00:"), "{}", vtt.text);
    assert!(vtt.text.contains("<v Ana>"), "{}", vtt.text);
    again.shut_down().await;
}
