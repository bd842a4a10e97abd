/* i8042.c: keyboard scan-code decoding for Ctrl-Alt-Del and the i8042 reset line. */
#include "i8042.h"
#include "idt.h"
#include "io.h"
#include "pit.h"

#define I8042_DATA   0x60
#define I8042_STATUS 0x64
#define I8042_CMD    0x64
#define I8042_STS_OBF  0x01  /* output buffer full */
#define I8042_STS_AUX  0x20  /* the byte is from the mouse port */
#define I8042_CMD_RESET 0xfe /* pulse output line 0: CPU reset */

/*
 * Make codes of the keys, in scan code set 1 (what a translating i8042, as
 * QEMU's after BIOS setup, delivers) and set 2 (what Firecracker's
 * SendCtrlAltDel injects: 0x14, 0x11, 0xE0 0x71). A set-1 release sets bit
 * 7; a set-2 release is prefixed by 0xF0. Right Ctrl/Alt carry 0xE0.
 */
#define SC1_CTRL 0x1d
#define SC1_ALT  0x38
#define SC1_DEL  0x53  /* after 0xE0 */
#define SC2_CTRL 0x14
#define SC2_ALT  0x11
#define SC2_DEL  0x71  /* after 0xE0 */

static bool kbd_ctrl, kbd_alt, kbd_ext, kbd_release, kbd_cad;
static unsigned kbd_bytes, kbd_set;

static void i8042_feed(uint8_t b)
{
	bool rel, ext;

	kbd_bytes++;
	if (b == 0xe0) {
		kbd_ext = true;
		return;
	}
	if (b == 0xf0) {
		kbd_release = true;
		return;
	}
	rel = kbd_release;
	ext = kbd_ext;
	kbd_release = kbd_ext = false;
	if (b & 0x80) {
		rel = true;
		b &= 0x7f;
	}
	if (b == SC1_CTRL || b == SC2_CTRL)
		kbd_ctrl = !rel;
	else if (b == SC1_ALT || b == SC2_ALT)
		kbd_alt = !rel;
	else if (ext && (b == SC1_DEL || b == SC2_DEL) && !rel && kbd_ctrl && kbd_alt && !kbd_cad) {
		kbd_cad = true;
		kbd_set = b == SC1_DEL ? 1 : 2;
	}
}

void i8042_drain(void)
{
	for (int i = 0; i < 32 && (io_inb(I8042_STATUS) & I8042_STS_OBF); i++)
		(void)io_inb(I8042_DATA);
}

void i8042_irq(struct idt_frame *f)
{
	(void)f;
	for (int i = 0; i < 16; i++) {
		uint8_t st = io_inb(I8042_STATUS), b;

		if (!(st & I8042_STS_OBF))
			break;
		b = io_inb(I8042_DATA);
		if (!(st & I8042_STS_AUX))
			i8042_feed(b);
	}
}

unsigned i8042_ctrl_alt_del(void)
{
	return kbd_cad ? kbd_set : 0;
}

unsigned i8042_bytes(void)
{
	return kbd_bytes;
}

void i8042_reset_machine(void)
{
	cpu_cli();
	io_outb(I8042_CMD, I8042_CMD_RESET);
	/* The VMM acts on the reset asynchronously; give it time before the hammer. */
	pit_delay_us(100000);
	idt_triple_fault();
}
