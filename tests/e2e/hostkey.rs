//! Host-key pinning: when the device presents a host key other than the one registered,
//! the broker refuses to connect, tells the vendor the device is unavailable, runs nothing
//! on it, and audits the mismatch.

use crate::harness::scenario::Setup;
use std::time::Duration;

#[test]
fn changed_device_host_key_is_refused_and_audited() {
    let s = Setup::new("analyzer-7").start();
    s.grant(30, "INC-7001 reagent config");

    // With the registered key the device is reachable...
    let out = s.exec("echo reachable");
    out.assert_success();
    assert_eq!(out.stdout_text(), "reachable\n");

    // ...with another one it is not, and the command never runs.
    s.device.replace_host_key();
    let marker = s.device.dir().join("command-ran");
    let out = s.exec(&format!("touch {}; echo ran", marker.display()));
    out.assert_failure();
    assert!(
        out.all_text().contains("unavailable"),
        "vendor not told the device is unavailable:\n{}",
        out.describe()
    );
    assert!(!out.stdout_text().contains("ran"), "{}", out.describe());
    assert!(
        !marker.exists(),
        "the command ran on a device with the wrong host key"
    );
    s.broker
        .wait_for_audit("device.hostkey_mismatch", Duration::from_secs(30), |r| {
            r.to_string().contains("analyzer-7")
        });
}
