#!/usr/bin/env python3
"""kvmboot.py: a minimal KVM loader that boots the test guest the way Firecracker does (64-bit boot protocol).

It exists to exercise the guest's ELF and bzImage 64-bit entries before ember
can, with nothing but /dev/kvm: one vCPU in long mode, Firecracker's guest
layout (GDT 0x500, zero page 0x7000, stack 0x8ff0, page tables 0x9000-0xb000
identity-mapping 1 GiB, command line 0x20000, initrd page-aligned at the top
of low RAM, e820 as in the compat guide), a tiny 8250 model on COM1 and the
i8042 reset command. No interrupt controller, PIT or MP table: the probes
boot, e820, cmdline, initrd and serial work; mptable and idle do not.

usage: kvmboot.py [--mem MIB] [--initrd FILE] [--timeout S] KERNEL CMDLINE
KERNEL is an ELF (loaded by PT_LOAD, entry e_entry) or a bzImage (payload at
1 MiB, entry at 1 MiB + 0x200). Guest serial output goes to stdout. Exit 0
when the guest resets (i8042 0xFE or triple fault), 1 on any other stop.
"""
import argparse
import ctypes
import fcntl
import mmap
import os
import struct
import sys
import time

# ioctl numbers: _IOC(dir, 0xAE, nr, size), linux/kvm.h.
def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (0xAE << 8) | nr

KVM_GET_API_VERSION = _ioc(0, 0x00, 0)
KVM_CREATE_VM = _ioc(0, 0x01, 0)
KVM_GET_VCPU_MMAP_SIZE = _ioc(0, 0x04, 0)
KVM_GET_SUPPORTED_CPUID = _ioc(3, 0x05, 8)
KVM_CREATE_VCPU = _ioc(0, 0x41, 0)
KVM_SET_USER_MEMORY_REGION = _ioc(1, 0x46, 32)
KVM_RUN = _ioc(0, 0x80, 0)
KVM_SET_REGS = _ioc(1, 0x82, 144)
KVM_GET_SREGS = _ioc(2, 0x83, 312)
KVM_SET_SREGS = _ioc(1, 0x84, 312)
KVM_SET_CPUID2 = _ioc(1, 0x90, 8)

EXIT_IO, EXIT_HLT, EXIT_MMIO, EXIT_SHUTDOWN = 2, 5, 6, 8

MIB = 1 << 20
GAP_START, GAP_END = 0xC0000000, 0x100000000
ZERO_PAGE, CMDLINE, STACK = 0x7000, 0x20000, 0x8FF0
PML4, PDPT, PD, GDT = 0x9000, 0xA000, 0xB000, 0x500
EBDA, RESERVED_END, HIMEM = 0x9FC00, 0xE0000, 0x100000


class Guest:
    def __init__(self, mem_mib):
        self.mem = mem_mib * MIB
        self.low = min(self.mem, GAP_START)
        self.buf = mmap.mmap(-1, self.mem)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.buf))

    def gpa(self, addr):
        """Offset into buf of guest-physical addr (RAM above the gap follows low RAM)."""
        return addr if addr < GAP_START else addr - GAP_END + GAP_START

    def write(self, addr, data):
        off = self.gpa(addr)
        self.buf[off:off + len(data)] = data


def load_elf(g, img):
    if img[:4] != b"\x7fELF" or img[4] != 2:
        sys.exit("kvmboot: not an ELF64")
    entry, phoff = struct.unpack_from("<QQ", img, 0x18)
    phentsize, phnum = struct.unpack_from("<HH", img, 0x36)
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, _ = struct.unpack_from("<IIQQQQQ", img, phoff + i * phentsize)
        if p_type == 1:
            g.write(paddr, img[off:off + filesz])
    return entry, None


def load_bzimage(g, img):
    setup_sects = img[0x1F1] or 4
    if img[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", img, 0x206)[0] < 0x20C:
        sys.exit("kvmboot: not a bzImage with boot protocol >= 2.12")
    if not struct.unpack_from("<H", img, 0x236)[0] & 1:
        sys.exit("kvmboot: bzImage lacks XLF_KERNEL_64")
    pm = (setup_sects + 1) * 512
    g.write(HIMEM, img[pm:])
    # boot.rst: the setup header (0x1f1 up to the jump target) goes into boot_params.
    hdr_end = 0x202 + img[0x201]
    return HIMEM + 0x200, img[0x1F1:hdr_end]


def setup_boot(g, cmdline, initrd, header):
    # Page tables: identity map of the first GiB with 2 MiB pages.
    g.write(PML4, struct.pack("<Q", PDPT | 3))
    g.write(PDPT, struct.pack("<Q", PD | 3))
    g.write(PD, b"".join(struct.pack("<Q", (i << 21) | 0x83) for i in range(512)))
    # GDT: null, code64, data, TSS (Firecracker's gdt_table).
    g.write(GDT, struct.pack("<4Q", 0, 0x00AF9B000000FFFF, 0x00CF93000000FFFF, 0x008F8B000000FFFF))
    zp = bytearray(4096)
    if header:
        zp[0x1F1:0x1F1 + len(header)] = header
    struct.pack_into("<H", zp, 0x1FE, 0xAA55)
    zp[0x202:0x206] = b"HdrS"
    zp[0x210] = 0xFF  # type_of_loader: undefined
    zp[0x211] |= 0x01  # LOADED_HIGH
    cl = cmdline.encode() + b"\0"
    g.write(CMDLINE, cl)
    struct.pack_into("<II", zp, 0x228, CMDLINE, 0)
    struct.pack_into("<I", zp, 0x238, len(cl) - 1)
    if initrd:
        addr = (g.low - len(initrd)) & ~0xFFF
        g.write(addr, initrd)
        struct.pack_into("<II", zp, 0x218, addr, len(initrd))
    e820 = [(0, EBDA, 1), (EBDA, RESERVED_END - EBDA, 2), (HIMEM, g.low - HIMEM, 1)]
    if g.mem > GAP_START:
        e820.append((GAP_END, g.mem - GAP_START, 1))
    zp[0x1E8] = len(e820)
    for i, (a, s, t) in enumerate(e820):
        struct.pack_into("<QQI", zp, 0x2D0 + 20 * i, a, s, t)
    g.write(ZERO_PAGE, bytes(zp))


def set_cpu(kvm, vcpu, entry):
    cpuid = bytearray(8 + 256 * 40)
    struct.pack_into("<I", cpuid, 0, 256)
    fcntl.ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid)
    fcntl.ioctl(vcpu, KVM_SET_CPUID2, cpuid)
    sregs = bytearray(312)
    fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)

    def seg(i, sel, typ, s=1, l=0, db=1):
        # struct kvm_segment: base, limit, selector, type, present, dpl, db, s, l, g, avl, unusable
        struct.pack_into("<QIHBBBBBBBBBx", sregs, 24 * i, 0, 0xFFFFF, sel, typ, 1, 0, db, s, l, 1, 0, 0)

    seg(0, 0x08, 0xB, l=1, db=0)  # cs
    for i in (1, 2, 3, 4, 5):     # ds es fs gs ss
        seg(i, 0x10, 0x3)
    seg(6, 0x18, 0xB, s=0, db=0)  # tr
    struct.pack_into("<QH", sregs, 192, GDT, 31)       # gdt
    struct.pack_into("<QH", sregs, 208, 0x520, 7)      # idt
    cr0, cr2, cr3, cr4, cr8, efer = struct.unpack_from("<6Q", sregs, 224)
    struct.pack_into("<6Q", sregs, 224, cr0 | 0x80000011, 0, PML4, cr4 | 0x20, 0, efer | 0x500)
    fcntl.ioctl(vcpu, KVM_SET_SREGS, sregs)
    regs = [0] * 18
    regs[4], regs[6], regs[7] = ZERO_PAGE, STACK, STACK  # rsi, rsp, rbp
    regs[16], regs[17] = entry, 2                         # rip, rflags
    fcntl.ioctl(vcpu, KVM_SET_REGS, struct.pack("<18Q", *regs))


class Uart:
    """Just enough of an 8250 for the guest: THR, LSR, scratch, LCR, divisor latch, IER."""

    def __init__(self):
        self.regs = [0] * 8
        self.dll, self.dlm = 1, 0

    def out(self, off, v):
        dlab = self.regs[3] & 0x80
        if off == 0 and not dlab:
            sys.stdout.buffer.write(bytes([v]))
            sys.stdout.flush()
        elif off == 0:
            self.dll = v
        elif off == 1 and dlab:
            self.dlm = v
        elif off == 1:
            self.regs[1] = v & 0x0F
        elif off in (3, 4, 7):
            self.regs[off] = v

    def inp(self, off):
        dlab = self.regs[3] & 0x80
        if off == 0:
            return self.dll if dlab else 0
        if off == 1:
            return self.dlm if dlab else self.regs[1]
        if off == 5:
            return 0x60
        return self.regs[off] if off in (3, 4, 7) else 0


def run(vcpu, run_map, uart, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fcntl.ioctl(vcpu, KVM_RUN, 0)
        reason = struct.unpack_from("<I", run_map, 8)[0]
        if reason == EXIT_IO:
            direction, size, port, count, off = struct.unpack_from("<BBHIQ", run_map, 32)
            for i in range(count):
                p = off + i * size
                if direction == 1:  # out
                    v = run_map[p]
                    if 0x3F8 <= port < 0x400:
                        uart.out(port - 0x3F8, v)
                    elif port == 0x64 and v == 0xFE:
                        return 0
                else:
                    v = uart.inp(port - 0x3F8) if 0x3F8 <= port < 0x400 else 0xFF
                    run_map[p:p + size] = bytes([v]) * size
        elif reason == EXIT_MMIO:
            phys, = struct.unpack_from("<Q", run_map, 32)
            length, is_write = struct.unpack_from("<IB", run_map, 48)
            if not is_write:
                run_map[40:40 + length] = b"\xff" * length
        elif reason == EXIT_SHUTDOWN:
            return 0
        else:
            print("kvmboot: exit reason %d" % reason, file=sys.stderr)
            return 1
    print("kvmboot: timeout", file=sys.stderr)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mem", type=int, default=128, help="MiB")
    ap.add_argument("--initrd")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("kernel")
    ap.add_argument("cmdline")
    a = ap.parse_args()
    img = open(a.kernel, "rb").read()
    initrd = open(a.initrd, "rb").read() if a.initrd else None

    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    if fcntl.ioctl(kvm, KVM_GET_API_VERSION, 0) != 12:
        sys.exit("kvmboot: unexpected KVM API version")
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    g = Guest(a.mem)
    slots = [(0, 0, g.low, g.base)]
    if g.mem > GAP_START:
        slots.append((1, GAP_END, g.mem - GAP_START, g.base + GAP_START))
    for slot, gpa, size, hva in slots:
        fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, struct.pack("<IIQQQ", slot, 0, gpa, size, hva))

    if img[:4] == b"\x7fELF":
        entry, header = load_elf(g, img)
    else:
        entry, header = load_bzimage(g, img)
    setup_boot(g, a.cmdline, initrd, header)

    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
    run_map = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    set_cpu(kvm, vcpu, entry)
    sys.exit(run(vcpu, run_map, Uart(), a.timeout))


if __name__ == "__main__":
    main()
