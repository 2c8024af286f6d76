//! The HTTP API's handlers (`/v1/...`, health, readiness), documented for `/openapi.json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dragoman_core::Lang;
use dragoman_core::glossary::{Glossary, Term};
use dragoman_core::store::catalog::CATALOG;
use dragoman_core::transcript::{Segment, srt, vtt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::access::Caller;
use super::auth::Grants;
use super::db::{RoomRecord, TranscriptLine};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use super::rooms::now_ms;

/// A room and who is in it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    /// The stored room.
    #[serde(flatten)]
    pub room: RoomRecord,
    /// Participants in its call now.
    pub participants: usize,
}

/// Rooms.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// By name.
    pub rooms: Vec<RoomView>,
}

/// A room to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1 to 64 of `A-Z a-z 0-9 - _ .`.
    pub name: String,
    /// Language codes offered first in the join page.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Most participants at once (default: the server's `max_participants`).
    #[serde(default)]
    pub max_participants: Option<u32>,
    /// Terms the call's translations keep as written (`{"source": "dragoman"}`) or translate
    /// a fixed way per language (`{"source": "standup", "translations": {"de":
    /// "Stand-up-Meeting"}}`); at most 500, each up to 100 characters.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub glossary: Glossary,
}

/// A join token to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The participant's identity (stable across reconnects; 1 to 128 characters).
    pub identity: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Grants (default: join, publish, subscribe).
    #[serde(default)]
    pub grants: Option<Grants>,
    /// Lifetime in seconds (default: the server's `token_ttl_secs`; at most 30 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// A guest's request to join (when the server allows guests).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestJoin {
    /// Display name (1 to 64 characters).
    pub name: String,
}

/// An issued join token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT: send it in the signaling `join` message, or as a bearer token.
    pub token: String,
    /// The room it is for.
    pub room: String,
    /// The identity it carries.
    pub identity: String,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

/// A participant's languages.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguagesView {
    /// Spoken (absent: detected).
    pub spoken: Option<String>,
    /// Captions they read.
    pub captions: Option<String>,
    /// Translated speech they hear.
    pub audio: Option<String>,
}

/// Someone in a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// Their id in the room.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their languages.
    pub languages: LanguagesView,
}

/// The participants of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantList {
    /// In join order of their ids.
    pub participants: Vec<ParticipantView>,
}

/// Transcript formats.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// Every line, originals and translations, as JSON.
    #[default]
    Json,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
}

/// Transcript query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    /// `json` (default), `srt` or `vtt`.
    #[serde(default)]
    pub format: TranscriptFormat,
    /// Only lines in this language (originals spoken in it and translations into it).
    /// Subtitles without it: the originals.
    #[serde(default)]
    pub lang: Option<String>,
}

/// A room's transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptView {
    /// The room.
    pub room: String,
    /// Final captions, originals and translations, in spoken order.
    pub lines: Vec<TranscriptLine>,
}

/// A language the server handles.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageView {
    /// Code (ISO 639-1 where there is one).
    pub code: String,
    /// English name.
    pub name: String,
    /// Whether speech in it is captioned.
    pub speech_to_text: bool,
    /// Whether it translates from and into English (other pairs pivot through English).
    pub translation: bool,
    /// Whether translated speech in it can be spoken.
    pub speech: bool,
}

/// Languages.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageList {
    /// The languages, by name.
    pub languages: Vec<LanguageView>,
}

/// A voice.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceView {
    /// Its id.
    pub id: String,
    /// Its language's code.
    pub lang: String,
    /// Its engine (`vits`, `espeak-ng`).
    pub engine: String,
}

/// Voices.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceList {
    /// The voices.
    pub voices: Vec<VoiceView>,
}

/// A model of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// Its id.
    pub id: String,
    /// What it does.
    pub task: String,
    /// Description.
    pub description: String,
    /// Licence.
    pub licence: String,
    /// Whether the licence allows commercial use.
    pub commercial_use: bool,
    /// Whether `dragoman models pull` fetches it by default.
    pub default: bool,
    /// Whether it is in this server's store.
    pub pulled: bool,
}

/// Models.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// The catalog.
    pub models: Vec<ModelView>,
}

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `loading` / `unavailable`.
    pub status: String,
    /// Whether the models are loaded.
    pub models: bool,
    /// Whether the database answers.
    pub database: bool,
}

/// The server is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        models: state.engines().is_some(),
        database: true,
    })
}

/// The server can take calls: models loaded, database answering.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let models = state.engines().is_some();
    let database = state.db.ping().await;
    let ready = models && database;
    let status = match (ready, models) {
        (true, _) => "ok",
        (false, false) => "loading",
        (false, true) => "unavailable",
    };
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Health {
            status: status.into(),
            models,
            database,
        }),
    )
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let rooms = state.rooms.all().await;
    let stats: Vec<_> = rooms
        .iter()
        .map(|r| (r.name().to_string(), r.stats()))
        .collect();
    state.metrics.observe_rooms(&stats);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn check_room_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "room name {name:?}: use 1 to 64 of A-Z a-z 0-9 - _ ."
        )))
    }
}

fn check_languages(codes: &[String]) -> Result<Vec<String>, ApiError> {
    codes.iter().map(|code| check_language(code)).collect()
}

/// The code of language `code` (normalised), or 400.
fn check_language(code: &str) -> Result<String, ApiError> {
    Lang::parse(code)
        .map(|l| l.code().to_string())
        .map_err(|_| ApiError::bad_request(format!("unknown language {code:?}")))
}

/// Most glossary terms in a room, and the longest term or rendering in characters.
const GLOSSARY_TERMS: usize = 500;
const GLOSSARY_TERM_CHARS: usize = 100;

/// `glossary` with its languages as codes, or why it cannot serve a room.
fn check_glossary(glossary: Glossary) -> Result<Glossary, ApiError> {
    if glossary.terms().len() > GLOSSARY_TERMS {
        return Err(ApiError::bad_request(format!(
            "glossary: at most {GLOSSARY_TERMS} terms"
        )));
    }
    let fits = |text: &str| (1..=GLOSSARY_TERM_CHARS).contains(&text.trim().chars().count());
    let mut terms = Vec::with_capacity(glossary.terms().len());
    for term in glossary.terms() {
        if !fits(&term.source) {
            return Err(ApiError::bad_request(format!(
                "glossary: a term is 1 to {GLOSSARY_TERM_CHARS} characters, got {:?}",
                term.source
            )));
        }
        let mut translations = std::collections::BTreeMap::new();
        for (code, rendering) in &term.translations {
            let lang = check_language(code)?;
            if !fits(rendering) {
                return Err(ApiError::bad_request(format!(
                    "glossary: {:?} in {code} is 1 to {GLOSSARY_TERM_CHARS} characters",
                    term.source
                )));
            }
            translations.insert(lang, rendering.trim().to_string());
        }
        terms.push(Term {
            source: term.source.trim().to_string(),
            translations,
        });
    }
    Ok(Glossary::new(terms))
}

async fn view(state: &AppState, room: RoomRecord) -> RoomView {
    let participants = match state.rooms.get(&room.name).await {
        Some(live) => live.participants().len(),
        None => 0,
    };
    RoomView { room, participants }
}

/// The stored room `name`, or 404.
pub(crate) async fn stored_room(state: &AppState, name: &str) -> Result<RoomRecord, ApiError> {
    state
        .db
        .room(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no room {name:?}")))
}

/// Creates a room.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = CreateRoom,
    security(("basic" = []), ("bearer" = [])),
    responses((status = 201, body = RoomView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create_room(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<RoomView>), ApiError> {
    caller.require_admin(None)?;
    check_room_name(&request.name)?;
    let max = request
        .max_participants
        .unwrap_or(state.config.max_participants);
    if !(1..=256).contains(&max) {
        return Err(ApiError::bad_request("max_participants: 1 to 256"));
    }
    let record = RoomRecord {
        name: request.name,
        languages: check_languages(&request.languages)?,
        max_participants: max,
        created_at_ms: now_ms(),
        glossary: check_glossary(request.glossary)?,
    };
    if !state.db.create_room(&record).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("room {:?} exists", record.name),
        ));
    }
    Ok((StatusCode::CREATED, Json(view(&state, record).await)))
}

/// Lists the rooms.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
pub async fn list_rooms(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<RoomList>, ApiError> {
    caller.require_admin(None)?;
    let mut rooms = Vec::new();
    for record in state.db.rooms().await? {
        rooms.push(view(&state, record).await);
    }
    Ok(Json(RoomList { rooms }))
}

/// One room.
#[utoipa::path(get, path = "/v1/rooms/{room}", tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> Result<Json<RoomView>, ApiError> {
    caller.require_admin(Some(&room))?;
    let record = stored_room(&state, &room).await?;
    Ok(Json(view(&state, record).await))
}

/// Deletes a room: its call ends (participants are disconnected) and its transcript is
/// deleted.
#[utoipa::path(delete, path = "/v1/rooms/{room}", tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_room(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin(Some(&room))?;
    stored_room(&state, &room).await?;
    state.rooms.end(&room).await;
    state.db.delete_room(&room).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a join token for the room.
#[utoipa::path(post, path = "/v1/rooms/{room}/tokens", tag = "rooms", request_body = TokenRequest,
    params(("room" = String, Path, description = "The room's name")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 201, body = TokenResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    caller.require_admin(Some(&room))?;
    stored_room(&state, &room).await?;
    if !(1..=128).contains(&request.identity.chars().count()) {
        return Err(ApiError::bad_request("identity: 1 to 128 characters"));
    }
    const MAX_TTL: u64 = 30 * 24 * 3600;
    let ttl = request.ttl_secs.unwrap_or(state.config.token_ttl_secs);
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(ApiError::bad_request("ttl_secs: 1 to 2592000"));
    }
    let grants = request.grants.unwrap_or(Grants::PARTICIPANT);
    let (token, claims) =
        state
            .credentials
            .issue(&request.identity, request.name, Some(&room), grants, ttl);
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            room,
            identity: claims.sub,
            expires_at: claims.exp,
        }),
    ))
}

/// Joins as a guest (when `guest_access` is on): a participant token for a new identity; a
/// room that does not exist yet is created with the defaults.
#[utoipa::path(post, path = "/v1/rooms/{room}/join", tag = "rooms", request_body = GuestJoin,
    params(("room" = String, Path, description = "The room's name")),
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn guest_join(
    State(state): State<Arc<AppState>>,
    ApiPath(room): ApiPath<String>,
    ApiJson(request): ApiJson<GuestJoin>,
) -> Result<Json<TokenResponse>, ApiError> {
    if !state.config.guest_access {
        return Err(ApiError::forbidden(
            "this server admits invited participants only: ask for an invite link",
        ));
    }
    check_room_name(&room)?;
    let name = request.name.trim();
    if !(1..=64).contains(&name.chars().count()) {
        return Err(ApiError::bad_request("name: 1 to 64 characters"));
    }
    let record = RoomRecord {
        name: room.clone(),
        languages: Vec::new(),
        max_participants: state.config.max_participants,
        created_at_ms: now_ms(),
        glossary: Glossary::default(),
    };
    state.db.create_room(&record).await?;
    let identity = format!("guest-{}", super::auth::random_token(10));
    let (token, claims) = state.credentials.issue(
        &identity,
        Some(name.to_string()),
        Some(&room),
        Grants::PARTICIPANT,
        state.config.token_ttl_secs,
    );
    Ok(Json(TokenResponse {
        token,
        room,
        identity,
        expires_at: claims.exp,
    }))
}

/// Who is in the room's call now.
#[utoipa::path(get, path = "/v1/rooms/{room}/participants", tag = "rooms",
    params(("room" = String, Path, description = "The room's name")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = ParticipantList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn participants(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> Result<Json<ParticipantList>, ApiError> {
    caller.require_admin(Some(&room))?;
    stored_room(&state, &room).await?;
    let participants = match state.rooms.get(&room).await {
        Some(live) => live
            .participants()
            .into_iter()
            .map(|p| ParticipantView {
                id: p.id,
                name: p.name,
                languages: LanguagesView {
                    spoken: p.languages.spoken,
                    captions: p.languages.captions,
                    audio: p.languages.audio,
                },
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Json(ParticipantList { participants }))
}

/// The room's transcript: final captions with speakers and times.
#[utoipa::path(get, path = "/v1/rooms/{room}/transcript", tag = "rooms",
    params(("room" = String, Path, description = "The room's name"), TranscriptQuery),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TranscriptView, description = "JSON, or SRT / WebVTT text"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn transcript(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
    ApiQuery(query): ApiQuery<TranscriptQuery>,
) -> Result<Response, ApiError> {
    caller.require_member(&room)?;
    stored_room(&state, &room).await?;
    let lang = match &query.lang {
        Some(code) => Some(
            Lang::parse(code)
                .map_err(|_| ApiError::bad_request(format!("unknown language {code:?}")))?
                .code()
                .to_string(),
        ),
        None => None,
    };
    let lines = state.db.transcript(&room).await?;
    let origin = lines.first().map_or(0, |l| l.started_at_ms);
    let wanted = |line: &TranscriptLine| match &lang {
        Some(lang) => &line.lang == lang,
        None => line.lang == line.source_lang,
    };
    let subtitles = |lines: &[TranscriptLine]| -> Vec<Segment> {
        lines
            .iter()
            .filter(|l| wanted(l))
            .map(|l| Segment {
                start: (l.started_at_ms - origin) as f64 / 1000.0,
                end: (l.ended_at_ms - origin) as f64 / 1000.0,
                text: l.text.clone(),
                speaker: Some(l.speaker_name.clone()),
            })
            .collect()
    };
    let filename = |ext: &str| format!("attachment; filename=\"{room}.{ext}\"");
    Ok(match query.format {
        TranscriptFormat::Json => {
            let lines = if lang.is_some() {
                lines.into_iter().filter(|l| wanted(l)).collect()
            } else {
                lines
            };
            Json(TranscriptView { room, lines }).into_response()
        }
        TranscriptFormat::Srt => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/x-subrip; charset=utf-8".to_string(),
                ),
                (header::CONTENT_DISPOSITION, filename("srt")),
            ],
            srt(&subtitles(&lines)),
        )
            .into_response(),
        TranscriptFormat::Vtt => (
            [
                (header::CONTENT_TYPE, "text/vtt; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, filename("vtt")),
            ],
            vtt(&subtitles(&lines)),
        )
            .into_response(),
    })
}

/// The languages calls can use, and what each supports.
#[utoipa::path(get, path = "/v1/languages", tag = "catalog",
    responses((status = 200, body = LanguageList), (status = 503, body = ErrorBody)))]
pub async fn languages(State(state): State<Arc<AppState>>) -> Result<Json<LanguageList>, ApiError> {
    let engines = state.ready_engines()?;
    let voices = engines.tts.voices();
    let mut languages: Vec<LanguageView> = engines
        .stt
        .languages()
        .into_iter()
        .map(|lang| LanguageView {
            code: lang.code().to_string(),
            name: title_case(lang.name()),
            speech_to_text: true,
            translation: lang == Lang::EN
                || (engines.translator.supports(lang, Lang::EN)
                    && engines.translator.supports(Lang::EN, lang)),
            speech: voices.iter().any(|v| v.lang == lang),
        })
        .collect();
    languages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(LanguageList { languages }))
}

/// "haitian creole" → "Haitian Creole".
fn title_case(name: &str) -> String {
    name.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The voices translated speech can use.
#[utoipa::path(get, path = "/v1/voices", tag = "catalog",
    responses((status = 200, body = VoiceList), (status = 503, body = ErrorBody)))]
pub async fn voices(State(state): State<Arc<AppState>>) -> Result<Json<VoiceList>, ApiError> {
    let engines = state.ready_engines()?;
    let voices = engines
        .tts
        .voices()
        .into_iter()
        .map(|v| VoiceView {
            id: v.id,
            lang: v.lang.code().to_string(),
            engine: v.engine,
        })
        .collect();
    Ok(Json(VoiceList { voices }))
}

/// The model catalog and what this server has pulled.
#[utoipa::path(get, path = "/v1/models", tag = "catalog",
    responses((status = 200, body = ModelList)))]
pub async fn models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let models = CATALOG
        .iter()
        .map(|e| ModelView {
            id: e.id.to_string(),
            task: serde_json::to_value(e.task)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            description: e.description.to_string(),
            licence: e.licence.name.to_string(),
            commercial_use: e.licence.commercial_use,
            default: e.default,
            pulled: state.store.manifest(e.id).is_some(),
        })
        .collect();
    Json(ModelList { models })
}
