#!/usr/bin/env bash
# Coverage-guided fuzzing of one Portcullis parser with AFL++ (through cargo-afl, on the
# stable toolchain), for a bounded time.
#
#   scripts/fuzz.sh TARGET [SECONDS] [--update-corpus]
#
# TARGET is one of: sftp lobby target asciicast evidence config (see fuzz/README.md).
# SECONDS defaults to 600. The run starts from fuzz/corpus/TARGET, writes its findings to
# target/fuzz/TARGET (started afresh each time), and prints what fuzzer_stats says: time,
# executions, corpus, coverage, crashes and hangs. Crashing or hanging inputs are listed; put
# each in fuzz/regressions/TARGET/ once the bug is fixed, and the replay test keeps it fixed.
# With --update-corpus the queue is minimised (afl-cmin) back into fuzz/corpus/TARGET;
# SECONDS 0 with --update-corpus only minimises the queue of the last run.
#
# Needs cargo-afl (installed here with `cargo install cargo-afl --locked` if missing; it
# builds AFL++ from its crate with `cargo afl config --build`). One AFL instance takes one
# core for the whole run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

targets=(sftp lobby target asciicast evidence config)
usage() { echo "usage: $0 TARGET [SECONDS] [--update-corpus]   (TARGET: ${targets[*]})" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
target=$1
shift
seconds=600
update=0
for a in "$@"; do
    case $a in
        --update-corpus) update=1 ;;
        ''|*[!0-9]*) usage ;;
        *) seconds=$a ;;
    esac
done
[[ " ${targets[*]} " == *" $target "* ]] || usage

# --- AFL++ -------------------------------------------------------------------------------
if ! cargo afl --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-afl" >&2
    cargo install cargo-afl --locked
fi
# Builds AFL++ and its LLVM runtime for this toolchain once; says so (and fails) when done.
cargo afl config --build >/dev/null 2>&1 || true

# AFL++ wants crashes to reach it directly, not through a core-dump helper.
if [[ $(cat /proc/sys/kernel/core_pattern 2>/dev/null) == "|"* ]]; then
    if ! { echo core > /proc/sys/kernel/core_pattern; } 2>/dev/null; then
        export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
    fi
fi
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1

# --- build and run -----------------------------------------------------------------------
cargo afl build --release -p portcullis-fuzz --features afl --bin "fuzz_$target"
bin="$root/target/release/fuzz_$target"
corpus="$root/fuzz/corpus/$target"
out="$root/target/fuzz/$target"
if [[ $seconds -gt 0 ]]; then
    rm -rf "$out"
    mkdir -p "$out"
    echo "fuzz.sh: fuzzing $target for ${seconds}s from $corpus" >&2
    # -m: a run may use at most 1 GiB, so unbounded memory shows up as a crash.
    cargo afl fuzz -i "$corpus" -o "$out" -V "$seconds" -m 1024 -- "$bin" > "$out/afl.log" 2>&1 || {
        tail -30 "$out/afl.log" >&2
        exit 1
    }
fi

stats="$out/default/fuzzer_stats"
field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
printf '%s: %s s, %s executions (%s/s), corpus %s, coverage %s, crashes %s, hangs %s\n' \
    "$target" "$(field run_time)" "$(field execs_done)" "$(field execs_per_sec)" "$(field corpus_count)" \
    "$(field bitmap_cvg)" "$(field saved_crashes)" "$(field saved_hangs)"
for kind in crashes hangs; do
    for f in "$out/default/$kind"/id*; do
        [[ -e $f ]] && echo "  $kind: $f"
    done
done

# --- minimised corpus ----------------------------------------------------------------------
if [[ $update -eq 1 ]]; then
    # The shell afl-cmin: the Python one that cargo-afl runs (AFL++ 4.40c) finds no coverage
    # in these binaries and would keep nothing.
    afl_bin=$(ls -d "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs/rustc-$(rustc -V | awk '{print $2}')-"*/afl.rs-*/afl/bin | tail -1)
    min="$out/cmin"
    rm -rf "$min"
    # -e: keep an input for every edge reached, not for every hit count of it (half the files).
    "$afl_bin/afl-cmin.bash" -e -i "$out/default/queue" -o "$min" -m 1024 -- "$bin" > "$out/cmin.log" 2>&1
    kept=$(find "$min" -type f | wc -l)
    if [[ $kept -eq 0 ]]; then
        echo "fuzz.sh: afl-cmin kept nothing (see $out/cmin.log); fuzz/corpus/$target left as it was" >&2
        exit 1
    fi
    rm -rf "$corpus"
    mkdir -p "$corpus"
    # A seed keeps its name; an input the fuzzer found is named by its content's hash.
    for f in "$min"/*; do
        name=$(basename "$f")
        if [[ $name == *orig:* ]]; then
            name=${name##*orig:}
        else
            name=$(sha256sum "$f" | cut -c1-16)
        fi
        cp "$f" "$corpus/$name"
    done
    echo "fuzz.sh: fuzz/corpus/$target now holds $kept inputs ($(du -sb "$corpus" | cut -f1) bytes)" >&2
fi
