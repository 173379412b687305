#!/usr/bin/env bash
# Makes the upgrade fixture: a data folder written by a previous release, which the e2e test
# `upgrade` takes through the current migrations (`audit verify` must pass, the data must read).
#
#   scripts/make-upgrade-fixture.sh [COMMIT] [OUT]
#
# COMMIT (default 5958a81, tagged v0.9.0 where the tag exists) is built in a temporary git
# worktree with a target folder of its own, unless PORTCULLIS_OLD_BIN names that release's
# binary already built. OUT (default tests/fixtures/v0.9.0) receives the SQLite data folder
# (database, configuration, keys: test keys, used nowhere else), and, when
# PORTCULLIS_TEST_PG_URL names a PostgreSQL cluster, OUT/postgres/ with a plain SQL dump of
# the same flow run against PostgreSQL and that run's keys.
#
# The flow is what the command line of that release can do alone: init, accounts of every
# role with SSH keys, an end date and a TOTP reset, a device with a pinned host key and a
# sealed credential, its edit, rotation, disabling and enabling, and signed checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-5958a81}
out=${2:-tests/fixtures/v0.9.0}

work=$(mktemp -d)
cleanup() {
    if [ -d "$work/src" ]; then git worktree remove --force "$work/src" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

bin=${PORTCULLIS_OLD_BIN:-}
# Every other PORTCULLIS_* variable is a configuration key to the binary: none may leak in.
unset PORTCULLIS_OLD_BIN PORTCULLIS_STORE_URL PORTCULLIS_CONFIG
if [ -z "$bin" ]; then
    git worktree add --detach "$work/src" "$rev"
    (cd "$work/src" && cargo build -p portcullis --target-dir "$work/target")
    bin=$work/target/debug/portcullis
fi
echo "previous release: $("$bin" --version) from $rev"

# Files the flow hands the commands: a vendor's key, a device's credential and host key.
ssh-keygen -q -t ed25519 -N '' -C vendor -f "$work/vendor"
ssh-keygen -q -t ed25519 -N '' -C laptop -f "$work/laptop"
ssh-keygen -q -t ed25519 -N '' -C device-login -f "$work/devcred"
ssh-keygen -q -t ed25519 -N '' -C device-login-2 -f "$work/devcred2"
ssh-keygen -q -t ed25519 -N '' -C device-host -f "$work/devhost"
hostkey=$(cut -d' ' -f1,2 "$work/devhost.pub")

# One run of the flow into data folder $1, on the store at URL $2 (the folder's SQLite file
# when empty).
flow() {
    local data=$1
    if [ -n "$2" ]; then export PORTCULLIS_STORE_URL=$2; fi
    "$bin" init --data "$data" --json >/dev/null
    export PORTCULLIS_CONFIG=$data/portcullis.toml
    "$bin" user add acme-jdoe --role vendor --org acme-medical --ssh-key "$work/vendor.pub" >/dev/null
    "$bin" user key add acme-jdoe "$work/laptop.pub" >/dev/null
    "$bin" user expires acme-jdoe --on 2031-12-31 >/dev/null
    "$bin" user add alice --role approver >/dev/null
    "$bin" user add bob --role approver >/dev/null
    "$bin" user add carol --role auditor >/dev/null
    "$bin" user reset-totp bob >/dev/null
    "$bin" user disable carol >/dev/null
    "$bin" user enable carol >/dev/null
    "$bin" device add pump-7 --address 127.0.0.1:2201 --login service --key-file "$work/devcred" \
        --host-key "$hostkey" --criticality high --zone icu --tcp-port 104 >/dev/null
    "$bin" device edit pump-7 --zone icu-east >/dev/null
    "$bin" device rotate-credential pump-7 --key-file "$work/devcred2" >/dev/null
    "$bin" device disable pump-7 >/dev/null
    "$bin" device enable pump-7 >/dev/null
    "$bin" audit verify
    unset PORTCULLIS_CONFIG PORTCULLIS_STORE_URL
}

rm -rf "$out"
mkdir -p "$out"
flow "$work/sqlite" ""
cp "$work/sqlite/portcullis.db" "$work/sqlite/portcullis.toml" "$out/"
cp -r "$work/sqlite/keys" "$work/sqlite/tls" "$out/"
sqlite3 "$out/portcullis.db" 'PRAGMA journal_mode = DELETE;' >/dev/null

if [ -n "${PORTCULLIS_TEST_PG_URL:-}" ]; then
    db="upgrade_fixture_$$"
    psql -q "$PORTCULLIS_TEST_PG_URL" -c "CREATE DATABASE $db"
    url="${PORTCULLIS_TEST_PG_URL%/*}/$db"
    flow "$work/pg" "$url"
    mkdir -p "$out/postgres"
    cp -r "$work/pg/keys" "$out/postgres/"
    pg_dump --format=plain --no-owner --no-privileges "$url" > "$out/postgres/dump.sql"
    psql -q "$PORTCULLIS_TEST_PG_URL" -c "DROP DATABASE $db"
fi
echo "$rev" > "$out/COMMIT"
ls -lR "$out"
