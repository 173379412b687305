-- When an account stops working (Unix seconds), e.g. the end of a vendor's contract: from
-- then on every sign-in is refused and audited. NULL: no end. Same column in the other back
-- end's folder.
ALTER TABLE users ADD COLUMN expires_at INTEGER;
