-- Single sign-on links (SQLite): an account signs in with the OpenID provider as the
-- identity (issuer, sub) linked to it. Never by e-mail: the pair is the only key.
CREATE TABLE oidc_links (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL UNIQUE REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
