/* test_jailer.c: unit tests of ember-jailer's pure helpers (jailer/validate.c, linked from libjailer.a). */
#include <elf.h>
#include <stdlib.h>

#include "check.h"
#include "config/config.h"
#include "jail.h"

/* -Wwrite-strings: literals are const; the parser only reads argv. */
#define ARGV(...) ((char **)(const char *[]){ "ember-jailer", __VA_ARGS__, NULL })
#define ARGC(v) jail_argc(v)
#define BASE_ARGS "--id", "vm-1", "--exec-file", "/usr/bin/ember", "--uid", "123", "--gid", "456"

static int jail_argc(char **v)
{
	int n = 0;

	while (v[n])
		n++;
	return n;
}

static int jail_test_parse(char **v, struct jail_cfg *cfg, char *msg)
{
	return jail_parse_args(ARGC(v), v, cfg, msg, 256);
}

static void test_valid_id(void)
{
	char s[80];

	CHECK(jail_valid_id("a"));
	CHECK(jail_valid_id("551e7604-e35c-42b3-b825-416853441234"));
	CHECK(!jail_valid_id(""));
	CHECK(!jail_valid_id(NULL));
	CHECK(!jail_valid_id("../x"));
	CHECK(!jail_valid_id("a/b"));
	CHECK(!jail_valid_id("a_b"));
	CHECK(!jail_valid_id("a b"));
	CHECK(!jail_valid_id("a."));
	memset(s, 'x', 64);
	s[64] = '\0';
	CHECK(jail_valid_id(s));
	s[64] = 'x';
	s[65] = '\0';
	CHECK(!jail_valid_id(s));
}

/* The jailer and ember must agree on ids: the jailer passes its --id on to ember. */
static void test_valid_id_agrees_with_ember(void)
{
	static const char alphabet[] = "aZ09-_./ \x01\xff";
	char s[70];
	unsigned seed = 12345, i, n, valid = 0;

	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		n = (seed >> 16) % 68;
		for (unsigned k = 0; k < n; k++) {
			seed = seed * 1103515245 + 12345;
			/* mostly valid characters, so that both outcomes are exercised */
			s[k] = alphabet[(seed >> 16) % 4 ? (seed >> 20) % 5 : (seed >> 20) % 11];
		}
		s[n] = '\0';
		if (!!jail_valid_id(s) != !!cfg_valid_vm_id(s)) {
			CHECK_STR(s, "an id both validators judge alike");
			break;
		}
		valid += jail_valid_id(s) != 0;
	}
	/* the generator must produce both outcomes, or the comparison proves nothing */
	CHECK(valid > 1000 && valid < 19000);
}

static void test_parse_u64(void)
{
	unsigned long long v = 7;

	CHECK(jail_parse_u64("0", 10, &v) == 0 && v == 0);
	CHECK(jail_parse_u64("4294967294", 0xfffffffeULL, &v) == 0 && v == 4294967294ULL);
	CHECK(jail_parse_u64("4294967295", 0xfffffffeULL, &v) == -1);
	CHECK(jail_parse_u64("18446744073709551615", ~0ULL, &v) == 0 && v == ~0ULL);
	CHECK(jail_parse_u64("18446744073709551616", ~0ULL, &v) == -1);
	CHECK(jail_parse_u64("", 10, &v) == -1);
	CHECK(jail_parse_u64("-1", 10, &v) == -1);
	CHECK(jail_parse_u64("+1", 10, &v) == -1);
	CHECK(jail_parse_u64(" 1", 10, &v) == -1);
	CHECK(jail_parse_u64("1x", 10, &v) == -1);
	CHECK(jail_parse_u64("0x10", 100, &v) == -1);
	CHECK(jail_parse_u64("11", 10, &v) == -1);
}

static void test_abs_path(void)
{
	CHECK(jail_check_abs_path("/") == NULL);
	CHECK(jail_check_abs_path("/srv/jailer") == NULL);
	CHECK(jail_check_abs_path("//srv//jailer/") == NULL);
	CHECK(jail_check_abs_path("/srv/..jailer/a..b/...") == NULL);
	CHECK(jail_check_abs_path("relative/path") != NULL);
	CHECK(jail_check_abs_path("") != NULL);
	CHECK(jail_check_abs_path("/srv/../etc") != NULL);
	CHECK(jail_check_abs_path("/srv/..") != NULL);
	CHECK(jail_check_abs_path("/srv/./jailer") != NULL);
	CHECK(jail_check_abs_path("/srv/.") != NULL);
	CHECK(jail_check_abs_path("/..") != NULL);
	CHECK(jail_check_abs_path("/a\nb") != NULL);
}

static void test_rel_path(void)
{
	CHECK(jail_check_rel_path("ember") == NULL);
	CHECK(jail_check_rel_path("a/b/c") == NULL);
	CHECK(jail_check_rel_path("user.slice") == NULL);
	CHECK(jail_check_rel_path("/abs") != NULL);
	CHECK(jail_check_rel_path("../x") != NULL);
	CHECK(jail_check_rel_path("a/../b") != NULL);
	CHECK(jail_check_rel_path("./a") != NULL);
	CHECK(jail_check_rel_path("a//b") != NULL);
	CHECK(jail_check_rel_path("a/") != NULL);
	CHECK(jail_check_rel_path("") != NULL);
}

static void test_name(void)
{
	char s[300];

	CHECK(jail_check_name("ember") == NULL);
	CHECK(jail_check_name("firecracker-v1.16") == NULL);
	CHECK(jail_check_name("") != NULL);
	CHECK(jail_check_name(".") != NULL);
	CHECK(jail_check_name("..") != NULL);
	CHECK(jail_check_name("a/b") != NULL);
	CHECK(jail_check_name("a\tb") != NULL);
	memset(s, 'n', 256);
	s[256] = '\0';
	CHECK(jail_check_name(s) != NULL);
	s[255] = '\0';
	CHECK(jail_check_name(s) == NULL);
}

static void test_cgroup_arg(void)
{
	struct jail_cgroup cg;
	const char *why = NULL;
	char big[5000];

	CHECK(jail_parse_cgroup("cpu.shares=512", &cg, &why) == 0);
	CHECK_STR(cg.file, "cpu.shares");
	CHECK_STR(cg.controller, "cpu");
	CHECK_STR(cg.value, "512");
	/* the controller is what comes before the first '.' */
	CHECK(jail_parse_cgroup("hugetlb.2MB.max=2097152", &cg, &why) == 0);
	CHECK_STR(cg.controller, "hugetlb");
	CHECK_STR(cg.file, "hugetlb.2MB.max");
	/* values may hold spaces and '=' (cgroup v2's io.max does) */
	CHECK(jail_parse_cgroup("io.max=8:0 rbps=1048576", &cg, &why) == 0);
	CHECK_STR(cg.value, "8:0 rbps=1048576");
	CHECK(jail_parse_cgroup("cpushares512", &cg, &why) == -1 && why);
	CHECK(jail_parse_cgroup("cpu.shares", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cpu.shares=", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("=512", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cpushares=512", &cg, &why) == -1);
	CHECK(jail_parse_cgroup(".shares=512", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cpu.=512", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("../cpu.shares=1", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cpu/x.shares=1", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cgroup.procs=1", &cg, &why) == -1);
	CHECK(jail_parse_cgroup("cpu.shares=1\n2", &cg, &why) == -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "cpu.shares=", 11);
	CHECK(jail_parse_cgroup(big, &cg, &why) == -1);
}

static void test_rlimit_arg(void)
{
	struct jail_cfg cfg;
	const char *why;

	memset(&cfg, 0, sizeof(cfg));
	CHECK(jail_parse_rlimit("fsize=1048576", &cfg, &why) == 0);
	CHECK(cfg.has_fsize && cfg.fsize == 1048576);
	CHECK(jail_parse_rlimit("no-file=1000", &cfg, &why) == 0);
	CHECK_EQ_U(cfg.nofile, 1000);
	CHECK(jail_parse_rlimit("no-file=abc", &cfg, &why) == -1);
	CHECK(jail_parse_rlimit("nofile=1", &cfg, &why) == -1);
	CHECK(jail_parse_rlimit("fsize", &cfg, &why) == -1);
	CHECK(jail_parse_rlimit("fsize=-1", &cfg, &why) == -1);
	CHECK_EQ_U(cfg.nofile, 1000);
}

static void test_args_defaults(void)
{
	struct jail_cfg cfg;
	char msg[256];

	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS), &cfg, msg), JAIL_EXIT_OK);
	CHECK_STR(cfg.id, "vm-1");
	CHECK_STR(cfg.exec_file, "/usr/bin/ember");
	CHECK_EQ_U(cfg.uid, 123);
	CHECK_EQ_U(cfg.gid, 456);
	CHECK_STR(cfg.chroot_base, "/srv/jailer");
	CHECK(cfg.netns == NULL && !cfg.daemonize && !cfg.new_pid_ns);
	CHECK_EQ_I(cfg.cgroup_version, 1);
	CHECK(cfg.parent_cgroup == NULL);
	CHECK_EQ_U(cfg.n_cgroups, 0);
	CHECK(!cfg.has_fsize);
	CHECK_EQ_U(cfg.nofile, 2048);
	CHECK_EQ_I(cfg.n_extra, 0);
}

static void test_args_full(void)
{
	struct jail_cfg cfg;
	char msg[256];
	char **v = ARGV(BASE_ARGS, "--chroot-base-dir=/var/jail", "--netns", "/var/run/netns/n1",
			"--daemonize", "--new-pid-ns", "--cgroup", "cpu.shares=512", "--cgroup",
			"cpuset.cpus=0", "--cgroup-version", "2", "--parent-cgroup", "vms/ember",
			"--resource-limit", "fsize=100", "--resource-limit", "no-file=64", "--",
			"--api-sock", "/run/api.sock", "--id");

	CHECK_EQ_I(jail_test_parse(v, &cfg, msg), JAIL_EXIT_OK);
	CHECK_STR(cfg.chroot_base, "/var/jail");
	CHECK_STR(cfg.netns, "/var/run/netns/n1");
	CHECK(cfg.daemonize && cfg.new_pid_ns);
	CHECK_EQ_U(cfg.n_cgroups, 2);
	CHECK_STR(cfg.cgroups[1].file, "cpuset.cpus");
	CHECK_STR(cfg.cgroups[1].value, "0");
	CHECK_EQ_I(cfg.cgroup_version, 2);
	CHECK_STR(cfg.parent_cgroup, "vms/ember");
	CHECK(cfg.has_fsize && cfg.fsize == 100);
	CHECK_EQ_U(cfg.nofile, 64);
	/* everything after "--" is the VMM's, even what looks like a jailer flag */
	CHECK_EQ_I(cfg.n_extra, 3);
	CHECK_STR(cfg.extra[0], "--api-sock");
	CHECK_STR(cfg.extra[2], "--id");
}

static void test_args_errors(void)
{
	struct jail_cfg cfg;
	char msg[256];
	char id65[66];

	memset(id65, 'a', 65);
	id65[65] = '\0';
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--bogus"), &cfg, msg), JAIL_EXIT_USAGE);
	CHECK(strstr(msg, "--bogus") != NULL);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "stray"), &cfg, msg), JAIL_EXIT_USAGE);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--netns"), &cfg, msg), JAIL_EXIT_USAGE);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--daemonize=yes"), &cfg, msg), JAIL_EXIT_USAGE);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--id", "vm-2"), &cfg, msg), JAIL_EXIT_USAGE);
	CHECK(strstr(msg, "more than once") != NULL);
	/* a flag is not silently taken as the previous flag's value */
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "--exec-file", "/x", "--uid", "1", "--gid", "1"), &cfg, msg),
		   JAIL_EXIT_USAGE);
	CHECK_EQ_I(jail_test_parse(ARGV("--exec-file", "/x", "--uid", "1", "--gid", "1"), &cfg, msg),
		   JAIL_EXIT_MISSING);
	CHECK(strstr(msg, "--id") != NULL);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "/x", "--gid", "1"), &cfg, msg),
		   JAIL_EXIT_MISSING);
	CHECK(strstr(msg, "--uid") != NULL);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "../x", "--exec-file", "/x", "--uid", "1", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_ID);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", id65, "--exec-file", "/x", "--uid", "1", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_ID);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "build/ember", "--uid", "1", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_EXEC_FILE);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "/x", "--uid", "abc", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_UID);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "/x", "--uid", "-1", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_UID);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "/x", "--uid", "4294967295", "--gid", "1"),
			 &cfg, msg), JAIL_EXIT_BAD_UID);
	CHECK_EQ_I(jail_test_parse(ARGV("--id", "a", "--exec-file", "/x", "--uid", "1", "--gid", "1x"),
			 &cfg, msg), JAIL_EXIT_BAD_GID);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--chroot-base-dir", "relative/path"), &cfg, msg),
		   JAIL_EXIT_BAD_CHROOT_BASE);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--chroot-base-dir", "/srv/../etc"), &cfg, msg),
		   JAIL_EXIT_BAD_CHROOT_BASE);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--netns", "netns-name"), &cfg, msg), JAIL_EXIT_BAD_NETNS);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--cgroup", "cpushares"), &cfg, msg), JAIL_EXIT_BAD_CGROUP);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--cgroup-version", "3"), &cfg, msg), JAIL_EXIT_BAD_CGROUP);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--parent-cgroup", "../up"), &cfg, msg),
		   JAIL_EXIT_BAD_CGROUP);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--parent-cgroup", "/abs"), &cfg, msg),
		   JAIL_EXIT_BAD_CGROUP);
	CHECK_EQ_I(jail_test_parse(ARGV(BASE_ARGS, "--resource-limit", "cpu=1"), &cfg, msg),
		   JAIL_EXIT_BAD_RLIMIT);
}

/* Problems are reported in a fixed order, whatever the order of the flags. */
static void test_args_error_order(void)
{
	struct jail_cfg cfg;
	char msg[256];

	CHECK_EQ_I(jail_test_parse(ARGV("--uid", "x", "--gid", "1", "--exec-file", "/x", "--id", "a/b"),
			 &cfg, msg), JAIL_EXIT_BAD_ID);
	CHECK_EQ_I(jail_test_parse(ARGV("--cgroup", "bad", "--uid", "x", "--gid", "1", "--exec-file", "/x",
			      "--id", "a"), &cfg, msg), JAIL_EXIT_BAD_UID);
}

static void test_help(void)
{
	struct jail_cfg cfg;
	char msg[256];

	CHECK_EQ_I(jail_test_parse(ARGV("--help"), &cfg, msg), JAIL_EXIT_OK);
	CHECK(cfg.help);
	CHECK_EQ_I(jail_test_parse(ARGV("--version"), &cfg, msg), JAIL_EXIT_OK);
	CHECK(cfg.version && !cfg.help);
}

static void test_mount_line(void)
{
	char l1[] = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n";
	char l2[] = "cgroup2 /sys/fs/cgroup/uni\\040fied cgroup2 rw,relatime 0 0\n";
	char l3[] = "short line\n";
	struct jail_mount m;

	CHECK(jail_mount_parse(l1, &m) == 0);
	CHECK_STR(m.dir, "/sys/fs/cgroup/cpu,cpuacct");
	CHECK_STR(m.type, "cgroup");
	CHECK(jail_has_word(m.opts, ',', "cpu"));
	CHECK(jail_has_word(m.opts, ',', "cpuacct"));
	CHECK(!jail_has_word(m.opts, ',', "cpuset"));
	CHECK(!jail_has_word(m.opts, ',', "cp"));
	CHECK(jail_mount_parse(l2, &m) == 0);
	CHECK_STR(m.dir, "/sys/fs/cgroup/uni fied");
	CHECK_STR(m.type, "cgroup2");
	CHECK(jail_mount_parse(l3, &m) == -1);
}

static void test_has_word(void)
{
	CHECK(jail_has_word("cpuset cpu io memory pids\n", ' ', "pids"));
	CHECK(jail_has_word("cpuset cpu io memory pids\n", ' ', "cpu"));
	CHECK(!jail_has_word("cpuset cpu io memory pids\n", ' ', "hugetlb"));
	CHECK(!jail_has_word("cpuset", ' ', "cpu"));
	CHECK(!jail_has_word("", ' ', "cpu"));
	CHECK(!jail_has_word("cpu", ' ', ""));
}

static void test_build_argv(void)
{
	/* at function scope: cfg.extra points into this array */
	char **v = ARGV(BASE_ARGS, "--", "--api-sock", "/run/api.sock");
	struct jail_cfg cfg;
	struct jail_times t = { 1000, 20, 300 };
	char msg[256], nums[3][24];
	const char *argv[16];
	int n;

	CHECK_EQ_I(jail_test_parse(v, &cfg, msg), 0);
	n = jail_build_argv(&cfg, "/ember", &t, nums, argv, 16);
	CHECK_EQ_I(n, 11);
	CHECK_STR(argv[0], "/ember");
	CHECK_STR(argv[1], "--id");
	CHECK_STR(argv[2], "vm-1");
	CHECK_STR(argv[3], "--start-time-us");
	CHECK_STR(argv[4], "1000");
	CHECK_STR(argv[5], "--start-time-cpu-us");
	CHECK_STR(argv[6], "20");
	CHECK_STR(argv[7], "--parent-cpu-time-us");
	CHECK_STR(argv[8], "300");
	CHECK_STR(argv[9], "--api-sock");
	CHECK_STR(argv[10], "/run/api.sock");
	CHECK(argv[11] == NULL);
	CHECK_EQ_I(jail_build_argv(&cfg, "/ember", &t, nums, argv, 11), -1);
}

static void test_path(void)
{
	char buf[8];

	CHECK(jail_path(buf, sizeof(buf), "/%s", "abcdef") == 0);
	CHECK_STR(buf, "/abcdef");
	CHECK(jail_path(buf, sizeof(buf), "/%s", "abcdefg") == -1);
}

static void test_elf_interp(void)
{
	unsigned char img[512];
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	uint64_t off = 0, size = 0;

	memset(img, 0, sizeof(img));
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	memset(ph, 0, sizeof(ph));
	ph[0].p_type = PT_LOAD;
	ph[1].p_type = PT_INTERP;
	ph[1].p_offset = 300;
	ph[1].p_filesz = 28;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	CHECK_EQ_I(jail_elf_interp(img, sizeof(img), &off, &size), 1);
	CHECK_EQ_U(off, 300);
	CHECK_EQ_U(size, 28);
	/* a static binary: no PT_INTERP */
	ph[1].p_type = PT_DYNAMIC;
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	CHECK_EQ_I(jail_elf_interp(img, sizeof(img), &off, &size), 0);
	/* program headers beyond what was read, a truncated header, not ELF */
	CHECK_EQ_I(jail_elf_interp(img, sizeof(eh) + sizeof(Elf64_Phdr), &off, &size), -1);
	CHECK_EQ_I(jail_elf_interp(img, 10, &off, &size), -1);
	img[1] = 'X';
	CHECK_EQ_I(jail_elf_interp(img, sizeof(img), &off, &size), -1);
}

int main(void)
{
	RUN(test_valid_id);
	RUN(test_valid_id_agrees_with_ember);
	RUN(test_parse_u64);
	RUN(test_abs_path);
	RUN(test_rel_path);
	RUN(test_name);
	RUN(test_cgroup_arg);
	RUN(test_rlimit_arg);
	RUN(test_args_defaults);
	RUN(test_args_full);
	RUN(test_args_errors);
	RUN(test_args_error_order);
	RUN(test_help);
	RUN(test_mount_line);
	RUN(test_has_word);
	RUN(test_build_argv);
	RUN(test_path);
	RUN(test_elf_interp);
	return check_summary();
}
