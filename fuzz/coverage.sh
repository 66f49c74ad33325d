#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# fuzz/coverage.sh [CORPUS_ROOT] [BUILD_DIR] - line coverage each fuzz
# target reaches with a corpus: a gcc --coverage build (VFU_COVERAGE)
# replays CORPUS_ROOT/<target>/ (default fuzz/corpus, the seeds; point it
# at a campaign's corpora to see what the campaign reached) with the
# replay main, and lcov counts the lines of the project's code each target
# executed: server/ + proto/ (the library), and all of server/, proto/,
# client/, devices/, harness/ (the fuzz harness and tests not counted).
# Percentages are of every line of those directories compiled into the
# build, so targets compare on one scale; "past setup" is what the corpus
# reaches beyond the harness's own setup and an empty input.  Writes
# BUILD_DIR/fuzz-coverage/<target>.info (genhtml makes a report of one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(realpath "${1:-fuzz/corpus}")
b=${2:-build-fuzz-cov}
cmake -S . -B "$b" -DVFU_COVERAGE=ON -DVFU_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$b" -j"$(nproc)" >/dev/null
out=$b/fuzz-coverage
mkdir -p "$out"
src=$(pwd)
lib=("$src/server/*" "$src/proto/*")
all=("${lib[@]}" "$src/client/*" "$src/devices/*" "$src/harness/*")

# "HIT TOTAL" of a tracefile, restricted to the given patterns
count() {
    local info=$1
    shift
    lcov -q -e "$info" "$@" -o "$out/.part" >/dev/null 2>&1 || {
        echo "0 0"
        return
    }
    lcov --summary "$out/.part" 2>&1 |
        sed -n 's/.*lines\.*: [0-9.]*% (\([0-9]*\) of \([0-9]*\) lines).*/\1 \2/p'
}

# every line compiled into the build, executed or not: the denominators
lcov -q -z -d "$b" >/dev/null 2>&1
lcov -q -c -i -d "$b" -o "$out/.base" >/dev/null 2>&1
read -r _ lib_total < <(count "$out/.base" "${lib[@]}")
read -r _ all_total < <(count "$out/.base" "${all[@]}")
printf '%-34s %14s %14s %13s\n' target "server+proto" "all code" \
    "past setup"
printf '%-34s %14s %14s %13s\n' "(lines)" "$lib_total" "$all_total" \
    "server+proto"
empty=$(mktemp -d)
for t in "$b"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [ -d "$root/$name" ] || continue
    lcov -q -z -d "$b" >/dev/null 2>&1
    # the replay main runs every file of the directory in one process
    if ! FZ_ORDER_CHECK=0 "$t" "$root/$name" >/dev/null 2>&1; then
        echo "$name: replay failed" >&2
        continue
    fi
    lcov -q -c -d "$b" -o "$out/$name.info" >/dev/null 2>&1
    read -r lib_hit _ < <(count "$out/$name.info" "${lib[@]}")
    read -r all_hit _ < <(count "$out/$name.info" "${all[@]}")
    # what the harness's setup and an empty input reach on their own
    lcov -q -z -d "$b" >/dev/null 2>&1
    FZ_ORDER_CHECK=0 "$t" "$empty" >/dev/null 2>&1 || true
    lcov -q -c -d "$b" -o "$out/.empty" >/dev/null 2>&1
    read -r lib_empty _ < <(count "$out/.empty" "${lib[@]}")
    awk -v n="$name" -v lh="$lib_hit" -v lt="$lib_total" \
        -v ah="$all_hit" -v at="$all_total" -v le="$lib_empty" 'BEGIN {
        printf "%-34s %6d %5.1f%% %6d %5.1f%% %+13d\n", n, lh,
               100 * lh / lt, ah, 100 * ah / at, lh - le }'
done
rmdir "$empty"
rm -f "$out/.base" "$out/.part" "$out/.empty"
