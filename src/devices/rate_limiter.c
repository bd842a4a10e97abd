/* rate_limiter.c: token buckets with Firecracker's semantics (see rate_limiter.h). */
#include "devices/rate_limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#define NS_PER_MS 1000000ull

typedef unsigned __int128 u128;

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c, int round_up)
{
	u128 p = (u128)a * b;
	u128 q = p / c;

	if (round_up && p % c)
		q++;
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

void tb_init(struct token_bucket *b, const struct token_bucket_cfg *c, uint64_t now_ns)
{
	uint64_t g;

	memset(b, 0, sizeof(*b));
	if (!c->present || !c->size || !c->refill_time_ms)
		return;
	b->size = c->size;
	b->refill_ns = mul_div(c->refill_time_ms, NS_PER_MS, 1, 0);
	b->one_time_burst = c->one_time_burst;
	b->budget = b->size;
	b->last_ns = now_ns;
	g = gcd64(b->size, b->refill_ns);
	b->unit_tokens = b->size / g;
	b->unit_ns = b->refill_ns / g;
}

/* Bring budget up to date: the tokens refilled since last_ns, keeping the part of the
 * elapsed time that has not yet made a whole token. */
static void tb_replenish(struct token_bucket *b, uint64_t now_ns)
{
	uint64_t delta, tokens;

	if (now_ns <= b->last_ns)
		return;
	delta = now_ns - b->last_ns;
	if (delta >= b->refill_ns) {
		b->budget = b->size;
		b->last_ns = now_ns;
		return;
	}
	tokens = mul_div(delta, b->unit_tokens, b->unit_ns, 0);
	if (!tokens)
		return;
	b->last_ns += mul_div(tokens, b->unit_ns, b->unit_tokens, 0);
	b->budget = tokens >= b->size - b->budget ? b->size : b->budget + tokens;
}

/* Empty the bucket and spend in advance what it refills in the next @ns: the time a request
 * larger than what was there blocks the limiter pays for its excess, and only once. */
static void tb_owe(struct token_bucket *b, uint64_t ns, uint64_t now_ns)
{
	b->budget = 0;
	b->last_ns = ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + ns;
}

enum tb_result tb_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now_ns,
			 uint64_t *over_ns)
{
	/* The one-time burst first; what it cannot cover comes from the bucket. */
	uint64_t rest = tokens - (b->one_time_burst < tokens ? b->one_time_burst : tokens);

	if (!rest) {
		b->one_time_burst -= tokens;
		b->last_ns = now_ns;   /* the bucket stays full while the burst lasts */
		return TB_OK;
	}
	/* Brought up to date every time (Firecracker only when short, which loses what was
	 * taken from a bucket since its last refill once a long pause refills it). */
	tb_replenish(b, now_ns);
	if (rest > b->size) {
		b->one_time_burst = 0;
		*over_ns = mul_div(rest - b->budget, b->refill_ns, b->size, 1);
		tb_owe(b, *over_ns, now_ns);
		return TB_OVER;
	}
	if (rest > b->budget)
		return TB_EMPTY;   /* nothing taken, the burst included */
	b->one_time_burst = 0;
	b->budget -= rest;
	return TB_OK;
}

void tb_give_back(struct token_bucket *b, uint64_t tokens)
{
	b->budget = tokens >= b->size - b->budget ? b->size : b->budget + tokens;
}

uint64_t tb_time_to(struct token_bucket *b, uint64_t tokens, uint64_t now_ns)
{
	uint64_t need, at;

	if (!tb_active(b))
		return 0;
	tb_replenish(b, now_ns);
	if (tokens > b->size)
		tokens = b->size;
	if (b->one_time_burst >= tokens || b->budget + b->one_time_burst >= tokens)
		return 0;
	need = tokens - b->budget - b->one_time_burst;
	at = b->last_ns + mul_div(need, b->unit_ns, b->unit_tokens, 1);
	if (at <= now_ns)
		return 0;
	return at - now_ns < b->refill_ns ? at - now_ns : b->refill_ns;
}

void rl_init(struct rate_limiter *rl, const struct rate_limiter_cfg *c, uint64_t now_ns)
{
	memset(rl, 0, sizeof(*rl));
	tb_init(&rl->bw, &c->bandwidth, now_ns);
	tb_init(&rl->ops, &c->ops, now_ns);
}

void rl_update(struct rate_limiter *rl, const struct rate_limiter_cfg *c, uint64_t now_ns)
{
	if (c->bandwidth.present)
		tb_init(&rl->bw, &c->bandwidth, now_ns);
	if (c->ops.present)
		tb_init(&rl->ops, &c->ops, now_ns);
	rl->blocked_until_ns = 0;
}

bool rl_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t over = 0, o = 0;
	enum tb_result r = TB_OK;

	if (rl->blocked_until_ns) {
		if (now_ns < rl->blocked_until_ns) {
			rl->throttled++;
			return false;
		}
		rl->blocked_until_ns = 0;
	}
	if (tb_active(&rl->ops)) {
		r = tb_reduce(&rl->ops, 1, now_ns, &o);
		if (r == TB_EMPTY) {
			rl->throttled++;
			return false;
		}
		if (r == TB_OVER)
			over = o;
	}
	if (tb_active(&rl->bw)) {
		enum tb_result rb = tb_reduce(&rl->bw, bytes, now_ns, &o);

		if (rb == TB_EMPTY) {
			if (tb_active(&rl->ops) && r == TB_OK)
				tb_give_back(&rl->ops, 1);
			rl->throttled++;
			return false;
		}
		if (rb == TB_OVER && o > over)
			over = o;
	}
	if (over)
		rl->blocked_until_ns = now_ns + over;
	return true;
}

uint64_t rl_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t w = 0, t;

	if (rl->blocked_until_ns > now_ns)
		w = rl->blocked_until_ns - now_ns;
	t = tb_time_to(&rl->ops, 1, now_ns);
	if (t > w)
		w = t;
	t = tb_time_to(&rl->bw, bytes, now_ns);
	if (t > w)
		w = t;
	return w < NS_PER_MS ? NS_PER_MS : w;
}

static bool tb_ready(struct token_bucket *b, uint64_t now_ns)
{
	if (!tb_active(b) || b->one_time_burst)
		return true;
	tb_replenish(b, now_ns);
	return b->budget > 0;
}

/* Take @tokens, going without what the bucket lacks; returns the time the lack takes to refill. */
static uint64_t tb_charge(struct token_bucket *b, uint64_t tokens, uint64_t now_ns)
{
	uint64_t over = 0;

	if (!tb_active(b))
		return 0;
	switch (tb_reduce(b, tokens, now_ns, &over)) {
	case TB_OK:
		return 0;
	case TB_OVER:
		return over;
	case TB_EMPTY:
		break;
	}
	/* tb_reduce took nothing: take the burst and the bucket, and owe the rest. */
	tokens -= b->one_time_burst;
	b->one_time_burst = 0;
	over = mul_div(tokens - b->budget, b->refill_ns, b->size, 1);
	tb_owe(b, over, now_ns);
	return over;
}

bool rl_ready(struct rate_limiter *rl, uint64_t now_ns)
{
	if (rl->blocked_until_ns && now_ns < rl->blocked_until_ns)
		return false;
	rl->blocked_until_ns = 0;
	return tb_ready(&rl->ops, now_ns) && tb_ready(&rl->bw, now_ns);
}

void rl_charge(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t a = tb_charge(&rl->ops, 1, now_ns), b = tb_charge(&rl->bw, bytes, now_ns);
	uint64_t w = a > b ? a : b;

	if (w)
		rl->blocked_until_ns = now_ns + w;
}

uint64_t rl_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rl_timer_arm(int timer_fd, uint64_t ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	return timerfd_settime(timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}
