//! OpenSSH's `ssh`, `scp` and `sftp`, through the harness's vendor (the code answered by
//! askpass). The other end-to-end tests use OpenSSH throughout (files, tunnels, terminals in
//! depth); this is its row of the matrix, every capability once against one grant.

use super::{tunnel_payload, Rig};
use crate::harness::proc;
use crate::harness::vendor::Code;
use std::time::Duration;

#[test]
fn openssh_runs_a_command_a_terminal_sftp_and_a_tunnel() {
    let rig = Rig::start("ventilator-71", "INC-8501 OpenSSH check");
    let s = &rig.s;

    let out = s.exec("echo from-openssh; exit 4");
    assert_eq!(out.code(), Some(4), "{}", out.describe());
    assert_eq!(out.stdout_text(), "from-openssh\n", "{}", out.describe());
    assert!(s.vendor.prompts().contains("Verification code"), "{}", s.vendor.prompts());

    let out = s.exec_with(&["-tt"], "tty");
    out.assert_success();
    assert!(out.stdout_text().starts_with("/dev/pts/"), "{}", out.describe());

    let image = rig.sample_file("fw-7.1.bin", 200_000, 0x71);
    let remote = s.device.dir().join("fw-openssh.bin");
    let batch = rig.work.path().join("batch");
    std::fs::write(&batch, format!("put {} {}\n", image.display(), remote.display())).unwrap();
    let mut sftp = s.vendor.file_client("sftp", s.broker.ssh_addr(), &s.device_login());
    sftp.args(["-b", batch.to_str().unwrap(), "127.0.0.1"]);
    proc::run(sftp, Duration::from_secs(90)).assert_success();
    assert_eq!(super::sha256_of(&remote), super::sha256_of(&image));
    rig.assert_upload_logged("/fw-openssh.bin", &image);

    let (device, port) = rig.tunnel_spec();
    let mut w = s.vendor.ssh(s.broker.ssh_addr(), &s.vendor.name, Code::Next);
    w.args(["-W", &format!("{device}:{port}"), "127.0.0.1"]);
    let data = tunnel_payload();
    let out = proc::run_with_input(w, data.clone(), Duration::from_secs(90));
    assert!(out.stdout == data, "the tunnel did not carry the bytes both ways:\n{}", out.describe());
}
