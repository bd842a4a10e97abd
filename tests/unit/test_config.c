/* test_config.c: unit tests of the configuration model and its Firecracker JSON mapping. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"

/* J: a string literal as the (json, len) pair the parsers take. */
#define J(s) s, sizeof(s) - 1

static struct err err;

/* has: 1 if the last error message contains @sub. */
static int has(const char *sub)
{
	return strstr(err.msg, sub) != NULL;
}

#define CHECK_ERR(call, sub)                                                   \
	do {                                                                   \
		memset(&err, 0, sizeof(err));                                  \
		CHECK_EQ_I((call), -EINVAL);                                   \
		if (!has(sub))                                                 \
			CHECK_FAIL_("message \"%s\" lacks \"%s\"", err.msg, sub); \
	} while (0)

static int machine(struct machine_cfg *m, const char *json)
{
	return cfg_parse_machine(m, json, strlen(json), &err);
}

static int drive(struct drive_cfg *d, const char *id, const char *json)
{
	return cfg_parse_drive(d, id, json, strlen(json), &err);
}

static int net(struct net_cfg *n, const char *id, const char *json)
{
	return cfg_parse_net(n, id, json, strlen(json), &err);
}

static int file(struct vm_config *c, const char *json)
{
	return config_parse_file(c, json, strlen(json), &err);
}

static int vsock(const char *json)
{
	struct vsock_cfg v;
	int r = cfg_parse_vsock(&v, json, strlen(json), &err);

	vsock_free(&v);
	return r;
}

/* ---- defaults and machine-config ---------------------------------------- */

static void test_defaults(void)
{
	struct vm_config c;
	char buf[1024];

	config_init(&c);
	CHECK_EQ_U(c.machine.vcpu_count, 1);
	CHECK_EQ_U(c.machine.mem_size_mib, 128);
	CHECK(!c.machine.smt && !c.machine.track_dirty_pages);
	CHECK_EQ_U(c.machine.huge_pages, HUGE_PAGES_NONE);
	CHECK_STR(c.machine.cpu_template, "");
	CHECK(!c.has_boot_source && c.ndrives == 0 && c.nnets == 0);
	CHECK(!c.vsock.present && !c.logger.present && !c.metrics.present);
	CHECK(machine_to_json(&c.machine, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,"
		       "\"track_dirty_pages\":false,\"huge_pages\":\"None\"}");
	CHECK(config_to_json(&c, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "{\"balloon\":null,\"drives\":[],\"boot-source\":null,"
		       "\"cpu-config\":null,\"logger\":null,\"machine-config\":"
		       "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,"
		       "\"track_dirty_pages\":false,\"huge_pages\":\"None\"},"
		       "\"metrics\":null,\"mmds-config\":null,"
		       "\"network-interfaces\":[],\"vsock\":null,\"entropy\":null}");
	config_free(&c);
	CHECK_EQ_U(c.machine.vcpu_count, 1);
}

static void test_machine_valid(void)
{
	struct machine_cfg m;

	CHECK_EQ_I(machine(&m, "{\"vcpu_count\": 4, \"mem_size_mib\": 2048, "
			       "\"smt\": true, \"track_dirty_pages\": true, "
			       "\"huge_pages\": \"2M\", \"cpu_template\": \"None\"}"),
		   0);
	CHECK_EQ_U(m.vcpu_count, 4);
	CHECK_EQ_U(m.mem_size_mib, 2048);
	CHECK(m.smt && m.track_dirty_pages);
	CHECK_EQ_U(m.huge_pages, HUGE_PAGES_2M);
	CHECK_STR(m.cpu_template, "");
	CHECK_EQ_I(machine(&m, "{\"vcpu_count\":32,\"mem_size_mib\":1,"
			       "\"smt\":null,\"huge_pages\":null}"), 0);
	CHECK_EQ_U(m.vcpu_count, 32);
	CHECK(!m.smt);
	CHECK_EQ_I(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1048576}"), 0);
}

static void test_machine_required(void)
{
	struct machine_cfg m;

	CHECK_ERR(machine(&m, "{\"mem_size_mib\": 128}"), "`vcpu_count`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\": 1}"), "`mem_size_mib`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\": null, \"mem_size_mib\": 1}"),
		  "missing field `vcpu_count`");
	/* A failed PUT leaves the defaults, owning nothing. */
	CHECK_EQ_U(m.vcpu_count, 1);
	CHECK_EQ_U(m.mem_size_mib, 128);
}

static void test_machine_ranges(void)
{
	static const char vcpus[] = "The number of vCPUs must be greater than 0";
	static const char mem[] = "The memory size (MiB) is either 0";
	struct machine_cfg m;

	CHECK_ERR(machine(&m, "{\"vcpu_count\":0,\"mem_size_mib\":128}"), vcpus);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":33,\"mem_size_mib\":128}"), vcpus);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":256,\"mem_size_mib\":128}"), vcpus);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":3,\"mem_size_mib\":128,\"smt\":true}"),
		  vcpus);
	CHECK_EQ_I(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":true}"), 0);
	CHECK_EQ_I(machine(&m, "{\"vcpu_count\":3,\"mem_size_mib\":128}"), 0);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":0}"), mem);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":129,"
			      "\"huge_pages\":\"2M\"}"), mem);
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1048577}"),
		  "too large");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,"
			      "\"huge_pages\":\"7M\"}"), "`huge_pages`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,"
			      "\"cpu_template\":\"T2\"}"),
		  "cpu_template `T2` is not supported by ember");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,"
			      "\"cpu_template\":\"Bogus\"}"),
		  "unknown variant for `cpu_template`");
}

static void test_wrong_types(void)
{
	struct machine_cfg m;

	CHECK_ERR(machine(&m, "{\"vcpu_count\":\"2\",\"mem_size_mib\":128}"),
		  "invalid type for `vcpu_count`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":true,\"mem_size_mib\":128}"),
		  "invalid type for `vcpu_count`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":[128]}"),
		  "invalid type for `mem_size_mib`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":1}"),
		  "invalid type for `smt`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":128,"
			      "\"huge_pages\":2}"), "invalid type for `huge_pages`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1.5}"),
		  "`mem_size_mib` must be an integer");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1e3}"),
		  "`mem_size_mib` must be an integer");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1.0}"),
		  "must be an integer");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":-1,\"mem_size_mib\":128}"),
		  "`vcpu_count` must not be negative");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":"
			      "18446744073709551616}"), "`mem_size_mib` is out of range");
	CHECK_ERR(cfg_parse_machine(&m, J("[1]"), &err), "expected an object");
	CHECK_ERR(cfg_parse_machine(&m, J("\"x\""), &err), "expected an object");
}

static void test_unknown_and_duplicate(void)
{
	struct machine_cfg m;
	struct drive_cfg d;

	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1,\"foo\":1}"),
		  "unknown field `foo`");
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"vcpu_count\":2,\"mem_size_mib\":1}"),
		  "duplicate field `vcpu_count`");
	/* null still counts as the member being there. */
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1,\"smt\":null,"
			      "\"smt\":true}"), "duplicate field `smt`");
	/* An escaped key is the same key. */
	CHECK_ERR(machine(&m, "{\"vcpu_count\":1,\"vcpu\\u005fcount\":2,"
			      "\"mem_size_mib\":1}"), "duplicate field `vcpu_count`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"rate_limiter\":"
				  "{\"bandwidth\":{\"size\":1,\"refill_time\":1,"
				  "\"x\":1}}}"), "unknown field `x` in bandwidth");
	/* Unknown key text is sanitised and bounded. */
	CHECK_ERR(machine(&m, "{\"a\\\"b`c\\n\":1}"), "unknown field `a??b?c?n`");
}

static void test_invalid_json(void)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"vcpu_count\":1,}", "{\"vcpu_count\" 1}",
		"{\"vcpu_count\":1 \"mem_size_mib\":2}", "{,}", "{\"a\":tru}",
		"{\"a\":nul}", "{\"a\":truex}", "{\"a\":01}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":+1}", "{} {}",
		"{}x", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}",
		"{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\\ud800\"}",
		"{\"a\":\"\xc3\x28\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":[1,]}", "{\"a\":[,1]}",
		"{1:2}", "{\"a\":'x'}", "{\"a\":\"abc}", "{\"a\":[}", "{\"a\":{]}",
		"[]", "null", "42",
	};
	struct machine_cfg m;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		memset(&err, 0, sizeof(err));
		if (cfg_parse_machine(&m, bad[k], strlen(bad[k]), &err) != -EINVAL ||
		    !err.msg[0])
			CHECK_FAIL_("accepted bad JSON #%zu: %s", k, bad[k]);
	}
	/* A raw NUL byte inside the given length is refused, not a terminator. */
	CHECK_ERR(cfg_parse_machine(&m, "{\"vcpu_count\":1,\"mem_size_mib\":1}\0x",
				    35, &err), "Invalid JSON");
	CHECK_ERR(cfg_parse_machine(&m, NULL, 0, &err), "Empty");
	CHECK_ERR(machine(&m, "{\"a\":\n  [}"), "line 2 column");
}

static void test_deep_nesting(void)
{
	char buf[4096];
	struct machine_cfg m;
	size_t k, n = 1500;

	buf[0] = '{';
	memcpy(buf + 1, "\"a\":", 4);
	for (k = 0; k < n; k++)
		buf[5 + k] = '[';
	for (k = 0; k < n; k++)
		buf[5 + n + k] = ']';
	buf[5 + 2 * n] = '}';
	CHECK_ERR(cfg_parse_machine(&m, buf, 6 + 2 * n, &err), "nested too deeply");
}

static void test_null_handling(void)
{
	struct drive_cfg d;
	struct net_cfg n;
	struct logger_cfg l;

	CHECK_EQ_I(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":true,"
				   "\"path_on_host\":\"/x\",\"partuuid\":null,"
				   "\"is_read_only\":null,\"cache_type\":null,"
				   "\"io_engine\":null,\"rate_limiter\":null,"
				   "\"socket\":null}"), 0);
	CHECK(d.partuuid == NULL && !d.is_read_only);
	CHECK(!d.rate_limiter.bandwidth.present && !d.rate_limiter.ops.present);
	drive_free(&d);
	CHECK_EQ_I(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				 "\"guest_mac\":null,\"mtu\":null,"
				 "\"rx_rate_limiter\":{\"bandwidth\":null,\"ops\":null}}"), 0);
	CHECK(!n.has_guest_mac && n.mtu == 0 && !n.rx_rate_limiter.ops.present);
	CHECK_EQ_I(cfg_parse_logger(&l, J("{\"log_path\":null,\"level\":null}"), &err), 0);
	CHECK(l.present && !l.log_path && l.level == LOG_LEVEL_INFO);
	logger_free(&l);
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":null,\"is_root_device\":true,"
				  "\"path_on_host\":\"/x\"}"), "missing field `drive_id`");
}

/* ---- strings ----------------------------------------------------------------- */

static void test_escapes(void)
{
	struct boot_source_cfg b;

	CHECK_EQ_I(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":"
		"\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}"), &err), 0);
	CHECK_STR(b.kernel_image_path, "q\"b\\s/b\bf\fn\nr\rt\t");
	boot_source_free(&b);
	CHECK_EQ_I(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":"
		"\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\xc3\xa9\"}"), &err), 0);
	CHECK_STR(b.kernel_image_path, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "A\xc3\xa9");
	boot_source_free(&b);
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"a\\u0000b\"}"),
					&err), "must not contain a NUL");
	CHECK(b.kernel_image_path == NULL);
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"\\ud83d\"}"),
					&err), "surrogate");
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":"
		"\"\\ud83d\\u0041\"}"), &err), "surrogate");
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"\\ude00\"}"),
					&err), "surrogate");
}

static void test_boot_source(void)
{
	struct boot_source_cfg b;
	char big[2100 + 64];

	CHECK_EQ_I(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"/k\","
		"\"initrd_path\":\"/i\",\"boot_args\":\"console=ttyS0 reboot=k\"}"),
					 &err), 0);
	CHECK_STR(b.kernel_image_path, "/k");
	CHECK_STR(b.initrd_path, "/i");
	CHECK_STR(b.boot_args, "console=ttyS0 reboot=k");
	boot_source_free(&b);
	CHECK_EQ_I(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"/k\"}"), &err), 0);
	CHECK(b.boot_args == NULL && b.initrd_path == NULL);
	boot_source_free(&b);
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"boot_args\":\"x\"}"), &err),
		  "missing field `kernel_image_path`");
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"\"}"), &err),
		  "`kernel_image_path` must not be empty");
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":7}"), &err),
		  "invalid type for `kernel_image_path`");
	CHECK_ERR(cfg_parse_boot_source(&b, J("{\"kernel_image_path\":\"/k\","
		"\"boot_args\":\"a\\nb\"}"), &err), "printable ASCII");
	snprintf(big, sizeof(big), "{\"kernel_image_path\":\"/k\",\"boot_args\":\"%0*d\"}",
		 2048, 0);
	CHECK_ERR(cfg_parse_boot_source(&b, big, strlen(big), &err), "too long");
	snprintf(big, sizeof(big), "{\"kernel_image_path\":\"/k\",\"boot_args\":\"%0*d\"}",
		 2047, 0);
	CHECK_EQ_I(cfg_parse_boot_source(&b, big, strlen(big), &err), 0);
	boot_source_free(&b);
}

/* ---- drives -------------------------------------------------------------------- */

static void test_drive_valid(void)
{
	struct drive_cfg d;

	CHECK_EQ_I(drive(&d, "rootfs", "{\"drive_id\":\"rootfs\",\"is_root_device\":"
		"true,\"path_on_host\":\"/img\",\"is_read_only\":true,\"partuuid\":"
		"\"0eaa91a0-01\",\"cache_type\":\"Writeback\",\"io_engine\":\"Async\","
		"\"rate_limiter\":{\"bandwidth\":{\"size\":5000,\"refill_time\":100},"
		"\"ops\":{\"size\":10,\"one_time_burst\":20,\"refill_time\":1000}}}"), 0);
	CHECK_STR(d.drive_id, "rootfs");
	CHECK(d.is_root_device && d.is_read_only);
	CHECK_STR(d.path_on_host, "/img");
	CHECK_STR(d.partuuid, "0eaa91a0-01");
	CHECK_EQ_U(d.cache_type, CACHE_WRITEBACK);
	CHECK_EQ_U(d.io_engine, IO_ENGINE_ASYNC);
	CHECK(d.rate_limiter.bandwidth.present && d.rate_limiter.ops.present);
	CHECK_EQ_U(d.rate_limiter.bandwidth.size, 5000);
	CHECK_EQ_U(d.rate_limiter.bandwidth.one_time_burst, 0);
	CHECK_EQ_U(d.rate_limiter.bandwidth.refill_time_ms, 100);
	CHECK_EQ_U(d.rate_limiter.ops.one_time_burst, 20);
	drive_free(&d);
	CHECK(d.path_on_host == NULL && d.partuuid == NULL);
	CHECK_EQ_I(drive(&d, NULL, "{\"drive_id\":\"d2\",\"is_root_device\":false,"
				   "\"path_on_host\":\"/x\"}"), 0);
	CHECK_EQ_U(d.cache_type, CACHE_UNSAFE);
	CHECK_EQ_U(d.io_engine, IO_ENGINE_SYNC);
	CHECK(!d.is_read_only);
	drive_free(&d);
}

static void test_drive_errors(void)
{
	struct drive_cfg d;

	CHECK_ERR(drive(&d, NULL, "{\"is_root_device\":false,\"path_on_host\":\"/x\"}"),
		  "missing field `drive_id`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"path_on_host\":\"/x\"}"),
		  "missing field `is_root_device`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false}"),
		  "missing field `path_on_host`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"socket\":\"/s\"}"), "not supported by ember");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":\"yes\","
				  "\"path_on_host\":\"/x\"}"), "`is_root_device`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"cache_type\":\"unsafe\"}"),
		  "unknown variant for `cache_type`, expected one of `Unsafe`, "
		  "`Writeback`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"io_engine\":\"Uring\"}"),
		  "`io_engine`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":true,"
				  "\"path_on_host\":\"/x\",\"partuuid\":\"a b\"}"),
		  "`partuuid`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"rate_limiter\":"
				  "{\"ops\":{\"refill_time\":1}}}"), "missing field `size`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"rate_limiter\":"
				  "{\"ops\":{\"size\":1}}}"), "missing field `refill_time`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"rate_limiter\":"
				  "{\"ops\":{\"size\":-1,\"refill_time\":1}}}"),
		  "`size` must not be negative");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"a\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\",\"rate_limiter\":[]}"),
		  "invalid type for `rate_limiter`");
	CHECK(d.path_on_host == NULL);
}

static void test_ids(void)
{
	static const char body[] = "{\"drive_id\":\"d1\",\"is_root_device\":false,"
				   "\"path_on_host\":\"/x\"}";
	char id64[65], id65[66];
	struct drive_cfg d;
	struct net_cfg n;

	CHECK_ERR(drive(&d, "d2", body),
		  "The id from the path does not match the id from the body!");
	CHECK_ERR(drive(&d, "", body), "The ID cannot be empty.");
	CHECK_ERR(drive(&d, "d-1", body), "API Resource IDs can only contain "
					  "alphanumeric characters and underscores.");
	/* The path id is checked before the body is even parsed. */
	CHECK_ERR(drive(&d, "a/b", "garbage"), "API Resource IDs");
	CHECK_ERR(net(&n, "eth1", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"t\"}"),
		  "The id from the path does not match the id from the body!");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"d.1\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\"}"), "Invalid `drive_id`");
	CHECK_ERR(drive(&d, NULL, "{\"drive_id\":\"\",\"is_root_device\":false,"
				  "\"path_on_host\":\"/x\"}"), "Invalid `drive_id`");
	memset(id64, 'a', 64);
	id64[64] = '\0';
	memset(id65, 'b', 65);
	id65[65] = '\0';
	CHECK(cfg_valid_id(id64) && !cfg_valid_id(id65));
	CHECK(cfg_valid_id("A_z_09") && !cfg_valid_id("") && !cfg_valid_id("a-b"));
	CHECK(!cfg_valid_id("\xc3\xa9") && !cfg_valid_id(NULL));
	CHECK(cfg_valid_vm_id("vm-1") && !cfg_valid_vm_id("vm_1"));
	CHECK(cfg_valid_vm_id(id64) && !cfg_valid_vm_id(id65) && !cfg_valid_vm_id(""));
	CHECK_EQ_I(drive(&d, id64, "{\"drive_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"is_root_device\":false,"
		   "\"path_on_host\":\"/x\"}"), 0);
	CHECK_STR(d.drive_id, id64);
	drive_free(&d);
	CHECK_ERR(drive(&d, id65, body), "API Resource IDs");
}

/* ---- network interfaces and vsock ------------------------------------------ */

static void test_net(void)
{
	static const char *const bad_macs[] = {
		"00:11:22:33:44", "0:11:22:33:44:55", "zz:11:22:33:44:55",
		"00-11-22-33-44-55", "00:11:22:33:44:555", "00:11:22:33:44:5",
		"00:11:22:33:44:55:66", "",
	};
	struct net_cfg n;
	char body[256];
	size_t k;

	CHECK_EQ_I(net(&n, "eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":"
		"\"tap0\",\"guest_mac\":\"06:00:AC:10:00:0f\",\"mtu\":9000,"
		"\"tx_rate_limiter\":{\"ops\":{\"size\":1,\"refill_time\":2}}}"), 0);
	CHECK_STR(n.iface_id, "eth0");
	CHECK_STR(n.host_dev_name, "tap0");
	CHECK(n.has_guest_mac && n.guest_mac[0] == 6 && n.guest_mac[2] == 0xac &&
	      n.guest_mac[5] == 0x0f);
	CHECK_EQ_U(n.mtu, 9000);
	CHECK(n.tx_rate_limiter.ops.present && !n.rx_rate_limiter.ops.present);
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\"}"), "missing field `host_dev_name`");
	CHECK_ERR(net(&n, NULL, "{\"host_dev_name\":\"t\"}"), "missing field `iface_id`");
	CHECK_EQ_I(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":"
				 "\"123456789012345\"}"), 0);
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":"
				"\"1234567890123456\"}"), "`host_dev_name`");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"\"}"),
		  "`host_dev_name`");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"a/b\"}"),
		  "`host_dev_name`");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"a b\"}"),
		  "`host_dev_name`");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"..\"}"),
		  "`host_dev_name`");
	for (k = 0; k < sizeof(bad_macs) / sizeof(bad_macs[0]); k++) {
		snprintf(body, sizeof(body), "{\"iface_id\":\"e\",\"host_dev_name\":"
			 "\"t\",\"guest_mac\":\"%s\"}", bad_macs[k]);
		CHECK_ERR(net(&n, NULL, body), "Invalid `guest_mac`");
	}
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				"\"guest_mac\":6}"), "`guest_mac`");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				"\"mtu\":67}"), "`mtu` must be between 68 and 65535");
	CHECK_ERR(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				"\"mtu\":65536}"), "`mtu`");
	CHECK_EQ_I(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				 "\"mtu\":68}"), 0);
	CHECK_EQ_I(net(&n, NULL, "{\"iface_id\":\"e\",\"host_dev_name\":\"t\","
				 "\"mtu\":65535}"), 0);
}

static void test_vsock(void)
{
	struct vsock_cfg v;
	char body[300], path[120];

	CHECK_EQ_I(cfg_parse_vsock(&v, J("{\"guest_cid\":3,\"uds_path\":\"/v.sock\","
					 "\"vsock_id\":\"vsock0\"}"), &err), 0);
	CHECK(v.present && v.guest_cid == 3);
	CHECK_STR(v.uds_path, "/v.sock");
	CHECK_STR(v.vsock_id, "vsock0");
	vsock_free(&v);
	CHECK(!v.present && v.uds_path == NULL);
	CHECK_ERR(vsock("{\"guest_cid\":2,\"uds_path\":\"/v\"}"), "`guest_cid`");
	CHECK_ERR(vsock("{\"guest_cid\":0,\"uds_path\":\"/v\"}"), "`guest_cid`");
	CHECK_ERR(vsock("{\"guest_cid\":4294967295,\"uds_path\":\"/v\"}"), "`guest_cid`");
	CHECK_ERR(vsock("{\"guest_cid\":4294967296,\"uds_path\":\"/v\"}"),
		  "`guest_cid` is out of range");
	CHECK_EQ_I(vsock("{\"guest_cid\":4294967294,\"uds_path\":\"/v\"}"), 0);
	CHECK_ERR(vsock("{\"guest_cid\":3}"), "missing field `uds_path`");
	CHECK_ERR(vsock("{\"uds_path\":\"/v\"}"), "missing field `guest_cid`");
	CHECK_ERR(vsock("{\"guest_cid\":3,\"uds_path\":\"/v\",\"vsock_id\":\"a b\"}"),
		  "Invalid `vsock_id`");
	memset(path, 'p', 107);
	path[107] = '\0';
	snprintf(body, sizeof(body), "{\"guest_cid\":3,\"uds_path\":\"%s\"}", path);
	CHECK_EQ_I(vsock(body), 0);
	snprintf(body, sizeof(body), "{\"guest_cid\":3,\"uds_path\":\"%sp\"}", path);
	CHECK_ERR(vsock(body), "`uds_path` is too long");
}

static void test_logger_metrics(void)
{
	static const struct {
		const char *text;
		enum log_level level;
	} ok[] = {
		{ "Error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARN },
		{ "WARN", LOG_LEVEL_WARN },   { "Info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG }, { "TRACE", LOG_LEVEL_TRACE },
		{ "Off", LOG_LEVEL_OFF },
	};
	struct logger_cfg l;
	struct metrics_cfg m;
	char body[128];
	size_t k;

	for (k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		snprintf(body, sizeof(body), "{\"level\":\"%s\"}", ok[k].text);
		CHECK_EQ_I(cfg_parse_logger(&l, body, strlen(body), &err), 0);
		CHECK_EQ_U(l.level, ok[k].level);
		logger_free(&l);
	}
	CHECK_STR(log_level_name(LOG_LEVEL_WARN), "Warning");
	CHECK_ERR(cfg_parse_logger(&l, J("{\"level\":\"Loud\"}"), &err),
		  "unknown variant for `level`");
	CHECK_ERR(cfg_parse_logger(&l, J("{\"level\":3}"), &err),
		  "invalid type for `level`");
	CHECK_EQ_I(cfg_parse_logger(&l, J("{\"log_path\":\"/l\",\"show_level\":true,"
		"\"show_log_origin\":true,\"module\":\"api_server::request\"}"), &err), 0);
	CHECK(l.present && l.show_level && l.show_log_origin);
	CHECK_STR(l.log_path, "/l");
	CHECK_STR(l.module, "api_server::request");
	CHECK_EQ_U(l.level, LOG_LEVEL_INFO);
	logger_free(&l);
	CHECK_ERR(cfg_parse_logger(&l, J("{\"log_path\":\"/l\",\"show_level\":\"no\"}"),
				   &err), "`show_level`");
	CHECK(l.log_path == NULL);
	CHECK_EQ_I(cfg_parse_metrics(&m, J("{\"metrics_path\":\"/m\"}"), &err), 0);
	CHECK(m.present);
	CHECK_STR(m.metrics_path, "/m");
	metrics_free(&m);
	CHECK_ERR(cfg_parse_metrics(&m, J("{}"), &err), "missing field `metrics_path`");
}

/* ---- device lists ------------------------------------------------------------ */

static int add_drive(struct vm_config *c, const char *id, int root)
{
	char body[160];
	struct drive_cfg d;
	int r;

	snprintf(body, sizeof(body), "{\"drive_id\":\"%s\",\"is_root_device\":%s,"
		 "\"path_on_host\":\"/%s\"}", id, root ? "true" : "false", id);
	if (drive(&d, id, body))
		return -100;
	r = config_set_drive(c, &d, &err);
	drive_free(&d);
	return r;
}

static void test_root_drive(void)
{
	struct vm_config c;
	char id[8];
	int k;

	config_init(&c);
	CHECK_EQ_I(add_drive(&c, "a", 0), 0);
	CHECK_EQ_I(add_drive(&c, "b", 0), 0);
	CHECK_EQ_I(add_drive(&c, "r", 1), 0);
	CHECK_EQ_U(c.ndrives, 3);
	CHECK_STR(c.drives[0].drive_id, "r");
	CHECK_STR(c.drives[1].drive_id, "a");
	CHECK_STR(c.drives[2].drive_id, "b");
	CHECK_ERR(add_drive(&c, "s", 1), "A root block device already exists!");
	CHECK_ERR(add_drive(&c, "b", 1), "A root block device already exists!");
	CHECK_EQ_U(c.ndrives, 3);
	/* Updating the root in place is allowed, and so is demoting it. */
	CHECK_EQ_I(add_drive(&c, "r", 1), 0);
	CHECK_EQ_I(add_drive(&c, "r", 0), 0);
	CHECK_STR(c.drives[0].drive_id, "r");
	CHECK(!c.drives[0].is_root_device);
	/* An existing drive becoming root moves to the front. */
	CHECK_EQ_I(add_drive(&c, "b", 1), 0);
	CHECK_STR(c.drives[0].drive_id, "b");
	CHECK(c.drives[0].is_root_device);
	CHECK_STR(c.drives[0].path_on_host, "/b");
	CHECK_EQ_U(c.ndrives, 3);
	for (k = 3; k < CFG_MAX_DRIVES; k++) {
		snprintf(id, sizeof(id), "x%d", k);
		CHECK_EQ_I(add_drive(&c, id, 0), 0);
	}
	CHECK_ERR(add_drive(&c, "y", 0), "Too many drives");
	CHECK_EQ_I(add_drive(&c, "x5", 0), 0);
	CHECK_EQ_U(c.ndrives, CFG_MAX_DRIVES);
	config_free(&c);
	CHECK_EQ_U(c.ndrives, 0);
}

static int add_net(struct vm_config *c, const char *id, const char *tap,
		   const char *mac)
{
	char body[200];
	struct net_cfg n;

	snprintf(body, sizeof(body), "{\"iface_id\":\"%s\",\"host_dev_name\":\"%s\""
		 "%s%s%s}", id, tap, mac ? ",\"guest_mac\":\"" : "", mac ? mac : "",
		 mac ? "\"" : "");
	if (net(&n, NULL, body))
		return -100;
	return config_set_net(c, &n, &err);
}

static void test_net_list(void)
{
	struct vm_config c;
	char id[8], tap[8];
	int k;

	config_init(&c);
	CHECK_EQ_I(add_net(&c, "e0", "tap0", "06:00:00:00:00:01"), 0);
	CHECK_EQ_I(add_net(&c, "e1", "tap1", NULL), 0);
	CHECK_ERR(add_net(&c, "e2", "tap0", NULL),
		  "The host device name tap0 is already in use.");
	CHECK_ERR(add_net(&c, "e2", "tap2", "06:00:00:00:00:01"),
		  "The guest MAC address 06:00:00:00:00:01 is already in use.");
	CHECK_ERR(add_net(&c, "e1", "tap1", "06:00:00:00:00:01"), "already in use");
	/* Same id: an update in place, which may keep its own tap and MAC. */
	CHECK_EQ_I(add_net(&c, "e0", "tap0", "06:00:00:00:00:02"), 0);
	CHECK_EQ_I(add_net(&c, "e1", "tap9", NULL), 0);
	CHECK_EQ_U(c.nnets, 2);
	CHECK_STR(c.nets[1].host_dev_name, "tap9");
	CHECK_EQ_U(c.nets[0].guest_mac[5], 2);
	for (k = 2; k < CFG_MAX_NETS; k++) {
		snprintf(id, sizeof(id), "e%d", k);
		snprintf(tap, sizeof(tap), "tap%d", k + 10);
		CHECK_EQ_I(add_net(&c, id, tap, NULL), 0);
	}
	CHECK_ERR(add_net(&c, "ex", "tapx", NULL), "Too many network interfaces");
	config_free(&c);
}

/* ---- PATCH bodies, actions, state -------------------------------------------- */

static void test_patch_machine(void)
{
	struct machine_cfg m, before;

	CHECK_EQ_I(machine(&m, "{\"vcpu_count\":3,\"mem_size_mib\":256}"), 0);
	CHECK_EQ_I(cfg_patch_machine(&m, J("{\"mem_size_mib\":512}"), &err), 0);
	CHECK_EQ_U(m.vcpu_count, 3);
	CHECK_EQ_U(m.mem_size_mib, 512);
	CHECK_EQ_I(cfg_patch_machine(&m, J("{\"track_dirty_pages\":true,"
					   "\"cpu_template\":\"None\"}"), &err), 0);
	CHECK(m.track_dirty_pages && m.vcpu_count == 3 && m.mem_size_mib == 512);
	before = m;
	/* The whole result is validated: smt with 3 vCPUs is refused. */
	CHECK_ERR(cfg_patch_machine(&m, J("{\"smt\":true}"), &err), "number of vCPUs");
	CHECK(machine_equal(&m, &before));
	CHECK_ERR(cfg_patch_machine(&m, J("{\"huge_pages\":\"2M\",\"mem_size_mib\":"
					  "513}"), &err), "memory size");
	CHECK_ERR(cfg_patch_machine(&m, J("{}"), &err), "Empty PATCH request.");
	CHECK_ERR(cfg_patch_machine(&m, J("{\"smt\":null}"), &err),
		  "Empty PATCH request.");
	CHECK_ERR(cfg_patch_machine(&m, J("{\"vcpus\":2}"), &err), "unknown field");
	CHECK_ERR(cfg_patch_machine(&m, J("{\"vcpu_count\":2,\"mem_size_mib\":\"x\"}"),
				    &err), "`mem_size_mib`");
	CHECK(machine_equal(&m, &before));
	CHECK_EQ_I(cfg_patch_machine(&m, J("{\"smt\":true,\"vcpu_count\":4}"), &err), 0);
	CHECK(m.smt && m.vcpu_count == 4);
}

static void test_drive_patch(void)
{
	struct drive_patch p;

	CHECK_EQ_I(cfg_parse_drive_patch(&p, "d1", J("{\"drive_id\":\"d1\","
					 "\"path_on_host\":\"/new\"}"), &err), 0);
	CHECK(p.has_path_on_host && !p.has_rate_limiter);
	CHECK_STR(p.path_on_host, "/new");
	CHECK_STR(p.drive_id, "d1");
	drive_patch_free(&p);
	CHECK_EQ_I(cfg_parse_drive_patch(&p, "d1", J("{\"drive_id\":\"d1\","
		"\"rate_limiter\":{\"bandwidth\":{\"size\":0,\"refill_time\":0}}}"),
					 &err), 0);
	CHECK(!p.has_path_on_host && p.has_rate_limiter);
	CHECK(p.rate_limiter.bandwidth.present && !p.rate_limiter.ops.present);
	drive_patch_free(&p);
	CHECK_ERR(cfg_parse_drive_patch(&p, "d1", J("{\"drive_id\":\"d1\"}"), &err),
		  "Please specify at least one property to patch");
	CHECK_ERR(cfg_parse_drive_patch(&p, "d2", J("{\"drive_id\":\"d1\","
		"\"path_on_host\":\"/n\"}"), &err), "does not match");
	CHECK_ERR(cfg_parse_drive_patch(&p, "d1", J("{\"drive_id\":\"d1\","
		"\"path_on_host\":\"/n\",\"is_read_only\":true}"), &err),
		  "unknown field `is_read_only`");
	CHECK(p.path_on_host == NULL);
	CHECK_ERR(cfg_parse_drive_patch(&p, "d1", J("{\"path_on_host\":\"/n\"}"), &err),
		  "missing field `drive_id`");
}

static void test_net_patch(void)
{
	struct net_patch p;

	CHECK_EQ_I(cfg_parse_net_patch(&p, "e0", J("{\"iface_id\":\"e0\","
		"\"rx_rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":10}}}"),
				       &err), 0);
	CHECK(p.has_rx_rate_limiter && !p.has_tx_rate_limiter);
	CHECK_EQ_U(p.rx_rate_limiter.ops.size, 5);
	CHECK_EQ_I(cfg_parse_net_patch(&p, "e0", J("{\"iface_id\":\"e0\","
		"\"tx_rate_limiter\":{}}"), &err), 0);
	CHECK(p.has_tx_rate_limiter && !p.tx_rate_limiter.bandwidth.present);
	CHECK_ERR(cfg_parse_net_patch(&p, "e1", J("{\"iface_id\":\"e0\"}"), &err),
		  "does not match");
	CHECK_ERR(cfg_parse_net_patch(&p, "e0", J("{\"iface_id\":\"e0\","
		"\"host_dev_name\":\"t\"}"), &err), "unknown field `host_dev_name`");
}

static void test_action_state(void)
{
	enum vm_action a = VM_ACTION_FLUSH_METRICS;
	enum vm_state_req s = VM_STATE_RESUMED;

	CHECK_EQ_I(cfg_parse_action(&a, J("{\"action_type\":\"InstanceStart\"}"), &err), 0);
	CHECK_EQ_U(a, VM_ACTION_INSTANCE_START);
	CHECK_EQ_I(cfg_parse_action(&a, J("{\"action_type\":\"SendCtrlAltDel\"}"), &err), 0);
	CHECK_EQ_U(a, VM_ACTION_SEND_CTRL_ALT_DEL);
	CHECK_EQ_I(cfg_parse_action(&a, J("{\"action_type\":\"FlushMetrics\"}"), &err), 0);
	CHECK_EQ_U(a, VM_ACTION_FLUSH_METRICS);
	CHECK_ERR(cfg_parse_action(&a, J("{\"action_type\":\"Reboot\"}"), &err),
		  "unknown variant for `action_type`");
	CHECK_ERR(cfg_parse_action(&a, J("{}"), &err), "missing field `action_type`");
	CHECK_ERR(cfg_parse_action(&a, J("{\"action_type\":\"InstanceStart\",\"x\":1}"),
				   &err), "unknown field `x`");
	CHECK_EQ_I(cfg_parse_vm_state(&s, J("{\"state\":\"Paused\"}"), &err), 0);
	CHECK_EQ_U(s, VM_STATE_PAUSED);
	CHECK_EQ_I(cfg_parse_vm_state(&s, J("{\"state\":\"Resumed\"}"), &err), 0);
	CHECK_EQ_U(s, VM_STATE_RESUMED);
	CHECK_ERR(cfg_parse_vm_state(&s, J("{\"state\":\"paused\"}"), &err), "`state`");
	CHECK_ERR(cfg_parse_vm_state(&s, J("{\"state\":1}"), &err),
		  "invalid type for `state`");
}

/* ---- the config file ------------------------------------------------------------ */

static const char full_config[] =
	"{\n"
	"  \"boot-source\": {\"kernel_image_path\": \"/k\\u00e9rnel \\\"x\\\"\","
	"    \"boot_args\": \"console=ttyS0 reboot=k panic=1\", \"initrd_path\": \"/i\"},\n"
	"  \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": true,"
	"    \"track_dirty_pages\": true},\n"
	"  \"drives\": [\n"
	"    {\"drive_id\": \"data\", \"is_root_device\": false, \"path_on_host\": \"/d\","
	"     \"io_engine\": \"Async\", \"rate_limiter\": {\"ops\": {\"size\": 1,"
	"     \"one_time_burst\": 5, \"refill_time\": 2}}},\n"
	"    {\"drive_id\": \"rootfs\", \"is_root_device\": true, \"path_on_host\": \"/r\\n\","
	"     \"is_read_only\": true, \"partuuid\": \"abc-1\", \"cache_type\": \"Writeback\"}\n"
	"  ],\n"
	"  \"network-interfaces\": [\n"
	"    {\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
	"     \"AA:FC:00:00:00:01\", \"mtu\": 1500, \"rx_rate_limiter\": {\"bandwidth\":"
	"     {\"size\": 18446744073709551615, \"refill_time\": 0}}},\n"
	"    {\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"tx_rate_limiter\": {}}\n"
	"  ],\n"
	"  \"vsock\": {\"guest_cid\": 52, \"uds_path\": \"/v.sock\", \"vsock_id\": \"v\"},\n"
	"  \"logger\": {\"log_path\": \"/log\\u0001\", \"level\": \"debug\", \"show_level\": true},\n"
	"  \"metrics\": {\"metrics_path\": \"/m\"},\n"
	"  \"balloon\": null, \"mmds-config\": null, \"pmem\": []\n"
	"}\n";

static void test_file_full(void)
{
	struct vm_config c, c2;
	char buf[8192], buf2[8192];
	int n;

	CHECK_EQ_I(file(&c, full_config), 0);
	CHECK(c.has_boot_source);
	CHECK_STR(c.boot_source.kernel_image_path, "/k\xc3\xa9rnel \"x\"");
	CHECK_EQ_U(c.machine.vcpu_count, 2);
	CHECK_EQ_U(c.ndrives, 2);
	CHECK_STR(c.drives[0].drive_id, "rootfs");
	CHECK_STR(c.drives[1].drive_id, "data");
	CHECK_EQ_U(c.nnets, 2);
	CHECK_EQ_U(c.nets[0].rx_rate_limiter.bandwidth.size, UINT64_MAX);
	CHECK(c.vsock.present && c.vsock.guest_cid == 52);
	CHECK(c.logger.present && c.logger.level == LOG_LEVEL_DEBUG);
	CHECK(c.metrics.present);

	n = config_to_json(&c, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n == strlen(buf));
	CHECK(strstr(buf, "\"guest_mac\":\"aa:fc:00:00:00:01\"") != NULL);
	CHECK(strstr(buf, "\"path_on_host\":\"/r\\n\"") != NULL);
	CHECK(strstr(buf, "\"log_path\":\"/log\\u0001\"") != NULL);
	CHECK(strstr(buf, "\"kernel_image_path\":\"/k\xc3\xa9rnel \\\"x\\\"\"") != NULL);
	CHECK(strstr(buf, "{\"drive_id\":\"rootfs\",\"partuuid\":\"abc-1\","
			  "\"is_root_device\":true,\"cache_type\":\"Writeback\","
			  "\"is_read_only\":true,\"path_on_host\":\"/r\\n\","
			  "\"rate_limiter\":null,\"io_engine\":\"Sync\","
			  "\"socket\":null}") != NULL);
	CHECK(strstr(buf, "\"rate_limiter\":{\"bandwidth\":null,\"ops\":{\"size\":1,"
			  "\"one_time_burst\":5,\"refill_time\":2}}") != NULL);
	CHECK(strstr(buf, "\"tx_rate_limiter\":null") != NULL);
	CHECK(strstr(buf, "\"vsock\":{\"vsock_id\":\"v\",\"guest_cid\":52,"
			  "\"uds_path\":\"/v.sock\"}") != NULL);

	/* The round trip gives the same configuration and the same text. */
	CHECK_EQ_I(config_parse_file(&c2, buf, (size_t)n, &err), 0);
	CHECK(config_equal(&c, &c2));
	CHECK_EQ_I(config_to_json(&c2, buf2, sizeof(buf2)), n);
	CHECK_STR(buf, buf2);
	/* config_equal can fail: it sees a change deep inside. */
	c2.nets[0].rx_rate_limiter.bandwidth.refill_time_ms = 1;
	CHECK(!config_equal(&c, &c2));
	config_free(&c2);
	config_free(&c);
	CHECK(!c.has_boot_source && c.ndrives == 0 && c.boot_source.kernel_image_path == NULL);
}

/* "serial" and PUT /serial: an output path and a token bucket, both optional. */
#define PSER(json) cfg_parse_serial(&sc, json, strlen(json), &e)
static void test_serial(void)
{
	struct vm_config c;
	struct serial_cfg sc;
	struct err e;

	CHECK_EQ_I(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			    "\"serial\":{\"serial_out_path\":\"/tmp/out\","
			    "\"rate_limiter\":{\"size\":100,\"refill_time\":1000}}}"), 0);
	CHECK(c.serial.present && c.serial.rate_limiter.present);
	CHECK_STR(c.serial.serial_out_path, "/tmp/out");
	CHECK_EQ_U(c.serial.rate_limiter.size, 100);
	config_free(&c);
	CHECK(c.serial.serial_out_path == NULL && !c.serial.present);
	CHECK_EQ_I(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"serial\":null}"), 0);
	CHECK(!c.serial.present);
	config_free(&c);
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"serial\":{\"rate_limiter\":{\"size\":1}}}"),
		  "serial: missing field `refill_time`");
	memset(&e, 0, sizeof(e));
	CHECK_EQ_I(PSER("{}"), 0);
	CHECK(sc.present && !sc.serial_out_path && !sc.rate_limiter.present);
	CHECK(PSER("{\"serial_out_path\":\"\"}") != 0);
	CHECK(PSER("{\"serial_out_path\":\"/o\",\"x\":1}") != 0);
	CHECK(strstr(e.msg, "unknown field `x`") != NULL);
	CHECK_EQ_I(PSER("{\"serial_out_path\":\"/o\",\"rate_limiter\":null}"), 0);
	CHECK_STR(sc.serial_out_path, "/o");
	serial_cfg_free(&sc);
}

static void test_file_errors(void)
{
	struct vm_config c;

	CHECK_ERR(file(&c, "{}"), "missing field `boot-source`");
	CHECK_ERR(file(&c, "{\"boot-source\":null}"), "missing field `boot-source`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"foo\":1}"),
		  "unknown field `foo`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"boot-source\":{\"kernel_image_path\":\"/k\"}}"),
		  "duplicate field `boot-source`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"balloon\":{\"amount_mib\":1,\"deflate_on_oom\":true}}"),
		  "`balloon` is not supported by ember");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"mmds-config\":{\"network_interfaces\":[]}}"),
		  "mmds-config: The list of network interface IDs that allow forwarding MMDS requests is empty.");
	CHECK_EQ_I(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			    "\"balloon\":null,\"cpu-config\":null,\"entropy\":null,"
			    "\"drives\":null,\"network-interfaces\":[],\"vsock\":null,"
			    "\"logger\":null,\"metrics\":null,\"machine-config\":null}"), 0);
	CHECK(c.ndrives == 0 && !c.vsock.present && c.machine.vcpu_count == 1);
	config_free(&c);
	CHECK_ERR(file(&c, "{\"boot-source\":{}}"),
		  "boot-source: missing field `kernel_image_path`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"drives\":{}}"), "invalid type for `drives`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},\"drives\":["
			   "{\"drive_id\":\"a\",\"is_root_device\":true,\"path_on_host\":\"/a\"},"
			   "{\"drive_id\":\"b\",\"is_root_device\":true,\"path_on_host\":\"/b\"}]}"),
		  "drives[1]: A root block device already exists!");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"drives\":[{\"drive_id\":\"a\",\"is_root_device\":true,"
			   "\"path_on_host\":\"/a\"}, 5]}"), "drives[1]: invalid type");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"network-interfaces\":[{\"iface_id\":\"a\",\"host_dev_name\":\"t\"},"
			   "{\"iface_id\":\"b\",\"host_dev_name\":\"t\"}]}"),
		  "network-interfaces[1]: The host device name t is already in use.");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"machine-config\":{\"vcpu_count\":1}}"),
		  "machine-config: missing field `mem_size_mib`");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\","
			   "\"initrd_path\":\"/i\"},\"machine-config\":{\"vcpu_count\":1,"
			   "\"mem_size_mib\":128,\"huge_pages\":\"2M\"}}"),
		  "huge pages support is incompatible with initrds");
	CHECK_ERR(file(&c, "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
			   "\"vsock\":{\"guest_cid\":1,\"uds_path\":\"/v\"}}"),
		  "vsock: `guest_cid`");
	CHECK(!c.has_boot_source && c.boot_source.kernel_image_path == NULL);
}

static void test_to_json_bounds(void)
{
	struct vm_config c;
	char big[8192], small[8192];
	int n, cap;

	CHECK_EQ_I(file(&c, full_config), 0);
	n = config_to_json(&c, big, sizeof(big));
	CHECK(n > 0);
	for (cap = 0; cap <= n; cap++) {
		memset(small, 'Z', sizeof(small));
		if (config_to_json(&c, small, (size_t)cap) != -ENOSPC) {
			CHECK_FAIL_("cap %d of %d did not give -ENOSPC", cap, n);
			break;
		}
		if (small[cap] != 'Z') {
			CHECK_FAIL_("cap %d: wrote past the buffer", cap);
			break;
		}
	}
	CHECK_EQ_I(config_to_json(&c, small, (size_t)n + 1), n);
	CHECK_STR(small, big);
	CHECK_EQ_I(config_to_json(&c, NULL, 0), -ENOSPC);
	CHECK_EQ_I(machine_to_json(&c.machine, small, 10), -ENOSPC);
	config_free(&c);
}

/* test_data_files: tests/data/config/good-*.json parse, bad-*.json do not. */
static void test_data_files(void)
{
	static const char dir[] = "tests/data/config";
	char path[512], *buf;
	struct vm_config c;
	struct dirent *de;
	DIR *d = opendir(dir);
	FILE *f;
	long n;
	int good, r, seen = 0;

	if (!d) {
		CHECK_FAIL_("cannot open %s (run from the repository root)", dir);
		return;
	}
	while ((de = readdir(d))) {
		good = strncmp(de->d_name, "good-", 5) == 0;
		if (!good && strncmp(de->d_name, "bad-", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		if (!f) {
			CHECK_FAIL_("cannot open %s", path);
			continue;
		}
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		buf = malloc((size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			CHECK_FAIL_("cannot read %s", path);
			free(buf);
			fclose(f);
			continue;
		}
		fclose(f);
		r = config_parse_file(&c, buf, (size_t)n, &err);
		if (good && r)
			CHECK_FAIL_("%s refused: %s", de->d_name, err.msg);
		if (!good && !r)
			CHECK_FAIL_("%s accepted", de->d_name);
		config_free(&c);
		free(buf);
		seen++;
	}
	closedir(d);
	CHECK(seen >= 2);
}

/* ---- PUT /snapshot/create and /snapshot/load ------------------------------ */

static int snap_create(const char *json)
{
	struct snapshot_create_cfg c;
	int r = cfg_parse_snapshot_create(&c, json, strlen(json), &err);

	/* Refused or not, the result owns something only when accepted. */
	if (r)
		CHECK(!c.snapshot_path && !c.mem_file_path);
	snapshot_create_free(&c);
	return r;
}

static int snap_load(const char *json)
{
	struct snapshot_load_cfg l;
	int r = cfg_parse_snapshot_load(&l, json, strlen(json), &err);

	if (r)
		CHECK(!l.snapshot_path && !l.backend_path && !l.vsock_uds_path &&
		      l.n_net_overrides == 0);
	snapshot_load_free(&l);
	return r;
}

static void test_snapshot_create(void)
{
	struct snapshot_create_cfg c;
	char body[5000], path[4100];

	/* Minimal: snapshot_type defaults to Full. */
	CHECK_EQ_I(cfg_parse_snapshot_create(&c, J("{\"snapshot_path\":\"/s\","
						   "\"mem_file_path\":\"/m\"}"), &err), 0);
	CHECK_EQ_U(c.type, SNAPSHOT_FULL);
	CHECK_STR(c.snapshot_path, "/s");
	CHECK_STR(c.mem_file_path, "/m");
	snapshot_create_free(&c);
	CHECK(!c.snapshot_path && !c.mem_file_path);
	/* Full. */
	CHECK_EQ_I(cfg_parse_snapshot_create(&c, J("{\"snapshot_type\":\"Diff\","
		"\"snapshot_path\":\"/srv/vm.snap\",\"mem_file_path\":\"/srv/vm.mem\"}"),
					     &err), 0);
	CHECK_EQ_U(c.type, SNAPSHOT_DIFF);
	CHECK_STR(c.snapshot_path, "/srv/vm.snap");
	CHECK_STR(c.mem_file_path, "/srv/vm.mem");
	snapshot_create_free(&c);
	CHECK_EQ_I(snap_create("{\"snapshot_type\":\"Full\",\"snapshot_path\":\"/s\","
			       "\"mem_file_path\":\"/m\"}"), 0);
	CHECK_EQ_I(snap_create("{\"snapshot_type\":null,\"snapshot_path\":\"/s\","
			       "\"mem_file_path\":\"/m\"}"), 0);

	CHECK_ERR(snap_create("{\"mem_file_path\":\"/m\"}"),
		  "missing field `snapshot_path`");
	CHECK_ERR(snap_create("{\"snapshot_path\":\"/s\"}"),
		  "missing field `mem_file_path`");
	CHECK_ERR(snap_create("{}"), "missing field `snapshot_path`");
	CHECK_ERR(snap_create("{\"snapshot_type\":\"full\",\"snapshot_path\":\"/s\","
			      "\"mem_file_path\":\"/m\"}"),
		  "unknown variant for `snapshot_type`, expected one of `Full`, `Diff`");
	CHECK_ERR(snap_create("{\"snapshot_type\":1,\"snapshot_path\":\"/s\","
			      "\"mem_file_path\":\"/m\"}"),
		  "invalid type for `snapshot_type`: expected a string");
	/* "version" was deprecated, then removed: now an unknown field. */
	CHECK_ERR(snap_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			      "\"version\":\"1.0.0\"}"),
		  "unknown field `version` in snapshot create");
	CHECK_ERR(snap_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			      "\"snapshot_path\":\"/t\"}"),
		  "duplicate field `snapshot_path`");
	CHECK_ERR(snap_create("{\"snapshot_path\":7,\"mem_file_path\":\"/m\"}"),
		  "invalid type for `snapshot_path`: expected a string");
	CHECK_ERR(snap_create("{\"snapshot_path\":\"/s\",\"mem_file_path\":[]}"),
		  "invalid type for `mem_file_path`: expected a string");
	CHECK_ERR(snap_create("{\"snapshot_path\":\"\",\"mem_file_path\":\"/m\"}"),
		  "`snapshot_path` must not be empty");
	CHECK_ERR(snap_create("[]"), "Invalid JSON: expected an object");
	memset(path, 'p', 4095);
	path[4095] = '\0';
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"%s\",\"mem_file_path\":"
		 "\"/m\"}", path);
	CHECK_EQ_I(snap_create(body), 0);
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\",\"mem_file_path\":"
		 "\"%sp\"}", path);
	CHECK_ERR(snap_create(body), "`mem_file_path` is too long (max 4095 bytes)");
}

static void test_snapshot_load(void)
{
	struct snapshot_load_cfg l;
	char body[2048], path[120];
	int k;

	/* Minimal, the new way: a File backend. */
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/s\","
		"\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"/m\"}}"),
					   &err), 0);
	CHECK_STR(l.snapshot_path, "/s");
	CHECK_EQ_U(l.backend_type, MEM_BACKEND_FILE);
	CHECK_STR(l.backend_path, "/m");
	CHECK(!l.track_dirty_pages && !l.resume_vm && !l.clock_realtime &&
	      !l.used_deprecated);
	CHECK(l.n_net_overrides == 0 && l.vsock_uds_path == NULL);
	snapshot_load_free(&l);
	CHECK(!l.snapshot_path && !l.backend_path);
	/* Minimal, the deprecated way: mem_file_path is a File backend. */
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/s\","
						 "\"mem_file_path\":\"/m\"}"), &err), 0);
	CHECK_EQ_U(l.backend_type, MEM_BACKEND_FILE);
	CHECK_STR(l.backend_path, "/m");
	CHECK(l.used_deprecated && !l.track_dirty_pages);
	snapshot_load_free(&l);
	/* enable_diff_snapshots (deprecated) turns dirty page tracking on. */
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/s\","
		"\"mem_file_path\":\"/m\",\"enable_diff_snapshots\":true,"
		"\"track_dirty_pages\":false}"), &err), 0);
	CHECK(l.used_deprecated && l.track_dirty_pages);
	snapshot_load_free(&l);
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/s\","
		"\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"/m\"},"
		"\"enable_diff_snapshots\":false}"), &err), 0);
	CHECK(!l.used_deprecated && !l.track_dirty_pages);
	snapshot_load_free(&l);
	/* Full. */
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/srv/vm.snap\","
		"\"mem_backend\":{\"backend_path\":\"/run/uffd.sock\",\"backend_type\":\"Uffd\"},"
		"\"track_dirty_pages\":true,\"resume_vm\":true,\"clock_realtime\":false,"
		"\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap7\"},"
		"{\"iface_id\":\"eth1\",\"host_dev_name\":\"vmtap1\"}],"
		"\"vsock_override\":{\"uds_path\":\"/run/v.sock\"}}"), &err), 0);
	CHECK_STR(l.snapshot_path, "/srv/vm.snap");
	CHECK_EQ_U(l.backend_type, MEM_BACKEND_UFFD);
	CHECK_STR(l.backend_path, "/run/uffd.sock");
	CHECK(l.track_dirty_pages && l.resume_vm && !l.clock_realtime &&
	      !l.used_deprecated);
	CHECK_EQ_U(l.n_net_overrides, 2);
	CHECK_STR(l.net_overrides[0].iface_id, "eth0");
	CHECK_STR(l.net_overrides[0].host_dev_name, "tap7");
	CHECK_STR(l.net_overrides[1].iface_id, "eth1");
	CHECK_STR(l.net_overrides[1].host_dev_name, "vmtap1");
	CHECK_STR(l.vsock_uds_path, "/run/v.sock");
	snapshot_load_free(&l);
	CHECK(!l.vsock_uds_path && l.n_net_overrides == 0);
	/* Advancing kvmclock by the time elapsed is not offered: true is refused. */
	CHECK_EQ_I(cfg_parse_snapshot_load(&l, J("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		"\"clock_realtime\":true}"), &err), -EINVAL);
	CHECK(strstr(err.msg, "`clock_realtime` is not supported") != NULL);
	/* Nulls are absent; so is an empty list. */
	CHECK_EQ_I(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			     "\"mem_backend\":null,\"network_overrides\":[],"
			     "\"vsock_override\":null,\"resume_vm\":null}"), 0);

	/* Required fields, and Firecracker's memory source rule. */
	CHECK_ERR(snap_load("{\"mem_file_path\":\"/m\"}"),
		  "missing field `snapshot_path`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\"}"),
		  "missing field: either `mem_backend` or `mem_file_path` is required");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"mem_backend\":{\"backend_type\":\"File\","
			    "\"backend_path\":\"/m\"}}"),
		  "too many fields: either `mem_backend` or `mem_file_path` "
		  "exclusively is required");
	/* As in Firecracker, the body is read whole before that rule applies. */
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"mem_backend\":{\"backend_type\":\"Disk\","
			    "\"backend_path\":\"/m\"}}"),
		  "unknown variant for `backend_type`, expected one of `File`, `Uffd`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_backend\":"
			    "{\"backend_type\":\"file\",\"backend_path\":\"/m\"}}"),
		  "unknown variant for `backend_type`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_backend\":"
			    "{\"backend_type\":\"File\"}}"),
		  "missing field `backend_path` in mem_backend");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_backend\":"
			    "{\"backend_path\":\"/m\"}}"),
		  "missing field `backend_type` in mem_backend");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_backend\":"
			    "{\"backend_type\":\"File\",\"backend_path\":\"/m\",\"x\":1}}"),
		  "unknown field `x` in mem_backend");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_backend\":\"/m\"}"),
		  "invalid type for `mem_backend`: expected an object");

	/* Unknown keys and wrong types. */
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"snapshot_type\":\"Full\"}"),
		  "unknown field `snapshot_type` in snapshot load");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"resume_vm\":\"yes\"}"),
		  "invalid type for `resume_vm`: expected a boolean");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"enable_diff_snapshots\":1}"),
		  "invalid type for `enable_diff_snapshots`: expected a boolean");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"track_dirty_pages\":0}"),
		  "invalid type for `track_dirty_pages`: expected a boolean");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"clock_realtime\":\"true\"}"),
		  "invalid type for `clock_realtime`: expected a boolean");
	CHECK_ERR(snap_load("{\"snapshot_path\":[\"/s\"],\"mem_file_path\":\"/m\"}"),
		  "invalid type for `snapshot_path`: expected a string");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"\"}"),
		  "`mem_file_path` must not be empty");

	/* Network overrides: ids and tap names as PUT /network-interfaces has them. */
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":{}}"),
		  "invalid type for `network_overrides`: expected an array");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"eth0\"}]}"),
		  "network_overrides[0]: missing field `host_dev_name`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"host_dev_name\":\"t\"}]}"),
		  "network_overrides[0]: missing field `iface_id`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"e\","
			    "\"host_dev_name\":\"t\",\"guest_mac\":\"x\"}]}"),
		  "network_overrides[0]: unknown field `guest_mac` in network override");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"e-0\","
			    "\"host_dev_name\":\"t\"}]}"),
		  "network_overrides[0]: Invalid `iface_id`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"e\","
			    "\"host_dev_name\":\"1234567890123456\"}]}"),
		  "network_overrides[0]: Invalid `host_dev_name`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"e\","
			    "\"host_dev_name\":\"a/b\"}]}"),
		  "Invalid `host_dev_name`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"e\","
			    "\"host_dev_name\":5}]}"),
		  "invalid type for `host_dev_name`: expected a string");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[\"eth0\"]}"),
		  "network_overrides[0]: invalid type for `network override`");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"network_overrides\":[{\"iface_id\":\"eth0\","
			    "\"host_dev_name\":\"t0\"},{\"iface_id\":\"eth1\","
			    "\"host_dev_name\":\"t1\"},{\"iface_id\":\"eth0\","
			    "\"host_dev_name\":\"t2\"}]}"),
		  "network_overrides[2]: duplicate `iface_id` \"eth0\"");
	/* At most CFG_MAX_NETS of them: 0 to 8 pass, 9 fail. */
	for (k = 0; k <= CFG_MAX_NETS + 1; k++) {
		int n = snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\","
				 "\"mem_file_path\":\"/m\",\"network_overrides\":[");
		int i;

		for (i = 0; i < k; i++)
			n += snprintf(body + n, sizeof(body) - (size_t)n,
				      "%s{\"iface_id\":\"eth%d\",\"host_dev_name\":"
				      "\"tap%d\"}", i ? "," : "", i, i);
		snprintf(body + n, sizeof(body) - (size_t)n, "]}");
		if (k <= CFG_MAX_NETS) {
			CHECK_EQ_I(cfg_parse_snapshot_load(&l, body, strlen(body), &err), 0);
			CHECK_EQ_U(l.n_net_overrides, k);
			snapshot_load_free(&l);
		}
	}
	CHECK_ERR(snap_load(body), "Too many network overrides (max 8)");

	/* vsock_override: uds_path bounded as vsock's (sun_path). */
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"vsock_override\":{}}"),
		  "missing field `uds_path` in vsock_override");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"vsock_override\":{\"uds_path\":\"/v\",\"guest_cid\":3}}"),
		  "unknown field `guest_cid` in vsock_override");
	CHECK_ERR(snap_load("{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
			    "\"vsock_override\":\"/v\"}"),
		  "invalid type for `vsock_override`: expected an object");
	memset(path, 'p', 107);
	path[107] = '\0';
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\",\"mem_file_path\":"
		 "\"/m\",\"vsock_override\":{\"uds_path\":\"%s\"}}", path);
	CHECK_EQ_I(snap_load(body), 0);
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\",\"mem_file_path\":"
		 "\"/m\",\"vsock_override\":{\"uds_path\":\"%sp\"}}", path);
	CHECK_ERR(snap_load(body), "`uds_path` is too long (max 107 bytes)");
	/* A Uffd backend_path is a socket too; a File one is any host path. */
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\",\"mem_backend\":"
		 "{\"backend_type\":\"Uffd\",\"backend_path\":\"%sp\"}}", path);
	CHECK_ERR(snap_load(body), "`backend_path` is too long (max 107 bytes)");
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"/s\",\"mem_backend\":"
		 "{\"backend_type\":\"File\",\"backend_path\":\"%sp\"}}", path);
	CHECK_EQ_I(snap_load(body), 0);
}

/* mmds-config: the API body and the config file section, and GET /vm/config's view of it. */
static void test_mmds_config(void)
{
	static const char base[] = "{\"boot-source\":{\"kernel_image_path\":\"/k\"},"
		"\"network-interfaces\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}],";
	struct mmds_cfg m;
	struct vm_config c;
	char json[512], buf[2048];

#define MMDS(body) cfg_parse_mmds_config(&m, body, strlen(body), &err)
	CHECK_EQ_I(MMDS("{\"network_interfaces\":[\"eth0\"]}"), 0);
	CHECK(m.present && !m.v2 && !m.imds_compat && m.n_ifaces == 1);
	CHECK_EQ_U(m.ipv4, 0xa9fea9feu);
	CHECK_STR(m.ifaces[0], "eth0");
	CHECK(cfg_mmds_serves(&m, "eth0") && !cfg_mmds_serves(&m, "eth1"));
	CHECK_EQ_I(MMDS("{\"version\":\"V2\",\"network_interfaces\":[\"a\",\"b\"],"
			"\"ipv4_address\":\"169.254.1.0\",\"imds_compat\":true}"), 0);
	CHECK(m.v2 && m.imds_compat && m.n_ifaces == 2);
	CHECK_EQ_U(m.ipv4, 0xa9fe0100u);
	CHECK_ERR(MMDS("{\"version\":\"V3\",\"network_interfaces\":[\"a\"]}"), "version");
	CHECK_ERR(MMDS("{}"), "missing field `network_interfaces`");
	CHECK_ERR(MMDS("{\"network_interfaces\":[]}"), "is empty");
	CHECK_ERR(MMDS("{\"network_interfaces\":[1]}"), "network_interfaces");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"10.0.0.1\"}"),
		  "The MMDS IPv4 address is not link local.");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"169.254.0.7\"}"),
		  "not link local");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"169.254.255.7\"}"),
		  "not link local");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"169.254.1.256\"}"),
		  "invalid IPv4 address syntax");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"169.254.01.1\"}"),
		  "invalid IPv4 address syntax");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"ipv4_address\":\"169.254.1\"}"),
		  "invalid IPv4 address syntax");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"imds_compat\":1}"), "imds_compat");
	CHECK_ERR(MMDS("{\"network_interfaces\":[\"a\"],\"x\":1}"), "unknown field `x`");
#undef MMDS

	snprintf(json, sizeof(json), "%s\"mmds-config\":{\"network_interfaces\":[\"eth0\"],"
		 "\"version\":\"V2\"}}", base);
	CHECK_EQ_I(file(&c, json), 0);
	CHECK(c.mmds.present && c.mmds.v2);
	CHECK(config_to_json(&c, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "\"mmds-config\":{\"version\":\"V2\",\"imds_compat\":false,"
			  "\"network_interfaces\":[\"eth0\"],\"ipv4_address\":\"169.254.169.254\"}"));
	{
		/* The output reads back to the same configuration. */
		struct vm_config d;

		CHECK_EQ_I(file(&d, buf), 0);
		CHECK(config_equal(&c, &d));
		config_free(&d);
	}
	config_free(&c);
	snprintf(json, sizeof(json), "%s\"mmds-config\":{\"network_interfaces\":[\"eth1\"]}}",
		 base);
	CHECK_ERR(file(&c, json), "does not correspond to any existing network interface");
}

int main(void)
{
	RUN(test_mmds_config);
	RUN(test_defaults);
	RUN(test_machine_valid);
	RUN(test_machine_required);
	RUN(test_machine_ranges);
	RUN(test_wrong_types);
	RUN(test_unknown_and_duplicate);
	RUN(test_invalid_json);
	RUN(test_deep_nesting);
	RUN(test_null_handling);
	RUN(test_escapes);
	RUN(test_boot_source);
	RUN(test_drive_valid);
	RUN(test_drive_errors);
	RUN(test_ids);
	RUN(test_net);
	RUN(test_vsock);
	RUN(test_logger_metrics);
	RUN(test_root_drive);
	RUN(test_net_list);
	RUN(test_patch_machine);
	RUN(test_drive_patch);
	RUN(test_net_patch);
	RUN(test_action_state);
	RUN(test_file_full);
	RUN(test_file_errors);
	RUN(test_serial);
	RUN(test_snapshot_create);
	RUN(test_snapshot_load);
	RUN(test_to_json_bounds);
	RUN(test_data_files);
	return check_summary();
}
