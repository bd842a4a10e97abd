#!/usr/bin/env bash
# snapshot.sh: PUT /snapshot/create and PUT /snapshot/load with the test guest (2 vCPUs, a drive,
# vsock), whose idle probe prints "PROBE TICK <n>" every 100 ms from a counter in guest RAM:
#   create    on a paused VM: a state file an independent reader (python, CRC-64/XZ written
#             here) finds whole, with the configuration, RAM size, VM, 2 vCPUs and every device;
#             a sparse memory file of the guest's RAM size; the original resumes and ticks on;
#   load      in a fresh ember with resume_vm: it ticks on from the tick after the last one the
#             original printed before the snapshot (not from 1: no reboot), takes Ctrl-Alt-Del
#             through the restored i8042 and interrupt controllers, and exits 0;
#   clones    three embers load the same files at once, each with its own vsock socket: all tick;
#   refusals  a damaged, truncated, foreign or newer-format state file, a memory file too small,
#             an unknown network override, load after configuration, create while running or to
#             a directory, Diff: each 400 with its reason, nothing half-restored (the refused
#             ember then boots the guest normally), no file left behind by a failed create.
# ember-test: kvm-any
T=snapshot
. "$(dirname "$0")/common.bash"
need_ember
for t in python3 curl; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
. "$(dirname "$0")/embers.bash"
load_body() { # SNAP MEM UDS [EXTRA]
	printf '{"snapshot_path": "%s", "mem_backend": {"backend_type": "File", "backend_path": "%s"}, "resume_vm": true, "vsock_override": {"uds_path": "%s"}%s}' \
		"$1" "$2" "$3" "${4:-}"
}

ARGS="console=ttyS0 probe=idle"
boot_ticking a
A=$PID

# ---- create ------------------------------------------------------------------------------
r=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_file_path\": \"$TMP/vm.mem\"}")
[ "${r%% *}" = 400 ] && grep -q 'not paused' <<<"$r" && [ ! -e "$TMP/vm.snap" ] &&
	pass create-running-refused "${r:0:100}" || fail create-running-refused "$r"
r=$(api a PATCH /vm '{"state": "Paused"}')
sleep 0.3
T0=$(last_tick "$TMP/a.out")
r=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_file_path\": \"$TMP/vm.mem\"}")
r2=$(api a GET /)
if [ "${r%% *}" = 204 ] && grep -q '"state":"Paused"' <<<"$r2" && [ -s "$TMP/vm.snap" ]; then
	pass create "after tick $T0"
else
	fail create "$r; $r2; $(tail -c 300 "$TMP/a.out")"
	finish
fi
r=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/d.snap\", \"mem_file_path\": \"$TMP/d.mem\", \"snapshot_type\": \"Diff\"}")
[ "${r%% *}" = 400 ] && grep -q 'dirty page tracking disabled' <<<"$r" && [ ! -e "$TMP/d.snap" ] && [ ! -e "$TMP/d.mem" ] &&
	pass create-diff-refused || fail create-diff-refused "$r"
mkdir "$TMP/dir"
r=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/x.snap\", \"mem_file_path\": \"$TMP/dir\"}")
[ "${r%% *}" = 400 ] && [ ! -e "$TMP/x.snap" ] && kill -0 $A &&
	pass create-bad-path-refused "${r:0:120}" || fail create-bad-path-refused "$r"

# The state file, read by a second implementation of its format.
cat >"$TMP/snapread.py" <<'PY'
import json, struct, sys
def crc64(b):
    c = 0xffffffffffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0xc96c5795d7870f42 if c & 1 else 0)
    return c ^ 0xffffffffffffffff
d = open(sys.argv[1], "rb").read()
magic, major, minor, nrec, blen, crc = struct.unpack_from("<8sHHIQQ", d, 0)
assert magic == b"EMBERSNP" and major == 1, (magic, major)
assert blen == len(d) - 32 and crc64(d[32:]) == crc, "length or CRC"
off, recs = 32, []
while off < len(d):
    typ, kind, idx, ln = struct.unpack_from("<HHIQ", d, off)
    ident = d[off + 16:off + 80].split(b"\0")[0].decode()
    recs.append((typ, kind, idx, ident, d[off + 80:off + 80 + ln]))
    off += 80 + (ln + 7) // 8 * 8
assert len(recs) == nrec
cfg = json.loads([r[4] for r in recs if r[0] == 1][0])
mem = struct.unpack("<QQ", [r[4] for r in recs if r[0] == 2][0])
print("vcpus=%d devices=%s mem=%d cfg_vcpus=%d cfg_drive=%s" % (
    sum(1 for r in recs if r[0] == 4), ",".join(sorted(r[3] for r in recs if r[0] == 5)),
    mem[0], cfg["machine-config"]["vcpu_count"], cfg["drives"][0]["drive_id"]))
PY
out=$(python3 "$TMP/snapread.py" "$TMP/vm.snap" 2>&1)
[ "$out" = "vcpus=2 devices=i8042,scratch,serial,vsock mem=134217728 cfg_vcpus=2 cfg_drive=scratch" ] &&
	pass state-file "$out" || fail state-file "$out"
size=$(stat -c %s "$TMP/vm.mem")
used=$(( $(stat -c %b "$TMP/vm.mem") * $(stat -c %B "$TMP/vm.mem") ))
[ "$size" = 134217728 ] && [ "$used" -lt $((size / 4)) ] &&
	pass memory-file "length $size, allocated $used" || fail memory-file "length $size, allocated $used"

r=$(api a PATCH /vm '{"state": "Resumed"}')
ticks_after "$TMP/a.out" "$T0" && pass original-resumes "tick $(last_tick "$TMP/a.out")" ||
	fail original-resumes "$r; $(tail -c 200 "$TMP/a.out")"
kill -KILL $A 2>/dev/null

# ---- load --------------------------------------------------------------------------------
start b
B=$PID
r=$(api b PUT /snapshot/load "$(load_body "$TMP/vm.snap" "$TMP/vm.mem" "$TMP/b.vsock")")
r2=$(api b GET /)
if [ "${r%% *}" = 204 ] && grep -q '"state":"Running"' <<<"$r2" && ticks_after "$TMP/b.out" "$T0"; then
	first=$(grep -ao 'PROBE TICK [0-9]*' "$TMP/b.out" | head -1 | awk '{print $3}')
	[ "$first" = $((T0 + 1)) ] && pass load-continues "first tick $first after $T0" ||
		fail load-continues "first tick $first, the snapshot was after $T0"
else
	fail load "$r; $r2; $(tail -c 400 "$TMP/b.out")"
fi
r=$(api b GET /vm/config)
grep -q "\"uds_path\":\"$TMP/b.vsock\"" <<<"$r" && grep -q '"vcpu_count":2' <<<"$r" && [ -S "$TMP/b.vsock" ] &&
	pass load-config "vsock at the override's path" || fail load-config "${r:0:300}"
r=$(api b PUT /actions '{"action_type": "SendCtrlAltDel"}')
for _ in $(seq 100); do kill -0 $B 2>/dev/null || break; sleep 0.1; done
wait $B 2>/dev/null
rc=$?
[ "$rc" = 0 ] && grep -q 'ctrl-alt-del' "$TMP/b.out" &&
	pass restored-keyboard "Ctrl-Alt-Del read, exit 0" || fail restored-keyboard "rc $rc; $(tail -c 300 "$TMP/b.out")"

# ---- clones ------------------------------------------------------------------------------
ok=0 names=""
for c in c1 c2 c3; do
	start $c
	r=$(api $c PUT /snapshot/load "$(load_body "$TMP/vm.snap" "$TMP/vm.mem" "$TMP/$c.vsock")")
	[ "${r%% *}" = 204 ] || names="$names $c:${r:0:100}"
done
for c in c1 c2 c3; do
	ticks_after "$TMP/$c.out" "$T0" && [ -S "$TMP/$c.vsock" ] && ok=$((ok + 1))
done
[ "$ok" = 3 ] && pass clones "3 clones ticking, each with its own vsock socket" ||
	fail clones "$ok of 3;$names"
# A restored VM snapshotted again loads again (its boot source kept as configuration only).
r=$(api c1 PATCH /vm '{"state": "Paused"}')
T1=$(last_tick "$TMP/c1.out")
r="$r|$(api c1 PUT /snapshot/create "{\"snapshot_path\": \"$TMP/re.snap\", \"mem_file_path\": \"$TMP/re.mem\"}")"
start re
r="$r|$(api re PUT /snapshot/load "$(load_body "$TMP/re.snap" "$TMP/re.mem" "$TMP/re.vsock")")"
r2=$(api re GET /vm/config)
if [ "$r" = "204 |204 |204 " ] && ticks_after "$TMP/re.out" "$T1" && grep -q 'guest.elf' <<<"$r2"; then
	pass snapshot-of-restored "ticks on after $T1; boot source kept"
else
	fail snapshot-of-restored "$r; ${r2:0:200}; $(tail -c 200 "$TMP/re.out")"
fi
for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done

# PUT /serial's file is part of what a snapshot saves: the restored console appends to it.
start s
st="$(api s PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')"
st="$st|$(api s PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"$ARGS\"}")"
st="$st|$(api s PUT /serial "{\"serial_out_path\": \"$TMP/console.txt\"}")"
st="$st|$(api s PUT /actions '{"action_type": "InstanceStart"}')"
ticks_after "$TMP/console.txt" 2
st="$st|$(api s PATCH /vm '{"state": "Paused"}')"
T2=$(last_tick "$TMP/console.txt")
st="$st|$(api s PUT /snapshot/create "{\"snapshot_path\": \"$TMP/s.snap\", \"mem_file_path\": \"$TMP/s.mem\"}")"
kill -KILL $PID 2>/dev/null
start s2
st="$st|$(api s2 PUT /snapshot/load "{\"snapshot_path\": \"$TMP/s.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/s.mem\"}, \"resume_vm\": true}")"
if [ "$st" = "204 |204 |204 |204 |204 |204 |204 " ] && ticks_after "$TMP/console.txt" "${T2:-0}" &&
   ! grep -q 'PROBE TICK' "$TMP/s2.out"; then
	pass serial-file "the restored console appends to $TMP/console.txt after tick $T2"
else
	fail serial-file "$st; $(tail -c 200 "$TMP/console.txt" | tr '\n' '|'); s2: $(tail -c 200 "$TMP/s2.out")"
fi
kill -KILL $PID 2>/dev/null

# ---- refusals: each in a fresh ember, which must stay fresh ------------------------------
python3 - "$TMP/vm.snap" "$TMP" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
t = sys.argv[2]
open(t + "/bad-magic.snap", "wb").write(b"X" + d[1:])
flip = bytearray(d); flip[len(d) // 2] ^= 1
open(t + "/bad-crc.snap", "wb").write(flip)
open(t + "/truncated.snap", "wb").write(d[:len(d) - 100])
newer = bytearray(d); struct.pack_into("<H", newer, 8, 2)
open(t + "/newer.snap", "wb").write(newer)
PY
head -c 67108864 "$TMP/vm.mem" >"$TMP/small.mem"
refuse() { # NAME SNAP MEM WANT [EXTRA]
	local r r2 r3
	start "r$1"
	r=$(api "r$1" PUT /snapshot/load "$(load_body "$2" "$3" "$TMP/r$1.vsock" "${5:-}")")
	r2=$(api "r$1" GET /)
	r3=$(api "r$1" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')
	if [ "${r%% *}" = 400 ] && grep -q "$4" <<<"$r" && grep -q 'Not started' <<<"$r2" &&
	   [ "${r3%% *}" = 204 ] && [ ! -e "$TMP/r$1.vsock" ]; then
		pass "refuse-$1" "${r:4:110}"
	else
		fail "refuse-$1" "$r | $r2 | $r3"
	fi
	kill -KILL $PID 2>/dev/null
}
refuse magic "$TMP/bad-magic.snap" "$TMP/vm.mem" 'not an ember snapshot'
refuse crc "$TMP/bad-crc.snap" "$TMP/vm.mem" 'checksum mismatch'
refuse truncated "$TMP/truncated.snap" "$TMP/vm.mem" 'truncated'
refuse version "$TMP/newer.snap" "$TMP/vm.mem" 'format version 2.0'
refuse small-memory "$TMP/vm.snap" "$TMP/small.mem" 'memory file'
refuse missing-memory "$TMP/vm.snap" "$TMP/none.mem" 'Cannot open the memory file'
refuse net-override "$TMP/vm.snap" "$TMP/vm.mem" 'no such interface' \
	', "network_overrides": [{"iface_id": "eth9", "host_dev_name": "tap9"}]'
start late
r=$(api late PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')
r=$(api late PUT /snapshot/load "$(load_body "$TMP/vm.snap" "$TMP/vm.mem" "$TMP/late.vsock")")
[ "${r%% *}" = 400 ] && grep -q 'not allowed after configuring' <<<"$r" &&
	pass refuse-after-configuration || fail refuse-after-configuration "$r"

# After a refused load the same ember boots normally: nothing of the snapshot is left in it.
start fresh
r=$(api fresh PUT /snapshot/load "$(load_body "$TMP/bad-crc.snap" "$TMP/vm.mem" "$TMP/f.vsock")")
st="$(api fresh PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')"
st="$st|$(api fresh PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"$ARGS\"}")"
st="$st|$(api fresh PUT /actions '{"action_type": "InstanceStart"}')"
[ "${r%% *}" = 400 ] && [ "$st" = "204 |204 |204 " ] && ticks_after "$TMP/fresh.out" 1 &&
	grep -q 'PROBE TICK 1$' "$TMP/fresh.out" && pass boot-after-refusal ||
	fail boot-after-refusal "$r; $st; $(tail -c 200 "$TMP/fresh.out")"
finish
