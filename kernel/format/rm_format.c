// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * dm-remap on-disk metadata, format v4: encode, decode and validation.
 *
 * Plain C with no kernel calls: the kernel module and libremapmeta both
 * compile this file.
 */
#include "rm_format.h"

#ifdef __KERNEL__
#include <linux/string.h>
#include <asm/byteorder.h>
#define rm_cpu_to_le16(x) cpu_to_le16(x)
#define rm_cpu_to_le32(x) cpu_to_le32(x)
#define rm_cpu_to_le64(x) cpu_to_le64(x)
#define rm_le16_to_cpu(x) le16_to_cpu(x)
#define rm_le32_to_cpu(x) le32_to_cpu(x)
#define rm_le64_to_cpu(x) le64_to_cpu(x)
#else
#include <string.h>
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define rm_cpu_to_le16(x) ((u16)(x))
#define rm_cpu_to_le32(x) ((u32)(x))
#define rm_cpu_to_le64(x) ((u64)(x))
#else
#define rm_cpu_to_le16(x) __builtin_bswap16(x)
#define rm_cpu_to_le32(x) __builtin_bswap32(x)
#define rm_cpu_to_le64(x) __builtin_bswap64(x)
#endif
#define rm_le16_to_cpu(x) rm_cpu_to_le16(x)
#define rm_le32_to_cpu(x) rm_cpu_to_le32(x)
#define rm_le64_to_cpu(x) rm_cpu_to_le64(x)
#endif

const char *rm4_status_str(enum rm4_status status)
{
	switch (status) {
	case RM4_OK:
		return "ok";
	case RM4_E_ZERO:
		return "block is zeroed (never written)";
	case RM4_E_MAGIC:
		return "bad magic (not dm-remap v4 metadata)";
	case RM4_E_CRC:
		return "checksum mismatch (torn or corrupt block)";
	case RM4_E_TYPE:
		return "wrong block type";
	case RM4_E_BLOCKNR:
		return "block records another location";
	case RM4_E_UUID:
		return "block belongs to another format (UUID mismatch)";
	case RM4_E_VERSION:
		return "format version is newer than this software supports";
	case RM4_E_INCOMPAT:
		return "unknown incompatible feature";
	case RM4_E_FIELD:
		return "invalid field value";
	case RM4_E_GEOMETRY:
		return "invalid layout";
	case RM4_E_V3:
		return "legacy v3 metadata";
	}
	return "unknown status";
}

static enum rm4_status problem(struct rm4_problem *prob, enum rm4_status s,
			       const char *field, u64 value)
{
	if (prob) {
		prob->status = s;
		prob->field = field;
		prob->value = value;
	}
	return s;
}

int rm4_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static int is_pow2(u64 v)
{
	return v && !(v & (v - 1));
}

/* CRC of `len` bytes at `buf` with the 4-byte crc field at offset 8 as 0. */
static u32 block_crc(const void *buf, size_t len)
{
	static const u8 zero_crc[4];
	const u8 *p = buf;
	u32 crc = RM_CRC32C_INIT;

	crc = rm_crc32c(crc, p, offsetof(struct rm4_disk_header, crc));
	crc = rm_crc32c(crc, zero_crc, sizeof(zero_crc));
	crc = rm_crc32c(crc, p + offsetof(struct rm4_disk_header, type),
			len - offsetof(struct rm4_disk_header, type));
	return rm_crc32c_final(crc);
}

/* Checks what every block has: zero, magic, CRC, type, location. */
static enum rm4_status header_check(const void *buf, size_t checked_len,
				    u16 type, u64 blocknr,
				    struct rm4_problem *prob)
{
	const struct rm4_disk_header *h = buf;

	if (rm4_is_zero(buf, RM4_BLOCK_SIZE))
		return problem(prob, RM4_E_ZERO, "block", blocknr);
	if (memcmp(h->magic, RM4_MAGIC, RM4_MAGIC_LEN)) {
		if (!memcmp(h->magic, RM3_MAGIC, RM4_MAGIC_LEN))
			return problem(prob, RM4_E_V3, "magic", 0);
		return problem(prob, RM4_E_MAGIC, "magic", 0);
	}
	if (rm_le32_to_cpu(h->crc) != block_crc(buf, checked_len))
		return problem(prob, RM4_E_CRC, "crc", rm_le32_to_cpu(h->crc));
	if (rm_le16_to_cpu(h->type) != type)
		return problem(prob, RM4_E_TYPE, "type",
			       rm_le16_to_cpu(h->type));
	if (rm_le64_to_cpu(h->blocknr) != blocknr)
		return problem(prob, RM4_E_BLOCKNR, "blocknr",
			       rm_le64_to_cpu(h->blocknr));
	if (rm_le64_to_cpu(h->seq) >= RM4_SEQ_LIMIT)
		return problem(prob, RM4_E_FIELD, "seq",
			       rm_le64_to_cpu(h->seq));
	return RM4_OK;
}

static void header_encode(void *buf, u16 type, u64 blocknr, u64 seq,
			  const u8 *uuid)
{
	struct rm4_disk_header *h = buf;

	memcpy(h->magic, RM4_MAGIC, RM4_MAGIC_LEN);
	h->crc = 0;
	h->type = rm_cpu_to_le16(type);
	h->reserved0 = 0;
	h->blocknr = rm_cpu_to_le64(blocknr);
	h->seq = rm_cpu_to_le64(seq);
	memcpy(h->uuid, uuid, RM4_UUID_LEN);
}

u64 rm4_block_seq(const void *buf)
{
	const struct rm4_disk_header *h = buf;

	return rm_le64_to_cpu(h->seq);
}

static void copy_string(char *dst, const u8 *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int string_is_clean(const u8 *s, size_t len)
{
	size_t i;
	int ended = 0;

	/* Printable ASCII, then only NUL padding. */
	for (i = 0; i < len; i++) {
		if (!s[i])
			ended = 1;
		else if (ended || s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

enum rm4_status rm4_sb_decode(const void *buf, u64 blocknr,
			      struct rm4_superblock *sb,
			      struct rm4_problem *prob)
{
	const struct rm4_disk_superblock *d = buf;
	enum rm4_status s;

	s = header_check(buf, RM4_SB_CHECKED_BYTES, RM4_TYPE_SUPERBLOCK,
			 blocknr, prob);
	if (s != RM4_OK)
		return s;

	memset(sb, 0, sizeof(*sb));
	sb->blocknr = blocknr;
	sb->seq = rm_le64_to_cpu(d->hdr.seq);
	memcpy(sb->uuid, d->hdr.uuid, RM4_UUID_LEN);
	sb->version_major = rm_le32_to_cpu(d->version_major);
	sb->version_minor = rm_le32_to_cpu(d->version_minor);
	sb->incompat = rm_le32_to_cpu(d->incompat);
	sb->ro_compat = rm_le32_to_cpu(d->ro_compat);
	sb->compat = rm_le32_to_cpu(d->compat);
	sb->flags = rm_le32_to_cpu(d->flags);
	sb->unit_bytes = rm_le32_to_cpu(d->unit_bytes);
	sb->spare_sectors = rm_le64_to_cpu(d->spare_sectors);
	sb->pool_start = rm_le64_to_cpu(d->pool_start);
	sb->pool_blocks = rm_le64_to_cpu(d->pool_blocks);
	sb->table_a_start = rm_le64_to_cpu(d->table_a_start);
	sb->table_b_start = rm_le64_to_cpu(d->table_b_start);
	sb->table_blocks = rm_le64_to_cpu(d->table_blocks);
	sb->format_time = rm_le64_to_cpu(d->format_time);
	sb->main_sectors = rm_le64_to_cpu(d->main_sectors);
	sb->main_logical_block_size =
		rm_le32_to_cpu(d->main_logical_block_size);
	sb->main_physical_block_size =
		rm_le32_to_cpu(d->main_physical_block_size);
	copy_string(sb->main_identity, d->main_identity, RM4_IDENTITY_LEN);
	sb->scan_cursor = rm_le64_to_cpu(d->scan_cursor);
	sb->scan_pass = rm_le64_to_cpu(d->scan_pass);
	copy_string(sb->creator, d->creator, RM4_CREATOR_LEN);

	if (sb->version_major != RM4_VERSION_MAJOR)
		return problem(prob, RM4_E_VERSION, "version_major",
			       sb->version_major);
	if (sb->incompat & ~RM4_INCOMPAT_SUPPORTED)
		return problem(prob, RM4_E_INCOMPAT, "incompat",
			       sb->incompat & ~RM4_INCOMPAT_SUPPORTED);
	if (rm4_is_zero(sb->uuid, RM4_UUID_LEN))
		return problem(prob, RM4_E_FIELD, "uuid", 0);
	if (sb->flags & ~RM4_SB_KNOWN_FLAGS)
		return problem(prob, RM4_E_FIELD, "flags", sb->flags);
	if (!is_pow2(sb->unit_bytes) || sb->unit_bytes < RM4_UNIT_MIN ||
	    sb->unit_bytes > RM4_UNIT_MAX)
		return problem(prob, RM4_E_FIELD, "unit_bytes", sb->unit_bytes);
	if (!sb->main_sectors || sb->main_sectors > RM4_MAX_SECTORS)
		return problem(prob, RM4_E_FIELD, "main_sectors",
			       sb->main_sectors);
	if (sb->spare_sectors > RM4_MAX_SECTORS)
		return problem(prob, RM4_E_FIELD, "spare_sectors",
			       sb->spare_sectors);
	if (!is_pow2(sb->main_logical_block_size) ||
	    sb->main_logical_block_size < 512 ||
	    sb->main_logical_block_size > RM4_UNIT_MAX)
		return problem(prob, RM4_E_FIELD, "main_logical_block_size",
			       sb->main_logical_block_size);
	if (!is_pow2(sb->main_physical_block_size) ||
	    sb->main_physical_block_size < sb->main_logical_block_size ||
	    sb->main_physical_block_size > RM4_UNIT_MAX)
		return problem(prob, RM4_E_FIELD, "main_physical_block_size",
			       sb->main_physical_block_size);
	if (sb->unit_bytes < sb->main_logical_block_size)
		return problem(prob, RM4_E_FIELD, "unit_bytes", sb->unit_bytes);
	if (!string_is_clean(d->main_identity, RM4_IDENTITY_LEN))
		return problem(prob, RM4_E_FIELD, "main_identity", 0);
	if (!string_is_clean(d->creator, RM4_CREATOR_LEN))
		return problem(prob, RM4_E_FIELD, "creator", 0);
	if (d->hdr.reserved0 || d->reserved1 ||
	    !rm4_is_zero(d->reserved2, sizeof(d->reserved2)))
		return problem(prob, RM4_E_FIELD, "reserved", 0);
	/* Only the first sector is content; the rest of the block is zero. */
	if (!rm4_is_zero((const u8 *)buf + RM4_SB_CHECKED_BYTES,
			 RM4_BLOCK_SIZE - RM4_SB_CHECKED_BYTES))
		return problem(prob, RM4_E_FIELD, "padding", 0);
	/* Unknown ro_compat bits: callers allow read-only use only. */
	return RM4_OK;
}

static void put_string(u8 *dst, const char *src, size_t len)
{
	size_t n = 0;

	memset(dst, 0, len);
	while (n < len && src[n]) {
		dst[n] = (u8)src[n];
		n++;
	}
}

void rm4_sb_encode(const struct rm4_superblock *sb, void *buf)
{
	struct rm4_disk_superblock *d = buf;

	memset(buf, 0, RM4_BLOCK_SIZE);
	header_encode(buf, RM4_TYPE_SUPERBLOCK, sb->blocknr, sb->seq, sb->uuid);
	d->version_major = rm_cpu_to_le32(sb->version_major);
	d->version_minor = rm_cpu_to_le32(sb->version_minor);
	d->incompat = rm_cpu_to_le32(sb->incompat);
	d->ro_compat = rm_cpu_to_le32(sb->ro_compat);
	d->compat = rm_cpu_to_le32(sb->compat);
	d->flags = rm_cpu_to_le32(sb->flags);
	d->unit_bytes = rm_cpu_to_le32(sb->unit_bytes);
	d->spare_sectors = rm_cpu_to_le64(sb->spare_sectors);
	d->pool_start = rm_cpu_to_le64(sb->pool_start);
	d->pool_blocks = rm_cpu_to_le64(sb->pool_blocks);
	d->table_a_start = rm_cpu_to_le64(sb->table_a_start);
	d->table_b_start = rm_cpu_to_le64(sb->table_b_start);
	d->table_blocks = rm_cpu_to_le64(sb->table_blocks);
	d->format_time = rm_cpu_to_le64(sb->format_time);
	d->main_sectors = rm_cpu_to_le64(sb->main_sectors);
	d->main_logical_block_size =
		rm_cpu_to_le32(sb->main_logical_block_size);
	d->main_physical_block_size =
		rm_cpu_to_le32(sb->main_physical_block_size);
	put_string(d->main_identity, sb->main_identity, RM4_IDENTITY_LEN);
	d->scan_cursor = rm_cpu_to_le64(sb->scan_cursor);
	d->scan_pass = rm_cpu_to_le64(sb->scan_pass);
	put_string(d->creator, sb->creator, RM4_CREATOR_LEN);
	d->hdr.crc = rm_cpu_to_le32(block_crc(buf, RM4_SB_CHECKED_BYTES));
}

/* Half-open ranges [a, a + alen) and [b, b + blen) in sectors overlap. */
static int overlaps(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

enum rm4_status rm4_sb_check_geometry(const struct rm4_superblock *sb,
				      u64 spare_sectors,
				      struct rm4_problem *prob)
{
	const u64 unit_sectors = sb->unit_bytes >> 9;
	u64 max_blocks, pool_sectors, ta, tb, tlen;

	if (!is_pow2(sb->unit_bytes) || sb->unit_bytes < RM4_UNIT_MIN ||
	    sb->unit_bytes > RM4_UNIT_MAX)
		return problem(prob, RM4_E_FIELD, "unit_bytes", sb->unit_bytes);
	/*
	 * The regions must lie within the size recorded at format time, and
	 * the device must still be at least that large.
	 */
	if (sb->spare_sectors > spare_sectors)
		return problem(prob, RM4_E_GEOMETRY, "spare_sectors",
			       sb->spare_sectors);
	spare_sectors = sb->spare_sectors;
	max_blocks = spare_sectors / RM4_BLOCK_SECTORS;
	if (!sb->table_blocks || sb->table_blocks > max_blocks)
		return problem(prob, RM4_E_GEOMETRY, "table_blocks",
			       sb->table_blocks);
	if (sb->table_a_start > max_blocks - sb->table_blocks ||
	    sb->table_a_start < RM4_SB_B_BLOCK + 1)
		return problem(prob, RM4_E_GEOMETRY, "table_a_start",
			       sb->table_a_start);
	if (sb->table_b_start > max_blocks - sb->table_blocks ||
	    sb->table_b_start < RM4_SB_B_BLOCK + 1)
		return problem(prob, RM4_E_GEOMETRY, "table_b_start",
			       sb->table_b_start);
	ta = sb->table_a_start * RM4_BLOCK_SECTORS;
	tb = sb->table_b_start * RM4_BLOCK_SECTORS;
	tlen = sb->table_blocks * RM4_BLOCK_SECTORS;
	if (overlaps(ta, tlen, tb, tlen))
		return problem(prob, RM4_E_GEOMETRY, "table_b_start",
			       sb->table_b_start);
	if (sb->pool_blocks > spare_sectors / unit_sectors)
		return problem(prob, RM4_E_GEOMETRY, "pool_blocks",
			       sb->pool_blocks);
	pool_sectors = sb->pool_blocks * unit_sectors;
	if (sb->pool_start > spare_sectors - pool_sectors)
		return problem(prob, RM4_E_GEOMETRY, "pool_start",
			       sb->pool_start);
	if (sb->pool_blocks &&
	    (overlaps(sb->pool_start, pool_sectors, 0,
		      (RM4_SB_B_BLOCK + 1) * RM4_BLOCK_SECTORS) ||
	     overlaps(sb->pool_start, pool_sectors, ta, tlen) ||
	     overlaps(sb->pool_start, pool_sectors, tb, tlen)))
		return problem(prob, RM4_E_GEOMETRY, "pool_start",
			       sb->pool_start);
	/* At least one entry per spare block. */
	if (rm4_table_capacity(sb) < sb->pool_blocks)
		return problem(prob, RM4_E_GEOMETRY, "table_blocks",
			       sb->table_blocks);
	return RM4_OK;
}

u64 rm4_main_units(const struct rm4_superblock *sb)
{
	const u64 unit_sectors = sb->unit_bytes >> 9;

	if (!unit_sectors)
		return 0;
	return sb->main_sectors / unit_sectors +
	       !!(sb->main_sectors % unit_sectors);
}

enum rm4_status rm4_table_check(const void *buf, u64 blocknr, u64 first_slot,
				const u8 *uuid, struct rm4_problem *prob)
{
	const struct rm4_disk_table_block *d = buf;
	enum rm4_status s;
	unsigned int i, used = 0;

	s = header_check(buf, RM4_BLOCK_SIZE, RM4_TYPE_TABLE, blocknr, prob);
	if (s != RM4_OK)
		return s;
	if (memcmp(d->hdr.uuid, uuid, RM4_UUID_LEN))
		return problem(prob, RM4_E_UUID, "uuid", 0);
	if (rm_le64_to_cpu(d->first_slot) != first_slot)
		return problem(prob, RM4_E_FIELD, "first_slot",
			       rm_le64_to_cpu(d->first_slot));
	if (d->hdr.reserved0 || d->reserved)
		return problem(prob, RM4_E_FIELD, "reserved", 0);
	for (i = 0; i < RM4_ENTRIES_PER_BLOCK; i++)
		used += d->entries[i].state != RM4_STATE_FREE;
	if (rm_le32_to_cpu(d->used) != used)
		return problem(prob, RM4_E_FIELD, "used",
			       rm_le32_to_cpu(d->used));
	return RM4_OK;
}

enum rm4_status rm4_entry_decode(const void *buf, unsigned int i,
				 const struct rm4_superblock *sb,
				 struct rm4_entry *e, struct rm4_problem *prob)
{
	const struct rm4_disk_table_block *d = buf;
	const struct rm4_disk_entry *de = &d->entries[i];
	int has_main, has_spare;

	e->main_block = rm_le64_to_cpu(de->main_block);
	e->spare_block = rm_le64_to_cpu(de->spare_block);
	e->event_time = rm_le64_to_cpu(de->event_time);
	e->error_count = rm_le32_to_cpu(de->error_count);
	e->state = de->state;
	e->flags = de->flags;

	if (e->state == RM4_STATE_FREE) {
		if (!rm4_is_zero(de, sizeof(*de)))
			return problem(prob, RM4_E_FIELD, "free_entry", 0);
		return RM4_OK;
	}
	if (e->state > RM4_STATE_MAX)
		return problem(prob, RM4_E_FIELD, "state", e->state);
	if (e->flags & ~RM4_ENTRY_KNOWN_FLAGS)
		return problem(prob, RM4_E_FIELD, "flags", e->flags);
	if (de->reserved)
		return problem(prob, RM4_E_FIELD, "reserved", 0);

	has_main = e->main_block != RM4_NONE;
	has_spare = e->spare_block != RM4_NONE;
	if (has_main && e->main_block >= rm4_main_units(sb))
		return problem(prob, RM4_E_FIELD, "main_block", e->main_block);
	if (has_spare && e->spare_block >= sb->pool_blocks)
		return problem(prob, RM4_E_FIELD, "spare_block",
			       e->spare_block);
	switch (e->state) {
	case RM4_STATE_REMAPPED:
		if (!has_main)
			return problem(prob, RM4_E_FIELD, "main_block",
				       e->main_block);
		if (!has_spare)
			return problem(prob, RM4_E_FIELD, "spare_block",
				       e->spare_block);
		break;
	case RM4_STATE_PENDING:
		if (!has_main)
			return problem(prob, RM4_E_FIELD, "main_block",
				       e->main_block);
		break;
	case RM4_STATE_BAD_SPARE:
		if (has_main)
			return problem(prob, RM4_E_FIELD, "main_block",
				       e->main_block);
		if (!has_spare)
			return problem(prob, RM4_E_FIELD, "spare_block",
				       e->spare_block);
		break;
	}
	return RM4_OK;
}

void rm4_entry_encode(void *buf, unsigned int i, const struct rm4_entry *e)
{
	struct rm4_disk_table_block *d = buf;
	struct rm4_disk_entry *de = &d->entries[i];

	memset(de, 0, sizeof(*de));
	if (e->state == RM4_STATE_FREE)
		return;
	de->main_block = rm_cpu_to_le64(e->main_block);
	de->spare_block = rm_cpu_to_le64(e->spare_block);
	de->event_time = rm_cpu_to_le64(e->event_time);
	de->error_count = rm_cpu_to_le32(e->error_count);
	de->state = e->state;
	de->flags = e->flags;
}

void rm4_table_prepare(void *buf, u64 blocknr, u64 first_slot, u64 seq,
		       const u8 *uuid)
{
	struct rm4_disk_table_block *d = buf;
	unsigned int i, used = 0;

	header_encode(buf, RM4_TYPE_TABLE, blocknr, seq, uuid);
	d->first_slot = rm_cpu_to_le64(first_slot);
	for (i = 0; i < RM4_ENTRIES_PER_BLOCK; i++)
		used += d->entries[i].state != RM4_STATE_FREE;
	d->used = rm_cpu_to_le32(used);
	d->reserved = 0;
	d->hdr.crc = rm_cpu_to_le32(block_crc(buf, RM4_BLOCK_SIZE));
}

int rm4_pick_copy(enum rm4_status a, u64 seq_a, enum rm4_status b, u64 seq_b)
{
	if (a == RM4_OK && b == RM4_OK)
		return seq_b > seq_a ? 1 : 0;
	if (a == RM4_OK)
		return 0;
	if (b == RM4_OK)
		return 1;
	return -1;
}
