/* idt.c: IDT setup, exception reporting and IRQ dispatch. */
#include "idt.h"
#include "apic.h"
#include "fmt.h"
#include "guest.h"
#include "i8042.h"
#include "io.h"
#include "probe.h"

/* A 64-bit interrupt gate (SDM vol. 3A 6.14.1, figure 6-8). */
struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;  /* 0x8e: present, DPL 0, interrupt gate (IF cleared on entry) */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* (vector, stub) pairs ended by (0, 0), from isr.S. */
extern const uint64_t isr_table[];

static struct idt_gate idt_gates[256] __attribute__((aligned(16)));
static idt_handler_fn idt_handlers[256];
static int idt_in_exception;

static const char *const idt_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "R15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_init(void)
{
	struct idt_ptr p;

	for (const uint64_t *t = isr_table; t[1]; t += 2) {
		struct idt_gate *g = &idt_gates[t[0] & 0xff];

		g->off_lo = (uint16_t)t[1];
		g->sel = SEL_CODE64;
		g->ist = 0;
		g->type = 0x8e;
		g->off_mid = (uint16_t)(t[1] >> 16);
		g->off_hi = (uint32_t)(t[1] >> 32);
		g->zero = 0;
	}
	p.limit = sizeof(idt_gates) - 1;
	p.base = (uintptr_t)idt_gates;
	__asm__ volatile("lidt %0" : : "m"(p));
}

void idt_set_handler(uint8_t vec, idt_handler_fn fn)
{
	idt_handlers[vec] = fn;
}

static void idt_exception(struct idt_frame *f)
{
	const char *name = f->vector < 32 && idt_names[f->vector] ? idt_names[f->vector] : "?";

	/* A fault while reporting one: do not loop, just go. */
	if (idt_in_exception++)
		i8042_reset_machine();
	con_printf("\nEXCEPTION vector=%lu (%s) error=0x%lx rip=0x%lx cr2=0x%lx rsp=0x%lx\n",
		   f->vector, name, f->error, f->rip, cpu_read_cr2(), f->rsp);
	i8042_reset_machine();
}

void idt_dispatch(struct idt_frame *f)
{
	if (f->vector < 32) {
		idt_exception(f);
		return;
	}
	/* The spurious vector needs no EOI (SDM vol. 3A 10.9). */
	if (f->vector == VEC_SPURIOUS)
		return;
	if (idt_handlers[f->vector])
		idt_handlers[f->vector](f);
	lapic_eoi();
}

/*
 * "fault": check that exceptions are reported. Reads a non-canonical
 * address, which raises #GP (SDM vol. 3A 6.15, interrupt 13); the handler
 * prints the EXCEPTION line and resets, so this probe never prints a result.
 */
void idt_probe(struct boot_info *bi, struct probe_result *r)
{
	(void)bi;
	(void)r;
	con_printf("PROBE fault EXPECT vector=13\n");
	(void)*(volatile uint64_t *)0x8000000000000000ULL;
}

void idt_triple_fault(void)
{
	static const struct idt_ptr empty = { 0, 0 };

	/*
	 * With a zero-limit IDT, the #DE below cannot be delivered, nor can the
	 * #DF that follows: the CPU shuts down (SDM vol. 3A 6.15, interrupt 8),
	 * which KVM reports as KVM_EXIT_SHUTDOWN and QEMU -no-reboot as exit.
	 */
	__asm__ volatile("cli; lidt %0" : : "m"(empty));
	for (;;)
		__asm__ volatile("xorl %%ecx, %%ecx; divl %%ecx" : : : "eax", "ecx", "edx");
}
