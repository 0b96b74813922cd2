// SPDX-License-Identifier: GPL-2.0
/*
 * spfguest: the guest side of the spfteach kernel runs.
 *
 * As PID 1 (/init in the initramfs) it mounts /proc, /sys and /dev, raises
 * the console log level (so that WARN and lockdep reports reach the
 * serial console even with loglevel=4 on the command line), runs the
 * steps given as its arguments (the words after "--" on the kernel
 * command line), prints ONE JSON document on the console between two
 * marker lines, and powers the machine off.
 *
 * Steps, in order:
 *   sysctl=0|1                  write /proc/sys/vm/speculative_page_fault
 *   torture[:key=val,...]       run the torture test (see torture.c)
 *   faultbench[:key=val,...]    run the fault benchmark (see faultbench.c)
 *   vmstat                      include a full /proc/vmstat snapshot
 *
 * Each program runs in a child process; its result, the /proc/vmstat
 * deltas over its run (key "vmstat", with every spf_* and vma_lock_*
 * counter the kernel has), its exit status and its wall time go into the
 * document.  The document also has the kernel version, the number of
 * CPUs, whether SPF's sysctl and the per-VMA lock counters exist, the
 * sysctl value and a scan of the kernel log for BUG/WARNING/lockdep/RCU
 * reports.
 *
 * Not as PID 1 it runs the same steps and prints the same document
 * without mounting or powering off, e.g.
 *   ./spfguest torture:seconds=2 faultbench:threads=2,mb=8
 *
 * Output format:
 *   ===SPFTEACH-JSON-BEGIN===
 *   {... one line ...}
 *   ===SPFTEACH-JSON-END===
 */
#include "common.h"

#include <fcntl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define SPF_SYSCTL "/proc/sys/vm/speculative_page_fault"
#define KLOG_MAX (1 << 20)

struct program {
	const char *name;
	int (*run)(const char *opts, struct jbuf *out);
};

static const struct program programs[] = {
	{ "torture", torture_run },
	{ "faultbench", faultbench_run },
};

static void setup_pid1(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	/* The programs may tune the machine (THP, swap): it is theirs. */
	setenv("SPFTEACH_GUEST", "1", 1);
	/* Console messages up to KERN_DEBUG: WARN and lockdep included. */
	klogctl(8, NULL, 8);
}

/* Run one program in a child; its JSON comes back through a pipe. */
static void run_program(struct jbuf *doc, const struct program *p,
			const char *opts)
{
	struct vmstat *before = calloc(1, sizeof(*before));
	struct vmstat *after = calloc(1, sizeof(*after));
	struct jbuf res = { 0 };
	int fd[2], status = 0;
	double t0, t1;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (!before || !after || pipe(fd))
		exit(2);
	vmstat_read(before);
	t0 = now_seconds();
	pid = fork();
	if (pid == 0) {
		struct jbuf out = { 0 };
		int err;

		close(fd[0]);
		err = p->run(opts, &out);
		if (err) {
			out.len = 0;
			out.depth = 0;
			out.need_comma[0] = 0;
			jb_open(&out, NULL, '{');
			jb_str(&out, "program", p->name);
			jb_i64(&out, "error", err);
			jb_bool(&out, "ok", 0);
			jb_close(&out, '}');
		}
		if (write(fd[1], out.p, out.len) != (ssize_t)out.len)
			_exit(3);
		_exit(err ? 1 : 0);
	}
	close(fd[1]);
	while (pid > 0 && (n = read(fd[0], buf, sizeof(buf))) > 0)
		jb_raw(&res, "%.*s", (int)n, buf);
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	t1 = now_seconds();
	vmstat_read(after);

	jb_open(doc, NULL, '{');
	jb_str(doc, "program", p->name);
	jb_str(doc, "options", opts);
	jb_dbl(doc, "wall_seconds", t1 - t0);
	if (pid < 0)
		jb_str(doc, "error", "fork failed");
	else if (WIFSIGNALED(status))
		jb_i64(doc, "killed_by_signal", WTERMSIG(status));
	else
		jb_i64(doc, "exit_status", WEXITSTATUS(status));
	if (res.len)
		jb_json(doc, "result", res.p);
	else
		jb_raw(doc, ",\"result\":null");
	jb_vmstat_delta(doc, "vmstat", before, after);
	jb_close(doc, '}');
	free(res.p);
	free(before);
	free(after);
}

/* Count kernel log lines that mean the run is not clean. */
static void scan_kernel_log(struct jbuf *doc)
{
	static const char *const bad[] = {
		"] BUG:", "] WARNING:", "cut here", "possible recursive locking",
		"possible circular locking", "inconsistent lock state",
		"suspicious RCU usage", "Oops", "Kernel panic", "general protection",
		"sleeping function called from invalid context",
		"KASAN:",
	};
	char *log = malloc(KLOG_MAX + 1);
	int n = log ? klogctl(3, log, KLOG_MAX) : -1;
	unsigned long long hits = 0;
	char *line, *save;
	size_t i;

	jb_open(doc, "kernel_log", '{');
	if (n < 0) {
		jb_bool(doc, "readable", 0);
		jb_close(doc, '}');
		free(log);
		return;
	}
	log[n] = 0;
	jb_bool(doc, "readable", 1);
	jb_open(doc, "reports", '[');
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (strstr(line, bad[i])) {
				if (hits++ < 20) {
					jb_sep(doc);
					jb_str_raw(doc, line);
				}
				break;
			}
		}
	}
	jb_close(doc, ']');
	jb_u64(doc, "report_count", hits);
	jb_bool(doc, "clean", hits == 0);
	jb_close(doc, '}');
	free(log);
}

/*
 * Whether the kernel counts per-VMA lock faults (CONFIG_PER_VMA_LOCK_STATS:
 * vma_lock_success, _abort, _retry, _miss in /proc/vmstat).  6.1 has no
 * per-VMA locks; a 6.12 built without them has no such counters either.
 */
static int has_vma_lock_stats(void)
{
	struct vmstat *vs = calloc(1, sizeof(*vs));
	int has;

	if (!vs)
		return 0;
	has = vmstat_read(vs) == 0 && vmstat_has(vs, "vma_lock_success");
	free(vs);
	return has;
}

int main(int argc, char **argv)
{
	int pid1 = getpid() == 1;
	struct jbuf doc = { 0 };
	struct utsname u;
	int i, all_ok = 1;
	long v;

	if (pid1)
		setup_pid1();

	jb_open(&doc, NULL, '{');
	jb_str(&doc, "spfteach_guest", "1");
	uname(&u);
	jb_open(&doc, "kernel", '{');
	jb_str(&doc, "release", u.release);
	jb_str(&doc, "version", u.version);
	jb_str(&doc, "machine", u.machine);
	jb_close(&doc, '}');
	jb_i64(&doc, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	jb_bool(&doc, "spf_available", access(SPF_SYSCTL, F_OK) == 0);
	jb_bool(&doc, "vma_lock_stats", has_vma_lock_stats());

	jb_open(&doc, "steps", '[');
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *colon = strchr(a, ':');
		size_t nl = colon ? (size_t)(colon - a) : strlen(a);
		size_t k;

		/* The host's progress display shows the console's last line. */
		fprintf(stderr, "spfguest: step %d of %d: %s\n", i, argc - 1, a);
		if (!strncmp(a, "sysctl=", 7)) {
			char val[8];
			int err;

			snprintf(val, sizeof(val), "%s\n", a + 7);
			err = write_str_file(SPF_SYSCTL, val);
			jb_open(&doc, NULL, '{');
			jb_str(&doc, "sysctl", a + 7);
			jb_bool(&doc, "ok", err == 0);
			jb_close(&doc, '}');
			all_ok &= err == 0;
			continue;
		}
		if (!strcmp(a, "vmstat")) {
			struct vmstat *vs = calloc(1, sizeof(*vs));
			int j;

			if (!vs)
				continue;
			vmstat_read(vs);
			jb_open(&doc, NULL, '{');
			jb_open(&doc, "vmstat_snapshot", '{');
			for (j = 0; j < vs->n; j++)
				jb_u64(&doc, vs->name[j], vs->val[j]);
			jb_close(&doc, '}');
			jb_close(&doc, '}');
			free(vs);
			continue;
		}
		for (k = 0; k < sizeof(programs) / sizeof(programs[0]); k++) {
			if (strlen(programs[k].name) == nl &&
			    !strncmp(a, programs[k].name, nl)) {
				size_t before = doc.len;
				const char *ok;

				run_program(&doc, &programs[k],
					    colon ? colon + 1 : "");
				/* Programs report "ok":true only when clean. */
				ok = strstr(doc.p + before, "\"ok\":true");
				all_ok &= ok != NULL;
				break;
			}
		}
		if (k == sizeof(programs) / sizeof(programs[0])) {
			jb_open(&doc, NULL, '{');
			jb_str(&doc, "unknown_step", a);
			jb_close(&doc, '}');
			all_ok = 0;
		}
	}
	jb_close(&doc, ']');
	if (read_int_file(SPF_SYSCTL, &v) == 0)
		jb_i64(&doc, "speculative_page_fault", v);
	scan_kernel_log(&doc);
	jb_bool(&doc, "ok", all_ok);
	jb_close(&doc, '}');

	/* One write, so that kernel messages are less likely to interleave. */
	jb_raw(&doc, "\n===SPFTEACH-JSON-END===\n");
	printf("\n===SPFTEACH-JSON-BEGIN===\n");
	fflush(stdout);
	if (write(1, doc.p, doc.len) != (ssize_t)doc.len)
		all_ok = 0;

	if (pid1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return all_ok ? 0 : 1;
}
