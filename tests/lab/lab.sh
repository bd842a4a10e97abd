#!/usr/bin/env bash
# lab.sh: run a command on a machine where /dev/kvm works, by booting one.
#
#   tests/lab/lab.sh [--timeout S] [--mem MIB] [--] CMD [ARG...]
#   tests/lab/lab.sh --shell            an interactive shell in the lab (exit it to stop)
#   tests/lab/lab.sh --prepare          only fetch and build what the lab needs
#
# The lab is QEMU's emulator (TCG) with `-cpu max,la57=off`, which offers its guest AMD SVM
# with nested paging whatever the host CPU is (LA57 off: README, Known limits). Debian's
# generic kernel (linux-image-amd64, fetched with `apt-get download`, never installed, cached
# under $BUILD/lab) boots in it from a busybox initramfs, loads kvm-amd and so has a
# working /dev/kvm. The host's root file system is shared read-only over 9p with a tmpfs
# overlay for writes, the checkout read-write at its own path; after switch_root every path
# looks as on the host. cgroups are mounted as on a hybrid host, loopback is up, /tmp is a tmpfs.
#
# CMD runs in the current directory (which must be inside the checkout) with the
# current environment's PATH and the variables named in EMBER_LAB_ENV (plus BUILD, CI and
# every EMBER_* and FUZZ_* variable). Its output streams to ours; lab.sh exits with its
# status. 124: the lab ran out of time (--timeout, default $EMBER_LAB_TIMEOUT or 3600 s);
# 125: the lab itself failed (a missing package, download or module; the message says).
set -uo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$LAB_DIR/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ABS_BUILD=$BUILD ;; *) ABS_BUILD=$SRC/$BUILD ;; esac
CACHE=$ABS_BUILD/lab
TIMEOUT=${EMBER_LAB_TIMEOUT:-3600}
MEM=${EMBER_LAB_MEM:-6144}
SMP=${EMBER_LAB_SMP:-2}
CPU=${EMBER_LAB_CPU:-max,la57=off}
ACCEL=${EMBER_LAB_ACCEL:-tcg}
KVM_AMD=${EMBER_LAB_KVM_AMD:-}
BOOT_LIMIT=${EMBER_LAB_BOOT_LIMIT:-180}   # seconds from QEMU's start to the command's (it takes 10-20)
MODE=run

die() { echo "lab: error: $*" >&2; exit 125; }
say() { [ -n "${EMBER_LAB_QUIET:-}" ] || echo "lab: $*" >&2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--shell) MODE=shell; shift ;;
	--prepare) MODE=prepare; shift ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see the head of $0)" ;;
	*) break ;;
	esac
done
[ "$MODE" != run ] || [ $# -gt 0 ] || die "no command given (or --shell, --prepare)"
case "$TIMEOUT" in '' | *[!0-9]*) die "--timeout wants whole seconds, got '$TIMEOUT'" ;; esac

# Tools and the Debian packages that bring them.
need_tools() {
	local missing="" t p
	for tp in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static depmod:kmod modprobe:kmod \
		cpio:cpio gzip:gzip dpkg-deb:dpkg apt-get:apt timeout:coreutils; do
		t=${tp%%:*} p=${tp#*:}
		command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || missing="$missing $p($t)"
	done
	[ -z "$missing" ] || die "missing Debian packages:$missing; install them with apt-get install (make deps-test does)"
	# busybox must be static: it runs alone in the initramfs.
	if ! file_is_static "$(command -v busybox)"; then
		die "$(command -v busybox) is not statically linked: install busybox-static"
	fi
}

file_is_static() {
	# An ELF with no PT_INTERP program header needs no loader.
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

PATH=$PATH:/usr/sbin:/sbin

# Debian's generic kernel, unpacked: vmlinuz and lib/modules/<ver> with modules.dep.
fetch_kernel() {
	local meta=linux-image-amd64 pkg tmp deb
	pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
	if [ -z "$pkg" ]; then
		say "apt-cache does not know $meta; running apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed: cannot learn which kernel $meta names"
		pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
		[ -n "$pkg" ] || die "apt knows no package $meta even after apt-get update"
	fi
	if [ -s "$CACHE/kernel/package" ] && [ "$(cat "$CACHE/kernel/package")" = "$pkg" ] &&
		[ -s "$CACHE/kernel/vmlinuz" ] && [ -s "$CACHE/kernel/version" ]; then
		return 0
	fi
	say "fetching $pkg (apt-get download, not installed)"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-lab.XXXXXX")
	local dl=(apt-get download -q)
	[ "$(id -u)" -eq 0 ] && dl+=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && "${dl[@]}" "$pkg" >/dev/null 2>"$tmp/err"); then
		apt-get update -qq >&2 || true
		(cd "$tmp" && "${dl[@]}" "$pkg" >/dev/null 2>"$tmp/err") ||
			{ cat "$tmp/err" >&2; rm -rf "$tmp"; die "apt-get download $pkg failed (see above)"; }
	fi
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { rm -rf "$tmp"; die "apt-get download $pkg produced no .deb"; }
	rm -rf "$CACHE/kernel.new"
	mkdir -p "$CACHE/kernel.new"
	dpkg-deb -x "$deb" "$CACHE/kernel.new/root" || { rm -rf "$tmp"; die "dpkg-deb -x $deb failed"; }
	rm -rf "$tmp"
	local ver
	ver=$(ls "$CACHE/kernel.new/root/lib/modules" | head -n1)
	[ -n "$ver" ] || die "$pkg has no /lib/modules/<version>"
	cp "$CACHE/kernel.new/root/boot/vmlinuz-$ver" "$CACHE/kernel.new/vmlinuz" || die "$pkg has no /boot/vmlinuz-$ver"
	depmod -b "$CACHE/kernel.new/root" "$ver" || die "depmod for $ver failed"
	echo "$ver" >"$CACHE/kernel.new/version"
	echo "$pkg" >"$CACHE/kernel.new/package"
	rm -rf "$CACHE/kernel"
	mv "$CACHE/kernel.new" "$CACHE/kernel"
	rm -f "$CACHE/initramfs.cpio.gz"
}

# The modules the initramfs loads itself (the rest come from the shared root later).
INITRD_MODULES="virtio_pci 9pnet_virtio 9p overlay"

build_initramfs() {
	local out=$CACHE/initramfs.cpio.gz ver root dir m line
	ver=$(cat "$CACHE/kernel/version")
	root=$CACHE/kernel/root
	if [ -s "$out" ] && [ "$out" -nt "$LAB_DIR/init" ] && [ "$out" -nt "$(command -v busybox)" ]; then
		return 0
	fi
	say "building the initramfs"
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ember-lab-initrd.XXXXXX")
	mkdir -p "$dir"/{bin,dev,proc,sys,mnt,modules}
	cp "$(command -v busybox)" "$dir/bin/busybox"
	cp "$LAB_DIR/init" "$dir/init"
	chmod 755 "$dir/init"
	: >"$dir/modules/order"
	for m in $INITRD_MODULES; do
		# modprobe resolves the dependency order; keep each insmod line once.
		modprobe -d "$root" -S "$ver" --show-depends "$m" >"$dir/deps" 2>&1 ||
			{ cat "$dir/deps" >&2; rm -rf "$dir"; die "module $m is not in $(cat "$CACHE/kernel/package")"; }
		while read -r line; do
			case "$line" in
			builtin\ *) continue ;;
			insmod\ *) set -- $line; f=$2 ;;
			*) continue ;;
			esac
			b=$(basename "$f")
			grep -qx "$b" "$dir/modules/order" && continue
			cp "$f" "$dir/modules/$b"
			echo "$b" >>"$dir/modules/order"
		done <"$dir/deps"
	done
	rm -f "$dir/deps"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.new" || { rm -rf "$dir"; die "cpio failed"; }
	mv "$out.new" "$out"
	rm -rf "$dir"
}

prepare() {
	need_tools
	mkdir -p "$CACHE"
	fetch_kernel
	build_initramfs
}

# Quote one word for bash.
q() { printf '%q' "$1"; }

write_job() {
	local job=$1; shift
	local v
	{
		echo "# written by tests/lab/lab.sh"
		# Debian's own tools first: version-manager shims (pyenv and the like) start
		# slowly under emulation, and the tests want Debian's python3 modules anyway.
		echo "export PATH=$(q "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH")"
		echo "export HOME=$(q "${HOME:-/root}")"
		echo "export TERM=$(q "${TERM:-dumb}")"
		echo "export EMBER_IN_LAB=1"
		for v in BUILD CI LANG LC_ALL TMPDIR ${EMBER_LAB_ENV:-} $(compgen -v | grep -E '^(EMBER_|FUZZ_)'); do
			case "$v" in EMBER_LAB | EMBER_LAB_TIMEOUT | EMBER_LAB_MEM | EMBER_LAB_SMP | EMBER_LAB_CPU | EMBER_LAB_ACCEL | EMBER_LAB_KVM_AMD | EMBER_LAB_BOOT_LIMIT | EMBER_IN_LAB) continue ;; esac
			[ -n "${!v+x}" ] && echo "export $v=$(q "${!v}")"
		done
		echo "cd $(q "$PWD") || exit 125"
		if [ "$MODE" = shell ]; then
			echo "exec bash -i"
		else
			printf 'exec'
			for v in "$@"; do printf ' %s' "$(q "$v")"; done
			echo
		fi
	} >"$job/cmd.sh"
}

case "$PWD/" in "$SRC"/*) ;; *) die "run lab.sh from inside the checkout ($SRC): only it is writable in the lab" ;; esac

prepare
[ "$MODE" = prepare ] && { say "ready: $(cat "$CACHE/kernel/package"), $CACHE/initramfs.cpio.gz"; exit 0; }

JOB=$(mktemp -d "$CACHE/job.XXXXXX") || die "cannot create a job directory under $CACHE"
trap 'cp -f "$JOB/console.log" "$CACHE/last-console.log" 2>/dev/null; rm -rf "$JOB"' EXIT
write_job "$JOB" "$@"

# softlockup_panic: a lab kernel whose CPUs stopped scheduling (seen: both, for minutes, while
# ember ran a test guest) panics, and panic=-1 with -no-reboot ends QEMU, so run.sh goes on in
# a new lab instead of waiting out its whole timeout.
APPEND="console=ttyS0 loglevel=5 panic=-1 softlockup_panic=1 mitigations=off tsc=reliable"
APPEND="$APPEND lab.src=$SRC lab.job=$JOB lab.ver=$(cat "$CACHE/kernel/version")"
[ "$MODE" = shell ] && APPEND="$APPEND lab.mode=shell"
[ -n "$KVM_AMD" ] && APPEND="$APPEND lab.kvm_amd=$KVM_AMD"
QEMU=(qemu-system-x86_64 -machine q35 -accel "$ACCEL" -cpu "$CPU" -smp "$SMP" -m "$MEM"
	-kernel "$CACHE/kernel/vmlinuz" -initrd "$CACHE/initramfs.cpio.gz" -append "$APPEND"
	-fsdev "local,id=fs0,path=/,security_model=none,readonly=on,multidevs=remap"
	-fsdev "local,id=fs1,path=$SRC,security_model=none,multidevs=remap"
	# vectors=0: no MSI-X (QEMU 7.2's TCG once aborted in msix_table_mmio_write here).
	-device "virtio-9p-pci,fsdev=fs0,mount_tag=hostroot,vectors=0"
	-device "virtio-9p-pci,fsdev=fs1,mount_tag=checkout,vectors=0"
	-nic none -no-reboot -display none -monitor none)

if [ "$MODE" = shell ]; then
	say "booting the lab; 'exit' leaves it"
	"${QEMU[@]}" -chardev stdio,id=con,signal=off -serial chardev:con
	exit 0
fi

say "booting the lab (QEMU -accel $ACCEL, -cpu $CPU, -smp $SMP,${KVM_AMD:+ kvm_amd $KVM_AMD,} ${MEM} MiB; timeout ${TIMEOUT} s)"
# The job's exit status arrives in $JOB/rc before the lab powers off; should the lab kernel
# fail to power off (a CPU that stopped answering), QEMU is stopped 30 s after it.
boot_lab() {
	timeout -k 10 "$TIMEOUT" "${QEMU[@]}" -serial "file:$JOB/console.log" -serial stdio </dev/null &
	qpid=$!
	(
		# A lab kernel that reports a lockup or an RCU stall and has not recovered (its
		# panic ends QEMU) 120 s later is stopped: it may be too wedged even to panic.
		wedged=0 t0=$(date +%s)
		while kill -0 "$qpid" 2>/dev/null && [ ! -s "$JOB/rc" ]; do
			# A lab that has not started the command BOOT_LIMIT s after QEMU did hung in
			# its boot (seen once: no console line for 50 min); a new one usually boots.
			if [ ! -e "$JOB/started" ] && [ $(($(date +%s) - t0)) -gt "$BOOT_LIMIT" ]; then
				echo "lab: the lab has not started the command ${BOOT_LIMIT} s after QEMU did; stopping it" >&2
				kill -TERM "$qpid" 2>/dev/null
				exit 0
			fi
			# stage2 writes a heartbeat every 10 s once the command runs.
			if [ -e "$JOB/heartbeat" ] &&
				[ $(($(date +%s) - $(stat -c %Y "$JOB/heartbeat" 2>/dev/null || date +%s))) -gt 180 ]; then
				echo "lab: the lab has stopped (no heartbeat for 180 s); stopping it" >&2
				kill -TERM "$qpid" 2>/dev/null
				exit 0
			fi
			if grep -aqE 'soft lockup|hard LOCKUP|rcu_preempt detected stalls' "$JOB/console.log" 2>/dev/null; then
				wedged=$((wedged + 1))
				if [ "$wedged" -ge 120 ]; then
					echo "lab: the lab's kernel reported a lockup and has not recovered in 120 s; stopping it" >&2
					kill -TERM "$qpid" 2>/dev/null
					exit 0
				fi
			fi
			sleep 1
		done
		for _ in $(seq 30); do kill -0 "$qpid" 2>/dev/null || exit 0; sleep 1; done
		echo "lab: the lab did not power off 30 s after the command ended; stopping it" >&2
		kill -TERM "$qpid" 2>/dev/null
	) &
	wpid=$!
	wait "$qpid"
	qrc=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
}
boot_lab
# QEMU itself failing before the command started (stage2 writes $JOB/started) is retried once.
if [ "$qrc" -ne 0 ] && [ "$qrc" -ne 124 ] && [ "$qrc" -ne 137 ] && [ ! -e "$JOB/started" ]; then
	echo "lab: qemu-system-x86_64 exited $qrc before the command started; booting the lab again" >&2
	cp -f "$JOB/console.log" "$CACHE/failed-boot-console.log" 2>/dev/null
	boot_lab
fi
[ "$qrc" -ne 0 ] && [ -s "$JOB/rc" ] && qrc=0
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "lab: timed out after ${TIMEOUT} s; the command was stopped" >&2
	exit 124
fi
lab_console() {
	echo "lab: the lab kernel's last console lines:" >&2
	tail -n 30 "$JOB/console.log" 2>/dev/null | sed 's/^/lab:   /' >&2
}
[ "$qrc" -eq 0 ] || { lab_console; die "qemu-system-x86_64 exited $qrc"; }
[ -s "$JOB/rc" ] || lab_console
[ -s "$JOB/rc" ] || die "the lab stopped before the command finished (no exit status; see the console above)"
rc=$(cat "$JOB/rc")
case "$rc" in lab-error:*) die "${rc#lab-error:}" ;; esac
exit "$rc"
