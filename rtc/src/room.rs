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
    Engines, EventSink, OpusPacket, PipelineEvent, PipelineOptions, TrackCaption, TrackPipeline,
};
use crate::protocol::{
    Caption, ClientMessage, ErrorCode, IceCandidate, Languages, PROTOCOL_VERSION, ParticipantInfo,
    PeerRole, ProtocolError, ServerMessage, parse_client, parse_lang,
};
use crate::queue::{DropOldestReceiver, DropOldestSender, drop_oldest};

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
/// Translated speech frames waiting to be paced out (10 s).
const SPEECH_QUEUE: usize = 500;

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
        let task = tokio::spawn(forward(local, ssrc, packets, up, remote));
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

/// Routes the pipelines' output: captions to their recipients, speech frames to their pacer.
async fn route(room: Weak<Inner>, mut events: mpsc::Receiver<(String, PipelineEvent)>) {
    while let Some((speaker, event)) = events.recv().await {
        let Some(room) = room.upgrade() else { return };
        match event {
            PipelineEvent::Caption(caption) => room.deliver(&speaker, caption).await,
            PipelineEvent::Speech { lang, packet, last } => {
                let track = room.speech_track(&speaker, lang);
                if let Some(queue) = &track.speech {
                    let _ = queue.push((packet, last));
                }
            }
            PipelineEvent::Error { stage, message } => {
                log::warn!("pipeline of {speaker}, {stage}: {message}");
                room.emit(RoomEvent::PipelineError {
                    participant_id: speaker,
                    stage,
                    message,
                });
            }
        }
    }
}

/// Sends translated speech frames as RTP at the pace they play (one per 20 ms), with a
/// timeline that keeps running through silence so the receiver's jitter buffer stays sane.
async fn pace_speech(
    frames: DropOldestReceiver<(Vec<u8>, bool)>,
    packets: broadcast::Sender<rtp::Packet>,
) {
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut sequence, mut timestamp) = (rand_ssrc() as u16, rand_ssrc());
    let mut talking = false;
    loop {
        ticks.tick().await;
        timestamp = timestamp.wrapping_add(FRAME as u32);
        let Some((payload, last)) = frames.try_recv() else {
            talking = false;
            continue;
        };
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: OPUS_PT,
                sequence_number: sequence,
                timestamp,
                marker: !talking,
                ..Default::default()
            },
            payload: payload.into(),
        };
        sequence = sequence.wrapping_add(1);
        talking = !last;
        let _ = packets.send(packet);
    }
}

/// Forwards a published track's packets to one subscriber's local track (once the subscriber
/// connection is up: packets written before are lost), and relays its keyframe requests to
/// the publisher.
async fn forward(
    local: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    mut packets: broadcast::Receiver<rtp::Packet>,
    mut up: watch::Receiver<bool>,
    remote: Option<(Arc<dyn TrackRemote>, u32)>,
) {
    let feedback = {
        let local = local.clone();
        tokio::spawn(async move {
            while let Some(event) = local.poll().await {
                #[allow(irrefutable_let_patterns)] // the enum is non-exhaustive
                let TrackLocalEvent::OnRtcpPacket(rtcp) = event else {
                    continue;
                };
                let wants_keyframe = rtcp.iter().any(|p| {
                    let p = p.as_any();
                    p.is::<PictureLossIndication>()
                        || p.is::<rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest>()
                });
                if let (true, Some((track, media_ssrc))) = (wants_keyframe, &remote) {
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: *media_ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
            }
        })
    };
    if up.wait_for(|connected| *connected).await.is_ok() {
        loop {
            match packets.recv().await {
                Ok(mut packet) => {
                    packet.header.ssrc = ssrc;
                    // Extension ids are negotiated per connection: do not carry them over.
                    packet.header.extension = false;
                    packet.header.extensions.clear();
                    packet.header.extension_profile = 0;
                    if local.write_rtp(packet).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    log::debug!("a subscriber fell {n} packets behind");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    feedback.abort();
}

/// One participant's signaling connection to a room.
pub struct Connection {
    room: Room,
    outbox: Outbox,
    participant: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("participant", &self.participant)
            .finish()
    }
}

impl Connection {
    /// The participant's id once joined.
    pub fn participant_id(&self) -> Option<&str> {
        self.participant.as_deref()
    }

    /// Handles one raw message (a WebSocket text frame). A refused message is answered with an
    /// error message; the connection goes on.
    pub async fn handle_raw(&mut self, bytes: &[u8]) {
        match parse_client(bytes) {
            Ok(message) => self.handle(message).await,
            Err(e) => self.refuse(e),
        }
    }

    /// Handles one message.
    pub async fn handle(&mut self, message: ClientMessage) {
        if let Err(e) = self.dispatch(message).await {
            self.refuse(e);
        }
    }

    fn refuse(&self, e: ProtocolError) {
        if self.outbox.try_send(e.into()).is_err() {
            self.room
                .inner
                .signaling_drops
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Leaves the room (also what dropping the connection does, later).
    pub async fn close(mut self) {
        if let Some(id) = self.participant.take() {
            self.room.inner.remove(&id).await;
        }
    }

    async fn dispatch(&mut self, message: ClientMessage) -> std::result::Result<(), ProtocolError> {
        let unexpected = |what: &str| Err(ProtocolError::new(ErrorCode::UnexpectedMessage, what));
        let inner = self.room.inner.clone();
        match (message, self.participant.clone()) {
            (ClientMessage::Ping { id }, _) => {
                let _ = self.outbox.try_send(ServerMessage::Pong { id });
                Ok(())
            }
            (
                ClientMessage::Join {
                    token,
                    name,
                    languages,
                },
                None,
            ) => {
                let id = join(&inner, &self.outbox, &token, name, languages).await?;
                self.participant = Some(id);
                Ok(())
            }
            (ClientMessage::Join { .. }, Some(_)) => unexpected("already joined"),
            (_, None) => unexpected("join first"),
            (ClientMessage::Offer { sdp }, Some(id)) => publisher_offer(&inner, &id, sdp).await,
            (ClientMessage::Answer { sdp }, Some(id)) => subscriber_answer(&inner, &id, sdp).await,
            (ClientMessage::Candidate(candidate), Some(id)) => {
                add_candidate(&inner, &id, candidate).await
            }
            (ClientMessage::SetLanguages(languages), Some(id)) => {
                set_languages(&inner, &id, languages).await
            }
            (ClientMessage::Leave, Some(id)) => {
                self.participant = None;
                inner.remove(&id).await;
                Ok(())
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(id) = self.participant.take() {
            let inner = self.room.inner.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { inner.remove(&id).await });
            }
        }
    }
}

fn choice(languages: &Languages) -> std::result::Result<LanguageChoice, ProtocolError> {
    Ok(LanguageChoice {
        spoken: parse_lang(languages.spoken.as_deref())?,
        captions: parse_lang(languages.captions.as_deref())?,
        audio: parse_lang(languages.audio.as_deref())?,
    })
}

fn internal(what: &str, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

async fn join(
    inner: &Arc<Inner>,
    outbox: &Outbox,
    token: &str,
    name: Option<String>,
    languages: Languages,
) -> std::result::Result<String, ProtocolError> {
    let identity = inner.authorize.authorize(token, &inner.options.name)?;
    let parsed = choice(&languages)?;
    // A reconnect: the same identity joining again replaces its old session (whose network
    // may be gone without a goodbye), as LiveKit does.
    if let Some(id) = &identity.id
        && inner.member(id).is_some()
    {
        inner.remove(id).await;
    }
    let id = {
        let mut state = inner.state();
        if state.closed {
            return Err(ProtocolError::new(
                ErrorCode::UnexpectedMessage,
                "the room is closed",
            ));
        }
        if state.members.len() >= inner.options.max_participants {
            return Err(ProtocolError::new(
                ErrorCode::RoomFull,
                format!(
                    "the room holds {} participants",
                    inner.options.max_participants
                ),
            ));
        }
        match &identity.id {
            Some(id) => id.clone(),
            None => {
                state.next_id += 1;
                format!("p{}", state.next_id)
            }
        }
    };
    let name = name
        .or_else(|| identity.name.clone())
        .unwrap_or_else(|| id.clone());
    let network = &inner.options.network;
    let (publisher, publisher_events) = peer::connect(network)
        .await
        .map_err(|e| internal("publisher connection", e))?;
    let (subscriber, subscriber_events) = peer::connect(network)
        .await
        .map_err(|e| internal("subscriber connection", e))?;
    let captions = subscriber
        .create_data_channel("captions", None)
        .await
        .map_err(|e| internal("captions channel", e))?;
    let info = ParticipantInfo {
        id: id.clone(),
        name,
        languages,
    };
    let member = Arc::new(Member {
        info: Mutex::new(info.clone()),
        identity,
        outbox: outbox.clone(),
        publisher,
        subscriber,
        subscriber_up: watch::channel(false).0,
        captions: Mutex::new(None),
        negotiation: tokio::sync::Mutex::new(Negotiation::default()),
        early_candidates: Mutex::new(HashMap::new()),
        subscriptions: Mutex::new(BTreeMap::new()),
        pipeline: Mutex::new(None),
        tasks: Mutex::new(Vec::new()),
    });
    let others = {
        let mut state = inner.state();
        let others: Vec<ParticipantInfo> = state.members.values().map(|m| m.info()).collect();
        state.members.insert(id.clone(), member.clone());
        state.audience.set(&id, parsed);
        others
    };
    let weak = Arc::downgrade(inner);
    let tasks = vec![
        tokio::spawn(watch_captions(member.clone(), captions)),
        tokio::spawn(publisher_loop(weak.clone(), id.clone(), publisher_events)),
        tokio::spawn(subscriber_loop(weak, id.clone(), subscriber_events)),
    ];
    member
        .tasks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(tasks);
    inner.send(
        &member,
        ServerMessage::Joined {
            participant_id: id.clone(),
            room: inner.options.name.clone(),
            participants: others,
            protocol: PROTOCOL_VERSION,
        },
    );
    inner.broadcast(&ServerMessage::ParticipantJoined(info.clone()), &id);
    inner.emit(RoomEvent::Joined(info));
    // The subscriber connection is offered now (the captions channel, and whatever the
    // others publish), or by the refresh if there are tracks.
    inner.refresh().await;
    inner.offer(&member).await;
    Ok(id)
}

/// Marks the captions channel usable once open.
async fn watch_captions(member: Arc<Member>, channel: Arc<dyn DataChannel>) {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnOpen => {
                *member
                    .captions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(channel.clone());
            }
            DataChannelEvent::OnClose => {
                *member
                    .captions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
            _ => {}
        }
    }
}

fn candidate_message(role: PeerRole, c: RTCIceCandidateInit) -> ServerMessage {
    ServerMessage::Candidate(IceCandidate {
        target: role,
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
    })
}

/// Removes a participant whose connection failed. On a task of its own: removal aborts the
/// participant's tasks, among them the one that noticed.
fn vanished(inner: Arc<Inner>, id: String) {
    tokio::spawn(async move { inner.remove(&id).await });
}

/// Events of a participant's publisher connection: candidates, state, their tracks.
async fn publisher_loop(
    room: Weak<Inner>,
    id: String,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.recv().await {
        let Some(inner) = room.upgrade() else { return };
        let Some(member) = inner.member(&id) else {
            return;
        };
        match event {
            PeerEvent::Candidate(c) => {
                inner.send(&member, candidate_message(PeerRole::Publisher, c))
            }
            PeerEvent::State(RTCPeerConnectionState::Failed) => {
                vanished(inner, id);
                return;
            }
            PeerEvent::Track(track) => published(&inner, &id, &member, track).await,
            _ => {}
        }
    }
}

/// Events of a participant's subscriber connection.
async fn subscriber_loop(
    room: Weak<Inner>,
    id: String,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.recv().await {
        let Some(inner) = room.upgrade() else { return };
        let Some(member) = inner.member(&id) else {
            return;
        };
        match event {
            PeerEvent::Candidate(c) => {
                inner.send(&member, candidate_message(PeerRole::Subscriber, c));
            }
            PeerEvent::State(RTCPeerConnectionState::Connected) => {
                member.subscriber_up.send_replace(true);
            }
            PeerEvent::State(RTCPeerConnectionState::Failed) => {
                vanished(inner, id);
                return;
            }
            _ => {}
        }
    }
}

/// A participant's track arrived: forward it, and for audio start their pipeline.
async fn published(
    inner: &Arc<Inner>,
    id: &str,
    member: &Arc<Member>,
    track: Arc<dyn TrackRemote>,
) {
    if !member.identity.can_publish {
        return;
    }
    let kind = track.kind().await;
    let Some(&ssrc) = track.ssrcs().await.first() else {
        return;
    };
    let Some(codec) = track.codec(ssrc).await else {
        return;
    };
    let track_id = if kind == RtpCodecKind::Audio {
        "audio"
    } else {
        "video"
    }
    .to_string();
    let (packets, _) = broadcast::channel(FORWARD_BUFFER);
    let published = Arc::new(Published {
        owner: id.to_string(),
        track_id: track_id.clone(),
        kind,
        codec,
        packets: packets.clone(),
        remote: Some((track.clone(), ssrc)),
        speech: None,
        task: Mutex::new(None),
    });
    let pipeline = if kind == RtpCodecKind::Audio {
        start_pipeline(inner, id, member)
    } else {
        None
    };
    *published
        .task
        .lock()
        .unwrap_or_else(PoisonError::into_inner) =
        Some(tokio::spawn(read_track(track, packets, pipeline)));
    inner
        .state()
        .tracks
        .insert((id.to_string(), track_id), published);
    inner.refresh().await;
}

/// The speaker's pipeline; its output goes to the room's router.
fn start_pipeline(
    inner: &Arc<Inner>,
    id: &str,
    member: &Arc<Member>,
) -> Option<Arc<PipelineInput>> {
    let targets = inner.state().audience.targets(id);
    let mut options = inner.options.pipeline.clone();
    options.spoken = inner.state().audience.get(id).and_then(|l| l.spoken);
    let tx = inner.pipeline_tx.clone();
    let speaker = id.to_string();
    let sink: EventSink = Arc::new(move |event| {
        // From a pipeline thread: waiting here only slows that pipeline.
        let _ = tx.blocking_send((speaker.clone(), event));
    });
    match TrackPipeline::start(id, &inner.engines, options, targets, sink) {
        Ok(pipeline) => {
            let input = Arc::new(PipelineInput(member.clone()));
            *member
                .pipeline
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(pipeline);
            Some(input)
        }
        Err(e) => {
            inner.emit(RoomEvent::PipelineError {
                participant_id: id.to_string(),
                stage: "start",
                message: e.to_string(),
            });
            None
        }
    }
}

/// Where a reader task pushes a speaker's audio packets.
struct PipelineInput(Arc<Member>);

impl PipelineInput {
    fn push(&self, packet: OpusPacket) {
        if let Some(p) = self
            .0
            .pipeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            p.push(packet);
        }
    }
}

/// Reads a published track: every packet to the subscribers, audio to the pipeline.
async fn read_track(
    track: Arc<dyn TrackRemote>,
    packets: broadcast::Sender<rtp::Packet>,
    pipeline: Option<Arc<PipelineInput>>,
) {
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = event {
            if let Some(pipeline) = &pipeline {
                pipeline.push(OpusPacket {
                    sequence: packet.header.sequence_number,
                    payload: packet.payload.to_vec(),
                });
            }
            let _ = packets.send(packet);
        }
    }
}

async fn publisher_offer(
    inner: &Arc<Inner>,
    id: &str,
    sdp: String,
) -> std::result::Result<(), ProtocolError> {
    let member = inner
        .member(id)
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnexpectedMessage, "not in the room"))?;
    let bad = |e: webrtc::error::Error| ProtocolError::new(ErrorCode::BadSdp, e.to_string());
    let offer = RTCSessionDescription::offer(sdp).map_err(bad)?;
    member
        .publisher
        .set_remote_description(offer)
        .await
        .map_err(bad)?;
    flush_candidates(&member, PeerRole::Publisher).await;
    let answer = member.publisher.create_answer(None).await.map_err(bad)?;
    member
        .publisher
        .set_local_description(answer.clone())
        .await
        .map_err(bad)?;
    inner.send(&member, ServerMessage::Answer { sdp: answer.sdp });
    Ok(())
}

async fn subscriber_answer(
    inner: &Arc<Inner>,
    id: &str,
    sdp: String,
) -> std::result::Result<(), ProtocolError> {
    let member = inner
        .member(id)
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnexpectedMessage, "not in the room"))?;
    let again = {
        let mut negotiation = member.negotiation.lock().await;
        if !negotiation.in_flight {
            return Err(ProtocolError::new(
                ErrorCode::UnexpectedMessage,
                "no offer to answer",
            ));
        }
        let bad = |e: webrtc::error::Error| ProtocolError::new(ErrorCode::BadSdp, e.to_string());
        let answer = RTCSessionDescription::answer(sdp).map_err(bad)?;
        member
            .subscriber
            .set_remote_description(answer)
            .await
            .map_err(bad)?;
        negotiation.in_flight = false;
        negotiation.again
    };
    flush_candidates(&member, PeerRole::Subscriber).await;
    if again {
        inner.offer(&member).await;
    }
    Ok(())
}

fn connection_of(member: &Member, role: PeerRole) -> &Arc<dyn PeerConnection> {
    match role {
        PeerRole::Publisher => &member.publisher,
        PeerRole::Subscriber => &member.subscriber,
    }
}

async fn add_candidate(
    inner: &Arc<Inner>,
    id: &str,
    candidate: IceCandidate,
) -> std::result::Result<(), ProtocolError> {
    let member = inner
        .member(id)
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnexpectedMessage, "not in the room"))?;
    if candidate.candidate.is_empty() {
        return Ok(()); // end of candidates
    }
    let init = RTCIceCandidateInit {
        candidate: candidate.candidate,
        sdp_mid: candidate.sdp_mid,
        sdp_mline_index: candidate.sdp_mline_index,
        ..Default::default()
    };
    let connection = connection_of(&member, candidate.target);
    if connection.remote_description().await.is_none() {
        member
            .early_candidates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(candidate.target)
            .or_default()
            .push(init);
        return Ok(());
    }
    connection
        .add_ice_candidate(init)
        .await
        .map_err(|e| ProtocolError::new(ErrorCode::MalformedMessage, format!("ICE candidate: {e}")))
}

/// Adds the candidates that came before the remote description.
async fn flush_candidates(member: &Member, role: PeerRole) {
    let early = member
        .early_candidates
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&role)
        .unwrap_or_default();
    for c in early {
        if let Err(e) = connection_of(member, role).add_ice_candidate(c).await {
            log::warn!("early ICE candidate: {e}");
        }
    }
}

async fn set_languages(
    inner: &Arc<Inner>,
    id: &str,
    languages: Languages,
) -> std::result::Result<(), ProtocolError> {
    let member = inner
        .member(id)
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnexpectedMessage, "not in the room"))?;
    let info = {
        let mut info = member.info.lock().unwrap_or_else(PoisonError::into_inner);
        let old = &info.languages;
        let merged = Languages {
            spoken: languages.spoken.or_else(|| old.spoken.clone()),
            captions: languages.captions.or_else(|| old.captions.clone()),
            audio: languages.audio.or_else(|| old.audio.clone()),
        };
        // A refused language leaves the old choice in place.
        let parsed = choice(&merged)?;
        info.languages = merged;
        inner.state().audience.set(id, parsed);
        info.clone()
    };
    inner.broadcast(&ServerMessage::ParticipantUpdated(info.clone()), "");
    inner.refresh().await;
    Ok(())
}
