/* test_metrics.c: the metrics line: aggregate groups, per-device groups beside them
 * (Firecracker's "block_<drive_id>", "net_<iface_id>"), deltas between flushes. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "metrics.h"

static char line[65536];

/* The value of "name" inside group "group" of the line, or -1. */
static long long field(const char *group, const char *name)
{
	char key[128];
	const char *g, *end, *p;

	snprintf(key, sizeof(key), "\"%s\":{", group);
	g = strstr(line, key);
	if (!g)
		return -1;
	g += strlen(key);
	end = strchr(g, '}');
	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(g, key);
	if (!p || p > end)
		return -1;
	return strtoll(p + strlen(key), NULL, 10);
}

static void test_device_groups(void)
{
	struct metric_dev a, b;
	int n;

	CHECK_EQ_I(metric_dev_register(&a, "block", "rootfs", M_block_activate_fails,
				       M_block_write_count), 0);
	CHECK_EQ_I(metric_dev_register(&b, "block", "scratch", M_block_activate_fails,
				       M_block_write_count), 0);
	n = metrics_format(line, sizeof(line), 1, 1);   /* baseline */
	CHECK(n > 0);
	mdev_add(&a, M_block_read_bytes, 4096);
	mdev_inc(&a, M_block_read_count);
	mdev_add(&b, M_block_read_bytes, 512);
	mdev_inc(&b, M_block_write_count);
	n = metrics_format(line, sizeof(line), 2, 1);
	CHECK(n > 0 && (size_t)n == strlen(line));
	CHECK_EQ_I(field("block", "read_bytes"), 4608);      /* the aggregate: both */
	CHECK_EQ_I(field("block_rootfs", "read_bytes"), 4096);
	CHECK_EQ_I(field("block_rootfs", "read_count"), 1);
	CHECK_EQ_I(field("block_scratch", "read_bytes"), 512);
	CHECK_EQ_I(field("block_scratch", "write_count"), 1);
	CHECK_EQ_I(field("block_rootfs", "activate_fails"), 0);   /* every counter of the group */
	CHECK(strstr(line, "\"block_rootfs\":{") < strstr(line, "\"block_scratch\":{"));
	CHECK(line[n - 1] == '}' && line[n - 2] == '}');
	/* deltas: nothing since the last flush */
	n = metrics_format(line, sizeof(line), 3, 1);
	CHECK_EQ_I(field("block_rootfs", "read_bytes"), 0);
	/* gone with its device; a counter outside the group counts only in the aggregate */
	metric_dev_unregister(&a);
	mdev_inc(&a, M_block_read_count);
	mdev_inc(&b, M_net_tx_count);
	n = metrics_format(line, sizeof(line), 4, 1);
	CHECK(strstr(line, "block_rootfs") == NULL);
	CHECK_EQ_I(field("block", "read_count"), 1);
	CHECK_EQ_I(field("net", "tx_count"), 1);
	CHECK(strstr(line, "\"block_scratch\":{") != NULL);
	metric_dev_unregister(&b);
	metric_dev_unregister(&b);      /* twice: harmless */
	n = metrics_format(line, sizeof(line), 5, 1);
	CHECK(strstr(line, "block_scratch") == NULL);
}

static void test_register_refusals(void)
{
	struct metric_dev d;
	char id[100];

	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	CHECK(metric_dev_register(&d, "block", id, M_block_activate_fails, M_block_write_count) < 0);
	CHECK(metric_dev_register(&d, "x", "y", M_block_write_count, M_block_activate_fails) < 0);
	CHECK(metric_dev_register(&d, "x", "y", 0, M_COUNT - 1) < 0);
	metric_dev_unregister(&d);
}

/* A line too small for the groups fails whole and moves no baseline. */
static void test_too_small(void)
{
	struct metric_dev a;
	static char small[65536];
	int full;

	CHECK_EQ_I(metric_dev_register(&a, "net", "eth0", M_net_activate_fails,
				       M_net_tx_remaining_reqs_count), 0);
	metrics_format(line, sizeof(line), 1, 1);
	mdev_add(&a, M_net_tx_bytes_count, 100);
	full = metrics_format(line, sizeof(line), 2, 0);   /* its length, nothing committed */
	CHECK(full > 100);
	/* room for all but the device group's last bytes: the failure is in that group */
	CHECK_EQ_I(metrics_format(small, (size_t)full - 5, 2, 1), -ENOSPC);
	CHECK_EQ_I(metrics_format(small, 256, 2, 1), -ENOSPC);
	CHECK(metrics_format(line, sizeof(line), 3, 1) > 0);
	CHECK_EQ_I(field("net_eth0", "tx_bytes_count"), 100);
	metric_dev_unregister(&a);
}

int main(void)
{
	RUN(test_device_groups);
	RUN(test_register_refusals);
	RUN(test_too_small);
	return check_summary();
}
