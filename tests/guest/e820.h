/* e820.h: the memory map: mapping RAM above 4 GiB, and the "e820" probe. */
#ifndef GUEST_E820_H
#define GUEST_E820_H

#include <stdbool.h>
#include <stdint.h>

struct boot_info;

/* First byte past the 32-bit MMIO gap, where Firecracker continues RAM. */
#define E820_GAP_START 0xc0000000ULL
#define E820_GAP_END   0x100000000ULL

/*
 * Map every RAM region at or above 4 GiB (paging_init() covers the rest).
 * Returns 0, or -1 if some RAM lies beyond what the guest can map; the
 * "e820" probe then fails.
 */
int e820_map_ram(const struct boot_info *bi);

/* True if [addr, addr + len) lies inside one RAM region of the map. */
bool e820_is_ram(const struct boot_info *bi, uint64_t addr, uint64_t len);

#endif
