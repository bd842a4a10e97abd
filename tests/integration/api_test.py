#!/usr/bin/python3
"""api_test.py: ember's REST API against Firecracker's Swagger contract.

Walks every endpoint with valid bodies and with bodies invalid in each way the
API must refuse, checks status codes, error bodies and that the VM state is
untouched by refused requests, validates every response body against the
Swagger definitions, and exercises the HTTP layer (keep-alive, pipelining,
requests split at every byte, oversized and malformed requests, slow and
many clients, stale and live socket files). Prints PASS/FAIL lines.

Then holds ember's own OpenAPI file (api/openapi.yaml) to the code: every
answer above must also match it; its paths and methods must be exactly those
ember routes (and every other Firecracker endpoint must be refused); and on a
second ember, every PUT/PATCH body schema is probed field by field (required
members, types, enums, bounds, lengths, patterns, unknown members, nulls), with
its pre-boot/post-boot gating.

usage: api_test.py EMBER GUEST_ELF SWAGGER_YAML TMPDIR [EMBER_OPENAPI_YAML]
(the last defaults to api/openapi.yaml beside this file's tests/ folder)
"""
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import jsonschema
import yaml

EMBER, GUEST, SWAGGER, TMP = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
EMBER_SPEC = sys.argv[5] if len(sys.argv) > 5 else os.path.join(HERE, "..", "..", "api", "openapi.yaml")
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


# ---- ember's own OpenAPI file ---------------------------------------------------------
try:
    with open(EMBER_SPEC) as f:
        ESPEC = yaml.safe_load(f)
    ESPEC_ERR = "" if isinstance(ESPEC, dict) else "not a YAML mapping"
except (OSError, yaml.YAMLError) as e:
    ESPEC, ESPEC_ERR = None, str(e)
if not isinstance(ESPEC, dict):
    ESPEC = {}
ESPEC.setdefault("paths", {})
ESPEC.setdefault("definitions", {})
EDEFS = ESPEC["definitions"]
HTTP_METHODS = ("get", "put", "patch", "post", "delete", "head", "options")


def deref(defs, s):
    """The schema a {"$ref": "#/definitions/X"} names (followed until not a ref)."""
    for _ in range(16):
        if not isinstance(s, dict) or "$ref" not in s:
            return s
        s = defs.get(s["$ref"].split("/")[-1], {})
    return s


def spec_ops(spec):
    """{(METHOD, template): operation} of a Swagger file."""
    return {(m.upper(), t): op for t, item in spec.get("paths", {}).items()
            for m, op in item.items() if m in HTTP_METHODS}


def match_template(spec, path):
    """The path template of @spec that @path instantiates, or None."""
    segs = path.split("?")[0].split("/")
    for t in spec.get("paths", {}):
        ts = t.split("/")
        if len(ts) == len(segs) and all(a == b or (a[:1] == "{" and a[-1:] == "}" and b)
                                        for a, b in zip(ts, segs)):
            return t
    return None


def op_param(spec, p):
    """A parameter object, following a "#/parameters/X" reference."""
    if isinstance(p, dict) and "$ref" in p:
        return spec.get("parameters", {}).get(p["$ref"].split("/")[-1], {})
    return p


def op_body_schema(spec, op):
    for p in op.get("parameters", []):
        p = op_param(spec, p)
        if p.get("in") == "body":
            return p.get("schema")
    return None


def ember_schema_errors(schema, doc, where="body"):
    """Validate doc against a schema of ember's file, strictly: a null is allowed
    exactly where the property is marked x-nullable (ember documents where it
    writes nulls), and additionalProperties: false catches undocumented keys."""
    errs = []

    def strip(s, value, w):
        s = deref(EDEFS, s)
        if isinstance(value, dict) and isinstance(s, dict):
            props = s.get("properties", {})
            out = {}
            for k, v in value.items():
                p = props.get(k)
                if v is None:
                    if not (isinstance(p, dict) and p.get("x-nullable")):
                        errs.append(f"{w}.{k}: null, but not x-nullable in ember's file")
                    continue
                out[k] = strip(p, v, f"{w}.{k}") if p is not None else v
            return out
        if isinstance(value, list) and isinstance(s, dict) and "items" in s:
            return [strip(s["items"], v, f"{w}[]") for v in value]
        return value

    cleaned = strip(schema, doc, where)
    root = dict(schema)
    root["definitions"] = EDEFS
    try:
        v = jsonschema.Draft4Validator(root)
        errs += [f"{where}/{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(cleaned)]
    except Exception as e:  # noqa: BLE001 - a broken schema is a finding, not a crash
        errs.append(f"{where}: cannot validate: {e}")
    return errs


def response_errors(spec, method, path, status, doc, strict):
    """Check one answer against the operation of @spec it belongs to: the status
    must be documented (strict: explicitly, with 'default' only for 5xx) and the
    body must match that response's schema (no body where none is given). A
    request outside the file must have been refused with 400 and an Error."""
    name = "ember's file" if strict else "Firecracker's file"
    t = match_template(spec, path)
    op = spec["paths"][t].get(method.lower()) if t else None
    if op is None:
        if status != 400:
            return [f"{method} {path} is not in {name}, yet answered {status}"]
        schema = {"$ref": "#/definitions/Error"}
    else:
        resps = op.get("responses", {})
        r = resps.get(status, resps.get(str(status)))
        if r is None and (not strict or status >= 500):
            r = resps.get("default")
        if r is None:
            return [f"{name}: {method} {t} does not document status {status}"]
        schema = r.get("schema")
        if schema is None:
            return [] if doc is None else [f"{name}: {method} {t} {status} has no body, got {doc}"]
    if strict:
        return ember_schema_errors(schema, doc, f"{method} {path} {status}")
    if "$ref" not in schema:
        # Firecracker's GET /mmds: an inline "type: object" (the store is any JSON object).
        if schema.get("type") == "object" and set(schema) <= {"type", "description", "additionalProperties"}:
            return [] if isinstance(doc, dict) else [f"{name}: {method} {t} {status}: not an object: {doc}"]
        return [f"{name}: {method} {t} {status}: inline schema"]
    return schema_errors(schema["$ref"].split("/")[-1], doc)


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


def call_at(sock, method, path, body=None):
    c = Conn(sock)
    try:
        st, hd, b = c.request(method, path, body)
    finally:
        c.close()
    return st, (json.loads(b) if b else None)


def call(method, path, body=None):
    return call_at(SOCK, method, path, body)


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
    why += response_errors(ESPEC, method, path, st, doc, strict=True)
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
# A valid body naming something that is not a tap is refused when configured (net.sh covers
# real taps inside the network namespaces it makes).
expect("put-network-interface-not-a-tap", "PUT", "/network-interfaces/eth0",
       {"iface_id": "eth0", "host_dev_name": "lo"}, 400, fault="lo")
expect("put-network-interface-id-mismatch", "PUT", "/network-interfaces/eth1",
       {"iface_id": "eth0", "host_dev_name": "tap0"}, 400, fault="does not match")
expect("put-vsock", "PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(TMP, "v.sock")}, 204)
report("vsock-listener-bound-at-put", os.path.exists(os.path.join(TMP, "v.sock")))
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
expect("snapshot-create-before-start", "PUT", "/snapshot/create",
       {"snapshot_path": "a", "mem_file_path": "b"}, 400, fault="before starting")

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
report("oversized-body", st == 400 and "error" in json.loads(b) and c.closed_by_peer() and
       not ember_schema_errors({"$ref": "#/definitions/TransportError"}, json.loads(b)), f"{st} {b!r}")
c.close()

c = Conn(SOCK)
c.send(b"GARBAGE\r\n\r\n")
st, _, b = c.read_response()
report("malformed-request", st == 400 and "error" in json.loads(b) and c.closed_by_peer() and
       not ember_schema_errors({"$ref": "#/definitions/TransportError"}, json.loads(b)), f"{st} {b!r}")
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
# The socket file outlives ember (its seccomp list has no unlink): the next one replaces it.
p3 = start_ember(log="restart.log")
try:
    st3 = call("GET", "/")[0]
except OSError:
    st3 = None
report("restart-on-same-socket", st3 == 200, log_text("restart.log")[-200:])
p3.send_signal(signal.SIGTERM)
p3.wait(timeout=10)

# =========================================================================================
# ember's own OpenAPI file (api/openapi.yaml) against the code
# =========================================================================================
T = "openapi"
report("load", not ESPEC_ERR and bool(ESPEC["paths"]), ESPEC_ERR or f"{EMBER_SPEC}: no paths")

# ---- the file itself: Swagger 2.0 that Firecracker's tools can read -----------------------
SW2_SCHEMA_KEYS = {
    "$ref", "format", "title", "description", "default", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum",
    "type", "items", "allOf", "properties", "additionalProperties", "discriminator", "readOnly",
    "xml", "externalDocs", "example"}
SW2_TYPES = {"object", "array", "string", "integer", "number", "boolean", "file"}
STATES = ["Not started", "Running", "Paused"]


def walk_schema(where, s):
    """(where, schema) for a schema and every schema nested in it."""
    yield where, s
    if not isinstance(s, dict):
        return
    for k, p in (s.get("properties") or {}).items():
        yield from walk_schema(f"{where}.{k}", p)
    if isinstance(s.get("items"), dict):
        yield from walk_schema(f"{where}[]", s["items"])
    if isinstance(s.get("additionalProperties"), dict):
        yield from walk_schema(f"{where}{{*}}", s["additionalProperties"])
    for i, a in enumerate(s.get("allOf") or []):
        yield from walk_schema(f"{where}&{i}", a)


def spec_schemas(spec):
    for name, d in spec.get("definitions", {}).items():
        yield from walk_schema(f"definitions/{name}", d)
    for (m, t), op in spec_ops(spec).items():
        b = op_body_schema(spec, op)
        if b is not None:
            yield from walk_schema(f"{m} {t} body", b)
        for code, r in (op.get("responses") or {}).items():
            if isinstance(r, dict) and "schema" in r:
                yield from walk_schema(f"{m} {t} {code}", r["schema"])


def plain(s):
    """A schema without Swagger's extensions, for validating its own examples."""
    return {k: v for k, v in s.items() if not k.startswith("x-")}


def check_structure(spec):
    errs = []
    if spec.get("swagger") != "2.0":
        errs.append(f"swagger is {spec.get('swagger')!r}, not \"2.0\"")
    for k in ("consumes", "produces"):
        if spec.get(k) != ["application/json"]:
            errs.append(f"{k} is not [application/json]")
    for where, s in spec_schemas(spec):
        if not isinstance(s, dict):
            errs.append(f"{where}: not a schema object")
            continue
        bad = {k for k in s if k not in SW2_SCHEMA_KEYS and not k.startswith("x-")}
        if bad:
            errs.append(f"{where}: not Swagger 2.0 schema keywords: {sorted(bad)}")
        if "$ref" in s and s["$ref"].split("/")[-1] not in spec.get("definitions", {}):
            errs.append(f"{where}: dangling $ref {s['$ref']}")
        if "type" in s and s["type"] not in SW2_TYPES:
            errs.append(f"{where}: type {s['type']!r}")
        if s.get("type") == "object" and "properties" in s and s.get("additionalProperties") is not False:
            errs.append(f"{where}: ember refuses unknown members: additionalProperties must be false")
        missing = set(s.get("required", [])) - set(s.get("properties", {}))
        if missing:
            errs.append(f"{where}: required but not described: {sorted(missing)}")
        if "pattern" in s:
            try:
                re.compile(s["pattern"])
            except re.error as e:
                errs.append(f"{where}: pattern: {e}")
            # Generated clients compile patterns with ECMA 262 or RE2 (Go): no lookaround.
            if re.search(r"\(\?<?[=!]|\\[1-9]", s["pattern"]):
                errs.append(f"{where}: pattern uses lookaround or backreferences (not in RE2)")
        if "$ref" not in s:
            for k in ("default", "example"):
                if k in s:
                    root = dict(plain(s), definitions=spec.get("definitions", {}))
                    for e in jsonschema.Draft4Validator(root).iter_errors(s[k]):
                        errs.append(f"{where}: {k} {s[k]!r}: {e.message}")
            for v in s.get("enum", []):
                if s.get("type") == "string" and not isinstance(v, str):
                    errs.append(f"{where}: enum value {v!r} is not a string")
    ids = set()
    for (m, t), op in spec_ops(spec).items():
        w = f"{m} {t}"
        if m not in ("GET", "PUT", "PATCH"):
            errs.append(f"{w}: ember serves only GET, PUT and PATCH")
        oid = op.get("operationId")
        if not oid or oid in ids:
            errs.append(f"{w}: missing or repeated operationId")
        ids.add(oid)
        states = op.get("x-ember-allowed-states")
        if not states or not set(states) <= set(STATES):
            errs.append(f"{w}: x-ember-allowed-states {states!r}")
        params = [op_param(spec, p) for p in op.get("parameters", [])]
        names = {p.get("name") for p in params if p.get("in") == "path"}
        want = set(re.findall(r"\{([^}]+)\}", t))
        if names != want:
            errs.append(f"{w}: path parameters {sorted(names)}, template has {sorted(want)}")
        for p in params:
            if p.get("in") == "path" and not (p.get("required") and p.get("type") == "string"):
                errs.append(f"{w}: path parameter {p.get('name')} must be a required string")
        bodies = [p for p in params if p.get("in") == "body"]
        resps = op.get("responses", {})
        for code in (400, "default"):
            if resps.get(code, {}).get("schema") != {"$ref": "#/definitions/Error"}:
                errs.append(f"{w}: response {code} must be an Error")
        if m == "GET":
            if bodies or "schema" not in resps.get(200, {}) or 204 in resps:
                errs.append(f"{w}: a GET has no body and answers 200 with a schema")
        else:
            if len(bodies) != 1 or not bodies[0].get("required") or "schema" not in bodies[0]:
                errs.append(f"{w}: needs exactly one required body parameter with a schema")
            if 204 not in resps or "schema" in resps[204] or 200 in resps:
                errs.append(f"{w}: a {m} answers 204 without a body")
        extra = {c for c in resps if c not in (200, 204, 400, "default")}
        if extra:
            errs.append(f"{w}: statuses ember never sends: {sorted(map(str, extra))}")
    return errs


errs = check_structure(ESPEC)
report("swagger-2.0-structure", not errs, "; ".join(errs[:12]))


def version_h():
    try:
        with open(os.path.join(HERE, "..", "..", "src", "version.h")) as f:
            txt = f.read()
        return (re.search(r'#define\s+EMBER_VERSION\s+"([^"]+)"', txt).group(1),
                re.search(r'#define\s+EMBER_API_VERSION\s+"([^"]+)"', txt).group(1))
    except (OSError, AttributeError):
        return None, None


EVER, EAPI = version_h()
info = ESPEC.get("info", {})
report("info-version", EVER and str(info.get("version")) == EVER,
       f"{info.get('version')!r} vs src/version.h {EVER!r}")
report("info-firecracker-version",
       EAPI and str(info.get("x-firecracker-api-version")) == EAPI == str(SPEC["info"]["version"]) and
       EAPI in str(info.get("description", "")),
       f"x-firecracker-api-version {info.get('x-firecracker-api-version')!r}, version.h {EAPI!r}, "
       f"Firecracker's file {SPEC['info']['version']!r}")

# ---- compatible with Firecracker's file: same endpoints, names, types, enums --------------
EOPS, FOPS = spec_ops(ESPEC), spec_ops(SPEC)


def fc_enum(s):
    """A string enum of Firecracker's file as written: its Logger level lists an
    unquoted Off, which YAML 1.1 (PyYAML) reads as the boolean false."""
    if s.get("type") != "string":
        return s.get("enum", [])
    return ["Off" if v is False else "On" if v is True else v for v in s.get("enum", [])]


def compat_errors(es, fs, where, seen=()):
    """ember's schema @es against Firecracker's @fs: every property ember describes
    exists there (unless x-ember-only) with the same type, and ember's enums are
    subsets of Firecracker's (ember may be stricter, not different)."""
    errs = []
    key = (es.get("$ref"), fs.get("$ref")) if isinstance(es, dict) and isinstance(fs, dict) else None
    if key and key != (None, None) and key in seen:
        return errs
    seen = seen + (key,)
    e, f = deref(EDEFS, es), deref(DEFS, fs)
    if not isinstance(e, dict) or not isinstance(f, dict):
        return [f"{where}: not a schema"]
    if "type" in e and "type" in f and e["type"] != f["type"]:
        errs.append(f"{where}: type {e['type']} in ember's file, {f['type']} in Firecracker's")
    extra = set(e.get("enum", [])) - set(fc_enum(f)) if "enum" in f else set()
    if extra:
        errs.append(f"{where}: enum values unknown to Firecracker: {sorted(extra)}")
    fprops = f.get("properties", {})
    for k, p in e.get("properties", {}).items():
        if isinstance(p, dict) and p.get("x-ember-only"):
            if k in fprops:
                errs.append(f"{where}.{k}: marked x-ember-only but Firecracker has it")
            continue
        if k not in fprops:
            errs.append(f"{where}.{k}: not in Firecracker's file")
            continue
        errs += compat_errors(p, fprops[k], f"{where}.{k}", seen)
    if isinstance(e.get("items"), dict) and isinstance(f.get("items"), dict):
        errs += compat_errors(e["items"], f["items"], f"{where}[]", seen)
    return errs


errs = [f"{m} {t}: not a Firecracker endpoint" for m, t in EOPS if (m, t) not in FOPS]
for (m, t), op in EOPS.items():
    fop = FOPS.get((m, t))
    if fop is None:
        continue
    eb, fb = op_body_schema(ESPEC, op), op_body_schema(SPEC, fop)
    if (eb is None) != (fb is None):
        errs.append(f"{m} {t}: body in one file only")
    elif eb is not None:
        errs += compat_errors(eb, fb, f"{m} {t} body")
    er, fr = op.get("responses", {}).get(200, {}), fop.get("responses", {}).get(200, {})
    if ("schema" in er) != ("schema" in fr):
        errs.append(f"{m} {t}: 200 schema in one file only")
    elif "schema" in er:
        errs += compat_errors(er["schema"], fr["schema"], f"{m} {t} 200")
    en = {op_param(ESPEC, p).get("name") for p in op.get("parameters", [])
          if op_param(ESPEC, p).get("in") == "path"}
    fn = {p.get("name") for p in fop.get("parameters", []) if p.get("in") == "path"}
    if en != fn:
        errs.append(f"{m} {t}: path parameters {sorted(en)} vs Firecracker's {sorted(fn)}")
report("compatible-with-firecracker", not errs, "; ".join(errs[:12]))

# ---- a second ember, fresh, to probe routes and bodies ------------------------------------
SSOCK = os.path.join(TMP, "spec.sock")
MSG_BEFORE = "The requested operation is not supported before starting the microVM."
MSG_AFTER = "The requested operation is not supported after starting the microVM."
spec_vm = start_ember(sock=SSOCK, log="spec.log")
report("second-ember", spec_vm.poll() is None, log_text("spec.log")[-300:])
answer_errs = []   # answers that do not match either file, from every request below


def scall(method, path, body=None):
    """One request to the second ember; its answer is checked against both files.
    Returns (status, document), status None when the request failed."""
    try:
        st, doc = call_at(SSOCK, method, path, body)
    except Exception as e:  # noqa: BLE001
        answer_errs.append(f"{method} {path}: {e}")
        return None, None
    if st == 400 and not (isinstance(doc, dict) and set(doc) == {"fault_message"}):
        answer_errs.append(f"{method} {path}: 400 without a lone fault_message: {doc}")
    for strict, spec in ((True, ESPEC), (False, SPEC)):
        answer_errs.extend(response_errors(spec, method, path, st, doc, strict)[:3])
    return st, doc


def fault(doc):
    return doc.get("fault_message", "") if isinstance(doc, dict) else ""


def concrete(t, ids=None):
    """A path for template @t, each {param} replaced by ids[param] or "x1"."""
    return re.sub(r"\{([^}]+)\}", lambda m: (ids or {}).get(m.group(1), "x1"), t)


# (2) routes: exactly the file's (method, path) pairs are served ----------------------------
NOT_SERVED = re.compile(r"^(GET|PUT|PATCH) \S+ is not supported by ember\.$")
INVALID = "Invalid request method and/or path"
errs = []
for (m, t), op in EOPS.items():
    p = concrete(t, {"drive_id": "r1", "iface_id": "r1"})
    if m == "GET":
        st, doc = scall(m, p)
        if st != 200:
            errs.append(f"{m} {p}: {st} {doc}")
    elif t == "/mmds":
        # The store takes any object: only its own parser refuses a body that is none.
        st, doc = scall(m, p, ["ember_route_probe"])
        if st != 400 or "ember_route_probe" in fault(doc) or not fault(doc):
            errs.append(f"{m} {p}: {st} {doc}")
    else:
        # An unknown member can only be refused by the endpoint's own body parser.
        st, doc = scall(m, p, {"ember_route_probe": 1})
        if st != 400 or "unknown field `ember_route_probe`" not in fault(doc):
            errs.append(f"{m} {p}: {st} {doc}")
report("routes-in-file-are-served", not errs and len(EOPS) > 0, "; ".join(errs))

errs = []
for (m, t) in sorted(set(FOPS) - set(EOPS)):
    p = concrete(t)
    st, doc = scall(m, p, None if m == "GET" else {})
    if st != 400 or not (NOT_SERVED.match(fault(doc)) or fault(doc).startswith(INVALID)):
        errs.append(f"{m} {p}: {st} {doc}")
report("firecracker-routes-not-in-file-refused", not errs and len(set(FOPS) - set(EOPS)) > 0,
       "; ".join(errs))

errs = []
for t in ESPEC["paths"]:
    p = concrete(t)
    for m in ("GET", "PUT", "PATCH", "POST", "DELETE"):
        if (m, t) in EOPS or (m, t) in FOPS:
            continue
        st, doc = scall(m, p, None if m == "GET" else {})
        if st != 400 or not fault(doc).startswith(INVALID):
            errs.append(f"{m} {p}: {st} {doc}")
report("other-methods-on-file-paths-refused", not errs, "; ".join(errs))

# (3) request bodies ------------------------------------------------------------------------
sdisk = os.path.join(TMP, "spec-disk.img")
sfile = os.path.join(TMP, "spec-initrd.img")
for path, size in ((sdisk, 1 << 20), (sfile, 4096)):
    with open(path, "wb") as f:
        f.truncate(size)
# Members that name host resources take real ones (the VMM opens them when the request
# comes), except the tap: "lo" exists everywhere and is no tap, so a network interface is
# refused when configured (net.sh covers real taps, in network namespaces of its own), and
# no interface is ever created on the host.
HOST_STRINGS = {
    "kernel_image_path": GUEST, "initrd_path": sfile, "path_on_host": sdisk,
    "log_path": os.path.join(TMP, "spec-vm.log"), "metrics_path": os.path.join(TMP, "spec-metrics.json"),
    "uds_path": os.path.join(TMP, "spec-v.sock"), "host_dev_name": "lo",
    "serial_out_path": os.path.join(TMP, "spec-serial.out"),
    "snapshot_path": os.path.join(TMP, "spec-vm.snap"), "mem_file_path": os.path.join(TMP, "spec-vm.mem"),
    "backend_path": os.path.join(TMP, "spec-vm.mem"),
}
# Resources this test cannot make usable: a refusal naming the value given is the host's.
HOST_REFUSALS = ("host_dev_name", "uds_path")
PATH_IDS = {"drive_id": "d1", "iface_id": "n1"}
BAD_STRINGS = ["a-b", "a b", "a/b", "a_b", "zz", "\u00e9", "\x01"]
BOOT_ARGS = "console=ttyS0 probe=idle"


def fits(s, v):
    return (len(v) >= s.get("minLength", 0) and len(v) <= s.get("maxLength", 1 << 30) and
            ("pattern" not in s or re.search(s["pattern"], v) is not None))


def gen(prop, name, full):
    """A valid value for property @name: a host file, else the file's example,
    default or first enum value, else the least value its type and bounds allow."""
    s = deref(EDEFS, prop)
    if name in HOST_STRINGS and s.get("type") == "string":
        return HOST_STRINGS[name]
    for k in ("example", "default"):
        for src in (prop, s):
            if k in src:
                return src[k]
    if "enum" in s:
        return s["enum"][0]
    t = s.get("type", "object")
    if t == "object":
        return gen_object(s, full)
    if t == "array":
        return []
    if t == "boolean":
        return False
    if t == "integer":
        return s.get("minimum", 1)
    if t == "string":
        for v in ("a1", "a", "x1", "0"):
            if fits(s, v):
                return v
    raise ValueError(f"no value for `{name}`: give it an example in the file or a host file here")


def gen_object(s, full):
    """Required members (full: all but x-ember-unsupported ones), topped up to minProperties."""
    props, req = s.get("properties", {}), s.get("required", [])
    out = {k: gen(p, k, full) for k, p in props.items()
           if k in req or (full and not p.get("x-ember-unsupported"))}
    for k, p in props.items():
        if len(out) >= s.get("minProperties", 0):
            break
        if k not in out and not p.get("x-ember-unsupported"):
            out[k] = gen(p, k, full)
    return out


def with_path(body, path, value=None, delete=False):
    b = copy.deepcopy(body)
    cur = b
    for k in path[:-1]:
        cur = cur[k]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return b


def variants(schema, fschema, full):
    """(label, body, expectation) probing every member of the full body."""
    out = []

    def walk(s, fs, path):
        s, fs = deref(EDEFS, s), deref(DEFS, fs) if fs else None
        cur = full
        for k in path:
            cur = cur[k]
        props, req = s.get("properties", {}), s.get("required", [])
        fprops = (fs or {}).get("properties", {})
        name = ".".join(path) or "body"
        if s.get("additionalProperties") is False:
            out.append((f"{name}+unknown member", with_path(full, path + ["ember_unknown"], 1), "refuse"))
        for k, p in props.items():
            ps, fp, lbl = deref(EDEFS, p), path + [k], ".".join(path + [k])
            if p.get("x-ember-unsupported"):
                out.append((f"{lbl}=value (unsupported)", with_path(full, fp, gen(p, k, False)), "refuse"))
                out.append((f"{lbl}=null", with_path(full, fp, None), "accept"))
                continue
            if k in req:
                out.append((f"{lbl} left out (required)", with_path(full, fp, delete=True), "refuse"))
                out.append((f"{lbl}=null (required)", with_path(full, fp, None), "refuse"))
            else:
                ok = "accept" if len(cur) - 1 >= s.get("minProperties", 0) else "refuse"
                out.append((f"{lbl} left out", with_path(full, fp, delete=True), ok))
                out.append((f"{lbl}=null", with_path(full, fp, None), ok))
            t = ps.get("type", "object")
            wrong = {"string": 12345, "integer": "1", "boolean": "true", "object": 1, "array": 1}[t]
            out.append((f"{lbl}={wrong!r} (type)", with_path(full, fp, wrong), "refuse"))
            if "enum" in ps:
                for v in ps["enum"]:
                    out.append((f"{lbl}={v!r}", with_path(full, fp, v), "accept"))
                out.append((f"{lbl}='NotAValue'", with_path(full, fp, "NotAValue"), "refuse"))
                fps = deref(DEFS, fprops.get(k)) if k in fprops else {}
                for v in fc_enum(fps):
                    if v not in ps["enum"]:
                        out.append((f"{lbl}={v!r} (Firecracker's, not ember's)",
                                    with_path(full, fp, v), "refuse"))
            elif t == "integer":
                if "minimum" in ps:
                    out.append((f"{lbl}=minimum", with_path(full, fp, ps["minimum"]), "accept"))
                    out.append((f"{lbl}=minimum-1", with_path(full, fp, ps["minimum"] - 1), "refuse"))
                if "maximum" in ps:
                    out.append((f"{lbl}=maximum", with_path(full, fp, ps["maximum"]), "accept"))
                    out.append((f"{lbl}=maximum+1", with_path(full, fp, ps["maximum"] + 1), "refuse"))
                out.append((f"{lbl}=1.5", with_path(full, fp, 1.5), "refuse"))
            elif t == "string":
                host = k in HOST_STRINGS
                if ps.get("minLength", 0) >= 1:
                    out.append((f"{lbl}=''", with_path(full, fp, ""), "refuse"))
                if "maxLength" in ps:
                    n = ps["maxLength"]
                    longest = next((c * n for c in "a0_x" if fits(ps, c * n)), None)
                    if not host and longest is not None:
                        out.append((f"{lbl}=maxLength chars", with_path(full, fp, longest), "accept"))
                    out.append((f"{lbl}=maxLength+1 chars", with_path(full, fp, "/" + "a" * n), "refuse"))
                if "pattern" in ps:
                    bad = next((v for v in BAD_STRINGS if re.search(ps["pattern"], v) is None and
                                len(v) >= ps.get("minLength", 0)), None)
                    if bad is not None:
                        out.append((f"{lbl}={bad!r} (pattern)", with_path(full, fp, bad), "refuse"))
            elif t == "boolean":
                out.append((f"{lbl}=true", with_path(full, fp, True), "accept"))
                out.append((f"{lbl}=false", with_path(full, fp, False), "accept"))
            elif t == "object":
                walk(p, fprops.get(k), fp)

    walk(schema, fschema, [])
    return out


def bind_ids(t, body):
    """The body's id members take the ids of the path (drive "d1", interface "n1")."""
    for k, v in PATH_IDS.items():
        if "{" + k + "}" in t and k in body:
            body[k] = v
    return body


def url_for(t, body):
    """The request path: a path id follows the body's id when it is a plain string."""
    ids = dict(PATH_IDS)
    for k in ids:
        v = body.get(k) if isinstance(body, dict) else None
        if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]+", v):
            ids[k] = v
    return concrete(t, ids)


def names(value, text):
    """Whether @text names @value as a whole word."""
    return re.search(r"(?<![\w/.-])" + re.escape(value) + r"(?![\w/-]|\.[\w/-])", text) is not None


created = set()   # (template, id) of the objects a PUT created


def judge(m, t, op, body, expectation, phase):
    """Send one body; a refusal counts as 'not for the body' when its text is one the
    operation's description announces (feature or once-only refusals), the gating
    text the phase calls for, a host resource this test cannot provide (named in the
    text), or, for a PATCH, an object that no PUT created (its id in the text).
    Returns a failure text or None."""
    url = url_for(t, body)
    st, doc = scall(m, url, body)
    text = fault(doc)
    desc = op.get("description", "") + " " + op.get("summary", "")
    states = op.get("x-ember-allowed-states", [])
    gated = (phase == "pre" and ("Not started" not in states or
                                 (isinstance(body, dict) and body.get("action_type") == "SendCtrlAltDel")))
    b = body if isinstance(body, dict) else {}
    pid = next((b[k] for k in PATH_IDS if "{" + k + "}" in t and isinstance(b.get(k), str)), None)
    if m == "PUT" and pid and st == 204:
        created.add((t, pid))
    not_for_body = st == 400 and bool(text) and (
        text in desc or (gated and text == MSG_BEFORE) or
        any(b.get(k) == HOST_STRINGS[k] and names(HOST_STRINGS[k], text) for k in HOST_REFUSALS) or
        (m == "PATCH" and pid is not None and (t, pid) not in created and names(pid, text)))
    if expectation == "accept":
        if st == 204 or not_for_body:
            return None
        return f"refused: {st} {text or doc}"
    if st == 400 and not not_for_body:
        return None
    return f"accepted: {st} {text or doc}"


def body_ops(order):
    """The file's PUT/PATCH operations, in @order first (the order state needs)."""
    ops = [(m, t) for (m, t) in EOPS if m in ("PUT", "PATCH")]
    return sorted(ops, key=lambda k: order.index(k) if k in order else len(order))


PRE_ORDER = [("PUT", "/machine-config"), ("PATCH", "/machine-config"), ("PUT", "/boot-source"),
             ("PUT", "/drives/{drive_id}"), ("PATCH", "/drives/{drive_id}"),
             ("PUT", "/network-interfaces/{iface_id}"), ("PATCH", "/network-interfaces/{iface_id}"),
             ("PUT", "/vsock"), ("PUT", "/logger"), ("PUT", "/metrics"), ("PATCH", "/vm"),
             ("PUT", "/actions")]
# After probing an operation, put back what the boot below needs.
RESETS = {
    ("PUT", "/machine-config"): [("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})],
    ("PATCH", "/machine-config"): [("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128})],
    ("PUT", "/boot-source"): [("PUT", "/boot-source", {"kernel_image_path": GUEST, "boot_args": BOOT_ARGS})],
    ("PUT", "/drives/{drive_id}"): [("PUT", "/drives/d1",
                                     {"drive_id": "d1", "path_on_host": sdisk, "is_root_device": False})],
}
minimal = {}
for (m, t) in body_ops(PRE_ORDER):
    op = EOPS[(m, t)]
    fop = FOPS.get((m, t), {})
    schema = op_body_schema(ESPEC, op)
    errs = []
    try:
        s = deref(EDEFS, schema)
        minimal[(m, t)] = bind_ids(t, gen_object(s, full=False))
        full = bind_ids(t, gen_object(s, full=True))
        cases = [("minimal", minimal[(m, t)], "accept"), ("full", full, "accept")]
        cases += variants(schema, op_body_schema(SPEC, fop) if fop else None, full)
    except (ValueError, KeyError, TypeError) as e:
        report(f"body-pre-boot {m} {t}", False, f"cannot build bodies: {e}")
        continue
    for lbl, body, expectation in cases:
        if isinstance(body, dict) and body.get("action_type") == "InstanceStart":
            continue  # the boot comes below, once everything pre-boot is probed
        why = judge(m, t, op, body, expectation, "pre")
        if why:
            errs.append(f"{lbl}: {why}")
    for rm, rp, rb in RESETS.get((m, t), []):
        st, doc = scall(rm, rp, rb)
        if st != 204:
            errs.append(f"reset {rm} {rp}: {st} {doc}")
    report(f"body-pre-boot {m} {t}", not errs, f"{len(errs)}/{len(cases)} wrong: " + "; ".join(errs[:8]))

# Gating: operations not allowed before boot answer with Firecracker's text.
errs = []
for (m, t) in body_ops(PRE_ORDER):
    op = EOPS[(m, t)]
    if "Not started" in op.get("x-ember-allowed-states", []) or (m, t) not in minimal:
        continue
    st, doc = scall(m, url_for(t, minimal[(m, t)]), minimal[(m, t)])
    if st != 400 or fault(doc) != MSG_BEFORE:
        errs.append(f"{m} {t}: {st} {doc}")
report("gating-before-start", not errs, "; ".join(errs))

errs = []
for (m, t), op in EOPS.items():
    if m == "GET":
        st, doc = scall(m, concrete(t))
        if st != 200:
            errs.append(f"{m} {t}: {st} {doc}")
st, doc = scall("GET", "/")
ok = isinstance(doc, dict) and doc.get("vmm_version") == EVER and doc.get("state") == "Not started"
st, doc = scall("GET", "/version")
ok = ok and isinstance(doc, dict) and (doc.get("ember_version"), doc.get("firecracker_version")) == (EVER, EAPI)
report("gets-pre-boot", not errs and ok, "; ".join(errs) or "versions differ from src/version.h")

st, doc = scall("PUT", "/actions", {"action_type": "InstanceStart"})
report("second-ember-starts", st == 204, f"{st} {doc} {log_text('spec.log')[-300:]}")
st, doc = scall("GET", "/")
report("second-ember-running", isinstance(doc, dict) and doc.get("state") == "Running", str(doc))
# The guest drains its keyboard when it starts: Ctrl-Alt-Del must come after that.
deadline = time.time() + 10
while log_text("spec.log").count("PROBE TICK") < 2 and time.time() < deadline:
    time.sleep(0.05)

# Gating: pre-boot operations are refused after InstanceStart (before the body, for PATCH
# /machine-config; after it for the others, which the pre-boot probes above covered).
errs = []
for (m, t) in body_ops(PRE_ORDER):
    op = EOPS[(m, t)]
    if "Running" in op.get("x-ember-allowed-states", []) or (m, t) not in minimal:
        continue
    st, doc = scall(m, url_for(t, minimal[(m, t)]), minimal[(m, t)])
    if st != 400 or fault(doc) != MSG_AFTER:
        errs.append(f"{m} {t}: {st} {doc}")
st, doc = scall("PUT", "/actions", {"action_type": "InstanceStart"})
if st != 400 or fault(doc) != MSG_AFTER:
    errs.append(f"InstanceStart again: {st} {doc}")
report("gating-after-start", not errs, "; ".join(errs))

# Post-boot operations, in both post-boot states (SendCtrlAltDel, which ends the guest, last).
for state in ("Running", "Paused"):
    errs = []
    if state == "Paused":
        st, doc = scall("PATCH", "/vm", {"state": "Paused"})
        if st != 204:
            errs.append(f"pause: {st} {doc}")
    for (m, t) in body_ops(PRE_ORDER):
        op = EOPS[(m, t)]
        if state not in op.get("x-ember-allowed-states", []) or (m, t) not in minimal:
            continue
        schema = deref(EDEFS, op_body_schema(ESPEC, op))
        bodies = [minimal[(m, t)], bind_ids(t, gen_object(schema, full=True))]
        for k, p in schema.get("properties", {}).items():
            for v in deref(EDEFS, p).get("enum", []):
                bodies.append(dict(minimal[(m, t)], **{k: v}))
        for body in bodies:
            if body.get("action_type") in ("InstanceStart", "SendCtrlAltDel") or \
                    (state == "Paused" and t == "/vm"):
                continue
            why = judge(m, t, op, body, "accept", "post")
            if why:
                errs.append(f"{m} {t} {json.dumps(body)[:80]}: {why}")
    for (m, t), op in EOPS.items():
        if m == "GET":
            st, doc = scall(m, concrete(t))
            if st != 200:
                errs.append(f"{m} {t}: {st} {doc}")
    st, doc = scall("GET", "/")
    if not isinstance(doc, dict) or doc.get("state") != state:
        errs.append(f"state: {doc}")
    if state == "Paused":
        st, doc = scall("PATCH", "/vm", {"state": "Resumed"})
        if st != 204:
            errs.append(f"resume: {st} {doc}")
    report(f"body-post-boot-{state.lower()}", not errs, "; ".join(errs[:8]))

st, doc = scall("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
try:
    rc = spec_vm.wait(timeout=10)
except subprocess.TimeoutExpired:
    spec_vm.kill()
    rc = None
report("second-ember-ctrl-alt-del", st == 204 and rc == 0, f"{st} {doc} rc={rc}")
report("answers-match-both-files", not answer_errs,
       f"{len(answer_errs)}: " + "; ".join(answer_errs[:12]))
sys.exit(1 if fails else 0)
