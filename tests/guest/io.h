/* io.h: port I/O, MMIO and privileged CPU instructions as inline functions. */
#ifndef GUEST_IO_H
#define GUEST_IO_H

#include <stdint.h>

static inline void io_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t io_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* MMIO: volatile accesses of exactly the given width, never merged or split. */
static inline uint32_t io_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void io_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline void io_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)addr = v;
}

static inline void cpu_cli(void)
{
	__asm__ volatile("cli" : : : "memory");
}

/* sti; hlt: the STI shadow makes the pair atomic, so no wakeup is lost. */
static inline void cpu_sti_hlt(void)
{
	__asm__ volatile("sti; hlt" : : : "memory");
}

static inline void cpu_sti(void)
{
	__asm__ volatile("sti" : : : "memory");
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause" : : : "memory");
}

static inline void cpu_write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint64_t cpu_read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void cpu_barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

#endif
