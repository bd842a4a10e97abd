#!/usr/bin/env bash
# linux_snapshot.sh: a real Linux guest (Debian's kernel, the ext4 root read-write, eth0 on a tap
# in a network namespace, vsock) survives PUT /snapshot/create, the death of its ember, and
# PUT /snapshot/load in a new one. The guest's function counts: every 200 ms it prints
# "SNAP-COUNT <n>" and appends n to /count on its root; it listens on vsock ports 5000 (answers
# "vsock-alive <n>") and 5001 (a connection ends the count, syncs, remounts / read-only).
#   snapshot   paused at count K, snapshotted, the ember killed (never resumed);
#   restore    a new ember loads the files with resume_vm: the count goes on at K+1;
#   network    the restored guest pings the host through the tap it took over (the lab has no ping)
#   vsock      a new host connection reaches the guest's listener through the new socket;
#   clone      a second ember loads the same files (its own tap by network_overrides, its own
#              vsock socket, its own copy of the disk bound over the same path) and counts on
#              too (that clones reseed their RNG is linux_vmgenid.sh's, with Debian's generic
#              kernel: the cloud kernel has no VMGenID driver);
#   file       after the function ends, /count in the image holds 1..N with no gap or repeat,
#              and `e2fsck -fn` finds the image clean; ember exits 0 ("Guest powered off").
# Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
set -uo pipefail
[ "${1:-}" = prepare ] && exit 0
T=linux_snapshot
. "$(dirname "$0")/common.bash"
cd "$(dirname "$0")/../.."
need_ember
need_linux_io
need_tools curl socat python3 debugfs e2fsck ip
need_root "a network namespace and a tap"
WAIT=${LSNAP_TIMEOUT:-300}
HOST_IP=172.16.0.1 GUEST_IP=172.16.0.2 MAC=06:00:ac:10:00:02
ns=ember-snap-$$
ns_taps "$ns" "$HOST_IP/30" tap0 tap1

FUNC='dev=$(grep -l '"$MAC"' /sys/class/net/*/address | head -n1 | cut -d/ -f5)
ip addr add '"$GUEST_IP"'/30 dev "$dev" && ip link set "$dev" up
socat VSOCK-LISTEN:5000,fork SYSTEM:"echo vsock-alive \$(wc -l </count)" &
socat -u VSOCK-LISTEN:5001 OPEN:/stop,creat &
socat -t 30 VSOCK-LISTEN:5002,fork SYSTEM:"ping -c 2 -W 5 '"$HOST_IP"' >/dev/null 2>&1 && echo ping-ok || echo ping-failed" &
i=0
while [ ! -e /stop ]; do i=$((i + 1)); echo "SNAP-COUNT $i"; echo $i >>/count; sleep 0.2; done
sync; mount -o remount,ro /; echo "SNAP-END $i"'
cp build/linux-io/root.ext4 "$TMP/root.ext4"
tests/linux/guest_io.sh demo-config "$FUNC" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["drives"][0]["path_on_host"] = sys.argv[1]
c["drives"][0]["is_read_only"] = False
c["network-interfaces"] = [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": sys.argv[2]}]
c["vsock"] = {"guest_cid": 3, "uds_path": sys.argv[3]}
c["machine-config"]["mem_size_mib"] = 256
json.dump(c, sys.stdout)' "$TMP/root.ext4" "$MAC" "$TMP/a.vsock" >"$TMP/cfg.json"

api() { # SOCK METHOD PATH [JSON]: "<status> <body>"
	curl -s --max-time 120 --unix-socket "$1" -X "$2" "http://localhost$3" \
		-H 'Content-Type: application/json' ${4:+-d "$4"} -w ' %{http_code}' 2>/dev/null |
		awk '{ st = $NF; $NF = ""; print st, $0 }'
}
count() { grep -ao 'SNAP-COUNT [0-9]*' "$1" | sed -n "${2:-\$}p" | awk '{print $2}'; }
wait_count() { # FILE N PID: the count in FILE passes N (0), or PID ended or time ran out (1)
	local i c
	for ((i = 0; i < WAIT * 10; i++)); do
		c=$(count "$1")
		[ -n "$c" ] && [ "$c" -gt "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

ip netns exec "$ns" "$EMBER" --api-sock "$TMP/a.sock" --config-file "$TMP/cfg.json" </dev/null >"$TMP/a.out" 2>&1 &
A=$!
PIDS+=("$A")
if ! wait_count "$TMP/a.out" 5 $A; then
	fail boot "no count: $(grep -a 'ember:\|Kernel panic\|SNAP' "$TMP/a.out" | tr -d '\r' | tail -n 4 | tr '\n' '|')"
	finish
fi
vq() { printf 'CONNECT %s\n' "$2" | timeout 60 socat -t 20 - UNIX-CONNECT:"$1" 2>/dev/null | tr -d '\r' | sed -n 2p; }
r=$(vq "$TMP/a.vsock" 5002)
[ "$r" = ping-ok ] && pass boot "counting; the guest pings the host" ||
	fail boot "counting, but the guest's ping of the host: '${r:-no answer}'"

st=$(api "$TMP/a.sock" PATCH /vm '{"state": "Paused"}')
sleep 1
K=$(count "$TMP/a.out")
st="$st|$(api "$TMP/a.sock" PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_file_path\": \"$TMP/vm.mem\"}")"
kill -KILL $A 2>/dev/null
wait $A 2>/dev/null
cp --sparse=always "$TMP/root.ext4" "$TMP/root-clone.ext4"
if [ "$st" = "204 |204 " ] && [ -s "$TMP/vm.snap" ] && [ "$(stat -c %s "$TMP/vm.mem")" = $((256 << 20)) ]; then
	pass snapshot "paused at count $K; $(( $(stat -c %b "$TMP/vm.mem") * 512 >> 20 )) MiB of 256 MiB allocated in the memory file"
else
	fail snapshot "statuses $st; $(grep -a 'ember' "$TMP/a.out" | tail -n 3 | tr '\n' '|')"
	finish
fi

ip netns exec "$ns" "$EMBER" --api-sock "$TMP/b.sock" </dev/null >"$TMP/b.out" 2>&1 &
B=$!
PIDS+=("$B")
for _ in $(seq 200); do [ -S "$TMP/b.sock" ] && break; sleep 0.05; done
st=$(api "$TMP/b.sock" PUT /snapshot/load "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/vm.mem\"}, \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$TMP/b.vsock\"}}")
if [ "$st" = "204 " ] && wait_count "$TMP/b.out" $((K + 5)) $B; then
	first=$(count "$TMP/b.out" 1)
	[ "$first" = $((K + 1)) ] && pass restore "the count goes on at $first after $K" ||
		fail restore "the restored count starts at $first, the snapshot was at $K"
else
	fail restore "load: $st; $(tr -d '\r' <"$TMP/b.out" | tail -n 4 | tr '\n' '|')"
	finish
fi
r=$(vq "$TMP/b.vsock" 5002)
[ "$r" = ping-ok ] && pass network "the restored guest pings the host through the tap it took over" ||
	fail network "the restored guest's ping of the host: '${r:-no answer}'"
r=$(printf 'CONNECT 5000\n' | timeout 30 socat -t 10 - UNIX-CONNECT:"$TMP/b.vsock" 2>&1 | tr -d '\r' | tr '\n' '|')
grep -q '^OK [0-9]*|vsock-alive [0-9]*|' <<<"$r" && pass vsock "${r:0:60}" || fail vsock "answer: ${r:0:200}"

# A clone of the same snapshot: its own tap, socket and disk copy (bound over the same path).
unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && exec ip netns exec "$3" "$4" --api-sock "$5"' \
	sh "$TMP/root-clone.ext4" "$TMP/root.ext4" "$ns" "$EMBER" "$TMP/c.sock" </dev/null >"$TMP/c.out" 2>&1 &
C=$!
PIDS+=("$C")
for _ in $(seq 200); do [ -S "$TMP/c.sock" ] && break; sleep 0.05; done
st=$(api "$TMP/c.sock" PUT /snapshot/load "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/vm.mem\"}, \"resume_vm\": true, \"vsock_override\": {\"uds_path\": \"$TMP/c.vsock\"}, \"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap1\"}]}")
if [ "$st" = "204 " ] && wait_count "$TMP/c.out" $((K + 3)) $C && r=$(vq "$TMP/c.vsock" 5000) &&
   grep -q '^vsock-alive' <<<"$r"; then
	pass clone "counts on from $(count "$TMP/c.out" 1), answers on its own socket"
else
	fail clone "load: $st; $(tr -d '\r' <"$TMP/c.out" | tail -n 3 | tr '\n' '|')"
fi
{ kill -KILL $C; wait $C; } 2>/dev/null

printf 'CONNECT 5001\nstop\n' | timeout 30 socat -t 5 - UNIX-CONNECT:"$TMP/b.vsock" >/dev/null 2>&1
for ((i = 0; i < WAIT * 10; i++)); do kill -0 $B 2>/dev/null || break; sleep 0.1; done
wait $B 2>/dev/null
rc=$?
END=$(grep -ao 'SNAP-END [0-9]*' "$TMP/b.out" | awk '{print $2}')
seq_ok=$(debugfs -R 'cat /count' "$TMP/root.ext4" 2>/dev/null | python3 -c '
import sys
v = [int(l) for l in sys.stdin.read().split()]
print("ok" if v == list(range(1, len(v) + 1)) else "bad", len(v))')
fsck=$(e2fsck -fn "$TMP/root.ext4" 2>&1)
fsck_rc=$?
if [ "$rc" = 0 ] && [ -n "$END" ] && [ "$seq_ok" = "ok $END" ] && [ "$fsck_rc" = 0 ]; then
	pass file "/count holds 1..$END, e2fsck clean, ember exited 0"
else
	fail file "ember exited $rc, end ${END:-none}, /count: $seq_ok, e2fsck $fsck_rc: $(tail -n 2 <<<"$fsck" | tr '\n' '|')"
fi
finish
