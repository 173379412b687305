-- Web sign-in sessions, scheduled approval windows and graceful session stops (PostgreSQL).

-- One row per web sign-in. The signed token carries `id`; every request checks the row, so
-- signing out (revoked_at) or disabling the account ends the token at once.
CREATE TABLE web_sessions (
    id         TEXT    PRIMARY KEY,                    -- 128-bit random, hex
    user_id    BIGINT NOT NULL REFERENCES users (id),
    scope      TEXT    NOT NULL CHECK (scope IN ('full', 'enrol')),
    peer       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- An approver may schedule the window: the grant starts at the latest start any approver set.
ALTER TABLE approvals ADD COLUMN starts_at BIGINT;

-- A graceful stop names the moment the broker closes the session (after warning the vendor).
ALTER TABLE sessions ADD COLUMN stop_at BIGINT;
