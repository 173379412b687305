//! The file holds exactly the bytes written, in order, after every flush, whatever the sizes
//! of the writes, on a file system that takes direct writes and on one that refuses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// The buffer of the files under test.
const BUFFER: usize = 64 * 1024;

/// Bytes that differ from one position to the next, so a block written at the wrong offset
/// or twice shows.
fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8).collect()
}

/// Writes `sizes` one after another, flushing after the ones marked, and checks the file
/// after each flush and at the end.
fn check(dir: &Path, steps: &[(usize, bool)], direct: bool) -> bool {
    let path = dir.join("rec");
    let mut f = DirectFile::create_new(&path, BUFFER).unwrap();
    if !direct {
        f.direct = false;
    }
    let mut expected = Vec::new();
    for (i, &(n, flush)) in steps.iter().enumerate() {
        let data = pattern(n, i as u32);
        f.write_all(&data).unwrap();
        expected.extend_from_slice(&data);
        if flush {
            f.flush().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), expected, "after step {i}");
        }
    }
    f.sync_all().unwrap();
    let direct = f.is_direct();
    drop(f);
    assert_eq!(std::fs::read(&path).unwrap(), expected, "at the end");
    direct
}

const STEPS: &[(usize, bool)] = &[
    (24, true),
    (16 + 40, false),
    (5_000, true),
    (BUFFER, false),
    (3, true),
    (BLOCK, true),
    (BUFFER * 2 + 17, false),
    (1, true),
    (4_095, false),
    (65_056, true),
    (0, true),
];

#[test]
fn a_file_on_disk_holds_exactly_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    check(dir.path(), STEPS, true);
}

#[test]
fn where_direct_writes_are_refused_the_bytes_are_the_same() {
    // As on a file system that refused O_DIRECT at open: the ordinary descriptor alone.
    let dir = tempfile::tempdir().unwrap();
    assert!(!check(dir.path(), STEPS, false));
}

#[test]
fn vectored_writes_take_every_slice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    let mut f = DirectFile::create_new(&path, BUFFER).unwrap();
    let a = pattern(16, 1);
    let b = pattern(40, 2);
    let c = pattern(BUFFER + 100, 3);
    let n = f.write_vectored(&[IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)]).unwrap();
    assert_eq!(n, a.len() + b.len() + c.len());
    f.sync_all().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [a, b, c].concat());
}

#[test]
fn never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    std::fs::write(&path, b"evidence").unwrap();
    assert!(DirectFile::create_new(&path, BUFFER).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"evidence");
}

#[test]
fn without_a_flush_the_buffer_is_not_on_disk_yet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    let mut f = DirectFile::create_new(&path, BUFFER).unwrap();
    f.write_all(&pattern(100, 0)).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "held in the buffer");
    f.flush().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
}

#[test]
fn a_released_buffer_is_taken_again_with_the_partial_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    let mut f = DirectFile::create_new(&path, BUFFER).unwrap();
    let mut expected = Vec::new();
    for (i, n) in [5_000usize, 100, BUFFER + 3, 4_096, 1].into_iter().enumerate() {
        let data = pattern(n, i as u32);
        f.write_all(&data).unwrap();
        expected.extend_from_slice(&data);
        f.release().unwrap();
        assert!(f.mem.is_empty(), "the buffer is given back");
        assert!(f.held.len() < BLOCK, "only the partial last block is kept");
        assert_eq!(std::fs::read(&path).unwrap(), expected, "after release {i}");
        f.release().unwrap();
    }
    f.sync_all().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

#[test]
fn the_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    DirectFile::create_new(&path, BUFFER).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn one_descriptor_with_o_direct_set_only_for_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec");
    let mut f = DirectFile::create_new(&path, BUFFER).unwrap();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).filter(|t| *t == path).count();
    assert_eq!(fds(), 1);
    f.write_all(&pattern(BUFFER + 10, 0)).unwrap();
    assert!(f.direct_now, "the full buffer went out with O_DIRECT");
    f.flush().unwrap();
    assert!(!f.direct_now, "the partial block went through the page cache");
    assert_eq!(fds(), 1);
}

#[test]
fn a_vectored_write_that_fails_part_way_reports_what_it_took() {
    // /dev/full takes writes into the buffer and refuses them when the buffer goes out.
    let file = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut f = DirectFile::over(file, false, BLOCK);
    let a = pattern(BLOCK - 10, 1);
    let b = pattern(100, 2);
    let n = f.write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)]).unwrap();
    assert_eq!(n, BLOCK, "the bytes that fitted before the failed write are reported");
    assert!(f.write_vectored(&[IoSlice::new(&b[10..])]).is_err(), "the error comes back on the next call");
}
