/* metrics.c: counter storage and the JSON-lines flush. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct metric_def {
	const char *group;
	const char *name;
	int store;      /* written as is, not as a delta */
};

static const struct metric_def metric_defs[M_COUNT] = {
#define METRIC_DEF(g, n, s) { #g, #n, s },
	METRICS_LIST(METRIC_DEF)
#undef METRIC_DEF
};

static uint64_t metric_total[M_COUNT];
static uint64_t metric_flushed[M_COUNT];
static int metrics_fd = -1;

void metric_add(enum metric_id id, uint64_t n)
{
	__atomic_add_fetch(&metric_total[id], n, __ATOMIC_RELAXED);
}

void metric_set(enum metric_id id, uint64_t v)
{
	__atomic_store_n(&metric_total[id], v, __ATOMIC_RELAXED);
}

uint64_t metric_get(enum metric_id id)
{
	return __atomic_load_n(&metric_total[id], __ATOMIC_RELAXED);
}

int metrics_format(char *out, size_t cap, uint64_t utc_ms, int commit)
{
	uint64_t snap[M_COUNT];
	const char *group = NULL;
	size_t n = 0;
	int r;

	for (int i = 0; i < M_COUNT; i++)
		snap[i] = metric_get((enum metric_id)i);
	r = snprintf(out, cap, "{\"utc_timestamp_ms\":%llu", (unsigned long long)utc_ms);
	if (r < 0 || (size_t)r >= cap)
		return -ENOSPC;
	n = (size_t)r;
	for (int i = 0; i < M_COUNT; i++) {
		const struct metric_def *d = &metric_defs[i];
		uint64_t v = d->store ? snap[i] : snap[i] - metric_flushed[i];
		int first = !group || strcmp(group, d->group) != 0;

		if (first) {
			/* A new group closes the previous one. */
			r = snprintf(out + n, cap - n, "%s,\"%s\":{\"%s\":%llu", group ? "}" : "",
				     d->group, d->name, (unsigned long long)v);
			group = d->group;
		} else {
			r = snprintf(out + n, cap - n, ",\"%s\":%llu", d->name, (unsigned long long)v);
		}
		if (r < 0 || (size_t)r >= cap - n)
			return -ENOSPC;
		n += (size_t)r;
	}
	r = snprintf(out + n, cap - n, "}}");
	if (r < 0 || (size_t)r >= cap - n)
		return -ENOSPC;
	n += (size_t)r;
	if (commit)
		memcpy(metric_flushed, snap, sizeof(snap));
	return (int)n;
}

int metrics_open(const char *path)
{
	int fd = log_open_sink(path);

	if (fd < 0)
		return fd;
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = fd;
	return 0;
}

int metrics_is_open(void)
{
	return metrics_fd >= 0;
}

int metrics_flush(void)
{
	char line[8192];
	struct timespec ts;
	int n;

	if (metrics_fd < 0)
		return -ENOENT;
	/* The logger's own counters are read, not incremented, by the logger. */
	metric_set(M_logger_missed_log_count, log_lost_lines());
	clock_gettime(CLOCK_REALTIME, &ts);
	n = metrics_format(line, sizeof(line) - 1,
			   (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, 1);
	if (n < 0) {
		metric_inc(M_logger_metrics_fails);
		return -EIO;
	}
	line[n++] = '\n';
	if (write(metrics_fd, line, (size_t)n) != n) {
		metric_inc(M_logger_missed_metrics_count);
		return -EIO;
	}
	return 0;
}
