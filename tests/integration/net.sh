#!/usr/bin/env bash
# net.sh: ember's virtio-net over a tap, each case in a network namespace of its own, against the
# test guest's driver (which also passes against QEMU's, qemu_net.sh):
#   net            ARP, pings, UDP echo 1..1472 bytes and a burst with a host echo server; the host
#                  saw the pings (Icmp InEchos) and the datagrams; ember's net metrics add up
#   limit-tx, limit-rx  each direction's rate limiter (4 frames a second) holds the exchange back
#   net-evil       malformed transmit chains dropped and counted (net.tx_malformed_frames = 5),
#                  the device recovers
#   mrg-small      512-byte receive buffers: frames spread over several (num_buffers), no EVENT_IDX
#   no-mrg         without VIRTIO_NET_F_MRG_RXBUF: num_buffers is 1 (5.1.6.4.1)
#   offload        CSUM and GUEST_CSUM negotiated: partial checksums pass both ways (TUNSETOFFLOAD)
#   mtu            "mtu": 1400 reaches the guest (VIRTIO_NET_F_MTU) and bounds UDP to 1372 bytes
#   hold           the guest stops taking frames while the host floods the tap: ember stops
#                  reading the tap (no busy loop: its event thread stays idle) and resumes after
#   tap-busy, tap-not-tap, tap-created   tap_open()'s refusals and its warning
# Nothing is sent outside the namespaces made here; they are removed on exit.
T=net
. "$(dirname "$0")/common.bash"
need_ember
set -u

IMG=$GUEST_DIR/guest.elf
[ -f "$IMG" ] || { fail build "$IMG missing (run make guest)"; finish; }
for c in ip python3; do
	command -v "$c" >/dev/null || { skip all "$c not installed"; exit 0; }
done
[ -c /dev/net/tun ] || { skip all "/dev/net/tun missing"; exit 0; }

GUEST_IP=172.16.0.2
HOST_IP=172.16.0.1
MAC=06:00:ac:10:00:02
PORT=7777
IPARG="ip=$GUEST_IP::$HOST_IP:255.255.255.252::eth0:off"
NSES=()
PIDS=()

cleanup() {
	local p ns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT


cat >"$TMP/flood.py" <<'PY'
# flood.py DST SECONDS: UDP datagrams of 64 bytes to DST:9 for SECONDS; prints how many went out.
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + float(sys.argv[2])
n = 0
while time.time() < end:
    for _ in range(100):
        try:
            s.sendto(b"x" * 64, (sys.argv[1], 9))
            n += 1
        except OSError:
            pass
print(n)
PY

cat >"$TMP/holdtap.py" <<'PY'
# holdtap.py NAME READYFILE: attach to tap NAME (as ember would) and sleep holding it.
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
open(sys.argv[2], "w").close()
time.sleep(600)
PY

# mkns N [MTU]: namespace ember-test-<pid>-N with tap0 = 172.16.0.1/30, up.
mkns() {
	local ns=ember-test-$$-$1
	ip netns add "$ns" || return 1
	NSES+=("$ns")
	ip netns exec "$ns" ip link set lo up &&
		ip netns exec "$ns" ip tuntap add dev tap0 mode tap &&
		ip netns exec "$ns" ip addr add "$HOST_IP/30" dev tap0 &&
		ip netns exec "$ns" ip link set tap0 up || return 1
	[ -n "${2:-}" ] && ip netns exec "$ns" ip link set tap0 mtu "$2"
	NS=$ns
}

# start_echo N: the echo server in $NS; ECHO_PID, counts land in $TMP/echo-N.
start_echo() {
	ip netns exec "$NS" python3 "$(dirname "$0")/udp_echo.py" "$HOST_IP" "$PORT" "$TMP/echo-$1" &
	ECHO_PID=$!
	PIDS+=("$ECHO_PID")
	for _ in $(seq 100); do [ -e "$TMP/echo-$1.ready" ] && return 0; sleep 0.05; done
	return 1
}

# stop_echo N: stop it; DGRAMS = the datagrams it echoed.
stop_echo() {
	local f=${tmp:-$TMP}/echo-$1
	kill -TERM "$ECHO_PID" 2>/dev/null
	wait "$ECHO_PID" 2>/dev/null
	for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.05; done
	read -r DGRAMS _ <"$f" 2>/dev/null || DGRAMS=0
}

# netconfig FILE ARGS [EXTRA_NET_JSON] [TAP]: one interface eth0 on tap0, metrics to FILE.metrics.
netconfig() {
	printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": %s},\n' "$IMG" "$(json_str "$2")" >"$1"
	printf ' "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},\n' >>"$1"
	printf ' "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "%s", "guest_mac": "%s"%s}],\n' \
		"${4:-tap0}" "$MAC" "${3:-}" >>"$1"
	printf ' "metrics": {"metrics_path": "%s.metrics"}}\n' "$1" >>"$1"
}

# run_ns OUT TIMEOUT ARGS...: ember inside $NS (as run_ember).
run_ns() {
	local out=$1 to=$2 s e
	shift 2
	s=$(date +%s%N)
	timeout "$to" ip netns exec "$NS" "$EMBER" "$@" </dev/null >"$out" 2>&1
	RC=$?
	e=$(date +%s%N)
	MS=$(( (e - s) / 1000000 ))
}

# metric FILE GROUP.NAME: the sum of a counter over every line of a metrics file.
metric() {
	python3 - "$1" "$2" <<'PY'
import json, sys
g, k = sys.argv[2].split(".")
t = 0
for line in open(sys.argv[1]):
    t += json.loads(line).get(g, {}).get(k, 0)
print(t)
PY
}

# snmp KEY: Icmp counter KEY in $NS (/proc/net/snmp is per namespace).
snmp() {
	ip netns exec "$NS" awk -v k="$1" '$1 == "Icmp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c[k] }' /proc/net/snmp
}

field() { grep -o " $1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }

# 1. The full exchange, checked from both ends.
if mkns 1 && start_echo 1; then
	ARGS="console=ttyS0 probe=net $IPARG net_udp_port=$PORT net_mac=$MAC"
	netconfig "$TMP/c1.json" "$ARGS"
	in0=$(snmp InEchos)
	run_ns "$TMP/c1.out" 60 --no-api --config-file "$TMP/c1.json"
	stop_echo 1
	dgrams=$DGRAMS
	line=$(grep '^PROBE net ' "$TMP/c1.out")
	if [ "$RC" -ne 0 ] || ! grep -q '^PROBE DONE pass=1 fail=0' "$TMP/c1.out"; then
		fail net "rc=$RC: $(grep -E '^PROBE|^NET|ERROR' "$TMP/c1.out" | tr '\n' ' ')"
	else
		msg=
		burst=$(field burst "$line")
		burst=${burst:-0/0}
		dgrams=${dgrams:-0}
		pings=$(( $(snmp InEchos) - in0 ))
		[ "$pings" -ge 5 ] || msg="$msg host-saw-$pings-pings"
		[ "$dgrams" -ge $((12 + ${burst%%/*})) ] || msg="$msg echo-server-saw-$dgrams-datagrams"
		tx=$(metric "$TMP/c1.json.metrics" net.tx_packets_count)
		rx=$(metric "$TMP/c1.json.metrics" net.rx_packets_count)
		[ "$tx" -ge $((1 + 5 + 12 + ${burst#*/})) ] || msg="$msg tx_packets_count=$tx"
		[ "$rx" -ge $((1 + 5 + 12 + ${burst%%/*})) ] || msg="$msg rx_packets_count=$rx"
		[ "$(metric "$TMP/c1.json.metrics" net.tx_malformed_frames)" = 0 ] || msg="$msg malformed-frames-counted"
		# The interface's own group (Firecracker's net_<iface_id>) agrees with the aggregate.
		[ "$(metric "$TMP/c1.json.metrics" net_eth0.tx_packets_count)" = "$tx" ] &&
			[ "$(metric "$TMP/c1.json.metrics" net_eth0.rx_packets_count)" = "$rx" ] ||
			msg="$msg net_eth0-group-disagrees"
		grep -q "virtio_mmio.device=4K@0xc0001000:5\$" "$TMP/c1.out" || msg="$msg no-virtio_mmio.device-argument"
		[ -z "$msg" ] && pass net "rtt_us=$(field rtt_us "$line") pps=$(field pps "$line") host: pings=$pings datagrams=$dgrams tx=$tx rx=$rx" ||
			fail net "$msg: $line"
	fi
else
	fail net "cannot set up the namespace, tap or echo server"
fi

# 1b. Rate limiters, 4 frames a second each way (ops buckets of 4, refilled in 1 s): the same
#     exchange (ARP, 8 pings, 12 UDP echoes) ends, and takes at least the time the limiter
#     allows for the frames counted, less the 4 of the full bucket (an unenforced limiter
#     breaks that bound); both directions are throttled and counted.
for dir in tx rx; do
	c=limit-$dir
	mkns "$c" && start_echo "$c" || { fail "$c" "setup"; continue; }
	netconfig "$TMP/$c.json" "console=ttyS0 probe=net $IPARG net_udp_port=$PORT net_pings=8 net_burst_ms=0" \
		", \"${dir}_rate_limiter\": {\"ops\": {\"size\": 4, \"refill_time\": 1000}}"
	run_ns "$TMP/$c.out" 120 --no-api --config-file "$TMP/$c.json"
	stop_echo "$c"
	frames=$(metric "$TMP/$c.json.metrics" "net.${dir}_packets_count")
	thr=$(metric "$TMP/$c.json.metrics" "net.${dir}_rate_limiter_throttled")
	want=$(( (frames - 4) * 1000 / 4 - 500 ))
	if [ "$RC" -ne 0 ] || ! grep -q '^PROBE net PASS' "$TMP/$c.out"; then
		fail "$c" "rc=$RC: $(grep -E '^PROBE|ERROR' "$TMP/$c.out" | tr '\n' ' ')"
	elif [ "$frames" -ge 20 ] && [ "$MS" -ge "$want" ] && [ "$thr" -gt 0 ]; then
		pass "$c" "$frames ${dir} frames at 4/s in $MS ms (>= $want), throttled $thr times"
	else
		fail "$c" "$frames ${dir} frames at 4/s in $MS ms (want >= $want, 20 frames or more), throttled=$thr"
	fi
done

# 2. Malformed transmit chains: refused, counted, survived.
if mkns 2; then
	netconfig "$TMP/c2.json" "console=ttyS0 probe=net-evil $IPARG"
	run_ns "$TMP/c2.out" 60 --no-api --config-file "$TMP/c2.json"
	bad=$(metric "$TMP/c2.json.metrics" net.tx_malformed_frames)
	if [ "$RC" -eq 0 ] && grep -q '^PROBE net-evil PASS' "$TMP/c2.out" && [ "$bad" = 5 ] &&
		grep -q "dropped a malformed frame" "$TMP/c2.out"; then
		pass net-evil "tx_malformed_frames=$bad $(grep '^PROBE net-evil' "$TMP/c2.out" | cut -d' ' -f4-)"
	else
		fail net-evil "rc=$RC tx_malformed_frames=$bad: $(grep -E '^PROBE|ERROR' "$TMP/c2.out" | tr '\n' ' ')"
	fi
fi

# 3 and 4: merged receive buffers without EVENT_IDX; no merging at all.
for spec in "mrg-small:net_rxbuf=512 net_no_event_idx net_burst_ms=200" "no-mrg:net_no_mrg net_burst_ms=200" \
	"offload:net_offload net_burst_ms=200"; do
	c=${spec%%:*}
	mkns "$c" && start_echo "$c" || { fail "$c" "setup"; continue; }
	netconfig "$TMP/$c.json" "console=ttyS0 probe=net $IPARG net_udp_port=$PORT ${spec#*:}"
	run_ns "$TMP/$c.out" 60 --no-api --config-file "$TMP/$c.json"
	stop_echo "$c"
	line=$(grep '^PROBE net ' "$TMP/$c.out")
	msg=
	[ "$RC" -eq 0 ] && grep -q '^PROBE net PASS' "$TMP/$c.out" || msg="rc=$RC"
	case $c in
	mrg-small)
		[ "$(field numbuf_max "$line")" -ge 3 ] 2>/dev/null || msg="$msg frames-not-spread"
		grep -q 'event_idx=0 rxbuf=512x' "$TMP/$c.out" || msg="$msg features-not-as-asked" ;;
	no-mrg)
		grep -q 'num_buffers-not-1' <<<"$line" && msg="$msg num_buffers-not-1"
		grep -q ' mrg=0 ' "$TMP/$c.out" || msg="$msg MRG_RXBUF-negotiated" ;;
	offload)
		# The tap got TUN_F_CSUM from the negotiated GUEST_CSUM: the host's echoes came partial.
		grep -qE 'csum_partial=tx[1-9][0-9]*/rx[1-9]' <<<"$line" || msg="$msg no-partial-checksums" ;;
	esac
	[ -z "$msg" ] && pass "$c" "$(grep -o 'merged=[^ ]* numbuf_max=[^ ]*\|pps=[^ ]*\|csum_partial=[^ ]*' <<<"$line" | tr '\n' ' ')" ||
		fail "$c" "$msg: $line"
done

# 5. MTU from the config to the guest, and the largest datagram it allows.
if mkns 5 1400 && start_echo 5; then
	netconfig "$TMP/c5.json" "console=ttyS0 probe=net $IPARG net_udp_port=$PORT net_mtu=1400 net_burst_ms=0" ', "mtu": 1400'
	run_ns "$TMP/c5.out" 60 --no-api --config-file "$TMP/c5.json"
	stop_echo 5
	line=$(grep '^PROBE net ' "$TMP/c5.out")
	[ "$RC" -eq 0 ] && grep -q '^PROBE net PASS' <<<"$line" && grep -q ' max=1372 ' <<<"$line" &&
		pass mtu "$(field udp "$line") max=1372" || fail mtu "rc=$RC: $line"
fi

# 6. The guest stops receiving while the host floods the tap: ember must stop reading the tap
# (its event thread idle), count the lack of buffers, and deliver again once buffers are back.
main_cpu() { # utime + stime of ember's event-loop (main) thread, in clock ticks; "gone" once it exited
	local st
	st=$(cat "/proc/$1/task/$1/stat" 2>/dev/null) && [ -n "$st" ] || { echo gone; return; }
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' <<<"$st"
}
if mkns 6 && start_echo 6; then
	ip netns exec "$NS" ip neigh replace "$GUEST_IP" lladdr "$MAC" dev tap0 nud permanent
	netconfig "$TMP/c6.json" "console=ttyS0 probe=net $IPARG net_udp_port=$PORT net_burst_ms=0 net_pings=2 net_hold_ms=10000"
	ip netns exec "$NS" "$EMBER" --no-api --config-file "$TMP/c6.json" </dev/null >"$TMP/c6.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 600); do grep -q '^NET HOLD' "$TMP/c6.out" 2>/dev/null && break; sleep 0.05; done
	c0=$(main_cpu "$pid")
	t0=$(date +%s%N)
	sent=$(ip netns exec "$NS" python3 "$TMP/flood.py" "$GUEST_IP" 1.5)
	c1=$(main_cpu "$pid")
	t1=$(date +%s%N)
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid"
	RC=$?
	stop_echo 6
	hz=$(getconf CLK_TCK)
	wall=$(( (t1 - t0) / 1000000 ))
	if [ "$c0" = gone ] || [ "$c1" = gone ]; then
		# The CPU time must be read while the guest holds its buffers, i.e. while ember runs.
		fail hold "ember exited before the flood ended (rc=$RC, flood of ${wall} ms): the hold was too short here"
		c0=0 c1=0 sent=0
	fi
	busy=$(( (c1 - c0) * 1000 / hz ))      # ms of CPU
	nobuf=$(metric "$TMP/c6.json.metrics" net.no_rx_avail_buffer)
	line=$(grep '^PROBE net ' "$TMP/c6.out")
	if [ "$RC" -eq 0 ] && grep -q '^PROBE net PASS' <<<"$line" && [ "$nobuf" -ge 1 ] &&
		[ "$busy" -lt $((wall / 5)) ] && [ "${sent:-0}" -gt 1000 ]; then
		pass hold "flood=$sent event-thread-cpu=${busy}ms/${wall}ms no_rx_avail_buffer=$nobuf drained=$(field drained "$line")"
	elif [ "${sent:-0}" -ne 0 ]; then
		fail hold "rc=$RC flood=$sent cpu=${busy}ms/${wall}ms no_rx_avail_buffer=$nobuf: ${line:-no PROBE line; output ends: $(tail -n 3 "$TMP/c6.out" | tr '\n' '|')}"
	fi
fi

# 7. The tap is held by another process: refused with a message naming it.
if mkns 7; then
	ip netns exec "$NS" python3 "$TMP/holdtap.py" tap0 "$TMP/held" &
	PIDS+=("$!")
	hold_pid=$!
	for _ in $(seq 100); do [ -e "$TMP/held" ] && break; sleep 0.05; done
	netconfig "$TMP/c7.json" "console=ttyS0 probe=boot"
	run_ns "$TMP/c7.out" 20 --no-api --config-file "$TMP/c7.json"
	kill "$hold_pid" 2>/dev/null
	[ "$RC" -ne 0 ] && grep -q "tap0 is in use" "$TMP/c7.out" && pass tap-busy "rc=$RC" ||
		fail tap-busy "rc=$RC $(tail -2 "$TMP/c7.out" | tr '\n' ' ')"
fi

# 8. An interface that is not a tap (lo): refused.
if mkns 8; then
	netconfig "$TMP/c8.json" "console=ttyS0 probe=boot" "" lo
	run_ns "$TMP/c8.out" 20 --no-api --config-file "$TMP/c8.json"
	[ "$RC" -ne 0 ] && grep -q "lo exists but is not a single-queue tap" "$TMP/c8.out" && pass tap-not-tap "rc=$RC" ||
		fail tap-not-tap "rc=$RC $(tail -2 "$TMP/c8.out" | tr '\n' ' ')"
fi

# 9. A tap that does not exist: created (as Firecracker does), with a warning; gone afterwards.
if mkns 9; then
	netconfig "$TMP/c9.json" "console=ttyS0 probe=boot" "" newtap9
	run_ns "$TMP/c9.out" 20 --no-api --config-file "$TMP/c9.json"
	if [ "$RC" -eq 0 ] && grep -q "tap newtap9 did not exist" "$TMP/c9.out" &&
		! ip netns exec "$NS" ip link show newtap9 >/dev/null 2>&1; then
		pass tap-created "warned, removed with ember"
	else
		fail tap-created "rc=$RC $(grep -i tap "$TMP/c9.out" | tail -2 | tr '\n' ' ')"
	fi
fi
finish
