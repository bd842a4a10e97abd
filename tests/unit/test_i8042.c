/* test_i8042.c: the 8042 as Linux's i8042 and atkbd drivers use it: one byte per interrupt,
 * keyboard command answers, the Ctrl-Alt-Del sequence in the scan-code set the host reads. */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "devices/i8042.h"

static unsigned pulses, resets;
static void pulse(void *o) { (void)o; pulses++; }
static void reset(void *o) { (void)o; resets++; }

static uint8_t rd(struct i8042 *k, const struct bus_ops *ops)
{
	uint8_t b = 0xee;

	ops->read(k, 0, &b, 1);
	return b;
}

static void wr(struct i8042 *k, const struct bus_ops *ops, uint8_t b)
{
	ops->write(k, 0, &b, 1);
}

/* Read everything queued the way Linux does: on each interrupt, status then one data byte. */
static unsigned drain(struct i8042 *k, uint8_t *out, unsigned cap)
{
	unsigned n = 0;

	while (n < cap && (rd(k, &i8042_cmd_ops) & 0x01))
		out[n++] = rd(k, &i8042_data_ops);
	return n;
}

static void test_get_id_one_irq_per_byte(void)
{
	struct i8042 k;
	uint8_t b[8];

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	pulses = 0;
	wr(&k, &i8042_data_ops, 0xf2);      /* atkbd's GETID */
	CHECK_EQ_U(pulses, 1);
	CHECK_EQ_U(rd(&k, &i8042_data_ops), 0xfa);
	CHECK_EQ_U(pulses, 2);              /* a byte is still there: another interrupt */
	CHECK_EQ_U(rd(&k, &i8042_data_ops), 0xab);
	CHECK_EQ_U(pulses, 3);
	CHECK_EQ_U(rd(&k, &i8042_data_ops), 0x83);
	CHECK_EQ_U(pulses, 3);              /* empty now: no interrupt */
	CHECK_EQ_U(drain(&k, b, sizeof(b)), 0);
	/* SETLEDS and its argument: an ACK each, nothing left behind. */
	wr(&k, &i8042_data_ops, 0xed);
	wr(&k, &i8042_data_ops, 0x00);
	CHECK_EQ_U(drain(&k, b, sizeof(b)), 2);
	CHECK(b[0] == 0xfa && b[1] == 0xfa);
	i8042_destroy(&k);
}

static void test_no_irq_when_disabled(void)
{
	struct i8042 k;

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	wr(&k, &i8042_cmd_ops, 0x60);       /* write the command byte: interrupts off */
	wr(&k, &i8042_data_ops, 0x00);
	pulses = 0;
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);
	CHECK_EQ_U(rd(&k, &i8042_data_ops), 0x14);   /* no translation: set 2 */
	CHECK_EQ_U(pulses, 0);
	i8042_destroy(&k);
}

static void test_cad_translated_set1(void)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	struct i8042 k;
	uint8_t b[32];

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	pulses = 0;
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);
	CHECK_EQ_U(drain(&k, b, sizeof(b)), sizeof(want));
	CHECK(memcmp(b, want, sizeof(want)) == 0);
	CHECK_EQ_U(pulses, sizeof(want));   /* one interrupt per byte */
	i8042_destroy(&k);
}

static void test_cad_untranslated_set2(void)
{
	static const uint8_t want[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14 };
	struct i8042 k;
	uint8_t b[32];

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	wr(&k, &i8042_cmd_ops, 0x20);       /* read the command byte */
	uint8_t ctr = rd(&k, &i8042_data_ops);
	CHECK(ctr & 0x40);                  /* translating, as after a PC's firmware */
	wr(&k, &i8042_cmd_ops, 0x60);
	wr(&k, &i8042_data_ops, (uint8_t)(ctr & ~0x40));
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);
	CHECK_EQ_U(drain(&k, b, sizeof(b)), sizeof(want));
	CHECK(memcmp(b, want, sizeof(want)) == 0);
	i8042_destroy(&k);
}

static void test_cad_full_buffer(void)
{
	struct i8042 k;

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);        /* 16 bytes: the buffer is full */
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), -ENOSPC);  /* nothing half-queued */
	CHECK_EQ_U(rd(&k, &i8042_data_ops), 0x1d);
	i8042_destroy(&k);
}

static void test_reset_line(void)
{
	struct i8042 k;

	CHECK_EQ_I(i8042_init(&k, pulse, reset, NULL), 0);
	resets = 0;
	wr(&k, &i8042_cmd_ops, 0xfe);
	CHECK_EQ_U(resets, 1);
	i8042_destroy(&k);
}

int main(void)
{
	RUN(test_get_id_one_irq_per_byte);
	RUN(test_no_irq_when_disabled);
	RUN(test_cad_translated_set1);
	RUN(test_cad_untranslated_set2);
	RUN(test_cad_full_buffer);
	RUN(test_reset_line);
	return check_summary();
}
