/* test_snapfile.c: the snapshot state file: records written come back as written; a damaged,
 * truncated, foreign or oversized file is refused with a message and nothing is listed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snapshot/format.h"

static struct snap_reader R;

/* A file with a config, two vCPUs and a device, as a snapshot has. */
static void build(struct snap_writer *w)
{
	static const char cfg[] = "{\"machine-config\":{\"vcpu_count\":2}}";
	uint8_t vcpu[100], dev[13];

	for (unsigned i = 0; i < sizeof(vcpu); i++)
		vcpu[i] = (uint8_t)i;
	memset(dev, 0xab, sizeof(dev));
	CHECK_EQ_I(snap_writer_init(w), 0);
	CHECK_EQ_I(snap_put(w, SNAP_REC_CONFIG, 0, 0, NULL, cfg, sizeof(cfg) - 1), 0);
	CHECK_EQ_I(snap_put(w, SNAP_REC_VCPU, 0, 0, NULL, vcpu, sizeof(vcpu)), 0);
	CHECK_EQ_I(snap_put(w, SNAP_REC_VCPU, 0, 1, NULL, vcpu, 50), 0);
	CHECK_EQ_I(snap_put(w, SNAP_REC_DEVICE, 5, 0, "rootfs", dev, sizeof(dev)), 0);
	CHECK_EQ_I(snap_finish(w), 0);
}

static int parse(const uint8_t *b, size_t n, struct err *e)
{
	return snap_parse(b, n, &R, e);
}

static void test_crc64_check_value(void)
{
	/* The catalogue's check value of CRC-64/XZ: "123456789". */
	CHECK(snap_crc64("123456789", 9) == 0x995dc9bbdf1939faULL);
	CHECK(snap_crc64("", 0) == 0);
}

static void test_round_trip(void)
{
	struct snap_writer w;
	struct err e = { { 0 } };
	const struct snap_rec *r;

	build(&w);
	CHECK_EQ_U(w.len % 8, 0);
	CHECK_EQ_I(parse(w.buf, w.len, &e), 0);
	CHECK_EQ_U(R.nrec, 4);
	r = snap_find(&R, SNAP_REC_CONFIG, 0, 0, NULL);
	CHECK(r && r->len == 35 && memcmp(r->data, "{\"machine-config\"", 17) == 0);
	r = snap_find(&R, SNAP_REC_VCPU, 0, 1, NULL);
	CHECK(r && r->len == 50 && r->data[49] == 49);
	r = snap_find(&R, SNAP_REC_DEVICE, 5, 0, "rootfs");
	CHECK(r && r->len == 13 && r->data[12] == 0xab);
	CHECK(snap_find(&R, SNAP_REC_DEVICE, 5, 0, "other") == NULL);
	CHECK(snap_find(&R, SNAP_REC_VCPU, 0, 2, NULL) == NULL);
	snap_writer_free(&w);
}

/* Each damage, one at a time, on a fresh copy: refused with a message naming it. */
static void expect_refused(const uint8_t *b, size_t n, const char *want)
{
	struct err e = { { 0 } };

	CHECK_EQ_I(parse(b, n, &e), -EINVAL);
	CHECK(strstr(e.msg, want) != NULL);
	CHECK_EQ_U(R.nrec, 0);
}

static void test_refusals(void)
{
	struct snap_writer w;
	uint8_t *c;
	uint64_t v;

	build(&w);
	c = malloc(w.len + 16);
	memcpy(c, w.buf, w.len);
	c[0] = 'X';
	expect_refused(c, w.len, "not an ember snapshot");
	memcpy(c, w.buf, w.len);
	c[8] = 2;                                  /* major version 2 */
	expect_refused(c, w.len, "format version 2.0");
	memcpy(c, w.buf, w.len);
	c[w.len - 1] ^= 1;                         /* one bit of the body */
	expect_refused(c, w.len, "checksum mismatch");
	expect_refused(w.buf, w.len - 8, "truncated");
	expect_refused(w.buf, 10, "not an ember snapshot");
	memcpy(c, w.buf, w.len);
	memset(c + w.len, 0, 8);
	expect_refused(c, w.len + 8, "trailing bytes");
	memcpy(c, w.buf, w.len);
	v = (uint64_t)SNAP_MAX_BODY + 1;
	memcpy(c + 16, &v, 8);
	expect_refused(c, w.len, "larger than");
	/* Damage behind a CRC recomputed to match: the record structure is checked too. */
	memcpy(c, w.buf, w.len);
	c[12] = 5;                                 /* count says 5, there are 4 */
	expect_refused(c, w.len, "fewer records");
	c[12] = 3;
	expect_refused(c, w.len, "more records");
	memcpy(c, w.buf, w.len);
	v = 1ULL << 40;                            /* the config record's length */
	memcpy(c + 32 + 8, &v, 8);
	v = snap_crc64(c + 32, w.len - 32);
	memcpy(c + 24, &v, 8);
	expect_refused(c, w.len, "runs past the end");
	memcpy(c, w.buf, w.len);
	memset(c + 32 + 16, 'a', SNAP_ID_MAX);     /* an id without its NUL */
	v = snap_crc64(c + 32, w.len - 32);
	memcpy(c + 24, &v, 8);
	expect_refused(c, w.len, "without its terminating NUL");
	memcpy(c, w.buf, w.len);
	c[32 + 80 + 35] = 1;                       /* the config record's padding */
	v = snap_crc64(c + 32, w.len - 32);
	memcpy(c + 24, &v, 8);
	expect_refused(c, w.len, "padding");
	free(c);
	snap_writer_free(&w);
}

static void test_duplicate_and_writer_limits(void)
{
	struct snap_writer w;
	struct err e = { { 0 } };
	char id[SNAP_ID_MAX + 1];

	CHECK_EQ_I(snap_writer_init(&w), 0);
	CHECK_EQ_I(snap_put(&w, SNAP_REC_VCPU, 0, 0, NULL, "a", 1), 0);
	CHECK_EQ_I(snap_put(&w, SNAP_REC_VCPU, 0, 0, NULL, "b", 1), 0);
	CHECK_EQ_I(snap_finish(&w), 0);
	CHECK_EQ_I(parse(w.buf, w.len, &e), -EINVAL);
	CHECK(strstr(e.msg, "the same record twice") != NULL);
	snap_writer_free(&w);
	/* The writer refuses what a reader would: an id too long, a type it does not know. */
	memset(id, 'x', SNAP_ID_MAX);
	id[SNAP_ID_MAX] = 0;
	CHECK_EQ_I(snap_writer_init(&w), 0);
	CHECK_EQ_I(snap_put(&w, SNAP_REC_DEVICE, 1, 0, id, "a", 1), -EINVAL);
	CHECK_EQ_I(snap_finish(&w), -EINVAL);     /* the first error sticks */
	snap_writer_free(&w);
	CHECK_EQ_I(snap_writer_init(&w), 0);
	CHECK_EQ_I(snap_put(&w, SNAP_REC_DEVICE, 1, 0, NULL, NULL, (uint64_t)SNAP_MAX_BODY), -EINVAL);
	CHECK_EQ_I(snap_put(&w, 99, 0, 0, NULL, NULL, 0), -EINVAL);
	snap_writer_free(&w);
}

/* A file written by tests/fuzz/make-seeds.py, a second writer of the format in Python. */
static void test_python_written_file(void)
{
	static uint8_t buf[4096];
	struct err e = { { 0 } };
	FILE *f = fopen("tests/fuzz/corpus/fuzz_snapshot/full", "rb");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

	if (f)
		fclose(f);
	CHECK(n > SNAP_HEADER_SIZE);
	CHECK_EQ_I(parse(buf, n, &e), 0);
	CHECK_EQ_U(R.nrec, 5);
	CHECK(snap_find(&R, SNAP_REC_DEVICE, 5, 0, "rootfs") != NULL);
	CHECK(snap_find(&R, SNAP_REC_DEVICE, 7, 0, "vsock") != NULL);
	f = fopen("tests/fuzz/corpus/fuzz_snapshot/minor1_new_type", "rb");
	n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	CHECK_EQ_I(parse(buf, n, &e), 0);         /* a newer minor's record type is skipped */
	CHECK_EQ_U(R.minor, 1);
}

int main(void)
{
	RUN(test_crc64_check_value);
	RUN(test_round_trip);
	RUN(test_refusals);
	RUN(test_duplicate_and_writer_limits);
	RUN(test_python_written_file);
	return check_summary();
}
