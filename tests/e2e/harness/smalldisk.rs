//! A small filesystem the test can fill: a tmpfs of a given size mounted on a fresh folder
//! (`mount -t tmpfs -o size=…`, so the tests that use it run as root). [`SmallDisk::fill`]
//! writes a filler file until the filesystem says it is full (ENOSPC), [`SmallDisk::free`]
//! removes it. Dropping it unmounts the folder (lazily if something still holds it open)
//! and removes it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted when dropped.
pub struct SmallDisk {
    /// Holds the mount point; removed after the unmount.
    _root: tempfile::TempDir,
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`4m`, `512k`, …) on a fresh folder.
    pub fn mount(size: &str) -> SmallDisk {
        let root = tempfile::Builder::new().prefix("portcullis-small-disk-").tempdir().expect("tempdir");
        let dir = root.path().join("disk");
        std::fs::create_dir(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "cannot mount a tmpfs (these tests run as root): {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk { _root: root, dir }
    }

    /// The mounted folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Fills the filesystem: appends to the filler file until a write is refused for want of
    /// space. Returns the bytes the filler holds.
    pub fn fill(&self) -> u64 {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.filler()).expect("open the filler");
        let block = vec![0x5au8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", self.dir.display()),
            }
        }
        // A byte at a time, so not even a partial block is left.
        while let Ok(1) = f.write(&block[..1]) {}
        let _ = f.sync_all();
        std::fs::metadata(self.filler()).map(|m| m.len()).unwrap_or(0)
    }

    /// Removes the filler: the space is back.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }

    /// Bytes still free, as `df` sees them.
    pub fn available(&self) -> u64 {
        let out = Command::new("df").args(["--output=avail", "-B1"]).arg(&self.dir).output().expect("run df");
        String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.dir).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Something (a broker being killed) still holds a file open: detach now, the
            // kernel frees it when the last holder lets go.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
