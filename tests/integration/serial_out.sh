#!/usr/bin/env bash
# serial_out: PUT /serial and the config file's "serial" section send the guest's console to a
# file (appended to, never truncated) instead of stdout; its rate_limiter drops what exceeds it
# and counts it (uart.rate_limiter_dropped_bytes); bad paths and late requests are refused.
# ember-test: kvm-any
T=serial_out
. "$(dirname "$0")/common.bash"
need_ember

ARGS="console=ttyS0 probe=boot,serial"

# cfg FILE SERIAL_JSON: the test guest, metrics to FILE.metrics, the "serial" section given.
cfg() {
	cat >"$1" <<EOF
{"boot-source": {"kernel_image_path": "$GUEST_DIR/guest.elf", "boot_args": "$ARGS"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
 "metrics": {"metrics_path": "$1.metrics"},
 "serial": $2}
EOF
}

# metric FILE GROUP.NAME: a counter summed over every line of a metrics file.
metric() {
	python3 -c 'import json, sys
g, k = sys.argv[2].split(".")
print(sum(json.loads(l).get(g, {}).get(k, 0) for l in open(sys.argv[1]) if l.strip()))' "$1" "$2" 2>/dev/null || echo missing
}

# 1. Config file: the guest's output lands in the file, after what was there; none on stdout.
out=$TMP/console.out
printf 'KEEP-ME\n' >"$out"
cfg "$TMP/c1.json" "{\"serial_out_path\": \"$out\"}"
run_ember "$TMP/c1.stdout" 30 --no-api --config-file "$TMP/c1.json"
if [ "$RC" -eq 0 ] && [ "$(head -n1 "$out")" = KEEP-ME ] && grep -q '^PROBE DONE pass=2 fail=0' "$out" &&
	! grep -q '^PROBE' "$TMP/c1.stdout"; then
	pass file "$(($(grep -c . "$out") - 1)) lines in the file after the one kept, none on stdout"
else
	fail file "rc=$RC; file: $(head -c 300 "$out" | tr '\n' '|'); stdout: $(grep -c '^PROBE' "$TMP/c1.stdout") PROBE lines"
fi

# 2. A bucket of 200 bytes that does not refill during the run: exactly 200 bytes more in the
#    file, the rest counted as dropped.
: >"$out"
cfg "$TMP/c2.json" "{\"serial_out_path\": \"$out\", \"rate_limiter\": {\"size\": 200, \"refill_time\": 3600000}}"
run_ember "$TMP/c2.stdout" 30 --no-api --config-file "$TMP/c2.json"
got=$(wc -c <"$out")
dropped=$(metric "$TMP/c2.json.metrics" uart.rate_limiter_dropped_bytes)
if [ "$RC" -eq 0 ] && [ "$got" -eq 200 ] && [ "$dropped" -gt 0 ]; then
	pass limit "200 bytes written, $dropped dropped and counted"
else
	fail limit "rc=$RC: $got bytes in the file (want 200), dropped=$dropped"
fi

# 3. Over the API: bad requests refused, PUT /serial then InstanceStart; refused after it.
S=$TMP/api.sock
"$EMBER" --api-sock "$S" </dev/null >"$TMP/api.stdout" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.05; done
api() { # METHOD PATH JSON: "STATUS BODY"
	curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" --unix-socket "$S" "http://localhost$2" \
		-H 'Content-Type: application/json' -d "$3"
	echo " $(cat "$TMP/body" 2>/dev/null)"
}
aout=$TMP/api-console.out
r1=$(api PUT /serial "{\"serial_out_path\": \"$TMP\"}")
r2=$(api PUT /serial '{"serial_out_path": "x", "baud": 9600}')
r3=$(api PUT /serial "{\"serial_out_path\": \"$aout\"}")
# idle: the guest ticks until Ctrl-Alt-Del, so the VM is still running for the late PUT.
r4=$(api PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"console=ttyS0 probe=boot,idle\"}")
r5=$(api PUT /actions '{"action_type": "InstanceStart"}')
wait_line "$aout" '^PROBE boot PASS' 30 "$pid"
r6=$(api PUT /serial "{\"serial_out_path\": \"$aout\"}")
api PUT /actions '{"action_type": "SendCtrlAltDel"}' >/dev/null
wait_line "$aout" '^PROBE DONE' 30 "$pid"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
case "$r1" in 400*"Cannot open the serial output file"*) pass api-bad-path "${r1:0:120}" ;;
*) fail api-bad-path "a directory as serial_out_path: $r1" ;; esac
case "$r2" in 400*"unknown field"*baud*) pass api-unknown-field "${r2:0:120}" ;;
*) fail api-unknown-field "$r2" ;; esac
if [ "${r3%% *}" = 204 ] && [ "${r4%% *}" = 204 ] && [ "${r5%% *}" = 204 ] &&
	grep -q '^PROBE boot PASS' "$aout" && ! grep -q '^PROBE' "$TMP/api.stdout"; then
	pass api-put "PUT /serial, InstanceStart: the guest's output in the file"
else
	fail api-put "statuses ${r3%% *} ${r4%% *} ${r5%% *}; file: $(head -c 200 "$aout" 2>/dev/null | tr '\n' '|')"
fi
case "$r6" in 400*"not supported after starting"*) pass api-after-start "${r6:0:100}" ;;
*) fail api-after-start "PUT /serial after InstanceStart: $r6" ;; esac
finish
