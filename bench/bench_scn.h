/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_scn.h - vfu-bench: scenario replay speed (operations per second). */
#ifndef VFU_BENCH_SCN_H
#define VFU_BENCH_SCN_H

/**
 * bench_scn_main - replay a generated gpio scenario of about @ops
 * statements with the scenario runner, in-process and over a UNIX socket
 * (the gpio model served by a forked child), and print operations per
 * second for both.  Returns 0 or a negative errno (reported on stderr).
 */
int
bench_scn_main(long ops);

#endif /* VFU_BENCH_SCN_H */
