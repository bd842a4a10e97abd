#!/usr/bin/env bash
# qemu_net.sh: the test guest's virtio-net driver and its net checks against QEMU microvm's
# virtio-net-device on a tap (an independent device), each case in a network namespace of its own:
#   net         ARP, pings, UDP echo 1..1472 bytes and a burst with a host echo server; the host
#               saw the pings and datagrams. The PASS detail carries the RTT and packets/s to set
#               beside net.sh's figures for ember (same guest, same host, same run of make test).
#   net-evil    malformed transmit chains: QEMU sets DEVICE_NEEDS_RESET for a device-writable
#               transmit buffer and reads the out-of-RAM one as zeros; either is accepted
#   mrg-small   512-byte receive buffers: frames spread over several (num_buffers)
#   no-mrg      without MRG_RXBUF (QEMU leaves num_buffers 0 there, reported, not failed)
#   offload     CSUM and GUEST_CSUM: partial checksums both ways (the guest completes the host's)
#   wrong-mac   a wrong net_mac= expectation must FAIL (the check can fail)
set -u
T=qemu_net
. "$(dirname "$0")/common.bash"
IMG=$GUEST_DIR/guest-pvh.elf
need_qemu "$IMG"
for c in ip python3; do
	command -v "$c" >/dev/null || { skip all "$c not installed"; exit 0; }
done
[ -c /dev/net/tun ] || { skip all "/dev/net/tun missing"; exit 0; }

HOST_IP=172.16.0.1
MAC=06:00:ac:10:00:02
PORT=7777
IPARG="ip=172.16.0.2::$HOST_IP:255.255.255.252::eth0:off"
tmp=$TMP
NSES=()
PIDS=()
cleanup() {
	local p ns
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT


# setup CASE: namespace ember-qtest-<pid>-CASE with tap0 = 172.16.0.1/30 and the echo server.
setup() {
	NS=ember-qtest-$$-$1
	ip netns add "$NS" || return 1
	NSES+=("$NS")
	ip netns exec "$NS" ip link set lo up &&
		ip netns exec "$NS" ip tuntap add dev tap0 mode tap &&
		ip netns exec "$NS" ip addr add "$HOST_IP/30" dev tap0 &&
		ip netns exec "$NS" ip link set tap0 up || return 1
	ip netns exec "$NS" python3 "$(dirname "$0")/udp_echo.py" "$HOST_IP" "$PORT" "$tmp/echo-$1" &
	ECHO_PID=$!
	PIDS+=("$ECHO_PID")
	for _ in $(seq 100); do [ -e "$tmp/echo-$1.ready" ] && return 0; sleep 0.05; done
	return 1
}

stop_echo() {
	local f=${tmp:-$TMP}/echo-$1
	kill -TERM "$ECHO_PID" 2>/dev/null
	wait "$ECHO_PID" 2>/dev/null
	for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.05; done
	read -r DGRAMS _ <"$f" 2>/dev/null || DGRAMS=0
}

# qemu_net OUT APPEND: boot the guest with one virtio-net-device on tap0 of $NS.
qemu_net() {
	timeout -k 5 60 ip netns exec "$NS" "$QEMU" -M microvm,acpi=off -global virtio-mmio.force-legacy=false \
		-enable-kvm -cpu host -m 128 -nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$1" -kernel "$IMG" -append "$2" \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-device virtio-net-device,netdev=n0,mac=$MAC 2>"$1.err"
}

icmp_in_echos() {
	ip netns exec "$NS" awk '$1 == "Icmp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c["InEchos"] }' /proc/net/snmp
}

field() { grep -o " $1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }

# verdict CASE OUT STATUS WANT_DONE: QEMU exited by itself with the wanted PROBE DONE line.
verdict() {
	if [ "$3" -eq 124 ]; then
		fail "$1" "QEMU did not exit within 60 s: $(tail -n 2 "$2" | tr '\n' '|')"
	elif [ "$3" -ne 0 ]; then
		fail "$1" "QEMU exited $3: $(head -c 300 "$2.err")"
	elif ! grep -qx "$4" "$2"; then
		fail "$1" "$(grep -E '^PROBE|^EXCEPTION' "$2" | tr '\n' '|' | head -c 700)"
	else
		return 0
	fi
	return 1
}

# net: the full exchange, checked from both ends.
c=net
if setup $c; then
	in0=$(icmp_in_echos)
	qemu_net "$tmp/$c.out" "probe=net $IPARG net_udp_port=$PORT net_mac=$MAC"
	st=$?
	stop_echo $c
	dgrams=$DGRAMS
	if verdict $c "$tmp/$c.out" $st "PROBE DONE pass=1 fail=0"; then
		line=$(grep '^PROBE net ' "$tmp/$c.out")
		burst=$(field burst "$line")
		burst=${burst:-0/0}
		dgrams=${dgrams:-0}
		pings=$(( $(icmp_in_echos) - in0 ))
		msg=
		[ "$pings" -ge 5 ] || msg="$msg host-saw-$pings-pings"
		[ "$dgrams" -ge $((12 + ${burst%%/*})) ] || msg="$msg echo-server-saw-$dgrams-datagrams"
		[ -z "$msg" ] && pass $c "rtt_us=$(field rtt_us "$line") pps=$(field pps "$line") host: pings=$pings datagrams=$dgrams" ||
			fail $c "$msg: $line"
	fi
else
	fail $c "cannot set up the namespace, tap or echo server"
fi

# net-evil: survived, the device works afterwards (after a reset when it needed one).
c=net-evil
if setup $c; then
	qemu_net "$tmp/$c.out" "probe=net-evil $IPARG"
	verdict $c "$tmp/$c.out" $? "PROBE DONE pass=1 fail=0" &&
		pass $c "$(grep '^PROBE net-evil' "$tmp/$c.out" | cut -d' ' -f4-)"
	stop_echo $c
fi

# Merged buffers; no merging.
for spec in "mrg-small:net_rxbuf=512 net_burst_ms=200" "no-mrg:net_no_mrg net_burst_ms=200" \
	"offload:net_offload net_burst_ms=200"; do
	c=${spec%%:*}
	setup "$c" || { fail "$c" "setup"; continue; }
	qemu_net "$tmp/$c.out" "probe=net $IPARG net_udp_port=$PORT ${spec#*:}"
	st=$?
	stop_echo "$c"
	verdict "$c" "$tmp/$c.out" $st "PROBE DONE pass=1 fail=0" || continue
	line=$(grep '^PROBE net ' "$tmp/$c.out")
	if [ "$c" = mrg-small ] && ! [ "$(field numbuf_max "$line")" -ge 3 ] 2>/dev/null; then
		fail "$c" "frames-not-spread: $line"
	elif [ "$c" = offload ] && ! grep -qE 'csum_partial=tx[1-9][0-9]*/rx[1-9]' <<<"$line"; then
		fail "$c" "no-partial-checksums: $line"
	else
		pass "$c" "$(grep -o 'numbuf_max=[^ ]*\|num_buffers-not-1=[^ ]*\|pps=[^ ]*\|csum_partial=[^ ]*' <<<"$line" | tr '\n' ' ')"
	fi
done

# The check can fail: a MAC that is not the device's.
c=wrong-mac
if setup $c; then
	qemu_net "$tmp/$c.out" "probe=net $IPARG net_mac=06:00:ac:10:00:99 net_pings=1 net_burst_ms=0"
	verdict $c "$tmp/$c.out" $? "PROBE DONE pass=0 fail=1" &&
		{ grep -q '^PROBE net FAIL .*mac-not-as-expected' "$tmp/$c.out" && pass $c ||
			fail $c "$(grep '^PROBE net' "$tmp/$c.out")"; }
	stop_echo $c
fi

[ "$fails" -eq 0 ]
