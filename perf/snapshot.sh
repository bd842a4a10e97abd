#!/usr/bin/env bash
# perf/snapshot.sh: how fast ember restores a snapshot, and what clones cost in memory.
#
# The test guest (probe=idle, ticking every 100 ms) with 2 vCPUs, a drive and vsock, booted,
# paused and snapshotted once per memory size (SIZES, default "128 1024" MiB); then RUNS
# (default 50) loads, each in a fresh ember: the PUT /snapshot/load request's wall time (curl),
# ember's own load time (its "loaded ... us" log line: request parsed to vCPUs restored) and
# the time to the guest's first tick after the load. Then CLONES (default 10) embers load the
# 128 MiB snapshot at once and run for 2 s: their summed PSS beside 10 x guest RAM.
# Writes perf/results/snapshot.csv and prints medians and p99. Needs a working /dev/kvm
# (run it in the lab on hosts without one: tests/lab/lab.sh -- perf/snapshot.sh).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EMBER=$BUILD/ember
GUEST=$BUILD/guest/guest.elf
RES=${RES:-perf/results}
RUNS=${RUNS:-50}
SIZES=${SIZES:-128 1024}
CLONES=${CLONES:-10}
W=$(mktemp -d)
trap 'pkill -KILL -P $$ 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$RES"

start() { # NAME: ember with its API at $W/NAME.sock; sets PID
	rm -f "$W/$1.sock"
	"$EMBER" --api-sock "$W/$1.sock" --id "$1" </dev/null >"$W/$1.out" 2>&1 &
	PID=$!
	for _ in $(seq 500); do [ -S "$W/$1.sock" ] && break; sleep 0.01; done
}
api() { curl -s --unix-socket "$W/$1.sock" -X "$2" "http://localhost$3" ${4:+-d "$4"} \
	-w '%{http_code} %{time_total}' -o /dev/null; }
pct() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR - 1) * p / 100) + 1; print v[i] }'; }

head -c 4194304 /dev/zero >"$W/disk.img"
echo "size_mib,run,request_ms,ember_us,first_tick_ms" >"$RES/snapshot.csv"
for mib in $SIZES; do
	start src
	api src PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": $mib}" >/dev/null
	api src PUT /boot-source "{\"kernel_image_path\": \"$GUEST\", \"boot_args\": \"console=ttyS0 probe=idle\"}" >/dev/null
	api src PUT /drives/d "{\"drive_id\": \"d\", \"path_on_host\": \"$W/disk.img\", \"is_root_device\": false, \"is_read_only\": false}" >/dev/null
	api src PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$W/src.vsock\"}" >/dev/null
	api src PUT /actions '{"action_type": "InstanceStart"}' >/dev/null
	for _ in $(seq 100); do grep -q 'PROBE TICK 3' "$W/src.out" && break; sleep 0.05; done
	api src PATCH /vm '{"state": "Paused"}' >/dev/null
	r=$(api src PUT /snapshot/create "{\"snapshot_path\": \"$W/$mib.snap\", \"mem_file_path\": \"$W/$mib.mem\"}")
	{ kill -KILL $PID; wait $PID; } 2>/dev/null
	[ "${r%% *}" = 204 ] || { echo "snapshot of $mib MiB failed: $r" >&2; exit 1; }
	for i in $(seq "$RUNS"); do
		start "l$i"
		t0=$(date +%s%N)
		r=$(api "l$i" PUT /snapshot/load "{\"snapshot_path\": \"$W/$mib.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/$mib.mem\"}, \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$W/l$i.vsock\"}}")
		n0=$(grep -c 'PROBE TICK' "$W/l$i.out")
		while [ "$(grep -c 'PROBE TICK' "$W/l$i.out")" -le "$n0" ] && [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ]; do
			sleep 0.001
		done
		tick=$(( ($(date +%s%N) - t0) / 1000000 ))
		us=$(sed -n 's/.*loaded: .* \([0-9]*\) us$/\1/p' "$W/l$i.out" | tail -1)
		echo "$mib,$i,$(awk '{ printf "%.2f", $2 * 1000 }' <<<"$r"),${us:-},$tick" >>"$RES/snapshot.csv"
		{ kill -KILL $PID; wait $PID; } 2>/dev/null
	done
	for col in 3 4 5; do
		name=$(head -1 "$RES/snapshot.csv" | cut -d, -f$col)
		vals=$(awk -F, -v m="$mib" -v c="$col" '$1 == m { print $c }' "$RES/snapshot.csv")
		echo "$mib MiB $name: median $(pct 50 <<<"$vals") p99 $(pct 99 <<<"$vals") (n=$RUNS)"
	done
done

# Clones share the memory file's pages: summed PSS against CLONES x guest RAM.
pids=()
for i in $(seq "$CLONES"); do
	start "c$i"
	api "c$i" PUT /snapshot/load "{\"snapshot_path\": \"$W/128.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/128.mem\"}, \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$W/c$i.vsock\"}}" >/dev/null
	pids+=("$PID")
done
sleep 2
pss=0
for p in "${pids[@]}"; do
	pss=$((pss + $(awk '/^Pss:/ { s += $2 } END { print s }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
done
echo "$CLONES clones of a 128 MiB guest: summed PSS $((pss / 1024)) MiB (10 x guest RAM would be $((CLONES * 128)) MiB)" |
	tee "$RES/snapshot_clones.txt"
for p in "${pids[@]}"; do { kill -KILL "$p"; wait "$p"; } 2>/dev/null; done
