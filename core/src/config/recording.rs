//! `[recording]`: where recordings are written while they run (`dir`, always a local folder)
//! and where they are kept once sealed (`store`): in that folder (`local`, the default), or in
//! an S3-compatible bucket (`s3`, with the `[recording.s3]` table). The bucket's credentials
//! come from the environment only (`PORTCULLIS_S3_ACCESS_KEY_ID`,
//! `PORTCULLIS_S3_SECRET_ACCESS_KEY`), never from the file, and `Debug` never shows the secret.

use super::ConfigError;
use serde::Deserialize;
use std::path::PathBuf;
use url::Url;

/// Where sealed recordings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStore {
    /// In `[recording] dir` (the default).
    #[default]
    Local,
    /// In the bucket of `[recording.s3]`.
    S3,
}

impl std::str::FromStr for RecordingStore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "local" => Ok(RecordingStore::Local),
            "s3" => Ok(RecordingStore::S3),
            other => Err(format!("{other:?} is not a recording store (local or s3)")),
        }
    }
}

/// Where recordings go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Folder recordings are written to while they run (and kept in, with `store = "local"`).
    pub dir: PathBuf,
    pub store: RecordingStore,
    /// The bucket; required with `store = "s3"`.
    pub s3: Option<S3Config>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("recordings"), store: RecordingStore::Local, s3: None }
    }
}

/// `[recording.s3]`: an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, StorageGRID, ECS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    pub bucket: String,
    /// `https://host:port` of the service; empty for AWS S3 itself (from `region`).
    pub endpoint: String,
    pub region: String,
    /// Allows an `http://` endpoint; only for a loopback address (tests, a local gateway).
    pub allow_http: bool,
    /// Prepended to every object key (`recordings/` gives `recordings/SESSION/N.cast`).
    pub prefix: String,
    /// From `PORTCULLIS_S3_ACCESS_KEY_ID` and `PORTCULLIS_S3_SECRET_ACCESS_KEY`; never read
    /// from the file.
    #[serde(skip)]
    pub credentials: Option<S3Credentials>,
}

/// The bucket's access key; `Debug` shows the key id only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).field("secret_access_key", &"<redacted>").finish()
    }
}

impl RecordingConfig {
    /// Sets one half of the credentials from the environment (the `[recording.s3]` table is
    /// made if the file had none, so that a missing bucket is reported by [`Self::check`]).
    pub(super) fn set_credential(&mut self, secret: bool, value: &str) {
        let creds = self.s3.get_or_insert_with(S3Config::default).credentials.get_or_insert_with(S3Credentials::default);
        if secret {
            creds.secret_access_key = value.trim().to_owned();
        } else {
            creds.access_key_id = value.trim().to_owned();
        }
    }

    /// With `store = "s3"`: a bucket, a region, an `https` endpoint (or `http` to loopback
    /// with `allow_http`), and both halves of the key.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("recording.s3: {m}")));
        if self.store == RecordingStore::Local {
            return Ok(());
        }
        let Some(s3) = &self.s3 else { return bad("store = \"s3\" needs a [recording.s3] table with bucket and region") };
        if s3.bucket.trim().is_empty() {
            return bad("bucket is required");
        }
        if s3.region.trim().is_empty() {
            return bad("region is required (any name for most S3-compatible stores, e.g. us-east-1)");
        }
        if !s3.endpoint.is_empty() {
            let url = Url::parse(&s3.endpoint).map_err(|e| ConfigError::Invalid(format!("recording.s3: endpoint is not a URL: {e}")))?;
            let host = url.host_str().unwrap_or_default();
            match url.scheme() {
                "https" => {}
                "http" if s3.allow_http && super::is_loopback_host(host) => {}
                "http" if s3.allow_http => return bad("allow_http is only for a loopback endpoint; use https"),
                "http" => return bad("endpoint must be https (http only to a loopback address, with allow_http = true)"),
                other => return bad(&format!("endpoint scheme {other:?} is neither https nor http")),
            }
        }
        match &s3.credentials {
            Some(c) if !c.access_key_id.is_empty() && !c.secret_access_key.is_empty() => Ok(()),
            _ => bad("the access key comes from PORTCULLIS_S3_ACCESS_KEY_ID and PORTCULLIS_S3_SECRET_ACCESS_KEY, and one or both are not set"),
        }
    }
}
