#!/usr/bin/env bash
# seccomp_rules.sh: every rule of ember's seccomp allowlists (src/seccomp_filters.c) is needed.
#
# The test build (build/ember-sctest) lists its rules (EMBER_SECCOMP_DROP=list: "KIND INDEX NR
# NAME why") and can leave one out (EMBER_SECCOMP_DROP=KIND:INDEX). A baseline run of each
# workload with every rule in place must pass; then, for each rule of each list, the workloads
# run with that rule left out, and the rule PASSes when one of them fails: ember ends with 148
# naming the rule's system call (or, for the reporter's own write and exit_group, cannot report
# and exit cleanly). A rule whose removal leaves every workload passing FAILs: the list grants
# more than ember needs. The workloads:
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
# Rules no workload here can make necessary are listed in EXCEPTIONS below, each with its reason;
# the vCPU's snapshot save/restore ioctls (reasons "snapshot save: ..." or "snapshot restore: ...")
# are SKIPped without a run: no workload takes or loads a snapshot yet.
# Two workers share the rules: about 100 s and 150 microVMs on a host whose /dev/kvm runs the test
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
# when no workload needs it in this run; a PASS when one does).
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
run_violation() {
	rm -f "$D/a.sock"
	EMBER_SECCOMP_DROP=$1 EMBER_SECCOMP_SELFTEST=$2 timeout -k 5 30 "$SCTEST" --api-sock "$D/a.sock" \
		--config-file "$TMP/boot.json" </dev/null >"$D/err" 2>&1
	RC=$?
	WHY=
	[ $RC -eq 148 ] && grep -q 'forbidden system call 110$' "$D/err" || WHY="rc=$RC"
}

t0=$(date +%s)
# 1. Baselines: with every rule in place each workload passes (in worker 0's directory).
D=$TMP/w0 W=0
run_main ""
[ -z "$WHY" ] && pass baseline-main || { fail baseline-main "$WHY: $(tail -3 "$D/err" | tr '\n' ' ')"; finish; }
run_tf ""
[ -z "$WHY" ] && pass baseline-tf || { fail baseline-tf "$WHY: $(tail -2 "$D/err" | tr '\n' ' ')"; finish; }
for kind in vmm api vcpu; do
	run_violation "" $kind
	[ -z "$WHY" ] && pass baseline-violation-$kind || { fail baseline-violation-$kind "$WHY"; finish; }
done

# 2. Each rule left out in turn: rule i goes to worker i % WORKERS, which writes its verdicts
# (PASS/FAIL/SKIP lines) to $D/out.
EMBER_SECCOMP_DROP=list "$SCTEST" >"$TMP/rules" || { fail list "EMBER_SECCOMP_DROP=list failed"; finish; }
worker() {
	local i=0 kind idx nr name why rule res w
	while read -r kind idx nr name why; do
		i=$((i + 1))
		[ $((i % WORKERS)) -eq "$W" ] || continue
		rule="$kind/$idx-$name"
		res=
		# Snapshot save/restore (the vCPU threads' KVM state ioctls): no workload here takes
		# or loads a snapshot yet, so none could need them; not worth three microVMs each.
		case $why in
		"snapshot save"* | "snapshot restore"*)
			skip "$rule" "not exercised here: no workload saves or restores vCPU state yet ($why)"
			continue ;;
		esac
		for w in main tf violation; do
			case $w in
			main) run_main "$kind:$idx" ;;
			tf) run_tf "$kind:$idx" ;;
			violation) run_violation "$kind:$idx" "$kind" ;;
			esac
			[ -n "$WHY" ] || continue
			if grep -q "forbidden system call $nr\$" "$D/err"; then
				res="$w: exit 148, forbidden system call $nr"
			elif grep -qE "rc=(-31|159)( |$)" <<<"$WHY"; then
				# SIGSYS was blocked (glibc blocks all signals around pthread_kill() and
				# thread exit) or the reporter's own write or exit_group was refused: the
				# kernel kills.
				res="$w: killed by SIGSYS"
			elif [ "$name" = write ] && grep -q "rc=148" <<<"$WHY"; then
				res="$w: exit 148 without the report (the reporter itself needs write)"
			else
				fail "$rule" "$w failed, but not by this rule: $WHY $(grep -m1 'forbidden system call' "$D/err")"
				res=reported
			fi
			break
		done
		[ "$res" = reported ] && continue
		if [ -n "$res" ]; then
			pass "$rule" "$res ($why)"
		elif [ -n "${EXCEPTIONS[$kind $name]:-}" ]; then
			skip "$rule" "not needed in this run; exception: ${EXCEPTIONS[$kind $name]}"
		else
			fail "$rule" "rule $idx ($name) of $kind is not needed by any check ($why)"
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
