//! Names of the members of an evidence bundle, shared by the builder and the verifier.

/// The session with its recordings' store rows (JSON).
pub const SESSION: &str = "session.json";
/// The access request with its approvals (JSON).
pub const REQUEST: &str = "request.json";
/// The grant (JSON).
pub const GRANT: &str = "grant.json";
/// The contiguous chain segment, one audit row as JSON per line.
pub const AUDIT_ROWS: &str = "audit/rows.jsonl";
/// Sequence numbers of the rows about this session or its request (JSON array).
pub const AUDIT_INVOLVED: &str = "audit/involved.json";
/// The signed checkpoint the segment ends at (JSON).
pub const AUDIT_CHECKPOINT: &str = "audit/checkpoint.json";
/// Folder of recordings.
pub const RECORDINGS: &str = "recordings/";

/// The member name of recording `channel` of `session` whose file was `path`
/// (`recordings/SESSION/N.ext`, as in the recording folder; the extension is kept).
pub fn recording_name(session: i64, channel: i64, path: &str) -> String {
    let ext = std::path::Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("bin");
    format!("{RECORDINGS}{session}/{channel}.{ext}")
}
