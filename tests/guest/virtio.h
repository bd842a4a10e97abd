/* virtio.h: the virtio-mmio transport (virtio 1.2 section 4.2): discovery from the command line, status, features, config. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

struct probe_result;

/* MMIO register offsets, virtio 1.2 4.2.2 table "MMIO Device Register Layout". */
#define VIRTIO_MMIO_MAGIC         0x000  /* "virt" = 0x74726976 */
#define VIRTIO_MMIO_VERSION       0x004  /* 2: virtio 1.x; 1: legacy */
#define VIRTIO_MMIO_DEVICE_ID     0x008
#define VIRTIO_MMIO_VENDOR_ID     0x00c
#define VIRTIO_MMIO_DEV_FEAT      0x010
#define VIRTIO_MMIO_DEV_FEAT_SEL  0x014
#define VIRTIO_MMIO_DRV_FEAT      0x020
#define VIRTIO_MMIO_DRV_FEAT_SEL  0x024
#define VIRTIO_MMIO_QUEUE_SEL     0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM     0x038
#define VIRTIO_MMIO_QUEUE_READY   0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY  0x050
#define VIRTIO_MMIO_INT_STATUS    0x060
#define VIRTIO_MMIO_INT_ACK       0x064
#define VIRTIO_MMIO_STATUS        0x070
#define VIRTIO_MMIO_QUEUE_DESC    0x080  /* low, high at +4 */
#define VIRTIO_MMIO_QUEUE_DRIVER  0x090
#define VIRTIO_MMIO_QUEUE_DEVICE  0x0a0
#define VIRTIO_MMIO_CONFIG_GEN    0x0fc
#define VIRTIO_MMIO_CONFIG        0x100

#define VIRTIO_MMIO_MAGIC_VALUE   0x74726976

/* InterruptStatus bits, 4.2.2. */
#define VIRTIO_INT_USED_BUFFER    0x1
#define VIRTIO_INT_CONFIG         0x2

/* Device status bits, 2.1. */
#define VIRTIO_S_ACKNOWLEDGE      1
#define VIRTIO_S_DRIVER           2
#define VIRTIO_S_DRIVER_OK        4
#define VIRTIO_S_FEATURES_OK      8
#define VIRTIO_S_NEEDS_RESET      64
#define VIRTIO_S_FAILED           128

/* Device-independent feature bits, section 6. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

/* Device IDs, section 5. */
#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19

/* Linux's virtio_mmio accepts any number of devices; Firecracker-style VMMs use pins 5-23. */
#define VIRTIO_MAX_DEVS 24

struct virtio_dev {
	unsigned index;        /* position among the virtio_mmio.device= arguments */
	uint64_t base;
	uint64_t size;
	unsigned irq;          /* GSI from the argument */
	int pin;               /* IOAPIC pin it is routed to, -1 before virtio_irq_setup() */
	uint16_t pin_flags;    /* MP-table polarity and trigger of that pin */
	uint32_t version;
	uint32_t device_id;
	uint32_t vendor;
	uint64_t features;     /* negotiated (driver features written and accepted) */
	volatile unsigned irqs;       /* interrupts taken */
	volatile unsigned irq_used;   /* ... of which with the used-buffer bit */
	volatile unsigned irq_config; /* ... of which with the config-change bit */
};

/* The result of parsing the command line. */
struct virtio_list {
	unsigned n;
	struct virtio_dev devs[VIRTIO_MAX_DEVS];
	const char *error;     /* first malformed argument, or NULL */
	unsigned error_len;
};

/*
 * Parse every "virtio_mmio.device=<size>@<base>:<irq>[:<id>]" token of cmd as
 * Linux's virtio_mmio does (size with an optional K/M/G suffix, base and irq
 * as C numbers, irq decimal), map each region uncached, and read MagicValue,
 * Version, DeviceID and VendorID. Returns the number of devices.
 */
unsigned virtio_discover(const char *cmd, struct virtio_list *l);

/*
 * Why d cannot be driven: "bad-magic", "legacy-version-1" (only version 2
 * is supported), "version-<n>", or NULL when d is a usable modern device.
 * DeviceID 0 means "no device here" (4.2.2): reported as "no-device".
 */
const char *virtio_unusable(const struct virtio_dev *d);

uint32_t virtio_read(const struct virtio_dev *d, uint32_t reg);
void virtio_write(const struct virtio_dev *d, uint32_t reg, uint32_t v);

uint8_t virtio_status(const struct virtio_dev *d);

/*
 * Reset (write 0 to Status) and wait until Status reads 0 (4.2.2.1).
 * Returns 0, or -1 if it never did within timeout_us.
 */
int virtio_reset(struct virtio_dev *d, uint64_t timeout_us);

/*
 * 3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, read the 64 feature bits,
 * write want & offered, FEATURES_OK and check that it stuck. VERSION_1 must be
 * offered. Returns NULL, or what went wrong (the device is left FAILED).
 * d->features holds the accepted set.
 */
const char *virtio_negotiate(struct virtio_dev *d, uint64_t want, uint64_t *offered);

/* Step 8: DRIVER_OK. */
void virtio_driver_ok(struct virtio_dev *d);

/* Mark the device FAILED (3.1.1: the driver gives up). */
void virtio_fail(struct virtio_dev *d);

/*
 * Read len bytes (1, 2, 4 or 8) of configuration space at off with the
 * ConfigGeneration loop (2.5.1, 4.2.2.2); 8-byte fields as two 4-byte reads.
 */
uint64_t virtio_config(const struct virtio_dev *d, uint32_t off, unsigned len);

/*
 * Route d's interrupt (the irq of its argument: an ISA IRQ through the MP
 * table's pin as Linux does, higher GSIs to the pin of that number) to
 * VEC_IRQ_BASE + pin, masked. The handler reads InterruptStatus, writes it
 * to InterruptACK and counts in d->irqs/irq_used/irq_config.
 * Returns the pin, or -1 if it is beyond the IOAPIC.
 */
int virtio_irq_setup(struct virtio_dev *d);

/* Unmask (on) or mask d's IOAPIC pin; -1 before virtio_irq_setup(). */
void virtio_irq_enable(struct virtio_dev *d, bool on);

/* Read InterruptStatus and acknowledge what it shows (polling mode); returns the bits. */
uint32_t virtio_irq_ack(struct virtio_dev *d);

/* Feature bit b of the 64-bit set f. */
static inline bool virtio_has(uint64_t f, unsigned b)
{
	return (f >> b) & 1;
}

#endif
