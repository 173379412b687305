-- Notifications to approvers. Each channel ('webhook', 'email') follows the audit log's
-- `request.created` rows from a cursor kept here, so a restart resumes where it stopped.
-- Several nodes share one cursor: a node takes the lease (lease_owner, lease_until) before it
-- sends, and moves `seq` with a compare-and-swap UPDATE after, so only one node sends a
-- given notification at a time; a node that dies loses its lease when `lease_until` passes.
CREATE TABLE delivery_cursors (
    name        TEXT    PRIMARY KEY,   -- the channel
    seq         INTEGER NOT NULL,      -- last audit row handled (delivered or given up)
    lease_owner TEXT,                  -- node sending now, if any
    lease_until INTEGER,               -- Unix milliseconds; another node may take over after
    updated_at  INTEGER NOT NULL       -- Unix milliseconds of the last change of `seq`
);
