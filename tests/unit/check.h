/* check.h: the minimal unit-test harness shared by ember's tests/unit programs. */
#ifndef EMBER_TESTS_CHECK_H
#define EMBER_TESTS_CHECK_H

/*
 * Every test program prints one line per test case, which tests/run.sh counts:
 *   PASS <name>
 *   FAIL <name>: <file>:<line>: <what failed>
 *   SKIP <name>: <why>
 * and exits non-zero if any case failed.
 *
 * Usage:
 *   static void test_foo(void) { CHECK(1 + 1 == 2); CHECK_EQ_U(x, 3); }
 *   int main(void) { RUN(test_foo); return check_summary(); }
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Little-endian fields of tables the tests read back (x86 is little-endian). */
static inline uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int check_failed_cases;
static int check_case_failed;
static const char *check_case_name;

#define CHECK_FAIL_(...)                                                       \
	do {                                                                   \
		if (!check_case_failed) {                                      \
			printf("FAIL %s: %s:%d: ", check_case_name, __FILE__,  \
			       __LINE__);                                      \
			printf(__VA_ARGS__);                                   \
			printf("\n");                                          \
		}                                                              \
		check_case_failed = 1;                                         \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			CHECK_FAIL_("%s", #cond);                              \
	} while (0)

#define CHECK_EQ_U(a, b)                                                       \
	do {                                                                   \
		unsigned long long ca_ = (unsigned long long)(a);              \
		unsigned long long cb_ = (unsigned long long)(b);              \
		if (ca_ != cb_)                                                \
			CHECK_FAIL_("%s == %s (0x%llx != 0x%llx)", #a, #b, ca_,  \
				    cb_);                                      \
	} while (0)

#define CHECK_EQ_I(a, b)                                                       \
	do {                                                                   \
		long long ca_ = (long long)(a);                                \
		long long cb_ = (long long)(b);                                \
		if (ca_ != cb_)                                                \
			CHECK_FAIL_("%s == %s (%lld != %lld)", #a, #b, ca_,    \
				    cb_);                                      \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *ca_ = (a), *cb_ = (b);                             \
		if (!ca_ || !cb_ || strcmp(ca_, cb_) != 0)                     \
			CHECK_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b,     \
				    ca_ ? ca_ : "(null)",                      \
				    cb_ ? cb_ : "(null)");                     \
	} while (0)

#define RUN(fn)                                                                \
	do {                                                                   \
		check_case_name = #fn;                                         \
		check_case_failed = 0;                                         \
		fn();                                                          \
		if (check_case_failed)                                         \
			check_failed_cases++;                                  \
		else                                                           \
			printf("PASS %s\n", #fn);                              \
		fflush(stdout);                                                \
	} while (0)

static inline int check_summary(void)
{
	return check_failed_cases ? 1 : 0;
}

#endif
