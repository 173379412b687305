-- Containment orders: an administrator's incident decision to close a zone or one device.
-- While a row has no `lifted_at`, new requests for a device in its scope are refused; the
-- order itself (revocations, settled requests, stop orders) is in the same transaction as
-- its `containment.ordered` audit row. Same columns in the other folder.

CREATE TABLE containments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'zone' or 'device'.
    scope_kind     TEXT    NOT NULL CHECK (scope_kind IN ('zone', 'device')),
    -- The zone's or the device's name.
    scope_name     TEXT    NOT NULL,
    ordered_by     TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    -- Who confirmed that the life-critical devices there are safe to disconnect (free text).
    confirmed_by   TEXT,
    -- Why running sessions were cut at once instead of after the grace; NULL for a graceful order.
    immediate      TEXT,
    ordered_at     INTEGER NOT NULL,
    lifted_at      INTEGER,
    lifted_by      TEXT,
    lift_reason    TEXT
);

-- At most one containment in force per scope.
CREATE UNIQUE INDEX containments_in_force ON containments (scope_kind, scope_name) WHERE lifted_at IS NULL;
