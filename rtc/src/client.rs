//! A headless participant: joins a room over any signaling transport, publishes Opus audio
//! (and, for tests, VP8 video packets), and reports what it receives: captions, the others'
//! packets, who joins and leaves. Bots, tests and benchmarks use it; a browser does the same
//! with its own WebRTC stack.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use dragoman_core::{Error, Result};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use crate::codec::FRAME;
use crate::peer::{self, NetworkOptions, OPUS_PT, PeerEvent, VP8_PT};
use crate::protocol::{
    Caption, ClientMessage, IceCandidate, Languages, PeerRole, ProtocolError, ServerMessage,
};
use crate::room::Room;

/// How a client joins.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The join token.
    pub token: String,
    /// Display name.
    pub name: Option<String>,
    /// Languages.
    pub languages: Languages,
    /// Publish an audio track. Defaults to false.
    pub audio: bool,
    /// Publish a video track (VP8). Defaults to false.
    pub video: bool,
    /// Peer connection networking.
    pub network: NetworkOptions,
}

/// What a client receives.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The room accepted the join.
    Joined {
        /// Our id.
        participant_id: String,
    },
    /// A caption (each revision once, from the data channel or signaling, whichever came
    /// first).
    Caption(Caption),
    /// A packet of another participant's track (`audio`, `video`, `speech-<lang>`).
    Packet {
        /// Whose track.
        from: String,
        /// Which track.
        track_id: String,
        /// The packet.
        packet: rtp::Packet,
    },
    /// The room asked for a keyframe of our video (a subscriber lost some).
    KeyframeRequested,
    /// Someone joined.
    ParticipantJoined(String),
    /// Someone left.
    ParticipantLeft(String),
    /// The room could not keep up with our speech and dropped this much of it uncaptioned,
    /// in milliseconds.
    AudioShed(u64),
    /// A stage of `participant`'s pipeline failed: `(participant, stage, message)`.
    PipelineError(String, String, String),
    /// The room refused something.
    Error(ProtocolError),
}

/// A joined headless participant.
pub struct Client {
    to_room: mpsc::Sender<ClientMessage>,
    publisher: Arc<dyn PeerConnection>,
    subscriber: Arc<dyn PeerConnection>,
    publisher_up: watch::Receiver<bool>,
    audio: Option<RtpWriter>,
    video: Option<RtpWriter>,
    /// The others' tracks, by `(participant, track id)`.
    remote: Arc<Remote>,
    tasks: Vec<JoinHandle<()>>,
}

/// Remote tracks by `(participant, track id)`.
type Remote = Mutex<HashMap<(String, String), Arc<dyn TrackRemote>>>;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

/// A local track and its RTP numbering.
struct RtpWriter {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    sequence: Mutex<u16>,
}

impl RtpWriter {
    fn new(kind: RtpCodecKind, id: &str, codec: RTCRtpCodec, payload_type: u8, ssrc: u32) -> Self {
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "client".into(),
            id.into(),
            id.into(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        )));
        Self {
            track,
            ssrc,
            payload_type,
            sequence: Mutex::new(0),
        }
    }

    async fn write(&self, payload: Bytes, timestamp: u32, marker: bool) -> Result<()> {
        let sequence = {
            let mut s = self.sequence.lock().unwrap_or_else(PoisonError::into_inner);
            let now = *s;
            *s = s.wrapping_add(1);
            now
        };
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: self.payload_type,
                sequence_number: sequence,
                timestamp,
                ssrc: self.ssrc,
                marker,
                ..Default::default()
            },
            payload,
        };
        self.track
            .write_rtp(packet)
            .await
            .map_err(|e| Error::Internal(format!("sending RTP: {e}")))
    }
}

/// The in-memory signaling pair for a client in the same process as `room`.
pub fn local_signaling(
    room: &Room,
) -> (mpsc::Sender<ClientMessage>, mpsc::Receiver<ServerMessage>) {
    let (connection, from_room) = room.connect();
    let (to_room, mut rx) = mpsc::channel::<ClientMessage>(256);
    tokio::spawn(async move {
        let mut connection = connection;
        while let Some(message) = rx.recv().await {
            connection.handle(message).await;
        }
        connection.close().await;
    });
    (to_room, from_room)
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

impl Client {
    /// Joins over `signaling` (messages to the room, messages from it). Returns once the
    /// room accepted the join and the publisher connection is negotiated.
    pub async fn join(
        signaling: (mpsc::Sender<ClientMessage>, mpsc::Receiver<ServerMessage>),
        options: ClientOptions,
    ) -> Result<(Self, mpsc::Receiver<ClientEvent>)> {
        let (to_room, mut from_room) = signaling;
        let (publisher, publisher_events) = peer::connect(&options.network).await?;
        let (subscriber, subscriber_events) = peer::connect(&options.network).await?;
        let audio = options.audio.then(|| {
            RtpWriter::new(
                RtpCodecKind::Audio,
                "audio",
                peer::opus_codec(),
                OPUS_PT,
                0x000a_0d10,
            )
        });
        let video = options.video.then(|| {
            RtpWriter::new(
                RtpCodecKind::Video,
                "video",
                peer::vp8_codec(),
                VP8_PT,
                0x000b_1de0,
            )
        });
        for writer in audio.iter().chain(&video) {
            publisher
                .add_track(writer.track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(|e| internal("adding a track", e))?;
        }
        let send = |m: ClientMessage| {
            let to_room = to_room.clone();
            async move {
                to_room
                    .send(m)
                    .await
                    .map_err(|_| Error::Internal("the signaling connection closed".into()))
            }
        };
        send(ClientMessage::Join {
            token: options.token.clone(),
            name: options.name.clone(),
            languages: options.languages.clone(),
        })
        .await?;
        let participant_id = loop {
            match from_room.recv().await {
                Some(ServerMessage::Joined { participant_id, .. }) => break participant_id,
                Some(ServerMessage::Error { code, message }) => {
                    return Err(Error::Misuse(format!("join refused ({code:?}): {message}")));
                }
                Some(_) => {}
                None => return Err(Error::Internal("the room closed the connection".into())),
            }
        };
        let (events_tx, events) = mpsc::channel(8192);
        let _ = events_tx.try_send(ClientEvent::Joined {
            participant_id: participant_id.clone(),
        });
        let (up_tx, publisher_up) = watch::channel(false);
        let early = Arc::new(Mutex::new(
            HashMap::<PeerRole, Vec<RTCIceCandidateInit>>::new(),
        ));
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let remote = Arc::new(Remote::default());
        let mut tasks = vec![
            tokio::spawn(peer_loop(
                PeerRole::Publisher,
                publisher_events,
                to_room.clone(),
                events_tx.clone(),
                Some(up_tx),
                seen.clone(),
                remote.clone(),
            )),
            tokio::spawn(peer_loop(
                PeerRole::Subscriber,
                subscriber_events,
                to_room.clone(),
                events_tx.clone(),
                None,
                seen.clone(),
                remote.clone(),
            )),
        ];
        if let Some(video) = &video {
            tasks.push(tokio::spawn(keyframe_requests(
                video.track.clone(),
                events_tx.clone(),
            )));
        }
        let (answered_tx, mut answered) = watch::channel(false);
        tasks.push(tokio::spawn(signaling_loop(
            from_room,
            to_room.clone(),
            publisher.clone(),
            subscriber.clone(),
            events_tx,
            early,
            seen,
            answered_tx,
        )));
        if audio.is_some() || video.is_some() {
            let offer = publisher
                .create_offer(None)
                .await
                .map_err(|e| internal("creating the publisher offer", e))?;
            publisher
                .set_local_description(offer.clone())
                .await
                .map_err(|e| internal("setting the publisher offer", e))?;
            send(ClientMessage::Offer { sdp: offer.sdp }).await?;
            tokio::time::timeout(Duration::from_secs(10), answered.wait_for(|a| *a))
                .await
                .map_err(|_| Error::Internal("no answer to the publisher offer".into()))?
                .map_err(|_| Error::Internal("the signaling connection closed".into()))?;
        }
        Ok((
            Self {
                to_room,
                publisher,
                subscriber,
                publisher_up,
                audio,
                video,
                remote,
                tasks,
            },
            events,
        ))
    }

    /// Waits until the publisher connection is up (packets sent before are lost).
    pub async fn published(&self, limit: Duration) -> Result<()> {
        let mut up = self.publisher_up.clone();
        tokio::time::timeout(limit, up.wait_for(|u| *u))
            .await
            .map_err(|_| Error::Internal("the publisher connection did not come up".into()))?
            .map_err(|_| Error::Internal("the publisher connection closed".into()))?;
        Ok(())
    }

    /// Sends Opus packets (20 ms each), one every 20 ms when `paced` (as a microphone does),
    /// else as fast as possible; calls `sent(i)` after packet `i`.
    pub async fn send_audio(
        &self,
        packets: &[Vec<u8>],
        paced: bool,
        mut sent: impl FnMut(usize),
    ) -> Result<()> {
        let audio = self
            .audio
            .as_ref()
            .ok_or_else(|| Error::Misuse("the client publishes no audio".into()))?;
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for (i, packet) in packets.iter().enumerate() {
            if paced {
                ticks.tick().await;
            }
            let timestamp = (i * FRAME) as u32;
            audio
                .write(Bytes::copy_from_slice(packet), timestamp, i == 0)
                .await?;
            sent(i);
        }
        Ok(())
    }

    /// Sends one video frame's RTP payloads (VP8), the last with the marker bit.
    pub async fn send_video_frame(&self, payloads: &[Bytes], timestamp: u32) -> Result<()> {
        let video = self
            .video
            .as_ref()
            .ok_or_else(|| Error::Misuse("the client publishes no video".into()))?;
        for (i, payload) in payloads.iter().enumerate() {
            video
                .write(payload.clone(), timestamp, i + 1 == payloads.len())
                .await?;
        }
        Ok(())
    }

    /// Asks for a keyframe of `from`'s video (a picture loss indication, as a decoder that
    /// lost packets sends).
    pub async fn request_keyframe(&self, from: &str) -> Result<()> {
        let track = self
            .remote
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(from.to_string(), "video".to_string()))
            .cloned()
            .ok_or_else(|| Error::Misuse(format!("no video from {from}")))?;
        let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc,
        };
        track
            .write_rtcp(vec![Box::new(pli)])
            .await
            .map_err(|e| internal("sending a keyframe request", e))
    }

    /// Changes our languages.
    pub async fn set_languages(&self, languages: Languages) -> Result<()> {
        self.to_room
            .send(ClientMessage::SetLanguages(languages))
            .await
            .map_err(|_| Error::Internal("the signaling connection closed".into()))
    }

    /// Leaves the room and closes the connections.
    pub async fn leave(self) {
        let _ = self.to_room.send(ClientMessage::Leave).await;
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.publisher.close().await;
        let _ = self.subscriber.close().await;
    }
}

/// Caption revisions reported so far: `(speaker, caption id, language, revision)`.
type Seen = Mutex<HashSet<(String, u64, String, u32)>>;

/// Reports each caption revision once (it comes on the data channel and over signaling).
fn first_time(seen: &Seen, c: &Caption) -> bool {
    seen.lock().unwrap_or_else(PoisonError::into_inner).insert((
        c.speaker.clone(),
        c.caption_id,
        c.lang.clone(),
        c.revision,
    ))
}

async fn peer_loop(
    role: PeerRole,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
    to_room: mpsc::Sender<ClientMessage>,
    out: mpsc::Sender<ClientEvent>,
    up: Option<watch::Sender<bool>>,
    seen: Arc<Seen>,
    remote: Arc<Remote>,
) {
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::Candidate(c) => {
                let _ = to_room
                    .send(ClientMessage::Candidate(IceCandidate {
                        target: role,
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    }))
                    .await;
            }
            PeerEvent::State(RTCPeerConnectionState::Connected) => {
                if let Some(up) = &up {
                    up.send_replace(true);
                }
            }
            PeerEvent::Track(track) => {
                let key = (track.stream_id().await, track.track_id().await);
                remote
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, track.clone());
                tokio::spawn(read_remote(track, out.clone()));
            }
            PeerEvent::DataChannel(channel) => {
                tokio::spawn(read_captions(channel, out.clone(), seen.clone()));
            }
            PeerEvent::State(_) => {}
        }
    }
}

/// Reports keyframe requests for our video.
async fn keyframe_requests(track: Arc<TrackLocalStaticRTP>, out: mpsc::Sender<ClientEvent>) {
    while let Some(event) = track.poll().await {
        #[allow(irrefutable_let_patterns)] // the enum is non-exhaustive
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets.iter().any(|p| {
            p.as_any()
                .is::<rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication>(
                )
        }) {
            let _ = out.send(ClientEvent::KeyframeRequested).await;
        }
    }
}

async fn read_remote(track: Arc<dyn TrackRemote>, out: mpsc::Sender<ClientEvent>) {
    let from = track.stream_id().await;
    let track_id = track.track_id().await;
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = event {
            let _ = out.try_send(ClientEvent::Packet {
                from: from.clone(),
                track_id: track_id.clone(),
                packet,
            });
        }
    }
}

async fn read_captions(
    channel: Arc<dyn DataChannel>,
    out: mpsc::Sender<ClientEvent>,
    seen: Arc<Seen>,
) {
    while let Some(event) = channel.poll().await {
        if let DataChannelEvent::OnMessage(message) = event
            && let Ok(ServerMessage::Caption(caption)) =
                serde_json::from_slice::<ServerMessage>(&message.data)
            && first_time(&seen, &caption)
        {
            let _ = out.send(ClientEvent::Caption(caption)).await;
        }
    }
}

#[allow(clippy::too_many_arguments)] // one task's state, passed once
async fn signaling_loop(
    mut from_room: mpsc::Receiver<ServerMessage>,
    to_room: mpsc::Sender<ClientMessage>,
    publisher: Arc<dyn PeerConnection>,
    subscriber: Arc<dyn PeerConnection>,
    out: mpsc::Sender<ClientEvent>,
    early: Arc<Mutex<HashMap<PeerRole, Vec<RTCIceCandidateInit>>>>,
    seen: Arc<Seen>,
    answered: watch::Sender<bool>,
) {
    let connection = |role: PeerRole| match role {
        PeerRole::Publisher => publisher.clone(),
        PeerRole::Subscriber => subscriber.clone(),
    };
    let flush = |role: PeerRole| {
        let pending = early
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&role)
            .unwrap_or_default();
        let pc = connection(role);
        async move {
            for c in pending {
                let _ = pc.add_ice_candidate(c).await;
            }
        }
    };
    while let Some(message) = from_room.recv().await {
        match message {
            ServerMessage::Offer { sdp } => {
                let Ok(offer) = RTCSessionDescription::offer(sdp) else {
                    continue;
                };
                if subscriber.set_remote_description(offer).await.is_err() {
                    continue;
                }
                flush(PeerRole::Subscriber).await;
                if let Ok(answer) = subscriber.create_answer(None).await
                    && subscriber
                        .set_local_description(answer.clone())
                        .await
                        .is_ok()
                {
                    let _ = to_room
                        .send(ClientMessage::Answer { sdp: answer.sdp })
                        .await;
                }
            }
            ServerMessage::Answer { sdp } => {
                if let Ok(answer) = RTCSessionDescription::answer(sdp)
                    && publisher.set_remote_description(answer).await.is_ok()
                {
                    flush(PeerRole::Publisher).await;
                    answered.send_replace(true);
                }
            }
            ServerMessage::Candidate(c) => {
                let init = RTCIceCandidateInit {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_mline_index: c.sdp_mline_index,
                    ..Default::default()
                };
                let pc = connection(c.target);
                if pc.remote_description().await.is_some() {
                    let _ = pc.add_ice_candidate(init).await;
                } else {
                    early
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(c.target)
                        .or_default()
                        .push(init);
                }
            }
            ServerMessage::Caption(caption) if first_time(&seen, &caption) => {
                let _ = out.send(ClientEvent::Caption(caption)).await;
            }
            ServerMessage::ParticipantJoined(info) => {
                let _ = out.send(ClientEvent::ParticipantJoined(info.id)).await;
            }
            ServerMessage::ParticipantLeft { participant_id } => {
                let _ = out.send(ClientEvent::ParticipantLeft(participant_id)).await;
            }
            ServerMessage::AudioShed { dropped_ms } => {
                let _ = out.send(ClientEvent::AudioShed(dropped_ms)).await;
            }
            ServerMessage::PipelineError {
                participant_id,
                stage,
                message,
            } => {
                let event = ClientEvent::PipelineError(participant_id, stage, message);
                let _ = out.send(event).await;
            }
            ServerMessage::Error { code, message } => {
                let _ = out
                    .send(ClientEvent::Error(ProtocolError { code, message }))
                    .await;
            }
            _ => {}
        }
    }
}
