#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite.
#
#   scripts/pg-throwaway.sh start DIR   initdb into DIR/data, start it on 127.0.0.1 on a free
#                                       port, wait until it accepts connections, print its URL
#   scripts/pg-throwaway.sh stop DIR    stop the cluster started in DIR (DIR itself is left
#                                       for the caller to remove)
#   scripts/pg-throwaway.sh crash DIR   stop it the hard way (`pg_ctl stop -m immediate`: no
#                                       checkpoint, every client connection cut at once), as
#                                       tests of a store that goes away need
#   scripts/pg-throwaway.sh restart DIR start it again on the port it had; print its URL
#
# DIR must exist and be empty or absent. Authentication is `trust`, and only on loopback and
# on a Unix socket inside DIR, so the cluster is good for tests and nothing else. PostgreSQL
# refuses to run as root, so when run as root every server command runs as the `postgres`
# user (DIR is handed over to it). PostgreSQL binds its port itself, so a port is chosen at
# random and the start is retried on another one if it fails.
set -euo pipefail

usage() { echo "usage: $0 start|stop|crash|restart DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

# Runs a PostgreSQL server command as the right user.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_bin() {
    local name=$1
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return
    fi
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/"$name"; do
        if [[ -x $candidate ]]; then
            echo "$candidate"
            return
        fi
    done
    echo "pg-throwaway: $name not found (install PostgreSQL server binaries)" >&2
    exit 1
}

start() {
    local initdb
    initdb=$(find_bin initdb)

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local user
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
        user=postgres
    else
        user=$(id -un)
    fi

    as_pg "$initdb" --pgdata="$dir/data" --username="$user" --auth-local=trust \
        --auth-host=trust --encoding=UTF8 --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        echo "pg-throwaway: initdb failed" >&2
        exit 1
    }

    local attempt port
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        if serve_on "$port" "$user"; then
            return 0
        fi
        echo "pg-throwaway: start on port $port failed (attempt $attempt), retrying" >&2
        tail -n 5 "$dir/server.log" >&2 2>/dev/null || true
    done
    echo "pg-throwaway: could not start PostgreSQL" >&2
    exit 1
}

# Starts the initialised cluster in DIR on PORT, waits until it accepts connections, records
# the port and prints the URL; fails if it cannot.
serve_on() {
    local port=$1 user=$2 pg_ctl pg_isready
    pg_ctl=$(find_bin pg_ctl)
    pg_isready=$(find_bin pg_isready)
    if as_pg "$pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
        start >/dev/null 2>&1; then
        # pg_ctl --wait already waited; ask the server itself, as a client would.
        local i
        for i in $(seq 1 60); do
            if "$pg_isready" --quiet --host=127.0.0.1 --port="$port" --username="$user"; then
                echo "$port" >"$dir/port"
                echo "postgres://$user@127.0.0.1:$port/postgres"
                return 0
            fi
            sleep 0.5
        done
        echo "pg-throwaway: server on port $port never became ready" >&2
        as_pg "$pg_ctl" --pgdata="$dir/data" --mode=immediate stop >/dev/null 2>&1 || true
    fi
    return 1
}

crash() {
    local pg_ctl
    pg_ctl=$(find_bin pg_ctl)
    as_pg "$pg_ctl" --pgdata="$dir/data" --mode=immediate --wait stop >/dev/null
}

restart() {
    dir=$(cd "$dir" && pwd)
    local user port
    if [[ $(id -u) -eq 0 ]]; then user=postgres; else user=$(id -un); fi
    port=$(cat "$dir/port")
    # The port was just freed; another process may take it meanwhile, so try a few times.
    local attempt
    for attempt in 1 2 3 4 5; do
        if serve_on "$port" "$user"; then
            return 0
        fi
        echo "pg-throwaway: restart on port $port failed (attempt $attempt), retrying" >&2
        tail -n 5 "$dir/server.log" >&2 2>/dev/null || true
        sleep 1
    done
    echo "pg-throwaway: could not start PostgreSQL again on port $port" >&2
    exit 1
}

stop() {
    local pg_ctl
    pg_ctl=$(find_bin pg_ctl)
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_pg "$pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    fi
}

case $cmd in
start) start ;;
stop) stop ;;
crash) crash ;;
restart) restart ;;
*) usage ;;
esac
