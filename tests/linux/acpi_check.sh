#!/usr/bin/env bash
# acpi_check.sh: Debian's cloud kernel judges ember's DSDT, console and poweroff.
#
#   tests/linux/acpi_check.sh prepare     host side: fetch the kernel and its virtio modules,
#                                         build the initramfs (network: apt-get download)
#   tests/linux/acpi_check.sh [run]       boot it under ember (needs /dev/kvm; prepares first
#                                         if needed); PASS/FAIL lines, exit 1 on a FAIL
#
# Where /dev/kvm does not work, run it in the lab (tests/lab/lab.sh):
#   tests/linux/acpi_check.sh prepare && tests/lab/lab.sh --timeout 600 -- tests/linux/acpi_check.sh
#
# Debian's kernels have no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES: they find virtio-mmio devices
# only in the DSDT (_HID "LNRO0005"), and on a hardware-reduced ACPI platform (no 8259) they
# learn that COM1's IRQ 4 is edge-triggered only from COM1's _CRS (PNP0501). The busybox /init
# loads virtio_mmio and virtio_blk, writes a marker to /dev/console (the tty layer, interrupt-
# driven 8250 transmit), reports through /dev/kmsg (printk, polled: seen even when the tty
# path is broken), then runs `poweroff -f` (ACPI S5 through the FADT's sleep control register).
#
# Checks, each "PASS|FAIL acpi_check/<item>":
#   boot        the kernel ran /init
#   acpi-clean  no "ACPI Error", "ACPI BIOS Error" or "ACPI Warning" line
#   serial-pnp  "00:0N: ttyS0 at I/O 0x3f8 (irq = N, ...)": the 8250 took COM1 from the DSDT
#   serial-irq  /proc/interrupts: ttyS0 on "IO-APIC 4-edge"
#   i8042-pnp   "i8042: PNP: PS/2 Controller [PNP0303:...] at 0x60,0x64 irq N"
#   virtio-acpi the LNRO0005 platform device exists, virtio_blk found vda, virtio0 is on
#               "IO-APIC 5-edge"
#   console     the marker /init wrote to /dev/console reached ember's stdout
#   poweroff    ember exited 0 after logging "Guest powered off" (or, ACPI_CHECK_END=reboot,
#   reboot      ember exited 0 after logging "Guest reset")
#
# Environment: BUILD (default build); EMBER (default $BUILD/ember); KERNEL (default
# $BUILD/kernel/vmlinux, Debian's cloud kernel from tests/kernel/fetch-debian-kernel.sh);
# ACPI_CHECK_TIMEOUT (seconds for the guest, default 300); ACPI_CHECK_TAG (suffix of the log
# names, to keep runs of two ember builds apart); ACPI_CHECK_END=reboot (/init runs
# `reboot -f` instead, and the last item is "reboot": ember exits 0 after "Guest reset").
# ACPI_CHECK_BULK=N: /init also writes N numbered 62-byte lines to /dev/console, and item
# "console-bulk" checks that every one reached ember's stdout whole and in order.
# Logs in $BUILD/linux-acpi/.
set -u
cd "$(dirname "$0")/../.."

NAME=acpi_check
BUILD=${BUILD:-build}
EMBER=${EMBER:-$BUILD/ember}
KDIR=$BUILD/kernel
KERNEL=${KERNEL:-$KDIR/vmlinux}
WORK=$BUILD/linux-acpi
TIMEOUT=${ACPI_CHECK_TIMEOUT:-300}
MODULES="kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_mmio.ko kernel/drivers/block/virtio_blk.ko"
MARKER="EMBER-USERSPACE-CONSOLE-$$"
TAG=${ACPI_CHECK_TAG:+-$ACPI_CHECK_TAG}
END=${ACPI_CHECK_END:-poweroff}
BULK=${ACPI_CHECK_BULK:-0}

say() { echo "$NAME: $*" >&2; }
die() { echo "FAIL $NAME/setup: $*"; exit 1; }

# The kernel (image only) and, from the same .deb, the virtio modules.
prepare() {
	command -v busybox >/dev/null || die "busybox not found (Debian package busybox-static)"
	command -v cpio >/dev/null || die "cpio not found (Debian package cpio)"
	tests/kernel/fetch-debian-kernel.sh "$KDIR" >/dev/null ||
		die "cannot fetch Debian's cloud kernel (tests/kernel/fetch-debian-kernel.sh)"
	mkdir -p "$WORK"
	tests/linux/fetch-modules.sh "$KDIR" "$WORK/modules" $MODULES || die "cannot fetch the kernel's modules"
	build_initramfs
	# A small drive: the virtio-blk device the DSDT must describe.
	[ -s "$WORK/disk.img" ] || truncate -s 4M "$WORK/disk.img"
}

build_initramfs() {
	local root=$WORK/initramfs m
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
	cp "$(command -v busybox)" "$root/bin/busybox"
	for m in $MODULES; do cp "$WORK/modules/$(basename "$m")" "$root/lib/modules/"; done
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Through printk (polled UART): visible even if the tty path is broken.
k() { while IFS= read -r l; do echo "K: $l" >/dev/kmsg; done; }
for m in virtio_ring virtio virtio_mmio virtio_blk; do
	insmod /lib/modules/$m.ko 2>&1 | k
done
sleep 1
echo "=== /proc/interrupts" | k
cat /proc/interrupts | k
echo "=== platform devices" | k
ls /sys/bus/platform/devices | k
echo "=== block devices" | k
ls /sys/block | k
# A few hundred KiB through the tty layer: all of it must reach ember's stdout, in order.
bulk=$(sed -n 's/.*acpi_check_bulk=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$bulk" ] && [ "$bulk" -gt 0 ] && awk -v n="$bulk" 'BEGIN { for (i = 1; i <= n; i++)
	printf "BULK %06d 0123456789abcdef0123456789abcdef0123456789abcdef\n", i }' >/dev/console
echo "INIT: bulk output written" | k
[ -n "$bulk" ] && [ "$bulk" -gt 0 ] && grep -E 'ttyS0|LOC' /proc/interrupts | k
marker=$(sed -n 's/.*acpi_check_marker=\([^ ]*\).*/\1/p' /proc/cmdline)
# Through the tty layer (interrupt-driven 8250 transmit).
echo "$marker" >/dev/console
echo "INIT: console marker written" | k
case "$(cat /proc/cmdline)" in
*acpi_check_end=reboot*) reboot -f ;;
*) poweroff -f ;;
esac
EOF
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.cpio.gz" ||
		die "cannot build the initramfs"
}

run() {
	local cfg=$WORK/vm$TAG.json log=$WORK/console$TAG.log rc
	[ -s "$WORK/initramfs.cpio.gz" ] && [ -s "$KERNEL" ] || prepare
	if ! rc=$(tests/lab/kvm-probe); then
		echo "FAIL $NAME/kvm: $rc (run it in the lab: tests/lab/lab.sh -- $0)"
		return 1
	fi
	[ -x "$EMBER" ] || die "$EMBER not built (make ember)"
	cat >"$cfg" <<EOF
{
  "boot-source": {
    "kernel_image_path": "$KERNEL",
    "initrd_path": "$WORK/initramfs.cpio.gz",
    "boot_args": "console=ttyS0 reboot=k panic=1 printk.devkmsg=on nokaslr acpi_check_marker=$MARKER acpi_check_end=$END acpi_check_bulk=$BULK"
  },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256 },
  "drives": [
    { "drive_id": "data", "path_on_host": "$WORK/disk.img", "is_root_device": false, "is_read_only": false }
  ]
}
EOF
	say "booting $KERNEL under $EMBER (up to $TIMEOUT s)"
	timeout "$TIMEOUT" "$EMBER" --no-api --config-file "$cfg" </dev/null >"$log" 2>&1
	rc=$?
	say "ember exited $rc; console in $log"
	# The UART's output has CRLF line ends.
	tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"

	check() { # item, pattern (grep -E), what
		if grep -Eq "$2" "$log"; then echo "PASS $NAME/$1"; else echo "FAIL $NAME/$1: no \"$2\" ($3)"; fi
	}
	check boot 'Run /init as init process' "the kernel did not reach /init"
	if grep -Eq 'ACPI (BIOS )?(Error|Warning)' "$log"; then
		echo "FAIL $NAME/acpi-clean: $(grep -Em1 'ACPI (BIOS )?(Error|Warning)' "$log")"
	else
		echo "PASS $NAME/acpi-clean"
	fi
	# The "irq =" Linux prints is its own number; /proc/interrupts names the IOAPIC pin.
	check serial-pnp '00:0[0-9]: ttyS0 at I/O 0x3f8 \(irq = [0-9]+' "8250_pnp did not take COM1 from the DSDT"
	check serial-irq 'K: +[0-9]+: +[0-9]+ +IO-APIC +4-edge +ttyS0' "ttyS0 is not on IOAPIC pin 4, edge"
	check i8042-pnp 'i8042: PNP: PS/2 Controller \[PNP0303:[A-Z0-9_]+\] at 0x60,0x64 irq [0-9]+' \
		"i8042 did not take the PS/2 controller from the DSDT"
	if grep -q 'K: LNRO0005:00' "$log" && grep -Eq 'K: vda$' "$log" &&
		grep -Eq 'K: +[0-9]+: +[0-9]+ +IO-APIC +5-edge +virtio0' "$log"; then
		echo "PASS $NAME/virtio-acpi"
	else
		echo "FAIL $NAME/virtio-acpi: no LNRO0005:00 platform device, no vda or virtio0 not on IOAPIC pin 5, edge"
	fi
	if grep -v 'acpi_check_marker=' "$log" | grep -q "^$MARKER"; then
		echo "PASS $NAME/console"
	else
		echo "FAIL $NAME/console: what /init wrote to /dev/console never reached ember's stdout"
	fi
	if [ "$BULK" -gt 0 ]; then
		# Every line whole, numbered 1..BULK in order, nothing lost or repeated.
		local got
		got=$(grep -E '^BULK [0-9]{6} 0123456789abcdef0123456789abcdef0123456789abcdef$' "$log" |
			awk -v n="$BULK" '{ if ($2 + 0 != ++i) bad = 1 } END { print (bad || i != n) ? "bad " i : "ok " i }')
		if [ "${got%% *}" = ok ]; then
			echo "PASS $NAME/console-bulk ($BULK lines, $((BULK * 62)) bytes, whole and in order)"
		else
			echo "FAIL $NAME/console-bulk: ${got#* } whole lines of $BULK, or out of order"
		fi
	fi
	local why='Guest powered off'
	[ "$END" = poweroff ] || why='Guest reset'
	if [ "$rc" = 0 ] && grep -q "$why" "$log"; then
		echo "PASS $NAME/$END"
	else
		echo "FAIL $NAME/$END: ember exited $rc$(grep -q "$why" "$log" || echo ", no \"$why\"")"
	fi
}

case "${1:-run}" in
prepare) prepare ;;
run) mkdir -p "$WORK" && run | tee "$WORK/result$TAG" && ! grep -q '^FAIL' "$WORK/result$TAG" ;;
*) echo "usage: $0 [prepare|run]" >&2; exit 2 ;;
esac
