/* probe.h: the probe dispatcher and the result type every check fills in. */
#ifndef GUEST_PROBE_H
#define GUEST_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct boot_info;

/*
 * One check's outcome: failed once any probe_fail() was called; detail is
 * the space-separated text printed after PASS/FAIL.
 */
struct probe_result {
	bool failed;
	size_t len;
	char detail[320];
};

/* Append a detail word (printf-style) to r. */
void probe_note(struct probe_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Mark r failed and append the reason (printf-style). */
void probe_fail(struct probe_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Run every check named in probe=<a>,<b>,... on the command line in order,
 * printing "PROBE <name> PASS|FAIL <detail>" per check and then
 * "PROBE DONE pass=<n> fail=<m>".
 */
void probe_run_all(struct boot_info *bi);

/* The checks, each in its own module. */
void bootinfo_probe(struct boot_info *bi, struct probe_result *r);
void e820_probe(struct boot_info *bi, struct probe_result *r);
void cmdline_probe(struct boot_info *bi, struct probe_result *r);
void initrd_probe(struct boot_info *bi, struct probe_result *r);
void uart_probe(struct boot_info *bi, struct probe_result *r);
void smp_probe(struct boot_info *bi, struct probe_result *r);
void idle_probe(struct boot_info *bi, struct probe_result *r);
void idt_probe(struct boot_info *bi, struct probe_result *r);
void blk_probe(struct boot_info *bi, struct probe_result *r);
void blk_evil_probe(struct boot_info *bi, struct probe_result *r);
void net_probe(struct boot_info *bi, struct probe_result *r);
void net_evil_probe(struct boot_info *bi, struct probe_result *r);
void vsock_listen_probe(struct boot_info *bi, struct probe_result *r);
void vsock_connect_probe(struct boot_info *bi, struct probe_result *r);
void vsock_multi_probe(struct boot_info *bi, struct probe_result *r);
void vsock_evil_probe(struct boot_info *bi, struct probe_result *r);
void blk_bench_probe(struct boot_info *bi, struct probe_result *r);

#endif
