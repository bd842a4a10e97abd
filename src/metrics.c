/* metrics.c: counter storage and the JSON-lines flush. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
/* The registered per-device groups, in registration order. */
static pthread_mutex_t mdev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_dev *mdev_head;

int metric_dev_register(struct metric_dev *d, const char *prefix, const char *id,
			enum metric_id first, enum metric_id last)
{
	struct metric_dev **p;
	int r;

	memset(d, 0, sizeof(*d));
	if (last < first || (unsigned)(last - first) >= MDEV_MAX_COUNTERS)
		return -EINVAL;
	r = snprintf(d->group, sizeof(d->group), "%s_%s", prefix, id);
	if (r < 0 || (size_t)r >= sizeof(d->group))
		return -EINVAL;
	d->first = first;
	d->n = (unsigned)(last - first) + 1;
	pthread_mutex_lock(&mdev_lock);
	for (p = &mdev_head; *p; p = &(*p)->next)
		;
	*p = d;
	pthread_mutex_unlock(&mdev_lock);
	return 0;
}

void metric_dev_unregister(struct metric_dev *d)
{
	struct metric_dev **p;

	pthread_mutex_lock(&mdev_lock);
	for (p = &mdev_head; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&mdev_lock);
	d->n = 0;
	d->next = NULL;
}

/* Append the per-device groups (each closes the group before it); lock held. */
static int mdev_format(char *out, size_t cap, size_t n)
{
	for (struct metric_dev *d = mdev_head; d; d = d->next) {
		uint64_t *snap = d->snap;
		int r = snprintf(out + n, cap - n, "},\"%s\":{", d->group);

		if (r < 0 || (size_t)r >= cap - n)
			return -ENOSPC;
		n += (size_t)r;
		for (unsigned i = 0; i < d->n; i++) {
			snap[i] = __atomic_load_n(&d->total[i], __ATOMIC_RELAXED);
			r = snprintf(out + n, cap - n, "%s\"%s\":%llu", i ? "," : "",
				     metric_defs[d->first + i].name,
				     (unsigned long long)(snap[i] - d->flushed[i]));
			if (r < 0 || (size_t)r >= cap - n)
				return -ENOSPC;
			n += (size_t)r;
		}
	}
	return (int)n;
}

/* The line is complete: what it holds is the new baseline. Lock held. */
static void mdev_commit(void)
{
	for (struct metric_dev *d = mdev_head; d; d = d->next)
		memcpy(d->flushed, d->snap, d->n * sizeof(d->snap[0]));
}

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
	pthread_mutex_lock(&mdev_lock);
	r = mdev_format(out, cap, n);
	if (r >= 0) {
		n = (size_t)r;
		r = snprintf(out + n, cap - n, "}}");
		r = r < 0 || (size_t)r >= cap - n ? -ENOSPC : r;
	}
	if (r >= 0 && commit)
		mdev_commit();
	pthread_mutex_unlock(&mdev_lock);
	if (r < 0)
		return r;
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
	/* The aggregate groups (~5 KiB) and up to 16 drives and 8 interfaces of their own. */
	char line[65536];
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
