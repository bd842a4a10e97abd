/* main.c: the test guest's C entry: set up, report the boot, run the probes, reset. */
#include "apic.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "e820.h"
#include "fmt.h"
#include "i8042.h"
#include "idt.h"
#include "io.h"
#include "paging.h"
#include "pit.h"
#include "probe.h"
#include "uart.h"

/* Firecracker's boot timer device: a byte 123 written here logs the boot time. */
#define BOOT_TIMER_ADDR  0xc0000000ULL
#define BOOT_TIMER_MAGIC 123

void guest_main(int entry, uint64_t info);

static struct boot_info guest_bi;

/*
 * Called by head.S on the boot stack with interrupts off, long mode on and
 * .bss zeroed. The order matters: the console and IDT first so that any
 * fault is reported, our own page tables before touching anything the VMM
 * may have put above the first GiB.
 */
void guest_main(int entry, uint64_t info)
{
	struct boot_info *bi = &guest_bi;

	uart_init();
	idt_init();
	/*
	 * The 8259s come out of reset unmasked, and Firecracker-style VMMs wire
	 * them to LINT0 as ExtINT: mask them for good, only the IOAPIC delivers.
	 */
	pic_mask_all();
	con_printf("GUEST entry=%s\n", bootinfo_entry_name(entry));
	paging_init();
	pit_start(0);
	bootinfo_init(bi, entry, info);
	e820_map_ram(bi);
	bootinfo_load_cmdline(bi);
	con_printf("CMDLINE %s\n", bi->cmdline);
	if (cmdline_has_word(bi->cmdline, "verbose")) {
		for (unsigned i = 0; i < bi->nmap; i++)
			con_printf("E820 0x%016lx-0x%016lx type=%u\n", bi->map[i].addr,
				   bi->map[i].addr + bi->map[i].size, bi->map[i].type);
		con_printf("INITRD 0x%lx size=%lu\n", bi->initrd_paddr, bi->initrd_size);
	}
	probe_run_all(bi);
	if (cmdline_has_word(bi->cmdline, "boot_timer"))
		io_write8(BOOT_TIMER_ADDR, BOOT_TIMER_MAGIC);
	if (cmdline_has_word(bi->cmdline, "triple_fault"))
		idt_triple_fault();      /* the VMM must stop and say where */
	i8042_reset_machine();
}
