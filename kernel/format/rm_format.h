/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * dm-remap on-disk metadata, format v4.
 *
 * This header is the single definition of the format. It is plain C and is
 * compiled both by the kernel module (kernel/) and by libremapmeta, so the
 * userspace tests, fuzzers and benchmarks exercise the code the kernel runs.
 * docs/format-v4.md describes the layout and the commit protocol; a unit
 * test checks that its tables match the offsets asserted below.
 *
 * All on-disk integers are little-endian. Metadata lives on the spare device
 * in 4 KiB metadata blocks; a block number is its byte offset / 4096.
 */
#ifndef DM_REMAP_RM_FORMAT_H
#define DM_REMAP_RM_FORMAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/build_bug.h>
#include <linux/compiler_attributes.h>
#define RM_STATIC_ASSERT(expr, msg) static_assert(expr, msg)
#else
#include <stddef.h>
#include <linux/types.h>
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#ifdef __cplusplus
#define RM_STATIC_ASSERT(expr, msg) static_assert(expr, msg)
#else
#define RM_STATIC_ASSERT(expr, msg) _Static_assert(expr, msg)
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Constants -------------------------------------------------------- */

#define RM4_MAGIC "DMREMAP4" /* 8 bytes at offset 0 of every block */
#define RM4_MAGIC_LEN 8
#define RM3_MAGIC "DMREMAP3" /* legacy v3 header, for format detection */

#define RM4_VERSION_MAJOR 4 /* readers refuse a newer major version */
#define RM4_VERSION_MINOR 0 /* additive changes; informational */

#define RM4_BLOCK_SIZE 4096u /* metadata block size, fixed */
#define RM4_BLOCK_SECTORS (RM4_BLOCK_SIZE >> 9)
#define RM4_SB_CHECKED_BYTES 512u /* superblock content and CRC range */

#define RM4_SB_A_BLOCK 0ull /* superblock copy A */
#define RM4_SB_B_BLOCK 1ull /* superblock copy B */

#define RM4_UNIT_MIN 512u /* remap unit: power of two in [512, 64 KiB] */
#define RM4_UNIT_MAX 65536u
#define RM4_UNIT_DEFAULT_MIN 4096u /* format default: max(main pbs, 4 KiB) */

#define RM4_MAX_SECTORS (1ull << 55) /* 2^64 bytes: no device is larger */
/*
 * Sequence numbers stay below 2^62: at a billion commits a second a writer
 * needs a century to get there, so a larger one is corruption, and refusing
 * it keeps max_seq + 1 from wrapping to a value that looks older.
 */
#define RM4_SEQ_LIMIT (1ull << 62)

#define RM4_UUID_LEN 16
#define RM4_IDENTITY_LEN 128 /* main device identity (WWN, serial, model) */
#define RM4_CREATOR_LEN 16

#define RM4_NONE ((__u64)~0ull) /* "no block" in an entry */

enum rm4_block_type {
	RM4_TYPE_SUPERBLOCK = 1,
	RM4_TYPE_TABLE = 2,
};

/* Superblock flags (rm4_disk_superblock.flags). */
#define RM4_SB_NEEDS_CHECK (1u << 0) /* metadata trouble: run remap-check */
#define RM4_SB_KNOWN_FLAGS (RM4_SB_NEEDS_CHECK)

/*
 * Feature bits, as in ext4: an unknown incompat bit makes a reader refuse
 * the device; an unknown ro_compat bit allows read-only use only; unknown
 * compat bits are ignored.
 */
#define RM4_INCOMPAT_SUPPORTED 0u
#define RM4_RO_COMPAT_SUPPORTED 0u

/* Entry states (rm4_disk_entry.state). */
enum rm4_entry_state {
	RM4_STATE_FREE = 0,	/* slot unused; all fields zero */
	RM4_STATE_REMAPPED = 1, /* main_block is served by spare_block */
	/* main_block read failed; contents lost until it is rewritten;
	 * spare_block may be RM4_NONE
	 */
	RM4_STATE_PENDING = 2,
	RM4_STATE_BAD_SPARE = 3, /* spare_block failed itself; never reused */
	RM4_STATE_MAX = RM4_STATE_BAD_SPARE,
};

/* Entry flags (rm4_disk_entry.flags). */
#define RM4_ENTRY_PROACTIVE (1u << 0) /* remapped while still readable */
#define RM4_ENTRY_MIGRATED (1u << 1)  /* created by the v3 migration */
#define RM4_ENTRY_KNOWN_FLAGS (RM4_ENTRY_PROACTIVE | RM4_ENTRY_MIGRATED)

/* ---- On-disk structures ------------------------------------------------ */

/* The first 48 bytes of every metadata block. */
struct rm4_disk_header {
	__u8 magic[RM4_MAGIC_LEN]; /*  0: "DMREMAP4" */
	__le32 crc;	  /*  8: CRC32C of the checked range, this field 0 */
	__le16 type;	  /* 12: enum rm4_block_type */
	__le16 reserved0; /* 14: zero */
	__le64 blocknr;	  /* 16: this block's own location */
	__le64 seq;	  /* 24: commit sequence number of this write */
	__u8 uuid[RM4_UUID_LEN]; /* 32: format UUID of the block's format */
} __packed;

/*
 * Superblock: blocks 0 (copy A) and 1 (copy B). Only the first 512 bytes
 * carry content and are covered by the CRC, so that a superblock update is a
 * single-sector write, atomic even on 512-byte-sector devices; the rest of
 * the 4 KiB block is zero.
 */
struct rm4_disk_superblock {
	struct rm4_disk_header hdr; /*   0 */
	__le32 version_major;	    /*  48 */
	__le32 version_minor;	    /*  52 */
	__le32 incompat;	    /*  56 */
	__le32 ro_compat;	    /*  60 */
	__le32 compat;		    /*  64 */
	__le32 flags;		    /*  68: RM4_SB_* */
	__le32 unit_bytes;	    /*  72: remap unit in bytes */
	__le32 reserved1;	    /*  76: zero */
	__le64 spare_sectors;	    /*  80: spare size at format time */
	__le64 pool_start;	    /*  88: first sector of the spare pool */
	__le64 pool_blocks;	    /*  96: units in the pool */
	__le64 table_a_start;	    /* 104: first block of table copy A */
	__le64 table_b_start;	    /* 112: first block of table copy B */
	__le64 table_blocks;	    /* 120: blocks per table copy */
	__le64 format_time;	    /* 128: Unix seconds */
	__le64 main_sectors;	    /* 136: fingerprint: main size */
	__le32 main_logical_block_size;	      /* 144: fingerprint */
	__le32 main_physical_block_size;      /* 148: fingerprint */
	__u8 main_identity[RM4_IDENTITY_LEN]; /* 152: fingerprint, NUL-padded */
	__le64 scan_cursor; /* 280: background scan position, units */
	__le64 scan_pass;   /* 288: completed scan passes */
	__u8 creator[RM4_CREATOR_LEN]; /* 296: writer, e.g. "remapctl 0.1" */
	__u8 reserved2[200];	       /* 312: zero */
} __packed;

/* One remap table entry, 32 bytes. */
struct rm4_disk_entry {
	__le64 main_block;  /*  0: unit index on main, or RM4_NONE */
	__le64 spare_block; /*  8: unit index in the pool, or RM4_NONE */
	__le64 event_time;  /* 16: Unix seconds of the last state change */
	__le32 error_count; /* 24: errors seen on this unit */
	__u8 state;	    /* 28: enum rm4_entry_state */
	__u8 flags;	    /* 29: RM4_ENTRY_* */
	__le16 reserved;    /* 30: zero */
} __packed;

#define RM4_TABLE_HEADER_BYTES 64u
#define RM4_ENTRIES_PER_BLOCK                                                  \
	((RM4_BLOCK_SIZE - RM4_TABLE_HEADER_BYTES) /                           \
	 sizeof(struct rm4_disk_entry))

/* Table block: a fixed slice of the entry array, CRC over all 4096 bytes. */
struct rm4_disk_table_block {
	struct rm4_disk_header hdr; /*  0 */
	__le64 first_slot;	    /* 48: index of entries[0] in the table */
	__le32 used;		    /* 56: entries in this block not FREE */
	__le32 reserved;	    /* 60: zero */
	struct rm4_disk_entry entries[126]; /* 64 */
} __packed;

RM_STATIC_ASSERT(sizeof(struct rm4_disk_header) == 48, "header size");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_header, crc) == 8, "crc offset");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_header, blocknr) == 16, "blocknr");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_header, seq) == 24, "seq");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_header, uuid) == 32, "uuid");
RM_STATIC_ASSERT(sizeof(struct rm4_disk_superblock) == RM4_SB_CHECKED_BYTES,
		 "superblock is one sector");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_superblock, unit_bytes) == 72,
		 "unit_bytes");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_superblock, main_sectors) == 136,
		 "main_sectors");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_superblock, main_identity) == 152,
		 "main_identity");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_superblock, scan_cursor) == 280,
		 "scan_cursor");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_superblock, reserved2) == 312,
		 "reserved2");
RM_STATIC_ASSERT(sizeof(struct rm4_disk_entry) == 32, "entry size");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_entry, state) == 28, "entry state");
RM_STATIC_ASSERT(RM4_ENTRIES_PER_BLOCK == 126, "entries per block");
RM_STATIC_ASSERT(offsetof(struct rm4_disk_table_block, entries) ==
			 RM4_TABLE_HEADER_BYTES,
		 "table entries offset");
RM_STATIC_ASSERT(sizeof(struct rm4_disk_table_block) == RM4_BLOCK_SIZE,
		 "table block size");

/* ---- Decoded (CPU-endian) forms ---------------------------------------- */

struct rm4_superblock {
	__u64 blocknr;
	__u64 seq;
	__u8 uuid[RM4_UUID_LEN];
	__u32 version_major;
	__u32 version_minor;
	__u32 incompat;
	__u32 ro_compat;
	__u32 compat;
	__u32 flags;
	__u32 unit_bytes;
	__u64 spare_sectors;
	__u64 pool_start;
	__u64 pool_blocks;
	__u64 table_a_start;
	__u64 table_b_start;
	__u64 table_blocks;
	__u64 format_time;
	__u64 main_sectors;
	__u32 main_logical_block_size;
	__u32 main_physical_block_size;
	char main_identity[RM4_IDENTITY_LEN + 1]; /* NUL-terminated */
	__u64 scan_cursor;
	__u64 scan_pass;
	char creator[RM4_CREATOR_LEN + 1]; /* NUL-terminated */
};

struct rm4_entry {
	__u64 main_block;
	__u64 spare_block;
	__u64 event_time;
	__u32 error_count;
	__u8 state;
	__u8 flags;
};

/* ---- Validation results ------------------------------------------------- */

enum rm4_status {
	RM4_OK = 0,
	RM4_E_ZERO,	/* block is all zeroes: never written */
	RM4_E_MAGIC,	/* not a v4 block */
	RM4_E_CRC,	/* checksum mismatch: torn or corrupt */
	RM4_E_TYPE,	/* wrong block type for this location */
	RM4_E_BLOCKNR,	/* block claims another location */
	RM4_E_UUID,	/* block belongs to another format */
	RM4_E_VERSION,	/* newer major version */
	RM4_E_INCOMPAT, /* unknown incompatible feature */
	RM4_E_FIELD,	/* a field holds an invalid value */
	RM4_E_GEOMETRY, /* regions overlap or leave the device */
	RM4_E_V3,	/* legacy v3 metadata, not v4 */
};

/*
 * A finding: what went wrong, in which field, with the offending value.
 * `field` points to a static string naming the on-disk field.
 */
struct rm4_problem {
	enum rm4_status status;
	const char *field;
	__u64 value;
};

const char *rm4_status_str(enum rm4_status status);

/* ---- Functions ---------------------------------------------------------- */

/* CRC32C (Castagnoli), standard form: init ~0, final xor ~0. */
void rm_crc32c_init(void); /* fills the tables; call once */
__u32 rm_crc32c(__u32 crc, const void *buf, size_t len);
#define RM_CRC32C_INIT 0xffffffffu
static inline __u32 rm_crc32c_final(__u32 crc)
{
	return crc ^ 0xffffffffu;
}

/* True when `len` bytes at `buf` are all zero. */
int rm4_is_zero(const void *buf, size_t len);

/*
 * Superblock. `buf` is one 4 KiB metadata block. decode checks magic, CRC,
 * type, self-location, version and features and fields that need no device
 * knowledge; on failure it returns the status and fills `prob`.
 */
enum rm4_status rm4_sb_decode(const void *buf, __u64 blocknr,
			      struct rm4_superblock *sb,
			      struct rm4_problem *prob);
/* Writes the superblock (with sb->blocknr, sb->seq) into the 4 KiB `buf`. */
void rm4_sb_encode(const struct rm4_superblock *sb, void *buf);
/*
 * Checks the layout against the spare device size in sectors: unit, pool
 * and both table copies inside the device, no overlaps, enough capacity.
 */
enum rm4_status rm4_sb_check_geometry(const struct rm4_superblock *sb,
				      __u64 spare_sectors,
				      struct rm4_problem *prob);

/* Units on the main device (the last one may be partial). */
__u64 rm4_main_units(const struct rm4_superblock *sb);
/* Table capacity in entries. */
static inline __u64 rm4_table_capacity(const struct rm4_superblock *sb)
{
	return sb->table_blocks * RM4_ENTRIES_PER_BLOCK;
}

/*
 * Table block. check validates the header and CRC and that the block sits
 * at `blocknr` and belongs to `uuid` with the expected first slot; the
 * entries are validated one by one with rm4_entry_decode.
 */
enum rm4_status rm4_table_check(const void *buf, __u64 blocknr,
				__u64 first_slot, const __u8 *uuid,
				struct rm4_problem *prob);
/* Block sequence number of a block whose header passed its check. */
__u64 rm4_block_seq(const void *buf);
/* Decodes entry `i` of a table block and validates it against `sb`. */
enum rm4_status rm4_entry_decode(const void *buf, unsigned int i,
				 const struct rm4_superblock *sb,
				 struct rm4_entry *e, struct rm4_problem *prob);
/* Encodes entry `i` of a table block (no CRC update). */
void rm4_entry_encode(void *buf, unsigned int i, const struct rm4_entry *e);
/*
 * Stamps a table block: header, first_slot, used count, CRC. Call after the
 * entries are encoded and before the block is written.
 */
void rm4_table_prepare(void *buf, __u64 blocknr, __u64 first_slot, __u64 seq,
		       const __u8 *uuid);

/*
 * Copy selection. Both copies of a block were read and checked; returns 0 to
 * use copy A, 1 for copy B, -1 when neither is valid. The commit protocol
 * writes A before B, so the valid copy with the higher sequence wins and A
 * wins a tie.
 */
int rm4_pick_copy(enum rm4_status a, __u64 seq_a, enum rm4_status b,
		  __u64 seq_b);

#ifdef __cplusplus
}
#endif

#endif /* DM_REMAP_RM_FORMAT_H */
