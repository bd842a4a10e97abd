/* uart.c: COM1 output and the "serial" probe of the 8250 register set. */
#include "uart.h"
#include "io.h"
#include "probe.h"

#include <stdint.h>

/* Register offsets (8250/16550 data sheet; DLAB = LCR bit 7). */
#define UART_THR 0  /* write, DLAB 0 */
#define UART_DLL 0  /* DLAB 1 */
#define UART_IER 1  /* DLAB 0 */
#define UART_DLM 1  /* DLAB 1 */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define UART_LCR_8N1  0x03
#define UART_LCR_DLAB 0x80
#define UART_LSR_THRE 0x20

/* Bound on the THRE wait, so a UART that never drains cannot hang the guest. */
#define UART_SPIN_MAX 100000

void uart_init(void)
{
	io_outb(UART_COM1 + UART_IER, 0);
	io_outb(UART_COM1 + UART_LCR, UART_LCR_8N1 | UART_LCR_DLAB);
	io_outb(UART_COM1 + UART_DLL, 1);  /* 115200 baud */
	io_outb(UART_COM1 + UART_DLM, 0);
	io_outb(UART_COM1 + UART_LCR, UART_LCR_8N1);
	io_outb(UART_COM1 + UART_FCR, 0x07);  /* FIFOs on and cleared */
	io_outb(UART_COM1 + UART_MCR, 0x03);  /* DTR, RTS */
}

void uart_putc(char c)
{
	for (int i = 0; i < UART_SPIN_MAX; i++)
		if (io_inb(UART_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	io_outb(UART_COM1 + UART_THR, (uint8_t)c);
}

/* Write v to register reg and read it back; fail r on a mismatch under mask. */
static void uart_rw(struct probe_result *r, const char *name, int reg, uint8_t v, uint8_t mask)
{
	uint8_t got;

	io_outb(UART_COM1 + reg, v);
	got = io_inb(UART_COM1 + reg);
	if ((got & mask) != (v & mask))
		probe_fail(r, "%s wrote=0x%02x read=0x%02x", name, v, got);
}

/*
 * "serial": the registers a Linux 8250 driver touches while probing a port
 * (drivers/tty/serial/8250/8250_port.c autoconfig): the scratch register,
 * the divisor latch behind LCR.DLAB, IER and LSR. Nothing is printed while
 * DLAB is set, and every register is restored.
 */
void uart_probe(struct boot_info *bi, struct probe_result *r)
{
	uint8_t lcr, ier, dll, dlm, scr, lsr;

	(void)bi;
	scr = io_inb(UART_COM1 + UART_SCR);
	uart_rw(r, "scr", UART_SCR, 0xa5, 0xff);
	uart_rw(r, "scr", UART_SCR, 0x5a, 0xff);
	io_outb(UART_COM1 + UART_SCR, scr);

	lcr = io_inb(UART_COM1 + UART_LCR);
	io_outb(UART_COM1 + UART_LCR, lcr | UART_LCR_DLAB);
	if (!(io_inb(UART_COM1 + UART_LCR) & UART_LCR_DLAB))
		probe_fail(r, "lcr-dlab-not-set");
	dll = io_inb(UART_COM1 + UART_DLL);
	dlm = io_inb(UART_COM1 + UART_DLM);
	uart_rw(r, "dll", UART_DLL, 0x0c, 0xff);
	uart_rw(r, "dlm", UART_DLM, 0x01, 0xff);
	io_outb(UART_COM1 + UART_DLL, dll);
	io_outb(UART_COM1 + UART_DLM, dlm);
	io_outb(UART_COM1 + UART_LCR, lcr);
	if (io_inb(UART_COM1 + UART_LCR) != lcr)
		probe_fail(r, "lcr-not-restored");

	/* IER bits 0-3 are defined; with DLAB clear this is IER, not DLM. */
	ier = io_inb(UART_COM1 + UART_IER);
	uart_rw(r, "ier", UART_IER, 0x05, 0x0f);
	uart_rw(r, "ier", UART_IER, 0x00, 0x0f);
	io_outb(UART_COM1 + UART_IER, ier);

	lsr = io_inb(UART_COM1 + UART_LSR);
	if (!(lsr & UART_LSR_THRE))
		probe_fail(r, "lsr=0x%02x-thr-not-empty", lsr);
	probe_note(r, "divisor=0x%02x%02x lcr=0x%02x lsr=0x%02x", dlm, dll, lcr, lsr);
}
