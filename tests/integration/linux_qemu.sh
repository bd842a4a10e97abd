#!/usr/bin/env bash
# linux_qemu.sh: linux_io's boot under QEMU microvm (acpi=on, which describes its virtio-mmio
# devices in ACPI as ember does), with the same kernel, initramfs, root file system and checks
# (tests/linux/guest_io.sh run-qemu): the root file system written and clean, the read-only
# drive, ping and TCP through a tap, vsock both ways and 8 streams at once (vhost-vsock). An
# independent VMM passing the checks ember must pass means a failure under ember alone is
# ember's. Smaller transfers than under ember (TCP 16 MiB, vsock 8 MiB each way): QEMU's
# userspace virtio-net is slow in the lab, and the point here is the peer, not the volume.
# Its images come from linux_io's prepare step.
#
# ember-test: needs-kvm
[ "${1:-}" = prepare ] && exit 0
export GIO_QEMU_TCP_MIB=${GIO_QEMU_TCP_MIB:-16} GIO_VSOCK_MIB=${GIO_VSOCK_MIB:-8}
LINUX_IO_MODES=run-qemu:console-qemu.log GIO_NAME=linux_qemu exec bash "$(dirname "$0")/linux_io.sh"
