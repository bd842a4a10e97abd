#!/usr/bin/env bash
# snapshot_diff.sh: Diff snapshots (track_dirty_pages) and ember-snap-merge, with the test guest
# (2 vCPUs, 128 MiB, a drive of random bytes, no vsock: nothing but the guest changes RAM
# between two snapshots of one pause). Its blk-bench probe reads the drive at random into
# 16 MiB of guest buffers from ring 3 (the device writes them: ember's own dirty bitmap),
# then its idle probe ticks ("PROBE TICK <n>", a counter in guest RAM: KVM's dirty log):
#   chain     Full "base" while the bench reads; Diff "d1" a moment later, then Full "f1" of the
#             same pause: base merged with d1 is f1 byte for byte (the pages the device wrote
#             are in d1). Once ticking, Full "t", a few ticks, Diff "d2" and Full "f2": t merged
#             with d2 is f2;
#   sizes     d2's allocated blocks: far below its length and below its base t's;
#   load      d2's state file with the merged memory file in a fresh ember (track_dirty_pages
#             on): it ticks on from the tick after d2, and its own Diff merges to its own Full;
#   refusals  Diff without tracking (Firecracker's words, no file left behind), loading a Diff's
#             memory file unmerged or with another VM's memory, merging files of two lengths.
# ember-test: kvm-any
T=snapshot_diff
. "$(dirname "$0")/common.bash"
need_ember
MERGE=${MERGE:-$BUILD/ember-snap-merge}
for t in python3 curl cmp; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
[ -x "$MERGE" ] || { fail deps "$MERGE is missing (make tools)"; finish; }
. "$(dirname "$0")/embers.bash"
snap() { # NAME FILE TYPE: PUT /snapshot/create of FILE.snap and FILE.mem
	api "$1" PUT /snapshot/create "{\"snapshot_path\": \"$TMP/$2.snap\", \"mem_file_path\": \"$TMP/$2.mem\", \"snapshot_type\": \"$3\"}"
}
alloc() { echo $(( $(stat -c %b "$1") * 512 )); }
kib() { echo "$(( $1 / 1024 )) KiB"; }

head -c $((16 << 20)) /dev/urandom >"$TMP/disk.img"
ARGS="console=ttyS0 probe=blk-bench,idle bench_pattern=rand bench_bs=131072 bench_qd=128 bench_mib=${DIFF_BENCH_MIB:-6000}"
start a
A=$PID
st="$(api a PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "track_dirty_pages": true}')"
st="$st|$(api a PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"$ARGS\"}")"
st="$st|$(api a PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$TMP/disk.img\", \"is_root_device\": false, \"is_read_only\": true}")"
st="$st|$(api a PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$st" = "204 |204 |204 |204 " ] && wait_line "$TMP/a.out" 'BENCH start' 20 $A; then
	pass boot "blk-bench reading"
else
	fail boot "statuses $st; $(tail -c 300 "$TMP/a.out")"
	finish
fi

# ---- while the device writes guest RAM --------------------------------------------------
sleep 0.2
r=$(api a PATCH /vm '{"state": "Paused"}')
r="$r|$(snap a base Full)|$(api a PATCH /vm '{"state": "Resumed"}')"
sleep 0.3
r="$r|$(api a PATCH /vm '{"state": "Paused"}')"
busy=$(grep -c 'BENCH done' "$TMP/a.out")
r="$r|$(snap a d1 Diff)|$(snap a f1 Full)"
if [ "$r" = "204 |204 |204 |204 |204 |204 " ]; then
	pass snapshots-mid-bench "base, d1, f1$([ "$busy" = 0 ] && echo ', the bench still reading' || echo ' (the bench was done: raise DIFF_BENCH_MIB)')"
else
	fail snapshots-mid-bench "$r; $(tail -c 300 "$TMP/a.out")"
	finish
fi
cp --sparse=always "$TMP/base.mem" "$TMP/merged.mem"
out=$("$MERGE" "$TMP/merged.mem" "$TMP/d1.mem" 2>&1)
if [ $? = 0 ] && cmp -s "$TMP/merged.mem" "$TMP/f1.mem"; then
	pass merge-d1 "base + d1 = f1; ${out#ember-snap-merge: }"
else
	fail merge-d1 "$out; $(cmp "$TMP/merged.mem" "$TMP/f1.mem" 2>&1 | head -1)"
fi

# ---- ticking: KVM's dirty log -------------------------------------------------------------
r=$(api a PATCH /vm '{"state": "Resumed"}')
if ! wait_line "$TMP/a.out" 'PROBE TICK 3$' 60 $A; then
	fail ticking "$r; $(tail -c 300 "$TMP/a.out")"
	finish
fi
# The bench went on after f1: a Full snapshot "t" starts d2 from the idle guest.
r="$r|$(api a PATCH /vm '{"state": "Paused"}')|$(snap a t Full)|$(api a PATCH /vm '{"state": "Resumed"}')"
T1=$(last_tick "$TMP/a.out")
ticks_after "$TMP/a.out" $((T1 + 5)) 20
r="$r|$(api a PATCH /vm '{"state": "Paused"}')"
sleep 0.3
T2=$(last_tick "$TMP/a.out")
r="$r|$(snap a d2 Diff)|$(snap a f2 Full)"
[ "$r" = "204 |204 |204 |204 |204 |204 |204 " ] && pass diff-ticking "t after tick $T1, d2 after tick $T2" ||
	fail diff-ticking "$r"
len=$(stat -c %s "$TMP/d2.mem")
d2=$(alloc "$TMP/d2.mem")
b=$(alloc "$TMP/t.mem")
d1=$(alloc "$TMP/d1.mem")
if [ "$len" = 134217728 ] && [ "$d2" -lt $((len / 16)) ] && [ "$d2" -lt $((b / 4)) ]; then
	pass sizes "d2 allocated $(kib "$d2") of $(kib "$len"), its base t $(kib "$b"); d1 (mid-bench) $(kib "$d1")"
else
	fail sizes "d2 allocated $d2 of $len; its base t $b; d1 $d1"
fi
cp --sparse=always "$TMP/t.mem" "$TMP/merged.mem"
out=$("$MERGE" "$TMP/merged.mem" "$TMP/d2.mem" 2>&1)
if [ $? = 0 ] && cmp -s "$TMP/merged.mem" "$TMP/f2.mem"; then
	pass merge-d2 "t + d2 = f2; ${out#ember-snap-merge: }"
else
	fail merge-d2 "$out; $(cmp "$TMP/merged.mem" "$TMP/f2.mem" 2>&1 | head -1)"
fi
kill -KILL $A 2>/dev/null

# ---- load the Diff's state file with the merged memory -------------------------------------
start b
B=$PID
r=$(api b PUT /snapshot/load "{\"snapshot_path\": \"$TMP/d2.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/merged.mem\"}, \"track_dirty_pages\": true, \"resume_vm\": true}")
if [ "${r%% *}" = 204 ] && ticks_after "$TMP/b.out" "$T2" 20; then
	first=$(grep -ao 'PROBE TICK [0-9]*' "$TMP/b.out" | head -1 | awk '{print $3}')
	[ "$first" = $((T2 + 1)) ] && pass load-merged "first tick $first after $T2" ||
		fail load-merged "first tick $first, the Diff was after $T2"
else
	fail load-merged "$r; $(tail -c 400 "$TMP/b.out")"
fi
ticks_after "$TMP/b.out" $((T2 + 3)) 20
r=$(api b PATCH /vm '{"state": "Paused"}')
r="$r|$(snap b d3 Diff)|$(snap b f3 Full)"
cp --sparse=always "$TMP/merged.mem" "$TMP/merged3.mem"
out=$("$MERGE" "$TMP/merged3.mem" "$TMP/d3.mem" 2>&1)
if [ "$r" = "204 |204 |204 " ] && cmp -s "$TMP/merged3.mem" "$TMP/f3.mem"; then
	pass diff-after-load "loaded + d3 = f3; d3 allocated $(kib "$(alloc "$TMP/d3.mem")")"
else
	fail diff-after-load "$r; $out; $(cmp "$TMP/merged3.mem" "$TMP/f3.mem" 2>&1 | head -1)"
fi
kill -KILL $B 2>/dev/null

# ---- refusals -----------------------------------------------------------------------------
start c
r=$(api c PUT /snapshot/load "{\"snapshot_path\": \"$TMP/f2.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/f2.mem\"}}")
r2=$(snap c x Diff)
if [ "${r%% *}" = 204 ] && [ "${r2%% *}" = 400 ] &&
   grep -q 'Diff snapshots are not allowed on uVMs with dirty page tracking disabled' <<<"$r2" &&
   [ ! -e "$TMP/x.snap" ] && [ ! -e "$TMP/x.mem" ]; then
	pass refuse-diff-untracked "${r2:4:120}"
else
	fail refuse-diff-untracked "$r | $r2"
fi
r=$(snap c y Full)
[ "${r%% *}" = 204 ] && pass full-untracked || fail full-untracked "$r"
kill -KILL $PID 2>/dev/null
start d
r=$(api d PUT /snapshot/load "{\"snapshot_path\": \"$TMP/d2.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/d2.mem\"}}")
r2=$(api d GET /)
[ "${r%% *}" = 400 ] && grep -q 'merge it onto' <<<"$r" && grep -q 'Not started' <<<"$r2" &&
	pass refuse-unmerged "${r:4:140}" || fail refuse-unmerged "$r | $r2"
head -c 134217728 /dev/urandom >"$TMP/other.mem"
r=$(api d PUT /snapshot/load "{\"snapshot_path\": \"$TMP/d2.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/other.mem\"}}")
[ "${r%% *}" = 400 ] && grep -q 'does not hold the memory' <<<"$r" &&
	pass refuse-other-base "${r:4:120}" || fail refuse-other-base "$r"
kill -KILL $PID 2>/dev/null
head -c 1048576 /dev/zero >"$TMP/short.mem"
out=$("$MERGE" "$TMP/short.mem" "$TMP/d2.mem" 2>&1)
[ $? = 1 ] && grep -q 'not memory files of one microVM' <<<"$out" &&
	pass refuse-merge-lengths "${out#ember-snap-merge: }" || fail refuse-merge-lengths "$out"
finish
