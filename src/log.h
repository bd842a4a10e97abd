/* log.h: ember's logger, in Firecracker's line format. */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdint.h>

#include "log_level.h"

struct logger_cfg;

/*
 * A line: "<YYYY-MM-DDTHH:MM:SS.nnnnnnnnn> [<id>:<thread>[:<LEVEL>][:<file>:<line>]] <msg>".
 * Lines go to stdout until log_open() names a file or FIFO, which is opened
 * non-blocking: when it is full (a FIFO nobody reads), lines are dropped and
 * counted, and no thread ever blocks on logging.
 */

/*
 * log_open_sink: open @path for non-blocking appends of whole lines. A FIFO
 * is opened read-write, so it opens without a reader and a full one drops
 * lines (EAGAIN) instead of blocking; a regular file is created 0600.
 * Returns the fd or -errno. Shared by the logger and the metrics.
 */
int log_open_sink(const char *path);

/* log_init: set the instance id shown in every line (main thread, at start). */
void log_init(const char *instance_id);

/* log_set_thread_name: name shown for the calling thread ("main", "fc_vcpu 0"). */
void log_set_thread_name(const char *name);

/* log_configure: apply a logger section; returns 0 or -errno (file not opened). */
int log_configure(const struct logger_cfg *cfg);

/* log_set_level: change the threshold only. */
/*
 * log_set_stdout: @fd is a non-blocking descriptor of stdout: lines meant for
 * stdout go there, and one that does not fit is counted lost, never waited for.
 */
void log_set_stdout(int fd);

void log_set_level(enum log_level level);

/* log_enabled: 1 if a message at @level would be written. */
int log_enabled(enum log_level level);

/* log_msg: format and write one line. Any thread; never blocks. */
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* log_lost_lines: lines dropped because the destination was full (since start). */
uint64_t log_lost_lines(void);

/* log_written_lines: lines written (since start). */
uint64_t log_written_lines(void);

/* log_parse_level: "Error", "Warning", "Info", ... (case-insensitive) -> level; -1 if unknown. */
int log_parse_level(const char *s);

#define LOG_ERROR(...) log_msg(LOG_LEVEL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_WARN(...)  log_msg(LOG_LEVEL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_INFO(...)  log_msg(LOG_LEVEL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define LOG_DEBUG(...) log_msg(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/*
 * LOG_RATELIMITED: log at most once per second per call site (guest-triggered
 * events must not flood the log).
 */
#define LOG_RATELIMITED(level, ...)                                            \
	do {                                                                   \
		static uint64_t log_rl_last_;                                  \
		if (log_ratelimit_ok(&log_rl_last_))                           \
			log_msg(level, __FILE__, __LINE__, __VA_ARGS__);       \
	} while (0)

/* log_ratelimit_ok: 1 if at least a second passed since *last (then updates it). */
int log_ratelimit_ok(uint64_t *last);

#endif
