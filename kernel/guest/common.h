/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spfteach guest programs: shared helpers (time, random numbers, a tiny
 * JSON writer, /proc/vmstat snapshots, key=value argument parsing).
 *
 * Everything here is static inline so that each program stays one
 * translation unit plus this header, and the guest binary stays static.
 */
#ifndef SPFTEACH_COMMON_H
#define SPFTEACH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: fast, per-thread, seeded: runs are reproducible per seed. */
static inline uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return rnd_next(s) % n;
}

/*
 * A growing string buffer for JSON output.  Each program writes one JSON
 * object into a struct jbuf; the init program embeds it in its document.
 */
struct jbuf {
	char *p;
	size_t len, cap;
	int need_comma[32];
	int depth;
};

static inline void jb_raw(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0,
			      fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < room) {
			b->len += n;
			return;
		}
		b->cap = (b->cap + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(2);
		}
	}
}

static inline void jb_sep(struct jbuf *b)
{
	if (b->need_comma[b->depth])
		jb_raw(b, ",");
	b->need_comma[b->depth] = 1;
}

static inline void jb_str_raw(struct jbuf *b, const char *s)
{
	jb_raw(b, "\"");
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			jb_raw(b, "\\%c", c);
		else if (c < 0x20)
			jb_raw(b, "\\u%04x", c);
		else
			jb_raw(b, "%c", c);
	}
	jb_raw(b, "\"");
}

static inline void jb_key(struct jbuf *b, const char *k)
{
	jb_sep(b);
	jb_str_raw(b, k);
	jb_raw(b, ":");
}

static inline void jb_open(struct jbuf *b, const char *k, char c)
{
	if (k)
		jb_key(b, k);
	else
		jb_sep(b);
	jb_raw(b, "%c", c);
	b->depth++;
	b->need_comma[b->depth] = 0;
}

static inline void jb_close(struct jbuf *b, char c)
{
	b->depth--;
	jb_raw(b, "%c", c);
}

static inline void jb_u64(struct jbuf *b, const char *k, unsigned long long v)
{
	jb_key(b, k);
	jb_raw(b, "%llu", v);
}

static inline void jb_i64(struct jbuf *b, const char *k, long long v)
{
	jb_key(b, k);
	jb_raw(b, "%lld", v);
}

static inline void jb_dbl(struct jbuf *b, const char *k, double v)
{
	jb_key(b, k);
	jb_raw(b, "%.6g", v);
}

static inline void jb_bool(struct jbuf *b, const char *k, int v)
{
	jb_key(b, k);
	jb_raw(b, v ? "true" : "false");
}

static inline void jb_str(struct jbuf *b, const char *k, const char *v)
{
	jb_key(b, k);
	jb_str_raw(b, v);
}

/* Append an already-formatted JSON value (an object from a program). */
static inline void jb_json(struct jbuf *b, const char *k, const char *v)
{
	jb_key(b, k);
	jb_raw(b, "%s", v);
}

/*
 * /proc/vmstat as name/value pairs.  6.12 with the full profile has more
 * than 256 lines, and the vma_lock_* counters come near the end: a table
 * too small would drop them without a word.
 */
#define VMSTAT_MAX 512
struct vmstat {
	int n;
	char name[VMSTAT_MAX][64];
	unsigned long long val[VMSTAT_MAX];
};

static inline int vmstat_read(struct vmstat *v)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64];
	unsigned long long val;

	v->n = 0;
	if (!f)
		return -1;
	while (v->n < VMSTAT_MAX && fscanf(f, "%63s %llu", name, &val) == 2) {
		snprintf(v->name[v->n], sizeof(v->name[0]), "%s", name);
		v->val[v->n] = val;
		v->n++;
	}
	fclose(f);
	return 0;
}

static inline int vmstat_has(const struct vmstat *v, const char *name)
{
	int i;

	for (i = 0; i < v->n; i++)
		if (!strcmp(v->name[i], name))
			return 1;
	return 0;
}

static inline unsigned long long vmstat_get(const struct vmstat *v,
					    const char *name)
{
	int i;

	for (i = 0; i < v->n; i++)
		if (!strcmp(v->name[i], name))
			return v->val[i];
	return 0;
}

/*
 * Deltas of the event counters that moved, plus pgfault and every spf_*,
 * speculative_* (6.1 with the SPF series) and vma_lock_* (per-VMA locks
 * with CONFIG_PER_VMA_LOCK_STATS, 6.4 and later) counter even when zero,
 * so that a reader always finds the keys it looks for.  A kernel without
 * one of these families simply has no such line in /proc/vmstat: only
 * the counters it has are reported.
 */
static inline void jb_vmstat_delta(struct jbuf *b, const char *k,
				   const struct vmstat *before,
				   const struct vmstat *after)
{
	int i;

	jb_open(b, k, '{');
	for (i = 0; i < after->n; i++) {
		const char *n = after->name[i];
		unsigned long long d = after->val[i] - vmstat_get(before, n);
		int always = !strncmp(n, "spf_", 4) ||
			     !strncmp(n, "speculative_", 12) ||
			     !strncmp(n, "vma_lock_", 9) ||
			     !strcmp(n, "pgfault");

		/* nr_* and workingset_nodes are gauges, not events. */
		if (!strncmp(n, "nr_", 3) || !strcmp(n, "workingset_nodes"))
			continue;
		if (d || always)
			jb_u64(b, n, d);
	}
	jb_close(b, '}');
}

/* "key=value,key=value" option lists. */
static inline long opt_long(const char *opts, const char *key, long def)
{
	size_t kl = strlen(key);
	const char *p = opts;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=')
			return strtol(p + kl + 1, NULL, 0);
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return def;
}

static inline int read_int_file(const char *path, long *out)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%ld", out) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static inline int write_str_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(s, f) >= 0;
	if (fclose(f))
		ok = 0;
	return ok ? 0 : -1;
}

/* Entry points of the programs linked into the guest binary. */
int torture_run(const char *opts, struct jbuf *out);
int faultbench_run(const char *opts, struct jbuf *out);

#endif /* SPFTEACH_COMMON_H */
