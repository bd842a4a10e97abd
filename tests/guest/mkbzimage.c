/* mkbzimage.c: host tool wrapping the guest ELF's loadable bytes into a bzImage (boot protocol 2.12). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * bzImage layout (Documentation/arch/x86/boot.rst, "THE ACTUAL KERNEL
 * IMAGE"): a boot sector, setup_sects 512-byte sectors of real-mode setup
 * (here only the rest of the setup header and a halt stub), then the
 * protected-mode payload that the loader puts at code32_start/pref_address.
 * Our payload is uncompressed: the guest image as linked at 0x100000, whose
 * 64-bit entry sits at offset 0x200 as the 64-bit boot protocol requires.
 */
#define LOAD_ADDR      0x100000u
#define SETUP_SECTS    1
#define SETUP_SIZE     ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_MAX    (16u << 20)

/* Setup header offsets (boot.rst, "THE REAL-MODE KERNEL HEADER"). */
#define H_SETUP_SECTS       0x1f1
#define H_SYSSIZE           0x1f4
#define H_VID_MODE          0x1fa
#define H_BOOT_FLAG         0x1fe
#define H_JUMP              0x200
#define H_HEADER            0x202
#define H_VERSION           0x206
#define H_START_SYS_SEG     0x20c
#define H_KERNEL_VERSION    0x20e
#define H_LOADFLAGS         0x211
#define H_SETUP_MOVE_SIZE   0x212
#define H_CODE32_START      0x214
#define H_INITRD_ADDR_MAX   0x22c
#define H_KERNEL_ALIGNMENT  0x230
#define H_RELOCATABLE       0x234
#define H_MIN_ALIGNMENT     0x235
#define H_XLOADFLAGS        0x236
#define H_CMDLINE_SIZE      0x238
#define H_PREF_ADDRESS      0x258
#define H_INIT_SIZE         0x260
#define H_END               0x268  /* first byte after the 2.12 header */
#define H_VERSION_STR       0x270

#define BOOT_PROTOCOL       0x020c
#define LOADED_HIGH         0x01
#define XLF_KERNEL_64       0x0001

/* ELF64 (System V gABI), little endian. */
#define EH_PHOFF      0x20
#define EH_PHENTSIZE  0x36
#define EH_PHNUM      0x38
#define PH_SIZE       56
#define PT_LOAD       1

static uint16_t mkbz_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t mkbz_rd32(const uint8_t *p)
{
	return mkbz_rd16(p) | (uint32_t)mkbz_rd16(p + 2) << 16;
}

static uint64_t mkbz_rd64(const uint8_t *p)
{
	return mkbz_rd32(p) | (uint64_t)mkbz_rd32(p + 4) << 32;
}

static void mkbz_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void mkbz_wr32(uint8_t *p, uint32_t v)
{
	mkbz_wr16(p, (uint16_t)v);
	mkbz_wr16(p + 2, (uint16_t)(v >> 16));
}

static void mkbz_wr64(uint8_t *p, uint64_t v)
{
	mkbz_wr32(p, (uint32_t)v);
	mkbz_wr32(p + 4, (uint32_t)(v >> 32));
}

static int mkbz_read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EIO;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		free(*buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

/*
 * Copy the PT_LOAD file bytes of elf into payload (offset = p_paddr - LOAD_ADDR).
 * Sets *file_end (bytes of payload used) and *mem_end (including .bss).
 */
static int mkbz_payload(const uint8_t *elf, size_t len, uint8_t *payload, uint64_t *file_end,
			uint64_t *mem_end)
{
	uint64_t phoff;
	unsigned phnum, phentsize;
	int loads = 0;

	if (len < 64 || memcmp(elf, "\177ELF", 4) || elf[4] != 2 || elf[5] != 1 ||
	    mkbz_rd16(elf + 0x12) != 62) {
		fprintf(stderr, "mkbzimage: not an x86-64 little-endian ELF64\n");
		return -1;
	}
	phoff = mkbz_rd64(elf + EH_PHOFF);
	phentsize = mkbz_rd16(elf + EH_PHENTSIZE);
	phnum = mkbz_rd16(elf + EH_PHNUM);
	if (phentsize != PH_SIZE || phoff > len || (uint64_t)phnum * PH_SIZE > len - phoff) {
		fprintf(stderr, "mkbzimage: bad program header table\n");
		return -1;
	}
	*file_end = *mem_end = 0;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = elf + phoff + (uint64_t)i * PH_SIZE;
		uint64_t off = mkbz_rd64(ph + 8), paddr = mkbz_rd64(ph + 24);
		uint64_t filesz = mkbz_rd64(ph + 32), memsz = mkbz_rd64(ph + 40);

		if (mkbz_rd32(ph) != PT_LOAD)
			continue;
		loads++;
		if (paddr < LOAD_ADDR || memsz < filesz || paddr - LOAD_ADDR + memsz > PAYLOAD_MAX ||
		    off > len || filesz > len - off) {
			fprintf(stderr, "mkbzimage: PT_LOAD %u outside [0x%x, +16 MiB) or the file\n",
				i, LOAD_ADDR);
			return -1;
		}
		memcpy(payload + (paddr - LOAD_ADDR), elf + off, filesz);
		if (filesz && paddr - LOAD_ADDR + filesz > *file_end)
			*file_end = paddr - LOAD_ADDR + filesz;
		if (paddr - LOAD_ADDR + memsz > *mem_end)
			*mem_end = paddr - LOAD_ADDR + memsz;
	}
	if (!loads || *file_end <= 0x200) {
		fprintf(stderr, "mkbzimage: no payload covering the 64-bit entry at 0x200\n");
		return -1;
	}
	return 0;
}

static void mkbz_header(uint8_t *s, uint64_t payload_len, uint64_t init_size)
{
	static const char version[] = "ember-test-guest";
	int16_t rel = H_END - (H_JUMP + 2);

	/* Real-mode entry points are not supported: both just halt (cli; hlt; jmp $-1). */
	static const uint8_t halt[] = { 0xfa, 0xf4, 0xeb, 0xfd };

	memcpy(s, halt, sizeof(halt));
	memcpy(s + H_END, halt, sizeof(halt));
	s[H_SETUP_SECTS] = SETUP_SECTS;
	mkbz_wr32(s + H_SYSSIZE, (uint32_t)((payload_len + 15) / 16));
	mkbz_wr16(s + H_VID_MODE, 0xffff);              /* "normal" */
	mkbz_wr16(s + H_BOOT_FLAG, 0xaa55);
	s[H_JUMP] = 0xeb;                          /* jmp rel8: its target ends the header */
	s[H_JUMP + 1] = (uint8_t)rel;
	memcpy(s + H_HEADER, "HdrS", 4);
	mkbz_wr16(s + H_VERSION, BOOT_PROTOCOL);
	mkbz_wr16(s + H_START_SYS_SEG, 0x1000);
	mkbz_wr16(s + H_KERNEL_VERSION, H_VERSION_STR - 0x200);
	memcpy(s + H_VERSION_STR, version, sizeof(version));
	s[H_LOADFLAGS] = LOADED_HIGH;
	mkbz_wr16(s + H_SETUP_MOVE_SIZE, 0x8000);
	mkbz_wr32(s + H_CODE32_START, LOAD_ADDR);
	mkbz_wr32(s + H_INITRD_ADDR_MAX, 0x7fffffff);
	/* Not relocatable: it must go to pref_address, which is 1 MiB aligned. */
	mkbz_wr32(s + H_KERNEL_ALIGNMENT, LOAD_ADDR);
	s[H_RELOCATABLE] = 0;
	s[H_MIN_ALIGNMENT] = 20;
	mkbz_wr16(s + H_XLOADFLAGS, XLF_KERNEL_64);
	mkbz_wr32(s + H_CMDLINE_SIZE, 2047);            /* 2048 bytes with the NUL */
	mkbz_wr64(s + H_PREF_ADDRESS, LOAD_ADDR);
	mkbz_wr32(s + H_INIT_SIZE, (uint32_t)((init_size + 4095) & ~4095ull));
}

int main(int argc, char **argv)
{
	uint8_t *elf = NULL, *out = NULL;
	uint64_t file_end, mem_end;
	size_t len = 0;
	FILE *f;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: mkbzimage <guest.elf> <out.bzImage>\n");
		return 2;
	}
	rc = mkbz_read_file(argv[1], &elf, &len);
	if (rc) {
		fprintf(stderr, "mkbzimage: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	out = calloc(1, SETUP_SIZE + PAYLOAD_MAX);
	if (!out || mkbz_payload(elf, len, out + SETUP_SIZE, &file_end, &mem_end)) {
		free(elf);
		free(out);
		return 1;
	}
	mkbz_header(out, file_end, mem_end);
	f = fopen(argv[2], "wb");
	if (!f || fwrite(out, 1, SETUP_SIZE + file_end, f) != SETUP_SIZE + file_end || fclose(f)) {
		fprintf(stderr, "mkbzimage: %s: write failed\n", argv[2]);
		free(elf);
		free(out);
		return 1;
	}
	free(elf);
	free(out);
	return 0;
}
