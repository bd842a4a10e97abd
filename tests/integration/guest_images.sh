#!/usr/bin/env bash
# guest_images.sh: structural checks of the three test-guest images, of the three test-guest images.
#
# Expects `make guest` to have run; builds nothing. Checks:
#   elf-header, pvh-note, bzimage-header   readelf/nm/python3 against boot.rst and the PVH ABI
#   instructions                           none the nested KVM emulator cannot run (host-kvm.md)
# (guest_kvmboot.sh boots them with a loader of its own, where KVM is: in the lab here.)
set -u
BUILD=${BUILD:-build}
D=$BUILD/guest
T=guest_images
fails=0

pass() { echo "PASS $T/$1"; }
fail() { echo "FAIL $T/$1: $2"; fails=$((fails + 1)); }
skip() { echo "SKIP $T/$1: $2"; }

for f in guest.elf guest-pvh.elf guest.bzImage; do
	if [ ! -f "$D/$f" ]; then
		skip all "$D/$f missing (run make guest)"; exit 0
	fi
done
for t in readelf nm objdump python3; do
	if ! command -v $t >/dev/null; then
		skip all "$t not installed"; exit 0
	fi
done

sym() { nm "$1" | awk -v s="$2" '$3 == s { print "0x" $1 }'; }
hex() { printf '0x%x' "$1"; }

# ELF headers: ELF64 x86-64 executables, e_entry the 64-bit entry, loaded from 1 MiB up.
msg=
for f in guest.elf guest-pvh.elf; do
	h=$(readelf -h "$D/$f")
	echo "$h" | grep -q 'Class: *ELF64' || msg="$msg $f:not-ELF64"
	echo "$h" | grep -q 'Type: *EXEC' || msg="$msg $f:not-EXEC"
	echo "$h" | grep -q 'Machine: *Advanced Micro Devices X86-64' || msg="$msg $f:not-x86-64"
	entry=$(echo "$h" | awk '/Entry point address/ { print $4 }')
	[ "$(hex "$entry")" = "$(hex "$(sym "$D/$f" entry_elf64)")" ] || msg="$msg $f:e_entry=$entry"
	low=$(readelf -lW "$D/$f" | awk '$1 == "LOAD" { print $4 }' | sort | head -n 1)
	[ "$(hex "$low")" = 0x100000 ] || msg="$msg $f:lowest-PT_LOAD-paddr=$low"
done
[ -z "$msg" ] && pass elf-header || fail elf-header "$msg"

# PVH note: only in guest-pvh.elf; type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY), owner Xen, 4-byte pvh_entry32.
msg=
readelf -nW "$D/guest.elf" | grep -q Xen && msg="$msg guest.elf-has-a-Xen-note"
readelf -lW "$D/guest.elf" | grep -q NOTE && msg="$msg guest.elf-has-PT_NOTE"
note=$(readelf -n "$D/guest-pvh.elf" | grep -A1 -E '^ +Xen[[:space:]]+0x00000004[[:space:]].*(0x00000012|PHYS32)')
if [ -z "$note" ]; then
	msg="$msg no-Xen-PHYS32_ENTRY-note"
else
	desc=$(echo "$note" | awk '/description data/ { print "0x" $6 $5 $4 $3 }')
	[ "$(hex "$desc")" = "$(hex "$(sym "$D/guest-pvh.elf" pvh_entry32)")" ] ||
		msg="$msg note-entry=$desc-not-pvh_entry32"
fi
readelf -lW "$D/guest-pvh.elf" | grep -q NOTE || msg="$msg guest-pvh.elf-has-no-PT_NOTE"
[ -z "$msg" ] && pass pvh-note || fail pvh-note "$msg"

# bzImage: setup header fields per boot.rst, payload = the ELF's loadable bytes, entry at +0x200.
msg=$(python3 - "$D/guest.bzImage" "$D/guest.elf" "$(sym "$D/guest.elf" entry_bzimage64)" <<'EOF'
import struct, sys
bz = open(sys.argv[1], "rb").read()
elf = open(sys.argv[2], "rb").read()
entry64 = int(sys.argv[3], 16)
err = []
def u(fmt, off): return struct.unpack_from("<" + fmt, bz, off)[0]
sects = bz[0x1f1] or 4
if u("H", 0x1fe) != 0xAA55: err.append("boot_flag")
if bz[0x202:0x206] != b"HdrS": err.append("HdrS")
if u("H", 0x206) < 0x020C: err.append("version<2.12")
if bz[0x200] != 0xEB: err.append("jump")
if not bz[0x211] & 0x01: err.append("loadflags-no-LOADED_HIGH")
if not u("H", 0x236) & 0x01: err.append("xloadflags-no-XLF_KERNEL_64")
if u("I", 0x214) != 0x100000: err.append("code32_start")
if u("Q", 0x258) != 0x100000: err.append("pref_address")
if u("I", 0x238) < 2047: err.append("cmdline_size")
if u("I", 0x22c) == 0: err.append("initrd_addr_max")
payload = bz[(sects + 1) * 512:]
if u("I", 0x1f4) * 16 < len(payload): err.append("syssize")
# Rebuild the image the ELF describes and compare.
phoff, = struct.unpack_from("<Q", elf, 0x20)
phnum, = struct.unpack_from("<H", elf, 0x38)
img, memend = bytearray(len(payload)), 0
for i in range(phnum):
    t, _, off, _, paddr, fsz, msz = struct.unpack_from("<IIQQQQQ", elf, phoff + 56 * i)
    if t != 1: continue
    img[paddr - 0x100000:paddr - 0x100000 + fsz] = elf[off:off + fsz]
    memend = max(memend, paddr - 0x100000 + msz)
if bytes(img) != payload: err.append("payload-differs-from-guest.elf")
if u("I", 0x260) < memend: err.append("init_size<%#x" % memend)
if entry64 != 0x100200: err.append("entry_bzimage64=%#x" % entry64)
print(" ".join(err))
EOF
)
[ -z "$msg" ] && pass bzimage-header || fail bzimage-header "$msg"

# No instruction the emulator cannot execute, no SSE/AVX register use. The
# 32-bit entries (.text32) are disassembled as 32-bit code; the real-mode
# trampoline is data (.rodata) and too small to hide anything.
bad=$( (objdump -d --no-show-raw-insn -j .head -j .text "$D/guest-pvh.elf"
	objdump -d --no-show-raw-insn -m i386 -j .text32 "$D/guest-pvh.elf") |
	grep -E '\s(int3|popcnt|xsave|xsaves|xrstor|xrstors|clac|stac|cmpxchg16b|ud2|endbr64|vzeroupper)\b|%[xyz]mm' |
	head -n 3 | tr '\n' '|')
[ -z "$bad" ] && pass instructions || fail instructions "$bad"


[ "$fails" -eq 0 ]
