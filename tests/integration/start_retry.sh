#!/usr/bin/env bash
# start_retry.sh: a failed InstanceStart (a truncated kernel) leaves the microVM configurable
# and startable, with nothing left behind: a second failure holds the same descriptors as the
# first (no fd, device or vCPU leaks), and after PUT /boot-source with a good kernel the guest
# boots with its one block device (the failed starts' command-line arguments gone too), answers
# its probes and ends ember with 0.
T=start_retry
. "$(dirname "$0")/common.bash"
need_ember
command -v curl >/dev/null || { fail deps "curl is needed (make deps-test installs it)"; finish; }
SOCK=$TMP/api.sock
head -c 1500 "$GUEST_DIR/guest.bzImage" >"$TMP/trunc.bz"
head -c 1048576 /dev/zero >"$TMP/disk.img"
"$EMBER" --api-sock "$SOCK" </dev/null >"$TMP/ember.log" 2>&1 &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 500); do [ -S "$SOCK" ] && break; sleep 0.02; done

api() { # METHOD PATH JSON: "<status> <body>"
	curl -s --max-time 60 --unix-socket "$SOCK" -X "$1" "http://localhost$2" \
		-H 'Content-Type: application/json' -d "$3" -w ' %{http_code}' 2>/dev/null |
		awk '{ st = $NF; $NF = ""; print st, $0 }'
}
fds() { ls "/proc/$PID/fd" 2>/dev/null | wc -l; }

st="$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}')"
st="$st|$(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$TMP/disk.img\", \"is_root_device\": true, \"is_read_only\": false}")"
st="$st|$(api PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$TMP/v.sock\"}")"
st="$st|$(api PUT /boot-source "{\"kernel_image_path\": \"$TMP/trunc.bz\"}")"
[ "$st" = "204 |204 |204 |204 " ] && pass setup || fail setup "PUT statuses: $st"

r1=$(api PUT /actions '{"action_type": "InstanceStart"}')
n1=$(fds)
r2=$(api PUT /actions '{"action_type": "InstanceStart"}')
n2=$(fds)
if [ "${r1%% *}" = 400 ] && [ "${r2%% *}" = 400 ] && grep -q bzImage <<<"$r1$r2"; then
	pass start-refused "${r1:0:160}"
else
	fail start-refused "first: ${r1:0:200}; second: ${r2:0:200}"
fi
[ "$n1" -gt 0 ] && [ "$n1" = "$n2" ] && pass no-leak "$n1 descriptors after each failed start" ||
	fail no-leak "$n1 descriptors after the first failed start, $n2 after the second"
st=$(api GET /machine-config '')
grep -q '"vcpu_count":2' <<<"$st" && pass still-configurable "${st:0:120}" ||
	fail still-configurable "GET /machine-config: $st"

st=$(api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"console=ttyS0 probe=boot,blk blk_expect=1 blk_no_pattern expect_cpus=2 expect_mem_mib=64\"}")
r3=$(api PUT /actions '{"action_type": "InstanceStart"}')
for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && { kill -KILL "$PID"; echo "# ember still running after 60 s: killed"; }
wait "$PID" 2>/dev/null
rc=$?
if [ "${st%% *}" = 204 ] && [ "${r3%% *}" = 204 ] && [ "$rc" = 0 ] &&
	grep -q '^PROBE DONE pass=2 fail=0' "$TMP/ember.log" && ! grep -q '^PROBE blk .*vdb:' "$TMP/ember.log"; then
	pass start-after-failure "$(grep '^PROBE blk ' "$TMP/ember.log" | cut -c1-120)"
else
	fail start-after-failure "PUT boot-source ${st%% *}, InstanceStart ${r3:0:160}, exit $rc; $(grep -E '^PROBE|rror' "$TMP/ember.log" | tail -n 4 | tr '\n' '|')"
fi
finish
