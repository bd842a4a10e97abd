#!/usr/bin/env bash
# seccomp.sh: each thread kind's allowlist is enforced (a forbidden call ends ember with 148),
# --no-seccomp turns them off, and --seccomp-filter compiles Firecracker-format JSON policies.
T=seccomp
. "$(dirname "$0")/common.bash"
need_ember
SCTEST=$BUILD/ember-sctest
[ -x "$SCTEST" ] || { fail build "$SCTEST missing (make $SCTEST)"; finish; }
mkconfig "$TMP/vm.json" "$GUEST_DIR/guest.elf" "console=ttyS0 probe=boot" 2 64

# 1. The test build makes a forbidden call (getppid) right after a thread kind installs its list.
for kind in vcpu vmm; do
	EMBER_SECCOMP_SELFTEST=$kind timeout -k 5 20 "$SCTEST" --no-api --config-file "$TMP/vm.json" \
		</dev/null >"$TMP/$kind.out" 2>&1
	rc=$?
	if [ "$rc" -eq 148 ] && grep -q "forbidden system call 110" "$TMP/$kind.out"; then
		pass "$kind-enforced" "exit 148, syscall 110 (getppid) reported"
	else
		fail "$kind-enforced" "exit $rc: $(tail -2 "$TMP/$kind.out" | tr '\n' ' ')"
	fi
done
EMBER_SECCOMP_SELFTEST=api timeout -k 5 20 "$SCTEST" --api-sock "$TMP/a.sock" </dev/null >"$TMP/api.out" 2>&1
rc=$?
[ "$rc" -eq 148 ] && grep -q "forbidden system call 110" "$TMP/api.out" && pass api-enforced ||
	fail api-enforced "exit $rc: $(tail -2 "$TMP/api.out" | tr '\n' ' ')"
# The same binary without the trigger boots normally: the lists suffice for real work.
timeout -k 5 20 "$SCTEST" --no-api --config-file "$TMP/vm.json" </dev/null >"$TMP/ok.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -q "PROBE DONE pass=1 fail=0" "$TMP/ok.out" && pass lists-suffice ||
	fail lists-suffice "exit $rc"

# 1b. Rules narrowed to their arguments: after boot the VMM thread may open files only to read
# or read-write them (no create, truncate, append or write-only), signal only ember's own
# threads with the vCPU kick signal, and use fcntl only for F_GETFL/F_SETFL. Each probe runs
# in the VMM thread right after its list is installed; "allowed" ones must leave ember booting.
# Syscall numbers (x86-64): openat 257, tgkill 234, fcntl 72, getsockopt 55, nanosleep 35.
sleep 600 &   # another process: the target of tgkill-other-process (killed if it were allowed)
victim=$!
for spec in openat-create:257 openat-trunc:257 openat-append:257 openat-wronly:257 	tgkill-other-process:234 tgkill-other-signal:234 fcntl-getfd:72 getsockopt:55 nanosleep:35 	openat-read:ok openat-readwrite:ok tgkill-kick:ok fcntl-flags:ok clock-nanosleep:ok; do
	probe=${spec%%:*} want=${spec#*:}
	EMBER_SECCOMP_SELFTEST=vmm:$probe EMBER_SECCOMP_SELFTEST_PID=$victim timeout -k 5 20 "$SCTEST" --no-api --config-file "$TMP/vm.json" \
		</dev/null >"$TMP/p-$probe.out" 2>&1
	rc=$?
	if [ "$want" = ok ]; then
		if [ "$rc" -eq 0 ] && grep -q "PROBE DONE pass=1 fail=0" "$TMP/p-$probe.out" &&
			grep -q "seccomp selftest: vmm:$probe done" "$TMP/p-$probe.out"; then
			pass "vmm-allows-$probe" "the call succeeded under the list and the guest booted"
		else
			fail "vmm-allows-$probe" "exit $rc: $(grep -E 'seccomp|PROBE DONE' "$TMP/p-$probe.out" | tail -2 | tr '\n' ' ')"
		fi
	elif [ "$rc" -eq 148 ] && grep -q "forbidden system call $want\$" "$TMP/p-$probe.out"; then
		pass "vmm-refuses-$probe" "exit 148, syscall $want reported"
	else
		fail "vmm-refuses-$probe" "exit $rc: $(grep -E 'seccomp|PROBE DONE' "$TMP/p-$probe.out" | tail -2 | tr '\n' ' ')"
	fi
done
# 1c. io_uring: no thread may make a ring of its own (io_uring_setup, 425) to submit an
# IORING_OP_OPENAT through; the blk engine's own ring refuses that opcode (test_blk_aio).
for kind in vmm vcpu; do
	EMBER_SECCOMP_SELFTEST=$kind:uring-setup timeout -k 5 20 "$SCTEST" --no-api --config-file "$TMP/vm.json" \
		</dev/null >"$TMP/u-$kind.out" 2>&1
	rc=$?
	if [ "$rc" -eq 148 ] && grep -q 'forbidden system call 425$' "$TMP/u-$kind.out"; then
		pass "$kind-refuses-uring-setup" "exit 148, syscall 425 reported"
	else
		fail "$kind-refuses-uring-setup" "exit $rc: $(grep -E 'seccomp|PROBE DONE' "$TMP/u-$kind.out" | tail -2 | tr '\n' ' ')"
	fi
done
kill -0 "$victim" 2>/dev/null || fail vmm-refuses-tgkill-other-process "the other process was signalled"
kill "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
[ -e /tmp/ember-sctest-create ] && fail vmm-refuses-openat-create "the file was created"
rm -f /tmp/ember-sctest-create

# 2. --no-seccomp: no filter, so the trigger call is harmless.
EMBER_SECCOMP_SELFTEST=vcpu timeout -k 5 20 "$SCTEST" --no-seccomp --no-api --config-file "$TMP/vm.json" \
	</dev/null >"$TMP/off.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && pass no-seccomp || fail no-seccomp "exit $rc"

# 3. Firecracker-format policies.
allow_all() { printf '{"default_action": "allow", "filter_action": "trap", "filter": [%s]}' "$1"; }
cat >"$TMP/permissive.json" <<JSON
{"vmm": $(allow_all ''), "api": $(allow_all ''), "vcpu": $(allow_all '{"syscall": "getppid", "comment": "forbidden"}')}
JSON
run_ember "$TMP/p.out" 20 --seccomp-filter "$TMP/permissive.json" --no-api --config-file "$TMP/vm.json"
[ "$RC" -eq 0 ] && pass custom-policy-boots || fail custom-policy-boots "exit $RC: $(tail -1 "$TMP/p.out")"
EMBER_SECCOMP_SELFTEST=vcpu timeout -k 5 20 "$SCTEST" --seccomp-filter "$TMP/permissive.json" --no-api \
	--config-file "$TMP/vm.json" </dev/null >"$TMP/p2.out" 2>&1
rc=$?
[ "$rc" -eq 148 ] && pass custom-policy-enforced || fail custom-policy-enforced "exit $rc"
cat >"$TMP/strict.json" <<'JSON'
{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read"}]},
 "api": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read"}]},
 "vcpu": {"default_action": "trap", "filter_action": "allow", "filter": [
   {"syscall": "ioctl", "args": [{"index": 1, "type": "dword", "op": "eq", "val": 44672, "comment": "KVM_RUN"}]},
   {"syscall": "mmap", "args": [{"index": 2, "type": "dword", "op": {"masked_eq": 4}, "val": 0}]}]}}
JSON
run_ember "$TMP/s.out" 20 --seccomp-filter "$TMP/strict.json" --no-api --config-file "$TMP/vm.json"
# A policy that forbids even write() and exit_group() cannot let the SIGSYS handler report:
# then the kernel ends ember with SIGSYS itself (status 128 + 31).
if [ "$RC" -eq 148 ] || [ "$RC" -eq 159 ]; then
	pass strict-policy-kills "exit $RC"
else
	fail strict-policy-kills "exit $RC"
fi
for bad in '{"vmm": {}}' '{"vmm": 1, "api": 1, "vcpu": 1}' \
	'{"vmm": {"default_action": "allow", "filter_action": "allow", "filter": [{"syscall": "no_such_call"}]}, "api": {}, "vcpu": {}}' \
	'not json'; do
	printf '%s' "$bad" >"$TMP/bad.json"
	run_ember "$TMP/b.out" 20 --seccomp-filter "$TMP/bad.json" --no-api --config-file "$TMP/vm.json"
	if [ "$RC" -ne 153 ] || ! grep -q "seccomp filter" "$TMP/b.out"; then
		fail bad-policy-refused "exit $RC for $bad: $(tail -1 "$TMP/b.out")"
		break
	fi
done
[ "$RC" -eq 153 ] && pass bad-policy-refused

# 4. The lists are short; report their sizes (Firecracker: vmm 76, api 36, vcpu 49).
sizes=$(awk '/^static const struct sc_rule sc_vmm/{k="vmm"} /^static const struct sc_rule sc_api/{k="api"} /^static const struct sc_rule sc_vcpu/{k="vcpu"}
	/^};/{k=""} k && /^\t(ANY|ARG_EQ|ARG_NOBITS)\(/{n[k]++} /^\tCOMMON_RULES/{c[k]=1}
	/^#define COMMON_RULES/{m=1} m && /(ANY|ARG_EQ|ARG_NOBITS)\(/{common++} m && !/\\$/{m=0}
	END{printf "vmm=%d api=%d vcpu=%d", n["vmm"]+common, n["api"]+common, n["vcpu"]+common}' src/seccomp_filters.c)
pass list-sizes "$sizes"
finish
