//! WebSocket signaling: each text frame is one message of the room protocol
//! (`rtc/src/PROTOCOL.md`), passed to the room's [`Connection`](dragoman_rtc::room::Connection);
//! what the room sends goes back as text frames. The server pings every `heartbeat_secs` and
//! closes a connection silent for three intervals; the client reconnects by joining again
//! with its token (the room replaces the old session).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use dragoman_rtc::protocol::{ServerMessage, to_json};
use futures_util::{SinkExt, StreamExt};

use super::AppState;
use super::api::stored_room;
use super::error::{ApiError, ApiPath};

/// The largest message accepted; the protocol refuses more than 64 KiB itself, with an error
/// the client can read, so the socket allows a little more.
const MAX_MESSAGE: usize = 128 * 1024;

/// Opens signaling for a room (WebSocket upgrade).
#[utoipa::path(get, path = "/v1/rooms/{room}/signal", tag = "signaling",
    params(("room" = String, Path, description = "The room's name")),
    responses((status = 101, description = "WebSocket carrying the room protocol \
        (rtc/src/PROTOCOL.md); the first message is `join` with a token"),
        (status = 404, body = super::error::ErrorBody),
        (status = 503, body = super::error::ErrorBody)))]
pub async fn signal(
    State(state): State<Arc<AppState>>,
    ApiPath(room): ApiPath<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let record = stored_room(&state, &room).await?;
    let engines = state.ready_engines()?.clone();
    let live = state
        .rooms
        .get_or_start(
            &record,
            &state.config,
            &engines,
            &state.credentials,
            &state.db,
            &state.metrics,
        )
        .await;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session(socket, live, state)))
}

async fn session(socket: WebSocket, room: dragoman_rtc::room::Room, state: Arc<AppState>) {
    let (mut sink, mut stream) = socket.split();
    let (mut connection, mut outbox) = room.connect();
    let name = room.name().to_string();
    drop(room);
    let heartbeat = Duration::from_secs(state.config.heartbeat_secs.max(1));
    let mut ticks = tokio::time::interval(heartbeat);
    let mut shutdown = state.shutdown.subscribe();
    let mut heard = Instant::now();
    let close = |code, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }))
    };
    loop {
        tokio::select! {
            incoming = stream.next() => {
                heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => connection.handle_raw(text.as_bytes()).await,
                    Some(Ok(Message::Binary(bytes))) => connection.handle_raw(&bytes).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                }
            }
            outgoing = outbox.recv() => {
                let Some(message) = outgoing else { break };
                if let ServerMessage::Error { code, .. } = &message {
                    state.metrics.error(&format!("signaling_{}", code.as_str()));
                }
                if sink.send(Message::Text(to_json(&message).into())).await.is_err() {
                    break;
                }
            }
            _ = ticks.tick() => {
                if heard.elapsed() > heartbeat * 3 {
                    let _ = sink.send(close(close_code::AWAY, "heartbeat timeout")).await;
                    break;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = shutdown.changed() => {
                let _ = sink.send(close(close_code::AWAY, "server shutting down")).await;
                break;
            }
        }
    }
    // Answers the client's close frame, or sends one (a no-op when one was sent).
    let _ = sink.close().await;
    connection.close().await;
    state.rooms.end_if_empty(&name).await;
}
