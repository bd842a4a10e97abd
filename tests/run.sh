#!/usr/bin/env bash
# run.sh: run every ember test and print one closing line "N passed, M failed, K skipped".
#
# Each test program (unit binary, fuzz smoke run, integration script) prints
# "PASS <name>", "FAIL <name>: <why>" or "SKIP <name>: <why>" lines. A program
# that exits non-zero without printing a FAIL line counts as one failure, and so
# does one that runs past EMBER_TEST_TIMEOUT seconds (default 600).
#
# Where the tests run: programs that need KVM (integration scripts that boot a VM,
# unit tests marked "ember-test: needs-kvm") run directly where /dev/kvm works
# (tests/lab/kvm-probe says), otherwise all of them inside one boot of the lab
# (tests/lab/lab.sh). The others always run here.
#
#   tests/run.sh                run everything
#   tests/run.sh PATTERN...     only programs whose name (unit/test_http, fuzz/fuzz_http,
#                               integration/api) or path contains a PATTERN
#   tests/run.sh --exact NAME...  only the programs named exactly, in that order
#   EMBER_LAB=1                 run the KVM programs in the lab even where /dev/kvm works
#   EMBER_LAB=0                 never use the lab (without KVM those programs then fail)
#   FUZZ_SMOKE_SECONDS=N        time per fuzz target (default 20)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_names=()
declare -A retried=()   # program -> its first run's log, when the lab ran it twice
INNER=0
EXACT=0
if [ "${1:-}" = --in-lab ]; then
	INNER=1
	shift
fi
if [ "${1:-}" = --exact ]; then
	# Only the programs named exactly (a lab that restarts after a crash resumes with these).
	EXACT=1
	shift
fi
PATTERNS=("$@")

selected() {
	[ ${#PATTERNS[@]} -eq 0 ] && return 0
	if [ "$EXACT" -eq 1 ]; then
		for p in "${PATTERNS[@]}"; do [ "$p" = "$1" ] && return 0; done
		return 1
	fi
	for p in "${PATTERNS[@]}"; do
		for s in "$@"; do
			case "$s" in *"$p"*) return 0 ;; esac
		done
	done
	return 1
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# stuck_report LINE: LINE, then what was left running and where (a process that even SIGKILL
# cannot end is in the kernel: its tasks' kernel stacks say where).
stuck_report() {
	local t k
	echo "$1"
	echo "# processes left:"
	ps -eo pid,stat,pcpu,wchan:32,args | grep -E '[e]mber|[q]emu|[s]ocat|[p]ython3' | sed 's/^/#   /'
	for t in $(pgrep -f 'build/ember' 2>/dev/null); do
		for k in /proc/"$t"/task/*; do
			echo "# task $k $(cat "$k/comm" 2>/dev/null) state=$(awk '{print $3}' "$k/stat" 2>/dev/null)"
			sed 's/^/#     /' "$k/stack" 2>/dev/null
		done
	done
}

run_one() {
	local name=$1; shift
	local log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
	local start end rc p f s t limit=${EMBER_TEST_TIMEOUT:-600}
	# A program may ask for a longer limit ("# ember-test: timeout N"); EMBER_TEST_TIMEOUT wins.
	if [ "$1" = bash ] && [ -z "${EMBER_TEST_TIMEOUT:-}" ]; then
		t=$(sed -n 's/^# ember-test: timeout \([0-9][0-9]*\).*/\1/p' "$2" | head -n1)
		[ -n "$t" ] && limit=$t
	fi
	start=$(now)
	# Inside the lab: what starts, so that if the lab dies the host knows what it died under.
	[ "$INNER" -eq 1 ] && echo "LAB-START $name"
	timeout -k 10 "$limit" "$@" >"$log" 2>&1
	rc=$?
	if [ "$INNER" -eq 1 ] && { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; }; then
		# Seen in the lab (QEMU TCG, nested SVM): a process that even SIGKILL cannot end, its
		# emulated CPU spinning, after which the lab stays slow or stuck. That run proves
		# nothing either way: it is kept and diagnosed, and this lab stops so that the host
		# runs this program and the rest in a new lab (see the resume loop below).
		stuck_report "# stopped after $limit s" >>"$log"
		mv "$log" "$log.lab-$$"
		echo "  [$name] stopped after $limit s in the lab (log: $log.lab-$$); leaving this lab"
		echo "LAB-TOTALS $pass $fail $skip ${failed_names[*]}"
		exit 3
	fi
	end=$(now)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		stuck_report "FAIL $name: still running after $limit s, stopped (log: $log)" >>"$log"
	fi
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(grep -c '^SKIP ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited $rc without a FAIL line (log: $log)" >>"$log"
		f=1
	fi
	if [ $((p + f + s)) -eq 0 ]; then
		echo "FAIL $name: printed no PASS, FAIL or SKIP line (log: $log)" >>"$log"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	grep -E '^(FAIL|SKIP) ' "$log" | sed "s|^|  [$name] |"
	[ "$f" -gt 0 ] && failed_names+=("$name")
	printf '%-44s %3d passed %3d failed %3d skipped  %6.1fs\n' "$name" "$p" "$f" "$s" "$(secs "$start" "$end")"
	# Inside the lab: what is done, for the host to count and, if the lab dies, to resume after.
	[ "$INNER" -eq 1 ] && echo "LAB-DONE $name $p $f $s"
}

# The programs, each "kvm|host NAME COMMAND...", in the order they run.
PROGS=()
add() { PROGS+=("$*"); }
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	selected "unit/$n" "tests/unit/$n.c" || continue
	where=host
	grep -q 'ember-test: needs-kvm' "tests/unit/$n.c" 2>/dev/null && where=kvm
	add "$where unit/$n $t"
done
for t in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	selected "fuzz/$n" "tests/fuzz/$n.c" || continue
	add "host fuzz/$n tests/fuzz/smoke.sh $t ${FUZZ_SMOKE_SECONDS:-20}"
done
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=integration/$(basename "$t" .sh)
	selected "$n" "$t" || continue
	where=host
	grep -qE '^need_(ember|qemu)|ember-test: needs-kvm' "$t" && where=kvm
	grep -q 'ember-test: kvm-any' "$t" && where=kvmany
	add "$where $n bash $t"
done

# --exact runs the programs in the order named (the lab's resume order).
if [ "$EXACT" -eq 1 ]; then
	ordered=()
	for p in "${PATTERNS[@]}"; do
		for e in "${PROGS[@]}"; do
			read -r _ n _ <<<"$e"
			[ "$n" = "$p" ] && ordered+=("$e")
		done
	done
	PROGS=("${ordered[@]}")
fi

# Where the KVM programs run.
nkvm=0
for e in "${PROGS[@]}"; do [ "${e%% *}" != host ] && nkvm=$((nkvm + 1)); done
WHERE=direct
REASON=
if [ "$INNER" -eq 0 ] && [ "$nkvm" -gt 0 ]; then
	REASON=$(tests/lab/kvm-probe 2>&1)
	probe=$?
	case "${EMBER_LAB:-auto}" in
	1) WHERE=lab; REASON="EMBER_LAB=1" ;;
	0) WHERE=direct ;;
	*) [ "$probe" -eq 0 ] || WHERE=lab ;;
	esac
	# "ember-test: kvm-any": a program that needs only a /dev/kvm that runs ember's own test
	# guest (PVM does) and nothing of the lab's: it runs here when this host has one.
	nany=0
	if [ "$WHERE" = lab ] && [ "${EMBER_LAB:-auto}" != 1 ] && any=$(tests/lab/kvm-probe --any 2>&1); then
		for i in "${!PROGS[@]}"; do
			[ "${PROGS[$i]%% *}" = kvmany ] || continue
			PROGS[$i]="host ${PROGS[$i]#kvmany }"
			nany=$((nany + 1)) nkvm=$((nkvm - 1))
		done
		[ "$nany" -gt 0 ] && echo "KVM programs that need only ember's test guest ($nany) run directly: $any"
	fi
	if [ "$WHERE" = lab ]; then
		echo "KVM programs ($nkvm) run in the lab: $REASON"
	else
		echo "KVM programs ($nkvm) run directly: $REASON"
	fi
fi

for i in "${!PROGS[@]}"; do
	[ "${PROGS[$i]%% *}" = kvmany ] && PROGS[$i]="kvm ${PROGS[$i]#kvmany }"
done

part_start=$(now)
part=
part_times=()
new_part() {
	local t
	t=$(now)
	[ -n "$part" ] && part_times+=("$part $(secs "$part_start" "$t")s")
	part=$1
	part_start=$t
}

for e in "${PROGS[@]}"; do
	read -r where name cmd <<<"$e"
	[ "$INNER" -eq 1 ] && [ "$where" != kvm ] && continue
	[ "$WHERE" = lab ] && [ "$where" = kvm ] && continue
	[ "${part}" = "${name%%/*}" ] || new_part "${name%%/*}"
	# shellcheck disable=SC2086
	run_one "$name" $cmd
done

if [ "$WHERE" = lab ]; then
	# What the lab cannot fetch itself (it has no network) is fetched here first.
	new_part "prepare"
	for e in "${PROGS[@]}"; do
		read -r where name cmd <<<"$e"
		[ "$where" = kvm ] && [ "${name%%/*}" = integration ] || continue
		script=${cmd#bash }
		grep -q 'ember-test: prepare' "$script" 2>/dev/null || continue
		plog="$LOGDIR/$(echo "$name" | tr '/ ' '__').prepare.log"
		if ! timeout -k 10 1200 bash "$script" prepare >"$plog" 2>&1; then
			echo "  [$name] prepare failed (log: $plog): $(tail -n1 "$plog")"
		fi
	done
	new_part "lab"
	echo "--- the KVM programs, inside one lab boot (tests/lab/lab.sh) ---"
	# The lab is an emulator running a hypervisor, and has been seen to crash its own kernel
	# and, now and then, to stop a nested guest for good (README, Known limits). So: a lab
	# that dies is followed by a new one that resumes with the programs not yet done (the one
	# that was running first); a program that fails in the lab runs once more in a new lab
	# (when no more than 3 failed in that boot: more than that is not the lab), and its first
	# log is kept and named in the summary. At most 8 lab boots, EMBER_LAB_TIMEOUT in all.
	# Each program reports as it starts (LAB-START) and ends (LAB-DONE). The program the lab
	# died under runs after all the others in the next lab; a third lab death under the same
	# program counts as its failure, so one program cannot use up every boot.
	todo=()
	for e in "${PROGS[@]}"; do
		read -r where name _ <<<"$e"
		[ "$where" = kvm ] && todo+=("$name")
	done
	boots=0
	budget=${EMBER_LAB_TIMEOUT:-3600}   # seconds for all lab boots together
	lab_t0=$SECONDS
	declare -A deaths=()
	while [ ${#todo[@]} -gt 0 ]; do
		boots=$((boots + 1))
		left_s=$((budget - (SECONDS - lab_t0)))
		lablog=$LOGDIR/lab.log
		[ $boots -gt 1 ] && lablog=$LOGDIR/lab-$boots.log
		tests/lab/lab.sh --timeout "$left_s" -- tests/run.sh --in-lab --exact "${todo[@]}" 2>&1 |
			tee "$lablog" | grep --line-buffered -v '^LAB-TOTALS \|^LAB-DONE \|^LAB-START '
		rc=${PIPESTATUS[0]}
		left=() again=() nfailed=0
		for n in "${todo[@]}"; do
			d=$(grep "^LAB-DONE $n " "$lablog" | tail -n1)
			[ -n "$d" ] && [ "$(awk '{print $4}' <<<"$d")" -gt 0 ] && nfailed=$((nfailed + 1))
		done
		for n in "${todo[@]}"; do
			d=$(grep "^LAB-DONE $n " "$lablog" | tail -n1)
			if [ -z "$d" ]; then
				left+=("$n")
				continue
			fi
			read -r _ _ lp lf ls <<<"$d"
			if [ "$lf" -gt 0 ] && [ -z "${retried[$n]:-}" ] && [ "$nfailed" -le 3 ]; then
				plog="$LOGDIR/$(echo "$n" | tr '/ ' '__').log"
				retried[$n]="$plog.first-run"
				mv -f "$plog" "$plog.first-run"
				again+=("$n")
				continue
			fi
			pass=$((pass + lp)); fail=$((fail + lf)); skip=$((skip + ls))
			[ "$lf" -gt 0 ] && failed_names+=("$n")
		done
		# The program the lab died under: the last one started and not done.
		under=
		if [ ${#left[@]} -gt 0 ] && [ "$rc" -ne 0 ]; then
			st=$(grep '^LAB-START ' "$lablog" | tail -n1 | awk '{print $2}')
			[ "$st" = "${left[0]}" ] && under=$st
		fi
		if [ -n "$under" ]; then
			deaths[$under]=$((${deaths[$under]:-0} + 1))
			left=("${left[@]:1}")
			if [ "${deaths[$under]}" -ge 3 ]; then
				echo "FAIL $under: the lab died three times while it ran (logs: $LOGDIR/lab*.log)"
				fail=$((fail + 1))
				failed_names+=("$under")
				under=
			fi
		fi
		todo=("${left[@]}" "${again[@]}" ${under:+"$under"})
		[ ${#todo[@]} -eq 0 ] && break
		if [ $boots -ge 8 ] || [ $((budget - (SECONDS - lab_t0))) -lt 300 ]; then
			echo "FAIL lab: the lab ended with status $rc and did not run (again): ${todo[*]} (log: $lablog)"
			fail=$((fail + ${#todo[@]}))
			failed_names+=("${todo[@]}")
			break
		fi
		[ -n "$under" ] &&
			echo "  [lab] the lab ended with status $rc while $under ran (log: $lablog); a new lab runs it after the ${#left[@]} program(s) not yet started"
		[ -z "$under" ] && [ ${#left[@]} -gt 0 ] &&
			echo "  [lab] the lab ended with status $rc before ${left[0]} finished (log: $lablog); a new lab runs the ${#left[@]} program(s) left"
		[ ${#again[@]} -gt 0 ] &&
			echo "  [lab] failed in this lab, to run once more in a new lab: ${again[*]}"
	done
	[ $boots -gt 1 ] && echo "the lab was booted $boots times"
	for n in "${!retried[@]}"; do
		case " ${failed_names[*]} " in
		*" $n "*) echo "$n failed in two labs (first run's log: ${retried[$n]})" ;;
		*) echo "$n failed once in the lab and passed in a new one (first run's log: ${retried[$n]})" ;;
		esac
	done
fi
new_part end

if [ "$INNER" -eq 1 ]; then
	echo "LAB-TOTALS $pass $fail $skip ${failed_names[*]}"
	[ "$fail" -eq 0 ]
	exit
fi

echo
echo "time per part: ${part_times[*]}"
case "$WHERE" in
lab) echo "KVM programs ran in the lab (QEMU TCG with nested KVM)" ;;
*) [ "$nkvm" -gt 0 ] && echo "KVM programs ran directly on this host's /dev/kvm" ;;
esac
# The failed checks again, here at the end where a reader of the last lines sees them: those of
# the programs that failed and those of the first run of programs that passed on a second.
for f in "${failed_names[@]}" "${retried[@]}"; do
	case $f in
	*.first-run) log=$f what="$(basename "$f" .log.first-run), first run" ;;
	*) log="$LOGDIR/$(echo "$f" | tr '/ ' '__').log" what=$f ;;
	esac
	[ -f "$log" ] || continue
	grep -a '^FAIL ' "$log" | head -n 8 | cut -c1-600 | sed "s|^|  [$what] |"
done
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed programs (logs in $LOGDIR): ${failed_names[*]}"
fi
if [ ${#PROGS[@]} -eq 0 ]; then
	echo "no test program matches: ${PATTERNS[*]}"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
