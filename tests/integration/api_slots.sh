#!/usr/bin/env bash
# api_slots.sh: API clients cannot lock others out. With all 256 connection slots held by silent
# clients and by slowloris clients (a byte now and then, never a whole request), a new client's
# GET /version is answered (the client quiet the longest is closed to make room); a request that
# has not arrived whole 10 s after its first byte has its connection closed; a client that keeps
# its connection open between whole requests (keep-alive) is served throughout.
# Needs no KVM: nothing boots. Deadlines here are generous bounds, not speed checks.
T=api_slots
. "$(dirname "$0")/common.bash"
[ -x "$EMBER" ] || { fail build "$EMBER missing (run make)"; finish; }
SOCK=$TMP/api.sock
"$EMBER" --api-sock "$SOCK" </dev/null >"$TMP/ember.log" 2>&1 &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 500); do [ -S "$SOCK" ] && break; sleep 0.02; done

python3 - "$SOCK" <<'PY'
import socket, sys, time

path = sys.argv[1]
GET = b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n"

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s

def answer(s, limit=10.0):
    """The status line of the next response on s, or why there was none within limit s."""
    s.settimeout(limit)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                return "closed"
            buf += d
    except socket.timeout:
        return "no answer in %.0f s" % limit
    except OSError as e:
        return "error %s" % e
    return buf.split(b"\r\n", 1)[0].decode()

def closed_by_peer(s, limit):
    s.settimeout(limit)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True

def report(name, ok, detail):
    print("%s api_slots/%s: %s" % ("PASS" if ok else "FAIL", name, detail))

# A keep-alive client that asks now and then: it must be served before, during and after.
keep = conn()
keep.sendall(GET)
st = answer(keep)
report("keep-alive-first", st.startswith("HTTP/1.1 200"), st)

# Fill every slot: 200 silent clients and 60 slowloris ones (more than the 255 left).
silent = [conn() for _ in range(200)]
slow = [conn() for _ in range(60)]
for i, s in enumerate(slow):
    s.sendall(b"GET /version HTTP/1.1\r\nX-Slow-%d: " % i)
time.sleep(0.5)

# A new client is answered although every slot was taken.
t0 = time.monotonic()
try:
    c = conn()
    c.sendall(GET)
    st = answer(c)
except OSError as e:
    st = "error %s" % e
report("new-client-when-full", st.startswith("HTTP/1.1 200"),
       "%s after %.1f s with %d connections open" % (st, time.monotonic() - t0, 2 + len(silent) + len(slow)))

# The slowloris clients keep trickling bytes: their requests never complete in 10 s, so ember
# closes them (the ones not already closed to make room), while whole requests are still served.
t0 = time.monotonic()
alive = list(slow)
while time.monotonic() - t0 < 14 and alive:
    nxt = []
    for s in alive:
        try:
            s.sendall(b"x")
            nxt.append(s)
        except OSError:
            pass
    alive = nxt
    time.sleep(1)
closed = sum(1 for s in slow if closed_by_peer(s, 0.2))
report("slowloris-closed", closed == len(slow),
       "%d of %d trickling connections closed by ember within 15 s" % (closed, len(slow)))

# The keep-alive client, quiet for 15 s but not the quietest when slots ran out, or given room
# again: either it is answered on its connection, or (if it was the one closed) a new one is.
try:
    keep.sendall(GET)
    st = answer(keep)
except OSError as e:
    st = "error %s" % e
if st == "closed" or st.startswith("error"):
    keep = conn()
    keep.sendall(GET)
    st = "reconnected: " + answer(keep)
report("keep-alive-after", st.endswith(("HTTP/1.1 200",)) or "HTTP/1.1 200" in st, st)

# A silent connection (no byte sent) is not closed for being idle while slots are free.
s = conn()
ok = not closed_by_peer(s, 12)
report("idle-kept", ok, "an idle connection %s after 12 s" % ("still open" if ok else "was closed"))
PY
kill -0 "$PID" 2>/dev/null && pass alive "ember still running" || fail alive "ember exited: $(tail -n 3 "$TMP/ember.log")"
grep -q "closing the one quiet longest" "$TMP/ember.log" && pass log-full "the full slot table is logged" ||
	fail log-full "no log line about the full slot table: $(tail -n 3 "$TMP/ember.log")"
finish
