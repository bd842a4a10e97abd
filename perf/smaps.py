#!/usr/bin/env python3
"""smaps.py: resident memory of VMM processes, guest RAM apart.

  smaps.py --out CSV --label L --mem-mib N [--baseline FILE] [--dump DIR] PID...

For each PID, every mapping of /proc/PID/smaps is summed (Rss, Pss, Private, Anonymous), and
the guest RAM mapping(s) are set apart: identified by size, a mapping whose size is within
[N MiB, N MiB + 4 MiB] (ember maps guest RAM as one anonymous mapping of exactly N MiB; QEMU
maps N MiB plus alignment slack). Everything else is the VMM's own overhead: text, data,
heap, thread stacks, the vCPU kvm_run pages, libraries (shared pages counted in Pss by share).
Appends one row per PID:
  label,pid,threads,size_kb,rss_kb,pss_kb,guest_map_kb,guest_rss_kb,guest_pss_kb,
  vmm_rss_kb,vmm_pss_kb,vmm_private_kb,vmm_anon_kb,vmm_file_rss_kb,n_maps,memavail_delta_kb,
  cgroup_kb
memavail_delta_kb: MemAvailable at --baseline minus now (same for every row of one call).
cgroup_kb: the --cgroup's memory usage (memory.current or memory.usage_in_bytes): every page
charged to the processes in it (guest RAM touched, VMM anonymous memory, page tables and
the kernel's accounted KVM allocations); the same for every row of one call.
--dump DIR writes each PID's per-mapping table (the largest first) to DIR/<label>.<pid>.txt.
"""
import argparse
import os
import sys


def meminfo():
    d = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            d[k] = int(v.split()[0])
    return d


def parse(pid):
    maps = []
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                a, b = first.split("-")
                parts = line.split(None, 5)
                cur = {"start": int(a, 16), "size_kb": (int(b, 16) - int(a, 16)) // 1024,
                       "perm": parts[1], "name": parts[5].strip() if len(parts) > 5 else ""}
                maps.append(cur)
            elif first.endswith(":") and cur is not None:
                v = line.split()
                if len(v) >= 2 and v[1].isdigit():
                    cur[first[:-1]] = int(v[1])
    return maps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--mem-mib", type=int, required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--dump")
    ap.add_argument("--cgroup", help="cgroup directory the PIDs run in: its memory usage is recorded")
    ap.add_argument("pids", nargs="*", type=int)
    a = ap.parse_args()
    delta = -1
    if a.baseline and os.path.exists(a.baseline):
        base = int(open(a.baseline).read().split()[0])
        delta = base - meminfo()["MemAvailable"]
    cg_kb = -1
    if a.cgroup:
        for fn in ("memory.current", "memory.usage_in_bytes"):
            p = os.path.join(a.cgroup, fn)
            if os.path.exists(p):
                cg_kb = int(open(p).read()) // 1024
                break
    lo, hi = a.mem_mib * 1024, a.mem_mib * 1024 + 4096
    rows = []
    for pid in a.pids:
        try:
            maps = parse(pid)
            threads = len(os.listdir("/proc/%d/task" % pid))
        except OSError as e:
            print("smaps.py: pid %d: %s" % (pid, e), file=sys.stderr)
            continue
        g = [m for m in maps if lo <= m["size_kb"] <= hi and not m["name"].startswith("/")]
        gids = {id(m) for m in g}
        s = lambda ms, k: sum(m.get(k, 0) for m in ms)
        vm = [m for m in maps if id(m) not in gids]
        priv = s(vm, "Private_Clean") + s(vm, "Private_Dirty")
        file_rss = sum(m.get("Rss", 0) for m in vm if m["name"].startswith("/"))
        rows.append("%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d" % (
            a.label, pid, threads, s(maps, "Size"), s(maps, "Rss"), s(maps, "Pss"),
            s(g, "Size"), s(g, "Rss"), s(g, "Pss"), s(vm, "Rss"), s(vm, "Pss"), priv,
            s(vm, "Anonymous"), file_rss, len(maps), delta, cg_kb))
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            with open(os.path.join(a.dump, "%s.%d.txt" % (a.label, pid)), "w") as f:
                f.write("# size_kb rss_kb pss_kb perm name   (guest RAM marked *)\n")
                for m in sorted(maps, key=lambda m: -m.get("Rss", 0)):
                    f.write("%9d %7d %7d %s %s%s\n" % (m["size_kb"], m.get("Rss", 0),
                            m.get("Pss", 0), m["perm"], "*" if id(m) in gids else " ",
                            m["name"]))
    with open(a.out, "a") as f:
        for r in rows:
            f.write(r + "\n")


if __name__ == "__main__":
    main()
