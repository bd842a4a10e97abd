/* paging.h: the guest's own identity-mapped page tables (4-level, 2 MiB pages). */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The guest maps physical memory 1:1 with 2 MiB pages only (no 1 GiB pages:
 * the CPU need not support them). Up to PAGING_MAX_GIB GiB of physical
 * address space can be mapped, from the page directories reserved in .noinit.
 */
#define PAGING_MAX_GIB 64

/*
 * Build tables mapping [0, 3 GiB) write-back and the device area
 * [3 GiB, 4 GiB) uncached, and switch CR3 to them. The boot path's tables
 * (the VMM's or the PVH bootstrap's) are no longer used afterwards.
 */
void paging_init(void);

/*
 * Map [addr, addr + len) (rounded out to 2 MiB) write-back, or uncached when
 * uc. Returns 0, or -1 if the range reaches beyond PAGING_MAX_GIB.
 */
int paging_map(uint64_t addr, uint64_t len, bool uc);

/* True if every byte of [addr, addr + len) is mapped; len 0 is never mapped. */
bool paging_is_mapped(uint64_t addr, uint64_t len);

/* The PML4's physical address, for CR3 on the application processors. */
uint64_t paging_root(void);

#endif
