#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# gen_seeds.py - writes fuzz/dict/fuzz_msg.dict and the protocol targets'
# .options from the command table in proto/proto.h, and holds their
# synthetic seeds (fuzz_msg_*, fuzz_stream, fuzz_client), which
# fuzz/gen_corpus.py merges with the messages dumped from the test runs
# into fuzz/corpus/.  `--seeds DIR` writes the seeds alone into
# DIR/<target>/.  Deterministic: rerun after changing the wire format.
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def commands():
    text = open(os.path.join(ROOT, "proto", "proto.h")).read()
    return [(n, int(v)) for n, v in re.findall(r"XX\((\w+), (\d+)\)", text)]

CMDS = dict(commands())
CAPS = b'{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}}\0'
FD_IOVA, MSG_IOVA = 0x10000, 0x100000
BAR0, CFG = 0, 7
MEMFD1, EVENTFD1 = 1 | 8, 1

def msg(flags, fds, body):
    return bytes([flags, fds]) + body

def version(minor=1):
    return struct.pack("<HH", 0, minor) + CAPS

def region_access(off, region, data):
    return struct.pack("<QII", off, region, len(data)) + data

def desc(opcode=0, flags=0, compl=0):
    return struct.pack("<BBHIQQQQQ16x", opcode, flags, 0, 0, 0, 0, compl,
                       0, 0)

SEEDS = {
    "VERSION": [msg(0, 0, version()),
                msg(0, 0, struct.pack("<HH", 0, 1) + b"{}\0")],
    "DMA_MAP": [msg(0, MEMFD1, struct.pack("<IIQQQ", 32, 3, 0, 0x200000,
                                           0x10000)),
                msg(0, 0, struct.pack("<IIQQQ", 32, 1, 0, 0x300000,
                                      0x1000))],
    "DMA_UNMAP": [msg(0, 0, struct.pack("<IIQQ", 24, 0, FD_IOVA, 0x10000)),
                  msg(0, 0, struct.pack("<IIQQ", 24, 2, 0, 0))],
    "DEVICE_GET_INFO": [msg(0, 0, struct.pack("<IIII", 16, 0, 0, 0))],
    "DEVICE_GET_REGION_INFO": [
        msg(0, 0, struct.pack("<IIIIQQ", 32, 0, i, 0, 0, 0))
        for i in (0, 7, 9)],
    "DEVICE_GET_REGION_IO_FDS": [
        msg(0, 0, struct.pack("<IIII", 16, 0, 0, 0)),
        msg(0, 0, struct.pack("<IIII", 4096, 0, 0, 8))],
    "DEVICE_GET_IRQ_INFO": [
        msg(0, 0, struct.pack("<IIII", 16, 0, i, 0)) for i in (0, 2, 4)],
    "DEVICE_SET_IRQS": [
        # eventfd trigger on MSI-X 0..1, then mask, unmask, trigger none
        msg(0, 2, struct.pack("<IIIII", 20, 0x4 | 0x20, 2, 0, 2)),
        msg(0, 0, struct.pack("<IIIII", 20, 0x1 | 0x8, 2, 0, 1)),
        msg(0, 0, struct.pack("<IIIII", 20, 0x1 | 0x20, 2, 0, 5)),
        msg(0, 0, struct.pack("<IIIII", 20, 0x1 | 0x10, 0, 0, 1))],
    "REGION_READ": [
        msg(0, 0, struct.pack("<QII", 0, BAR0, 4)),
        msg(0, 0, struct.pack("<QII", 0, CFG, 64)),
        msg(0, 0, struct.pack("<QII", 0x1000, BAR0, 0x30))],
    "REGION_WRITE": [
        msg(0, 0, region_access(0x10, BAR0, struct.pack("<I", 5))),
        msg(0, 0, region_access(4, CFG, struct.pack("<H", 6))),
        msg(0, 0, region_access(0x1008, BAR0, struct.pack("<I", 2)))],
    "DMA_READ": [
        msg(1, 0, struct.pack("<QQ", MSG_IOVA, 64) + desc()),
        msg(1, 0, struct.pack("<QQ", MSG_IOVA, 64) + desc(2, 1, MSG_IOVA)),
        msg(0x21, 0, b"")],
    "DMA_WRITE": [
        msg(1, 0, struct.pack("<QQ", MSG_IOVA + 0x1000, 32)),
        msg(0x21, 0, b"")],
    "DEVICE_RESET": [msg(0, 0, b"")],
    "REGION_WRITE_MULTI": [
        msg(0, 0, struct.pack("<Q", 2) +
            struct.pack("<QII8s", 0x10, BAR0, 4, struct.pack("<I", 1)) +
            struct.pack("<QII8s", 0x1020, BAR0, 4, struct.pack("<I", 1)))],
    "DEVICE_FEATURE": [
        msg(0, 0, struct.pack("<II", 16, (1 << 16) | 1) + bytes(8)),
        msg(0, 0, struct.pack("<II", 16, (1 << 16) | 2) + bytes(8)),
        msg(0, 0, struct.pack("<II", 16, (1 << 17) | 2) +
            struct.pack("<II", 1, 0)),
        msg(0, 0, struct.pack("<II", 8, (1 << 18) | 6))],
    "MIG_DATA_READ": [msg(0, 0, struct.pack("<II", 72, 64)),
                      msg(0, 0, struct.pack("<II", 4104, 4096))],
    "MIG_DATA_WRITE": [msg(0, 0, struct.pack("<II", 24, 16) + bytes(16))],
}

def hdr(mid, cmd, body, flags=0):
    return struct.pack("<HHIII", mid, cmd, 16 + len(body), flags, 0) + body

def framed(fds, m):
    return struct.pack("<HB", len(m), fds) + m

def streams():
    v = framed(0, hdr(1, 1, version()))
    info = framed(0, hdr(2, 4, struct.pack("<IIII", 16, 0, 0, 0)))
    mapm = framed(MEMFD1, hdr(3, 2, struct.pack("<IIQQQ", 32, 3, 0,
                                                FD_IOVA, 0x10000)))
    rd = framed(0, hdr(4, 9, struct.pack("<QII", 0, BAR0, 4)))
    stop = framed(0, hdr(5, 16, struct.pack("<II", 16, (1 << 17) | 2) +
                         struct.pack("<II", 1, 0)))
    copy = framed(0, hdr(6, 16, struct.pack("<II", 16, (1 << 17) | 2) +
                         struct.pack("<II", 3, 0)))
    mrd = framed(0, hdr(7, 17, struct.pack("<II", 8 + 4096, 4096)))
    unmap = framed(0, hdr(8, 3, struct.pack("<IIQQ", 24, 2, 0, 0)))
    return [v, v + info + mapm + rd, v + mapm + stop + copy + mrd + unmap,
            v + framed(0, hdr(2, 13, b""))]

def client_seeds():
    def rep(cmd, body, flags=1):
        return hdr(0, cmd, body, flags)

    def chunk(m, ctl=1):
        return struct.pack("<HB", len(m), ctl) + m

    steps = [
        rep(1, version(0)),
        rep(4, struct.pack("<IIII", 16, 3, 9, 5)),
        rep(5, struct.pack("<IIIIQQ", 32, 3, 0, 0, 0x4000, 0)),
        rep(7, struct.pack("<IIII", 16, 1, 2, 5)),
        rep(2, b""),
        rep(9, struct.pack("<QII", 0, 0, 8) + b"DMAE\0\0\1\0"),
        None,
        rep(10, struct.pack("<QII", 0, 0, 4)),
        rep(13, b""),
        rep(3, struct.pack("<IIQQ", 24, 2, 0, 0)),
    ]
    dma = (hdr(0x100, 11, struct.pack("<QQ", MSG_IOVA, 16), 0) +
           hdr(0x101, 12, struct.pack("<QQ", MSG_IOVA, 4) + b"abcd", 0))
    full = b"".join(chunk(dma, 0) if m is None else chunk(m) for m in steps)
    errs = b"".join(chunk(rep(1, version(0))) if i == 0 else
                    chunk(struct.pack("<HHIII", 0, 0, 16, 0x21, 22))
                    for i in range(10))
    return [chunk(rep(1, version(0))), full, errs]

def seeds():
    """{target: [seed bytes]} of every protocol target."""
    assert set(SEEDS) == set(CMDS)
    out = {"fuzz_msg_" + n.lower(): list(s) for n, s in SEEDS.items()}
    out["fuzz_stream"] = streams()
    out["fuzz_client"] = client_seeds()
    return out

def write_seeds(top):
    for target, data in seeds().items():
        d = os.path.join(top, target)
        os.makedirs(d, exist_ok=True)
        for i, s in enumerate(data):
            with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
                f.write(s)

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(sys.argv[2])
        return
    if len(sys.argv) != 1:
        sys.exit("usage: gen_seeds.py [--seeds DIR]")
    lines = ["# generated by fuzz/gen_seeds.py from proto/proto.h"]
    for name, num in CMDS.items():
        lines.append('cmd_%s="\\x%02x\\x00"' % (name.lower(), num))
    for key in ("capabilities", "max_msg_fds", "max_data_xfer_size",
                "max_dma_maps", "pgsizes", "migration", "twin_socket",
                "write_multiple"):
        lines.append('json_%s="\\"%s\\""' % (key, key))
    for i, v in enumerate((0x10000, 0x100000, 0x1000, 0x4000)):
        lines.append('addr_%d="%s"' % (i, "".join(
            "\\x%02x" % b for b in struct.pack("<Q", v))))
    os.makedirs(os.path.join(HERE, "dict"), exist_ok=True)
    with open(os.path.join(HERE, "dict", "fuzz_msg.dict"), "w") as f:
        f.write("\n".join(lines) + "\n")
    targets = ["fuzz_msg_" + n.lower() for n in CMDS]
    targets += ["fuzz_stream", "fuzz_client"]
    for t in targets:
        # value profile: libFuzzer learns from how close a compare came,
        # which finds magic values (a 64-bit size the server special-cases)
        # that plain coverage and CMP tracing missed in 6.8M runs
        with open(os.path.join(HERE, t + ".options"), "w") as f:
            f.write("[libfuzzer]\ndict = dict/fuzz_msg.dict\n"
                    "use_value_profile = 1\n")
        # ci/fuzz-smoke looks for dict/<target>.dict
        link = os.path.join(HERE, "dict", t + ".dict")
        if not os.path.islink(link):
            os.symlink("fuzz_msg.dict", link)

if __name__ == "__main__":
    main()
