/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-remap metadata I/O: loading v4 metadata from the spare device and
 * committing changes with the A-then-B protocol of docs/format-v4.md.
 */
#ifndef DM_REMAP_METADATA_H
#define DM_REMAP_METADATA_H

#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/types.h>

#include "rm_format.h"
#include "rm_lookup.h"

struct rm_md {
	struct block_device *spare;
	struct dm_io_client *io;
	struct rm4_superblock sb;
	u64 max_seq;	      /* largest sequence number on the device */
	u64 capacity;	      /* table slots */
	unsigned long *slots; /* bitmap: slot in use */
	unsigned long *pool;  /* bitmap: pool block used or bad */
	u64 nr_remapped;
	u64 nr_pending;
	u64 nr_bad;
	u64 nr_pool_used;    /* bits set in pool */
	u64 next_free_block; /* allocation hint in the pool */
	u64 free_slot_hint;  /* no free slot below it */
	bool sb_rewrite;     /* a superblock copy is damaged or stale */
	u64 repairs_needed;  /* stale or damaged copies seen by a load */
	int error;	     /* sticky: a staged change could not be written */

	/*
	 * Metadata writes of every instance on this spare, counted after each
	 * write completes (shared, see struct remap_spare), and the count as
	 * of this instance's load plus its own writes since: when they differ,
	 * another instance wrote, and what this one read is stale.
	 */
	atomic64_t *writes;
	s64 writes_seen;

	/* Commit staging: one table block at a time. */
	void *blk;  /* 4 KiB image of table block `blk_nr` */
	u64 blk_nr; /* U64_MAX: no block staged */
	bool blk_dirty;
	void *io_buf; /* 4 KiB scratch for superblock and block reads */
};

/* Everything rm_md_load() learns about the main device it must match. */
struct rm_md_main {
	sector_t sectors;
	unsigned int logical_block_size;
	unsigned int physical_block_size;
};

int rm_md_create(struct rm_md *md, struct block_device *spare,
		 atomic64_t *writes);
void rm_md_destroy(struct rm_md *md);

/*
 * Reads and validates the metadata; with `layout`, refuses metadata of
 * another format or layout (a re-read). On success returns the remapped and
 * pending entries, in table order, in *entries (kvfree() it) and their
 * number in *nr; the caller checks that no main unit appears twice (see
 * rm_lookup_build()) and then calls rm_md_load_finish(). On failure sets
 * *error to a sentence for ti->error. With `repair`, rewrites stale or
 * damaged copies of table blocks from the good ones; without, only counts
 * them in md->repairs_needed and writes nothing.
 */
int rm_md_load(struct rm_md *md, const struct rm_md_main *main, bool repair,
	       const struct rm4_superblock *layout,
	       struct rm_lookup_entry **entries, u64 *nr, char **error);
/*
 * Ends a load whose entries the caller accepted: rewrites a damaged or
 * stale superblock copy from the good one (with `repair`), or counts it in
 * md->repairs_needed.
 */
int rm_md_load_finish(struct rm_md *md, bool repair, char **error);

/*
 * Stages entry `slot` in its table block. A commit holds one block: when
 * another block has staged changes, returns -EXDEV and stages nothing (the
 * caller commits first).
 */
int rm_md_stage(struct rm_md *md, u64 slot, const struct rm4_entry *e);
/* The table block `slot` lies in. */
static inline u64 rm_md_slot_block(u64 slot)
{
	return slot / RM4_ENTRIES_PER_BLOCK;
}
/*
 * Commits the staged block: copy A with PREFLUSH|FUA, then copy B with FUA.
 * Returns 0 (also when nothing is staged); -EREMOTEIO when every change is
 * durable on copy A but the copy B write failed (redundancy lost); another
 * error when the changes may or may not be durable (then every later stage
 * and commit fails too).
 */
int rm_md_commit(struct rm_md *md);
/* Whether a block holds staged changes. */
static inline bool rm_md_staged(const struct rm_md *md)
{
	return md->blk_dirty;
}
/* Forgets the staged changes: the next stage reads the block from disk. */
void rm_md_abort(struct rm_md *md);
/* Writes both superblocks from md->sb (A, then B). */
int rm_md_write_superblocks(struct rm_md *md);

/*
 * Slot and pool allocation; both return U64_MAX when none is free, and
 * neither takes what it returns. A slot of the staged block comes first, so
 * that the changes of one I/O share a commit.
 */
u64 rm_md_alloc_slot(struct rm_md *md);
u64 rm_md_alloc_block(struct rm_md *md);
void rm_md_take_slot(struct rm_md *md, u64 slot);
void rm_md_free_slot(struct rm_md *md, u64 slot);
void rm_md_take_block(struct rm_md *md, u64 blk);
void rm_md_free_block(struct rm_md *md, u64 blk);
/* Whether another instance wrote the metadata since this one read it. */
static inline bool rm_md_stale(const struct rm_md *md)
{
	return atomic64_read(md->writes) != md->writes_seen;
}

static inline sector_t rm_md_unit_sectors(const struct rm_md *md)
{
	return md->sb.unit_bytes >> SECTOR_SHIFT;
}

#endif /* DM_REMAP_METADATA_H */
