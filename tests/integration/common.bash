# common.bash: shared helpers for ember's integration tests (sourced, not run).
#
# A test sets T (its name) before sourcing, then reports with pass/fail/skip;
# finish prints nothing more and exits non-zero if anything failed.
BUILD=${BUILD:-build}
EMBER=${EMBER:-$BUILD/ember}
GUEST_DIR=${GUEST_DIR:-$BUILD/guest}
fails=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $T/$1${2:+: $2}"; }
fail() { echo "FAIL $T/$1: $2"; fails=$((fails + 1)); }
skip() { echo "SKIP $T/$1: $2"; }
finish() { [ "$fails" -eq 0 ]; exit; }

# need_tools TOOL...: each is on PATH, else a FAIL naming the missing one and the end.
need_tools() {
	local t
	for t; do
		command -v "$t" >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
	done
}

# need_root WHY: root, else a FAIL saying WHY it is needed and the end.
need_root() { [ "$(id -u)" = 0 ] || { fail root "needs root ($1)"; finish; }; }

# need_linux_io: Debian's cloud kernel and the initramfs and ext4 root linux_io's prepare step
# makes (tests/linux/guest_io.sh prepare), else a FAIL and the end.
need_linux_io() {
	local f
	for f in "$BUILD/kernel/vmlinux" "$BUILD/linux-io/initramfs.cpio.gz" "$BUILD/linux-io/root.ext4"; do
		[ -s "$f" ] || { fail images "$f missing (tests/linux/guest_io.sh prepare, linux_io's prepare step)"; finish; }
	done
}

# Linux tests run embers (their pids in PIDS) in a network namespace (NS): on exit both go,
# with TMP.
PIDS=()
NS=""
linux_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}

# ns_taps NS HOST_CIDR TAP...: the network namespace NS (lo up; linux_cleanup deletes it) with
# each TAP up in it, the first given HOST_CIDR unless that is empty; else a FAIL and the end.
ns_taps() {
	local cidr=$2 t
	NS=$1
	shift 2
	trap linux_cleanup EXIT
	ip netns add "$NS" && ip netns exec "$NS" ip link set lo up || { fail setup "cannot make the network namespace $NS"; finish; }
	for t; do
		ip netns exec "$NS" ip tuntap add dev "$t" mode tap &&
			{ [ -z "$cidr" ] || ip netns exec "$NS" ip addr add "$cidr" dev "$t"; } &&
			ip netns exec "$NS" ip link set "$t" up || { fail setup "cannot set up $t in $NS"; finish; }
		cidr=
	done
}

# CRC-32 (zlib's) from gzip's trailer: no interpreter to start, which counts in the lab.
crc32_stdin() { gzip -c | tail -c 8 | od -An -tx4 -N4 | tr -d ' \n'; echo; }
crc32_str() { printf '%s' "$1" | crc32_stdin; }
crc32_file() { crc32_stdin <"$1"; }

# with_crc ARGS: ARGS plus cmdline_crc=<CRC-32 of "ARGS "> for the guest's cmdline probe.
with_crc() { echo "$1 cmdline_crc=$(crc32_str "$1 ")"; }

# wait_line FILE REGEX SECONDS PID: a line of FILE matches REGEX (0), or PID ended or the time ran out (1).
wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# json_str S: S as a JSON string literal.
json_str() {
	local s=$1 out="" c i
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		$'\n') out+='\n' ;;
		$'\t') out+='\t' ;;
		[[:cntrl:]]) out+=$(printf '\\u%04x' "'$c") ;;
		*) out+=$c ;;
		esac
	done
	printf '"%s"\n' "$out"
}

# mkconfig FILE KERNEL BOOT_ARGS VCPUS MEM_MIB [INITRD]: a Firecracker config file.
mkconfig() {
	local f=$1 k=$2 args=$3 cpus=$4 mem=$5 initrd=${6:-}
	{
		printf '{"boot-source": {"kernel_image_path": %s, "boot_args": %s' \
			"$(json_str "$k")" "$(json_str "$args")"
		[ -n "$initrd" ] && printf ', "initrd_path": %s' "$(json_str "$initrd")"
		printf '},\n "machine-config": {"vcpu_count": %s, "mem_size_mib": %s}}\n' "$cpus" "$mem"
	} >"$f"
}

# run_ember OUT TIMEOUT ARGS...: run ember with stdin from /dev/null; sets RC and MS (wall ms).
run_ember() {
	local out=$1 to=$2 s e
	shift 2
	s=$(date +%s%N)
	timeout -k 5 "$to" "$EMBER" "$@" </dev/null >"$out" 2>&1
	RC=$?
	e=$(date +%s%N)
	MS=$(( (e - s) / 1000000 ))
}

need_ember() {
	if [ ! -x "$EMBER" ]; then
		fail build "$EMBER missing (run make)"
		finish
	fi
	if [ ! -w /dev/kvm ]; then
		fail kvm "/dev/kvm is not usable here (tests/run.sh runs this test in the lab on such hosts)"
		finish
	fi
}

# need_qemu IMG: skip the whole test (exit 0) unless QEMU, the guest image @IMG, /dev/kvm and
# python3 are all there. Sets QEMU (overridable from the environment).
need_qemu() {
	QEMU=${QEMU:-qemu-system-x86_64}
	if ! command -v "$QEMU" >/dev/null; then
		skip all "$QEMU not installed"; exit 0
	fi
	if [ ! -f "$1" ]; then
		skip all "$1 missing (run make guest)"; exit 0
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		fail kvm "/dev/kvm is not usable here (tests/run.sh runs this test in the lab on such hosts)"; finish
	fi
	if ! command -v python3 >/dev/null; then
		skip all "python3 (for CRC-32) not installed"; exit 0
	fi
}

# mkdisk FILE SECTORS: a disk in the test guest's pattern: sector i is "EMBER-SECTOR <i>", then NULs.
mkdisk() {
	python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        s = b"EMBER-SECTOR %d" % i
        f.write(s + b"\0" * (512 - len(s)))
PY
}
