#!/usr/bin/env bash
# Vendors asciinema-player (the terminal player of the replay and live pages) from npm into
# web/static/player/, where the web crate embeds it, so the pages work without any network.
# The version is pinned in web/player/package.json and package-lock.json.
#
#   scripts/vendor-player.sh          npm ci in web/player, then copy the player's files
#   scripts/vendor-player.sh --check  npm ci, then fail if the committed copies differ
#
# To upgrade: change the version in web/player/package.json, run `npm install` there, run
# this script, and commit package.json, package-lock.json and web/static/player/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg="$root/web/player/node_modules/asciinema-player"
dest="$root/web/static/player"

check=false
case "${1:-}" in
    "") ;;
    --check) check=true ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

(cd "$root/web/player" && npm ci --no-audit --no-fund --loglevel=error)

# source (inside the package) and name under web/static/player/
files=(
    "dist/bundle/asciinema-player.min.js asciinema-player.min.js"
    "dist/bundle/asciinema-player.css asciinema-player.css"
    "LICENSE LICENSE"
)

if $check; then
    stale=()
    for pair in "${files[@]}"; do
        read -r src name <<<"$pair"
        cmp -s "$pkg/$src" "$dest/$name" || stale+=("web/static/player/$name")
    done
    if [[ ${#stale[@]} -gt 0 ]]; then
        version=$(node -p "require('$pkg/package.json').version")
        echo "vendor-player.sh: ${stale[*]} differ from asciinema-player $version" >&2
        echo "vendor-player.sh: run scripts/vendor-player.sh and commit web/static/player/" >&2
        exit 1
    fi
    echo "vendor-player.sh: web/static/player/ matches the pinned asciinema-player" >&2
else
    mkdir -p "$dest"
    for pair in "${files[@]}"; do
        read -r src name <<<"$pair"
        cp "$pkg/$src" "$dest/$name"
    done
    echo "vendor-player.sh: copied asciinema-player into web/static/player/" >&2
fi
