// SPDX-License-Identifier: GPL-2.0
/*
 * torture: threads fault on shared memory while other threads change the
 * mappings under them, and every word read is checked.
 *
 * The arena is a table of slots at fixed addresses, of four kinds:
 *   anon  32 x 256 KiB private anonymous (MADV_NOHUGEPAGE: 4 KiB pages),
 *   thp    4 x 2 MiB private anonymous, 2 MiB aligned, MADV_HUGEPAGE,
 *   shm    4 x 256 KiB MAP_SHARED views of a memfd (each its own offset),
 *   uffd   8 x 256 KiB private anonymous, registered with userfaultfd
 *          (UFFDIO_REGISTER_MODE_MISSING) and unregistered again.
 * A word at address a only ever holds 0 or tag(a), so a page mapped at the
 * wrong address, stale data after an unmap, or a PTE installed into the
 * wrong page table shows up as a mismatch.  A slot's generation count is
 * odd while an operation that may discard its contents runs; a write that
 * is not read back although no such operation ran is a lost write (a fault
 * that reported success without mapping the page that was written).
 *
 * Faulter threads: random reads and writes into random slots.  An access
 * that hits a slot which is momentarily PROT_NONE, read-only or moved
 * away gets SIGSEGV, which is caught and counted.
 * Operation threads, on random slots, under the slot's lock: MAP_FIXED
 * replacement (munmap of the old VMA inside mmap), MADV_DONTNEED (whole or
 * part: splits a huge PMD), mprotect of the whole slot and of its middle
 * (VMA split and merge back), mremap away and back, MREMAP_DONTUNMAP and
 * back, fork with a child that checks the arena from its copy,
 * MADV_PAGEOUT (to swap), mbind(MPOL_INTERLEAVE) over two nodes and back
 * to the default policy, a hole punched in the memfd, MADV_COLLAPSE.
 * A THP thread: MADV_COLLAPSE (and MADV_PAGEOUT) on the THP slots without
 * the slot lock, so that it races the munmap and mprotect above, while
 * khugepaged scans without pause.  A userfaultfd thread: empties a uffd
 * slot, registers it, waits a few ms, unregisters it; a handler thread
 * resolves the missing faults with UFFDIO_COPY of a tagged page or with
 * UFFDIO_ZEROPAGE (and UFFDIO_WAKE when the range went away meanwhile).
 *
 * In the guest (SPFTEACH_GUEST set by /init) the program also tunes THP
 * (enabled=always, khugepaged without sleeps; restored at the end) and
 * makes its own swap on zram.  A feature the kernel lacks (no THP, no
 * userfaultfd, no memfd, one NUMA node, no swap) is reported under
 * "unavailable" and its part is skipped; the slots stay, as plain memory.
 *
 * Options (key=value,...):
 *   threads=N   faulter threads (default 3)
 *   ops=N       operation threads (default 1)
 *   seconds=S   run time (default 5)
 *   seed=S      random seed (default 1)
 */
#include "common.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 2
#endif
#define MPOL_DEFAULT 0
#define MPOL_INTERLEAVE 3

#define PAGE 4096UL
#define HPAGE (2UL << 20)
#define SLOT_PAGES 64
#define SLOT_LEN (SLOT_PAGES * PAGE)
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))
#define MAX_OPS_THREADS 8

#define ANON_SLOTS 32
#define THP_SLOTS 4
#define SHM_SLOTS 4
#define UFFD_SLOTS 8
#define THP_FIRST ANON_SLOTS
#define SHM_FIRST (THP_FIRST + THP_SLOTS)
#define UFFD_FIRST (SHM_FIRST + SHM_SLOTS)
#define NSLOTS (UFFD_FIRST + UFFD_SLOTS)
/* The fork child checks, and writes zeros into, these: anon and thp. */
#define CHILD_SLOTS SHM_FIRST

#define ZRAM_MB 64
#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

enum { K_ANON, K_THP, K_SHM, K_UFFD, NR_KINDS };
static const char *const kind_names[NR_KINDS] = {
	"anon", "thp", "shm", "uffd",
};

enum { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
	OP_DONTUNMAP, OP_FORK, OP_PAGEOUT, OP_MBIND, OP_PUNCH, OP_COLLAPSE,
	OP_UFFD, NR_OPS };
static const char *const op_names[NR_OPS] = {
	"replace", "dontneed", "mprotect", "split", "mremap", "dontunmap",
	"fork", "pageout", "mbind", "punch_hole", "collapse", "uffd_register",
};

/* What the operation threads draw from, per kind of slot; -1 ends. */
static const int kind_ops[NR_KINDS][NR_OPS + 1] = {
	[K_ANON] = { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
		     OP_DONTUNMAP, OP_FORK, OP_PAGEOUT, OP_MBIND, -1 },
	[K_THP] = { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
		    OP_DONTUNMAP, OP_PAGEOUT, OP_MBIND, OP_COLLAPSE, -1 },
	[K_SHM] = { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
		    OP_PUNCH, OP_PAGEOUT, -1 },
	[K_UFFD] = { OP_REPLACE, OP_DONTNEED, OP_MPROTECT, OP_SPLIT, OP_MREMAP,
		     OP_DONTUNMAP, -1 },
};

enum { F_THP, F_KHUGEPAGED, F_COLLAPSE, F_UFFD, F_SHMEM, F_NUMA, F_SWAP,
	F_PAGEOUT, NR_FEATS };
static const char *const feat_names[NR_FEATS] = {
	"thp", "khugepaged_tuned", "collapse", "uffd", "shmem", "numa",
	"swap", "pageout",
};

/* errno values an operation may meet for reasons other than a bug. */
enum { E_AGAIN, E_INVAL, E_NOMEM, E_EXIST, E_NOENT, E_BUSY, E_FAULT, E_PERM,
	E_OTHER, NR_ERRS };
static const char *const err_names[NR_ERRS] = {
	"EAGAIN", "EINVAL", "ENOMEM", "EEXIST", "ENOENT", "EBUSY", "EFAULT",
	"EPERM", "other",
};

static int err_index(int e)
{
	switch (e) {
	case EAGAIN:
		return E_AGAIN;
	case EINVAL:
		return E_INVAL;
	case ENOMEM:
		return E_NOMEM;
	case EEXIST:
		return E_EXIST;
	case ENOENT:
		return E_NOENT;
	case EBUSY:
		return E_BUSY;
	case EFAULT:
		return E_FAULT;
	case EPERM:
		return E_PERM;
	}
	return E_OTHER;
}

struct slot {
	char *addr;
	size_t len;
	int kind;
	off_t off;		/* shm: offset in the memfd */
	int policy;		/* mbind: interleaved now (under lock) */
	volatile unsigned int gen;
	pthread_mutex_t lock;	/* one discarding operation at a time */
};

struct torture {
	char *base;		/* the whole reservation */
	size_t base_len;
	char *scratch;		/* MAX_OPS_THREADS x HPAGE, for mremap */
	struct slot slot[NSLOTS];
	int shm_fd, uffd;
	double deadline;
	uint64_t seed;
	int feat[NR_FEATS];
	char why[NR_FEATS][128];
	int nodes;
	volatile int stop_handler;
	/* results */
	unsigned long long reads, writes, segv, mismatches, lost;
	unsigned long long ops[NR_KINDS][NR_OPS], fork_failures, op_errors;
	unsigned long long op_fail[NR_OPS][NR_ERRS], op_err[NR_OPS][NR_ERRS];
	unsigned long long first_bad_addr, first_bad_val;
	unsigned long long uffd_msgs, uffd_copy, uffd_zero, uffd_wake;
	unsigned long long uffd_fail[NR_ERRS];
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

static void count_op(struct torture *t, int kind, int op, int err, int e)
{
	pthread_mutex_lock(&t->res_lock);
	t->ops[kind][op]++;
	if (err > 0) {
		t->op_errors++;
		t->op_err[op][err_index(e)]++;
	} else if (err < 0) {
		t->op_fail[op][err_index(e)]++;
	}
	pthread_mutex_unlock(&t->res_lock);
}

/* --- features: what the kernel has, and the guest's own setup ----------- */

static void unavailable(struct torture *t, int f, const char *fmt, ...)
{
	va_list ap;

	t->feat[f] = 0;
	va_start(ap, fmt);
	vsnprintf(t->why[f], sizeof(t->why[f]), fmt, ap);
	va_end(ap);
}

static int in_guest(void)
{
	return !!getenv("SPFTEACH_GUEST");
}

static int read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = !!fgets(buf, n, f);
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

struct tunable {
	const char *file, *value;
	char old[64];
	int saved;
};

#define KHUGEPAGED THP_DIR "/khugepaged/"
static struct tunable thp_tunables[] = {
	{ .file = THP_DIR "/enabled", .value = "always" },
	{ .file = KHUGEPAGED "scan_sleep_millisecs", .value = "0" },
	{ .file = KHUGEPAGED "alloc_sleep_millisecs", .value = "0" },
	{ .file = KHUGEPAGED "pages_to_scan", .value = "4096" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NR_TUNABLES ARRAY_SIZE(thp_tunables)

/* "always [madvise] never" -> "madvise"; a number stays as it is. */
static void selected_word(char *s)
{
	char *b = strchr(s, '['), *e = b ? strchr(b, ']') : NULL;

	if (b && e) {
		memmove(s, b + 1, e - b - 1);
		s[e - b - 1] = 0;
	}
}

static int thp_tune(struct torture *t)
{
	size_t i;
	int ok = 1;

	for (i = 0; i < NR_TUNABLES; i++) {
		struct tunable *k = &thp_tunables[i];

		k->saved = !read_line(k->file, k->old, sizeof(k->old));
		if (k->saved)
			selected_word(k->old);
		if (!k->saved || write_str_file(k->file, k->value)) {
			unavailable(t, F_KHUGEPAGED, "%s: %s", k->file,
				    strerror(errno));
			ok = 0;
		}
	}
	return ok;
}

static void thp_restore(void)
{
	size_t i;

	for (i = 0; i < NR_TUNABLES; i++)
		if (thp_tunables[i].saved)
			write_str_file(thp_tunables[i].file,
				       thp_tunables[i].old);
}

static int swap_active(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[256];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;		/* a header line, then one line per area */
}

/* A swap header as mkswap writes it (union swap_header, linux/swap.h). */
static int write_swap_header(const char *dev, unsigned long long bytes)
{
	unsigned char *h = calloc(1, PAGE);
	uint32_t version = 1, last_page = bytes / PAGE - 1;
	int fd, ok;

	if (!h)
		return -1;
	memcpy(h + 1024, &version, sizeof(version));
	memcpy(h + 1024 + 4, &last_page, sizeof(last_page));
	memcpy(h + PAGE - 10, "SWAPSPACE2", 10);
	fd = open(dev, O_RDWR);
	ok = fd >= 0 && pwrite(fd, h, PAGE, 0) == (ssize_t)PAGE &&
	     !fsync(fd);
	if (fd >= 0)
		close(fd);
	free(h);
	return ok ? 0 : -1;
}

static void swap_setup(struct torture *t)
{
	char sys[64], dev[32], buf[64];
	unsigned int major, minor;
	long id = 0;

	t->feat[F_SWAP] = 1;
	if (swap_active())
		return;
	if (!in_guest()) {
		unavailable(t, F_SWAP, "no swap, and not in the guest: none made");
		return;
	}
	if (access("/sys/block/zram0", F_OK) &&
	    read_int_file("/sys/class/zram-control/hot_add", &id)) {
		unavailable(t, F_SWAP, "no /sys/block/zram0 nor zram-control: %s",
			    "no CONFIG_ZRAM?");
		return;
	}
	snprintf(sys, sizeof(sys), "/sys/block/zram%ld", id);
	snprintf(dev, sizeof(dev), "/dev/zram%ld", id);
	snprintf(buf, sizeof(buf), "%dM", ZRAM_MB);
	snprintf(sys + strlen(sys), sizeof(sys) - strlen(sys), "/disksize");
	if (write_str_file(sys, buf)) {
		unavailable(t, F_SWAP, "%s: %s", sys, strerror(errno));
		return;
	}
	/* devtmpfs makes the node; without it, make it from .../dev. */
	snprintf(sys, sizeof(sys), "/sys/block/zram%ld/dev", id);
	if (access(dev, F_OK) && !read_line(sys, buf, sizeof(buf)) &&
	    sscanf(buf, "%u:%u", &major, &minor) == 2)
		mknod(dev, S_IFBLK | 0600, makedev(major, minor));
	if (write_swap_header(dev, (unsigned long long)ZRAM_MB << 20)) {
		unavailable(t, F_SWAP, "swap header on %s: %s", dev,
			    strerror(errno));
		return;
	}
	if (syscall(SYS_swapon, dev, 0)) {
		unavailable(t, F_SWAP, "swapon %s: %s", dev, strerror(errno));
		return;
	}
	if (!swap_active())
		unavailable(t, F_SWAP, "swapon %s: not in /proc/swaps", dev);
}

static int count_nodes(void)
{
	char path[64];
	int n, nodes = 0;

	for (n = 0; n < 64; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d",
			 n);
		nodes += access(path, F_OK) == 0;
	}
	return nodes;
}

static long set_policy(char *a, size_t len, int interleave)
{
	unsigned long mask = 3;	/* nodes 0 and 1 */

	if (interleave)
		return syscall(SYS_mbind, a, len, MPOL_INTERLEAVE, &mask, 64,
			       0);
	return syscall(SYS_mbind, a, len, MPOL_DEFAULT, NULL, 0, 0);
}

static void numa_setup(struct torture *t)
{
	struct slot *sl = &t->slot[0];

	t->nodes = count_nodes();
	t->feat[F_NUMA] = 1;
	if (t->nodes < 2) {
		unavailable(t, F_NUMA,
			    "%d NUMA node(s): mbind skipped (numa=fake=2?)",
			    t->nodes);
		return;
	}
	if (set_policy(sl->addr, sl->len, 1) ||
	    set_policy(sl->addr, sl->len, 0))
		unavailable(t, F_NUMA, "mbind: %s", strerror(errno));
}

static void uffd_setup(struct torture *t)
{
	struct uffdio_api api = { .api = UFFD_API };

	t->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	t->feat[F_UFFD] = t->uffd >= 0;
	if (t->uffd < 0) {
		unavailable(t, F_UFFD, "userfaultfd: %s", strerror(errno));
		return;
	}
	if (ioctl(t->uffd, UFFDIO_API, &api)) {
		unavailable(t, F_UFFD, "UFFDIO_API: %s", strerror(errno));
		close(t->uffd);
		t->uffd = -1;
	}
}

static void shm_setup(struct torture *t)
{
	t->shm_fd = syscall(SYS_memfd_create, "spfteach-torture", 1U);
	t->feat[F_SHMEM] = t->shm_fd >= 0;
	if (t->shm_fd < 0) {
		unavailable(t, F_SHMEM, "memfd_create: %s", strerror(errno));
		return;
	}
	if (ftruncate(t->shm_fd, (off_t)SHM_SLOTS * SLOT_LEN)) {
		unavailable(t, F_SHMEM, "ftruncate: %s", strerror(errno));
		close(t->shm_fd);
		t->shm_fd = -1;
	}
}

/* Map slot sl afresh (MAP_FIXED), as its kind wants. */
static int map_slot(struct torture *t, struct slot *sl, int prot)
{
	void *p;

	if (sl->kind == K_SHM)
		p = mmap(sl->addr, sl->len, prot, MAP_SHARED | MAP_FIXED,
			 t->shm_fd, sl->off);
	else
		p = mmap(sl->addr, sl->len, prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	sl->policy = 0;
	if (!t->feat[F_THP] || sl->kind == K_SHM)
		return 0;
	/* Only the thp slots get huge pages: the others stay 4 KiB. */
	madvise(sl->addr, sl->len,
		sl->kind == K_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return 0;
}

/* --- faulters ------------------------------------------------------------ */

struct faulter {
	pthread_t tid;
	struct torture *t;
	uint64_t rnd;
	unsigned long long reads, writes, segv, lost;
};

/*
 * Write a word's tag and read it back.  A value that is neither 0 nor the
 * tag is a mismatch; reading 0 although no discarding operation of the
 * slot (its generation odd or moved) overlapped the write is a lost write.
 */
static void checked_write(struct torture *t, struct faulter *f,
			  struct slot *sl, volatile uint64_t *a)
{
	uint64_t want = tag((uintptr_t)a), v;
	unsigned int g1 = sl->gen, g2;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*a = want;
	v = *a;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	g2 = sl->gen;
	f->writes++;
	if (v && v != want)
		note_bad(t, (uintptr_t)a, v);
	else if (!(g1 & 1) && g1 == g2 && v != want)
		f->lost++;
}

static void *faulter_main(void *arg)
{
	struct faulter *f = arg;
	struct torture *t = f->t;
	sigjmp_buf jb;
	volatile unsigned long n = 0;

	cur_jb = &jb;
	for (;;) {
		struct slot *sl = &t->slot[rnd_below(&f->rnd, NSLOTS)];
		size_t p = rnd_below(&f->rnd, sl->len / PAGE);
		int w = rnd_below(&f->rnd, WORDS_PER_PAGE);
		int write = rnd_next(&f->rnd) & 1;
		volatile uint64_t *a;
		uint64_t v;

		if (!(++n & 255) && now_seconds() > t->deadline)
			break;
		a = (volatile uint64_t *)(sl->addr + p * PAGE) + w;
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
		checked_write(t, f, sl, a);
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
		struct slot *sl = &t->slot[rnd_below(&r, CHILD_SLOTS)];
		size_t p = rnd_below(&r, sl->len / PAGE);
		int w = rnd_below(&r, WORDS_PER_PAGE);
		volatile uint64_t *a;
		uint64_t v;

		rnd = r;
		a = (volatile uint64_t *)(sl->addr + p * PAGE) + w;
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

/* --- operations ---------------------------------------------------------- */

struct opthread {
	pthread_t tid;
	struct torture *t;
	int idx;
	uint64_t rnd;
};

static void gen_begin(struct slot *sl)
{
	__atomic_add_fetch(&sl->gen, 1, __ATOMIC_SEQ_CST);
}

static void gen_end(struct slot *sl)
{
	__atomic_add_fetch(&sl->gen, 1, __ATOMIC_SEQ_CST);
}

/* A random page-aligned part of the slot, or all of it. */
static void some_of(struct opthread *o, struct slot *sl, size_t *off,
		    size_t *len)
{
	size_t pages = sl->len / PAGE, first;

	if (rnd_next(&o->rnd) & 1) {
		*off = 0;
		*len = sl->len;
		return;
	}
	first = rnd_below(&o->rnd, pages);
	*off = first * PAGE;
	*len = (1 + rnd_below(&o->rnd, pages - first)) * PAGE;
}

/* The scratch area goes back to a PROT_NONE reservation after a move. */
static int unscratch(char *scratch)
{
	return mmap(scratch, HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED;
}

static int op_mremap(struct torture *t, struct slot *sl, char *scratch,
		     int dontunmap)
{
	const int mv = MREMAP_MAYMOVE | MREMAP_FIXED;
	int err = 0;

	if (dontunmap) {
		/* The slot keeps its VMA, without pages, until moved back. */
		gen_begin(sl);
		if (mremap(sl->addr, sl->len, sl->len, mv | MREMAP_DONTUNMAP,
			   scratch) == MAP_FAILED) {
			gen_end(sl);
			return 1;
		}
	} else {
		/* Contents move away and back; never leave a hole long. */
		if (mremap(sl->addr, sl->len, sl->len, mv, scratch) ==
		    MAP_FAILED)
			return 1;
		if (mmap(sl->addr, sl->len, PROT_NONE, MAP_PRIVATE |
			 MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			err = 1;
	}
	if (mremap(scratch, sl->len, sl->len, mv, sl->addr) == MAP_FAILED)
		err = 1;
	if (dontunmap)
		gen_end(sl);
	return err | unscratch(scratch);
}

static int op_fork(struct torture *t, struct opthread *o)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		fork_child(t, rnd_next(&o->rnd));
	if (pid < 0)
		return 1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		pthread_mutex_lock(&t->res_lock);
		t->fork_failures++;
		pthread_mutex_unlock(&t->res_lock);
	}
	return 0;
}

/*
 * Run operation op on slot sl, its lock held.  Returns 0, 1 for a failure
 * that means a bug, or -1 with errno for one the kernel may give without
 * one (MADV_COLLAPSE racing a fault, MADV_PAGEOUT without swap...).
 */
static int do_op(struct torture *t, struct opthread *o, struct slot *sl,
		 int op)
{
	char *a = sl->addr;
	char *scratch = t->scratch + (size_t)o->idx * HPAGE;
	const int rw = PROT_READ | PROT_WRITE;
	int discards = sl->kind != K_SHM;
	size_t off, len;
	int err = 0;

	switch (op) {
	case OP_REPLACE:
		/* Private memory starts empty; a memfd keeps its pages. */
		if (discards)
			gen_begin(sl);
		err = map_slot(t, sl, rw) != 0;
		if (discards)
			gen_end(sl);
		break;
	case OP_DONTNEED:
		/* Part of a huge page: the PMD is split first. */
		some_of(o, sl, &off, &len);
		if (discards)
			gen_begin(sl);
		err = madvise(a + off, len, MADV_DONTNEED) != 0;
		if (discards)
			gen_end(sl);
		break;
	case OP_MPROTECT:
		err |= mprotect(a, sl->len, PROT_READ) != 0;
		sched_yield();
		err |= mprotect(a, sl->len, rw) != 0;
		break;
	case OP_SPLIT:
		err |= mprotect(a + sl->len / 4, sl->len / 2, PROT_READ) != 0;
		sched_yield();
		err |= mprotect(a + sl->len / 4, sl->len / 2, rw) != 0;
		break;
	case OP_MREMAP:
	case OP_DONTUNMAP:
		/* mremap() moves one VMA: merge back what mbind() split. */
		if (sl->policy && !set_policy(a, sl->len, 0))
			sl->policy = 0;
		err = op_mremap(t, sl, scratch, op == OP_DONTUNMAP);
		break;
	case OP_FORK:
		err = op_fork(t, o);
		break;
	case OP_PAGEOUT:
		some_of(o, sl, &off, &len);
		if (madvise(a + off, len, MADV_PAGEOUT))
			err = -1;
		break;
	case OP_MBIND:
		/* Interleaved from now until the next mbind of the slot. */
		some_of(o, sl, &off, &len);
		if (sl->policy)
			err = set_policy(a, sl->len, 0) != 0;
		else
			err = set_policy(a + off, len, 1) != 0;
		if (!err)
			sl->policy = !sl->policy;
		break;
	case OP_PUNCH:
		some_of(o, sl, &off, &len);
		gen_begin(sl);
		err = fallocate(t->shm_fd, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, sl->off + off, len) != 0;
		gen_end(sl);
		break;
	case OP_COLLAPSE:
		if (madvise(a, sl->len, MADV_COLLAPSE))
			err = -1;
		break;
	}
	return err;
}

static int draw_op(struct torture *t, struct opthread *o, struct slot *sl)
{
	const int *ops = kind_ops[sl->kind];
	int n = 0, op;

	while (ops[n] >= 0)
		n++;
	op = ops[rnd_below(&o->rnd, n)];
	/* Forks are costly under TCG: one in eight draws. */
	if (op == OP_FORK && rnd_below(&o->rnd, 8))
		op = OP_DONTNEED;
	if (op == OP_MBIND && !t->feat[F_NUMA])
		op = OP_SPLIT;
	if (op == OP_COLLAPSE && !t->feat[F_THP])
		op = OP_SPLIT;
	return op;
}

static void *opthread_main(void *arg)
{
	struct opthread *o = arg;
	struct torture *t = o->t;

	while (now_seconds() < t->deadline) {
		struct slot *sl = &t->slot[rnd_below(&o->rnd, NSLOTS)];
		int op = draw_op(t, o, sl);
		int err, e;

		pthread_mutex_lock(&sl->lock);
		err = do_op(t, o, sl, op);
		e = errno;
		pthread_mutex_unlock(&sl->lock);
		count_op(t, sl->kind, op, err, e);
	}
	return NULL;
}

/*
 * MADV_COLLAPSE without the slot lock: it races the replacements,
 * mprotects and mremaps of the op threads and the faults.  Half of them
 * go to the first THP slot, where the pump below faults non-stop.  Now
 * and then MADV_PAGEOUT of part of any slot, which also splits huge pages.
 */
static void *thp_main(void *arg)
{
	struct opthread *o = arg;
	struct torture *t = o->t;

	while (now_seconds() < t->deadline) {
		struct slot *sl;
		size_t off = 0, len;
		int op, err = 0;

		if (t->feat[F_SWAP] && !rnd_below(&o->rnd, 8)) {
			sl = &t->slot[rnd_below(&o->rnd, NSLOTS)];
			op = OP_PAGEOUT;
			some_of(o, sl, &off, &len);
		} else {
			sl = &t->slot[THP_FIRST + (rnd_next(&o->rnd) & 1 ? 0 :
				      rnd_below(&o->rnd, THP_SLOTS))];
			op = OP_COLLAPSE;
			len = sl->len;
		}
		if (madvise(sl->addr + off, len,
			    op == OP_PAGEOUT ? MADV_PAGEOUT : MADV_COLLAPSE))
			err = -1;
		count_op(t, sl->kind, op, err, errno);
		usleep(5000 + rnd_below(&o->rnd, 5000));
	}
	return NULL;
}

#define PUMP_PAGES 16

/*
 * Faults at PTE level in the first THP slot without pause, for the
 * collapses to race: write PUMP_PAGES pages (checked as the faulters do),
 * then MADV_DONTNEED them, which also splits the huge PMD a collapse made.
 * A collapse that clears the PMD between a fault's walk and its PTE lock
 * is what spf_abort_pmd_changed counts.
 */
static void *pump_main(void *arg)
{
	struct faulter *f = arg;
	struct torture *t = f->t;
	struct slot *sl = &t->slot[THP_FIRST];
	size_t pages = sl->len / PAGE;
	volatile size_t first = 0;
	sigjmp_buf jb;

	cur_jb = &jb;
	while (now_seconds() < t->deadline) {
		size_t i;

		if (sigsetjmp(jb, 1)) {
			f->segv++;
			first = (first + PUMP_PAGES) % pages;
			continue;
		}
		for (i = 0; i < PUMP_PAGES; i++) {
			checked_write(t, f, sl, (volatile uint64_t *)(sl->addr +
				      (first + i) * PAGE) + i);
		}
		pthread_mutex_lock(&sl->lock);
		gen_begin(sl);
		madvise(sl->addr + first * PAGE, PUMP_PAGES * PAGE,
			MADV_DONTNEED);
		gen_end(sl);
		pthread_mutex_unlock(&sl->lock);
		first = (first + PUMP_PAGES) % pages;
	}
	cur_jb = NULL;
	return NULL;
}

/* --- userfaultfd --------------------------------------------------------- */

static int uffd_range(struct torture *t, struct slot *sl, int reg)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)sl->addr, .len = sl->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (reg)
		return ioctl(t->uffd, UFFDIO_REGISTER, &r) ? -1 : 0;
	return ioctl(t->uffd, UFFDIO_UNREGISTER, &r.range) ? -1 : 0;
}

/*
 * Empty a uffd slot (part or all of it), register it, let the faulters
 * hit it for a few ms, unregister it.  Between the two the slot lock is
 * not held: the op threads replace, mprotect and mremap it meanwhile.
 */
static void *uffd_main(void *arg)
{
	struct opthread *o = arg;
	struct torture *t = o->t;
	int s;

	while (now_seconds() < t->deadline) {
		struct slot *sl;
		size_t off, len;
		int err, e;

		sl = &t->slot[UFFD_FIRST + rnd_below(&o->rnd, UFFD_SLOTS)];
		some_of(o, sl, &off, &len);
		pthread_mutex_lock(&sl->lock);
		gen_begin(sl);
		err = madvise(sl->addr + off, len, MADV_DONTNEED) != 0;
		gen_end(sl);
		if (!err)
			err = uffd_range(t, sl, 1);
		e = errno;
		pthread_mutex_unlock(&sl->lock);
		count_op(t, K_UFFD, OP_UFFD, err, e);
		usleep(1000 + rnd_below(&o->rnd, 5000));
		pthread_mutex_lock(&sl->lock);
		err = uffd_range(t, sl, 0);
		e = errno;
		pthread_mutex_unlock(&sl->lock);
		if (err) {
			pthread_mutex_lock(&t->res_lock);
			t->op_fail[OP_UFFD][err_index(e)]++;
			pthread_mutex_unlock(&t->res_lock);
		}
	}
	/* Nothing registered stays behind to block the final check. */
	for (s = UFFD_FIRST; s < UFFD_FIRST + UFFD_SLOTS; s++) {
		pthread_mutex_lock(&t->slot[s].lock);
		uffd_range(t, &t->slot[s], 0);
		pthread_mutex_unlock(&t->slot[s].lock);
	}
	return NULL;
}

static void uffd_resolve(struct torture *t, const struct uffd_msg *m,
			 uint64_t *src, uint64_t *rnd)
{
	uintptr_t a = m->arg.pagefault.address & ~(PAGE - 1);
	struct uffdio_range wake = { .start = a, .len = PAGE };
	size_t w;
	int err;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;
	t->uffd_msgs++;
	if (rnd_below(rnd, 4)) {
		struct uffdio_copy c = {
			.dst = a, .src = (uintptr_t)src, .len = PAGE,
		};

		for (w = 0; w < WORDS_PER_PAGE; w++)
			src[w] = tag(a + w * sizeof(*src));
		err = ioctl(t->uffd, UFFDIO_COPY, &c);
		t->uffd_copy += !err;
	} else {
		struct uffdio_zeropage z = {
			.range = { .start = a, .len = PAGE },
		};

		err = ioctl(t->uffd, UFFDIO_ZEROPAGE, &z);
		t->uffd_zero += !err;
	}
	if (!err)
		return;
	/* Filled meanwhile, or no longer registered: wake the faulter. */
	t->uffd_fail[err_index(errno)]++;
	if (!ioctl(t->uffd, UFFDIO_WAKE, &wake))
		t->uffd_wake++;
}

static void *uffd_handler_main(void *arg)
{
	struct torture *t = arg;
	uint64_t rnd = t->seed * 31 + 7;
	struct uffd_msg msg[16];
	uint64_t *src;

	if (posix_memalign((void **)&src, PAGE, PAGE))
		return NULL;
	while (!t->stop_handler) {
		struct pollfd p = { .fd = t->uffd, .events = POLLIN };
		ssize_t n, i;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(t->uffd, msg, sizeof(msg));
		for (i = 0; i < n / (ssize_t)sizeof(msg[0]); i++)
			uffd_resolve(t, &msg[i], src, &rnd);
	}
	free(src);
	return NULL;
}

/* --- setup, run, report -------------------------------------------------- */

static int setup_arena(struct torture *t)
{
	size_t anon = (ANON_SLOTS + SHM_SLOTS + UFFD_SLOTS) * SLOT_LEN;
	size_t need = (THP_SLOTS + MAX_OPS_THREADS) * HPAGE + anon + HPAGE;
	char *p, *next;
	int s;

	/* One PROT_NONE reservation, carved into 2 MiB aligned regions. */
	t->base_len = need + HPAGE;
	t->base = mmap(NULL, t->base_len, PROT_NONE, MAP_PRIVATE |
		       MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->base == MAP_FAILED)
		return -errno;
	p = (char *)(((uintptr_t)t->base + HPAGE - 1) & ~(HPAGE - 1));
	for (s = 0; s < NSLOTS; s++) {
		struct slot *sl = &t->slot[s];

		pthread_mutex_init(&sl->lock, NULL);
		sl->kind = s < THP_FIRST ? K_ANON : s < SHM_FIRST ? K_THP :
			   s < UFFD_FIRST ? K_SHM : K_UFFD;
		sl->len = sl->kind == K_THP ? HPAGE : SLOT_LEN;
	}
	/* thp slots, scratch, anon (aligned), shm, a gap page, uffd. */
	next = p;
	for (s = THP_FIRST; s < SHM_FIRST; s++, next += HPAGE)
		t->slot[s].addr = next;
	t->scratch = next;
	next += MAX_OPS_THREADS * HPAGE;
	for (s = 0; s < THP_FIRST; s++, next += SLOT_LEN)
		t->slot[s].addr = next;
	for (s = SHM_FIRST; s < UFFD_FIRST; s++, next += SLOT_LEN) {
		t->slot[s].addr = next;
		t->slot[s].off = (off_t)(s - SHM_FIRST) * SLOT_LEN;
	}
	next += PAGE;
	for (s = UFFD_FIRST; s < NSLOTS; s++, next += SLOT_LEN)
		t->slot[s].addr = next;

	/* A feature the kernel lacks leaves plain private memory. */
	for (s = 0; s < NSLOTS; s++) {
		struct slot *sl = &t->slot[s];

		if ((sl->kind == K_SHM && !t->feat[F_SHMEM]) ||
		    (sl->kind == K_UFFD && !t->feat[F_UFFD]))
			sl->kind = K_ANON;
		if (map_slot(t, sl, PROT_READ | PROT_WRITE))
			return -errno;
	}
	return 0;
}

/* What needs no arena; madvise and mbind are probed on the slots. */
static void probe_features(struct torture *t)
{
	int f;

	for (f = 0; f < NR_FEATS; f++)
		t->feat[f] = 1;
	t->shm_fd = -1;
	t->uffd = -1;
	if (access(THP_DIR, F_OK)) {
		unavailable(t, F_THP, "no %s (CONFIG_TRANSPARENT_HUGEPAGE?)",
			    THP_DIR);
		unavailable(t, F_KHUGEPAGED, "no THP");
	} else if (!in_guest()) {
		unavailable(t, F_KHUGEPAGED, "not in the guest: left alone");
	} else if (thp_tune(t)) {
		t->feat[F_KHUGEPAGED] = 1;
	}
	shm_setup(t);
	uffd_setup(t);
	swap_setup(t);
}

static void jb_errors(struct jbuf *out, const char *key,
		      unsigned long long (*n)[NR_ERRS])
{
	unsigned long long sum;
	int i, e;

	jb_open(out, key, '{');
	for (i = 0; i < NR_OPS; i++) {
		for (sum = 0, e = 0; e < NR_ERRS; e++)
			sum += n[i][e];
		if (!sum)
			continue;
		jb_open(out, op_names[i], '{');
		for (e = 0; e < NR_ERRS; e++)
			if (n[i][e])
				jb_u64(out, err_names[e], n[i][e]);
		jb_close(out, '}');
	}
	jb_close(out, '}');
}

static void report(struct torture *t, struct jbuf *out, int nf, int no,
		   double secs, unsigned long long final_bad)
{
	unsigned long long sum;
	int i, k, e;

	jb_open(out, NULL, '{');
	jb_str(out, "program", "torture");
	jb_i64(out, "threads", nf);
	jb_i64(out, "ops_threads", no);
	jb_dbl(out, "seconds", secs);
	jb_u64(out, "seed", t->seed);
	jb_u64(out, "reads", t->reads);
	jb_u64(out, "writes", t->writes);
	jb_u64(out, "segv", t->segv);
	jb_u64(out, "mismatches", t->mismatches);
	jb_u64(out, "lost_writes", t->lost);
	jb_u64(out, "final_mismatches", final_bad);
	jb_u64(out, "fork_failures", t->fork_failures);
	jb_u64(out, "op_errors", t->op_errors);
	if (t->mismatches) {
		jb_u64(out, "first_bad_addr", t->first_bad_addr);
		jb_u64(out, "first_bad_val", t->first_bad_val);
	}
	jb_open(out, "features", '{');
	for (i = 0; i < NR_FEATS; i++)
		jb_bool(out, feat_names[i], t->feat[i]);
	jb_close(out, '}');
	jb_open(out, "unavailable", '{');
	for (i = 0; i < NR_FEATS; i++)
		if (!t->feat[i])
			jb_str(out, feat_names[i], t->why[i]);
	jb_close(out, '}');
	jb_i64(out, "numa_nodes", t->nodes);
	jb_open(out, "ops", '{');
	for (i = 0; i < NR_OPS; i++) {
		for (sum = 0, k = 0; k < NR_KINDS; k++)
			sum += t->ops[k][i];
		jb_u64(out, op_names[i], sum);
	}
	jb_close(out, '}');
	jb_open(out, "ops_by_slot_kind", '{');
	for (k = 0; k < NR_KINDS; k++) {
		jb_open(out, kind_names[k], '{');
		for (i = 0; i < NR_OPS; i++)
			if (t->ops[k][i])
				jb_u64(out, op_names[i], t->ops[k][i]);
		jb_close(out, '}');
	}
	jb_close(out, '}');
	/* Failures the kernel may give without a bug, by errno. */
	jb_errors(out, "op_failures", t->op_fail);
	/* The op_errors, by operation and errno (of the last call). */
	jb_errors(out, "op_errors_by_op", t->op_err);
	jb_open(out, "uffd", '{');
	jb_u64(out, "faults", t->uffd_msgs);
	jb_u64(out, "copy", t->uffd_copy);
	jb_u64(out, "zeropage", t->uffd_zero);
	jb_u64(out, "wake", t->uffd_wake);
	for (e = 0; e < NR_ERRS; e++)
		if (t->uffd_fail[e])
			jb_u64(out, err_names[e], t->uffd_fail[e]);
	jb_close(out, '}');
	jb_bool(out, "ok", !t->mismatches && !t->lost && !final_bad &&
		!t->fork_failures && !t->op_errors);
	jb_close(out, '}');
}

static void start(pthread_t *tid, void *(*fn)(void *), void *arg)
{
	if (pthread_create(tid, NULL, fn, arg)) {
		perror("pthread_create");
		exit(2);
	}
}

int torture_run(const char *opts, struct jbuf *out)
{
	static struct torture t;
	int nf = opt_long(opts, "threads", 3);
	int no = opt_long(opts, "ops", 1);
	double secs = opt_long(opts, "seconds", 5);
	struct opthread thp_o = { 0 }, uffd_o = { 0 };
	struct faulter pump = { 0 };
	pthread_t handler = 0;
	struct faulter *fs;
	struct opthread *os;
	struct sigaction sa;
	unsigned long long final_bad = 0, ok_collapse;
	double t0;
	int i, s, err;
	size_t w;

	if (nf < 1 || no < 0 || no > MAX_OPS_THREADS || secs <= 0)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.seed = opt_long(opts, "seed", 1);
	pthread_mutex_init(&t.res_lock, NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	probe_features(&t);
	err = setup_arena(&t);
	if (!err && t.feat[F_THP] &&
	    madvise(t.slot[THP_FIRST].addr, HPAGE, MADV_HUGEPAGE))
		unavailable(&t, F_THP, "MADV_HUGEPAGE: %s", strerror(errno));
	if (!err)
		numa_setup(&t);
	if (!err && t.feat[F_PAGEOUT] &&
	    madvise(t.slot[0].addr, PAGE, MADV_PAGEOUT))
		unavailable(&t, F_PAGEOUT, "MADV_PAGEOUT: %s",
			    strerror(errno));
	fs = calloc(nf, sizeof(*fs));
	os = calloc(no ? no : 1, sizeof(*os));
	if (err || !fs || !os) {
		if (t.feat[F_KHUGEPAGED])
			thp_restore();
		return err ? err : -ENOMEM;
	}
	t0 = now_seconds();
	t.deadline = t0 + secs;
	for (i = 0; i < nf; i++) {
		fs[i].t = &t;
		fs[i].rnd = t.seed * 1000003 + i + 1;
		start(&fs[i].tid, faulter_main, &fs[i]);
	}
	for (i = 0; i < no; i++) {
		os[i].t = &t;
		os[i].idx = i;
		os[i].rnd = t.seed * 7919 + 100 + i;
		start(&os[i].tid, opthread_main, &os[i]);
	}
	if (t.feat[F_THP]) {
		thp_o.t = &t;
		thp_o.rnd = t.seed * 7919 + 50;
		start(&thp_o.tid, thp_main, &thp_o);
		pump.t = &t;
		start(&pump.tid, pump_main, &pump);
	}
	if (t.feat[F_UFFD]) {
		uffd_o.t = &t;
		uffd_o.rnd = t.seed * 7919 + 60;
		start(&handler, uffd_handler_main, &t);
		start(&uffd_o.tid, uffd_main, &uffd_o);
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
	/* The handler runs on until the end: a faulter may wait on it. */
	if (t.feat[F_UFFD])
		pthread_join(uffd_o.tid, NULL);
	if (t.feat[F_THP]) {
		pthread_join(thp_o.tid, NULL);
		pthread_join(pump.tid, NULL);
		t.writes += pump.writes;
		t.segv += pump.segv;
		t.lost += pump.lost;
	}
	for (i = 0; i < no; i++)
		pthread_join(os[i].tid, NULL);
	for (i = 0; i < nf; i++) {
		pthread_join(fs[i].tid, NULL);
		t.reads += fs[i].reads;
		t.writes += fs[i].writes;
		t.segv += fs[i].segv;
		t.lost += fs[i].lost;
	}

	/* Every slot is mapped read-write again: check all of it. */
	for (s = 0; s < NSLOTS; s++) {
		uint64_t *a = (uint64_t *)t.slot[s].addr;

		for (w = 0; w < t.slot[s].len / sizeof(*a); w++)
			if (a[w] && a[w] != tag((uintptr_t)&a[w]))
				final_bad++;
	}
	if (t.feat[F_UFFD]) {
		t.stop_handler = 1;
		pthread_join(handler, NULL);
		close(t.uffd);
	}
	if (t.feat[F_KHUGEPAGED])
		thp_restore();
	munmap(t.base, t.base_len);
	if (t.shm_fd >= 0)
		close(t.shm_fd);

	ok_collapse = t.ops[K_THP][OP_COLLAPSE];
	for (i = 0; i < NR_ERRS; i++)
		ok_collapse -= t.op_fail[OP_COLLAPSE][i];
	if (!t.feat[F_THP])
		unavailable(&t, F_COLLAPSE, "no THP");
	else if (!ok_collapse)
		unavailable(&t, F_COLLAPSE, "MADV_COLLAPSE never succeeded");
	report(&t, out, nf, no, now_seconds() - t0, final_bad);
	free(fs);
	free(os);
	return 0;
}
