/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The remap lookup: which main units are remapped or pending.
 *
 * An immutable sorted array of entries plus a bucket index over the main
 * unit space, built once and published with RCU by the kernel target. A
 * lookup reads one bucket pair and scans the handful of entries in it, so
 * the cost does not grow with the table. Memory: 16 bytes per entry plus
 * 4 bytes per bucket, with about one bucket per two entries.
 *
 * Plain C with no kernel calls: the module and the userspace tests and
 * benchmarks compile this same file. The caller allocates the memory.
 */
#ifndef DM_REMAP_RM_LOOKUP_H
#define DM_REMAP_RM_LOOKUP_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stddef.h>
#include <linux/types.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RM_LOOKUP_NO_SPARE 0xffffffffu
#define RM_LOOKUP_SLOT_MASK 0x3fffffffu /* slot: low 30 bits */
#define RM_LOOKUP_STATE_SHIFT 30	/* rm4 state: top 2 bits */

struct rm_lookup_entry {
	__u64 main;	  /* main unit */
	__u32 spare;	  /* pool unit, or RM_LOOKUP_NO_SPARE */
	__u32 slot_state; /* table slot | rm4 state << 30 */
};

static inline __u32 rm_lookup_slot(const struct rm_lookup_entry *e)
{
	return e->slot_state & RM_LOOKUP_SLOT_MASK;
}

static inline unsigned int rm_lookup_state(const struct rm_lookup_entry *e)
{
	return e->slot_state >> RM_LOOKUP_STATE_SHIFT;
}

static inline __u32 rm_lookup_pack(__u64 slot, unsigned int state)
{
	return (__u32)(slot & RM_LOOKUP_SLOT_MASK) |
	       (__u32)state << RM_LOOKUP_STATE_SHIFT;
}

struct rm_lookup {
	__u64 nr;		   /* entries */
	__u64 nr_buckets;	   /* a power of two */
	unsigned int shift;	   /* bucket of a unit: unit >> shift */
	__u32 *bucket;		   /* nr_buckets + 1 start offsets into e[] */
	struct rm_lookup_entry *e; /* sorted by main, no duplicates */
};

/* Bytes of memory rm_lookup_init() needs for `nr` entries. */
size_t rm_lookup_bytes(__u64 nr, __u64 main_units);
/*
 * Lays out a lookup for `nr` entries over `main_units` in `mem`
 * (rm_lookup_bytes() long, 8-byte aligned). Fill lk->e[0..nr) sorted, then
 * call rm_lookup_index().
 */
void rm_lookup_init(struct rm_lookup *lk, void *mem, __u64 nr,
		    __u64 main_units);
/* Builds the bucket index over the sorted entries. */
void rm_lookup_index(struct rm_lookup *lk);
/*
 * Fills lk (rm_lookup_init() for nr entries) from the nr entries of `in`,
 * in any order, all below the lookup's `main_units`: a counting sort by
 * bucket, which builds the index as it goes, then a sort of each bucket's
 * few entries. One pass of scattered writes, where a radix sort makes two
 * or three and the index a third, and no scratch memory (docs/benchmarks.md).
 * Returns 0; -1 when two entries have the same main unit; -2 when one lies
 * beyond the index, far past main_units (the caller checks the range; this
 * only keeps a bad entry from being written out of bounds). *bad_unit: that
 * unit.
 */
int rm_lookup_build(struct rm_lookup *lk, const struct rm_lookup_entry *in,
		    __u64 *bad_unit);
/* Sorts entries by main unit (heapsort: in place, no recursion). */
void rm_lookup_sort(struct rm_lookup_entry *e, __u64 nr);
/*
 * Index of the first entry with main >= unit (lk->nr when none). Inline,
 * like the other functions map() calls for every bio.
 */
static inline __u64 rm_lookup_lower_bound(const struct rm_lookup *lk,
					  __u64 unit)
{
	const __u64 b = unit >> lk->shift;
	__u64 lo, hi;

	if (b >= lk->nr_buckets)
		return lk->nr;
	lo = lk->bucket[b];
	hi = lk->bucket[b + 1];
	/* Binary search within the bucket: usually zero to two entries. */
	while (lo < hi) {
		const __u64 mid = lo + (hi - lo) / 2;

		if (lk->e[mid].main < unit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entry for `unit`, or NULL. */
static inline const struct rm_lookup_entry *
rm_lookup_find(const struct rm_lookup *lk, __u64 unit)
{
	const __u64 i = rm_lookup_lower_bound(lk, unit);

	if (i < lk->nr && lk->e[i].main == unit)
		return &lk->e[i];
	return NULL;
}
/*
 * Merges `old` with `nr_changes` changes sorted by main unit into `out`
 * (initialised for the resulting count, see rm_lookup_merge_count()). A
 * change whose slot_state is 0 removes the entry for its main unit; any
 * other change inserts or replaces it.
 */
void rm_lookup_merge(const struct rm_lookup *old,
		     const struct rm_lookup_entry *changes, __u64 nr_changes,
		     struct rm_lookup *out);
/* Number of entries rm_lookup_merge() produces. */
__u64 rm_lookup_merge_count(const struct rm_lookup *old,
			    const struct rm_lookup_entry *changes,
			    __u64 nr_changes);

/*
 * Merges changes into a delta: as rm_lookup_merge(), but a removal stays in
 * `out` as an entry whose slot_state is 0, to hide the base's entry for its
 * unit (see struct rm_lookup_view).
 */
void rm_lookup_delta_merge(const struct rm_lookup *old,
			   const struct rm_lookup_entry *changes,
			   __u64 nr_changes, struct rm_lookup *out);
/* Number of entries rm_lookup_delta_merge() produces. */
__u64 rm_lookup_delta_count(const struct rm_lookup *old,
			    const struct rm_lookup_entry *changes,
			    __u64 nr_changes);

/*
 * A view of the table: a base lookup and, in front of it, a small delta of
 * the changes since the base was built. Recording a remap then copies only
 * the delta; the base is rebuilt (rm_lookup_merge() of the delta into it)
 * once the delta reaches rm_lookup_delta_limit() entries, which balances
 * the two copies' costs at about sqrt(2 * base) entries per change.
 * A delta entry replaces the base's entry for its unit; one whose
 * slot_state is 0 removes it. Either pointer may be NULL (empty).
 */
struct rm_lookup_view {
	const struct rm_lookup *base;
	const struct rm_lookup *delta;
};

/* The delta size at which to fold it into a new base. */
__u64 rm_lookup_delta_limit(__u64 base_nr);
/* The entry for `unit` in the view, or NULL. */
const struct rm_lookup_entry *rm_view_find(const struct rm_lookup_view *v,
					   __u64 unit);
/* Whether y is the n-th unit after x in x's run (see rm_view_first_in). */
static inline int rm_lookup_continues_run(const struct rm_lookup_entry *x,
					  const struct rm_lookup_entry *y,
					  __u64 n, __u64 last,
					  unsigned int run_state)
{
	return y->main == x->main + n && y->main <= last &&
	       y->spare == (__u64)x->spare + n &&
	       rm_lookup_state(y) == run_state;
}

/* rm_view_first_in() of a view with a delta: a walk over both. */
int rm_view_first_in_walk(const struct rm_lookup_view *v, __u64 first,
			  __u64 last, unsigned int run_state,
			  struct rm_lookup_entry *e, __u64 *run);

/*
 * The first entry of the view with main in [first, last], copied to *e.
 * *run: the number of units from it, up to `last`, that have entries in
 * state `run_state` with consecutive spare blocks (1 when e is in another
 * state); run may be NULL when only e matters. Returns 0 when there is no
 * entry in the range. Without a delta (the usual case), inline over the
 * base's array alone.
 */
static inline int rm_view_first_in(const struct rm_lookup_view *v, __u64 first,
				   __u64 last, unsigned int run_state,
				   struct rm_lookup_entry *e, __u64 *run)
{
	const struct rm_lookup *lk = v->base;
	const struct rm_lookup_entry *x;
	__u64 i, n = 1;

	if (v->delta)
		return rm_view_first_in_walk(v, first, last, run_state, e, run);
	if (!lk)
		return 0;
	i = rm_lookup_lower_bound(lk, first);
	if (i >= lk->nr || lk->e[i].main > last)
		return 0;
	x = &lk->e[i];
	*e = *x;
	if (!run)
		return 1;
	if (rm_lookup_state(x) == run_state && x->spare != RM_LOOKUP_NO_SPARE)
		while (i + n < lk->nr &&
		       rm_lookup_continues_run(x, &x[n], n, last, run_state))
			n++;
	*run = n;
	return 1;
}

/* A walk over the view's entries in order of main unit. */
struct rm_view_walk {
	const struct rm_lookup *base, *delta;
	__u64 i, j;
};

/* Starts a walk at the first entry with main >= unit. */
void rm_view_walk_start(struct rm_view_walk *w, const struct rm_lookup_view *v,
			__u64 unit);
/* The walk's next entry, or NULL at the end. */
const struct rm_lookup_entry *rm_view_walk_next(struct rm_view_walk *w);
/* Number of entries in the view (a base lookup per delta entry). */
__u64 rm_view_count(const struct rm_lookup_view *v);
/*
 * The unit of the view's entry at position `pos` (0: the lowest unit) into
 * *unit, or 0 when pos is past the end. Costs a base lower bound per delta
 * entry, whatever the table's size.
 */
int rm_view_unit_at(const struct rm_lookup_view *v, __u64 pos, __u64 *unit);

#ifdef __cplusplus
}
#endif

#endif /* DM_REMAP_RM_LOOKUP_H */
