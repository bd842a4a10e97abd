#!/usr/bin/env bash
# vmgenid.sh: the VM generation ID, with the test guest's idle probe watching the 16 bytes at
# 0xdfff0 (idle_vmgenid=) and counting interrupts on ISA IRQ 3 (idle_ged_irq=), the DSDT's GED:
#   boot      the guest finds a non-zero ID and no GED interrupt; the DSDT in guest RAM names
#             VGEN ("FCVMGID", "VM_Gen_Counter") and the GED ("ACPI0013");
#   create    the memory file holds, at 0xdfff0, the ID the guest printed;
#   load      two clones of the one snapshot each see a new ID (not the original's, not each
#             other's) and exactly one GED interrupt, and tick on;
#   again     a snapshot of a clone holds the clone's ID in its memory file.
# ember-test: kvm-any
T=vmgenid
. "$(dirname "$0")/common.bash"
need_ember
for t in python3 curl; do
	command -v $t >/dev/null || { fail deps "$t is missing (make deps-test installs it)"; finish; }
done
ADDR=$((0xdfff0))
. "$(dirname "$0")/embers.bash"
# genid FILE: "<id> <ged_irqs>" of the guest's last VMGENID line.
genid() { grep -ao 'VMGENID tick=[0-9]* id=[0-9a-f]* ged_irqs=[0-9]*' "$1" | tail -1 |
	sed 's/.* id=\([0-9a-f]*\) ged_irqs=\([0-9]*\)/\1 \2/'; }
# memid FILE: the 16 bytes at 0xdfff0 of a memory file, in hex.
memid() { od -An -tx1 -j "$ADDR" -N 16 "$1" | tr -d ' \n'; echo; }
snap() { # NAME TAG: pause NAME and snapshot it to $TMP/TAG.snap and .mem
	api "$1" PATCH /vm '{"state": "Paused"}' >/dev/null
	sleep 0.2
	api "$1" PUT /snapshot/create \
		"{\"snapshot_path\": \"$TMP/$2.snap\", \"mem_file_path\": \"$TMP/$2.mem\"}"
}
load() { # NAME TAG
	api "$1" PUT /snapshot/load "{\"snapshot_path\": \"$TMP/$2.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/$2.mem\"}, \"resume_vm\": true}"
}

ARGS="console=ttyS0 probe=idle idle_vmgenid=$ADDR idle_ged_irq=3"
start a
st="$(api a PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}')"
st="$st|$(api a PUT /boot-source "{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"boot_args\": \"$ARGS\"}")"
st="$st|$(api a PUT /actions '{"action_type": "InstanceStart"}')"
read -r ID_A IRQ_A < <(genid "$TMP/a.out")
if [ "$st" = "204 |204 |204 " ] && ticks_after "$TMP/a.out" 2 && read -r ID_A IRQ_A < <(genid "$TMP/a.out") &&
	[ "${#ID_A}" = 32 ] && [ "$ID_A" != 00000000000000000000000000000000 ] && [ "$IRQ_A" = 0 ]; then
	pass boot "id=$ID_A ged_irqs=$IRQ_A"
else
	fail boot "statuses $st; id=$ID_A irqs=$IRQ_A; $(tail -c 300 "$TMP/a.out")"
	finish
fi

r=$(snap a vm)
if [ "${r%% *}" = 204 ] && [ "$(memid "$TMP/vm.mem")" = "$ID_A" ]; then
	pass create "memory file holds $ID_A at 0xdfff0"
else
	fail create "$r; memory file: $(memid "$TMP/vm.mem" 2>&1)"
	finish
fi
# The DSDT lies in the reserved area below the ID: its names and ids are in the memory file.
dsdt=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read()[0x9fc00:0xe0000]
print(" ".join(n for n in ("FCVMGID", "VM_Gen_Counter", "ADDR", "ACPI0013", "_EVT", "VGEN", "GED_")
               if n.encode() in d))' "$TMP/vm.mem")
[ "$dsdt" = "FCVMGID VM_Gen_Counter ADDR ACPI0013 _EVT VGEN GED_" ] &&
	pass dsdt-in-ram "$dsdt" || fail dsdt-in-ram "found only: $dsdt"

# Two clones of the one snapshot.
ok=1
declare -A IDS
for n in b c; do
	start "$n"
	r=$(load "$n" vm)
	if [ "${r%% *}" != 204 ] || ! ticks_after "$TMP/$n.out" 0 ||
		! wait_line "$TMP/$n.out" 'VMGENID .*ged_irqs=1' 5 "$PID"; then
		fail "load-$n" "$r; $(tail -c 300 "$TMP/$n.out")"
		ok=0
		continue
	fi
	read -r id irqs < <(genid "$TMP/$n.out")
	IDS[$n]=$id
	if [ "$id" != "$ID_A" ] && [ "${#id}" = 32 ] && [ "$irqs" = 1 ]; then
		pass "load-$n" "new id=$id ged_irqs=$irqs, ticking from $(last_tick "$TMP/$n.out")"
	else
		fail "load-$n" "id=$id (original $ID_A) ged_irqs=$irqs"
		ok=0
	fi
done
[ "$ok" = 1 ] && [ "${IDS[b]}" != "${IDS[c]}" ] &&
	pass clones-differ "${IDS[b]} != ${IDS[c]}" || fail clones-differ "b=${IDS[b]:-} c=${IDS[c]:-}"
# The original's memory file was mapped private: the clones' IDs never reached it.
[ "$(memid "$TMP/vm.mem")" = "$ID_A" ] && pass original-file-unchanged ||
	fail original-file-unchanged "$(memid "$TMP/vm.mem")"

# A snapshot of a clone carries the clone's ID.
if [ "$ok" = 1 ]; then
	r=$(snap b vm2)
	[ "${r%% *}" = 204 ] && [ "$(memid "$TMP/vm2.mem")" = "${IDS[b]}" ] &&
		pass again "clone b's snapshot holds ${IDS[b]}" ||
		fail again "$r; $(memid "$TMP/vm2.mem" 2>&1) vs ${IDS[b]}"
fi
finish
