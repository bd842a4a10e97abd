/* user.h: a minimal ring 3 for benchmark loops (guest user mode runs natively on the nested KVM). */
#ifndef GUEST_USER_H
#define GUEST_USER_H

#include <stdint.h>

/*
 * The nested KVM here emulates guest kernel mode (~1 us per instruction) but runs guest user
 * mode natively, so hot loops (benchmarks) run in ring 3. user_init() makes that possible,
 * once: user code and data segments and a TSS in a new GDT (the boot GDT's three entries kept
 * at the same selectors), the U/S bit on every entry of the identity map below 4 GiB (this
 * is a test program: ring 3 may touch everything, device MMIO included), and an IDT gate for
 * USER_VEC_RETURN with DPL 3, through which ring 3 returns.
 */
#define SEL_USER_DATA 0x20
#define SEL_USER_CODE 0x28
#define SEL_TSS       0x30
#define USER_VEC_RETURN 0x80

void user_init(void);

/*
 * Run fn(arg) in ring 3 on a stack of its own, interrupts off (RFLAGS.IF = 0, IOPL 0), and
 * return its result once it returns (the trampoline then raises "int $0x80"). fn must not use
 * privileged instructions (no port I/O, cli/sti, hlt); memory and MMIO are fine.
 */
uint64_t user_call(uint64_t (*fn)(void *), void *arg);

/* The time stamp counter (user mode may read it: CR4.TSD is clear). */
static inline uint64_t user_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

#endif
