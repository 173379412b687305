-- Retention of recordings: a sealed recording older than `[retention] recordings_after` is
-- moved to the archive folder or deleted. The row stays, with its sealed sha256 and bytes, so
-- the recording can still be checked (archived) or at least accounted for (deleted); the
-- move or deletion is itself an audit row (`recording.archived` / `recording.deleted`).
-- Same columns in the PostgreSQL folder.

-- NULL while the file is at `path`; 'archived' or 'deleted' once retention acted on it.
ALTER TABLE recordings ADD COLUMN retained TEXT CHECK (retained IN ('archived', 'deleted'));
-- Unix seconds of that action.
ALTER TABLE recordings ADD COLUMN retained_at BIGINT;
-- Where an archived file now is.
ALTER TABLE recordings ADD COLUMN archive_path TEXT;
