/* main.c: ember's command line, then a linear set-up, the event loop and the exit code. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sys/timerfd.h>

#include "config/config.h"
#include "devices/boottimer.h"
#include "event/loop.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "seccomp_filters.h"
#include "server.h"
#include "version.h"
#include "vmm/vmm.h"
#include "vmm/api.h"

#define DEFAULT_API_SOCK     "/run/ember.socket"
#define METRICS_PERIOD_S     60
#define CONFIG_FILE_MAX      (1024 * 1024)
#define DEFAULT_MAX_PAYLOAD  51200

struct opts {
	const char *api_sock;
	const char *config_file;
	const char *metadata;    /* --metadata: the MMDS store's first contents */
	const char *id;
	const char *log_path;
	const char *level;
	const char *metrics_path;
	const char *seccomp_filter;
	int no_api, boot_timer, show_level, show_origin, no_seccomp;
	unsigned long max_payload;
	unsigned long mmds_size_limit;   /* 0: max_payload, as in Firecracker */
	unsigned long long start_time_us, start_time_cpu_us, parent_cpu_time_us;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ember [options]\n"
		"  --api-sock PATH                 API socket (default " DEFAULT_API_SOCK ")\n"
		"  --config-file PATH              boot at once from a Firecracker config file\n"
		"  --no-api                        no API socket (needs --config-file)\n"
		"  --id ID                         instance id, 1-64 of [A-Za-z0-9-]\n"
		"  --boot-timer                    log the guest's boot time on its signal\n"
		"  --log-path PATH                 log to PATH instead of stdout\n"
		"  --level LEVEL                   Error, Warning, Info (default), Debug, Trace, Off\n"
		"  --show-level, --show-log-origin add the level / source location to log lines\n"
		"  --metrics-path PATH             write metrics as JSON lines to PATH\n"
		"  --no-seccomp                    do not install seccomp filters\n"
		"  --seccomp-filter PATH           seccomp filters in Firecracker's JSON format\n"
		"  --http-api-max-payload-size N   largest API request body (default 51200)\n"
		"  --mmds-size-limit N             largest MMDS store, as JSON (default: the above)\n"
		"  --metadata PATH                 the MMDS store's contents at start (a JSON object)\n"
		"  --version, --help\n");
}

enum {
	OPT_API_SOCK = 256, OPT_CONFIG_FILE, OPT_NO_API, OPT_ID, OPT_BOOT_TIMER, OPT_LOG_PATH,
	OPT_LEVEL, OPT_SHOW_LEVEL, OPT_SHOW_ORIGIN, OPT_METRICS_PATH, OPT_NO_SECCOMP,
	OPT_SECCOMP_FILTER, OPT_MAX_PAYLOAD, OPT_MMDS_SIZE_LIMIT, OPT_METADATA, OPT_VERSION, OPT_HELP, OPT_START_US,
	OPT_START_CPU_US, OPT_PARENT_CPU_US,
};

static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "api-sock", required_argument, NULL, OPT_API_SOCK },
		{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
		{ "no-api", no_argument, NULL, OPT_NO_API },
		{ "id", required_argument, NULL, OPT_ID },
		{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
		{ "log-path", required_argument, NULL, OPT_LOG_PATH },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
		{ "show-log-origin", no_argument, NULL, OPT_SHOW_ORIGIN },
		{ "metrics-path", required_argument, NULL, OPT_METRICS_PATH },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER },
		{ "http-api-max-payload-size", required_argument, NULL, OPT_MAX_PAYLOAD },
		{ "mmds-size-limit", required_argument, NULL, OPT_MMDS_SIZE_LIMIT },
		{ "metadata", required_argument, NULL, OPT_METADATA },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "start-time-us", required_argument, NULL, OPT_START_US },
		{ "start-time-cpu-us", required_argument, NULL, OPT_START_CPU_US },
		{ "parent-cpu-time-us", required_argument, NULL, OPT_PARENT_CPU_US },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n;
	int c;

	memset(o, 0, sizeof(*o));
	o->api_sock = DEFAULT_API_SOCK;
	o->id = "anonymous-instance";
	o->max_payload = DEFAULT_MAX_PAYLOAD;
	opterr = 0;
	while ((c = getopt_long_only(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_API_SOCK: o->api_sock = optarg; break;
		case OPT_CONFIG_FILE: o->config_file = optarg; break;
		case OPT_METADATA: o->metadata = optarg; break;
		case OPT_NO_API: o->no_api = 1; break;
		case OPT_ID: o->id = optarg; break;
		case OPT_BOOT_TIMER: o->boot_timer = 1; break;
		case OPT_LOG_PATH: o->log_path = optarg; break;
		case OPT_LEVEL: o->level = optarg; break;
		case OPT_SHOW_LEVEL: o->show_level = 1; break;
		case OPT_SHOW_ORIGIN: o->show_origin = 1; break;
		case OPT_METRICS_PATH: o->metrics_path = optarg; break;
		case OPT_NO_SECCOMP: o->no_seccomp = 1; break;
		case OPT_SECCOMP_FILTER: o->seccomp_filter = optarg; break;
		case OPT_MAX_PAYLOAD:
			if (parse_ull(optarg, &n) || n == 0 || n > 64 * 1024 * 1024) {
				fprintf(stderr, "ember: bad --http-api-max-payload-size '%s'\n", optarg);
				return -1;
			}
			o->max_payload = (unsigned long)n;
			break;
		case OPT_MMDS_SIZE_LIMIT:
			if (parse_ull(optarg, &n) || n == 0 || n > 64 * 1024 * 1024) {
				fprintf(stderr, "ember: bad --mmds-size-limit '%s'\n", optarg);
				return -1;
			}
			o->mmds_size_limit = (unsigned long)n;
			break;
		case OPT_START_US:
		case OPT_START_CPU_US:
		case OPT_PARENT_CPU_US:
			if (parse_ull(optarg, &n)) {
				fprintf(stderr, "ember: bad value '%s' for --%s\n", optarg,
					longopts[c - OPT_API_SOCK].name);
				return -1;
			}
			if (c == OPT_START_US)
				o->start_time_us = n;
			else if (c == OPT_START_CPU_US)
				o->start_time_cpu_us = n;
			else
				o->parent_cpu_time_us = n;
			break;
		case OPT_VERSION:
			printf("ember v%s\n", EMBER_VERSION);
			exit(EXIT_OK);
		case OPT_HELP:
			usage(stdout);
			exit(EXIT_OK);
		default:
			fprintf(stderr, "ember: unknown or incomplete argument '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ember: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->no_api && !o->config_file) {
		fprintf(stderr, "ember: --no-api requires --config-file\n");
		return -1;
	}
	if (!cfg_valid_vm_id(o->id)) {
		fprintf(stderr, "ember: invalid --id '%s': 1-64 characters of [A-Za-z0-9-]\n", o->id);
		return -1;
	}
	if (o->level && log_parse_level(o->level) < 0) {
		fprintf(stderr, "ember: invalid --level '%s'\n", o->level);
		return -1;
	}
	return 0;
}

/* Read a whole config file (bounded). Returns a malloc()ed buffer or NULL with errno. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n <= 0) {
			free(buf);
			buf = NULL;
			errno = n == 0 ? EIO : errno;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (buf) {
		buf[off] = '\0';
		*len = off;
	}
	return buf;
}

static struct termios term_saved;
static int term_is_raw;

static void term_restore(void)
{
	if (term_is_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &term_saved);
		term_is_raw = 0;
	}
}

/* Raw mode: keys (Ctrl-C included) go to the guest; the guest's serial does the echo. */
static void term_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &term_saved) < 0)
		return;
	t = term_saved;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
		term_is_raw = 1;
		atexit(term_restore);
	}
}

static int signal_exit_code;
static int signal_fd = -1;

static void on_signal(void *opaque, uint32_t events)
{
	struct evloop *loop = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	LOG_INFO("Received signal %u, shutting down", si.ssi_signo);
	signal_exit_code = 128 + (int)si.ssi_signo;
	evloop_stop(loop);
}

/* SIGTERM, SIGINT, SIGHUP end the VM cleanly (terminal restored); the kick signal stays blocked here. */
static int setup_signals(struct evloop *loop)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGRTMIN);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -1;
	sigdelset(&set, SIGRTMIN);
	signal(SIGPIPE, SIG_IGN);
	signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0)
		return -1;
	return evloop_add(loop, signal_fd, EPOLLIN, on_signal, loop);
}

/*
 * The guest's console output must never block a vCPU: a non-blocking descriptor
 * of stdout. A pipe or terminal is reopened through /proc (a description of its
 * own, so the shell's stays as it was); a regular file is used as it is (writes
 * to it do not wait, and reopening would lose its offset); otherwise stdout
 * itself is made non-blocking.
 */
static int console_output_fd(void)
{
	struct stat st;
	int fd, fl;

	if (fstat(STDOUT_FILENO, &st) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return STDOUT_FILENO;
	fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0)
		return fd;
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl >= 0)
		(void)fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK);
	return STDOUT_FILENO;
}

/* The API thread locks itself down before it reads a byte from a client. */
static int api_thread_seccomp(void *opaque)
{
	(void)opaque;
	if (seccomp_install(SECCOMP_API)) {
		LOG_ERROR("Cannot install the API thread's seccomp filter");
		return -1;
	}
	return 0;
}

static void on_api_request(void *opaque, uint32_t events)
{
	(void)events;
	api_server_service(opaque);
}

static void on_metrics_timer(void *opaque, uint32_t events)
{
	uint64_t n;
	int *fd = opaque;

	(void)events;
	if (read(*fd, &n, sizeof(n)) == sizeof(n) && metrics_is_open())
		metrics_flush();
}

/* Flush metrics every 60 s while a destination is set. */
static int setup_metrics_timer(struct evloop *loop, int *fd)
{
	struct itimerspec its = { { METRICS_PERIOD_S, 0 }, { METRICS_PERIOD_S, 0 } };

	*fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (*fd < 0 || timerfd_settime(*fd, 0, &its, NULL) < 0)
		return -1;
	return evloop_add(loop, *fd, EPOLLIN, on_metrics_timer, fd);
}

/* Logger and metrics from the command line, as if configured first. */
static int configure_from_flags(struct vmm *vmm, const struct opts *o)
{
	struct logger_cfg lc;
	struct metrics_cfg mc;
	struct err e = { { 0 } };

	memset(&lc, 0, sizeof(lc));
	lc.present = true;
	lc.level = o->level ? (enum log_level)log_parse_level(o->level) : LOG_LEVEL_INFO;
	lc.show_level = o->show_level;
	lc.show_log_origin = o->show_origin;
	if (o->log_path) {
		lc.log_path = strdup(o->log_path);
		if (!lc.log_path || vmm_set_logger(vmm, &lc, &e)) {
			fprintf(stderr, "ember: %s\n", e.msg[0] ? e.msg : "out of memory");
			logger_free(&lc);
			return -1;
		}
	} else {
		log_configure(&lc);
	}
	if (o->metrics_path) {
		memset(&mc, 0, sizeof(mc));
		mc.present = true;
		mc.metrics_path = strdup(o->metrics_path);
		if (!mc.metrics_path || vmm_set_metrics(vmm, &mc, &e)) {
			fprintf(stderr, "ember: %s\n", e.msg[0] ? e.msg : "out of memory");
			metrics_free(&mc);
			return -1;
		}
	}
	return 0;
}

static int load_config_file(struct vmm *vmm, const char *path)
{
	struct vm_config cfg;
	struct err e = { { 0 } };
	size_t len;
	char *json = read_file(path, &len);
	int r;

	if (!json) {
		LOG_ERROR("Cannot read config file %s: %s", path, strerror(errno));
		return -1;
	}
	r = config_parse_file(&cfg, json, len, &e);
	free(json);
	if (r) {
		LOG_ERROR("Invalid config file %s: %s", path, e.msg);
		return -1;
	}
	r = vmm_apply_config(vmm, &cfg, &e);
	config_free(&cfg);
	if (r) {
		LOG_ERROR("Invalid config file %s: %s", path, e.msg);
		return -1;
	}
	return 0;
}

/* --metadata: the file's JSON object becomes the MMDS store, as a PUT /mmds would. */
static int load_metadata(struct vmm *vmm, const char *path)
{
	struct err e = { { 0 } };
	size_t len;
	char *json = read_file(path, &len);
	int r;

	if (!json) {
		LOG_ERROR("Cannot read metadata file %s: %s", path, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&vmm->mmds.lock);
	r = mmds_store_put(&vmm->mmds.store, json, len, &e);
	pthread_mutex_unlock(&vmm->mmds.lock);
	free(json);
	if (r) {
		LOG_ERROR("Invalid metadata file %s: %s", path, e.msg);
		return -1;
	}
	return 0;
}

/* Firecracker's api_server.process_startup_time_us/_cpu_us, from the jailer's clock if given. */
static void record_startup(const struct opts *o, uint64_t t0_us, uint64_t t0_cpu_us)
{
	uint64_t now = clock_now_us(), cpu = clock_cpu_us();
	uint64_t start = o->start_time_us ? o->start_time_us : t0_us;

	(void)t0_cpu_us;
	metric_set(M_api_server_process_startup_time_us, now > start ? now - start : 0);
	metric_set(M_api_server_process_startup_time_cpu_us,
		   cpu + o->parent_cpu_time_us - (o->start_time_us ? o->start_time_cpu_us : 0));
}

int main(int argc, char **argv)
{
	uint64_t t0_us = clock_now_us(), t0_cpu_us = clock_cpu_us();
	struct api_server *api;
	struct opts o;
	struct evloop loop;
	struct vmm vmm;
	struct vmm_opts vo;
	struct err e = { { 0 } };
	int r, code, timer_fd = -1;

	/*
	 * One malloc arena: no per-thread heaps (less memory per VM), and glibc
	 * never needs to open /proc/sys/vm/overcommit_memory to shrink one,
	 * which seccomp would refuse.
	 */
	mallopt(M_ARENA_MAX, 1);
	/* Large (it holds a request and its answer); zeroed, so api_server_stop() is always safe. */
	api = calloc(1, sizeof(*api));
	if (!api) {
		fprintf(stderr, "ember: out of memory\n");
		return EXIT_GENERIC_ERROR;
	}
	if (parse_args(argc, argv, &o))
		return EXIT_BAD_ARGS;
	log_init(o.id);
	if (seccomp_setup(o.no_seccomp, o.seccomp_filter, &e)) {
		fprintf(stderr, "ember: %s\n", e.msg);
		return EXIT_BAD_ARGS;
	}
	if (evloop_init(&loop) || setup_signals(&loop) || setup_metrics_timer(&loop, &timer_fd)) {
		fprintf(stderr, "ember: cannot set up the event loop: %s\n", strerror(errno));
		return EXIT_GENERIC_ERROR;
	}
	memset(&vo, 0, sizeof(vo));
	vo.instance_id = o.id;
	vo.boot_timer = o.boot_timer;
	vo.mmds_size_limit = o.mmds_size_limit ? o.mmds_size_limit : o.max_payload;
	vo.console_fd_in = STDIN_FILENO;
	vo.console_fd_out = console_output_fd();
	log_set_stdout(vo.console_fd_out);
	if ((r = vmm_init(&vmm, &vo, &loop))) {
		fprintf(stderr, "ember: cannot create the VMM: %s\n", strerror(-r));
		return EXIT_GENERIC_ERROR;
	}
	if (configure_from_flags(&vmm, &o)) {
		vmm_destroy(&vmm);
		return EXIT_BAD_ARGS;
	}
	LOG_INFO("Running ember v%s", EMBER_VERSION);
	if (o.metadata && load_metadata(&vmm, o.metadata)) {
		vmm_destroy(&vmm);
		return EXIT_BAD_CONFIG;
	}
	if (o.config_file && load_config_file(&vmm, o.config_file)) {
		vmm_destroy(&vmm);
		return EXIT_BAD_CONFIG;
	}
	api->listen_fd = -1;
	if (!o.no_api) {
		r = api_server_init(api, o.api_sock, o.max_payload, &vmm_api_table, &vmm, &e);
		api->thread_init = api_thread_seccomp;
		if (r || evloop_add(&loop, api->req_efd, EPOLLIN, on_api_request, api) ||
		    api_server_start(api)) {
			LOG_ERROR("Cannot start the API server: %s", e.msg);
			api_server_stop(api);
			vmm_destroy(&vmm);
			return EXIT_GENERIC_ERROR;
		}
		record_startup(&o, t0_us, t0_cpu_us);
		LOG_INFO("API server listening on %s", o.api_sock);
		/* While the client sends its configuration: the VM itself (API requests wait for this). */
		if (!o.config_file)
			vmm_prewarm(&vmm, 0);
	}
	/* Before any seccomp filter: a terminal is switched to raw mode once, here. */
	term_raw();
	if (o.config_file) {
		if (vmm_start(&vmm, &e)) {
			LOG_ERROR("Cannot boot the microVM: %s", e.msg);
			api_server_stop(api);
			vmm_destroy(&vmm);
			return EXIT_BAD_CONFIG;
		}
		if (metrics_is_open())
			metrics_flush();
	}
	r = evloop_run(&loop);
	code = signal_exit_code ? signal_exit_code : vmm_exit_code(&vmm);
	if (r)
		code = EXIT_GENERIC_ERROR;
	if (metrics_is_open())
		metrics_flush();
	api_server_stop(api);
	free(api);
	vmm_destroy(&vmm);
	evloop_destroy(&loop);
	term_restore();
	LOG_INFO("ember exiting with code %d", code);
	return code;
}
