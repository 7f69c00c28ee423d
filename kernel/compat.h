/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels dm-remap supports, found by
 * compat-probe.sh in the headers at build time.
 */
#ifndef DM_REMAP_COMPAT_H
#define DM_REMAP_COMPAT_H

#include <linux/dm-io.h>
#include <linux/ioprio.h>

/* dm_io() with an I/O priority, where the kernel's dm_io() takes one. */
static inline int rm_dm_io_prio(struct dm_io_request *req,
				unsigned int num_regions,
				struct dm_io_region *where,
				unsigned long *error_bits,
				unsigned short ioprio)
{
#ifdef RM_DM_IO_HAS_IOPRIO
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

#endif /* DM_REMAP_COMPAT_H */
