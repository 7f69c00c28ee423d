/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test points: places in the target where a VM scenario can hold a thread
 * for a while, or make an operation fail, so that a race between two
 * threads is reached every time instead of once in a million runs.
 *
 * They exist only in the test build (make DM_REMAP_TESTING=1, which
 * scripts/build-module --testing does); the DKMS and package builds compile
 * every rm_tp() to nothing. In the test build they are armed through
 * debugfs, /sys/kernel/debug/dm-remap-test/<point>:
 *
 *   echo "delay=2000 unit=7 count=1" > .../map_busy   # hold 2 s, once
 *   echo "error=-12 count=1" > .../lookup_alloc       # fail once
 *   cat .../map_busy                                  # hits=1 armed=0
 *
 * unit= restricts a point to one unit (or chunk, see each point); count=
 * is how many hits act (then the point disarms itself).
 */
#ifndef DM_REMAP_TESTPOINT_H
#define DM_REMAP_TESTPOINT_H

#include <linux/types.h>

enum rm_tp {
	RM_TP_MAP_BUSY,	    /* map: a unit was busy, before the busy check */
	RM_TP_WORKER_BUSY,  /* worker: units made busy, before their I/O */
	RM_TP_LOAD_CHUNK,   /* load: after reading table chunk <unit> */
	RM_TP_LOAD_SB,	    /* load: after the superblock, before the table */
	RM_TP_PRERESUME,    /* preresume: after taking the spare */
	RM_TP_MESSAGE,	    /* remap message: before handing it over */
	RM_TP_LOOKUP_ALLOC, /* worker: a lookup allocation (error=) */
	RM_TP_NR
};

#ifdef DM_REMAP_TESTING
/*
 * Acts when the point is armed for `unit` (U64_MAX matches any): waits
 * delay= ms (busy-waiting when `atomic`), then returns error= (0 when none).
 */
int rm_tp(enum rm_tp tp, u64 unit, bool atomic);
int rm_tp_init(void);
void rm_tp_exit(void);
#else
static inline int rm_tp(enum rm_tp tp, u64 unit, bool atomic)
{
	return 0;
}

static inline int rm_tp_init(void)
{
	return 0;
}

static inline void rm_tp_exit(void)
{
}
#endif

#endif /* DM_REMAP_TESTPOINT_H */
