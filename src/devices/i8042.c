/* i8042.c: minimal 8042 keyboard controller: self-tests, command byte, reset, key injection. */
#include "devices/i8042.h"

#include <errno.h>
#include <string.h>

#include "metrics.h"

#define STATUS_OBF      0x01   /* output buffer full */
#define STATUS_SYS      0x04   /* system flag: POST passed */
#define STATUS_CMD      0x08   /* last write was a command */
#define CTR_KBD_INT     0x01
#define CTR_SYS         0x04
#define CTR_TRANSLATE   0x40

#define CMD_READ_CTR    0x20
#define CMD_WRITE_CTR   0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE  0xa8
#define CMD_AUX_TEST    0xa9
#define CMD_SELF_TEST   0xaa
#define CMD_KBD_TEST    0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE  0xae
#define CMD_READ_OUTP   0xd0
#define CMD_WRITE_OUTP  0xd1
#define CMD_RESET_CPU   0xfe

#define KBD_ACK         0xfa
#define KBD_RESET       0xff
#define KBD_GET_ID      0xf2
#define KBD_BAT_OK      0xaa

/*
 * Ctrl, Alt and Delete pressed, then released, as the host reads them: in
 * scan-code set 1 while the controller translates (CTR_TRANSLATE, the PC
 * default, which Linux keeps: its atkbd then maps set-1 bytes), else in set 2.
 */
static const uint8_t i8042_cad_set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
static const uint8_t i8042_cad_set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
					  0xf0, 0x11, 0xf0, 0x14 };

int i8042_init(struct i8042 *k, void (*pulse_irq)(void *), void (*reset)(void *), void *opaque)
{
	int r;

	memset(k, 0, sizeof(*k));
	r = pthread_mutex_init(&k->lock, NULL);
	if (r)
		return -r;
	k->pulse_irq = pulse_irq;
	k->reset = reset;
	k->opaque = opaque;
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_TRANSLATE;
	k->outp = 0x01;   /* reset line high: running */
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	if (k->pulse_irq)
		pthread_mutex_destroy(&k->lock);
	memset(k, 0, sizeof(*k));
}

/* Lock held. Returns 1 if the byte was queued. */
static int i8042_push(struct i8042 *k, uint8_t b)
{
	if (k->len == I8042_BUF_CAP) {
		k->missed_write++;
		metric_inc(M_i8042_missed_write_count);
		return 0;
	}
	k->buf[(k->head + k->len) % I8042_BUF_CAP] = b;
	k->len++;
	return 1;
}

static void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	int irq = 0;

	(void)off;
	memset(data, 0, len);
	pthread_mutex_lock(&k->lock);
	if (k->len) {
		data[0] = k->buf[k->head];
		k->head = (k->head + 1) % I8042_BUF_CAP;
		k->len--;
		metric_inc(M_i8042_read_count);
		/* One byte per interrupt, as on a PC: Linux reads one byte per IRQ 1. */
		irq = k->len && (k->ctr & CTR_KBD_INT);
	} else {
		k->missed_read++;
		metric_inc(M_i8042_missed_read_count);
	}
	pthread_mutex_unlock(&k->lock);
	if (irq)
		k->pulse_irq(k->opaque);
}

static void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	uint8_t v = data[0];
	int irq = 0;

	(void)off;
	(void)len;
	metric_inc(M_i8042_write_count);
	pthread_mutex_lock(&k->lock);
	switch (k->cmd) {
	case CMD_WRITE_CTR:
		k->ctr = v;
		break;
	case CMD_WRITE_OUTP:
		k->outp = v;
		break;
	default:
		/* A byte for the keyboard itself. */
		i8042_push(k, KBD_ACK);
		if (v == KBD_RESET)
			i8042_push(k, KBD_BAT_OK);
		else if (v == KBD_GET_ID) {
			i8042_push(k, 0xab);
			i8042_push(k, 0x83);
		}
		irq = k->ctr & CTR_KBD_INT;
		break;
	}
	k->cmd = 0;
	pthread_mutex_unlock(&k->lock);
	if (irq)
		k->pulse_irq(k->opaque);
}

static void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;

	(void)off;
	memset(data, 0, len);
	pthread_mutex_lock(&k->lock);
	data[0] = (uint8_t)(STATUS_SYS | (k->len ? STATUS_OBF : 0) | (k->cmd ? STATUS_CMD : 0));
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct i8042 *k = opaque;
	int do_reset = 0;

	(void)off;
	(void)len;
	pthread_mutex_lock(&k->lock);
	k->cmd = 0;
	switch (data[0]) {
	case CMD_READ_CTR:
		i8042_push(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
		k->cmd = data[0];
		break;
	case CMD_READ_OUTP:
		i8042_push(k, k->outp);
		break;
	case CMD_SELF_TEST:
		i8042_push(k, 0x55);
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		i8042_push(k, 0x00);
		break;
	case CMD_KBD_DISABLE:
	case CMD_KBD_ENABLE:
	case CMD_AUX_DISABLE:
	case CMD_AUX_ENABLE:
		break;
	case CMD_RESET_CPU:
		k->reset_count++;
		metric_inc(M_i8042_reset_count);
		do_reset = 1;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&k->lock);
	if (do_reset)
		k->reset(k->opaque);
}

const struct bus_ops i8042_data_ops = { .read = i8042_data_read, .write = i8042_data_write };
const struct bus_ops i8042_cmd_ops = { .read = i8042_cmd_read, .write = i8042_cmd_write };

int i8042_ctrl_alt_del(struct i8042 *k)
{
	const uint8_t *seq;
	size_t n;
	int ok = 1, irq;

	pthread_mutex_lock(&k->lock);
	if (k->ctr & CTR_TRANSLATE)
		seq = i8042_cad_set1, n = sizeof(i8042_cad_set1);
	else
		seq = i8042_cad_set2, n = sizeof(i8042_cad_set2);
	if (I8042_BUF_CAP - k->len < n)
		ok = 0;
	else
		for (size_t i = 0; i < n; i++)
			i8042_push(k, seq[i]);
	irq = ok && (k->ctr & CTR_KBD_INT);
	pthread_mutex_unlock(&k->lock);
	if (!ok)
		return -ENOSPC;
	if (irq)
		k->pulse_irq(k->opaque);
	return 0;
}

static void i8042_save(void *dev, void *state)
{
	struct i8042 *k = dev;
	struct i8042_state *st = state;

	pthread_mutex_lock(&k->lock);
	st->ctr = k->ctr;
	st->cmd = k->cmd;
	st->outp = k->outp;
	st->len = (uint8_t)k->len;
	for (unsigned i = 0; i < k->len; i++)
		st->buf[i] = k->buf[(k->head + i) % I8042_BUF_CAP];
	pthread_mutex_unlock(&k->lock);
}

static int i8042_restore(void *dev, const void *state, struct err *e)
{
	struct i8042 *k = dev;
	const struct i8042_state *st = state;

	if (st->len > I8042_BUF_CAP)
		return err_set(e, -EINVAL, "i8042: %u queued bytes, at most %u", st->len,
			       I8042_BUF_CAP);
	pthread_mutex_lock(&k->lock);
	k->ctr = st->ctr;
	k->cmd = st->cmd;
	k->outp = st->outp;
	k->head = 0;
	k->len = st->len;
	memcpy(k->buf, st->buf, st->len);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_dev_destroy(void *dev)
{
	i8042_destroy(dev);
}

const struct dev_ops i8042_dev_ops = {
	.kind = DEV_I8042,
	.name = "i8042",
	.state_size = sizeof(struct i8042_state),
	.save = i8042_save,
	.restore = i8042_restore,
	.destroy = i8042_dev_destroy,
};
