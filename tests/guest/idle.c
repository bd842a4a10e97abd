/* idle.c: the "idle" probe: PIT ticks through the IOAPIC until Ctrl-Alt-Del arrives on the i8042. */
#include "apic.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "guest.h"
#include "i8042.h"
#include "idt.h"
#include "io.h"
#include "mptable.h"
#include "pit.h"
#include "probe.h"

/* 20 Hz from the 1.193182 MHz PIT; every second interrupt is a 100 ms TICK. */
#define IDLE_PIT_DIVISOR 59659
#define IDLE_PIT_HZ 1193182
#define IDLE_IRQS_PER_TICK 2
#define IDLE_FIRST_IRQ_US 1000000

#define ISA_IRQ_TIMER 0
#define ISA_IRQ_KBD   1

static volatile unsigned idle_irqs;

static void idle_timer_irq(struct idt_frame *f)
{
	(void)f;
	idle_irqs++;
}

/*
 * idle_vmgenid=<address>: the 16-byte VM generation ID the VMM keeps there
 * (ember: 0xdfff0), printed as "VMGENID tick=<n> id=<32 hex digits>
 * ged_irqs=<n>" at the start and whenever it or the count of interrupts on
 * ISA IRQ idle_ged_irq=<n> (the ACPI GED's, ember: 3) changes.
 */
struct idle_genid {
	const volatile uint8_t *id;   /* NULL: not watched */
	uint8_t last[16];
	unsigned irqs;
};

static volatile unsigned idle_ged_irqs;

static void idle_ged_irq(struct idt_frame *f)
{
	(void)f;
	idle_ged_irqs++;
}

/* Print the ID if it (or the interrupt count) changed since the last call, or with @force. */
static void idle_genid_check(struct idle_genid *g, unsigned ticks, bool force)
{
	bool changed = force || g->irqs != idle_ged_irqs;
	char hex[33];

	if (!g->id)
		return;
	for (unsigned i = 0; i < 16; i++) {
		uint8_t b = g->id[i];

		changed |= b != g->last[i];
		g->last[i] = b;
		hex[2 * i] = "0123456789abcdef"[b >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[b & 15];
	}
	hex[32] = 0;
	g->irqs = idle_ged_irqs;
	if (changed)
		con_printf("VMGENID tick=%u id=%s ged_irqs=%u\n", ticks, hex, g->irqs);
}

/*
 * Route ISA IRQ irq through the IOAPIC pin the MP table names (KVM's default
 * GSI routing and Firecracker's table: IRQ 0 on pin 0; QEMU and qboot: pin 2
 * by interrupt source override) to vector VEC_IRQ_BASE + pin on this CPU.
 */
static int idle_route(const struct mp_info *mi, unsigned irq, idt_handler_fn fn)
{
	struct mp_irq m = mp_isa_route(mi, irq);
	uint64_t base = mi->ioapic_addr ? mi->ioapic_addr : IOAPIC_DEFAULT_BASE;

	/* isr.S has stubs for 24 pins, KVM's IOAPIC size. */
	if (m.pin >= 24 || m.pin >= ioapic_pins(base))
		return -1;
	idt_set_handler((uint8_t)(VEC_IRQ_BASE + m.pin), fn);
	ioapic_route(base, m.pin, (uint8_t)(VEC_IRQ_BASE + m.pin), lapic_id(), m.flags);
	return m.pin;
}

/*
 * "idle": print "PROBE TICK <n>" every 100 ms, halting between interrupts,
 * until Ctrl-Alt-Del is read from the keyboard (PASS "ctrl-alt-del"), or
 * after idle_ticks=<n> ticks (PASS "idle_ticks"). FAIL if no timer
 * interrupt arrives within a second. idle_chatter=<n>: each tick also prints
 * <n> bytes of filler lines (a guest that floods its console). idle_tick_ms=<n>
 * (2..100, default 100): a tick every n ms instead, e.g. for timing how soon a
 * restored guest makes progress to within a few ms.
 */
void idle_probe(struct boot_info *bi, struct probe_result *r)
{
	struct mp_info mi;
	struct idle_genid genid = { 0 };
	uint64_t max_ticks = 0, chatter = 0, t0, genid_addr = 0, ged_irq = 0, tick_ms = 100;
	unsigned ticks = 0;
	int tpin, kpin, gpin = -1;
	uint64_t base;

	if (cmdline_get_u64(bi->cmdline, "idle_ticks", false, &max_ticks) < 0)
		probe_fail(r, "bad-idle_ticks");
	if (cmdline_get_u64(bi->cmdline, "idle_chatter", false, &chatter) < 0)
		probe_fail(r, "bad-idle_chatter");
	if (cmdline_get_u64(bi->cmdline, "idle_tick_ms", false, &tick_ms) < 0 || tick_ms < 2 ||
	    tick_ms > 100) {
		probe_fail(r, "bad-idle_tick_ms");
		tick_ms = 100;
	}
	if (cmdline_get_u64(bi->cmdline, "idle_vmgenid", false, &genid_addr) < 0 ||
	    genid_addr >= (1ull << 30) - 16)
		probe_fail(r, "bad-idle_vmgenid");
	else if (genid_addr)
		genid.id = (const volatile uint8_t *)(uintptr_t)genid_addr;   /* identity-mapped */
	if (cmdline_get_u64(bi->cmdline, "idle_ged_irq", false, &ged_irq) < 0 || ged_irq > 15)
		probe_fail(r, "bad-idle_ged_irq");
	/* Without an MP table the routes default to identity (pin = IRQ). */
	(void)mp_parse(&mi);
	base = mi.ioapic_addr ? mi.ioapic_addr : IOAPIC_DEFAULT_BASE;

	pic_mask_all();
	lapic_init();
	i8042_drain();
	if (!pit_start(tick_ms == 100 ? IDLE_PIT_DIVISOR :
		       (uint32_t)(IDLE_PIT_HZ * tick_ms / (1000 * IDLE_IRQS_PER_TICK)))) {
		probe_fail(r, "no-pit");
		return;
	}
	tpin = idle_route(&mi, ISA_IRQ_TIMER, idle_timer_irq);
	kpin = idle_route(&mi, ISA_IRQ_KBD, i8042_irq);
	if (tpin < 0 || kpin < 0) {
		probe_fail(r, "irq-0-or-1-on-a-pin-the-ioapic-lacks");
		pit_start(0);
		return;
	}
	if (ged_irq && (gpin = idle_route(&mi, (unsigned)ged_irq, idle_ged_irq)) < 0)
		probe_fail(r, "ged-irq-%u-on-a-pin-the-ioapic-lacks", (unsigned)ged_irq);
	idle_genid_check(&genid, 0, true);
	/* An information line, so the PROBE line itself stays "ticks=<n> <why>". */
	con_printf("IDLE timer-pin=%d kbd-pin=%d mptable=%s\n", tpin, kpin,
		   mi.error ? mi.error : "yes");

	/*
	 * Poll with interrupts on until the first tick proves the route (no
	 * hlt yet: with a broken route it would never wake). A one-instruction
	 * "sti; nop; cli" window is not enough here: the emulator of the nested
	 * KVM only injects on its next entry, which the PIT port reads cause.
	 */
	t0 = pit_now_us();
	cpu_sti();
	while (!idle_irqs && pit_now_us() - t0 < IDLE_FIRST_IRQ_US)
		cpu_pause();
	cpu_cli();
	if (!idle_irqs) {
		probe_fail(r, "no-timer-interrupt-on-pin-%d", tpin);
		goto out;
	}
	for (;;) {
		cpu_sti_hlt();
		cpu_cli();
		idle_genid_check(&genid, ticks, false);
		while (idle_irqs / IDLE_IRQS_PER_TICK > ticks) {
			con_printf("PROBE TICK %u\n", ++ticks);
			for (uint64_t n = 0; n < chatter; n += 64)
				con_printf("CHATTER %u ...............................................\n", ticks);
		}
		if (i8042_ctrl_alt_del()) {
			probe_note(r, "ticks=%u ctrl-alt-del scancode-set=%u", ticks,
				   i8042_ctrl_alt_del());
			break;
		}
		if (max_ticks && ticks >= max_ticks) {
			probe_note(r, "ticks=%u idle_ticks", ticks);
			break;
		}
	}
out:
	ioapic_mask(base, (unsigned)tpin);
	ioapic_mask(base, (unsigned)kpin);
	if (gpin >= 0)
		ioapic_mask(base, (unsigned)gpin);
	/* Back to a slow, free-running time base for later delays. */
	pit_start(0);
}
