#!/usr/bin/env python3
"""report.py: turns perf/run.sh's raw measurements into perf/results/*.csv, SUMMARY.md and the
boot-time chart (gnuplot PNG).

  report.py --work DIR --results DIR

DIR/raw.csv holds one row per VMM process from perf/vmtime (see vmtime.c), DIR/out/ the
processes' saved output, DIR/kvmfloor.csv, DIR/mem.csv, DIR/densmem.csv (perf/smaps.py rows),
DIR/strace.N.txt, DIR/bench.csv (perf/bench.sh), DIR/machine.txt, DIR/notes.txt.
"""
import argparse
import csv
import glob
import os
import re
import subprocess
import sys
from collections import defaultdict

MARKS = 6
FC = {}   # figures for the comparison with Firecracker's published ones
MEM_HDR = ["label", "pid", "threads", "size_kb", "rss_kb", "pss_kb", "guest_map_kb", "guest_rss_kb",
           "guest_pss_kb", "vmm_rss_kb", "vmm_pss_kb", "vmm_private_kb", "vmm_anon_kb",
           "vmm_file_rss_kb", "n_maps", "memavail_delta_kb", "cgroup_kb"]


def pct(xs, p):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def st(xs):
    xs = [x for x in xs if x is not None]
    return {"n": len(xs), "p50": pct(xs, 50), "p90": pct(xs, 90), "p99": pct(xs, 99),
            "min": min(xs) if xs else None, "max": max(xs) if xs else None}


def f_ms(v, nd=2):
    return "-" if v is None else ("%.*f" % (nd, v / 1000.0))


def f_num(v, nd=1):
    return "-" if v is None else ("%.*f" % (nd, v))


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def trip(s, nd=2):
    """p50 / p90 / p99 in ms from a stats dict of microseconds."""
    return "%s / %s / %s" % (f_ms(s["p50"], nd), f_ms(s["p90"], nd), f_ms(s["p99"], nd))


class Row:
    def __init__(self, r):
        self.label = r[0]
        self.run = int(r[1])
        self.inst = int(r[2])
        self.pid = int(r[3])
        v = [float(x) for x in r[4:11]]
        neg = lambda x: None if x < 0 else x
        (self.ready, self.ready_cpu, self.resp, self.resp_cpu, self.start_sent,
         self.start_done, self.first_byte) = [neg(x) for x in v]
        self.mark = [neg(float(r[11 + 2 * k])) for k in range(MARKS)]
        self.mark_cpu = [neg(float(r[12 + 2 * k])) for k in range(MARKS)]
        b = 11 + 2 * MARKS
        self.exit_t = neg(float(r[b]))
        self.code = int(r[b + 1])
        self.utime = float(r[b + 2])
        self.stime = float(r[b + 3])
        self.maxrss = int(r[b + 4])
        self.http_bad = int(r[b + 5])
        self.built = self.bt = self.bt_cpu = None

    def parse_out(self, work):
        p = os.path.join(work, "out", "%s.%d.%d.out" % (self.label.replace(":", "_"), self.run,
                                                         self.inst))
        try:
            text = open(p, errors="replace").read()
        except OSError:
            return
        m = re.search(r"built in (\d+) us", text)
        if m:
            self.built = float(m.group(1))
        m = re.search(r"Guest-boot-time = +(\d+) us +\d+ ms, +(\d+) CPU us", text)
        if m:
            self.bt, self.bt_cpu = float(m.group(1)), float(m.group(2))


def load_rows(work):
    rows = []
    with open(os.path.join(work, "raw.csv")) as f:
        for r in csv.reader(f):
            if r:
                x = Row(r)
                x.parse_out(work)
                rows.append(x)
    return rows


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def sub(t, a):
    return None if t is None or a is None else t - a


def read_kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d


def strace_breakdown(work):
    """Per syscall (ioctl by request), median time over the runs from opening /dev/kvm to the
    first KVM_RUN, and the window itself."""
    per = defaultdict(list)
    windows = []
    files = sorted(glob.glob(os.path.join(work, "strace.*.txt")))
    for fn in files:
        lines = open(fn).read().splitlines()
        tsec = lambda l: (lambda h, m, s: int(h) * 3600 + int(m) * 60 + float(s))(*l.split()[1].split(":"))
        start = next((i for i, l in enumerate(lines) if '"/dev/kvm"' in l), None)
        end = next((i for i, l in enumerate(lines) if "KVM_RUN" in l), None)
        if start is None or end is None:
            continue
        windows.append((tsec(lines[end]) - tsec(lines[start])) * 1e6)
        acc = defaultdict(float)
        for l in lines[start:end]:
            m = re.search(r"<([0-9.]+)>$", l)
            if not m or "resumed>" in l:
                continue
            call = l.split()[2].split("(")[0]
            if call == "ioctl":
                mm = re.match(r"ioctl\(\d+, ([A-Z0-9_]+)", l.split(None, 2)[2])
                call = mm.group(1) if mm else "ioctl"
            acc[call] += float(m.group(1)) * 1e6
        for k, v in acc.items():
            per[k].append(v)
    n = len(windows)
    out = []
    for k, v in per.items():
        v = v + [0.0] * (n - len(v))
        out.append((k, pct(v, 50), len(v)))
    out.sort(key=lambda x: -x[1])
    return n, pct(windows, 50), out


def restore_section(R, targets=None):
    """SUMMARY.md's "Snapshot restore" table from perf/restore.sh's files in R (list of lines)."""
    path = os.path.join(R, "restore.csv")
    md = ["## 6. Snapshot restore: ember vs QEMU microvm's migration stream\n"]
    notes = read_kv(os.path.join(R, "restore_notes.txt"))
    if not os.path.exists(path):
        md.append("Not measured in this run (perf/restore.sh wrote no restore.csv).\n")
        return md
    rows = list(csv.DictReader(open(path)))
    num = lambda r, k: float(r[k]) if r.get(k) not in (None, "") else None
    md.append("The test guest (`probe=idle idle_tick_ms=10`: a tick every 10 ms), 2 vCPUs, a drive "
              "(ember also vsock), booted and saved at its third tick: ember with PUT "
              "/snapshot/create, QEMU with `migrate \"exec:cat > FILE\"`. Every restore is a fresh "
              "process: ember gets PUT /snapshot/load (`resume_vm`) as soon as its API socket "
              "accepts; QEMU starts with `-incoming \"exec:cat FILE\"` and runs when the stream is "
              "read. **exec to first tick** (fork+exec to the guest's first `PROBE TICK` line after "
              "the restore) is the figure that compares; it includes up to one tick period (10 ms) "
              "of waiting for the guest's timer for both VMMs. *exec to running*: ember's 204 (vCPUs "
              "resumed), QEMU's QMP `query-status` running. *request*: PUT /snapshot/load sent to "
              "its 204; *ember log*: ember's own `loaded ... us` line (request parsed to vCPUs "
              "restored). *vsock answer*: a second snapshot of the guest listening on vsock "
              "(`probe=vsock-listen`): load request to the guest accepting a host `CONNECT` "
              "through the restored device (QEMU has no vsock here). Uffd: `build/uffd-handler` "
              "serving pages on demand, a fresh one per load. ms, p50 / p99.\n")
    md.append("| MiB | VMM, backend | runs ok | exec to running | request | ember log | load to first tick | **exec to first tick** | ratio to QEMU p50 / p99 | load to vsock answer |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    sizes = sorted({int(r["size_mib"]) for r in rows})
    pp = lambda xs: "%s / %s" % (f_num(pct(xs, 50), 2), f_num(pct(xs, 99), 2)) if xs else "-"
    for mib in sizes:
        sel = lambda vmm, be: [r for r in rows if r["vmm"] == vmm and r["backend"] == be
                               and int(r["size_mib"]) == mib]
        q = [num(r, "exec_to_tick_ms") for r in sel("qemu", "migration") if r["ok"] == "1"]
        variants = [("ember", b) for b in sorted({r["backend"] for r in rows if r["vmm"] == "ember"
                                                  and not r["backend"].endswith("-vsock")})]
        for vmm, be in variants + [("qemu", "migration")]:
            rs = sel(vmm, be)
            ok = [r for r in rs if r["ok"] == "1"]
            vs = [num(r, "load_to_vsock_ms") for r in sel(vmm, be + "-vsock") if r["ok"] == "1"]
            col = lambda k: [num(r, k) for r in ok if num(r, k) is not None]
            us = col("ember_us")
            et = col("exec_to_tick_ms")
            rat = "-"
            if vmm == "ember" and et and q:
                rat = "%s / %s" % (ratio(pct(et, 50), pct(q, 50)), ratio(pct(et, 99), pct(q, 99)))
                if targets is not None and be == "File":
                    targets.append(("Restore (exec to first tick, %d MiB, File) under QEMU's "
                                    "migration restore, p50" % mib, "ratio %s" % ratio(pct(et, 50), pct(q, 50)),
                                    pct(et, 50) < pct(q, 50)))
            md.append("| %d | %s | %d/%d | %s | %s | %s | %s | %s | %s | %s |" % (
                mib, "%s %s" % (vmm, be) if vmm == "ember" else "QEMU migration stream",
                len(ok), len(rs), pp(col("exec_to_running_ms")), pp(col("request_ms")),
                pp([x / 1000.0 for x in us]), pp(col("load_to_tick_ms")), pp(et), rat,
                "%s (n=%d)" % (pp(vs), len(vs)) if vs else "-"))
    cl = os.path.join(R, "restore_clones.csv")
    if os.path.exists(cl):
        for r in csv.DictReader(open(cl)):
            if r["what"] == "rate":
                md.append("\nClones: %s embers started at once, each loading the %s MiB snapshot "
                          "(File): all ticking after %s ms, **%s clones/s** (%s/%s ticked)." % (
                              r["clones"], r["size_mib"], r["all_ticked_ms"] or "-",
                              r["clones_per_s"] or "-", r["ok"], r["clones"]))
            elif r["what"] == "pss" and r["pss_kib"]:
                md.append("%s clones of the %s MiB snapshot running: summed PSS **%.1f MiB** "
                          "(%s x guest RAM would be %d MiB): they share the memory file's pages." % (
                              r["clones"], r["size_mib"], int(r["pss_kib"]) / 1024.0, r["clones"],
                              int(r["clones"]) * int(r["size_mib"])))
    cg = []
    for k, what in (("load", "in `vmm_snapshot_load` (request parsed to vCPUs resumed)"),
                    ("process", "the whole process: exec, API, load, guest running to its first "
                                "tick, SIGTERM, exit")):
        p = os.path.join(R, "restore_callgrind_%s.txt" % k)
        if os.path.exists(p):
            m = re.search(r"([\d,]+) \([ 0-9.]+%\)\s+PROGRAM TOTALS", open(p).read())
            if m:
                cg.append("%s instructions %s" % (m.group(1), what))
    if cg:
        md.append("\nember's user-mode instructions for one File restore of the smallest snapshot "
                  "(valgrind callgrind, `--no-seccomp`; kernel work, KVM's included, not counted): " +
                  "; ".join(cg) + " (`restore_callgrind_*.txt`).")
    elif notes.get("callgrind_load"):
        md.append("\nCallgrind: %s" % notes["callgrind_load"])
    nl = ["- %s: %s" % (k, v) for k, v in notes.items()
          if k.startswith(("qemu", "ember_", "snapshot_", "restore_runs")) or k == "callgrind"]
    if nl:
        md.append("\nNotes of this section:\n")
        md.extend(nl)
    md.append("")
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work")
    ap.add_argument("--results", required=True)
    ap.add_argument("--restore-only", action="store_true",
                    help="print the snapshot restore table (perf/restore.sh alone)")
    a = ap.parse_args()
    if a.restore_only:
        print("\n".join(restore_section(a.results)))
        return
    if not a.work:
        ap.error("--work is needed")
    W, R = a.work, a.results
    rows = load_rows(W)
    by = defaultdict(list)
    for r in rows:
        by[r.label].append(r)
    mach = read_kv(os.path.join(W, "machine.txt"))
    notes = read_kv(os.path.join(W, "notes.txt"))
    md = []
    targets = []
    FC.clear()

    # ---------------- 1. start-up ----------------
    out = []
    for lab in ("startup:ember", "startup:ember-static", "startup:ember-jailer", "startup:sockfloor",
                "startup:qemu-qmp"):
        for r in by.get(lab, []):
            out.append([lab.split(":")[1], r.run, r.ready, r.ready_cpu, r.resp, r.resp_cpu, r.code])
    write_csv(os.path.join(R, "startup.csv"),
              ["variant", "run", "exec_to_api_ready_us", "cpu_at_ready_us", "exec_to_get_answered_us",
               "cpu_at_get_answered_us", "exit_code"], out)
    md.append("## 1. Start-up: process exec to API socket accepting\n")
    md.append("Wall time from just before fork+exec to the first successful `connect()` on the API "
              "socket (polled every 20 us), and the process's CPU time at that moment (every thread; "
              "exec, dynamic loading and seccomp set-up included). Then `GET /` is sent and answered. "
              "Milliseconds, p50 / p90 / p99.\n")
    md.append("| variant | runs | wall to ready | CPU to ready | wall to `GET /` answered | CPU to `GET /` answered |")
    md.append("| --- | --- | --- | --- | --- | --- |")
    sstats = {}
    link = mach.get("ember_link", "dynamic")
    for lab, name in (("startup:ember", "ember (`build/ember` as built: %s)" % link),
                      ("startup:ember-static", "ember, a static-pie link of the same objects by perf"),
                      ("startup:ember-jailer", "ember-jailer + static ember (jail, chroot, uid drop)"),
                      ("startup:sockfloor", "floor: a program that only binds and listens (`perf/sockfloor.c`)"),
                      ("startup:qemu-qmp", "QEMU microvm `-S`, to QMP socket (peer, for scale)")):
        rs = [r for r in by.get(lab, []) if r.ready is not None]
        if not rs:
            md.append("| %s | 0 | not measured | | | |" % name)
            continue
        s1, s2 = st([r.ready for r in rs]), st([r.ready_cpu for r in rs])
        s3, s4 = st([r.resp for r in rs]), st([r.resp_cpu for r in rs])
        sstats[lab] = (s1, s2)
        md.append("| %s | %d | %s | %s | %s | %s |" % (name, s1["n"], trip(s1), trip(s2),
                                                       trip(s3) if s3["n"] else "-",
                                                       trip(s4) if s4["n"] else "-"))
    if "startup:ember" in sstats:
        s1, s2 = sstats["startup:ember"]
        FC["startup"] = (s1["p50"], s2["p50"])
    if "startup:ember-jailer" in sstats:
        FC["startup_jailer"] = (sstats["startup:ember-jailer"][0]["p50"], sstats["startup:ember-jailer"][1]["p50"])
    if "startup:ember" in sstats:
        targets.append(("Start-up to API ready <= 2 ms wall p50", "%s ms" % f_ms(s1["p50"]),
                        s1["p50"] <= 2000))
        targets.append(("Start-up to API ready <= 1 CPU ms", "%s CPU ms (p50)" % f_ms(s2["p50"]),
                        s2["p50"] <= 1000))
    if "startup:ember-jailer" not in sstats:
        md.append("\nJailer: %s" % ("not measured: build/ember-jailer or a static link of ember is "
                                    "missing" if mach.get("jailer") != "yes" or not mach.get("ember_static")
                                    else "no successful run"))
    if "startup:ember" in sstats and "startup:qemu-qmp" in sstats:
        md.append("\nRatio ember / QEMU (QMP ready), p50: wall %s, CPU %s." % (
            ratio(sstats["startup:ember"][0]["p50"], sstats["startup:qemu-qmp"][0]["p50"]),
            ratio(sstats["startup:ember"][1]["p50"], sstats["startup:qemu-qmp"][1]["p50"])))
    cg = []
    for k, what in (("startup", "exec to API ready, then SIGTERM and exit"),
                    ("build", "config file with the tiny guest: whole life (start, build, first "
                              "instruction, reset, exit)")):
        p = os.path.join(R, "callgrind_%s.txt" % k)
        if os.path.exists(p):
            t = open(p).read()
            m = re.search(r"([\d,]+) \([ 0-9.]+%\)\s+PROGRAM TOTALS", t)
            dl = sum(int(x.replace(",", "")) for x in
                     re.findall(r"^\s*([\d,]+) \([ 0-9.]+%\)\s+\S*(?:dl-|rtld|ld-linux)", t, re.M))
            if m:
                tot = int(m.group(1).replace(",", ""))
                cg.append((k, what, tot, dl))
    if cg:
        md.append("\nUser-mode instructions (valgrind callgrind, `--no-seccomp` as valgrind needs; "
                  "kernel work not counted; listings in `callgrind_*.txt`):\n")
        md.append("| run | instructions | of which in the dynamic loader (listed functions) |")
        md.append("| --- | --- | --- |")
        for k, what, tot, dl in cg:
            md.append("| %s | %s | %s (%.0f%%) |" % (what, "{:,}".format(tot), "{:,}".format(dl),
                                                    100.0 * dl / tot if tot else 0))
    md.append("")

    # ---------------- 2a. first instruction ----------------
    configs = ["1x128", "4x128", "1x2048", "4x2048"]
    out = []
    for cfg in configs:
        for mode in ("ember-api", "ember-exec", "qemu-exec"):
            for r in by.get("first:%s:%s" % (mode, cfg), []):
                out.append([mode, cfg, r.run, r.bt, r.bt_cpu, r.built, sub(r.mark[0], r.start_sent),
                            r.mark[0], r.mark_cpu[0], r.code])
    write_csv(os.path.join(R, "first_insn.csv"),
              ["mode", "config", "run", "instancestart_to_first_insn_us (boot timer)",
               "instancestart_to_first_insn_cpu_us", "built_in_us (log)",
               "instancestart_sent_to_first_serial_byte_us", "exec_to_first_serial_byte_us",
               "cpu_at_first_serial_byte_us", "exit_code"], out)
    kf = []
    if os.path.exists(os.path.join(W, "kvmfloor.csv")):
        for r in csv.reader(open(os.path.join(W, "kvmfloor.csv"))):
            if len(r) >= 6:
                kf.append([r[0]] + [float(x) for x in r[1:6]])
    write_csv(os.path.join(R, "kvmfloor.csv"), ["config", "run", "wall_us", "cpu_us",
                                                "set_user_memory_region_us", "first_kvm_run_us"], kf)
    md.append("## 2. InstanceStart to first guest instruction, and to guest init\n")
    md.append("**First instruction** (tiny PVH guest `perf/firstinsn.S`: its first instruction writes "
              "the boot timer, so ember's `Guest-boot-time` is InstanceStart to the first guest "
              "instruction plus one MMIO exit). `built in` is ember's log line (InstanceStart to vCPU "
              "threads released). *KVM floor* (`perf/kvmfloor.c`) is the least any VMM does on this "
              "host to reach a first instruction (create VM, irqchip, PIT, one memslot, one vCPU, "
              "KVM_RUN), timed the same way. Exec to first instruction: fork+exec to the guest's first "
              "serial byte on stdout, ember from a config file vs QEMU from its command line (QEMU "
              "runs its qboot firmware first). The API flow column: exec, API ready, boot-source, "
              "machine-config (ember may prepare the VM here, before InstanceStart), InstanceStart, "
              "first instruction: everything a Firecracker-style launch does. ms, p50 / p90 / p99.\n")
    md.append("| vCPUs x MiB | ember InstanceStart to 1st insn: wall | CPU | `built in` | KVM floor wall | KVM floor CPU | exec to 1st insn: ember (config file) | QEMU | ratio ember/QEMU (p50) | ember API flow: exec to 1st insn |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    first_p50 = {}
    for cfg in configs:
        ea = [r for r in by.get("first:ember-api:%s" % cfg, []) if r.bt is not None]
        ee = [r.mark[0] for r in by.get("first:ember-exec:%s" % cfg, []) if r.mark[0] is not None]
        qe = [r.mark[0] for r in by.get("first:qemu-exec:%s" % cfg, []) if r.mark[0] is not None]
        fl = [x for x in kf if x[0] == cfg]
        s_bt, s_cpu = st([r.bt for r in ea]), st([r.bt_cpu for r in ea])
        s_b = st([r.built for r in ea])
        s_fw, s_fc = st([x[2] for x in fl]), st([x[3] for x in fl])
        s_ee, s_qe = st(ee), st(qe)
        first_p50[cfg] = (s_bt["p50"], s_cpu["p50"])
        if cfg == "1x128":
            FC["first"] = (s_bt["p50"], s_cpu["p50"])
        s_af = st([r.mark[0] for r in ea if r.mark[0] is not None])
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            cfg.replace("x", " x "), trip(s_bt), trip(s_cpu), trip(s_b), trip(s_fw), trip(s_fc),
            trip(s_ee), trip(s_qe), ratio(s_ee["p50"], s_qe["p50"]), trip(s_af)))
    if first_p50.get("1x128", (None,))[0] is not None:
        w, c = first_p50["1x128"]
        targets.append(("InstanceStart to first instruction <= 1 ms (1 vCPU, 128 MiB)",
                        "%s ms wall, %s CPU ms (p50)" % (f_ms(w), f_ms(c)), w <= 1000))
    n, win, br = strace_breakdown(W)
    if n:
        md.append("\nWhere ember's build wall time goes (strace -T of the main thread from opening "
                  "/dev/kvm to the first KVM_RUN, median of %d runs, 1 vCPU 128 MiB; strace inflates "
                  "the total, %s ms here): the KVM ioctls that sleep on this nested host dominate.\n"
                  % (n, f_ms(win)))
        md.append("| syscall | median us |")
        md.append("| --- | --- |")
        for k, v, c in br[:8]:
            md.append("| %s | %.0f |" % (k, v))
        write_csv(os.path.join(R, "build_breakdown.csv"), ["syscall", "median_us", "runs"], br)
    md.append("")

    # ---------------- 2b. guest init ----------------
    out = []
    for cfg in configs:
        for mode in ("ember-api", "ember-exec", "qemu-exec"):
            for r in by.get("boot:%s:%s" % (mode, cfg), []):
                ok = r.mark[2] is not None
                out.append([mode, cfg, r.run, int(ok), r.built, r.bt, r.bt_cpu, sub(r.mark[1], r.start_sent),
                            r.mark[0], r.mark[1], r.mark_cpu[1], r.exit_t, r.code,
                            r.utime + r.stime])
    write_csv(os.path.join(R, "boot.csv"),
              ["mode", "config", "run", "probes_passed", "built_in_us", "instancestart_to_init_us (boot timer)",
               "instancestart_to_init_cpu_us", "instancestart_sent_to_probe_done_us",
               "exec_to_guest_entry_line_us", "exec_to_probe_done_us", "cpu_at_probe_done_us",
               "exec_to_exit_us", "exit_code", "process_cpu_total_us"], out)
    md.append("**Guest init** (the test guest, `probe=boot,e820,serial,mptable boot_timer`: its "
              "probes then the boot-timer write; guest kernel code is emulated here at ~1 us per "
              "instruction, so these are dominated by the guest, identical for both VMMs). ember "
              "InstanceStart to init = the `Guest-boot-time` line (API flow: boot-source, "
              "machine-config, InstanceStart). Exec to init = fork+exec to the guest's `PROBE DONE` "
              "line on stdout (written just before the boot timer), ember from a config file vs "
              "QEMU. CPU = the VMM process's CPU time at that line (vCPU threads included, i.e. the "
              "emulated guest too). ms, p50 / p90 / p99.\n")
    md.append("| vCPUs x MiB | runs ok (ember/QEMU) | ember InstanceStart to init | ember exec to init | QEMU exec to init | ratio (p50) | ember CPU | QEMU CPU | CPU ratio (p50) |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    chart = {}
    for cfg in configs:
        ea = [r for r in by.get("boot:ember-api:%s" % cfg, [])]
        ee = [r for r in by.get("boot:ember-exec:%s" % cfg, [])]
        qe = [r for r in by.get("boot:qemu-exec:%s" % cfg, [])]
        eok = [r for r in ee if r.mark[2] is not None]
        qok = [r for r in qe if r.mark[2] is not None]
        s_api = st([r.bt for r in ea if r.mark[2] is not None])
        s_ee, s_qe = st([r.mark[1] for r in eok]), st([r.mark[1] for r in qok])
        c_ee, c_qe = st([r.mark_cpu[1] for r in eok]), st([r.mark_cpu[1] for r in qok])
        chart[cfg] = ([r.mark[1] for r in eok], [r.mark[1] for r in qok])
        if cfg == "1x128":
            FC["init"] = s_api["p50"]
        md.append("| %s | %d+%d/%d+%d, %d/%d | %s | %s | %s | %s | %s | %s | %s |" % (
            cfg.replace("x", " x "), len([r for r in ea if r.mark[2] is not None]), len(eok),
            len(ea), len(ee), len(qok), len(qe), trip(s_api), trip(s_ee), trip(s_qe),
            ratio(s_ee["p50"], s_qe["p50"]), trip(c_ee), trip(c_qe), ratio(c_ee["p50"], c_qe["p50"])))
    md.append("")

    # ---------------- 3. memory ----------------
    mem = []
    if os.path.exists(os.path.join(W, "mem.csv")):
        mem = list(csv.reader(open(os.path.join(W, "mem.csv"))))
    write_csv(os.path.join(R, "memory.csv"),
              MEM_HDR, mem)
    md.append("## 3. Memory overhead (guest booted and idle, devices attached)\n")
    md.append("Resident memory of the VMM process from `/proc/<pid>/smaps`, all mappings except the "
              "guest RAM mapping (identified by its size, 128 MiB): Rss, Pss (shared library pages "
              "divided among their users), private (Private_Clean + Private_Dirty) and anonymous. "
              "The guest (1 vCPU, 128 MiB) ran `probe=blk,idle`: it initialised the block device, "
              "read and wrote through it, then idles on timer interrupts; sampled at its third tick. "
              "Devices: ember %s; QEMU %s. KiB, median of the samples (min-max).\n"
              % (notes.get("devices_ember", "?"), notes.get("devices_qemu", "?")))
    md.append("| VMM | samples | threads | Rss outside guest RAM | Pss outside guest RAM | private | anonymous | guest RAM resident | cgroup (all charged to the VM) |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    memp = {}
    for v, name in (("ember", "ember (as built: %s)" % mach.get("ember_link", "?")),
                    ("ember-static", "ember (static-pie link by perf)"), ("qemu", "QEMU microvm")):
        rs = [r for r in mem if r[0].startswith("mem:%s:" % v)]
        if not rs:
            md.append("| %s | 0 | | | | | | | |" % name)
            continue
        col = lambda i: [float(r[i]) for r in rs]
        def mm(i):
            s = st(col(i))
            if s["p50"] is None or s["p50"] < 0:
                return "-"
            return "%d (%d-%d)" % (s["p50"], s["min"], s["max"])
        memp[v] = (pct(col(9), 50), pct(col(10), 50), pct(col(11), 50))
        md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            name, len(rs), rs[0][2], mm(9), mm(10), mm(11), mm(12), mm(7), mm(16)))
    if "ember" in memp:
        FC["mem"] = memp["ember"]
    if "ember-static" in memp:
        FC["mem_static"] = memp["ember-static"]
    if "ember" in memp and "qemu" in memp:
        md.append("\nRatio ember / QEMU (p50): Rss %s, Pss %s, private %s." % (
            ratio(memp["ember"][0], memp["qemu"][0]), ratio(memp["ember"][1], memp["qemu"][1]),
            ratio(memp["ember"][2], memp["qemu"][2])))
        targets.append(("Memory overhead <= 2 MiB (outside guest RAM)",
                        "Rss %.2f MiB, Pss %.2f MiB, private %.2f MiB" % (
                            memp["ember"][0] / 1024, memp["ember"][1] / 1024, memp["ember"][2] / 1024),
                        memp["ember"][1] <= 2048))
    md.append("Per-mapping tables of one sample: `smaps_ember.txt`, `smaps_qemu.txt`.\n")

    # ---------------- 4. density ----------------
    out = []
    for v in ("ember", "qemu"):
        for n in (1, 10, 50):
            for r in by.get("dens:%s:%d" % (v, n), []):
                out.append([v, n, r.run, r.inst, int(r.mark[2] is not None), r.mark[0], r.mark[1],
                            r.mark_cpu[1], r.bt, r.exit_t, r.code, r.utime + r.stime, r.maxrss])
    write_csv(os.path.join(R, "density.csv"),
              ["vmm", "n", "round", "instance", "probes_passed", "exec_to_guest_entry_line_us",
               "exec_to_probe_done_us", "cpu_at_probe_done_us", "instancestart_to_init_us (ember boot timer)",
               "exec_to_exit_us", "exit_code", "process_cpu_total_us", "maxrss_kb"], out)
    dm = []
    if os.path.exists(os.path.join(W, "densmem.csv")):
        dm = list(csv.reader(open(os.path.join(W, "densmem.csv"))))
    write_csv(os.path.join(R, "density_memory.csv"),
              MEM_HDR, dm)
    md.append("## 4. Launch density: N microVMs launched at once\n")
    md.append("N processes forked and exec'd back to back (1 vCPU, 128 MiB each, the test guest with "
              "`probe=boot,e820,serial boot_timer`), from each one's exec to its guest's `PROBE DONE` "
              "line (guest init). All runs of all rounds pooled. Memory: the same N kept running "
              "with an idle guest (`probe=idle`), all in one memory cgroup; host memory per VM = the "
              "cgroup's usage divided by N (guest pages touched, VMM memory, page tables and the "
              "kernel's accounted KVM allocations), and the VMM's Pss outside guest RAM per process. "
              "ms, p50 / p99.\n")
    md.append("| N | ember exec to init p50 / p99 | QEMU p50 / p99 | ratio (p50) | ratio (p99) | ok (ember, QEMU) | host MiB per VM: ember | QEMU | ember VMM Pss per VM (KiB) | QEMU |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in (1, 10, 50):
        e = [r for r in by.get("dens:ember:%d" % n, [])]
        q = [r for r in by.get("dens:qemu:%d" % n, [])]
        se = st([r.mark[1] for r in e if r.mark[2] is not None])
        sq = st([r.mark[1] for r in q if r.mark[2] is not None])
        def dmem(v):
            rs = [r for r in dm if r[0] == "densmem:%s:%d" % (v, n)]
            if not rs:
                return "-", "-"
            cg = float(rs[0][16])
            return ("%.1f" % (cg / len(rs) / 1024) if cg >= 0 else "-",
                    "%.0f" % (sum(float(r[10]) for r in rs) / len(rs)))
        me, mq = dmem("ember"), dmem("qemu")
        md.append("| %d | %s / %s | %s / %s | %s | %s | %d/%d, %d/%d | %s | %s | %s | %s |" % (
            n, f_ms(se["p50"]), f_ms(se["p99"]), f_ms(sq["p50"]), f_ms(sq["p99"]),
            ratio(se["p50"], sq["p50"]), ratio(se["p99"], sq["p99"]),
            se["n"], len(e), sq["n"], len(q), me[0], mq[0], me[1], mq[1]))
    md.append("")

    # ---------------- 5. throughput ----------------
    md.append("## 5. Device throughput\n")
    wls = ("seqread", "seqwrite", "randread", "randwrite")
    vmms = (("ember", "ember (Sync)"), ("ember-async", "ember (Async, io_uring)"), ("qemu", "QEMU microvm"))
    out = []
    bres = defaultdict(list)
    for wl in wls:
        for v, _ in vmms:
            for r in by.get("bench:%s:%s" % (v, wl), []):
                text = ""
                try:
                    text = open(os.path.join(W, "out", "%s.%d.0.out" % (r.label.replace(":", "_"), r.run)),
                                errors="replace").read()
                except OSError:
                    pass
                m = re.search(r"BENCH done ios=(\d+) bytes=(\d+) errors=(\d+) kicks=(\d+)", text)
                ok = r.mark[2] is not None and m is not None and r.mark[0] is not None and r.mark[1] is not None
                ios = int(m.group(1)) if m else 0
                nbytes = int(m.group(2)) if m else 0
                kicks = int(m.group(4)) if m else 0
                win = (r.mark[1] - r.mark[0]) if ok else None
                # Per-thread CPU between the two marks (ns), vCPU threads apart.
                dev = tot = None
                tf = os.path.join(W, "taskcpu", "bench_%s_%s.%d.0" % (v, wl, r.run))
                if os.path.exists(tf):
                    snap = defaultdict(dict)
                    vcpu = set()
                    for line in open(tf):
                        f = line.split()
                        if len(f) >= 4:
                            snap[int(f[0])][int(f[1])] = float(f[3])
                            if f[2] == "1":
                                vcpu.add(int(f[1]))
                    if 0 in snap and 1 in snap:
                        tot = dev = 0.0
                        for tid, c1 in snap[1].items():
                            d = c1 - snap[0].get(tid, 0.0)
                            tot += d
                            if tid not in vcpu:
                                dev += d
                mbps = nbytes / win if ok and win else None            # bytes/us = MB/s
                iops = ios / win * 1e6 if ok and win else None
                gb = nbytes / 1e9
                out.append([wl, v, r.run, int(ok), ios, nbytes, win, mbps, iops, kicks,
                            dev / 1e6 if dev is not None else None,
                            tot / 1e6 if tot is not None else None,
                            dev / 1e9 / gb if dev is not None and gb else None,
                            tot / 1e9 / gb if tot is not None and gb else None,
                            dev / 1e3 / win if dev is not None and win else None])
                if ok:
                    bres[(wl, v)].append(out[-1])
    write_csv(os.path.join(R, "blk_throughput.csv"),
              ["workload", "vmm", "run", "ok", "ios", "bytes", "window_us", "MB_per_s", "IOPS",
               "guest_notifications", "host_cpu_ms_device_threads", "host_cpu_ms_all_threads",
               "host_cpu_s_per_GB_device_threads", "host_cpu_s_per_GB_all_threads",
               "device_threads_cores_busy"], out)
    if out:
        md.append("Block (virtio-blk), from a ring-3 loop in the test guest (`probe=blk-bench`): 32 "
                  "requests in flight, one notification per batch (EVENT_IDX), used ring polled, no "
                  "interrupts; 1 vCPU, 128 MiB; backing file 256 MiB in the host page cache. seq: 128 KiB "
                  "requests (1 GiB read, 512 MiB written), rand: 4 KiB (128 MiB read, 64 MiB written). "
                  "Window = the host's timestamps of the guest's `BENCH start` and `BENCH done` lines. "
                  "Host CPU per GB: CPU time of the VMM's threads other than the vCPU (device emulation "
                  "and I/O) per GB moved, and of all threads (the vCPU spins while polling, so that "
                  "part is about one core for the whole window). Median of the runs (min-max).\n")
        md.append("| workload | VMM | runs ok | MB/s | IOPS | notifications | host CPU s/GB, device threads | all threads | device threads, cores busy |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        med = {}
        for wl in wls:
            for v, name in vmms:
                rs = bres.get((wl, v), [])
                nall = len([o for o in out if o[0] == wl and o[1] == v])
                if not nall:
                    continue
                def mm(i, fmt="%.0f"):
                    xs = [o[i] for o in rs if o[i] is not None]
                    if not xs:
                        return "-"
                    return (fmt + " (" + fmt + "-" + fmt + ")") % (pct(xs, 50), min(xs), max(xs))
                med[(wl, v)] = [pct([o[i] for o in rs if o[i] is not None], 50) for i in (7, 8, 12, 13, 14)]
                md.append("| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s |" % (
                    wl, name, len(rs), nall, mm(7), mm(8), mm(9), mm(12, "%.2f"), mm(13, "%.2f"),
                    mm(14, "%.2f")))
        FC["blk"] = med.get(("seqread", "ember"))
        md.append("\nRatios ember (Sync) / QEMU, p50: " + "; ".join(
            "%s throughput %s, device CPU per GB %s" % (
                wl, ratio(med.get((wl, "ember"), [None] * 4)[0], med.get((wl, "qemu"), [None] * 4)[0]),
                ratio(med.get((wl, "ember"), [None] * 4)[2], med.get((wl, "qemu"), [None] * 4)[2]))
            for wl in wls) + ".\n")
    else:
        md.append("**Block: not done.** %s\n" % notes.get("bench", ""))
    nb = os.path.join(W, "netbench.txt")
    if os.path.exists(nb) and os.path.getsize(nb):
        md.append("Net (virtio-net over a tap; the figures `tests/integration/net.sh` and "
                  "`qemu_net.sh` print, the same test guest against each VMM: ping RTT min/avg/max "
                  "in us from the guest's 5 pings, sent from ring 0, i.e. emulated here; UDP echo "
                  "packets/s of the guest's ring-3 burst (64-byte datagrams in batches of 32, one "
                  "notification per batch, echoed by a host server, counted as echoes received "
                  "per second):\n")
        md.append("| VMM | run | RTT us (min/avg/max) | UDP pps |")
        md.append("| --- | --- | --- | --- |")
        rows_n = []
        for line in open(nb):
            f = line.split()
            rtt = re.search(r"rtt_us=(\S+)", line)
            pps = re.search(r"pps=(\S+)", line)
            rows_n.append([f[0], f[1], rtt.group(1) if rtt else "", pps.group(1) if pps else ""])
            md.append("| %s | %s | %s | %s |" % ("ember" if f[0] == "net" else "QEMU microvm", f[1],
                                                rows_n[-1][2], rows_n[-1][3]))
        write_csv(os.path.join(R, "net.csv"), ["test", "run", "rtt_us_min_avg_max", "udp_pps"], rows_n)
        pe = [float(r[3]) for r in rows_n if r[0] == "net" and r[3]]
        pq = [float(r[3]) for r in rows_n if r[0] == "qemu_net" and r[3]]
        if pe and pq:
            md.append("\nRatio ember / QEMU, UDP pps p50: %s." % ratio(pct(pe, 50), pct(pq, 50)))
            FC["pps"] = (pct(pe, 50), pct(pq, 50))
        md.append("")
    vb = os.path.join(W, "vsockbench.txt")
    if os.path.exists(vb) and os.path.getsize(vb):
        md.append("Vsock (figures printed by the vsock tests):\n")
        for line in open(vb):
            md.append("- `%s`" % line.strip())
        md.append("")
    for k in ("bench_net", "bench_vsock"):
        if notes.get(k):
            md.append("- %s: %s" % (k[6:], notes[k]))
    md.append("")

    # ---------------- 6. snapshot restore ----------------
    md.extend(restore_section(R, targets))

    # ---------------- chart ----------------
    png = os.path.join(R, "boot_time.png")
    dat = os.path.join(W, "chart.dat")
    blocks = []
    with open(dat, "w") as f:
        for cfg in configs:
            for which, xs in zip(("ember", "QEMU"), chart.get(cfg, ([], []))):
                xs = sorted(xs)
                f.write("# %s %s\n" % (cfg, which))
                for i, x in enumerate(xs):
                    f.write("%.3f %.4f\n" % (x / 1000.0, (i + 1) / len(xs)))
                if not xs:
                    f.write("0 0\n")
                f.write("\n\n")
                blocks.append((cfg, which))
    gp = ["set terminal pngcairo size 1200,800 font 'sans,10'" ,
          "set output '%s'" % png,
          "set multiplot layout 2,2 title 'exec to guest init (test guest PROBE DONE), ember vs QEMU microvm: cumulative distribution'",
          "set grid", "set key bottom right", "set yrange [0:1]",
          "set xlabel 'ms from exec'", "set ylabel 'fraction of boots'"]
    for i, cfg in enumerate(configs):
        c, m = cfg.split("x")
        gp.append("set title '%s vCPU, %s MiB'" % (c, m))
        gp.append("plot '%s' index %d with steps lw 2 title 'ember', '' index %d with steps lw 2 title 'QEMU microvm'"
                  % (dat, 2 * i, 2 * i + 1))
    gp.append("unset multiplot")
    try:
        subprocess.run(["gnuplot"], input="\n".join(gp).encode(), check=True,
                       stderr=subprocess.PIPE)
    except Exception as e:  # pngcairo missing: fall back to the png terminal
        gp[0] = "set terminal png size 1200,800"
        try:
            subprocess.run(["gnuplot"], input="\n".join(gp).encode(), check=True)
        except Exception as e2:
            print("report.py: gnuplot failed: %s / %s" % (e, e2), file=sys.stderr)

    # ---------------- SUMMARY.md ----------------
    secs = {}
    if os.path.exists(os.path.join(W, "sections.csv")):
        for r in csv.reader(open(os.path.join(W, "sections.csv"))):
            secs[r[0]] = float(r[1])
    head = ["# ember vs QEMU microvm: measured\n",
            "Produced by `make perf` (`perf/run.sh`, `perf/report.py`); how to read it: "
            "`perf/README.md`.\n",
            "| | |", "| --- | --- |"]
    for k in ("date", "host", "kernel", "os", "cpu", "cores", "mem_total_kb", "kvm", "commit", "tree",
              "ember", "qemu", "loadavg_start", "loadavg_end", "runs", "total_s"):
        if k in mach:
            head.append("| %s | %s |" % (k, mach[k]))
    if secs:
        head.append("| seconds per section | %s |" % ", ".join("%s %.0f" % kv for kv in secs.items()))
    head.append("")
    head.append("Timings on this machine are noisy (nested KVM, 2 cores shared with whatever else "
                "runs: see the load averages above); CPU times and ratios from the same run are the "
                "steadier figures. Guest kernel-mode code is emulated by the host here "
                "(~1 us/instruction), which inflates every guest-side duration for both VMMs alike.\n")
    head.append("## Targets\n")
    head.append("| target | measured | met |")
    head.append("| --- | --- | --- |")
    for t, v, ok in targets:
        head.append("| %s | %s | %s |" % (t, v, "yes" if ok else "**no**"))
    head.append("")
    fc = ["## Against Firecracker's published figures\n",
          "Firecracker's SPECIFICATION.md figures are for bare metal with a Linux guest; this run is "
          "a nested, emulating KVM with the test guest, so only the VMM-side figures compare "
          "(see perf/README.md).\n",
          "| Firecracker (published) | ember, this run (p50) |", "| --- | --- |"]
    if "startup" in FC:
        fc.append("| process start to API socket ready <= 8 CPU ms (wall 6-60 ms, typically 12) | "
                  "%s CPU ms, %s ms wall%s |" % (f_ms(FC["startup"][1]), f_ms(FC["startup"][0]),
                  "; through the jailer %s CPU ms, %s ms" % (f_ms(FC["startup_jailer"][1]),
                  f_ms(FC["startup_jailer"][0])) if "startup_jailer" in FC else ""))
    if "mem" in FC:
        fc.append("| VMM memory overhead, 1 vCPU / 128 MiB: <= 5 MiB (2.5 MB data + 1.7 MB text) | "
                  "Rss %.2f MiB (Pss %.2f, private %.2f)%s |" % (FC["mem"][0] / 1024, FC["mem"][1] / 1024,
                  FC["mem"][2] / 1024, "; static-pie link: Rss %.2f MiB" % (FC["mem_static"][0] / 1024)
                  if "mem_static" in FC else ""))
    if "first" in FC:
        fc.append("| InstanceStart to guest init <= 125 ms, of which the VMM ~1.5 ms | VMM part "
                  "(InstanceStart to first instruction): %s ms wall, %s CPU ms; test guest init %s ms "
                  "(its kernel-mode code emulated here) |" % (f_ms(FC["first"][0]), f_ms(FC["first"][1]),
                  f_ms(FC.get("init"))))
    if FC.get("blk"):
        b = FC["blk"]
        fc.append("| block: 1 GiB/s at <= 70%% of one host core | sequential read %s MB/s, device "
                  "threads %s of a core (backing file in the page cache) |" % (
                      f_num(b[0], 0), "%.0f%%" % (100 * b[4]) if b[4] is not None else "-"))
    if FC.get("pps"):
        fc.append("| net: 14.5 Gbps at <= 80%% of one core | not measurable here: the guest sends "
                  "64-byte UDP echoes from ring 3 through a tap to a host echo server; %.0f echoes/s "
                  "(ember) vs %.0f (QEMU), section 5 |" % FC["pps"])
    else:
        fc.append("| net: 14.5 Gbps at <= 80% of one core | not measured in this run |")
    fc.append("")
    with open(os.path.join(R, "SUMMARY.md"), "w") as f:
        f.write("\n".join(head + fc + md) + "\n")
        if notes:
            f.write("## Notes\n\n")
            for k, v in notes.items():
                f.write("- %s: %s\n" % (k, v))


if __name__ == "__main__":
    main()
