/* test_loader.c: ELF, PVH and bzImage loading of good, truncated and hostile images. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/loader.h"
#include "check.h"

#define RAM_SIZE (4u << 20)

static uint8_t *ram;
static struct guest_mem mem;

static void ram_reset(void)
{
	memset(ram, 0xee, RAM_SIZE);
	gmem_init_from(&mem, ram, RAM_SIZE, LAYOUT_RAM_HOLE);
}

static int load_buf(const uint8_t *buf, size_t len, struct kernel_info *ki)
{
	struct img_src s = { .fd = -1, .buf = buf, .size = len };
	struct err err;

	return loader_load_kernel(&s, &mem, ki, &err);
}

/* An ELF with one PT_LOAD of 256 bytes at 1 MiB (memsz 512) and optionally a PVH note. */
static size_t make_elf(uint8_t *img, int pvh)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	size_t data_off = 0x200, note_off = 0x100;
	uint32_t note[5] = { 4, 4, 18, 0, 0x100010 };

	memset(img, 0, 0x400);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = 0x100000;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = pvh ? 2 : 1;
	ph[0].p_type = PT_LOAD;
	ph[0].p_offset = data_off;
	ph[0].p_paddr = 0x100000;
	ph[0].p_filesz = 256;
	ph[0].p_memsz = 512;
	for (int i = 0; i < 256; i++)
		img[data_off + i] = (uint8_t)i;
	if (pvh) {
		memcpy(&note[3], "Xen", 4);
		memcpy(img + note_off, note, sizeof(note));
		ph[1].p_type = PT_NOTE;
		ph[1].p_offset = note_off;
		ph[1].p_filesz = sizeof(note);
	}
	return data_off + 256;
}

static void test_elf_good(void)
{
	uint8_t img[0x400];
	struct kernel_info ki;
	size_t n = make_elf(img, 0);

	ram_reset();
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_LINUX64);
	CHECK_EQ_U(ki.entry, 0x100000);
	CHECK_EQ_U(ki.load_end, 0x100000 + 512);
	CHECK_EQ_U(ram[0x100000 + 7], 7);
	CHECK_EQ_U(ram[0x100000 + 300], 0);   /* bss zeroed */
	CHECK_EQ_U(ram[0x100000 + 512], 0xee); /* nothing beyond memsz */
}

static void test_elf_pvh(void)
{
	uint8_t img[0x400];
	struct kernel_info ki;
	size_t n = make_elf(img, 1);

	ram_reset();
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_PVH);
	CHECK_EQ_U(ki.entry, 0x100010);
}

static void test_elf_every_truncation_fails(void)
{
	uint8_t img[0x400];
	struct kernel_info ki;
	size_t n = make_elf(img, 1);
	int bad = 0;

	/* Any prefix shorter than the whole image must be refused cleanly. */
	for (size_t len = 0; len < n; len++) {
		ram_reset();
		if (load_buf(img, len, &ki) == 0 && len < n)
			bad++;
	}
	CHECK_EQ_I(bad, 0);
}

static void test_elf_hostile_fields(void)
{
	uint8_t img[0x400];
	struct kernel_info ki;
	size_t n;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	n = make_elf(img, 0); ph->p_filesz = 1024;                 /* filesz > memsz */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_paddr = 0x7000;                 /* below 1 MiB: boot structures */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_paddr = RAM_SIZE - 100;         /* past the end of RAM */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_paddr = UINT64_MAX - 10;        /* address wraps */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_memsz = UINT64_MAX;             /* size wraps */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_offset = UINT64_MAX - 8;        /* data offset wraps */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_phnum = 60000;                  /* absurd header count */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_phoff = UINT64_MAX - 4;         /* header table wraps */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_phentsize = 12;
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_machine = EM_AARCH64;
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); eh->e_entry = RAM_SIZE + 5;          /* entry outside RAM */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_elf(img, 0); ph->p_type = PT_DYNAMIC;              /* nothing to load */
	CHECK(load_buf(img, n, &ki) < 0);
}

static void test_elf_hostile_note(void)
{
	uint8_t img[0x400];
	struct kernel_info ki;
	size_t n = make_elf(img, 1);
	uint32_t huge = 0xfffffff0u;

	/* A note whose sizes run off the segment is ignored, not followed. */
	memcpy(img + 0x100, &huge, 4);
	ram_reset();
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_LINUX64);
	n = make_elf(img, 1);
	memcpy(img + 0x104, &huge, 4);
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_LINUX64);
	/* A note segment pointing outside the file: no PVH entry. */
	n = make_elf(img, 1);
	((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))[1].p_offset = 1ULL << 40;
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_LINUX64);
}

/* A bzImage: 4 setup sectors + boot sector, then a 1 KiB protected-mode payload. */
static size_t make_bz(uint8_t *img)
{
	size_t pm = 5 * 512;
	uint16_t v16;
	uint32_t v32;

	memset(img, 0, pm + 1024);
	img[0x1f1] = 4;
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;               /* header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	v16 = 0x020f;
	memcpy(img + 0x206, &v16, 2);
	img[0x211] = 0x01;               /* LOADED_HIGH */
	img[0x234] = 1;                  /* relocatable */
	v16 = 0x0001;                    /* XLF_KERNEL_64 */
	memcpy(img + 0x236, &v16, 2);
	v32 = 0x7fffffff;
	memcpy(img + 0x22c, &v32, 4);
	v32 = 1024 / 16;                 /* syssize */
	memcpy(img + 0x1f4, &v32, 4);
	v32 = 0x10000;                   /* init_size */
	memcpy(img + 0x260, &v32, 4);
	for (int i = 0; i < 1024; i++)
		img[pm + i] = (uint8_t)(i * 3);
	return pm + 1024;
}

static void test_bzimage_good(void)
{
	static uint8_t img[8192];
	struct kernel_info ki;
	size_t n = make_bz(img);

	ram_reset();
	CHECK_EQ_I(load_buf(img, n, &ki), 0);
	CHECK(ki.is_bzimage);
	CHECK_EQ_U(ki.kind, BOOT_ENTRY_LINUX64);
	CHECK_EQ_U(ki.entry, 0x100200);
	CHECK_EQ_U(ki.load_end, 0x100000 + 0x10000);   /* init_size counts */
	CHECK_EQ_U(ram[0x100000 + 5], 15);
	CHECK_EQ_U(ki.setup_header_len, 0x26c - 0x1f1);
	CHECK_EQ_U(ki.setup_header[0], 4);
}

static void test_bzimage_hostile(void)
{
	static uint8_t img[8192];
	struct kernel_info ki;
	size_t n;
	uint32_t v32;
	uint16_t v16;

	n = make_bz(img); v16 = 0x020b; memcpy(img + 0x206, &v16, 2);   /* protocol 2.11 */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img); img[0x236] = 0;                               /* no 64-bit entry */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img); img[0x211] = 0;                               /* zImage */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img); img[0x1f1] = 0xff;                            /* setup past EOF */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img); v32 = 0xffffffff; memcpy(img + 0x260, &v32, 4); /* init_size > RAM */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img); img[0x234] = 0;                               /* fixed at pref_address 0 */
	CHECK(load_buf(img, n, &ki) < 0);
	n = make_bz(img);
	for (size_t len = 0; len < 0x2d0; len += 7) {
		ram_reset();
		CHECK(load_buf(img, len, &ki) < 0);
	}
	CHECK(load_buf(img, 5 * 512, &ki) < 0);                           /* no payload */
	CHECK(load_buf(img, n - 100, &ki) < 0);                           /* payload cut short */
}

static void test_not_a_kernel(void)
{
	uint8_t junk[4096];
	struct kernel_info ki;

	memset(junk, 0x90, sizeof(junk));
	CHECK_EQ_I(load_buf(junk, sizeof(junk), &ki), -ENOEXEC);
	CHECK_EQ_I(load_buf(junk, 0, &ki), -ENOEXEC);
}

static void test_initrd_placement(void)
{
	static uint8_t initrd[10000];
	struct img_src s = { .fd = -1, .buf = initrd, .size = sizeof(initrd) };
	struct kernel_info ki = { .load_end = 0x200000, .initrd_addr_max = UINT32_MAX };
	uint64_t gpa = 0, size = 0;
	struct err err;

	memset(initrd, 0xab, sizeof(initrd));
	ram_reset();
	CHECK_EQ_I(loader_load_initrd(&s, &mem, &ki, &gpa, &size, &err), 0);
	CHECK_EQ_U(gpa & 0xfff, 0);
	CHECK(gpa + size <= RAM_SIZE);
	CHECK(gpa >= ki.load_end);
	CHECK_EQ_U(size, sizeof(initrd));
	CHECK(memcmp(ram + gpa, initrd, sizeof(initrd)) == 0);
	/* Below initrd_addr_max when the kernel says so. */
	ki.initrd_addr_max = 0x2fffff;
	CHECK_EQ_I(loader_load_initrd(&s, &mem, &ki, &gpa, &size, &err), 0);
	CHECK(gpa + size <= 0x300000);
	/* Does not fit above the kernel. */
	ki.initrd_addr_max = UINT32_MAX;
	ki.load_end = RAM_SIZE - 4096;
	CHECK(loader_load_initrd(&s, &mem, &ki, &gpa, &size, &err) < 0);
	s.size = 0;
	ki.load_end = 0x200000;
	CHECK(loader_load_initrd(&s, &mem, &ki, &gpa, &size, &err) < 0);
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	RUN(test_elf_good);
	RUN(test_elf_pvh);
	RUN(test_elf_every_truncation_fails);
	RUN(test_elf_hostile_fields);
	RUN(test_elf_hostile_note);
	RUN(test_bzimage_good);
	RUN(test_bzimage_hostile);
	RUN(test_not_a_kernel);
	RUN(test_initrd_placement);
	free(ram);
	return check_summary();
}
