//! The signaling protocol: JSON messages between a participant and the room, one object per
//! message, its kind in `"type"`. Transport-independent (the server carries it over WebSocket;
//! a test can pass messages in memory). See `PROTOCOL.md` beside this file for the exchange.
//!
//! Parsing never panics and never closes the connection by itself: a malformed or unexpected
//! message becomes a [`ProtocolError`], which the room answers with a [`ServerMessage::Error`].

use dragoman_core::Lang;
use serde::{Deserialize, Serialize};

/// Version of this protocol, sent in [`ServerMessage::Joined`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest message accepted, in bytes (an SDP offer with video is about 5-10 kB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What a participant sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ClientMessage {
    /// The first message: who joins, with what token, and which languages.
    Join {
        /// The join token (the server's JWT; the room API's embedder checks it).
        token: String,
        /// Display name. Defaults to the token's identity.
        #[serde(default)]
        name: Option<String>,
        /// Languages of this participant (all optional at join).
        #[serde(default)]
        languages: Languages,
    },
    /// An SDP offer for the publisher connection (the participant publishes or changes
    /// what it publishes).
    Offer {
        /// The session description.
        sdp: String,
    },
    /// An SDP answer to the room's offer for the subscriber connection.
    Answer {
        /// The session description.
        sdp: String,
    },
    /// A trickled ICE candidate; `candidate: ""` ends the participant's candidates.
    Candidate(IceCandidate),
    /// Changes some of the participant's languages.
    SetLanguages(Languages),
    /// Liveness check; answered by [`ServerMessage::Pong`].
    Ping {
        /// Echoed back.
        #[serde(default)]
        id: u64,
    },
    /// The participant leaves the room.
    Leave,
}

/// A participant's languages. Codes are BCP-47 or ISO 639 (`vi`, `de-DE`, `spa`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Languages {
    /// The language they speak; `auto` or absent: detected per utterance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoken: Option<String>,
    /// The language they read captions in; absent: captions in the speaker's language only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<String>,
    /// The language of the translated speech they hear; absent: the speakers' own voices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
}

/// Which of a participant's two peer connections a message is about (as LiveKit does it):
/// the participant offers on its publisher connection (what it sends), the room offers on the
/// subscriber connection (what it receives), so the two sides never offer at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerRole {
    /// The connection the participant publishes on. The default.
    #[default]
    Publisher,
    /// The connection the participant receives the others (and captions) on.
    Subscriber,
}

/// An ICE candidate as the browser API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceCandidate {
    /// The peer connection it belongs to.
    #[serde(default)]
    pub target: PeerRole,
    /// The candidate line (`candidate:...`), empty for end-of-candidates.
    pub candidate: String,
    /// The media section id it belongs to.
    #[serde(default, rename = "sdpMid", alias = "sdp_mid")]
    pub sdp_mid: Option<String>,
    /// The media section index it belongs to.
    #[serde(default, rename = "sdpMLineIndex", alias = "sdp_mline_index")]
    pub sdp_mline_index: Option<u16>,
}

/// What the room sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// The join succeeded.
    Joined {
        /// The participant's id in the room.
        participant_id: String,
        /// The room's name.
        room: String,
        /// Everyone already in the room.
        participants: Vec<ParticipantInfo>,
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// An SDP offer for the subscriber connection (the tracks to receive changed).
    Offer {
        /// The session description.
        sdp: String,
    },
    /// The room's answer to the participant's publisher offer.
    Answer {
        /// The session description.
        sdp: String,
    },
    /// A trickled ICE candidate of the room.
    Candidate(IceCandidate),
    /// Someone joined.
    ParticipantJoined(ParticipantInfo),
    /// Someone left (or vanished).
    ParticipantLeft {
        /// Their id.
        participant_id: String,
    },
    /// A participant's languages changed.
    ParticipantUpdated(ParticipantInfo),
    /// A caption, original or translated (also sent on the data channel).
    Caption(Caption),
    /// The answer to a [`ClientMessage::Ping`].
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// The room could not keep up with the participant's speech and dropped some of it
    /// uncaptioned (the oldest audio, so captions catch up with what is said now).
    AudioShed {
        /// How much audio was dropped since the last such message, in milliseconds.
        dropped_ms: u64,
    },
    /// A stage of a speaker's pipeline failed (to everyone in the room: captions of that
    /// speaker may miss a piece, or stop where the stage could not go on).
    PipelineError {
        /// The speaker whose pipeline failed.
        participant_id: String,
        /// Which stage: `stt`, `translate`, `speak` or `refine`.
        stage: String,
        /// What failed, for people.
        message: String,
    },
    /// Something the participant sent was refused; the connection stays open.
    Error {
        /// Machine-readable kind.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
}

/// A participant as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Id in the room.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their languages.
    pub languages: Languages,
}

/// One caption update. A client replaces the caption with the same `(speaker, caption_id,
/// lang)` and a lower `revision`; a final is the caption's last revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    /// The speaking participant's id.
    pub speaker: String,
    /// Their display name.
    pub speaker_name: String,
    /// The utterance, numbered per speaker from 0.
    pub caption_id: u64,
    /// Increases with each update of this caption in this language.
    pub revision: u32,
    /// The caption's language.
    pub lang: String,
    /// The language spoken (equal to `lang` for the original).
    pub source_lang: String,
    /// The text.
    pub text: String,
    /// Whether this is the last revision.
    pub is_final: bool,
    /// Where the utterance starts in the speaker's audio, in milliseconds.
    pub start_ms: u64,
    /// Where it ends (finals of the original only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// A final translated again by the stronger model after the first final: it replaces
    /// that one (in captions and transcripts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refined: bool,
}

impl Caption {
    /// Whether this is a translation rather than what was said.
    pub fn is_translation(&self) -> bool {
        self.lang != self.source_lang
    }
}

/// Kinds of refused messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, an unknown `type` or field, a wrong field type, too large.
    MalformedMessage,
    /// A valid message at the wrong time (an offer before joining, a second join).
    UnexpectedMessage,
    /// The token is missing, expired, forged or for another room.
    Unauthorized,
    /// A language code nobody knows, or a language no engine serves.
    UnsupportedLanguage,
    /// The session description was refused.
    BadSdp,
    /// The room is full.
    RoomFull,
    /// Something failed inside the room.
    Internal,
}

impl ErrorCode {
    /// The code as it is on the wire (`room_full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedMessage => "malformed_message",
            Self::UnexpectedMessage => "unexpected_message",
            Self::Unauthorized => "unauthorized",
            Self::UnsupportedLanguage => "unsupported_language",
            Self::BadSdp => "bad_sdp",
            Self::RoomFull => "room_full",
            Self::Internal => "internal",
        }
    }
}

/// A refused message: the error the room sends back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    /// Machine-readable kind.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl ProtocolError {
    /// An error of kind `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ProtocolError> for ServerMessage {
    fn from(e: ProtocolError) -> Self {
        Self::Error {
            code: e.code,
            message: e.message,
        }
    }
}

/// Parses one message from a participant.
pub fn parse_client(bytes: &[u8]) -> Result<ClientMessage, ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::MalformedMessage,
            format!(
                "message of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
                bytes.len()
            ),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ProtocolError::new(ErrorCode::MalformedMessage, e.to_string()))
}

/// A message as JSON text.
pub fn to_json(message: &ServerMessage) -> String {
    // Serializing these types cannot fail: string keys, no non-finite floats.
    serde_json::to_string(message)
        .unwrap_or_else(|e| format!(r#"{{"type":"error","code":"internal","message":"{e}"}}"#))
}

/// A language code from a message: `None` for absent, empty or `auto`.
pub fn parse_lang(code: Option<&str>) -> Result<Option<Lang>, ProtocolError> {
    match code.map(str::trim) {
        None | Some("" | "auto") => Ok(None),
        Some(code) => Lang::parse(code)
            .map(Some)
            .map_err(|e| ProtocolError::new(ErrorCode::UnsupportedLanguage, e.to_string())),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn error_codes_print_as_on_the_wire() {
        for code in [
            ErrorCode::MalformedMessage,
            ErrorCode::UnexpectedMessage,
            ErrorCode::Unauthorized,
            ErrorCode::UnsupportedLanguage,
            ErrorCode::BadSdp,
            ErrorCode::RoomFull,
            ErrorCode::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::json!(code.as_str()))
            );
        }
    }
    use super::*;

    #[test]
    fn parses_each_client_message() {
        let join = parse_client(
            br#"{"type":"join","token":"t","name":"An","languages":{"spoken":"vi","captions":"en"}}"#,
        )
        .unwrap();
        assert_eq!(
            join,
            ClientMessage::Join {
                token: "t".into(),
                name: Some("An".into()),
                languages: Languages {
                    spoken: Some("vi".into()),
                    captions: Some("en".into()),
                    audio: None,
                },
            }
        );
        let candidate = parse_client(
            br#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
        )
        .unwrap();
        assert!(
            matches!(candidate, ClientMessage::Candidate(c) if c.sdp_mid.as_deref() == Some("0"))
        );
        assert_eq!(
            parse_client(br#"{"type":"ping"}"#).unwrap(),
            ClientMessage::Ping { id: 0 }
        );
        assert_eq!(
            parse_client(br#"{"type":"leave"}"#).unwrap(),
            ClientMessage::Leave
        );
        assert!(matches!(
            parse_client(br#"{"type":"set_languages","audio":"de"}"#).unwrap(),
            ClientMessage::SetLanguages(Languages { audio: Some(a), .. }) if a == "de"
        ));
    }

    #[test]
    fn refuses_malformed_messages_with_a_reason() {
        for bad in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"type":"fly"}"#,
            br#"{"type":"offer"}"#,
            br#"{"type":"offer","sdp":5}"#,
            br#"{"type":"join","token":"t","admin":true}"#,
            b"\xff\xfe",
        ] {
            let e = parse_client(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedMessage, "{bad:?}");
            assert!(!e.message.is_empty());
        }
        let huge = format!(
            r#"{{"type":"offer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(
            parse_client(huge.as_bytes())
                .unwrap_err()
                .message
                .contains("limit")
        );
    }

    #[test]
    fn server_messages_are_tagged_json() {
        let error: ServerMessage =
            ProtocolError::new(ErrorCode::UnexpectedMessage, "join first").into();
        assert_eq!(
            to_json(&error),
            r#"{"type":"error","code":"unexpected_message","message":"join first"}"#
        );
        assert_eq!(
            to_json(&ServerMessage::Pong { id: 3 }),
            r#"{"type":"pong","id":3}"#
        );
        let fault = ServerMessage::PipelineError {
            participant_id: "p1".into(),
            stage: "stt".into(),
            message: "restarted".into(),
        };
        let wire = r#"{"type":"pipeline_error","participant_id":"p1","stage":"stt","message":"restarted"}"#;
        assert_eq!(to_json(&fault), wire);
        assert_eq!(
            serde_json::from_str::<ServerMessage>(wire).ok(),
            Some(fault)
        );
    }

    #[test]
    fn languages_parse_or_say_why() {
        assert_eq!(parse_lang(Some("auto")).unwrap(), None);
        assert_eq!(parse_lang(None).unwrap(), None);
        assert_eq!(parse_lang(Some("vi-VN")).unwrap(), Some(Lang::VI));
        assert_eq!(
            parse_lang(Some("klingon")).unwrap_err().code,
            ErrorCode::UnsupportedLanguage
        );
    }
}
