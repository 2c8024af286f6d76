//! One participant's signaling: joining (token, languages, the two peer connections),
//! offers and answers, trickled candidates, language changes, leaving.

use super::media::{peer_loop, watch_captions};
use super::*;

/// One participant's signaling connection to a room.
pub struct Connection {
    pub(super) room: Room,
    pub(super) outbox: Outbox,
    pub(super) participant: Option<String>,
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

pub(super) fn choice(languages: &Languages) -> std::result::Result<LanguageChoice, ProtocolError> {
    Ok(LanguageChoice {
        spoken: parse_lang(languages.spoken.as_deref())?,
        captions: parse_lang(languages.captions.as_deref())?,
        audio: parse_lang(languages.audio.as_deref())?,
    })
}

/// The participant `id`, who must still be in the room (a message can race their removal).
fn joined(inner: &Inner, id: &str) -> std::result::Result<Arc<Member>, ProtocolError> {
    inner
        .member(id)
        .ok_or_else(|| ProtocolError::new(ErrorCode::UnexpectedMessage, "not in the room"))
}

pub(super) fn internal(what: &str, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::new(ErrorCode::Internal, format!("{what}: {e}"))
}

pub(super) async fn join(
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
        tokio::spawn(peer_loop(
            weak.clone(),
            id.clone(),
            PeerRole::Publisher,
            publisher_events,
        )),
        tokio::spawn(peer_loop(
            weak,
            id.clone(),
            PeerRole::Subscriber,
            subscriber_events,
        )),
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

pub(super) fn candidate_message(role: PeerRole, c: RTCIceCandidateInit) -> ServerMessage {
    ServerMessage::Candidate(IceCandidate {
        target: role,
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
    })
}

pub(super) async fn publisher_offer(
    inner: &Arc<Inner>,
    id: &str,
    sdp: String,
) -> std::result::Result<(), ProtocolError> {
    let member = joined(inner, id)?;
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

pub(super) async fn subscriber_answer(
    inner: &Arc<Inner>,
    id: &str,
    sdp: String,
) -> std::result::Result<(), ProtocolError> {
    let member = joined(inner, id)?;
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

pub(super) fn connection_of(member: &Member, role: PeerRole) -> &Arc<dyn PeerConnection> {
    match role {
        PeerRole::Publisher => &member.publisher,
        PeerRole::Subscriber => &member.subscriber,
    }
}

pub(super) async fn add_candidate(
    inner: &Arc<Inner>,
    id: &str,
    candidate: IceCandidate,
) -> std::result::Result<(), ProtocolError> {
    let member = joined(inner, id)?;
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
pub(super) async fn flush_candidates(member: &Member, role: PeerRole) {
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

pub(super) async fn set_languages(
    inner: &Arc<Inner>,
    id: &str,
    languages: Languages,
) -> std::result::Result<(), ProtocolError> {
    let member = joined(inner, id)?;
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
