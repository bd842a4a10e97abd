#!/usr/bin/env bash
# boot_guest.sh: ember boots the test guest through every entry path, vCPU count and memory size.
#
# Each case checks: every probe PASSes (boot, e820 in Firecracker's exact layout,
# command line CRC, initrd CRC, serial, MP table with every AP started), the
# guest saw exactly the command line ember was meant to build, ember exits 0
# on the guest's i8042 reset. Speed is measured in perf/, not here: the time of each
# run is reported, never asserted.
T=boot_guest
. "$(dirname "$0")/common.bash"
need_ember

head -c 9999 /dev/urandom >"$TMP/initrd"
isize=$(stat -c %s "$TMP/initrd")
icrc=$(crc32_file "$TMP/initrd")
PROBES="boot,e820,cmdline,initrd,serial,mptable"

boot_case() {
	local img=$1 entry=$2 cpus=$3 mem=$4 name="$2-${3}cpu-${4}M"
	local pre="console=ttyS0 probe=$PROBES expect_entry=$entry expect_mem_mib=$mem expect_cpus=$cpus e820_layout=firecracker initrd_size=$isize initrd_crc32=$icrc"
	local args want out=$TMP/$name.out
	args=$(with_crc "$pre")
	want="CMDLINE $args pci=off"
	mkconfig "$TMP/$name.json" "$GUEST_DIR/$img" "$args" "$cpus" "$mem" "$TMP/initrd"
	run_ember "$out" 120 --no-api --config-file "$TMP/$name.json"
	if [ "$RC" -ne 0 ]; then
		fail "$name" "ember exited $RC: $(grep -E 'FAIL|EXCEPTION|ERROR|Cannot' "$out" | head -3 | tr '\n' ' ')"
	elif ! grep -q "^PROBE DONE pass=6 fail=0" "$out"; then
		fail "$name" "probes: $(grep -E '^PROBE (DONE|.* FAIL)' "$out" | tr '\n' ' ')"
	elif ! grep -qxF "$want" "$out"; then
		fail "$name" "guest command line differs: $(grep '^CMDLINE' "$out")"
	elif ! grep -q "GUEST entry=$entry" "$out"; then
		fail "$name" "wrong entry path: $(grep '^GUEST' "$out")"
	else
		pass "$name" "${MS} ms"
	fi
}

for spec in guest.elf:elf guest-pvh.elf:pvh guest.bzImage:bzimage; do
	img=${spec%%:*} entry=${spec##*:}
	for cpus in 1 2 4; do
		boot_case "$img" "$entry" "$cpus" 128
	done
	boot_case "$img" "$entry" 2 3584
	boot_case "$img" "$entry" 1 4096
done
boot_case guest.elf elf 1 1024

finish
