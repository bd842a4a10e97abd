#!/usr/bin/env bash
# jailer.sh: ember-jailer end to end: what the jailed ember can see and do, boot and API through
# the jail, --daemonize and --new-pid-ns, cgroup v1 and v2, and hostile input refused by exit code.
#
# Every case builds its jail under its own chroot base in $TMP, as uid/gid 12345 (no passwd entry
# needed). On exit: jailed processes killed, cgroups removed, the test netns deleted, $TMP removed.
# The jail's mounts live in the jailed process's own mount namespace and go away with it.
T=jailer
. "$(dirname "$0")/common.bash"
JAILER=${JAILER:-$BUILD/ember-jailer}
JUID=12345
JGID=12345
TAG=ember-jt-$$                 # cgroup parent and netns name, unique to this run
PIDS=()                         # jailed processes to kill on exit
CGDIRS=()                       # cgroup directories to remove on exit, leaves first
NETNS=""
MOUNTS=()                       # test mounts to unmount on exit
V2_MOUNT=""
V2_ENABLED=""                   # a controller this test enabled in the v2 root's subtree_control

cleanup() {
	local p d i
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for i in $(seq 100); do [ -e "/proc/$p" ] || break; sleep 0.02; done
	done
	for d in "${CGDIRS[@]}"; do
		for i in $(seq 50); do [ -d "$d" ] && ! rmdir "$d" 2>/dev/null || break; sleep 0.02; done
	done
	[ -n "$V2_ENABLED" ] && echo "-$V2_ENABLED" >"$V2_MOUNT/cgroup.subtree_control" 2>/dev/null
	[ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
	for d in "${MOUNTS[@]}"; do umount "$d" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	skip all "needs root (namespaces, pivot_root, mknod, cgroups)"
	exit 0
fi
need_ember
[ -x "$JAILER" ] || { fail build "$JAILER missing (run make)"; finish; }
command -v curl >/dev/null || { fail deps "curl is not installed"; finish; }

# The jail holds nothing but the VMM, so the VMM must be statically linked (Firecracker's jailer
# has the same requirement). While build/ember is dynamic, link a static copy of the same objects.
EMBER_JAIL=$TMP/bin/ember
mkdir -p "$TMP/bin"
if readelf -l "$EMBER" 2>/dev/null | grep -q 'program interpreter'; then
	EMBER_DYNAMIC=1
	if ! ${CC:-cc} -static-pie -pthread -Wl,-z,relro,-z,now,-z,noexecstack -o "$EMBER_JAIL" \
		"$BUILD/obj/src/main.o" "$BUILD/libember.a" -lseccomp -lcap-ng -luring 2>"$TMP/static.log"; then
		fail static-ember "cannot link ember statically: $(head -3 "$TMP/static.log" | tr '\n' ' ')"
		finish
	fi
	echo "# $EMBER is dynamically linked: the jail tests exec a static link of the same objects"
else
	EMBER_DYNAMIC=0
	cp "$EMBER" "$EMBER_JAIL"
fi

wait_for() {       # wait_for TEST PATH: up to 5 s for PATH to exist
	local i
	for i in $(seq 250); do [ -e "$2" ] && return 0; sleep 0.02; done
	[ -e "$2" ]
}
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }  # blank-separated
api() { curl -s --max-time 5 --unix-socket "$1" "${@:2}"; }
cg_mount() { awk -v c="$1" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") { print $2; exit }' /proc/mounts; }

# ---- 1. isolation: the jailed ember sees only its jail, with nothing of the caller's ----
isolation() {
	local base=$TMP/c1 root=$TMP/c1/ember/t1/root jpid pid rc l bad=0 f t want ign
	local args=(--id t1 --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base")
	local cpu_mnt pids_mnt pre=()
	mkdir -p "$base"
	if ip netns add "$TAG" 2>"$TMP/netns.err"; then
		NETNS=$TAG
		args+=(--netns "/var/run/netns/$TAG")
	else
		skip netns "ip netns add failed: $(cat "$TMP/netns.err")"
	fi
	cpu_mnt=$(cg_mount cpu) pids_mnt=$(cg_mount pids)
	if [ -n "$cpu_mnt" ] && [ -n "$pids_mnt" ]; then
		args+=(--parent-cgroup "$TAG" --cgroup cpu.shares=512 --cgroup pids.max=64)
		CGDIRS+=("$cpu_mnt/$TAG/t1" "$cpu_mnt/$TAG" "$pids_mnt/$TAG/t1" "$pids_mnt/$TAG")
	fi
	args+=(--resource-limit fsize=1048576 --resource-limit no-file=1000 -- --api-sock /run/api.sock)
	# inheritable and ambient capabilities the jailer must clear (they survive setuid and exec)
	command -v setpriv >/dev/null && pre=(setpriv --inh-caps +net_admin --ambient-caps +net_admin)
	(
		exec 9</etc/hostname    # an inherited fd the jailer must close
		trap '' TERM            # an inherited SIG_IGN the jailer must reset
		exec env FOO=leak "${pre[@]}" "$JAILER" "${args[@]}"
	) </dev/null >"$TMP/c1.out" 2>&1 &
	jpid=$!
	PIDS+=("$jpid")
	if ! wait_for sock "$root/run/api.sock"; then
		fail isolation-start "no API socket in the jail: $(head -5 "$TMP/c1.out" | tr '\n' ' ')"
		return
	fi
	pid=$(cat "$root/ember.pid")
	[ "$pid" = "$jpid" ] && pass pid-file "$pid" || fail pid-file "pid file says '$pid', jailer was $jpid"

	[ "$(stat -L -c %d:%i "/proc/$pid/root")" = "$(stat -c %d:%i "$root")" ] &&
		pass root-is-jail || fail root-is-jail "/proc/$pid/root is not $root"
	l=$(ls -A "/proc/$pid/root" | sort | tr '\n' ' ')
	if [ ! -e "/proc/$pid/root/etc/passwd" ] && [ "$l" = "dev ember ember.pid run " ] &&
		[ "$(wc -l <"/proc/$pid/mountinfo")" = 1 ] &&
		[ "$(awk '{ print $5 }' "/proc/$pid/mountinfo")" = / ]; then
		pass sees-only-jail "/: $l"
	else
		fail sees-only-jail "/: $l; mounts: $(awk '{ print $5 }' "/proc/$pid/mountinfo" | tr '\n' ' ')"
	fi
	want="$JUID $JUID $JUID $JUID"
	[ "$(field "$pid" Uid)" = "$want" ] && [ "$(field "$pid" Gid)" = "${want//$JUID/$JGID}" ] &&
		[ -z "$(field "$pid" Groups)" ] && pass uid-gid ||
		fail uid-gid "Uid '$(field "$pid" Uid)' Gid '$(field "$pid" Gid)' Groups '$(field "$pid" Groups)'"
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(field "$pid" $f)" = 0000000000000000 ] || bad=1
	done
	[ $bad = 0 ] && [ "$(field "$pid" NoNewPrivs)" = 1 ] && pass no-caps-no-new-privs ||
		fail no-caps-no-new-privs "$(grep -E '^(Cap|NoNewPrivs)' "/proc/$pid/status" | tr '\n\t' '  ')"
	bad=""
	for f in /proc/$pid/fd/*; do
		t=$(readlink "$f")
		[ "${f##*/}" -lt 3 ] && continue
		# ember's own: event fds, its sockets, and /dev/kvm (opened inside the jail)
		case "$t" in anon_inode:* | socket:* | /dev/kvm) ;; *) bad="$bad ${f##*/}->$t" ;; esac
	done
	[ -z "$bad" ] && pass no-inherited-fds "$(ls "/proc/$pid/fd" | wc -l) fds, all ember's" ||
		fail no-inherited-fds "$bad"
	[ "$(wc -c <"/proc/$pid/environ")" = 0 ] && pass empty-environment ||   # (-s: proc files show size 0)
		fail empty-environment "variables: $(tr '\0' '\n' <"/proc/$pid/environ" | cut -d= -f1 | tr '\n' ' ')"
	ign=$((16#$(field "$pid" SigIgn)))
	(( (ign >> 14) & 1 )) && fail signals-reset "SIGTERM still ignored (SigIgn $(field "$pid" SigIgn))" ||
		pass signals-reset
	if [ -n "$NETNS" ]; then
		[ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i "/var/run/netns/$TAG")" ] &&
			[ "$(stat -L -c %i "/proc/$pid/ns/net")" != "$(stat -L -c %i /proc/self/ns/net)" ] &&
			pass netns || fail netns "ns/net $(readlink "/proc/$pid/ns/net") is not $TAG's"
	fi
	if [ -n "$cpu_mnt" ] && [ -n "$pids_mnt" ]; then
		if grep -qE "^[0-9]+:([^:]*,)?cpu(,[^:]*)?:/$TAG/t1\$" "/proc/$pid/cgroup" &&
			grep -qE "^[0-9]+:([^:]*,)?pids(,[^:]*)?:/$TAG/t1\$" "/proc/$pid/cgroup" &&
			[ "$(cat "$cpu_mnt/$TAG/t1/cpu.shares")" = 512 ] &&
			[ "$(cat "$pids_mnt/$TAG/t1/pids.max")" = 64 ]; then
			pass cgroup-v1 "cpu and pids: /$TAG/t1"
		else
			fail cgroup-v1 "$(grep -E ':(cpu|pids):' "/proc/$pid/cgroup" | tr '\n' ' ')"
		fi
	else
		skip cgroup-v1 "no cgroup v1 cpu or pids hierarchy mounted"
	fi
	grep -qE '^Max open files +1000 +1000 ' "/proc/$pid/limits" &&
		grep -qE '^Max file size +1048576 +1048576 ' "/proc/$pid/limits" && pass rlimits ||
		fail rlimits "$(grep -E '^Max (open files|file size)' "/proc/$pid/limits" | tr -s ' ' | tr '\n' ';')"
	l=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	[[ "$l" =~ ^/ember\ --id\ t1\ --start-time-us\ [0-9]+\ --start-time-cpu-us\ [0-9]+\ --parent-cpu-time-us\ 0\ --api-sock\ /run/api.sock\ $ ]] &&
		pass vmm-argv || fail vmm-argv "$l"
	api "$root/run/api.sock" http://localhost/ | grep -q '"id":"t1"' && pass api-in-jail ||
		fail api-in-jail "GET / did not answer with id t1"
	l=$(for f in dev/kvm dev/net/tun dev/urandom; do stat -c '%F %t:%T %u:%g %a' "$root/$f"; done | tr '\n' ';')
	want="character special file a:e8 $JUID:$JGID 600;character special file a:c8 $JUID:$JGID 600;character special file 1:9 $JUID:$JGID 600;"
	[ "$l" = "$want" ] && pass devices || fail devices "$l"
	l=$(for f in . dev dev/net run; do stat -c '%u:%g %a' "$root/$f"; done | tr '\n' ';')
	[ "$l" = "$JUID:$JGID 700;$JUID:$JGID 700;$JUID:$JGID 700;$JUID:$JGID 700;" ] &&
		pass jail-folders || fail jail-folders "$l"
	cmp -s "$root/ember" "$EMBER_JAIL" && [ "$(stat -c %i "$root/ember")" != "$(stat -c %i "$EMBER_JAIL")" ] &&
		[ "$(stat -c '%u %a' "$root/ember")" = "0 755" ] && pass exec-copied ||
		fail exec-copied "$(stat -c '%u %a %i' "$root/ember") vs source inode $(stat -c %i "$EMBER_JAIL")"
	kill -TERM "$pid"
	wait "$jpid"
	rc=$?
	[ $rc = 143 ] && pass sigterm-reaches-ember || fail sigterm-reaches-ember "exit $rc (want 143)"
}

# ---- 2. the whole boot and API flow through the jail ----
boot() {
	local base=$TMP/c2 root=$TMP/c2/ember/boot/root sock jpid rc c1 c2 c3 state i
	sock=$root/run/api.sock
	mkdir -p "$root"
	install -m 0644 "$GUEST_DIR/guest.elf" "$root/guest.elf"   # the orchestrator's part
	"$JAILER" --id boot --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base" \
		-- --api-sock /run/api.sock </dev/null >"$TMP/c2.out" 2>&1 &
	jpid=$!
	PIDS+=("$jpid")
	wait_for sock "$sock" || { fail boot "no API socket: $(head -5 "$TMP/c2.out" | tr '\n' ' ')"; return; }
	c1=$(api "$sock" -o /dev/null -w '%{http_code}' -X PUT http://localhost/boot-source \
		-d '{"kernel_image_path": "/guest.elf", "boot_args": "console=ttyS0 reboot=k panic=1 probe=idle"}')
	c2=$(api "$sock" -o /dev/null -w '%{http_code}' -X PUT http://localhost/machine-config \
		-d '{"vcpu_count": 1, "mem_size_mib": 128}')
	c3=$(api "$sock" -o /dev/null -w '%{http_code}' -X PUT http://localhost/actions \
		-d '{"action_type": "InstanceStart"}')
	[ "$c1$c2$c3" = 204204204 ] && pass boot-api-sequence ||
		fail boot-api-sequence "codes $c1 $c2 $c3: $(grep -iE 'error|fault' "$TMP/c2.out" | head -3 | tr '\n' ' ')"
	state=$(api "$sock" http://localhost/)
	echo "$state" | grep -q '"state":"Running"' && pass boot-running || fail boot-running "$state"
	for i in $(seq 100); do grep -q '^PROBE TICK 2' "$TMP/c2.out" && break; sleep 0.05; done
	grep -q '^PROBE TICK 2' "$TMP/c2.out" && pass guest-runs-in-jail ||
		fail guest-runs-in-jail "no guest ticks: $(tail -3 "$TMP/c2.out" | tr '\n' ' ')"
	api "$sock" -X PUT http://localhost/actions -d '{"action_type": "SendCtrlAltDel"}' >/dev/null
	for i in $(seq 250); do kill -0 "$jpid" 2>/dev/null || break; sleep 0.02; done
	kill -0 "$jpid" 2>/dev/null && kill -9 "$jpid"
	wait "$jpid"
	rc=$?
	[ $rc = 0 ] && pass boot-exit-0 || fail boot-exit-0 "ember exited $rc"
}

# ---- 3. --daemonize and --new-pid-ns ----
daemonize() {
	local base=$TMP/c3 root=$TMP/c3/ember/d1/root pid rc sid l
	mkdir -p "$base"
	timeout 10 "$JAILER" --id d1 --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID \
		--chroot-base-dir "$base" --daemonize -- --api-sock /run/api.sock >"$TMP/c3.out" 2>&1
	rc=$?
	[ $rc = 0 ] && pass daemonize-returns || fail daemonize-returns "exit $rc: $(head -3 "$TMP/c3.out")"
	wait_for sock "$root/run/api.sock" && wait_for pid "$root/ember.pid" ||
		{ fail daemonize "no API socket or pid file"; return; }
	pid=$(cat "$root/ember.pid")
	PIDS+=("$pid")
	sid=$(awk '{ print $6 }' "/proc/$pid/stat")
	l=$(for f in 0 1 2; do readlink "/proc/$pid/fd/$f"; done | tr '\n' ' ')
	[ "$l" = "/dev/null /dev/null /dev/null " ] && pass daemonize-stdio || fail daemonize-stdio "$l"
	[ "$sid" != "$pid" ] && [ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] && [ -n "$sid" ] &&
		pass daemonize-session "sid $sid, not a session leader" ||
		fail daemonize-session "sid '$sid' pid $pid"
	l=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	[[ "$l" == *"--start-time-cpu-us 0 --parent-cpu-time-us "* ]] && pass daemonize-cpu-times ||
		fail daemonize-cpu-times "$l"
	api "$root/run/api.sock" http://localhost/ | grep -q '"id":"d1"' && pass daemonize-api ||
		fail daemonize-api "no answer"
}

new_pid_ns() {
	local id=$1 extra=$2 base=$TMP/c4-$1 root=$TMP/c4-$1/ember/$1/root jpid pid rc l
	mkdir -p "$base"
	"$JAILER" --id "$id" --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base" \
		--new-pid-ns $extra -- --api-sock /run/api.sock </dev/null >"$TMP/$id.out" 2>&1 &
	jpid=$!
	wait "$jpid"
	rc=$?
	[ $rc = 0 ] && pass "$id-parent-exits-0" || fail "$id-parent-exits-0" "exit $rc: $(head -3 "$TMP/$id.out")"
	wait_for pid "$root/ember.pid" && wait_for sock "$root/run/api.sock" ||
		{ fail "$id" "no pid file or API socket"; return; }
	pid=$(cat "$root/ember.pid")
	PIDS+=("$pid")
	[ "$(field "$pid" NSpid)" = "$pid 1" ] &&
		[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] &&
		pass "$id-pid-1" "host pid $pid is pid 1 in its namespace" ||
		fail "$id-pid-1" "NSpid '$(field "$pid" NSpid)' for pid file's $pid"
	api "$root/run/api.sock" http://localhost/ | grep -q "\"id\":\"$id\"" && pass "$id-api" ||
		fail "$id-api" "no answer"
	if [ -n "$extra" ]; then
		l=$(readlink "/proc/$pid/fd/1")
		[ "$l" = /dev/null ] && pass "$id-daemonized" || fail "$id-daemonized" "stdout is $l"
	fi
}

# ---- 4. cgroup v2: joining, a controller v2 holds, a clear error for one it does not ----
cgroup_v2() {
	local base=$TMP/c5 pid rc avail hp val
	V2_MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$V2_MOUNT" ] || { skip cgroup-v2 "no cgroup2 mount"; return; }
	mkdir -p "$base"
	avail=$(cat "$V2_MOUNT/cgroup.controllers")

	# Joining only: an existing --parent-cgroup and no --cgroup (as Firecracker).
	mkdir "$V2_MOUNT/$TAG-join" && CGDIRS+=("$V2_MOUNT/$TAG-join")
	"$JAILER" --id j1 --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base" \
		--cgroup-version 2 --parent-cgroup "$TAG-join" -- --api-sock /run/api.sock \
		</dev/null >"$TMP/j1.out" 2>&1 &
	PIDS+=($!)
	disown
	if wait_for pid "$base/ember/j1/root/run/api.sock"; then
		pid=$(cat "$base/ember/j1/root/ember.pid")
		grep -qx "0::/$TAG-join" "/proc/$pid/cgroup" && pass cgroup-v2-join ||
			fail cgroup-v2-join "$(grep '^0::' "/proc/$pid/cgroup")"
	else
		fail cgroup-v2-join "did not start: $(head -3 "$TMP/j1.out" | tr '\n' ' ')"
	fi

	# A value in a controller the v2 hierarchy has (here usually only hugetlb).
	hp=$(ls /sys/kernel/mm/hugepages 2>/dev/null | sed -n 's/^hugepages-2048kB$/2MB/p')
	if [[ " $avail " == *" hugetlb "* ]] && [ -n "$hp" ]; then
		grep -qw hugetlb "$V2_MOUNT/cgroup.subtree_control" || V2_ENABLED=hugetlb
		CGDIRS+=("$V2_MOUNT/$TAG-v2/v2a" "$V2_MOUNT/$TAG-v2")
		val=$((2 * 1024 * 1024))
		"$JAILER" --id v2a --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base" \
			--cgroup-version 2 --parent-cgroup "$TAG-v2" --cgroup "hugetlb.$hp.max=$val" \
			-- --api-sock /run/api.sock </dev/null >"$TMP/v2a.out" 2>&1 &
		PIDS+=($!)
		disown
		if wait_for sock "$base/ember/v2a/root/run/api.sock"; then
			pid=$(cat "$base/ember/v2a/root/ember.pid")
			grep -qx "0::/$TAG-v2/v2a" "/proc/$pid/cgroup" &&
				[ "$(cat "$V2_MOUNT/$TAG-v2/v2a/hugetlb.$hp.max")" = "$val" ] &&
				grep -qw hugetlb "$V2_MOUNT/$TAG-v2/cgroup.subtree_control" &&
				pass cgroup-v2-value "hugetlb.$hp.max=$val in /$TAG-v2/v2a" ||
				fail cgroup-v2-value "$(grep '^0::' "/proc/$pid/cgroup")"
		else
			fail cgroup-v2-value "did not start: $(head -3 "$TMP/v2a.out" | tr '\n' ' ')"
		fi
	else
		skip cgroup-v2-value "no hugetlb 2MB in the v2 hierarchy (cgroup.controllers: '$avail')"
	fi

	# memory.max: v1 holds memory on these hosts, so v2 must refuse it with a clear message.
	if [[ " $avail " != *" memory "* ]]; then
		"$JAILER" --id v2m --exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID --chroot-base-dir "$base" \
			--cgroup-version 2 --parent-cgroup "$TAG-v2m" --cgroup memory.max=268435456 \
			>"$TMP/v2m.out" 2>&1
		rc=$?
		[ $rc = 25 ] && grep -q "controller 'memory' is not available in the cgroup v2" "$TMP/v2m.out" &&
			pass cgroup-v2-unavailable "exit 25: $(cut -c1-90 "$TMP/v2m.out")" ||
			fail cgroup-v2-unavailable "exit $rc: $(cat "$TMP/v2m.out")"
	else
		skip cgroup-v2-unavailable "memory is available in cgroup v2 here"
	fi
}

# ---- 5. hostile ids and paths, bad flags: refused with their exit codes ----
# expect NAME CODE PATTERN CLEAN ARGS...: CLEAN names a directory that must stay empty.
expect() {
	local name=$1 code=$2 pat=$3 clean=$4 rc
	shift 4
	timeout 10 "$JAILER" "$@" </dev/null >"$TMP/h.out" 2>"$TMP/h.err"
	rc=$?
	if [ $rc != "$code" ]; then
		fail "refuse-$name" "exit $rc, want $code: $(head -2 "$TMP/h.err" | tr '\n' ' ')"
	elif ! grep -q -- "$pat" "$TMP/h.err"; then
		fail "refuse-$name" "message lacks '$pat': $(head -2 "$TMP/h.err" | tr '\n' ' ')"
	elif [ -n "$clean" ] && [ -n "$(ls -A "$clean")" ]; then
		fail "refuse-$name" "$clean is not empty: $(ls -A "$clean" | tr '\n' ' ')"
	else
		pass "refuse-$name" "exit $rc: $(head -1 "$TMP/h.err" | cut -c1-100)"
	fi
}

hostile() {
	local h=$TMP/h e=$TMP/elsewhere ids
	mkdir -p "$h" "$e" "$e/base"
	ids=(--exec-file "$EMBER_JAIL" --uid $JUID --gid $JGID)
	expect id-dotdot 10 "invalid --id" "$h" --id ../x "${ids[@]}" --chroot-base-dir "$h"
	expect id-slash 10 "invalid --id" "$h" --id a/b "${ids[@]}" --chroot-base-dir "$h"
	expect id-65-chars 10 "invalid --id" "$h" --id "$(printf 'a%.0s' $(seq 65))" "${ids[@]}" --chroot-base-dir "$h"
	expect base-relative 14 "not an absolute path" "" --id x "${ids[@]}" --chroot-base-dir relative/path
	expect base-dotdot 14 "'..' components" "$e/base" --id x "${ids[@]}" --chroot-base-dir "$h/../elsewhere/base"
	ln -s "$e" "$TMP/link"
	expect base-symlink 14 "symbolic link" "$e/base" --id x "${ids[@]}" --chroot-base-dir "$TMP/link/base"
	# Symlinks planted inside the jail path: <base>/ember, <base>/ember/<id>, <id>/root.
	mkdir -p "$TMP/s1" "$TMP/s2/ember" "$TMP/s3/ember/x" "$e/t1" "$e/t2" "$e/t3"
	ln -s "$e/t1" "$TMP/s1/ember"
	ln -s "$e/t2" "$TMP/s2/ember/x"
	ln -s "$e/t3" "$TMP/s3/ember/x/root"
	expect exec-name-symlink 21 "symbolic link" "$e/t1" --id x "${ids[@]}" --chroot-base-dir "$TMP/s1"
	expect id-dir-symlink 21 "symbolic link" "$e/t2" --id x "${ids[@]}" --chroot-base-dir "$TMP/s2"
	expect root-symlink 21 "symbolic link" "$e/t3" --id x "${ids[@]}" --chroot-base-dir "$TMP/s3"
	mkdir "$TMP/nodev"
	if mount -t tmpfs -o nodev,size=1m tmpfs "$TMP/nodev" 2>/dev/null; then
		MOUNTS+=("$TMP/nodev")
		expect base-nodev 14 "nodev filesystem" "$TMP/nodev" --id x "${ids[@]}" --chroot-base-dir "$TMP/nodev"
	else
		skip refuse-base-nodev "cannot mount a nodev tmpfs here"
	fi
	expect exec-dir 11 "not a regular file" "$h" --id x --exec-file "$TMP/bin" --uid 1 --gid 1 --chroot-base-dir "$h"
	expect exec-missing 11 "No such file" "$h" --id x --exec-file "$TMP/nope/ember" --uid 1 --gid 1 --chroot-base-dir "$h"
	expect exec-relative 11 "not an absolute path" "$h" --id x --exec-file build/ember --uid 1 --gid 1 --chroot-base-dir "$h"
	expect cgroup-no-equals 16 "invalid --cgroup" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --cgroup cpushares512
	expect cgroup-no-value 16 "invalid --cgroup" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --cgroup cpu.shares=
	expect cgroup-path 16 "invalid --cgroup" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --cgroup ../cpu.shares=1
	expect cgroup-version 16 "invalid --cgroup-version" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --cgroup-version 3
	expect parent-cgroup-dotdot 16 "invalid --parent-cgroup" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --parent-cgroup ../up
	expect uid-not-number 12 "invalid --uid" "$h" --id x --exec-file "$EMBER_JAIL" --uid abc --gid 1 --chroot-base-dir "$h"
	expect gid-negative 13 "invalid --gid" "$h" --id x --exec-file "$EMBER_JAIL" --uid 1 --gid -5 --chroot-base-dir "$h"
	expect rlimit-unknown 17 "invalid --resource-limit" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --resource-limit cpu=1
	expect unknown-flag 2 "unknown flag '--bogus'" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --bogus
	expect repeated-flag 2 "more than once" "$h" --id x --id y "${ids[@]}" --chroot-base-dir "$h"
	expect missing-uid 3 "--uid is required" "$h" --id x --exec-file "$EMBER_JAIL" --gid 1 --chroot-base-dir "$h"
	expect netns-missing 15 "validate --netns" "$h" --id x "${ids[@]}" --chroot-base-dir "$h" --netns /var/run/netns/$TAG-none
	# Failures of later steps name the step and exit with its code.
	expect step-rlimit 24 "set resource limits" "" --id r1 "${ids[@]}" --chroot-base-dir "$h" --resource-limit no-file=1099511627776
	expect step-cgroup 25 "no cgroup v1 hierarchy has controller 'nosuch'" "" --id g1 "${ids[@]}" --chroot-base-dir "$h" --cgroup nosuch.max=1
	# Ids are unique: a jail that has been used is not built again.
	if [ -d "$TMP/c1/ember/t1/root" ]; then
		expect jail-reused 22 "already used" "" --id t1 "${ids[@]}" --chroot-base-dir "$TMP/c1"
	fi
	if [ "$EMBER_DYNAMIC" = 1 ]; then
		mkdir -p "$TMP/dyn"
		expect dynamic-vmm 31 "dynamically linked" "" --id dyn --exec-file "$(readlink -f "$EMBER")" \
			--uid $JUID --gid $JGID --chroot-base-dir "$TMP/dyn"
	fi
}

isolation
boot
daemonize
new_pid_ns p1 ""
new_pid_ns p2 --daemonize
cgroup_v2
hostile
finish
