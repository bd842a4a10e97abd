#!/usr/bin/env bash
# guest_kvmboot.sh: ember's test guest's 64-bit ELF and bzImage entries booted by a loader that is
# not ember: tests/guest/kvmboot.py, a Firecracker-layout mini loader on /dev/kvm, with strict
# expectations (entry kind, e820 in Firecracker's layout, memory size, command line and initrd
# by CRC-32, the UART). So the guest's own checks are known to hold outside ember.
#   kvmboot-elf-128, kvmboot-bzimage-3584
# ember-test: needs-kvm
set -u
BUILD=${BUILD:-build}
D=$BUILD/guest
T=guest_kvmboot
fails=0

pass() { echo "PASS $T/$1"; }
fail() { echo "FAIL $T/$1: $2"; fails=$((fails + 1)); }

for f in guest.elf guest.bzImage; do
	[ -f "$D/$f" ] || { fail images "$D/$f missing (make guest)"; exit 1; }
done
command -v python3 >/dev/null || { fail deps "python3 is missing"; exit 1; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { fail kvm "/dev/kvm not usable (tests/run.sh runs this program in the lab where it is not)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 4321 /dev/urandom >"$tmp/initrd"
icrc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$tmp/initrd")
for spec in elf:guest.elf:128 bzimage:guest.bzImage:3584; do
	IFS=: read -r kind img mem <<<"$spec"
	c=kvmboot-$kind-$mem
	pre="probe=boot,e820,cmdline,initrd,serial expect_entry=$kind expect_mem_mib=$mem \
e820_layout=firecracker initrd_size=4321 initrd_crc32=$icrc "
	append="${pre}cmdline_crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(sys.argv[1].encode()))' "$pre")"
	timeout 60 python3 tests/guest/kvmboot.py --mem "$mem" --initrd "$tmp/initrd" \
		"$D/$img" "$append" >"$tmp/$c.out" 2>"$tmp/$c.err"
	st=$?
	if [ "$st" -ne 0 ]; then
		fail "$c" "kvmboot exited $st: $(tail -c 300 "$tmp/$c.err") $(tail -n 2 "$tmp/$c.out" | tr '\n' '|')"
	elif ! grep -qx "GUEST entry=$kind" "$tmp/$c.out"; then
		fail "$c" "no 'GUEST entry=$kind' line"
	elif ! grep -qx "PROBE DONE pass=5 fail=0" "$tmp/$c.out"; then
		fail "$c" "$(grep -E '^PROBE .* FAIL|^PROBE DONE|^EXCEPTION' "$tmp/$c.out" | tr '\n' '|' | head -c 600)"
	else
		pass "$c"
	fi
done

[ "$fails" -eq 0 ]
