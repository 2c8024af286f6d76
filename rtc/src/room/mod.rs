//! The room: an SFU on the `webrtc` crate with a translation pipeline per published audio
//! track.
//!
//! Each participant has two peer connections (see `PROTOCOL.md`): on the publisher connection
//! the room receives their tracks; on the subscriber connection it sends them everyone else's
//! tracks, forwarded packet by packet (never transcoded; each subscriber's copy gets its own
//! SSRC, header extensions stripped since their ids are per connection), the translated speech
//! in their audio language, and captions on the `captions` data channel. Keyframe requests
//! from a subscriber are relayed to the publisher; retransmissions (NACK) and congestion
//! feedback run per hop in the connections' interceptors.
//!
//! Threads and tasks: each room runs on the caller's Tokio runtime (a router task for the
//! pipelines' output, a task per forwarded track and per paced speech track); the engines run
//! on each pipeline's worker threads. A participant is gone when they leave, when their
//! signaling connection closes, or when ICE fails (see [`NetworkOptions`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use dragoman_core::{Lang, Result};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::audience::{Audience, LanguageChoice};
use crate::codec::FRAME;
use crate::peer::{self, NetworkOptions, OPUS_PT, PeerEvent};
use crate::pipeline::{
    Engines, EventSink, OpusPacket, PipelineEvent, PipelineInput, PipelineOptions, TrackCaption,
    TrackPipeline,
};
use crate::protocol::{
    Caption, ClientMessage, ErrorCode, IceCandidate, Languages, PROTOCOL_VERSION, ParticipantInfo,
    PeerRole, ProtocolError, ServerMessage, parse_client, parse_lang,
};
use crate::queue::{DropOldestReceiver, DropOldestSender, drop_oldest};

mod connection;
mod media;

pub use connection::Connection;
use media::{forward, pace_speech, route};

/// Who a join token says the participant is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A stable id (the token's subject); `None`: the room numbers participants itself.
    pub id: Option<String>,
    /// The display name, when the token carries one.
    pub name: Option<String>,
    /// Whether they may publish.
    pub can_publish: bool,
    /// Whether they may receive the others.
    pub can_subscribe: bool,
}

/// Checks a join token for a room: an identity, or why not (code
/// [`ErrorCode::Unauthorized`]). The reference server checks its signed tokens here.
pub trait Authorize: Send + Sync {
    /// The identity `token` grants in room `room`.
    fn authorize(&self, token: &str, room: &str) -> std::result::Result<Identity, ProtocolError>;
}

impl<F> Authorize for F
where
    F: Fn(&str, &str) -> std::result::Result<Identity, ProtocolError> + Send + Sync,
{
    fn authorize(&self, token: &str, room: &str) -> std::result::Result<Identity, ProtocolError> {
        self(token, room)
    }
}

/// Runtime options of a room.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoomOptions {
    /// The room's name.
    pub name: String,
    /// Most participants at once. Defaults to 16.
    pub max_participants: usize,
    /// Options of every speaker's pipeline (the spoken language comes from the speaker).
    pub pipeline: PipelineOptions,
    /// Peer connection networking.
    pub network: NetworkOptions,
}

impl RoomOptions {
    /// Options for a room named `name`, the rest defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_participants: 16,
            pipeline: PipelineOptions::default(),
            network: NetworkOptions::default(),
        }
    }
}

/// What happens in a room, for embedders (transcripts, metrics, bots).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// Someone joined.
    Joined(ParticipantInfo),
    /// Someone left or vanished.
    Left {
        /// Their id.
        participant_id: String,
    },
    /// A caption (original or translated) was delivered.
    Caption(Caption),
    /// How long a pipeline stage took for one utterance (see [`PipelineEvent::Latency`]).
    StageLatency {
        /// The speaker.
        participant_id: String,
        /// The stage: `stt`, `translate` or `speak`.
        stage: &'static str,
        /// The time it took.
        elapsed: Duration,
    },
    /// A speaker's pipeline fell behind and dropped the oldest of their audio (they are told
    /// with [`ServerMessage::AudioShed`]).
    AudioShed {
        /// The speaker.
        participant_id: String,
        /// 20 ms packets dropped since the last such event.
        packets: u64,
    },
    /// A pipeline stage failed on some input.
    PipelineError {
        /// The speaker.
        participant_id: String,
        /// The stage.
        stage: &'static str,
        /// What failed.
        message: String,
    },
}

/// Counters of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Participants now.
    pub participants: usize,
    /// Tracks published now (audio, video, translated speech).
    pub tracks: usize,
    /// Audio packets the pipelines dropped because they fell behind.
    pub pipeline_drops: u64,
    /// Translated speech frames dropped because the pacer fell behind.
    pub speech_drops: u64,
    /// Signaling messages dropped because a participant did not read them.
    pub signaling_drops: u64,
}

/// A room. Cheap to clone; the room ends when [`Room::close`] is called.
#[derive(Clone)]
pub struct Room {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("name", &self.inner.options.name)
            .finish()
    }
}

struct Inner {
    options: RoomOptions,
    engines: Engines,
    authorize: Arc<dyn Authorize>,
    state: Mutex<State>,
    events: broadcast::Sender<RoomEvent>,
    /// The pipelines' output, routed on the room's task.
    pipeline_tx: mpsc::Sender<(String, PipelineEvent)>,
    signaling_drops: AtomicU64,
}

#[derive(Default)]
struct State {
    audience: Audience,
    members: BTreeMap<String, Arc<Member>>,
    /// Tracks published in the room, by `(owner, track id)`.
    tracks: BTreeMap<(String, String), Arc<Published>>,
    next_id: u64,
    closed: bool,
}

/// Messages to one participant.
type Outbox = mpsc::Sender<ServerMessage>;

/// Bound of a participant's signaling queue. A participant that stops reading loses the
/// messages that do not fit (counted in [`RoomStats::signaling_drops`]); the room never waits
/// for one participant.
const OUTBOX: usize = 1024;

struct Member {
    info: Mutex<ParticipantInfo>,
    identity: Identity,
    outbox: Outbox,
    publisher: Arc<dyn PeerConnection>,
    subscriber: Arc<dyn PeerConnection>,
    subscriber_up: watch::Sender<bool>,
    captions: Mutex<Option<Arc<dyn DataChannel>>>,
    negotiation: tokio::sync::Mutex<Negotiation>,
    /// Candidates that came before the connection's remote description.
    early_candidates: Mutex<HashMap<PeerRole, Vec<RTCIceCandidateInit>>>,
    subscriptions: Mutex<BTreeMap<(String, String), Subscription>>,
    pipeline: Mutex<Option<TrackPipeline>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct Negotiation {
    /// An offer was sent and its answer has not come.
    in_flight: bool,
    /// Tracks changed while an offer was in flight: offer again after the answer.
    again: bool,
}

struct Subscription {
    sender: Arc<dyn RtpSender>,
    task: JoinHandle<()>,
}

/// A track someone publishes (or a speaker's translated speech).
struct Published {
    owner: String,
    track_id: String,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    packets: broadcast::Sender<rtp::Packet>,
    /// The publisher's track, for keyframe requests (none for translated speech).
    remote: Option<(Arc<dyn TrackRemote>, u32)>,
    /// Translated speech frames waiting for the pacer.
    speech: Option<DropOldestSender<(Vec<u8>, bool)>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Packets a forwarded track may buffer per subscriber before a slow one misses some.
const FORWARD_BUFFER: usize = 512;
/// Translated speech frames waiting to be paced out (60 s). Speech is made faster than it
/// plays, a sentence at once: at 10 s the queue cut the start of long sentences (a 13 s German
/// sentence lost its first 1.6 s). Only speech that falls a minute behind is dropped (counted
/// in `speech_drops`).
const SPEECH_QUEUE: usize = 3000;

fn speech_track_id(lang: Lang) -> String {
    format!("speech-{}", lang.code())
}

impl Room {
    /// A room serving `engines` (shared: one copy of each model for every room), checking
    /// tokens with `authorize`. Must be called on a Tokio runtime.
    pub fn new(options: RoomOptions, engines: Engines, authorize: Arc<dyn Authorize>) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (pipeline_tx, pipeline_rx) = mpsc::channel(4096);
        let inner = Arc::new(Inner {
            options,
            engines,
            authorize,
            state: Mutex::new(State::default()),
            events,
            pipeline_tx,
            signaling_drops: AtomicU64::new(0),
        });
        tokio::spawn(route(Arc::downgrade(&inner), pipeline_rx));
        Self { inner }
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.inner.options.name
    }

    /// The room's events.
    pub fn events(&self) -> broadcast::Receiver<RoomEvent> {
        self.inner.events.subscribe()
    }

    /// Who is in the room.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.inner
            .state()
            .members
            .values()
            .map(|m| m.info())
            .collect()
    }

    /// The room's counters.
    pub fn stats(&self) -> RoomStats {
        let state = self.inner.state();
        let pipeline_drops = state
            .members
            .values()
            .map(|m| {
                m.pipeline
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map_or(0, TrackPipeline::dropped)
            })
            .sum();
        let speech_drops = state
            .tracks
            .values()
            .filter_map(|t| t.speech.as_ref().map(DropOldestSender::dropped))
            .sum();
        RoomStats {
            participants: state.members.len(),
            tracks: state.tracks.len(),
            pipeline_drops,
            speech_drops,
            signaling_drops: self.inner.signaling_drops.load(Ordering::Relaxed),
        }
    }

    /// A signaling connection: feed it the participant's messages; what the room sends comes
    /// out of the receiver. Dropping the connection (or [`Connection::close`]) is leaving.
    pub fn connect(&self) -> (Connection, mpsc::Receiver<ServerMessage>) {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        (
            Connection {
                room: self.clone(),
                outbox,
                participant: None,
            },
            rx,
        )
    }

    /// Tells everyone the room is closing and disconnects them.
    pub async fn close(&self) {
        let members: Vec<String> = {
            let mut state = self.inner.state();
            state.closed = true;
            state.members.keys().cloned().collect()
        };
        for id in members {
            self.inner.remove(&id).await;
        }
    }
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn member(&self, id: &str) -> Option<Arc<Member>> {
        self.state().members.get(id).cloned()
    }

    fn emit(&self, event: RoomEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    fn send(&self, to: &Member, message: ServerMessage) {
        if to.outbox.try_send(message).is_err() {
            self.signaling_drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends `message` to everyone but `except`.
    fn broadcast(&self, message: &ServerMessage, except: &str) {
        let members: Vec<Arc<Member>> = self
            .state()
            .members
            .iter()
            .filter(|(id, _)| id.as_str() != except)
            .map(|(_, m)| m.clone())
            .collect();
        for m in members {
            self.send(&m, message.clone());
        }
    }

    /// Removes a participant: their tracks, pipeline, subscriptions and connections.
    async fn remove(self: &Arc<Self>, id: &str) {
        let (member, gone_tracks) = {
            let mut state = self.state();
            let Some(member) = state.members.remove(id) else {
                return;
            };
            state.audience.remove(id);
            let gone: Vec<(String, String)> = state
                .tracks
                .keys()
                .filter(|(owner, _)| owner == id)
                .cloned()
                .collect();
            let tracks: Vec<Arc<Published>> = gone
                .iter()
                .filter_map(|key| state.tracks.remove(key))
                .collect();
            (member, tracks)
        };
        for track in &gone_tracks {
            if let Some(task) = track
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                task.abort();
            }
        }
        // The pipeline finishes on its own threads; do not wait for it here.
        let pipeline = member
            .pipeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(pipeline) = pipeline {
            std::thread::spawn(move || pipeline.finish());
        }
        for task in member
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        for (_, s) in member
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            s.task.abort();
        }
        let _ = member.publisher.close().await;
        let _ = member.subscriber.close().await;
        self.broadcast(
            &ServerMessage::ParticipantLeft {
                participant_id: id.to_string(),
            },
            id,
        );
        self.emit(RoomEvent::Left {
            participant_id: id.to_string(),
        });
        self.refresh().await;
    }

    /// After any change of who is here, what they publish or which languages they want:
    /// update each pipeline's targets, the translated speech tracks, and everyone's
    /// subscriptions.
    async fn refresh(self: &Arc<Self>) {
        let (members, audience) = {
            let state = self.state();
            (state.members.clone(), state.audience.clone())
        };
        for (id, member) in &members {
            let targets = audience.targets(id);
            let speaking = {
                let pipeline = member
                    .pipeline
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(p) = pipeline.as_ref() {
                    p.set_targets(targets.clone());
                }
                pipeline.is_some()
            };
            if speaking {
                for &lang in &targets.speech {
                    self.speech_track(id, lang);
                }
            }
        }
        for (id, member) in &members {
            self.sync_subscriptions(id, member, &audience).await;
        }
    }

    /// The translated speech track of `speaker` in `lang`, started if new.
    fn speech_track(self: &Arc<Self>, speaker: &str, lang: Lang) -> Arc<Published> {
        let key = (speaker.to_string(), speech_track_id(lang));
        let mut state = self.state();
        if let Some(track) = state.tracks.get(&key) {
            return track.clone();
        }
        let (packets, _) = broadcast::channel(FORWARD_BUFFER);
        let (queue, frames) = drop_oldest(SPEECH_QUEUE);
        let track = Arc::new(Published {
            owner: speaker.to_string(),
            track_id: key.1.clone(),
            kind: RtpCodecKind::Audio,
            codec: peer::opus_codec(),
            packets: packets.clone(),
            remote: None,
            speech: Some(queue),
            task: Mutex::new(None),
        });
        *track.task.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(tokio::spawn(pace_speech(frames, packets)));
        state.tracks.insert(key, track.clone());
        track
    }

    /// Makes `member`'s subscriber connection carry exactly the tracks it should: the others'
    /// audio and video, and their speech in its audio language. Offers again if that changed.
    async fn sync_subscriptions(
        self: &Arc<Self>,
        id: &str,
        member: &Arc<Member>,
        audience: &Audience,
    ) {
        if !member.identity.can_subscribe {
            return;
        }
        let wanted: BTreeMap<(String, String), Arc<Published>> = {
            let state = self.state();
            state
                .tracks
                .iter()
                .filter(|((owner, track_id), _)| {
                    owner != id
                        && match track_id.strip_prefix("speech-") {
                            None => true,
                            Some(code) => Lang::parse(code).is_ok_and(|lang| {
                                audience.speech_recipients(owner, lang).contains(id)
                            }),
                        }
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let (stale, missing): (Vec<(String, String)>, Vec<Arc<Published>>) = {
            let subs = member
                .subscriptions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (
                subs.keys()
                    .filter(|k| !wanted.contains_key(*k))
                    .cloned()
                    .collect(),
                wanted
                    .iter()
                    .filter(|(k, _)| !subs.contains_key(*k))
                    .map(|(_, v)| v.clone())
                    .collect(),
            )
        };
        if stale.is_empty() && missing.is_empty() {
            return;
        }
        for key in stale {
            let sub = member
                .subscriptions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            if let Some(sub) = sub {
                sub.task.abort();
                if let Err(e) = member.subscriber.remove_track(&sub.sender).await {
                    log::warn!("removing track {key:?} from {id}: {e}");
                }
            }
        }
        for track in missing {
            match self.subscribe(member, &track).await {
                Ok(sub) => {
                    member
                        .subscriptions
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((track.owner.clone(), track.track_id.clone()), sub);
                }
                Err(e) => log::warn!(
                    "subscribing {id} to {}/{}: {e}",
                    track.owner,
                    track.track_id
                ),
            }
        }
        self.offer(member).await;
    }

    /// Adds `track` to `member`'s subscriber connection and starts forwarding it.
    async fn subscribe(
        &self,
        member: &Arc<Member>,
        track: &Arc<Published>,
    ) -> Result<Subscription> {
        let ssrc = rand_ssrc();
        let local = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            track.owner.clone(),
            track.track_id.clone(),
            track.track_id.clone(),
            track.kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: track.codec.clone(),
                ..Default::default()
            }],
        )));
        let sender = member
            .subscriber
            .add_track(local.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| dragoman_core::Error::Internal(format!("adding a track: {e}")))?;
        let packets = track.packets.subscribe();
        let up = member.subscriber_up.subscribe();
        let remote = track.remote.clone();
        let payload_type = peer::payload_type(&track.codec).ok_or_else(|| {
            dragoman_core::Error::Internal(format!("no payload type for {}", track.codec.mime_type))
        })?;
        let task = tokio::spawn(forward(local, ssrc, payload_type, packets, up, remote));
        Ok(Subscription { sender, task })
    }

    /// Offers on `member`'s subscriber connection (or marks that it must offer again once
    /// the offer in flight is answered).
    async fn offer(&self, member: &Arc<Member>) {
        let mut negotiation = member.negotiation.lock().await;
        if negotiation.in_flight {
            negotiation.again = true;
            return;
        }
        let offer = match member.subscriber.create_offer(None).await {
            Ok(offer) => offer,
            Err(e) => {
                log::warn!("creating an offer: {e}");
                return;
            }
        };
        if let Err(e) = member.subscriber.set_local_description(offer.clone()).await {
            log::warn!("setting the local offer: {e}");
            return;
        }
        negotiation.in_flight = true;
        negotiation.again = false;
        self.send(member, ServerMessage::Offer { sdp: offer.sdp });
    }

    /// Caption fan-out: to each recipient's signaling and data channel, and to the room's
    /// events.
    async fn deliver(&self, speaker: &str, caption: TrackCaption) {
        let (recipients, speaker_name) = {
            let state = self.state();
            let recipients: Vec<Arc<Member>> = state
                .audience
                .caption_recipients(speaker, caption.lang, caption.source_lang)
                .iter()
                .filter_map(|id| state.members.get(id).cloned())
                .collect();
            let name = state
                .members
                .get(speaker)
                .map(|m| m.info().name)
                .unwrap_or_default();
            (recipients, name)
        };
        let code =
            |lang: Option<Lang>| lang.map_or_else(|| "und".to_string(), |l| l.code().to_string());
        let message = Caption {
            speaker: speaker.to_string(),
            speaker_name,
            caption_id: caption.caption_id,
            revision: caption.revision,
            lang: code(caption.lang.or(caption.source_lang)),
            source_lang: code(caption.source_lang.or(caption.lang)),
            text: caption.text,
            is_final: caption.is_final,
            start_ms: caption.start.as_duration().as_millis() as u64,
            end_ms: caption.end.map(|e| e.as_duration().as_millis() as u64),
            refined: caption.refined,
        };
        let wire = ServerMessage::Caption(message.clone());
        let json = crate::protocol::to_json(&wire);
        for member in recipients {
            let channel = member
                .captions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(channel) = channel {
                let _ = channel.send_text(&json).await;
            }
            self.send(&member, wire.clone());
        }
        self.emit(RoomEvent::Caption(message));
    }
}

impl Member {
    fn info(&self) -> ParticipantInfo {
        self.info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn rand_ssrc() -> u32 {
    // Unique per connection is all that matters; a counter mixed with the time is plenty.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (n as u32).wrapping_mul(0x9e37_79b9) ^ t
}
