#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Linkage test: every function libvfio-user exports, and every function our
# public headers declare, is exported by our shared libraries (and nothing
# internal leaks out as a global symbol).
#   check_exports.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
server=$(ls "$build"/libvfu_server.so)
vmm=$(ls "$build"/libvfu_vmm.so)
fail=0

exported() { nm -D --defined-only "$1" | awk '$2 ~ /[TW]/ {print $3}' | sort -u; }
# function names declared in a header: "name(" at the start of a line,
# after a line holding the return type (the house style)
declared() { grep -hE '^[a-z_][a-z0-9_]*\(' "$1" | sed 's/(.*//' | sort -u; }

check() { # list-file lib what
    local missing
    missing=$(comm -23 <(grep -v '^#' "$1" | sort -u) <(exported "$2"))
    if [ -n "$missing" ]; then
        echo "FAIL: $3 not exported by $(basename "$2"): $missing"
        fail=1
    else
        echo "ok: $(grep -vc '^#' "$1") $3 exported by $(basename "$2")"
    fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declared "$src/include/vfio-user/libvfio-user.h" >"$tmp/server"
declared "$src/include/vfio-user/vmm.h" >"$tmp/vmm"
check "$src/tests/exports/libvfio-user.symbols" "$server" "libvfio-user symbols"
check "$tmp/server" "$server" "libvfio-user.h functions"
check "$tmp/vmm" "$vmm" "vmm.h functions"

# Internals stay hidden: every global function must be in a public header.
for lib in "$server" "$vmm"; do
    extra=$(comm -13 <(sort -u "$tmp/server" "$tmp/vmm") \
                     <(exported "$lib" | grep -vE '^_(init|fini)$'))
    if [ -n "$extra" ]; then
        echo "FAIL: $(basename "$lib") exports internals: $extra"
        fail=1
    fi
done
exit $fail
