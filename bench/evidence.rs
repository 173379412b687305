//! Evidence bundles of a large session: `portcullis evidence export` and `evidence verify`
//! of the largest terminal recording of the run (an exec output path's), timed and with the peak
//! memory of each process, beside the plain tools doing the bulk of the same work (`tar czf`
//! of the recording, `sha256sum` of it). Both Portcullis commands stream the recording, so
//! their memory should stay near the plain tools' rather than grow with the recording.

use crate::harness::broker::{number, Broker};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to success; returns wall seconds and peak RSS in KiB (sampled from /proc).
fn timed_peak(mut cmd: Command) -> (f64, u64) {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let secs = start.elapsed().as_secs_f64();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(status.success(), "{cmd:?} failed: {status}\n{err}");
            return (secs, peak);
        }
        // Gone between the check and the read: the last sample stands.
        peak = peak.max(crate::procfs::status_kib(child.id(), "VmHWM").unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cell(secs: f64, kib: u64) -> String {
    format!("{secs:.1} s / {:.0} MiB", kib as f64 / 1024.0)
}

/// Adds the export and verify rows for the largest terminal recording of the run.
pub fn rows(broker: &Broker, rows: &mut Vec<(String, String, String)>) {
    let sealed: Vec<_> = broker
        .audit_of_kind("recording.sealed")
        .into_iter()
        .filter(|r| r["detail"]["what"] == "terminal")
        .collect();
    let biggest = sealed.iter().max_by_key(|r| number(&r["detail"]["bytes"]).unwrap_or(0)).expect("a sealed terminal recording");
    let session = biggest["subject"].as_str().and_then(|s| s.strip_prefix("session:")).expect("session subject").to_owned();
    let path = biggest["detail"]["path"].as_str().expect("recording path").to_owned();
    let mib = number(&biggest["detail"]["bytes"]).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle.tar.gz");

    let export = timed_peak(broker.command(&["evidence", "export", "--session", &session, "--output", bundle.to_str().expect("utf-8")]));
    let mut tar = Command::new("tar");
    tar.arg("czf").arg(dir.path().join("plain.tar.gz")).arg(&path);
    let plain = timed_peak(tar);
    rows.push((format!("evidence export, {mib:.0} MiB recording (time / peak RSS; direct: tar czf)"), cell(export.0, export.1), cell(plain.0, plain.1)));

    let mut verify = Command::new(crate::harness::broker::portcullis_bin());
    verify.arg("evidence").arg("verify").arg(&bundle);
    let verified = timed_peak(verify);
    let mut sum = Command::new("sha256sum");
    sum.arg(&path);
    let summed = timed_peak(sum);
    rows.push((format!("evidence verify, {mib:.0} MiB recording (time / peak RSS; direct: sha256sum)"), cell(verified.0, verified.1), cell(summed.0, summed.1)));
}
