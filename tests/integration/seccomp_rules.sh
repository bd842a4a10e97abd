#!/usr/bin/env bash
# seccomp_rules.sh: every rule of ember's seccomp allowlists (src/seccomp_filters.c) is needed.
#
# The test build (build/ember-sctest) lists its rules (EMBER_SECCOMP_DROP=list: "KIND INDEX NR
# NAME why") and can leave one out (EMBER_SECCOMP_DROP=KIND:INDEX). A baseline run of each
# workload with every rule in place must pass; then, for each rule of each list, the workloads
# run with that rule left out, and the rule PASSes when one of them fails: ember ends with 148
# naming the rule's system call (or, for the reporter's own write and exit_group, cannot report
# and exit cleanly). A rule whose removal leaves every workload passing FAILs: the list grants
# more than ember needs. The snapshot rules (reasons "snapshot save: ..." or "snapshot
# restore: ...") go through the snap workload only, every other rule through main, tf and
# violation. The workloads:
#   main       the test guest with two writable drives (Sync and Async engine, both flushed),
#              a tap (in a network namespace of its own), vsock both ways (host and guest
#              connect, data both ways, half-close; host connections arm the CONNECT timeout),
#              a pty as stdin (raw mode, restored at exit); over the API: GET /, PATCH /vm
#              Paused and Resumed (the vCPU kick), PATCH /drives on both drives (the Sync one to
#              a loop block device: its size comes from lseek), SendCtrlAltDel (the i8042's
#              IRQ 1 from the VMM thread) while nobody reads stdout, so that at exit ember waits
#              for the slow console reader
#   tf         a guest that writes the boot timer (the vCPU reads CPU clocks, not in the vDSO)
#              and triple-faults (the vCPU logs its registers)
#   violation  a forbidden call on the thread kind's list (EMBER_SECCOMP_SELFTEST=KIND) must
#              end ember with 148 and the call named
#   snap       the ticking test guest (probe=idle, 2 vCPUs, 64 MiB, a drive, vsock,
#              track_dirty_pages) paused after its third tick: PUT /snapshot/create Full (the VMM
#              thread probes what KVM saves of a vCPU, saves the VM, each vCPU thread its own
#              state), then Diff (KVM_GET_DIRTY_LOG) and one refused for its memory file, a
#              directory (the state file it made goes again: unlink); a second ember, the same
#              rule left out, loads the Full snapshot with resume_vm (each vCPU thread restores
#              its state; the VMM thread's list comes only after the load) and must tick on
#              beyond the last tick before the snapshot.
# A workload that fails without the left-out rule's call refused is run again (three runs at
# most, see run_load): only a failure the rule did not cause that comes back every time FAILs.
# Rules no workload here can make necessary are listed in EXCEPTIONS below, each with its reason
# (among them the vCPU's FPU ioctls where KVM has XSAVE, KVM_GET_XSAVE where it has XSAVE2, and
# KVM_SET_TSC_KHZ, needed only to load a snapshot from a host whose TSC runs at another rate).
# Two workers share the rules: about 140 s and 220 microVMs on a host whose /dev/kvm runs the test
# guest (PVM does: kvm-any below, so tests/run.sh runs it there rather than in the lab, where it
# would take many minutes and, being the lab's heaviest user, meet its crashes most often).
#
# ember-test: kvm-any
# ember-test: timeout 1200
T=seccomp_rules
. "$(dirname "$0")/common.bash"
need_ember
SCTEST=$BUILD/ember-sctest
[ -x "$SCTEST" ] || { fail build "$SCTEST missing (make $SCTEST)"; finish; }
for c in ip python3 losetup; do
	command -v $c >/dev/null || { fail deps "$c is not installed"; finish; }
done
[ -c /dev/net/tun ] || { fail deps "/dev/net/tun missing"; finish; }

# "KIND NAME" -> why a rule may pass every workload here and still be needed (SKIP, not FAIL,
# when no workload needs it in this run; a PASS when one does). A rule whose call other rules of
# its list share (the ioctls) is named "KIND NAME: WHY", WHY as EMBER_SECCOMP_DROP=list gives it.
HEAP="glibc malloc grows the one heap (brk), maps (mmap) or unmaps (munmap) a large block in this thread only when the heap's history calls for it"
declare -A EXCEPTIONS=(
	["vmm clock_gettime"]="a system call only where the clock source has no vDSO path (tsc and the paravirtual clock have one)"
	["api clock_gettime"]="a system call only where the clock source has no vDSO path (tsc and the paravirtual clock have one)"
	["vmm brk"]=$HEAP ["vmm mmap"]=$HEAP ["vmm munmap"]=$HEAP
	["api brk"]=$HEAP ["api mmap"]=$HEAP ["api munmap"]=$HEAP
	["vcpu brk"]=$HEAP ["vcpu mmap"]=$HEAP ["vcpu munmap"]=$HEAP
	["vcpu io_uring_enter"]="only when the guest resets an Async drive with requests in flight; the test guest waits for each request first"
	["api futex"]="the API thread waits on its condition variable only when the VMM thread has not answered by the time it looks (seen not needed in 1 run of 4 on a busy host)"
	["vmm restart_syscall"]="only when a signal interrupts the nanosleep() at exit (seen in about 1 run of 4)"
	# The vCPU state ioctls of hosts other than this test's (src/arch/x86/vcpu_state.c).
	["vcpu ioctl: snapshot save: XSAVE area"]="KVM_GET_XSAVE only where KVM has KVM_CAP_XSAVE but not KVM_CAP_XSAVE2 (Linux before 5.17); with KVM_CAP_XSAVE2 the vCPU saves with KVM_GET_XSAVE2"
	["vcpu ioctl: snapshot save: FPU state where KVM lacks XSAVE"]="KVM_GET_FPU only where KVM lacks KVM_CAP_XSAVE"
	["vcpu ioctl: snapshot restore: FPU state where KVM lacks XSAVE"]="KVM_SET_FPU only for a snapshot without XSAVE state, one taken where KVM lacks KVM_CAP_XSAVE"
	["vcpu ioctl: snapshot restore: TSC frequency of the saving host"]="KVM_SET_TSC_KHZ only when the snapshot's TSC frequency and this host's differ by more than 250 ppm (a snapshot from another host); the snap workload loads on the host that saved"
)

# Two workers (the lab has two CPUs), each with its own images, loop device, network namespace
# and sockets under $TMP/w<N>; the rules are dealt out between them.
WORKERS=2
LOOPS=()
cleanup() {
	local w
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	for ((w = 0; w < WORKERS; w++)); do ip netns del "ember-sc-$$-$w" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
ARGS="console=ttyS0 probe=blk,net,vsock-listen,vsock-connect,idle blk_expect=2 blk_write_sector=100"
ARGS+=" ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off net_pings=2 net_burst_ms=0"
# idle_chatter: enough to fill the pipe main.py shrinks to 4 KiB, little enough that in the lab
# (where each UART byte is an emulated exit) a tick's output still takes less than a tick.
ARGS+=" vsock_listen_port=5000 vsock_connect_port=6000 vsock_xfer=16384:16384 net_offload idle_chatter=128"
for ((w = 0; w < WORKERS; w++)); do
	d=$TMP/w$w ns=ember-sc-$$-$w
	mkdir -p "$d"
	ip netns add "$ns" && ip netns exec "$ns" ip link set lo up &&
		ip netns exec "$ns" ip tuntap add dev tap0 mode tap &&
		ip netns exec "$ns" ip addr add 172.16.0.1/30 dev tap0 &&
		ip netns exec "$ns" ip link set tap0 up || { fail setup "cannot make the namespace and tap"; finish; }
	for f in root scratch swap-a swap-b; do mkdisk "$d/$f.img" 256; done
	l=$(losetup -f --show "$d/swap-a.img") || { fail setup "no loop device (losetup -f)"; finish; }
	LOOPS+=("$l")
	echo "$l" >"$d/loop"
	cat >"$d/main.json" <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_DIR/guest.elf", "boot_args": $(json_str "$ARGS")},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
 "drives": [
  {"drive_id": "rootfs", "path_on_host": "$d/root.img", "is_root_device": true, "is_read_only": false, "cache_type": "Writeback", "io_engine": "Sync"},
  {"drive_id": "scratch", "path_on_host": "$d/scratch.img", "is_root_device": false, "is_read_only": false, "cache_type": "Writeback", "io_engine": "Async"}],
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}],
 "vsock": {"guest_cid": 3, "uds_path": "$d/v.sock"}}
JSON
	# The snap workload's guest: 2 vCPUs ticking, a drive, vsock, KVM's dirty log on.
	truncate -s 4M "$d/snap-disk.img"
	mkdir -p "$d/snap-dir"
	cat >"$d/snap.json" <<JSON
{"boot-source": {"kernel_image_path": "$GUEST_DIR/guest.elf", "boot_args": "console=ttyS0 probe=idle"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 64, "track_dirty_pages": true},
 "drives": [{"drive_id": "scratch", "path_on_host": "$d/snap-disk.img", "is_root_device": false, "is_read_only": false}],
 "vsock": {"guest_cid": 3, "uds_path": "$d/a.vsock"}}
JSON
done
mkconfig "$TMP/tf.json" "$GUEST_DIR/guest.elf" "console=ttyS0 probe=boot boot_timer triple_fault" 1 64
mkconfig "$TMP/boot.json" "$GUEST_DIR/guest.elf" "console=ttyS0 probe=boot" 1 64

cat >"$TMP/main.py" <<'PY'
# main.py OUT TMP LOOP CMD...: run ember (CMD) through the main workload; print "ok" or what failed.
import json, os, pty, socket, struct, subprocess, sys, termios, threading, time, fcntl

out, tmp, loop, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sock, vsock = tmp + "/api.sock", tmp + "/v.sock"
for p in (sock, vsock, vsock + "_6000"):
    if os.path.exists(p):
        os.unlink(p)
master, slave = pty.openpty()
before = termios.tcgetattr(slave)
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)   # F_SETPIPE_SZ: a console reader's pipe that fills at once
pipe_size = fcntl.fcntl(w, 1032)   # F_GETPIPE_SZ
p = subprocess.Popen(cmd + ["--api-sock", sock, "--config-file", tmp + "/main.json"], stdin=slave,
                     stdout=w, stderr=open(out, "wb"), start_new_session=True)
os.close(w)
text, reading = [b""], threading.Event()
reading.set()


def reader():
    while True:
        reading.wait()
        b = os.read(r, 65536)
        if not b:
            return
        text[0] += b


threading.Thread(target=reader, daemon=True).start()


def done(why):
    if p.poll() is None:
        p.kill()
    rc = p.wait()
    last = text[0][-400:].decode(errors="replace").replace("\r", "").replace("\n", "|")
    print("ok" if why is None else "rc=%d %s; ember's last output: %s" % (rc, why, last))
    sys.exit(0)


def wait_for(s, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if s.encode() in text[0]:
            return True
        if p.poll() is not None:
            time.sleep(0.1)
            return s.encode() in text[0]
        time.sleep(0.01)
    return False


def api(method, path, body=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(sock)
        data = json.dumps(body).encode() if body is not None else b""
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method.encode(), path.encode(), len(data)) + data)
        resp = s.recv(4096)
        return int(resp.split()[1]) if resp else 0
    except (OSError, IndexError, ValueError):
        return 0
    finally:
        s.close()


# The guest checks what it receives against the vsock test pattern (tests/guest/README.md).
M = (1 << 64) - 1
def sm(k):
    z = ((k + 1) * 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
BLOCK = b"".join(struct.pack("<Q", sm(k)) for k in range(8192))
def pattern(port, n):  # host -> guest
    s = ((port * 2 + 1) * 4099 + 17) & 0xFFFF
    return (BLOCK * ((s + n) // len(BLOCK) + 1))[s:s + n]


def transfer(c, port):
    th = threading.Thread(target=lambda: (c.sendall(pattern(port, 16384)), c.shutdown(socket.SHUT_WR)))
    th.start()
    while c.recv(1 << 16):
        pass
    th.join()
    c.close()


# Guest-initiated: the guest connects to our listener at <uds_path>_6000.
lst = socket.socket(socket.AF_UNIX)
lst.bind(vsock + "_6000")
lst.listen(4)
lst.settimeout(30)
threading.Thread(target=lambda: transfer(lst.accept()[0], 6000), daemon=True).start()
for _ in range(500):
    if os.path.exists(sock):
        break
    time.sleep(0.01)
if not wait_for("VSOCK listen ready"):
    done("no VSOCK listen ready")
# Host-initiated: CONNECT 5000 through uds_path.
c = socket.socket(socket.AF_UNIX)
c.settimeout(20)
try:
    c.connect(vsock)
    c.sendall(b"CONNECT 5000\n")
    line = b""
    while not line.endswith(b"\n"):
        b = c.recv(1)
        if not b:
            break
        line += b
    transfer(c, 5000)
except OSError as e:
    done("host vsock connection: %s" % e)
if not wait_for("PROBE TICK"):
    done("the guest did not reach idle")
probes = [l for l in text[0].decode(errors="replace").splitlines() if l.startswith("PROBE ") and "TICK" not in l]
if len([l for l in probes if " PASS" in l]) != 4:
    done("guest checks: %s" % " | ".join(probes))
codes = [api("GET", "/"), api("PATCH", "/vm", {"state": "Paused"}), api("PATCH", "/vm", {"state": "Resumed"}),
         api("PATCH", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": loop}),
         api("PATCH", "/drives/scratch", {"drive_id": "scratch", "path_on_host": tmp + "/swap-b.img"})]
if codes != [200, 204, 204, 204, 204]:
    done("API answers %s" % codes)
# Stop reading: the guest's chatter fills the pipe, then ember's console buffer.
reading.clear()
time.sleep(0.05)
end = time.time() + 20
while time.time() < end and p.poll() is None:
    n = struct.unpack("i", fcntl.ioctl(r, termios.FIONREAD, b"\0\0\0\0"))[0]
    if n >= pipe_size:
        break
    time.sleep(0.02)
else:
    done("the console pipe did not fill")
time.sleep(0.3)
if api("PUT", "/actions", {"action_type": "SendCtrlAltDel"}) != 204:
    done("SendCtrlAltDel not answered")


def sleeping():
    """Whether one of ember's threads is in nanosleep or clock_nanosleep (35, 230)."""
    try:
        tids = os.listdir("/proc/%d/task" % p.pid)
    except OSError:
        return False
    for t in tids:
        try:
            nr = open("/proc/%d/task/%s/syscall" % (p.pid, t)).read().split()[0]
        except (OSError, IndexError):
            continue
        if nr in ("35", "230"):
            return True
    return False


# ember exits with console output still held: it waits (up to 1 s) for the reader to take
# it. The reader goes on once ember sleeps for it (or is gone), however long the guest takes.
end = time.time() + 30
while time.time() < end and p.poll() is None and not sleeping():
    time.sleep(0.01)
time.sleep(0.2)
reading.set()
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    done("ember did not exit after Ctrl-Alt-Del")
if rc != 0:
    done("exit code")
if termios.tcgetattr(slave) != before:
    done("terminal settings not restored")
done(None)
PY

cat >"$TMP/snap.py" <<'PY'
# snap.py DIR CMD...: run the snap workload with ember (CMD) in DIR; both embers' output goes to
# DIR/err; print "ok" or what failed.
import json, os, re, socket, subprocess, sys, time

d, cmd = sys.argv[1], sys.argv[2:]
embers = []   # [Popen, output file, killed here]


def start(name, extra):
    sock = "%s/%s.sock" % (d, name)
    for f in (sock, "%s/%s.vsock" % (d, name)):
        if os.path.exists(f):
            os.unlink(f)
    out = "%s/snap-%s.out" % (d, name)
    p = subprocess.Popen(cmd + ["--api-sock", sock] + extra, stdin=subprocess.DEVNULL,
                         stdout=open(out, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    e = [p, out, False]
    embers.append(e)
    end = time.time() + 10
    while time.time() < end and p.poll() is None and not os.path.exists(sock):
        time.sleep(0.005)
    return e, sock


def stop(e):
    if e[0].poll() is None:
        e[0].kill()
        e[2] = True
    e[0].wait()


def done(why):
    # The rc of an ember that ended by itself (the one a refused call ended), else of the last.
    ended = [e for e in embers if e[0].poll() is not None and not e[2]]
    for e in embers:
        stop(e)
    rc = (ended or embers)[-1][0].returncode
    text = b"".join(open(e[1], "rb").read() for e in embers)
    open(d + "/err", "wb").write(text)
    last = text[-400:].decode(errors="replace").replace("\r", "").replace("\n", "|")
    print("ok" if why is None else "rc=%d %s; ember's last output: %s" % (rc, why, last))
    sys.exit(0)


def ticks(e):
    return [int(n) for n in re.findall(rb"PROBE TICK (\d+)", open(e[1], "rb").read())]


def tick_after(e, n, secs):
    end = time.time() + secs
    while time.time() < end and e[0].poll() is None:
        t = ticks(e)
        if t and t[-1] > n:
            return True
        time.sleep(0.01)
    return False


def api(sock, method, path, body=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(sock)
        data = json.dumps(body).encode() if body is not None else b""
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method.encode(), path.encode(), len(data)) + data)
        resp = s.recv(4096)
        return int(resp.split()[1]) if resp else 0
    except (OSError, IndexError, ValueError):
        return 0
    finally:
        s.close()


def create(sock, name, kind, mem=None):
    return api(sock, "PUT", "/snapshot/create", {"snapshot_path": "%s/%s.snap" % (d, name),
               "mem_file_path": mem or "%s/%s.mem" % (d, name), "snapshot_type": kind})


a, sa = start("a", ["--config-file", d + "/snap.json"])
if not tick_after(a, 2, 10):
    done("the guest did not tick")
# Paused: a Full snapshot, a Diff one (KVM's dirty log), one refused (its memory file a
# directory: the state file already made goes again).
if os.path.exists(d + "/x.snap"):
    os.unlink(d + "/x.snap")
codes = [api(sa, "PATCH", "/vm", {"state": "Paused"}), create(sa, "full", "Full"), create(sa, "diff", "Diff"),
         create(sa, "x", "Full", d + "/snap-dir")]
if codes != [204, 204, 204, 400] or os.path.exists(d + "/x.snap"):
    done("pause and snapshots answered %s%s" % (codes, ", x.snap left behind" if os.path.exists(d + "/x.snap") else ""))
t0 = max(ticks(a))
stop(a)
b, sb = start("b", [])
code = api(sb, "PUT", "/snapshot/load", {"snapshot_path": d + "/full.snap",
           "mem_backend": {"backend_type": "File", "backend_path": d + "/full.mem"},
           "resume_vm": True, "vsock_override": {"uds_path": d + "/b.vsock"}})
if code != 204:
    done("load answered %d" % code)
if not tick_after(b, t0, 3):
    done("the loaded guest did not tick on after %d (ticks %s)" % (t0, ticks(b)[:5]))
done(None)
PY

# run_main DROP: the main workload with rule DROP ("" for none) left out; WHY empty when it
# passed. The worker's directory is $D, its number $W.
run_main() {
	WHY=$(EMBER_SECCOMP_DROP=$1 timeout -k 5 90 python3 "$TMP/main.py" "$D/err" "$D" "$(cat "$D/loop")" \
		ip netns exec "ember-sc-$$-$W" "$SCTEST" 2>&1)
	[ "$WHY" = ok ] && WHY=
}
# run_tf DROP: the triple-fault guest; run_violation DROP KIND: a forbidden call on KIND's thread.
run_tf() {
	EMBER_SECCOMP_DROP=$1 timeout -k 5 30 "$SCTEST" --no-api --boot-timer --config-file "$TMP/tf.json" \
		</dev/null >"$D/err" 2>&1
	RC=$?
	WHY=
	[ $RC -eq 0 ] && grep -q 'triple fault) at rip=' "$D/err" || WHY="rc=$RC"
}
# run_snap DROP: the snap workload, both embers with rule DROP left out.
run_snap() {
	WHY=$(EMBER_SECCOMP_DROP=$1 timeout -k 5 60 python3 "$TMP/snap.py" "$D" "$SCTEST" 2>&1)
	[ "$WHY" = ok ] && WHY=
}
run_violation() {
	rm -f "$D/a.sock"
	EMBER_SECCOMP_DROP=$1 EMBER_SECCOMP_SELFTEST=$2 timeout -k 5 30 "$SCTEST" --api-sock "$D/a.sock" \
		--config-file "$TMP/boot.json" </dev/null >"$D/err" 2>&1
	RC=$?
	WHY=
	[ $RC -eq 148 ] && grep -q 'forbidden system call 110$' "$D/err" || WHY="rc=$RC"
}

# run_load W DROP [KIND]: workload W with rule DROP left out, tried again (at most twice more,
# TRIES counts the runs) while it fails and blame() does not put it on the rule: the lab is an
# emulator under a loaded host, and a guest that misses a deadline there once is no verdict.
# A failure the rule did not cause that comes back every time is one (FAIL).
run_load() {
	local w=$1
	TRIES=0
	while :; do
		TRIES=$((TRIES + 1))
		case $w in
		main) run_main "$2" ;;
		tf) run_tf "$2" ;;
		snap) run_snap "$2" ;;
		violation) run_violation "$2" "$3" ;;
		esac
		[ -n "$WHY" ] || return 0
		[ -n "${BLAME_NR:-}" ] && BLAMED=$(blame "$BLAME_NR" "$BLAME_NAME" "$w") && return 0
		[ $TRIES -lt 3 ] || return 0
	done
}
# blame NR NAME W: how the failed run of workload W (WHY, $D/err) shows system call NR (NAME)
# refused; status 1 if it does not.
blame() {
	if grep -q "forbidden system call $1\$" "$D/err"; then
		echo "$3: exit 148, forbidden system call $1"
	elif grep -qE "rc=(-31|159)( |$)" <<<"$WHY"; then
		# SIGSYS was blocked (glibc blocks all signals around pthread_kill() and thread
		# exit) or the reporter's own write or exit_group was refused: the kernel kills.
		echo "$3: killed by SIGSYS"
	elif [ "$2" = write ] && grep -q "rc=148" <<<"$WHY"; then
		echo "$3: exit 148 without the report (the reporter itself needs write)"
	else
		return 1
	fi
}
tries() { [ "$TRIES" -gt 1 ] && echo "${1:-}after $TRIES runs"; }

t0=$(date +%s)
# 1. Baselines: with every rule in place each workload passes (in worker 0's directory).
D=$TMP/w0 W=0
run_load main ""
[ -z "$WHY" ] && pass baseline-main "$(tries)" ||
	{ fail baseline-main "$WHY ($TRIES runs): $(tail -3 "$D/err" | tr '\n' ' ')"; finish; }
run_load tf ""
[ -z "$WHY" ] && pass baseline-tf "$(tries)" ||
	{ fail baseline-tf "$WHY ($TRIES runs): $(tail -2 "$D/err" | tr '\n' ' ')"; finish; }
run_load snap ""
[ -z "$WHY" ] && pass baseline-snap "$(tries)" || { fail baseline-snap "$WHY ($TRIES runs)"; finish; }
for kind in vmm api vcpu; do
	run_load violation "" $kind
	[ -z "$WHY" ] && pass baseline-violation-$kind "$(tries)" ||
		{ fail baseline-violation-$kind "$WHY ($TRIES runs)"; finish; }
done

# 2. Each rule left out in turn: rule i goes to worker i % WORKERS, which writes its verdicts
# (PASS/FAIL/SKIP lines) to $D/out.
EMBER_SECCOMP_DROP=list "$SCTEST" >"$TMP/rules" || { fail list "EMBER_SECCOMP_DROP=list failed"; finish; }
worker() {
	local i=0 kind idx nr name why rule res w loads exc note retried
	while read -r kind idx nr name why; do
		i=$((i + 1))
		[ $((i % WORKERS)) -eq "$W" ] || continue
		rule="$kind/$idx-$name"
		res= retried=0
		# The snapshot rules (reasons "snapshot save: ..." or "snapshot restore: ...") go
		# through the snap workload only: no other workload takes or loads a snapshot.
		case $why in
		"snapshot save"* | "snapshot restore"*) loads=snap ;;
		*) loads="main tf violation" ;;
		esac
		for w in $loads; do
			BLAME_NR=$nr BLAME_NAME=$name BLAMED=
			run_load "$w" "$kind:$idx" "$kind"
			retried=$((retried + TRIES - 1))
			[ -n "$WHY" ] || continue
			res=$BLAMED
			if [ -z "$res" ]; then
				fail "$rule" "$w failed $TRIES times, but not by this rule: $WHY $(grep -m1 'forbidden system call' "$D/err")"
				res=reported
			fi
			break
		done
		[ "$res" = reported ] && continue
		note=
		[ $retried -gt 0 ] && note="; $retried run(s) that failed without this rule's report tried again"
		exc=${EXCEPTIONS[$kind $name: $why]:-${EXCEPTIONS[$kind $name]:-}}
		if [ -n "$res" ]; then
			pass "$rule" "$res ($why$note)"
		elif [ -n "$exc" ]; then
			skip "$rule" "not needed in this run; exception: $exc${note:+ (${note#; })}"
		else
			fail "$rule" "rule $idx ($name) of $kind is not needed by any check ($why$note)"
		fi
	done <"$TMP/rules" >"$D/out"
}
pids=()
for ((W = 0; W < WORKERS; W++)); do
	D=$TMP/w$W
	worker &
	pids+=($!)
done
wait "${pids[@]}"
for ((W = 0; W < WORKERS; W++)); do cat "$TMP/w$W/out"; done | sort -t/ -k2,2 -k3,3n | tee "$TMP/verdicts"
fails=$((fails + $(grep -c '^FAIL' "$TMP/verdicts")))
[ "$(grep -c '^[A-Z]* seccomp_rules/[a-z]*/' "$TMP/verdicts")" -eq "$(wc -l <"$TMP/rules")" ] ||
	fail verdicts "$(wc -l <"$TMP/rules") rules, $(grep -c '^[A-Z]* seccomp_rules/[a-z]*/' "$TMP/verdicts") verdicts"
echo "# $(($(date +%s) - t0)) s for the baselines and every rule"
finish
