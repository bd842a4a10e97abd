#!/usr/bin/env bash
# smoke.sh: run one libFuzzer target for a bounded time and report PASS/FAIL.
# usage: smoke.sh FUZZER SECONDS
set -u
fz=$1 secs=$2
name=$(basename "$fz")
corpus=${BUILD:-build}/corpus/$name
mkdir -p "$corpus"
seeds=()
[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
out=$("$fz" -max_total_time="$secs" -print_final_stats=1 "$corpus" "${seeds[@]}" 2>&1)
rc=$?
runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
if [ "$rc" -eq 0 ]; then
	echo "PASS $name: ${runs:-?} executions in ${secs}s, no crash"
else
	printf '%s\n' "$out" | tail -40
	echo "FAIL $name: fuzzer exited $rc after ${runs:-?} executions"
	exit 1
fi
