#!/usr/bin/env bash
# flood_api.sh: while the guest floods its block device (256 requests in flight, refilled as
# each completes, for as long as the test runs) and 256 silent API clients hold every connection
# slot, a new client's GET /version and GET / (the microVM's state, which the event-loop thread
# that also serves the block device must supply) are still answered, and so is a PATCH /vm
# Paused and Resumed. The 10 s deadline is a bound that an unbounded queue loop or a full slot
# table would miss for good, not a speed check. (Under emulation, in the lab or on PVM, the
# guest refills its ring more slowly than ember drains it, so there this catches a full slot
# table or a stuck event loop; the per-turn budget itself is checked without a guest.)
T=flood_api
. "$(dirname "$0")/common.bash"
need_ember
SOCK=$TMP/api.sock
truncate -s 64M "$TMP/disk.img"
ARGS="console=ttyS0 probe=blk-bench bench_op=read bench_pattern=rand bench_bs=4096 bench_qd=256 bench_mib=1000000"
cat >"$TMP/vm.json" <<JSON
{"boot-source": {"kernel_image_path": $(json_str "$GUEST_DIR/guest.elf"), "boot_args": $(json_str "$ARGS")},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
 "drives": [{"drive_id": "flood", "path_on_host": $(json_str "$TMP/disk.img"), "is_root_device": false,
             "is_read_only": true}]}
JSON
"$EMBER" --api-sock "$SOCK" --config-file "$TMP/vm.json" </dev/null >"$TMP/out" 2>&1 &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
if ! wait_line "$TMP/out" '^BENCH start' 120 "$PID"; then
	fail flood-started "no 'BENCH start' from the guest: $(tail -n 3 "$TMP/out" | tr '\n' '|')"
	finish
fi
python3 - "$SOCK" <<'PY'
import socket, sys, time

path = sys.argv[1]

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s

def ask(req, limit=10.0):
    """Status line and body of the answer on a new connection, or why there was none."""
    t0 = time.monotonic()
    try:
        s = conn()
        s.sendall(req)
        s.settimeout(limit)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                return "closed", "", time.monotonic() - t0
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(body) < n:
            d = s.recv(4096)
            if not d:
                break
            body += d
        s.close()
        return head.split(b"\r\n", 1)[0].decode(), body.decode(errors="replace"), time.monotonic() - t0
    except socket.timeout:
        return "no answer in %.0f s" % limit, "", time.monotonic() - t0
    except OSError as e:
        return "error %s" % e, "", time.monotonic() - t0

def report(name, ok, detail):
    print("%s flood_api/%s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)

silent = [conn() for _ in range(256)]
time.sleep(0.5)
st, body, t = ask(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
report("version", st.startswith("HTTP/1.1 200") and "firecracker_version" in body,
       "%s in %.1f s, with 256 silent clients and the guest flooding its disk" % (st, t))
st, body, t = ask(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
report("instance-info", st.startswith("HTTP/1.1 200") and '"Running"' in body,
       "%s %s in %.1f s" % (st, body[:80], t))
for state in ("Paused", "Resumed"):
    b = ('{"state": "%s"}' % state).encode()
    st, body, t = ask(b"PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
    report("patch-vm-" + state.lower(), st.startswith("HTTP/1.1 204"), "%s in %.1f s" % (st, t))
for s in silent:
    s.close()
PY
# The flood was on all along: the guest had not finished its loop, and ember is still running.
if grep -q '^BENCH done' "$TMP/out"; then
	fail flood-held "the guest's flood ended before the checks did (bench_mib too small?)"
elif ! kill -0 $PID 2>/dev/null; then
	fail flood-held "ember exited during the checks: $(tail -n 3 "$TMP/out" | tr '\n' '|')"
else
	pass flood-held "the guest was still flooding its disk after the checks"
fi
finish
