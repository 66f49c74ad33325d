/* SPDX-License-Identifier: BSD-3-Clause */
/* empty.c - keeps a library with no sources yet buildable. */
extern int vfu_empty_translation_unit;
