#!/usr/bin/env bash
# bringup.sh: boot a Linux kernel with several vCPUs a few times, under ember or QEMU microvm,
# and say for each boot whether it reached the end of its boot (the panic for want of a root
# file system), triple-faulted or stalled. For telling whether a multi-vCPU boot problem in the
# lab is ember's or the lab's: run it inside the lab, under both VMMs, e.g.
#
#   EMBER_LAB_ACCEL=tcg,thread=single tests/lab/lab.sh -- tests/lab/bringup.sh ember build/kernel-amd64/vmlinux
#   EMBER_LAB_ACCEL=tcg,thread=single tests/lab/lab.sh -- tests/lab/bringup.sh qemu build/kernel-amd64/vmlinux
#
#   bringup.sh ember|qemu KERNEL [CPUS (4)] [BOOTS (3)] [SECONDS per boot (150)]
# KERNEL is a vmlinux (both VMMs boot it through its PVH entry) or a bzImage (ember loads it
# directly; QEMU microvm boots it through its firmware). Exit status: 0 if every boot came up.
set -u
vmm=${1:?ember or qemu}; kernel=${2:?kernel image}; cpus=${3:-4}; boots=${4:-3}; secs=${5:-150}
BUILD=${BUILD:-build}
dir=$BUILD/test-logs/bringup; mkdir -p "$dir"
args="console=ttyS0 reboot=k panic=1"
[ -r "$kernel" ] || { echo "bringup: cannot read $kernel" >&2; exit 2; }
if [ "$vmm" = ember ]; then
	python3 -c 'import json,sys; json.dump({"boot-source": {"kernel_image_path": sys.argv[1], "boot_args": sys.argv[2]},
	  "machine-config": {"vcpu_count": int(sys.argv[3]), "mem_size_mib": 256}}, open(sys.argv[4], "w"))' \
		"$(realpath "$kernel")" "$args" "$cpus" "$dir/config.json"
fi
bad=0
for i in $(seq "$boots"); do
	con=$dir/$vmm-$i.console
	t0=$SECONDS
	case $vmm in
	ember) timeout -k 5 "$secs" "$BUILD/ember" --no-api --config-file "$dir/config.json" </dev/null >"$con" 2>&1 ;;
	qemu) timeout -k 5 "$secs" qemu-system-x86_64 -M microvm -enable-kvm -cpu host -smp "$cpus" -m 256 \
		-nodefaults -no-user-config -display none -no-reboot -serial "file:$con" \
		-kernel "$kernel" -append "$args" </dev/null >"$con.stderr" 2>&1 ;;
	*) echo "bringup: unknown VMM $vmm" >&2; exit 2 ;;
	esac
	rc=$?
	up=$(grep -aEo 'smp: Brought up.*' "$con" | head -n1)
	if grep -aq 'Unable to mount root fs' "$con"; then r=ok
	elif grep -aq 'triple fault' "$con"; then r=triple-fault
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then r="stalled after: $(grep -av anonymous-instance "$con" | tail -n1 | cut -c1-70)"
	else r="ended $rc: $(tail -n1 "$con" | cut -c1-70)"
	fi
	[ "$r" = ok ] || bad=$((bad + 1))
	echo "bringup $vmm $(basename "$kernel") ${cpus} vCPUs, boot $i: $r (${up:-no 'Brought up' line}; $((SECONDS - t0)) s; $con)"
done
echo "bringup $vmm: $((boots - bad)) of $boots boots came up"
[ "$bad" -eq 0 ]
