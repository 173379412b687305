-- Break-glass: an emergency session opened without a prior approval by an account holding the
-- `break-glass` permission, after stating an incident reference and a reason. Its grant is an
-- ordinary grant (so the session is brokered and recorded like any other) whose request row
-- is marked here; two distinct approvers review it afterwards. Same tables in the other folder.

CREATE TABLE break_glass (
    -- The request row created (already approved) for it; its grant is the session's.
    request_id   INTEGER PRIMARY KEY,
    incident     TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    opened_by    TEXT    NOT NULL,
    -- Unix seconds.
    opened_at    INTEGER NOT NULL,
    -- When both reviews are due (opened_at + breakglass.review_within).
    review_due   INTEGER NOT NULL,
    -- 'pending', 'justified' or 'not-justified': the outcome once two reviews are in, or at
    -- the first "not justified".
    outcome      TEXT    NOT NULL DEFAULT 'pending',
    -- Set once by the node that escalated it (an UPDATE ... WHERE escalated_at IS NULL, so
    -- two nodes never both escalate the same review).
    escalated_at INTEGER
);

-- One review per approver per break-glass session.
CREATE TABLE break_glass_reviews (
    request_id  INTEGER NOT NULL,
    reviewer    TEXT    NOT NULL,
    -- 'justified' or 'not-justified'.
    verdict     TEXT    NOT NULL CHECK (verdict IN ('justified', 'not-justified')),
    note        TEXT    NOT NULL,
    reviewed_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);

-- The evidence bundle of each ended break-glass session: the row is inserted by the node that
-- writes it (the primary key keeps a second node from writing it again).
CREATE TABLE break_glass_exports (
    session_id  INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL,
    -- The bundle's path, or NULL while it is being written.
    path        TEXT,
    claimed_at  INTEGER NOT NULL
);
