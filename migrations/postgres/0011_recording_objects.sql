-- Recordings kept in an S3-compatible bucket (`[recording] store = "s3"`): a node writes a
-- recording to its local folder while it runs and, once it is sealed, uploads it, checks the
-- object against the sealed SHA-256, and only then records where it is and removes the local
-- copy. The sealed sha256 and bytes stay as they were; `path` keeps the file's first place.
-- Same columns in the other folder.

-- The object's key in the configured bucket; NULL while the recording is only a local file.
ALTER TABLE recordings ADD COLUMN object_key TEXT;
-- Unix seconds when the object was checked and recorded.
ALTER TABLE recordings ADD COLUMN stored_at BIGINT;
