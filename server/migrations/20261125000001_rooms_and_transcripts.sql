-- Rooms and their transcripts. Portable SQL: the same file runs on SQLite and PostgreSQL.
CREATE TABLE rooms (
    name TEXT PRIMARY KEY,
    -- Comma-separated language codes the room offers first (e.g. "vi,en").
    languages TEXT NOT NULL,
    max_participants BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- One final caption (an original or a translation) per line.
CREATE TABLE transcript_lines (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    speaker TEXT NOT NULL,
    speaker_name TEXT NOT NULL,
    caption_id BIGINT NOT NULL,
    lang TEXT NOT NULL,
    source_lang TEXT NOT NULL,
    text TEXT NOT NULL,
    -- Wall clock (Unix milliseconds) of the words' start and end.
    started_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT NOT NULL
);

CREATE INDEX transcript_lines_by_room ON transcript_lines (room, started_at_ms);
