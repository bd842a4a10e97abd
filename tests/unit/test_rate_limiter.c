/* test_rate_limiter.c: the token bucket arithmetic and the rate limiter's decisions, with
 * made-up times (Firecracker's semantics: burst first, oversize requests let through and
 * paid for by blocking, nothing taken from a request that is refused). */
#include "check.h"
#include "devices/rate_limiter.h"

#define MS 1000000ull
#define S  1000000000ull
#define MIB (1ull << 20)

static struct token_bucket_cfg tbc(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
	struct token_bucket_cfg c = { .present = true, .size = size,
				      .one_time_burst = burst, .refill_time_ms = refill_ms };
	return c;
}

static void test_unset_is_unlimited(void)
{
	struct rate_limiter_cfg c = { 0 };
	struct rate_limiter rl;
	int i;

	rl_init(&rl, &c, 0);
	CHECK(!rl_active(&rl));
	for (i = 0; i < 1000; i++)
		CHECK(rl_consume(&rl, 1ull << 30, 0));
	c.bandwidth = tbc(0, 0, 1000);   /* size 0: unlimited, as Firecracker */
	c.ops = tbc(10, 0, 0);           /* refill_time 0: unlimited */
	rl_init(&rl, &c, 0);
	CHECK(!rl_active(&rl));
	CHECK_EQ_U(rl.throttled, 0);
}

static void test_bucket_refills_evenly(void)
{
	struct token_bucket b;
	struct token_bucket_cfg c = tbc(1000, 0, 1000);   /* 1000 tokens a second */
	uint64_t over = 0;

	tb_init(&b, &c, 5 * S);
	CHECK_EQ_U(tb_reduce(&b, 1000, 5 * S, &over), TB_OK);   /* starts full */
	CHECK_EQ_U(tb_reduce(&b, 1, 5 * S, &over), TB_EMPTY);
	CHECK_EQ_U(b.budget, 0);
	CHECK_EQ_U(tb_time_to(&b, 1, 5 * S), 1 * MS);
	CHECK_EQ_U(tb_time_to(&b, 250, 5 * S), 250 * MS);
	CHECK_EQ_U(tb_reduce(&b, 1, 5 * S + MS - 1, &over), TB_EMPTY);
	CHECK_EQ_U(tb_reduce(&b, 1, 5 * S + MS, &over), TB_OK);
	/* 1.5 ms later: one whole token, the half is kept for the next one */
	CHECK_EQ_U(tb_reduce(&b, 2, 5 * S + 2500000, &over), TB_EMPTY);
	CHECK_EQ_U(b.budget, 1);
	CHECK_EQ_U(tb_reduce(&b, 2, 5 * S + 3000000, &over), TB_OK);
	/* a long pause refills to size, never above */
	CHECK_EQ_U(tb_reduce(&b, 1001, 60 * S, &over), TB_OVER);
	CHECK_EQ_U(over, 1 * MS);
	CHECK_EQ_U(b.budget, 0);
}

static void test_burst_spent_first(void)
{
	struct token_bucket b;
	struct token_bucket_cfg c = tbc(100, 50, 1000);
	uint64_t over = 0;

	tb_init(&b, &c, 0);
	CHECK_EQ_U(tb_reduce(&b, 30, 0, &over), TB_OK);
	CHECK_EQ_U(b.one_time_burst, 20);
	CHECK_EQ_U(b.budget, 100);
	CHECK_EQ_U(tb_reduce(&b, 50, 0, &over), TB_OK);   /* 20 from the burst, 30 from budget */
	CHECK_EQ_U(b.one_time_burst, 0);
	CHECK_EQ_U(b.budget, 70);
	CHECK_EQ_U(tb_time_to(&b, 70, 0), 0);
	CHECK_EQ_U(tb_time_to(&b, 71, 0), 10 * MS);
	/* the burst never comes back */
	CHECK_EQ_U(tb_reduce(&b, 1, 100 * S, &over), TB_OK);
	CHECK_EQ_U(b.one_time_burst, 0);
	CHECK_EQ_U(b.budget, 99);
}

static void test_oversize_goes_through_and_blocks(void)
{
	struct rate_limiter_cfg c = { .bandwidth = tbc(100, 0, 100) };   /* 1000 tokens a second */
	struct rate_limiter rl;

	rl_init(&rl, &c, 0);
	CHECK(rl_consume(&rl, 350, 0));          /* 100 in the bucket, 250 over: 250 ms */
	CHECK_EQ_U(rl.blocked_until_ns, 250 * MS);
	CHECK(!rl_consume(&rl, 1, 100 * MS));
	CHECK_EQ_U(rl_wait_ns(&rl, 1, 100 * MS), 150 * MS);
	/* the 250 ms refilled the excess and nothing more: the next token comes 1 ms later */
	CHECK(!rl_consume(&rl, 1, 250 * MS));
	CHECK_EQ_U(rl_wait_ns(&rl, 1, 250 * MS), 1 * MS);
	CHECK(rl_consume(&rl, 1, 251 * MS));
	CHECK_EQ_U(rl.throttled, 2);
}

static void test_refused_request_takes_nothing(void)
{
	struct rate_limiter_cfg c = { .bandwidth = tbc(4096, 0, 1000), .ops = tbc(2, 0, 1000) };
	struct rate_limiter rl;

	rl_init(&rl, &c, 0);
	CHECK(rl_consume(&rl, 4000, 0));
	CHECK(!rl_consume(&rl, 200, 0));         /* bytes short: the op is given back */
	CHECK_EQ_U(rl.ops.budget, 1);
	CHECK_EQ_U(rl.bw.budget, 96);
	CHECK(rl_consume(&rl, 96, 0));           /* the op it kept pays for this one */
	CHECK_EQ_U(rl.ops.budget, 0);
	CHECK(!rl_consume(&rl, 0, 0));           /* ops short: no bytes taken */
	CHECK_EQ_U(rl.bw.budget, 0);
	CHECK_EQ_U(rl.throttled, 2);
	/* one op refills every 500 ms, 200 bytes after 48828125 ns */
	CHECK_EQ_U(rl_wait_ns(&rl, 200, 0), 500 * MS);
	CHECK(rl_consume(&rl, 200, 500 * MS));
}

/* A drive limited to 4 MiB/s reading 32 MiB in 128 KiB requests: the first 4 MiB come from
 * the full bucket, the other 28 MiB at 4 MiB/s, so the reads take 7 s of (made-up) time. */
static void test_rate_over_time(void)
{
	struct rate_limiter_cfg c = { .bandwidth = tbc(4 * MIB, 0, 1000) };
	struct rate_limiter rl;
	uint64_t now = 1 * S, done = 0, refused = 0;

	rl_init(&rl, &c, now);
	while (done < 32 * MIB) {
		if (rl_consume(&rl, 128 * 1024, now)) {
			done += 128 * 1024;
			continue;
		}
		refused++;
		now += rl_wait_ns(&rl, 128 * 1024, now);
	}
	CHECK(now - 1 * S >= 7 * S - 1 * MS);
	CHECK(now - 1 * S <= 7 * S + 1 * MS);
	CHECK_EQ_U(refused, 28 * MIB / (128 * 1024));   /* one wait per request past the first 4 MiB */
	CHECK_EQ_U(rl.throttled, refused);
}

static void test_patch_replaces_named_buckets(void)
{
	struct rate_limiter_cfg c = { .bandwidth = tbc(1000, 0, 1000), .ops = tbc(10, 0, 1000) };
	struct rate_limiter_cfg p = { .bandwidth = tbc(1000000, 0, 1000) };
	struct rate_limiter rl;

	rl_init(&rl, &c, 0);
	CHECK(rl_consume(&rl, 1000, 0));
	CHECK(!rl_consume(&rl, 1000, 0));
	rl_update(&rl, &p, 0);                   /* a higher rate, a full new bucket */
	CHECK_EQ_U(rl.bw.size, 1000000);
	CHECK_EQ_U(rl.ops.budget, 9);            /* ops not named: kept with its state */
	CHECK(rl_consume(&rl, 500000, 0));
	p.bandwidth = tbc(0, 0, 0);              /* size 0: bandwidth unlimited from now on */
	rl_update(&rl, &p, 0);
	CHECK(!tb_active(&rl.bw));
	CHECK(rl_active(&rl));
	CHECK(rl_consume(&rl, 1ull << 40, 0));
}

static void test_large_values_do_not_overflow(void)
{
	struct token_bucket b;
	struct token_bucket_cfg c = tbc(1ull << 50, 0, 3600ull * 1000 * 24);   /* a day */
	uint64_t over = 0, half = 12ull * 3600 * S;

	tb_init(&b, &c, 0);
	CHECK_EQ_U(tb_reduce(&b, 1ull << 50, 0, &over), TB_OK);
	CHECK_EQ_U(tb_reduce(&b, 1ull << 49, half - 1, &over), TB_EMPTY);
	CHECK_EQ_U(tb_reduce(&b, 1ull << 49, half, &over), TB_OK);
	CHECK_EQ_U(tb_reduce(&b, UINT64_MAX, 2 * half, &over), TB_OVER);
	CHECK(over > 24ull * 3600 * S);
	CHECK_EQ_U(tb_reduce(&b, 1, 2 * half + S, &over), TB_EMPTY);   /* owed for years, not wrapped */
}

static void test_refused_keeps_burst(void)
{
	struct token_bucket b;
	struct token_bucket_cfg c = tbc(100, 30, 1000);
	uint64_t over = 0;

	tb_init(&b, &c, 0);
	CHECK_EQ_U(tb_reduce(&b, 90, 0, &over), TB_OK);   /* 30 burst + 60 budget */
	CHECK_EQ_U(tb_reduce(&b, 50, 0, &over), TB_EMPTY);
	CHECK_EQ_U(b.budget, 40);
	c = tbc(100, 30, 1000);
	tb_init(&b, &c, 0);
	b.budget = 10;
	CHECK_EQ_U(tb_reduce(&b, 50, 0, &over), TB_EMPTY);   /* 30 + 10 < 50: nothing taken */
	CHECK_EQ_U(b.one_time_burst, 30);
	CHECK_EQ_U(b.budget, 10);
	CHECK_EQ_U(tb_time_to(&b, 50, 0), 100 * MS);          /* 10 more at 100 a second */
}

/* Frames read before they are charged: the limiter lets the first through, then owes. */
static void test_charge_after_the_fact(void)
{
	struct rate_limiter_cfg c = { .bandwidth = tbc(1000, 0, 1000) };
	struct rate_limiter rl;
	uint64_t now = 0, moved = 0;

	rl_init(&rl, &c, 0);
	CHECK(rl_ready(&rl, 0));
	rl_charge(&rl, 1500, 0);                 /* 1000 in the bucket, 500 owed: 500 ms */
	CHECK_EQ_U(rl.blocked_until_ns, 500 * MS);
	CHECK(!rl_ready(&rl, 499 * MS));
	CHECK_EQ_U(rl_wait_ns(&rl, 1, 499 * MS), 2 * MS);   /* the owed 500 ms, then a token */
	CHECK(rl_ready(&rl, 501 * MS));
	/* 10 s of 1500-byte frames as fast as allowed: about 1000 bytes a second */
	rl_init(&rl, &c, 0);
	while (now < 10 * S) {
		if (rl_ready(&rl, now)) {
			rl_charge(&rl, 1500, now);
			moved += 1500;
		} else {
			now += rl_wait_ns(&rl, 1, now);
		}
	}
	CHECK(moved >= 10000 && moved <= 12500);
}

int main(void)
{
	RUN(test_unset_is_unlimited);
	RUN(test_bucket_refills_evenly);
	RUN(test_burst_spent_first);
	RUN(test_oversize_goes_through_and_blocks);
	RUN(test_refused_request_takes_nothing);
	RUN(test_rate_over_time);
	RUN(test_patch_replaces_named_buckets);
	RUN(test_large_values_do_not_overflow);
	RUN(test_refused_keeps_burst);
	RUN(test_charge_after_the_fact);
	return check_summary();
}
