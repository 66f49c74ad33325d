#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# crash2vus.sh SRC BUILD - vfu-crash2vus on inputs of every kind of target
# (device, per-command including the DMA answers, stream): each scenario it
# prints must parse and run in vfu-run (a run may fail where the input makes
# the server hang up, but never with a parse error), carry the input's
# bytes, and -m on an input that does not crash must say so and still print
# the scenario.
set -u
src=$1
build=$2
c2v=$build/bin/vfu-crash2vus
run=$build/bin/vfu-run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
checked=0

bad() {
    echo "FAIL: $*"
    fail=1
}

for dir in "$src"/fuzz/corpus/fuzz_dev_* "$src"/fuzz/corpus/fuzz_msg_* \
           "$src"/fuzz/corpus/fuzz_stream; do
    t=$(basename "$dir")
    for in in $(ls "$dir"/* | sort | head -n 3); do
        if ! "$c2v" -t "$t" -o "$tmp/s.vus" "$in" 2>"$tmp/err"; then
            bad "$t $(basename "$in"): $(cat "$tmp/err")"
            continue
        fi
        "$run" "$tmp/s.vus" >"$tmp/log" 2>&1
        if grep -Eq ':[0-9]+:[0-9]+: error:' "$tmp/log"; then
            bad "$t $(basename "$in"): the scenario does not parse"
            sed 's/^/    /' "$tmp/log" | head -n 5
        fi
        case $t in
        fuzz_msg_*)
            # the body (after the flags and fd bytes) is sent as it is
            body=$(tail -c +3 "$in" | od -An -v -tx1 | tr -d ' \n')
            if [ -n "$body" ] && [ "$(stat -c %s "$in")" -le 65538 ] &&
               ! grep -q "hex:$body" "$tmp/s.vus"; then
                bad "$t $(basename "$in"): body not in the scenario"
            fi
            ;;
        esac
        checked=$((checked + 1))
    done
done

# -m on an input that does not crash: said, and printed unminimized
in=$(ls "$src"/fuzz/corpus/fuzz_msg_device_get_info/* | sort | head -n 1)
if ! "$c2v" -m -r "$run" -t fuzz_msg_device_get_info -o "$tmp/m.vus" "$in" \
        2>"$tmp/err"; then
    bad "-m: $(cat "$tmp/err")"
elif ! grep -q "does not crash" "$tmp/err" ||
     ! grep -q '^send ' "$tmp/m.vus"; then
    bad "-m on a harmless input: $(cat "$tmp/err")"
fi
# an unknown target is refused
if "$c2v" -t fuzz_nothing "$in" >/dev/null 2>&1; then
    bad "unknown target accepted"
fi
echo "crash2vus: $checked inputs turned into scenarios"
[ "$checked" -gt 20 ] || bad "too few inputs checked ($checked)"
exit $fail
