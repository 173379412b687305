//! The Debian package under test: built with `cargo deb` from the binary this test run
//! built (no second build), installed with the real `dpkg`, and purged when the test ends,
//! even when it fails. Installing touches the whole machine (the `portcullis` system user,
//! /etc/portcullis, /var/lib/portcullis), so [`Installed::install`] needs root and refuses a
//! machine where a `portcullis` package is already installed or its files are left: a test
//! must never purge a real install. A missing prerequisite fails; nothing is skipped.

use super::broker::portcullis_bin;
use super::proc::{self, Output};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const UNIT: &str = "/lib/systemd/system/portcullis.service";
pub const CONFIG: &str = "/etc/portcullis/portcullis.toml";
pub const DATA: &str = "/var/lib/portcullis";
pub const FIRST_ADMIN: &str = "/var/lib/portcullis/first-admin.txt";

/// How long building or installing the package may take.
const PACKAGE_TIMEOUT: Duration = Duration::from_secs(600);

/// The workspace the tests were built from.
pub fn workspace() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().expect("the portcullis crate sits in the workspace").to_path_buf()
}

/// Builds the .deb around the binary this test run uses (`cargo deb --no-build`, the binary's
/// profile folder) into `out`; returns its path.
pub fn build(out: &Path) -> PathBuf {
    let bin = portcullis_bin();
    let profile_dir = bin.parent().expect("the binary's folder");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("cannot tell the cargo profile of {}", bin.display()),
    };
    let target = profile_dir.parent().expect("the target folder");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["deb", "-p", "portcullis", "--no-build", "--fast", "--profile", &profile, "--output"])
        .arg(out)
        .env("CARGO_TARGET_DIR", target);
    let built = proc::run(cmd, PACKAGE_TIMEOUT);
    assert!(
        built.success(),
        "`cargo deb` failed (scripts/test.sh installs cargo-deb; run it once):\n{}",
        built.describe()
    );
    let deb = std::fs::read_dir(out)
        .expect("read the output folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"));
    deb.unwrap_or_else(|| panic!("cargo deb wrote no .deb into {}:\n{}", out.display(), built.describe()))
}

/// Runs a command to completion within the package timeout.
pub fn run(program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir("/");
    proc::run(cmd, PACKAGE_TIMEOUT)
}

/// The package's state as dpkg knows it (`installed`, `config-files`, …), if it knows it.
pub fn dpkg_state() -> Option<String> {
    let out = run("dpkg-query", &["-W", "-f=${db:Status-Status}", "portcullis"]);
    let state = out.stdout_text().trim().to_owned();
    (out.success() && !state.is_empty() && state != "not-installed").then_some(state)
}

/// The installed package; purged on drop.
pub struct Installed {
    /// What `dpkg -i` printed (postinst's lines among it).
    pub install_output: String,
}

impl Installed {
    /// `dpkg -i DEB` on a machine without Portcullis; panics (never skips) without root.
    pub fn install(deb: &Path) -> Installed {
        assert_eq!(
            run("id", &["-u"]).stdout_text().trim(),
            "0",
            "the package test installs a system package and a system user: run it as root (scripts/test.sh does, as CI)"
        );
        assert!(
            dpkg_state().is_none() && !Path::new(DATA).exists() && !Path::new(CONFIG).exists(),
            "this machine already has Portcullis ({DATA} or {CONFIG}, dpkg state {:?}); the package test installs and purges its own and will not touch it",
            dpkg_state()
        );
        // Purged on drop from here on, even when dpkg -i fails half way.
        let mut installed = Installed { install_output: String::new() };
        let out = run("dpkg", &["-i", deb.to_str().expect("utf-8 path")]);
        assert!(out.success(), "dpkg -i failed:\n{}", out.describe());
        installed.install_output = out.all_text();
        installed
    }

    /// `dpkg --purge portcullis`; the test checks what is left.
    pub fn purge(self) -> Output {
        let out = run("dpkg", &["--purge", "portcullis"]);
        std::mem::forget(self);
        out
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let out = run("dpkg", &["--purge", "portcullis"]);
        if !out.success() {
            eprintln!("cleaning up: dpkg --purge portcullis failed:\n{}", out.describe());
        }
    }
}

/// (mode bits, owner name, group name) of `path`.
pub fn owner_and_mode(path: &str) -> (u32, String, String) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |db: &str, id: u32| -> String {
        let out = run("getent", &[db, &id.to_string()]);
        out.stdout_text().split(':').next().unwrap_or_default().to_owned()
    };
    (meta.permissions().mode() & 0o7777, name("passwd", meta.uid()), name("group", meta.gid()))
}

/// The unit's `ExecStart=` command line, split into words.
pub fn exec_start(unit_text: &str) -> Vec<String> {
    let line = unit_text.lines().find_map(|l| l.trim().strip_prefix("ExecStart=")).expect("the unit has ExecStart=");
    line.split_whitespace().map(str::to_owned).collect()
}

/// A command that runs `argv` as the `portcullis` user, as the unit would: no new privileges,
/// only CAP_NET_BIND_SERVICE (bounding and ambient), and memory that is never writable and
/// executable at once (the kernel's PR_SET_MDWE, what `MemoryDenyWriteExecute=` asks for).
pub fn as_service_user(argv: &[String]) -> Command {
    const MDWE: &str = "import ctypes, os, sys\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        if libc.prctl(65, 1, 0, 0, 0) != 0:\n    sys.exit('PR_SET_MDWE failed: errno %d' % ctypes.get_errno())\n\
        os.execvp(sys.argv[1], sys.argv[1:])\n";
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.current_dir("/").args(["-c", MDWE]).args([
        "setpriv",
        "--reuid=portcullis",
        "--regid=portcullis",
        "--init-groups",
        "--no-new-privs",
        "--bounding-set=-all,+net_bind_service",
        "--inh-caps=-all,+net_bind_service",
        "--ambient-caps=-all,+net_bind_service",
        "--",
    ]);
    cmd.args(argv);
    cmd
}

/// `portcullis ARGS --config CONFIG` run as the `portcullis` user, as an operator runs the
/// administrative commands on a package install.
pub fn cli(args: &[&str]) -> Output {
    let mut cmd = Command::new("runuser");
    cmd.current_dir("/").args(["-u", "portcullis", "--", "/usr/bin/portcullis", "--config", CONFIG]).args(args);
    proc::run(cmd, Duration::from_secs(60))
}

/// The SHA-256 fingerprint of the certificate served at `addr` (lowercase hex, no colons).
pub fn served_certificate(addr: std::net::SocketAddr) -> Option<String> {
    let cmd = format!(
        "openssl s_client -connect {addr} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
    );
    let out = run("sh", &["-c", &cmd]);
    out.success().then(|| fingerprint_hex(&out.stdout_text())).filter(|f| !f.is_empty())
}

/// The SHA-256 fingerprint of the certificate in `pem_file`, as [`served_certificate`].
pub fn file_certificate(pem_file: &Path) -> String {
    let out = run("openssl", &["x509", "-in", pem_file.to_str().expect("utf-8 path"), "-noout", "-fingerprint", "-sha256"]);
    out.assert_success();
    fingerprint_hex(&out.stdout_text())
}

/// `sha256 Fingerprint=AB:CD:…` as `abcd…`.
fn fingerprint_hex(text: &str) -> String {
    text.trim().rsplit('=').next().unwrap_or_default().replace(':', "").to_lowercase()
}

/// A new self-signed P-256 certificate and key for `localhost` in `dir` (cert.pem, key.pem).
pub fn new_certificate(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = run(
        "openssl",
        &[
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", &format!("/CN={cn}"), "-addext", "subjectAltName=DNS:localhost",
            "-keyout", key.to_str().expect("utf-8 path"), "-out", cert.to_str().expect("utf-8 path"),
        ],
    );
    out.assert_success();
    (cert, key)
}

/// Copies `from` to `to` as the service user's private file (what an operator does when
/// replacing the certificate).
pub fn install_as_service_file(from: &Path, to: &str) {
    let out = run(
        "install",
        &["-o", "portcullis", "-g", "portcullis", "-m", "0600", from.to_str().expect("utf-8 path"), to],
    );
    out.assert_success();
}
