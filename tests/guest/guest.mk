# guest.mk: builds the ember test guest (included by the top-level Makefile).
#
#   make guest   ->  $(BUILD)/guest/guest.elf       64-bit boot protocol vmlinux-style ELF
#                    $(BUILD)/guest/guest-pvh.elf   the same plus the PVH ELF note
#                    $(BUILD)/guest/guest.bzImage   setup header + the same payload

BUILD ?= build
GUEST_CC ?= gcc
GUEST_DIR := tests/guest
GUEST_OUT := $(BUILD)/guest

# Freestanding, no SSE/AVX/x87 and nothing the nested KVM's instruction
# emulator cannot run (int3, popcnt, xsave, clac, cmpxchg16b): see
# /work/shared/guides/host-kvm.md. Low addresses (0, the BIOS data area) are
# valid physical memory here, so gcc must neither treat dereferencing them as
# undefined nor warn about them (min-pagesize=0, as Linux builds with gcc 12).
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Werror \
	-ffreestanding -nostdlib -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
	-mno-popcnt -mcmodel=small -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fcf-protection=none -fno-delete-null-pointer-checks \
	-fno-tree-loop-distribute-patterns -fno-builtin -fno-common --param=min-pagesize=0 -MMD -MP
GUEST_ASFLAGS := -fno-pic -fno-pie -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
	-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -T $(GUEST_DIR)/guest.ld

GUEST_C_SRCS := main.c bootinfo.c cmdline.c e820.c paging.c probe.c uart.c fmt.c lib.c \
	crc32.c idt.c apic.c pit.c i8042.c mptable.c smp.c idle.c virtio.c virtio_queue.c blk.c \
	blk_evil.c net.c net_ip.c net_ep.c net_probe.c net_evil.c \
	vsock.c vsock_probe.c vsock_evil.c
GUEST_S_SRCS := head.S isr.S trampoline.S
# Ring 3 for benchmark loops, and the block benchmark (perf/).
GUEST_C_SRCS += user.c bench_blk.c
GUEST_S_SRCS += user_entry.S
GUEST_OBJS := $(GUEST_C_SRCS:%.c=$(GUEST_OUT)/obj/%.o) $(GUEST_S_SRCS:%.S=$(GUEST_OUT)/obj/%.o)
GUEST_PVH_OBJ := $(GUEST_OUT)/obj/pvhnote.o

.PHONY: guest
guest: $(GUEST_OUT)/guest.elf $(GUEST_OUT)/guest-pvh.elf $(GUEST_OUT)/guest.bzImage

$(GUEST_OUT)/obj/%.o: $(GUEST_DIR)/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/obj/%.o: $(GUEST_DIR)/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c $< -o $@

$(GUEST_OUT)/guest.elf: $(GUEST_OBJS) $(GUEST_DIR)/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

$(GUEST_OUT)/guest-pvh.elf: $(GUEST_OBJS) $(GUEST_PVH_OBJ) $(GUEST_DIR)/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS) $(GUEST_PVH_OBJ)

# A host tool: wraps the ELF's loadable bytes in a bzImage setup header.
$(GUEST_OUT)/mkbzimage: $(GUEST_DIR)/mkbzimage.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

$(GUEST_OUT)/guest.bzImage: $(GUEST_OUT)/guest.elf $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage $< $@

-include $(wildcard $(GUEST_OUT)/obj/*.d)
