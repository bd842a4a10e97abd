/* vsock_probe.h: helpers the vsock checks share (vsock_probe.c, vsock_evil.c). */
#ifndef GUEST_VSOCK_PROBE_H
#define GUEST_VSOCK_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "vsock.h"

struct probe_result;

/* vsock_timeout=<s> (default 120) in TSC ticks. */
uint64_t vsp_timeout(const char *cmd, struct probe_result *r);

/* Poll until the n connections are done, the device failed, or @ticks passed; true if all done. */
bool vsp_run(struct vs_dev *v, struct vs_conn **c, unsigned n, uint64_t ticks);

/* Print the VSOCK line of a connection, fail r unless it is clean; counts clean ones in *ok. */
void vsp_report(const char *check, struct vs_conn *c, struct probe_result *r, unsigned *ok);

#endif
