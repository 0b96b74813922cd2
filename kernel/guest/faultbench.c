// SPDX-License-Identifier: GPL-2.0
/*
 * faultbench: page-fault throughput on fresh anonymous memory, in the
 * spirit of ebizzy -m: N threads each write one word into every page of
 * their own slice of one shared private anonymous mapping, so that every
 * access is a zero-fill fault.  Optionally one more thread keeps doing
 * mmap()/munmap() of small unrelated mappings, which takes mmap_lock for
 * writing over and over: classic faults then wait for it, speculative
 * faults do not.
 *
 * Options (key=value,...):
 *   threads=N   faulting threads (default 2)
 *   mb=M        MiB per thread (default 16)
 *   rounds=R    timed rounds (default 4)
 *   writer=0|1  run the mmap/munmap thread (default 0)
 *   thp=0|1     MADV_HUGEPAGE on the mapping, aligned to 2 MiB (default 0)
 *   own=0|1     no shared mapping: each thread maps its own buffers of
 *               buf KiB, writes every page and unmaps them, M MiB of them
 *               per round (default 0): every thread is then also an
 *               mmap_lock writer, and every buffer a new VMA to free
 *   buf=K       KiB per buffer with own=1 (default 256)
 *   warmup=0|1  only marks the result, for the host to set it aside
 *
 * In the guest (SPFTEACH_GUEST set by /init), where the kernel has THP,
 * the program sets its "enabled" knob to madvise: only a thp=1 mapping
 * gets huge pages, whatever the kernel's default (the full profile boots
 * with "always", for the torture).  Outside it the host's knob is left
 * alone and reported as it is.  The
 * figure to compare is pages made present per second; "faults" is what
 * the faulting threads' own minor-fault counters say (one per page
 * without THP, one per 2 MiB with it).
 *
 * The mapping is primed once (one write per 2 MiB, then MADV_DONTNEED):
 * page tables and the anon_vma then exist, as in a long-running program,
 * and each round starts from empty PTEs again after MADV_DONTNEED.
 */
#include "common.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define WRITER_LEN (64 * 1024UL)
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

struct fb_thread {
	pthread_t tid;
	struct fb *fb;
	char *base;
	size_t len;
	long minflt;
	unsigned long long buffers, failed;
};

struct fb {
	int threads, rounds, own;
	size_t buf;
	pthread_barrier_t start, done;
	volatile int stop;
	unsigned long long writer_ops;
};

/* own=1: len bytes' worth of short-lived buffers, each mapped, written, unmapped. */
static void fb_own_buffers(struct fb_thread *t)
{
	size_t buf = t->fb->buf, done, off;

	for (done = 0; done < t->len; done += buf) {
		char *p = mmap(NULL, buf, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			t->failed++;
			return;
		}
		for (off = 0; off < buf; off += PAGE)
			*(volatile unsigned long *)(p + off) = off;
		munmap(p, buf);
		t->buffers++;
	}
}

static void *fb_faulter(void *arg)
{
	struct fb_thread *t = arg;
	struct rusage ru;
	int r;

	for (r = 0; r < t->fb->rounds; r++) {
		size_t off;

		pthread_barrier_wait(&t->fb->start);
		getrusage(RUSAGE_THREAD, &ru);
		t->minflt -= ru.ru_minflt;
		if (t->fb->own)
			fb_own_buffers(t);
		else
			for (off = 0; off < t->len; off += PAGE)
				*(volatile unsigned long *)(t->base + off) = off;
		getrusage(RUSAGE_THREAD, &ru);
		t->minflt += ru.ru_minflt;
		pthread_barrier_wait(&t->fb->done);
	}
	return NULL;
}

static void *fb_writer(void *arg)
{
	struct fb *fb = arg;

	while (!fb->stop) {
		/*
		 * PROT_READ keeps the mapping from merging with the benchmark's
		 * read-write one: only mmap_lock is shared, not a VMA.
		 */
		char *p = mmap(NULL, WRITER_LEN, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			break;
		(void)*(volatile char *)p;
		munmap(p, WRITER_LEN);
		fb->writer_ops++;
	}
	return NULL;
}

/* The selected word of "always [madvise] never". */
static const char *fb_thp_mode(char *buf, size_t n)
{
	FILE *f = fopen(THP_ENABLED, "r");
	char line[128], *b, *e;

	if (!f)
		return "unreadable";
	b = fgets(line, sizeof(line), f) ? strchr(line, '[') : NULL;
	fclose(f);
	e = b ? strchr(b, ']') : NULL;
	if (!e)
		return "unreadable";
	snprintf(buf, n, "%.*s", (int)(e - b - 1), b + 1);
	return buf;
}

/*
 * A 2 MiB-aligned mapping of len bytes for thp=1 (6.1 does not align
 * anonymous mappings to huge pages itself), a plain one otherwise.
 */
static char *fb_map(size_t len, int thp)
{
	size_t extra = thp ? HPAGE : 0;
	char *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t head;

	if (p == MAP_FAILED || !thp)
		return p;
	head = (HPAGE - ((uintptr_t)p & (HPAGE - 1))) & (HPAGE - 1);
	if (head)
		munmap(p, head);
	if (extra - head)
		munmap(p + head + len, extra - head);
	p += head;
	if (madvise(p, len, MADV_HUGEPAGE)) {
		int err = errno;

		munmap(p, len);
		errno = err;
		return MAP_FAILED;
	}
	return p;
}

int faultbench_run(const char *opts, struct jbuf *out)
{
	struct fb fb = { 0 };
	struct fb_thread *ts;
	pthread_t writer;
	int with_writer = opt_long(opts, "writer", 0);
	int thp = opt_long(opts, "thp", 0);
	size_t per = (size_t)opt_long(opts, "mb", 16) << 20;
	size_t total, off;
	double t0, round_s, sum = 0, best = 0;
	unsigned long long pages, buffers = 0, failed = 0;
	long minflt = 0;
	double *rs;
	char *base;
	const char *thp_mode = "absent";
	char host_mode[64];
	int i, r;

	fb.threads = opt_long(opts, "threads", 2);
	fb.rounds = opt_long(opts, "rounds", 4);
	fb.own = opt_long(opts, "own", 0);
	fb.buf = (size_t)opt_long(opts, "buf", 256) << 10;
	if (fb.threads < 1 || fb.rounds < 1 || per < PAGE)
		return -EINVAL;
	/* Own buffers are whole pages, and a round is whole buffers. */
	if (fb.own && (fb.buf < PAGE || fb.buf % PAGE || per % fb.buf || thp))
		return -EINVAL;
	/* Each thread's slice must be whole huge pages of its own. */
	if (thp && per % HPAGE)
		return -EINVAL;
	if (access(THP_ENABLED, F_OK)) {
		if (thp)
			return -EOPNOTSUPP;
	} else if (getenv("SPFTEACH_GUEST")) {
		if (write_str_file(THP_ENABLED, "madvise"))
			return -errno;
		thp_mode = "madvise";
	} else {
		thp_mode = fb_thp_mode(host_mode, sizeof(host_mode));
	}
	total = per * fb.threads;

	base = fb_map(fb.own ? PAGE : total, thp);
	if (base == MAP_FAILED)
		return -errno;
	if (!fb.own) {
		for (off = 0; off < total; off += HPAGE)
			base[off] = 1;
		madvise(base, total, MADV_DONTNEED);
	}

	ts = calloc(fb.threads, sizeof(*ts));
	rs = calloc(fb.rounds, sizeof(*rs));
	if (!ts || !rs)
		return -ENOMEM;
	pthread_barrier_init(&fb.start, NULL, fb.threads + 1);
	pthread_barrier_init(&fb.done, NULL, fb.threads + 1);
	for (i = 0; i < fb.threads; i++) {
		ts[i].fb = &fb;
		ts[i].base = fb.own ? NULL : base + per * i;
		ts[i].len = per;
		pthread_create(&ts[i].tid, NULL, fb_faulter, &ts[i]);
	}
	if (with_writer)
		pthread_create(&writer, NULL, fb_writer, &fb);

	for (r = 0; r < fb.rounds; r++) {
		t0 = now_seconds();
		pthread_barrier_wait(&fb.start);
		pthread_barrier_wait(&fb.done);
		round_s = now_seconds() - t0;
		rs[r] = round_s;
		sum += round_s;
		if (!best || round_s < best)
			best = round_s;
		if (!fb.own)
			madvise(base, total, MADV_DONTNEED);
	}

	fb.stop = 1;
	if (with_writer)
		pthread_join(writer, NULL);
	for (i = 0; i < fb.threads; i++) {
		pthread_join(ts[i].tid, NULL);
		minflt += ts[i].minflt;
		buffers += ts[i].buffers;
		failed += ts[i].failed;
	}
	munmap(base, fb.own ? PAGE : total);
	pages = (unsigned long long)(total / PAGE) * fb.rounds;

	jb_open(out, NULL, '{');
	jb_str(out, "program", "faultbench");
	jb_i64(out, "threads", fb.threads);
	jb_u64(out, "mb_per_thread", per >> 20);
	jb_i64(out, "rounds", fb.rounds);
	jb_bool(out, "writer", with_writer);
	jb_bool(out, "thp", thp);
	jb_bool(out, "own", fb.own);
	jb_u64(out, "buf_kb", fb.own ? fb.buf >> 10 : 0);
	jb_u64(out, "buffers", buffers);
	jb_u64(out, "failed_mmaps", failed);
	jb_bool(out, "warmup", opt_long(opts, "warmup", 0));
	jb_str(out, "thp_enabled", thp_mode);
	jb_u64(out, "pages", pages);
	jb_u64(out, "faults", minflt);
	jb_dbl(out, "seconds", sum);
	jb_dbl(out, "pages_per_sec", pages / sum);
	jb_dbl(out, "faults_per_sec", minflt / sum);
	jb_dbl(out, "best_round_pages_per_sec", (total / PAGE) / best);
	jb_u64(out, "writer_ops", fb.writer_ops);
	jb_dbl(out, "writer_ops_per_sec", fb.writer_ops / sum);
	jb_open(out, "round_seconds", '[');
	for (r = 0; r < fb.rounds; r++) {
		jb_sep(out);
		jb_raw(out, "%.6g", rs[r]);
	}
	jb_close(out, ']');
	jb_bool(out, "ok", !failed);
	jb_close(out, '}');
	free(ts);
	free(rs);
	return 0;
}
