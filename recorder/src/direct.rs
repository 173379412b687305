//! A recording file written around the page cache. Recordings are written once, in order,
//! and read back rarely; copying each byte into the page cache costs the writer a copy and,
//! for every new page, an allocation that on a virtual machine whose free memory goes back
//! to the host (virtio balloon page reporting) is a fault on the host: measured on the
//! benchmark machine, buffered writes of 512 MiB ran at 160–350 MB/s, while the same bytes
//! written with `O_DIRECT` in 1 MiB blocks ran at 1.4 GB/s, and a tunnel's capture writer
//! spent most of its time in the kernel's page-cache copy. It also keeps gigabytes of
//! recordings from pushing the database's pages out of memory.
//!
//! [`DirectFile`] gathers bytes in one block-aligned buffer (its size set by the caller) and writes
//! whole blocks with `O_DIRECT`, set on the file's one descriptor (`fcntl`; a session holds
//! no more descriptors than before). A [`DirectFile::flush`] (a recording's timed flush, or
//! its end) also writes the partial last block, with `O_DIRECT` cleared, at its offset, and
//! keeps it in the buffer; the next direct write covers that block again, and the kernel
//! writes back and drops the cached copy of that range first, so the file always holds
//! exactly the bytes written, in order. Where the file system refuses `O_DIRECT` (some
//! network or older file systems), when it is set or on a later write, the file is written
//! through the page cache only: same bytes, same guarantees, the page cache's cost.
//!
//! A quiet recording gives its buffer back ([`DirectFile::release`]): only the partial last
//! block (under 4 KiB) is kept, and the buffer is taken again when bytes come.
//!
//! Written here rather than with a crate: what is needed is one aligned buffer and one flag,
//! and the crates that offer direct I/O bring an async runtime or unsafe code of
//! their own for it; the buffer's alignment is found with safe code ([`slice::align_offset`]).

use std::fs::File;
use std::io::{IoSlice, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of direct writes: their memory, length and file offset. 4096 bytes suits disks
/// with 512-byte and with 4 KiB logical blocks.
const BLOCK: usize = 4096;

/// Direct writes of this size ran, on the benchmark machine, at 354 MB/s (64 KiB), 570
/// (128 KiB), 890 (256 KiB), 1,100 (512 KiB) and 1,400 (1 MiB): the larger the buffer, the
/// more the disk rather than the system call sets the pace. What the buffer holds is lost if
/// the disk fails, so its size also counts in how much may pass unrecorded (README, security
/// model); the callers choose it with that in mind.
pub const MAX_BUFFER: usize = 1024 * 1024;

/// A new file written with direct I/O where the file system allows it (see the module's
/// text). Dropping it without [`DirectFile::flush`] loses what the buffer holds.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    /// Whether whole blocks may still go around the page cache (the file system took
    /// `O_DIRECT` so far).
    direct: bool,
    /// Whether `O_DIRECT` is set on the descriptor now.
    direct_now: bool,
    /// `size` bytes plus room to align them: the buffer is `mem[start..start + size]`.
    /// Empty while released.
    mem: Vec<u8>,
    start: usize,
    /// Size of the buffer (a multiple of [`BLOCK`]).
    size: usize,
    /// Bytes of the buffer in use.
    len: usize,
    /// While released: the bytes of the partial last block, already in the file.
    held: Vec<u8>,
    /// The file offset of the buffer's first byte (a multiple of [`BLOCK`] while direct).
    at: u64,
}

impl DirectFile {
    /// Creates `path` (mode 0600), which must not exist, with a buffer of `buffer` bytes
    /// (rounded to whole blocks, at most [`MAX_BUFFER`]).
    pub fn create_new(path: &Path, buffer: usize) -> std::io::Result<DirectFile> {
        let file = File::options().write(true).create_new(true).mode(0o600).open(path)?;
        Ok(DirectFile::over(file, true, buffer))
    }

    /// Writes `file`, an open file, from its start; whole blocks around the page cache when
    /// `direct` and the file system allows it.
    pub(crate) fn over(file: File, direct: bool, buffer: usize) -> DirectFile {
        let size = buffer.clamp(BLOCK, MAX_BUFFER) / BLOCK * BLOCK;
        DirectFile { file, direct, direct_now: false, mem: Vec::new(), start: 0, size, len: 0, held: Vec::new(), at: 0 }
    }

    /// Sets or clears `O_DIRECT` on the descriptor. A file system that refuses it turns
    /// direct writes off for good.
    fn set_direct(&mut self, on: bool) -> std::io::Result<()> {
        if self.direct_now == on {
            return Ok(());
        }
        let flags = rustix::fs::fcntl_getfl(&self.file)?;
        let flags = if on { flags | rustix::fs::OFlags::DIRECT } else { flags - rustix::fs::OFlags::DIRECT };
        match rustix::fs::fcntl_setfl(&self.file, flags) {
            Ok(()) => self.direct_now = on,
            Err(_) if on => self.direct = false,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Takes the buffer (again), with the partial last block held while it was released.
    fn take_buffer(&mut self) {
        if !self.mem.is_empty() {
            return;
        }
        self.mem = vec![0u8; self.size + BLOCK];
        self.start = self.mem.as_ptr().align_offset(BLOCK).min(BLOCK);
        let held = std::mem::take(&mut self.held);
        if let Some(dst) = self.mem.get_mut(self.start..self.start + held.len()) {
            dst.copy_from_slice(&held);
        }
        self.len = held.len();
    }

    /// Flushes and gives the buffer back until the next write, keeping only the partial last
    /// block: for a recording that has gone quiet.
    pub fn release(&mut self) -> std::io::Result<()> {
        self.flush()?;
        if self.mem.is_empty() {
            return Ok(());
        }
        self.held = self.mem.get(self.start..self.start + self.len).unwrap_or_default().to_vec();
        self.mem = Vec::new();
        self.len = 0;
        Ok(())
    }

    /// Whether whole blocks still go around the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes out the whole blocks the buffer holds (all of it when not direct), keeping the
    /// partial last block at the start of the buffer.
    fn write_blocks(&mut self) -> std::io::Result<()> {
        if self.mem.is_empty() || self.len < BLOCK && self.direct {
            return Ok(());
        }
        if self.direct {
            self.set_direct(true)?;
        }
        let whole = if self.direct { self.len / BLOCK * BLOCK } else { self.len };
        let buf = self.mem.get(self.start..self.start + self.len).unwrap_or_default();
        let head = buf.get(..whole).unwrap_or_default();
        if let Err(e) = self.file.write_all_at(head, self.at) {
            // The file system took the flag but not this write (alignment rules stricter
            // than BLOCK): the same bytes go through the page cache, from now on.
            if !(self.direct_now && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())) {
                return Err(e);
            }
            self.direct = false;
            self.set_direct(false)?;
            let buf = self.mem.get(self.start..self.start + self.len).unwrap_or_default();
            self.file.write_all_at(buf, self.at)?;
            self.at += self.len as u64;
            self.len = 0;
            return Ok(());
        }
        self.mem.copy_within(self.start + whole..self.start + self.len, self.start);
        self.at += whole as u64;
        self.len -= whole;
        Ok(())
    }

    /// Flushes, then makes the file durable (`fsync`).
    pub fn sync_all(&mut self) -> std::io::Result<()> {
        self.flush()?;
        self.file.sync_all()
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.take_buffer();
        if self.len == self.size {
            self.write_blocks()?;
        }
        let n = data.len().min(self.size - self.len);
        let at = self.start + self.len;
        if let (Some(dst), Some(src)) = (self.mem.get_mut(at..at + n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len += n;
        Ok(n)
    }

    /// Takes every slice, writing blocks out as the buffer fills. An error after some bytes
    /// were taken reports those bytes (the error comes back on the next call), so a
    /// [`crate::Hashing`] above hashes exactly what the buffer holds.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            let mut rest: &[u8] = b;
            while !rest.is_empty() {
                let k = match self.write(rest) {
                    Ok(k) => k,
                    Err(_) if n > 0 => return Ok(n),
                    Err(e) => return Err(e),
                };
                rest = rest.get(k..).unwrap_or_default();
                n += k;
            }
        }
        Ok(n)
    }

    /// Hands every byte written so far to the operating system: whole blocks directly, the
    /// partial last one through the page cache (see the module's text).
    fn flush(&mut self) -> std::io::Result<()> {
        self.write_blocks()?;
        if self.len > 0 && !self.mem.is_empty() {
            self.set_direct(false)?;
            let tail = self.mem.get(self.start..self.start + self.len).unwrap_or_default();
            self.file.write_all_at(tail, self.at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
