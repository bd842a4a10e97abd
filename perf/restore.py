#!/usr/bin/env python3
"""restore.py: the timing harness of perf/restore.sh (snapshot restore, ember vs QEMU microvm).

Every run starts a fresh VMM process and times it from just before its fork+exec (t0,
CLOCK_MONOTONIC), reading its stdout (the VMM's log and the guest's serial console) line by
line as it comes. Every wait has a deadline; every process started is killed at the end.

  restore.py ember-load --csv F --label L --size MIB --backend File|Uffd --snap S --mem M
             --work DIR --runs N [--handler PATH [--prefault]] [--vsock-port P] [--timeout S]
                    [--term-wait S] -- EMBER [args]
      Per run: a fresh ember with --api-sock (a fresh page-fault handler first for Uffd),
      PUT /snapshot/load with resume_vm as soon as the socket accepts; then the guest's first
      "PROBE TICK" line, or with --vsock-port a host connection through the restored vsock's
      Unix socket ("CONNECT P"), answered "OK ..." once the guest accepted it. --term-wait:
      SIGTERM at the end and up to S seconds for the exit before SIGKILL.
  restore.py qemu-incoming --csv F --label L --size MIB --qmp SOCK --runs N [--timeout S]
             -- QEMU [args, with -incoming and -qmp unix:SOCK,...]
      Per run: a fresh QEMU that restores its migration stream and starts (no -S: it runs as
      soon as the stream is read; a stream of a stopped guest gets a "cont"); QMP polled from t0: socket accepting, then the VM running
      (query-status, or the RESUME event); the first "PROBE TICK" on its serial output.
  restore.py qemu-save --qmp SOCK --out FILE --wait-line PREFIX [--timeout S] -- QEMU [args]
      Boots QEMU, waits for a serial line, then over QMP: migrate "exec:cat > FILE" (QEMU stops
      the guest when the stream is complete), query-migrate until completed, quit.
  restore.py clones --n N --snap S --mem M --work DIR [--timeout S] -- EMBER [args]
      N embers started at once, each loading the snapshot (File) as soon as its socket
      accepts; the time until every one of them has ticked, then their summed PSS.
      Prints "clones=N all_ticked_ms=T clones_per_s=R pss_kib=P ok=K".

CSV columns (restore.csv): vmm, backend, size_mib, run, ok, exec_to_api_ms (API or QMP socket
accepting), request_ms (PUT /snapshot/load sent to its answer), ember_us (ember's "loaded ...
us" log line), exec_to_running_ms (ember: the load's 204, vCPUs resumed; QEMU: QMP says
running), load_to_tick_ms, exec_to_tick_ms, load_to_vsock_ms, exec_to_vsock_ms.
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

HDR = ["vmm", "backend", "size_mib", "run", "ok", "exec_to_api_ms", "request_ms", "ember_us",
       "exec_to_running_ms", "load_to_tick_ms", "exec_to_tick_ms", "load_to_vsock_ms",
       "exec_to_vsock_ms"]
LOADED = re.compile(rb"loaded: .* (\d+) us\s*$")


def now():
    return time.monotonic()


def ms(a, b):
    return None if a is None or b is None else round((b - a) * 1000.0, 3)


def err(msg):
    print("restore.py: %s" % msg, file=sys.stderr, flush=True)


class Proc:
    """A child with stdout+stderr on a pipe, read line by line; output also saved to a file."""

    def __init__(self, argv, save=None):
        self.t0 = now()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = b""
        self.lines = []
        self.save = open(save, "wb") if save else None
        self.eof = False

    def pump(self, wait):
        """Read what is there (waiting up to @wait s); returns [(time, line)] of new lines."""
        if self.eof:
            time.sleep(min(wait, 0.01))
            return []
        r, _, _ = select.select([self.p.stdout], [], [], wait)
        out = []
        if r:
            t = now()
            try:
                d = os.read(self.p.stdout.fileno(), 65536)
            except BlockingIOError:
                d = b""
            if not d and r:
                self.eof = True
            if self.save and d:
                self.save.write(d)
            self.buf += d
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                out.append((t, line))
                self.lines.append(line)
        return out

    def wait_line(self, prefix, deadline):
        while now() < deadline:
            for t, line in self.pump(0.005):
                if line.startswith(prefix):
                    return t
            if self.eof and self.p.poll() is not None:
                return None
        return None

    def kill(self, term_wait=0):
        if term_wait and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)      # a clean exit (valgrind writes its counts)
            try:
                self.p.wait(term_wait)
            except subprocess.TimeoutExpired:
                err("pid %d still there %s s after SIGTERM" % (self.p.pid, term_wait))
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            err("pid %d did not die" % self.p.pid)
        if self.save:
            self.save.close()
            self.save = None
        self.p.stdout.close()

    def tail(self, n=400):
        return b"\n".join(self.lines)[-n:].decode(errors="replace")


def connect_unix(path, deadline, poll=0.0002):
    while now() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s, now()
        except OSError:
            s.close()
            time.sleep(poll)
    return None, None


def http(s, method, path, body, deadline):
    b = json.dumps(body).encode() if body is not None else b""
    req = ("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n" % (method, path, len(b))).encode() + b
    s.settimeout(max(0.01, deadline - now()))
    s.sendall(req)
    resp = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        resp += d
        if b"\r\n\r\n" in resp:
            head, rest = resp.split(b"\r\n\r\n", 1)
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            if len(rest) >= (int(m.group(1)) if m else 0):
                break
    try:
        return int(resp.split(b" ", 2)[1]), resp
    except (IndexError, ValueError):
        return -1, resp


def rm(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def append_csv(path, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write(",".join(HDR) + "\n")
        f.write(",".join("" if v is None else str(v) for v in row) + "\n")


def vsock_answer(uds, port, deadline):
    """Connect through ember's vsock Unix socket; the time the guest's accept comes back."""
    s, _ = connect_unix(uds, deadline, 0.0005)
    if not s:
        return None, "no vsock socket %s" % uds
    try:
        s.settimeout(max(0.01, deadline - now()))
        s.sendall(b"CONNECT %d\n" % port)
        got = b""
        while b"\n" not in got:
            d = s.recv(256)
            if not d:
                return None, "closed after %r" % got
            got += d
        t = now()
        return (t, "") if got.startswith(b"OK") else (None, "answer %r" % got)
    except OSError as e:
        return None, str(e)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
def ember_load(a, cmd):
    for run in range(1, a.runs + 1):
        sock = os.path.join(a.work, "ld.sock")
        uds = os.path.join(a.work, "ld.vsock")
        hsock = os.path.join(a.work, "ld.hsock")
        for p in (sock, uds, hsock):
            rm(p)
        handler = None
        row = {"ok": 0}
        why = ""
        try:
            if a.backend == "Uffd":
                handler = Proc([a.handler, hsock, a.mem] + (["--prefault"] if a.prefault else []),
                               os.path.join(a.work, "handler.out"))
                if handler.wait_line(b"READY", now() + 10) is None:
                    raise RuntimeError("the page-fault handler did not get ready: %s" % handler.tail())
            body = {"snapshot_path": a.snap,
                    "mem_backend": {"backend_type": a.backend,
                                    "backend_path": hsock if a.backend == "Uffd" else a.mem},
                    "resume_vm": True, "vsock_override": {"uds_path": uds}}
            vm = Proc(cmd + ["--api-sock", sock], os.path.join(a.work, "ember.%d.out" % run))
            deadline = vm.t0 + a.timeout
            try:
                s, t_api = connect_unix(sock, deadline)
                if not s:
                    raise RuntimeError("API socket never accepted: %s" % vm.tail())
                t_req = now()
                code, resp = http(s, "PUT", "/snapshot/load", body, deadline)
                t_resp = now()
                s.close()
                if code != 204:
                    raise RuntimeError("load answered %d: %s | %s" % (code, resp[-300:], vm.tail()))
                row.update(exec_to_api_ms=ms(vm.t0, t_api), request_ms=ms(t_req, t_resp),
                           exec_to_running_ms=ms(vm.t0, t_resp))
                if a.vsock_port:
                    t_v, why = vsock_answer(uds, a.vsock_port, deadline)
                    if t_v is None:
                        raise RuntimeError("vsock: %s | %s" % (why, vm.tail()))
                    row.update(load_to_vsock_ms=ms(t_req, t_v), exec_to_vsock_ms=ms(vm.t0, t_v))
                else:
                    t_tick = vm.wait_line(b"PROBE TICK", deadline)
                    if t_tick is None:
                        raise RuntimeError("no PROBE TICK within %s s: %s" % (a.timeout, vm.tail()))
                    row.update(load_to_tick_ms=ms(t_req, t_tick), exec_to_tick_ms=ms(vm.t0, t_tick))
                vm.pump(0)
                for line in vm.lines:
                    m = LOADED.search(line)
                    if m:
                        row["ember_us"] = int(m.group(1))
                row["ok"] = 1
            finally:
                vm.kill(a.term_wait)
        except (RuntimeError, OSError) as e:
            why = str(e)
            err("%s run %d: %s" % (a.label, run, why[:600]))
        finally:
            if handler:
                handler.kill()
        append_csv(a.csv, ["ember", a.label, a.size, run, row["ok"]] +
                   [row.get(k) for k in HDR[5:]])


# ---------------------------------------------------------------------------------------------
class Qmp:
    """A QMP client on its own buffer (a timed-out read must leave the stream usable)."""

    def __init__(self, path, deadline):
        self.s, self.t_conn = connect_unix(path, deadline)
        if not self.s:
            raise RuntimeError("QMP socket %s never accepted" % path)
        self.buf = b""
        self.events = []
        self.deadline = deadline
        self.read()                      # greeting
        self.cmd("qmp_capabilities")

    def read(self, timeout=None):
        """The next message, or None when @timeout s pass without one."""
        end = self.deadline if timeout is None else min(self.deadline, now() + timeout)
        while b"\n" not in self.buf:
            left = end - now()
            if left <= 0:
                if timeout is None:
                    raise RuntimeError("QMP: no answer in time")
                return None
            r, _, _ = select.select([self.s], [], [], left)
            if r:
                d = self.s.recv(65536)
                if not d:
                    raise RuntimeError("QMP closed")
                self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        m = {"execute": name}
        if args:
            m["arguments"] = args
        self.s.sendall(json.dumps(m).encode() + b"\n")
        while True:
            r = self.read()
            if "event" in r:
                self.events.append((now(), r))
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (name, r["error"]))
            return r.get("return")

    def wait_event(self, name, timeout):
        """The time of event @name (already seen, or within @timeout s), else None."""
        for t, e in self.events:
            if e.get("event") == name:
                return t
        end = now() + timeout
        while now() < end:
            r = self.read(end - now())
            if r is None:
                return None
            if r.get("event") == name:
                return now()
            if "event" in r:
                self.events.append((now(), r))
        return None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def qemu_running(path, deadline, out):
    """Thread body: QMP from t0 until the VM runs; fills out['api'], out['running']."""
    try:
        q = Qmp(path, deadline)
        out["api"] = q.t_conn
        while now() < deadline:
            st = q.cmd("query-status")
            if st.get("running"):
                out["running"] = now()
                break
            if st.get("status") == "paused":
                # The stream said the source was stopped: QEMU waits for a cont.
                q.cmd("cont")
                out["cont"] = True
            elif st.get("status") not in ("inmigrate", "prelaunch", "restore-vm"):
                out["why"] = "status %s" % st.get("status")
            t = q.wait_event("RESUME", 0.001)
            if t:
                out["running"] = t
                break
        q.close()
    except (RuntimeError, OSError, ValueError) as e:
        out["why"] = str(e)


def qemu_incoming(a, cmd):
    for run in range(1, a.runs + 1):
        rm(a.qmp)
        row = {"ok": 0}
        vm = Proc(cmd, os.path.join(a.work, "qemu.%d.out" % run))
        deadline = vm.t0 + a.timeout
        out = {}
        th = threading.Thread(target=qemu_running, args=(a.qmp, deadline, out), daemon=True)
        th.start()
        try:
            t_tick = vm.wait_line(b"PROBE TICK", deadline)
            th.join(max(0.01, deadline - now()))
            if t_tick is None:
                raise RuntimeError("no PROBE TICK within %s s: %s" % (a.timeout, vm.tail()))
            if "running" not in out:
                raise RuntimeError("QMP never said running: %s" % out.get("why", "?"))
            row.update(exec_to_api_ms=ms(vm.t0, out.get("api")),
                       exec_to_running_ms=ms(vm.t0, out["running"]),
                       exec_to_tick_ms=ms(vm.t0, t_tick), ok=1)
        except RuntimeError as e:
            err("%s run %d: %s" % (a.label, run, str(e)[:600]))
        finally:
            vm.kill()
        append_csv(a.csv, ["qemu", a.label, a.size, run, row["ok"]] + [row.get(k) for k in HDR[5:]])


def qemu_save(a, cmd):
    rm(a.qmp)
    vm = Proc(cmd, os.path.join(a.work, "qemu-save.out"))
    deadline = vm.t0 + a.timeout
    try:
        if vm.wait_line(a.wait_line.encode(), deadline) is None:
            raise RuntimeError("no %r within %s s: %s" % (a.wait_line, a.timeout, vm.tail()))
        q = Qmp(a.qmp, deadline)
        # Not stopped first: migrate stops the guest when the stream is complete, and the
        # stream then records a running guest, which the destination starts by itself.
        rm(a.out)
        q.cmd("migrate", {"uri": "exec:cat > %s" % a.out})
        while True:
            st = q.cmd("query-migrate")
            if st.get("status") == "completed":
                break
            if st.get("status") in ("failed", "cancelled") or now() > deadline:
                raise RuntimeError("migration %s: %s" % (st.get("status"), st))
            time.sleep(0.02)
        try:
            q.cmd("quit")
        except (RuntimeError, OSError):
            pass
        q.close()
        print("qemu-save: %s, %d bytes, %s" % (a.out, os.path.getsize(a.out),
                                               st.get("ram", {}).get("total", "?")))
    except (RuntimeError, OSError) as e:
        err("qemu-save: %s" % e)
        return 1
    finally:
        vm.kill()
    return 0


# ---------------------------------------------------------------------------------------------
def clones(a, cmd):
    vms, res = [], []
    t0 = now()
    deadline = t0 + a.timeout

    def load(i, vm):
        sock = os.path.join(a.work, "c%d.sock" % i)
        s, _ = connect_unix(sock, deadline, 0.001)
        if not s:
            res[i] = "no API socket"
            return
        body = {"snapshot_path": a.snap, "mem_backend": {"backend_type": "File", "backend_path": a.mem},
                "resume_vm": True, "vsock_override": {"uds_path": os.path.join(a.work, "c%d.vsock" % i)}}
        try:
            code, _ = http(s, "PUT", "/snapshot/load", body, deadline)
            res[i] = "" if code == 204 else "load answered %d" % code
        except OSError as e:
            res[i] = str(e)
        s.close()

    threads = []
    try:
        for i in range(a.n):
            for p in ("c%d.sock" % i, "c%d.vsock" % i):
                rm(os.path.join(a.work, p))
            vms.append(Proc(cmd + ["--api-sock", os.path.join(a.work, "c%d.sock" % i)]))
            res.append(None)
        for i, vm in enumerate(vms):
            th = threading.Thread(target=load, args=(i, vm), daemon=True)
            th.start()
            threads.append(th)
        ticked = {}
        while len(ticked) < a.n and now() < deadline:
            for i, vm in enumerate(vms):
                if i in ticked:
                    continue
                for t, line in vm.pump(0):
                    if line.startswith(b"PROBE TICK"):
                        ticked[i] = t
                        break
            time.sleep(0.0005)
        t_all = max(ticked.values()) if len(ticked) == a.n else None
        for th in threads:
            th.join(max(0.01, deadline - now()))
        pss = 0
        for vm in vms:
            try:
                for line in open("/proc/%d/smaps_rollup" % vm.p.pid):
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                pass
        bad = [r for r in res if r]
        for b in bad[:3]:
            err("clone: %s" % b)
        print("clones=%d all_ticked_ms=%s clones_per_s=%s pss_kib=%d ok=%d" % (
            a.n, "%.1f" % ms(t0, t_all) if t_all else "", "%.1f" % (a.n / (t_all - t0)) if t_all else "",
            pss, len(ticked)))
    finally:
        for vm in vms:
            vm.kill()
    return 0 if len(ticked) == a.n else 1


def on_signal(sig, frame):
    raise SystemExit(128 + sig)      # through every finally: the children are killed


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="what", required=True)
    e = sp.add_parser("ember-load")
    for k in ("csv", "label", "size", "snap", "mem", "work"):
        e.add_argument("--" + k, required=True)
    e.add_argument("--backend", choices=("File", "Uffd"), required=True)
    e.add_argument("--runs", type=int, default=1)
    e.add_argument("--handler")
    e.add_argument("--prefault", action="store_true")
    e.add_argument("--vsock-port", type=int, default=0)
    e.add_argument("--term-wait", type=float, default=0)
    q = sp.add_parser("qemu-incoming")
    for k in ("csv", "label", "size", "qmp", "work"):
        q.add_argument("--" + k, required=True)
    q.add_argument("--runs", type=int, default=1)
    s = sp.add_parser("qemu-save")
    for k in ("qmp", "out", "wait-line", "work"):
        s.add_argument("--" + k, required=True)
    c = sp.add_parser("clones")
    for k in ("snap", "mem", "work"):
        c.add_argument("--" + k, required=True)
    c.add_argument("--n", type=int, default=20)
    for p in (e, q, s, c):
        p.add_argument("--timeout", type=float, default=30)
        p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command after --")
    if a.what == "ember-load" and a.backend == "Uffd" and not a.handler:
        ap.error("Uffd needs --handler")
    return {"ember-load": ember_load, "qemu-incoming": qemu_incoming, "qemu-save": qemu_save,
            "clones": clones}[a.what](a, cmd) or 0


if __name__ == "__main__":
    sys.exit(main())
