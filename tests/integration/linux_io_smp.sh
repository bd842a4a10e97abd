#!/usr/bin/env bash
# linux_io_smp.sh: linux_io's boot and checks (root file system, read-only drive, ping, 64 MiB TCP
# and 16 MiB vsock each way, 8 vsock streams at once, clean poweroff) with 4 vCPUs instead of 2:
# Linux's virtio drivers and ember's devices with interrupts and queue notifications coming
# from and going to four vCPU threads at once. Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
[ "${1:-}" = prepare ] && exit 0
GIO_VCPUS=4 LINUX_IO_MODES=run-net:console.log GIO_NAME=linux_io_smp exec bash "$(dirname "$0")/linux_io.sh"
