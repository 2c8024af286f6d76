//! Live calls: the rtc [`Room`] of each stored room that someone joined, started on the first
//! join, and the recorder that writes its final captions to the transcript and its pipeline
//! timings and errors to the metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dragoman_rtc::pipeline::Engines;
use dragoman_rtc::protocol::Caption;
use dragoman_rtc::room::{Room, RoomEvent, RoomOptions};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;

use super::auth::Credentials;
use super::config::Config;
use super::db::{Db, RoomRecord, STORAGE_TIMEOUT, TranscriptLine};
use super::metrics::Metrics;

/// The live calls, by room name.
#[derive(Debug, Default)]
pub struct LiveRooms {
    rooms: Mutex<HashMap<String, LiveRoom>>,
}

#[derive(Debug)]
struct LiveRoom {
    room: Room,
    recorder: JoinHandle<()>,
}

/// How often buffered transcript lines are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl LiveRooms {
    /// The call of `record`, started if none is live.
    pub async fn get_or_start(
        &self,
        record: &RoomRecord,
        config: &Config,
        engines: &Engines,
        credentials: &Credentials,
        db: &Db,
        metrics: &Arc<Metrics>,
    ) -> Room {
        let mut rooms = self.rooms.lock().await;
        if let Some(live) = rooms.get(&record.name) {
            return live.room.clone();
        }
        let mut options = RoomOptions::new(record.name.clone());
        options.max_participants = record.max_participants as usize;
        options.pipeline.audio_queue = config.audio_queue;
        options.pipeline.session.glossary = record.glossary.clone();
        options.network.udp_addresses = config.udp_addresses.clone();
        let room = Room::new(options, engines.clone(), Arc::new(credentials.clone()));
        let recorder = tokio::spawn(record_room(
            record.name.clone(),
            room.events(),
            db.clone(),
            metrics.clone(),
        ));
        rooms.insert(
            record.name.clone(),
            LiveRoom {
                room: room.clone(),
                recorder,
            },
        );
        room
    }

    /// The live call of `name`, if any.
    pub async fn get(&self, name: &str) -> Option<Room> {
        self.rooms.lock().await.get(name).map(|l| l.room.clone())
    }

    /// Every live call.
    pub async fn all(&self) -> Vec<Room> {
        self.rooms
            .lock()
            .await
            .values()
            .map(|l| l.room.clone())
            .collect()
    }

    /// Ends the call of `name` (participants are disconnected) and waits until its
    /// transcript is written.
    pub async fn end(&self, name: &str) {
        let live = self.rooms.lock().await.remove(name);
        if let Some(live) = live {
            finish(live).await;
        }
    }

    /// Ends the call of `name` if nobody is in it (after someone left), so idle rooms cost
    /// nothing; the next join starts it again.
    pub async fn end_if_empty(&self, name: &str) {
        let live = {
            let mut rooms = self.rooms.lock().await;
            match rooms.get(name) {
                Some(live) if live.room.participants().is_empty() => rooms.remove(name),
                _ => None,
            }
        };
        if let Some(live) = live {
            finish(live).await;
        }
    }

    /// Ends every call (shutdown).
    pub async fn end_all(&self) {
        let all: Vec<LiveRoom> = self.rooms.lock().await.drain().map(|(_, l)| l).collect();
        for live in all {
            finish(live).await;
        }
    }
}

async fn finish(live: LiveRoom) {
    live.room.close().await;
    // The recorder ends once the room is gone (its event channel closes); the signaling
    // tasks still holding the room let go when their sockets close.
    drop(live.room);
    if tokio::time::timeout(Duration::from_secs(10), live.recorder)
        .await
        .is_err()
    {
        tracing::warn!("a room's transcript recorder did not finish in 10 s");
    }
}

/// Writes a room's final captions to its transcript (buffered, at least every second and at
/// the end) and its pipeline timings and errors to the metrics; logs joins, leaves and
/// pipeline errors.
async fn record_room(
    room: String,
    mut events: broadcast::Receiver<RoomEvent>,
    db: Db,
    metrics: Arc<Metrics>,
) {
    let mut joined_at: HashMap<String, i64> = HashMap::new();
    let mut pending: Vec<TranscriptLine> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(RoomEvent::Joined(info)) => {
                    tracing::info!("room {room}: {} ({}) joined", info.id, info.name);
                    joined_at.insert(info.id, now_ms());
                }
                Ok(RoomEvent::Left { participant_id }) => {
                    tracing::info!("room {room}: {participant_id} left");
                }
                Ok(RoomEvent::Caption(caption)) if caption.is_final => {
                    let joined = joined_at.get(&caption.speaker).copied();
                    pending.push(line_of(caption, joined));
                }
                Ok(RoomEvent::StageLatency { stage, elapsed, .. }) => {
                    metrics.stage(stage, elapsed.as_secs_f64());
                }
                Ok(RoomEvent::AudioShed { participant_id, packets }) => {
                    tracing::warn!("room {room}: {participant_id}'s pipeline fell behind and shed {packets} audio packets");
                    metrics.audio_shed(packets);
                }
                Ok(RoomEvent::PipelineError { participant_id, stage, message }) => {
                    tracing::warn!("room {room}: {participant_id}'s {stage} stage: {message}");
                    metrics.error(&format!("pipeline_{stage}"));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("room {room}: the transcript recorder missed {n} events");
                    metrics.error("transcript_lagged");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tick.tick() => flush(&room, &db, &metrics, &mut pending).await,
        }
    }
    flush(&room, &db, &metrics, &mut pending).await;
    if !pending.is_empty() {
        tracing::error!(
            "room {room}: {} transcript lines could not be stored",
            pending.len()
        );
    }
}

/// Writes `pending`; on failure keeps them for the next try.
async fn flush(room: &str, db: &Db, metrics: &Metrics, pending: &mut Vec<TranscriptLine>) {
    if pending.is_empty() {
        return;
    }
    // Bounded, so the recorder never stalls on a hung database: the lines stay pending and
    // go with the next flush (a transaction cut short is rolled back).
    let stored =
        match tokio::time::timeout(STORAGE_TIMEOUT, db.append_transcript(room, pending)).await {
            Ok(stored) => stored.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer in {} s", STORAGE_TIMEOUT.as_secs())),
        };
    match stored {
        Ok(()) => pending.clear(),
        Err(why) => {
            tracing::warn!(
                "room {room}: storing the transcript ({} lines kept for the next try): {why}",
                pending.len()
            );
            metrics.error("storage");
        }
    }
}

/// A final caption as a transcript line. Caption times are in the speaker's audio since they
/// started publishing, which is about when they joined; without a join time, the words are
/// taken to have ended now.
fn line_of(caption: Caption, joined_at_ms: Option<i64>) -> TranscriptLine {
    let start = caption.start_ms as i64;
    let (started, ended) = match (joined_at_ms, caption.end_ms) {
        (Some(joined), Some(end)) => (joined + start, joined + end as i64),
        (Some(joined), None) => (joined + start, now_ms().max(joined + start)),
        (None, end) => {
            let now = now_ms();
            (now - end.map_or(0, |e| e as i64 - start), now)
        }
    };
    TranscriptLine {
        speaker: caption.speaker,
        speaker_name: caption.speaker_name,
        caption_id: caption.caption_id as i64,
        lang: caption.lang,
        source_lang: caption.source_lang,
        text: caption.text,
        started_at_ms: started,
        ended_at_ms: ended,
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
