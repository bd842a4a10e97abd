#!/usr/bin/env bash
# slow_console.sh: a reader of ember's stdout that stops reading never stops the guest or ember.
#
# The test guest floods its console (idle_chatter) into a pipe nobody reads. ember must go on:
# PATCH /vm Paused and Resumed answer 204, the state reads back, metrics count the dropped
# console bytes (uart.missed_write_count), SIGTERM ends ember with 143, and what did reach
# the pipe is in order.
T=slow_console
. "$(dirname "$0")/common.bash"
need_ember
mkconfig "$TMP/vm.json" "$GUEST_DIR/guest.elf" "console=ttyS0 probe=idle idle_chatter=16384" 1 64
timeout -k 5 300 python3 - "$EMBER" "$TMP" <<'PY'
import json, os, signal, socket, subprocess, sys, time

ember, tmp = sys.argv[1:3]
sock = os.path.join(tmp, "api.sock")
r, w = os.pipe()
p = subprocess.Popen([ember, "--api-sock", sock, "--config-file", os.path.join(tmp, "vm.json"),
                      "--metrics-path", os.path.join(tmp, "metrics")],
                     stdin=subprocess.DEVNULL, stdout=w, stderr=open(os.path.join(tmp, "err"), "wb"))
os.close(w)

def call(method, path, body=None, timeout=20):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        data = json.dumps(body).encode() if body is not None else b""
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method.encode(), path.encode(), len(data)) + data)
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
        head, _, rest = resp.partition(b"\r\n\r\n")
        status = int(head.split()[1]) if head else 0
        clen = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v)
        while len(rest) < clen:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        return status, rest.decode(errors="replace")
    except OSError as e:
        return 0, f"no answer: {e}"
    finally:
        s.close()

def report(name, ok, why=""):
    print(f"PASS slow_console/{name}" if ok else f"FAIL slow_console/{name}: {why}")

for _ in range(500):
    if os.path.exists(sock):
        break
    time.sleep(0.02)
# The pipe (64 KiB) and ember's console buffer (64 KiB) fill after a few ticks of 16 KiB.
deadline = time.time() + 120
missed = 0
while time.time() < deadline:
    st, _ = call("PUT", "/actions", {"action_type": "FlushMetrics"})
    if st != 204:
        break
    try:
        lines = open(os.path.join(tmp, "metrics")).read().splitlines()
        missed = sum(json.loads(l).get("uart", {}).get("missed_write_count", 0) for l in lines)
    except (OSError, ValueError):
        pass
    if missed > 0:
        break
    time.sleep(0.5)
report("output-dropped-not-blocked", missed > 0, f"uart.missed_write_count stayed {missed}")
st, body = call("PATCH", "/vm", {"state": "Paused"})
report("pause", st == 204, f"{st} {body}")
st, body = call("GET", "/")
report("state-paused", st == 200 and '"Paused"' in body, f"{st} {body}")
st, body = call("PATCH", "/vm", {"state": "Resumed"})
report("resume", st == 204, f"{st} {body}")
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
report("sigterm", rc == 143, f"exit {rc}")
# What reached the pipe is whole lines in order.
os.set_blocking(r, False)
got = b""
try:
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        got += chunk
except BlockingIOError:
    pass
ticks = [int(l.split()[2]) for l in got.decode(errors="replace").splitlines() if l.startswith("PROBE TICK ")]
report("pipe-in-order", len(got) > 0 and ticks == sorted(ticks), f"{len(got)} bytes, ticks {ticks[:10]}")
PY
rc=$?
[ $rc -eq 0 ] || fail run "the check itself ended with $rc"
finish
