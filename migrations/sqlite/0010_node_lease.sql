-- Node leases: every `portcullis serve` node holds a row here and renews it every
-- `node.heartbeat`. A row not renewed within its `lease_secs` means the node is lost; one
-- surviving node claims it (a conditional UPDATE: only one claim can succeed) and closes the
-- node's sessions in the record. All times are the database server's clock (Unix seconds),
-- never a node's, so clock skew between nodes cannot expire a lease early or keep it late.
-- Same table in the other back end's folder.
CREATE TABLE nodes (
    -- The node's `[node] id`.
    id          TEXT    PRIMARY KEY,
    -- Where other nodes reach this node's web listener (https://ADDR).
    web_url     TEXT    NOT NULL,
    -- A random number drawn at each start: renewals and claims name it, so a node that
    -- restarted is never taken for its previous run, nor the previous run for it.
    incarnation INTEGER  NOT NULL,
    started_at  INTEGER  NOT NULL,
    renewed_at  INTEGER  NOT NULL,
    -- How long the lease lasts unrenewed (the node's own `node.lease`).
    lease_secs  INTEGER  NOT NULL,
    -- Set when a surviving node claimed this one as lost (its time, and the claimer's id);
    -- NULL while the lease holds. The lost node's renewals fail from then on.
    lost_at     INTEGER,
    lost_by     TEXT,
    -- Set when the claimer has closed every session of the lost node.
    reaped_at   INTEGER
);
