/* fuzz_loader.c: arbitrary bytes as a kernel image and as an initrd; nothing may escape guest RAM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/loader.h"

#define FUZZ_RAM (3u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct guest_mem m;
	struct img_src s = { .fd = -1, .buf = data, .size = size };
	struct kernel_info ki;
	struct err err = { { 0 } };
	uint64_t gpa, len;

	if (!ram)
		ram = malloc(FUZZ_RAM);
	gmem_init_from(&m, ram, FUZZ_RAM, LAYOUT_RAM_HOLE);
	if (loader_load_kernel(&s, &m, &ki, &err) == 0) {
		/* A loaded kernel lies inside RAM and above the boot structures. */
		if (ki.load_start < 0x100000 || ki.load_end > FUZZ_RAM || ki.load_end < ki.load_start ||
		    ki.entry >= FUZZ_RAM || ki.setup_header_len > sizeof(ki.setup_header))
			abort();
		if (loader_load_initrd(&s, &m, &ki, &gpa, &len, &err) == 0 &&
		    (gpa < ki.load_end || gpa + len > FUZZ_RAM || (gpa & 0xfff)))
			abort();
	} else if (!memchr(err.msg, 0, sizeof(err.msg)) || !err.msg[0]) {
		abort();   /* every refusal explains itself */
	}
	return 0;
}
