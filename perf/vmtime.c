/*
 * vmtime.c: launches one or more VMM processes at once and timestamps, from the moment just
 * before each fork+exec (t0):
 *   - the API socket accepting a connection (connect() polled every 20 us) and the answer to
 *     a GET /, with the process's CPU time at each point (clock_getcpuclockid: every thread,
 *     the exec and the dynamic loader included, ns resolution);
 *   - API requests sent from a file, the InstanceStart one timed;
 *   - the first byte the process writes on stdout/stderr, and the first line starting with
 *     each --mark prefix (the guest's serial output and the VMM's log share stdout);
 *   - the exit, with rusage (user, system, max RSS).
 * --hold PREFIX waits until every instance printed such a line, runs --hold-cmd with the pids
 * appended (e.g. the smaps reader), then sends SIGTERM to every instance.
 * --cgroup DIR puts every instance into that cgroup (written to DIR/cgroup.procs before exec),
 * so that its memory counters hold the VMs' host memory, kernel-side KVM state included.
 * --task-cpu PREFIX appends every thread's CPU time at each mark to PREFIX.<instance>.
 * One CSV row per instance is appended to -o. Times in microseconds (0.1 us resolution);
 * -1 when the event did not happen.
 *
 *   vmtime -o out.csv -l LABEL -R RUN [-n N] [--sock PATH] [--get] [--req FILE]
 *          [--mark PREFIX]... [--hold PREFIX --hold-cmd CMD] [--kill-ready] [--timeout S]
 *          [--save PREFIX] [--cgroup DIR] -- command args...
 * "%i" in the command, --sock, --req file contents and --save is replaced by the instance
 * index (0..N-1).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXN     256
#define MAXMARK  6
#define LINEMAX  4096

struct inst {
	pid_t pid;
	int out_fd;                /* read end of the child's stdout+stderr pipe */
	FILE *save;
	clockid_t cpuclk;
	int64_t t0;                /* ns, CLOCK_MONOTONIC, just before fork */
	char sock[108];
	int64_t ready, ready_cpu, resp, resp_cpu, start_sent, start_done, first_byte;
	int64_t mark[MAXMARK], mark_cpu[MAXMARK];
	int64_t exit_t;
	int exited, eof, status;
	struct rusage ru;
	char line[LINEMAX];
	size_t linelen;
	int http_status_bad;
};

static struct inst in[MAXN];
static const char *taskcpu;        /* --task-cpu PREFIX: per-thread CPU at every mark */
static int n = 1;
static const char *marks[MAXMARK];
static int nmarks;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_ns(const struct inst *p)
{
	struct timespec ts;

	if (clock_gettime(p->cpuclk, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Replace every "%i" in s by i. */
static char *subst(const char *s, int i)
{
	size_t len = strlen(s) + 64, o = 0;
	char *r = malloc(len + strlen(s) * 8);

	for (const char *c = s; *c; c++) {
		if (c[0] == '%' && c[1] == 'i') {
			o += sprintf(r + o, "%d", i);
			c++;
		} else {
			r[o++] = *c;
		}
	}
	r[o] = 0;
	return r;
}

static int try_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	close(fd);
	return -1;
}

/* One HTTP/1.1 request, read the whole response; returns the status code or -1. */
static int http(int fd, const char *method, const char *path, const char *body)
{
	char req[8192], resp[8192];
	size_t blen = body ? strlen(body) : 0, got = 0;
	int len;

	if (body && blen)
		len = snprintf(req, sizeof(req),
			       "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			       method, path, blen, body);
	else
		len = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
			       method, path);
	if (write(fd, req, len) != len)
		return -1;
	for (;;) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
		char *hend, *cl;
		long want = 0;

		if (r <= 0)
			return -1;
		got += r;
		resp[got] = 0;
		hend = strstr(resp, "\r\n\r\n");
		if (!hend)
			continue;
		cl = strcasestr(resp, "Content-Length:");
		if (cl && cl < hend)
			want = strtol(cl + 15, NULL, 10);
		if ((long)(got - (hend + 4 - resp)) >= want)
			break;
	}
	return atoi(resp + 9);
}

/*
 * Append "mark tid vcpu cpu_ns comm" for every thread of p to PREFIX.<instance>: CPU time from
 * /proc/PID/task/TID/sched (se.sum_exec_runtime, ms with ns digits); vcpu = 1 when the thread
 * has run guest code (guest_time, /proc/.../stat field 43, > 0) or is named "CPU n/KVM".
 */
static void task_cpu(struct inst *p, int idx, int mark)
{
	char path[256], buf[8192];
	FILE *out;

	snprintf(path, sizeof(path), "%s.%d", taskcpu, idx);
	out = fopen(path, "a");
	if (!out)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
	DIR *dir = opendir(path);
	struct dirent *de;

	while (dir && (de = readdir(dir))) {
		int tid = atoi(de->d_name), vcpu = 0;
		char comm[64] = "", *q;
		double ms = -1;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", p->pid, tid);
		if ((f = fopen(path, "r"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = 0;
			fclose(f);
		}
		for (q = comm; *q; q++)
			if (*q == ' ' || *q == ',')
				*q = '_';
		/* guest_time (stat field 43) > 0: the thread has run guest code, a vCPU. */
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", p->pid, tid);
		if ((f = fopen(path, "r"))) {
			if (fgets(buf, sizeof(buf), f) && (q = strrchr(buf, ')'))) {
				char *tok = strtok(q + 1, " ");
				for (int fld = 3; tok && fld < 43; fld++)
					tok = strtok(NULL, " ");
				if (tok && atol(tok) > 0)
					vcpu = 1;
			}
			fclose(f);
		}
		if (strncmp(comm, "CPU_", 4) == 0 && strstr(comm, "/KVM"))
			vcpu = 1;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/sched", p->pid, tid);
		if ((f = fopen(path, "r"))) {
			while (fgets(buf, sizeof(buf), f))
				if (strncmp(buf, "se.sum_exec_runtime", 19) == 0) {
					q = strchr(buf, ':');
					ms = q ? atof(q + 1) : -1;
				}
			fclose(f);
		}
		if (tid <= 0)
			continue;
		fprintf(out, "%d %d %d %.0f %s\n", mark, tid, vcpu, ms * 1e6, comm);
	}
	if (dir)
		closedir(dir);
	fclose(out);
}

static void on_line(struct inst *p, const char *line, int64_t t)
{
	for (int m = 0; m < nmarks; m++)
		if (p->mark[m] < 0 && strncmp(line, marks[m], strlen(marks[m])) == 0) {
			p->mark[m] = t - p->t0;
			p->mark_cpu[m] = p->exited ? -1 : cpu_ns(p);
			if (taskcpu && !p->exited)
				task_cpu(p, (int)(p - in), m);
		}
}

static void drain(struct inst *p)
{
	char buf[16384];

	for (;;) {
		ssize_t r = read(p->out_fd, buf, sizeof(buf));
		int64_t t = now_ns();

		if (r == 0) {
			p->eof = 1;
			return;
		}
		if (r < 0)
			return;
		if (p->first_byte < 0)
			p->first_byte = t - p->t0;
		if (p->save)
			fwrite(buf, 1, r, p->save);
		for (ssize_t k = 0; k < r; k++) {
			if (buf[k] == '\n' || p->linelen == LINEMAX - 1) {
				p->line[p->linelen] = 0;
				on_line(p, p->line, t);
				p->linelen = 0;
			} else {
				p->line[p->linelen++] = buf[k];
			}
		}
		/* A partial line can already carry a mark (e.g. a prompt without newline). */
		if (p->linelen) {
			p->line[p->linelen] = 0;
			on_line(p, p->line, t);
		}
	}
}

static double us(int64_t ns)
{
	return ns < 0 ? -1.0 : ns / 1000.0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sock", required_argument, 0, 's' }, { "get", no_argument, 0, 'g' },
		{ "req", required_argument, 0, 'q' }, { "mark", required_argument, 0, 'm' },
		{ "hold", required_argument, 0, 'H' }, { "hold-cmd", required_argument, 0, 'C' },
		{ "kill-ready", no_argument, 0, 'k' }, { "timeout", required_argument, 0, 't' },
		{ "save", required_argument, 0, 'S' }, { "cgroup", required_argument, 0, 'G' },
		{ "task-cpu", required_argument, 0, 'T' },
		{ 0, 0, 0, 0 },
	};
	const char *csv = NULL, *label = "run", *sock = NULL, *reqfile = NULL, *hold = NULL;
	const char *holdcmd = NULL, *save = NULL, *cgroup = NULL;
	int run = 0, get = 0, kill_ready = 0, c, ep, sfd, all_held_done = 0;
	double timeout_s = 60;
	sigset_t ss;
	int64_t deadline;
	FILE *f;

	while ((c = getopt_long(argc, argv, "o:l:R:n:", lo, NULL)) != -1) {
		switch (c) {
		case 'o': csv = optarg; break;
		case 'l': label = optarg; break;
		case 'R': run = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 's': sock = optarg; break;
		case 'g': get = 1; break;
		case 'q': reqfile = optarg; break;
		case 'm': if (nmarks < MAXMARK) marks[nmarks++] = optarg; break;
		case 'H': hold = optarg; break;
		case 'C': holdcmd = optarg; break;
		case 'k': kill_ready = 1; break;
		case 't': timeout_s = atof(optarg); break;
		case 'S': save = optarg; break;
		case 'G': cgroup = optarg; break;
		case 'T': taskcpu = optarg; break;
		default: fprintf(stderr, "vmtime: bad option\n"); return 2;
		}
	}
	if (hold && nmarks < MAXMARK)
		marks[nmarks++] = hold;
	if (optind >= argc || n < 1 || n > MAXN || !csv) {
		fprintf(stderr, "usage: vmtime -o CSV [-l LABEL] [-R RUN] [-n N] [--sock P] [--get] "
				"[--req FILE] [--mark PFX]... [--hold PFX --hold-cmd CMD] "
				"[--kill-ready] [--timeout S] [--save PFX] -- cmd...\n");
		return 2;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = MAXN };
		epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	}

	/* Prepare every instance's argv first, so the launches follow each other closely. */
	char **av[MAXN];
	int nargs = argc - optind;
	for (int i = 0; i < n; i++) {
		struct inst *p = &in[i];

		av[i] = calloc(nargs + 1, sizeof(char *));
		for (int a = 0; a < nargs; a++)
			av[i][a] = subst(argv[optind + a], i);
		p->ready = p->ready_cpu = p->resp = p->resp_cpu = p->start_sent = -1;
		p->start_done = p->first_byte = p->exit_t = -1;
		for (int m = 0; m < MAXMARK; m++)
			p->mark[m] = p->mark_cpu[m] = -1;
		if (sock) {
			char *s = subst(sock, i);
			snprintf(p->sock, sizeof(p->sock), "%s", s);
			unlink(p->sock);
			free(s);
		}
		if (save) {
			char *s = subst(save, i);
			p->save = fopen(s, "w");
			free(s);
		}
	}
	for (int i = 0; i < n; i++) {
		struct inst *p = &in[i];
		int pfd[2];

		if (pipe2(pfd, O_CLOEXEC)) {
			perror("pipe");
			return 1;
		}
		p->t0 = now_ns();
		p->pid = fork();
		if (p->pid == 0) {
			int nul = open("/dev/null", O_RDONLY);

			sigprocmask(SIG_UNBLOCK, &ss, NULL);
			if (cgroup) {
				char cp[4096], pid[32];
				int cfd, l = snprintf(pid, sizeof(pid), "%d\n", getpid());

				snprintf(cp, sizeof(cp), "%s/cgroup.procs", cgroup);
				cfd = open(cp, O_WRONLY);
				if (cfd < 0 || write(cfd, pid, l) != l)
					_exit(126);
				close(cfd);
			}
			dup2(nul, 0);
			dup2(pfd[1], 1);
			dup2(pfd[1], 2);
			execvp(av[i][0], av[i]);
			_exit(127);
		}
		close(pfd[1]);
		p->out_fd = pfd[0];
		fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
		if (clock_getcpuclockid(p->pid, &p->cpuclk))
			p->cpuclk = -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, p->out_fd, &ev);
	}
	deadline = now_ns() + (int64_t)(timeout_s * 1e9);

	for (;;) {
		int waiting_sock = 0, live = 0, nheld = 0;
		struct epoll_event evs[64];

		for (int i = 0; i < n; i++) {
			if (!in[i].exited || !in[i].eof)
				live++;
			if (sock && in[i].ready < 0 && !in[i].exited)
				waiting_sock = 1;
		}
		if (!live)
			break;
		if (now_ns() > deadline) {
			fprintf(stderr, "vmtime: %s run %d: timeout, killing\n", label, run);
			for (int i = 0; i < n; i++)
				if (!in[i].exited)
					kill(in[i].pid, SIGKILL);
			deadline = now_ns() + 5000000000LL;
		}
		int ne = epoll_wait(ep, evs, 64, waiting_sock ? 0 : 20);
		for (int e = 0; e < ne; e++) {
			unsigned idx = evs[e].data.u32;

			if (idx == MAXN) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) > 0)
					;
				continue;
			}
			drain(&in[idx]);
			if (in[idx].eof)
				epoll_ctl(ep, EPOLL_CTL_DEL, in[idx].out_fd, NULL);
		}
		for (;;) {
			struct rusage ru;
			int st;
			pid_t w = wait4(-1, &st, WNOHANG, &ru);
			int64_t t = now_ns();

			if (w <= 0)
				break;
			for (int i = 0; i < n; i++)
				if (in[i].pid == w) {
					in[i].exited = 1;
					in[i].status = st;
					in[i].ru = ru;
					in[i].exit_t = t - in[i].t0;
				}
		}
		if (waiting_sock) {
			int any = 0;

			for (int i = 0; i < n; i++) {
				struct inst *p = &in[i];
				int fd;

				if (p->ready >= 0 || p->exited)
					continue;
				fd = try_connect(p->sock);
				if (fd < 0)
					continue;
				any = 1;
				p->ready = now_ns() - p->t0;
				p->ready_cpu = cpu_ns(p);
				if (get) {
					if (http(fd, "GET", "/", NULL) != 200)
						p->http_status_bad = 1;
					p->resp = now_ns() - p->t0;
					p->resp_cpu = cpu_ns(p);
				}
				if (reqfile && (f = fopen(reqfile, "r"))) {
					char l[8192];

					while (fgets(l, sizeof(l), f)) {
						char *m, *path, *body, *s;
						int is_start, code;

						l[strcspn(l, "\n")] = 0;
						if (!*l || *l == '#')
							continue;
						s = subst(l, i);
						m = strtok(s, " ");
						path = strtok(NULL, " ");
						body = strtok(NULL, "");
						is_start = body && strstr(body, "InstanceStart");
						if (is_start)
							p->start_sent = now_ns() - p->t0;
						code = http(fd, m, path, body);
						if (is_start)
							p->start_done = now_ns() - p->t0;
						if (code < 200 || code > 299) {
							fprintf(stderr, "vmtime: %s %s -> %d\n", m, path, code);
							p->http_status_bad = 1;
						}
						free(s);
					}
					fclose(f);
				}
				close(fd);
				if (kill_ready)
					kill(p->pid, SIGTERM);
			}
			if (!any) {
				struct timespec ts = { 0, 20000 };
				nanosleep(&ts, NULL);
			}
		}
		if (hold && !all_held_done) {
			/* The hold prefix is the last mark: held once it is seen (or exited). */
			for (int i = 0; i < n; i++)
				if (in[i].exited || in[i].mark[nmarks - 1] >= 0)
					nheld++;
			if (nheld == n) {
				char *cmd;
				size_t len = strlen(holdcmd) + 16 * n + 16, o;

				cmd = malloc(len);
				o = sprintf(cmd, "%s", holdcmd);
				for (int i = 0; i < n; i++)
					if (!in[i].exited)
						o += sprintf(cmd + o, " %d", in[i].pid);
				if (system(cmd) != 0)
					fprintf(stderr, "vmtime: hold command failed: %s\n", cmd);
				free(cmd);
				for (int i = 0; i < n; i++)
					if (!in[i].exited)
						kill(in[i].pid, SIGTERM);
				all_held_done = 1;
			}
		}
	}

	f = fopen(csv, "a");
	if (!f) {
		perror(csv);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct inst *p = &in[i];
		int code = WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -WTERMSIG(p->status);

		fprintf(f, "%s,%d,%d,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f", label, run, i, p->pid,
			us(p->ready), us(p->ready_cpu), us(p->resp), us(p->resp_cpu),
			us(p->start_sent), us(p->start_done), us(p->first_byte));
		for (int m = 0; m < MAXMARK; m++)
			fprintf(f, ",%.1f,%.1f", us(p->mark[m]), us(p->mark_cpu[m]));
		fprintf(f, ",%.1f,%d,%.1f,%.1f,%ld,%d\n", us(p->exit_t), code,
			p->ru.ru_utime.tv_sec * 1e6 + p->ru.ru_utime.tv_usec,
			p->ru.ru_stime.tv_sec * 1e6 + p->ru.ru_stime.tv_usec, p->ru.ru_maxrss,
			p->http_status_bad);
		if (p->save)
			fclose(p->save);
	}
	fclose(f);
	return 0;
}
