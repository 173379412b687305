//! The simulated device's SFTP server: one [`SftpSession`] per `sftp`
//! subsystem channel, serving the device's [`FileArea`] through the
//! `russh-sftp` crate.
//!
//! Every path is normalised by [`files::normalize`] before use, so `..`
//! never leaves the area; each session holds at most [`MAX_HANDLES`] open
//! handles and reads at most [`MAX_READ`] bytes at a time. Links, `mkdir`
//! and `rmdir` are refused.

use std::collections::HashMap;
use std::sync::Arc;

use russh_sftp::protocol::{Attrs, Data, File, FileAttributes, FileMode, Handle, Name, OpenFlags, Status, StatusCode, Version};
use russh_sftp::server::StatusReply;

use super::files::{self, AreaError, FileArea, Stat};

/// Most handles open at once in one session.
pub const MAX_HANDLES: usize = 16;
/// Most bytes returned by one read.
pub const MAX_READ: u32 = 64 * 1024;

/// What a handle refers to.
enum Open {
    File { path: String, write: bool },
    /// A directory listing, sent in one reply.
    Dir { entries: Vec<File>, sent: bool },
}

/// One SFTP session.
pub struct SftpSession {
    area: Arc<FileArea>,
    handles: HashMap<String, Open>,
    next_handle: u64,
    started: bool,
}

impl From<AreaError> for StatusReply {
    fn from(e: AreaError) -> Self {
        let code = match e {
            AreaError::NoSuchFile => StatusCode::NoSuchFile,
            AreaError::ReadOnlyDirectory => StatusCode::PermissionDenied,
            AreaError::BadPath => StatusCode::BadMessage,
            AreaError::Exists | AreaError::IsDirectory | AreaError::FileTooLarge | AreaError::TooManyFiles | AreaError::AreaFull => StatusCode::Failure,
        };
        code.with_message(e.message())
    }
}

fn attrs(stat: Stat) -> FileAttributes {
    let mut a = FileAttributes::empty();
    match stat {
        Stat::Dir => {
            a.permissions = Some(0o755);
            a.set_type(FileMode::DIR);
            a.size = Some(0);
        }
        Stat::File { size, mtime } => {
            a.permissions = Some(0o644);
            a.set_type(FileMode::REG);
            a.size = Some(size);
            a.mtime = Some(mtime);
            a.atime = Some(mtime);
        }
    }
    a.uid = Some(0);
    a.gid = Some(0);
    a
}

fn ok(id: u32) -> Status {
    Status { id, status_code: StatusCode::Ok, error_message: "Ok".to_owned(), language_tag: "en-US".to_owned() }
}

fn status(code: StatusCode, message: &str) -> StatusReply {
    code.with_message(message)
}

impl SftpSession {
    pub fn new(area: Arc<FileArea>) -> Self {
        Self { area, handles: HashMap::new(), next_handle: 0, started: false }
    }

    fn add_handle(&mut self, open: Open) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(status(StatusCode::Failure, "too many open handles"));
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(handle)
    }

    fn file(&self, handle: &str) -> Result<(&str, bool), StatusReply> {
        match self.handles.get(handle) {
            Some(Open::File { path, write }) => Ok((path, *write)),
            Some(Open::Dir { .. }) => Err(status(StatusCode::Failure, "a directory handle")),
            None => Err(status(StatusCode::Failure, "no such handle")),
        }
    }
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        status(StatusCode::OpUnsupported, "not supported by this simulated device")
    }

    async fn init(&mut self, _version: u32, _extensions: HashMap<String, String>) -> Result<Version, Self::Error> {
        if std::mem::replace(&mut self.started, true) {
            return Err(status(StatusCode::BadMessage, "already initialised"));
        }
        Ok(Version::new())
    }

    async fn open(&mut self, id: u32, filename: String, pflags: OpenFlags, _attrs: FileAttributes) -> Result<Handle, Self::Error> {
        let path = files::normalize(&filename)?;
        let write = pflags.intersects(OpenFlags::WRITE | OpenFlags::APPEND);
        let create = write && pflags.contains(OpenFlags::CREATE);
        let truncate = write && pflags.contains(OpenFlags::TRUNCATE);
        let exclusive = create && pflags.contains(OpenFlags::EXCLUDE);
        if self.handles.len() >= MAX_HANDLES {
            return Err(status(StatusCode::Failure, "too many open handles"));
        }
        self.area.open(&path, create, truncate, exclusive)?;
        let handle = self.add_handle(Open::File { path, write })?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(_) => Ok(ok(id)),
            None => Err(status(StatusCode::Failure, "no such handle")),
        }
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Result<Data, Self::Error> {
        let (path, _) = self.file(&handle)?;
        let len = usize::try_from(len.min(MAX_READ)).unwrap_or(0);
        match self.area.read(path, offset, len)? {
            Some(data) => Ok(Data { id, data }),
            None => Err(status(StatusCode::Eof, "end of file")),
        }
    }

    async fn write(&mut self, id: u32, handle: String, offset: u64, data: Vec<u8>) -> Result<Status, Self::Error> {
        let (path, write) = self.file(&handle)?;
        if !write {
            return Err(status(StatusCode::PermissionDenied, "not opened for writing"));
        }
        self.area.write(path, offset, &data)?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = files::normalize(&path)?;
        Ok(Attrs { id, attrs: attrs(self.area.stat(&path)?) })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let (path, _) = self.file(&handle)?;
        Ok(Attrs { id, attrs: attrs(self.area.stat(path)?) })
    }

    async fn setstat(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        // Times and modes are not kept; the path must still exist.
        let path = files::normalize(&path)?;
        self.area.stat(&path)?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        self.file(&handle)?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let path = files::normalize(&path)?;
        let entries = self.area.list(&path)?.into_iter().map(|(name, stat)| File::new(name, attrs(stat))).collect();
        let handle = self.add_handle(Open::Dir { entries, sent: false })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir { entries, sent }) if !*sent => {
                *sent = true;
                Ok(Name { id, files: std::mem::take(entries) })
            }
            Some(Open::Dir { .. }) => Err(status(StatusCode::Eof, "end of directory")),
            _ => Err(status(StatusCode::Failure, "not a directory handle")),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let path = files::normalize(&filename)?;
        self.area.remove(&path)?;
        Ok(ok(id))
    }

    async fn mkdir(&mut self, _id: u32, _path: String, _attrs: FileAttributes) -> Result<Status, Self::Error> {
        Err(AreaError::ReadOnlyDirectory.into())
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(AreaError::ReadOnlyDirectory.into())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = files::normalize(&path)?;
        Ok(Name { id, files: vec![File::dummy(path)] })
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Result<Status, Self::Error> {
        let (from, to) = (files::normalize(&oldpath)?, files::normalize(&newpath)?);
        self.area.rename(&from, &to)?;
        Ok(ok(id))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::files::MAX_FILE_BYTES;
    use crate::flavour::INFUSION_PUMP;
    use russh_sftp::server::Handler as _;

    fn session() -> SftpSession {
        SftpSession::new(Arc::new(FileArea::new(&INFUSION_PUMP, "infusion-pump-12")))
    }

    fn create() -> OpenFlags {
        OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
    }

    #[tokio::test]
    async fn upload_then_download() {
        let mut s = session();
        let h = s.open(1, "/opt/firmware/fw.bin".into(), create(), FileAttributes::empty()).await.unwrap().handle;
        s.write(2, h.clone(), 0, b"firmware".to_vec()).await.unwrap();
        s.close(3, h).await.unwrap();
        let h = s.open(4, "../opt/firmware/./fw.bin".into(), OpenFlags::READ, FileAttributes::empty()).await.unwrap().handle;
        assert_eq!(s.read(5, h.clone(), 0, 1 << 20).await.unwrap().data, b"firmware");
        assert_eq!(s.read(6, h.clone(), 8, 10).await.unwrap_err().status_code, StatusCode::Eof);
        let denied = s.write(7, h, 0, b"x".to_vec()).await.unwrap_err();
        assert_eq!(denied.status_code, StatusCode::PermissionDenied, "a read handle cannot write");
        assert_eq!(s.realpath(8, "/opt/../../..".into()).await.unwrap().files[0].filename, "/");
    }

    #[tokio::test]
    async fn hostile_paths_and_sizes_are_refused_with_a_reason() {
        let mut s = session();
        let escape = s.open(1, "../../etc/passwd".into(), OpenFlags::READ, FileAttributes::empty()).await.unwrap_err();
        assert_eq!(escape.status_code, StatusCode::NoSuchFile);
        let escape = s.open(2, "../../etc/passwd".into(), create(), FileAttributes::empty()).await.unwrap_err();
        assert_eq!(escape.status_code, StatusCode::NoSuchFile);
        assert_eq!(s.stat(3, "/../../etc".into()).await.unwrap_err().status_code, StatusCode::NoSuchFile);
        assert_eq!(s.mkdir(4, "/etc".into(), FileAttributes::empty()).await.unwrap_err().status_code, StatusCode::PermissionDenied);
        let h = s.open(5, "/tmp/big".into(), create(), FileAttributes::empty()).await.unwrap().handle;
        let big = s.write(6, h, MAX_FILE_BYTES - 1, vec![0; 2]).await.unwrap_err();
        assert_eq!(big.status_code, StatusCode::Failure);
        assert!(big.error_message.unwrap().contains("file too large"));
    }

    #[tokio::test]
    async fn open_handles_are_capped() {
        let mut s = session();
        for i in 0..MAX_HANDLES {
            s.open(i as u32, "/var/log/pump.log".into(), OpenFlags::READ, FileAttributes::empty()).await.unwrap();
        }
        let refused = s.opendir(99, "/".into()).await.unwrap_err();
        assert_eq!(refused.status_code, StatusCode::Failure);
        let refused = s.open(100, "/var/log/pump.log".into(), OpenFlags::READ, FileAttributes::empty()).await.unwrap_err();
        assert!(refused.error_message.unwrap().contains("too many open handles"));
        s.close(101, "1".into()).await.unwrap();
        s.opendir(102, "/".into()).await.unwrap();
    }
}
