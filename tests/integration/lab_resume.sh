#!/usr/bin/env bash
# lab_resume: tests/run.sh's handling of a lab that dies, in a scratch tree with a stand-in
# lab (no QEMU): programs the lab did not reach run in the next lab, the program it died
# under runs after them, and a third death under the same program counts as that
# program's failure without costing the others their run.
T=lab_resume
. "$(dirname "$0")/common.bash"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
KVM_MARK="ember-test: needs""-kvm"   # split, so that this file is not taken for a KVM program

# mktree DIR DEATHS: a tree with run.sh, a stand-in lab, programs a, dies, x and y (all
# "KVM" programs), where the lab dies under dies the first DEATHS times it runs.
mktree() {
	local d=$1 n
	mkdir -p "$d/tests/lab" "$d/tests/integration" "$d/state"
	cp "$SRC/tests/run.sh" "$d/tests/run.sh"
	printf '#!/bin/sh\necho "no KVM in this scratch tree"\nexit 1\n' >"$d/tests/lab/kvm-probe"
	cat >"$d/tests/lab/lab.sh" <<'EOF'
#!/usr/bin/env bash
# stand-in lab: runs the command here; a lab "dies" (125) when the command was killed for it.
while [ "$1" != -- ]; do shift; done
shift
echo "boot" >>state/boots
"$@"
rc=$?
if [ -e state/died ]; then
	rm -f state/died
	echo "lab: Kernel panic - not syncing: (stand-in)"
	exit 125
fi
exit $rc
EOF
	for n in a x y; do
		printf '#!/usr/bin/env bash\n# %s\necho "ran %s" >>state/order\necho "PASS %s/ok"\n' \
			"$KVM_MARK" "$n" "$n" >"$d/tests/integration/$n.sh"
	done
	cat >"$d/tests/integration/dies.sh" <<EOF
#!/usr/bin/env bash
# $KVM_MARK
echo "ran dies" >>state/order
n=\$(wc -l <state/kills 2>/dev/null || echo 0)
if [ "\$n" -lt $2 ]; then
	echo kill >>state/kills
	touch state/died
	kill -KILL "\$(ps -o ppid= -p "\$PPID" | tr -d ' ')"   # the lab's run.sh, as a dying lab would
	exit 0
fi
echo "PASS dies/ok"
EOF
	chmod +x "$d/tests/lab/lab.sh" "$d/tests/lab/kvm-probe" "$d/tests/run.sh"
}

# Once: the lab dies under dies, then a new lab runs x and y, then dies, which passes.
mktree "$TMP/once" 1
(cd "$TMP/once" && BUILD=build bash tests/run.sh >out 2>&1)
rc=$?
order=$(tr '\n' ' ' <"$TMP/once/state/order")
if [ "$rc" -eq 0 ] && grep -q '^4 passed, 0 failed' "$TMP/once/out" &&
	[ "$order" = "ran a ran dies ran x ran y ran dies " ]; then
	pass once "exit 0, all passed, order: $order"
else
	fail once "exit $rc, order: $order; $(tail -n 3 "$TMP/once/out" | tr '\n' ' ')"
fi
grep -q 'while integration/dies ran' "$TMP/once/out" &&
	pass once-says "the summary names the program the lab died under" ||
	fail once-says "no 'while integration/dies ran' in: $(grep -F '[lab]' "$TMP/once/out")"

# Always: the third death under dies is its failure; a, x and y pass; three lab boots.
mktree "$TMP/always" 99
(cd "$TMP/always" && BUILD=build bash tests/run.sh >out 2>&1)
rc=$?
boots=$(wc -l <"$TMP/always/state/boots")
if [ "$rc" -ne 0 ] && grep -q '^FAIL integration/dies: the lab died three times' "$TMP/always/out" &&
	grep -q '^3 passed, 1 failed' "$TMP/always/out" && [ "$boots" -eq 3 ]; then
	pass always "exit $rc, dies failed alone, $boots lab boots"
else
	fail always "exit $rc, $boots boots; $(tail -n 4 "$TMP/always/out" | tr '\n' ' ')"
fi
finish
