#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# gen_corpus.py - regenerates the seed corpora (fuzz/corpus/<target>/) from
# the messages the fake VMM dumps (VMM_DUMP_DIR, client/vmm_dump.c) while
# the scenario suite and the ctest suite run, plus the synthetic seeds of
# fuzz/gen_seeds.py and fuzz/dev/gen_seeds.py.  With a clang VFU_FUZZ
# build the old corpus, the seeds and the dumps are merged with libFuzzer
# (-merge=1): only inputs that add coverage are kept.  Without one, the
# new inputs are deduplicated and capped per target.  File names are the
# sha1 of the content, except that a file the old corpus had keeps its
# name.  Deterministic as far as the runs are.
#
#   python3 fuzz/gen_corpus.py [-b BUILD] [-f FUZZ_BUILD] [options]
#
# See docs/fuzzing.md, "Corpora from test runs".
import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The scenario runs: (label, paths, device socket or None).  The label
# names the dump subdirectory and, for gpio/dmaengine, the device.
SCN_INPROC = [
    ("gpio", ["scenarios/gpio"]),
    ("dmaengine", ["scenarios/dmaengine"]),
    ("protocol", ["scenarios/protocol"]),
    ("regress", ["scenarios/regress"]),
]
SCN_SOCKET = [  # as ci/main-job runs them over sockets
    ("gpio", "sock-gpio", ["scenarios/gpio"]),
    ("gpio", "sock-gpio-protocol", ["scenarios/protocol/*.vus"]),
    ("gpio", "sock-gpio-regress", ["scenarios/regress"]),
    ("dmaengine", "sock-dmaengine", ["scenarios/dmaengine"]),
    ("dmaengine", "sock-dmaengine-dma", ["scenarios/protocol/dma"]),
]

HDR = struct.Struct("<HHIII")
F_TYPE_MASK, F_REPLY, F_ERROR = 0xf, 1, 0x20
# Sizes: the targets ignore more than FZ_MAX_BODY (fuzz_msg_*), 256 KiB
# (fuzz_stream) and 64 KiB (fuzz_client); the corpus stays well below,
# since big inputs make a big repository and a slow fuzzer.
MSG_MAX_BODY = 8 * 1024          # fuzz_msg_* bodies above this: skipped
STREAM_WHOLE_MAX = 16 * 1024     # whole sessions above this: capped only
STREAM_CAP = 4 * 1024            # the capped prefix of a session
CLIENT_MAX = 16 * 1024           # received streams: capped
DEV_DMA_MAX = 1024               # guest memory bytes taken per DMA_READ
FZ_FD_SIZE = 0x10000             # the harness's memfds (fuzz_util.c)
NEGOTIATE_MAX = 4096 + 4         # PROTO_MAX_JSON + struct vfio_user_version
DEV_WINDOW = 250                 # ops per fuzz_dev input (DO_MAX_OPS 256)
DEV_WINDOWS = 4                  # windows taken from one session
SHA1_NAME = re.compile(r"^[0-9a-f]{40}$")


def load(path, name):
    """Import a generator script as a module (from a temp cwd, so a
    generator that writes seeds when imported writes them nowhere)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            spec.loader.exec_module(mod)
        finally:
            os.chdir(cwd)
    return mod


GS = load(os.path.join(HERE, "gen_seeds.py"), "gen_seeds")
DS = load(os.path.join(HERE, "dev", "gen_seeds.py"), "dev_gen_seeds")
CMD_NAMES = {num: name for name, num in GS.commands()}
CMD = {name: num for num, name in CMD_NAMES.items()}


def log(*a):
    print("gen_corpus:", *a, file=sys.stderr, flush=True)


def sha1(b):
    return hashlib.sha1(b).hexdigest()


# ---------------------------------------------------------------------
# Dump files
# ---------------------------------------------------------------------

class Msg:
    """One dumped message: the record's tag byte (fd spec or control),
    the header fields and the body."""

    def __init__(self, tag, raw):
        self.tag = tag
        self.raw = raw
        self.id, self.cmd, self.size, self.flags, self.err = \
            HDR.unpack_from(raw)
        self.body = raw[HDR.size:]

    @property
    def is_reply(self):
        return self.flags & F_TYPE_MASK == F_REPLY

    @property
    def is_cmd(self):
        return self.flags & F_TYPE_MASK == 0

    @property
    def ok(self):
        return not self.flags & F_ERROR


def records(data):
    """Parse a dump file: (tag, message bytes), stopping at a torn tail."""
    out, i = [], 0
    while i + 3 <= len(data):
        n = data[i] | data[i + 1] << 8
        if i + 3 + n > len(data) or n < HDR.size:
            break
        out.append(Msg(data[i + 2], data[i + 3:i + 3 + n]))
        i += 3 + n
    return out


def framed(msgs, tag_fn):
    return b"".join(struct.pack("<HB", len(m.raw), tag_fn(m)) + m.raw
                    for m in msgs)


class Session:
    def __init__(self, label, sent, recv):
        self.label = label
        self.sent = records(sent)
        self.recv = records(recv)
        self.key = sha1(sent + b"\0" + recv)


def read_sessions(top):
    """Every .sent/.recv pair under @top; the subdirectory is the label."""
    out = []
    for dirpath, _, files in os.walk(top):
        label = os.path.relpath(dirpath, top).split(os.sep)[0]
        for f in files:
            if not f.endswith(".sent"):
                continue
            stem = os.path.join(dirpath, f[:-5])
            with open(stem + ".sent", "rb") as fh:
                sent = fh.read()
            try:
                with open(stem + ".recv", "rb") as fh:
                    recv = fh.read()
            except OSError:
                recv = b""
            out.append(Session(label, sent, recv))
    out.sort(key=lambda s: (s.label, s.key))  # independent of pids
    return out


# ---------------------------------------------------------------------
# Which device a session talked to
# ---------------------------------------------------------------------

IDS = {b"GPIO": "gpio", b"DMAE": "dmaengine"}
PCI_IDS = {0x0001: "gpio", 0x0002: "dmaengine"}      # vendor 0x4e58
BAR0_SIZES = {256: "gpio", 0x4000: "dmaengine"}


def identify(s):
    """The device, from what the session read, or from its label."""
    reqs = {}
    for m in s.sent:
        if m.is_cmd:
            reqs.setdefault(m.id, m)
    for r in s.recv:
        q = reqs.get(r.id)
        if not r.is_reply or not r.ok or q is None or q.cmd != r.cmd:
            continue
        if r.cmd == CMD["REGION_READ"] and len(q.body) >= 16 and \
                len(r.body) >= 20:
            off, region, count = struct.unpack_from("<QII", q.body)
            data = r.body[16:]
            if region == 0 and off == 0 and data[:4] in IDS:
                return IDS[data[:4]]
            if region == 7 and off == 0 and len(data) >= 4 and \
                    data[:2] == b"\x58\x4e":
                dev = PCI_IDS.get(data[2] | data[3] << 8)
                if dev:
                    return dev
            if region == 7 and off == 2 and len(data) >= 2:
                dev = PCI_IDS.get(data[0] | data[1] << 8)
                if dev:
                    return dev
        if r.cmd == CMD["DEVICE_GET_REGION_INFO"] and len(q.body) >= 12 \
                and len(r.body) >= 24:
            if struct.unpack_from("<I", q.body, 8)[0] == 0:
                dev = BAR0_SIZES.get(struct.unpack_from("<Q", r.body, 16)[0])
                if dev:
                    return dev
    for dev in ("dmaengine", "gpio"):
        if dev in s.label:
            return dev
    return None


# ---------------------------------------------------------------------
# Protocol targets
# ---------------------------------------------------------------------

def msg_inputs(s, out):
    """fuzz_msg_<command>: [flags][fd spec][body] per command sent, and the
    client's DMA_READ/DMA_WRITE replies as the fuzzed replies."""
    for m in s.sent:
        if len(m.body) > MSG_MAX_BODY or m.cmd not in CMD_NAMES:
            continue
        if m.is_cmd or (m.is_reply and m.cmd in (CMD["DMA_READ"],
                                                  CMD["DMA_WRITE"])):
            add(out, "fuzz_msg_" + CMD_NAMES[m.cmd].lower(),
                bytes([m.flags & 0xff, m.tag]) + fit_map(m).body)


def fit_map(m):
    """A DMA_MAP with a memfd, shrunk to the harness's 64 KiB memfds: the
    server maps what the message says, and the device touching a page past
    the end of the file is a SIGBUS (reported, not what these seeds are
    for; the fuzzer gets there by itself)."""
    if m.cmd != CMD["DMA_MAP"] or not m.is_cmd or not m.tag & 7 or \
            len(m.body) < 32:
        return m
    argsz, flags, off, gpa, size = struct.unpack_from("<IIQQQ", m.body)
    if off == 0 and size <= FZ_FD_SIZE:
        return m
    body = struct.pack("<IIQQQ", argsz, flags, 0, gpa,
                       min(size, FZ_FD_SIZE)) + m.body[32:]
    return Msg(m.tag, HDR.pack(m.id, m.cmd, m.size, m.flags, m.err) + body)


def negotiate_inputs(s, out):
    """fuzz_negotiate: VERSION bodies, the client's and the server's."""
    for m in s.sent + s.recv:
        if m.cmd == CMD["VERSION"] and m.ok and 0 < len(m.body) <= \
                NEGOTIATE_MAX:
            add(out, "fuzz_negotiate", m.body)


def prefix(msgs, limit, tag_fn):
    """The longest prefix of @msgs that frames into at most @limit bytes."""
    n, size = 0, 0
    for m in msgs:
        if size + 3 + len(m.raw) > limit:
            break
        size += 3 + len(m.raw)
        n += 1
    return framed(msgs[:n], tag_fn)


def stream_inputs(s, out):
    """fuzz_stream: the session as sent, whole (when small) and capped."""
    if not s.sent:
        return
    sent = [fit_map(m) for m in s.sent]
    whole = framed(sent, lambda m: m.tag)
    if len(whole) <= STREAM_WHOLE_MAX:
        add(out, "fuzz_stream", whole)
    capped = prefix(sent, STREAM_CAP, lambda m: m.tag)
    if capped:
        add(out, "fuzz_stream", capped)


# fuzz_client's fixed calls, in order, and what each is answered with;
# None is vmm_poll(), which serves the server's DMA commands.
CLIENT_CALLS = ["VERSION", "DEVICE_GET_INFO", "DEVICE_GET_REGION_INFO",
                "DEVICE_GET_IRQ_INFO", "DMA_MAP", "REGION_READ", None,
                "REGION_WRITE", "DEVICE_RESET", "DMA_UNMAP"]


def client_inputs(s, out):
    """fuzz_client: what the session received, replies marked for id
    rewriting (bit 0), as received and re-ordered to fuzz_client's calls."""
    if not s.recv:
        return
    ctl = lambda m: 1 if m.is_reply else 0
    raw = prefix(s.recv, CLIENT_MAX, ctl)
    if raw:
        add(out, "fuzz_client", raw)
    replies = {}
    dma = []
    for m in s.recv:
        if m.is_reply:
            replies.setdefault(m.cmd, m)
        elif m.cmd in (CMD["DMA_READ"], CMD["DMA_WRITE"]) and len(dma) < 4:
            dma.append(m)
    if len(replies) < 3:
        return  # little beyond VERSION: the raw input says it all
    chunks = []
    for name in CLIENT_CALLS:
        if name is None:
            chunks += [struct.pack("<HB", len(m.raw), 0) + m.raw for m in dma]
            continue
        m = replies.get(CMD[name])
        raw_m = m.raw if m is not None else HDR.pack(
            0, CMD[name], HDR.size, F_REPLY | F_ERROR, 22)  # EINVAL
        chunks.append(struct.pack("<HB", len(raw_m), 1) + raw_m)
    aligned = b"".join(chunks)
    if len(aligned) <= CLIENT_MAX:
        add(out, "fuzz_client", aligned)


# ---------------------------------------------------------------------
# Device targets: the session as devops operations (fuzz/dev/devops.c)
# ---------------------------------------------------------------------

DO_MEM_BASE, DO_SLOT, DO_NR_SLOTS = 0x100000, 0x10000, 4
DEV_BARS = {  # region index -> (devops BAR index, size)
    "gpio": {0: (0, 256), 2: (1, 32)},
    "dmaengine": {0: (0, 0x4000)},
}
CFG_REGION = 7
IRQ_SET_DATA_NONE, IRQ_SET_DATA_EVENTFD = 1, 4
IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK = 8, 0x10
IRQ_SET_ACTION_TRIGGER = 0x20
DMAE_QUEUE_BASE, DMAE_QUEUE_STRIDE, DMAE_NR_QUEUES = 0x1000, 0x100, 4
DMAE_Q_RING_LO, DMAE_Q_RING_HI, DMAE_Q_RING_SIZE = 0, 4, 8
DMAE_DESC_SIZE = 64
FEATURE_SET, MIG_DEVICE_STATE, STATE_STOP_COPY = 1 << 17, 2, 3
WIDTH_CODE = {1: 0, 2: 1, 4: 2, 8: 3}


def pieces(off, count, maxw):
    """Split an access into naturally sized pieces of at most @maxw."""
    while count > 0:
        w = maxw
        while w > 1 and (w > count or off % w):
            w //= 2
        yield off, w
        off += w
        count -= w


class DevEncoder:
    """Translates one session's messages into devops bytes.  Guest
    addresses move onto the devops slots: the n-th DMA_MAP of the session
    becomes slot n (mod 4), other addresses the unmapped slot."""

    def __init__(self, dev):
        self.dev = dev
        self.bars = DEV_BARS[dev]
        self.maps = []          # (gpa, size, slot, pages)
        self.rings = {}         # queue -> [session gpa, entries]
        self.migrated = False
        self.ops = []

    def remap(self, gpa):
        for base, size, slot, _ in self.maps:
            if base <= gpa < base + size:
                return DO_MEM_BASE + slot * DO_SLOT + (gpa - base) % DO_SLOT
        return DO_MEM_BASE + DO_NR_SLOTS * DO_SLOT + gpa % DO_SLOT

    def region_access(self, write, off, region, data_or_count):
        count = len(data_or_count) if write else data_or_count
        if region == CFG_REGION:
            for o, w in pieces(off, min(count, 256), 4):
                if o >= 256:
                    break
                if write:
                    v = int.from_bytes(data_or_count[o - off:o - off + w],
                                       "little")
                    self.ops.append(DS.cfg_write(WIDTH_CODE[w], o, v))
                else:
                    self.ops.append(DS.cfg_read(WIDTH_CODE[w], o))
            return
        if region not in self.bars:
            return
        bi, size = self.bars[region]
        for o, w in pieces(off, min(count, 64), 8):
            if o + w > size:
                break
            if write:
                v = int.from_bytes(data_or_count[o - off:o - off + w],
                                   "little")
                v = self.remap_reg(o, w, v)
                self.ops.append(DS.bar_access(True, bi, WIDTH_CODE[w], o, v))
            else:
                self.ops.append(DS.bar_access(False, bi, WIDTH_CODE[w], o))

    def remap_reg(self, off, w, v):
        """dmaengine ring bases hold guest addresses: move them too."""
        if self.dev != "dmaengine" or off < DMAE_QUEUE_BASE:
            return v
        q, r = divmod(off - DMAE_QUEUE_BASE, DMAE_QUEUE_STRIDE)
        if q >= DMAE_NR_QUEUES:
            return v
        ring = self.rings.setdefault(q, [0, 0])
        if r == DMAE_Q_RING_LO:
            ring[0] = v if w == 8 else (ring[0] & ~0xffffffff) | v
            new = self.remap(ring[0])
            return new if w == 8 else new & 0xffffffff
        if r == DMAE_Q_RING_HI and w == 4:
            ring[0] = (ring[0] & 0xffffffff) | v << 32
            return 0
        if r == DMAE_Q_RING_SIZE and w >= 4:
            ring[1] = v & 0xffffffff
        return v

    def dma_data(self, gpa, data):
        """Guest memory the device read (a DMA_READ reply) becomes a memory
        write before the access that made the device read it; descriptors
        read from a ring get their addresses moved."""
        data = bytearray(data[:DEV_DMA_MAX])
        for base, entries in self.rings.values():
            end = base + min(entries, 4096) * DMAE_DESC_SIZE
            if not base or not base <= gpa < end:
                continue
            start = (base - gpa) % DMAE_DESC_SIZE
            for d in range(start, len(data) - DMAE_DESC_SIZE + 1,
                           DMAE_DESC_SIZE):
                for f in (8, 16, 24):
                    a = int.from_bytes(data[d + f:d + f + 8], "little")
                    data[d + f:d + f + 8] = self.remap(a).to_bytes(8,
                                                                   "little")
        dst = self.remap(gpa) - DO_MEM_BASE
        for i in range(0, len(data), 4095):
            self.ops.append(DS.mem_write(dst + i, bytes(data[i:i + 4095])))

    def command(self, m):
        b = m.body
        if m.cmd == CMD["REGION_READ"] and len(b) >= 16:
            off, region, count = struct.unpack_from("<QII", b)
            self.region_access(False, off, region, count)
        elif m.cmd == CMD["REGION_WRITE"] and len(b) >= 16:
            off, region, count = struct.unpack_from("<QII", b)
            self.region_access(True, off, region, b[16:16 + count])
        elif m.cmd == CMD["REGION_WRITE_MULTI"] and len(b) >= 8:
            n = struct.unpack_from("<Q", b)[0]
            for i in range(min(n, (len(b) - 8) // 24)):
                off, region, count = struct.unpack_from("<QII", b, 8 + 24 * i)
                data = b[8 + 24 * i + 16:8 + 24 * i + 16 + min(count, 8)]
                self.region_access(True, off, region, data)
        elif m.cmd == CMD["DEVICE_SET_IRQS"] and len(b) >= 20:
            _, flags, idx, start, count = struct.unpack_from("<IIIII", b)
            idx %= 5
            if flags & IRQ_SET_ACTION_TRIGGER:
                if flags & IRQ_SET_DATA_EVENTFD and count > 0:
                    self.ops.append(DS.irq_op(DS.IRQ_ENABLE, idx, start % 8,
                                              min(count, 8)))
                elif flags & IRQ_SET_DATA_NONE and count == 0:
                    self.ops.append(DS.irq_op(DS.IRQ_DISABLE, idx))
            elif flags & (IRQ_SET_ACTION_MASK | IRQ_SET_ACTION_UNMASK) and \
                    count > 0:
                kind = DS.IRQ_MASK if flags & IRQ_SET_ACTION_MASK else \
                    DS.IRQ_UNMASK
                self.ops.append(DS.irq_op(kind, idx, start % 8,
                                          min(count, 8)))
        elif m.cmd == CMD["DEVICE_RESET"]:
            self.ops.append(DS.RESET)
        elif m.cmd == CMD["DMA_MAP"] and len(b) >= 32:
            _, flags, _, gpa, size = struct.unpack_from("<IIQQQ", b)
            slot = len(self.maps) % DO_NR_SLOTS
            pages = max(1, min(16, size // 0x1000))
            prot = {3: 0, 1: 2, 2: 3}.get(flags & 3, 0)
            self.maps = [x for x in self.maps if x[2] != slot]
            self.maps.append((gpa, size, slot, pages))
            self.ops.append(DS.mem_map(slot, pages, prot))
        elif m.cmd == CMD["DMA_UNMAP"] and len(b) >= 24:
            _, flags, gpa, size = struct.unpack_from("<IIQQ", b)
            for base, msize, slot, pages in list(self.maps):
                if flags & 2 or (base == gpa and msize == size):
                    self.ops.append(DS.mem_unmap(slot, pages))
                    self.maps.remove((base, msize, slot, pages))
        elif m.cmd == CMD["DEVICE_FEATURE"] and len(b) >= 16:
            _, flags, state = struct.unpack_from("<III", b)
            if flags == FEATURE_SET | MIG_DEVICE_STATE and \
                    state == STATE_STOP_COPY and not self.migrated:
                self.migrated = True
                self.ops.append(DS.MIGRATE)

    def encode(self, sent):
        """Walk the session: each command with the DMA replies the client
        sent while it ran (their data goes first)."""
        i = 0
        while i < len(sent):
            m = sent[i]
            i += 1
            if not m.is_cmd:
                continue
            start = len(self.ops)
            self.command(m)
            cmd_ops = self.ops[start:]
            del self.ops[start:]
            while i < len(sent) and not sent[i].is_cmd:
                r = sent[i]
                i += 1
                if r.cmd == CMD["DMA_READ"] and r.ok and len(r.body) > 16:
                    gpa, _ = struct.unpack_from("<QQ", r.body)
                    self.dma_data(gpa, r.body[16:])
            self.ops += cmd_ops
        return self.ops


def dev_inputs(s, out):
    dev = identify(s)
    if dev is None:
        return
    ops = DevEncoder(dev).encode(s.sent)
    for w in range(0, min(len(ops), DEV_WINDOW * DEV_WINDOWS), DEV_WINDOW):
        data = b"".join(ops[w:w + DEV_WINDOW])
        if data:
            add(out, "fuzz_dev_" + dev, data)


# ---------------------------------------------------------------------
# Collecting, merging, writing
# ---------------------------------------------------------------------

def add(out, target, data):
    out.setdefault(target, {})[sha1(data)] = data


def scenario_inputs(out):
    """fuzz_scenario: the shipped scenarios and include files."""
    for dirpath, _, files in sorted(os.walk(os.path.join(ROOT,
                                                         "scenarios"))):
        for f in sorted(files):
            if f.endswith((".vus", ".inc")):
                with open(os.path.join(dirpath, f), "rb") as fh:
                    data = fh.read()
                if len(data) <= 64 * 1024:
                    add(out, "fuzz_scenario", data)


def convert(sessions):
    out = {}
    for s in sessions:
        msg_inputs(s, out)
        negotiate_inputs(s, out)
        stream_inputs(s, out)
        client_inputs(s, out)
        dev_inputs(s, out)
    scenario_inputs(out)
    return out


def synthetic_seeds():
    """The generators' seeds, {target: {sha1: bytes}}."""
    out = {}
    for target, seeds in GS.seeds().items():
        for s in seeds:
            add(out, target, s)
    for s in DS.gpio:
        add(out, "fuzz_dev_gpio", s)
    for s in DS.dmaengine:
        add(out, "fuzz_dev_dmaengine", s)
    return out


def targets():
    """Every target: fuzz/fuzz_<thing>.c."""
    return sorted(f[:-2] for f in os.listdir(HERE)
                  if f.startswith("fuzz_") and f.endswith(".c"))


def old_corpus(corpus, target):
    """{sha1: (name, bytes)} of the corpus as it is now."""
    d = os.path.join(corpus, target)
    out = {}
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if os.path.isfile(p):
                with open(p, "rb") as fh:
                    data = fh.read()
                out.setdefault(sha1(data), (f, data))
    return out


def write_dir(d, files):
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)


def merge(binary, target, old, seeds, new, work, timeout, crash_dir):
    """libFuzzer -merge=1 of old + seeds + new into a fresh directory;
    returns {sha1: bytes} of what it kept (None on failure).  Inputs that
    crash are left out by libFuzzer; they are copied to @crash_dir."""
    dirs = []
    for tag, files in (("old", {k: v[1] for k, v in old.items()}),
                       ("seeds", seeds), ("new", new)):
        d = os.path.join(work, target, tag)
        write_dir(d, files)
        dirs.append(d)
    outd = os.path.join(work, target, "merged")
    os.makedirs(outd)
    crashes = os.path.join(work, target, "crashes")
    os.makedirs(crashes)
    logf = os.path.join(work, target + ".merge.log")
    cmd = [binary, "-merge=1", "-timeout=10", "-rss_limit_mb=2048",
           "-max_len=%d" % (1 << 20), "-artifact_prefix=" + crashes + "/",
           "-merge_control_file=" + os.path.join(work, target + ".ctl"),
           outd] + dirs
    t0 = time.time()
    with open(logf, "wb") as lf:
        rc = subprocess.call(cmd, cwd=work, stdout=lf,
                             stderr=subprocess.STDOUT, timeout=timeout)
    if rc != 0:
        log("%s: merge failed (exit %d)" % (target, rc))
        return None
    bad = sorted(os.listdir(crashes))
    if bad:
        with open(logf, "rb") as lf:
            text = lf.read().decode(errors="replace")
        first = [l.strip() for l in text.splitlines() if "ERROR:" in l]
        dst = os.path.join(crash_dir, target)
        os.makedirs(dst, exist_ok=True)
        for f in bad:
            shutil.copy(os.path.join(crashes, f), dst)
        log("%s: %d inputs crashed, left out, copied to %s; first: %s" % (
            target, len(bad), dst, first[0] if first else "?"))
    kept = {}
    for f in os.listdir(outd):
        with open(os.path.join(outd, f), "rb") as fh:
            data = fh.read()
        kept[sha1(data)] = data
    log("%s: merged %d old + %d seeds + %d new -> %d (%.0f s)" % (
        target, len(old), len(seeds), len(new), len(kept), time.time() - t0))
    return kept


def replay_ok(binary, data, work):
    """Without libFuzzer: does the gcc replay binary survive @data?"""
    p = os.path.join(work, "replay.in")
    with open(p, "wb") as fh:
        fh.write(data)
    try:
        return subprocess.call([binary, p], cwd=work,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60) == 0
    except subprocess.TimeoutExpired:
        return False


def install(corpus, target, kept, old):
    """Replace fuzz/corpus/<target>/ with @kept; files the old corpus had
    keep their names, regression inputs (regress-*) stay in any case."""
    files = {}
    for h, data in kept.items():
        files[old[h][0] if h in old else h] = data
    for h, (name, data) in old.items():
        if name.startswith("regress-") and h not in kept:
            files[name] = data
    d = os.path.join(corpus, target)
    tmp = d + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    write_dir(tmp, files)
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    return files


# ---------------------------------------------------------------------
# Running the suites with dumping on
# ---------------------------------------------------------------------

def run(cmd, env, logf, timeout):
    t0 = time.time()
    with open(logf, "ab") as lf:
        lf.write(("$ %s\n" % " ".join(cmd)).encode())
        lf.flush()
        try:
            rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=lf,
                                 stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = "timeout"
    log("  %-60s %s (%.0f s)" % (" ".join(os.path.relpath(c, ROOT)
                                           if c.startswith(ROOT) else c
                                           for c in cmd[:1] + cmd[-1:]),
                                  "ok" if rc == 0 else "exit %s" % rc,
                                  time.time() - t0))
    return rc


def dump_env(dumps, label):
    d = os.path.join(dumps, label)
    os.makedirs(d, exist_ok=True)
    env = dict(os.environ)
    env["VMM_DUMP_DIR"] = d
    env.pop("VFU_TRACE", None)
    return env


def serve(build, device, sock):
    """Start a device binary on @sock (as ci/main-job does)."""
    p = subprocess.Popen([os.path.join(build, "devices", device), sock],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return p


def run_scenarios(build, dumps, logf):
    vfu_run = os.path.join(build, "bin", "vfu-run")
    log("scenarios in-process")
    for label, paths in SCN_INPROC:
        run([vfu_run, "-q", "--build-dir", build] + paths,
            dump_env(dumps, "scn-" + label), logf, 600)
    log("scenarios over sockets")
    with tempfile.TemporaryDirectory() as tmp:
        procs = {}
        try:
            for dev, label, paths in SCN_SOCKET:
                sock = os.path.join(tmp, dev + ".sock")
                if dev not in procs or procs[dev].poll() is not None:
                    if os.path.exists(sock):
                        os.unlink(sock)
                    procs[dev] = serve(build, dev, sock)
                expanded = []
                for p in paths:
                    if "*" in p:
                        d, pat = os.path.split(p)
                        expanded += sorted(
                            os.path.join(d, f) for f in
                            os.listdir(os.path.join(ROOT, d))
                            if re.fullmatch(pat.replace(".", r"\.")
                                            .replace("*", ".*"), f))
                    else:
                        expanded.append(p)
                run([vfu_run, "-q", "--build-dir", build, "--socket",
                     sock] + expanded, dump_env(dumps, label), logf, 600)
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def run_ctest(build, dumps, logf, jobs):
    log("ctest (label fuzz excluded)")
    run(["ctest", "--test-dir", build, "-LE", "fuzz", "-j", str(jobs),
         "--timeout", "300", "--output-on-failure"],
        dump_env(dumps, "ctest"), logf, 3600)


# ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(
        description="regenerate fuzz/corpus/ from dumped test runs")
    ap.add_argument("-b", "--build", default="build",
                    help="gcc build dir with vfu-run, devices, tests")
    ap.add_argument("-f", "--fuzz-build",
                    help="clang VFU_FUZZ build dir: merge with libFuzzer")
    ap.add_argument("-o", "--corpus", default=os.path.join(HERE, "corpus"),
                    help="corpus to replace (default fuzz/corpus)")
    ap.add_argument("-d", "--dumps",
                    help="keep the dumps here (default: a temp dir)")
    ap.add_argument("--reuse-dumps", action="store_true",
                    help="convert the dumps in --dumps, run nothing")
    ap.add_argument("--no-ctest", action="store_true")
    ap.add_argument("--no-scenarios", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="ctest parallelism")
    ap.add_argument("--cap", type=int, default=64,
                    help="new inputs per target without a merge")
    ap.add_argument("-t", "--target", action="append",
                    help="only this target (repeatable)")
    ap.add_argument("--merge-timeout", type=int, default=1800)
    ap.add_argument("--crash-dir",
                    help="where inputs that crash go (default DUMPS/crashes"
                    " with --dumps, else a new temp dir)")
    a = ap.parse_args()

    build = os.path.abspath(a.build)
    corpus = os.path.abspath(a.corpus)
    tmp = tempfile.mkdtemp(prefix="gen_corpus.")
    try:
        dumps = os.path.abspath(a.dumps) if a.dumps else \
            os.path.join(tmp, "dumps")
        if a.reuse_dumps:
            if not a.dumps:
                ap.error("--reuse-dumps needs --dumps")
        else:
            if not os.path.isfile(os.path.join(build, "bin", "vfu-run")):
                ap.error("%s: no bin/vfu-run (build it first)" % build)
            if os.path.isdir(dumps):
                shutil.rmtree(dumps)
            os.makedirs(dumps)
            logf = os.path.join(tmp, "runs.log")
            if not a.no_scenarios:
                run_scenarios(build, dumps, logf)
            if not a.no_ctest:
                run_ctest(build, dumps, logf, a.jobs)
            if a.dumps:
                shutil.copy(logf, os.path.join(dumps, "runs.log"))
        sessions = read_sessions(dumps)
        log("%d sessions dumped" % len(sessions))
        new = convert(sessions)
        seeds = synthetic_seeds()
        work = os.path.join(tmp, "merge")
        if a.crash_dir:
            crash_dir = os.path.abspath(a.crash_dir)
        elif a.dumps:
            crash_dir = os.path.join(dumps, "crashes")
        else:  # kept after the run, removed if empty
            crash_dir = tempfile.mkdtemp(prefix="gen_corpus-crashes.")
        total_files = total_bytes = 0
        for target in targets():
            if a.target and target not in a.target:
                continue
            old = old_corpus(corpus, target)
            tnew = {h: d for h, d in new.get(target, {}).items()
                    if h not in old}
            tseeds = {h: d for h, d in seeds.get(target, {}).items()
                      if h not in old}
            if a.fuzz_build:
                binary = os.path.join(os.path.abspath(a.fuzz_build), "fuzz",
                                      target)
                if not os.access(binary, os.X_OK):
                    log("%s: no %s, corpus left as is" % (target, binary))
                    continue
                kept = merge(binary, target, old, tseeds, tnew, work,
                             a.merge_timeout, crash_dir)
                if kept is None:
                    continue  # the old corpus stays
            else:
                # no coverage to go by: the old corpus minus earlier
                # capped picks, the seeds, and up to --cap new inputs
                # that the replay binary survives
                replay = os.path.join(build, "fuzz", target)
                if not os.access(replay, os.X_OK):
                    log("%s: no %s: new inputs not checked" % (target,
                                                               replay))
                    replay = None
                kept = {h: v[1] for h, v in old.items()
                        if not SHA1_NAME.match(v[0])}
                kept.update(seeds.get(target, {}))
                fresh = sorted(h for h in new.get(target, {})
                               if h not in kept)
                taken = dropped = 0
                for h in fresh:
                    if taken == a.cap:
                        break
                    if replay and not replay_ok(replay, new[target][h], tmp):
                        dropped += 1
                        continue
                    kept[h] = new[target][h]
                    taken += 1
                if dropped:
                    log("%s: %d new inputs fail the replay, left out" % (
                        target, dropped))
            files = install(corpus, target, kept, old)
            size = sum(len(d) for d in files.values())
            total_files += len(files)
            total_bytes += size
            print("%-36s %5d files %8.1f KiB" % (target, len(files),
                                                   size / 1024.0))
        print("%-36s %5d files %8.1f KiB" % ("total", total_files,
                                               total_bytes / 1024.0))
        if os.path.isdir(crash_dir) and not os.listdir(crash_dir):
            os.rmdir(crash_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
