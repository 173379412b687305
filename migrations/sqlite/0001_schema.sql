-- Portcullis schema, SQLite flavour. The PostgreSQL folder holds the same version with the
-- same tables and columns; times are Unix seconds (audit: milliseconds) in both.

-- Accounts: vendors, approvers, auditors and admins.
CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL UNIQUE,
    role                 TEXT    NOT NULL CHECK (role IN ('vendor', 'approver', 'auditor', 'admin')),
    org                  TEXT    NOT NULL DEFAULT '',
    disabled             INTEGER NOT NULL DEFAULT 0,
    password_hash        TEXT,
    password_must_change INTEGER NOT NULL DEFAULT 0,
    totp_secret          BLOB    NOT NULL,             -- sealed by the vault
    totp_last_step       INTEGER,                      -- last accepted TOTP step (single use)
    failed_attempts      INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    created_at           INTEGER NOT NULL
);

-- SSH public keys of an account (OpenSSH one-line form).
CREATE TABLE user_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    public_key  TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (user_id, fingerprint)
);

-- Devices vendors may reach; the credential is sealed by the vault.
CREATE TABLE devices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    address     TEXT    NOT NULL,
    login       TEXT    NOT NULL,
    credential  BLOB    NOT NULL,
    host_key    TEXT    NOT NULL,
    criticality TEXT    NOT NULL CHECK (criticality IN ('life-critical', 'high', 'standard')),
    zone        TEXT    NOT NULL,
    tcp_ports   TEXT    NOT NULL DEFAULT '',
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- A vendor's request for a window on one device.
CREATE TABLE access_requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor_id          INTEGER NOT NULL REFERENCES users (id),
    device_id          INTEGER NOT NULL REFERENCES devices (id),
    reason             TEXT    NOT NULL,
    minutes            INTEGER NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'revoked')),
    required_approvals INTEGER NOT NULL,
    version            INTEGER NOT NULL DEFAULT 0,     -- bumped by every decision (row lock)
    created_at         INTEGER NOT NULL,
    decided_at         INTEGER,
    decided_by         TEXT,
    decision_note      TEXT
);
CREATE INDEX access_requests_state ON access_requests (state);

-- One row per distinct approver of a request: the key makes "two distinct approvers" hold.
CREATE TABLE approvals (
    request_id  INTEGER NOT NULL REFERENCES access_requests (id),
    approver_id INTEGER NOT NULL REFERENCES users (id),
    seconds     INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver_id)
);

-- The time-bound permission a fully approved request produces.
CREATE TABLE grants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL UNIQUE REFERENCES access_requests (id),
    vendor_id  INTEGER NOT NULL REFERENCES users (id),
    device_id  INTEGER NOT NULL REFERENCES devices (id),
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT
);
CREATE INDEX grants_vendor_device ON grants (vendor_id, device_id);

-- Brokered connections.
CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id          INTEGER NOT NULL REFERENCES grants (id),
    vendor_id         INTEGER NOT NULL REFERENCES users (id),
    device_id         INTEGER NOT NULL REFERENCES devices (id),
    peer              TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('active', 'ended')),
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    end_reason        TEXT,
    stop_requested_at INTEGER,
    stop_requested_by TEXT
);
CREATE INDEX sessions_state ON sessions (state);

-- One recording file per channel.
CREATE TABLE recordings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    channel    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    sha256     TEXT,
    bytes      INTEGER,
    created_at INTEGER NOT NULL,
    sealed_at  INTEGER
);

-- The hash-chained audit log: each row's hash covers its fields and the previous row's hash.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    ts        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_kind ON audit_log (kind);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Signed checkpoints: an Ed25519 signature over (seq, hash) of an audit row.
CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      TEXT    NOT NULL,
    ts        INTEGER NOT NULL,
    key_id    TEXT    NOT NULL,
    signature TEXT    NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
