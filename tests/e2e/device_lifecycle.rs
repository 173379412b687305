//! A device's second day: its firmware update brings a new host key and a new credential.
//! Until an administrator re-pins it, the broker refuses the changed key (the vendor is told
//! the device is unavailable and nothing runs on it); a re-pin fetched from the network shows
//! both fingerprints and needs confirmation; the old credential no longer opens the device;
//! once the credential is rotated and the settings edited, the vendor's session works again,
//! and every change is in the audit log with its old and new values but never the secret.

use crate::harness::scenario::Setup;
use serde_json::Value;
use std::time::Duration;

const AUDIT_WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_device_edited_rotated_and_repinned_after_a_firmware_update_serves_vendors_again() {
    let s = Setup::new("pump-firmware").tcp_ports(&[443]).start();
    let b = &s.broker;
    let name = s.device.name.clone();
    s.grant(30, "INC-8300 firmware update");
    s.exec("echo before").assert_success();
    let show = || b.cli_json(&["device", "show", &name, "--json"]);
    let old_fp = show()["host_key_fingerprint"].as_str().expect("fingerprint").to_owned();

    // The firmware update: a new host key and a new credential on the device.
    s.device.replace_host_key();
    let new_key = s.device.replace_credential();

    // Before the re-pin the broker refuses the changed key; nothing runs on the device.
    let marker = s.device.dir().join("ran-before-repin");
    let out = s.exec(&format!("touch {}; echo ran", marker.display()));
    out.assert_failure();
    assert!(out.all_text().contains("unavailable"), "{}", out.describe());
    assert!(!marker.exists(), "a command ran on a device presenting an unpinned key");
    b.wait_for_audit("device.hostkey_mismatch", AUDIT_WAIT, |r| r["subject"] == format!("device:{name}"));

    // A fetched key is shown with the pinned one, and not pinned without confirmation.
    let out = b.cli(&["device", "repin", &name, "--fetch-host-key"]);
    out.assert_failure();
    assert!(out.stderr_text().contains(&old_fp) && out.stderr_text().contains("--yes"), "{}", out.describe());
    assert_eq!(show()["host_key_fingerprint"], old_fp.as_str(), "pinned without confirmation");
    let pinned = b.cli_json(&["device", "repin", &name, "--fetch-host-key", "--yes", "--json"]);
    assert_eq!(pinned["old_fingerprint"], old_fp.as_str(), "{pinned}");
    let new_fp = pinned["new_fingerprint"].as_str().expect("new fingerprint").to_owned();
    assert_ne!(new_fp, old_fp);
    assert_eq!(show()["host_key_fingerprint"], new_fp.as_str());
    // Pinning the same key again changes nothing.
    b.cli(&["device", "repin", &name, "--fetch-host-key", "--yes"]).assert_failure();

    // The old credential no longer opens the device.
    s.exec("echo old-credential").assert_failure();

    let key = new_key.to_str().expect("utf-8 path");
    let rotated = b.cli_json(&["device", "rotate-credential", &name, "--key-file", key, "--json"]);
    assert_eq!(rotated["credential"], "private-key", "{rotated}");
    let edited = b.cli_json(&["device", "edit", &name, "--zone", "radiology", "--tcp-port", "104", "--tcp-port", "443", "--json"]);
    assert_eq!((edited["zone"].as_str(), edited["tcp_ports"].clone()), (Some("radiology"), serde_json::json!([104, 443])), "{edited}");

    let out = s.exec("echo after-$((40+2))");
    out.assert_success();
    assert_eq!(out.stdout_text(), "after-42\n");

    // Each change is audited with old and new values, by the operating-system user.
    let row = |kind: &str| -> Value { b.wait_for_audit(kind, AUDIT_WAIT, |r| r["subject"] == format!("device:{name}")) };
    let repinned = row("device.repinned");
    assert_eq!(repinned["detail"]["host_key_fingerprint"], serde_json::json!({ "old": old_fp, "new": new_fp }), "{repinned}");
    assert_eq!(repinned["detail"]["source"], "fetched");
    assert!(repinned["actor"].as_str().is_some_and(|a| a.starts_with("cli:")), "{repinned}");
    let rotated = row("device.credential_rotated");
    assert_eq!(rotated["detail"]["credential"], serde_json::json!({ "old": "private-key", "new": "private-key" }), "{rotated}");
    let edited = row("device.edited");
    assert_eq!(edited["detail"]["changes"]["zone"], serde_json::json!({ "old": "icu", "new": "radiology" }), "{edited}");
    assert_eq!(edited["detail"]["changes"]["tcp_ports"], serde_json::json!({ "old": [443], "new": [104, 443] }), "{edited}");
    let secret = std::fs::read_to_string(&new_key).expect("read key");
    let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
    let log = serde_json::to_string(&b.audit()).expect("json");
    assert!(!log.contains(&body[..40]), "the new private key reached the audit log");
}

#[test]
fn an_inventory_with_a_bad_line_imports_nothing_and_says_which_line() {
    let s = Setup::new("pump-inventory").start();
    let b = &s.broker;
    let dir = b.data_dir.join("inventory");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("svc.pw"), "device-pw\n").expect("write");
    let host_key = s.device.host_key_line();
    let header = "name,address,login,criticality,zone,tcp_ports,host_key,password_file,key_file";
    let good = |n: u32| format!("lab-{n},10.30.0.{n}:22,service,standard,lab,,{host_key},svc.pw,");
    let mut lines = vec![header.to_owned()];
    lines.extend((1..=40).map(good));
    lines.push(format!("lab-41,10.30.0.41,service,standard,lab,,{host_key},svc.pw,"));
    lines.push(format!("lab-42,10.30.0.42:22,service,extreme,lab,,{host_key},svc.pw,"));
    lines.push(good(7));
    let csv = dir.join("inventory.csv");
    std::fs::write(&csv, lines.join("\n")).expect("write csv");
    let path = csv.to_str().expect("utf-8");

    for dry in [true, false] {
        let mut args = vec!["device", "import", path, "--json"];
        if dry {
            args.push("--dry-run");
        }
        let out = b.cli(&args);
        out.assert_failure();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
        let refused: Vec<u64> = report["errors"].as_array().expect("errors").iter().filter_map(|e| e["line"].as_u64()).collect();
        assert_eq!(refused, vec![42, 43, 44], "{report}");
        let all = report.to_string();
        assert!(all.contains("HOST:PORT") && all.contains("criticality") && all.contains("twice"), "{report}");
    }
    let devices = b.cli_json(&["device", "list", "--json"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "a refused inventory enrolled devices: {devices}");

    lines.truncate(41);
    std::fs::write(&csv, lines.join("\n")).expect("write csv");
    let dry = b.cli_json(&["device", "import", path, "--dry-run", "--json"]);
    assert_eq!(dry["would_import"].as_array().map(Vec::len), Some(40), "{dry}");
    assert_eq!(b.cli_json(&["device", "list", "--json"]).as_array().map(Vec::len), Some(1));
    let done = b.cli_json(&["device", "import", path, "--json"]);
    assert_eq!(done["imported"].as_array().map(Vec::len), Some(40), "{done}");
    assert_eq!(b.cli_json(&["device", "list", "--json"]).as_array().map(Vec::len), Some(41));
    assert_eq!(b.audit_of_kind("device.created").iter().filter(|r| r["detail"]["imported"] == true).count(), 40);
}
