// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * The remap lookup: a sorted array with a bucket index. See rm_lookup.h.
 */
#include "rm_lookup.h"

#ifdef __KERNEL__
#include <linux/sort.h>
#else
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
#endif

/* About two entries per bucket, at least one bucket. */
static u64 buckets_for(u64 nr)
{
	u64 b = 1;

	while (b < nr / 2)
		b <<= 1;
	return b;
}

static unsigned int shift_for(u64 nr_buckets, u64 main_units)
{
	unsigned int shift = 0;

	while (shift < 63 && (main_units >> shift) >= nr_buckets)
		shift++;
	return shift;
}

size_t rm_lookup_bytes(u64 nr, u64 main_units)
{
	u64 nb = buckets_for(nr);
	size_t buckets = (size_t)(nb + 1) * sizeof(u32);

	(void)main_units;
	buckets = (buckets + 7) & ~(size_t)7;
	return buckets + (size_t)nr * sizeof(struct rm_lookup_entry);
}

void rm_lookup_init(struct rm_lookup *lk, void *mem, u64 nr, u64 main_units)
{
	size_t buckets;

	lk->nr = nr;
	lk->nr_buckets = buckets_for(nr);
	lk->shift = shift_for(lk->nr_buckets, main_units);
	lk->bucket = mem;
	buckets = (size_t)(lk->nr_buckets + 1) * sizeof(u32);
	buckets = (buckets + 7) & ~(size_t)7;
	lk->e = (struct rm_lookup_entry *)((char *)mem + buckets);
}

void rm_lookup_index(struct rm_lookup *lk)
{
	u64 b, i = 0;

	for (b = 0; b < lk->nr_buckets; b++) {
		lk->bucket[b] = (u32)i;
		while (i < lk->nr && (lk->e[i].main >> lk->shift) <= b)
			i++;
	}
	lk->bucket[lk->nr_buckets] = (u32)lk->nr;
}

#ifdef __KERNEL__
static int entry_cmp(const void *a, const void *b)
{
	const struct rm_lookup_entry *x = a, *y = b;

	return x->main < y->main ? -1 : x->main > y->main;
}

/* The kernel's sort() (heapsort, in place) for every bucket. */
static void bucket_sort(struct rm_lookup_entry *e, u64 nr)
{
	if (nr > 1)
		sort(e, nr, sizeof(*e), entry_cmp, NULL);
}
#else
/* Entries per bucket below which a bucket is sorted by insertion. */
#define BUILD_INSERTION_MAX 16

static void insertion_sort(struct rm_lookup_entry *e, u64 nr)
{
	u64 i, j;

	for (i = 1; i < nr; i++) {
		const struct rm_lookup_entry x = e[i];

		for (j = i; j > 0 && e[j - 1].main > x.main; j--)
			e[j] = e[j - 1];
		e[j] = x;
	}
}

static void bucket_sort(struct rm_lookup_entry *e, u64 nr)
{
	if (nr <= BUILD_INSERTION_MAX)
		insertion_sort(e, nr);
	else
		rm_lookup_sort(e, nr);
}
#endif

int rm_lookup_build(struct rm_lookup *lk, const struct rm_lookup_entry *in,
		    u64 *bad_unit)
{
	u32 *bucket = lk->bucket;
	u64 b, i;
	u32 start = 0;

	for (b = 0; b <= lk->nr_buckets; b++)
		bucket[b] = 0;
	for (i = 0; i < lk->nr; i++) {
		b = in[i].main >> lk->shift;
		if (b >= lk->nr_buckets) {
			*bad_unit = in[i].main;
			return -2;
		}
		bucket[b]++;
	}
	/* Each bucket's start; the scatter moves it up to the next's start. */
	for (b = 0; b < lk->nr_buckets; b++) {
		const u32 n = bucket[b];

		bucket[b] = start;
		start += n;
	}
	for (i = 0; i < lk->nr; i++)
		lk->e[bucket[in[i].main >> lk->shift]++] = in[i];
	for (b = lk->nr_buckets; b > 0; b--)
		bucket[b] = bucket[b - 1];
	bucket[0] = 0;

	for (b = 0; b < lk->nr_buckets; b++) {
		struct rm_lookup_entry *e = lk->e + bucket[b];
		const u64 n = bucket[b + 1] - bucket[b];

		bucket_sort(e, n);
		for (i = 1; i < n; i++) {
			if (e[i].main == e[i - 1].main) {
				*bad_unit = e[i].main;
				return -1;
			}
		}
	}
	return 0;
}

#ifdef __KERNEL__
void rm_lookup_sort(struct rm_lookup_entry *e, u64 nr)
{
	bucket_sort(e, nr);
}
#else
static void sift_down(struct rm_lookup_entry *e, u64 root, u64 end)
{
	while (2 * root + 1 < end) {
		u64 child = 2 * root + 1;
		struct rm_lookup_entry tmp;

		if (child + 1 < end && e[child].main < e[child + 1].main)
			child++;
		if (e[root].main >= e[child].main)
			return;
		tmp = e[root];
		e[root] = e[child];
		e[child] = tmp;
		root = child;
	}
}

void rm_lookup_sort(struct rm_lookup_entry *e, u64 nr)
{
	u64 i;

	if (nr < 2)
		return;
	for (i = nr / 2; i-- > 0;)
		sift_down(e, i, nr);
	for (i = nr - 1; i > 0; i--) {
		struct rm_lookup_entry tmp = e[0];

		e[0] = e[i];
		e[i] = tmp;
		sift_down(e, 0, i);
	}
}
#endif

/*
 * The merge of `old` and sorted `changes`; with keep_removals, a change
 * whose slot_state is 0 is kept (a delta) rather than dropped (a base).
 * With out NULL, only counts.
 */
static u64 merge(const struct rm_lookup *old,
		 const struct rm_lookup_entry *changes, u64 nr_changes,
		 struct rm_lookup *out, int keep_removals)
{
	u64 i = 0, j = 0, n = 0;
	u64 nr_old = old ? old->nr : 0;

	while (i < nr_old || j < nr_changes) {
		if (j == nr_changes ||
		    (i < nr_old && old->e[i].main < changes[j].main)) {
			if (out)
				out->e[n] = old->e[i];
			n++;
			i++;
			continue;
		}
		if (i < nr_old && old->e[i].main == changes[j].main)
			i++;
		if (changes[j].slot_state != 0 || keep_removals) {
			if (out)
				out->e[n] = changes[j];
			n++;
		}
		j++;
	}
	if (out)
		rm_lookup_index(out);
	return n;
}

u64 rm_lookup_merge_count(const struct rm_lookup *old,
			  const struct rm_lookup_entry *changes, u64 nr_changes)
{
	return merge(old, changes, nr_changes, NULL, 0);
}

void rm_lookup_merge(const struct rm_lookup *old,
		     const struct rm_lookup_entry *changes, u64 nr_changes,
		     struct rm_lookup *out)
{
	merge(old, changes, nr_changes, out, 0);
}

u64 rm_lookup_delta_count(const struct rm_lookup *old,
			  const struct rm_lookup_entry *changes, u64 nr_changes)
{
	return merge(old, changes, nr_changes, NULL, 1);
}

void rm_lookup_delta_merge(const struct rm_lookup *old,
			   const struct rm_lookup_entry *changes,
			   u64 nr_changes, struct rm_lookup *out)
{
	merge(old, changes, nr_changes, out, 1);
}

u64 rm_lookup_delta_limit(u64 base_nr)
{
	u64 limit = 64;

	while (limit < 65536 && limit * limit < 2 * base_nr)
		limit <<= 1;
	return limit;
}

const struct rm_lookup_entry *rm_view_find(const struct rm_lookup_view *v,
					   u64 unit)
{
	const struct rm_lookup_entry *hit;

	if (v->delta) {
		hit = rm_lookup_find(v->delta, unit);
		if (hit)
			return hit->slot_state ? hit : NULL;
	}
	return v->base ? rm_lookup_find(v->base, unit) : NULL;
}

void rm_view_walk_start(struct rm_view_walk *w, const struct rm_lookup_view *v,
			u64 unit)
{
	w->base = v->base;
	w->delta = v->delta;
	w->i = w->base ? rm_lookup_lower_bound(w->base, unit) : 0;
	w->j = w->delta ? rm_lookup_lower_bound(w->delta, unit) : 0;
}

const struct rm_lookup_entry *rm_view_walk_next(struct rm_view_walk *w)
{
	for (;;) {
		const struct rm_lookup_entry *b = w->base && w->i < w->base->nr
							  ? &w->base->e[w->i]
							  : NULL;
		const struct rm_lookup_entry *d =
			w->delta && w->j < w->delta->nr ? &w->delta->e[w->j]
							: NULL;

		if (!d || (b && b->main < d->main)) {
			if (b)
				w->i++;
			return b;
		}
		if (b && b->main == d->main)
			w->i++; /* the delta's entry replaces or removes it */
		w->j++;
		if (d->slot_state)
			return d;
	}
}

/*
 * Positions: below a delta entry's unit lie the base's entries below it,
 * less those the earlier delta entries hide (replace or remove), plus the
 * earlier delta entries that are live. Between two delta entries, only base
 * entries; so one pass over the delta finds any position.
 */
static int view_locate(const struct rm_lookup_view *v, u64 pos, u64 *unit,
		       u64 *count)
{
	const u64 nr_base = v->base ? v->base->nr : 0;
	const u64 nr_delta = v->delta ? v->delta->nr : 0;
	s64 adj = 0; /* what delta entries before j add to positions */
	u64 j;

	for (j = 0; j < nr_delta; j++) {
		const struct rm_lookup_entry *d = &v->delta->e[j];
		const u64 k =
			v->base ? rm_lookup_lower_bound(v->base, d->main) : 0;
		const int in_base =
			k < nr_base && v->base->e[k].main == d->main;
		const u64 below = k + adj; /* view entries below d->main */

		if (unit && pos < below) {
			*unit = v->base->e[pos - adj].main;
			return 1;
		}
		if (unit && pos == below && d->slot_state) {
			*unit = d->main;
			return 1;
		}
		adj += (d->slot_state != 0) - in_base;
	}
	if (count)
		*count = nr_base + adj;
	/* After the last delta entry: a base entry, or past the end. */
	if (unit && pos < nr_base + adj) {
		*unit = v->base->e[pos - adj].main;
		return 1;
	}
	return 0;
}

u64 rm_view_count(const struct rm_lookup_view *v)
{
	u64 count = 0;

	view_locate(v, 0, NULL, &count);
	return count;
}

int rm_view_unit_at(const struct rm_lookup_view *v, u64 pos, u64 *unit)
{
	return view_locate(v, pos, unit, NULL);
}

int rm_view_first_in_walk(const struct rm_lookup_view *v, u64 first, u64 last,
			  unsigned int run_state, struct rm_lookup_entry *e,
			  u64 *run)
{
	const struct rm_lookup_entry *x, *y;
	struct rm_view_walk w;
	u64 n = 1;

	rm_view_walk_start(&w, v, first);
	x = rm_view_walk_next(&w);
	if (!x || x->main > last)
		return 0;
	*e = *x;
	if (!run)
		return 1;
	if (rm_lookup_state(x) == run_state && x->spare != RM_LOOKUP_NO_SPARE)
		while ((y = rm_view_walk_next(&w)) &&
		       rm_lookup_continues_run(x, y, n, last, run_state))
			n++;
	*run = n;
	return 1;
}
