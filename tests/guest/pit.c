/* pit.c: i8254 channel 0 counter reads turned into a microsecond clock. */
#include "pit.h"
#include "io.h"

/* Ports and command byte fields (Intel 8254 data sheet; OSDev "PIT"). */
#define PIT_CH0   0x40
#define PIT_CMD   0x43
#define PIT_CMD_CH0_LOHI_MODE2 0x34  /* channel 0, lobyte/hibyte, mode 2, binary */
#define PIT_CMD_CH0_LATCH      0x00

static uint32_t pit_reload = 65536;
static uint16_t pit_last;
static uint64_t pit_ticks;
static uint64_t pit_fake_us;
static bool pit_ok;

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	io_outb(PIT_CMD, PIT_CMD_CH0_LATCH);
	lo = io_inb(PIT_CH0);
	hi = io_inb(PIT_CH0);
	return (uint16_t)(lo | hi << 8);
}

bool pit_start(uint32_t divisor)
{
	uint16_t first;

	pit_reload = divisor ? divisor : 65536;
	io_outb(PIT_CMD, PIT_CMD_CH0_LOHI_MODE2);
	io_outb(PIT_CH0, (uint8_t)divisor);
	io_outb(PIT_CH0, (uint8_t)(divisor >> 8));
	first = pit_read();
	pit_ok = false;
	/* The counter moves every 838 ns; a few thousand reads take far longer. */
	for (int i = 0; i < 4000 && !pit_ok; i++)
		pit_ok = pit_read() != first;
	pit_last = pit_read();
	return pit_ok;
}

bool pit_available(void)
{
	return pit_ok;
}

uint64_t pit_now_us(void)
{
	uint16_t cur;
	uint32_t d;

	if (!pit_ok) {
		/* No PIT: count calls, each roughly a microsecond of emulated code. */
		pit_fake_us += 2;
		return pit_fake_us;
	}
	/* Mode 2 counts down from the reload value to 1, then reloads. */
	cur = pit_read();
	d = pit_last >= cur ? (uint32_t)(pit_last - cur) : pit_last + pit_reload - cur;
	pit_last = cur;
	pit_ticks += d;
	return pit_ticks * 1000000ull / PIT_HZ;
}

void pit_delay_us(uint64_t us)
{
	uint64_t end = pit_now_us() + us;

	while (pit_now_us() < end)
		cpu_pause();
}
