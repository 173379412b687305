//! The Debian package, for real (needs root, `cargo deb`, `systemd-analyze` and `openssl`;
//! scripts/test.sh installs them): `cargo deb` packs the binary this run built, `dpkg -i`
//! installs it (the `portcullis` system user, the configuration, the data folder initialised
//! by postinst as that user), the unit's own `ExecStart=` runs as that user with the unit's
//! privileges (only CAP_NET_BIND_SERVICE, no new privileges, no writable and executable
//! memory), serves /readyz and the vendors' lobby, reloads its certificate and policy on SIGHUP
//! with an ssh session open (and refuses a broken certificate or policy, keeping the old), and
//! `dpkg --purge` removes what it installed. The shipped unit's `systemd-analyze security`
//! exposure is held at or below 2.0.

use crate::harness::debpkg::{self, Installed, CONFIG, DATA, FIRST_ADMIN, UNIT};
use crate::harness::proc::{self, Capture};
use crate::harness::vendor::Vendor;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// `systemd-analyze security --offline=true` of the unit: its overall exposure figure.
fn exposure(unit: &Path) -> (f64, String) {
    let out = debpkg::run("systemd-analyze", &["security", "--offline=true", "--no-pager", unit.to_str().expect("utf-8 path")]);
    let text = out.all_text();
    let figure = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ").map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split_once(": ").and_then(|(_, v)| v.split_whitespace().next().map(str::to_owned)))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level from systemd-analyze ({}):\n{}", out.status, out.describe()));
    (figure, text)
}

#[test]
fn unit_exposure_is_at_most_two() {
    let unit = debpkg::workspace().join("deploy/portcullis.service");
    let (figure, text) = exposure(&unit);
    assert!(figure <= 2.0, "exposure {figure} > 2.0:\n{text}");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    for setting in ["CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "MemoryDenyWriteExecute=yes", "ReadWritePaths=/var/lib/portcullis", "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=65536"] {
        assert!(unit_text.lines().any(|l| l.trim() == setting), "the unit lacks {setting}");
    }
}

/// The node started from the unit's command line; killed on drop.
struct Node {
    child: Child,
    output: Capture,
    ssh: SocketAddr,
    web: SocketAddr,
}

impl Node {
    fn start() -> Node {
        let unit = std::fs::read_to_string(UNIT).unwrap_or_else(|e| panic!("{UNIT}: {e}"));
        let argv = debpkg::exec_start(&unit);
        assert_eq!(argv.first().map(String::as_str), Some("/usr/bin/portcullis"), "{argv:?}");
        let mut cmd = debpkg::as_service_user(&argv);
        // The package listens on 22 and 8443; the test takes free loopback ports.
        for (var, value) in [("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0"), ("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0"), ("PORTCULLIS_METRICS_LISTEN", "127.0.0.1:0")] {
            cmd.env(var, value);
        }
        let (child, output) = Capture::spawn(&mut cmd);
        let addr = |what: &str| -> SocketAddr {
            let needle = format!("{what} listening on ");
            let at = output.wait_for(&needle, 0, WAIT).unwrap_or_else(|| panic!("no `{needle}`:\n{}", output.text()));
            let end = output.wait_for("\n", at, WAIT).unwrap_or_else(|| panic!("no end of line after `{needle}`:\n{}", output.text()));
            let text = output.text();
            text[at..end].trim().parse().unwrap_or_else(|e| panic!("{what} address ({e}):\n{text}"))
        };
        let (ssh, web) = (addr("ssh"), addr("web"));
        Node { child, output, ssh, web }
    }

    fn hup(&self) {
        debpkg::run("kill", &["-HUP", &self.child.id().to_string()]).assert_success();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- the node's output ---\n{}", self.output.text());
        }
    }
}

/// The audit rows of `kind`, read with the CLI as the service user.
fn audit_of_kind(kind: &str) -> Vec<serde_json::Value> {
    let out = debpkg::cli(&["audit", "tail", "--json", "-n", "1000"]);
    out.assert_success();
    let rows: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap_or_else(|e| panic!("audit tail --json ({e}):\n{}", out.describe()));
    rows.as_array().cloned().unwrap_or_default().into_iter().filter(|v| v["kind"] == kind).collect()
}

fn wait_audit(kind: &str, count: usize) -> Vec<serde_json::Value> {
    proc::poll_until(&format!("{count} `{kind}` audit rows"), WAIT, || Some(audit_of_kind(kind)).filter(|rows| rows.len() >= count))
}

/// Reads the `mode owner group` of each installed path and checks the service user.
fn check_installed_files(install: &Installed) {
    assert!(install.install_output.contains(FIRST_ADMIN), "postinst did not say where the first admin's password went:\n{}", install.install_output);
    let passwd = debpkg::run("getent", &["passwd", "portcullis"]);
    passwd.assert_success();
    let fields: Vec<String> = passwd.stdout_text().trim().split(':').map(str::to_owned).collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "not a system user: {fields:?}");
    assert_eq!((fields[5].as_str(), fields[6].as_str()), (DATA, "/usr/sbin/nologin"), "{fields:?}");
    assert_eq!(debpkg::owner_and_mode(DATA), (0o750, "portcullis".into(), "portcullis".into()));
    assert_eq!(debpkg::owner_and_mode(CONFIG), (0o640, "root".into(), "portcullis".into()));
    // init ran as the service user: everything it made is the user's, the secrets private.
    for secret in ["keys/vault.key", "keys/audit_ed25519.pk8", "keys/web_token.key", "keys/ssh_host_ed25519", "tls/key.pem", "portcullis.db"] {
        let (mode, owner, _) = debpkg::owner_and_mode(&format!("{DATA}/{secret}"));
        assert_eq!((mode & 0o077, owner.as_str()), (0, "portcullis"), "{secret}: mode {mode:o} owner {owner}");
    }
    for folder in ["keys", "tls", "recordings"] {
        assert_eq!(debpkg::owner_and_mode(&format!("{DATA}/{folder}")), (0o700, "portcullis".into(), "portcullis".into()), "{folder}");
    }
    assert!(!Path::new(&format!("{DATA}/portcullis.toml")).exists(), "init wrote a second configuration");
    let (mode, owner, _) = debpkg::owner_and_mode(FIRST_ADMIN);
    assert_eq!((mode, owner.as_str()), (0o600, "root"));
    let first = std::fs::read_to_string(FIRST_ADMIN).unwrap();
    assert!(first.contains("user admin created") && first.contains("one-time password:"), "{first}");
    let units = debpkg::run("dpkg", &["-L", "portcullis"]).stdout_text();
    assert!(units.lines().any(|l| l == UNIT), "{units}");
}

#[test]
fn debian_package_installs_serves_reloads_and_purges() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = debpkg::build(&tmp.path().join("deb"));
    let install = Installed::install(&deb);
    check_installed_files(&install);
    let vault_before = std::fs::read(format!("{DATA}/keys/vault.key")).unwrap();
    let first_before = std::fs::read(FIRST_ADMIN).unwrap();
    // Reinstalling (the same as an upgrade's configure) keeps every key and runs no second init.
    let again = debpkg::run("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(again.success(), "{}", again.describe());
    assert!(!again.all_text().contains(FIRST_ADMIN), "a reinstall ran init again:\n{}", again.describe());
    assert_eq!(std::fs::read(format!("{DATA}/keys/vault.key")).unwrap(), vault_before);
    assert_eq!(std::fs::read(FIRST_ADMIN).unwrap(), first_before);
    check_installed_files(&install);

    // A vendor and a device, made with the CLI as the service user.
    let shared = tempfile::Builder::new().prefix("portcullis-pkg-").tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut vendor = Vendor::new("pkg-vendor");
    let public = shared.path().join("vendor.pub");
    std::fs::copy(vendor.public_key(), &public).unwrap();
    std::fs::set_permissions(&public, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let added = debpkg::cli(&["user", "add", "pkg-vendor", "--role", "vendor", "--org", "Acme", "--ssh-key", public.to_str().unwrap(), "--json"]);
    added.assert_success();
    let json: serde_json::Value = serde_json::from_str(&added.stdout_text()).unwrap();
    vendor.set_totp(json["totp_secret"].as_str().unwrap());
    let pw = shared.path().join("device.pw");
    std::fs::write(&pw, "not-a-real-device\n").unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    debpkg::cli(&["device", "add", "pkg-pump", "--address", "127.0.0.1:9", "--login", "service", "--password-file", pw.to_str().unwrap(), "--host-key", host_key, "--criticality", "standard", "--zone", "lab"]).assert_success();

    // The unit's command, as the unit runs it: ready, and the lobby answers.
    let node = Node::start();
    let status = node.child.id();
    let proc_status = std::fs::read_to_string(format!("/proc/{status}/status")).unwrap();
    assert!(proc_status.lines().any(|l| l.starts_with("CapEff:") && l.ends_with("0000000000000400")), "{proc_status}");
    let ready = proc::tool("curl", &["-sk", "-o", "/dev/null", "-w", "%{http_code}", &format!("https://{}/readyz", node.web)]);
    assert_eq!(ready, "200");
    let installed_cert = debpkg::file_certificate(Path::new(&format!("{DATA}/tls/cert.pem")));
    assert_eq!(debpkg::served_certificate(node.web).as_deref(), Some(installed_cert.as_str()));
    let mut lobby = vendor.interactive(node.ssh, "pkg-vendor", &[]);
    lobby.expect("portcullis> ", WAIT);
    lobby.send_line("request pkg-pump --minutes 90 --reason INC-1 before the reload");
    lobby.expect("#", WAIT);

    // A new certificate and a tighter policy; SIGHUP with the session open.
    let certs = tempfile::tempdir().unwrap();
    let (new_dir, bad_dir) = (certs.path().join("new"), certs.path().join("bad"));
    std::fs::create_dir_all(&new_dir).unwrap();
    std::fs::create_dir_all(&bad_dir).unwrap();
    let (new_cert, new_key) = debpkg::new_certificate(&new_dir, "portcullis-new");
    let new_sha = debpkg::file_certificate(&new_cert);
    debpkg::install_as_service_file(&new_cert, &format!("{DATA}/tls/cert.pem"));
    debpkg::install_as_service_file(&new_key, &format!("{DATA}/tls/key.pem"));
    let shipped = std::fs::read_to_string(CONFIG).unwrap();
    std::fs::write(CONFIG, format!("{shipped}\n[policy]\nmax_minutes = 60\n")).unwrap();
    node.hup();
    let reloaded = wait_audit("node.reloaded", 1);
    assert_eq!(reloaded[0]["detail"]["certificate_sha256"], new_sha.as_str(), "{reloaded:?}");
    assert_eq!(debpkg::served_certificate(node.web).as_deref(), Some(new_sha.as_str()), "a new handshake must see the new certificate");
    lobby.send_line("request pkg-pump --minutes 90 --reason INC-2 after the reload");
    lobby.expect("minutes must be from 1 to 60", WAIT);

    // Hostile: a certificate that does not match the key in place, then a good certificate
    // with a broken policy. Both refused whole: the certificate served stays the new one.
    let (other_cert, _) = debpkg::new_certificate(&bad_dir, "portcullis-mismatched");
    debpkg::install_as_service_file(&other_cert, &format!("{DATA}/tls/cert.pem"));
    node.hup();
    let refused = wait_audit("node.reload_refused", 1);
    assert!(refused[0]["detail"]["error"].as_str().unwrap_or_default().contains("certificate"), "{refused:?}");
    assert_eq!(debpkg::served_certificate(node.web).as_deref(), Some(new_sha.as_str()));
    let (fresh_cert, fresh_key) = debpkg::new_certificate(&bad_dir, "portcullis-fresh");
    debpkg::install_as_service_file(&fresh_cert, &format!("{DATA}/tls/cert.pem"));
    debpkg::install_as_service_file(&fresh_key, &format!("{DATA}/tls/key.pem"));
    std::fs::write(CONFIG, format!("{shipped}\n[policy]\nmax_minutes = 0\n")).unwrap();
    node.hup();
    // (The CLI cannot read the audit log while the configuration is broken: the node's log.)
    proc::poll_until("a second refused reload", WAIT, || (node.output.text().matches("reload refused").count() >= 2).then_some(()));
    assert_eq!(debpkg::served_certificate(node.web).as_deref(), Some(new_sha.as_str()), "a refused reload must not apply its certificate");
    std::fs::write(CONFIG, format!("{shipped}\n[policy]\nmax_minutes = 60\n")).unwrap();
    let refused = wait_audit("node.reload_refused", 2);
    assert!(refused.iter().any(|r| r["detail"]["error"].as_str().unwrap_or_default().contains("policy.max_minutes")), "{refused:?}");
    lobby.send_line("request pkg-pump --minutes 90 --reason INC-3 policy kept");
    lobby.expect("minutes must be from 1 to 60", WAIT);
    // The session opened before every reload is still up and answering.
    lobby.send_line("status");
    lobby.expect("portcullis> ", WAIT);
    lobby.send_line("exit");
    lobby.wait_exit(WAIT);
    drop(node);

    // Remove keeps the data and the configuration; purge deletes them.
    let vault = std::fs::read(format!("{DATA}/keys/vault.key")).unwrap();
    let removed = debpkg::run("dpkg", &["--remove", "portcullis"]);
    assert!(removed.success(), "{}", removed.describe());
    assert_eq!(debpkg::dpkg_state().as_deref(), Some("config-files"));
    assert!(!Path::new("/usr/bin/portcullis").exists() && !Path::new(UNIT).exists());
    assert_eq!(std::fs::read(format!("{DATA}/keys/vault.key")).unwrap(), vault, "remove must keep the data");
    assert!(Path::new(CONFIG).exists(), "remove must keep the configuration");
    let purged = install.purge();
    assert!(purged.success(), "{}", purged.describe());
    assert!(debpkg::dpkg_state().is_none(), "{:?}", debpkg::dpkg_state());
    for gone in [DATA, CONFIG, "/etc/portcullis"] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
}
