#!/usr/bin/env bash
# linux_io.sh: Debian's cloud kernel on an ext4 root file system moves data through ember's
# virtio-blk, virtio-net and virtio-vsock with Linux's own drivers (tests/linux/guest_io.sh):
# the root file system written and clean after poweroff, a read-only drive refusing writes,
# ping and TCP both ways through a tap, vsock both ways and 8 streams at once, all checksummed.
#
# ember-test: needs-kvm
# ember-test: prepare   (fetches the kernel and its modules on the host: the lab has no network)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${1:-}" = prepare ] && exec tests/linux/guest_io.sh prepare
# Sizes: 64 MiB over TCP and 16 MiB over vsock each way on KVM; in the lab (QEMU's emulator
# under nested KVM, every guest exit costs ~100x) 8 and 4 MiB.
if [ -n "${EMBER_IN_LAB:-}" ]; then
	export GIO_TCP_MIB=${GIO_TCP_MIB:-8} GIO_VSOCK_MIB=${GIO_VSOCK_MIB:-4}
fi
GIO_NAME=linux_io exec tests/linux/guest_io.sh run
