#!/usr/bin/env bash
# linux_guest.sh: Debian's stock cloud kernel with a busybox userspace under ember.
#
# tests/linux/acpi_check.sh boots it twice: /init ends with `poweroff -f` (ACPI S5 through the
# FADT's sleep control register) and with `reboot -f` (i8042 reset); both must end ember with
# exit 0. Each boot checks that the kernel finds COM1, the i8042 and the virtio-mmio block device
# through ember's DSDT (Debian's kernels have no virtio_mmio.device= support), prints no ACPI
# error, wires COM1 to IOAPIC pin 4 edge-triggered, and that what /init writes to /dev/console
# (the interrupt-driven tty path) reaches ember's stdout.
#
# ember-test: needs-kvm
# ember-test: prepare   (fetches the kernel and its modules on the host: the lab has no network)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${1:-}" = prepare ] && exec tests/linux/acpi_check.sh prepare
# The console test's size: 4000 lines (248 KB) on KVM; in the lab every byte written to the
# UART costs ~1.5 ms of emulation (measured: 158 KB in 240 s), so 600 lines (37 KB) there.
if [ -n "${EMBER_IN_LAB:-}" ]; then bulk=${EMBER_LINUX_GUEST_BULK:-600}; else bulk=${EMBER_LINUX_GUEST_BULK:-4000}; fi
export ACPI_CHECK_TIMEOUT=${ACPI_CHECK_TIMEOUT:-600}
rc=0
ACPI_CHECK_BULK=$bulk ACPI_CHECK_TAG=poweroff tests/linux/acpi_check.sh run | sed 's#^\(PASS\|FAIL\|SKIP\) acpi_check#\1 linux_guest/poweroff#' || rc=1
ACPI_CHECK_END=reboot ACPI_CHECK_TAG=reboot tests/linux/acpi_check.sh run |
	sed 's#^\(PASS\|FAIL\|SKIP\) acpi_check#\1 linux_guest/reboot#' || rc=1
exit $rc
