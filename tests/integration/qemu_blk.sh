#!/usr/bin/env bash
# qemu_blk.sh: the test guest's virtio-mmio and virtio-blk drivers against QEMU microvm's virtio-blk-device (an independent device).
#
# Expects `make guest` to have run; builds nothing. Every boot has two drives:
# vda read-write (2048 sectors, serial rootdisk) and vdb read-only (1024
# sectors, serial rodisk), both filled with the pattern "EMBER-SECTOR <i>"
# + NULs in every 512-byte sector i. Cases:
#   blk, blk-poll, blk-irq-no-event-idx   the blk check (both completion modes,
#                                        with and without VIRTIO_F_EVENT_IDX), then from
#                                        the host: sectors W..W+3 of vda hold the write
#                                        pattern, every other sector is untouched, vdb
#                                        is byte-for-byte unchanged
#   wrong-expectations                   wrong device count, id, capacity, ro index: all caught
#   legacy-refused                       QEMU's default legacy (version 1) transport: FAIL
#   evil                                 blk-evil survives, minus hdr-oob: QEMU reads
#                                        unassigned guest-physical memory as zeros, so a
#                                        header there is a valid read of sector 0 to it
set -u
T=qemu_blk
. "$(dirname "$0")/common.bash"
IMG=$GUEST_DIR/guest-pvh.elf
need_qemu "$IMG"

tmp=$TMP
cleanup() { [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"; }
trap cleanup EXIT

# mkdisk FILE SECTORS: every sector i is "EMBER-SECTOR <i>" padded with NULs to 512 bytes.
mkdisk() {
	python3 - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(b"EMBER-SECTOR %d" % i + bytes(512 - len(b"EMBER-SECTOR %d" % i)))
EOF
}

# checkdisk FILE SECTORS W: sectors W..W+3 hold the guest's write pattern (README.md:
# "EMBER-WRITE <s>" NUL-padded to 32 bytes, then byte k = (s + k) & 0xff), all
# others the original pattern. Prints what differs, nothing when all is well.
checkdisk() {
	python3 - "$1" "$2" "$3" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
n, w = int(sys.argv[2]), int(sys.argv[3])
bad = []
if len(d) != n * 512:
    bad.append("size=%d" % len(d))
for s in range(n):
    if w <= s < w + 4:
        h = b"EMBER-WRITE %d" % s
        want = h + bytes(32 - len(h)) + bytes((s + k) & 0xff for k in range(32, 512))
    else:
        h = b"EMBER-SECTOR %d" % s
        want = h + bytes(512 - len(h))
    if d[s * 512:(s + 1) * 512] != want:
        bad.append(str(s))
print(("sectors-differ:" + ",".join(bad[:10])) if bad else "")
EOF
}

# qemu_blk OUT APPEND [extra QEMU args...]: boot with vda = $tmp/vda.img, vdb = $tmp/vdb.img (read-only).
qemu_blk() {
	local out=$1 append=$2
	shift 2
	timeout 30 "$QEMU" -M microvm,acpi=off -enable-kvm -cpu host -m 128 \
		-nodefaults -no-user-config -display none -no-reboot -serial "file:$out" \
		-kernel "$IMG" -append "$append" \
		-drive "id=d0,file=$tmp/vda.img,format=raw,if=none" \
		-device virtio-blk-device,drive=d0,serial=rootdisk \
		-drive "id=d1,file=$tmp/vdb.img,format=raw,if=none,readonly=on" \
		-device virtio-blk-device,drive=d1,serial=rodisk "$@" 2>"$out.err"
}

# verdict CASE OUT APPEND STATUS WANT_DONE: QEMU exited by itself, the command line
# arrived, and the PROBE DONE line is WANT_DONE.
verdict() {
	local c=$1 out=$2 append=$3 st=$4 want=$5
	if [ "$st" -eq 124 ]; then
		fail "$c" "QEMU did not exit within 30 s: $(tail -n 2 "$out" | tr '\n' '|')"
	elif [ "$st" -ne 0 ]; then
		fail "$c" "QEMU exited $st: $(head -c 300 "$out.err")"
	elif ! grep -q "^CMDLINE $append virtio_mmio.device=" "$out"; then
		fail "$c" "no CMDLINE line with QEMU's virtio_mmio.device= arguments"
	elif ! grep -qx "$want" "$out"; then
		fail "$c" "$(grep -E '^PROBE|^EXCEPTION' "$out" | tr '\n' '|' | head -c 700)"
	else
		return 0
	fi
	return 1
}

MODERN=(-global virtio-mmio.force-legacy=false)
EXPECT="blk_expect=2 blk_ro=1 blk_id=0:rootdisk blk_id=1:rodisk blk_capacity=0:2048 blk_capacity=1:1024"

# The blk check, then the images from the host.
for spec in blk:100: blk-poll:300:blk_mode=poll blk-irq-no-event-idx:500:blk_mode=irq,blk_no_event_idx; do
	IFS=: read -r c w extra <<<"$spec"
	mkdisk "$tmp/vda.img" 2048
	mkdisk "$tmp/vdb.img" 1024
	ro_sum=$(sha256sum <"$tmp/vdb.img")
	append="probe=blk $EXPECT blk_write_sector=$w ${extra//,/ }"
	append=${append% }
	qemu_blk "$tmp/$c.out" "$append" "${MODERN[@]}"
	verdict "$c" "$tmp/$c.out" "$append" $? "PROBE DONE pass=1 fail=0" || continue
	line=$(grep '^PROBE blk ' "$tmp/$c.out")
	msg=$(checkdisk "$tmp/vda.img" 2048 "$w")
	[ "$(sha256sum <"$tmp/vdb.img")" = "$ro_sum" ] || msg="$msg read-only-image-changed"
	case $c in
	blk-poll) echo "$line" | grep -q 'irq=0/0' || msg="$msg interrupts-in-poll-mode" ;;
	*) echo "$line" | grep -qE 'vda:[^ ]*irq=([1-9][0-9]*)/\1' || msg="$msg not-every-irq-wait-got-one" ;;
	esac
	grep -q "^BLK vda .* event_idx=$([ "$c" = blk-irq-no-event-idx ] && echo 0 || echo 1)\$" \
		"$tmp/$c.out" || msg="$msg event_idx-not-as-asked"
	[ -z "$msg" ] && pass "$c" || fail "$c" "$msg"
done

# Wrong expectations: each one must be named in the FAIL detail.
c=wrong-expectations
mkdisk "$tmp/vda.img" 2048
mkdisk "$tmp/vdb.img" 1024
append="probe=blk blk_expect=3 blk_ro=0 blk_id=0:otherdisk blk_capacity=1:1000"
qemu_blk "$tmp/$c.out" "$append" "${MODERN[@]}"
if verdict "$c" "$tmp/$c.out" "$append" $? "PROBE DONE pass=0 fail=1"; then
	line=$(grep '^PROBE blk ' "$tmp/$c.out")
	msg=
	for w in devices=2-want-3 vda:ro=0-unexpected vdb:ro=1-unexpected vda:id=rootdisk-want-otherdisk \
		vdb:capacity=1024-want-1000; do
		echo "$line" | grep -q -- "$w" || msg="$msg missing:$w"
	done
	[ -z "$msg" ] && pass "$c" || fail "$c" "$msg in: $line"
fi

# QEMU's default transport is legacy (version 1): refused, named in the detail.
c=legacy-refused
append="probe=blk"
qemu_blk "$tmp/$c.out" "$append"
if verdict "$c" "$tmp/$c.out" "$append" $? "PROBE DONE pass=0 fail=1"; then
	if grep -qE '^PROBE blk FAIL virtio0@0xfeb00e00:legacy-version-1 virtio1@0xfeb00c00:legacy-version-1' \
		"$tmp/$c.out"; then
		pass "$c"
	else
		fail "$c" "$(grep '^PROBE blk' "$tmp/$c.out")"
	fi
fi

# Malformed chains: refused (QEMU sets DEVICE_NEEDS_RESET), the device recovers after a reset.
c=evil
mkdisk "$tmp/vda.img" 2048
append="probe=blk-evil,blk blk_evil_skip=hdr-oob $EXPECT"
qemu_blk "$tmp/$c.out" "$append" "${MODERN[@]}"
verdict "$c" "$tmp/$c.out" "$append" $? "PROBE DONE pass=2 fail=0" && pass "$c"

[ "$fails" -eq 0 ]
