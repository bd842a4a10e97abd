/* seccomp_json.h: compile a Firecracker-format JSON seccomp policy with libseccomp. */
#ifndef EMBER_SECCOMP_JSON_H
#define EMBER_SECCOMP_JSON_H

#include <seccomp.h>
#include <stddef.h>

#include "seccomp_filters.h"

/*
 * seccomp_json_parse: compile the policy in @json (@len bytes):
 *   {"vmm"|"api"|"vcpu": {"default_action": A, "filter_action": A,
 *     "filter": [{"syscall": "name", "args": [{"index": 0..5, "type":
 *     "dword"|"qword", "op": "eq"|"ne"|"lt"|"le"|"gt"|"ge"|{"masked_eq": M},
 *     "val": N, "comment": "..."}], "comment": "..."}]}}
 * with A one of "allow", "trap", "kill_thread", "kill_process", "log",
 * {"errno": N}, {"trace": N}. All three thread kinds are required. Fills
 * out[] (release with seccomp_release) and returns 0, or -EINVAL with @err.
 */
int seccomp_json_parse(const char *json, size_t len, scmp_filter_ctx out[SECCOMP_KINDS],
		       struct err *err);

/* seccomp_json_load: read @path (at most 1 MiB) and seccomp_json_parse() it. */
int seccomp_json_load(const char *path, scmp_filter_ctx out[SECCOMP_KINDS], struct err *e);

#endif
