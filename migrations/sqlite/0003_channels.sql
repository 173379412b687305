-- Channels: what a request asks for and what an approval grants, written as a
-- comma-separated list (`shell,files,tcp:104`). Rows made before channels existed hold
-- `shell`, which is what they allowed. Same columns in the PostgreSQL folder.

-- What the vendor asked for.
ALTER TABLE access_requests ADD COLUMN channels TEXT NOT NULL DEFAULT 'shell';

-- What one approver agreed to; NULL means everything that was asked for. The grant holds
-- the channels every approver agreed to.
ALTER TABLE approvals ADD COLUMN channels TEXT;

-- What the grant allows.
ALTER TABLE grants ADD COLUMN channels TEXT NOT NULL DEFAULT 'shell';
