#!/usr/bin/env bash
# linux_netlimit.sh: a network interface's rate limiters hold back Linux's own virtio-net driver,
# and PATCH /network-interfaces changes them while the guest runs. What `make run` boots
# (Debian's cloud kernel, busybox and socat on an ext4 root) with eth0 on a tap in a network
# namespace, both directions limited to 1 MiB/s (bandwidth bucket of 1 MiB refilled each second).
# The guest fetches 6 MiB from a host TCP server (rx, timed by the guest from connect to EOF)
# and sends 6 MiB to another (tx, timed by the host from the first byte to EOF); then the host
# raises both limiters to 1000 MiB/s with PATCH and the guest does both again.
#   limited   each direction took at least 4 s (6 MiB at 1 MiB/s less what the full bucket
#             holds); an unenforced limiter breaks that bound; the throttles are counted in the
#             net metrics (rx_rate_limiter_throttled, tx_rate_limiter_throttled);
#   patch     PATCH /network-interfaces/eth0 answers 204 while the guest runs;
#   raised    each direction then took less than half its limited time, the data whole.
# Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
set -uo pipefail
[ "${1:-}" = prepare ] && exit 0
T=linux_netlimit
. "$(dirname "$0")/common.bash"
cd "$(dirname "$0")/../.."
need_ember
need_linux_io
need_tools curl python3 ip
need_root "a network namespace and a tap"
WAIT=${LNL_TIMEOUT:-300}
HOST_IP=172.16.0.1 GUEST_IP=172.16.0.2 MAC=06:00:ac:10:00:02
SIZE=$((6 << 20))
ns=ember-nl-$$
ns_taps "$ns" "$HOST_IP/30" tap0

# serve ROUND: in the namespace, port 910ROUND sends SIZE bytes to the guest; port 920ROUND
# takes the guest's bytes and writes "<bytes> <seconds from the first byte to EOF>" to $TMP/tx.ROUND.
serve() {
	ip netns exec "$ns" python3 - "$HOST_IP" "$1" "$SIZE" "$TMP/tx.$1" <<'PY' &
import socket, sys, time
host, rnd, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1)
    return s
rx, tx = listen(9100 + int(rnd)), listen(9200 + int(rnd))
c, _ = rx.accept()
c.sendall(b"\0" * size)
c.close()
c, _ = tx.accept()
n, t0 = 0, None
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    if t0 is None:
        t0 = time.monotonic()
    n += len(b)
open(out, "w").write("%d %.3f\n" % (n, time.monotonic() - (t0 or time.monotonic())))
PY
	PIDS+=($!)
}

FUNC='dev=$(grep -l '"$MAC"' /sys/class/net/*/address | head -n1 | cut -d/ -f5)
ip addr add '"$GUEST_IP"'/30 dev "$dev" && ip link set "$dev" up
t() { cut -d" " -f1 /proc/uptime; }
for r in 1 2; do
	n=0
	while [ "$n" -eq 0 ]; do
		s=$(t)
		n=$(socat -u TCP:'"$HOST_IP"':910$r,connect-timeout=2 - 2>/dev/null | wc -c)
		[ "$n" -eq 0 ] && sleep 0.5
	done
	echo "NL rx$r bytes=$n start=$s end=$(t)"
	until head -c '"$SIZE"' /dev/zero | socat -u - TCP:'"$HOST_IP"':920$r,connect-timeout=2 2>/dev/null; do sleep 0.5; done
	echo "NL tx$r sent"
done'
LIM='{"bandwidth": {"size": 1048576, "refill_time": 1000}}'
tests/linux/guest_io.sh demo-config "$FUNC" | python3 -c '
import json, sys
c = json.load(sys.stdin)
lim = json.loads(sys.argv[2])
c["network-interfaces"] = [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": sys.argv[1],
                            "rx_rate_limiter": lim, "tx_rate_limiter": lim}]
c["metrics"] = {"metrics_path": sys.argv[3]}
json.dump(c, sys.stdout)' "$MAC" "$LIM" "$TMP/metrics" >"$TMP/cfg.json"

serve 1
ip netns exec "$ns" "$EMBER" --api-sock "$TMP/a.sock" --config-file "$TMP/cfg.json" </dev/null >"$TMP/a.out" 2>&1 &
A=$!
PIDS+=("$A")
wait_line() { # PATTERN: a console line matching it (0), or ember ended or time ran out (1)
	local i
	for ((i = 0; i < WAIT * 5; i++)); do
		grep -aq "$1" "$TMP/a.out" && return 0
		kill -0 $A 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}
rx_secs() { tr -d '\r' <"$TMP/a.out" | sed -n "s/^NL rx$1 bytes=\([0-9]*\) start=\([0-9.]*\) end=\([0-9.]*\)$/\1 \2 \3/p" | awk '{ printf "%d %.2f", $1, $3 - $2 }'; }
tx_file() { for _ in $(seq 100); do [ -s "$TMP/tx.$1" ] && break; sleep 0.1; done; cat "$TMP/tx.$1" 2>/dev/null; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

if ! wait_line '^NL tx1 sent'; then
	fail limited "the guest did not finish round 1: $(grep -a 'NL\|ember:\|Kernel panic' "$TMP/a.out" | tr -d '\r' | tail -n 4 | tr '\n' '|')"
	finish
fi
read -r rxn1 rxs1 <<<"$(rx_secs 1)"
read -r txn1 txs1 <<<"$(tx_file 1)"
st=$(curl -s --max-time 60 --unix-socket "$TMP/a.sock" -X PATCH http://localhost/network-interfaces/eth0 \
	-d '{"iface_id": "eth0", "rx_rate_limiter": {"bandwidth": {"size": 104857600, "refill_time": 100}}, "tx_rate_limiter": {"bandwidth": {"size": 104857600, "refill_time": 100}}}' -w '%{http_code}')
[ "$st" = 204 ] && pass patch "PATCH /network-interfaces/eth0 raised both limiters to 1000 MiB/s while the guest runs" ||
	fail patch "PATCH answered $st"
serve 2
wait_line '^NL tx2 sent'
read -r rxn2 rxs2 <<<"$(rx_secs 2)"
read -r txn2 txs2 <<<"$(tx_file 2)"
for _ in $(seq $((WAIT * 5))); do kill -0 $A 2>/dev/null || break; sleep 0.2; done
wait $A 2>/dev/null
rc=$?
thr=$(python3 -c 'import json, sys
r = t = 0
for l in open(sys.argv[1]):
    if l.strip():
        n = json.loads(l).get("net", {})
        r += n.get("rx_rate_limiter_throttled", 0); t += n.get("tx_rate_limiter_throttled", 0)
print(r, t)' "$TMP/metrics" 2>/dev/null)
read -r rthr tthr <<<"${thr:-x x}"
if [ "${rxn1:-0}" = $SIZE ] && [ "${txn1:-0}" = $SIZE ] && ge "$rxs1" 4 && ge "$txs1" 4 &&
   [ "${rthr:-0}" -gt 0 ] 2>/dev/null && [ "${tthr:-0}" -gt 0 ] 2>/dev/null; then
	pass limited "6 MiB at 1 MiB/s: rx $rxs1 s, tx $txs1 s (>= 4); throttled rx $rthr, tx $tthr"
else
	fail limited "rx ${rxn1:-?} bytes in ${rxs1:-?} s, tx ${txn1:-?} bytes in ${txs1:-?} s (want 6 MiB each, >= 4 s); throttled rx ${rthr:-?} tx ${tthr:-?}"
fi
if [ "${rxn2:-0}" = $SIZE ] && [ "${txn2:-0}" = $SIZE ] && ge "$rxs1" "$(awk -v a="${rxs2:-99}" 'BEGIN { print 2 * a }')" &&
   ge "$txs1" "$(awk -v a="${txs2:-99}" 'BEGIN { print 2 * a }')"; then
	pass raised "after the PATCH: rx $rxs2 s, tx $txs2 s for 6 MiB (limited: $rxs1 s, $txs1 s); ember exited $rc"
else
	fail raised "after the PATCH: rx ${rxn2:-?} bytes in ${rxs2:-?} s, tx ${txn2:-?} bytes in ${txs2:-?} s (limited: $rxs1 s, $txs1 s)"
fi
finish
