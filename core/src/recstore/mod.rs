//! Where sealed recordings are read from, and kept: the one way every reader (replay,
//! download, evidence export, `session verify`, retention) gets at a recording's bytes,
//! whichever node it runs on. A recording is read from its local file while that file is
//! there (it is written there while it runs, and stays there with `store = "local"`), else
//! from its object in the `[recording.s3]` bucket once uploaded ([`Uploader`]), else from its
//! archive copy once retention archived it. Reads are streamed: memory stays at a buffer
//! whatever the size of the recording.

mod bucket;
mod upload;
mod uploader;

pub use uploader::Uploader;

use crate::config::{RecordingConfig, RecordingStore};
use crate::store::RecordingRecord;
use bucket::Bucket;
use portcullis_recorder::Hashing;
use std::io::Write;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

/// Why a recording cannot be read, stored or removed.
#[derive(Debug, thiserror::Error)]
pub enum RecStoreError {
    /// The bucket cannot be used as configured (a bad endpoint, a refused key, no bucket).
    #[error("recording bucket: {0}")]
    Config(String),
    /// The bucket does not answer (for now).
    #[error("recording bucket: {0}")]
    Unreachable(String),
    /// Retention deleted it; only its sealed hash remains.
    #[error("{0}")]
    Gone(String),
    /// It is neither on this node's disk nor in the bucket.
    #[error("{0}")]
    Missing(String),
    /// A file could not be read or written.
    #[error("{place}: {source}")]
    Io { place: String, source: std::io::Error },
    /// The bucket did not do what was asked.
    #[error("{place}: {message}")]
    Object { place: String, message: String },
    /// What was read does not match the seal.
    #[error("{0}")]
    Mismatch(String),
}

impl RecStoreError {
    fn io(place: impl Into<String>, source: std::io::Error) -> Self {
        RecStoreError::Io { place: place.into(), source }
    }
}

/// A recording opened for reading.
pub struct Opened {
    /// Its bytes, streamed.
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Its length as the file or object says now.
    pub len: u64,
    /// Where it is read from: a path, or `s3://BUCKET/KEY`.
    pub place: String,
}

/// The recording store of a process; cheap to clone.
#[derive(Clone, Debug)]
pub struct RecStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The bucket sealed recordings go to; `None` with `store = "local"`.
    bucket: Option<Bucket>,
    /// Wakes the [`Uploader`] when a recording was sealed.
    sealed: Notify,
}

impl RecStore {
    /// Recordings kept on local disk only.
    pub fn local() -> RecStore {
        RecStore { inner: Arc::new(Inner { bucket: None, sealed: Notify::new() }) }
    }

    /// The store `[recording]` names (no request is made: see [`RecStore::probe`]).
    pub fn from_config(cfg: &RecordingConfig) -> Result<RecStore, RecStoreError> {
        let bucket = match (cfg.store, &cfg.s3) {
            (RecordingStore::Local, _) => None,
            (RecordingStore::S3, Some(s3)) => Some(Bucket::new(s3)?),
            (RecordingStore::S3, None) => return Err(RecStoreError::Config("store = \"s3\" without [recording.s3]".into())),
        };
        Ok(RecStore { inner: Arc::new(Inner { bucket, sealed: Notify::new() }) })
    }

    /// Whether sealed recordings go to a bucket.
    pub fn has_bucket(&self) -> bool {
        self.inner.bucket.is_some()
    }

    /// `s3://BUCKET/PREFIX` or `local`, for logs.
    pub fn describe(&self) -> String {
        self.inner.bucket.as_ref().map(|b| b.describe()).unwrap_or_else(|| "local".into())
    }

    /// Where an uploaded recording's object is: `s3://BUCKET/KEY` (`s3:KEY` on a node with no
    /// bucket configured).
    pub fn object_url(&self, key: &str) -> String {
        self.inner.bucket.as_ref().map(|b| b.place(key)).unwrap_or_else(|| format!("s3:{key}"))
    }

    /// Checks that the bucket answers and takes the key (one listing request); a refused key
    /// or a missing bucket is an error, as is a bucket that does not answer.
    pub async fn probe(&self) -> Result<(), RecStoreError> {
        match &self.inner.bucket {
            Some(b) => b.probe().await,
            None => Ok(()),
        }
    }

    /// Says a recording was sealed, so the uploader looks for work now.
    pub fn wake(&self) {
        self.inner.sealed.notify_one();
    }

    /// Opens recording `rec` where it is now (see the module documentation).
    pub async fn open(&self, rec: &RecordingRecord) -> Result<Opened, RecStoreError> {
        match rec.retained.as_deref() {
            None => {}
            Some("archived") => {
                let path = rec.archive_path.clone().unwrap_or_default();
                return open_file(&path).await.map_err(|e| match e {
                    Some(e) => e,
                    None => RecStoreError::Missing(format!("{path}: the archive copy is not there")),
                });
            }
            Some(other) => return Err(RecStoreError::Gone(format!("recording {} of session {} was {other} by the retention policy", rec.channel, rec.session_id))),
        }
        match open_file(&rec.path).await {
            Ok(opened) => return Ok(opened),
            Err(Some(e)) => return Err(e),
            Err(None) => {}
        }
        match (&rec.object_key, &self.inner.bucket) {
            (Some(key), Some(bucket)) => bucket.open(key).await,
            (Some(key), None) => Err(RecStoreError::Missing(format!("{}: not on this node, and its object {key} is in a bucket this node has no [recording.s3] for", rec.path))),
            (None, _) => Err(RecStoreError::Missing(format!("{}: not on this node's disk, and not uploaded to a bucket", rec.path))),
        }
    }

    /// As [`RecStore::open`], for blocking code (an evidence bundle written on a blocking
    /// thread): must run on a thread of a Tokio runtime's blocking pool, which the bucket's
    /// reads go back to.
    pub fn open_blocking(&self, rec: &RecordingRecord) -> Result<(Box<dyn std::io::Read + Send>, u64, String), RecStoreError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| RecStoreError::Config(format!("no runtime to read recordings on: {e}")))?;
        let opened = handle.block_on(self.open(rec))?;
        let reader = tokio_util::io::SyncIoBridge::new_with_handle(opened.reader, handle);
        Ok((Box::new(reader), opened.len, opened.place))
    }

    /// SHA-256 (lowercase hex) and length of recording `rec` as it reads now, and where it
    /// was read from.
    pub async fn sha256(&self, rec: &RecordingRecord) -> Result<(String, u64, String), RecStoreError> {
        let opened = self.open(rec).await?;
        let (sha, bytes) = hash_reader(opened.reader, &opened.place).await?;
        Ok((sha, bytes, opened.place))
    }

    /// Removes recording `rec` everywhere it is kept now: its local file (or archive copy)
    /// and its object. What was already gone is not an error.
    pub async fn remove(&self, rec: &RecordingRecord) -> Result<(), RecStoreError> {
        let path = match rec.retained.as_deref() {
            Some("archived") => rec.archive_path.clone().unwrap_or_default(),
            _ => rec.path.clone(),
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RecStoreError::io(path, e)),
        }
        if let (Some(key), Some(bucket)) = (&rec.object_key, &self.inner.bucket) {
            bucket.delete(key).await?;
        }
        Ok(())
    }

    pub(crate) fn bucket(&self) -> Option<&Bucket> {
        self.inner.bucket.as_ref()
    }

    pub(crate) async fn sealed(&self) {
        self.inner.sealed.notified().await
    }
}

/// Opens a local file; `Err(None)` when it is not there.
async fn open_file(path: &str) -> Result<Opened, Option<RecStoreError>> {
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(e) => return Err(Some(RecStoreError::io(path, e))),
    };
    let len = file.metadata().await.map_err(|e| Some(RecStoreError::io(path, e)))?.len();
    Ok(Opened { reader: Box::new(file), len, place: path.to_owned() })
}

/// SHA-256 and length of what `reader` gives, through the recorder's [`Hashing`] (the one way
/// a recording's hash is computed), a buffer at a time.
pub(crate) async fn hash_reader(mut reader: impl AsyncRead + Unpin, place: &str) -> Result<(String, u64), RecStoreError> {
    let mut hashing = Hashing::new(std::io::sink());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| RecStoreError::io(place, e))?;
        if n == 0 {
            break;
        }
        hashing.write_all(buf.get(..n).unwrap_or_default()).map_err(|e| RecStoreError::io(place, e))?;
    }
    let (_, sha, bytes) = hashing.finish();
    Ok((sha, bytes))
}

#[cfg(test)]
mod tests;
