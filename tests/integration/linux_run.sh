#!/usr/bin/env bash
# linux_run.sh: what `make run` boots, checked (tests/linux/guest_io.sh run-demo):
# config.example.json's Linux guest runs its function and powers off, ember exits 0; a function
# of our own (make run FUNC=...) gets its status reported and leaves the read-only root image
# unchanged. Its kernel, initramfs and images come from linux_io's prepare step.
#
# ember-test: needs-kvm
[ "${1:-}" = prepare ] && exit 0
LINUX_IO_MODES=run-demo:console-demo.log GIO_NAME=linux_run exec bash "$(dirname "$0")/linux_io.sh"
