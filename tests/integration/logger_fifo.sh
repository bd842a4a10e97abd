#!/usr/bin/env bash
# logger_fifo.sh: a log FIFO nobody reads never blocks ember: lines are dropped and counted.
T=logger_fifo
. "$(dirname "$0")/common.bash"
need_ember
S=$TMP/api.sock
mkfifo "$TMP/log.fifo"
"$EMBER" --api-sock "$S" --metrics-path "$TMP/metrics.json" </dev/null >"$TMP/out" 2>&1 &
pid=$!
disown "$pid"
trap 'kill -9 $pid 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.02; done
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$S" -X PUT http://localhost/logger \
	-d '{"log_path": "'"$TMP/log.fifo"'", "level": "Debug"}')
[ "$code" = 204 ] && pass fifo-without-reader-accepted || fail fifo-without-reader-accepted "PUT /logger: $code"
# Every request logs a line; 2000 of them overflow the 64 KiB pipe buffer.
start=$(date +%s%N)
python3 - "$S" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
for i in range(2000):
    s.sendall(b"GET /machine-config HTTP/1.1\r\n\r\n")
    f.readline()
    n = 0
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        if h.lower().startswith(b"content-length:"):
            n = int(h.split(b":")[1])
    f.read(n)
PY
ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$S" http://localhost/)
[ "$code" = 200 ] && pass still-serving "2000 logged requests in ${ms} ms" || fail still-serving "GET / -> $code"
curl -s -o /dev/null --unix-socket "$S" -X PUT http://localhost/actions -d '{"action_type": "FlushMetrics"}'
lost=$(python3 -c 'import json,sys; print(sum(json.loads(l)["logger"]["missed_log_count"] for l in open(sys.argv[1]) if l.strip()))' "$TMP/metrics.json")
[ "${lost:-0}" -gt 0 ] && pass lost-lines-counted "missed_log_count=$lost" || fail lost-lines-counted "missed_log_count=$lost"
# A reader that shows up later gets whole lines in Firecracker's format.
timeout 2 head -c 4096 "$TMP/log.fifo" >"$TMP/read" 2>/dev/null
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ \[anonymous-instance:fc_api\] The API server received a GET request on "/machine-config"\.$' "$TMP/read" &&
	pass reader-gets-lines || fail reader-gets-lines "$(head -2 "$TMP/read")"
finish
