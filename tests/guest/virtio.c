/* virtio.c: virtio-mmio transport: command-line discovery, reset, feature negotiation, config space, interrupts. */
#include "virtio.h"
#include "apic.h"
#include "cmdline.h"
#include "guest.h"
#include "idt.h"
#include "io.h"
#include "lib.h"
#include "mptable.h"
#include "paging.h"
#include "pit.h"

#define VIRTIO_ARG "virtio_mmio.device"

/* Registers start at 0 and the device-specific configuration at 0x100 (4.2.2). */
#define VIRTIO_MIN_REGION 0x100

static struct virtio_dev *virtio_by_pin[24];
static uint64_t virtio_ioapic;
static struct mp_info virtio_mp;
static bool virtio_mp_done;

static bool virtio_digit(char c, unsigned base, unsigned *d)
{
	if (c >= '0' && c <= '9')
		*d = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*d = (unsigned)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*d = (unsigned)(c - 'A' + 10);
	else
		return false;
	return *d < base;
}

/*
 * A number at s (not past end) in base, or with base 0 as C writes it
 * (0x hex, leading 0 octal, else decimal), like the kernel's simple_strtoull.
 * Returns the characters consumed, 0 if there are no digits or it overflows.
 */
static size_t virtio_num(const char *s, const char *end, unsigned base, uint64_t *v)
{
	const char *p = s;
	unsigned d;

	if (base == 0) {
		base = 10;
		if (end - p >= 3 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
		    virtio_digit(p[2], 16, &d)) {
			base = 16;
			p += 2;
		} else if (end - p >= 2 && p[0] == '0') {
			base = 8;
		}
	}
	*v = 0;
	if (p >= end || !virtio_digit(*p, base, &d))
		return 0;
	for (; p < end && virtio_digit(*p, base, &d); p++) {
		if (*v > (UINT64_MAX - d) / base)
			return 0;
		*v = *v * base + d;
	}
	return (size_t)(p - s);
}

/*
 * "<size>@<base>:<irq>[:<id>]": size as memparse() reads it (number, then
 * an optional K, M, G, T, P or E), then sscanf("@%lli:%u%n:%d%n") as
 * drivers/virtio/virtio_mmio.c vm_cmdline_set() does; nothing may follow.
 */
static int virtio_parse_arg(const char *s, size_t len, struct virtio_dev *d)
{
	const char *p = s, *end = s + len;
	uint64_t v;
	size_t n;

	if (!(n = virtio_num(p, end, 0, &d->size)))
		return -1;
	p += n;
	if (p < end) {
		static const char suffix[] = "KMGTPE";

		for (unsigned i = 0; suffix[i]; i++) {
			if (*p == suffix[i] || *p == suffix[i] + ('a' - 'A')) {
				if (d->size >> (64 - 10 * (i + 1)))
					return -1;
				d->size <<= 10 * (i + 1);
				p++;
				break;
			}
		}
	}
	if (p >= end || *p++ != '@' || !(n = virtio_num(p, end, 0, &d->base)))
		return -1;
	p += n;
	if (p >= end || *p++ != ':' || !(n = virtio_num(p, end, 10, &v)) || v > 0xffffffffu)
		return -1;
	d->irq = (unsigned)v;
	p += n;
	if (p < end) {  /* optional :<platform device id>, unused here */
		if (*p++ != ':' || !(n = virtio_num(p, end, 10, &v)))
			return -1;
		p += n;
	}
	return p == end && d->size ? 0 : -1;
}

uint32_t virtio_read(const struct virtio_dev *d, uint32_t reg)
{
	return io_read32(d->base + reg);
}

void virtio_write(const struct virtio_dev *d, uint32_t reg, uint32_t v)
{
	io_write32(d->base + reg, v);
}

unsigned virtio_discover(const char *cmd, struct virtio_list *l)
{
	size_t pos = 0, len;
	const char *val;

	memset(l, 0, sizeof(*l));
	while (cmdline_next(cmd, VIRTIO_ARG, &pos, &val, &len)) {
		struct virtio_dev *d = &l->devs[l->n];

		if (l->n >= VIRTIO_MAX_DEVS)
			break;
		memset(d, 0, sizeof(*d));
		d->pin = -1;
		if (virtio_parse_arg(val, len, d) != 0) {
			if (!l->error) {
				l->error = val;
				l->error_len = (unsigned)len;
			}
			continue;
		}
		d->index = l->n++;
		if (d->size < VIRTIO_MIN_REGION)
			continue;
		/* [3 GiB, 4 GiB) is mapped uncached already; map anything else the same way. */
		if (!paging_is_mapped(d->base, d->size) && paging_map(d->base, d->size, true) != 0)
			continue;
		d->version = virtio_read(d, VIRTIO_MMIO_VERSION);
		d->device_id = virtio_read(d, VIRTIO_MMIO_DEVICE_ID);
		d->vendor = virtio_read(d, VIRTIO_MMIO_VENDOR_ID);
		/* Magic last: a zero version tells virtio_unusable() to look at it. */
		if (virtio_read(d, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE)
			d->version = 0;
	}
	return l->n;
}

const char *virtio_unusable(const struct virtio_dev *d)
{
	if (d->size < VIRTIO_MIN_REGION)
		return "region-too-small";
	if (!paging_is_mapped(d->base, d->size))
		return "region-unmappable";
	if (d->version == 0)
		return "bad-magic";
	if (d->version == 1)
		return "legacy-version-1";
	if (d->version != 2)
		return "unknown-version";
	if (d->device_id == 0)
		return "no-device";
	return 0;
}

uint8_t virtio_status(const struct virtio_dev *d)
{
	return (uint8_t)virtio_read(d, VIRTIO_MMIO_STATUS);
}

static void virtio_set_status(struct virtio_dev *d, uint8_t bits)
{
	virtio_write(d, VIRTIO_MMIO_STATUS, virtio_status(d) | bits);
}

int virtio_reset(struct virtio_dev *d, uint64_t timeout_us)
{
	uint64_t t0 = pit_now_us();

	/* 4.2.2.1: after writing 0 the driver MUST wait for a read of 0. */
	virtio_write(d, VIRTIO_MMIO_STATUS, 0);
	while (virtio_status(d) != 0) {
		if (pit_now_us() - t0 > timeout_us)
			return -1;
		cpu_pause();
	}
	return 0;
}

void virtio_fail(struct virtio_dev *d)
{
	virtio_set_status(d, VIRTIO_S_FAILED);
}

const char *virtio_negotiate(struct virtio_dev *d, uint64_t want, uint64_t *offered)
{
	uint64_t f;

	d->features = 0;
	if (virtio_reset(d, 1000000) != 0)
		return "reset-timeout";
	virtio_set_status(d, VIRTIO_S_ACKNOWLEDGE);
	virtio_set_status(d, VIRTIO_S_DRIVER);
	/* 4.2.2: DeviceFeaturesSel picks the 32-bit half DeviceFeatures shows. */
	virtio_write(d, VIRTIO_MMIO_DEV_FEAT_SEL, 1);
	f = (uint64_t)virtio_read(d, VIRTIO_MMIO_DEV_FEAT) << 32;
	virtio_write(d, VIRTIO_MMIO_DEV_FEAT_SEL, 0);
	f |= virtio_read(d, VIRTIO_MMIO_DEV_FEAT);
	*offered = f;
	if (!virtio_has(f, VIRTIO_F_VERSION_1)) {
		virtio_fail(d);
		return "no-VERSION_1";
	}
	f &= want | 1ULL << VIRTIO_F_VERSION_1;
	virtio_write(d, VIRTIO_MMIO_DRV_FEAT_SEL, 1);
	virtio_write(d, VIRTIO_MMIO_DRV_FEAT, (uint32_t)(f >> 32));
	virtio_write(d, VIRTIO_MMIO_DRV_FEAT_SEL, 0);
	virtio_write(d, VIRTIO_MMIO_DRV_FEAT, (uint32_t)f);
	/* 3.1.1 steps 5-6: the device may refuse the subset by clearing FEATURES_OK. */
	virtio_set_status(d, VIRTIO_S_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_S_FEATURES_OK)) {
		virtio_fail(d);
		return "FEATURES_OK-refused";
	}
	d->features = f;
	return 0;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	virtio_set_status(d, VIRTIO_S_DRIVER_OK);
}

static uint64_t virtio_config_once(const struct virtio_dev *d, uint32_t off, unsigned len)
{
	uint64_t a = d->base + VIRTIO_MMIO_CONFIG + off;

	/* 4.2.2.2: accesses of the field's own width; 64-bit fields as two 32-bit ones. */
	switch (len) {
	case 1:
		return *(volatile uint8_t *)(uintptr_t)a;
	case 2:
		return *(volatile uint16_t *)(uintptr_t)a;
	case 4:
		return io_read32(a);
	default:
		return io_read32(a) | (uint64_t)io_read32(a + 4) << 32;
	}
}

uint64_t virtio_config(const struct virtio_dev *d, uint32_t off, unsigned len)
{
	uint32_t gen;
	uint64_t v;

	/* 2.5.1: repeat until ConfigGeneration is the same before and after. */
	do {
		gen = virtio_read(d, VIRTIO_MMIO_CONFIG_GEN);
		v = virtio_config_once(d, off, len);
	} while (gen != virtio_read(d, VIRTIO_MMIO_CONFIG_GEN));
	return v;
}

uint32_t virtio_irq_ack(struct virtio_dev *d)
{
	uint32_t s = virtio_read(d, VIRTIO_MMIO_INT_STATUS);

	/* 4.2.2: writing the bits handled to InterruptACK clears them. */
	if (s)
		virtio_write(d, VIRTIO_MMIO_INT_ACK, s);
	return s;
}

/* Interrupt handler for every virtio pin, as vm_interrupt() in Linux. */
static void virtio_irq(struct idt_frame *f)
{
	struct virtio_dev *d = virtio_by_pin[(f->vector - VEC_IRQ_BASE) % 24];
	uint32_t s;

	if (!d)
		return;
	s = virtio_irq_ack(d);
	d->irqs++;
	if (s & VIRTIO_INT_USED_BUFFER)
		d->irq_used++;
	if (s & VIRTIO_INT_CONFIG)
		d->irq_config++;
}

int virtio_irq_setup(struct virtio_dev *d)
{
	struct mp_irq m = { true, 0, 0, 0 };

	if (!virtio_mp_done) {
		/* Without an MP table ISA IRQs map to the pin of the same number. */
		(void)mp_parse(&virtio_mp);
		virtio_ioapic = virtio_mp.ioapic_addr ? virtio_mp.ioapic_addr : IOAPIC_DEFAULT_BASE;
		virtio_mp_done = true;
		lapic_init();
	}
	/* Linux: legacy IRQs (< 16) go through the MP table's ISA entries, GSIs map 1:1. */
	if (d->irq < MP_ISA_IRQS)
		m = mp_isa_route(&virtio_mp, d->irq);
	else if (d->irq < 24)
		m.pin = (uint8_t)d->irq;
	else
		m.pin = 0xff;
	/* isr.S has stubs for 24 pins, KVM's IOAPIC size. */
	if (m.pin >= 24 || m.pin >= ioapic_pins(virtio_ioapic)) {
		d->pin = -1;
		return -1;
	}
	d->pin = m.pin;
	d->pin_flags = m.flags;
	virtio_by_pin[m.pin] = d;
	idt_set_handler((uint8_t)(VEC_IRQ_BASE + m.pin), virtio_irq);
	ioapic_route(virtio_ioapic, m.pin, (uint8_t)(VEC_IRQ_BASE + m.pin), lapic_id(), m.flags);
	ioapic_mask(virtio_ioapic, m.pin);
	return m.pin;
}

void virtio_irq_enable(struct virtio_dev *d, bool on)
{
	if (d->pin < 0)
		return;
	if (on)
		ioapic_route(virtio_ioapic, (unsigned)d->pin, (uint8_t)(VEC_IRQ_BASE + d->pin),
			     lapic_id(), d->pin_flags);
	else
		ioapic_mask(virtio_ioapic, (unsigned)d->pin);
}
