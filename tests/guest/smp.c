/* smp.c: the "mptable" probe: MP table checks and AP bring-up with INIT/STARTUP IPIs. */
#include "apic.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "e820.h"
#include "guest.h"
#include "io.h"
#include "lib.h"
#include "mptable.h"
#include "paging.h"
#include "pit.h"
#include "probe.h"

/* Shared with head.S (ap_entry32/ap_entry64) and trampoline.S. */
volatile uint32_t smp_ap_cr3;
volatile uint32_t smp_ap_count;
volatile uint8_t smp_ap_seen[256];
extern const char smp_tramp_start[], smp_tramp_end[];

#define SMP_AP_TIMEOUT_US 500000

/* True if [a, a + n) and [b, b + m) intersect. */
static bool smp_overlap(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
	return n && m && a < b + m && b < a + n;
}

/*
 * The trampoline page must be RAM nobody else uses: inside a RAM region of
 * the map and clear of the command line, the initrd and the boot structure.
 */
static bool smp_tramp_page_ok(const struct boot_info *bi, struct probe_result *r)
{
	const uint64_t a = SMP_TRAMPOLINE_ADDR, n = 4096;

	if (!e820_is_ram(bi, a, n)) {
		probe_fail(r, "trampoline-page-0x%lx-not-ram", a);
		return false;
	}
	if (smp_overlap(a, n, bi->cmdline_paddr, bi->cmdline_len + 1) ||
	    smp_overlap(a, n, bi->initrd_paddr, bi->initrd_size) ||
	    smp_overlap(a, n, bi->info_paddr, 4096)) {
		probe_fail(r, "trampoline-page-0x%lx-in-use", a);
		return false;
	}
	return true;
}

/* INIT, then two STARTUP IPIs (MP spec 1.4 appendix B.4, "universal start-up"). */
static void smp_start_ap(uint8_t id, struct probe_result *r)
{
	uint32_t vec = SMP_TRAMPOLINE_ADDR >> 12;
	uint64_t end;

	if (lapic_send_ipi(id, ICR_INIT | ICR_LEVEL | ICR_ASSERT) ||
	    lapic_send_ipi(id, ICR_INIT | ICR_LEVEL)) {
		probe_fail(r, "init-ipi-stuck(apic=%u)", id);
		return;
	}
	pit_delay_us(10000);
	for (int i = 0; i < 2; i++) {
		if (lapic_send_ipi(id, ICR_STARTUP | vec)) {
			probe_fail(r, "startup-ipi-stuck(apic=%u)", id);
			return;
		}
		pit_delay_us(200);
	}
	end = pit_now_us() + SMP_AP_TIMEOUT_US;
	while (!smp_ap_seen[id] && pit_now_us() < end)
		cpu_pause();
}

/* Start every enabled non-BSP processor of the table; return how many were tried. */
static unsigned smp_start_all(const struct mp_info *mi, uint8_t bsp, struct probe_result *r)
{
	unsigned tried = 0;

	memcpy((void *)(uintptr_t)SMP_TRAMPOLINE_ADDR, smp_tramp_start,
	       (size_t)(smp_tramp_end - smp_tramp_start));
	smp_ap_cr3 = (uint32_t)paging_root();
	cpu_barrier();
	for (unsigned i = 0; i < mi->ncpus && i < MP_MAX_CPUS; i++) {
		const struct mp_cpu *c = &mi->cpus[i];

		if (!(c->flags & 1) || c->apic_id == bsp)
			continue;
		tried++;
		smp_start_ap(c->apic_id, r);
	}
	return tried;
}

/*
 * "mptable": find and verify the MP table, count the enabled processors
 * against expect_cpus=<N>, require one BSP (our own APIC ID) and an IOAPIC
 * and a header entry count that matches the entries (mp_ignore_count: only
 * report it; qboot, hence QEMU microvm, leaves it 0),
 * then start every AP through the trampoline into long mode, where it counts
 * itself and halts. PASS when exactly N-1 APs checked in, each once.
 */
void smp_probe(struct boot_info *bi, struct probe_result *r)
{
	struct mp_info mi;
	uint64_t want, t0;
	uint8_t bsp = lapic_id(), mp_bsp = 0xff;
	static bool started;
	unsigned tried;
	int he;

	if (mp_parse(&mi)) {
		probe_fail(r, "%s", mi.error);
		if (mi.fp_addr)
			probe_note(r, "fp=0x%lx", mi.fp_addr);
		return;
	}
	for (unsigned i = 0; i < mi.ncpus && i < MP_MAX_CPUS; i++)
		if ((mi.cpus[i].flags & 3) == 3)
			mp_bsp = mi.cpus[i].apic_id;
	probe_note(r, "fp=0x%lx cpus=%u bsp=%u ioapic=0x%lx", mi.fp_addr, mi.nenabled, mp_bsp,
		   mi.ioapic_addr);
	he = cmdline_get_u64(bi->cmdline, "expect_cpus", false, &want);
	if (he < 0)
		probe_fail(r, "bad-expect_cpus");
	if (he > 0 && want != mi.nenabled)
		probe_fail(r, "cpus-want-%lu", want);
	if (mi.count_field != mi.nentries) {
		if (cmdline_has_word(bi->cmdline, "mp_ignore_count"))
			probe_note(r, "entry-count-field=%u-of-%u", mi.count_field, mi.nentries);
		else
			probe_fail(r, "entry-count-field=%u-of-%u", mi.count_field, mi.nentries);
	}
	if (mi.ncpus > MP_MAX_CPUS)
		probe_fail(r, "more-than-%u-cpus", MP_MAX_CPUS);
	if (mi.nbsp != 1)
		probe_fail(r, "bsp-entries=%u", mi.nbsp);
	else if (mp_bsp != bsp)
		probe_fail(r, "bsp-is-apic-%u-not-%u", bsp, mp_bsp);
	if (!mi.has_ioapic)
		probe_fail(r, "no-ioapic");
	if (mi.lapic_addr != LAPIC_BASE)
		probe_fail(r, "lapic=0x%lx", mi.lapic_addr);
	if (r->failed || !smp_tramp_page_ok(bi, r))
		return;
	/* A second INIT would restart halted APs and spoil the count. */
	if (started) {
		probe_fail(r, "aps-already-started");
		return;
	}
	started = true;

	lapic_init();
	t0 = pit_now_us();
	tried = smp_start_all(&mi, bsp, r);
	/* Let late or duplicate arrivals show before judging. */
	pit_delay_us(2000);
	probe_note(r, "aps=%u/%u in=%lums", smp_ap_count, tried, (pit_now_us() - t0) / 1000);
	if (smp_ap_count != tried)
		probe_fail(r, "ap-count-%u-want-%u", smp_ap_count, tried);
	for (unsigned i = 0; i < mi.ncpus && i < MP_MAX_CPUS; i++) {
		uint8_t id = mi.cpus[i].apic_id;

		if ((mi.cpus[i].flags & 1) && id != bsp && smp_ap_seen[id] != 1)
			probe_fail(r, "apic-%u-seen-%u-times", id, smp_ap_seen[id]);
	}
}
