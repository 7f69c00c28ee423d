// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-remap metadata I/O. The format code (encode, decode, validation, CRC)
 * is the plain C in format/, shared with libremapmeta; this file only reads
 * and writes blocks and applies the commit protocol of docs/format-v4.md.
 */
#include <linux/bitmap.h>
#include <linux/device-mapper.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "dm-remap-metadata.h"
#include "dm-remap-testpoint.h"

#define DM_MSG_PREFIX "remap"

/* Table blocks read per I/O while loading: 1 MiB. */
#define RM_LOAD_CHUNK_BLOCKS 256u

static int md_io(struct rm_md *md, blk_opf_t opf, u64 blocknr,
		 unsigned int nr_blocks, void *buf, bool vmalloced)
{
	struct dm_io_region region = {
		.bdev = md->spare,
		.sector = blocknr * RM4_BLOCK_SECTORS,
		.count = (sector_t)nr_blocks * RM4_BLOCK_SECTORS,
	};
	struct dm_io_request req = {
		.bi_opf = opf,
		.mem.type = vmalloced ? DM_IO_VMA : DM_IO_KMEM,
		.client = md->io,
	};
	unsigned long error_bits = 0;
	int r;

	if (vmalloced)
		req.mem.ptr.vma = buf;
	else
		req.mem.ptr.addr = buf;
	r = rm_dm_io(&req, 1, &region, &error_bits);
	if (!r && error_bits)
		r = -EIO;
	/*
	 * Counted once it completed, failed or not (a failed write may have
	 * landed): an instance that read before this sees the count move.
	 */
	if (op_is_write(opf)) {
		atomic64_inc(md->writes);
		md->writes_seen++;
	}
	return r;
}

int rm_md_create(struct rm_md *md, struct block_device *spare,
		 atomic64_t *writes)
{
	memset(md, 0, sizeof(*md));
	md->spare = spare;
	md->writes = writes;
	md->blk_nr = U64_MAX;
	md->io = dm_io_client_create();
	if (IS_ERR(md->io)) {
		int r = PTR_ERR(md->io);

		md->io = NULL;
		return r;
	}
	md->blk = kmalloc(RM4_BLOCK_SIZE, GFP_KERNEL);
	md->io_buf = kmalloc(RM4_BLOCK_SIZE, GFP_KERNEL);
	if (!md->blk || !md->io_buf) {
		rm_md_destroy(md);
		return -ENOMEM;
	}
	return 0;
}

void rm_md_destroy(struct rm_md *md)
{
	kvfree(md->slots);
	kvfree(md->pool);
	kfree(md->blk);
	kfree(md->io_buf);
	if (md->io)
		dm_io_client_destroy(md->io);
	md->slots = NULL;
	md->pool = NULL;
	md->blk = NULL;
	md->io_buf = NULL;
	md->io = NULL;
}

static int pick_superblock(struct rm_md *md, struct rm4_superblock *sbs,
			   enum rm4_status *st, struct rm4_problem *prob,
			   char **error)
{
	int i, pick, r;

	for (i = 0; i < 2; i++) {
		r = md_io(md, REQ_OP_READ, RM4_SB_A_BLOCK + i, 1, md->io_buf,
			  false);
		if (r) {
			st[i] = RM4_E_CRC;
			prob[i].field = "unreadable";
			continue;
		}
		st[i] = rm4_sb_decode(md->io_buf, RM4_SB_A_BLOCK + i, &sbs[i],
				      &prob[i]);
	}

	if (st[0] == RM4_E_V3) {
		*error =
			"Spare holds legacy dm-remap v3 metadata: migrate it with 'remapctl migrate'";
		return -EINVAL;
	}
	if (st[0] == RM4_E_VERSION || st[1] == RM4_E_VERSION) {
		DMERR("metadata format version %llu; this module reads version %u",
		      prob[st[0] == RM4_E_VERSION ? 0 : 1].value,
		      RM4_VERSION_MAJOR);
		*error =
			"Metadata format version is not supported by this module (newer dm-remap?): upgrade dm-remap";
		return -EINVAL;
	}
	if (st[0] == RM4_E_INCOMPAT || st[1] == RM4_E_INCOMPAT) {
		*error =
			"Metadata uses incompatible features this module does not know: upgrade dm-remap";
		return -EINVAL;
	}
	pick = rm4_pick_copy(st[0], sbs[0].seq, st[1], sbs[1].seq);
	if (pick < 0) {
		if ((st[0] == RM4_E_ZERO || st[0] == RM4_E_MAGIC) &&
		    (st[1] == RM4_E_ZERO || st[1] == RM4_E_MAGIC)) {
			*error =
				"Spare device is not formatted for dm-remap: run 'remapctl format'";
			return -EINVAL;
		}
		DMERR("superblock A: %s (%s); superblock B: %s (%s)",
		      rm4_status_str(st[0]), prob[0].field,
		      rm4_status_str(st[1]), prob[1].field);
		*error =
			"Both metadata superblocks are corrupt: run 'remap-check' on the spare";
		return -EINVAL;
	}
	md->sb = sbs[pick];
	md->max_seq = md->sb.seq;
	if (st[!pick] == RM4_OK && sbs[!pick].seq > md->max_seq)
		md->max_seq = sbs[!pick].seq;
	md->sb_rewrite = st[!pick] != RM4_OK || sbs[!pick].seq != md->sb.seq ||
			 memcmp(sbs[!pick].uuid, md->sb.uuid, RM4_UUID_LEN);
	if (md->sb_rewrite)
		DMWARN("superblock %c is %s; it is rewritten from superblock %c at resume",
		       'A' + !pick,
		       st[!pick] == RM4_OK ? "stale"
					   : rm4_status_str(st[!pick]),
		       'A' + pick);
	return 0;
}

/* Reads and picks the superblock (two decoded ones do not fit the stack). */
static int load_superblock(struct rm_md *md, char **error)
{
	struct rm4_superblock *sbs;
	enum rm4_status st[2];
	struct rm4_problem prob[2];
	int r;

	sbs = kmalloc_array(2, sizeof(*sbs), GFP_KERNEL);
	if (!sbs) {
		*error = "Cannot allocate memory for the superblocks";
		return -ENOMEM;
	}
	r = pick_superblock(md, sbs, st, prob, error);
	kfree(sbs);
	return r;
}

static int check_identity(struct rm_md *md, const struct rm_md_main *main,
			  char **error)
{
	const struct rm4_superblock *sb = &md->sb;
	struct rm4_problem prob;

	if (sb->ro_compat & ~RM4_RO_COMPAT_SUPPORTED) {
		*error =
			"Metadata uses read-only features this module does not know: upgrade dm-remap";
		return -EINVAL;
	}
	if (sb->flags & RM4_SB_NEEDS_CHECK) {
		*error =
			"Metadata needs checking (needs_check is set): run 'remap-check' on the spare";
		return -EINVAL;
	}
	if (rm4_sb_check_geometry(sb, bdev_nr_sectors(md->spare), &prob)) {
		DMERR("metadata layout: field %s = %llu does not fit the spare device (%llu sectors)",
		      prob.field, prob.value,
		      (unsigned long long)bdev_nr_sectors(md->spare));
		*error =
			"Metadata layout does not fit the spare device (spare shrunk or wrong device?)";
		return -EINVAL;
	}
	if (sb->unit_bytes < bdev_logical_block_size(md->spare)) {
		*error =
			"Remap unit is smaller than the spare device's logical block size";
		return -EINVAL;
	}
	if (sb->main_sectors != main->sectors ||
	    sb->main_logical_block_size != main->logical_block_size ||
	    sb->main_physical_block_size != main->physical_block_size) {
		DMERR("fingerprint: spare was formatted for a main device of %llu sectors, %u/%u-byte blocks; this one has %llu sectors, %u/%u-byte blocks",
		      sb->main_sectors, sb->main_logical_block_size,
		      sb->main_physical_block_size,
		      (unsigned long long)main->sectors,
		      main->logical_block_size, main->physical_block_size);
		*error =
			"Spare device belongs to another main device (fingerprint mismatch)";
		return -EINVAL;
	}
	return 0;
}

/*
 * Reads count table blocks of one copy into buf. When the read fails, reads
 * them one by one, so that a bad sector costs its own block only and not
 * the blocks the other copy cannot cover either. A block that cannot be
 * read is filled with 0xff (bad magic to the checks) and its bit is set in
 * `unreadable`, so that the log says what happened.
 */
static void read_copy_chunk(struct rm_md *md, u64 blocknr, unsigned int count,
			    void *buf, unsigned long *unreadable)
{
	unsigned int i;

	bitmap_zero(unreadable, RM_LOAD_CHUNK_BLOCKS);
	if (!md_io(md, REQ_OP_READ, blocknr, count, buf, true))
		return;
	for (i = 0; i < count; i++) {
		void *blk = buf + (size_t)i * RM4_BLOCK_SIZE;

		if (md_io(md, REQ_OP_READ, blocknr + i, 1, blk, true)) {
			memset(blk, 0xff, RM4_BLOCK_SIZE);
			__set_bit(i, unreadable);
		}
	}
}

/* What a copy's check says, or that it could not be read at all. */
static const char *copy_str(enum rm4_status st, bool unreadable)
{
	return unreadable ? "unreadable (I/O error)" : rm4_status_str(st);
}

/*
 * Picks one table block from its two copies, rewrites a stale or damaged
 * copy, and collects its entries. Returns 0, or -EINVAL with *error set.
 */
static int load_table_block(struct rm_md *md, u64 k, void *a, void *b,
			    bool a_unreadable, bool b_unreadable, bool repair,
			    struct rm_lookup_entry *out, u64 *nr, char **error)
{
	const u64 blk_a = md->sb.table_a_start + k;
	const u64 blk_b = md->sb.table_b_start + k;
	const u64 first = k * RM4_ENTRIES_PER_BLOCK;
	struct rm4_problem pa, pb;
	enum rm4_status sa, sb;
	u64 other_nr;
	void *img;
	unsigned int i;
	int pick, r;

	sa = rm4_table_check(a, blk_a, first, md->sb.uuid, &pa);
	sb = rm4_table_check(b, blk_b, first, md->sb.uuid, &pb);
	pick = rm4_pick_copy(sa, sa == RM4_OK ? rm4_block_seq(a) : 0, sb,
			     sb == RM4_OK ? rm4_block_seq(b) : 0);
	if (pick < 0) {
		if (sa == RM4_E_ZERO && sb == RM4_E_ZERO)
			return 0;
		if (sb == RM4_E_ZERO && !b_unreadable) {
			/*
			 * Copy A is written first: a bad A beside a B never
			 * written is a first commit cut short, which no I/O
			 * waited for.
			 */
			DMWARN("table block %llu: copy A %s, copy B never written (a first commit was cut short); treating as empty",
			       k, copy_str(sa, a_unreadable));
			return 0;
		}
		if (sa == RM4_E_ZERO && !a_unreadable &&
		    (sb == RM4_E_MAGIC || b_unreadable)) {
			/*
			 * Damage to a block never written: B has no magic, or
			 * cannot be read (a bad region of copy B must not make
			 * every unused block fatal).
			 */
			DMWARN("table block %llu: copy A never written, copy B %s (damage to an unused block); treating as empty",
			       k, copy_str(sb, b_unreadable));
			return 0;
		}
		/*
		 * A zeroed A beside a B that was written (its magic holds) is
		 * damage to both copies of a block that held committed entries
		 * (a drive returning zeroes for a lost sector): fatal, never
		 * silently empty.
		 */
		DMERR("table block %llu: copy A %s (%s), copy B %s (%s)", k,
		      copy_str(sa, a_unreadable),
		      a_unreadable ? "read" : pa.field,
		      copy_str(sb, b_unreadable),
		      b_unreadable ? "read" : pb.field);
		*error =
			"Metadata is corrupt beyond what its two copies cover: run 'remap-check' and 'remap-repair'";
		return -EINVAL;
	}
	img = pick ? b : a;
	other_nr = pick ? blk_a : blk_b;
	if (rm4_block_seq(img) > md->max_seq)
		md->max_seq = rm4_block_seq(img);

	if (((pick ? sa : sb) != RM4_OK ||
	     rm4_block_seq(a) != rm4_block_seq(b)) &&
	    !repair) {
		md->repairs_needed++;
	} else if ((pick ? sa : sb) != RM4_OK ||
		   rm4_block_seq(a) != rm4_block_seq(b)) {
		/* Restore redundancy before new writes depend on it. */
		const enum rm4_status so = pick ? sa : sb; /* the other copy */
		const char c = pick ? 'A' : 'B';

		memcpy(md->io_buf, img, RM4_BLOCK_SIZE);
		rm4_table_prepare(md->io_buf, other_nr, first,
				  rm4_block_seq(img), md->sb.uuid);
		if (so == RM4_OK)
			DMWARN("table block %llu: copy %c is stale; rewriting it",
			       k, c);
		else if (so == RM4_E_ZERO)
			DMWARN("table block %llu: copy %c was never written (its first commit was cut); rewriting it",
			       k, c);
		else
			DMWARN("table block %llu: copy %c: %s; rewriting it", k,
			       c,
			       copy_str(so,
					pick ? a_unreadable : b_unreadable));
		r = md_io(md, REQ_OP_WRITE | REQ_FUA, other_nr, 1, md->io_buf,
			  false);
		if (r) {
			*error =
				"Cannot rewrite a damaged metadata copy: the spare device fails writes";
			return r;
		}
	}

	for (i = 0; i < RM4_ENTRIES_PER_BLOCK; i++) {
		const u64 slot = first + i;
		struct rm4_problem prob;
		struct rm4_entry e;

		if (rm4_entry_decode(img, i, &md->sb, &e, &prob)) {
			DMERR("table block %llu, slot %llu: invalid %s (%llu)",
			      k, slot, prob.field, prob.value);
			*error =
				"Metadata holds an invalid entry: run 'remap-check' on the spare";
			return -EINVAL;
		}
		if (e.state == RM4_STATE_FREE)
			continue;
		__set_bit(slot, md->slots);
		if (e.spare_block != RM4_NONE) {
			md->nr_pool_used++;
			if (__test_and_set_bit(e.spare_block, md->pool)) {
				DMERR("spare block %llu is used twice (slot %llu)",
				      e.spare_block, slot);
				*error =
					"Metadata uses one spare block twice: run 'remap-check' on the spare";
				return -EINVAL;
			}
		}
		switch (e.state) {
		case RM4_STATE_BAD_SPARE:
			md->nr_bad++;
			continue;
		case RM4_STATE_REMAPPED:
			md->nr_remapped++;
			break;
		case RM4_STATE_PENDING:
			md->nr_pending++;
			break;
		}
		out[*nr].main = e.main_block;
		out[*nr].spare = e.spare_block == RM4_NONE ? RM_LOOKUP_NO_SPARE
							   : (u32)e.spare_block;
		out[*nr].slot_state = rm_lookup_pack(slot, e.state);
		(*nr)++;
	}
	return 0;
}

/* Whether the metadata has the layout `want` (a re-read's check). */
static bool same_layout(const struct rm4_superblock *sb,
			const struct rm4_superblock *want)
{
	return !memcmp(sb->uuid, want->uuid, RM4_UUID_LEN) &&
	       sb->unit_bytes == want->unit_bytes &&
	       sb->pool_start == want->pool_start &&
	       sb->pool_blocks == want->pool_blocks &&
	       sb->table_a_start == want->table_a_start &&
	       sb->table_b_start == want->table_b_start &&
	       sb->table_blocks == want->table_blocks &&
	       sb->main_sectors == want->main_sectors;
}

int rm_md_load(struct rm_md *md, const struct rm_md_main *main, bool repair,
	       const struct rm4_superblock *layout,
	       struct rm_lookup_entry **entries, u64 *nr, char **error)
{
	DECLARE_BITMAP(bad_a, RM_LOAD_CHUNK_BLOCKS);
	DECLARE_BITMAP(bad_b, RM_LOAD_CHUNK_BLOCKS);
	struct rm_lookup_entry *out = NULL;
	void *a = NULL, *b = NULL;
	u64 k, n = 0;
	int r;

	/* Before the first read: a write by another instance after it counts. */
	md->writes_seen = atomic64_read(md->writes);
	r = load_superblock(md, error);
	if (r)
		return r;
	r = check_identity(md, main, error);
	if (r)
		return r;
	if (layout && !same_layout(&md->sb, layout)) {
		DMERR("the spare's metadata now has a unit of %u bytes, a pool of %llu blocks and a table of %llu blocks (format uuid %pU); the table was loaded with %u, %llu and %llu (%pU)",
		      md->sb.unit_bytes, md->sb.pool_blocks,
		      md->sb.table_blocks, md->sb.uuid, layout->unit_bytes,
		      layout->pool_blocks, layout->table_blocks, layout->uuid);
		*error =
			"Spare was reformatted since the table was loaded: load the table again";
		return -EINVAL;
	}
	rm_tp(RM_TP_LOAD_SB, 0, false);
	if (md->sb.pool_blocks > RM_LOOKUP_NO_SPARE ||
	    rm4_table_capacity(&md->sb) > RM_LOOKUP_SLOT_MASK) {
		*error =
			"Metadata table or pool is larger than this module supports";
		return -EINVAL;
	}

	/*
	 * Sized by what the superblock claims: too much is a refusal, not a
	 * kernel warning (kvmalloc() warns above INT_MAX bytes).
	 */
	md->capacity = rm4_table_capacity(&md->sb);
	md->slots = kvcalloc(BITS_TO_LONGS(md->capacity), sizeof(long),
			     GFP_KERNEL | __GFP_NOWARN);
	md->pool = kvcalloc(BITS_TO_LONGS(md->sb.pool_blocks) ?: 1,
			    sizeof(long), GFP_KERNEL | __GFP_NOWARN);
	out = kvmalloc_array(md->capacity, sizeof(*out),
			     GFP_KERNEL | __GFP_NOWARN);
	a = vmalloc(RM_LOAD_CHUNK_BLOCKS * RM4_BLOCK_SIZE);
	b = vmalloc(RM_LOAD_CHUNK_BLOCKS * RM4_BLOCK_SIZE);
	if (!md->slots || !md->pool || !out || !a || !b) {
		*error = "Cannot allocate memory for the remap table";
		r = -ENOMEM;
		goto out;
	}

	for (k = 0; k < md->sb.table_blocks; k += RM_LOAD_CHUNK_BLOCKS) {
		unsigned int i, count = min_t(u64, RM_LOAD_CHUNK_BLOCKS,
					      md->sb.table_blocks - k);

		/* A read error on one copy is damage the other copy covers. */
		read_copy_chunk(md, md->sb.table_a_start + k, count, a, bad_a);
		read_copy_chunk(md, md->sb.table_b_start + k, count, b, bad_b);
		rm_tp(RM_TP_LOAD_CHUNK, k / RM_LOAD_CHUNK_BLOCKS, false);
		for (i = 0; i < count; i++) {
			r = load_table_block(
				md, k + i, a + (size_t)i * RM4_BLOCK_SIZE,
				b + (size_t)i * RM4_BLOCK_SIZE,
				test_bit(i, bad_a), test_bit(i, bad_b), repair,
				out, &n, error);
			if (r)
				goto out;
		}
		cond_resched();
	}

	*entries = out;
	*nr = n;
	out = NULL;
	r = 0;
out:
	vfree(a);
	vfree(b);
	kvfree(out);
	return r;
}

int rm_md_load_finish(struct rm_md *md, bool repair, char **error)
{
	int r;

	if (!md->sb_rewrite)
		return 0;
	if (!repair) {
		md->repairs_needed++;
		return 0;
	}
	/* Restores the damaged or stale superblock copy. */
	r = rm_md_write_superblocks(md);
	if (r) {
		*error =
			"Cannot rewrite a damaged superblock copy: the spare device fails writes";
		return r;
	}
	md->sb_rewrite = false;
	return 0;
}

/* Reads table block k into md->blk, from copy A or else copy B. */
static int read_table_block(struct rm_md *md, u64 k)
{
	const u64 first = k * RM4_ENTRIES_PER_BLOCK;
	enum rm4_status st;
	int r;

	r = md_io(md, REQ_OP_READ, md->sb.table_a_start + k, 1, md->blk, false);
	st = r ? RM4_E_CRC
	       : rm4_table_check(md->blk, md->sb.table_a_start + k, first,
				 md->sb.uuid, NULL);
	if (st == RM4_OK)
		return 0;
	r = md_io(md, REQ_OP_READ, md->sb.table_b_start + k, 1, md->blk, false);
	st = r ? RM4_E_CRC
	       : rm4_table_check(md->blk, md->sb.table_b_start + k, first,
				 md->sb.uuid, NULL);
	if (st == RM4_OK)
		return 0;
	if (st == RM4_E_ZERO) {
		memset(md->blk, 0, RM4_BLOCK_SIZE);
		return 0;
	}
	return -EIO;
}

int rm_md_stage(struct rm_md *md, u64 slot, const struct rm4_entry *e)
{
	const u64 k = rm_md_slot_block(slot);
	int r;

	if (md->error)
		return md->error;
	if (md->blk_nr != k) {
		if (md->blk_dirty)
			return -EXDEV;
		md->blk_nr = U64_MAX;
		r = read_table_block(md, k);
		if (r) {
			md->error = r;
			return r;
		}
		md->blk_nr = k;
	}
	rm4_entry_encode(md->blk, slot % RM4_ENTRIES_PER_BLOCK, e);
	md->blk_dirty = true;
	return 0;
}

void rm_md_abort(struct rm_md *md)
{
	md->blk_nr = U64_MAX;
	md->blk_dirty = false;
}

int rm_md_commit(struct rm_md *md)
{
	const u64 k = md->blk_nr;
	const u64 first = k * RM4_ENTRIES_PER_BLOCK;
	const u64 seq = md->max_seq + 1;
	int r;

	if (!md->blk_dirty)
		return 0;
	if (md->error) {
		rm_md_abort(md);
		return md->error;
	}
	/*
	 * PREFLUSH makes the spare data written for these entries stable
	 * before the entries that point at it.
	 */
	rm4_table_prepare(md->blk, md->sb.table_a_start + k, first, seq,
			  md->sb.uuid);
	md->max_seq = seq;
	r = md_io(md, REQ_OP_WRITE | REQ_PREFLUSH | REQ_FUA,
		  md->sb.table_a_start + k, 1, md->blk, false);
	if (r) {
		/* Copy A may be torn: forget the cached image. */
		rm_md_abort(md);
		md->error = r;
		return r;
	}
	rm4_table_prepare(md->blk, md->sb.table_b_start + k, first, seq,
			  md->sb.uuid);
	r = md_io(md, REQ_OP_WRITE | REQ_FUA, md->sb.table_b_start + k, 1,
		  md->blk, false);
	md->blk_dirty = false;
	/* Copy A is durable: the commit holds even when B failed. */
	return r ? -EREMOTEIO : 0;
}

int rm_md_write_superblocks(struct rm_md *md)
{
	int r, i;

	md->sb.seq = ++md->max_seq;
	for (i = 0; i < 2; i++) {
		md->sb.blocknr = RM4_SB_A_BLOCK + i;
		rm4_sb_encode(&md->sb, md->io_buf);
		r = md_io(md, REQ_OP_WRITE | REQ_PREFLUSH | REQ_FUA,
			  md->sb.blocknr, 1, md->io_buf, false);
		if (r)
			return i ? -EREMOTEIO : r;
	}
	return 0;
}

u64 rm_md_alloc_slot(struct rm_md *md)
{
	unsigned long slot;

	if (md->blk_nr != U64_MAX) {
		const u64 first = md->blk_nr * RM4_ENTRIES_PER_BLOCK;

		slot = find_next_zero_bit(md->slots,
					  first + RM4_ENTRIES_PER_BLOCK, first);
		if (slot < first + RM4_ENTRIES_PER_BLOCK)
			return slot;
	}
	slot = find_next_zero_bit(md->slots, md->capacity, md->free_slot_hint);
	md->free_slot_hint = slot;
	return slot < md->capacity ? slot : U64_MAX;
}

void rm_md_take_slot(struct rm_md *md, u64 slot)
{
	__set_bit(slot, md->slots);
}

void rm_md_free_slot(struct rm_md *md, u64 slot)
{
	__clear_bit(slot, md->slots);
	if (slot < md->free_slot_hint)
		md->free_slot_hint = slot;
}

u64 rm_md_alloc_block(struct rm_md *md)
{
	const u64 n = md->sb.pool_blocks;
	unsigned long blk;

	if (!n)
		return U64_MAX;
	blk = find_next_zero_bit(md->pool, n, md->next_free_block);
	if (blk >= n)
		blk = find_first_zero_bit(md->pool, n);
	if (blk >= n)
		return U64_MAX;
	md->next_free_block = blk + 1;
	return blk;
}

void rm_md_take_block(struct rm_md *md, u64 blk)
{
	if (!__test_and_set_bit(blk, md->pool))
		md->nr_pool_used++;
}

void rm_md_free_block(struct rm_md *md, u64 blk)
{
	if (__test_and_clear_bit(blk, md->pool))
		md->nr_pool_used--;
}
