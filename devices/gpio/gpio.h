/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gpio.h - identity and register map of the gpio sample device, for the
 * tests, scenarios and tools that drive it.  gpio.c documents the
 * behaviour behind each register.
 */
#ifndef VFU_DEVICES_GPIO_H
#define VFU_DEVICES_GPIO_H

/*
 * PCI identity.  0x4e58 ("NX") is not a PCI-SIG assigned vendor id we know
 * of; it marks the vfu-harness sample devices, each with its own device id.
 */
#define GPIO_VENDOR_ID 0x4e58
#define GPIO_DEVICE_ID 0x0001
#define GPIO_SUBSYS_VENDOR_ID 0x4e58
#define GPIO_SUBSYS_ID 0x0001
#define GPIO_REVISION 0x01
/* Base system peripheral (0x08) / other (0x80): what PCI GPIO blocks use. */
#define GPIO_CLASS_BASE 0x08
#define GPIO_CLASS_SUB 0x80
#define GPIO_CLASS_PI 0x00

/* Text of the vendor-specific capability (without the NUL that follows). */
#define GPIO_VSC_VERSION "vfu-gpio 1.0"

/* BAR0: 256-byte 32-bit non-prefetchable memory BAR of 32-bit registers. */
#define GPIO_BAR0_SIZE 256u
#define GPIO_REG_ID 0x00         /* RO: GPIO_ID_VALUE */
#define GPIO_REG_VERSION 0x04    /* RO: GPIO_VERSION_VALUE */
#define GPIO_REG_PINS 0x08       /* RO: [7:0] outputs, [15:8] inputs */
#define GPIO_REG_OUT 0x10        /* RW: output pins */
#define GPIO_REG_OUT_SET 0x14    /* write 1 to set output pins; reads 0 */
#define GPIO_REG_OUT_CLR 0x18    /* write 1 to clear output pins; reads 0 */
#define GPIO_REG_IN 0x20         /* RO: input pins */
#define GPIO_REG_COUNTER 0x24    /* RO: writes to the output registers */
#define GPIO_REG_IRQ_ENABLE 0x30 /* RW: one bit per input pin */
#define GPIO_REG_IRQ_STATUS 0x34 /* RW1C: enabled inputs that changed */
#define GPIO_REG_IRQ_COUNT 0x38  /* RO: INTx assertions by the device */
#define GPIO_REG_SCRATCH 0x40    /* RW: no side effect */

#define GPIO_ID_VALUE 0x4f495047u      /* the bytes "GPIO" */
#define GPIO_VERSION_VALUE 0x00010000u /* major 1, minor 0 */
#define GPIO_NR_PINS 32u
#define GPIO_PINS_VALUE (GPIO_NR_PINS | (GPIO_NR_PINS << 8))

/* BAR2: 32-byte I/O BAR, one 8-bit rising-edge counter per output pin. */
#define GPIO_BAR2_SIZE 32u

/*
 * Migration data: blobs framed as devices/common/devmig.h describes, with
 * magic GPIO_MIG_MAGIC (the bytes "GPMG") and layout version 1.  The
 * payload, little-endian at fixed offsets:
 *
 *   0x000  u32       OUT
 *   0x004  u32       COUNTER
 *   0x008  u32       IRQ_ENABLE
 *   0x00c  u32       IRQ_STATUS
 *   0x010  u32       IRQ_COUNT
 *   0x014  u32       SCRATCH
 *   0x018  u8[32]    BAR2 edge counters, pin 0 first
 *   0x038  u8[256]   PCI config space (COMMAND, BARs, PM state... are the
 *                    guest's; IDs and capabilities must match the
 *                    destination's)
 *
 * Every register value is valid for the device, so the checks on a
 * received blob are its framing, its CRC and the config space identity.
 */
#define GPIO_MIG_MAGIC 0x474d5047u /* "GPMG" */
#define GPIO_MIG_VERSION 1u
#define GPIO_MIG_OFF_OUT 0x000u
#define GPIO_MIG_OFF_COUNTER 0x004u
#define GPIO_MIG_OFF_IRQ_ENABLE 0x008u
#define GPIO_MIG_OFF_IRQ_STATUS 0x00cu
#define GPIO_MIG_OFF_IRQ_COUNT 0x010u
#define GPIO_MIG_OFF_SCRATCH 0x014u
#define GPIO_MIG_OFF_EDGES 0x018u
#define GPIO_MIG_OFF_CONFIG 0x038u
#define GPIO_MIG_CONFIG_SIZE 256u
#define GPIO_MIG_PAYLOAD_SIZE (GPIO_MIG_OFF_CONFIG + GPIO_MIG_CONFIG_SIZE)

#endif /* VFU_DEVICES_GPIO_H */
