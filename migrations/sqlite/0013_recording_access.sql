-- Audited access to recordings. Same columns in the other back end's folder.

-- The zones an auditor account is limited to, comma-separated zone names (`icu,nicu`); empty:
-- the whole installation. Only auditor accounts carry zones.
ALTER TABLE users ADD COLUMN zones TEXT NOT NULL DEFAULT '';
-- Permissions granted explicitly, comma-separated words (`phi`); empty: none. No role has
-- any of them implicitly.
ALTER TABLE users ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
-- 1 when the device's screens can show patient data (tag `phi`): replaying, downloading,
-- watching or exporting its sessions needs the `phi` permission.
ALTER TABLE devices ADD COLUMN phi INTEGER NOT NULL DEFAULT 0;
