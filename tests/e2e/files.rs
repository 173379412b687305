//! File transfer through the broker with the real `sftp` and `scp` clients and the device's
//! real sftp-server: uploads and downloads arrive intact, and each is in the audit log with
//! its path, direction, size and SHA-256 (the hash of the bytes that actually went through,
//! computed by the broker in passing), along with the other file operations; the raw channel
//! is recorded and sealed. Legacy `scp -O` is refused with a clear message. (Each test
//! makes at most three connections, the number of TOTP codes usable without waiting.)

use crate::harness::broker::number;
use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn sha256_of(path: &Path) -> String {
    let out = proc::tool("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

/// A "firmware image": a few hundred KiB of varied bytes, so several SFTP writes are needed.
fn write_image(path: &Path, len: usize, salt: u8) {
    let bytes: Vec<u8> = (0..len).map(|i| ((i * 31 + i / 97) as u8) ^ salt).collect();
    std::fs::write(path, bytes).unwrap();
}

fn file_rows(s: &Scenario, path_suffix: &str, direction: &str) -> Vec<Value> {
    s.broker
        .audit_of_kind("sftp.file")
        .into_iter()
        .filter(|r| r["detail"]["direction"] == direction && r["detail"]["path"].as_str().is_some_and(|p| p.ends_with(path_suffix)))
        .collect()
}

fn wait_file_row(s: &Scenario, path_suffix: &str, direction: &str) -> Value {
    proc::poll_until(&format!("an sftp.file {direction} row for {path_suffix}"), Duration::from_secs(60), || {
        file_rows(s, path_suffix, direction).into_iter().next()
    })
}

#[test]
fn sftp_upload_and_download_are_logged_with_their_sha256() {
    let s = Setup::new("infusion-pump-12").start();
    s.grant_channels(30, "INC-4411 firmware update", "--files", &[]);
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fw-2.4.1.bin");
    write_image(&image, 700_000, 0x5a);
    let remote_dir = s.device.dir().join("firmware");
    let remote = remote_dir.join("fw.bin");
    let back = work.path().join("fw-back.bin");
    let batch = format!(
        "mkdir {dir}\nput {img} {remote}\nrename {remote} {remote}.new\nrename {remote}.new {remote}\nget {remote} {back}\nrm {remote}\nrmdir {dir}\n",
        dir = remote_dir.display(),
        img = image.display(),
        remote = remote.display(),
        back = back.display()
    );
    let batch_file = work.path().join("batch");
    std::fs::write(&batch_file, batch).unwrap();
    let mut sftp = s.vendor.file_client("sftp", s.broker.ssh_addr(), &s.device_login());
    sftp.args(["-b", batch_file.to_str().unwrap(), "127.0.0.1"]);
    proc::run(sftp, Duration::from_secs(120)).assert_success();

    let want = sha256_of(&image);
    assert_eq!(sha256_of(&back), want, "the downloaded file differs from the uploaded one");
    assert!(!remote.exists(), "rm did not reach the device");

    let up = wait_file_row(&s, "/firmware/fw.bin", "upload");
    assert_eq!(up["detail"]["sha256"], want, "{up}");
    assert_eq!(number(&up["detail"]["bytes"]), Some(700_000), "{up}");
    assert_eq!(up["detail"]["complete"], true, "{up}");
    let down = wait_file_row(&s, "/firmware/fw.bin", "download");
    assert_eq!(down["detail"]["sha256"], want, "{down}");
    assert_eq!(down["detail"]["complete"], true, "{down}");

    let ops: Vec<Value> = s.broker.audit_of_kind("sftp.op");
    for op in ["mkdir", "open", "rename", "remove", "rmdir"] {
        assert!(ops.iter().any(|r| r["detail"]["op"] == op && r["detail"]["status"] == "ok"), "no successful {op} in {ops:?}");
    }
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(60), |r| r["detail"]["what"] == "sftp");
    let rec = s.broker.data_dir.join(sealed["detail"]["path"].as_str().unwrap());
    assert_eq!(sealed["detail"]["sha256"], sha256_of(&rec), "{sealed}");
    // The raw channel holds the image bytes (uploaded, then downloaded).
    let raw = std::fs::read(&rec).unwrap();
    assert!(raw.len() > 2 * 700_000, "the recording is too small to hold the transfer: {} bytes", raw.len());

    // scp -O runs `scp -t` on the far side: refused, with a message saying what to use.
    let mut legacy = s.vendor.file_client("scp", s.broker.ssh_addr(), &s.device_login());
    legacy.arg("-O").arg(&image).arg(format!("127.0.0.1:{}-legacy.bin", remote_dir.display()));
    let out = proc::run(legacy, Duration::from_secs(120));
    out.assert_failure();
    assert!(out.all_text().contains("legacy scp"), "{}", out.describe());
    assert!(!Path::new(&format!("{}-legacy.bin", remote_dir.display())).exists(), "legacy scp wrote to the device");
    s.broker.wait_for_audit("channel.refused", Duration::from_secs(60), |r| r["detail"]["what"] == "scp-legacy");
}

#[test]
fn scp_uses_sftp_and_is_logged() {
    let s = Setup::new("lab-analyzer-7").start();
    s.grant_channels(30, "INC-4412 config backup", "--files --shell", &[]);
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("config.tar");
    write_image(&local, 200_000, 0x11);
    let want = sha256_of(&local);
    let remote = s.device.dir().join("config.tar");

    let mut up = s.vendor.file_client("scp", s.broker.ssh_addr(), &s.device_login());
    up.arg(&local).arg(format!("127.0.0.1:{}", remote.display()));
    proc::run(up, Duration::from_secs(120)).assert_success();
    assert_eq!(sha256_of(&remote), want);
    let row = wait_file_row(&s, "/config.tar", "upload");
    assert_eq!(row["detail"]["sha256"], want, "{row}");

    let back = work.path().join("config-back.tar");
    let mut down = s.vendor.file_client("scp", s.broker.ssh_addr(), &s.device_login());
    down.arg(format!("127.0.0.1:{}", remote.display())).arg(&back);
    proc::run(down, Duration::from_secs(120)).assert_success();
    assert_eq!(sha256_of(&back), want);
    let row = wait_file_row(&s, "/config.tar", "download");
    assert_eq!(row["detail"]["sha256"], want, "{row}");
}

/// One SFTP packet: length, type, fields.
fn sftp_packet(kind: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = vec![kind];
    for f in fields {
        body.extend_from_slice(f);
    }
    let mut p = (body.len() as u32).to_be_bytes().to_vec();
    p.extend(body);
    p
}

fn sftp_string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// `OPEN id path` for writing (create, truncate), with no attributes.
fn sftp_open(id: u32, path: &Path) -> Vec<u8> {
    sftp_packet(3, &[&id.to_be_bytes(), &sftp_string(path.to_str().unwrap().as_bytes()), &0x1au32.to_be_bytes(), &0u32.to_be_bytes()])
}

/// Runs the `sftp` subsystem through the broker with the real `ssh` client, feeding it raw
/// SFTP packets written by hand: what a hostile client sends.
fn raw_sftp(s: &Scenario, packets: &[Vec<u8>]) -> proc::Output {
    let mut ssh = s.vendor.ssh(s.broker.ssh_addr(), &s.device_login(), crate::harness::vendor::Code::Next);
    ssh.args(["-T", "-s", "127.0.0.1", "sftp"]);
    let mut input = sftp_packet(1, &[&3u32.to_be_bytes()]);
    for p in packets {
        input.extend_from_slice(p);
    }
    proc::run_with_input(ssh, input, Duration::from_secs(120))
}

/// Finding: `OPEN id=7 decoy.bin`, then `OPEN id=7 firmware.bin`, made the log credit the
/// decoy's bytes to firmware.bin. Now the second OPEN never reaches the device: the channel is
/// closed with the reason, told to the vendor and audited (`sftp.aborted`). A write through a
/// handle that no open returned is refused the same way.
#[test]
fn a_forged_sftp_stream_is_stopped_before_the_device() {
    let s = Setup::new("infusion-pump-13").start();
    s.grant_channels(30, "INC-4413 firmware", "--files", &[]);
    let decoy = s.device.dir().join("decoy.bin");
    let firmware = s.device.dir().join("firmware.bin");

    let out = raw_sftp(&s, &[sftp_open(7, &decoy), sftp_open(7, &firmware)]);
    assert!(out.stderr_text().contains("the file transfer was stopped"), "{}", out.describe());
    assert!(out.stderr_text().contains("reused the id"), "{}", out.describe());
    let row = s.broker.wait_for_audit("sftp.aborted", Duration::from_secs(60), |r| r["detail"]["why"].as_str().is_some_and(|w| w.contains("reused")));
    assert_eq!(row["subject"].as_str().map(|x| x.starts_with("session:")), Some(true), "{row}");
    assert!(!firmware.exists(), "the second OPEN reached the device");

    let forged_write = sftp_packet(6, &[&9u32.to_be_bytes(), &sftp_string(b"\0\0\0\0"), &0u64.to_be_bytes(), &sftp_string(b"evil")]);
    let out = raw_sftp(&s, &[forged_write]);
    assert!(out.stderr_text().contains("no open returned"), "{}", out.describe());
    s.broker.wait_for_audit("sftp.aborted", Duration::from_secs(60), |r| r["detail"]["why"].as_str().is_some_and(|w| w.contains("no open returned")));
    // The file audit of what did pass is still right: nothing claims firmware.bin.
    assert!(file_rows(&s, "/firmware.bin", "upload").is_empty());
}
