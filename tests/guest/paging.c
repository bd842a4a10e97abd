/* paging.c: builds the identity map every other module relies on for physical access. */
#include "paging.h"
#include "io.h"

#define PAGE_2M   0x200000ULL
#define GIB       0x40000000ULL

/* Entry bits, Intel SDM vol. 3A 4.5 tables 4-15 to 4-18. */
#define PTE_P     0x001ULL
#define PTE_W     0x002ULL
#define PTE_PWT   0x008ULL
#define PTE_PCD   0x010ULL
#define PTE_PS    0x080ULL
#define PTE_ADDR  0x000ffffffffff000ULL

/* Not zeroed at entry (.noinit): each table is cleared when first used. */
static uint64_t paging_pml4[512] __attribute__((section(".noinit"), aligned(4096)));
static uint64_t paging_pdpt[512] __attribute__((section(".noinit"), aligned(4096)));
static uint64_t paging_pds[PAGING_MAX_GIB][512] __attribute__((section(".noinit"), aligned(4096)));
static unsigned paging_pds_used;

static void paging_clear(uint64_t *t)
{
	for (int i = 0; i < 512; i++)
		t[i] = 0;
}

/* The page directory for GiB number gib, created on first use; NULL when out of room. */
static uint64_t *paging_pd(uint64_t gib)
{
	uint64_t *pd;

	if (gib >= 512)
		return 0;
	if (paging_pdpt[gib] & PTE_P)
		return (uint64_t *)(uintptr_t)(paging_pdpt[gib] & PTE_ADDR);
	if (paging_pds_used >= PAGING_MAX_GIB)
		return 0;
	pd = paging_pds[paging_pds_used++];
	paging_clear(pd);
	paging_pdpt[gib] = (uintptr_t)pd | PTE_P | PTE_W;
	return pd;
}

int paging_map(uint64_t addr, uint64_t len, bool uc)
{
	uint64_t start = addr & ~(PAGE_2M - 1);
	uint64_t end = addr + len;
	uint64_t flags = PTE_P | PTE_W | PTE_PS | (uc ? PTE_PCD | PTE_PWT : 0);

	if (len == 0)
		return 0;
	if (end < addr)
		return -1;
	for (uint64_t p = start; p < end; p += PAGE_2M) {
		uint64_t *pd = paging_pd(p / GIB);

		if (!pd)
			return -1;
		pd[(p / PAGE_2M) % 512] = p | flags;
	}
	/* Entries may only have been added, but be simple: reload CR3 to flush. */
	cpu_write_cr3((uintptr_t)paging_pml4);
	return 0;
}

bool paging_is_mapped(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;

	if (len == 0 || end < addr)
		return false;
	for (uint64_t p = addr & ~(PAGE_2M - 1); p < end; p += PAGE_2M) {
		uint64_t gib = p / GIB;
		const uint64_t *pd;

		if (gib >= 512 || !(paging_pdpt[gib] & PTE_P))
			return false;
		pd = (const uint64_t *)(uintptr_t)(paging_pdpt[gib] & PTE_ADDR);
		if (!(pd[(p / PAGE_2M) % 512] & PTE_P))
			return false;
	}
	return true;
}

void paging_init(void)
{
	paging_clear(paging_pml4);
	paging_clear(paging_pdpt);
	paging_pml4[0] = (uintptr_t)paging_pdpt | PTE_P | PTE_W;
	/* Below the 32-bit MMIO gap: RAM or nothing; above it: devices, uncached. */
	for (uint64_t gib = 0; gib < 4; gib++) {
		uint64_t *pd = paging_pd(gib);
		uint64_t flags = PTE_P | PTE_W | PTE_PS | (gib == 3 ? PTE_PCD | PTE_PWT : 0);

		for (uint64_t i = 0; i < 512; i++)
			pd[i] = (gib * GIB + i * PAGE_2M) | flags;
	}
	cpu_write_cr3((uintptr_t)paging_pml4);
}

uint64_t paging_root(void)
{
	return (uintptr_t)paging_pml4;
}
