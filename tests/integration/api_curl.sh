#!/usr/bin/env bash
# api_curl.sh: Firecracker's getting-started sequence, verbatim with curl, against ember:
# boot-source, machine-config, InstanceStart; the guest runs; PATCH /vm pauses and resumes it.
T=api_curl
. "$(dirname "$0")/common.bash"
need_ember
command -v curl >/dev/null || { fail deps "curl is not installed"; finish; }
API_SOCKET=$TMP/firecracker.socket
KERNEL=$GUEST_DIR/guest.elf
"$EMBER" --api-sock "$API_SOCKET" </dev/null >"$TMP/out" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -S "$API_SOCKET" ] && break; sleep 0.02; done

# As in Firecracker's getting-started guide (binary name and socket path aside).
c1=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data "{
		\"kernel_image_path\": \"${KERNEL}\",
		\"boot_args\": \"console=ttyS0 reboot=k panic=1 probe=idle\"
	}" \
	"http://localhost/boot-source")
c2=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	-H 'Accept: application/json' -H 'Content-Type: application/json' \
	--data '{"vcpu_count": 2, "mem_size_mib": 128}' \
	"http://localhost/machine-config")
c3=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --unix-socket "${API_SOCKET}" \
	--data '{"action_type": "InstanceStart"}' \
	"http://localhost/actions")
[ "$c1$c2$c3" = 204204204 ] && pass sequence || fail sequence "codes $c1 $c2 $c3"

state=$(curl -s --unix-socket "$API_SOCKET" http://localhost/)
echo "$state" | grep -q '"state":"Running"' && pass state-running || fail state-running "$state"

ticks() { grep -c '^PROBE TICK' "$TMP/out"; }
for _ in $(seq 100); do [ "$(ticks)" -ge 2 ] && break; sleep 0.05; done
curl -s --unix-socket "$API_SOCKET" -X PATCH http://localhost/vm -d '{"state": "Paused"}' >/dev/null
a=$(ticks); sleep 1; b=$(ticks)
curl -s --unix-socket "$API_SOCKET" -X PATCH http://localhost/vm -d '{"state": "Resumed"}' >/dev/null
sleep 1; c=$(ticks)
[ "$a" -eq "$b" ] && [ "$c" -gt "$b" ] && pass pause-resume "ticks $a, $b paused, $c resumed" ||
	fail pause-resume "ticks $a -> $b (paused) -> $c (resumed)"
curl -s --unix-socket "$API_SOCKET" -X PUT http://localhost/actions -d '{"action_type": "SendCtrlAltDel"}'
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] && pass exit-after-ctrl-alt-del || fail exit-after-ctrl-alt-del "exit $rc"
finish
