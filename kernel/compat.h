/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels dm-remap supports, found by
 * compat-probe.sh in the headers at build time (its -DRM_* flags), or by
 * the kernel's own macros where the difference is one (REQ_ATOMIC,
 * DM_TARGET_ATOMIC_WRITES). Nothing here tests LINUX_VERSION_CODE: Debian's
 * and other stable kernels backport API changes.
 */
#ifndef DM_REMAP_COMPAT_H
#define DM_REMAP_COMPAT_H

#include <linux/blk_types.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/ioprio.h>
#include <linux/string.h>

/*
 * dm_io() with an I/O priority, where the kernel's dm_io() takes one. Since
 * 7.3 a synchronous dm_io() also reports the regions whose operation the
 * device does not support (sync_unsup_bits); dm-remap only issues reads,
 * writes and flushes, which every device supports, so such a region counts
 * as failed: it is added to error_bits, and the callers see -EIO.
 */
static inline int rm_dm_io_prio(struct dm_io_request *req,
				unsigned int num_regions,
				struct dm_io_region *where,
				unsigned long *error_bits,
				unsigned short ioprio)
{
#if defined(RM_DM_IO_HAS_UNSUP)
	unsigned long unsup_bits = 0;
	int r = dm_io(req, num_regions, where, error_bits, &unsup_bits, ioprio);

	*error_bits |= unsup_bits;
	return r;
#elif defined(RM_DM_IO_HAS_IOPRIO)
	return dm_io(req, num_regions, where, error_bits, ioprio);
#else
	return dm_io(req, num_regions, where, error_bits);
#endif
}

static inline int rm_dm_io(struct dm_io_request *req, unsigned int num_regions,
			   struct dm_io_region *where,
			   unsigned long *error_bits)
{
	return rm_dm_io_prio(req, num_regions, where, error_bits,
			     IOPRIO_DEFAULT);
}

/*
 * Atomic writes (REQ_ATOMIC, 6.11; DM_TARGET_ATOMIC_WRITES, 6.12): dm-remap
 * splits bios at remap unit boundaries (dm_accept_partial_bio(), which
 * refuses atomic bios since 6.19) and may serve one bio from two devices,
 * so it never advertises atomic writes: the target type does not set
 * DM_TARGET_ATOMIC_WRITES, and dm core then gives the device no atomic
 * write limits, so the block layer refuses REQ_ATOMIC before it reaches the
 * target. rm_bio_is_atomic() lets map() refuse one that arrives anyway.
 */
static inline bool rm_bio_is_atomic(const struct bio *bio)
{
#ifdef REQ_ATOMIC
	return bio->bi_opf & REQ_ATOMIC;
#else
	return false;
#endif
}

#endif /* DM_REMAP_COMPAT_H */
