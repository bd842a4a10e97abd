#!/usr/bin/env bash
# linux_shell.sh: ember on a pty, as a person runs it in a terminal, with Debian's kernel and 4
# vCPUs running an interactive busybox shell on the console (tests/linux/guest_io.sh run-shell):
# typed lines are answered, Ctrl-C interrupts the guest's command and not ember, `poweroff -f`
# ends ember with 0, and the terminal's settings are restored. Its kernel, initramfs and root
# file system come from linux_io's prepare step.
#
# ember-test: needs-kvm
[ "${1:-}" = prepare ] && exit 0
LINUX_IO_MODES=run-shell:console-shell.log GIO_NAME=linux_shell exec bash "$(dirname "$0")/linux_io.sh"
