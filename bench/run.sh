#!/usr/bin/env bash
# Benchmarks the Portcullis broker against plain sshd on this machine and prints a table:
# throughput of 1 GiB of output, median connection setup time, broker RSS per session with
# 200 concurrent sessions, 1 GiB through ssh -L (broker vs. sshd as jump host) and an SFTP
# upload. Builds the release binary and the driver (bench/main.rs) first.
# Extra arguments go to the driver: --bytes N, --setup-runs N, --sessions N,
# --tunnel-bytes N, --sftp-bytes N.
# Loopback only; it stops by itself. Not part of the test suite.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ ! -x /usr/sbin/sshd ]]; then
    echo "bench: /usr/sbin/sshd missing; run scripts/test.sh once (it installs OpenSSH)" >&2
    exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
    mkdir -p /run/sshd
fi
# 200 sessions need two sockets each in the broker, plus the clients and device processes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p portcullis
cargo build --release --manifest-path bench/Cargo.toml --target-dir "$root/target"

PORTCULLIS_TEST_BIN="$root/target/release/portcullis" exec "$root/target/release/portcullis-bench" "$@"
