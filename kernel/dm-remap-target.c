// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-remap: a device-mapper target that serves failing blocks of a main
 * device from blocks of a spare device, recording each mapping crash-safely
 * on the spare (docs/format-v4.md, Documentation in docs/dm-remap.rst).
 *
 * Table line:
 *   <start> <len> remap <main_dev> <spare_dev> [<#features> <feature>...]
 *
 * I/O to units that are not remapped goes straight to the main device: no
 * lock, no allocation, no deferral. A failed read or write on the main
 * device is handed to an ordered worker, which retries it unit by unit,
 * moves units that keep failing to spare blocks (or records them as pending
 * when their contents are lost) and commits the change before the I/O
 * completes.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rculist.h>
#include <linux/refcount.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "dm-remap-metadata.h"
#include "dm-remap-scan.h"
#include "dm-remap-testpoint.h"

#define DM_MSG_PREFIX "remap"

#define RM_DEFAULT_RETRIES 3
#define RM_MAX_RETRIES 100
#define RM_LIST_MAX 4096
/* Spare blocks in a row that may fail a write before a remap gives up. */
#define RM_SPARE_TRIES 4
/* How long a remap message waits before it answers "queued". */
#define RM_MESSAGE_WAIT (5 * HZ)
/* Remap messages queued at most (the rest are refused with EBUSY). */
#define RM_MAX_QUEUED 64

/* Logs of the I/O paths name the device and are rate-limited. */
#define RMERR_LIMIT(rc, fmt, ...)                                              \
	DMERR_LIMIT("%s: " fmt, dm_table_device_name((rc)->ti->table),         \
		    ##__VA_ARGS__)
#define RMWARN_LIMIT(rc, fmt, ...)                                             \
	DMWARN_LIMIT("%s: " fmt, dm_table_device_name((rc)->ti->table),        \
		     ##__VA_ARGS__)

enum remap_mode {
	RM_MODE_OK,
	RM_MODE_DEGRADED,	 /* a commit lost its second copy */
	RM_MODE_SPARE_EXHAUSTED, /* no free spare block or slot */
	RM_MODE_METADATA_FAILED, /* a commit failed: no new remaps */
};

static const char *const remap_mode_names[] = {
	[RM_MODE_OK] = "ok",
	[RM_MODE_DEGRADED] = "degraded",
	[RM_MODE_SPARE_EXHAUSTED] = "spare-exhausted",
	[RM_MODE_METADATA_FAILED] = "metadata-failed",
};

struct remap_stats {
	u64 reads;
	u64 writes;
	u64 remapped_ios;
	u64 main_errors;
	u64 spare_errors;
	u64 retries;
};

/* The sorted table as of the last fold; its memory follows the struct. */
struct remap_base {
	struct rm_lookup lk;
};

/*
 * The lookup published with RCU: a base, shared by successive lookups, and
 * the changes since it was built in a small delta in front of it (see
 * struct rm_lookup_view). Recording a remap copies the delta only; the
 * worker folds the delta into a new base when it grows. The delta's memory
 * follows the struct.
 */
struct remap_lookup {
	struct remap_base *base; /* NULL: empty */
	bool free_base;		 /* the last lookup on its base: free it too */
	struct rcu_head rcu;
	struct rm_lookup delta;
};

enum remap_request_kind {
	RQ_REMAP,	/* the remap message: a proactive remap */
	RQ_SCAN_UNIT,	/* the scan checks one unit */
	RQ_SCAN_SAVE,	/* the scan persists its cursor */
	RQ_SCAN_RECORD, /* the scan records an unreadable unit */
	RQ_RESUME,	/* preresume: re-read stale metadata, then write */
	RQ_SUSPEND,	/* postsuspend: no metadata write from now on */
};

/*
 * Work for the worker from a message, the scan, or suspend and resume; the
 * caller waits. A remap message's request is allocated (`heap`): when the
 * message stops waiting, the worker still finishes it and the last of the
 * two to let go frees it.
 */
struct remap_request {
	struct list_head list;
	enum remap_request_kind kind;
	u64 unit; /* RQ_SCAN_SAVE: the cursor */
	u64 pass; /* RQ_SCAN_RECORD: the probe unit; RQ_SCAN_SAVE: the pass */
	unsigned int slow_ms;
	int result;
	char *error; /* RQ_RESUME: why it failed */
	struct completion done;
	bool heap;
	refcount_t ref;
};

/*
 * The spares in use by remap targets, with the newest commit sequence any
 * instance reached and the number of metadata writes they made. A table
 * reload constructs a new instance while the old one is live and may still
 * commit; the new one's preresume re-reads the metadata when the old one
 * wrote anything after the new one began to read.
 */
struct remap_spare {
	struct list_head list;
	dev_t dev;
	atomic64_t seq;
	atomic64_t writes; /* metadata writes by any instance (rm_md_stale()) */
	unsigned int users;
	unsigned int live; /* resumed instances: at most one writes */
};

static LIST_HEAD(remap_spares);
static DEFINE_MUTEX(remap_spares_lock);

static struct remap_spare *spare_get(dev_t dev)
{
	struct remap_spare *sp;

	mutex_lock(&remap_spares_lock);
	list_for_each_entry(sp, &remap_spares, list) {
		if (sp->dev == dev)
			goto found;
	}
	sp = kzalloc(sizeof(*sp), GFP_KERNEL);
	if (!sp)
		goto out;
	sp->dev = dev;
	list_add(&sp->list, &remap_spares);
found:
	sp->users++;
out:
	mutex_unlock(&remap_spares_lock);
	return sp;
}

static void spare_put(struct remap_spare *sp)
{
	mutex_lock(&remap_spares_lock);
	if (!--sp->users) {
		list_del(&sp->list);
		kfree(sp);
	}
	mutex_unlock(&remap_spares_lock);
}

enum remap_bio_kind { RB_MAIN, RB_SPARE, RB_DONE };

/* Per-bio data: where it went and its range, for retries. */
struct remap_bio {
	struct bvec_iter iter;
	u8 kind;
	unsigned int busy_seq; /* rc->busy_seq when mapped */
};

struct remap_c {
	struct dm_target *ti;
	struct dm_dev *main_dev;
	struct dm_dev *spare_dev;
	struct rm_md md;
	struct remap_spare *spare; /* shared with other instances on it */
	unsigned int unit_shift;   /* log2 of the unit in sectors */
	sector_t pool_start;
	u64 main_units;

	/*
	 * Nonzero when the fast path cannot be taken: bit 0, the lookup is
	 * not empty; bit 1, a unit is being remapped (busy_first..busy_last).
	 */
	unsigned long active;
	struct remap_lookup __rcu *lookup;

	spinlock_t lock; /* protects the busy range and the bio lists */
	u64 busy_first;
	u64 busy_last;
	/*
	 * Bumped by each set_busy(). Every change that adds an entry happens
	 * while its units are busy, so a main write mapped at the same count
	 * as it completes met no remap: end_io skips the lookup.
	 */
	unsigned int busy_seq;
	struct bio_list failed;	  /* main I/O that failed */
	struct bio_list late;	  /* main writes that finished under a remap */
	struct bio_list deferred; /* bios held for a busy or pending unit */
	struct list_head requests;

	struct workqueue_struct *wq;
	struct work_struct worker;

	enum remap_mode mode;
	struct remap_stats __percpu *stats;
	struct remap_txn *txn; /* the worker's changes of one table block */
	unsigned int retries;
	bool retries_set;
	unsigned int scan_rate; /* feature: scan at resume at this rate */
	bool scan_rate_set;
	bool slow_ms_set;
	struct rm_scan scan;
	void *unit_buf;	 /* one unit, used by the worker */
	void *probe_buf; /* one logical block of main, used by the worker */
	u64 good_unit; /* a main unit that read on the worker (U64_MAX: none) */
	atomic_t queued;   /* remap messages not finished by the worker */
	bool loaded;	   /* md and the lookup hold a complete load */
	bool writable;	   /* worker: md is current and the device resumed */
	bool suspending;   /* presuspend to resume: queued remaps are refused */
	u64 resume_cursor; /* the scan position the metadata holds at resume */
	u64 resume_pass;
	bool live; /* counted in spare->live */

	/*
	 * The layout the constructor read. A re-read at resume must find the
	 * same (the buffers and the lookup's geometry are sized by it).
	 */
	struct rm4_superblock layout;
	sector_t main_sectors;
	u64 pool_blocks;
	u64 capacity;
	unsigned int unit_bytes;

	/* What status reports: written by the worker, read without a lock. */
	struct {
		u64 seq;
		u64 remapped;
		u64 pending;
		u64 bad;
		u64 pool_used;
	} counts;
};

/* What one change does to the slot and pool bitmaps (see txn_commit()). */
enum txn_kind {
	TXN_ADD,    /* a remapped or pending entry */
	TXN_BAD,    /* a bad spare block's entry */
	TXN_REMOVE, /* a pending entry cleared */
};

struct txn_record {
	u64 slot;
	u64 new_block; /* taken for an added entry (RM4_NONE: none) */
	u64 old_block; /* freed once the change is durable (RM4_NONE: none) */
	u8 kind;
	bool new_slot; /* the slot was taken for it */
};

/*
 * The changes staged in the table block the next commit writes. One block
 * holds RM4_ENTRIES_PER_BLOCK slots, and each change is one of them, so the
 * buffers are allocated once and a failed I/O needs no allocation.
 */
struct remap_txn {
	u64 nr_changes; /* lookup changes, sorted by unit */
	struct rm_lookup_entry changes[RM4_ENTRIES_PER_BLOCK];
	unsigned int nr_records;
	struct txn_record records[RM4_ENTRIES_PER_BLOCK];
	s64 remapped, pending, bad; /* counter changes */
};

#define RM_ACTIVE_LOOKUP 1ul
#define RM_ACTIVE_BUSY 2ul

static void remap_worker(struct work_struct *ws);
static void sum_stats(struct remap_c *rc, struct remap_stats *sum);

static inline u64 sector_to_unit(struct remap_c *rc, sector_t s)
{
	return s >> rc->unit_shift;
}

static inline sector_t unit_to_sector(struct remap_c *rc, u64 u)
{
	return (sector_t)u << rc->unit_shift;
}

static inline sector_t spare_sector(struct remap_c *rc, u32 blk)
{
	return rc->pool_start + ((sector_t)blk << rc->unit_shift);
}

/* Sectors of unit u that exist on the main device (the last may be short). */
static inline sector_t unit_len(struct remap_c *rc, u64 u)
{
	return min_t(sector_t, 1 << rc->unit_shift,
		     rc->main_sectors - unit_to_sector(rc, u));
}

#define stat_inc(rc, field) this_cpu_inc((rc)->stats->field)

/* ---- The lookup ---------------------------------------------------------- */

/*
 * The worker allocates on the I/O path: the scoped NOIO API keeps
 * kvmalloc()'s vmalloc fallback, which GFP_NOIO would disable.
 */
static void *lookup_kvmalloc(size_t bytes)
{
	unsigned int noio;
	void *p;

	if (rm_tp(RM_TP_LOOKUP_ALLOC, 0, false))
		return NULL;
	noio = memalloc_noio_save();
	p = kvmalloc(bytes, GFP_KERNEL);

	memalloc_noio_restore(noio);
	return p;
}

/* A base for nr entries (fill it sorted, then rm_lookup_index()). */
static struct remap_base *base_alloc(struct remap_c *rc, u64 nr)
{
	struct remap_base *b;

	b = lookup_kvmalloc(sizeof(*b) + rm_lookup_bytes(nr, rc->main_units));
	if (b)
		rm_lookup_init(&b->lk, b + 1, nr, rc->main_units);
	return b;
}

/* A lookup on `base` with room for a delta of nr entries. */
static struct remap_lookup *lookup_alloc(struct remap_c *rc,
					 struct remap_base *base, u64 nr)
{
	struct remap_lookup *rl;

	rl = lookup_kvmalloc(sizeof(*rl) + rm_lookup_bytes(nr, rc->main_units));
	if (!rl)
		return NULL;
	rl->base = base;
	rl->free_base = false;
	rm_lookup_init(&rl->delta, rl + 1, nr, rc->main_units);
	return rl;
}

static void lookup_free(struct remap_lookup *rl)
{
	if (rl->free_base)
		kvfree(rl->base);
	kvfree(rl);
}

static void lookup_free_rcu(struct rcu_head *head)
{
	lookup_free(container_of(head, struct remap_lookup, rcu));
}

static void lookup_view(const struct remap_lookup *rl, struct rm_lookup_view *v)
{
	v->base = rl->base ? &rl->base->lk : NULL;
	v->delta = rl->delta.nr ? &rl->delta : NULL;
}

/*
 * No entry at all: no base and a delta of removals only (checked without a
 * count over the delta when it holds an entry), or removals of every base
 * entry. Then map() can take its fast path again.
 */
static bool lookup_empty(const struct remap_lookup *rl)
{
	struct rm_lookup_view v;
	u64 i;

	for (i = 0; i < rl->delta.nr; i++)
		if (rl->delta.e[i].slot_state)
			return false;
	if (rl->base && rl->base->lk.nr > rl->delta.nr)
		return false;
	lookup_view(rl, &v);
	return !rm_view_count(&v);
}

/*
 * Only the worker changes the lookup, and the constructor before the target
 * is set up (ti->private still NULL).
 */
static struct remap_lookup *lookup_owned(struct remap_c *rc)
{
	return rcu_dereference_protected(
		rc->lookup, current_work() == &rc->worker || !rc->ti->private);
}

/*
 * Publishes `rl` (NULL when empty) and frees the old lookup after RCU, with
 * its base when `rl` no longer uses it.
 */
static void lookup_publish(struct remap_c *rc, struct remap_lookup *rl)
{
	struct remap_lookup *old;

	if (rl && lookup_empty(rl)) {
		/* Its base, if any, is the old lookup's: freed with it. */
		kvfree(rl);
		rl = NULL;
	}
	old = lookup_owned(rc);
	rcu_assign_pointer(rc->lookup, rl);
	if (rl)
		set_bit(0, &rc->active);
	else
		clear_bit(0, &rc->active);
	if (old) {
		old->free_base = !rl || rl->base != old->base;
		call_rcu(&old->rcu, lookup_free_rcu);
	}
}

/*
 * Publishes a lookup on `base` with an empty delta; frees `base` when that
 * fails.
 */
static int lookup_publish_base(struct remap_c *rc, struct remap_base *base)
{
	struct remap_lookup *rl;

	if (base && !base->lk.nr) {
		kvfree(base);
		base = NULL;
	}
	rl = lookup_alloc(rc, base, 0);
	if (!rl) {
		kvfree(base);
		return -ENOMEM;
	}
	rm_lookup_index(&rl->delta);
	lookup_publish(rc, rl);
	return 0;
}

/*
 * Allocates the lookup that sorted changes (see rm_lookup_merge) will make,
 * before they are committed, so that publishing them cannot fail once they
 * are durable. The cost grows with the delta, not with the table.
 */
static struct remap_lookup *
lookup_prepare(struct remap_c *rc, const struct rm_lookup_entry *changes,
	       u64 nr)
{
	struct remap_lookup *old = lookup_owned(rc);

	return lookup_alloc(
		rc, old ? old->base : NULL,
		rm_lookup_delta_count(old ? &old->delta : NULL, changes, nr));
}

/*
 * Merges the changes into `rl` (from lookup_prepare() for these changes or
 * for more: the memory only grows with the count) and publishes it.
 */
static void lookup_install(struct remap_c *rc, struct remap_lookup *rl,
			   const struct rm_lookup_entry *changes, u64 nr)
{
	struct remap_lookup *old = lookup_owned(rc);
	const struct rm_lookup *delta = old ? &old->delta : NULL;

	rm_lookup_init(&rl->delta, rl + 1,
		       rm_lookup_delta_count(delta, changes, nr),
		       rc->main_units);
	rm_lookup_delta_merge(delta, changes, nr, &rl->delta);
	lookup_publish(rc, rl);
}

/*
 * Folds the delta into a new base once it reaches rm_lookup_delta_limit()
 * entries, or four times that when the worker is busy (it folds when idle,
 * after the bios it finished were ended). Worker only.
 */
static int lookup_fold(struct remap_c *rc, bool idle)
{
	struct remap_lookup *old = lookup_owned(rc);
	const struct rm_lookup *base;
	struct remap_base *nb;
	u64 limit;

	if (!old || !old->delta.nr)
		return 0;
	base = old->base ? &old->base->lk : NULL;
	limit = rm_lookup_delta_limit(base ? base->nr : 0);
	if (old->delta.nr < (idle ? limit : 4 * limit))
		return 0;
	nb = base_alloc(
		rc, rm_lookup_merge_count(base, old->delta.e, old->delta.nr));
	if (!nb)
		return -ENOMEM;
	rm_lookup_merge(base, old->delta.e, old->delta.nr, &nb->lk);
	return lookup_publish_base(rc, nb);
}

/*
 * The lookups below, which map() and end_io() make for every bio while the
 * table is not empty, read with preemption disabled (the sched flavour of
 * RCU): call_rcu() waits for such readers too, and where rcu_read_lock()
 * and rcu_read_unlock() are two calls (PREEMPT_RCU, as in Debian's
 * kernels), this is a per-CPU counter.
 */

/* Copies the entry for unit u into *e; false when u is not in the table. */
static bool lookup_unit(struct remap_c *rc, u64 u, struct rm_lookup_entry *e)
{
	const struct rm_lookup_entry *hit = NULL;
	struct remap_lookup *rl;
	struct rm_lookup_view v;

	rcu_read_lock_sched();
	rl = rcu_dereference_sched(rc->lookup);
	if (rl) {
		lookup_view(rl, &v);
		hit = rm_view_find(&v, u);
	}
	if (hit)
		*e = *hit;
	rcu_read_unlock_sched();
	return hit;
}

/*
 * The first entry with a unit in first..last into *e, and (run not NULL)
 * the number of units from it remapped to consecutive spare blocks (1 when
 * it is not remapped): one bio to the spare serves them all, as one bio to
 * main would (a failed multi-unit write remaps its units in order).
 */
static bool lookup_range(struct remap_c *rc, u64 first, u64 last,
			 struct rm_lookup_entry *e, u64 *run)
{
	struct remap_lookup *rl;
	struct rm_lookup_view v;
	bool hit = false;

	rcu_read_lock_sched();
	rl = rcu_dereference_sched(rc->lookup);
	if (rl) {
		lookup_view(rl, &v);
		hit = rm_view_first_in(&v, first, last, RM4_STATE_REMAPPED, e,
				       run);
	}
	rcu_read_unlock_sched();
	return hit;
}

/* ---- Mapping ------------------------------------------------------------- */

static int map_to_main(struct remap_c *rc, struct bio *bio,
		       struct remap_bio *pb)
{
	bio_set_dev(bio, rc->main_dev->bdev);
	pb->kind = RB_MAIN;
	pb->iter = bio->bi_iter;
	return DM_MAPIO_REMAPPED;
}

static int map_to_spare(struct remap_c *rc, struct bio *bio,
			struct remap_bio *pb, const struct rm_lookup_entry *e)
{
	sector_t off = bio->bi_iter.bi_sector & ((1 << rc->unit_shift) - 1);

	bio_set_dev(bio, rc->spare_dev->bdev);
	bio->bi_iter.bi_sector = spare_sector(rc, e->spare) + off;
	pb->kind = RB_SPARE;
	stat_inc(rc, remapped_ios);
	return DM_MAPIO_REMAPPED;
}

/* Writes of data or of zeroes: both can move a unit to the spare. */
static bool is_write(struct bio *bio)
{
	return bio_op(bio) == REQ_OP_WRITE ||
	       bio_op(bio) == REQ_OP_WRITE_ZEROES;
}

static bool is_full_unit(struct remap_c *rc, struct bio *bio, u64 u)
{
	return bio->bi_iter.bi_sector == unit_to_sector(rc, u) &&
	       bio_sectors(bio) == unit_len(rc, u);
}

/*
 * Maps a bio that lies within unit u and has entry `e` (or none): used by
 * map() after splitting and by the worker for deferred bios. Returns a
 * DM_MAPIO_* value; DM_MAPIO_SUBMITTED means the bio was queued or ended.
 */
static int map_unit(struct remap_c *rc, struct bio *bio, struct remap_bio *pb,
		    u64 u, const struct rm_lookup_entry *e)
{
	unsigned long flags;

	if (rm_lookup_state(e) == RM4_STATE_REMAPPED)
		return map_to_spare(rc, bio, pb, e);

	/* Pending: the unit's contents are lost until it is rewritten. */
	if (bio_op(bio) == REQ_OP_READ) {
		DMERR_LIMIT(
			"read of pending unit %llu (sector %llu): contents lost until rewritten",
			u, (unsigned long long)bio->bi_iter.bi_sector);
		return DM_MAPIO_KILL;
	}
	if (!is_write(bio))
		return map_to_main(rc, bio, pb);
	if (!is_full_unit(rc, bio, u)) {
		DMERR_LIMIT(
			"partial write to pending unit %llu: rewrite the whole unit (%u bytes) to recover it",
			u, rc->unit_bytes);
		return DM_MAPIO_KILL;
	}
	/* A full rewrite: the worker tries main first, then remaps. */
	spin_lock_irqsave(&rc->lock, flags);
	bio_list_add(&rc->deferred, bio);
	spin_unlock_irqrestore(&rc->lock, flags);
	queue_work(rc->wq, &rc->worker);
	return DM_MAPIO_SUBMITTED;
}

/*
 * The slow path: the table is not empty or a remap is in progress. Out of
 * line, so that its locals (whose addresses the lookup takes) do not cost
 * the fast path a stack protector and saved registers.
 */
static noinline int remap_map_slow(struct remap_c *rc, struct bio *bio,
				   struct remap_bio *pb)
{
	const sector_t sector = bio->bi_iter.bi_sector;
	const u64 first = sector_to_unit(rc, sector);
	const u64 last = sector_to_unit(rc, bio_end_sector(bio) - 1);
	struct rm_lookup_entry e = { 0 };
	u64 next = U64_MAX, run = 1;
	unsigned long active, flags;

	/*
	 * The busy state before the lookup (docs/dm-remap.rst, "Concurrency").
	 * No unit busy: clear_busy() released after its remap was published,
	 * so the lookup sees it; a remap that begins later bumped busy_seq,
	 * which remap_map() read before this, and end_io() then replays a
	 * write that met it.
	 */
	active = smp_load_acquire(&rc->active);
	if (!(active & RM_ACTIVE_BUSY)) {
		if (lookup_range(rc, first, last, &e, &run))
			next = e.main;
	} else {
		rm_tp(RM_TP_MAP_BUSY, first, true);
		spin_lock_irqsave(&rc->lock, flags);
		/*
		 * A unit is (or was) busy. Under the lock the busy state holds
		 * still: a lookup made now sees every remap of a busy window
		 * that has ended, and the current window's range covers the
		 * units it may still publish. A lookup made before the lock
		 * could predate a window that ended since (the unit no longer
		 * busy, its remap missed): the write would reach main only.
		 * The window this bio is mapped in is the one end_io compares
		 * with.
		 */
		pb->busy_seq = rc->busy_seq;
		if (lookup_range(rc, first, last, &e, &run))
			next = e.main;
		if ((rc->active & RM_ACTIVE_BUSY) && rc->busy_first <= last &&
		    rc->busy_last >= first) {
			u64 b = max(first, rc->busy_first);

			if (b == first) {
				if (last > first)
					dm_accept_partial_bio(
						bio,
						unit_to_sector(rc, first + 1) -
							sector);
				bio_list_add(&rc->deferred, bio);
				spin_unlock_irqrestore(&rc->lock, flags);
				return DM_MAPIO_SUBMITTED;
			}
			if (b < next) {
				next = b;
				e.slot_state = 0;
			} else if (b < next + run) {
				run = b - next;
			}
		}
		spin_unlock_irqrestore(&rc->lock, flags);
	}

	if (next == U64_MAX)
		return map_to_main(rc, bio, pb);
	if (next > first) {
		/* Serve the part before the first special unit from main. */
		dm_accept_partial_bio(bio, unit_to_sector(rc, next) - sector);
		return map_to_main(rc, bio, pb);
	}
	if (last >= first + run)
		dm_accept_partial_bio(bio,
				      unit_to_sector(rc, first + run) - sector);
	return map_unit(rc, bio, pb, first, &e);
}

static int remap_map(struct dm_target *ti, struct bio *bio)
{
	struct remap_c *rc = ti->private;
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));

	/*
	 * dm does not clear per-bio data. A bio held back and then ended
	 * without being sent anywhere (a read of a unit that became pending
	 * while it waited) must not look like a failed main bio to end_io.
	 */
	pb->kind = RB_DONE;
	if (unlikely(!bio_sectors(bio))) {
		/* An empty flush: one goes to each device. */
		bio_set_dev(bio, dm_bio_get_target_bio_nr(bio)
					 ? rc->spare_dev->bdev
					 : rc->main_dev->bdev);
		return DM_MAPIO_REMAPPED;
	}
	if (bio_data_dir(bio) == WRITE)
		stat_inc(rc, writes);
	else
		stat_inc(rc, reads);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	/* Before the busy state and the lookup: see set_busy(). */
	pb->busy_seq = smp_load_acquire(&rc->busy_seq);
	if (likely(!READ_ONCE(rc->active)))
		return map_to_main(rc, bio, pb);
	return remap_map_slow(rc, bio, pb);
}

/* ---- Completion ---------------------------------------------------------- */

/* Errors worth a retry and a remap: not "try again" or "not supported". */
static bool is_media_error(blk_status_t status)
{
	switch (status) {
	case BLK_STS_AGAIN:
	case BLK_STS_NOTSUPP:
	case BLK_STS_RESOURCE:
	case BLK_STS_DEV_RESOURCE:
	case BLK_STS_NOSPC:
		return false;
	default:
		return true;
	}
}

/*
 * A write to main that finished while a remap of one of its units was in
 * progress, or after it: its data must also reach the spare. Out of line,
 * as remap_map_slow().
 */
static noinline bool write_met_remap(struct remap_c *rc, struct remap_bio *pb)
{
	const u64 first = sector_to_unit(rc, pb->iter.bi_sector);
	const u64 last = sector_to_unit(
		rc, pb->iter.bi_sector + (pb->iter.bi_size >> 9) - 1);
	struct rm_lookup_entry e;

	/* Pairs with set_busy(): a busy range seen is the current one's. */
	if ((smp_load_acquire(&rc->active) & RM_ACTIVE_BUSY) &&
	    READ_ONCE(rc->busy_first) <= last &&
	    READ_ONCE(rc->busy_last) >= first)
		return true;
	return lookup_range(rc, first, last, &e, NULL);
}

/*
 * A failed bio, or a successful write to main while the table is not empty
 * or a unit is busy: hands it to the worker when it needs a retry, a remap
 * or its data on the spare too.
 */
static noinline int remap_end_io_slow(struct remap_c *rc, struct bio *bio,
				      blk_status_t error)
{
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	struct bio_list *list;
	unsigned long flags;

	if (pb->kind == RB_SPARE) {
		if (error)
			stat_inc(rc, spare_errors);
		return DM_ENDIO_DONE;
	}
	if (pb->kind != RB_MAIN)
		return DM_ENDIO_DONE;
	if (!error) {
		/* A write (remap_end_io() sent no other success here). */
		if (smp_load_acquire(&rc->busy_seq) == pb->busy_seq ||
		    !write_met_remap(rc, pb))
			return DM_ENDIO_DONE;
		list = &rc->late;
	} else {
		if (bio_op(bio) != REQ_OP_READ && !is_write(bio))
			return DM_ENDIO_DONE;
		/* Readahead is a hint: no retries, no pending state. */
		if (!is_media_error(error) || (bio->bi_opf & REQ_RAHEAD))
			return DM_ENDIO_DONE;
		stat_inc(rc, main_errors);
		list = &rc->failed;
	}
	/* Hand the bio, restored to its range, to the worker. */
	bio->bi_iter = pb->iter;
	bio->bi_status = BLK_STS_OK;
	spin_lock_irqsave(&rc->lock, flags);
	bio_list_add(list, bio);
	spin_unlock_irqrestore(&rc->lock, flags);
	queue_work(rc->wq, &rc->worker);
	return DM_ENDIO_INCOMPLETE;
}

static int remap_end_io(struct dm_target *ti, struct bio *bio,
			blk_status_t *error)
{
	struct remap_c *rc = ti->private;

	/*
	 * Success needs nothing more, but for a write to main that met a
	 * remap: none can have when the table is empty and no unit is busy.
	 */
	if (likely(!*error) && !is_write(bio))
		return DM_ENDIO_DONE;
	/* Pairs with set_busy(): the busy range read next is as new. */
	if (likely(!*error) && !smp_load_acquire(&rc->active))
		return DM_ENDIO_DONE;
	return remap_end_io_slow(rc, bio, *error);
}

/* ---- The worker: retries, remaps and commits ----------------------------- */

static int unit_io(struct remap_c *rc, struct block_device *bdev, blk_opf_t opf,
		   sector_t sector, sector_t count, void *buf)
{
	struct dm_io_region region = {
		.bdev = bdev,
		.sector = sector,
		.count = count,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = buf,
		.client = rc->md.io,
	};
	unsigned long error_bits = 0;
	int r = rm_dm_io(&req, 1, &region, &error_bits);

	r = r ? r : (error_bits ? -EIO : 0);
	if (!r && bdev == rc->main_dev->bdev && op_is_write(opf) == false)
		rc->good_unit = sector_to_unit(rc, sector);
	return r;
}

/*
 * Makes the writes main completed stable (an empty PREFLUSH), for a change
 * to the table that relies on them.
 */
static int main_flush(struct remap_c *rc)
{
	struct dm_io_region region = { .bdev = rc->main_dev->bdev };
	struct dm_io_request req = {
		.bi_opf = REQ_OP_WRITE | REQ_PREFLUSH | REQ_SYNC,
		.mem.type = DM_IO_KMEM,
		.mem.ptr.addr = rc->probe_buf,
		.client = rc->md.io,
	};
	unsigned long error_bits = 0;
	int r = rm_dm_io(&req, 1, &region, &error_bits);

	return r ? r : (error_bits ? -EIO : 0);
}

/*
 * Whether main fails reads wholesale (an outage of the disk or of the path
 * to it) rather than at unit u: one block of a unit that read before, or
 * else of a unit near u or far from it (a bad region can be wide), must
 * still read for a failure of u to be recorded. The scan probes the same
 * way (handle_scan_record()).
 */
static bool main_unreachable(struct remap_c *rc, u64 u)
{
	const unsigned int lbs = bdev_logical_block_size(rc->main_dev->bdev);
	const u64 probe[] = { rc->good_unit, u >= 64 ? u - 64 : u + 64,
			      rc->main_units / 2, 0 };
	struct dm_io_region region = { .bdev = rc->main_dev->bdev };
	struct dm_io_request req = {
		.bi_opf = REQ_OP_READ,
		.mem.type = DM_IO_KMEM,
		.mem.ptr.addr = rc->probe_buf,
		.client = rc->md.io,
	};
	unsigned long error_bits;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(probe); i++) {
		if (probe[i] == U64_MAX || probe[i] == u ||
		    probe[i] >= rc->main_units)
			continue;
		region.sector = unit_to_sector(rc, probe[i]);
		region.count = lbs >> SECTOR_SHIFT;
		error_bits = 0;
		if (!rm_dm_io(&req, 1, &region, &error_bits) && !error_bits) {
			rc->good_unit = probe[i];
			return false;
		}
	}
	RMERR_LIMIT(
		rc,
		"main device fails reads beside unit %llu too (an outage?): nothing recorded, the I/O fails",
		u);
	return true;
}

/* Copies `len` bytes at byte `skip` of the bio's range to or from buf. */
static void bio_copy(struct bio *bio, struct bvec_iter iter, unsigned int skip,
		     unsigned int len, void *buf, bool to_bio)
{
	struct bio_vec bv;
	struct bvec_iter it;

	bio_advance_iter(bio, &iter, skip);
	iter.bi_size = len;
	__bio_for_each_segment(bv, bio, it, iter) {
		if (to_bio)
			memcpy_to_bvec(&bv, buf);
		else
			memcpy_from_bvec(buf, &bv);
		buf += bv.bv_len;
	}
}

/* The data a write carries for `len` bytes at byte `skip`: zeroes or pages. */
static void write_data(struct bio *bio, struct bvec_iter iter,
		       unsigned int skip, unsigned int len, void *buf)
{
	if (bio_op(bio) == REQ_OP_WRITE_ZEROES)
		memset(buf, 0, len);
	else
		bio_copy(bio, iter, skip, len, buf, false);
}

/* Main I/O with the configured retries. */
static int main_io_retry(struct remap_c *rc, blk_opf_t opf, sector_t sector,
			 sector_t count, void *buf)
{
	unsigned int i;

	for (i = 0; i < rc->retries; i++) {
		stat_inc(rc, retries);
		if (!unit_io(rc, rc->main_dev->bdev, opf, sector, count, buf))
			return 0;
	}
	return -EIO;
}

/* Main I/O not tried yet: one attempt, then the configured retries. */
static int main_io_fresh(struct remap_c *rc, blk_opf_t opf, sector_t sector,
			 sector_t count, void *buf)
{
	if (!unit_io(rc, rc->main_dev->bdev, opf, sector, count, buf))
		return 0;
	return main_io_retry(rc, opf, sector, count, buf);
}

/*
 * Reads the parts of a unit (us, len sectors) that a write of s0..s1 does
 * not cover into unit_buf, so that the unit can move to the spare whole.
 */
static int fill_unit_around(struct remap_c *rc, sector_t us, sector_t len,
			    sector_t s0, sector_t s1)
{
	if (s0 > us &&
	    main_io_fresh(rc, REQ_OP_READ, us, s0 - us, rc->unit_buf))
		return -EIO;
	if (s1 < us + len && main_io_fresh(rc, REQ_OP_READ, s1, us + len - s1,
					   rc->unit_buf + ((s1 - us) << 9)))
		return -EIO;
	return 0;
}

static void set_mode(struct remap_c *rc, enum remap_mode mode)
{
	if (rc->mode >= mode)
		return;
	DMERR("%s: mode %s", dm_table_device_name(rc->ti->table),
	      remap_mode_names[mode]);
	WRITE_ONCE(rc->mode, mode);
	dm_table_event(rc->ti->table);
}

/* Tells other instances on this spare how far the sequence has moved. */
static void note_commit(struct remap_c *rc)
{
	s64 seen = atomic64_read(&rc->spare->seq);

	while (seen < (s64)rc->md.max_seq &&
	       !atomic64_try_cmpxchg(&rc->spare->seq, &seen, rc->md.max_seq))
		;
}

/* What status shows; the worker calls it after every change. */
static void publish_counts(struct remap_c *rc)
{
	WRITE_ONCE(rc->counts.seq, rc->md.max_seq);
	WRITE_ONCE(rc->counts.remapped, rc->md.nr_remapped);
	WRITE_ONCE(rc->counts.pending, rc->md.nr_pending);
	WRITE_ONCE(rc->counts.bad, rc->md.nr_bad);
	WRITE_ONCE(rc->counts.pool_used, rc->md.nr_pool_used);
}

/*
 * Records a metadata write failure: a mode that makes no new remaps, and
 * needs_check on the spare (written once; the spare is failing).
 */
static void metadata_failed(struct remap_c *rc, int r)
{
	set_mode(rc,
		 r == -EREMOTEIO ? RM_MODE_DEGRADED : RM_MODE_METADATA_FAILED);
	if (rc->md.sb.flags & RM4_SB_NEEDS_CHECK)
		return;
	rc->md.sb.flags |= RM4_SB_NEEDS_CHECK;
	if (rm_md_write_superblocks(&rc->md))
		RMERR_LIMIT(
			rc,
			"cannot record needs_check on the spare: run remap-check on it before the next activation");
	note_commit(rc);
}

static bool can_remap(struct remap_c *rc)
{
	return rc->mode == RM_MODE_OK && rc->writable && !rc->md.error;
}

/* ---- Transactions: the changes of one table block ----------------------- */

static void txn_reset(struct remap_txn *t)
{
	t->nr_changes = 0;
	t->nr_records = 0;
	t->remapped = 0;
	t->pending = 0;
	t->bad = 0;
}

/* The changes are not written: give back what they took. */
static void txn_undo(struct remap_c *rc)
{
	struct remap_txn *t = rc->txn;
	unsigned int i;

	for (i = 0; i < t->nr_records; i++) {
		const struct txn_record *x = &t->records[i];

		if (x->new_slot)
			rm_md_free_slot(&rc->md, x->slot);
		/* A bad spare block stays taken: it failed a write. */
		if (x->kind == TXN_ADD && x->new_block != RM4_NONE)
			rm_md_free_block(&rc->md, x->new_block);
	}
}

/* The changes are durable: free what they replaced, count them. */
static void txn_apply(struct remap_c *rc)
{
	struct remap_txn *t = rc->txn;
	struct rm_md *md = &rc->md;
	unsigned int i;

	for (i = 0; i < t->nr_records; i++) {
		const struct txn_record *x = &t->records[i];

		if (x->kind == TXN_REMOVE)
			rm_md_free_slot(md, x->slot);
		if (x->old_block != RM4_NONE)
			rm_md_free_block(md, x->old_block);
	}
	md->nr_remapped += t->remapped;
	md->nr_pending += t->pending;
	md->nr_bad += t->bad;
}

/*
 * The commit failed: the block on disk holds the old entries, the new ones
 * or a torn copy, and a later load may read either. Every unit the changes
 * add is published as pending, so that I/O to it fails for the rest of this
 * table's life: no write is acknowledged that such a load would not see. A
 * pending entry that was to be cleared stays. Nothing is freed.
 */
static void txn_fence(struct remap_c *rc)
{
	struct remap_txn *t = rc->txn;
	unsigned int i, replaced = 0;
	u64 n = 0;

	/* Pending already: the slot of a pending unit remapped in place. */
	for (i = 0; i < t->nr_records; i++)
		if (t->records[i].kind == TXN_ADD && !t->records[i].new_slot)
			replaced++;

	for (i = 0; i < t->nr_changes; i++) {
		struct rm_lookup_entry *c = &t->changes[i];

		if (!c->slot_state)
			continue;
		c->slot_state =
			rm_lookup_pack(rm_lookup_slot(c), RM4_STATE_PENDING);
		t->changes[n++] = *c;
	}
	t->nr_changes = n;
	rc->md.nr_pending += n - replaced;
	rc->md.nr_bad += t->bad; /* their blocks stay taken */
	if (n)
		RMERR_LIMIT(
			rc,
			"metadata commit failed: %llu units it changed fail all I/O until the spare is checked and the table reloaded",
			n);
}

/*
 * Commits the staged block and publishes its lookup changes. The new lookup
 * is allocated first: when that fails, nothing is written and the changes
 * are undone, so the state in memory stays the durable one. When the write
 * fails, the changes are fenced (txn_fence()). Returns 0 when the changes
 * are durable (on copy A at least).
 */
static int txn_commit(struct remap_c *rc)
{
	struct remap_txn *t = rc->txn;
	struct remap_lookup *rl = NULL;
	int r;

	if (!rm_md_staged(&rc->md)) {
		txn_reset(t);
		return 0;
	}
	if (t->nr_changes) {
		rl = lookup_prepare(rc, t->changes, t->nr_changes);
		if (!rl) {
			rm_md_abort(&rc->md);
			txn_undo(rc);
			RMERR_LIMIT(
				rc,
				"out of memory recording %llu changes: nothing recorded, the I/O fails",
				t->nr_changes);
			txn_reset(t);
			return -ENOMEM;
		}
	}
	r = rm_md_commit(&rc->md);
	note_commit(rc);
	if (r && r != -EREMOTEIO) {
		txn_fence(rc);
		metadata_failed(rc, r);
	} else {
		txn_apply(rc);
		if (r)
			metadata_failed(rc, r); /* durable on copy A only */
		r = 0;
	}
	if (rl)
		lookup_install(rc, rl, t->changes, t->nr_changes);
	/* A new remap or pending unit: wake dm event waiters (monitors). */
	if (t->nr_changes)
		dm_table_event(rc->ti->table);
	txn_reset(t);
	publish_counts(rc);
	return r;
}

/*
 * Stages entry e in `slot` with its record and lookup change (NULL: none),
 * committing the changes staged in another block first.
 */
static int txn_stage(struct remap_c *rc, u64 slot, const struct rm4_entry *e,
		     const struct txn_record *x,
		     const struct rm_lookup_entry *change)
{
	struct remap_txn *t = rc->txn;
	int r = rm_md_stage(&rc->md, slot, e);

	if (r == -EXDEV) {
		r = txn_commit(rc);
		if (!r)
			r = rm_md_stage(&rc->md, slot, e);
	}
	/* A table block that cannot be read from either copy sticks too. */
	if (r && rc->md.error)
		metadata_failed(rc, r);
	if (r)
		return r;
	t->records[t->nr_records++] = *x;
	if (change)
		t->changes[t->nr_changes++] = *change;
	return 0;
}

/* Records spare block blk, which failed a write, as bad: never reused. */
static int record_bad_block(struct remap_c *rc, u64 blk)
{
	struct rm_md *md = &rc->md;
	const struct rm4_entry e = {
		.main_block = RM4_NONE,
		.spare_block = blk,
		.event_time = ktime_get_real_seconds(),
		.error_count = 1,
		.state = RM4_STATE_BAD_SPARE,
	};
	struct txn_record x = {
		.new_block = RM4_NONE,
		.old_block = RM4_NONE,
		.kind = TXN_BAD,
		.new_slot = true,
	};
	int r;

	x.slot = rm_md_alloc_slot(md);
	if (x.slot == U64_MAX) {
		/* Taken in memory only: a reload may try it again. */
		set_mode(rc, RM_MODE_SPARE_EXHAUSTED);
		return -ENOSPC;
	}
	rm_md_take_slot(md, x.slot);
	r = txn_stage(rc, x.slot, &e, &x, NULL);
	if (r) {
		rm_md_free_slot(md, x.slot);
		return r;
	}
	rc->txn->bad++;
	RMERR_LIMIT(rc, "spare block %llu failed a write; marking it bad", blk);
	return 0;
}

/*
 * Writes a full unit of data to a new spare block and stages its entry in
 * `slot` (U64_MAX: a new slot; else the pending entry's, whose spare block
 * old_block is then freed). Spare blocks that fail a write are recorded as
 * bad and the next one is tried, RM_SPARE_TRIES at most.
 */
static int remap_unit(struct remap_c *rc, u64 u, u64 slot, u8 flags,
		      u64 old_block)
{
	struct rm_md *md = &rc->md;
	struct rm4_entry e = { 0 };
	struct rm_lookup_entry change;
	struct txn_record x = {
		.old_block = old_block,
		.kind = TXN_ADD,
		.new_slot = slot == U64_MAX,
	};
	unsigned int tries;
	u64 blk;
	int r;

	if (!can_remap(rc))
		return -EROFS;
	if (x.new_slot) {
		slot = rm_md_alloc_slot(md);
		if (slot == U64_MAX) {
			set_mode(rc, RM_MODE_SPARE_EXHAUSTED);
			return -ENOSPC;
		}
		rm_md_take_slot(md, slot);
	}
	for (tries = 1;; tries++) {
		blk = rm_md_alloc_block(md);
		if (blk == U64_MAX) {
			r = -ENOSPC;
			set_mode(rc, RM_MODE_SPARE_EXHAUSTED);
			goto fail;
		}
		rm_md_take_block(md, blk);
		if (!unit_io(rc, rc->spare_dev->bdev, REQ_OP_WRITE,
			     spare_sector(rc, blk), unit_len(rc, u),
			     rc->unit_buf))
			break;
		stat_inc(rc, spare_errors);
		r = record_bad_block(rc, blk);
		if (r)
			goto fail;
		if (tries == RM_SPARE_TRIES) {
			RMERR_LIMIT(
				rc,
				"%u spare blocks in a row failed writes: unit %llu not remapped",
				tries, u);
			r = -EIO;
			goto fail;
		}
	}
	e = (struct rm4_entry){
		.main_block = u,
		.spare_block = blk,
		.event_time = ktime_get_real_seconds(),
		.error_count = 1,
		.state = RM4_STATE_REMAPPED,
		.flags = flags,
	};
	x.slot = slot;
	x.new_block = blk;
	change.main = u;
	change.spare = (u32)blk;
	change.slot_state = rm_lookup_pack(slot, RM4_STATE_REMAPPED);
	r = txn_stage(rc, slot, &e, &x, &change);
	if (r) {
		rm_md_free_block(md, blk);
		goto fail;
	}
	rc->txn->remapped++;
	return 0;
fail:
	if (x.new_slot)
		rm_md_free_slot(md, slot);
	return r;
}

/* Records unit u as pending (its contents are lost until rewritten). */
static int mark_pending(struct remap_c *rc, u64 u)
{
	struct rm_md *md = &rc->md;
	const struct rm4_entry e = {
		.main_block = u,
		.spare_block = RM4_NONE,
		.event_time = ktime_get_real_seconds(),
		.error_count = 1,
		.state = RM4_STATE_PENDING,
	};
	struct txn_record x = {
		.new_block = RM4_NONE,
		.old_block = RM4_NONE,
		.kind = TXN_ADD,
		.new_slot = true,
	};
	struct rm_lookup_entry change;
	int r;

	if (!can_remap(rc)) {
		RMERR_LIMIT(
			rc,
			"unit %llu (sector %llu) is unreadable; mode %s: not recorded, the next read tries again",
			u, (unsigned long long)unit_to_sector(rc, u),
			remap_mode_names[rc->mode]);
		return -EROFS;
	}
	x.slot = rm_md_alloc_slot(md);
	if (x.slot == U64_MAX) {
		set_mode(rc, RM_MODE_SPARE_EXHAUSTED);
		return -ENOSPC;
	}
	rm_md_take_slot(md, x.slot);
	change.main = u;
	change.spare = RM_LOOKUP_NO_SPARE;
	change.slot_state = rm_lookup_pack(x.slot, RM4_STATE_PENDING);
	r = txn_stage(rc, x.slot, &e, &x, &change);
	if (r) {
		rm_md_free_slot(md, x.slot);
		return r;
	}
	rc->txn->pending++;
	RMERR_LIMIT(
		rc,
		"unit %llu (sector %llu) is unreadable: recording it as pending, its contents are lost until it is rewritten",
		u, (unsigned long long)unit_to_sector(rc, u));
	return 0;
}

/* Stages the removal of pending entry e: the unit reads from main again. */
static int clear_pending(struct remap_c *rc, const struct rm_lookup_entry *e)
{
	const struct rm4_entry free_entry = { 0 };
	const struct txn_record x = {
		.slot = rm_lookup_slot(e),
		.new_block = RM4_NONE,
		.old_block =
			e->spare == RM_LOOKUP_NO_SPARE ? RM4_NONE : e->spare,
		.kind = TXN_REMOVE,
	};
	struct rm_lookup_entry change = *e;
	int r;

	change.slot_state = 0;
	r = txn_stage(rc, x.slot, &free_entry, &x, &change);
	if (!r)
		rc->txn->pending--;
	return r;
}

/* Marks units first..last busy: new I/O to them waits for the worker. */
static void set_busy(struct remap_c *rc, u64 first, u64 last)
{
	spin_lock_irq(&rc->lock);
	rc->busy_first = first;
	rc->busy_last = last;
	/* Pairs with smp_load_acquire() in remap_map_slow(). */
	smp_store_release(&rc->active, rc->active | RM_ACTIVE_BUSY);
	/*
	 * After the busy state: map() reads the count first, so a bio that
	 * sees the new count also sees the unit busy (remap_map()).
	 */
	smp_store_release(&rc->busy_seq, rc->busy_seq + 1);
	spin_unlock_irq(&rc->lock);
	rm_tp(RM_TP_WORKER_BUSY, first, false);
}

static void clear_busy(struct remap_c *rc)
{
	spin_lock_irq(&rc->lock);
	/*
	 * The lookup was published before this; pairs with smp_load_acquire()
	 * in remap_map_slow(), which then sees the busy unit or the new lookup.
	 */
	smp_store_release(&rc->active, rc->active & ~RM_ACTIVE_BUSY);
	spin_unlock_irq(&rc->lock);
}

/*
 * A unit of a failed main I/O that was remapped, or found unreadable, while
 * the I/O was in flight: serve it from what the table says now.
 */
static blk_status_t redo_from_table(struct remap_c *rc, struct bio *bio,
				    struct bvec_iter iter,
				    const struct rm_lookup_entry *e,
				    sector_t us, sector_t s0, sector_t s1,
				    void *at)
{
	const unsigned int skip = (s0 - iter.bi_sector) << 9;
	const unsigned int len = (s1 - s0) << 9;
	const sector_t where = spare_sector(rc, e->spare) + (s0 - us);
	struct block_device *spare = rc->spare_dev->bdev;

	if (rm_lookup_state(e) != RM4_STATE_REMAPPED)
		return BLK_STS_IOERR; /* pending: the contents are lost */
	if (is_write(bio)) {
		write_data(bio, iter, skip, len, at);
		if (unit_io(rc, spare, REQ_OP_WRITE | REQ_FUA, where, s1 - s0,
			    at))
			goto spare_error;
		return BLK_STS_OK;
	}
	if (unit_io(rc, spare, REQ_OP_READ, where, s1 - s0, at))
		goto spare_error;
	bio_copy(bio, iter, skip, len, at, true);
	return BLK_STS_OK;
spare_error:
	stat_inc(rc, spare_errors);
	return BLK_STS_IOERR;
}

/*
 * Handles a read or write that failed on main: per unit, retry; a write
 * that keeps failing moves the unit to the spare, a read that keeps
 * failing records the unit as pending and fails. Nothing is recorded while
 * main fails reads wholesale (main_unreachable()). The changes are
 * committed one table block at a time, each published once durable.
 */
static void handle_failed(struct remap_c *rc, struct bio *bio)
{
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	const struct bvec_iter iter = pb->iter;
	const sector_t start = iter.bi_sector;
	const sector_t end = start + (iter.bi_size >> 9);
	const u64 first = sector_to_unit(rc, start);
	const u64 last = sector_to_unit(rc, end - 1);
	const bool write = is_write(bio);
	/* A retry keeps the write's FUA: its data must be durable on main. */
	const blk_opf_t retry_op = REQ_OP_WRITE | (bio->bi_opf & REQ_FUA);
	blk_status_t status = BLK_STS_OK;
	struct rm_lookup_entry cur;
	u64 u;

	set_busy(rc, first, last);
	for (u = first; u <= last; u++) {
		const sector_t us = unit_to_sector(rc, u);
		const sector_t s0 = max(start, us);
		const sector_t s1 = min(end, us + unit_len(rc, u));
		void *at = rc->unit_buf + ((s0 - us) << 9);
		const unsigned int skip = (s0 - start) << 9;
		const unsigned int len = (s1 - s0) << 9;
		blk_status_t st;

		if (lookup_unit(rc, u, &cur)) {
			st = redo_from_table(rc, bio, iter, &cur, us, s0, s1,
					     at);
			status = st ?: status;
			continue;
		}
		if (!write) {
			if (!main_io_retry(rc, REQ_OP_READ, s0, s1 - s0, at)) {
				bio_copy(bio, iter, skip, len, at, true);
				continue;
			}
			status = BLK_STS_IOERR;
			if (!main_unreachable(rc, u))
				mark_pending(rc, u);
			continue;
		}

		write_data(bio, iter, skip, len, at);
		if (!main_io_retry(rc, retry_op, s0, s1 - s0, at))
			continue;
		if (!can_remap(rc)) {
			status = BLK_STS_IOERR;
			continue;
		}
		if (s1 - s0 != unit_len(rc, u) &&
		    fill_unit_around(rc, us, unit_len(rc, u), s0, s1)) {
			/* The rest of the unit is unreadable: never invent it. */
			if (!main_unreachable(rc, u))
				mark_pending(rc, u);
			status = BLK_STS_IOERR;
			continue;
		}
		if (remap_unit(rc, u, U64_MAX, 0, RM4_NONE))
			status = BLK_STS_IOERR;
	}
	if (txn_commit(rc))
		status = BLK_STS_IOERR;
	clear_busy(rc);
	bio->bi_status = status;
	pb->kind = RB_DONE;
	bio_endio(bio);
}

/* A full-unit write to a pending unit: main first, then a remap. */
static void handle_pending_write(struct remap_c *rc, struct bio *bio, u64 u,
				 const struct rm_lookup_entry *e)
{
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	blk_status_t status = BLK_STS_IOERR;
	int r;

	/* Clearing or remapping a pending unit needs a metadata write. */
	if (!can_remap(rc))
		goto out;
	set_busy(rc, u, u);
	write_data(bio, bio->bi_iter, 0, bio->bi_iter.bi_size, rc->unit_buf);
	if (!main_io_fresh(rc, REQ_OP_WRITE | REQ_FUA, unit_to_sector(rc, u),
			   unit_len(rc, u), rc->unit_buf)) {
		/* The drive healed on write (durable: FUA): clear the entry. */
		r = clear_pending(rc, e);
	} else {
		r = remap_unit(rc, u, rm_lookup_slot(e), 0,
			       e->spare == RM_LOOKUP_NO_SPARE ? RM4_NONE
							      : e->spare);
		if (!r)
			rc->txn->pending--;
	}
	/* Also commits what a failed attempt staged (bad spare blocks). */
	r = txn_commit(rc) ?: r;
	if (!r)
		status = BLK_STS_OK;
	clear_busy(rc);
out:
	bio->bi_status = status;
	pb->kind = RB_DONE;
	bio_endio(bio);
}

/*
 * A write that reached main while its unit became pending: a failed read or
 * the scan found the unit unreadable while the write was in flight. Written
 * whole, the unit now holds the write's data on main: clear the entry, as a
 * rewrite of a pending unit does, once main made the write stable (it may
 * sit in main's volatile cache: a crash would otherwise leave a readable
 * unit with older data). Written in part, the rest of the unit is still
 * lost: the unit stays pending and the write fails, as it would have had it
 * come after (a read of the unit would fail anyway).
 */
static blk_status_t late_write_pending(struct remap_c *rc, u64 u,
				       const struct rm_lookup_entry *e,
				       bool whole)
{
	if (!whole) {
		RMERR_LIMIT(
			rc,
			"partial write to unit %llu met it becoming pending: rewrite the whole unit (%u bytes) to recover it",
			u, rc->unit_bytes);
		return BLK_STS_IOERR;
	}
	/* Clearing the entry needs a metadata write. */
	if (!can_remap(rc))
		return BLK_STS_IOERR;
	if (main_flush(rc) || clear_pending(rc, e))
		return BLK_STS_IOERR;
	return BLK_STS_OK;
}

/*
 * Replays a main write that finished under a remap to the spare blocks; a
 * unit that became pending meanwhile: see late_write_pending().
 */
static void handle_late_write(struct remap_c *rc, struct bio *bio)
{
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	const struct bvec_iter iter = pb->iter;
	const sector_t start = iter.bi_sector;
	const sector_t end = start + (iter.bi_size >> 9);
	blk_status_t status = BLK_STS_OK;
	u64 u;

	for (u = sector_to_unit(rc, start); u <= sector_to_unit(rc, end - 1);
	     u++) {
		const sector_t us = unit_to_sector(rc, u);
		const sector_t s0 = max(start, us);
		const sector_t s1 = min(end, us + unit_len(rc, u));
		struct rm_lookup_entry e;

		if (!lookup_unit(rc, u, &e))
			continue;
		if (rm_lookup_state(&e) == RM4_STATE_PENDING) {
			status = late_write_pending(
					 rc, u, &e,
					 s0 == us && s1 == us + unit_len(rc, u))
					 ?: status;
			continue;
		}
		if (rm_lookup_state(&e) != RM4_STATE_REMAPPED)
			continue;
		write_data(bio, iter, (s0 - start) << 9, (s1 - s0) << 9,
			   rc->unit_buf);
		if (unit_io(rc, rc->spare_dev->bdev, REQ_OP_WRITE | REQ_FUA,
			    spare_sector(rc, e.spare) + (s0 - us), s1 - s0,
			    rc->unit_buf)) {
			stat_inc(rc, spare_errors);
			status = BLK_STS_IOERR;
		}
	}
	if (txn_commit(rc))
		status = BLK_STS_IOERR;
	bio->bi_status = status;
	pb->kind = RB_DONE;
	bio_endio(bio);
}

/* A proactive remap requested with the "remap" message. */
static int handle_remap(struct remap_c *rc, u64 u)
{
	struct rm_lookup_entry e;
	int r, c;

	if (lookup_unit(rc, u, &e))
		return rm_lookup_state(&e) == RM4_STATE_REMAPPED ? -EEXIST
								 : -EBUSY;
	if (!can_remap(rc))
		return -EROFS;
	set_busy(rc, u, u);
	if (!main_io_fresh(rc, REQ_OP_READ, unit_to_sector(rc, u),
			   unit_len(rc, u), rc->unit_buf))
		r = remap_unit(rc, u, U64_MAX, RM4_ENTRY_PROACTIVE, RM4_NONE);
	else if (main_unreachable(rc, u))
		r = -EIO;
	else /* Unreadable: record it as pending, and say so. */
		r = mark_pending(rc, u) ?: -ENODATA;
	c = txn_commit(rc);
	clear_busy(rc);
	return c ?: r;
}

/*
 * The scan leaves an eighth of the table's slots, and with `blocks` of the
 * spare blocks, to the foreground: a write that fails on main needs both
 * to be remapped, while what the scan finds can wait for a bigger spare.
 */
static bool scan_reserve_reached(struct rm_md *md, bool blocks)
{
	const u64 used = md->nr_remapped + md->nr_pending + md->nr_bad;
	const u64 pool = md->sb.pool_blocks;

	if (used + max_t(u64, md->capacity / 8, 1) >= md->capacity)
		return true;
	return blocks && md->nr_pool_used + max_t(u64, pool / 8, 1) >= pool;
}

/*
 * The scan found a read of a chunk that failed or was slow: check unit u on
 * its own. Unreadable after the retries: RM_SCAN_UNREADABLE, recorded later
 * by handle_scan_record(). Readable, but only after a retry or slower than
 * slow_ms while no foreground I/O ran (the chunk's read was slow too, so a
 * second slow read): weak, so copy it to the spare while it still reads and
 * remap it, flagged proactive. Returns an enum rm_scan_verdict.
 */
static int handle_scan_unit(struct remap_c *rc, u64 u, unsigned int slow_ms)
{
	const sector_t us = unit_to_sector(rc, u);
	struct remap_stats before, after;
	struct rm_lookup_entry e;
	bool weak;
	ktime_t t0;
	int r;

	if (lookup_unit(rc, u, &e))
		return RM_SCAN_KNOWN;
	set_busy(rc, u, u);
	sum_stats(rc, &before);
	t0 = ktime_get();
	r = unit_io(rc, rc->main_dev->bdev, REQ_OP_READ, us, unit_len(rc, u),
		    rc->unit_buf);
	weak = ktime_ms_delta(ktime_get(), t0) > slow_ms;
	if (weak) {
		/* Slow with foreground I/O sharing the disk is not weak. */
		sum_stats(rc, &after);
		weak = before.reads + before.writes ==
		       after.reads + after.writes;
	}
	weak = weak || r;
	if (r)
		r = main_io_retry(rc, REQ_OP_READ, us, unit_len(rc, u),
				  rc->unit_buf);
	if (r) {
		/* Recorded by handle_scan_record(), after a probe of main. */
		r = RM_SCAN_UNREADABLE;
	} else if (weak && !can_remap(rc)) {
		r = RM_SCAN_FAILED;
	} else if (weak && scan_reserve_reached(&rc->md, true)) {
		r = RM_SCAN_RESERVE;
	} else if (weak) {
		RMWARN_LIMIT(
			rc,
			"scan: unit %llu (sector %llu) reads slowly or only after a retry: remapping it",
			u, (unsigned long long)us);
		r = remap_unit(rc, u, U64_MAX, RM4_ENTRY_PROACTIVE, RM4_NONE);
		r = txn_commit(rc) ?: r;
		r = r ? RM_SCAN_FAILED : RM_SCAN_WEAK;
	} else {
		r = RM_SCAN_GOOD;
	}
	clear_busy(rc);
	return r;
}

/*
 * Records unit u, which the scan found unreadable, as pending: only when
 * it fails once more and then a unit that read before (`probe`) still
 * reads, so that an outage of the whole main device, or of the path to it,
 * records nothing: the scan halts instead.
 */
static int handle_scan_record(struct remap_c *rc, u64 u, u64 probe)
{
	const sector_t us = unit_to_sector(rc, u);
	struct rm_lookup_entry e;
	int r;

	if (lookup_unit(rc, u, &e))
		return RM_SCAN_KNOWN;
	if (!can_remap(rc))
		return RM_SCAN_FAILED;
	if (scan_reserve_reached(&rc->md, false))
		return RM_SCAN_RESERVE;
	set_busy(rc, u, u);
	if (!main_io_fresh(rc, REQ_OP_READ, us, unit_len(rc, u),
			   rc->unit_buf)) {
		r = RM_SCAN_GOOD; /* it reads now: nothing to record */
	} else if (unit_io(rc, rc->main_dev->bdev, REQ_OP_READ,
			   unit_to_sector(rc, probe), unit_len(rc, probe),
			   rc->unit_buf)) {
		r = RM_SCAN_OUTAGE;
	} else {
		r = mark_pending(rc, u);
		r = txn_commit(rc) ?: r;
		r = r ? RM_SCAN_FAILED : RM_SCAN_BAD;
	}
	clear_busy(rc);
	return r;
}

/*
 * Persists the scan cursor in both superblocks. A failure does not change
 * the mode: the cursor is only a hint. The copy whose write failed may be
 * torn, but the reader takes the valid copy with the larger seq (A written
 * first: a torn A leaves B with the previous superblock; a torn B leaves
 * the new A), and every table commit is independent of the superblock; the
 * next load rewrites the damaged copy. The scan halts and says why.
 */
static int handle_scan_save(struct remap_c *rc, u64 cursor, u64 pass)
{
	int r;

	rc->md.sb.scan_cursor = cursor;
	rc->md.sb.scan_pass = pass;
	/* A failed metadata write sticks. */
	if (rc->mode == RM_MODE_METADATA_FAILED || rc->md.error)
		return -EROFS;
	r = rm_md_write_superblocks(&rc->md);
	note_commit(rc);
	publish_counts(rc);
	if (r) {
		stat_inc(rc, spare_errors);
		DMERR("%s: scan: cannot save the cursor in the superblock (error %d): the scan stops; check the spare device",
		      dm_table_device_name(rc->ti->table), r);
	}
	return r;
}

static int remap_read(struct remap_c *rc, struct rm_md *md, bool repair,
		      const struct rm4_superblock *layout,
		      struct remap_base **base, char **error);

/*
 * The resume-time re-read: into a new rm_md, which replaces the current one
 * only once it is complete and has the constructor's layout. On the worker,
 * the only one that uses rc->md.
 */
static int handle_reload(struct remap_c *rc, char **error)
{
	struct remap_base *base;
	struct rm_md *fresh;
	int r;

	rc->loaded = false;
	fresh = kmalloc(sizeof(*fresh), GFP_KERNEL);
	if (!fresh) {
		*error = "Cannot allocate memory for the metadata";
		return -ENOMEM;
	}
	r = rm_md_create(fresh, rc->spare_dev->bdev, &rc->spare->writes);
	if (!r)
		r = remap_read(rc, fresh, true, &rc->layout, &base, error);
	if (r) {
		rm_md_destroy(fresh);
		kfree(fresh);
		return r;
	}
	rm_md_destroy(&rc->md);
	rc->md = *fresh;
	kfree(fresh);
	if (lookup_publish_base(rc, base)) {
		*error = "Cannot allocate memory for the remap lookup";
		return -ENOMEM;
	}
	rc->loaded = true;
	publish_counts(rc);
	return 0;
}

/*
 * Resume: re-read the metadata when another instance wrote it since this
 * one read it (a reload, or another device on the spare while this one was
 * suspended), when copies need repair, or when an earlier re-read failed;
 * then this instance is the spare's writer. On the worker, so that a
 * request queued meanwhile (a remap message) sees the fresh metadata, or is
 * refused when it came first.
 */
static int handle_resume(struct remap_c *rc, struct remap_request *req)
{
	const char *name = dm_table_device_name(rc->ti->table);
	unsigned int noio;
	int r;

	if (rm_md_stale(&rc->md))
		DMINFO("%s: metadata changed since the table read it; re-reading it",
		       name);
	else if (rc->md.repairs_needed)
		DMINFO("%s: restoring %llu damaged or stale metadata copies",
		       name, rc->md.repairs_needed);
	else if (!rc->loaded)
		DMINFO("%s: re-reading metadata after a failed resume", name);
	else
		goto writable;
	/*
	 * The device is suspended: reclaim must not wait on writeback to it
	 * (a filesystem or swap above).
	 */
	noio = memalloc_noio_save();
	r = handle_reload(rc, &req->error);
	memalloc_noio_restore(noio);
	if (r)
		return r;
writable:
	/* For resume(), which must not read rc->md itself. */
	rc->resume_cursor = rc->md.sb.scan_cursor;
	rc->resume_pass = rc->md.sb.scan_pass;
	WRITE_ONCE(rc->suspending, false);
	rc->writable = true;
	return 0;
}

static int handle_request(struct remap_c *rc, struct remap_request *req)
{
	switch (req->kind) {
	case RQ_RESUME:
		return handle_resume(rc, req);
	case RQ_SUSPEND:
		rc->writable = false;
		return 0;
	default:
		break;
	}
	/*
	 * Only the resumed instance writes the metadata, and only once it
	 * holds the current metadata.
	 */
	if (!rc->writable)
		return req->kind == RQ_REMAP ? -EAGAIN : RM_SCAN_FAILED;
	/*
	 * A suspend waits for the requests queued before it: remaps queued
	 * meanwhile (each may read a failing disk for minutes) are refused.
	 */
	if (req->kind == RQ_REMAP && READ_ONCE(rc->suspending))
		return -EAGAIN;
	switch (req->kind) {
	case RQ_SCAN_UNIT:
		return handle_scan_unit(rc, req->unit, req->slow_ms);
	case RQ_SCAN_SAVE:
		return handle_scan_save(rc, req->unit, req->pass);
	case RQ_SCAN_RECORD:
		return handle_scan_record(rc, req->unit, req->pass);
	default:
		return handle_remap(rc, req->unit);
	}
}

static void request_put(struct remap_request *req)
{
	if (refcount_dec_and_test(&req->ref))
		kfree(req);
}

/* Ends a request: wakes its waiter, or frees it when the waiter left. */
static void request_done(struct remap_c *rc, struct remap_request *req)
{
	if (!req->heap) {
		complete(&req->done);
		return;
	}
	atomic_dec(&rc->queued);
	if (refcount_read(&req->ref) == 1 && req->result < 0 &&
	    req->result != -EEXIST)
		RMWARN_LIMIT(rc, "queued remap of unit %llu failed (error %d)",
			     req->unit, req->result);
	complete(&req->done);
	request_put(req);
}

static void queue_request(struct remap_c *rc, struct remap_request *req)
{
	init_completion(&req->done);
	spin_lock_irq(&rc->lock);
	list_add_tail(&req->list, &rc->requests);
	spin_unlock_irq(&rc->lock);
	queue_work(rc->wq, &rc->worker);
}

/* Hands a request to the worker and waits for it. */
static void submit_request(struct remap_c *rc, struct remap_request *req)
{
	queue_request(rc, req);
	wait_for_completion(&req->done);
}

/* Maps a deferred bio (within one unit) now that its unit is settled. */
static void dispatch_deferred(struct remap_c *rc, struct bio *bio)
{
	struct remap_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	const u64 u = sector_to_unit(rc, bio->bi_iter.bi_sector);
	struct rm_lookup_entry e;
	int r;

	if (!lookup_unit(rc, u, &e)) {
		map_to_main(rc, bio, pb);
		dm_submit_bio_remap(bio, NULL);
		return;
	}
	if (rm_lookup_state(&e) == RM4_STATE_PENDING && is_write(bio) &&
	    is_full_unit(rc, bio, u)) {
		handle_pending_write(rc, bio, u, &e);
		return;
	}
	r = map_unit(rc, bio, pb, u, &e);
	if (r == DM_MAPIO_REMAPPED)
		dm_submit_bio_remap(bio, NULL);
	else if (r == DM_MAPIO_KILL)
		bio_io_error(bio);
}

static void fold_when_due(struct remap_c *rc, bool idle)
{
	if (lookup_fold(rc, idle))
		DMWARN_LIMIT(
			"out of memory folding the remap lookup: lookups stay correct, recording remaps gets slower until a fold succeeds");
}

static void remap_worker(struct work_struct *ws)
{
	struct remap_c *rc = container_of(ws, struct remap_c, worker);
	struct bio_list failed, late, deferred;
	struct remap_request *req;
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&rc->lock);
		failed = rc->failed;
		late = rc->late;
		deferred = rc->deferred;
		bio_list_init(&rc->failed);
		bio_list_init(&rc->late);
		bio_list_init(&rc->deferred);
		req = list_first_entry_or_null(&rc->requests,
					       struct remap_request, list);
		if (req)
			list_del(&req->list);
		spin_unlock_irq(&rc->lock);

		if (bio_list_empty(&failed) && bio_list_empty(&late) &&
		    bio_list_empty(&deferred) && !req) {
			/* Idle: the bios it finished have been ended. */
			fold_when_due(rc, true);
			return;
		}
		fold_when_due(rc, false);
		while ((bio = bio_list_pop(&failed)))
			handle_failed(rc, bio);
		while ((bio = bio_list_pop(&late)))
			handle_late_write(rc, bio);
		while ((bio = bio_list_pop(&deferred)))
			dispatch_deferred(rc, bio);
		if (req) {
			req->result = handle_request(rc, req);
			request_done(rc, req);
		}
	}
}

/* ---- Construction -------------------------------------------------------- */

/*
 * dm_read_arg() parses with sscanf("%u"), which wraps an overflowing number
 * (4294967296 reads as 0): refuse what kstrtouint() refuses first.
 */
static int read_uint_arg(const struct dm_arg *arg, struct dm_arg_set *as,
			 unsigned int *value, char **error)
{
	if (!as->argc || kstrtouint(as->argv[0], 10, value)) {
		*error = arg->error;
		return -EINVAL;
	}
	return dm_read_arg(arg, as, value, error);
}

static int parse_features(struct remap_c *rc, struct dm_arg_set *as,
			  struct dm_target *ti)
{
	static const struct dm_arg _args[] = {
		{ 0, 6, "Invalid number of feature arguments" },
		{ 0, RM_MAX_RETRIES, "Invalid retries (expected 0 to 100)" },
		{ 0, RM_SCAN_MAX_RATE,
		  "Invalid scan_rate (expected 0 to 4096 MiB/s)" },
		{ 1, RM_SCAN_MAX_SLOW_MS,
		  "Invalid slow_ms (expected 1 to 600000)" },
	};
	unsigned int argc;
	const char *name;
	int r;

	if (!as->argc)
		return 0;
	/* Each feature at most once: which one would win is a guess. */
	if (kstrtouint(as->argv[0], 10, &argc)) {
		ti->error = _args[0].error;
		return -EINVAL;
	}
	r = dm_read_arg_group(_args, as, &argc, &ti->error);
	if (r)
		return r;
	while (argc) {
		name = dm_shift_arg(as);
		argc--;
		if ((!strcasecmp(name, "retries") && rc->retries_set) ||
		    (!strcasecmp(name, "scan_rate") && rc->scan_rate_set) ||
		    (!strcasecmp(name, "slow_ms") && rc->slow_ms_set)) {
			ti->error = "Feature argument given twice";
			return -EINVAL;
		}
		if (!strcasecmp(name, "retries") && argc) {
			r = read_uint_arg(_args + 1, as, &rc->retries,
					  &ti->error);
			if (r)
				return r;
			rc->retries_set = true;
			argc--;
			continue;
		}
		if (!strcasecmp(name, "scan_rate") && argc) {
			r = read_uint_arg(_args + 2, as, &rc->scan_rate,
					  &ti->error);
			if (r)
				return r;
			rc->scan_rate_set = true;
			argc--;
			continue;
		}
		if (!strcasecmp(name, "slow_ms") && argc) {
			r = read_uint_arg(_args + 3, as, &rc->scan.slow_ms,
					  &ti->error);
			if (r)
				return r;
			rc->slow_ms_set = true;
			argc--;
			continue;
		}
		ti->error = "Unknown or incomplete feature argument";
		return -EINVAL;
	}
	return 0;
}

static void set_live(struct remap_c *rc, bool live)
{
	mutex_lock(&remap_spares_lock);
	if (rc->live != live) {
		rc->live = live;
		if (live)
			rc->spare->live++;
		else
			rc->spare->live--;
	}
	mutex_unlock(&remap_spares_lock);
}

static void remap_destroy(struct dm_target *ti, struct remap_c *rc)
{
	struct remap_lookup *rl;

	/* The scan submits work to the worker: it goes first. */
	rm_scan_destroy(&rc->scan);
	if (rc->wq)
		destroy_workqueue(rc->wq);
	/* The worker is gone and no bio is left: nothing reads the lookup. */
	rl = rcu_dereference_protected(rc->lookup, true);
	if (rl) {
		synchronize_rcu();
		rl->free_base = true;
		lookup_free(rl);
	}
	rm_md_destroy(&rc->md);
	if (rc->spare) {
		set_live(rc, false);
		spare_put(rc->spare);
	}
	vfree(rc->unit_buf);
	kfree(rc->probe_buf);
	kfree(rc->txn);
	free_percpu(rc->stats);
	if (rc->spare_dev)
		dm_put_device(ti, rc->spare_dev);
	if (rc->main_dev)
		dm_put_device(ti, rc->main_dev);
	kfree(rc);
}

/*
 * Reads the metadata into md (with `layout`: refused unless the metadata
 * has that layout) and builds its lookup into *base, not yet published.
 */
static int remap_read(struct remap_c *rc, struct rm_md *md, bool repair,
		      const struct rm4_superblock *layout,
		      struct remap_base **base, char **error)
{
	struct block_device *main = rc->main_dev->bdev;
	const struct rm_md_main want = {
		.sectors = bdev_nr_sectors(main),
		.logical_block_size = bdev_logical_block_size(main),
		.physical_block_size = bdev_physical_block_size(main),
	};
	struct rm_lookup_entry *entries = NULL;
	u64 nr = 0, bad_unit, main_units;
	s64 seq;
	int r;

	r = rm_md_load(md, &want, repair, layout, &entries, &nr, error);
	if (r)
		return r;
	/* Never reuse a sequence number another instance wrote. */
	seq = atomic64_read(&rc->spare->seq);
	if (seq > 0 && (u64)seq > md->max_seq)
		md->max_seq = seq;
	main_units = rm4_main_units(&md->sb);
	*base = lookup_kvmalloc(sizeof(**base) +
				rm_lookup_bytes(nr, main_units));
	if (!*base) {
		kvfree(entries);
		*error = "Cannot allocate memory for the remap lookup";
		return -ENOMEM;
	}
	rm_lookup_init(&(*base)->lk, *base + 1, nr, main_units);
	/* Sorts the entries (in table order) into the lookup and indexes it. */
	r = rm_lookup_build(&(*base)->lk, entries, &bad_unit);
	kvfree(entries);
	if (r == -1) {
		DMERR("main unit %llu appears in two entries", bad_unit);
		*error =
			"Metadata maps one main block twice: run 'remap-check' on the spare";
		r = -EINVAL;
	} else if (r) {
		/* rm_md_load() refuses units beyond the device: a bug. */
		DMERR("main unit %llu is beyond the main device", bad_unit);
		*error =
			"Metadata maps a block beyond the main device: run 'remap-check' on the spare";
		r = -EINVAL;
	} else {
		r = rm_md_load_finish(md, repair, error);
	}
	if (r) {
		kvfree(*base);
		*base = NULL;
	}
	return r;
}

/* ---- The background scan's hooks (dm-remap-scan.c) ----------------------- */

static enum rm_scan_verdict scan_check_unit(void *ctx, u64 u,
					    unsigned int slow_ms)
{
	struct remap_request req = {
		.kind = RQ_SCAN_UNIT,
		.unit = u,
		.slow_ms = slow_ms,
	};

	submit_request(ctx, &req);
	return req.result;
}

static enum rm_scan_verdict scan_record_bad(void *ctx, u64 u, u64 probe)
{
	struct remap_request req = {
		.kind = RQ_SCAN_RECORD,
		.unit = u,
		.pass = probe,
	};

	submit_request(ctx, &req);
	return req.result;
}

static int scan_save_cursor(void *ctx, u64 cursor, u64 pass)
{
	struct remap_request req = {
		.kind = RQ_SCAN_SAVE,
		.unit = cursor,
		.pass = pass,
	};

	submit_request(ctx, &req);
	return req.result;
}

static const char *scan_halt_why(enum rm_scan_halt why)
{
	switch (why) {
	case RM_SCAN_HALT_UNREACHABLE:
		return "the main device fails reads that succeeded before; nothing recorded";
	case RM_SCAN_HALT_LIMIT:
		return "this pass recorded the most pending units it may";
	case RM_SCAN_HALT_RESERVE:
		return "the rest of the table is kept for remapping failed writes";
	case RM_SCAN_HALT_SAVE:
		return "the cursor cannot be saved";
	default:
		return "the mode does not allow recording findings";
	}
}

static void scan_halted(void *ctx, enum rm_scan_halt why, u64 u)
{
	struct remap_c *rc = ctx;

	DMERR("%s: scan: halted at unit %llu: %s; \"scan start\" continues it",
	      dm_table_device_name(rc->ti->table), u, scan_halt_why(why));
	dm_table_event(rc->ti->table);
}

static u64 scan_activity(void *ctx)
{
	struct remap_c *rc = ctx;
	struct remap_stats s;

	sum_stats(rc, &s);
	return s.reads + s.writes;
}

static const struct rm_scan_ops remap_scan_ops = {
	.check_unit = scan_check_unit,
	.record_bad = scan_record_bad,
	.save = scan_save_cursor,
	.activity = scan_activity,
	.halted = scan_halted,
};

/* Sets up the scan from the loaded metadata and the feature arguments. */
static int remap_scan_setup(struct remap_c *rc)
{
	struct rm_scan *s = &rc->scan;

	/* The scan reads a unit into its chunk buffer. */
	BUILD_BUG_ON((RM_SCAN_CHUNK_SECTORS << SECTOR_SHIFT) < RM4_UNIT_MAX);
	s->ops = &remap_scan_ops;
	s->ctx = rc;
	s->main = rc->main_dev->bdev;
	/* Only what the table maps: the main device may be larger. */
	s->main_sectors = min_t(sector_t, rc->ti->len, rc->md.sb.main_sectors);
	s->unit_shift = rc->unit_shift;
	s->units =
		(s->main_sectors + (1 << rc->unit_shift) - 1) >> rc->unit_shift;
	s->cursor =
		rc->md.sb.scan_cursor < s->units ? rc->md.sb.scan_cursor : 0;
	s->pass = rc->md.sb.scan_pass;
	s->rate = rc->scan_rate;
	s->enabled = rc->scan_rate > 0;
	return rm_scan_init(s, dm_table_device_name(rc->ti->table));
}

/*
 * Construct a remap mapping:
 *   <main_dev> <spare_dev> [<#features> <feature>...]
 */
static int remap_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct remap_base *base;
	struct remap_c *rc;
	int r;

	if (argc < 2) {
		ti->error = "Not enough arguments: need <main_dev> <spare_dev>";
		return -EINVAL;
	}
	rc = kzalloc(sizeof(*rc), GFP_KERNEL);
	if (!rc) {
		ti->error = "Cannot allocate remap context";
		return -ENOMEM;
	}
	rc->ti = ti;
	rc->retries = RM_DEFAULT_RETRIES;
	rc->good_unit = U64_MAX;
	spin_lock_init(&rc->lock);
	bio_list_init(&rc->failed);
	bio_list_init(&rc->late);
	bio_list_init(&rc->deferred);
	INIT_LIST_HEAD(&rc->requests);
	INIT_WORK(&rc->worker, remap_worker);

	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &rc->main_dev);
	if (r) {
		ti->error = "Main device lookup failed";
		goto bad;
	}
	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &rc->spare_dev);
	if (r) {
		ti->error = "Spare device lookup failed";
		goto bad;
	}
	if (rc->main_dev->bdev == rc->spare_dev->bdev) {
		ti->error = "Main and spare are the same device";
		r = -EINVAL;
		goto bad;
	}
	if (bdev_nr_sectors(rc->spare_dev->bdev) < 2 * RM4_BLOCK_SECTORS) {
		ti->error =
			"Spare device is too small for dm-remap metadata (at least 8 KiB)";
		r = -EINVAL;
		goto bad;
	}
	if (ti->len > bdev_nr_sectors(rc->main_dev->bdev)) {
		ti->error = "Target length exceeds the main device size";
		r = -EINVAL;
		goto bad;
	}
	r = parse_features(rc, &as, ti);
	if (r)
		goto bad;
	if (as.argc) {
		ti->error =
			"Too many arguments: after the devices only <#features> <feature>... may follow";
		r = -EINVAL;
		goto bad;
	}

	rc->stats = alloc_percpu(struct remap_stats);
	rc->wq = alloc_ordered_workqueue("dm-remap-%s", WQ_MEM_RECLAIM,
					 dm_table_device_name(ti->table));
	rc->txn = kzalloc(sizeof(*rc->txn), GFP_KERNEL);
	rc->probe_buf =
		kmalloc(max_t(unsigned int, SECTOR_SIZE,
			      bdev_logical_block_size(rc->main_dev->bdev)),
			GFP_KERNEL);
	if (!rc->stats || !rc->wq || !rc->txn || !rc->probe_buf) {
		ti->error = "Cannot allocate remap worker";
		r = -ENOMEM;
		goto bad;
	}
	rc->spare = spare_get(rc->spare_dev->bdev->bd_dev);
	if (!rc->spare) {
		ti->error = "Cannot allocate memory for the spare's state";
		r = -ENOMEM;
		goto bad;
	}
	r = rm_md_create(&rc->md, rc->spare_dev->bdev, &rc->spare->writes);
	if (r) {
		ti->error = "Cannot create metadata I/O client";
		goto bad;
	}
	/* Read only: the table may never be resumed, or replace a live one. */
	r = remap_read(rc, &rc->md, false, NULL, &base, &ti->error);
	if (r)
		goto bad;
	rc->layout = rc->md.sb;
	rc->unit_bytes = rc->md.sb.unit_bytes;
	rc->unit_shift = ilog2(rc->unit_bytes >> SECTOR_SHIFT);
	rc->main_sectors = rc->md.sb.main_sectors;
	rc->pool_start = rc->md.sb.pool_start;
	rc->pool_blocks = rc->md.sb.pool_blocks;
	rc->capacity = rc->md.capacity;
	rc->main_units = rm4_main_units(&rc->md.sb);
	if (lookup_publish_base(rc, base)) {
		ti->error = "Cannot allocate memory for the remap lookup";
		r = -ENOMEM;
		goto bad;
	}
	rc->loaded = true;
	publish_counts(rc);
	rc->unit_buf = vmalloc(rc->unit_bytes);
	if (!rc->unit_buf) {
		ti->error = "Cannot allocate remap buffer";
		r = -ENOMEM;
		goto bad;
	}
	r = remap_scan_setup(rc);
	if (r) {
		ti->error = "Cannot allocate the background scan";
		goto bad;
	}

	ti->num_flush_bios = 2;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct remap_bio);
	/* Deferred bios are accounted when the worker submits them. */
	ti->accounts_remapped_io = true;
	ti->private = rc;
	return 0;

bad:
	remap_destroy(ti, rc);
	return r;
}

static void remap_dtr(struct dm_target *ti)
{
	remap_destroy(ti, ti->private);
}

/* ---- Suspend and resume -------------------------------------------------- */

static void remap_presuspend(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;

	WRITE_ONCE(rc->suspending, true);
	/* The scan stops and saves its cursor while this table is live. */
	rm_scan_set_active(&rc->scan, false);
}

static void remap_presuspend_undo(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;

	WRITE_ONCE(rc->suspending, false);
	rm_scan_set_active(&rc->scan, true);
}

static void remap_resume(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;
	struct rm_scan *s = &rc->scan;

	/* The metadata may have been re-read: resume from its cursor. */
	WRITE_ONCE(s->cursor,
		   rc->resume_cursor < s->units ? rc->resume_cursor : 0);
	WRITE_ONCE(s->pass, rc->resume_pass);
	/*
	 * The table line is the configuration: scan_rate starts the scan at
	 * every resume, at its rate, whatever messages did since.
	 */
	if (rc->scan_rate) {
		WRITE_ONCE(s->rate, rc->scan_rate);
		WRITE_ONCE(s->enabled, true);
	}
	rm_scan_set_active(s, true);
}

static void remap_postsuspend(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;
	struct remap_request req = { .kind = RQ_SUSPEND };

	/*
	 * Work queued before this request finishes first; a remap message
	 * that comes after it, even one that checked `live` before the
	 * suspend, is refused: a suspended device writes no metadata.
	 */
	submit_request(rc, &req);
	flush_workqueue(rc->wq);
	set_live(rc, false);
}

static int remap_preresume(struct dm_target *ti)
{
	struct remap_c *rc = ti->private;
	struct remap_request req = { .kind = RQ_RESUME };
	bool taken;

	/* One writer per spare: a reload suspends the old table first. */
	mutex_lock(&remap_spares_lock);
	taken = !rc->live && rc->spare->live;
	if (!taken && !rc->live) {
		rc->live = true;
		rc->spare->live++;
	}
	mutex_unlock(&remap_spares_lock);
	rm_tp(RM_TP_PRERESUME, 0, false);
	if (taken) {
		DMERR("%s: the spare is in use by another live dm-remap device",
		      dm_table_device_name(ti->table));
		return -EBUSY;
	}
	/* The worker re-reads stale metadata, then takes writes. */
	submit_request(rc, &req);
	if (req.result) {
		DMERR("%s: reloading metadata: %s",
		      dm_table_device_name(ti->table),
		      req.error ?: "unknown error");
		set_live(rc, false);
		return req.result;
	}
	return 0;
}

/* ---- Status and messages ------------------------------------------------- */

static void sum_stats(struct remap_c *rc, struct remap_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		struct remap_stats *s = per_cpu_ptr(rc->stats, cpu);

		sum->reads += READ_ONCE(s->reads);
		sum->writes += READ_ONCE(s->writes);
		sum->remapped_ios += READ_ONCE(s->remapped_ios);
		sum->main_errors += READ_ONCE(s->main_errors);
		sum->spare_errors += READ_ONCE(s->spare_errors);
		sum->retries += READ_ONCE(s->retries);
	}
}

static void remap_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct remap_c *rc = ti->private;
	struct remap_stats s;
	unsigned int sz = 0;
	u64 pending;

	switch (type) {
	case STATUSTYPE_INFO:
		sum_stats(rc, &s);
		/*
		 * Stable fields: docs/dm-remap.rst, "Status". Counters the
		 * worker publishes, never its metadata (which a resume-time
		 * re-read replaces meanwhile).
		 */
		pending = READ_ONCE(rc->counts.pending);
		DMEMIT("%u %s %u %llu %llu %llu %llu %llu %llu %llu",
		       rc->layout.version_major,
		       remap_mode_names[READ_ONCE(rc->mode)], rc->unit_bytes,
		       READ_ONCE(rc->counts.seq),
		       READ_ONCE(rc->counts.remapped) + pending, rc->capacity,
		       READ_ONCE(rc->counts.pool_used), rc->pool_blocks,
		       READ_ONCE(rc->counts.bad), pending);
		DMEMIT(" %llu %llu %llu %llu %llu %llu", s.reads, s.writes,
		       s.remapped_ios, s.main_errors, s.spare_errors,
		       s.retries);
		/* The scan, fields 17 to 23. */
		DMEMIT(" %s %u %llu %llu %u %llu %llu",
		       rm_scan_state(&rc->scan), READ_ONCE(rc->scan.rate),
		       READ_ONCE(rc->scan.pass), READ_ONCE(rc->scan.cursor),
		       rm_scan_progress(&rc->scan),
		       READ_ONCE(rc->scan.found_bad),
		       READ_ONCE(rc->scan.found_weak));
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", rc->main_dev->name, rc->spare_dev->name);
		if (rc->retries_set || rc->scan_rate_set || rc->slow_ms_set)
			DMEMIT(" %u", 2 * (rc->retries_set + rc->scan_rate_set +
					   rc->slow_ms_set));
		if (rc->retries_set)
			DMEMIT(" retries %u", rc->retries);
		if (rc->scan_rate_set)
			DMEMIT(" scan_rate %u", rc->scan_rate);
		if (rc->slow_ms_set)
			DMEMIT(" slow_ms %u", rc->scan.slow_ms);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",main_device_name=%s,spare_device_name=%s,retries=%u,scan_rate=%u,slow_ms=%u;",
		       rc->main_dev->name, rc->spare_dev->name, rc->retries,
		       rc->scan_rate, rc->scan.slow_ms);
		break;
	}
}

static int parse_unit(struct remap_c *rc, const char *arg, u64 *u)
{
	if (kstrtoull(arg, 10, u) || *u >= rc->main_units) {
		DMWARN("invalid unit '%s' (expected 0 to %llu)", arg,
		       rc->main_units - 1);
		return -EINVAL;
	}
	return 0;
}

static const char *state_name(unsigned int state)
{
	return state == RM4_STATE_REMAPPED ? "remapped" : "pending";
}

/* Positions are positions in unit order, the delta's changes included. */
static int message_list(struct remap_c *rc, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	const struct rm_lookup_entry *e;
	struct remap_lookup *rl;
	struct rm_lookup_view v;
	struct rm_view_walk w, peek;
	unsigned int sz = 0;
	u64 from = 0, count = RM_LIST_MAX, i, u;

	if (argc > 3 || (argc > 1 && kstrtoull(argv[1], 10, &from)) ||
	    (argc > 2 && (kstrtoull(argv[2], 10, &count) || !count ||
			  count > RM_LIST_MAX))) {
		DMWARN("usage: list [<from> [<count>]] with count 1 to %u",
		       RM_LIST_MAX);
		return -EINVAL;
	}
	rcu_read_lock_sched();
	rl = rcu_dereference_sched(rc->lookup);
	if (!rl)
		goto out;
	lookup_view(rl, &v);
	if (!rm_view_unit_at(&v, from, &u))
		goto out;
	/* from is a position in the view, so from + count cannot wrap. */
	rm_view_walk_start(&w, &v, u);
	for (i = from; i < from + count && (e = rm_view_walk_next(&w)); i++) {
		if (e->spare == RM_LOOKUP_NO_SPARE)
			DMEMIT("%llu - %s\n", e->main,
			       state_name(rm_lookup_state(e)));
		else
			DMEMIT("%llu %u %s\n", e->main, e->spare,
			       state_name(rm_lookup_state(e)));
		if (sz + 64 >= maxlen && i + 1 < from + count) {
			/* The buffer is full: tell the caller where to go on. */
			peek = w;
			if (rm_view_walk_next(&peek))
				DMEMIT("next %llu\n", i + 1);
			break;
		}
	}
out:
	rcu_read_unlock_sched();
	return 1;
}

/*
 * The remap message hands the remap to the worker and waits for it, at most
 * RM_MESSAGE_WAIT: a remap reads the unit from main, with retries, and on a
 * failing disk that can take minutes, while dm holds the table for the
 * message (a reload would wait). Then it answers "queued": the worker
 * finishes the remap, and query, list and a dm event tell the result.
 */
static int message_remap(struct remap_c *rc, u64 u, char *result,
			 unsigned int maxlen)
{
	struct remap_request *req;
	struct rm_lookup_entry e;
	unsigned int sz = 0;
	int r;

	/* A suspended table is not the spare's writer. */
	if (!READ_ONCE(rc->live)) {
		RMWARN_LIMIT(rc,
			     "cannot remap unit %llu: the device is suspended",
			     u);
		return -EAGAIN;
	}
	rm_tp(RM_TP_MESSAGE, u, false);
	if (atomic_inc_return(&rc->queued) > RM_MAX_QUEUED) {
		atomic_dec(&rc->queued);
		DMWARN("%s: cannot remap unit %llu: %u remaps are queued already",
		       dm_table_device_name(rc->ti->table), u, RM_MAX_QUEUED);
		return -EBUSY;
	}
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req) {
		atomic_dec(&rc->queued);
		return -ENOMEM;
	}
	req->kind = RQ_REMAP;
	req->unit = u;
	req->heap = true;
	refcount_set(&req->ref, 2);
	queue_request(rc, req);
	if (wait_for_completion_killable_timeout(&req->done, RM_MESSAGE_WAIT) <=
	    0) {
		request_put(req);
		DMEMIT("queued %llu", u);
		return 1;
	}
	r = req->result;
	request_put(req);

	switch (r) {
	case 0:
		lookup_unit(rc, u, &e);
		DMEMIT("remapped %llu %u", u, e.spare);
		return 1;
	case -EEXIST:
		DMEMIT("already-remapped %llu", u);
		return 1;
	case -EBUSY:
		DMWARN("%s: unit %llu is pending: rewrite it to recover it",
		       dm_table_device_name(rc->ti->table), u);
		return -EBUSY;
	case -ENODATA:
		/* Unreadable: recorded as pending; nothing was copied. */
		DMEMIT("pending %llu", u);
		return 1;
	default:
		DMWARN("%s: cannot remap unit %llu (error %d): mode %s",
		       dm_table_device_name(rc->ti->table), u, r,
		       remap_mode_names[READ_ONCE(rc->mode)]);
		return r;
	}
}

static int message_scan(struct remap_c *rc, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	struct rm_scan *s = &rc->scan;
	unsigned int sz = 0, rate = 0;

	if (argc == 2 && !strcasecmp(argv[1], "status")) {
		DMEMIT("state=%s reason=%s rate=%u slow_ms=%u pass=%llu cursor=%llu units=%llu progress=%u bad=%llu weak=%llu last_bad=%llu last_weak=%llu",
		       rm_scan_state(s), rm_scan_halt_reason(s),
		       READ_ONCE(s->rate), READ_ONCE(s->slow_ms),
		       READ_ONCE(s->pass), READ_ONCE(s->cursor), s->units,
		       rm_scan_progress(s), READ_ONCE(s->found_bad),
		       READ_ONCE(s->found_weak), READ_ONCE(s->last_bad),
		       READ_ONCE(s->last_weak));
		return 1;
	}
	if (argc == 2 && !strcasecmp(argv[1], "stop")) {
		rm_scan_enable(s, false, 0);
		return 0;
	}
	if ((argc == 2 || argc == 3) && !strcasecmp(argv[1], "start")) {
		if (argc == 3 && (kstrtouint(argv[2], 10, &rate) || !rate ||
				  rate > RM_SCAN_MAX_RATE)) {
			DMWARN("invalid scan rate '%s' (expected 1 to %u MiB/s)",
			       argv[2], RM_SCAN_MAX_RATE);
			return -EINVAL;
		}
		rm_scan_enable(s, true, rate);
		return 0;
	}
	DMWARN("usage: scan start [<rate_mib_s>], scan stop or scan status");
	return -EINVAL;
}

static int remap_message(struct dm_target *ti, unsigned int argc, char **argv,
			 char *result, unsigned int maxlen)
{
	struct remap_c *rc = ti->private;
	struct rm_lookup_entry e;
	struct remap_stats s;
	unsigned int sz = 0;
	u64 u;
	int cpu;

	if (!argc)
		return -EINVAL;
	if (!strcasecmp(argv[0], "query") && argc == 2) {
		if (parse_unit(rc, argv[1], &u))
			return -EINVAL;
		if (!lookup_unit(rc, u, &e))
			DMEMIT("%llu ok", u);
		else if (e.spare == RM_LOOKUP_NO_SPARE)
			DMEMIT("%llu %s", u, state_name(rm_lookup_state(&e)));
		else
			DMEMIT("%llu %s %u", u, state_name(rm_lookup_state(&e)),
			       e.spare);
		return 1;
	}
	if (!strcasecmp(argv[0], "remap") && argc == 2) {
		if (parse_unit(rc, argv[1], &u))
			return -EINVAL;
		return message_remap(rc, u, result, maxlen);
	}
	if (!strcasecmp(argv[0], "list"))
		return message_list(rc, argc, argv, result, maxlen);
	if (!strcasecmp(argv[0], "scan"))
		return message_scan(rc, argc, argv, result, maxlen);
	if (!strcasecmp(argv[0], "stats") && argc == 1) {
		sum_stats(rc, &s);
		DMEMIT("reads=%llu writes=%llu remapped_ios=%llu main_errors=%llu spare_errors=%llu retries=%llu",
		       s.reads, s.writes, s.remapped_ios, s.main_errors,
		       s.spare_errors, s.retries);
		return 1;
	}
	if (!strcasecmp(argv[0], "clear_stats") && argc == 1) {
		for_each_possible_cpu(cpu)
			memset(per_cpu_ptr(rc->stats, cpu), 0,
			       sizeof(struct remap_stats));
		return 0;
	}
	DMWARN("unknown message '%s' or wrong argument count: expected query <unit>, remap <unit>, list [<from> [<count>]], stats, clear_stats or scan start|stop|status",
	       argv[0]);
	return -EINVAL;
}

static int remap_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct remap_c *rc = ti->private;
	int r;

	r = fn(ti, rc->main_dev, 0, ti->len, data);
	if (r)
		return r;
	return fn(ti, rc->spare_dev, rc->pool_start,
		  (sector_t)rc->pool_blocks << rc->unit_shift, data);
}

static void remap_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct remap_c *rc = ti->private;

	/* I/O below one unit may need a read-modify-write when remapping. */
	limits->io_min = max_t(unsigned int, limits->io_min, rc->unit_bytes);
}

static struct target_type remap_target = {
	.name = "remap",
	.version = { 1, 1, 0 },
	.features = DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = remap_ctr,
	.dtr = remap_dtr,
	.map = remap_map,
	.end_io = remap_end_io,
	.presuspend = remap_presuspend,
	.presuspend_undo = remap_presuspend_undo,
	.postsuspend = remap_postsuspend,
	.preresume = remap_preresume,
	.resume = remap_resume,
	.status = remap_status,
	.message = remap_message,
	.iterate_devices = remap_iterate_devices,
	.io_hints = remap_io_hints,
};

static int __init dm_remap_init(void)
{
	int r;

	rm_crc32c_init();
	r = rm_tp_init();
	if (r)
		return r;
	r = dm_register_target(&remap_target);
	if (r)
		rm_tp_exit();
	return r;
}

static void __exit dm_remap_exit(void)
{
	dm_unregister_target(&remap_target);
	rm_tp_exit();
	/* Old lookups freed with call_rcu() run lookup_free_rcu(): wait. */
	rcu_barrier();
}

module_init(dm_remap_init);
module_exit(dm_remap_exit);

MODULE_DESCRIPTION(DM_NAME
		   " target serving failing blocks from a spare device");
MODULE_AUTHOR("dm-remap developers");
MODULE_LICENSE("GPL");
