/* user.c: GDT with user segments and a TSS, U/S on the identity map, the return gate (user.h). */
#include "user.h"
#include "guest.h"
#include "fmt.h"
#include "i8042.h"
#include "lib.h"
#include "paging.h"

/* 64-bit TSS (SDM vol. 3A 8.7, figure 8-11). */
struct user_tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct user_dt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

uint64_t user_enter(uint64_t (*fn)(void *), void *arg, uint64_t user_rsp);
void user_return_gate(void);
extern const char user_tramp_int[];
extern uint64_t user_return_rip;

#define USER_STACK_SIZE   65536
#define KERNEL_STACK_SIZE 8192

static uint64_t user_gdt[8] __attribute__((aligned(16)));
static struct user_tss user_tss_seg __attribute__((aligned(16)));  /* zeroed .bss: 104 bytes */
/* Stacks in .noinit: .bss is zeroed by emulated kernel code at every boot, these need not be. */
static uint8_t user_stack[USER_STACK_SIZE]
	__attribute__((aligned(64), section(".noinit.user_stack")));
static uint8_t user_kstack[KERNEL_STACK_SIZE]
	__attribute__((aligned(64), section(".noinit.user_kstack")));
static int user_ready;

/* Set U/S (bit 2) on every present entry from the PML4 down to the 2 MiB pages below 4 GiB. */
static void user_mark_tables(void)
{
	uint64_t *pml4 = (uint64_t *)(uintptr_t)paging_root();
	uint64_t *pdpt, *pd;

	if (!(pml4[0] & 1))
		return;
	pml4[0] |= 4;
	pdpt = (uint64_t *)(uintptr_t)(pml4[0] & 0x000ffffffffff000ULL);
	for (int i = 0; i < 4; i++) {
		if (!(pdpt[i] & 1))
			continue;
		pdpt[i] |= 4;
		if (pdpt[i] & 0x80)       /* a 1 GiB page: done */
			continue;
		pd = (uint64_t *)(uintptr_t)(pdpt[i] & 0x000ffffffffff000ULL);
		for (int j = 0; j < 512; j++)
			if (pd[j] & 1)
				pd[j] |= 4;
	}
	/* Reload CR3: every cached translation goes. */
	__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" : : : "rax", "memory");
}

static uint8_t *user_idt_entry(unsigned vec)
{
	struct user_dt_ptr ip;

	__asm__ volatile("sidt %0" : "=m"(ip));
	return (uint8_t *)(uintptr_t)ip.base + vec * 16;
}

/* Point IDT entry vec (at idt) at user_return_gate with the given type byte. */
static void user_set_gate(unsigned vec, uint8_t type, uint8_t *idt)
{
	uint64_t gate = (uintptr_t)user_return_gate;

	(void)vec;
	*(uint16_t *)(idt + 0) = (uint16_t)gate;
	*(uint16_t *)(idt + 2) = SEL_CODE64;
	idt[4] = 0;
	idt[5] = type;
	*(uint16_t *)(idt + 6) = (uint16_t)(gate >> 16);
	*(uint32_t *)(idt + 8) = (uint32_t)(gate >> 32);
	*(uint32_t *)(idt + 12) = 0;
}

void user_init(void)
{
	struct user_dt_ptr gp;
	uint64_t base = (uintptr_t)&user_tss_seg, limit = sizeof(user_tss_seg) - 1;

	if (user_ready)
		return;
	user_gdt[0] = 0;
	user_gdt[1] = 0x00af9a000000ffffULL;  /* 0x08: kernel code, 64-bit (as head.S) */
	user_gdt[2] = 0x00cf92000000ffffULL;  /* 0x10: kernel data */
	user_gdt[3] = 0x00cf9a000000ffffULL;  /* 0x18: kernel code, 32-bit */
	user_gdt[4] = 0x00cff2000000ffffULL;  /* 0x20: user data, DPL 3 */
	user_gdt[5] = 0x00affa000000ffffULL;  /* 0x28: user code, 64-bit, DPL 3 */
	/* 0x30: available 64-bit TSS (type 9), present, DPL 0; 16 bytes. */
	user_gdt[6] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 |
		      ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	user_gdt[7] = base >> 32;
	user_tss_seg.rsp0 = (uintptr_t)(user_kstack + KERNEL_STACK_SIZE);
	user_tss_seg.iomap_base = sizeof(user_tss_seg);   /* no I/O bitmap: no port access */
	gp.limit = sizeof(user_gdt) - 1;
	gp.base = (uintptr_t)user_gdt;
	__asm__ volatile("lgdt %0" : : "m"(gp) : "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");

	/* The return gate: 64-bit interrupt gate, present, DPL 3 (type byte 0xee). */
	user_set_gate(USER_VEC_RETURN, 0xee, user_idt_entry(USER_VEC_RETURN));

	user_mark_tables();
	user_ready = 1;
}

uint64_t user_call(uint64_t (*fn)(void *), void *arg)
{
	uint8_t *ud = user_idt_entry(6), saved[16];
	uint64_t r, rip;

	user_init();
	/* #UD returns too while ring 3 runs (see user_entry.S); the boot handler afterwards. */
	memcpy(saved, ud, sizeof(saved));
	user_set_gate(6, 0x8e, ud);
	user_return_rip = 0;
	r = user_enter(fn, arg, (uintptr_t)(user_stack + USER_STACK_SIZE));
	memcpy(ud, saved, sizeof(saved));
	rip = user_return_rip;
	/* Back through "int $0x80" (RIP after it) or its #UD (RIP at it); anything else is a bug. */
	if (rip != (uintptr_t)user_tramp_int && rip != (uintptr_t)user_tramp_int + 2) {
		con_printf("USER unexpected #UD in ring 3 at rip=0x%lx\n", rip);
		i8042_reset_machine();
	}
	return r;
}
