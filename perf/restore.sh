#!/usr/bin/env bash
# perf/restore.sh: snapshot restore, ember vs QEMU microvm's migration stream, in one run.
# perf/run.sh runs it as its section 6; it also runs alone (then prints the table).
#
# The test guest (guest-pvh.elf, probe=idle with a tick every 10 ms: idle_tick_ms=10), 2 vCPUs,
# a 4 MiB drive, and (ember) vsock; per memory size (SIZES, MiB):
#   ember   booted, paused at its third tick, PUT /snapshot/create; then RUNS loads per backend
#           (BACKENDS: File, and Uffd served on demand by build/uffd-handler), each in a fresh
#           ember: exec to API ready, PUT /snapshot/load (resume_vm) to its 204, ember's own
#           "loaded ... us" log line, load to the guest's first tick, exec to the first tick.
#           A second snapshot of the guest listening on vsock (probe=vsock-listen, port 5000):
#           VSOCK_RUNS loads per backend, load to the guest accepting a host connection
#           ("CONNECT 5000" through the restored vsock's Unix socket answered "OK").
#   QEMU    the same guest on QEMU microvm (perf/run.sh's command line, 2 vCPUs, the drive; no
#           vsock: QEMU's needs /dev/vhost-vsock) booted to its third tick, saved over QMP with
#           migrate "exec:cat > FILE"; then RUNS restores, each a fresh QEMU with
#           -incoming "exec:cat FILE": exec to QMP ready, to QMP saying running, to the first tick.
#   clones  CLONES_N embers (default 20) started at once, each loading the smallest snapshot
#           (File): time until all have ticked, clones per second; then CLONES_PSS (10) clones'
#           summed PSS.
#   callgrind  one File load of the smallest snapshot under valgrind: ember's instructions in
#           vmm_snapshot_load (request parsed to vCPUs resumed; user mode), and the whole process
#           (exec, API, load, running to the first tick, SIGTERM, exit).
# Writes RES/restore.csv (one row per run), restore_clones.csv, restore_callgrind_*.txt,
# restore_notes.txt. perf/report.py turns them into SUMMARY.md's "Snapshot restore" table.
#
# Environment: BUILD (build), RES (perf/results), RUNS (50), VSOCK_RUNS (RUNS), SIZES
# ("128 1024"), BACKENDS ("File Uffd"), CLONES_N (20), CLONES_PSS (10), QUICK=1 (divides the
# run counts by 5), RESTORE_TIMEOUT (30 s per run), QEMU (qemu-system-x86_64), QEMU_ACCEL (kvm;
# "tcg" only to check the mechanics on a host whose KVM QEMU cannot use: its times mean nothing),
# NO_QEMU=1, NO_CALLGRIND=1.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RES=${RES:-perf/results}
EMBER=$BUILD/ember
HANDLER=$BUILD/uffd-handler
GUEST=$BUILD/guest/guest-pvh.elf
QEMU=${QEMU:-qemu-system-x86_64}
div=1
[ "${QUICK:-0}" = 1 ] && div=5
RUNS=$(( ${RUNS:-50} / div ))
[ "$RUNS" -ge 3 ] || RUNS=3
VSOCK_RUNS=$(( ${VSOCK_RUNS:-$((RUNS * div))} / div ))
[ "$VSOCK_RUNS" -ge 3 ] || VSOCK_RUNS=3
SIZES=${SIZES:-128 1024}
BACKENDS=${BACKENDS:-File Uffd}
CLONES_N=${CLONES_N:-20}
CLONES_PSS=${CLONES_PSS:-10}
TMO=${RESTORE_TIMEOUT:-30}
ARGS="console=ttyS0 probe=idle idle_tick_ms=10"
LARGS="console=ttyS0 probe=vsock-listen vsock_listen_port=5000 vsock_timeout=100000"
PY=perf/restore.py

log() { echo "restore: $*" >&2; }
die() { echo "restore: $*" >&2; exit 1; }
[ -x "$EMBER" ] || die "$EMBER missing: run make"
[ -f "$GUEST" ] || die "$GUEST missing: run make guest"
grep -q idle_tick_ms tests/guest/idle.c || die "the test guest has no idle_tick_ms"
command -v python3 >/dev/null && command -v curl >/dev/null || die "python3 and curl needed (perf/deps.sh)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || die "/dev/kvm not usable (make perf runs this in the lab)"

if [[ " $BACKENDS " == *" Uffd "* ]] && [ ! -x "$HANDLER" ]; then
	die "$HANDLER missing (make tools builds it), or leave Uffd out of BACKENDS"
fi
W=$(mktemp -d /tmp/ember-restore.XXXXXX)
SRC=""
cleanup() {
	[ -n "$SRC" ] && { kill -KILL "$SRC"; wait "$SRC"; } 2>/dev/null
	[ -n "${KEEP:-}" ] && log "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$RES"
CSV=$RES/restore.csv
NOTES=$RES/restore_notes.txt
rm -f "$CSV" "$RES"/restore_clones.csv "$RES"/restore_callgrind_*.txt "$NOTES"
note() { echo "$1" >>"$NOTES"; }
note "restore_runs=$RUNS vsock:$VSOCK_RUNS sizes:$SIZES backends:$BACKENDS clones:$CLONES_N pss:$CLONES_PSS"
head -c 4194304 /dev/zero >"$W/disk.img"
head -c 4194304 /dev/zero >"$W/qdisk.img"

api() { # NAME METHOD PATH [JSON]: "<status>"
	curl -s --max-time 30 --unix-socket "$W/$1.sock" -X "$2" "http://localhost$3" \
		-H 'Content-Type: application/json' ${4:+-d "$4"} -o "$W/$1.resp" -w '%{http_code}'
}
wait_for() { # FILE TEXT SECONDS
	local i
	for ((i = 0; i < $3 * 100; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.01; done
	return 1
}

# snapshot NAME MIB BOOTARGS READY-LINE: boot ember, pause after READY-LINE, snapshot to
# $W/NAME.snap and $W/NAME.mem.
snapshot() {
	local n=$1 mib=$2 st
	rm -f "$W/$n.sock"
	"$EMBER" --api-sock "$W/$n.sock" --id "$n" </dev/null >"$W/$n.out" 2>&1 &
	SRC=$!
	for _ in $(seq 500); do [ -S "$W/$n.sock" ] && break; sleep 0.01; done
	st="$(api "$n" PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": $mib}")"
	st="$st $(api "$n" PUT /boot-source "{\"kernel_image_path\": \"$GUEST\", \"boot_args\": \"$3\"}")"
	st="$st $(api "$n" PUT /drives/d "{\"drive_id\": \"d\", \"path_on_host\": \"$W/disk.img\", \"is_root_device\": false, \"is_read_only\": false}")"
	st="$st $(api "$n" PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$W/$n.vsock\"}")"
	st="$st $(api "$n" PUT /actions '{"action_type": "InstanceStart"}')"
	if [ "$st" != "204 204 204 204 204" ] || ! wait_for "$W/$n.out" "$4" 60; then
		log "ember $n ($mib MiB) did not boot to '$4': statuses $st; $(tail -c 300 "$W/$n.out")"
		{ kill -KILL "$SRC"; wait "$SRC"; } 2>/dev/null; SRC=""
		return 1
	fi
	st="$(api "$n" PATCH /vm '{"state": "Paused"}')"
	st="$st $(api "$n" PUT /snapshot/create "{\"snapshot_path\": \"$W/$n.snap\", \"mem_file_path\": \"$W/$n.mem\"}")"
	{ kill -KILL "$SRC"; wait "$SRC"; } 2>/dev/null; SRC=""
	if [ "$st" != "204 204" ]; then
		log "ember $n: pause/snapshot answered $st: $(cat "$W/$n.resp")"
		return 1
	fi
	note "snapshot_$n=$(stat -c %s "$W/$n.snap") bytes state, $(( $(stat -c %b "$W/$n.mem") * 512 >> 10 )) KiB of memory file allocated"
}

# loads LABEL SIZE BACKEND SNAPNAME COUNT [restore.py options]
loads() {
	local label=$1 mib=$2 be=$3 snap=$4 count=$5 h=()
	shift 5
	[ "$be" = Uffd ] && h=(--handler "$HANDLER")
	python3 $PY ember-load --csv "$CSV" --label "$label" --size "$mib" --backend "$be" \
		--snap "$W/$snap.snap" --mem "$W/$snap.mem" --work "$W" --runs "$count" \
		--timeout "$TMO" "${h[@]}" "$@" -- "$EMBER"
}

case "${QEMU_ACCEL:-kvm}" in
kvm) QACC=(-enable-kvm -cpu host) ;;
tcg) QACC=(-accel tcg -cpu max); note "qemu_accel=tcg: QEMU ran under TCG (a check of the mechanics only: its times are not comparable)" ;;
*) die "QEMU_ACCEL is kvm or tcg" ;;
esac
qemu_cmd() { # MIB: QEMU microvm as perf/run.sh starts it, with 2 vCPUs, the drive and QMP
	echo "$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false "${QACC[@]}" -m "$1" \
		-smp 2 -nodefaults -no-user-config -display none -no-reboot -serial stdio \
		-kernel "$GUEST" -append "'$ARGS'" \
		-drive "id=d0,file=$W/qdisk.img,format=raw,if=none" -device virtio-blk-device,drive=d0 \
		-qmp "unix:$W/qmp.sock,server=on,wait=off"
}
QEMU_OK=1
if [ "${NO_QEMU:-0}" = 1 ]; then
	QEMU_OK=0; note "qemu=not run (NO_QEMU=1)"
elif ! command -v "$QEMU" >/dev/null; then
	QEMU_OK=0; note "qemu=not run: $QEMU not installed"
fi

for mib in $SIZES; do
	log "$mib MiB: snapshots"
	ok_idle=1 ok_listen=1
	snapshot "idle$mib" "$mib" "$ARGS" 'PROBE TICK 3' || { ok_idle=0; note "ember_$mib=no snapshot of the ticking guest"; }
	snapshot "listen$mib" "$mib" "$LARGS" 'VSOCK listen ready' || { ok_listen=0; note "ember_vsock_$mib=no snapshot of the listening guest"; }
	if [ "$QEMU_OK" = 1 ]; then
		if out=$(eval python3 $PY qemu-save --qmp "$W/qmp.sock" --out "$W/q$mib.mig" --wait-line "'PROBE TICK 3'" \
			--work "$W" --timeout 120 -- "$(qemu_cmd "$mib")"); then
			note "qemu_stream_$mib=${out#qemu-save: }"
		else
			note "qemu_$mib=the migration stream could not be saved: $(tail -c 300 "$W/qemu-save.out" | tr '\n' ' ')"
		fi
	fi
	# Alternated in blocks of 5 runs so that drifting background load hits every variant alike.
	done_runs=0
	while [ "$done_runs" -lt "$RUNS" ]; do
		k=$(( RUNS - done_runs < 5 ? RUNS - done_runs : 5 ))
		log "$mib MiB: restores $((done_runs + 1))-$((done_runs + k)) of $RUNS"
		if [ "$ok_idle" = 1 ]; then
			for be in $BACKENDS; do loads "$be" "$mib" "$be" "idle$mib" "$k"; done
		fi
		if [ "$QEMU_OK" = 1 ] && [ -s "$W/q$mib.mig" ]; then
			eval python3 $PY qemu-incoming --csv "$CSV" --label migration --size "$mib" \
				--qmp "$W/qmp.sock" --work "$W" --runs "$k" --timeout "$TMO" -- \
				"$(qemu_cmd "$mib")" -incoming "'exec:cat $W/q$mib.mig'"
		fi
		done_runs=$((done_runs + k))
	done
	if [ "$ok_listen" = 1 ]; then
		log "$mib MiB: $VSOCK_RUNS loads per backend to the guest answering on vsock"
		for be in $BACKENDS; do loads "$be-vsock" "$mib" "$be" "listen$mib" "$VSOCK_RUNS" --vsock-port 5000; done
	fi
done

# Clones: the smallest size's ticking snapshot.
small=$(tr ' ' '\n' <<<"$SIZES" | sort -n | head -1)
if [ -s "$W/idle$small.snap" ]; then
	log "clones: $CLONES_N at once, then $CLONES_PSS for their PSS"
	echo "what,clones,size_mib,all_ticked_ms,clones_per_s,pss_kib,ok" >"$RES/restore_clones.csv"
	for what in rate:$CLONES_N pss:$CLONES_PSS; do
		c_clones="" c_all_ticked_ms="" c_clones_per_s="" c_pss_kib="" c_ok=""
		line=$(python3 $PY clones --n "${what#*:}" --snap "$W/idle$small.snap" --mem "$W/idle$small.mem" \
			--work "$W" --timeout $((TMO * 4)) -- "$EMBER")
		echo "restore: $line" >&2
		[[ "$line" =~ ^clones=[0-9]+( [a-z_]+=[0-9.]*)*$ ]] &&
			eval "$(sed 's/\([a-z_]*\)=\([^ ]*\)/c_\1=\2;/g' <<<"$line")"
		echo "${what%%:*},${c_clones:-${what#*:}},$small,${c_all_ticked_ms:-},${c_clones_per_s:-},${c_pss_kib:-},${c_ok:-0}" >>"$RES/restore_clones.csv"
	done
fi

# Callgrind: one File load of the smallest snapshot; SIGTERM after the first tick, so that
# valgrind writes its counts. --no-seccomp: valgrind's own system calls would be refused.
if [ "${NO_CALLGRIND:-0}" = 1 ]; then
	note "callgrind=not run (NO_CALLGRIND=1)"
elif ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
	note "callgrind=not run: valgrind missing (perf/deps.sh installs it)"
elif [ -s "$W/idle$small.snap" ]; then
	log "callgrind: one load under valgrind"
	for k in load process; do
		opt=()
		[ $k = load ] && opt=(--collect-atstart=no --toggle-collect=vmm_snapshot_load)
		python3 $PY ember-load --csv "$W/cg.csv" --label "callgrind-$k" --size "$small" --backend File \
			--snap "$W/idle$small.snap" --mem "$W/idle$small.mem" --work "$W" --runs 1 \
			--timeout $((TMO * 10)) --term-wait 60 -- valgrind --tool=callgrind --fair-sched=yes \
			"${opt[@]}" --callgrind-out-file="$W/cg.$k" "$EMBER" --no-seccomp
		if [ -s "$W/cg.$k" ] && callgrind_annotate "$W/cg.$k" >"$RES/restore_callgrind_$k.txt" 2>/dev/null; then
			note "callgrind_$k=$(grep -m1 'PROGRAM TOTALS' "$RES/restore_callgrind_$k.txt" | awk '{ print $1 }')"
		else
			rm -f "$RES/restore_callgrind_$k.txt"
			note "callgrind_$k=no counts: $(tail -c 200 "$W/ember.1.out" 2>/dev/null | tr '\n' ' ')"
		fi
	done
	tail -n +2 "$W/cg.csv" 2>/dev/null | sed 's/^/callgrind_run=/' >>"$NOTES"
fi

if [ -z "${RESTORE_IN_RUN:-}" ]; then
	python3 perf/report.py --restore-only --results "$RES" || die "report failed"
fi
exit 0
