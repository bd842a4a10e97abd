#!/usr/bin/env bash
# ember_cli.sh: exit codes and messages for bad arguments, bad configs and hostile kernels;
# guest reset and triple fault; the boot timer; the idle guest's timer; signals; the terminal.
T=ember_cli
. "$(dirname "$0")/common.bash"
need_ember
G=$GUEST_DIR/guest.elf

# expect NAME CODE PATTERN ARGS...: ember exits CODE and prints PATTERN.
expect() {
	local name=$1 code=$2 pat=$3
	shift 3
	run_ember "$TMP/$name.out" 20 "$@"
	if [ "$RC" -ne "$code" ]; then
		fail "$name" "exit $RC, want $code: $(tail -2 "$TMP/$name.out" | tr '\n' ' ')"
	elif ! grep -qE -- "$pat" "$TMP/$name.out"; then
		fail "$name" "no /$pat/ in: $(tail -2 "$TMP/$name.out" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# Arguments: 153.
expect args-unknown 153 "unknown or incomplete argument" --bogus
expect args-missing-value 153 "unknown or incomplete argument" --config-file
expect args-no-api-alone 153 "--no-api requires --config-file" --no-api
expect args-bad-id 153 "invalid --id" --id "../x" --no-api --config-file /dev/null
expect args-bad-level 153 "invalid --level" --level Loud --no-api --config-file /dev/null
expect args-extra 153 "unexpected argument" --no-api --config-file x y
expect version 0 "^ember v[0-9]" --version

# Configuration: 152, with a message naming the problem.
echo '{"boot-source": {"kernel_image_path": "'$G'"}, "machine-config": {"vcpu_count": 0, "mem_size_mib": 64}}' >"$TMP/c1.json"
expect config-vcpu-zero 152 "number of vCPUs" --no-api --config-file "$TMP/c1.json"
echo '{"boot-source": {"kernel_image_path": "'$G'"}, "bogus": 1}' >"$TMP/c2.json"
expect config-unknown-key 152 "bogus" --no-api --config-file "$TMP/c2.json"
echo '{"boot-source": {"kernel_image_path": ' >"$TMP/c3.json"
expect config-truncated-json 152 "Invalid config file" --no-api --config-file "$TMP/c3.json"
expect config-missing-file 152 "Cannot read config file" --no-api --config-file "$TMP/nope.json"
mkconfig "$TMP/c4.json" "$TMP/no-kernel" "" 1 64
expect kernel-missing 152 "Cannot open kernel file" --no-api --config-file "$TMP/c4.json"
mkconfig "$TMP/c5.json" "$TMP" "" 1 64
expect kernel-directory 152 "not a regular file" --no-api --config-file "$TMP/c5.json"
head -c 65536 /dev/urandom | tr -d '\177' >"$TMP/junk"
mkconfig "$TMP/c6.json" "$TMP/junk" "" 1 64
expect kernel-junk 152 "neither an ELF64 vmlinux nor a bzImage" --no-api --config-file "$TMP/c6.json"
head -c 300 "$G" >"$TMP/trunc.elf"
mkconfig "$TMP/c7.json" "$TMP/trunc.elf" "" 1 64
expect kernel-truncated-elf 152 "ELF" --no-api --config-file "$TMP/c7.json"
head -c 1500 "$GUEST_DIR/guest.bzImage" >"$TMP/trunc.bz"
mkconfig "$TMP/c8.json" "$TMP/trunc.bz" "" 1 64
expect kernel-truncated-bzimage 152 "bzImage" --no-api --config-file "$TMP/c8.json"
mkconfig "$TMP/c9.json" "$G" "" 1 1
expect memory-too-small 152 "does not fit in guest RAM|too small" --no-api --config-file "$TMP/c9.json"
python3 -c 'print("x" * 3000)' >"$TMP/long"
mkconfig "$TMP/c10.json" "$G" "$(cat "$TMP/long")" 1 64
expect cmdline-too-long 152 "too long" --no-api --config-file "$TMP/c10.json"

# A guest that faults: its exception handler reports and resets; ember exits 0.
mkconfig "$TMP/f.json" "$G" "console=ttyS0 probe=fault" 1 64
expect guest-fault-reset 0 "EXCEPTION vector=" --no-api --config-file "$TMP/f.json"

# A guest that triple-faults (empty IDT, then #DE): ember exits 0 and logs its registers (on AMD
# KVM has reset the vCPU by then; on Intel they show the empty IDT).
mkconfig "$TMP/tf.json" "$G" "console=ttyS0 probe=boot triple_fault" 1 64
expect guest-triple-fault 0 "guest shutdown \(triple fault\) at rip=0x[0-9a-f]+ rsp=.* cr0=0x[0-9a-f]+ .* idt=" \
	--no-api --config-file "$TMP/tf.json"

# Boot timer: the guest writes 123, ember logs Firecracker's line (only with --boot-timer).
mkconfig "$TMP/t.json" "$G" "console=ttyS0 probe=boot boot_timer" 1 64
expect boot-timer 0 "Guest-boot-time = +[0-9]+ us +[0-9]+ ms, +[0-9]+ CPU us +[0-9]+ CPU ms" \
	--boot-timer --no-api --config-file "$TMP/t.json"
run_ember "$TMP/t2.out" 20 --no-api --config-file "$TMP/t.json"
if [ "$RC" -eq 0 ] && ! grep -q "Guest-boot-time" "$TMP/t2.out"; then
	pass boot-timer-off
else
	fail boot-timer-off "rc=$RC; a boot time was logged without --boot-timer"
fi

# Timer interrupts through the IOAPIC: the idle guest ticks 5 times, then ends.
mkconfig "$TMP/i.json" "$G" "console=ttyS0 probe=idle idle_ticks=5" 2 64
run_ember "$TMP/i.out" 20 --no-api --config-file "$TMP/i.json"
ticks=$(grep -c '^PROBE TICK' "$TMP/i.out")
if [ "$RC" -eq 0 ] && [ "$ticks" -eq 5 ] && grep -q '^PROBE idle PASS' "$TMP/i.out"; then
	pass idle-ticks "$ticks ticks"
else
	fail idle-ticks "rc=$RC ticks=$ticks"
fi

# SIGTERM ends a running guest promptly and cleanly.
mkconfig "$TMP/s.json" "$G" "console=ttyS0 probe=idle" 1 64
"$EMBER" --no-api --config-file "$TMP/s.json" </dev/null >"$TMP/s.out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q 'PROBE TICK 2' "$TMP/s.out" && break; sleep 0.1; done
kill -TERM "$pid"
for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	kill -9 "$pid"
	fail sigterm "ember still running 3 s after SIGTERM"
else
	wait "$pid"
	rc=$?
	[ "$rc" -eq 143 ] && pass sigterm || fail sigterm "exit $rc, want 143"
fi

# On a terminal ember switches to raw mode and restores the settings on exit.
python3 - "$EMBER" "$TMP/t.json" >"$TMP/tty.out" 2>&1 <<'PY'
import os, subprocess, sys, termios, time
ember, cfg = sys.argv[1], sys.argv[2]
master, slave = os.openpty()
# The parent keeps the slave open, so the settings can be read before and after.
before = termios.tcgetattr(slave)
p = subprocess.Popen([ember, "--no-api", "--config-file", cfg], stdin=slave, stdout=slave,
                     stderr=slave, start_new_session=True)
out = b""
deadline = time.time() + 15
while time.time() < deadline and p.poll() is None:
    time.sleep(0.02)
    os.set_blocking(master, False)
    try:
        out += os.read(master, 65536)
    except BlockingIOError:
        pass
rc = p.wait(timeout=5)
try:
    out += os.read(master, 65536)
except (BlockingIOError, OSError):
    pass
after = termios.tcgetattr(slave)
ok = rc == 0 and b"PROBE DONE" in out and before == after
print("ok" if ok else "bad: rc=%d done=%s same=%s" % (rc, b"PROBE DONE" in out, before == after))
PY
grep -q '^ok' "$TMP/tty.out" && pass terminal-restored || fail terminal-restored "$(cat "$TMP/tty.out")"

finish
