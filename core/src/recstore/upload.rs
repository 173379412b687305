//! One sealed recording to the bucket: the local file is streamed into a multipart upload in
//! parts of [`PART`] bytes (at most [`IN_FLIGHT`] parts sent at once, so memory stays at a few
//! parts whatever the size of the file), hashed on the way, and the upload is completed only
//! if what was sent is exactly what was sealed. The object is then checked: its size, and its
//! SHA-256 re-read from the bucket. The ETag is not used for that: an S3 multipart ETag is
//! not a digest of the content (it is an MD5 over the parts' MD5s, and S3-compatible stores
//! differ, some with encryption at rest give an opaque value), so only re-reading proves the
//! bucket holds the sealed bytes.

use super::bucket::Bucket;
use super::{hash_reader, RecStoreError};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use portcullis_recorder::Hashing;
use std::io::Write;
use tokio::io::AsyncReadExt;

/// Size of one part (S3 takes 5 MiB to 5 GiB, the last part smaller).
pub(super) const PART: usize = 8 * 1024 * 1024;
/// Parts being sent at once.
const IN_FLIGHT: usize = 2;

/// What must arrive: the sealed SHA-256 and size.
pub(super) struct Sealed<'a> {
    pub sha256: &'a str,
    pub bytes: u64,
}

/// Uploads `path` as `key` and checks the object against `sealed`.
pub(super) async fn upload(bucket: &Bucket, path: &str, key: &str, sealed: Sealed<'_>) -> Result<(), RecStoreError> {
    send(bucket, path, key, &sealed).await?;
    if let Err(e) = check(bucket, key, &sealed).await {
        // An object that is not the sealed recording is not left under its key (the next
        // attempt uploads it again).
        let _ = bucket.delete(key).await;
        return Err(e);
    }
    Ok(())
}

async fn send(bucket: &Bucket, path: &str, key: &str, sealed: &Sealed<'_>) -> Result<(), RecStoreError> {
    let io = |e: std::io::Error| RecStoreError::Io { place: path.to_owned(), source: e };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let upload = bucket.store.put_multipart(&Path::from(key)).await.map_err(|e| bucket.object_error(key, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut hashing = Hashing::new(std::io::sink());
    let mut buf = vec![0u8; 64 * 1024];
    let sent: Result<(), RecStoreError> = async {
        loop {
            let n = file.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hashing.write_all(chunk).map_err(io)?;
            writer.wait_for_capacity(IN_FLIGHT).await.map_err(|e| bucket.object_error(key, e))?;
            writer.write(chunk);
        }
    }
    .await;
    let (_, sha, bytes) = hashing.finish();
    let sent = sent.and_then(|()| {
        if sha == sealed.sha256 && bytes == sealed.bytes {
            Ok(())
        } else {
            Err(RecStoreError::Mismatch(format!("{path}: the file ({bytes} bytes, SHA-256 {sha}) is no longer what was sealed; not uploaded")))
        }
    });
    match sent {
        Ok(()) => writer.finish().await.map(|_| ()).map_err(|e| bucket.object_error(key, e)),
        Err(e) => {
            // The parts sent are dropped by the bucket; nothing is left under the key.
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// The object's size, then its SHA-256 re-read, against the seal.
async fn check(bucket: &Bucket, key: &str, sealed: &Sealed<'_>) -> Result<(), RecStoreError> {
    let place = bucket.place(key);
    let meta = bucket.store.head(&Path::from(key)).await.map_err(|e| bucket.object_error(key, e))?;
    if meta.size != sealed.bytes {
        return Err(RecStoreError::Mismatch(format!("{place}: the object has {} bytes, the seal {}", meta.size, sealed.bytes)));
    }
    let opened = bucket.open(key).await?;
    let (sha, _) = hash_reader(opened.reader, &place).await?;
    if sha != sealed.sha256 {
        return Err(RecStoreError::Mismatch(format!("{place}: the object's SHA-256 {sha} is not the sealed {}", sealed.sha256)));
    }
    Ok(())
}
