//! The HTTP API in-process (the router, no socket): every endpoint, its auth failures and bad
//! input (always a 4xx with a JSON error), rate limiting, CORS and security headers, and
//! that rooms and transcripts survive a restart on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{ADMIN, Auth, KEY, Postgres, SECRET, call, config, create_room, state};
use dragoman_server::serve::auth::{Credentials, Grants};
use dragoman_server::serve::db::TranscriptLine;

fn line(
    speaker: &str,
    caption_id: i64,
    lang: &str,
    source: &str,
    text: &str,
    at: i64,
) -> TranscriptLine {
    TranscriptLine {
        speaker: speaker.into(),
        speaker_name: speaker.to_uppercase(),
        caption_id,
        lang: lang.into(),
        source_lang: source.into(),
        text: text.into(),
        started_at_ms: at,
        ended_at_ms: at + 1500,
    }
}

#[tokio::test]
async fn rooms_need_admin_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    let body = Some(r#"{"name":"standup","languages":["vi","en"]}"#);
    let reply = call(&state, "POST", "/v1/rooms", Auth::None, body).await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(reply.headers.contains_key("www-authenticate"));
    call(&state, "POST", "/v1/rooms", Auth::Basic(KEY, "wrong"), body)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(
        &state,
        "GET",
        "/v1/rooms",
        Auth::Bearer("not-a-token"),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // A participant's token is not an admin's; a forged admin token is refused.
    let credentials = Credentials::new(KEY, SECRET);
    let (participant, _) = credentials.issue("ana", None, Some("standup"), Grants::PARTICIPANT, 60);
    call(
        &state,
        "POST",
        "/v1/rooms",
        Auth::Bearer(&participant),
        body,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let admin = Grants {
        admin: true,
        ..Grants::default()
    };
    let (forged, _) = Credentials::new(KEY, "guessed").issue("eve", None, None, admin, 60);
    call(&state, "POST", "/v1/rooms", Auth::Bearer(&forged), body)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Basic key:secret and an admin token both work.
    let reply = call(&state, "POST", "/v1/rooms", ADMIN, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["name"], "standup");
    assert_eq!(reply.json()["languages"], serde_json::json!(["vi", "en"]));
    assert_eq!(reply.json()["max_participants"], 16);
    assert_eq!(reply.json()["participants"], 0);
    let (admin_token, _) = credentials.issue("ops", None, None, admin, 60);
    let reply = call(
        &state,
        "POST",
        "/v1/rooms",
        Auth::Bearer(&admin_token),
        Some(r#"{"name":"retro","max_participants":4}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let reply = call(&state, "GET", "/v1/rooms", ADMIN, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let rooms = reply.json()["rooms"].clone();
    let names: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["retro", "standup"]);

    // An admin token for one room administers that room only.
    let (retro_admin, _) = credentials.issue("ops", None, Some("retro"), admin, 60);
    let reply = call(
        &state,
        "GET",
        "/v1/rooms/retro",
        Auth::Bearer(&retro_admin),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["max_participants"], 4);
    call(
        &state,
        "GET",
        "/v1/rooms/standup",
        Auth::Bearer(&retro_admin),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(&state, "GET", "/v1/rooms", Auth::Bearer(&retro_admin), None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Delete: gone, then 404.
    let reply = call(&state, "DELETE", "/v1/rooms/retro", ADMIN, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    call(&state, "GET", "/v1/rooms/retro", ADMIN, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    call(&state, "DELETE", "/v1/rooms/retro", ADMIN, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_input_is_a_json_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    for (body, status) in [
        ("{not json", StatusCode::BAD_REQUEST),
        (
            r#"{"name":"a","colour":"red"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (r#"{"name":7}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"name":"has space"}"#, StatusCode::BAD_REQUEST),
        (r#"{"name":""}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"name":"ok","languages":["klingon"]}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name":"ok","max_participants":0}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name":"ok","glossary":[{"source":" "}]}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name":"ok","glossary":[{"source":"standup","translations":{"xx-nope":"a"}}]}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name":"ok","glossary":[{"source":"standup","translations":{"de":""}}]}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name":"ok","glossary":["standup"]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let reply = call(&state, "POST", "/v1/rooms", ADMIN, Some(body)).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(reply.json()["error"]["code"].is_string(), "{body}");
    }
    // Oversize body: 413 before it is parsed.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(100_000));
    call(&state, "POST", "/v1/rooms", ADMIN, Some(&big))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Not JSON at all (no content type).
    let reply = call(&state, "POST", "/v1/rooms/x/tokens", ADMIN, None).await;
    assert!(reply.status.is_client_error(), "{}", reply.text);
    assert!(reply.json()["error"]["code"].is_string());
    // Duplicate room.
    let body = Some(r#"{"name":"dup"}"#);
    assert_eq!(
        call(&state, "POST", "/v1/rooms", ADMIN, body).await.status,
        StatusCode::CREATED
    );
    call(&state, "POST", "/v1/rooms", ADMIN, body)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    // Unknown rooms, endpoints and methods.
    for uri in [
        "/v1/rooms/nope",
        "/v1/rooms/nope/participants",
        "/v1/rooms/nope/transcript",
    ] {
        call(&state, "GET", uri, ADMIN, None)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    call(
        &state,
        "POST",
        "/v1/rooms/nope/tokens",
        ADMIN,
        Some(r#"{"identity":"a"}"#),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    call(&state, "GET", "/v1/nothing", Auth::None, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    call(&state, "PUT", "/v1/rooms", ADMIN, None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    call(
        &state,
        "GET",
        "/v1/rooms/dup/transcript?format=docx",
        ADMIN,
        None,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    call(
        &state,
        "GET",
        "/v1/rooms/dup/transcript?lang=xx-nope",
        ADMIN,
        None,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    // Errors are counted by kind.
    let metrics = call(&state, "GET", "/metrics", Auth::None, None).await;
    assert!(
        metrics
            .text
            .contains("dragoman_errors_total{kind=\"not_found\"} 5"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn tokens_and_guests() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    create_room(&state, r#"{"name":"standup"}"#).await;
    let credentials = Credentials::new(KEY, SECRET);

    let reply = call(
        &state,
        "POST",
        "/v1/rooms/standup/tokens",
        ADMIN,
        Some(r#"{"identity":"ana","name":"Ana","grants":{"join":true,"subscribe":true},"ttl_secs":600}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = reply.json()["token"].as_str().unwrap().to_string();
    let claims = credentials.verify(&token).unwrap();
    assert_eq!(claims.sub, "ana");
    assert_eq!(claims.name.as_deref(), Some("Ana"));
    assert_eq!(claims.room.as_deref(), Some("standup"));
    assert!(claims.grants.join && claims.grants.subscribe && !claims.grants.publish);
    assert_eq!(claims.exp - claims.iat, 600);
    assert_eq!(reply.json()["expires_at"], claims.exp);
    let identity = credentials.authorize_join(&token, "standup").unwrap();
    assert!(!identity.can_publish && identity.can_subscribe);
    assert!(credentials.authorize_join(&token, "other").is_err());
    for body in [
        r#"{"identity":""}"#,
        r#"{"identity":"a","ttl_secs":0}"#,
        r#"{"identity":"a","grants":{"fly":true}}"#,
    ] {
        let reply = call(
            &state,
            "POST",
            "/v1/rooms/standup/tokens",
            ADMIN,
            Some(body),
        )
        .await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.text);
    }
    call(
        &state,
        "POST",
        "/v1/rooms/standup/tokens",
        Auth::Bearer(&token),
        Some(r#"{"identity":"b"}"#),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Guests: a participant token, and a new room is created.
    let reply = call(
        &state,
        "POST",
        "/v1/rooms/lobby/join",
        Auth::None,
        Some(r#"{"name":"  Bình  "}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let guest = credentials
        .verify(reply.json()["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(guest.name.as_deref(), Some("Bình"));
    assert_eq!(guest.grants, Grants::PARTICIPANT);
    assert_eq!(
        call(&state, "GET", "/v1/rooms/lobby", ADMIN, None)
            .await
            .status,
        StatusCode::OK
    );
    call(
        &state,
        "POST",
        "/v1/rooms/lobby/join",
        Auth::None,
        Some(r#"{"name":""}"#),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "bad_request");

    let mut closed = config(dir.path());
    closed.guest_access = false;
    let closed = common::state(closed).await;
    call(
        &closed,
        "POST",
        "/v1/rooms/lobby/join",
        Auth::None,
        Some(r#"{"name":"Eve"}"#),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Nobody is in the call yet.
    let reply = call(&state, "GET", "/v1/rooms/lobby/participants", ADMIN, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["participants"], serde_json::json!([]));
}

#[tokio::test]
async fn transcripts_in_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    create_room(&state, r#"{"name":"standup"}"#).await;
    create_room(&state, r#"{"name":"other"}"#).await;
    let t0 = 1_795_000_000_000;
    state
        .db
        .append_transcript(
            "standup",
            &[
                line("an", 0, "vi", "vi", "Chào buổi sáng", t0),
                line("an", 0, "en", "vi", "Good morning", t0),
                line("bo", 0, "en", "en", "Morning --> all", t0 + 2500),
                line("bo", 0, "vi", "en", "Chào mọi người", t0 + 2500),
            ],
        )
        .await
        .unwrap();

    let reply = call(&state, "GET", "/v1/rooms/standup/transcript", ADMIN, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let lines = reply.json()["lines"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["speaker_name"], "AN");

    // A refined translation replaces the first one of the same caption and language.
    state
        .db
        .append_transcript(
            "standup",
            &[line("an", 0, "en", "vi", "Good morning, everyone", t0)],
        )
        .await
        .unwrap();
    let reply = call(&state, "GET", "/v1/rooms/standup/transcript", ADMIN, None).await;
    let texts: Vec<String> = reply.json()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(
        texts.contains(&"Good morning, everyone".to_string()),
        "{texts:?}"
    );
    assert!(!texts.contains(&"Good morning".to_string()), "{texts:?}");

    let reply = call(
        &state,
        "GET",
        "/v1/rooms/standup/transcript?format=srt",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.text,
        "1\n00:00:00,000 --> 00:00:01,500\nAN: Chào buổi sáng\n\n2\n00:00:02,500 --> 00:00:04,000\nBO: Morning --> all\n\n"
    );
    assert!(
        reply.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("standup.srt")
    );

    // A participant of the room may download it, in their language.
    let credentials = Credentials::new(KEY, SECRET);
    let (token, _) = credentials.issue("bo", None, Some("standup"), Grants::PARTICIPANT, 60);
    let reply = call(
        &state,
        "GET",
        "/v1/rooms/standup/transcript?format=vtt&lang=vi",
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.text,
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v AN>Chào buổi sáng\n\n00:00:02.500 --> 00:00:04.000\n<v BO>Chào mọi người\n\n"
    );
    let reply = call(
        &state,
        "GET",
        "/v1/rooms/standup/transcript?lang=en",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(reply.json()["lines"].as_array().unwrap().len(), 2);
    // Not a participant of another room.
    call(
        &state,
        "GET",
        "/v1/rooms/other/transcript",
        Auth::Bearer(&token),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    call(
        &state,
        "GET",
        "/v1/rooms/standup/transcript",
        Auth::None,
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Deleting the room deletes its transcript.
    call(&state, "DELETE", "/v1/rooms/standup", ADMIN, None).await;
    create_room(&state, r#"{"name":"standup"}"#).await;
    let reply = call(&state, "GET", "/v1/rooms/standup/transcript", ADMIN, None).await;
    assert_eq!(reply.json()["lines"], serde_json::json!([]));
}

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    let reply = call(&state, "GET", "/healthz", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");
    // Models not loaded yet: not ready, and the engine endpoints say so.
    let reply = call(&state, "GET", "/readyz", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["status"], "loading");
    for uri in ["/v1/languages", "/v1/voices"] {
        call(&state, "GET", uri, Auth::None, None)
            .await
            .assert_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    }
    create_room(&state, r#"{"name":"standup"}"#).await;
    let reply = call(&state, "GET", "/v1/rooms/standup/signal", Auth::None, None).await;
    assert!(reply.status.is_client_error() || reply.status == StatusCode::SERVICE_UNAVAILABLE);

    let reply = call(&state, "GET", "/v1/models", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let models = reply.json()["models"].as_array().unwrap().clone();
    assert!(
        models
            .iter()
            .any(|m| m["id"] == "whisper-base" && m["task"].is_string())
    );

    let reply = call(&state, "GET", "/metrics", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    for name in [
        "dragoman_rooms",
        "dragoman_participants",
        "dragoman_tracks",
        "dragoman_pipeline_stage_seconds",
        "dragoman_queue_drops",
        "dragoman_errors",
    ] {
        assert!(
            reply.text.contains(&format!("# TYPE {name} ")),
            "{name}: {}",
            reply.text
        );
    }

    // The OpenAPI document describes every API route, and only those.
    let reply = call(&state, "GET", "/openapi.json", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut expected = vec![
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /v1/rooms",
        "POST /v1/rooms",
        "GET /v1/rooms/{room}",
        "DELETE /v1/rooms/{room}",
        "POST /v1/rooms/{room}/tokens",
        "POST /v1/rooms/{room}/join",
        "GET /v1/rooms/{room}/participants",
        "GET /v1/rooms/{room}/transcript",
        "GET /v1/rooms/{room}/signal",
        "GET /v1/languages",
        "GET /v1/voices",
        "GET /v1/models",
    ];
    expected.sort();
    assert_eq!(documented, expected);
    assert!(doc["components"]["securitySchemes"]["basic"].is_object());
}

#[tokio::test]
async fn languages_and_voices_of_the_loaded_models() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(config(dir.path())).await;
    state.set_engines(common::engines());
    let reply = call(&state, "GET", "/readyz", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = call(&state, "GET", "/v1/languages", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let languages = reply.json()["languages"].as_array().unwrap().clone();
    for code in ["vi", "en", "de", "es"] {
        let lang = languages.iter().find(|l| l["code"] == code).unwrap();
        assert_eq!(lang["speech_to_text"], true, "{lang}");
        assert_eq!(lang["translation"], true, "{lang}");
        assert_eq!(lang["speech"], true, "{lang}");
    }
    let reply = call(&state, "GET", "/v1/voices", Auth::None, None).await;
    let voices = reply.json()["voices"].as_array().unwrap().clone();
    assert!(
        voices
            .iter()
            .any(|v| v["lang"] == "vi" && v["engine"] == "espeak-ng"),
        "{voices:?}"
    );
}

#[tokio::test]
async fn rate_limits_cors_and_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.rate_limit_per_minute = 3;
    config.cors_origins = vec!["https://app.example".into()];
    let state = state(config).await;
    for _ in 0..3 {
        assert_eq!(
            call(&state, "GET", "/v1/rooms", ADMIN, None).await.status,
            StatusCode::OK
        );
    }
    let reply = call(
        &state,
        "POST",
        "/v1/rooms/x/join",
        Auth::None,
        Some(r#"{"name":"a"}"#),
    )
    .await;
    reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(reply.headers.contains_key("retry-after"));
    // Other endpoints are not limited.
    assert_eq!(
        call(&state, "GET", "/healthz", Auth::None, None)
            .await
            .status,
        StatusCode::OK
    );

    let reply = call(&state, "GET", "/", Auth::None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text.contains("<html"));
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert!(
        reply.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );

    let request = axum::http::Request::builder()
        .method("OPTIONS")
        .uri("/v1/rooms")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = common::send(&state, request).await;
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let request = axum::http::Request::builder()
        .uri("/healthz")
        .header("origin", "https://evil.example")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = common::send(&state, request).await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// Rooms and transcripts written, the server shut down, a new one on the same database:
/// everything is there.
async fn survives_a_restart(data_dir: &std::path::Path, database_url: &str) {
    let mut config = config(data_dir);
    config.database_url = database_url.into();
    let first = state(config.clone()).await;
    let reply = call(
        &first,
        "POST",
        "/v1/rooms",
        ADMIN,
        Some(
            r#"{"name":"standup","languages":["vi"],"glossary":[{"source":"dragoman"},
                {"source":"standup","translations":{"DE":"Stand-up-Meeting"}}]}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    first
        .db
        .append_transcript(
            "standup",
            &[line("an", 0, "vi", "vi", "Xin chào", 1_795_000_000_000)],
        )
        .await
        .unwrap();
    first.shut_down().await;
    drop(first);

    let second = state(config).await;
    let reply = call(&second, "GET", "/v1/rooms/standup", ADMIN, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["languages"], serde_json::json!(["vi"]));
    // The glossary as given, its language codes normalised.
    assert_eq!(
        reply.json()["glossary"],
        serde_json::json!([{"source": "dragoman", "translations": {}},
            {"source": "standup", "translations": {"de": "Stand-up-Meeting"}}])
    );
    let reply = call(&second, "GET", "/v1/rooms/standup/transcript", ADMIN, None).await;
    assert_eq!(reply.json()["lines"][0]["text"], "Xin chào");
    second.shut_down().await;
}

#[tokio::test]
async fn sqlite_keeps_rooms_and_transcripts_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    survives_a_restart(dir.path(), "").await;
    assert!(dir.path().join("dragoman.db").exists());
}

#[tokio::test]
async fn postgres_keeps_rooms_and_transcripts_across_restarts() {
    let postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    survives_a_restart(dir.path(), &postgres.url).await;
}

/// PostgreSQL restarted under a running server: while it is gone, storing fails within the
/// storage timeout (the transcript recorder keeps its lines and tries again) rather than
/// hanging, and once it is back the same pool reconnects and the lines kept are stored:
/// the transcript loses nothing.
#[tokio::test]
async fn a_postgres_restart_loses_no_transcript_line() {
    use std::time::{Duration, Instant};

    use dragoman_server::serve::db::STORAGE_TIMEOUT;

    let mut postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.database_url = postgres.url.clone();
    let state = state(config).await;
    create_room(&state, r#"{"name":"outage"}"#).await;
    let first = [line(
        "an",
        0,
        "en",
        "en",
        "Before the outage.",
        1_795_000_000_000,
    )];
    state.db.append_transcript("outage", &first).await.unwrap();

    postgres.stop();
    let during = [line(
        "an",
        1,
        "en",
        "en",
        "During the outage.",
        1_795_000_002_000,
    )];
    let asked = Instant::now();
    let refused = state.db.append_transcript("outage", &during).await;
    assert!(refused.is_err(), "the database is gone");
    assert!(
        asked.elapsed() < STORAGE_TIMEOUT + Duration::from_secs(2),
        "failed in {:?}",
        asked.elapsed()
    );

    postgres.run();
    // The kept lines go with a later flush, once the pool has reconnected.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = state.db.append_transcript("outage", &during).await {
        assert!(
            Instant::now() < deadline,
            "never stored after the restart: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = call(&state, "GET", "/v1/rooms/outage/transcript", ADMIN, None).await;
    let transcript = reply.json();
    let texts: Vec<&str> = transcript["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Before the outage.", "During the outage."]);
    state.shut_down().await;
}
