//! Storage: rooms and transcripts, through sqlx on SQLite (default, a file in the data dir)
//! or PostgreSQL, chosen by the URL at run time. One set of portable SQL serves both (the
//! `Any` driver; `$N` parameters, which both accept); migrations are in `server/migrations`.

use std::time::Duration;

use dragoman_core::Glossary;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use utoipa::ToSchema;

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomRecord {
    /// The room's name (its id in URLs).
    pub name: String,
    /// Language codes the room offers first (the web client preselects them).
    pub languages: Vec<String>,
    /// Most participants at once.
    pub max_participants: u32,
    /// When it was created (Unix milliseconds).
    pub created_at_ms: i64,
    /// Terms its translations keep as written or translate a fixed way:
    /// `[{"source": "standup", "translations": {"de": "Stand-up-Meeting"}}]`.
    #[serde(default, skip_serializing_if = "Glossary::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub glossary: Glossary,
}

/// One final caption of a room's transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptLine {
    /// The speaker's participant id.
    pub speaker: String,
    /// The speaker's display name.
    pub speaker_name: String,
    /// The utterance's number in the speaker's session.
    pub caption_id: i64,
    /// The text's language.
    pub lang: String,
    /// The language spoken (equal to `lang` for the original).
    pub source_lang: String,
    /// The text.
    pub text: String,
    /// When the words started (Unix milliseconds).
    pub started_at_ms: i64,
    /// When they ended (Unix milliseconds).
    pub ended_at_ms: i64,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
}

/// A storage error (the message names what failed).
pub type DbResult<T> = Result<T, sqlx::Error>;

/// The longest a call waits for a connection. With the database gone (a PostgreSQL restart),
/// calls fail after this instead of sqlx's 30 s: a room's transcript recorder keeps its lines
/// and tries again (it must not stall while the room's events pile up), and API calls answer
/// with an error people see. The pool reconnects by itself when the server is back.
pub const STORAGE_TIMEOUT: Duration = Duration::from_secs(3);

impl Db {
    /// Opens `url` (`sqlite://…` or `postgres://…`) and brings its schema up to date.
    pub async fn open(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        // SQLite serialises writers; one connection avoids "database is locked" waits.
        let max = if url.starts_with("sqlite:") { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(STORAGE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Stores a new room; `false` if one with that name exists.
    pub async fn create_room(&self, room: &RoomRecord) -> DbResult<bool> {
        let done = sqlx::query(
            "INSERT INTO rooms (name, languages, max_participants, created_at_ms, glossary) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&room.name)
        .bind(room.languages.join(","))
        .bind(i64::from(room.max_participants))
        .bind(room.created_at_ms)
        .bind(glossary_json(&room.glossary)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The room named `name`.
    pub async fn room(&self, name: &str) -> DbResult<Option<RoomRecord>> {
        let row = sqlx::query(
            "SELECT name, languages, max_participants, created_at_ms, glossary FROM rooms \
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| room_of(&row)).transpose()
    }

    /// Every room, by name.
    pub async fn rooms(&self) -> DbResult<Vec<RoomRecord>> {
        sqlx::query(
            "SELECT name, languages, max_participants, created_at_ms, glossary FROM rooms \
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(room_of)
        .collect()
    }

    /// Deletes a room and its transcript; `false` if there was none.
    pub async fn delete_room(&self, name: &str) -> DbResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM transcript_lines WHERE room = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM rooms WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends lines to `room`'s transcript, in one transaction. A line replaces one of the
    /// same caption, language and start (a final translation refined by the stronger model).
    pub async fn append_transcript(&self, room: &str, lines: &[TranscriptLine]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        for line in lines {
            sqlx::query(
                "DELETE FROM transcript_lines WHERE room = $1 AND speaker = $2 AND caption_id = $3 \
                 AND lang = $4 AND started_at_ms = $5",
            )
            .bind(room)
            .bind(&line.speaker)
            .bind(line.caption_id)
            .bind(&line.lang)
            .bind(line.started_at_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO transcript_lines (id, room, speaker, speaker_name, caption_id, lang, \
                 source_lang, text, started_at_ms, ended_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(super::auth::random_token(22))
            .bind(room)
            .bind(&line.speaker)
            .bind(&line.speaker_name)
            .bind(line.caption_id)
            .bind(&line.lang)
            .bind(&line.source_lang)
            .bind(&line.text)
            .bind(line.started_at_ms)
            .bind(line.ended_at_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// `room`'s transcript in spoken order.
    pub async fn transcript(&self, room: &str) -> DbResult<Vec<TranscriptLine>> {
        sqlx::query(
            "SELECT speaker, speaker_name, caption_id, lang, source_lang, text, started_at_ms, \
             ended_at_ms FROM transcript_lines WHERE room = $1 \
             ORDER BY started_at_ms, speaker, caption_id, lang",
        )
        .bind(room)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(TranscriptLine {
                speaker: row.try_get(0)?,
                speaker_name: row.try_get(1)?,
                caption_id: row.try_get(2)?,
                lang: row.try_get(3)?,
                source_lang: row.try_get(4)?,
                text: row.try_get(5)?,
                started_at_ms: row.try_get(6)?,
                ended_at_ms: row.try_get(7)?,
            })
        })
        .collect()
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool (after the last write).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn room_of(row: &sqlx::any::AnyRow) -> DbResult<RoomRecord> {
    let languages: String = row.try_get(1)?;
    let max: i64 = row.try_get(2)?;
    let glossary: String = row.try_get(4)?;
    Ok(RoomRecord {
        name: row.try_get(0)?,
        languages: languages
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        max_participants: u32::try_from(max).unwrap_or(u32::MAX),
        created_at_ms: row.try_get(3)?,
        glossary: serde_json::from_str(&glossary).map_err(|e| sqlx::Error::ColumnDecode {
            index: "glossary".into(),
            source: Box::new(e),
        })?,
    })
}

/// A glossary as stored: its JSON.
fn glossary_json(glossary: &Glossary) -> DbResult<String> {
    serde_json::to_string(glossary).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}
