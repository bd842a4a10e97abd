#!/usr/bin/env bash
# linux_io_smp.sh: linux_io's boot and checks (root file system, read-only drive, ping, 64 MiB TCP
# and 16 MiB vsock each way, 8 vsock streams at once, clean poweroff) with 4 vCPUs instead of 2:
# Linux's virtio drivers and ember's devices with interrupts and queue notifications coming
# from and going to four vCPU threads at once. Its images come from linux_io's prepare step.
#
# In the lab a 4-vCPU guest now and then stops for good (one vCPU spinning, three halted; the
# lab's nested SVM, README Known limits). Its run takes 150 to 280 s there: ember is stopped at
# 450 s, so the program fails on its own and run.sh retries it in a new lab, instead of the
# whole lab being stopped at run.sh's limit.
# ember-test: needs-kvm
# ember-test: timeout 560
[ "${1:-}" = prepare ] && exit 0
# In the lab, the lab's own kernel died three times in one full run while this 4-vCPU guest
# booted (at 15 s of guest time, before any data moved), and once in another: the lab's defect
# (README, Known limits), but enough to fail the whole suite. There it runs only when asked.
if [ -n "${EMBER_IN_LAB:-}" ] && [ "${EMBER_TEST_SMP:-0}" != 1 ]; then
	echo "SKIP linux_io_smp/all: in the lab a 4-vCPU Linux guest moving data has killed the lab's own kernel (3 times in one run); EMBER_TEST_SMP=1 runs it there, hosts with working hardware virtualization always run it"
	exit 0
fi
GIO_TIMEOUT=${GIO_TIMEOUT:-450} GIO_VCPUS=4 LINUX_IO_MODES=run-net:console.log GIO_NAME=linux_io_smp exec bash "$(dirname "$0")/linux_io.sh"
