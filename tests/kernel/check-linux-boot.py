#!/usr/bin/env python3
"""check-linux-boot.py: judge a VMM's boot structures by what a real Linux kernel printed.

Reads the serial console log of a booting Linux kernel (a file, possibly still
growing) and checks, one PASS/FAIL line per item, that the kernel saw what the
VMM was asked to build:

  banner      a "Linux version ..." line
  cmdline     "Command line: <expected>" (the early one from setup_arch)
  e820-*      the "BIOS-e820: [mem 0x...-0x...] <type>" map: sorted and
              non-overlapping; usable RAM within [N-1 MiB, N MiB]; nothing
              usable in the 32-bit MMIO gap [0xC0000000, 0x100000000); usable
              RAM above 4 GiB iff N > 3072; with --layout firecracker the exact
              Firecracker layout
  cpus        "smpboot: Allowing <N> CPUs, 0 hotplug CPUs" (prefill_possible_map,
              printed after the MP table / ACPI MADT was parsed), plus, with
              --cpu-source mptable, the MP-table lines of arch/x86/kernel/mpparse.c
              ("Intel MultiProcessor Specification v1.4", "Processor #<id>",
              "Processors: <N>"); with --cpu-source any, a kernel that took the
              CPUs from an MP table must pass the same MP-table checks in "cpus"

  check-linux-boot.py LOG --cmdline STR --mem-mib N --cpus N
                      [--layout firecracker|any] [--cpu-source any|mptable|acpi]
                      [--kernel-config FILE] [--wait-for] [--timeout SEC] [--pid PID]
                      [--name PREFIX]

--kernel-config: the kernel's .config. If it says "# CONFIG_X86_MPPARSE is not
set" (Debian's cloud-amd64) and the kernel found neither an MP table nor an ACPI
MADT, the cpus item is a SKIP (such a kernel cannot read an MP table) instead of
a FAIL.

--wait-for follows the growing LOG and exits as soon as every item is decided
(or at --timeout, or when process --pid has exited); without it LOG is read
once. Exit status: 0 no FAIL, 1 some FAIL, 2 usage error.
"""

import argparse
import os
import re
import sys
import time

MiB = 1 << 20
GAP_START = 0xC0000000
GAP_END = 0x100000000
EBDA_START = 0x9FC00
LOW_RESERVED_END = 0xE0000      # Firecracker: reserved [0x9fc00, 0xe0000)
HIGH_MEM = 0x100000

RE_BANNER = re.compile(r"Linux version (\S+)")
RE_CMDLINE = re.compile(r"(?:^|\]\s)Command line: (.*)$")
RE_E820 = re.compile(r"BIOS-e820: \[mem 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\] (.+?)\s*$")
RE_ALLOWING = re.compile(r"smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs")
RE_MPF = re.compile(r"found SMP MP-table at \[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]")
RE_MPSPEC = re.compile(r"Intel MultiProcessor Specification v1\.(\d+)")
RE_MPOEM = re.compile(r"MPTABLE: (OEM ID|Product ID|APIC at): ?(.*?)\s*$")
RE_MPPROC = re.compile(r"Processor #(\d+)( \(Bootup-CPU\))?")
RE_MPCOUNT = re.compile(r"\bProcessors: (\d+)\s*$")
RE_MPERR = re.compile(r"MPTABLE: .*(?:bad|error|checksum|no processors).*$", re.I)
RE_ACPI_SMP = re.compile(r"ACPI: Using ACPI \(MADT\) for SMP configuration information")
RE_ACPI_MADT = re.compile(r"ACPI: APIC 0x[0-9A-Fa-f]+ ")       # the MADT in the table list
RE_ACPI_BAD = re.compile(r"ACPI: (?:Invalid BIOS MADT|BIOS bug: multiple APIC/MADT|Unable to map MADT)")
RE_NOBIOS = re.compile(r"smpboot: Boot CPU \(id \d+\) not listed by BIOS|"
                       r"APIC: ACPI MADT or MP tables are not detected")


def hexr(a, b):
    return "[%#x-%#x]" % (a, b)


class Checker:
    def __init__(self, args):
        self.a = args
        self.results = {}      # item -> (ok, detail); ok is True, False or "skip"
        self.order = []
        self.evidence = {}     # item -> list of log lines used
        self.banner = None
        self.cmdline = None
        self.e820 = []         # (start, end_inclusive, type, line)
        self.e820_done = False
        self.allowing = None
        self.mp = {"mpf": None, "spec": None, "oem": [], "procs": [], "count": None, "errors": []}
        self.acpi_smp = None
        self.acpi_madt = None
        self.acpi_bad = []
        self.nobios = []
        self.items = ["banner", "cmdline", "e820-sorted", "e820-ram", "e820-mmio-gap",
                      "e820-high"]
        if args.layout == "firecracker":
            self.items.append("e820-layout")
        self.items.append("cpus")
        if args.cpu_source == "mptable":
            self.items.append("mptable")

    # ---- results -------------------------------------------------------
    def decide(self, item, ok, detail, lines=()):
        if item in self.results:
            return
        self.results[item] = (ok, detail)
        self.order.append(item)
        self.evidence[item] = list(lines)

    def all_decided(self):
        return all(i in self.results for i in self.items)

    # ---- line feed -----------------------------------------------------
    def feed(self, raw):
        line = raw.rstrip("\r\n").replace("\r", "")
        if self.banner is None:
            m = RE_BANNER.search(line)
            if m:
                self.banner = line
                self.decide("banner", True, "kernel %s" % m.group(1), [line])
        m = RE_E820.search(line)
        if m and not self.e820_done:
            self.e820.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), line))
            return
        if self.e820 and not self.e820_done and line.strip():
            # the first non-e820 line after the map: the map is complete
            self.e820_done = True
            self.check_e820()
        if self.cmdline is None:
            m = RE_CMDLINE.search(line)
            if m:
                self.cmdline = (m.group(1), line)
                self.check_cmdline()
        m = RE_MPF.search(line)
        if m:
            self.mp["mpf"] = line
        m = RE_MPSPEC.search(line)
        if m:
            self.mp["spec"] = line
        if RE_MPOEM.search(line):
            self.mp["oem"].append(line)
        m = RE_MPPROC.search(line)
        if m and self.mp["spec"] and self.allowing is None:
            self.mp["procs"].append((int(m.group(1)), bool(m.group(2)), line))
        m = RE_MPCOUNT.search(line)
        if m and self.mp["spec"] and self.allowing is None:
            self.mp["count"] = (int(m.group(1)), line)
        if RE_MPERR.search(line):
            self.mp["errors"].append(line)
        if RE_ACPI_SMP.search(line):
            self.acpi_smp = line
        if RE_ACPI_MADT.search(line) and self.allowing is None:
            self.acpi_madt = line
        if RE_ACPI_BAD.search(line) and self.allowing is None:
            self.acpi_bad.append(line)
        if RE_NOBIOS.search(line):
            self.nobios.append(line)
        if self.allowing is None:
            m = RE_ALLOWING.search(line)
            if m:
                self.allowing = (int(m.group(1)), int(m.group(2)), line)
                self.check_cpus()

    def finish(self, why):
        """End of input: decide what can still be decided, fail the rest."""
        if self.e820 and not self.e820_done:
            self.e820_done = True
            self.check_e820()
        for item in self.items:
            if item not in self.results:
                self.decide(item, False, "no line for it in the log (%s)" % why)

    # ---- checks --------------------------------------------------------
    def check_cmdline(self):
        got, line = self.cmdline
        want = self.a.cmdline
        if got == want:
            self.decide("cmdline", True, "equal to the expected %r" % want, [line])
        elif got.rstrip() == want.rstrip():
            self.decide("cmdline", True,
                        "equal to the expected %r (ignoring trailing whitespace)" % want, [line])
        else:
            self.decide("cmdline", False, "kernel saw %r, expected %r" % (got, want), [line])

    def check_e820(self):
        n = self.a.mem_mib
        ents = self.e820
        lines = [e[3] for e in ents]
        usable = [(s, e) for s, e, t, _ in ents if t == "usable"]

        # sorted, non-overlapping, well formed
        bad = []
        for i, (s, e, t, _) in enumerate(ents):
            if e < s:
                bad.append("%s %s has end < start" % (hexr(s, e), t))
            if i and s <= ents[i - 1][1]:
                bad.append("%s %s starts at or before the end of %s" %
                           (hexr(s, e), t, hexr(ents[i - 1][0], ents[i - 1][1])))
        self.decide("e820-sorted", not bad,
                    "; ".join(bad) if bad else "%d entries, sorted and non-overlapping" % len(ents),
                    lines)

        total = sum(e - s + 1 for s, e in usable)
        ok = (n * MiB - MiB) <= total <= n * MiB
        self.decide("e820-ram", ok, "usable RAM %d bytes (%.3f MiB), expected within [%d MiB, %d MiB]"
                    % (total, total / MiB, n - 1, n))

        ingap = [hexr(s, e) for s, e in usable if s < GAP_END and e >= GAP_START]
        self.decide("e820-mmio-gap", not ingap,
                    "usable RAM in [0xc0000000, 0x100000000): %s" % ", ".join(ingap) if ingap
                    else "nothing usable in [0xc0000000, 0x100000000)")

        high = [hexr(s, e) for s, e in usable if e >= GAP_END]
        want_high = n > 3072
        if want_high:
            exp_end = GAP_END + (n - 3072) * MiB - 1
            self.decide("e820-high", bool(high),
                        "usable above 4 GiB: %s (guest has %d MiB > 3072)" %
                        (", ".join(high) or "none", n))
        else:
            self.decide("e820-high", not high,
                        "usable above 4 GiB: %s (guest has %d MiB <= 3072: expected none)" %
                        (", ".join(high) or "none", n))

        if self.a.layout == "firecracker":
            self.check_fc_layout(usable)

    def check_fc_layout(self, usable):
        n = self.a.mem_mib
        mem_end = n * MiB
        want = [(0, EBDA_START - 1), (HIGH_MEM, min(mem_end, GAP_START) - 1)]
        if mem_end > GAP_START:
            want.append((GAP_END, GAP_END + (mem_end - GAP_START) - 1))
        problems = []
        if usable != want:
            problems.append("usable ranges %s, expected %s" % (
                " ".join(hexr(*u) for u in usable), " ".join(hexr(*w) for w in want)))
        # The reserved range below 1 MiB: [0x9fc00, 0xe0000), which Linux prints
        # as given ("0x9fc00-0xdfffff"); accept it extended to 0xfffff.
        low = [(s, e, t) for s, e, t, _ in self.e820 if t != "usable" and s < HIGH_MEM]
        lowres = [(s, e) for s, e, t in low
                  if s == EBDA_START and e in (LOW_RESERVED_END - 1, HIGH_MEM - 1) and t == "reserved"]
        if not lowres:
            problems.append("no 'reserved' entry [0x9fc00-0xdffff] (or to 0xfffff); below 1 MiB: %s"
                            % (" ".join("%s %s" % (hexr(s, e), t) for s, e, t in low) or "none"))
        # Any other non-usable entry must sit in [0x9fc00, 1 MiB) or the MMIO gap.
        for s, e, t, _ in self.e820:
            if t == "usable":
                continue
            if EBDA_START <= s and e < HIGH_MEM:
                continue
            if GAP_START <= s and e < GAP_END:
                continue
            problems.append("unexpected %s entry %s" % (t, hexr(s, e)))
        self.decide("e820-layout", not problems,
                    "; ".join(problems) if problems else
                    "Firecracker layout: usable %s, reserved %s"
                    % (" ".join(hexr(*w) for w in want),
                       " ".join(hexr(s, e) for s, e, t, _ in self.e820 if t != "usable")))

    def cpu_source(self):
        if self.mp["spec"] or self.mp["procs"]:
            return "MP table"
        if self.acpi_smp:
            return "ACPI MADT"
        if self.nobios:
            return "none (no MP table or MADT the kernel could use)"
        return "not printed"

    def check_cpus(self):
        n = self.a.cpus
        total, hotplug, line = self.allowing
        lines = [l for l in (self.mp["mpf"], self.mp["spec"]) if l] + self.mp["oem"] + \
                [p[2] for p in self.mp["procs"]] + \
                [l for l in (self.acpi_madt, self.acpi_smp) if l] + self.acpi_bad + \
                self.nobios + self.mp["errors"] + [line]
        src = self.cpu_source()
        ok = total == n and hotplug == 0
        detail = "kernel allows %d CPUs (%d hotplug), expected %d; CPU source: %s" % (
            total, hotplug, n, src)
        if not ok and self.nobios and not self.mp["spec"] and not self.acpi_smp:
            if self.a.no_mpparse:
                ok = "skip"
                detail = "this kernel has no MP-table parser (CONFIG_X86_MPPARSE is not set) " \
                         "and found no ACPI MADT, so it cannot count the CPUs (%s)" % detail
            else:
                detail += " (a kernel without CONFIG_X86_MPPARSE, like Debian's cloud-amd64, " \
                          "only learns CPUs from an ACPI MADT)"
        if ok is True and self.acpi_madt and not self.acpi_smp:
            # a MADT was there but the kernel did not take the CPUs from it
            ok = False
            detail += "; the firmware has a MADT ('ACPI: APIC' table) but the kernel did not use it"
        if ok is True and self.acpi_bad:
            ok = False
            detail += "; MADT errors printed"
        if ok is True and self.a.cpu_source == "any" and self.mp["spec"]:
            # the CPUs came from the MP table: hold it to the mptable item's rules too
            problems = self.mptable_problems()[0]
            if problems:
                ok = False
                detail += "; MP table: " + "; ".join(problems)
        if self.a.cpu_source == "acpi" and not self.acpi_smp and ok is True:
            ok = False
            detail += "; no 'ACPI: Using ACPI (MADT) for SMP configuration information' line"
        self.decide("cpus", ok, detail, lines)
        if self.a.cpu_source == "mptable":
            if self.a.no_mpparse:
                self.decide("mptable", "skip", "this kernel has no MP-table parser "
                            "(CONFIG_X86_MPPARSE is not set)")
            else:
                self.check_mptable()

    def check_mptable(self):
        problems, lines, ids = self.mptable_problems()
        self.decide("mptable", not problems,
                    "; ".join(problems) if problems else
                    "MP table v1.4 with %d processors, APIC ids %s" % (len(ids), ids), lines)

    def mptable_problems(self):
        n = self.a.cpus
        procs = self.mp["procs"]
        lines = [l for l in (self.mp["mpf"], self.mp["spec"]) if l] + self.mp["oem"] + \
                [p[2] for p in procs] + ([self.mp["count"][1]] if self.mp["count"] else []) + \
                self.mp["errors"]
        problems = []
        if not self.mp["spec"]:
            problems.append("no 'Intel MultiProcessor Specification v1.x' line (no MP table parsed)")
        elif "v1.4" not in self.mp["spec"]:
            problems.append("MP spec revision is not 1.4")
        if len(procs) != n:
            problems.append("%d 'Processor #' lines, expected %d" % (len(procs), n))
        if self.mp["count"] and self.mp["count"][0] != n:
            problems.append("'Processors: %d', expected %d" % (self.mp["count"][0], n))
        boot = [p for p in procs if p[1]]
        if procs and len(boot) != 1:
            problems.append("%d Bootup-CPU entries, expected 1" % len(boot))
        ids = [p[0] for p in procs]
        if len(set(ids)) != len(ids):
            problems.append("duplicate APIC ids %s" % ids)
        if self.mp["errors"]:
            problems.append("MPTABLE errors printed")
        return problems, lines, ids

    # ---- report --------------------------------------------------------
    def report(self):
        prefix = self.a.name
        nfail = 0
        for item in self.items:
            ok, detail = self.results[item]
            nfail += ok is False
            if ok == "skip":
                print("SKIP %s/%s: %s" % (prefix, item, detail))
            elif ok:
                print("PASS %s/%s (%s)" % (prefix, item, detail))
            else:
                print("FAIL %s/%s: %s" % (prefix, item, detail))
            for l in self.evidence.get(item, []):
                print("    | %s" % l)
        sys.stdout.flush()
        return nfail


def pid_alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of someone else still counts as exited
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log")
    p.add_argument("--cmdline", required=True, help="the exact expected kernel command line")
    p.add_argument("--mem-mib", type=int, required=True)
    p.add_argument("--cpus", type=int, required=True)
    p.add_argument("--layout", choices=["firecracker", "any"], default="any")
    p.add_argument("--cpu-source", choices=["any", "mptable", "acpi"], default="any",
                   help="also require the CPUs to come from this table")
    p.add_argument("--kernel-config", help="the kernel's .config (to know if it parses MP tables)")
    p.add_argument("--wait-for", action="store_true",
                   help="follow the growing log until every item is decided")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds, with --wait-for")
    p.add_argument("--pid", type=int, help="with --wait-for: stop waiting once this process exits")
    p.add_argument("--name", default="linux", help="prefix of the PASS/FAIL item names")
    a = p.parse_args()
    if a.mem_mib <= 1 or a.cpus <= 0:
        p.error("--mem-mib and --cpus must be positive")

    a.no_mpparse = False
    if a.kernel_config:
        try:
            with open(a.kernel_config) as f:
                a.no_mpparse = "# CONFIG_X86_MPPARSE is not set" in f.read()
        except OSError as e:
            p.error("--kernel-config: %s" % e)
    c = Checker(a)
    start = time.monotonic()
    print("# checking %s: cmdline %r, %d MiB, %d CPUs, layout %s, cpu source %s%s" %
          (a.log, a.cmdline, a.mem_mib, a.cpus, a.layout, a.cpu_source,
           ", kernel without MP-table parser" if a.no_mpparse else ""))
    sys.stdout.flush()

    f = None
    buf = b""
    why = "end of log"
    while True:
        if f is None:
            try:
                f = open(a.log, "rb")
            except FileNotFoundError:
                if not a.wait_for:
                    print("FAIL %s/log: %s does not exist" % (a.name, a.log))
                    return 1
        exited = not pid_alive(a.pid)   # sample before reading: no output lost
        chunk = f.read(1 << 16) if f else b""
        if chunk:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for l in lines:
                c.feed(l.decode("utf-8", "replace"))
            if c.all_decided():
                break
            continue
        if not a.wait_for:
            break
        if exited:
            why = "the VM process %d exited" % a.pid
            break
        if time.monotonic() - start > a.timeout:
            why = "timed out after %.0f s" % a.timeout
            break
        time.sleep(0.1)
    if buf and not c.all_decided():
        c.feed(buf.decode("utf-8", "replace"))
    elapsed = time.monotonic() - start
    if not c.all_decided():
        c.finish(why)
        print("# stopped undecided (%s), %.1f s" % (why, elapsed))
    else:
        print("# all items decided after %.1f s" % elapsed)
    print("# CPU count source: %s" % c.cpu_source())
    return 1 if c.report() else 0


if __name__ == "__main__":
    sys.exit(main())
