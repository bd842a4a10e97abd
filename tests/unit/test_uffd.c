/* test_uffd.c: the Uffd backend's handshake message: Firecracker's JSON list of regions, the
 * second region starting in the memory file where the first ends; too small a buffer refused. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "snapshot/uffd.h"

/* A fake host address: the message only reports it, nothing is touched. */
#define HOST ((void *)(uintptr_t)0x7f0000000000ULL)

static void test_one_region(void)
{
	struct guest_mem m;
	char buf[512];

	CHECK_EQ_I(gmem_init_from(&m, HOST, 128ULL << 20, (struct gmem_hole){ 3ULL << 30, 4ULL << 30 }), 0);
	CHECK_EQ_I(uffd_mappings_json(&m, buf, sizeof(buf)), (int)strlen(buf));
	CHECK_STR(buf, "[{\"base_host_virt_addr\":139637976727552,\"size\":134217728,\"offset\":0,"
		       "\"page_size\":4096,\"page_size_kib\":4096}]");
}

static void test_two_regions_around_the_hole(void)
{
	struct guest_mem m;
	char buf[512];

	/* 4 GiB of RAM: 3 GiB below the hole, 1 GiB above it, one host mapping. */
	CHECK_EQ_I(gmem_init_from(&m, HOST, 4ULL << 30, (struct gmem_hole){ 3ULL << 30, 4ULL << 30 }), 0);
	CHECK_EQ_U(m.nregions, 2);
	CHECK(uffd_mappings_json(&m, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "[{\"base_host_virt_addr\":139637976727552,\"size\":3221225472,\"offset\":0,"
		       "\"page_size\":4096,\"page_size_kib\":4096},"
		       "{\"base_host_virt_addr\":139641197953024,\"size\":1073741824,"
		       "\"offset\":3221225472,\"page_size\":4096,\"page_size_kib\":4096}]");
}

static void test_buffer_too_small(void)
{
	struct guest_mem m;
	char buf[64];

	CHECK_EQ_I(gmem_init_from(&m, HOST, 1ULL << 20, (struct gmem_hole){ 0, 0 }), 0);
	CHECK_EQ_I(uffd_mappings_json(&m, buf, sizeof(buf)), -E2BIG);
	CHECK_EQ_I(uffd_mappings_json(&m, buf, 0), -E2BIG);
}

int main(void)
{
	RUN(test_one_region);
	RUN(test_two_regions_around_the_hole);
	RUN(test_buffer_too_small);
	return check_summary();
}
