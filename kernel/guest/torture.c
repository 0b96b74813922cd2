// SPDX-License-Identifier: GPL-2.0
/*
 * torture: threads fault on shared private anonymous memory while other
 * threads change the mappings under them, and every word read is checked.
 *
 * The arena is SLOTS slots of SLOT_PAGES pages at fixed addresses.  A word
 * at address a only ever holds 0 or tag(a), so a page mapped at the wrong
 * address, stale data after an unmap, or a PTE installed into the wrong
 * page table shows up as a mismatch.  A slot's generation count is odd
 * while an operation that may discard its contents runs; a write that is
 * not read back although no such operation ran is a lost write (a fault
 * that reported success without mapping the page that was written).
 *
 * Faulter threads: random reads and writes into random slots.  An access
 * that hits a slot which is momentarily PROT_NONE, read-only or moved
 * away gets SIGSEGV, which is caught and counted.
 * Operation threads: on random slots, MAP_FIXED replacement (munmap of
 * the old VMA inside mmap), MADV_DONTNEED, mprotect of the whole slot and
 * of its middle (VMA split and merge back), mremap away and back,
 * mremap(MREMAP_DONTUNMAP) and back, and fork with a child that checks
 * the arena from its copy.
 *
 * Options (key=value,...):
 *   threads=N   faulter threads (default 3)
 *   ops=N       operation threads (default 1)
 *   seconds=S   run time (default 5)
 *   seed=S      random seed (default 1)
 */
#include "common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PAGE 4096UL
#define SLOTS 32
#define SLOT_PAGES 64
#define SLOT_LEN (SLOT_PAGES * PAGE)
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))
#define MAX_OPS_THREADS 8

enum { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
	OP_DONTUNMAP, OP_FORK, NR_OPS };
static const char *const op_names[NR_OPS] = {
	"replace", "dontneed", "mprotect", "split", "mremap", "dontunmap",
	"fork",
};

struct torture {
	char *arena;		/* SLOTS slots, then one scratch slot per op thread */
	volatile unsigned int gen[SLOTS];
	pthread_mutex_t slot_lock[SLOTS];	/* one op thread per slot */
	double deadline;
	uint64_t seed;
	/* results */
	unsigned long long reads, writes, segv, mismatches, lost;
	unsigned long long ops[NR_OPS], fork_failures, op_errors;
	unsigned long long first_bad_addr, first_bad_val;
	pthread_mutex_t res_lock;
};

static __thread sigjmp_buf *cur_jb;

static void on_fault(int sig)
{
	if (cur_jb)
		siglongjmp(*cur_jb, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline uint64_t tag(uintptr_t a)
{
	return ((uint64_t)a * 0x9E3779B97F4A7C15ULL) | 1;
}

static inline char *slot_addr(struct torture *t, int s)
{
	return t->arena + (size_t)s * SLOT_LEN;
}

static void note_bad(struct torture *t, uintptr_t a, uint64_t v)
{
	pthread_mutex_lock(&t->res_lock);
	if (!t->mismatches) {
		t->first_bad_addr = a;
		t->first_bad_val = v;
	}
	t->mismatches++;
	pthread_mutex_unlock(&t->res_lock);
}

struct faulter {
	pthread_t tid;
	struct torture *t;
	uint64_t rnd;
	unsigned long long reads, writes, segv, lost;
};

static void *faulter_main(void *arg)
{
	struct faulter *f = arg;
	struct torture *t = f->t;
	sigjmp_buf jb;
	volatile unsigned long n = 0;

	cur_jb = &jb;
	for (;;) {
		int s = rnd_below(&f->rnd, SLOTS);
		int p = rnd_below(&f->rnd, SLOT_PAGES);
		int w = rnd_below(&f->rnd, WORDS_PER_PAGE);
		int write = rnd_next(&f->rnd) & 1;
		volatile uint64_t *a;
		unsigned int g1, g2;
		uint64_t v;

		if (!(++n & 255) && now_seconds() > t->deadline)
			break;
		a = (volatile uint64_t *)(slot_addr(t, s) + p * PAGE) + w;
		if (sigsetjmp(jb, 1)) {
			f->segv++;
			continue;
		}
		if (!write) {
			v = *a;
			f->reads++;
			if (v && v != tag((uintptr_t)a))
				note_bad(t, (uintptr_t)a, v);
			continue;
		}
		g1 = t->gen[s];
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*a = tag((uintptr_t)a);
		v = *a;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		g2 = t->gen[s];
		f->writes++;
		if (v && v != tag((uintptr_t)a))
			note_bad(t, (uintptr_t)a, v);
		else if (!(g1 & 1) && g1 == g2 && v != tag((uintptr_t)a))
			f->lost++;
	}
	cur_jb = NULL;
	return NULL;
}

/* Child of fork(): check a sample of the arena, exit 0 if clean. */
static void fork_child(struct torture *t, uint64_t seed)
{
	sigjmp_buf jb;
	volatile int i, bad = 0;
	volatile uint64_t rnd = seed;

	cur_jb = &jb;
	for (i = 0; i < 4096; i++) {
		uint64_t r = rnd;
		int s = rnd_below(&r, SLOTS);
		int p = rnd_below(&r, SLOT_PAGES);
		int w = rnd_below(&r, WORDS_PER_PAGE);
		volatile uint64_t *a;
		uint64_t v;

		rnd = r;
		a = (volatile uint64_t *)(slot_addr(t, s) + p * PAGE) + w;
		if (sigsetjmp(jb, 1))
			continue;
		v = *a;
		if (v && v != tag((uintptr_t)a))
			bad++;
		/* Writes in the child must not show in the parent (COW). */
		*a = 0;
	}
	_exit(bad ? 1 : 0);
}

struct opthread {
	pthread_t tid;
	struct torture *t;
	int idx;
	uint64_t rnd;
};

static void gen_begin(struct torture *t, int s)
{
	__atomic_add_fetch(&t->gen[s], 1, __ATOMIC_SEQ_CST);
}

static void gen_end(struct torture *t, int s)
{
	__atomic_add_fetch(&t->gen[s], 1, __ATOMIC_SEQ_CST);
}

static int do_op(struct torture *t, struct opthread *o, int s, int op)
{
	char *a = slot_addr(t, s);
	char *scratch = t->arena + (size_t)(SLOTS + o->idx) * SLOT_LEN;
	const int rw = PROT_READ | PROT_WRITE;
	const int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	int err = 0;
	pid_t pid;
	int status;

	switch (op) {
	case OP_REPLACE:
		gen_begin(t, s);
		if (mmap(a, SLOT_LEN, rw, fl, -1, 0) == MAP_FAILED)
			err = 1;
		gen_end(t, s);
		break;
	case OP_DONTNEED:
		gen_begin(t, s);
		err = madvise(a, SLOT_LEN, MADV_DONTNEED) != 0;
		gen_end(t, s);
		break;
	case OP_MPROTECT:
		err |= mprotect(a, SLOT_LEN, PROT_READ) != 0;
		sched_yield();
		err |= mprotect(a, SLOT_LEN, rw) != 0;
		break;
	case OP_SPLIT:
		err |= mprotect(a + SLOT_LEN / 4, SLOT_LEN / 2, PROT_READ) != 0;
		sched_yield();
		err |= mprotect(a + SLOT_LEN / 4, SLOT_LEN / 2, rw) != 0;
		break;
	case OP_MREMAP:
		/* Contents move away and back; never leave a hole for long. */
		if (mremap(a, SLOT_LEN, SLOT_LEN, MREMAP_MAYMOVE | MREMAP_FIXED,
			   scratch) == MAP_FAILED) {
			err = 1;
			break;
		}
		if (mmap(a, SLOT_LEN, PROT_NONE, fl, -1, 0) == MAP_FAILED)
			err = 1;
		if (mremap(scratch, SLOT_LEN, SLOT_LEN,
			   MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED)
			err = 1;
		break;
	case OP_DONTUNMAP:
		/* The slot keeps its VMA but loses its pages until moved back. */
		gen_begin(t, s);
		if (mremap(a, SLOT_LEN, SLOT_LEN, MREMAP_MAYMOVE | MREMAP_FIXED |
			   MREMAP_DONTUNMAP, scratch) == MAP_FAILED) {
			err = 1;
			gen_end(t, s);
			break;
		}
		if (mremap(scratch, SLOT_LEN, SLOT_LEN,
			   MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED)
			err = 1;
		gen_end(t, s);
		break;
	case OP_FORK:
		pid = fork();
		if (pid == 0)
			fork_child(t, rnd_next(&o->rnd));
		if (pid < 0) {
			err = 1;
			break;
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			pthread_mutex_lock(&t->res_lock);
			t->fork_failures++;
			pthread_mutex_unlock(&t->res_lock);
		}
		break;
	}
	return err;
}

static void *opthread_main(void *arg)
{
	struct opthread *o = arg;
	struct torture *t = o->t;

	while (now_seconds() < t->deadline) {
		int s = rnd_below(&o->rnd, SLOTS);
		int op = rnd_below(&o->rnd, NR_OPS);
		int err;

		/* Forks are costly under TCG: one in eight draws. */
		if (op == OP_FORK && rnd_below(&o->rnd, 8))
			op = OP_DONTNEED;
		pthread_mutex_lock(&t->slot_lock[s]);
		err = do_op(t, o, s, op);
		pthread_mutex_unlock(&t->slot_lock[s]);
		pthread_mutex_lock(&t->res_lock);
		t->ops[op]++;
		t->op_errors += err;
		pthread_mutex_unlock(&t->res_lock);
	}
	return NULL;
}

int torture_run(const char *opts, struct jbuf *out)
{
	static struct torture t;
	int nf = opt_long(opts, "threads", 3);
	int no = opt_long(opts, "ops", 1);
	double secs = opt_long(opts, "seconds", 5);
	struct faulter *fs;
	struct opthread *os;
	struct sigaction sa;
	unsigned long long final_bad = 0;
	double t0;
	int i, s;
	size_t w;

	if (nf < 1 || no < 0 || no > MAX_OPS_THREADS || secs <= 0)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.seed = opt_long(opts, "seed", 1);
	pthread_mutex_init(&t.res_lock, NULL);
	for (s = 0; s < SLOTS; s++)
		pthread_mutex_init(&t.slot_lock[s], NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	/* Reserve the arena and the scratch slots, then map the slots. */
	t.arena = mmap(NULL, (SLOTS + MAX_OPS_THREADS) * SLOT_LEN, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t.arena == MAP_FAILED)
		return -errno;
	for (s = 0; s < SLOTS; s++)
		if (mmap(slot_addr(&t, s), SLOT_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			return -errno;

	fs = calloc(nf, sizeof(*fs));
	os = calloc(no ? no : 1, sizeof(*os));
	if (!fs || !os)
		return -ENOMEM;
	t0 = now_seconds();
	t.deadline = t0 + secs;
	for (i = 0; i < nf; i++) {
		fs[i].t = &t;
		fs[i].rnd = t.seed * 1000003 + i + 1;
		pthread_create(&fs[i].tid, NULL, faulter_main, &fs[i]);
	}
	for (i = 0; i < no; i++) {
		os[i].t = &t;
		os[i].idx = i;
		os[i].rnd = t.seed * 7919 + 100 + i;
		pthread_create(&os[i].tid, NULL, opthread_main, &os[i]);
	}
	/*
	 * A line on the console every 10 s: the host shows the last one while
	 * it waits, so a long run is seen to progress instead of looking hung.
	 */
	fprintf(stderr, "torture: %d faulters, %d op threads, %.0f s, seed %llu\n",
		nf, no, secs, (unsigned long long)t.seed);
	for (;;) {
		double left = t.deadline - now_seconds();

		if (left <= 0)
			break;
		sleep(left < 10 ? (unsigned int)left + 1 : 10);
		fprintf(stderr, "torture: %.0f of %.0f s\n",
			now_seconds() - t0, secs);
	}
	for (i = 0; i < nf; i++) {
		pthread_join(fs[i].tid, NULL);
		t.reads += fs[i].reads;
		t.writes += fs[i].writes;
		t.segv += fs[i].segv;
		t.lost += fs[i].lost;
	}
	for (i = 0; i < no; i++)
		pthread_join(os[i].tid, NULL);

	/* Every slot is mapped read-write again: check all of it. */
	for (s = 0; s < SLOTS; s++) {
		uint64_t *a = (uint64_t *)slot_addr(&t, s);

		for (w = 0; w < SLOT_LEN / sizeof(*a); w++)
			if (a[w] && a[w] != tag((uintptr_t)&a[w]))
				final_bad++;
	}
	munmap(t.arena, (SLOTS + MAX_OPS_THREADS) * SLOT_LEN);

	jb_open(out, NULL, '{');
	jb_str(out, "program", "torture");
	jb_i64(out, "threads", nf);
	jb_i64(out, "ops_threads", no);
	jb_dbl(out, "seconds", now_seconds() - t0);
	jb_u64(out, "seed", t.seed);
	jb_u64(out, "reads", t.reads);
	jb_u64(out, "writes", t.writes);
	jb_u64(out, "segv", t.segv);
	jb_u64(out, "mismatches", t.mismatches);
	jb_u64(out, "lost_writes", t.lost);
	jb_u64(out, "final_mismatches", final_bad);
	jb_u64(out, "fork_failures", t.fork_failures);
	jb_u64(out, "op_errors", t.op_errors);
	if (t.mismatches) {
		jb_u64(out, "first_bad_addr", t.first_bad_addr);
		jb_u64(out, "first_bad_val", t.first_bad_val);
	}
	jb_open(out, "ops", '{');
	for (i = 0; i < NR_OPS; i++)
		jb_u64(out, op_names[i], t.ops[i]);
	jb_close(out, '}');
	jb_bool(out, "ok", !t.mismatches && !t.lost && !final_bad &&
		!t.fork_failures && !t.op_errors);
	jb_close(out, '}');
	free(fs);
	free(os);
	return 0;
}
