/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_dma.h - vfu-bench --dma: DMA throughput and interrupt latency. */
#ifndef VFU_BENCH_DMA_H
#define VFU_BENCH_DMA_H

#include <stdbool.h>

typedef struct bench_dma_opts {
    long iters; /* interrupt latency samples per operation (capped) */
    bool json;  /* one JSON object on stdout instead of tables */
} bench_dma_opts_t;

/**
 * bench_dma_main - run the dmaengine benchmarks: COPY throughput through
 * DMA messages (fd-less memory) and through mappings (memfd) at 4 KiB,
 * 64 KiB and 1 MiB per descriptor, and doorbell-to-eventfd latency, each
 * in-process and over a UNIX socket; print the results.  Returns 0 or a
 * negative errno.
 */
int
bench_dma_main(const bench_dma_opts_t *o);

#endif /* VFU_BENCH_DMA_H */
