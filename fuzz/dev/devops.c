/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devops.c - decoding fuzzer bytes into device operations, running them
 * through the fake VMM and printing them as .vus statements.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dmaengine/dmaengine.h"
#include "devices/gpio/gpio.h"
#include "fuzz/dev/devops.h"
#include "vfio-user/libvfio-user.h"

const do_device_t do_dev_gpio = {
    .name = "gpio",
    .bars = { 0, 2 },
    .bar_size = { GPIO_BAR0_SIZE, GPIO_BAR2_SIZE },
    .nr_bars = 2,
    .id_off = GPIO_REG_ID,
    .id_val = GPIO_ID_VALUE,
    .dma = false,
};

const do_device_t do_dev_dmaengine = {
    .name = "dmaengine",
    .bars = { 0, 0 },
    .bar_size = { DMAE_BAR0_SIZE, DMAE_BAR0_SIZE },
    .nr_bars = 1,
    .id_off = DMAE_REG_ID,
    .id_val = DMAE_ID_VALUE,
    .dma = true,
};

const do_device_t *
do_device_by_name(const char *name)
{
    if (strcmp(name, "gpio") == 0) {
        return &do_dev_gpio;
    }
    if (strcmp(name, "dmaengine") == 0) {
        return &do_dev_dmaengine;
    }
    return NULL;
}

/* A cursor over the input; reads past the end give zeros. */
typedef struct do_rd {
    const uint8_t *p;
    size_t left;
} do_rd_t;

static uint64_t
rd_n(do_rd_t *r, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        uint64_t b = 0;

        if (r->left > 0) {
            b = *r->p++;
            r->left--;
        }
        v |= b << (8 * i);
    }
    return v;
}

static do_op_t *
add_op(do_list_t *l, enum do_kind kind)
{
    if (l->nr == l->cap) {
        size_t cap = l->cap == 0 ? 32 : l->cap * 2;
        do_op_t *ops = realloc(l->ops, cap * sizeof(*ops));

        if (ops == NULL) {
            return NULL;
        }
        l->ops = ops;
        l->cap = cap;
    }
    memset(&l->ops[l->nr], 0, sizeof(l->ops[0]));
    l->ops[l->nr].kind = kind;
    return &l->ops[l->nr++];
}

static int
add_bar_write(do_list_t *l, uint64_t off, uint32_t size, uint64_t val)
{
    do_op_t *op = add_op(l, DO_BAR_WRITE);

    if (op == NULL) {
        return -ENOMEM;
    }
    op->region = 0;
    op->off = off;
    op->size = size;
    op->val = val;
    return 0;
}

static uint64_t
slot_gpa(unsigned slot)
{
    return DO_MEM_BASE + (uint64_t)(slot % DO_NR_SLOTS) * DO_SLOT_SIZE;
}

/*
 * Guest addresses in descriptors: folded onto the slots plus one unmapped
 * slot past them, so most chains touch memory and some fault.
 */
static uint64_t
fold_gpa(uint64_t v)
{
    return DO_MEM_BASE + v % ((DO_NR_SLOTS + 1) * DO_SLOT_SIZE);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* Ring of queue q lives in slot 0, one page per queue. */
static uint64_t
ring_gpa(unsigned q)
{
    return DO_MEM_BASE + (uint64_t)q * 0x1000u;
}

static int
decode_queue_setup(do_list_t *l, do_rd_t *r)
{
    unsigned q = (unsigned)rd_n(r, 1) % DMAE_NR_QUEUES;
    unsigned b = (unsigned)rd_n(r, 1);
    uint32_t entries = 1u << (1 + b % 5);       /* 2..32 */
    uint32_t ctrl = DMAE_CTRL_ENABLE | ((b & 0x80) ? DMAE_CTRL_NO_DIRECT : 0);

    if (add_bar_write(l, DMAE_QREG(q, DMAE_Q_RING_LO), 4, ring_gpa(q)) < 0 ||
        add_bar_write(l, DMAE_QREG(q, DMAE_Q_RING_HI), 4, 0) < 0 ||
        add_bar_write(l, DMAE_QREG(q, DMAE_Q_RING_SIZE), 4, entries) < 0 ||
        add_bar_write(l, DMAE_QREG(q, DMAE_Q_INT_CTRL), 4,
                      (b & 0x40) ? DMAE_QINT_ENABLE : 0) < 0 ||
        add_bar_write(l, DMAE_QREG(q, DMAE_Q_CTRL), 4, DMAE_QCTRL_ENABLE) < 0 ||
        add_bar_write(l, DMAE_REG_CTRL, 4, ctrl) < 0) {
        return -ENOMEM;
    }
    return 0;
}

/*
 * A doorbell: descriptors from the input are written to the queue's ring
 * (as the guest would, so a scenario replays them with `mem write`), with
 * their addresses folded onto guest memory and lengths kept small, then
 * TAIL is written.  The device then reads them, and the buffers they
 * point at, with DMA_READs served from those fuzzer bytes.
 */
static int
decode_doorbell(do_list_t *l, do_rd_t *r)
{
    unsigned q = (unsigned)rd_n(r, 1) % DMAE_NR_QUEUES;
    unsigned n = 1 + (unsigned)rd_n(r, 1) % 8;
    uint32_t tail = (uint32_t)rd_n(r, 1) % 64;
    do_op_t *op;
    uint8_t *buf;

    buf = calloc(n, DMAE_DESC_SIZE);
    if (buf == NULL) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t *d = buf + (size_t)i * DMAE_DESC_SIZE;
        uint32_t len;

        for (unsigned j = 0; j < DMAE_DESC_SIZE; j++) {
            d[j] = (uint8_t)rd_n(r, 1);
        }
        d[0] %= 6;                      /* the five opcodes and a bad one */
        d[1] &= 7;                      /* flags, one undefined bit */
        len = (uint32_t)(d[4] | d[5] << 8) % 0x3000u;
        d[4] = (uint8_t)len;
        d[5] = (uint8_t)(len >> 8);
        d[6] = d[7] = 0;
        put_le64(d + 8, fold_gpa(get_le64(d + 8)));
        put_le64(d + 16, fold_gpa(get_le64(d + 16)));
        put_le64(d + 24, fold_gpa(get_le64(d + 24)) & ~(uint64_t)0x1f);
    }
    op = add_op(l, DO_MEM_WRITE);
    if (op == NULL) {
        free(buf);
        return -ENOMEM;
    }
    op->off = ring_gpa(q);
    op->size = n * DMAE_DESC_SIZE;
    op->data = buf;
    return add_bar_write(l, DMAE_QREG(q, DMAE_Q_TAIL), 4, tail);
}

static int
decode_one(const do_device_t *dev, do_list_t *l, do_rd_t *r, bool *migrated)
{
    static const uint32_t widths[4] = { 1, 2, 4, 8 };
    unsigned sel = (unsigned)rd_n(r, 1);
    do_op_t *op;

    /* 0xff alone migrates, once: a fresh instance per input is slow */
    if (sel == 0xff) {
        if (*migrated) {
            return 0;
        }
        *migrated = true;
        return add_op(l, DO_MIGRATE) == NULL ? -ENOMEM : 0;
    }
    switch (sel % 14) {
    case 0:
    case 1: {
        bool wr = sel % 14 == 1;
        uint32_t w = widths[rd_n(r, 1) % 3];
        uint64_t off = rd_n(r, 1);

        op = add_op(l, wr ? DO_CFG_WRITE : DO_CFG_READ);
        if (op == NULL) {
            return -ENOMEM;
        }
        op->size = w;
        op->off = off;
        if (wr) {
            op->val = rd_n(r, w);
        } else {
            op->must_work = off + w <= 256;
        }
        return 0;
    }
    case 2:
    case 3:
    case 4: {
        bool wr = sel % 14 != 2;
        unsigned b = (unsigned)rd_n(r, 1);
        unsigned bi = (b >> 4) % dev->nr_bars;
        uint32_t w = widths[b % 4];
        uint64_t off = rd_n(r, 2) % dev->bar_size[bi];

        if (b & 8) {
            off &= ~(uint64_t)(w - 1); /* mostly aligned, as drivers do */
        }
        op = add_op(l, wr ? DO_BAR_WRITE : DO_BAR_READ);
        if (op == NULL) {
            return -ENOMEM;
        }
        op->region = dev->bars[bi];
        op->size = w;
        op->off = off;
        if (wr) {
            op->val = rd_n(r, w);
        } else {
            /* a register read inside BAR0, aligned 32-bit, must work */
            op->must_work = bi == 0 && w == 4 && off % 4 == 0 &&
                            off + 4 <= dev->bar_size[0];
        }
        return 0;
    }
    case 5:
    case 6:
    case 7:
    case 8: {
        static const enum do_kind kinds[4] = {
            DO_IRQ_ENABLE, DO_IRQ_DISABLE, DO_IRQ_MASK, DO_IRQ_UNMASK
        };
        uint32_t idx = (uint32_t)rd_n(r, 1) % DO_NR_IRQ_INDEXES;

        op = add_op(l, kinds[sel % 14 - 5]);
        if (op == NULL) {
            return -ENOMEM;
        }
        op->region = idx;
        op->off = rd_n(r, 1) % 8;
        op->size = 1 + (uint32_t)rd_n(r, 1) % 8;
        return 0;
    }
    case 9:
        return add_op(l, DO_RESET) == NULL ? -ENOMEM : 0;
    case 10: {
        static const uint32_t prots[4] = {
            VMM_MEM_RW, VMM_MEM_RW, VMM_MEM_READ, VMM_MEM_WRITE
        };
        unsigned b = (unsigned)rd_n(r, 1);

        op = add_op(l, DO_MEM_MAP);
        if (op == NULL) {
            return -ENOMEM;
        }
        op->off = slot_gpa(b);
        op->val = (uint64_t)(1 + (b >> 2) % 16) * 0x1000u;
        op->prot = prots[(b >> 6) & 3];
        return 0;
    }
    case 11: {
        unsigned b = (unsigned)rd_n(r, 1);

        op = add_op(l, DO_MEM_UNMAP);
        if (op == NULL) {
            return -ENOMEM;
        }
        op->off = slot_gpa(b);
        op->val = (uint64_t)(1 + (b >> 2) % 16) * 0x1000u;
        return 0;
    }
    case 12: {
        uint64_t gpa = fold_gpa(rd_n(r, 3));
        size_t len = (size_t)(rd_n(r, 2) % DO_MAX_MEMW);
        uint8_t *buf;

        if (len > r->left) {
            len = r->left;
        }
        if (len == 0) {
            return 0;
        }
        buf = malloc(len);
        if (buf == NULL) {
            return -ENOMEM;
        }
        memcpy(buf, r->p, len);
        r->p += len;
        r->left -= len;
        op = add_op(l, DO_MEM_WRITE);
        if (op == NULL) {
            free(buf);
            return -ENOMEM;
        }
        op->off = gpa;
        op->size = (uint32_t)len;
        op->data = buf;
        return 0;
    }
    default:
        /* device macros: a queue set up, or a doorbell with its ring */
        if (!dev->dma) {
            /* gpio's doorbell: OUT_SET, which loops back to the inputs */
            return add_bar_write(l, GPIO_REG_OUT_SET, 4, rd_n(r, 4));
        }
        if (sel & 0x80) {
            return decode_queue_setup(l, r);
        }
        return decode_doorbell(l, r);
    }
}

int
do_decode(const do_device_t *dev, const uint8_t *data, size_t size,
          do_list_t *list)
{
    do_rd_t r = { data, size };
    bool migrated = false;

    while (r.left > 0 && list->nr < DO_MAX_OPS) {
        int rc = decode_one(dev, list, &r, &migrated);

        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void
do_list_free(do_list_t *list)
{
    for (size_t i = 0; i < list->nr; i++) {
        free(list->ops[i].data);
    }
    free(list->ops);
    memset(list, 0, sizeof(*list));
}

static const char *
prot_name(uint32_t prot)
{
    if (prot == VMM_MEM_READ) {
        return "ro";
    }
    if (prot == VMM_MEM_WRITE) {
        return "wo";
    }
    return "rw";
}

static void
print_sel(FILE *f, uint32_t region)
{
    if (region == VFU_PCI_DEV_CFG_REGION_IDX) {
        fputs("config", f);
    } else {
        fprintf(f, "bar%" PRIu32, region);
    }
}

void
do_print(const do_device_t *dev, const do_list_t *list, FILE *f)
{
    static const char *const irq_act[] = { "enable", "disable", "mask",
                                           "unmask" };
    const char *tol = " error any|ok";

    fprintf(f, "# decoded by vfu-crash2vus from a fuzz_dev_%s input\n",
            dev->name);
    fprintf(f, "device %s\n", dev->name);
    for (size_t i = 0; i < list->nr; i++) {
        const do_op_t *op = &list->ops[i];

        switch (op->kind) {
        case DO_CFG_READ:
        case DO_BAR_READ:
            print_sel(f, op->kind == DO_CFG_READ ? VFU_PCI_DEV_CFG_REGION_IDX
                                                 : op->region);
            fprintf(f, " read%" PRIu32 " 0x%" PRIx64 "%s\n", op->size * 8,
                    op->off, op->must_work ? "" : tol);
            break;
        case DO_CFG_WRITE:
        case DO_BAR_WRITE:
            print_sel(f, op->kind == DO_CFG_WRITE ? VFU_PCI_DEV_CFG_REGION_IDX
                                                  : op->region);
            fprintf(f, " write%" PRIu32 " 0x%" PRIx64 " 0x%" PRIx64 "%s\n",
                    op->size * 8, op->off, op->val, tol);
            break;
        case DO_IRQ_ENABLE:
        case DO_IRQ_MASK:
        case DO_IRQ_UNMASK:
            fprintf(f, "irq %" PRIu32 " %s %" PRIu64 "-%" PRIu64 "%s\n",
                    op->region, irq_act[op->kind - DO_IRQ_ENABLE], op->off,
                    op->off + op->size - 1, tol);
            break;
        case DO_IRQ_DISABLE:
            fprintf(f, "irq %" PRIu32 " disable%s\n", op->region, tol);
            break;
        case DO_RESET:
            fprintf(f, "reset%s\n", tol);
            break;
        case DO_MEM_MAP:
            fprintf(f, "mem map 0x%" PRIx64 " 0x%" PRIx64 " %s nofd%s\n",
                    op->off, op->val, prot_name(op->prot), tol);
            break;
        case DO_MEM_UNMAP:
            fprintf(f, "mem unmap 0x%" PRIx64 " 0x%" PRIx64 "%s\n", op->off,
                    op->val, tol);
            break;
        case DO_MEM_WRITE:
            fprintf(f, "mem write 0x%" PRIx64 " hex:", op->off);
            for (uint32_t j = 0; j < op->size; j++) {
                if (j > 0 && j % 32 == 0) {
                    fputs(" \\\n    hex:", f);
                }
                fprintf(f, "%02x", op->data[j]);
            }
            fprintf(f, "%s\n", tol);
            break;
        case DO_MIGRATE:
            fprintf(f, "migrate%s\n", tol);
            break;
        }
    }
}

int
do_exec_one(vmm_t **vmm, const do_op_t *op, do_migrate_fn *migrate,
            void *arg)
{
    uint64_t v;

    switch (op->kind) {
    case DO_CFG_READ:
        return vmm_config_read(*vmm, op->off, op->size, &v);
    case DO_CFG_WRITE:
        return vmm_config_write(*vmm, op->off, op->size, op->val);
    case DO_BAR_READ:
        return vmm_region_read_val(*vmm, op->region, op->off, op->size, &v);
    case DO_BAR_WRITE:
        return vmm_region_write_val(*vmm, op->region, op->off, op->size,
                                    op->val);
    case DO_IRQ_ENABLE:
        return vmm_irq_enable(*vmm, op->region, (uint32_t)op->off, op->size);
    case DO_IRQ_DISABLE:
        return vmm_irq_disable(*vmm, op->region);
    case DO_IRQ_MASK:
    case DO_IRQ_UNMASK:
        return vmm_irq_mask(*vmm, op->region, (uint32_t)op->off, op->size,
                            op->kind == DO_IRQ_MASK);
    case DO_RESET:
        return vmm_reset(*vmm);
    case DO_MEM_MAP:
        return vmm_mem_map(*vmm, op->off, op->val, op->prot | VMM_MEM_NOFD);
    case DO_MEM_UNMAP:
        return vmm_mem_unmap(*vmm, op->off, op->val);
    case DO_MEM_WRITE:
        return vmm_mem_write(*vmm, op->off, op->data, op->size);
    case DO_MIGRATE:
        return migrate(arg, vmm);
    }
    return -EINVAL;
}
