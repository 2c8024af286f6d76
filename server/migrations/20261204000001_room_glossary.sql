-- A room's glossary: terms its translations keep as written or translate a fixed way, as the
-- JSON of dragoman_core::Glossary ([{"source": "...", "translations": {"de": "..."}}]).
ALTER TABLE rooms ADD COLUMN glossary TEXT NOT NULL DEFAULT '[]';
