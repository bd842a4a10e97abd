#!/usr/bin/env bash
# linux_clones.sh: Diff snapshots and ten clones of one snapshot, with Debian's generic kernel
# (CONFIG_VMGENID=y; the cloud kernel has no VMGenID driver), its virtio modules and a busybox
# initramfs. The guest prints "VG tick <n>" every second, brings eth0 up (172.16.0.2/24) and
# serves three vsock ports through socat: 5000 answers 16 fresh bytes of /dev/urandom and sends
# ARP probes out of eth0; 5001 writes 8 MiB of random bytes to /blob and answers their sha256;
# 5002 answers the sha256 of /blob as it is now.
#   bind      Linux binds its vmgenid driver to ember's VGEN device (ACPI FCVMGID) and its
#             acpi-ged driver to the GED (ACPI0013) that carries the notification;
#   diff      booted with track_dirty_pages: paused, a Full snapshot (the base), resumed, the
#             guest writes /blob, paused, a Diff snapshot: its memory file is as long as guest
#             RAM, and its allocated size (du) is at least the 8 MiB written and within
#             DIFF_SLACK_MIB (32) of it, far from the 256 MiB a Full one holds;
#   merged    ember-snap-merge copies the Diff onto a copy of the base; a fresh ember loads the
#             Diff's state with the merged file: the guest ticks on and /blob has the sha256 it
#             had when written;
#   clones    ten embers load that snapshot at once, each with its own tap (network_overrides,
#             tap0..tap9 in one network namespace) and its own vsock socket (vsock_override):
#             all tick on; each kernel says "crng reseeded due to virtual machine fork"; each
#             answers on its own socket, and the ten random values all differ (the same CRNG
#             state would repeat them);
#   taps      each clone's ARP probes arrive on its own tap and on no other;
#   pss       the ten clones' summed PSS (/proc/PID/smaps_rollup) is reported and must stay
#             under 10 x 256 MiB / 4: they share the snapshot's pages through the page cache.
# ember-test: needs-kvm
# ember-test: timeout 1200
# ember-test: prepare
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KDIR=$BUILD/kernel-amd64
MODDIR=$BUILD/linux-clones/modules
MODULES="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_mmio.ko kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko
kernel/drivers/net/virtio_net.ko kernel/net/vmw_vsock/vsock.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko"
if [ "${1:-}" = prepare ]; then
	[ -s "$KDIR/vmlinux" ] || KERNEL_FLAVOUR=amd64 tests/kernel/fetch-debian-kernel.sh "$KDIR" || exit
	tests/linux/fetch-modules.sh "$KDIR" "$MODDIR" $MODULES
	exit
fi
T=linux_clones
. tests/integration/common.bash
need_ember
[ -s "$KDIR/vmlinux" ] || { fail kernel "$KDIR/vmlinux missing (this test's prepare step fetches it)"; finish; }
for m in $MODULES; do
	[ -s "$MODDIR/$(basename "$m")" ] || { fail modules "$MODDIR/$(basename "$m") missing (this test's prepare step fetches it)"; finish; }
done
need_tools curl cpio gzip busybox socat ip ldd
need_root "a network namespace and taps"
[ -x "$BUILD/ember-snap-merge" ] || { fail deps "$BUILD/ember-snap-merge missing (make all)"; finish; }
WAIT=${LCL_TIMEOUT:-300}
N=${LCL_CLONES:-10}
CWAIT=${LCL_CLONE_TIMEOUT:-60}   # seconds for each clone to tick and reseed, once all are loaded
DIFF_SLACK_MIB=${DIFF_SLACK_MIB:-32}
MAC=06:00:ac:10:00:02
ns=ember-clones-$$
ns_taps "$ns" "" tapa $(seq -f 'tap%g' 0 $((N - 1)))
rx() { ip netns exec "$ns" cat "/sys/class/net/$1/statistics/rx_packets"; }

# The initramfs: busybox, socat with its libraries, the virtio modules and an /init.
R=$TMP/root
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/lib/modules"
cp "$(command -v busybox)" "$R/bin/busybox"
install -D "$(command -v socat)" "$R/bin/socat"
for lib in $(ldd "$(command -v socat)" | grep -o '/[^ ]*'); do install -D "$lib" "$R$lib"; done
for m in $MODULES; do cp "$MODDIR/$(basename "$m")" "$R/lib/modules/"; echo "$(basename "$m")"; done >"$R/lib/modules/order"
cat >"$R/bin/rand" <<'SH'
#!/bin/busybox sh
arping -c 2 -w 3 -I eth0 172.16.0.1 >/dev/null 2>&1
echo "rand $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SH
cat >"$R/init" <<'SH'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
while read -r m; do insmod /lib/modules/$m || echo "VG insmod-failed $m"; done </lib/modules/order
drv() { [ -e "$1/driver" ] && basename "$(readlink "$1/driver")" || echo none; }
echo "VG bind vmgenid=$(drv /sys/bus/acpi/devices/FCVMGID:00) ged=$(drv /sys/bus/platform/devices/ACPI0013:00)"
echo 6 >/proc/sys/kernel/printk   # notices (the crng reseed) on the console, not the info lines
dev=$(grep -l 06:00:ac:10:00:02 /sys/class/net/*/address | head -n1 | cut -d/ -f5)
ip link set "$dev" name eth0 2>/dev/null
ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up
socat -t 30 VSOCK-LISTEN:5000,fork EXEC:/bin/rand &
socat -t 30 VSOCK-LISTEN:5001,fork SYSTEM:'head -c 8388608 /dev/urandom >/blob; sha256sum /blob' &
socat -t 30 VSOCK-LISTEN:5002,fork SYSTEM:'sha256sum /blob' &
i=0
while :; do i=$((i + 1)); echo "VG tick $i"; sleep 1; done
SH
chmod +x "$R/init" "$R/bin/rand"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$TMP/initrd.gz"

start() { # NAME: an ember in the namespace, its API at $TMP/NAME.sock; sets PID
	rm -f "$TMP/$1.sock"
	ip netns exec "$ns" "$EMBER" --api-sock "$TMP/$1.sock" --id "$1" </dev/null >"$TMP/$1.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 500); do [ -S "$TMP/$1.sock" ] && break; sleep 0.02; done
}
api() { # NAME METHOD PATH [JSON]: "<status> <body>"
	curl -s --max-time 120 --unix-socket "$TMP/$1.sock" -X "$2" "http://localhost$3" \
		${4:+-d "$4"} -w ' %{http_code}' 2>/dev/null | awk '{ st = $NF; $NF = ""; print st, $0 }'
}
ticks() { tr -d '\r' <"$1" | grep -ao '^VG tick [0-9]*' | tail -n 1 | awk '{ print $3 }'; }
wait_tick() { # FILE N PID: the tick in FILE passes N (0), or PID ended or time ran out (1)
	local i c
	for ((i = 0; i < WAIT * 5; i++)); do
		c=$(ticks "$1")
		[ -n "$c" ] && [ "$c" -gt "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
vq() { # SOCKET PORT: the guest's answer line
	printf 'CONNECT %s\n' "$2" | timeout 90 socat -t 60 - UNIX-CONNECT:"$1" 2>/dev/null | tr -d '\r' | sed -n 2p
}
load() { # NAME EXTRA-JSON: PUT /snapshot/load of the Diff with the merged memory
	api "$1" PUT /snapshot/load "{\"snapshot_path\": \"$TMP/diff.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/merged.mem\"}, \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$TMP/$1.vsock\"}$2}"
}
alloc_mib() { echo $(( $(stat -c %b "$1") * $(stat -c %B "$1") >> 20 )); }

start a
A=$PID
st="$(api a PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256, "track_dirty_pages": true}')"
st="$st|$(api a PUT /boot-source "{\"kernel_image_path\": \"$KDIR/vmlinux\", \"initrd_path\": \"$TMP/initrd.gz\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 ipv6.disable=1 rdinit=/init\"}")"
st="$st|$(api a PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tapa\", \"guest_mac\": \"$MAC\"}")"
st="$st|$(api a PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$TMP/a.vsock\"}")"
st="$st|$(api a PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$st" != "204 |204 |204 |204 |204 " ] || ! wait_tick "$TMP/a.out" 2 $A; then
	fail boot "statuses $st; $(tr -d '\r' <"$TMP/a.out" | tail -n 4 | tr '\n' '|')"
	finish
fi
b=$(tr -d '\r' <"$TMP/a.out" | grep -a '^VG bind')
[ "$b" = "VG bind vmgenid=vmgenid ged=acpi-ged" ] && pass bind "$b" || fail bind "${b:-no VG bind line}"
grep -a 'VG insmod-failed' "$TMP/a.out" && fail modules "$(grep -a 'VG insmod-failed' "$TMP/a.out" | tr '\n' '|')"

# diff: the base, 8 MiB written, the Diff.
st=$(api a PATCH /vm '{"state": "Paused"}')
st="$st|$(api a PUT /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$TMP/base.snap\", \"mem_file_path\": \"$TMP/base.mem\"}")"
st="$st|$(api a PATCH /vm '{"state": "Resumed"}')"
sum=$(vq "$TMP/a.vsock" 5001)
st="$st|$(api a PATCH /vm '{"state": "Paused"}')"
st="$st|$(api a PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$TMP/diff.snap\", \"mem_file_path\": \"$TMP/diff.mem\"}")"
{ kill -KILL $A; wait $A; } 2>/dev/null
sum=${sum%% *}
len=$(stat -c %s "$TMP/diff.mem" 2>/dev/null)
du_d=$(alloc_mib "$TMP/diff.mem" 2>/dev/null) du_b=$(alloc_mib "$TMP/base.mem" 2>/dev/null)
if [ "$st" = "204 |204 |204 |204 |204 " ] && [ ${#sum} = 64 ] && [ "$len" = $((256 << 20)) ] &&
   [ "$du_d" -ge 8 ] && [ "$du_d" -le $((8 + DIFF_SLACK_MIB)) ]; then
	pass diff "after 8 MiB written: the Diff's memory file holds $du_d MiB of its $((len >> 20)) MiB (the Full base: $du_b MiB)"
else
	fail diff "statuses $st; sha256 '${sum:0:16}'; diff file ${len:-none} bytes, $du_d MiB allocated (base $du_b MiB)"
	finish
fi

cp --sparse=always "$TMP/base.mem" "$TMP/merged.mem"
m=$("$BUILD/ember-snap-merge" "$TMP/merged.mem" "$TMP/diff.mem" 2>&1) || { fail merged "ember-snap-merge: $m"; finish; }
start m
M=$PID
st=$(load m "")
if [ "$st" = "204 " ] && wait_tick "$TMP/m.out" 1 $M; then
	got=$(vq "$TMP/m.vsock" 5002)
	[ "${got%% *}" = "$sum" ] && pass merged "base + Diff loads: ticks on from $(tr -d '\r' <"$TMP/m.out" | grep -ao '^VG tick [0-9]*' | head -n1 | awk '{print $3}'), /blob's sha256 is the one written (${sum:0:16}...)" ||
		fail merged "/blob's sha256 '${got:0:64}', written '${sum:0:64}'"
else
	fail merged "load: $st; $(tr -d '\r' <"$TMP/m.out" | tail -n 3 | tr '\n' '|')"
fi
{ kill -KILL $M; wait $M; } 2>/dev/null

# clones: N at once, each with its own tap and socket.
CL=()
for i in $(seq 0 $((N - 1))); do
	start "c$i"
	CL+=("$PID")
	st=$(load "c$i" ", \"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap$i\"}]")
	[ "$st" = "204 " ] || fail "load-c$i" "$st; $(tr -d '\r' <"$TMP/c$i.out" | tail -n 2 | tr '\n' '|')"
done
echo "# $N clones loaded at $(date +%T)"
going=0 forked=0
for i in $(seq 0 $((N - 1))); do
	WAIT=$CWAIT wait_tick "$TMP/c$i.out" 1 "${CL[$i]}" && going=$((going + 1))
	for _ in $(seq $((CWAIT * 5))); do grep -aq 'virtual machine fork' "$TMP/c$i.out" && break; sleep 0.2; done
	grep -aq 'virtual machine fork' "$TMP/c$i.out" && forked=$((forked + 1))
	echo "# c$i at $(date +%T): tick $(ticks "$TMP/c$i.out"), $(grep -ac 'virtual machine fork' "$TMP/c$i.out") fork line; $(tr -d '\r' <"$TMP/c$i.out" | grep -av '^VG tick' | tail -n 3 | tr '\n' '|') (the last: $(tr -d '\r' <"$TMP/c$i.out" | tail -n 1))"
done
vals=() taps_ok=0 taps_bad=""
for i in $(seq 0 $((N - 1))); do
	before=() after=()
	for j in $(seq 0 $((N - 1))); do before+=("$(rx "tap$j")"); done
	r=$(vq "$TMP/c$i.vsock" 5000)
	vals+=("${r#rand }")
	echo "# c$i at $(date +%T): '$r'"
	for j in $(seq 0 $((N - 1))); do after+=("$(rx "tap$j")"); done
	ok=1
	for j in $(seq 0 $((N - 1))); do
		d=$((after[j] - before[j]))
		if [ "$j" = "$i" ]; then [ "$d" -ge 1 ] || ok=0; elif [ "$d" != 0 ]; then ok=0; fi
	done
	[ $ok = 1 ] && taps_ok=$((taps_ok + 1)) || taps_bad="$taps_bad c$i"
done
distinct=$(printf '%s\n' "${vals[@]}" | grep -c '^[0-9a-f]\{32\}$')
uniq_n=$(printf '%s\n' "${vals[@]}" | grep '^[0-9a-f]\{32\}$' | sort -u | wc -l)
if [ "$going" = "$N" ] && [ "$forked" = "$N" ] && [ "$distinct" = "$N" ] && [ "$uniq_n" = "$N" ]; then
	pass clones "$N clones tick on, each reseeded for a VM fork, and answered $N different values on $N sockets (${vals[0]:0:8}.., ${vals[1]:0:8}..)"
else
	fail clones "ticking $going/$N, reseeded $forked/$N, answers: ${vals[*]:0:4}...; $uniq_n distinct of $distinct"
fi
[ "$taps_ok" = "$N" ] && pass taps "each clone's ARP probes arrived on its own tap only" ||
	fail taps "wrong or missing tap traffic for:$taps_bad"
pss=0
for p in "${CL[@]}"; do
	k=$(awk '/^Pss:/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null)
	pss=$((pss + ${k:-0}))
done
lim=$((N * 256 * 1024 / 4))
[ "$pss" -gt 0 ] && [ "$pss" -lt "$lim" ] &&
	pass pss "$N clones of a 256 MiB guest: summed PSS $((pss >> 10)) MiB, against $((N * 256)) MiB of guest RAM" ||
	fail pss "summed PSS $((pss >> 10)) MiB, the bound is $((lim >> 10)) MiB"
finish
