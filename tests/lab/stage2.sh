#!/bin/bash
# The lab's second stage, PID 1 on the host's root (read-only 9p under a tmpfs overlay):
# set the machine up as a host that has /dev/kvm, run the job lab.sh wrote, record its
# exit status in the job directory and power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
JOB= VER= SRC= KVM_AMD=
for a in $(cat /proc/cmdline); do
	case "$a" in
	lab.src=*) SRC=${a#lab.src=} ;;
	lab.job=*) JOB=${a#lab.job=} ;;
	lab.ver=*) VER=${a#lab.ver=} ;;
	lab.kvm_amd=*) KVM_AMD=${a#lab.kvm_amd=} ;;
	esac
done

off() {
	sync
	busybox poweroff -f 2>/dev/null
	echo o >/proc/sysrq-trigger
	sleep 10
}
fail() {
	echo "lab: error in the lab: $*" | tee /dev/ttyS1
	echo "lab-error:$*" >"$JOB/rc"
	off
}

mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# A checkout under /tmp or /run (CI clones into /tmp) must stay visible once those become
# tmpfs: keep a second mount of it aside and put it back at its own path.
mkdir -p /.lab-src && mount --bind "$SRC" /.lab-src || fail "cannot bind-mount the checkout $SRC"
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
if [ ! -d "$SRC/tests/lab" ]; then
	mkdir -p "$SRC" && mount --move /.lab-src "$SRC" || fail "cannot mount the checkout back at $SRC"
else
	umount /.lab-src
fi
mkdir -p /run/netns /var/run 2>/dev/null
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || { ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr; }

# cgroups as on a hybrid host: v1 controllers, the v2 hierarchy at unified/.
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
	mkdir -p /sys/fs/cgroup/$c
	mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || echo "lab: note: cgroup v1 $c not mounted"
done
mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified

# The lab kernel's modules, from the cache lab.sh filled (depmod already ran there).
MODS=$(dirname "$JOB")/kernel/root/lib/modules/$VER
[ -d "$MODS" ] || fail "modules for $VER not found at $MODS"
mkdir -p /lib/modules/"$VER"
mount --bind "$MODS" /lib/modules/"$VER" || fail "cannot bind-mount $MODS"
# shellcheck disable=SC2086 # lab.kvm_amd=a=1,b=0 are module parameters
modprobe kvm_amd ${KVM_AMD//,/ } || fail "modprobe kvm_amd failed: no /dev/kvm in the lab"
[ -c /dev/kvm ] || fail "kvm_amd loaded but /dev/kvm is missing"
for m in tun veth bridge loop vhost_vsock vsock_loopback; do
	modprobe "$m" 2>/dev/null || echo "lab: note: module $m not loaded"
done

# kvm-amd turns SVM on in every CPU (an IPI to each) when the first VM is made, and off again
# (another IPI to each) when the last one is gone: with one VM per test, hundreds of times a run.
# Those IPIs are where the lab's kernel was seen to lock up, twice in one run (a CPU that never
# answered smp_call_function_many_cond() in kvm_destroy_vm(), then the soft-lockup panic). A VM
# held open for the lab's whole life keeps SVM on, as on a host that always runs some VM.
python3 -c 'import fcntl, os, time
k = os.open("/dev/kvm", os.O_RDWR)
vm = fcntl.ioctl(k, 0xAE01, 0)   # KVM_CREATE_VM
while True:
	time.sleep(3600)' &
kvm_keeper=$!
sleep 0.5
kill -0 "$kvm_keeper" 2>/dev/null || echo "lab: note: could not hold a VM open (SVM will be turned on and off per VM)"

hostname ember-lab
ip link set lo up || echo "lab: note: loopback not up"
ulimit -n 65536 2>/dev/null

: >"$JOB/started"
# A heartbeat for lab.sh: a lab whose kernel stopped altogether (seen: no CPU scheduling any
# more, not even its lockup detector) stops writing it, and lab.sh ends that lab.
(while :; do date +%s >"$JOB/heartbeat"; sleep 10; done) &
if grep -qw lab.mode=shell /proc/cmdline; then
	setsid -c bash "$JOB/cmd.sh" </dev/console >/dev/console 2>&1
	rc=$?
else
	# The job's output goes to the second UART, which lab.sh streams; the kernel's
	# console (the first) goes to a log file.
	stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null
	bash "$JOB/cmd.sh" </dev/null >/dev/ttyS1 2>&1
	rc=$?
fi
echo "$rc" >"$JOB/rc"
off
