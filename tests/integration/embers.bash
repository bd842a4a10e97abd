# embers.bash: helpers for tests that drive several ember processes over their API sockets
# (sourced after common.bash, which sets TMP and EMBER).
#
#   start NAME [WRAPPER...]   an ember (run under WRAPPER if given) with its API at
#                             $TMP/NAME.sock and its console in $TMP/NAME.out; sets PID
#   api NAME METHOD PATH [JSON]  one request: "<status> <body>" (API_TIMEOUT s, default 60)
#   last_tick / first_tick FILE  the test guest's last / first "PROBE TICK <n>" in FILE
#   ticks_after FILE N [SECONDS] a tick beyond N within SECONDS (default 10): 0, else 1
#   boot_ticking NAME         start NAME and boot the test guest's idle probe (2 vCPUs, 128 MiB,
#                             a 4 MiB drive "scratch", vsock at $TMP/NAME.vsock); PASS/FAIL
#                             "boot" once it ticks past 3 (a FAIL ends the test); sets PID
# Every ember started is killed at exit, and TMP removed.
PIDS=()
embers_cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap embers_cleanup EXIT

start() {
	local n=$1
	shift
	rm -f "$TMP/$n.sock"
	"$@" "$EMBER" --api-sock "$TMP/$n.sock" --id "$n" </dev/null >"$TMP/$n.out" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	for _ in $(seq 500); do [ -S "$TMP/$n.sock" ] && break; sleep 0.02; done
}
api() {
	curl -s --max-time "${API_TIMEOUT:-60}" --unix-socket "$TMP/$1.sock" -X "$2" "http://localhost$3" \
		-H 'Content-Type: application/json' ${4:+-d "$4"} -w ' %{http_code}' 2>/dev/null |
		awk '{ st = $NF; $NF = ""; print st, $0 }'
}
last_tick() { grep -ao 'PROBE TICK [0-9]*' "$1" | tail -1 | awk '{print $3}'; }
first_tick() { grep -ao 'PROBE TICK [0-9]*' "$1" | head -1 | awk '{print $3}'; }
ticks_after() {
	local i t
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		t=$(last_tick "$1")
		[ -n "$t" ] && [ "$t" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

boot_ticking() {
	local st
	head -c 4194304 /dev/zero >"$TMP/disk.img"
	start "$1"
	st="$(api "$1" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}')"
	st="$st|$(api "$1" PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"console=ttyS0 probe=idle\"}")"
	st="$st|$(api "$1" PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$TMP/disk.img\", \"is_root_device\": false, \"is_read_only\": false}")"
	st="$st|$(api "$1" PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$TMP/$1.vsock\"}")"
	st="$st|$(api "$1" PUT /actions '{"action_type": "InstanceStart"}')"
	if [ "$st" = "204 |204 |204 |204 |204 " ] && ticks_after "$TMP/$1.out" 3; then
		pass boot "ticking: $(last_tick "$TMP/$1.out")"
	else
		fail boot "statuses $st; $(tail -c 300 "$TMP/$1.out")"
		finish
	fi
}
