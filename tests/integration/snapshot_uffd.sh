#!/usr/bin/env bash
# snapshot_uffd.sh: PUT /snapshot/load with the Uffd memory backend, served by the example
# handler (build/uffd-handler, tests/tools/uffd_handler.c), with the test guest (2 vCPUs, a
# drive, vsock) whose idle probe prints "PROBE TICK <n>" every 100 ms from a counter in RAM:
#   on-demand  the handler fills each page as it is first touched: the restored guest ticks on
#              from the tick after the snapshot's, can be snapshotted again (ember reads all of
#              its RAM through the handler, under its seccomp filter) and resumed; Ctrl-Alt-Del,
#              exit 0, and the handler ends with ember;
#   prefault   the handler fills every region before serving faults: the same, faster faults;
#   refusals   no handler on the path, a socket nobody listens on, userfaultfd not available
#              (no CAP_SYS_PTRACE, no /dev/userfaultfd): 400 with the reason, the ember fresh
#              (it then boots normally); a handler that closes the connection unread: a 400,
#              or a load whose guest then fails on empty memory and ember ends by itself: never
#              a hang (every wait here is bounded).
# The PASS lines give the request's time to 204 and the time to the first tick after it.
# ember-test: kvm-any
T=snapshot_uffd
. "$(dirname "$0")/common.bash"
need_ember
HANDLER=${HANDLER:-$BUILD/uffd-handler}
for t in python3 curl; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
[ -x "$HANDLER" ] || { fail build "$HANDLER missing (run make)"; finish; }
. "$(dirname "$0")/embers.bash"
gone() { # PID SECONDS: the process ended within SECONDS (0) or not (1)
	local i
	for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
uffd_body() { # SNAP SOCKET UDS
	printf '{"snapshot_path": "%s", "mem_backend": {"backend_type": "Uffd", "backend_path": "%s"}, "resume_vm": true, "vsock_override": {"uds_path": "%s"}}' \
		"$1" "$2" "$3"
}
# handler NAME [--prefault]: the example handler on $TMP/NAME.hsock for vm.mem, ready; sets HPID.
handler() {
	local n=$1
	shift
	"$HANDLER" "$TMP/$n.hsock" "$TMP/vm.mem" "$@" >"$TMP/$n.hout" 2>&1 &
	HPID=$!
	PIDS+=("$HPID")
	for _ in $(seq 250); do grep -q READY "$TMP/$n.hout" && break; sleep 0.02; done
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

ARGS="console=ttyS0 probe=idle"
boot_ticking a
A=$PID
r=$(api a PATCH /vm '{"state": "Paused"}')
sleep 0.3
T0=$(last_tick "$TMP/a.out")
r=$(api a PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm.snap\", \"mem_file_path\": \"$TMP/vm.mem\"}")
if [ "${r%% *}" = 204 ] && [ -s "$TMP/vm.snap" ]; then
	pass create "after tick $T0"
else
	fail create "$r; $(tail -c 300 "$TMP/a.out")"
	finish
fi
kill -KILL $A 2>/dev/null

# load MODE [--prefault]: a fresh ember loads vm.snap through a fresh handler and ticks on.
load() {
	local m=$1 t0 req first
	shift
	handler "$m" "$@"
	start "$m"
	t0=$(date +%s%N)
	r=$(api "$m" PUT /snapshot/load "$(uffd_body "$TMP/vm.snap" "$TMP/$m.hsock" "$TMP/$m.vsock")")
	req=$(ms "$t0")
	if [ "${r%% *}" = 204 ] && ticks_after "$TMP/$m.out" "$T0"; then
		first=$(first_tick "$TMP/$m.out")
		[ "$first" = $((T0 + 1)) ] && grep -q "region(s) for pid $PID" "$TMP/$m.hout" &&
			pass "$m-continues" "first tick $first after $T0; 204 in $req ms, first tick at $(ms "$t0") ms" ||
			fail "$m-continues" "first tick $first, the snapshot was after $T0; $(cat "$TMP/$m.hout")"
	else
		fail "$m-load" "$r; $(tail -c 400 "$TMP/$m.out"); $(cat "$TMP/$m.hout")"
	fi
}
# end MODE: Ctrl-Alt-Del through the restored devices, ember exits 0, its handler ends with it.
end() {
	local m=$1 rc
	r=$(api "$m" PUT /actions '{"action_type": "SendCtrlAltDel"}')
	gone "$PID" 10
	wait "$PID" 2>/dev/null
	rc=$?
	if [ "$rc" = 0 ] && grep -q 'ctrl-alt-del' "$TMP/$m.out" && gone "$HPID" 5 && wait "$HPID"; then
		pass "$m-exit" "exit 0; handler: $(tail -n1 "$TMP/$m.hout" | sed 's/^uffd-handler: //')"
	else
		fail "$m-exit" "rc $rc; $(tail -c 300 "$TMP/$m.out"); $(cat "$TMP/$m.hout")"
	fi
}

# ---- on demand, then a snapshot of the restored VM (all of RAM read through the handler) ----
load demand
r=$(api demand PATCH /vm '{"state": "Paused"}')
sleep 0.2
T1=$(last_tick "$TMP/demand.out")
r=$(api demand PUT /snapshot/create "{\"snapshot_path\": \"$TMP/vm2.snap\", \"mem_file_path\": \"$TMP/vm2.mem\"}")
r2=$(api demand PATCH /vm '{"state": "Resumed"}')
used=$(( $(stat -c %b "$TMP/vm2.mem" 2>/dev/null || echo 0) * 512 ))
if [ "${r%% *}" = 204 ] && [ "${r2%% *}" = 204 ] && [ "$used" -gt 0 ] && ticks_after "$TMP/demand.out" "$T1"; then
	pass demand-snapshot "after tick $T1, $((used >> 10)) KiB of RAM written, resumed"
else
	fail demand-snapshot "$r | $r2; $(tail -c 300 "$TMP/demand.out")"
fi
end demand

# ---- prefault --------------------------------------------------------------------------
load prefault --prefault
end prefault

# ---- refusals: each in a fresh ember, which must stay fresh ------------------------------
fresh() { # NAME: the ember is as before the request: not started, configurable
	local r2 r3
	r2=$(api "$1" GET /)
	r3=$(api "$1" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')
	grep -q 'Not started' <<<"$r2" && [ "${r3%% *}" = 204 ] && [ ! -e "$TMP/$1.vsock" ]
}
refuse() { # NAME SOCKET WANT [WRAPPER...]
	local n=$1 sock=$2 want=$3
	shift 3
	start "$n" "$@"
	r=$(api "$n" PUT /snapshot/load "$(uffd_body "$TMP/vm.snap" "$sock" "$TMP/$n.vsock")")
	if [ "${r%% *}" = 400 ] && grep -q "$want" <<<"$r" && fresh "$n"; then
		pass "refuse-$n" "${r:4:150}"
	else
		fail "refuse-$n" "$r | $(api "$n" GET /)"
	fi
}
refuse no-handler "$TMP/none.hsock" 'No page-fault handler accepts connections'
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/dead.hsock"
refuse not-listening "$TMP/dead.hsock" 'Connection refused'
# No CAP_SYS_PTRACE (vm.unprivileged_userfaultfd is 0 here) and no /dev/userfaultfd to fall back on.
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ] &&
   command -v unshare >/dev/null && command -v setpriv >/dev/null; then
	refuse no-userfaultfd "$TMP/none.hsock" 'userfaultfd is not available' unshare -m sh -c \
		'{ [ ! -e /dev/userfaultfd ] || mount --bind /dev/null /dev/userfaultfd; } &&
		 exec setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace "$@"' sh
else
	skip refuse-no-userfaultfd "needs root, vm.unprivileged_userfaultfd=0, unshare and setpriv"
fi

# A handler that takes the connection and, a moment later, closes it unread: the userfaultfd
# in the message goes with it, and guest RAM is left empty (or the send already fails).
python3 - "$TMP/rude.hsock" >"$TMP/rude.hout" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
print("READY", flush=True)
s.settimeout(30)
c, _ = s.accept()
time.sleep(0.3)
c.close()
PY
PIDS+=($!)
for _ in $(seq 250); do grep -q READY "$TMP/rude.hout" && break; sleep 0.02; done
start rude
R=$PID
r=$(api rude PUT /snapshot/load "$(uffd_body "$TMP/vm.snap" "$TMP/rude.hsock" "$TMP/rude.vsock")")
if [ "${r%% *}" = 400 ] && fresh rude; then
	pass refuse-rude-handler "400: ${r:4:120}"
elif [ "${r%% *}" = 204 ] && gone "$R" 20; then
	wait "$R" 2>/dev/null
	pass refuse-rude-handler "loaded, then the guest failed on empty RAM and ember ended by itself (exit $?)"
else
	fail refuse-rude-handler "$r; $(tail -c 300 "$TMP/rude.out")"
fi

# After a refused load the same ember boots normally: nothing of the snapshot is left in it.
st="$(api no-handler PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"$ARGS\"}")"
st="$st|$(api no-handler PUT /actions '{"action_type": "InstanceStart"}')"
[ "$st" = "204 |204 " ] && ticks_after "$TMP/no-handler.out" 1 && grep -q 'PROBE TICK 1$' "$TMP/no-handler.out" &&
	pass boot-after-refusal || fail boot-after-refusal "$st; $(tail -c 200 "$TMP/no-handler.out")"
finish
