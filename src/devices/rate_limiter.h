/* rate_limiter.h: token buckets with Firecracker's semantics, for the block and net devices.
 *
 * A bucket holds up to `size` tokens and refills from empty to full in `refill_time` ms, at
 * an even rate; `one_time_burst` tokens more are spent first and never come back. A request
 * for more tokens than the bucket holds is let through at once: it empties the bucket and
 * blocks the limiter for the time its excess takes to refill (tokens refilled in that time
 * pay for the excess: unlike Firecracker, they are not credited again afterwards, so the
 * rate holds). A rate limiter pairs a bandwidth bucket (bytes) with an ops bucket (requests);
 * either may be absent (size or refill_time 0: unlimited).
 *
 * The buckets read no clock and arm no timer: callers pass the time (rl_clock_ns()) and,
 * when a request is refused, arm their own timerfd for rl_wait_ns() (rl_timer_arm()). So
 * every decision can be tested with made-up times.
 */
#ifndef EMBER_DEVICES_RATE_LIMITER_H
#define EMBER_DEVICES_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

struct token_bucket {
	/* configuration */
	uint64_t size;           /* tokens when full; 0: no bucket (unlimited) */
	uint64_t refill_ns;      /* empty to full */
	/* state */
	uint64_t one_time_burst; /* left of the one-time burst */
	uint64_t budget;         /* tokens in the bucket, <= size */
	uint64_t last_ns;        /* the time budget was last brought up to date */
	/* size and refill_ns divided by their greatest common divisor (keeps products small) */
	uint64_t unit_tokens, unit_ns;
};

enum tb_result {
	TB_OK,       /* the tokens were taken */
	TB_EMPTY,    /* not enough tokens: nothing taken, try again later */
	TB_OVER,     /* more than the bucket holds: taken, bucket emptied, see *over_ns */
};

/* Set @b up from @c at @now_ns, full (a bucket of size or refill_time 0 is unlimited). */
void tb_init(struct token_bucket *b, const struct token_bucket_cfg *c, uint64_t now_ns);
static inline bool tb_active(const struct token_bucket *b) { return b->size != 0; }
/* Take @tokens at @now_ns. TB_OVER sets *@over_ns to the time the excess takes to refill. */
enum tb_result tb_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now_ns,
			 uint64_t *over_ns);
/* Put back @tokens taken for a request that did not go ahead (never above size). */
void tb_give_back(struct token_bucket *b, uint64_t tokens);
/* Time from @now_ns until the bucket holds @tokens (0: it does now; capped at refill_ns). */
uint64_t tb_time_to(struct token_bucket *b, uint64_t tokens, uint64_t now_ns);

struct rate_limiter {
	struct token_bucket bw, ops;
	uint64_t blocked_until_ns;   /* 0: not blocked */
	uint64_t throttled;          /* requests refused (Firecracker's *_throttled metrics) */
};

void rl_init(struct rate_limiter *rl, const struct rate_limiter_cfg *c, uint64_t now_ns);
/* PATCH: replace the buckets @c names (present), keep the others and their state. */
void rl_update(struct rate_limiter *rl, const struct rate_limiter_cfg *c, uint64_t now_ns);
static inline bool rl_active(const struct rate_limiter *rl)
{
	return tb_active(&rl->bw) || tb_active(&rl->ops);
}
/* May a request of @bytes go ahead at @now_ns? Takes 1 op and @bytes if so; if not, takes
 * nothing, counts a throttle event and the caller retries after rl_wait_ns(). */
bool rl_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);
/* Time from @now_ns until a refused request is worth retrying (at least 1 ms). */
uint64_t rl_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/*
 * For traffic whose size is known only once it has been taken (a frame read from the tap
 * straight into the guest's buffers): rl_ready says whether one may be taken now (not
 * blocked, a token left in each bucket); rl_charge then takes 1 op and @bytes after the
 * fact, and what the buckets lack blocks the limiter for the time it takes to refill, so
 * the rate holds over time. When not ready, rl_wait_ns(rl, 1, now) says how long to wait.
 */
bool rl_ready(struct rate_limiter *rl, uint64_t now_ns);
void rl_charge(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/* The devices' side: the time to pass in (CLOCK_MONOTONIC, ns), and their timerfd armed to
 * fire once after @ns (0: disarmed). 0 or -errno. */
uint64_t rl_clock_ns(void);
int rl_timer_arm(int timer_fd, uint64_t ns);

#endif
