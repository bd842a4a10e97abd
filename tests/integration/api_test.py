#!/usr/bin/python3
"""api_test.py: ember's REST API against Firecracker's Swagger contract.

Walks every endpoint with valid bodies and with bodies invalid in each way the
API must refuse, checks status codes, error bodies and that the VM state is
untouched by refused requests, validates every response body against the
Swagger definitions, and exercises the HTTP layer (keep-alive, pipelining,
requests split at every byte, oversized and malformed requests, slow and
many clients, stale and live socket files). Prints PASS/FAIL lines.

usage: api_test.py EMBER GUEST_ELF SWAGGER_YAML TMPDIR
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import jsonschema
import yaml

EMBER, GUEST, SWAGGER, TMP = sys.argv[1:5]
T = "api"
fails = 0


def report(name, ok, why=""):
    global fails
    if ok:
        print(f"PASS {T}/{name}")
    else:
        fails += 1
        print(f"FAIL {T}/{name}: {why}")
    sys.stdout.flush()


with open(SWAGGER) as f:
    SPEC = yaml.safe_load(f)
DEFS = SPEC["definitions"]


def schema_errors(defname, doc):
    """Validate doc against a Swagger definition. Firecracker (and ember) write
    null for unset optional fields; a null is accepted exactly where the
    property is optional, and is otherwise an error."""
    errs = []

    def strip(schema, value, where):
        if "$ref" in schema:
            schema = DEFS[schema["$ref"].split("/")[-1]]
        if isinstance(value, dict):
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            out = {}
            for k, v in value.items():
                if v is None:
                    if k in required:
                        errs.append(f"{where}.{k}: null for a required field")
                    continue
                out[k] = strip(props.get(k, {}), v, f"{where}.{k}")
            return out
        if isinstance(value, list) and "items" in schema:
            return [strip(schema["items"], v, f"{where}[]") for v in value]
        return value

    root = {"definitions": DEFS, "$ref": f"#/definitions/{defname}"}
    cleaned = strip(DEFS[defname], doc, defname)
    v = jsonschema.Draft4Validator(root)
    errs += [f"{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(cleaned)]
    # Swagger 2 objects without additionalProperties allow extra keys; ember
    # adds none except where the contract leaves room (GET /version).
    return errs


class Conn:
    """One keep-alive connection with a response reader that handles pipelining."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("short body")
            rest += chunk
        body, self.buf = rest[:n], rest[n:]
        return status, headers, body

    def request(self, method, path, body=None):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
        if body is not None:
            req += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.send(req.encode() + b"\r\n" + data)
        return self.read_response()

    def closed_by_peer(self):
        try:
            self.s.settimeout(3)
            return self.s.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.s.close()


SOCK = os.path.join(TMP, "api.sock")


def call(method, path, body=None):
    c = Conn(SOCK)
    try:
        st, hd, b = c.request(method, path, body)
    finally:
        c.close()
    return st, (json.loads(b) if b else None)


def expect(name, method, path, body, status, defname=None, fault=None):
    """One request: status, body schema, and (for errors) the fault text."""
    try:
        st, doc = call(method, path, body)
    except Exception as e:  # noqa: BLE001 - report any transport failure
        report(name, False, f"request failed: {e}")
        return None
    why = []
    if st != status:
        why.append(f"status {st}, want {status}: {doc}")
    if status == 204 and doc is not None:
        why.append("204 with a body")
    if status == 400:
        if not isinstance(doc, dict) or set(doc) != {"fault_message"}:
            why.append(f"error body is not {{fault_message}}: {doc}")
        else:
            why += schema_errors("Error", doc)
            if fault and fault not in doc["fault_message"]:
                why.append(f"fault {doc['fault_message']!r} lacks {fault!r}")
    if defname and st == 200:
        why += schema_errors(defname, doc)
    report(name, not why, "; ".join(why))
    return doc


def start_ember(*args, sock=SOCK, log="ember.log"):
    out = open(os.path.join(TMP, log), "wb")
    p = subprocess.Popen([EMBER, "--api-sock", sock, *args], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(sock):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.close()
                return p
            except OSError:
                pass
        if p.poll() is not None:
            return p
        time.sleep(0.01)
    return p


def log_text(log="ember.log"):
    with open(os.path.join(TMP, log), "rb") as f:
        return f.read().decode(errors="replace")


def ticks():
    return log_text().count("PROBE TICK")


disk = os.path.join(TMP, "disk.img")
disk2 = os.path.join(TMP, "disk2.img")
for path, size in ((disk, 1 << 20), (disk2, 2 << 20)):
    with open(path, "wb") as f:
        f.truncate(size)

ember = start_ember("--boot-timer")
report("socket-ready", ember.poll() is None and os.path.exists(SOCK), log_text())

# ---- GETs before boot -------------------------------------------------------
info = expect("get-instance-info", "GET", "/", None, 200, "InstanceInfo")
report("state-not-started", info and info.get("state") == "Not started", str(info))
expect("get-version", "GET", "/version", None, 200, "FirecrackerVersion")
mc = expect("get-machine-config-default", "GET", "/machine-config", None, 200, "MachineConfiguration")
report("machine-config-defaults", mc and mc.get("vcpu_count") == 1 and mc.get("mem_size_mib") == 128, str(mc))
expect("get-vm-config-empty", "GET", "/vm/config", None, 200, "FullVmConfiguration")

# ---- machine-config ------------------------------------------------------------
expect("put-machine-config", "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}, 204)
expect("patch-machine-config", "PATCH", "/machine-config", {"vcpu_count": 1}, 204)
mc = expect("get-machine-config", "GET", "/machine-config", None, 200, "MachineConfiguration")
report("patch-kept-memory", mc and mc["vcpu_count"] == 1 and mc["mem_size_mib"] == 256, str(mc))
bad_mc = [
    ("vcpu-zero", {"vcpu_count": 0, "mem_size_mib": 128}, "vCPU"),
    ("vcpu-33", {"vcpu_count": 33, "mem_size_mib": 128}, "vCPU"),
    ("unknown-key", {"vcpu_count": 1, "mem_size_mib": 128, "turbo": True}, "turbo"),
    ("wrong-type", {"vcpu_count": "two", "mem_size_mib": 128}, "vcpu_count"),
    ("missing-field", {"vcpu_count": 1}, "mem_size_mib"),
    ("negative", {"vcpu_count": 1, "mem_size_mib": -5}, "mem_size_mib"),
    ("bad-enum", {"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "1G"}, "huge_pages"),
]
for name, body, fault in bad_mc:
    expect(f"put-machine-config-{name}", "PUT", "/machine-config", body, 400, fault=fault)
expect("patch-machine-config-bad", "PATCH", "/machine-config", {"vcpu_count": 99}, 400, fault="vCPU")
expect("put-machine-config-not-json", "PUT", "/machine-config", b"{vcpu_count: 1", 400)
expect("put-machine-config-array", "PUT", "/machine-config", b"[1,2]", 400)
mc = expect("machine-config-untouched", "GET", "/machine-config", None, 200, "MachineConfiguration")
report("refused-changed-nothing", mc and mc["vcpu_count"] == 1 and mc["mem_size_mib"] == 256, str(mc))

# ---- boot-source ---------------------------------------------------------------
expect("put-boot-source-missing-file", "PUT", "/boot-source",
       {"kernel_image_path": os.path.join(TMP, "nope")}, 400, fault="nope")
expect("put-boot-source-no-kernel", "PUT", "/boot-source", {"boot_args": "x"}, 400, fault="kernel_image_path")
expect("put-boot-source-unknown-key", "PUT", "/boot-source",
       {"kernel_image_path": GUEST, "initramfs": "x"}, 400, fault="initramfs")
expect("put-boot-source", "PUT", "/boot-source",
       {"kernel_image_path": GUEST, "boot_args": "console=ttyS0 probe=idle boot_timer"}, 204)

# ---- drives ----------------------------------------------------------------------
good_drive = {"drive_id": "rootfs", "path_on_host": disk, "is_root_device": True, "is_read_only": False}
expect("put-drive", "PUT", "/drives/rootfs", good_drive, 204)
expect("put-drive-second", "PUT", "/drives/scratch",
       {"drive_id": "scratch", "path_on_host": disk2, "is_root_device": False, "is_read_only": True,
        "cache_type": "Writeback", "io_engine": "Sync"}, 204)
expect("put-drive-id-mismatch", "PUT", "/drives/other", good_drive, 400,
       fault="The id from the path does not match the id from the body!")
expect("put-drive-bad-path-id", "PUT", "/drives/a-b", dict(good_drive, drive_id="a-b"), 400)
expect("put-drive-second-root", "PUT", "/drives/root2",
       dict(good_drive, drive_id="root2"), 400, fault="root")
expect("put-drive-missing-root-flag", "PUT", "/drives/x", {"drive_id": "x", "path_on_host": disk}, 400,
       fault="is_root_device")
expect("put-drive-missing-file", "PUT", "/drives/x",
       {"drive_id": "x", "path_on_host": os.path.join(TMP, "nope.img"), "is_root_device": False}, 400,
       fault="nope.img")
expect("put-drive-bad-cache", "PUT", "/drives/x",
       {"drive_id": "x", "path_on_host": disk, "is_root_device": False, "cache_type": "Fast"}, 400,
       fault="cache_type")
expect("patch-drive-before-start", "PATCH", "/drives/rootfs",
       {"drive_id": "rootfs", "path_on_host": disk2}, 400, fault="before starting")

# ---- devices not in this version, logger, metrics ----------------------------------
expect("put-network-interface", "PUT", "/network-interfaces/eth0",
       {"iface_id": "eth0", "host_dev_name": "tap0"}, 400, fault="not supported")
expect("put-network-interface-id-mismatch", "PUT", "/network-interfaces/eth1",
       {"iface_id": "eth0", "host_dev_name": "tap0"}, 400, fault="does not match")
expect("put-vsock", "PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(TMP, "v.sock")}, 400,
       fault="not supported")
expect("put-vsock-bad-cid", "PUT", "/vsock", {"guest_cid": 2, "uds_path": "/tmp/v.sock"}, 400,
       fault="guest_cid")
logf = os.path.join(TMP, "vm.log")
metf = os.path.join(TMP, "metrics.json")
expect("put-logger-bad-level", "PUT", "/logger", {"log_path": logf, "level": "Loud"}, 400, fault="level")
expect("put-logger", "PUT", "/logger", {"log_path": logf, "level": "Info", "show_level": True}, 204)
expect("put-logger-twice", "PUT", "/logger", {"log_path": logf}, 400, fault="already")
expect("put-metrics-missing-path", "PUT", "/metrics", {}, 400, fault="metrics_path")
expect("put-metrics", "PUT", "/metrics", {"metrics_path": metf}, 204)
expect("put-metrics-twice", "PUT", "/metrics", {"metrics_path": metf}, 400, fault="already")
cfg = expect("get-vm-config", "GET", "/vm/config", None, 200, "FullVmConfiguration")
report("vm-config-content",
       cfg and cfg["machine-config"]["mem_size_mib"] == 256 and
       [d["drive_id"] for d in cfg.get("drives", [])] == ["rootfs", "scratch"] and
       cfg["boot-source"]["kernel_image_path"] == GUEST, json.dumps(cfg))

# ---- gating, actions, routing ----------------------------------------------------------
expect("patch-vm-before-start", "PATCH", "/vm", {"state": "Paused"}, 400, fault="before starting")
expect("ctrl-alt-del-before-start", "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, 400,
       fault="before starting")
expect("put-actions-bad", "PUT", "/actions", {"action_type": "Reboot"}, 400, fault="action_type")
expect("unknown-path", "GET", "/nope", None, 400, fault="Invalid request method and/or path")
expect("wrong-method", "DELETE", "/machine-config", None, 400, fault="Invalid request method and/or path")
expect("put-without-body", "PUT", "/machine-config", None, 400, fault="Empty PUT request")
expect("get-with-body", "GET", "/", {"x": 1}, 400, fault="GET request cannot have a body")
expect("not-implemented-endpoint", "PUT", "/snapshot/create",
       {"snapshot_path": "a", "mem_file_path": "b"}, 400)

expect("instance-start", "PUT", "/actions", {"action_type": "InstanceStart"}, 204)
info = expect("get-instance-info-running", "GET", "/", None, 200, "InstanceInfo")
report("state-running", info and info.get("state") == "Running", str(info))
expect("instance-start-twice", "PUT", "/actions", {"action_type": "InstanceStart"}, 400,
       fault="after starting")
for name, path, body in (("machine-config", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
                         ("boot-source", "/boot-source", {"kernel_image_path": GUEST}),
                         ("drive", "/drives/rootfs", good_drive),
                         ("logger", "/logger", {"level": "Info"}),
                         ("metrics", "/metrics", {"metrics_path": metf})):
    expect(f"put-{name}-after-start", "PUT", path, body, 400, fault="after starting")

# ---- pause and resume: the guest's tick counter stops while paused ----------------------
deadline = time.time() + 10
while ticks() < 3 and time.time() < deadline:
    time.sleep(0.05)
expect("pause", "PATCH", "/vm", {"state": "Paused"}, 204)
info = expect("get-instance-info-paused", "GET", "/", None, 200, "InstanceInfo")
report("state-paused", info and info.get("state") == "Paused", str(info))
a = ticks()
time.sleep(1.0)
b = ticks()
report("paused-guest-is-still", a == b and a >= 3, f"ticks {a} -> {b}")
expect("resume", "PATCH", "/vm", {"state": "Resumed"}, 204)
time.sleep(1.0)
c = ticks()
report("resumed-guest-runs", c > b, f"ticks {b} -> {c}")
expect("patch-vm-bad-state", "PATCH", "/vm", {"state": "Sleeping"}, 400, fault="state")

# ---- post-boot drive update -------------------------------------------------------------
expect("patch-drive", "PATCH", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": disk2}, 204)
expect("patch-drive-unknown", "PATCH", "/drives/nosuch", {"drive_id": "nosuch", "path_on_host": disk2}, 400)
expect("patch-drive-empty", "PATCH", "/drives/rootfs", {"drive_id": "rootfs"}, 400)

# ---- metrics --------------------------------------------------------------------------------
expect("flush-metrics", "PUT", "/actions", {"action_type": "FlushMetrics"}, 204)
try:
    with open(metf) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    last = lines[-1]
    groups = {"utc_timestamp_ms", "api_server", "get_api_requests", "put_api_requests",
              "patch_api_requests", "vcpu", "vmm", "uart", "i8042", "seccomp", "signals",
              "logger", "block"}
    ok = len(lines) >= 2 and groups <= set(last) and last["api_server"]["process_startup_time_us"] > 0
    # Counters are deltas: the flush after InstanceStart holds the PATCH /vm calls.
    # (the first flush, at InstanceStart, holds the refused pre-boot PATCH /vm; the
    # last the pause, the resume and the refused bad state).
    first_p, last_p = lines[0]["patch_api_requests"], last["patch_api_requests"]
    ok = ok and (first_p["vm_count"], first_p["vm_fails"]) == (1, 1)
    ok = ok and (last_p["vm_count"], last_p["vm_fails"]) == (3, 1)
    ok = ok and lines[0]["put_api_requests"]["machine_cfg_fails"] >= len(bad_mc)
    report("metrics-lines", ok, f"{len(lines)} lines; last keys {sorted(last)}")
except Exception as e:  # noqa: BLE001
    report("metrics-lines", False, str(e))
try:
    with open(logf) as f:
        text = f.read()
    report("log-file", "The API server received a PATCH request on \"/vm\"." in text and ":INFO]" in text,
           text[-300:])
except OSError as e:
    report("log-file", False, str(e))

# ---- HTTP layer ---------------------------------------------------------------------------------
c = Conn(SOCK)
ok = all(c.request("GET", "/")[0] == 200 for _ in range(3))
report("keep-alive", ok)
c.send(b"GET / HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\r\n\r\n")
r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
report("pipelined-in-order", b"state" in r1[2] and b"firecracker_version" in r2[2] and b"vcpu_count" in r3[2])
c.close()

body = json.dumps({"action_type": "FlushMetrics"}).encode()
req = b"PUT /actions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
c = Conn(SOCK)
for i in range(len(req)):
    c.send(req[i:i + 1])
    time.sleep(0.001)
report("split-at-every-byte", c.read_response()[0] == 204)
c.close()

c = Conn(SOCK)
big = b"x" * 51201
c.send(b"PUT /machine-config HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
st, _, b = c.read_response()
report("oversized-body", st == 400 and "error" in json.loads(b) and c.closed_by_peer(), f"{st} {b!r}")
c.close()

c = Conn(SOCK)
c.send(b"GARBAGE\r\n\r\n")
st, _, b = c.read_response()
report("malformed-request", st == 400 and "error" in json.loads(b) and c.closed_by_peer(), f"{st} {b!r}")
c.close()

c = Conn(SOCK)
c.send(b"PUT /actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
st, _, b = c.read_response()
report("chunked-refused", st == 400, f"{st} {b!r}")
c.close()

# A silent client and one that stops mid-request must not stall anybody else.
slow = Conn(SOCK)
slow.send(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"vcpu")
silent = Conn(SOCK)
t0 = time.time()
st, _ = call("GET", "/")
report("slow-clients-do-not-block", st == 200 and time.time() - t0 < 1.0, f"{time.time() - t0:.2f}s")
slow.close()
silent.close()

results = []


def worker():
    try:
        c = Conn(SOCK)
        results.append(all(c.request("GET", "/")[0] == 200 for _ in range(5)))
        c.close()
    except Exception:  # noqa: BLE001
        results.append(False)


threads = [threading.Thread(target=worker) for _ in range(64)]
for t in threads:
    t.start()
for t in threads:
    t.join()
report("many-clients", len(results) == 64 and all(results), f"{results.count(True)}/64")

# ---- sockets: a live one is refused, a stale one replaced -----------------------------------------
second = subprocess.run([EMBER, "--api-sock", SOCK], stdin=subprocess.DEVNULL, capture_output=True,
                        timeout=10)
report("live-socket-refused", second.returncode != 0 and b"in use" in second.stdout + second.stderr,
       (second.stdout + second.stderr).decode()[-200:])

stale = os.path.join(TMP, "stale.sock")
s = socket.socket(socket.AF_UNIX)
s.bind(stale)
s.close()  # the file stays, nobody listens: as after a crash
p2 = start_ember(sock=stale, log="stale.log")
try:
    st = None
    c = Conn(stale)
    st = c.request("GET", "/")[0]
    c.close()
except OSError:
    pass
report("stale-socket-replaced", st == 200, log_text("stale.log")[-200:])
p2.send_signal(signal.SIGTERM)
p2.wait(timeout=10)

# ---- Ctrl-Alt-Del ends the guest, and ember, cleanly ------------------------------------------------
expect("send-ctrl-alt-del", "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, 204)
try:
    rc = ember.wait(timeout=10)
except subprocess.TimeoutExpired:
    ember.kill()
    rc = None
report("ctrl-alt-del-exit-0", rc == 0 and "PROBE idle PASS" in log_text(), f"rc={rc}")
report("socket-removed-at-exit", not os.path.exists(SOCK))
sys.exit(1 if fails else 0)
