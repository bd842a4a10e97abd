#!/usr/bin/env bash
# linux_mmds.sh: Linux reaches ember's MMDS (V2) through its own virtio-net driver and busybox's
# wget and nc, while the rest of its traffic still goes to the tap. What `make run` boots
# (Debian's cloud kernel, busybox on an ext4 root) with eth0 on a tap in a network namespace,
# mmds-config {version V2, network_interfaces [eth0]} in the config file and the store's
# contents from --metadata. The guest routes 169.254.169.254 through eth0 and asks:
#   notoken   GET without a token: 401;
#   expired   a token with a 1 s TTL (PUT /latest/api/token), used 3 s later: 401;
#   nested    with a fresh token, busybox wget fetches /latest/meta-data/placement/region (under
#             timeout: busybox-static 1.35's wget -T crashes);
#   missing   /latest/meta-data/nope with the token: 404;
#   list      /latest/meta-data/ lists its keys in IMDS text ("ami-id", "placement/");
#   patch     the host's PATCH /mmds while the guest runs: the guest sees the new value;
#   tap       the guest pings the host through the tap, beside the detour;
#   metrics   ember's mmds metric group counts the frames it took and answered.
# Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
set -uo pipefail
[ "${1:-}" = prepare ] && exit 0
T=linux_mmds
. "$(dirname "$0")/common.bash"
cd "$(dirname "$0")/../.."
need_ember
need_linux_io
need_tools curl python3 ip
need_root "a network namespace and a tap"
WAIT=${LMM_TIMEOUT:-300}
HOST_IP=172.16.0.1 GUEST_IP=172.16.0.2 MAC=06:00:ac:10:00:02
ns=ember-mmds-$$
ns_taps "$ns" "$HOST_IP/30" tap0

FUNC='dev=$(grep -l '"$MAC"' /sys/class/net/*/address | head -n1 | cut -d/ -f5)
ip addr add '"$GUEST_IP"'/30 dev "$dev" && ip link set "$dev" up && ip route add 169.254.169.254 dev "$dev"
M=169.254.169.254
req() { # METHOD PATH [HEADER]: the answer, CRs dropped
	{ printf "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" "$1" "$2" "$M"
	  [ -n "${3:-}" ] && printf "%s\r\n" "$3"
	  printf "\r\n"; } | nc -w 20 $M 80 | tr -d "\r"
}
say() { echo "MM $*"; }
say notoken $(req GET /latest/meta-data/ami-id | head -n1 | cut -d" " -f1,2)
t1=$(req PUT /latest/api/token "X-metadata-token-ttl-seconds: 1" | tail -n1)
sleep 3
say expired $(req GET /latest/meta-data/ami-id "X-metadata-token: $t1" | head -n1 | cut -d" " -f1,2)
t2=$(req PUT /latest/api/token "X-metadata-token-ttl-seconds: 600" | tail -n1)
say nested $(timeout 30 wget -q -O - --header "X-metadata-token: $t2" http://$M/latest/meta-data/placement/region 2>&1)
say missing $(req GET /latest/meta-data/nope "X-metadata-token: $t2" | head -n1 | cut -d" " -f1,2)
say list $(req GET /latest/meta-data/ "X-metadata-token: $t2" | sed "1,/^\$/d" | tr "\n" " ")
say ready-for-patch
v=
for i in $(seq 120); do
	v=$(req GET /latest/meta-data/ami-id "X-metadata-token: $t2" | sed "1,/^\$/d")
	[ "$v" != ami-12345678 ] && break
	sleep 1
done
say patch $v
say tap $(ping -c 2 -W 5 '"$HOST_IP"' >/dev/null 2>&1 && echo ok || echo failed)'
cat >"$TMP/meta.json" <<'JSON'
{"latest": {"meta-data": {"ami-id": "ami-12345678", "placement": {"region": "eu-west-1"}}}}
JSON
tests/linux/guest_io.sh demo-config "$FUNC" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["network-interfaces"] = [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": sys.argv[1]}]
c["mmds-config"] = {"version": "V2", "network_interfaces": ["eth0"]}
c["metrics"] = {"metrics_path": sys.argv[2]}
json.dump(c, sys.stdout)' "$MAC" "$TMP/metrics" >"$TMP/cfg.json"

ip netns exec "$ns" "$EMBER" --api-sock "$TMP/a.sock" --config-file "$TMP/cfg.json" --metadata "$TMP/meta.json" \
	</dev/null >"$TMP/a.out" 2>&1 &
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
mm() { tr -d '\r' <"$TMP/a.out" | sed -n "s/^MM $1 *//p" | head -n1; }
if ! wait_line '^MM ready-for-patch'; then
	fail boot "no MMDS answers: $(grep -a 'MM\|ember\|Kernel panic' "$TMP/a.out" | tr -d '\r' | tail -n 4 | tr '\n' '|')"
	finish
fi
st=$(curl -s --max-time 60 --unix-socket "$TMP/a.sock" -X PATCH http://localhost/mmds \
	-d '{"latest": {"meta-data": {"ami-id": "ami-87654321"}}}' -w '%{http_code}')
wait_line '^MM tap'
for _ in $(seq $((WAIT * 5))); do kill -0 $A 2>/dev/null || break; sleep 0.2; done
wait $A 2>/dev/null
rc=$?

check() { # NAME EXPECTED WHAT
	local got
	got=$(mm "$1")
	[ "$got" = "$2" ] && pass "$1" "$3: '$got'" || fail "$1" "$3: '$got', want '$2'"
}
check notoken "HTTP/1.1 401" "GET without a token"
check expired "HTTP/1.1 401" "a token 3 s past its 1 s TTL"
check nested "eu-west-1" "busybox wget with a token"
check missing "HTTP/1.1 404" "a key not in the store"
l=$(mm list)
grep -qw 'ami-id' <<<"$l" && grep -qw 'placement/' <<<"$l" && pass list "IMDS text: $l" || fail list "/latest/meta-data/ answered '$l'"
[ "$st" = 204 ] && [ "$(mm patch)" = ami-87654321 ] && pass patch "PATCH /mmds 204; the guest then reads ami-87654321" ||
	fail patch "PATCH /mmds $st; the guest read '$(mm patch)'"
check tap ok "ping of the host through the tap"
m=$(python3 -c 'import json, sys
a = t = 0
for l in open(sys.argv[1]):
    if l.strip():
        g = json.loads(l).get("mmds", {})
        a += g.get("rx_accepted", 0); t += g.get("tx_frames", 0)
print(a, t)' "$TMP/metrics" 2>/dev/null)
read -r acc txf <<<"${m:-0 0}"
[ "$rc" = 0 ] && [ "${acc:-0}" -gt 0 ] && [ "${txf:-0}" -gt 0 ] &&
	pass metrics "mmds rx_accepted $acc, tx_frames $txf; ember exited 0" ||
	fail metrics "ember exited $rc; mmds rx_accepted ${acc:-?}, tx_frames ${txf:-?}"
finish
