#!/usr/bin/env bash
# linux_vmgenid.sh: clones of one snapshot do not share their random numbers. Debian's generic
# kernel (CONFIG_VMGENID=y; the cloud kernel has no VMGenID driver) boots with a busybox
# initramfs that prints, every 500 ms, "VG rand <n> <16 bytes of /dev/urandom in hex>".
#   bind      Linux binds its vmgenid driver to ember's VGEN device (ACPI FCVMGID) and its
#             acpi-ged driver to the GED (ACPI0013) that carries the notification;
#   clones    the paused guest is snapshotted and two embers load it at once: each kernel says
#             "crng reseeded due to virtual machine fork", and the first random bytes each
#             prints after that differ between the two (the same CRNG state would repeat them).
# ember-test: needs-kvm
# ember-test: prepare
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KDIR=$BUILD/kernel-amd64
if [ "${1:-}" = prepare ]; then
	[ -s "$KDIR/vmlinux" ] || KERNEL_FLAVOUR=amd64 tests/kernel/fetch-debian-kernel.sh "$KDIR"
	exit
fi
T=linux_vmgenid
. tests/integration/common.bash
need_ember
[ -s "$KDIR/vmlinux" ] || { fail kernel "$KDIR/vmlinux missing (this test's prepare step fetches it)"; finish; }
for t in curl cpio gzip busybox; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
WAIT=${LVG_TIMEOUT:-300}
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The initramfs: a static busybox and an /init that reports and prints random bytes.
mkdir -p "$TMP/root/bin" "$TMP/root/proc" "$TMP/root/sys" "$TMP/root/dev"
cp "$(command -v busybox)" "$TMP/root/bin/busybox"
cat >"$TMP/root/init" <<'SH'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
drv() { [ -e "$1/driver" ] && basename "$(readlink "$1/driver")" || echo none; }
echo "VG bind vmgenid=$(drv /sys/bus/acpi/devices/FCVMGID:00) ged=$(drv /sys/bus/platform/devices/ACPI0013:00)"
i=0
while :; do
	i=$((i + 1))
	echo "VG rand $i $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	sleep 0.5
done
SH
chmod +x "$TMP/root/init"
(cd "$TMP/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$TMP/initrd.gz"

start() { # NAME
	rm -f "$TMP/$1.sock"
	"$EMBER" --api-sock "$TMP/$1.sock" --id "$1" </dev/null >"$TMP/$1.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 500); do [ -S "$TMP/$1.sock" ] && break; sleep 0.02; done
}
api() { # NAME METHOD PATH [JSON]: "<status> <body>"
	curl -s --max-time 120 --unix-socket "$TMP/$1.sock" -X "$2" "http://localhost$3" \
		${4:+-d "$4"} -w ' %{http_code}' 2>/dev/null | awk '{ st = $NF; $NF = ""; print st, $0 }'
}
# after_fork FILE: the first random bytes printed after the kernel's fork line, or nothing.
after_fork() { tr -d '\r' <"$1" | awk '/virtual machine fork/ { f = 1 } f && /^VG rand / { print $4; exit }'; }
wait_for() { # FILE CMD...: until CMD (with FILE appended) prints something, or WAIT s
	local i f=$1
	shift
	for ((i = 0; i < WAIT * 5; i++)); do
		[ -n "$("$@" "$f")" ] && return 0
		sleep 0.2
	done
	return 1
}
rand_n() { tr -d '\r' <"$1" | grep -ao '^VG rand [0-9]*' | tail -1; }

start a
A=$PID
st="$(api a PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}')"
st="$st|$(api a PUT /boot-source "{\"kernel_image_path\": \"$KDIR/vmlinux\", \"initrd_path\": \"$TMP/initrd.gz\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 rdinit=/init\"}")"
st="$st|$(api a PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$st" != "204 |204 |204 " ] || ! wait_for "$TMP/a.out" grep -a '^VG rand 3 '; then
	fail boot "statuses $st; $(tr -d '\r' <"$TMP/a.out" | tail -n 4 | tr '\n' '|')"
	finish
fi
b=$(tr -d '\r' <"$TMP/a.out" | grep -a '^VG bind')
[ "$b" = "VG bind vmgenid=vmgenid ged=acpi-ged" ] && pass bind "$b" || fail bind "${b:-no VG bind line}"

api a PATCH /vm '{"state": "Paused"}' >/dev/null
st=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_file_path\": \"$TMP/vm.mem\"}")
{ kill -KILL $A; wait $A; } 2>/dev/null
[ "$st" = "204 " ] || { fail snapshot "$st"; finish; }

for c in b c; do
	start $c
	st=$(api $c PUT /snapshot/load "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/vm.mem\"}, \"resume_vm\": true}")
	[ "$st" = "204 " ] || fail "load-$c" "$st"
done
wait_for "$TMP/b.out" after_fork
wait_for "$TMP/c.out" after_fork
rb=$(after_fork "$TMP/b.out") rc=$(after_fork "$TMP/c.out")
if [ ${#rb} = 32 ] && [ ${#rc} = 32 ] && [ "$rb" != "$rc" ]; then
	pass clones "both reseeded for a VM fork; then $rb and $rc ($(rand_n "$TMP/b.out"), $(rand_n "$TMP/c.out"))"
else
	fail clones "after the fork line: '${rb:-none}' and '${rc:-none}'; b: $(tr -d '\r' <"$TMP/b.out" | grep -a 'fork\|VG' | tail -n 2 | tr '\n' '|') c: $(tr -d '\r' <"$TMP/c.out" | grep -a 'fork\|VG' | tail -n 2 | tr '\n' '|')"
fi
finish
