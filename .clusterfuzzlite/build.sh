#!/bin/bash -eu
# SPDX-License-Identifier: BSD-3-Clause
# ClusterFuzzLite/OSS-Fuzz build: every fuzz/fuzz_*.c target, compiled
# with the environment's $CC/$CFLAGS (sanitizer chosen by the runner) and
# linked with $LIB_FUZZING_ENGINE; seeds, dictionaries and options go next
# to each binary in $OUT.
src=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
[ -d "$src/vfu-harness" ] && src=$src/vfu-harness
build=${WORK:-/tmp}/vfu-cflite-build
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
    -DVFU_FUZZ=ON -DVFU_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
    -DVFU_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=OFF
cmake --build "$build" -j"$(nproc)"
mkdir -p "$OUT"
for t in "$build"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    cp "$t" "$OUT/"
    if [ -d "$src/fuzz/corpus/$name" ]; then
        (cd "$src/fuzz/corpus/$name" && zip -q -r -j \
            "$OUT/${name}_seed_corpus.zip" .)
    fi
    [ -f "$src/fuzz/dict/$name.dict" ] && \
        cp "$src/fuzz/dict/$name.dict" "$OUT/$name.dict"
    if [ -f "$src/fuzz/$name.options" ]; then
        # the options name the dictionary as it lies in $OUT
        sed "s|dict/$name.dict|$name.dict|" "$src/fuzz/$name.options" \
            >"$OUT/$name.options"
    fi
done
