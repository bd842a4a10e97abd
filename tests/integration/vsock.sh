#!/usr/bin/env bash
# vsock.sh: ember's virtio-vsock end to end, against real host programs (python3 sockets): Firecracker's
# Unix-socket protocol both ways, checked streams of 1 byte to 4 MiB, 16 connections each way at once,
# refusals (no guest listener, no host listener, bad CONNECT lines, a silent client), hostile guest
# packets, no fd left behind, the vsock metrics, and a corrupted stream that the guest must catch.
T=vsock
. "$(dirname "$0")/common.bash"
need_ember
for t in python3 curl; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The host side: clients through uds_path, listeners at <uds_path>_<port>, all checking the pattern.
cat >"$TMP/vhost.py" <<'PY'
#!/usr/bin/env python3
"""Host side of ember's vsock tests: Firecracker's vsock-over-Unix-socket protocol with checked streams.

  client   PATH PORT:H2G:G2H[:BAD] [...]  connect through PATH with "CONNECT <port>\\n" (concurrently)
  server   PATH LOG PORT:H2G:G2H[:BAD] [...] [sink:PORT]  listen on PATH_<port>; sinks never read
  refused  PATH PORT                the guest has no listener: the connection must be closed
  closed   PATH BYTES               send BYTES (Python literal) and expect ember to close
Every stream is the pattern the test guest checks (tests/guest/vsock.c): a 64 KiB block of
splitmix64 words, started at ((port * 2 + dir) * 4099 + 17) % 65536, dir 0 guest->host, 1 host->guest.
Results are JSON lines; the exit code is non-zero if any check failed.
"""
import ast
import json
import os
import socket
import struct
import sys
import threading
import time

M64 = (1 << 64) - 1


def splitmix(k):
    z = ((k + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


BLOCK = b"".join(struct.pack("<Q", splitmix(k)) for k in range(8192))


def stream(port, to_host, n):
    s = ((port * 2 + (0 if to_host else 1)) * 4099 + 17) & 0xFFFF
    reps = (s + n) // len(BLOCK) + 1
    return (BLOCK * reps)[s:s + n]


def transfer(sock, port, h2g, g2h, corrupt=-1):
    """Send h2g bytes to the guest and half-close; read to EOF; compare with what the guest must send.
    corrupt >= 0 flips that byte of what is sent (the guest must notice)."""
    data = stream(port, False, h2g)
    if 0 <= corrupt < h2g:
        data = data[:corrupt] + bytes([data[corrupt] ^ 0x40]) + data[corrupt + 1:]
    res = {"port": port, "h2g": h2g, "g2h_want": g2h}
    err = []

    def sender():
        try:
            t = time.time()
            sock.sendall(data)
            res["h2g_s"] = time.time() - t
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append("send: %s" % e)

    t0 = time.time()
    th = threading.Thread(target=sender)
    th.start()
    chunks, first = [], None
    try:
        while True:
            b = sock.recv(1 << 20)
            if not b:
                break
            if first is None:
                first = time.time()
            chunks.append(b)
    except OSError as e:
        err.append("recv: %s" % e)
    t1 = time.time()
    th.join()
    rx = b"".join(chunks)
    res["g2h"] = len(rx)
    res["s"] = round(t1 - t0, 4)
    if g2h and first is not None:
        res["g2h_Bps"] = int(len(rx) / max(t1 - first, 1e-6))
    if h2g and "h2g_s" in res:
        res["h2g_Bps"] = int(h2g / max(res["h2g_s"], 1e-6))
    want = stream(port, True, g2h)
    if rx != want:
        bad = next((i for i in range(min(len(rx), len(want))) if rx[i] != want[i]), min(len(rx), len(want)))
        err.append("guest data differs at byte %d (got %d of %d bytes)" % (bad, len(rx), g2h))
    res["ok"] = not err
    if err:
        res["error"] = "; ".join(err)
    return res


def read_line(sock, limit=64, timeout=10.0):
    sock.settimeout(timeout)
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        b = sock.recv(1)
        if not b:
            break
        line += b
    sock.settimeout(None)
    return line


def client_one(path, port, h2g, g2h, corrupt, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.sendall(b"CONNECT %d\n" % port)
        line = read_line(s)
        if not line.startswith(b"OK ") or not line.endswith(b"\n"):
            out.append({"port": port, "ok": False, "error": "no OK line: %r" % line})
            return
        r = transfer(s, port, h2g, g2h, corrupt)
        r["host_port"] = int(line[3:-1])
        out.append(r)
    except OSError as e:
        out.append({"port": port, "ok": False, "error": str(e)})
    finally:
        s.close()


def spec(a):
    """PORT:H2G:G2H[:CORRUPT]"""
    f = [int(x) for x in a.split(":")]
    return f[0], f[1], f[2], (f[3] if len(f) > 3 else -1)


def cmd_client(path, specs):
    out, ths = [], []
    for a in specs:
        t = threading.Thread(target=client_one, args=(path, *spec(a), out))
        t.start()
        ths.append(t)
    for t in ths:
        t.join()
    for r in sorted(out, key=lambda r: r["port"]):
        print(json.dumps(r), flush=True)
    return all(r["ok"] for r in out) and len(out) == len(specs)


def cmd_server(path, log, specs):
    lock = threading.Lock()
    held = []

    def serve(c, port, h2g, g2h, corrupt):
        r = transfer(c, port, h2g, g2h, corrupt)
        c.close()
        with lock, open(log, "a") as f:
            f.write(json.dumps(r) + "\n")

    def listen(port, fn):
        p = "%s_%d" % (path, port)
        if os.path.exists(p):
            os.unlink(p)
        l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        l.bind(p)
        l.listen(64)
        while True:
            c, _ = l.accept()
            fn(c)

    for a in specs:
        if a.startswith("sink:"):
            port = int(a[5:])
            fn = held.append   # accept, never read, keep open
        else:
            sp = spec(a)
            port = sp[0]
            fn = (lambda sp: lambda c: threading.Thread(
                target=serve, args=(c, *sp), daemon=True).start())(sp)
        threading.Thread(target=listen, args=(port, fn), daemon=True).start()
    with open(log + ".ready", "w") as f:
        f.write("ready\n")
    while True:
        time.sleep(3600)


def expect_closed(s, timeout):
    """True if ember closes the connection (EOF or reset) within timeout, sending no OK."""
    s.settimeout(timeout)
    try:
        data = s.recv(64)
        return data == b"", data
    except ConnectionResetError:
        return True, b""
    except socket.timeout:
        return False, b"(timeout)"


def cmd_refused(path, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"CONNECT %d\n" % port)
    t = time.time()
    ok, data = expect_closed(s, 10)
    print(json.dumps({"port": port, "ok": ok, "got": repr(data), "s": round(time.time() - t, 3)}))
    return ok


def cmd_closed(path, payload, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if payload:
        s.sendall(payload)
    t = time.time()
    ok, data = expect_closed(s, timeout)
    print(json.dumps({"sent": repr(payload), "ok": ok, "got": repr(data), "s": round(time.time() - t, 3)}))
    return ok


def main(argv):
    cmd, path = argv[1], argv[2]
    if cmd == "client":
        return cmd_client(path, argv[3:])
    if cmd == "server":
        return cmd_server(path, argv[3], argv[4:])
    if cmd == "refused":
        return cmd_refused(path, int(argv[3]))
    if cmd == "closed":
        return cmd_closed(path, ast.literal_eval(argv[3]), float(argv[4]) if len(argv) > 4 else 10)
    raise SystemExit("unknown command %s" % cmd)


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
PY
H=(python3 "$TMP/vhost.py")
SOCK=$TMP/v.sock
P=5000      # guest listens on P+i (vsock-listen) and P+1000+i (vsock-multi)
Q=6000      # host listens on Q+i (vsock-connect, vsock-evil) and Q+1000+i (vsock-multi)
R=6999      # nobody listens: the guest's connect must be reset
E=6900      # a host program that never reads (vsock-evil: credit)
NOL=5999    # the guest does not listen here: a host CONNECT must be closed
XFER=(1:1 4096:65537 65536:4096 4194304:0 0:4194304 4194304:4194304)   # host->guest:guest->host
N=16        # connections each way at once
MB=65536    # bytes each way on each of them

# wait_for FILE REGEX SECONDS
wait_for() { wait_line "$1" "$2" "$3" "$EP"; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# vmconfig FILE ARGS: the test guest with a vsock device at $SOCK and a metrics file.
vmconfig() {
	printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": %s},\n "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},\n "vsock": {"guest_cid": 3, "uds_path": "%s"},\n "metrics": {"metrics_path": "%s"}}\n' \
		"$GUEST_DIR/guest.elf" "$(json_str "$2")" "$SOCK" "$TMP/metrics.json" >"$1"
}

srv=()
for i in "${!XFER[@]}"; do srv+=("$((Q + i)):${XFER[i]}"); done
for ((i = 0; i < N; i++)); do srv+=("$((Q + 1000 + i)):$MB:$MB"); done
"${H[@]}" server "$SOCK" "$TMP/srv.log" "${srv[@]}" "sink:$E" 2>"$TMP/srv.err" &
PIDS+=($!)
for _ in $(seq 50); do [ -f "$TMP/srv.log.ready" ] && break; sleep 0.1; done

ARGS="console=ttyS0 probe=vsock-listen,vsock-connect,vsock-multi,vsock-evil,idle vsock_listen_port=$P"
ARGS+=" vsock_connect_port=$Q vsock_refused_port=$R vsock_evil_port=$E vsock_conns=$N vsock_multi_bytes=$MB"
ARGS+=" vsock_xfer=$(IFS=,; echo "${XFER[*]}")"
vmconfig "$TMP/c.json" "$ARGS"
"$EMBER" --api-sock "$TMP/api.sock" --config-file "$TMP/c.json" </dev/null >"$TMP/out" 2>&1 &
EP=$!
PIDS+=($EP)
if ! wait_for "$TMP/out" 'VSOCK listen ready' 30; then
	if grep -q 'vsock devices are not supported' "$TMP/out"; then
		skip all "this ember does not create vsock devices yet"
		finish
	fi
	fail boot "no 'VSOCK listen ready' from the guest: $(grep -E 'PROBE|ERROR|rror' "$TMP/out" | head -5 | tr '\n' ' ')"
	finish
fi
fd0=$(nfds $EP)

# 1. Refusals while the guest listens: no guest listener, bad lines, a client that never speaks.
"${H[@]}" closed "$SOCK" 'b""' 9 >"$TMP/silent.out" &
silent=$!
if "${H[@]}" refused "$SOCK" $NOL >"$TMP/r.out"; then
	pass host-connect-no-guest-listener "$(cat "$TMP/r.out")"
else
	fail host-connect-no-guest-listener "$(cat "$TMP/r.out")"
fi
for line in 'b"HELLO 5000\n"' 'b"CONNECT 5000 5001\n"' 'b"CONNECT 0x10\n"' 'b"CONNECT 1111111111111111111111111111111111111\n"'; do
	if "${H[@]}" closed "$SOCK" "$line" 5 >"$TMP/m.out"; then
		pass "bad-connect-line $line"
	else
		fail "bad-connect-line $line" "$(cat "$TMP/m.out")"
	fi
done

# 2. One connection per size to the guest's listeners, one after the other.
bad=0
for i in "${!XFER[@]}"; do
	"${H[@]}" client "$SOCK" "$((P + i)):${XFER[i]}" >>"$TMP/listen.out" || bad=1
done
if [ $bad = 0 ] && [ "$(grep -c '"ok": true' "$TMP/listen.out")" = ${#XFER[@]} ]; then
	pass host-to-guest-listeners "${XFER[*]} checked on the host"
else
	fail host-to-guest-listeners "$(grep -v '"ok": true' "$TMP/listen.out" | head -3)"
fi
wait $silent && pass silent-client-closed "$(cat "$TMP/silent.out")" ||
	fail silent-client-closed "$(cat "$TMP/silent.out")"

# 3. N host connections at once (the guest connects N more to our listeners meanwhile).
if wait_for "$TMP/out" 'VSOCK multi ready' 120; then
	specs=()
	for ((i = 0; i < N; i++)); do specs+=("$((P + 1000 + i)):$MB:$MB"); done
	if "${H[@]}" client "$SOCK" "${specs[@]}" >"$TMP/multi.out" &&
		[ "$(grep -c '"ok": true' "$TMP/multi.out")" = $N ]; then
		pass host-concurrent-$N "each $MB bytes both ways"
	else
		fail host-concurrent-$N "$(grep -v '"ok": true' "$TMP/multi.out" | head -3)"
	fi
else
	fail host-concurrent-$N "no 'VSOCK multi ready': $(grep '^PROBE' "$TMP/out" | tr '\n' ' ')"
fi

# 4. The guest's verdicts (it checked every byte it received against the pattern).
wait_for "$TMP/out" '^PROBE vsock-evil ' 120
for c in vsock-listen vsock-connect vsock-multi vsock-evil; do
	l=$(grep "^PROBE $c " "$TMP/out")
	case "$l" in
	"PROBE $c PASS"*) pass "guest-$c" "${l#PROBE $c PASS }" ;;
	*) fail "guest-$c" "${l:-no PROBE line}" ;;
	esac
done
# The guest's RST in vsock-evil's credit case must be ember refusing the overrun (its log says so).
if grep -q 'overran its credit' "$TMP/out"; then
	pass credit-overrun-reset "$(grep -o 'guest port [0-9]* overran its credit.*' "$TMP/out" | head -1)"
else
	fail credit-overrun-reset "ember did not reset the connection that ignored its credit"
fi
want=$(( ${#XFER[@]} + N + 1 ))
got=$(grep -c '"ok": true' "$TMP/srv.log" 2>/dev/null)
if [ "$got" = $want ] && ! grep -q '"ok": false' "$TMP/srv.log"; then
	pass host-listeners "$got guest connections checked on the host"
else
	fail host-listeners "$got of $want ok: $(grep '"ok": false' "$TMP/srv.log" | head -2)"
fi

# 5. Throughput of one stream each way (4 MiB): the guest times what it received, the host what it read.
h2g_g=$(grep -E "^VSOCK listen port=$((P + 3)) " "$TMP/out" | sed -n 's/.*h2g_Bps=\([0-9]*\).*/\1/p')
g2h_h=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("g2h_Bps", 0))' \
	"$(grep "\"port\": $((P + 4))," "$TMP/listen.out")" 2>/dev/null)
h2g_c=$(grep -E "^VSOCK connect port=$((Q + 3)) " "$TMP/out" | sed -n 's/.*h2g_Bps=\([0-9]*\).*/\1/p')
g2h_c=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("g2h_Bps", 0))' \
	"$(grep "\"port\": $((Q + 4))," "$TMP/srv.log")" 2>/dev/null)
if [ "${h2g_g:-0}" -gt 0 ] && [ "${g2h_h:-0}" -gt 0 ]; then
	pass throughput "4 MiB host->guest $((h2g_g / 1000)) kB/s (guest-measured, host-initiated), $((h2g_c / 1000)) kB/s (guest-initiated); guest->host $((g2h_h / 1000)) kB/s (host-measured, host-initiated), $((g2h_c / 1000)) kB/s (guest-initiated)"
else
	fail throughput "no measurement (h2g=$h2g_g g2h=$g2h_h)"
fi

# 6. Every connection is gone: ember holds the fds it held before any (the guest idles, the VM runs).
wait_for "$TMP/out" '^PROBE TICK' 30
fd1=-1
for _ in $(seq 80); do
	fd1=$(nfds $EP)
	[ "$fd1" = "$fd0" ] && break
	sleep 0.1
done
if [ "$fd1" = "$fd0" ]; then
	pass no-fd-leak "$fd0 fds before the first connection and after the last"
else
	fail no-fd-leak "$fd0 fds before, $fd1 after: $(ls -l /proc/$EP/fd 2>/dev/null | grep -c socket) sockets"
fi

# 7. Ctrl-Alt-Del ends the idle guest; ember exits 0; metrics count what happened.
curl -s --unix-socket "$TMP/api.sock" -X PUT http://localhost/actions \
	-d '{"action_type": "SendCtrlAltDel"}' >/dev/null
for _ in $(seq 100); do kill -0 $EP 2>/dev/null || break; sleep 0.1; done
wait $EP
rc=$?
if [ $rc = 0 ] && grep -q '^PROBE DONE pass=5 fail=0' "$TMP/out"; then
	pass exit "$(grep '^PROBE DONE' "$TMP/out")"
else
	fail exit "rc=$rc $(grep '^PROBE DONE' "$TMP/out")"
fi
m=$(python3 - "$TMP/metrics.json" <<'PY'
import json, sys
tot = {}
for line in open(sys.argv[1]):
    for k, v in json.loads(line).get("vsock", {}).items():
        tot[k] = tot.get(k, 0) + v
need = ["activate_fails", "cfg_fails", "rx_queue_event_fails", "tx_queue_event_fails",
        "ev_queue_event_fails", "muxer_event_fails", "conn_event_fails", "rx_queue_event_count",
        "tx_queue_event_count", "rx_bytes_count", "tx_bytes_count", "rx_packets_count",
        "tx_packets_count", "conns_added", "conns_killed", "conns_removed", "killq_resync",
        "tx_flush_fails", "tx_write_fails", "rx_read_fails"]
missing = [k for k in need if k not in tot]
print("missing=%s" % ",".join(missing) if missing else
      "conns_added=%d conns_removed=%d conns_killed=%d rx_bytes=%d tx_bytes=%d" %
      (tot["conns_added"], tot["conns_removed"], tot["conns_killed"], tot["rx_bytes_count"],
       tot["tx_bytes_count"]))
PY
)
case "$m" in
missing=*|"") fail metrics "$m" ;;
*)
	set -- $(echo "$m" | tr '= ' '  ')
	# added == removed: every connection ember made is accounted for; bytes at least what was checked.
	if [ "$2" -gt $((2 * N)) ] && [ "$2" = "$4" ] && [ "$8" -ge $((2 * 4194304)) ] && [ "${10}" -ge $((2 * 4194304)) ]; then
		pass metrics "$m"
	else
		fail metrics "$m"
	fi
	;;
esac

# 8. The guest's check can fail: one flipped byte in a host->guest stream must be caught.
rm -f "$TMP/out2"
vmconfig "$TMP/c2.json" "console=ttyS0 probe=vsock-listen vsock_listen_port=5100 vsock_xfer=65536:0 vsock_timeout=20"
rm -f "$SOCK"
"$EMBER" --no-api --config-file "$TMP/c2.json" </dev/null >"$TMP/out2" 2>&1 &
EP=$!
PIDS+=($EP)
if wait_for "$TMP/out2" 'VSOCK listen ready' 30; then
	"${H[@]}" client "$SOCK" 5100:65536:0:40000 >/dev/null
	wait $EP
	l=$(grep '^PROBE vsock-listen' "$TMP/out2")
	case "$l" in
	*FAIL*port5100=data-differs*first-bad-byte-at=*) pass corrupted-stream-caught "${l#PROBE }" ;;
	*) fail corrupted-stream-caught "${l:-no PROBE line}" ;;
	esac
else
	fail corrupted-stream-caught "guest not ready: $(tail -3 "$TMP/out2")"
fi
finish
