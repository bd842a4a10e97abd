#!/usr/bin/env bash
# guest_io.sh: Debian's cloud kernel with a real root file system moves data through ember's
# virtio-blk, virtio-net and virtio-vsock devices, with Linux's own drivers and real programs.
#
#   tests/linux/guest_io.sh prepare     host side: the kernel, its modules (apt-get download),
#                                       the initramfs and the ext4 root file system
#   tests/linux/guest_io.sh [run]       the boots below under ember (needs /dev/kvm and root for
#                                       the network namespace); PASS/FAIL lines, exit 1 on a FAIL
#   tests/linux/guest_io.sh run-net|run-qemu|run-api|run-demo|run-shell     one of them
#   tests/linux/guest_io.sh demo-config CMD   config.example.json with CMD as the function
#
# The initramfs loads the virtio modules (Debian builds them as modules), mounts /dev/vda
# (ext4, built with `mkfs.ext4 -d`, never mounted on the host) and switch_roots to it. The
# root's /sbin/init (busybox sh) then, with socat copied from the host for TCP and vsock:
#   rootfs        writes and syncs a file on /; after ember exits, debugfs reads it from the
#                 image and `e2fsck -fn` finds the image clean (/ is remounted read-only first)
#   ro-drive      the read-only drive vdb's ext4 mounts read-only and reads back; a file write
#                 fails with EROFS, a raw write with EPERM; the image is unchanged
#   net-ping      eth0 (guest_mac from the config) pings the tap's host side in a namespace
#   tcp-rx/tcp-tx GIO_TCP_MIB MiB from and to the host over TCP, sha256 checked at both ends
#   vsock-h2g     the host connects through uds_path ("CONNECT <port>"), GIO_VSOCK_MIB MiB to a
#                 guest listener; vsock-g2h: the guest connects to <uds_path>_<port>, the same back
#   vsock-multi   8 guest connections at once to one host listener, each stream checked
#   clean         no virtio or I/O error line from the kernel
#   poweroff      `poweroff -f` ends ember with exit 0 ("Guest powered off")
#
# Environment: BUILD (default build); EMBER (default $BUILD/ember); GIO_TIMEOUT (seconds for
# the guest, default 900); GIO_TCP_MIB (default 64) and GIO_VSOCK_MIB (default 16), the sizes
# of each transfer; GIO_VCPUS (default 2). Logs and images in $BUILD/linux-io/.
set -u
cd "$(dirname "$0")/../.."

NAME=${GIO_NAME:-guest_io}
BUILD=${BUILD:-build}
EMBER=${EMBER:-$BUILD/ember}
KDIR=$BUILD/kernel
KERNEL=${KERNEL:-$KDIR/vmlinux}
BZIMAGE=${BZIMAGE:-$KDIR/vmlinuz}
WORK=$BUILD/linux-io
TIMEOUT=${GIO_TIMEOUT:-900}
TCP_MIB=${GIO_TCP_MIB:-64}
VSOCK_MIB=${GIO_VSOCK_MIB:-16}
VCPUS=${GIO_VCPUS:-2}
# In load order; paths inside /lib/modules/<version>/.
MODULES="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_mmio.ko kernel/drivers/block/virtio_blk.ko
kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko kernel/drivers/net/virtio_net.ko
kernel/net/vmw_vsock/vsock.ko kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko"
HOST_IP=172.16.0.1
GUEST_IP=172.16.0.2
MAC=06:00:ac:10:00:02
CID=3

say() { echo "$NAME: $*" >&2; }
die() { echo "FAIL $NAME/setup: $*"; exit 1; }

# copy_with_libs ROOT PROGRAM: PROGRAM and the shared libraries it loads, at their host paths.
copy_with_libs() {
	local root=$1 prog=$2 lib
	install -D "$prog" "$root$prog" || return 1
	for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
		install -D "$lib" "$root$lib" || return 1
	done
}

build_initramfs() {
	local root=$WORK/initramfs m
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,newroot,lib/modules}
	cp "$(command -v busybox)" "$root/bin/busybox"
	for m in $MODULES; do cp "$WORK/modules/$(basename "$m")" "$root/lib/modules/"; done
	printf '%s\n' $MODULES | xargs -n1 basename >"$root/lib/modules/order"
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod /lib/modules/$m || echo "GIO insmod-failed $m" >/dev/console; done </lib/modules/order
for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done
o=rw; [ "$(cat /sys/block/vda/ro 2>/dev/null)" = 1 ] && o=ro
if ! mount -t ext4 -o $o /dev/vda /newroot; then
	echo "GIO rootfs-mount-failed" >/dev/console
	poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
EOF
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.cpio.gz" ||
		die "cannot build the initramfs"
}

build_rootfs() {
	local root=$WORK/rootfs
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,root}
	cp "$(command -v busybox)" "$root/bin/busybox"
	# The applets as links made here: the root may be mounted read-only (make run).
	for a in $("$root/bin/busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
	copy_with_libs "$root" "$(command -v socat)" || die "cannot copy socat and its libraries"
	cat >"$root/sbin/init" <<'EOF'
#!/bin/busybox sh
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
say() { echo "GIO $*" >/dev/console; }
# From here on only warnings and worse from the kernel on the console: its info lines (a mount,
# drop_caches) are written past the tty layer and would land inside the GIO lines read by the host.
echo 4 >/proc/sys/kernel/printk
arg() { sed -n "s/.* gio_$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
tcp_mib=$(arg tcp_mib); vsock_mib=$(arg vsock_mib); host=$(arg host); me=$(arg ip)
say "root $(awk '$2 == "/" { print $1, $3, $4 }' /proc/mounts | tail -n1 | cut -d, -f1)"

if [ "$(arg mode)" = run ]; then
	# make run: one function, given base64-encoded on the command line, then poweroff.
	cmd=$(arg run | base64 -d)
	echo
	echo "ember: Linux $(uname -r) with $(nproc) vCPU(s) and $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB, root file system on /dev/vda; the function:"
	echo "/ # $cmd"
	sh -c "$cmd"
	echo "ember: the function exited with status $?; powering off"
	poweroff -f
fi

if [ "$(arg mode)" = shell ]; then
	# An interactive shell on the console, as a person at ember's terminal gets it.
	say "shell-ready cpus=$(nproc)"
	exec setsid cttyhack sh -i
fi

if [ "$(arg mode)" = api ]; then
	# Driven over ember's API: SendCtrlAltDel arrives as SIGINT to init (kernel.ctrl-alt-del=0).
	trap 'say "cad received"; mount -o remount,ro /; poweroff -f' INT
	echo 0 >/proc/sys/kernel/ctrl-alt-del    # as every init does: Ctrl-Alt-Del signals init
	mkdir -p /mnt
	mount -t ext4 -o ro /dev/vdb /mnt && say "api-ready data=$(cat /mnt/content)"; umount /mnt
	(while :; do say "tick $(cut -d' ' -f1 /proc/uptime) $(date +%s)"; sleep 0.5; done) &
	# A line typed on ember's stdin: the host sends it once it has swapped the data drive.
	read -r line </dev/console
	say "stdin $line"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 -o ro /dev/vdb /mnt && say "reread data=$(cat /mnt/content) size=$(cat /sys/block/vdb/size)"
	umount /mnt
	while :; do sleep 0.2; done
fi

# The root file system: a file written and synced (checked in the image after exit).
marker=$(arg marker)
echo "$marker" >/written-by-guest && sync && say "rootfs-written"

# The read-only drive: its file system mounts (read-only), reads, and refuses writes (EROFS);
# the raw device refuses them too (Linux says EPERM there).
mkdir -p /mnt
mount -t ext4 /dev/vdb /mnt 2>/tmp/m; say "ro-mount $(awk '$1 == "/dev/vdb" { print $4 }' /proc/mounts | cut -d, -f1) $(cat /mnt/content 2>/dev/null)"
out=$(echo x 2>&1 >/mnt/new-file) && say "ro-write ok" || say "ro-write refused: $(echo "$out" | head -n1)"
umount /mnt
out=$(dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>&1) && say "ro-raw ok" ||
	say "ro-raw refused: $(echo "$out" | grep -m1 'dd:')"

# Network: eth0 by MAC, a ping, then TCP both ways.
dev=$(grep -l "$(arg mac)" /sys/class/net/*/address | head -n1 | cut -d/ -f5)
ip addr add "$me/30" dev "$dev" && ip link set "$dev" up
ping -c 3 -W 5 "$host" >/tmp/ping 2>&1 && say "ping ok $(tail -n1 /tmp/ping)" || say "ping failed $(tail -n2 /tmp/ping | tr '\n' ' ')"
sum=$(socat -u TCP:"$host":5002,connect-timeout=20 - | sha256sum | cut -d' ' -f1)
say "tcp-rx sha256=$sum"
head -c $((tcp_mib << 20)) /dev/urandom >/tmp/tx
say "tcp-tx sha256=$(sha256sum /tmp/tx | cut -d' ' -f1)"
socat -u FILE:/tmp/tx TCP:"$host":5001,connect-timeout=20 || say "tcp-tx failed"
rm -f /tmp/tx

# vsock: a listener for the host, then guest-initiated streams to <uds_path>_<port>.
head -c $((vsock_mib << 20)) /dev/urandom >/tmp/vtx
socat -u VSOCK-LISTEN:5000 - | sha256sum | cut -d' ' -f1 >/tmp/h2g &
l=$!
say "vsock-listening"
wait $l
say "vsock-h2g sha256=$(cat /tmp/h2g)"
say "vsock-g2h sha256=$(sha256sum /tmp/vtx | cut -d' ' -f1)"
socat -u FILE:/tmp/vtx VSOCK-CONNECT:2:5001 || say "vsock-g2h failed"
head -c 1048576 /dev/urandom >/tmp/small
say "vsock-multi sha256=$(sha256sum /tmp/small | cut -d' ' -f1)"
for i in 1 2 3 4 5 6 7 8; do socat -u FILE:/tmp/small VSOCK-CONNECT:2:5002 & done
wait
say "vsock-multi sent"

# A clean file system for e2fsck, then ACPI poweroff.
mount -o remount,ro / && say "remounted-ro"
say "done"
poweroff -f
EOF
	chmod +x "$root/sbin/init"
	rm -f "$WORK/root.ext4"
	mkfs.ext4 -q -F -L ember-root -d "$root" "$WORK/root.ext4" 64M >/dev/null ||
		die "mkfs.ext4 -d failed"
}

prepare() {
	local t
	for t in busybox cpio socat mkfs.ext4 debugfs e2fsck ldd; do
		command -v "$t" >/dev/null || die "$t not found (Debian: busybox-static cpio socat e2fsprogs libc-bin)"
	done
	mkdir -p "$WORK"
	tests/kernel/fetch-debian-kernel.sh "$KDIR" >/dev/null ||
		die "cannot fetch Debian's cloud kernel (tests/kernel/fetch-debian-kernel.sh)"
	tests/linux/fetch-modules.sh "$KDIR" "$WORK/modules" $MODULES || die "cannot fetch the kernel's modules"
	build_initramfs
	build_rootfs
}

gio() { grep -a "^GIO $1" "$log" | head -n1; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
verdict() { # item, 1 if it passed, detail
	if [ "$2" = 1 ]; then echo "PASS $NAME/$1${3:+: $3}"; else echo "FAIL $NAME/$1: $3"; fi
}
is() { [ -n "$1" ] && [ "$1" = "$2" ] && echo 1 || echo 0; }

# wait_line FILE PATTERN SECONDS PID: PATTERN appeared in FILE (0), or PID exited / time ran out.
wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -aq -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# run [ember|qemu]: the boot above under ember, or under QEMU microvm (acpi=on: it describes its
# virtio-mmio devices in ACPI as ember does; vhost-vsock for vsock; GIO_QEMU_TCP_MIB, default
# 16, over TCP) with the same kernel, initramfs, root file system and checks, their names
# prefixed "qemu-": a check that fails under ember but passes there is ember's to fix.
run() {
	local vmm=${1:-ember} cfg=$WORK/vm.json log=$WORK/console.log ns=ember-gio-$$ rc pids=() marker=ember-gio-$$-$RANDOM
	local rosum rosum2 p want got pre= TCP_MIB=$TCP_MIB
	if [ "$vmm" = qemu ]; then
		log=$WORK/console-qemu.log pre=qemu- TCP_MIB=${GIO_QEMU_TCP_MIB:-16}
		command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (Debian: qemu-system-x86)"
	fi
	[ -s "$WORK/initramfs.cpio.gz" ] && [ -s "$WORK/root.ext4" ] && [ -s "$KERNEL" ] &&
		[ ! "$0" -nt "$WORK/root.ext4" ] || prepare
	if ! p=$(tests/lab/kvm-probe); then
		echo "FAIL $NAME/kvm: $p (run it in the lab: tests/lab/lab.sh -- $0)"
		return 1
	fi
	[ -x "$EMBER" ] || die "$EMBER not built (make ember)"
	[ "$(id -u)" = 0 ] || die "needs root (a network namespace and a tap)"
	# Each run starts from the image prepare built; the guest changes its copy.
	cp "$WORK/root.ext4" "$WORK/root-run.ext4"
	rm -rf "$WORK/ro" "$WORK/ro.img" && mkdir -p "$WORK/ro" && echo "ro-$marker" >"$WORK/ro/content" &&
		mkfs.ext4 -q -F -d "$WORK/ro" "$WORK/ro.img" 4M >/dev/null || die "mkfs.ext4 for the read-only drive failed"
	rosum=$(sha256sum <"$WORK/ro.img")
	rm -f "$WORK"/host-*
	# The vsock sockets live in a local directory (the checkout may be 9p in the lab: no sockets).
	local sd
	sd=$(mktemp -d "${TMPDIR:-/tmp}/ember-gio.XXXXXX") || die "mktemp failed"
	head -c $((TCP_MIB << 20)) /dev/urandom >"$WORK/host-tcp-tx"
	head -c $((VSOCK_MIB << 20)) /dev/urandom >"$WORK/host-vsock-tx"

	ip netns add "$ns" || die "ip netns add failed"
	cleanup() {
		local q
		for q in "${pids[@]}"; do kill "$q" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		rm -rf "$sd"
	}
	trap cleanup EXIT
	ip netns exec "$ns" ip link set lo up &&
		ip netns exec "$ns" ip tuntap add dev tap0 mode tap &&
		ip netns exec "$ns" ip addr add "$HOST_IP/30" dev tap0 &&
		ip netns exec "$ns" ip link set tap0 up || die "cannot set up tap0 in $ns"
	# The host's ends, started before the guest: TCP receive (5001) and send (5002), vsock
	# listeners for the guest's single stream (5001) and its 8 parallel ones (5002).
	ip netns exec "$ns" socat -u TCP-LISTEN:5001,bind=$HOST_IP,reuseaddr \
		OPEN:"$sd/tcp-rx",creat,trunc 2>"$WORK/host-tcp-rx.err" &
	pids+=($!)
	ip netns exec "$ns" socat -u FILE:"$WORK/host-tcp-tx" TCP-LISTEN:5002,bind=$HOST_IP,reuseaddr \
		2>"$WORK/host-tcp-tx.err" &
	pids+=($!)
	local vl1=UNIX-LISTEN:"$sd/v.sock_5001" vl2=UNIX-LISTEN:"$sd/v.sock_5002"
	[ "$vmm" = qemu ] && vl1=VSOCK-LISTEN:5001 vl2=VSOCK-LISTEN:5002
	socat -u "$vl1" OPEN:"$sd/vsock-rx",creat,trunc 2>"$WORK/host-vsock-rx.err" &
	pids+=($!)
	printf 'sha256sum | cut -d" " -f1 >>%s\n' "$sd/vsock-multi" >"$sd/multi.sh"
	socat -u "$vl2",fork SYSTEM:"sh $sd/multi.sh" 2>"$WORK/host-vsock-multi.err" &
	pids+=($!)

	cat >"$cfg" <<EOF
{
  "boot-source": {
    "kernel_image_path": "$KERNEL",
    "initrd_path": "$WORK/initramfs.cpio.gz",
    "boot_args": "console=ttyS0 reboot=k panic=1 nokaslr gio_marker=$marker gio_tcp_mib=$TCP_MIB gio_vsock_mib=$VSOCK_MIB gio_host=$HOST_IP gio_ip=$GUEST_IP gio_mac=$MAC"
  },
  "machine-config": { "vcpu_count": $VCPUS, "mem_size_mib": 512 },
  "drives": [
    { "drive_id": "root", "path_on_host": "$WORK/root-run.ext4", "is_root_device": false, "is_read_only": false },
    { "drive_id": "ro", "path_on_host": "$WORK/ro.img", "is_root_device": false, "is_read_only": true }
  ],
  "network-interfaces": [ { "iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "$MAC" } ],
  "vsock": { "guest_cid": $CID, "uds_path": "$sd/v.sock" }
}
EOF
	if [ "$vmm" = qemu ]; then
		say "booting $KERNEL under QEMU microvm (up to $TIMEOUT s; TCP $TCP_MIB MiB, vsock $VSOCK_MIB MiB)"
		timeout -k 5 "$TIMEOUT" ip netns exec "$ns" qemu-system-x86_64 -M microvm,acpi=on \
			-enable-kvm -cpu host -smp "$VCPUS" -m 512 -nodefaults -no-user-config -display none -no-reboot \
			-serial "file:$log" -kernel "$KERNEL" -initrd "$WORK/initramfs.cpio.gz" \
			-append "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["boot-source"]["boot_args"])' "$cfg")" \
			-drive "id=root,file=$WORK/root-run.ext4,format=raw,if=none" -device virtio-blk-device,drive=root \
			-drive "id=ro,file=$WORK/ro.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=ro \
			-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "virtio-net-device,netdev=n0,mac=$MAC" \
			-device "vhost-vsock-device,guest-cid=$CID" </dev/null >"$log.stderr" 2>&1 &
	else
		say "booting $KERNEL under $EMBER (up to $TIMEOUT s; TCP $TCP_MIB MiB, vsock $VSOCK_MIB MiB)"
		timeout "$TIMEOUT" ip netns exec "$ns" "$EMBER" --no-api --config-file "$cfg" </dev/null >"$log" 2>&1 &
	fi
	local ember=$!
	# Host to guest over vsock, once the guest listens. The guest says so as it starts its
	# listener, which may not be bound yet: a refused connection (no "OK" from ember, an error
	# from socat under QEMU) is tried again, for up to 60 s; the guest waits for one forever.
	if wait_line "$log" 'GIO vsock-listening' "$TIMEOUT" "$ember"; then
		for _ in $(seq 60); do
			if [ "$vmm" = qemu ]; then
				timeout 300 socat -u FILE:"$WORK/host-vsock-tx" VSOCK-CONNECT:"$CID":5000 \
					>"$WORK/host-vsock-h2g.reply" 2>"$WORK/host-vsock-h2g.err" && break
			else
				{ printf 'CONNECT 5000\n'; cat "$WORK/host-vsock-tx"; } |
					timeout 300 socat - UNIX-CONNECT:"$sd/v.sock" >"$WORK/host-vsock-h2g.reply" 2>"$WORK/host-vsock-h2g.err"
				grep -q '^OK ' "$WORK/host-vsock-h2g.reply" && break
			fi
			kill -0 "$ember" 2>/dev/null || break
			sleep 1
		done
	fi
	wait "$ember"
	rc=$?
	say "$vmm exited $rc; console in $log"
	sleep 0.5   # the host-side listeners finish their sums
	tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"


	p=$(gio root)
	verdict "${pre}boot" "$(grep -q 'GIO root /dev/vda ext4 rw' <<<"$p" && echo 1)" \
		"${p:-no 'GIO root' line; $(grep -aE 'GIO|Kernel panic|ember exiting|rror' "$log" | head -n3 | tr '\n' '|')}"
	got=$(debugfs -R 'cat /written-by-guest' "$WORK/root-run.ext4" 2>/dev/null)
	p=$(e2fsck -fn "$WORK/root-run.ext4" 2>&1) && want=clean || want="not clean: $(tail -n1 <<<"$p")"
	verdict "${pre}rootfs" "$([ "$got" = "$marker" ] && [ "$want" = clean ] && echo 1)" \
		"file in image: '${got:-none}' (want $marker); e2fsck -fn: $want"
	rosum2=$(sha256sum <"$WORK/ro.img")
	p="$(gio ro-mount)|$(gio ro-write)|$(gio ro-raw)"
	verdict "${pre}ro-drive" "$(grep -q "^GIO ro-mount ro ro-$marker|GIO ro-write refused.*Read-only file system|GIO ro-raw refused" <<<"$p" &&
		[ "$rosum" = "$rosum2" ] && echo 1)" "$p; image $([ "$rosum" = "$rosum2" ] && echo unchanged || echo CHANGED)"
	p=$(gio ping)
	verdict "${pre}net-ping" "$(grep -q '^GIO ping ok' <<<"$p" && echo 1)" "${p:-no ping line}"
	want=$(sha256sum <"$WORK/host-tcp-tx" | cut -d' ' -f1)
	got=$(field sha256 "$(gio tcp-rx)")
	verdict "${pre}tcp-rx" "$(is "$got" "$want")" "$TCP_MIB MiB host to guest: guest sha256 ${got:-none}, host ${want:0:16}..."
	want=$(field sha256 "$(gio tcp-tx)")
	got=$(sha256sum <"$sd/tcp-rx" 2>/dev/null | cut -d' ' -f1)
	verdict "${pre}tcp-tx" "$(is "$got" "$want")" "$TCP_MIB MiB guest to host: guest sha256 ${want:-none}, host ${got:-none}"
	want=$(sha256sum <"$WORK/host-vsock-tx" | cut -d' ' -f1)
	got=$(field sha256 "$(gio vsock-h2g)")
	verdict "${pre}vsock-h2g" "$(is "$got" "$want")" "$VSOCK_MIB MiB through CONNECT 5000 (reply $(head -c 40 "$WORK/host-vsock-h2g.reply" 2>/dev/null | tr -d '\n')): guest ${got:-none}"
	want=$(field sha256 "$(gio vsock-g2h)")
	got=$(sha256sum <"$sd/vsock-rx" 2>/dev/null | cut -d' ' -f1)
	verdict "${pre}vsock-g2h" "$(is "$got" "$want")" "$VSOCK_MIB MiB to v.sock_5001: guest ${want:-none}, host ${got:-none}"
	want=$(field sha256 "$(gio vsock-multi)")
	got=$(grep -c "^${want:-x}\$" "$sd/vsock-multi" 2>/dev/null)
	verdict "${pre}vsock-multi" "$([ -n "$want" ] && [ "$got" = 8 ] && echo 1)" "8 x 1 MiB at once: ${got:-0} of 8 arrived whole"
	p=$(grep -aE 'virtio.*(error|fail)|I/O error|blk_update_request|EXT4-fs error|GIO .*fail' "$log" | head -n2 | tr '\n' '|')
	verdict "${pre}clean" "$([ -z "$p" ] && echo 1)" "$p"
	# QEMU says nothing when the guest powers off; ember says so in its log.
	verdict "${pre}poweroff" "$([ "$rc" = 0 ] && { [ "$vmm" = qemu ] || grep -aq 'Guest powered off' "$log"; } && echo 1)" \
		"$vmm exited $rc$(grep -aq 'Guest powered off' "$log" || echo ", no 'Guest powered off'"); last lines: $(tail -n 3 "$log" | tr '\n' '|')"
}

# api: the same root file system driven the way Firecracker's getting-started guide does it,
# over the API socket with the bzImage: then pause/resume, PATCH /drives, a line on stdin and
# SendCtrlAltDel.
#   api-start     every PUT answered 204, the guest's init ran from vda and read the data drive
#   pause         while Paused the console stays silent; after Resumed the guest's ticks go on
#                 and its clock (uptime and date) moved forward
#   patch-drive   PATCH /drives/data to a new image: the guest reads the new content and size
#   stdin         the line written to ember's stdin reached the guest's shell through /dev/console
#   ctrl-alt-del  SendCtrlAltDel reaches init (SIGINT), which powers off: ember exits 0
api() { # METHOD PATH JSON: the HTTP status
	curl -s -o "$sd/api.body" -w '%{http_code}' -X "$1" --unix-socket "$sd/api.sock" \
		-H 'Content-Type: application/json' "http://localhost$2" ${3:+-d "$3"}
}

run_api() {
	local log=$WORK/console-api.log rc ember sd marker=ember-gio-api-$$-$RANDOM st p ok t0 t1 n0 n1
	[ -s "$WORK/initramfs.cpio.gz" ] && [ -s "$WORK/root.ext4" ] && [ -s "$BZIMAGE" ] &&
		[ ! "$0" -nt "$WORK/root.ext4" ] || prepare
	sd=$(mktemp -d "${TMPDIR:-/tmp}/ember-gio.XXXXXX") || die "mktemp failed"
	trap 'exec 7>&-; kill "$ember" 2>/dev/null; rm -rf "$sd"' EXIT
	cp "$WORK/root.ext4" "$sd/root.ext4"
	for p in A B; do
		rm -rf "$sd/d$p" && mkdir -p "$sd/d$p" && echo "$p-$marker" >"$sd/d$p/content" &&
			mkfs.ext4 -q -F -d "$sd/d$p" "$sd/data$p.img" $([ $p = A ] && echo 4M || echo 6M) >/dev/null ||
			die "mkfs.ext4 for the data drives failed"
	done
	mkfifo "$sd/stdin" && exec 7<>"$sd/stdin"
	say "booting $BZIMAGE over the API (up to $TIMEOUT s)"
	timeout "$TIMEOUT" "$EMBER" --api-sock "$sd/api.sock" <"$sd/stdin" >"$log" 2>&1 &
	ember=$!
	for _ in $(seq 100); do [ -S "$sd/api.sock" ] && break; sleep 0.1; done
	st=$(api PUT /boot-source "{\"kernel_image_path\": \"$BZIMAGE\", \"initrd_path\": \"$WORK/initramfs.cpio.gz\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 gio_mode=api\"}")
	st="$st $(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$sd/root.ext4\", \"is_root_device\": true, \"is_read_only\": false}")"
	st="$st $(api PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$sd/dataA.img\", \"is_root_device\": false, \"is_read_only\": true}")"
	st="$st $(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
	st="$st $(api PUT /actions '{"action_type": "InstanceStart"}')"
	ok=0
	[ "$st" = "204 204 204 204 204" ] && wait_line "$log" '^GIO api-ready' "$TIMEOUT" "$ember" &&
		grep -aq "^GIO api-ready data=A-$marker" "$log" && ok=1
	verdict api-start $ok "PUT statuses: $st; $(grep -a '^GIO api-ready' "$log" || tail -n 2 "$log" | tr '\n' '|')"

	# Pause: silence while paused, the clock moved on after.
	ok=0
	if wait_line "$log" '^GIO tick' 120 "$ember"; then
		t0=$(grep -a '^GIO tick' "$log" | tail -n1 | tr -d '\r')
		st=$(api PATCH /vm '{"state": "Paused"}')
		sleep 1; n0=$(wc -c <"$log"); sleep 3; n1=$(wc -c <"$log")
		st="$st $(api PATCH /vm '{"state": "Resumed"}')"
		p=$(grep -ac '^GIO tick' "$log")
		for _ in $(seq 300); do [ "$(grep -ac '^GIO tick' "$log")" -gt "$((p + 1))" ] && break; sleep 0.1; done
		t1=$(grep -a '^GIO tick' "$log" | tail -n1 | tr -d '\r')
		read -r _ _ u0 d0 <<<"$t0"; read -r _ _ u1 d1 <<<"$t1"
		[ "$st" = "204 204" ] && [ "$n0" = "$n1" ] && awk -v a="$u0" -v b="$u1" 'BEGIN { exit !(b > a) }' &&
			[ "${d1:-0}" -ge "${d0:-1}" ] && ok=1
		verdict pause $ok "PATCH statuses $st; console $n0 -> $n1 bytes while paused; uptime $u0 -> $u1, date $d0 -> $d1"
	else
		verdict pause 0 "the guest never ticked"
	fi

	# A new data drive, then a line on stdin tells the guest to read it again.
	st=$(api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$sd/dataB.img\"}")
	echo "patched-$marker" >&7
	ok=0
	wait_line "$log" '^GIO reread' 120 "$ember" && grep -aq "^GIO reread data=B-$marker size=12288" "$log" && [ "$st" = 204 ] && ok=1
	verdict patch-drive $ok "PATCH status $st; $(grep -a '^GIO reread' "$log" || echo 'no reread line')"
	p=$(grep -a '^GIO stdin' "$log" | tr -d '\r')
	verdict stdin "$([ "$p" = "GIO stdin patched-$marker" ] && echo 1)" "${p:-no 'GIO stdin' line}"

	st=$(api PUT /actions '{"action_type": "SendCtrlAltDel"}')
	wait "$ember"
	rc=$?
	tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
	verdict ctrl-alt-del "$([ "$st" = 204 ] && [ "$rc" = 0 ] && grep -q '^GIO cad received' "$log" && grep -aq 'Guest powered off' "$log" && echo 1)" \
		"PUT status $st, ember exited $rc; $(grep -a 'GIO cad\|Guest powered off' "$log" | tr '\n' '|')"
	p=$(grep -aE 'virtio.*(error|fail)|I/O error|blk_update_request|EXT4-fs error' "$log" | head -n2 | tr '\n' '|')
	verdict api-clean "$([ -z "$p" ] && echo 1)" "$p"
}

# shell: ember's stdin and stdout are a pty, as when a person runs it in a terminal; Linux with
# 4 vCPUs runs an interactive busybox shell on the console. Typed lines reach it and its answers
# come back (shell-answers); Ctrl-C interrupts the guest's foreground command, not ember
# (shell-ctrl-c); `poweroff -f` typed there ends ember with 0 (shell-poweroff); the terminal's
# settings are as before (terminal-restored).
run_shell() {
	local log=$WORK/console-shell.log cfg=$WORK/shell.json cpus=${GIO_SHELL_VCPUS:-4}
	[ -s "$WORK/initramfs.cpio.gz" ] && [ -s "$WORK/root.ext4" ] && [ -s "$KERNEL" ] &&
		[ ! "$0" -nt "$WORK/root.ext4" ] || prepare
	printf '{"boot-source": {"kernel_image_path": "%s", "initrd_path": "%s",
  "boot_args": "console=ttyS0 reboot=k panic=1 quiet gio_mode=shell"},
 "machine-config": {"vcpu_count": %s, "mem_size_mib": 256},
 "drives": [{"drive_id": "rootfs", "path_on_host": "%s", "is_root_device": true, "is_read_only": true}]}\n' \
		"$KERNEL" "$WORK/initramfs.cpio.gz" "$cpus" "$WORK/root.ext4" >"$cfg"
	say "booting $KERNEL with $cpus vCPUs, ember on a pty (up to $TIMEOUT s)"
	python3 - "$EMBER" "$cfg" "$log" "$TIMEOUT" "$cpus" "$(cat "$KDIR/version" 2>/dev/null)" "$NAME" <<'PY'
import os, select, subprocess, sys, termios, time

ember, cfg, log, limit, cpus, kver, name = sys.argv[1:8]
kver = (kver.split() or [""])[0]   # $KDIR/version holds the banner: "6.1.0-57-cloud-amd64 (debian-kernel@...) ..."
limit = float(limit)
master, slave = os.openpty()
before = termios.tcgetattr(slave)
out = open(log, "wb")
p = subprocess.Popen([ember, "--no-api", "--config-file", cfg], stdin=slave, stdout=slave,
                     stderr=subprocess.STDOUT, start_new_session=True)
buf = b""


def verdict(item, ok, detail):
    print("%s %s/%s: %s" % ("PASS" if ok else "FAIL", name, item, detail), flush=True)


def pump(secs):
    global buf
    r, _, _ = select.select([master], [], [], secs)
    if r:
        try:
            d = os.read(master, 65536)
        except OSError:
            d = b""
        buf += d
        out.write(d)
        out.flush()


def until(pat, secs, start=0):
    """The offset just past pat in buf (searched from start); -1 after secs or once ember ended."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        i = buf.find(pat, start)
        if i >= 0:
            return i + len(pat)
        if p.poll() is not None:
            pump(0.2)
            i = buf.find(pat, start)
            return i + len(pat) if i >= 0 else -1
        pump(0.2)
    return -1


def typed(line):
    """Type line and Enter as a person does: a byte at a time; a raw terminal sends Enter as CR."""
    for ch in line.encode() + b"\r":
        os.write(master, bytes([ch]))
        pump(0.02)


def tail():
    return buf[-300:].decode(errors="replace").replace("\r", "").replace("\n", "|")


at = until(b"GIO shell-ready cpus=", limit)
ok = at >= 0 and until(b"# ", 120, at) >= 0
verdict("shell-prompt", ok and buf[at:at + len(cpus)] == cpus.encode(),
        "a prompt after 'shell-ready cpus=%s'" % buf[at:at + len(cpus)].decode(errors="replace")
        if at >= 0 else "no shell-ready line: " + tail())
if ok:
    mark = len(buf)
    typed("echo $((6*7)) answers from $(nproc) cpus; uname -r")
    a = until(b"42 answers from %s cpus" % cpus.encode(), 120, mark)
    b = until(kver.encode(), 60, a) if a >= 0 and kver else a
    verdict("shell-answers", a >= 0 and b >= 0 and until(b"# ", 60, b) >= 0,
            "typed a line, read '42 answers from %s cpus' and '%s' back" % (cpus, kver)
            if a >= 0 and b >= 0 else tail())
    mark = len(buf)
    typed("sleep 600")
    t0 = time.monotonic()
    while time.monotonic() < t0 + 2:
        pump(0.2)
    os.write(master, b"\x03")
    typed("echo after-ctrl-$((1+2))")
    c = until(b"after-ctrl-3", 60, mark)
    verdict("shell-ctrl-c", c >= 0 and p.poll() is None,
            "Ctrl-C ended the guest's sleep; ember kept running" if c >= 0 else tail())
    typed("poweroff -f")
end = time.monotonic() + (120 if ok else 5)
while p.poll() is None and time.monotonic() < end:
    pump(0.2)
if p.poll() is None:
    p.kill()
rc = p.wait()
pump(0.2)
verdict("shell-poweroff", ok and rc == 0 and b"Guest powered off" in buf, "ember exited %d; %s" % (rc, tail()))
after = termios.tcgetattr(slave)
verdict("terminal-restored", before == after,
        "the pty's settings after ember are those before" if before == after
        else "before %s, after %s" % (before[:4], after[:4]))
PY
}

# demo: what `make run` boots (config.example.json, read-only root, the default function) and,
# through demo-config, a function of our own; both must print their output and end with 0.
run_demo() {
	local log=$WORK/console-demo.log rc cfg marker=ember-demo-$$-$RANDOM p
	[ -s "$WORK/initramfs.cpio.gz" ] && [ -s "$WORK/root.ext4" ] && [ -s "$KERNEL" ] &&
		[ ! "$0" -nt "$WORK/root.ext4" ] || prepare
	p=$(sha256sum <"$WORK/root.ext4")
	timeout "$TIMEOUT" "$EMBER" --no-api --config-file config.example.json </dev/null >"$log" 2>&1
	rc=$?
	verdict make-run "$([ $rc = 0 ] && grep -aq '^Hello from a Linux microVM: Linux 6' "$log" &&
		grep -aq 'the function exited with status 0; powering off' "$log" && echo 1)" \
		"ember exited $rc; $(grep -a '^Hello from\|^ember:' "$log" | tr -d '\r' | tr '\n' '|')"
	cfg=$WORK/demo.json
	demo_config "echo \"\$(cat /proc/cmdline | wc -w) words, $marker\"; exit 3" >"$cfg"
	timeout "$TIMEOUT" "$EMBER" --no-api --config-file "$cfg" </dev/null >"$log.2" 2>&1
	rc=$?
	verdict make-run-func "$([ $rc = 0 ] && grep -aEq "^[0-9]+ words, $marker" "$log.2" &&
		grep -aq 'the function exited with status 3' "$log.2" && [ "$p" = "$(sha256sum <"$WORK/root.ext4")" ] && echo 1)" \
		"ember exited $rc; $(grep -a "$marker\|^ember:" "$log.2" | grep -v 'Command line' | tr -d '\r' | tr '\n' '|'); the read-only root image $([ "$p" = "$(sha256sum <"$WORK/root.ext4")" ] && echo unchanged || echo CHANGED)"
}

# demo-config CMD: config.example.json with CMD as the function (base64 on the command line).
demo_config() {
	local b64
	b64=$(printf '%s' "$1" | base64 -w0)
	sed "s#gio_run=[A-Za-z0-9+/=]*#gio_run=$b64#" config.example.json
}

case "${1:-run}" in
demo-config) demo_config "${2:?usage: $0 demo-config CMD}" ;;
prepare) prepare ;;
run) mkdir -p "$WORK" && { run; run_api; run_demo; run_shell; } | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
run-net) mkdir -p "$WORK" && run | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
run-api) mkdir -p "$WORK" && run_api | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
run-demo) mkdir -p "$WORK" && run_demo | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
run-shell) mkdir -p "$WORK" && run_shell | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
run-qemu) mkdir -p "$WORK" && run qemu | tee "$WORK/result" && ! grep -q '^FAIL' "$WORK/result" ;;
*) echo "usage: $0 [prepare|run|run-net|run-api|run-demo|run-shell|demo-config CMD]" >&2; exit 2 ;;
esac
