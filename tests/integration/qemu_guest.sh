#!/usr/bin/env bash
# qemu_guest.sh: boots the PVH test guest under QEMU microvm (the independent peer) and checks every probe line.
#
# Expects `make guest` to have run; builds nothing. Cases:
#   cpus{1,2,4}-mem{128,3584}  boot,e820,cmdline,initrd,serial,mptable all PASS
#   negative                   wrong expectations: every probe must FAIL
#   fault                      an exception is reported and the VM still stops
#   idle-ticks                 PIT ticks through the IOAPIC, idle_ticks=5
#   idle-ctrl-alt-del          QEMU's i8042 + monitor "sendkey ctrl-alt-delete"
# QEMU microvm quirks the guest is told about: its PVH memory map is unsorted
# with a trailing empty entry (e820_sanitize), qboot's MP table has entry
# count 0 (mp_ignore_count), and it has no i8042 unless -device i8042.
set -u
T=qemu_guest
. "$(dirname "$0")/common.bash"
IMG=$GUEST_DIR/guest-pvh.elf
need_qemu "$IMG"

tmp=$TMP
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT

crc32() { python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(sys.argv[1].encode()))' "$1"; }

head -c 7777 /dev/urandom >"$tmp/initrd"
INITRD_SIZE=$(stat -c %s "$tmp/initrd")
INITRD_CRC=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$tmp/initrd")

# Append cmdline_crc=<CRC-32 of everything before it> to a command line.
with_crc() { echo "$1 cmdline_crc=$(crc32 "$1 ")"; }

# qemu_boot OUT TIMEOUT CPUS MEM APPEND [extra QEMU args...]: run to completion; returns QEMU's status.
qemu_boot() {
	local out=$1 to=$2 cpus=$3 mem=$4 append=$5
	shift 5
	timeout "$to" "$QEMU" -M microvm,acpi=off -enable-kvm -cpu host -smp "$cpus" -m "$mem" \
		-nodefaults -no-user-config -display none -no-reboot -serial "file:$out" \
		-kernel "$IMG" -initrd "$tmp/initrd" -append "$append" "$@" 2>"$out.err"
}

# check_done CASE OUT APPEND WANT_PASS STATUS: the common verdict.
check_done() {
	local c=$1 out=$2 append=$3 want=$4 st=$5
	if [ "$st" -eq 124 ]; then
		fail "$c" "QEMU did not exit within the timeout: $(tail -n 2 "$out" | tr '\n' '|')"
	elif [ "$st" -ne 0 ]; then
		fail "$c" "QEMU exited $st: $(head -c 300 "$out.err")"
	elif ! grep -qx "GUEST entry=pvh" "$out"; then
		fail "$c" "no 'GUEST entry=pvh' line"
	elif ! grep -qxF "CMDLINE $append" "$out"; then
		fail "$c" "CMDLINE line differs: $(grep '^CMDLINE' "$out" | head -c 200)"
	elif ! grep -qx "PROBE DONE pass=$want fail=0" "$out"; then
		fail "$c" "$(grep -E '^PROBE .* FAIL|^PROBE DONE|^EXCEPTION' "$out" | tr '\n' '|' | head -c 600)"
	else
		pass "$c"
	fi
}

# Main matrix: every probe that needs no interaction, strict expectations.
for cpus in 1 2 4; do
	for mem in 128 3584; do
		c="cpus$cpus-mem$mem"
		append=$(with_crc "probe=boot,e820,cmdline,initrd,serial,mptable expect_entry=pvh \
expect_mem_mib=$mem expect_cpus=$cpus e820_sanitize mp_ignore_count \
initrd_size=$INITRD_SIZE initrd_crc32=$INITRD_CRC expect_token=mp_ignore_count")
		qemu_boot "$tmp/$c.out" 20 "$cpus" "$mem" "$append"
		check_done "$c" "$tmp/$c.out" "$append" 6 $?
	done
done

# Negative: each expectation off by a little; every probe must say FAIL.
c=negative
append=$(with_crc "probe=boot,e820,cmdline,initrd,mptable expect_entry=elf expect_mem_mib=130 \
expect_cpus=3 e820_sanitize mp_ignore_count initrd_size=$((INITRD_SIZE + 1)) \
initrd_crc32=$INITRD_CRC expect_token=absent")
qemu_boot "$tmp/$c.out" 20 2 128 "$append"
st=$?
if [ "$st" -ne 0 ]; then
	fail "$c" "QEMU exited $st"
elif grep -qx "PROBE DONE pass=0 fail=5" "$tmp/$c.out"; then
	pass "$c"
else
	fail "$c" "wrong expectations not all caught: $(grep '^PROBE' "$tmp/$c.out" | tr '\n' '|' | head -c 600)"
fi

# Fault: a #GP is reported with vector and RIP, then the machine resets (QEMU exits).
c=fault
qemu_boot "$tmp/$c.out" 20 1 128 "probe=fault"
st=$?
if [ "$st" -ne 0 ]; then
	fail "$c" "QEMU exited $st (timeout: 124)"
elif grep -qE '^EXCEPTION vector=13 \(#GP\) error=0x0 rip=0x[0-9a-f]+' "$tmp/$c.out"; then
	pass "$c"
else
	fail "$c" "no EXCEPTION vector=13 line: $(tail -n 2 "$tmp/$c.out" | tr '\n' '|')"
fi

# Idle with a tick budget: the PIT -> IOAPIC -> LAPIC path alone.
c=idle-ticks
append="probe=idle,serial idle_ticks=5"
qemu_boot "$tmp/$c.out" 20 1 128 "$append"
st=$?
ticks=$(grep -c '^PROBE TICK ' "$tmp/$c.out")
if [ "$st" -eq 0 ] && [ "$ticks" -ne 5 ]; then
	fail "$c" "expected 5 TICK lines, got $ticks"
else
	check_done "$c" "$tmp/$c.out" "$append" 2 "$st"
fi

# Idle until Ctrl-Alt-Del from QEMU's keyboard (microvm has an i8042 only on request).
c=idle-ctrl-alt-del
if ! "$QEMU" -M microvm -device help 2>/dev/null | grep -q '"i8042"'; then
	skip "$c" "this QEMU offers no i8042 device for microvm"
elif ! command -v socat >/dev/null; then
	skip "$c" "socat (to reach the QEMU monitor) not installed"
else
	out=$tmp/$c.out
	append="probe=idle,serial"
	: >"$out"
	qemu_boot "$out" 30 1 128 "$append" -device i8042 \
		-monitor "unix:$tmp/mon.sock,server=on,wait=off" &
	qpid=$!
	for _ in $(seq 100); do
		grep -q '^PROBE TICK 3$' "$out" && break
		sleep 0.1
	done
	if ! grep -q '^PROBE TICK 3$' "$out"; then
		kill "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null
		qpid=
		fail "$c" "no 3 ticks within 10 s: $(tr '\n' '|' <"$out" | head -c 300)"
	else
		echo "sendkey ctrl-alt-delete" | socat - "unix-connect:$tmp/mon.sock" >/dev/null 2>&1
		wait "$qpid"
		st=$?
		qpid=
		if [ "$st" -eq 0 ] && ! grep -qE '^PROBE idle PASS ticks=[0-9]+ ctrl-alt-del' "$out"; then
			fail "$c" "idle did not end on ctrl-alt-del: $(grep '^PROBE idle' "$out")"
		else
			check_done "$c" "$out" "$append" 2 "$st"
		fi
	fi
fi

[ "$fails" -eq 0 ]
