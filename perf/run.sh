#!/usr/bin/env bash
# perf/run.sh: ember measured side by side with QEMU microvm (the performance issue).
# `make perf` runs it after `make all`; see perf/README.md for what each figure means.
#
# Writes perf/results/*.csv, perf/results/SUMMARY.md and perf/results/boot_time.png.
# Run counts (environment, defaults chosen so the whole run stays well under 20 minutes on a
# 2-core machine; QUICK=1 divides them for a smoke run):
#   STARTUP_RUNS (200)  start-up to API ready, per variant
#   FIRST_RUNS   (30)   InstanceStart / exec to first guest instruction, per VMM and config
#   BOOT_RUNS    (25)   InstanceStart / exec to guest init, per VMM and config
#   MEM_RUNS     (5)    memory overhead samples per VMM
#   DENSITY_ROUNDS (3)  rounds of 1, 10 and 50 VMs at once, per VMM
#   BENCH_RUNS   (5)    block throughput runs per VMM and workload (phase 2)
#   NET_RUNS     (3)    runs of the net tests whose figures are reported
#   RESTORE_RUNS (50)   snapshot restores per VMM, backend and size (perf/restore.sh; its own
#                       SIZES, VSOCK_RUNS, CLONES_N, CLONES_PSS apply too)
# About 6 minutes on the idle 2-core build machine (plus the build); if the run has taken
# more than BUDGET_S (900) seconds by the throughput section, that section runs once only.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RES=${RES:-perf/results}
QEMU=${QEMU:-qemu-system-x86_64}
EMBER=$BUILD/ember
JAILER=$BUILD/ember-jailer
GUEST=$BUILD/guest/guest-pvh.elf
PB=$BUILD/perf
CC=${CC:-cc}
div=1
[ "${QUICK:-0}" = 1 ] && div=5
STARTUP_RUNS=$(( ${STARTUP_RUNS:-200} / div ))
FIRST_RUNS=$(( ${FIRST_RUNS:-30} / div ))
BOOT_RUNS=$(( ${BOOT_RUNS:-25} / div ))
MEM_RUNS=${MEM_RUNS:-5}
DENSITY_ROUNDS=${DENSITY_ROUNDS:-3}
BENCH_RUNS=${BENCH_RUNS:-5}
NET_RUNS=${NET_RUNS:-3}
BUDGET_S=${BUDGET_S:-900}
if [ "${QUICK:-0}" = 1 ]; then MEM_RUNS=1 DENSITY_ROUNDS=1 BENCH_RUNS=1 NET_RUNS=1; fi
[ "$BOOT_RUNS" -ge 3 ] || BOOT_RUNS=3
[ "$FIRST_RUNS" -ge 3 ] || FIRST_RUNS=3

log() { echo "perf: $*" >&2; }
die() { echo "perf: $*" >&2; exit 1; }

perf/deps.sh || die "missing packages"
[ -x "$EMBER" ] || die "$EMBER missing: run make"
[ -f "$GUEST" ] || die "$GUEST missing: run make guest"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || die "/dev/kvm not usable"
command -v "$QEMU" >/dev/null || die "$QEMU not installed"

W=$(mktemp -d /tmp/ember-perf.XXXXXX)
TAPS=()
CGROOT=""
cleanup() {
	local t
	for t in "${TAPS[@]}"; do ip link del "$t" 2>/dev/null; done
	[ -n "$CGROOT" ] && for t in "$CGROOT"/ember-perf-$$-*; do [ -d "$t" ] && rmdir "$t" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && log "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$RES" "$PB" "$W/out"
rm -f "$RES"/*.csv "$RES"/*.txt "$RES"/*.png "$RES"/SUMMARY.md

# ---- tools: the harness, the KVM floor, the tiny guest, a static ember for the jail ----
$CC -O2 -Wall -Wextra -o "$PB/vmtime" perf/vmtime.c || die "cannot build vmtime"
$CC -O2 -Wall -Wextra -pthread -o "$PB/kvmfloor" perf/kvmfloor.c || die "cannot build kvmfloor"
$CC -O2 -Wall -Wextra -fPIE -pie -o "$PB/sockfloor" perf/sockfloor.c || die "cannot build sockfloor"
$CC -c -o "$PB/firstinsn.o" perf/firstinsn.S &&
	ld -nostdlib -static -z noexecstack --build-id=none -z max-page-size=4096 \
		-T perf/firstinsn.ld -o "$PB/firstinsn.elf" "$PB/firstinsn.o" || die "cannot build firstinsn.elf"
TINY=$PB/firstinsn.elf
STATIC=""
if [ -f "$BUILD/obj/src/main.o" ] && [ -f "$BUILD/libember.a" ] &&
	$CC -static-pie -pthread -Wl,-z,relro,-z,now,-z,noexecstack -o "$PB/ember-static" \
		"$BUILD/obj/src/main.o" "$BUILD/libember.a" -lseccomp -lcap-ng -luring 2>"$W/static.err"; then
	STATIC=$PB/ember-static
else
	log "no static ember: $(head -c 300 "$W/static.err" 2>/dev/null)"
fi
VT=$PB/vmtime
RAW=$W/raw.csv
: >"$RAW"
T_ALL=$(date +%s.%N)
sect_t0=0
section() { sect_t0=$(date +%s.%N); log "$*"; echo "$1" >"$W/cur_section"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
section_end() { echo "$1,$(elapsed "$sect_t0")" >>"$W/sections.csv"; }

# vmt LABEL RUN [vmtime options] -- command...: one harness run, output saved under $W/out.
vmt() {
	local label=$1 run=$2
	shift 2
	"$VT" -o "$RAW" -l "$label" -R "$run" --save "$W/out/${label//:/_}.$run.%i.out" "$@"
}

# ---- machine ----
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host=$(uname -n)"
	echo "kernel=$(uname -srvm)"
	echo "os=Debian $(cat /etc/debian_version 2>/dev/null)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "cores=$(nproc)"
	echo "mem_total_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
	echo "kvm=$( [ -d /sys/module/kvm_pvm ] && echo 'nested, PVM backend (kvm_pvm)' || \
		{ [ -d /sys/module/kvm_intel ] && echo kvm_intel; } || { [ -d /sys/module/kvm_amd ] && echo kvm_amd; } || echo unknown)"
	echo "where=${EMBER_PERF_HOST:-directly on the /dev/kvm of this host}"
	echo "commit=$(git rev-parse HEAD 2>/dev/null || echo none)"
	echo "tree=$(git status --porcelain 2>/dev/null | grep -c . | sed 's/^0$/clean/;s/^[0-9]*$/& files modified or untracked/')"
	echo "ember=$("$EMBER" --version 2>&1 | head -1)"
	echo "ember_static=${STATIC:+yes}"
	echo "ember_link=$(readelf -l "$EMBER" 2>/dev/null | grep -q 'program interpreter' && echo dynamic || echo static)"
	echo "jailer=$([ -x "$JAILER" ] && echo yes || echo no)"
	echo "qemu=$("$QEMU" --version | head -1)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "runs=startup:$STARTUP_RUNS first:$FIRST_RUNS boot:$BOOT_RUNS mem:$MEM_RUNS density_rounds:$DENSITY_ROUNDS bench:$BENCH_RUNS net:$NET_RUNS restore:${RESTORE_RUNS:-50}/div${div}"
} >"$W/machine.txt"

# A memory cgroup per measured group of VMs (v1 memory hierarchy, or cgroup2 with the memory
# controller): its usage is everything charged to the VMs, kernel-side KVM state included.
CGROOT=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -z "$CGROOT" ]; then
	CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$CGROOT" ] && ! grep -qw memory "$CGROOT/cgroup.subtree_control" 2>/dev/null && CGROOT=""
fi
# newcg NAME: prints a fresh cgroup directory, or nothing (removed by cleanup).
newcg() {
	[ -n "$CGROOT" ] || return 0
	local d=$CGROOT/ember-perf-$$-$1
	mkdir "$d" 2>/dev/null || return 0
	echo "$d"
}

# ====== 1. start-up to API ready ======
section startup "1. start-up to API ready ($STARTUP_RUNS runs per variant, alternated)"
JBASE=$W/jail
mkdir -p "$JBASE"
for r in $(seq "$STARTUP_RUNS"); do
	vmt startup:ember "$r" --sock "$W/api.sock" --get --kill-ready --timeout 10 -- \
		"$EMBER" --api-sock "$W/api.sock"
	[ -n "$STATIC" ] && vmt startup:ember-static "$r" --sock "$W/api.sock" --get --kill-ready \
		--timeout 10 -- "$STATIC" --api-sock "$W/api.sock"
	if [ -x "$JAILER" ] && [ -n "$STATIC" ]; then
		vmt startup:ember-jailer "$r" --sock "$JBASE/ember-static/p$r/root/run/api.sock" --get \
			--kill-ready --timeout 10 -- "$JAILER" --id "p$r" --exec-file "$STATIC" \
			--uid 12345 --gid 12345 --chroot-base-dir "$JBASE" -- --api-sock /run/api.sock
		rm -rf "$JBASE/ember-static/p$r"
	fi
	vmt startup:sockfloor "$r" --sock "$W/floor.sock" --kill-ready --timeout 10 -- \
		"$PB/sockfloor" "$W/floor.sock"
	vmt startup:qemu-qmp "$r" --sock "$W/qmp.sock" --kill-ready --timeout 10 -- \
		"$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm -cpu host \
		-m 128 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
		-kernel "$TINY" -S -qmp "unix:$W/qmp.sock,server=on,wait=off"
done
section_end startup

# Callgrind: user-mode instructions of ember from exec to the API ready (then SIGTERM), and of a
# whole config-file life with the tiny guest (start-up, build, first instruction, reset, exit).
if command -v valgrind >/dev/null; then
	vmt cg:startup 1 --sock "$W/cg.sock" --get --kill-ready --timeout 60 -- valgrind --tool=callgrind \
		--callgrind-out-file="$W/cg.startup" "$EMBER" --no-seccomp --api-sock "$W/cg.sock"
	printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}\n' \
		"$TINY" >"$W/tiny.json"
	vmt cg:build 1 --mark '!' --timeout 60 -- valgrind --tool=callgrind \
		--callgrind-out-file="$W/cg.build" "$EMBER" --no-seccomp --no-api --config-file "$W/tiny.json"
	for k in startup build; do
		callgrind_annotate "$W/cg.$k" 2>/dev/null >"$RES/callgrind_$k.txt"
	done
fi

# ====== 2. InstanceStart / exec to first guest instruction and to guest init ======
CONFIGS="1x128 4x128 1x2048 4x2048"
reqfile() { # reqfile FILE KERNEL ARGS VCPUS MEM
	{
		printf 'PUT /boot-source {"kernel_image_path": "%s", "boot_args": "%s"}\n' "$2" "$3"
		printf 'PUT /machine-config {"vcpu_count": %s, "mem_size_mib": %s}\n' "$4" "$5"
		printf 'PUT /actions {"action_type": "InstanceStart"}\n'
	} >"$1"
}
cfgfile() { # cfgfile FILE KERNEL ARGS VCPUS MEM [extra json]
	printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "%s"},\n "machine-config": {"vcpu_count": %s, "mem_size_mib": %s}%s}\n' \
		"$2" "$3" "$4" "$5" "${6:-}" >"$1"
}

section first "2a. first guest instruction (tiny PVH guest, $FIRST_RUNS runs per VMM and config)"
for cfg in $CONFIGS; do
	c=${cfg%x*} m=${cfg#*x}
	reqfile "$W/tiny.$cfg.req" "$TINY" "console=ttyS0" "$c" "$m"
	cfgfile "$W/tiny.$cfg.json" "$TINY" "console=ttyS0" "$c" "$m"
	for r in $(seq "$FIRST_RUNS"); do
		vmt "first:ember-api:$cfg" "$r" --sock "$W/api.sock" --req "$W/tiny.$cfg.req" --mark '!' \
			--mark 'Guest-boot-time' --timeout 20 -- "$EMBER" --api-sock "$W/api.sock" --boot-timer
		vmt "first:ember-exec:$cfg" "$r" --mark '!' --timeout 20 -- \
			"$EMBER" --no-api --boot-timer --config-file "$W/tiny.$cfg.json"
		vmt "first:qemu-exec:$cfg" "$r" --mark '!' --timeout 20 -- \
			"$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm -cpu host \
			-m "$m" -smp "$c" -nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$TINY" -device isa-debug-exit,iobase=0xf4,iosize=1
	done
	"$PB/kvmfloor" "$FIRST_RUNS" "$m" | sed "s/^/$cfg,/" >>"$W/kvmfloor.csv"
done
section_end first

# Where ember's build time goes: every syscall of the main thread from the config-file
# start to the vCPU thread's first KVM_RUN, timed by strace -T (5 runs, 1x128).
if command -v strace >/dev/null; then
	for r in 1 2 3 4 5; do
		strace -f -tt -T -o "$W/strace.$r.txt" "$EMBER" --no-api --no-seccomp --config-file \
			"$W/tiny.1x128.json" >/dev/null 2>&1
	done
fi

section boot "2b. guest init (test guest, $BOOT_RUNS runs per VMM and config)"
PROBES=boot,e820,serial,mptable
for cfg in $CONFIGS; do
	c=${cfg%x*} m=${cfg#*x}
	ea="console=ttyS0 reboot=k panic=1 probe=$PROBES expect_entry=pvh expect_mem_mib=$m expect_cpus=$c e820_layout=firecracker boot_timer"
	qa="probe=$PROBES expect_entry=pvh expect_mem_mib=$m expect_cpus=$c e820_sanitize mp_ignore_count boot_timer"
	reqfile "$W/guest.$cfg.req" "$GUEST" "$ea" "$c" "$m"
	cfgfile "$W/guest.$cfg.json" "$GUEST" "$ea" "$c" "$m"
	marks=(--mark 'GUEST entry' --mark 'PROBE DONE' --mark 'PROBE DONE pass=4 fail=0' --mark 'Guest-boot-time')
	for r in $(seq "$BOOT_RUNS"); do
		vmt "boot:ember-api:$cfg" "$r" --sock "$W/api.sock" --req "$W/guest.$cfg.req" "${marks[@]}" \
			--timeout 30 -- "$EMBER" --api-sock "$W/api.sock" --boot-timer
		vmt "boot:ember-exec:$cfg" "$r" "${marks[@]}" --timeout 30 -- \
			"$EMBER" --no-api --boot-timer --config-file "$W/guest.$cfg.json"
		vmt "boot:qemu-exec:$cfg" "$r" "${marks[@]}" --timeout 30 -- \
			"$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm -cpu host \
			-m "$m" -smp "$c" -nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$GUEST" -append "$qa"
	done
done
section_end boot

# ====== 3. memory overhead with the guest booted, idle, and devices attached ======
section memory "3. memory overhead ($MEM_RUNS samples per VMM)"
mkdisk() {
	python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        s = b"EMBER-SECTOR %d" % i
        f.write(s + b"\0" * (512 - len(s)))
PY
}
mkdisk "$W/disk-e.img" 2048
mkdisk "$W/disk-q.img" 2048
MEMARGS="probe=blk,idle blk_expect=1 blk_write_sector=100"
DRIVE='"drives": [{"drive_id": "rootfs", "path_on_host": "'$W/disk-e.img'", "is_root_device": true, "is_read_only": false}]'
# A tap device each, when ember takes network interfaces; vsock when ember takes it.
NET_E="" NET_Q=() DEVS_E="blk" DEVS_Q="blk"
if ip tuntap add dev embperf0 mode tap 2>/dev/null && ip tuntap add dev qemperf0 mode tap 2>/dev/null; then
	TAPS+=(embperf0 qemperf0)
	ip link set embperf0 up; ip link set qemperf0 up
	NET_E=', "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "embperf0", "guest_mac": "AA:FC:00:00:00:01"}]'
	cfgfile "$W/nettry.json" "$GUEST" "console=ttyS0 probe=boot" 1 128 ", $DRIVE$NET_E"
	if timeout 20 "$EMBER" --no-api --config-file "$W/nettry.json" >"$W/nettry.out" 2>&1; then
		DEVS_E="blk+net"
		NET_Q=(-netdev tap,id=n0,ifname=qemperf0,script=no,downscript=no -device virtio-net-device,netdev=n0)
		DEVS_Q="blk+net"
	else
		NET_E=""
		echo "ember-net=refused: $(grep -m1 -iE 'error|invalid|not supported' "$W/nettry.out" | cut -c1-160)" >>"$W/notes.txt"
	fi
else
	echo "ember-net=no tap device could be created" >>"$W/notes.txt"
fi
VSOCK_E=', "vsock": {"guest_cid": 3, "uds_path": "'$W/v.sock'"}'
cfgfile "$W/vsocktry.json" "$GUEST" "console=ttyS0 probe=boot" 1 128 ", $DRIVE$NET_E$VSOCK_E"
if timeout 20 "$EMBER" --no-api --config-file "$W/vsocktry.json" >"$W/vsocktry.out" 2>&1; then
	DEVS_E="$DEVS_E+vsock"
else
	VSOCK_E=""
	echo "ember-vsock=refused: $(grep -m1 -iE 'error|invalid|not supported' "$W/vsocktry.out" | cut -c1-160)" >>"$W/notes.txt"
fi
rm -f "$W/v.sock"*
echo "qemu-vsock=not offered: no /dev/vhost-vsock on this host (QEMU's vsock needs vhost)" >>"$W/notes.txt"
echo "devices_ember=$DEVS_E" >>"$W/notes.txt"
echo "devices_qemu=$DEVS_Q" >>"$W/notes.txt"
cfgfile "$W/mem.json" "$GUEST" "console=ttyS0 $MEMARGS" 1 128 ", $DRIVE$NET_E$VSOCK_E"
# memrun LABEL RUN command...: one VM held at its third idle tick, smaps and cgroup read.
memrun() {
	local label=$1 r=$2 cg
	shift 2
	cg=$(newcg "$label-$r")
	awk '/^MemAvailable/ { print $2 }' /proc/meminfo >"$W/base"
	vmt "$label" "$r" --mark 'PROBE blk PASS' --hold 'PROBE TICK 3' --timeout 30 ${cg:+--cgroup "$cg"} \
		--hold-cmd "python3 perf/smaps.py --out $W/mem.csv --label $label:$r --mem-mib 128 --baseline $W/base --dump $W/smaps ${cg:+--cgroup $cg}" \
		-- "$@"
	rm -f "$W/v.sock"*
}
for r in $(seq "$MEM_RUNS"); do
	memrun mem:ember "$r" "$EMBER" --no-api --config-file "$W/mem.json"
	[ -n "$STATIC" ] && memrun mem:ember-static "$r" "$STATIC" --no-api --config-file "$W/mem.json"
	memrun mem:qemu "$r" "$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm -cpu host \
		-m 128 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
		-kernel "$GUEST" -append "$MEMARGS" \
		-drive "id=d0,file=$W/disk-q.img,format=raw,if=none" -device virtio-blk-device,drive=d0 "${NET_Q[@]}"
done
# The per-mapping tables of the first sample of each, for the record.
for v in ember ember-static qemu; do
	f=$(ls "$W"/smaps/mem:$v:1.*.txt 2>/dev/null | head -1)
	[ -n "$f" ] && head -40 "$f" >"$RES/smaps_$v.txt"
done
section_end memory

# ====== 4. launch density: 1, 10 and 50 microVMs at once ======
section density "4. launch density ($DENSITY_ROUNDS rounds of 1, 10, 50 VMs per VMM)"
DA="console=ttyS0 reboot=k panic=1 probe=boot,e820,serial expect_entry=pvh expect_mem_mib=128 e820_layout=firecracker boot_timer"
DQ="probe=boot,e820,serial expect_entry=pvh expect_mem_mib=128 e820_sanitize boot_timer"
cfgfile "$W/dens.json" "$GUEST" "$DA" 1 128
cfgfile "$W/densidle.json" "$GUEST" "console=ttyS0 probe=idle" 1 128
dmarks=(--mark 'GUEST entry' --mark 'PROBE DONE' --mark 'PROBE DONE pass=3 fail=0' --mark 'Guest-boot-time')
for round in $(seq "$DENSITY_ROUNDS"); do
	for n in 1 10 50; do
		vmt "dens:ember:$n" "$round" -n "$n" "${dmarks[@]}" --timeout 180 -- \
			"$EMBER" --no-api --boot-timer --config-file "$W/dens.json"
		vmt "dens:qemu:$n" "$round" -n "$n" "${dmarks[@]}" --timeout 180 -- \
			"$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm -cpu host \
			-m 128 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$GUEST" -append "$DQ"
		# The same number kept running (idle guest): host memory per VM.
		if [ "$round" = 1 ]; then
			cg=$(newcg "dens-ember-$n")
			awk '/^MemAvailable/ { print $2 }' /proc/meminfo >"$W/base"
			vmt "densmem:ember:$n" 1 -n "$n" --hold 'PROBE TICK 3' --timeout 180 ${cg:+--cgroup "$cg"} \
				--hold-cmd "python3 perf/smaps.py --out $W/densmem.csv --label densmem:ember:$n --mem-mib 128 --baseline $W/base ${cg:+--cgroup $cg}" \
				-- "$EMBER" --no-api --config-file "$W/densidle.json"
			cg=$(newcg "dens-qemu-$n")
			awk '/^MemAvailable/ { print $2 }' /proc/meminfo >"$W/base"
			vmt "densmem:qemu:$n" 1 -n "$n" --hold 'PROBE TICK 3' --timeout 180 ${cg:+--cgroup "$cg"} \
				--hold-cmd "python3 perf/smaps.py --out $W/densmem.csv --label densmem:qemu:$n --mem-mib 128 --baseline $W/base ${cg:+--cgroup $cg}" \
				-- "$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false -enable-kvm \
				-cpu host -m 128 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
				-serial stdio -kernel "$GUEST" -append "probe=idle"
		fi
	done
done
section_end density

# ====== 5. device throughput (phase 2) ======
section bench "5. device throughput"
if awk -v a="$T_ALL" -v b="$(date +%s.%N)" -v l="$BUDGET_S" 'BEGIN { exit !(b - a > l) }'; then
	echo "budget=over $BUDGET_S s before the throughput section: it ran once only" >>"$W/notes.txt"
	BENCH_RUNS=1 NET_RUNS=1
fi
if [ -x perf/bench.sh ]; then
	BUILD=$BUILD W=$W VT=$VT RAW=$RAW BENCH_RUNS=$BENCH_RUNS NET_RUNS=$NET_RUNS EMBER=$EMBER \
		QEMU=$QEMU GUEST=$GUEST perf/bench.sh || echo "bench=perf/bench.sh failed" >>"$W/notes.txt"
else
	echo "bench=not done (perf/bench.sh absent)" >>"$W/notes.txt"
fi
section_end bench

# ====== 6. snapshot restore: ember (File, Uffd) vs QEMU microvm's migration stream ======
section restore "6. snapshot restore (perf/restore.sh)"
RESTORE_RUNS=${RESTORE_RUNS:-50}
if awk -v a="$T_ALL" -v b="$(date +%s.%N)" -v l="$BUDGET_S" 'BEGIN { exit !(b - a > l) }'; then
	echo "budget_restore=over $BUDGET_S s before the restore section: 10 restores per variant" >>"$W/notes.txt"
	RESTORE_RUNS=10
fi
BUILD=$BUILD RES=$RES QEMU=$QEMU RUNS=$RESTORE_RUNS RESTORE_IN_RUN=1 perf/restore.sh ||
	echo "restore=perf/restore.sh failed (see its messages above)" >>"$W/notes.txt"
section_end restore

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$W/machine.txt"
echo "total_s=$(elapsed "$T_ALL")" >>"$W/machine.txt"
cp "$W/machine.txt" "$RES/machine.txt"
[ -f "$W/notes.txt" ] && cp "$W/notes.txt" "$RES/notes.txt"

# ====== report ======
python3 perf/report.py --work "$W" --results "$RES" || die "report failed"
log "done: $RES/SUMMARY.md"
