-- Single sign-on links (PostgreSQL): an account signs in with the OpenID provider as the
-- identity (issuer, sub) linked to it. Never by e-mail: the pair is the only key.
CREATE TABLE oidc_links (
    issuer     TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    user_id    BIGINT NOT NULL UNIQUE REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
