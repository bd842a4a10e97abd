/* probe.c: runs the checks named by probe=<a>,<b>,... and prints one PROBE line per check. */
#include "probe.h"
#include "bootinfo.h"
#include "cmdline.h"
#include "fmt.h"
#include "lib.h"

#include <stdarg.h>

typedef void (*probe_fn)(struct boot_info *bi, struct probe_result *r);

struct probe_def {
	const char *name;
	probe_fn fn;
};

/* Later checks (virtio net/vsock, ring-3 benchmarks) go here. */
static const struct probe_def probe_defs[] = {
	{ "boot", bootinfo_probe },
	{ "e820", e820_probe },
	{ "cmdline", cmdline_probe },
	{ "initrd", initrd_probe },
	{ "serial", uart_probe },
	{ "mptable", smp_probe },
	{ "idle", idle_probe },
	{ "fault", idt_probe },
	{ "blk", blk_probe },
	{ "blk-evil", blk_evil_probe },
	{ "net", net_probe },
	{ "net-evil", net_evil_probe },
	{ "vsock-listen", vsock_listen_probe },
	{ "vsock-connect", vsock_connect_probe },
	{ "vsock-multi", vsock_multi_probe },
	{ "vsock-evil", vsock_evil_probe },
	{ "blk-bench", blk_bench_probe },
};

static void probe_vappend(struct probe_result *r, const char *fmt, va_list ap)
{
	size_t room = sizeof(r->detail) - r->len;

	if (r->len && room > 1) {
		r->detail[r->len++] = ' ';
		room--;
	}
	if (room > 1) {
		size_t n = fmt_vsnprintf(r->detail + r->len, room, fmt, ap);

		r->len += n < room ? n : room - 1;
	}
}

void probe_note(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	probe_vappend(r, fmt, ap);
	va_end(ap);
}

void probe_fail(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	r->failed = true;
	va_start(ap, fmt);
	probe_vappend(r, fmt, ap);
	va_end(ap);
}

static const struct probe_def *probe_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(probe_defs) / sizeof(probe_defs[0]); i++)
		if (str_eq_n(name, len, probe_defs[i].name))
			return &probe_defs[i];
	return 0;
}

void probe_run_all(struct boot_info *bi)
{
	unsigned pass = 0, fail = 0;
	const char *list;
	size_t len, i = 0;

	if (!cmdline_get(bi->cmdline, "probe", &list, &len))
		len = 0;
	while (i < len) {
		size_t j = i;
		const struct probe_def *d;
		struct probe_result r;

		while (j < len && list[j] != ',')
			j++;
		if (j == i) {  /* empty item, e.g. "a,,b" */
			i = j + 1;
			continue;
		}
		memset(&r, 0, sizeof(r));
		d = probe_lookup(list + i, j - i);
		if (d)
			d->fn(bi, &r);
		else
			probe_fail(&r, "unknown-check");
		con_printf("PROBE %.*s %s %s\n", (int)(j - i), list + i, r.failed ? "FAIL" : "PASS",
			   r.detail);
		if (r.failed)
			fail++;
		else
			pass++;
		i = j + 1;
	}
	con_printf("PROBE DONE pass=%u fail=%u\n", pass, fail);
}
