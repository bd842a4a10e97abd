/* loader.c: ELF / PVH / bzImage kernel loader and initrd placement. */
#include "arch/x86/loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

#define LOADER_MAX_PHDRS      64
#define LOADER_MAX_NOTE_BYTES (64 * 1024)
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BZ_MIN_VERSION        0x020c   /* 2.12: xloadflags */
#define BZ_ENTRY64_OFFSET     0x200

int img_from_fd(struct img_src *s, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	s->fd = fd;
	s->buf = NULL;
	s->size = (uint64_t)st.st_size;
	return 0;
}

int img_read(const struct img_src *s, uint64_t off, void *dst, size_t len)
{
	uint64_t end;
	uint8_t *d = dst;

	if (__builtin_add_overflow(off, (uint64_t)len, &end) || end > s->size)
		return -EINVAL;
	if (s->fd < 0) {
		memcpy(dst, s->buf + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(s->fd, d, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		d += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t loader_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Look for the PVH entry note in one PT_NOTE segment; 0 if absent. */
static uint64_t loader_pvh_note(const struct img_src *s, const Elf64_Phdr *ph)
{
	uint8_t buf[LOADER_MAX_NOTE_BYTES];
	uint64_t off = 0, n = ph->p_filesz;

	if (n > sizeof(buf) || img_read(s, ph->p_offset, buf, (size_t)n))
		return 0;
	/* Each note: namesz, descsz, type, name and desc padded to 4 bytes. */
	while (n - off >= 12) {
		uint64_t namesz = loader_get32(buf + off), descsz = loader_get32(buf + off + 4);
		uint32_t type = loader_get32(buf + off + 8);
		uint64_t name_off = off + 12;
		uint64_t desc_off = name_off + ((namesz + 3) & ~3ULL);
		uint64_t next = desc_off + ((descsz + 3) & ~3ULL);

		if (namesz > n || descsz > n || next > n)
			return 0;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(buf + name_off, "Xen", 4) == 0 && descsz >= 4)
			return loader_get32(buf + desc_off);
		off = next;
	}
	return 0;
}

static int loader_elf(const struct img_src *s, const struct guest_mem *m,
		      struct kernel_info *ki, struct err *e)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t lo = UINT64_MAX, hi = 0, pvh = 0;
	unsigned loads = 0;

	if (img_read(s, 0, &eh, sizeof(eh)))
		return err_set(e, -ENOEXEC, "ELF header truncated");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return err_set(e, -ENOEXEC, "not an x86-64 little-endian ELF64 image");
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return err_set(e, -ENOEXEC, "ELF image is not executable (e_type %u)",
			       eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > LOADER_MAX_PHDRS)
		return err_set(e, -ENOEXEC, "bad ELF program headers (%u of %u bytes)",
			       eh.e_phnum, eh.e_phentsize);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		uint64_t end;
		uint8_t *dst;

		if (img_read(s, eh.e_phoff + (uint64_t)i * sizeof(ph), &ph, sizeof(ph)))
			return err_set(e, -ENOEXEC, "ELF program header %u truncated", i);
		if (ph.p_type == PT_NOTE && !pvh) {
			pvh = loader_pvh_note(s, &ph);
			continue;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return err_set(e, -ENOEXEC, "ELF segment %u: filesz > memsz", i);
		if (ph.p_paddr < LAYOUT_HIMEM_START)
			return err_set(e, -ENOEXEC,
				       "ELF segment %u loads at 0x%llx, below 1 MiB", i,
				       (unsigned long long)ph.p_paddr);
		if (__builtin_add_overflow(ph.p_paddr, ph.p_memsz, &end) ||
		    !(dst = gmem_ptr(m, ph.p_paddr, ph.p_memsz)))
			return err_set(e, -ENOMEM,
				       "ELF segment %u [0x%llx, +0x%llx) does not fit in guest RAM",
				       i, (unsigned long long)ph.p_paddr,
				       (unsigned long long)ph.p_memsz);
		if (img_read(s, ph.p_offset, dst, (size_t)ph.p_filesz))
			return err_set(e, -ENOEXEC,
				       "ELF segment %u data lies outside the file", i);
		memset(dst + ph.p_filesz, 0, (size_t)(ph.p_memsz - ph.p_filesz));
		lo = ph.p_paddr < lo ? ph.p_paddr : lo;
		hi = end > hi ? end : hi;
		loads++;
	}
	if (!loads)
		return err_set(e, -ENOEXEC, "ELF image has no loadable segment");
	ki->load_start = lo;
	ki->load_end = hi;
	ki->initrd_addr_max = UINT32_MAX;
	if (pvh) {
		ki->kind = BOOT_ENTRY_PVH;
		ki->entry = pvh;
	} else {
		ki->kind = BOOT_ENTRY_LINUX64;
		ki->entry = eh.e_entry;
	}
	if (!gmem_ptr(m, ki->entry, 1))
		return err_set(e, -ENOEXEC, "ELF entry point 0x%llx is outside guest RAM",
			       (unsigned long long)ki->entry);
	return 0;
}

static int loader_bzimage(const struct img_src *s, const struct guest_mem *m,
			  struct kernel_info *ki, struct err *e)
{
	uint8_t hdr[BP_E820_TABLE];   /* boot sector and setup header: 0 .. 0x2d0 */
	uint32_t setup_sects, init_size, align;
	uint16_t version, xload;
	uint64_t pm_off, pm_size, load, need, end;
	uint8_t *dst;

	if (img_read(s, 0, hdr, sizeof(hdr)))
		return err_set(e, -ENOEXEC, "image too small for a bzImage header");
	version = (uint16_t)(hdr[BP_VERSION] | hdr[BP_VERSION + 1] << 8);
	xload = (uint16_t)(hdr[BP_XLOADFLAGS] | hdr[BP_XLOADFLAGS + 1] << 8);
	if (version < BZ_MIN_VERSION)
		return err_set(e, -ENOEXEC,
			       "bzImage boot protocol %u.%02u is older than 2.12",
			       version >> 8, version & 0xff);
	if (!(xload & BP_XLF_KERNEL_64))
		return err_set(e, -ENOEXEC, "bzImage has no 64-bit entry (XLF_KERNEL_64)");
	if (!(hdr[BP_LOADFLAGS] & BP_LOADED_HIGH))
		return err_set(e, -ENOEXEC, "zImage (not loaded high) is not supported");
	setup_sects = hdr[BP_SETUP_SECTS] ? hdr[BP_SETUP_SECTS] : 4;
	pm_off = (uint64_t)(setup_sects + 1) * 512;
	if (pm_off >= s->size)
		return err_set(e, -ENOEXEC, "bzImage truncated: no protected-mode kernel");
	pm_size = s->size - pm_off;
	/* syssize (2.04+) is the payload length in 16-byte units: a shorter file is truncated. */
	if ((uint64_t)loader_get32(hdr + BP_SYSSIZE) * 16 > pm_size + 15)
		return err_set(e, -ENOEXEC,
			       "bzImage truncated: payload is %llu bytes, header says %llu",
			       (unsigned long long)pm_size,
			       (unsigned long long)loader_get32(hdr + BP_SYSSIZE) * 16);
	init_size = loader_get32(hdr + BP_INIT_SIZE);
	align = loader_get32(hdr + BP_KERNEL_ALIGNMENT);
	load = LAYOUT_HIMEM_START;
	if (!hdr[BP_RELOCATABLE]) {
		/* A fixed kernel must run where it was linked (pref_address, 2.10+). */
		memcpy(&load, hdr + BP_PREF_ADDRESS, 8);
		if (load < LAYOUT_HIMEM_START)
			return err_set(e, -ENOEXEC,
				       "bzImage pref_address 0x%llx is below 1 MiB",
				       (unsigned long long)load);
	}
	(void)align;
	need = pm_size > init_size ? pm_size : init_size;
	if (__builtin_add_overflow(load, need, &end) || !gmem_ptr(m, load, need))
		return err_set(e, -ENOMEM,
			       "bzImage needs 0x%llx bytes at 0x%llx: more than guest RAM",
			       (unsigned long long)need, (unsigned long long)load);
	dst = gmem_ptr(m, load, pm_size);
	if (img_read(s, pm_off, dst, (size_t)pm_size))
		return err_set(e, -EIO, "bzImage read failed");
	ki->kind = BOOT_ENTRY_LINUX64;
	ki->is_bzimage = 1;
	ki->entry = load + BZ_ENTRY64_OFFSET;
	ki->load_start = load;
	ki->load_end = end;
	ki->initrd_addr_max = loader_get32(hdr + BP_INITRD_ADDR_MAX);
	if (!ki->initrd_addr_max)
		ki->initrd_addr_max = 0x37ffffff;   /* boot.rst: default before 2.03 */
	/* The header ends at 0x202 + the jump's displacement byte (boot.rst). */
	ki->setup_header_len = (size_t)(0x202 + hdr[0x201]) - BP_HDR;
	if (ki->setup_header_len > sizeof(ki->setup_header))
		ki->setup_header_len = sizeof(ki->setup_header);
	memcpy(ki->setup_header, hdr + BP_HDR, ki->setup_header_len);
	return 0;
}

int loader_load_kernel(const struct img_src *s, const struct guest_mem *m,
		       struct kernel_info *ki, struct err *e)
{
	uint8_t magic[4];
	uint8_t hdrs[8];

	memset(ki, 0, sizeof(*ki));
	if (img_read(s, 0, magic, sizeof(magic)))
		return err_set(e, -ENOEXEC, "kernel image is empty or truncated (%llu bytes)",
			       (unsigned long long)s->size);
	if (memcmp(magic, ELFMAG, SELFMAG) == 0)
		return loader_elf(s, m, ki, e);
	if (img_read(s, BP_BOOT_FLAG, hdrs, sizeof(hdrs)) == 0 &&
	    hdrs[0] == 0x55 && hdrs[1] == 0xaa && loader_get32(hdrs + 4) == BP_HDR_MAGIC)
		return loader_bzimage(s, m, ki, e);
	return err_set(e, -ENOEXEC,
		       "kernel image is neither an ELF64 vmlinux nor a bzImage");
}

int loader_load_initrd(const struct img_src *s, const struct guest_mem *m,
		       const struct kernel_info *ki, uint64_t *gpa, uint64_t *size,
		       struct err *e)
{
	uint64_t top = gmem_top_low(m), addr;
	uint8_t *dst;

	if ((uint64_t)ki->initrd_addr_max + 1 < top)
		top = (uint64_t)ki->initrd_addr_max + 1;
	if (s->size == 0)
		return err_set(e, -EINVAL, "initrd is empty");
	if (s->size > top || (top - s->size) < ki->load_end)
		return err_set(e, -ENOMEM,
			       "initrd of %llu bytes does not fit between the kernel and 0x%llx",
			       (unsigned long long)s->size, (unsigned long long)top);
	addr = (top - s->size) & ~0xfffULL;
	if (addr < ki->load_end || !(dst = gmem_ptr(m, addr, s->size)))
		return err_set(e, -ENOMEM, "initrd does not fit in guest RAM");
	if (img_read(s, 0, dst, (size_t)s->size))
		return err_set(e, -EIO, "initrd read failed");
	*gpa = addr;
	*size = s->size;
	return 0;
}
