//! The room's media: what each participant's connections report, reading published tracks
//! into the forwarders and the speaker's pipeline, forwarding to each subscriber (with
//! keyframe requests relayed back), pacing translated speech, and routing the pipelines'
//! output.

use super::connection::candidate_message;
use super::*;

/// Routes the pipelines' output: captions to their recipients, speech frames to their pacer.
pub(super) async fn route(room: Weak<Inner>, mut events: mpsc::Receiver<(String, PipelineEvent)>) {
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
            PipelineEvent::Latency { stage, elapsed } => room.emit(RoomEvent::StageLatency {
                participant_id: speaker,
                stage,
                elapsed,
            }),
            PipelineEvent::AudioShed { packets } => {
                log::warn!("pipeline of {speaker} fell behind: shed {packets} audio packets");
                if let Some(member) = room.member(&speaker) {
                    room.send(
                        &member,
                        ServerMessage::AudioShed {
                            dropped_ms: packets * 20,
                        },
                    );
                }
                room.emit(RoomEvent::AudioShed {
                    participant_id: speaker,
                    packets,
                });
            }
            PipelineEvent::Error { stage, message } => {
                log::warn!("pipeline of {speaker}, {stage}: {message}");
                room.broadcast(
                    &ServerMessage::PipelineError {
                        participant_id: speaker.clone(),
                        stage: stage.to_string(),
                        message: message.clone(),
                    },
                    "",
                );
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
pub(super) async fn pace_speech(
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
/// connection is up: packets written before are lost), with the subscriber's SSRC and the
/// room's payload type for the codec, and relays its keyframe requests to the publisher.
pub(super) async fn forward(
    local: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
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
                    packet.header.payload_type = payload_type;
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

/// Marks the captions channel usable once open.
pub(super) async fn watch_captions(member: Arc<Member>, channel: Arc<dyn DataChannel>) {
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

/// Removes a participant whose connection failed. On a task of its own: removal aborts the
/// participant's tasks, among them the one that noticed.
pub(super) fn vanished(inner: Arc<Inner>, id: String) {
    tokio::spawn(async move { inner.remove(&id).await });
}

/// Events of one of a participant's connections: candidates to trickle, its state, the
/// tracks they publish.
pub(super) async fn peer_loop(
    room: Weak<Inner>,
    id: String,
    role: PeerRole,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.recv().await {
        let Some(inner) = room.upgrade() else { return };
        let Some(member) = inner.member(&id) else {
            return;
        };
        match event {
            PeerEvent::Candidate(c) => inner.send(&member, candidate_message(role, c)),
            PeerEvent::State(RTCPeerConnectionState::Connected) if role == PeerRole::Subscriber => {
                member.subscriber_up.send_replace(true);
            }
            PeerEvent::State(RTCPeerConnectionState::Failed) => {
                vanished(inner, id);
                return;
            }
            PeerEvent::Track(track) if role == PeerRole::Publisher => {
                published(&inner, &id, &member, track).await;
            }
            _ => {}
        }
    }
}

/// A participant's track arrived: forward it, and for audio start their pipeline.
pub(super) async fn published(
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

/// The speaker's pipeline; its output goes to the room's router. The member keeps the
/// pipeline (targets, counters, its end); the returned input goes to the track's reader.
pub(super) fn start_pipeline(
    inner: &Arc<Inner>,
    id: &str,
    member: &Arc<Member>,
) -> Option<PipelineInput> {
    let (targets, spoken) = {
        let state = inner.state();
        (
            state.audience.targets(id),
            state.audience.get(id).and_then(|l| l.spoken),
        )
    };
    let mut options = inner.options.pipeline.clone();
    options.session.spoken = spoken;
    let tx = inner.pipeline_tx.clone();
    let speaker = id.to_string();
    let sink: EventSink = Arc::new(move |event| {
        // From a pipeline thread: waiting here only slows that pipeline.
        let _ = tx.blocking_send((speaker.clone(), event));
    });
    match TrackPipeline::start(id, &inner.engines, options, targets, sink) {
        Ok((pipeline, input)) => {
            let replaced = member
                .pipeline
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(pipeline);
            // A track published again: the old pipeline ends when its reader does; never wait
            // for that on the runtime.
            if let Some(old) = replaced {
                std::thread::spawn(move || old.finish());
            }
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

/// Reads a published track: every packet to the subscribers, audio to the pipeline.
pub(super) async fn read_track(
    track: Arc<dyn TrackRemote>,
    packets: broadcast::Sender<rtp::Packet>,
    pipeline: Option<PipelineInput>,
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
