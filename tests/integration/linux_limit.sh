#!/usr/bin/env bash
# linux_limit.sh: a drive's rate_limiter holds back Linux's own virtio-blk driver. What `make run`
# boots (config.example.json: Debian's kernel, the ext4 root read-only) runs one function: drop
# the page cache, then dd 16 MiB from /dev/vda, timed by the guest. Booted twice: unlimited,
# and with a 2 MiB/s bandwidth bucket on the root drive. Limited, the read takes at least 6 s
# (7 s at 2 MiB/s less what the full bucket holds); an unenforced limiter breaks that bound.
# The throttles are counted in ember's metrics. Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
set -uo pipefail
[ "${1:-}" = prepare ] && exit 0
T=linux_limit
. "$(dirname "$0")/common.bash"
cd "$(dirname "$0")/../.."
need_ember
need_linux_io

FUNC='echo 3 >/proc/sys/vm/drop_caches; s=$(cut -d" " -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=1M count=16 2>/dev/null; e=$(cut -d" " -f1 /proc/uptime); echo "LIMIT-READ start=$s end=$e"'

# boot NAME RATE_LIMITER_JSON: sets SECS (the guest's dd time), THR (throttle events).
boot() {
	local cfg=$TMP/$1.json out=$TMP/$1.out
	tests/linux/guest_io.sh demo-config "$FUNC" | python3 -c '
import json, sys
c = json.load(sys.stdin)
if sys.argv[1]:
    c["drives"][0]["rate_limiter"] = json.loads(sys.argv[1])
c["metrics"] = {"metrics_path": sys.argv[2]}
json.dump(c, sys.stdout)' "$2" "$cfg.metrics" >"$cfg"
	run_ember "$out" 300 --no-api --config-file "$cfg"
	line=$(grep -a '^LIMIT-READ' "$out" | tr -d '\r' | head -n1)
	SECS=$(awk '{ split($2, a, "="); split($3, b, "="); printf "%.2f", b[2] - a[2] }' <<<"$line")
	THR=$(python3 -c 'import json, sys
print(sum(json.loads(l).get("block", {}).get("rate_limiter_throttled_events", 0) for l in open(sys.argv[1]) if l.strip()))' "$cfg.metrics" 2>/dev/null || echo missing)
	if [ "$RC" -ne 0 ] || [ -z "$line" ]; then
		fail "$1" "ember exited $RC; $(grep -a 'LIMIT\|ember:\|Kernel panic' "$out" | tr -d '\r' | head -n 4 | tr '\n' '|')"
		return 1
	fi
}

if boot unlimited ""; then
	[ "$THR" = 0 ] && pass unlimited "16 MiB in $SECS s (guest time), no throttling" ||
		fail unlimited "throttled=$THR without a limiter"
fi
if boot limited '{"bandwidth": {"size": 2097152, "refill_time": 1000}}'; then
	if awk -v s="$SECS" 'BEGIN { exit !(s >= 6) }' && [ "$THR" -gt 0 ]; then
		pass limited "16 MiB at 2 MiB/s in $SECS s (>= 6), $THR throttles"
	else
		fail limited "16 MiB at 2 MiB/s in $SECS s (want >= 6), throttled=$THR"
	fi
fi
finish
