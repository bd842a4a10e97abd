#!/usr/bin/env bash
# linux_referee.sh: a real Linux kernel (Debian 6.1) judges ember's boot structures.
#
# ember boots Debian's kernel, as the ELF vmlinux (PVH note: ember's PVH path)
# and as a bzImage (zero page, 64-bit entry), each with (1 vCPU, 128 MiB) and
# (4 vCPUs, 3584 MiB); and once more (case suffix -mptable) with "acpi=off", so
# that the kernel must take the CPUs from ember's MP table instead of its MADT. On this host guest kernel mode is emulated and the kernel
# stops some 10-60 s after its banner, but by then it has printed what it
# understood of ember's setup: "Command line:", the "BIOS-e820:" map and the CPUs
# it found ("smpboot: Allowing N CPUs", after the MP table lines).
# tests/kernel/check-linux-boot.py compares those lines with the configuration
# and prints PASS/FAIL per item, e.g. "PASS linux_referee/vmlinux-4cpu-3584M/e820-layout".
# Each boot is killed as soon as every item is decided.
#
# Kernels (tests/kernel/fetch-debian-kernel.sh, cached in $BUILD/kernel*):
#   vmlinux cases: linux-image-amd64 (generic): it has CONFIG_X86_MPPARSE, so it
#     counts the CPUs in ember's MP table.
#   bzImage cases: linux-image-cloud-amd64: its payload is LZ4, which the
#     (emulated) decompressor unpacks in ~2 min of CPU; the generic bzImage is
#     xz, far slower. The cloud kernel has no MP-table parser: without an ACPI
#     MADT from ember its "cpus" item is a SKIP (the vmlinux cases check it).
#
# Environment: BUILD (default build); LINUX_REFEREE_CASES (space-separated subset
# of the case names); LINUX_REFEREE_TIMEOUT_VMLINUX / _BZIMAGE (seconds per boot).
# ember-test: needs-kvm
set -u
cd "$(dirname "$0")/../.."

NAME=linux_referee
BUILD=${BUILD:-build}
EMBER=$BUILD/ember
# What ember appends to boot_args (no devices here). To be confirmed by the lead.
EMBER_CMDLINE_SUFFIX=" pci=off"
VMLINUX_FLAVOUR=amd64
VMLINUX_DIR=$BUILD/kernel-amd64
BZIMAGE_FLAVOUR=cloud-amd64
BZIMAGE_DIR=$BUILD/kernel          # fetch-debian-kernel.sh's default
# Which table must report the CPUs: any | mptable | acpi (check-linux-boot.py
# --cpu-source). With "any" a MADT that the kernel lists but does not use still
# fails. Cases named *-mptable always use "mptable" (and boot with acpi=off).
CPU_SOURCE=${CPU_SOURCE:-any}
# mem=128M: the BIOS-e820 lines still show ember's whole map (they are printed
# before mem= is applied), but the kernel initialises struct pages for 128 MiB
# only, which saves ~45 s of emulated memmap init on the 3584 MiB guest.
# nokaslr: the bzImage decompressor skips choosing a random address and
# relocating. earlyprintk=ttyS0: output from the very start of setup_arch.
BOOT_ARGS="console=ttyS0 reboot=k panic=1 earlyprintk=ttyS0 nokaslr mem=128M"
TIMEOUT_VMLINUX=${LINUX_REFEREE_TIMEOUT_VMLINUX:-120}
TIMEOUT_BZIMAGE=${LINUX_REFEREE_TIMEOUT_BZIMAGE:-480}
CASES=${LINUX_REFEREE_CASES:-"vmlinux-1cpu-128M vmlinux-4cpu-3584M vmlinux-4cpu-3584M-mptable bzimage-1cpu-128M bzimage-4cpu-3584M"}
CHECKER=tests/kernel/check-linux-boot.py
LOGDIR=$BUILD/test-logs/$NAME

fail() { echo "FAIL $NAME$1: $2"; }
skip() { echo "SKIP $NAME$1: $2"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
VM_PID=
cleanup() {
	if [ -n "$VM_PID" ]; then
		kill -KILL "$VM_PID" 2>/dev/null
		wait "$VM_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the kernel ----------------------------------------------------------------
fetch() {
	local flavour=$1 dir=$2 rc
	KERNEL_FLAVOUR=$flavour tests/kernel/fetch-debian-kernel.sh "$dir" >"$TMP/fetch.log" 2>&1
	rc=$?
	if [ $rc -eq 2 ]; then
		skip "" "cannot fetch the Debian kernel: apt has no network or no linux-image-$flavour ($(grep -m1 'cannot download' "$TMP/fetch.log"))"
		exit 0
	elif [ $rc -ne 0 ]; then
		sed 's/^/# /' "$TMP/fetch.log"
		fail "" "tests/kernel/fetch-debian-kernel.sh failed for $flavour (exit $rc): $(tail -n1 "$TMP/fetch.log")"
		exit 1
	fi
	echo "# kernel $dir: $(cat "$dir/package")"
}
# "prepare" (tests/run.sh, on the host before the lab, which has no network): fetch only.
# ember-test: prepare
if [ "${1:-}" = prepare ]; then
	fetch "$VMLINUX_FLAVOUR" "$VMLINUX_DIR"
	fetch "$BZIMAGE_FLAVOUR" "$BZIMAGE_DIR"
	exit 0
fi
need_vmlinux=no need_bzimage=no
case " $CASES " in *" vmlinux-"*) need_vmlinux=yes ;; esac
case " $CASES " in *" bzimage-"*) need_bzimage=yes ;; esac
[ $need_vmlinux = yes ] && fetch "$VMLINUX_FLAVOUR" "$VMLINUX_DIR"
[ $need_bzimage = yes ] && fetch "$BZIMAGE_FLAVOUR" "$BZIMAGE_DIR"

# ---- ember -----------------------------------------------------------------------
if [ ! -x "$EMBER" ]; then
	fail "" "$EMBER not built (run make)"
	exit 1
fi
if [ ! -c /dev/kvm ]; then
	skip "" "no /dev/kvm on this host"
	exit 0
fi

mkdir -p "$LOGDIR"
nfail=0

# boot CASE-NAME KERNEL CPUS MEM BOOT_ARGS: start ember in the background, log in $LOGDIR.
boot() {
	local name=$1 kernel=$2 cpus=$3 mem=$4 args=$5
	local cfg=$TMP/$name.json
	python3 - "$cfg" "$(realpath "$kernel")" "$args" "$cpus" "$mem" <<'PY'
import json, sys
path, kernel, args, cpus, mem = sys.argv[1:6]
json.dump({"boot-source": {"kernel_image_path": kernel, "boot_args": args},
           "machine-config": {"vcpu_count": int(cpus), "mem_size_mib": int(mem)}},
          open(path, "w"), indent=1)
PY
	"$EMBER" --no-api --config-file "$cfg" </dev/null >"$LOGDIR/$name.console" 2>"$LOGDIR/$name.stderr" &
	VM_PID=$!
}

stop() {
	kill -KILL "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	VM_PID=
}

for c in $CASES; do
	case $c in
	bzimage-*) kdir=$BZIMAGE_DIR kernel=$BZIMAGE_DIR/vmlinuz timeout=$TIMEOUT_BZIMAGE ;;
	vmlinux-*) kdir=$VMLINUX_DIR kernel=$VMLINUX_DIR/vmlinux timeout=$TIMEOUT_VMLINUX ;;
	*) fail "/$c" "unknown case"; nfail=$((nfail + 1)); continue ;;
	esac
	echo "# $c: $kernel ($(cat "$kdir/package")), timeout $timeout s"
	# <format>-<N>cpu-<M>M[-mptable]
	IFS=- read -r _ cpus mem variant <<<"$c"
	cpus=${cpus%cpu} mem=${mem%M}
	args=$BOOT_ARGS source=$CPU_SOURCE
	case $variant in
	"") ;;
	mptable) args="$BOOT_ARGS acpi=off" source=mptable ;;
	*) fail "/$c" "unknown case variant '$variant'"; nfail=$((nfail + 1)); continue ;;
	esac
	case $cpus$mem in
	*[!0-9]*|"") fail "/$c" "case name is not <format>-<N>cpu-<M>M[-mptable]"; nfail=$((nfail + 1)); continue ;;
	esac
	cfgarg=()
	[ -s "$kdir/config" ] && cfgarg=(--kernel-config "$kdir/config")
	start=$(date +%s.%N)
	boot "$c" "$kernel" "$cpus" "$mem" "$args"
	python3 "$CHECKER" "$LOGDIR/$c.console" --wait-for --timeout "$timeout" --pid "$VM_PID" \
		--name "$NAME/$c" --cmdline "$args$EMBER_CMDLINE_SUFFIX" \
		--mem-mib "$mem" --cpus "$cpus" --layout firecracker --cpu-source "$source" \
		"${cfgarg[@]}" >"$TMP/check.out"
	rc=$?
	alive=yes; kill -0 "$VM_PID" 2>/dev/null || alive=no
	stop
	cat "$TMP/check.out"
	printf '# %s: %.1f s (ember still running when decided: %s; console %s)\n' "$c" \
		"$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$alive" "$LOGDIR/$c.console"
	if [ $rc -ne 0 ]; then
		nfail=$((nfail + 1))
		if ! grep -q '^FAIL ' "$TMP/check.out"; then
			fail "/$c" "check-linux-boot.py exited $rc"
		fi
		echo "# last console lines:"; tail -n 5 "$LOGDIR/$c.console" | sed 's/^/#   /'
		echo "# ember stderr:"; tail -n 10 "$LOGDIR/$c.stderr" | sed 's/^/#   /'
	fi
done

# ---- the part that needs hardware virtualization ---------------------------------
# Only with VT-x/AMD-V (not the PVM backend, which emulates guest kernel mode) does
# the kernel get past early setup: there it must bring up every vCPU and end in
# the panic for the missing root fs (panic=1 then reboots: ember exits).
if [ -d /sys/module/kvm_pvm ] || { [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; }; then
	skip "/to-init" "guest kernel mode is emulated on this host (kvm_pvm, no kvm_intel/kvm_amd); the kernel stops before init"
else
	c=vmlinux-4cpu-256M-to-init
	fetch "$VMLINUX_FLAVOUR" "$VMLINUX_DIR"
	# In the lab (QEMU's emulated SVM under nested KVM) this kernel with 4 vCPUs on the lab's
	# 2 triple-faults at a random point in about one boot of three (seen at 12 s and 23 s of
	# guest time; not seen with 1 or 2 vCPUs): there a boot that
	# triple-faulted is counted and tried again, up to 3 times, and the PASS line says so.
	# The lab also sometimes stops this boot for good right after "x86: Booting SMP
	# configuration:" (seen twice; a good boot brings the 3 APs up within a second of guest time,
	# at 6-9 s): a bring-up still not done 60 s after that line counts as stalled, and is retried
	# like a triple fault, in the lab only. The stall is the lab's: with single-threaded TCG it
	# happens on every direct boot, under QEMU microvm as under ember (tests/lab/bringup.sh,
	# README "Known limits"). Whether the triple faults are is not yet known.
	tries=1 faults=0 stalls=0
	while :; do
		boot "$c" "$VMLINUX_DIR/vmlinux" 4 256 "console=ttyS0 reboot=k panic=1"
		deadline=$((SECONDS + 180))   # a bound for a stuck boot, not a speed check
		smp_seen=
		stalled=
		while [ $SECONDS -lt $deadline ] && kill -0 "$VM_PID" 2>/dev/null &&
			! grep -aEq 'VFS: Unable to mount root fs|Kernel panic' "$LOGDIR/$c.console"; do
			if [ -z "$smp_seen" ] && grep -aq 'x86: Booting SMP configuration' "$LOGDIR/$c.console"; then
				smp_seen=$SECONDS
			fi
			if [ -n "$smp_seen" ] && [ $((SECONDS - smp_seen)) -gt 60 ] &&
				! grep -aq 'smp: Brought up' "$LOGDIR/$c.console"; then
				stalled=1
				break
			fi
			sleep 0.2
		done
		stop
		grep -aEq 'VFS: Unable to mount root fs|Kernel panic' "$LOGDIR/$c.console" && break
		if grep -aq 'guest shutdown (triple fault)' "$LOGDIR/$c.console" "$LOGDIR/$c.stderr"; then
			faults=$((faults + 1))
			echo "# $c: triple fault, attempt $tries: $(grep -ah 'triple fault' "$LOGDIR/$c.console" "$LOGDIR/$c.stderr" | head -n1)"
		elif [ -n "$stalled" ]; then
			stalls=$((stalls + 1))
			echo "# $c: AP bring-up stalled 60 s after 'x86: Booting SMP configuration:', attempt $tries"
		else
			break
		fi
		cp "$LOGDIR/$c.console" "$LOGDIR/$c.console.attempt$tries"
		[ -n "${EMBER_IN_LAB:-}" ] && [ $tries -lt 3 ] || break
		tries=$((tries + 1))
	done
	note=
	[ $((faults + stalls)) -gt 0 ] && note=", after $faults triple fault(s) and $stalls stalled bring-up(s) in the lab"
	if grep -aEq 'smp: Brought up [0-9]+ nodes?, 4 CPUs' "$LOGDIR/$c.console"; then
		echo "PASS $NAME/$c/smp ($(grep -aEo 'smp: Brought up.*' "$LOGDIR/$c.console" | head -n1))"
	else
		fail "/$c/smp" "no 'smp: Brought up ... 4 CPUs' line"; nfail=$((nfail + 1))
	fi
	if grep -aEq 'VFS: Unable to mount root fs|Kernel panic' "$LOGDIR/$c.console"; then
		echo "PASS $NAME/$c/panic ($(grep -aEo '(VFS: Unable to mount root fs|Kernel panic).*' "$LOGDIR/$c.console" | head -n1)$note)"
	else
		fail "/$c/panic" "no 'VFS: Unable to mount root fs' / 'Kernel panic' within 180 s (console $LOGDIR/$c.console)"
		nfail=$((nfail + 1))
	fi
fi

[ $nfail -eq 0 ]
