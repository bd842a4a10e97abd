/* log.c: Firecracker-format log lines to stdout or a non-blocking file/FIFO. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

static char log_id[65] = "anonymous-instance";
static int log_fd = STDOUT_FILENO;
static int log_stdout = STDOUT_FILENO;   /* ember's stdout, non-blocking (log_set_stdout) */
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_show_level;
static int log_show_origin;
static uint64_t log_lost;
static uint64_t log_written;
static __thread char log_thread[24] = "main";

void log_init(const char *instance_id)
{
	snprintf(log_id, sizeof(log_id), "%s", instance_id);
}

void log_set_thread_name(const char *name)
{
	snprintf(log_thread, sizeof(log_thread), "%s", name);
}

void log_set_stdout(int fd)
{
	if (fd >= 0 && log_fd == STDOUT_FILENO)
		log_fd = fd;
	log_stdout = fd >= 0 ? fd : STDOUT_FILENO;
}

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int log_enabled(enum log_level level)
{
	return level != LOG_LEVEL_OFF &&
	       level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_open_sink(const char *path)
{
	struct stat st;
	int fifo = stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
	/*
	 * O_NONBLOCK: a FIFO nobody reads must never stall a vCPU or the API.
	 * Opening it O_RDWR makes the open succeed without a reader; once its
	 * buffer is full, writes fail with EAGAIN and the line is counted lost.
	 */
	int fd = open(path, (fifo ? O_RDWR : O_WRONLY | O_APPEND | O_CREAT) | O_NONBLOCK | O_CLOEXEC,
		      0600);

	return fd < 0 ? -errno : fd;
}

int log_configure(const struct logger_cfg *cfg)
{
	if (cfg->log_path) {
		int fd = log_open_sink(cfg->log_path);

		if (fd < 0)
			return fd;
		if (log_fd != STDOUT_FILENO && log_fd != log_stdout)
			close(log_fd);
		log_fd = fd;
	}
	log_set_level(cfg->level);
	log_show_level = cfg->show_level;
	log_show_origin = cfg->show_log_origin;
	return 0;
}

int log_parse_level(const char *s)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "off", LOG_LEVEL_OFF },     { "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARN }, { "warn", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },   { "debug", LOG_LEVEL_DEBUG },
		{ "trace", LOG_LEVEL_TRACE },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return (int)names[i].level;
	return -1;
}

static const char *log_level_tag(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_ERROR: return "ERROR";
	case LOG_LEVEL_WARN: return "WARN";
	case LOG_LEVEL_INFO: return "INFO";
	case LOG_LEVEL_DEBUG: return "DEBUG";
	case LOG_LEVEL_TRACE: return "TRACE";
	default: return "OFF";
	}
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* By hand, not strftime(): that calls tzset(), which opens files under seccomp. */
	r = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec, log_id, log_thread);
	n = (size_t)r;
	if (log_show_level)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ":%s",
				      log_level_tag(level));
	if (log_show_origin) {
		const char *base = strrchr(file, '/');

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ":%s:%d",
				      base ? base + 1 : file, line);
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "] ");
	va_start(ap, fmt);
	r = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	n = (r < 0 || (size_t)r >= sizeof(buf) - n - 1) ? sizeof(buf) - 2 : n + (size_t)r;
	buf[n++] = '\n';
	/* One write per line keeps lines whole when threads interleave. */
	if (write(log_fd, buf, n) == (ssize_t)n)
		__atomic_add_fetch(&log_written, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&log_lost, 1, __ATOMIC_RELAXED);
}

uint64_t log_lost_lines(void)
{
	return __atomic_load_n(&log_lost, __ATOMIC_RELAXED);
}

uint64_t log_written_lines(void)
{
	return __atomic_load_n(&log_written, __ATOMIC_RELAXED);
}

int log_ratelimit_ok(uint64_t *last)
{
	struct timespec ts;
	uint64_t now, prev;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec;
	prev = __atomic_load_n(last, __ATOMIC_RELAXED);
	if (prev && now - prev < 1)
		return 0;
	return __atomic_compare_exchange_n(last, &prev, now ? now : 1, 0,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}
