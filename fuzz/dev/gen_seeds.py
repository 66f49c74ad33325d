#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# gen_seeds.py - writes the deterministic seeds of fuzz_dev_gpio and
# fuzz_dev_dmaengine (input format: fuzz/dev/devops.c).  Run from the repo
# root: python3 fuzz/dev/gen_seeds.py.  fuzz/gen_corpus.py imports the
# encoders and the seed lists (and merges the seeds into the corpora).
import os
import struct

def cfg_read(w, off):  # w: 0=1 1=2 2=4 bytes
    return bytes([0, w, off])

def bar_read(bar_i, w, off):  # w: 0..3 = 1,2,4,8; aligned
    return bytes([2, (bar_i << 4) | 8 | w]) + struct.pack('<H', off)

def bar_write(bar_i, w, off, val):
    return (bytes([3, (bar_i << 4) | 8 | w]) + struct.pack('<H', off) +
            val.to_bytes(1 << w, 'little'))

def cfg_write(w, off, val):  # w: 0=1 1=2 2=4 bytes
    return bytes([1, w, off]) + val.to_bytes(1 << w, 'little')

def bar_access(write, bar_i, w, off, val=0):
    # any offset: the "aligned" bit only when it is aligned
    b = (bar_i << 4) | (8 if off % (1 << w) == 0 else 0) | w
    op = bytes([3 if write else 2, b]) + struct.pack('<H', off)
    return op + val.to_bytes(1 << w, 'little') if write else op

IRQ_ENABLE, IRQ_DISABLE, IRQ_MASK, IRQ_UNMASK = 5, 6, 7, 8

def irq_op(kind, idx, start=0, count=1):  # count 1..8, start 0..7
    return bytes([kind, idx, start, count - 1])

def irq_enable(idx, start, count):
    return bytes([5, idx, start, count - 1])

def mem_map(slot, pages=16, prot=0):  # prot 0 rw, 2 ro, 3 wo
    return bytes([10, slot | ((pages - 1) << 2) | (prot << 6)])

def mem_unmap(slot, pages=16):
    return bytes([11, slot | ((pages - 1) << 2)])

def mem_write(gpa_off, data):
    return bytes([12]) + gpa_off.to_bytes(3, 'little') + \
        struct.pack('<H', len(data)) + data

MIGRATE = bytes([0xff])
RESET = bytes([9])

def queue_setup(q, shift, irq=True):  # entries 2 << shift (0..4)
    b = 0x40 if irq else 0
    while b % 5 != shift:
        b += 1
    return bytes([0x8b, q, b])

def desc(op, flags, length, src, dst, compl, pattern=0, tag=0):
    # addresses relative to the guest memory base (fold_gpa)
    return struct.pack('<BBHIQQQQQQQ', op, flags, 0, length, src, dst,
                       compl, pattern, tag, 0, 0)

def doorbell(q, descs, tail):
    return bytes([0x0d, q, len(descs) - 1, tail]) + b''.join(descs)

def write(name, seeds):
    d = os.path.join('fuzz', 'corpus', name)
    os.makedirs(d, exist_ok=True)
    for i, s in enumerate(seeds):
        with open(os.path.join(d, 'seed-%02d' % i), 'wb') as f:
            f.write(s)

gpio = [
    b''.join(bar_read(0, 2, off) for off in range(0, 0x44, 4)),
    b''.join(cfg_read(2, off) for off in range(0, 256, 4)),
    irq_enable(0, 0, 1) + bar_write(0, 2, 0x30, 0xffff0000) +
    bytes([13]) + (0xff).to_bytes(4, 'little') + bar_read(0, 2, 0x34) +
    bar_write(0, 2, 0x34, 0xffffffff) + bar_read(1, 0, 0),
    bar_write(0, 2, 0x40, 0xcafef00d) + bar_write(0, 2, 0x10, 0x5a) +
    irq_enable(0, 0, 1) + MIGRATE + bar_read(0, 2, 0x40) + RESET,
    cfg_read(2, 0x10) + bytes([1, 2, 0x10]) + (0xffffffff).to_bytes(4,
                                                                   'little') +
    cfg_read(2, 0x10) + bytes([1, 1, 0x04]) + (0x7).to_bytes(2, 'little'),
]

M = 0x10000
ring = [
    desc(1, 3, 256, 1 * M, 2 * M, 3 * M, tag=1),
    desc(2, 1, 64, 0, 2 * M + 0x400, 3 * M + 0x20, pattern=0x0123456789abcdef,
         tag=2),
    desc(3, 1, 128, 1 * M, 0, 3 * M + 0x40, pattern=0, tag=3),
    desc(4, 1, 128, 1 * M, 2 * M, 3 * M + 0x60, tag=4),
]
dma_setup = (mem_map(0) + mem_map(1) + mem_map(2) + mem_map(3) +
             irq_enable(2, 0, 5) + queue_setup(0, 2))
dmaengine = [
    b''.join(bar_read(0, 2, off) for off in range(0, 0x30, 4)) +
    b''.join(bar_read(0, 2, 0x1000 + off) for off in range(0, 0x30, 4)),
    dma_setup + mem_write(M, bytes(range(256))) + doorbell(0, ring, 4) +
    bar_read(0, 2, 0x1010) + bar_read(0, 2, 0x1024),
    dma_setup + doorbell(0, ring[:2], 2) + MIGRATE + doorbell(0, ring[2:], 4),
    dma_setup + doorbell(0, [desc(1, 1, 0x2000, 5 * M, 6 * M, 3 * M)], 1) +
    bar_read(0, 2, 0x18) + RESET,
    mem_map(0) + queue_setup(1, 1, False) + bytes([0x8b, 2, 0x83]) +
    doorbell(1, ring[:1], 1) + doorbell(2, ring[:1], 1),
]

if __name__ == '__main__':
    write('fuzz_dev_gpio', gpio)
    write('fuzz_dev_dmaengine', dmaengine)
