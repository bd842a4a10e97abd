#!/usr/bin/env bash
# run.sh: run every ember test and print one closing line "N passed, M failed, K skipped".
#
# Each test program (unit binary, fuzz smoke run, integration script) prints
# "PASS <name>", "FAIL <name>: <why>" or "SKIP <name>: <why>" lines. A program
# that exits non-zero without printing a FAIL line counts as one failure.
#
#   tests/run.sh                run everything
#   tests/run.sh PATTERN...     only programs whose path contains a PATTERN
#   FUZZ_SMOKE_SECONDS=N        time per fuzz target (default 20)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_names=()

selected() {
	local path=$1; shift
	[ ${#PATTERNS[@]} -eq 0 ] && return 0
	for p in "${PATTERNS[@]}"; do
		case "$path" in *"$p"*) return 0 ;; esac
	done
	return 1
}

run_one() {
	local name=$1; shift
	local log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
	local start end rc p f s
	start=$(date +%s.%N)
	"$@" >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited $rc without a FAIL line (log: $log)" >>"$log"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	grep -E '^(FAIL|SKIP) ' "$log" | sed "s|^|  [$name] |"
	[ "$f" -gt 0 ] && failed_names+=("$name")
	printf '%-44s %3d passed %3d failed %3d skipped  %5.1fs\n' "$name" "$p" "$f" "$s" \
		"$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
}

PATTERNS=("$@")

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	selected "$t" || continue
	run_one "unit/$(basename "$t")" "$t"
done

for t in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	selected "$t" || continue
	run_one "fuzz/$(basename "$t")" tests/fuzz/smoke.sh "$t" "${FUZZ_SMOKE_SECONDS:-20}"
done

for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	selected "$t" || continue
	run_one "integration/$(basename "$t" .sh)" bash "$t"
done

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed programs (logs in $LOGDIR): ${failed_names[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
