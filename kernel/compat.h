/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels dm-remap supports, found by
 * compat-probe.sh in the headers at build time.
 */
#ifndef DM_REMAP_COMPAT_H
#define DM_REMAP_COMPAT_H

#include <linux/dm-io.h>
#include <linux/ioprio.h>

static inline int rm_dm_io(struct dm_io_request *req, unsigned int num_regions,
			   struct dm_io_region *where,
			   unsigned long *error_bits)
{
#ifdef RM_DM_IO_HAS_IOPRIO
	return dm_io(req, num_regions, where, error_bits, IOPRIO_DEFAULT);
#else
	return dm_io(req, num_regions, where, error_bits);
#endif
}

#endif /* DM_REMAP_COMPAT_H */
