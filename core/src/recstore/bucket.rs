//! The S3-compatible bucket of `[recording.s3]`, through the `object_store` crate: reads
//! streamed from an object, deletes, and the start-up probe. Requests are retried briefly
//! (a bucket that stays away is the uploader's to retry, not a request's), and the access key
//! is never logged.

use super::{Opened, RecStoreError};
use crate::config::S3Config;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use std::time::Duration;
use tokio_util::io::StreamReader;

/// Longest one request may take (a part of an upload, a read's first byte).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One configured bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) store: AmazonS3,
    pub(crate) name: String,
    /// Prepended to every key (may be empty).
    prefix: String,
}

impl Bucket {
    pub(super) fn new(cfg: &S3Config) -> Result<Bucket, RecStoreError> {
        let creds = cfg.credentials.clone().unwrap_or_default();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(creds.access_key_id)
            .with_secret_access_key(creds.secret_access_key)
            .with_allow_http(cfg.allow_http)
            .with_retry(RetryConfig { backoff: BackoffConfig::default(), max_retries: 2, retry_timeout: Duration::from_secs(15) })
            .with_client_options(ClientOptions::new().with_timeout(REQUEST_TIMEOUT).with_connect_timeout(CONNECT_TIMEOUT).with_allow_http(cfg.allow_http));
        if !cfg.endpoint.is_empty() {
            b = b.with_endpoint(&cfg.endpoint);
        }
        let store = b.build().map_err(|e| RecStoreError::Config(e.to_string()))?;
        Ok(Bucket { store, name: cfg.bucket.clone(), prefix: cfg.prefix.clone() })
    }

    pub(super) fn describe(&self) -> String {
        format!("s3://{}/{}", self.name, self.prefix)
    }

    /// The key of a recording file: `PREFIX` + `SESSION/FILE`.
    pub(crate) fn key(&self, session: i64, file: &str) -> String {
        format!("{}{session}/{file}", self.prefix)
    }

    pub(crate) fn place(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    pub(crate) fn object_error(&self, key: &str, e: object_store::Error) -> RecStoreError {
        RecStoreError::Object { place: self.place(key), message: short(&e) }
    }

    /// Streams object `key`.
    pub(super) async fn open(&self, key: &str) -> Result<Opened, RecStoreError> {
        let got = self.store.get(&Path::from(key)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => RecStoreError::Missing(format!("{}: the object is not in the bucket", self.place(key))),
            e => self.object_error(key, e),
        })?;
        let len = got.meta.size;
        let stream = got.into_stream().map_err(std::io::Error::from);
        Ok(Opened { reader: Box::new(StreamReader::new(stream)), len, place: self.place(key) })
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), RecStoreError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.object_error(key, e)),
        }
    }

    /// Lists at most one page under the prefix: proves the bucket exists and takes the key.
    pub(super) async fn probe(&self) -> Result<(), RecStoreError> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        match self.store.list(prefix.as_ref()).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => {
                let why = match status(&e) {
                    Some(401 | 403) => "the bucket refused the access key (PORTCULLIS_S3_ACCESS_KEY_ID / PORTCULLIS_S3_SECRET_ACCESS_KEY)",
                    Some(404) => "the bucket does not exist",
                    _ => return Err(RecStoreError::Unreachable(format!("{}: the bucket cannot be reached: {}", self.describe(), short(&e)))),
                };
                Err(RecStoreError::Config(format!("{}: {why}: {}", self.describe(), short(&e))))
            }
        }
    }
}

/// The HTTP status the bucket answered with, if it answered. `object_store` gives a typed
/// error for some answers (`PermissionDenied`, `NotFound`) and wraps others (a refused listing
/// is a `Generic` error whose source says `status code: 403 Forbidden`), so the source chain
/// is read too.
fn status(e: &object_store::Error) -> Option<u16> {
    match e {
        object_store::Error::PermissionDenied { .. } => return Some(403),
        object_store::Error::Unauthenticated { .. } => return Some(401),
        object_store::Error::NotFound { .. } => return Some(404),
        _ => {}
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if let Some(at) = text.find("status code: ") {
            let code = text.get(at + 13..at + 16).and_then(|c| c.parse().ok());
            if code.is_some() {
                return code;
            }
        }
        current = err.source();
    }
    None
}

/// The error's text without its source chain's repetitions, on one line.
fn short(e: &object_store::Error) -> String {
    e.to_string().replace('\n', " ")
}
