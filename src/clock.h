/* clock.h: ember's clocks in microseconds: monotonic time and the process's CPU time. */
#ifndef EMBER_CLOCK_H
#define EMBER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* clock_now_us: CLOCK_MONOTONIC, for intervals (boot time, API latencies). Any thread. */
static inline uint64_t clock_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

/* clock_cpu_us: CPU time the whole process used. Any thread. */
static inline uint64_t clock_cpu_us(void)
{
	return clock_us(CLOCK_PROCESS_CPUTIME_ID);
}

#endif
