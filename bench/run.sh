#!/usr/bin/env bash
# Benchmarks the Portcullis broker beside OpenSSH on this machine and prints one table: every
# bulk path (exec and terminal output and input, ssh -L both ways, SFTP upload and download)
# and connection setup, each straight to a real sshd device, through a second sshd used as an
# OpenSSH jump host (ProxyJump), and through the broker (recording everything), the routes
# alternating round by round, with a row per path of how busy the cores were on each route
# and the broker's CPU time per transfer; then the evidence rows, the audit log (append rate with many
# writers, verify of 1,000,000 rows) and idle sessions at scale (200, 1,000, 5,000).
# Builds the binary and the driver (bench/main.rs) first, with the `profiling` profile
# (release code with line tables, in target/profiling/) so that `perf record -g` on the broker
# during a run names its functions. Raw figures (every round
# of every path) go to target/bench/raw-TIME.tsv.
# Extra arguments go to the driver: --bytes N, --tunnel-bytes N, --sftp-bytes N, --rounds N,
# --setup-runs N, --idle N,N,... (idle-session counts; the slope between them is the memory per
# session), --only TEXT (only the bulk paths whose name holds TEXT, without the evidence and audit rows).
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
# The sessions need two sockets each in the broker, plus the clients and device processes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --profile profiling -p portcullis
cargo build --profile profiling --manifest-path bench/Cargo.toml --target-dir "$root/target"

mkdir -p "$root/target/bench"
raw="$root/target/bench/raw-$(date -u +%Y%m%dT%H%M%SZ).tsv"
PORTCULLIS_TEST_BIN="$root/target/profiling/portcullis" exec "$root/target/profiling/portcullis-bench" --raw "$raw" "$@"
