#!/usr/bin/env bash
# rate_limit: a drive's rate_limiter is enforced (Firecracker's semantics). The test guest's
# blk-bench reads from ring 3 with 32 requests in flight; ember must hold them on the ring:
#   bandwidth  1 MiB/s, 8 MiB read: the first MiB from the full bucket, 7 s for the rest;
#   ops        8 a second, 32 requests: 8 at once, 3 s for the rest;
#   burst      1 MiB/s with a one-time burst of 7 MiB: 8 MiB read without a single throttle;
#   PATCH      256 KiB/s (8 MiB would take 31 s), raised to 64 MiB/s once the guest is
#              waiting: the read ends at once.
# Only lower bounds on time (an unenforced limiter breaks them) and what the metrics count.
# ember-test: kvm-any
T=rate_limit
. "$(dirname "$0")/common.bash"
need_ember

mkdisk "$TMP/disk.img" 65536   # 32 MiB

# rlconfig FILE MIB RATE_LIMITER_JSON [BS]: blk-bench reading MIB MiB, metrics to FILE.metrics.
rlconfig() {
	cat >"$1" <<EOF
{"boot-source": {"kernel_image_path": "$GUEST_DIR/guest.elf",
  "boot_args": "console=ttyS0 probe=blk-bench bench_mib=$2${4:+ bench_bs=$4}"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
 "drives": [{"drive_id": "rootfs", "path_on_host": "$TMP/disk.img", "is_root_device": true,
             "is_read_only": true${3:+, \"rate_limiter\": $3}}],
 "metrics": {"metrics_path": "$1.metrics"}}
EOF
}

# metric FILE GROUP.NAME: a counter summed over every line of a metrics file.
metric() {
	python3 -c 'import json, sys
g, k = sys.argv[2].split(".")
print(sum(json.loads(l).get(g, {}).get(k, 0) for l in open(sys.argv[1]) if l.strip()))' "$1" "$2" 2>/dev/null || echo missing
}

# bench NAME MIB RATE_LIMITER_JSON: run it; sets MS, and THR, EVT, BYTES from the metrics.
bench() {
	rlconfig "$TMP/$1.json" "$2" "$3"
	run_ember "$TMP/$1.out" 120 --no-api --config-file "$TMP/$1.json"
	THR=$(metric "$TMP/$1.json.metrics" block.rate_limiter_throttled_events)
	EVT=$(metric "$TMP/$1.json.metrics" block.rate_limiter_event_count)
	BYTES=$(metric "$TMP/$1.json.metrics" block.read_bytes)
	DEV_BYTES=$(metric "$TMP/$1.json.metrics" block_rootfs.read_bytes)
	if [ "$RC" -ne 0 ] || ! grep -q '^PROBE blk-bench PASS' "$TMP/$1.out"; then
		fail "$1" "rc=$RC: $(grep -aE '^(PROBE|BENCH)' "$TMP/$1.out" | tr '\n' ' ')"
		return 1
	fi
}

MIB=$((1 << 20))
if bench unlimited 8 ""; then
	[ "$THR" = 0 ] && [ "$BYTES" = $((8 * MIB)) ] &&
		pass unlimited "8 MiB in $MS ms, no throttling" ||
		fail unlimited "throttled=$THR read_bytes=$BYTES"
	# The drive's own metric group (Firecracker's block_<drive_id>) counts what the guest read.
	[ "$DEV_BYTES" = $((8 * MIB)) ] && pass device-metrics "block_rootfs.read_bytes=$DEV_BYTES" ||
		fail device-metrics "block_rootfs.read_bytes=$DEV_BYTES, block.read_bytes=$BYTES"
fi

if bench bandwidth 8 '{"bandwidth": {"size": 1048576, "refill_time": 1000}}'; then
	if [ "$MS" -ge 6500 ] && [ "$THR" -gt 0 ] && [ "$EVT" -gt 0 ] && [ "$BYTES" = $((8 * MIB)) ]; then
		pass bandwidth "8 MiB at 1 MiB/s in $MS ms (>= 7 s less the bucket's first MiB); $THR throttles, $EVT timer events"
	else
		fail bandwidth "8 MiB at 1 MiB/s in $MS ms (want >= 6500); throttled=$THR events=$EVT read_bytes=$BYTES"
	fi
fi

if bench ops 4 '{"ops": {"size": 8, "refill_time": 1000}}'; then
	[ "$MS" -ge 2500 ] && [ "$THR" -gt 0 ] &&
		pass ops "32 requests at 8/s in $MS ms (>= 3 s less 8 at once); $THR throttles" ||
		fail ops "32 requests at 8/s in $MS ms (want >= 2500); throttled=$THR"
fi

if bench burst 8 '{"bandwidth": {"size": 1048576, "one_time_burst": 7340032, "refill_time": 1000}}'; then
	[ "$THR" = 0 ] && [ "$BYTES" = $((8 * MIB)) ] &&
		pass burst "8 MiB in $MS ms: 7 MiB of burst and the full bucket's 1 MiB, no throttling" ||
		fail burst "throttled=$THR read_bytes=$BYTES (the burst should have covered it)"
fi

# PATCH on a running VM: waiting requests go ahead under the new bucket.
rlconfig "$TMP/patch.json" 8 '{"bandwidth": {"size": 262144, "refill_time": 1000}}'
S=$TMP/api.sock
timeout -k 5 120 "$EMBER" --api-sock "$S" --config-file "$TMP/patch.json" </dev/null >"$TMP/patch.out" 2>&1 &
pid=$!
if ! wait_line "$TMP/patch.out" '^BENCH start' 60 "$pid"; then
	fail patch "no BENCH start: $(tail -n 3 "$TMP/patch.out" | tr '\n' ' ')"
else
	sleep 2   # at 256 KiB/s the guest now waits on the limiter
	if grep -q '^BENCH done' "$TMP/patch.out"; then
		fail patch "8 MiB read within 2 s at 256 KiB/s: the limiter did not hold it"
	else
		t0=$(date +%s%N)
		code=$(curl -s -o "$TMP/patch.body" -w '%{http_code}' -X PATCH --unix-socket "$S" \
			http://localhost/drives/rootfs -H 'Content-Type: application/json' \
			-d '{"drive_id": "rootfs", "rate_limiter": {"bandwidth": {"size": 67108864, "refill_time": 1000}}}')
		if [ "$code" != 204 ]; then
			fail patch "PATCH /drives/rootfs answered $code: $(cat "$TMP/patch.body")"
		elif wait_line "$TMP/patch.out" '^BENCH done' 20 "$pid"; then
			ms=$((($(date +%s%N) - t0) / 1000000))
			pass patch "PATCH to 64 MiB/s: the read ended $ms ms later (at 256 KiB/s it needed >= 31 s)"
		else
			fail patch "no BENCH done within 20 s of the PATCH: $(grep -a BENCH "$TMP/patch.out" | tr '\n' ' ')"
		fi
	fi
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
finish
