/* seccomp_filters.h: per-thread-kind system call allowlists (libseccomp). */
#ifndef EMBER_SECCOMP_FILTERS_H
#define EMBER_SECCOMP_FILTERS_H

#include <stddef.h>

#include "err.h"

enum seccomp_kind {
	SECCOMP_VMM = 0,    /* the event-loop thread, once the VM is built */
	SECCOMP_API,        /* the API thread, before it serves */
	SECCOMP_VCPU,       /* each vCPU thread, before its first KVM_RUN */
	SECCOMP_KINDS,
};

/*
 * seccomp_setup: choose the policy before any thread installs one: the
 * built-in allowlists, none (@disabled, --no-seccomp), or a Firecracker-format
 * JSON file (@json_path, --seccomp-filter) compiled now. Also installs the
 * SIGSYS handler that reports a violation and exits with code 148.
 * Returns 0 or -errno with @e set. Main thread, at start.
 */
int seccomp_setup(int disabled, const char *json_path, struct err *e);

/*
 * seccomp_install: load the filter of @kind on the calling thread (only).
 * 0, or -errno (the caller must not go on handling untrusted input).
 */
int seccomp_install(enum seccomp_kind kind);

/* seccomp_rule_count: rules in the built-in list of @kind (for docs and tests). */
int seccomp_rule_count(enum seccomp_kind kind);

/* seccomp_kind_name: "vmm", "api", "vcpu". */
const char *seccomp_kind_name(enum seccomp_kind kind);

#endif
