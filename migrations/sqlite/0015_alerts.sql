-- Alerts ranked by patient-safety impact (`[alerts]`). The alerts themselves are audit rows
-- (`alert.*`); these tables hold what the rules and the alerts page need besides the log.
-- Same tables in the other folder.

-- Rule `new_source`: every source address an account has signed in from, so that a sign-in
-- from an address not seen before for that account can alert. The first sign-in of an
-- account only records its address.
CREATE TABLE alert_sources (
    username   TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    -- Unix seconds of the first sign-in from it.
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (username, source)
);

-- Acknowledgements: at most one per alert (the audit row's seq); the `alert.acknowledged`
-- row written in the same transaction says who and when.
CREATE TABLE alert_acks (
    alert_seq INTEGER PRIMARY KEY,
    acked_by  TEXT   NOT NULL,
    -- Unix seconds.
    acked_at  INTEGER NOT NULL
);
