#!/usr/bin/env bash
# perf/bench.sh: device throughput, called by perf/run.sh (phase 2 of the performance issue).
#
# Block: the test guest's "blk-bench" probe (tests/guest/bench_blk.c) keeps many virtio-blk
# requests in flight from a ring-3 loop (native speed here, unlike guest kernel code), one
# notification per batch (EVENT_IDX), polling the used ring, no interrupts. Four workloads,
# each on a fresh boot, alternated between ember (io_engine Sync), ember (io_engine Async,
# io_uring) and QEMU microvm's virtio-blk-device (its defaults: cache=writeback, aio=threads),
# BENCH_RUNS times. The backing file (256 MiB, written once, so in the host page cache) is
# the same for all. The host timestamps the guest's "BENCH start" and "BENCH done" lines and
# samples every VMM thread's CPU time at both (perf/vmtime --task-cpu).
#
# Net: the figures tests/integration/net.sh and qemu_net.sh print (ping RTT, UDP packets/s)
# for ember and QEMU, NET_RUNS times each, alternated. Vsock: a test that prints a
# throughput (tests/integration/vsock*.sh) when there is one.
#
# Environment (from run.sh): BUILD W VT RAW BENCH_RUNS EMBER QEMU GUEST.
set -u
NET_RUNS=${NET_RUNS:-2}
mkdir -p "$W/taskcpu" "$W/out"
vmt() {
	local label=$1 run=$2
	shift 2
	"$VT" -o "$RAW" -l "$label" -R "$run" --save "$W/out/${label//:/_}.$run.%i.out" "$@"
}

if ! grep -q '"blk-bench"' tests/guest/probe.c 2>/dev/null; then
	echo "bench=not done: the test guest has no blk-bench probe" >>"$W/notes.txt"
	exit 0
fi
IMG=$W/bench.img
head -c 256M /dev/zero >"$IMG" || { echo "bench=cannot create $IMG" >>"$W/notes.txt"; exit 0; }

WORKLOADS="seqread:read:seq:131072:32:1024 seqwrite:write:seq:131072:32:512 randread:read:rand:4096:32:128 randwrite:write:rand:4096:32:64"
for r in $(seq "$BENCH_RUNS"); do
	for wl in $WORKLOADS; do
		IFS=: read -r name op pat bs qd mib <<<"$wl"
		args="probe=blk-bench bench_op=$op bench_pattern=$pat bench_bs=$bs bench_qd=$qd bench_mib=$mib"
		marks=(--mark 'BENCH start' --mark 'BENCH done' --mark 'PROBE DONE pass=1 fail=0')
		for engine in Sync Async; do
			printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0 %s"},\n "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},\n "drives": [{"drive_id": "bench", "path_on_host": "%s", "is_root_device": false, "is_read_only": false, "cache_type": "Unsafe", "io_engine": "%s"}]}\n' \
				"$GUEST" "$args" "$IMG" "$engine" >"$W/bench.json"
			v=ember; [ $engine = Async ] && v=ember-async
			vmt "bench:$v:$name" "$r" "${marks[@]}" --task-cpu "$W/taskcpu/bench_${v}_$name.$r" \
				--timeout 120 -- "$EMBER" --no-api --config-file "$W/bench.json"
		done
		vmt "bench:qemu:$name" "$r" "${marks[@]}" --task-cpu "$W/taskcpu/bench_qemu_$name.$r" \
			--timeout 120 -- "$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false \
			-enable-kvm -cpu host -m 128 -smp 1 -nodefaults -no-user-config -display none \
			-no-reboot -serial stdio -kernel "$GUEST" -append "$args" \
			-drive "id=d0,file=$IMG,format=raw,if=none" -device virtio-blk-device,drive=d0
	done
done
rm -f "$IMG"

# Net and vsock: the integration tests' own figures.
: >"$W/netbench.txt"
for r in $(seq "$NET_RUNS"); do
	for t in net qemu_net; do
		[ -f "tests/integration/$t.sh" ] || continue
		BUILD=$BUILD timeout 300 bash "tests/integration/$t.sh" 2>&1 |
			grep -E "^PASS $t/net: .*rtt_us=" | sed "s/^/$t $r /" >>"$W/netbench.txt"
	done
done
[ -s "$W/netbench.txt" ] || echo "bench_net=not measured: tests/integration/net.sh / qemu_net.sh absent or failing" >>"$W/notes.txt"
: >"$W/vsockbench.txt"
for f in tests/integration/vsock*.sh; do
	[ -f "$f" ] || continue
	BUILD=$BUILD timeout 300 bash "$f" 2>&1 | grep -E '^PASS .*([0-9.]+ ?(MB/s|MiB/s|Mbit/s|Gbit/s)|throughput|bytes_per_s)' |
		sed "s|^|$(basename "$f" .sh) 1 |" >>"$W/vsockbench.txt"
done
[ -s "$W/vsockbench.txt" ] || echo "bench_vsock=not measured: no tests/integration/vsock*.sh printing a throughput at run time (ember's vsock device was not merged yet; QEMU has no vsock here without /dev/vhost-vsock)" >>"$W/notes.txt"
exit 0
