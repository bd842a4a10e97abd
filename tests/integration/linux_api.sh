#!/usr/bin/env bash
# linux_api.sh: Debian's bzImage driven over ember's API socket, as an orchestrator drives it
# (tests/linux/guest_io.sh run-api): boot source, machine config and drives by PUT, then
# InstanceStart; pause/resume (the guest's clock and console stop and go on); PATCH /drives to a
# new image that Linux then reads; a line on ember's stdin reaching the guest's shell; and
# SendCtrlAltDel ending ember with 0. Its kernel, initramfs and images come from linux_io's
# prepare step.
#
# ember-test: needs-kvm
[ "${1:-}" = prepare ] && exit 0
LINUX_IO_MODES=run-api:console-api.log GIO_NAME=linux_api exec bash "$(dirname "$0")/linux_io.sh"
