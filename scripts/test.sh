#!/usr/bin/env bash
# The test command of Portcullis: installs what the end-to-end tests need, starts a
# throwaway PostgreSQL for the tests that run against it, and runs the whole workspace test
# suite. Made for a fresh Debian 12 machine (run as root, as CI does) and for a developer's
# machine alike; exits non-zero if anything fails.
#
# What the tests need besides the Rust toolchain:
#   - OpenSSH server and client: the tests' "device" is a real sshd, the vendor a real ssh;
#   - the sqlite3 and psql clients, for the audit tamper tests;
#   - curl, which reads the broker's /healthz (runtime tasks and memory) in the leak tests
#     and flips the test OpenID provider's hostile switch;
#   - PostgreSQL server binaries (initdb, pg_ctl), for scripts/pg-throwaway.sh;
#   - Debian's Chromium and Node.js with the npm package playwright-core (pinned in
#     tests/browser/package-lock.json), for the browser tests of the web pages, with the
#     npm packages oidc-provider and jose (pinned there too), the real OpenID provider the
#     single sign-on tests run on loopback (tests/browser/oidc-provider.mjs); and the
#     npm package asciinema-player (pinned in web/player/), to check the vendored copy.
#   - Debian's python3-aiosmtpd (run with /usr/bin/python3), the real SMTP server that the
#     e-mail notification tests send to on loopback.
#   - tshark, which must read tunnel recordings (pcap) back into the bytes sent;
#   - Debian's rsyslog, the real syslog daemon the alert tests export to on loopback (run in
#     the foreground with the test's own configuration);
#   - Debian's prometheus (the server and promtool), which scrapes a node's /metrics on
#     loopback and evaluates the shipped alert rules (deploy/prometheus/);
#   - ssh-audit (PyPI), which audits the broker's SSH listener against a hardened policy;
#   - paramiko and netmiko (PyPI), the Python SSH clients of vendors' tools (tests/clients/).
#   - s3s-fs (crates.io, pinned below), the real S3 server the recording-store tests run on
#     loopback; built by `cargo install` when missing (about 3 minutes on two cores), in the
#     background while the rest is set up;
#   - cargo-deb (crates.io, pinned below), systemd-analyze (Debian's systemd), openssl and
#     adduser: the package test builds the Debian package, installs it with dpkg as root,
#     runs it, and rates the unit with `systemd-analyze security --offline=true`.
#   - the clients of the conformance suite (tests/e2e/clients/): PuTTY's tools
#     (putty-tools), Dropbear's dbclient (dropbear-bin), curl with libssh2, and from PyPI
#     AsyncSSH and ssh2-python (whose wheels carry libssh2 1.11; Debian 12's curl has 1.10).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --- cargo-deb --------------------------------------------------------------------------
# Built from crates.io when missing or of another version; the build runs in the background
# while the packages below install, and is waited for before the suite.
CARGO_DEB_VERSION=3.8.0
cargo_deb_pid=
cargo_deb_log=$(mktemp /tmp/portcullis-cargo-deb.XXXXXX)
if [[ "$(cargo deb --version 2>/dev/null)" != *" $CARGO_DEB_VERSION"* ]]; then
    echo "test.sh: installing cargo-deb $CARGO_DEB_VERSION (in the background)" >&2
    cargo install --locked --quiet --force cargo-deb --version "$CARGO_DEB_VERSION" </dev/null >"$cargo_deb_log" 2>&1 &
    cargo_deb_pid=$!
fi

# --- packages ---------------------------------------------------------------------------
missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
[[ -x /usr/sbin/rsyslogd ]] || missing+=(rsyslog)
command -v plink >/dev/null 2>&1 || missing+=(putty-tools)
command -v dbclient >/dev/null 2>&1 || missing+=(dropbear-bin)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v adduser >/dev/null 2>&1 || missing+=(adduser)
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi
[[ -x /usr/bin/chromium ]] || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "test.sh: missing packages: ${missing[*]} (run as root, or install them)" >&2
        exit 1
    fi
    echo "test.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark's wireshark-common asks whether to install dumpcap setuid; the tests read files only.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# The OpenAPI document is checked by a real validator (PyPI).
if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    echo "test.sh: installing openapi-spec-validator" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'openapi-spec-validator==0.9.0' </dev/null
fi

# ssh-audit (PyPI) checks the broker's SSH listener against a hardened policy.
if ! python3 -c 'import ssh_audit' >/dev/null 2>&1; then
    echo "test.sh: installing ssh-audit" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'ssh-audit==3.9.0' </dev/null
fi

# paramiko and netmiko (PyPI): vendors' Python tools, driven by tests/clients/.
if ! python3 -c 'import paramiko, netmiko, sys; sys.exit(paramiko.__version__ != "5.1.0" or netmiko.__version__ != "4.8.0")' >/dev/null 2>&1; then
    echo "test.sh: installing paramiko and netmiko" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'paramiko==5.1.0' 'netmiko==4.8.0' </dev/null
fi

# AsyncSSH and ssh2-python (PyPI), clients of the conformance suite.
if ! python3 -c 'import asyncssh' >/dev/null 2>&1; then
    echo "test.sh: installing asyncssh" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'asyncssh==2.24.1' </dev/null
fi
if ! python3 -c 'import ssh2' >/dev/null 2>&1; then
    echo "test.sh: installing ssh2-python" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'ssh2-python==1.2.0.post1' </dev/null
fi

# s3s-fs (crates.io): the S3 server of the recording-store tests (tests/e2e/harness/s3.rs).
S3S_FS_VERSION=0.14.1
s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
s3s_pid=
s3s_log=$(mktemp /tmp/portcullis-s3s-install.XXXXXX)
if ! "$s3s_bin" --version 2>/dev/null | grep -qx "s3s-fs $S3S_FS_VERSION"; then
    echo "test.sh: installing s3s-fs $S3S_FS_VERSION (in the background)" >&2
    cargo install --quiet --locked --force s3s-fs --version "$S3S_FS_VERSION" --features binary >"$s3s_log" 2>&1 </dev/null &
    s3s_pid=$!
fi

# sshd, when run as root, needs its privilege separation directory (normally made by the
# service unit, which the tests do not use).
if [[ $(id -u) -eq 0 ]]; then
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
fi

# --- browser driver ----------------------------------------------------------------------
# playwright-core drives the system's Chromium (/usr/bin/chromium); it downloads no browser.
(cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
# The session player compiled into the binary must be the pinned npm package, unchanged.
"$root/scripts/vendor-player.sh" --check

# --- structure ---------------------------------------------------------------------------
# No module of any crate may import a module that imports it back.
python3 "$root/scripts/module-graph.py" >/dev/null || { python3 "$root/scripts/module-graph.py" | grep -B1 "cycles: \[" >&2; echo "test.sh: import cycle" >&2; exit 1; }

# --- throwaway PostgreSQL ---------------------------------------------------------------
pg_dir=$(mktemp -d /tmp/portcullis-pg.XXXXXX)
cleanup() {
    "$root/scripts/pg-throwaway.sh" stop "$pg_dir" || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
PORTCULLIS_TEST_PG_URL=$("$root/scripts/pg-throwaway.sh" start "$pg_dir")
export PORTCULLIS_TEST_PG_URL
echo "test.sh: PostgreSQL at $PORTCULLIS_TEST_PG_URL" >&2

# --- the suite --------------------------------------------------------------------------
if [[ -n $s3s_pid ]]; then
    wait "$s3s_pid" || { cat "$s3s_log" >&2; echo "test.sh: cannot install s3s-fs" >&2; exit 1; }
fi
rm -f "$s3s_log"
export PORTCULLIS_TEST_S3S_FS="$s3s_bin"
if [[ -n $cargo_deb_pid ]]; then
    wait "$cargo_deb_pid" || { cat "$cargo_deb_log" >&2; echo "test.sh: cannot install cargo-deb" >&2; exit 1; }
fi
rm -f "$cargo_deb_log"

# The README's first command is `cargo run --release -- demo`: `cargo run` must find exactly
# one binary (a debug build here, which the end-to-end tests use anyway).
cargo run --quiet -- --version >/dev/null

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
